/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Exec lifecycle: EXEC -> STARTED -> output -> EXIT, timeouts and signals.
 *
 * EXIT is sent once the main process has been reaped AND its stdout and
 * stderr are closed, so every byte it wrote precedes EXIT on the wire.
 * Background grandchildren may hold the pipes open forever: ALK_EXIT_GRACE_MS
 * after the main process exits, whatever is still buffered in the pipes is
 * read and the pipes are closed (alk_exec_start_drain).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "alk-agent.h"

/* Highest signal number the host may send; musl and glibc agree on 64. */
#define ALK_SIGNO_MAX 64

void alk_exec_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

AlkExec *alk_exec_find(AlkAgent *a, uint32_t id)
{
	for (size_t i = 0; i < ALK_AGENT_MAX_EXECS; i++)
		if (a->execs[i].used && a->execs[i].id == id)
			return &a->execs[i];
	return NULL;
}

static AlkExec *exec_slot(AlkAgent *a)
{
	for (size_t i = 0; i < ALK_AGENT_MAX_EXECS; i++)
		if (!a->execs[i].used)
			return &a->execs[i];
	return NULL;
}

static void exec_release(AlkExec *e)
{
	alk_exec_close_fd(&e->out_fd[0]);
	alk_exec_close_fd(&e->out_fd[1]);
	alk_exec_close_fd(&e->in_fd);
	alk_buf_free(&e->in_buf);
	e->used = false;
}

/* The parent keeps its ends non-blocking; the child's ends stay blocking,
 * as programs expect of their stdio. */
static bool exec_pipe(int *parent, int *child, bool parent_reads)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return false;
	*parent = parent_reads ? fds[0] : fds[1];
	*child = parent_reads ? fds[1] : fds[0];
	fcntl(*parent, F_SETFL, O_NONBLOCK);
	return true;
}

static bool exec_pipes(AlkExec *e, bool stdin_pipe, int child[3])
{
	child[0] = child[1] = child[2] = -1;
	if (exec_pipe(&e->out_fd[0], &child[1], true) &&
	    exec_pipe(&e->out_fd[1], &child[2], true) &&
	    (!stdin_pipe || exec_pipe(&e->in_fd, &child[0], false)))
		return true;
	int err = errno;
	for (int i = 0; i < 3; i++)
		alk_exec_close_fd(&child[i]);
	exec_release(e);
	errno = err;
	return false;
}

/* A pseudo-terminal of rows x cols: the child gets the slave as its stdin,
 * stdout and stderr (and controlling terminal, alk_spawn); we keep the
 * master, non-blocking, for output and, with stdin, a dup of it for input,
 * so the pipe code serves a tty unchanged. */
static bool exec_pty(AlkExec *e, const AlkMsgExec *m, int child[3])
{
	struct winsize ws = {
	    .ws_row = (unsigned short)(m->rows ? m->rows : ALK_TTY_ROWS_DEFAULT),
	    .ws_col = (unsigned short)(m->cols ? m->cols : ALK_TTY_COLS_DEFAULT),
	};
	int master, slave;

	child[0] = child[1] = child[2] = -1;
	if (openpty(&master, &slave, NULL, NULL, &ws) < 0)
		return false;
	fcntl(master, F_SETFD, FD_CLOEXEC);
	fcntl(slave, F_SETFD, FD_CLOEXEC);
	fcntl(master, F_SETFL, O_NONBLOCK);
	e->out_fd[0] = master;
	if (e->in_pipe && (e->in_fd = fcntl(master, F_DUPFD_CLOEXEC, 3)) < 0) {
		int err = errno;
		close(slave);
		exec_release(e);
		errno = err;
		return false;
	}
	child[0] = child[1] = child[2] = slave;
	return true;
}

static void exec_init(AlkAgent *a, AlkExec *e, uint32_t id, const AlkMsgExec *m)
{
	*e = (AlkExec){
	    .used = true,
	    .serial = ++a->exec_serial,
	    .id = id,
	    .out_fd = {-1, -1},
	    .in_fd = -1,
	    .in_pipe = m->stdin_mode == ALK_STDIN_PIPE,
	    .tty = m->tty != 0,
	    .output_cap = m->output_cap,
	    .out_window = m->out_window,
	    .start_ms = alk_now_ms(),
	};
	if (m->timeout_ms)
		e->deadline_ms = e->start_ms + m->timeout_ms;
}

void alk_exec_start(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m)
{
	/* argv, stdin mode, cwd and rlimits were checked by the codec. */
	if (!alk_msg_claim_id(a, h))
		return;
	AlkExec *e = exec_slot(a);
	if (!e) {
		alk_send_error(a, h->id, ALK_ERR_BUSY, 0, "%d execs are running already",
		               ALK_AGENT_MAX_EXECS);
		return;
	}
	exec_init(a, e, h->id, &m->exec);
	int child[3];
	if (e->tty ? !exec_pty(e, &m->exec, child) : !exec_pipes(e, e->in_pipe, child)) {
		alk_send_errno(a, h->id, errno, e->tty ? "openpty" : "pipe");
		return;
	}
	e->pid = alk_spawn(a, h->id, &m->exec, child);
	/* a tty's three are one fd */
	alk_exec_close_fd(&child[0]);
	if (!e->tty) {
		alk_exec_close_fd(&child[1]);
		alk_exec_close_fd(&child[2]);
	}
	if (e->pid < 0) {
		if (e->in_pipe)
			alk_dead_add(a, h->id); /* its STDIN may be on the way */
		exec_release(e);
		return;
	}
	alk_send_started(a, h->id, e->pid);
}

void alk_exec_signal(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m)
{
	AlkExec *e = alk_exec_find(a, h->id);
	if (!e) {
		alk_msg_no_such_id(a, h);
		return;
	}
	if (m->signal.signo == 0 || m->signal.signo > ALK_SIGNO_MAX) {
		alk_send_error(a, h->id, ALK_ERR_BAD_REQUEST, 0, "no signal %u", m->signal.signo);
		return;
	}
	/* The group, not the pid: a shell's children get it too. ESRCH once
	 * everything has exited is not an error: EXIT is on its way. */
	kill(-e->pid, (int)m->signal.signo);
}

/* RESIZE: the kernel sends SIGWINCH to the terminal's foreground group.
 * One for an exec whose output is already closed is dropped silently. */
void alk_exec_resize(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m)
{
	AlkExec *e = alk_exec_find(a, h->id);
	struct winsize ws = {
	    .ws_row = (unsigned short)m->resize.rows,
	    .ws_col = (unsigned short)m->resize.cols,
	};

	if (!e) {
		alk_msg_no_such_id(a, h);
		return;
	}
	if (!e->tty) {
		alk_send_error(a, h->id, ALK_ERR_BAD_REQUEST, 0, "RESIZE: request %u has no tty",
		               h->id);
		return;
	}
	if (e->out_fd[0] >= 0 && ioctl(e->out_fd[0], TIOCSWINSZ, &ws) < 0)
		alk_log("TIOCSWINSZ: %s", strerror(errno));
}

/* Ends an exec without any further frame for it: SYNC, the stdin window,
 * shutdown. The process is reaped later as an unknown pid. */
void alk_exec_abort(AlkAgent *a, AlkExec *e)
{
	kill(-e->pid, SIGKILL);
	if (!e->exited)
		kill(e->pid, SIGKILL);
	exec_release(e);
}

void alk_exec_reaped(AlkAgent *a, pid_t pid, int status, uint64_t max_rss_kib)
{
	for (size_t i = 0; i < ALK_AGENT_MAX_EXECS; i++) {
		AlkExec *e = &a->execs[i];
		if (!e->used || e->exited || e->pid != pid)
			continue;
		e->exited = true;
		e->status = status;
		e->max_rss_kib = max_rss_kib;
		e->duration_ms = alk_now_ms() - e->start_ms;
		e->grace_ms = alk_now_ms() + ALK_EXIT_GRACE_MS;
		alk_exec_maybe_finish(a, e);
		return;
	}
}

void alk_exec_maybe_finish(AlkAgent *a, AlkExec *e)
{
	if (!e->used || !e->exited || e->out_fd[0] >= 0 || e->out_fd[1] >= 0)
		return;
	AlkMsgExit m = {
	    .exit_code = WIFEXITED(e->status) ? WEXITSTATUS(e->status) : -1,
	    .signo = WIFSIGNALED(e->status) ? (uint32_t)WTERMSIG(e->status) : 0,
	    .timed_out = e->timed_out,
	    .truncated = e->truncated,
	    .duration_ms = e->duration_ms,
	    .max_rss_kib = e->max_rss_kib,
	    .stdout_bytes = e->produced[ALK_STREAM_STDOUT],
	    .stderr_bytes = e->produced[ALK_STREAM_STDERR],
	};
	alk_send_exit(a, e->id, &m);
	/* STDIN may still be in flight from a host that has not seen EXIT. */
	if (e->in_pipe && !e->in_eof)
		alk_dead_add(a, e->id);
	exec_release(e);
}

void alk_exec_tick(AlkAgent *a, uint64_t now)
{
	for (size_t i = 0; i < ALK_AGENT_MAX_EXECS; i++) {
		AlkExec *e = &a->execs[i];
		if (!e->used)
			continue;
		if (!e->exited && !e->timed_out && e->deadline_ms && now >= e->deadline_ms) {
			/* The whole group, so `sh -c 'sleep 100 & wait'` leaves
			 * no sleeper behind. */
			kill(-e->pid, SIGKILL);
			e->timed_out = true;
		}
		if (e->exited && !e->draining && now >= e->grace_ms) {
			alk_exec_start_drain(e);
			alk_exec_maybe_finish(a, e);
		}
	}
}

int alk_exec_timeout(const AlkAgent *a, int cur, uint64_t now)
{
	for (size_t i = 0; i < ALK_AGENT_MAX_EXECS; i++) {
		const AlkExec *e = &a->execs[i];
		if (!e->used)
			continue;
		if (!e->exited && !e->timed_out && e->deadline_ms)
			cur = alk_timeout_min(cur, e->deadline_ms, now);
		if (e->exited && !e->draining)
			cur = alk_timeout_min(cur, e->grace_ms, now);
	}
	return cur;
}
