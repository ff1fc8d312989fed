/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfork + execve of an EXEC request. The child reports a failing step (and
 * its errno) through a close-on-exec pipe: EOF on that pipe means execve
 * succeeded, so the host gets either STARTED or a precise ERROR, never a
 * STARTED followed by a mysterious exit 127.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alk-agent.h"

typedef enum {
	SPAWN_SETSID,
	SPAWN_STDIN,
	SPAWN_DUP,
	SPAWN_TTY,
	SPAWN_CHDIR,
	SPAWN_RLIMIT,
	SPAWN_CREDS,
	SPAWN_EXEC,
} AlkSpawnStage;

typedef struct {
	int32_t stage;
	int32_t err;
} AlkSpawnFailure;

static const char *const spawn_default_env[] = {
    "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    NULL,
};

static void spawn_fail(int errfd, AlkSpawnStage stage)
{
	AlkSpawnFailure f = {.stage = stage, .err = errno};
	ssize_t n = write(errfd, &f, sizeof(f));
	(void)n;
	_exit(127);
}

/* The agent keeps 0, 1 and 2 open, so every fd here is above 2 and dup2
 * always makes a fresh descriptor (clearing close-on-exec). */
static void spawn_stdio(const int fds[3], int errfd)
{
	int src[3] = {fds[0], fds[1], fds[2]};
	if (src[0] < 0) {
		src[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (src[0] < 0)
			spawn_fail(errfd, SPAWN_STDIN);
	}
	for (int i = 0; i < 3; i++)
		if (dup2(src[i], i) < 0)
			spawn_fail(errfd, SPAWN_DUP);
}

static void spawn_rlimits(const AlkMsgExec *m, int errfd)
{
	for (uint32_t i = 0; i < m->nrlimits; i++) {
		uint64_t v = m->rlimits[i].value;
		struct rlimit rl;
		rl.rlim_cur = rl.rlim_max = v == UINT64_MAX ? RLIM_INFINITY : (rlim_t)v;
		if (setrlimit((int)m->rlimits[i].resource, &rl) < 0)
			spawn_fail(errfd, SPAWN_RLIMIT);
	}
}

static const char *env_path(char *const *envp)
{
	for (; *envp != NULL; envp++)
		if (strncmp(*envp, "PATH=", 5) == 0)
			return *envp + 5;
	return "/usr/sbin:/usr/bin:/sbin:/bin";
}

/* execvp with the request's PATH, touching no memory of the parent (the
 * child shares it until execve: see alk_spawn). Returns with errno set. */
static void spawn_exec(const char *const *argv, char *const *envp)
{
	const char *path = env_path(envp);
	size_t len = strlen(argv[0]);
	int err = ENOENT;
	char buf[4096];

	if (strchr(argv[0], '/') != NULL) {
		execve(argv[0], (char *const *)argv, envp);
		return;
	}
	while (*path != '\0') {
		const char *end = strchrnul(path, ':');
		size_t dir = (size_t)(end - path);
		if (dir + 1 + len < sizeof(buf)) {
			memcpy(buf, path, dir);
			buf[dir] = '/';
			memcpy(buf + dir + 1, argv[0], len + 1);
			execve(dir ? buf : argv[0], (char *const *)argv, envp);
			if (errno != ENOENT && errno != ENOTDIR)
				err = errno; /* e.g. EACCES: reported over a later ENOENT */
		}
		path = *end ? end + 1 : end;
	}
	errno = err;
}

/* A user's exec starts in its home unless it names a cwd. */
static const char *spawn_cwd(const AlkMsgExec *m, const AlkCreds *c)
{
	return m->cwd ? m->cwd : c->set_ids ? c->home : "/";
}

static void __attribute__((noreturn))
spawn_child(const AlkMsgExec *m, const AlkCreds *c, const int fds[3], int errfd)
{
	alk_signal_child_reset();
	/* Its own session and process group: timeouts and SIGNAL reach every
	 * process it starts, and it has no controlling terminal of ours. */
	if (setsid() < 0)
		spawn_fail(errfd, SPAWN_SETSID);
	spawn_stdio(fds, errfd);
	/* A tty exec: the pty (now fd 0) becomes the new session's
	 * controlling terminal, so ^C and job control reach the process. */
	if (m->tty && ioctl(0, TIOCSCTTY, 0) < 0)
		spawn_fail(errfd, SPAWN_TTY);
	spawn_rlimits(m, errfd);
	/* the user before chdir: a home it may not enter fails as it would */
	if (alk_creds_apply(c) < 0)
		spawn_fail(errfd, SPAWN_CREDS);
	if (chdir(spawn_cwd(m, c)) < 0)
		spawn_fail(errfd, SPAWN_CHDIR);
	spawn_exec(m->argv, c->envp_given ? (char *const *)c->envp
	                    : m->envc     ? (char *const *)m->env
	                                  : (char *const *)spawn_default_env);
	spawn_fail(errfd, SPAWN_EXEC);
	_exit(127);
}

static void spawn_report(AlkAgent *a, uint32_t id, const AlkMsgExec *m, const AlkCreds *c,
                         const AlkSpawnFailure *f)
{
	static const char *const what[] = {
	    [SPAWN_SETSID] = "setsid",
	    [SPAWN_STDIN] = "open /dev/null",
	    [SPAWN_DUP] = "dup2",
	    [SPAWN_TTY] = "TIOCSCTTY",
	    [SPAWN_CHDIR] = "chdir",
	    [SPAWN_RLIMIT] = "setrlimit",
	    [SPAWN_CREDS] = "becoming user",
	    [SPAWN_EXEC] = "execve",
	};
	const char *arg = "";
	if (f->stage == SPAWN_CHDIR)
		arg = spawn_cwd(m, c);
	else if (f->stage == SPAWN_CREDS)
		arg = m->user ? m->user : "root";
	else if (f->stage == SPAWN_EXEC)
		arg = m->argv[0];
	const char *w = f->stage >= 0 && f->stage <= SPAWN_EXEC ? what[f->stage] : "spawn";
	alk_send_error(a, id, ALK_ERR_IO, f->err, "%s%s%s: %s", w, *arg ? " " : "", arg,
	               strerror(f->err));
}

pid_t alk_spawn(AlkAgent *a, uint32_t id, const AlkMsgExec *m, int child_fds[3])
{
	int ep[2];
	/* static: an AlkCreds is large, and one exec is spawned at a time */
	static AlkCreds creds;
	char why[160];

	if (alk_creds_resolve(m, &creds, why, sizeof(why)) < 0) {
		alk_send_error(a, id, ALK_ERR_BAD_REQUEST, 0, "%s", why);
		return -1;
	}
	if (pipe2(ep, O_CLOEXEC) < 0) {
		alk_send_errno(a, id, errno, "pipe");
		return -1;
	}
	/* vfork: under TCG, copying the agent's page tables and taking
	 * copy-on-write faults afterwards is most of an exec's cost. The child
	 * only changes its own signal state, fds, session and limits, then
	 * execs: none of that is memory the agent shares with it. */
	pid_t pid = vfork();
	if (pid < 0) {
		int err = errno;
		close(ep[0]);
		close(ep[1]);
		alk_send_errno(a, id, err, "vfork");
		return -1;
	}
	if (pid == 0)
		spawn_child(m, &creds, child_fds, ep[1]);
	close(ep[1]);
	AlkSpawnFailure f;
	ssize_t n;
	do
		n = read(ep[0], &f, sizeof(f));
	while (n < 0 && errno == EINTR);
	close(ep[0]);
	if (n != (ssize_t)sizeof(f))
		return pid;
	/* It is on its way to _exit: reaping it here keeps it out of the
	 * loop, which would look for an exec owning this pid. */
	waitpid(pid, NULL, 0);
	spawn_report(a, id, m, &creds, &f);
	return -1;
}
