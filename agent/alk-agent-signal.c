/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Signals arrive through a signalfd, so they are just another fd in the
 * loop: no handler runs in the middle of a half-updated exec table. The
 * signals are blocked, which also makes them reach us as PID 1 (the kernel
 * drops signals PID 1 leaves at SIG_DFL, but never blocked ones).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alk-agent.h"

/* Highest signal number whose disposition a child gets reset. */
#define ALK_SIG_LAST 64

static void signal_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGCHLD);
	sigaddset(set, SIGIO);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	/* busybox halt and poweroff signal PID 1 with SIGUSR1 and SIGUSR2. */
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGUSR2);
}

int alk_signal_setup(void)
{
	sigset_t set;
	/* Whatever started us may have left signals ignored, and ignored
	 * signals survive execve: clear them once here, so a child has only
	 * SIGPIPE to reset (each syscall counts under TCG). */
	for (int sig = 1; sig <= ALK_SIG_LAST; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	signal_set(&set);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	/* A host that goes away mid-write must be an EPIPE, not our death. */
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* In the child, before execve: blocked masks and ignored signals survive
 * execve, and the program must start with neither. SIGPIPE is the only
 * signal the agent ignores (see alk_signal_setup). */
void alk_signal_child_reset(void)
{
	sigset_t none;
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Every child, not only execs: as PID 1 (or a subreaper) orphans are ours. */
static void signal_reap(AlkAgent *a)
{
	for (;;) {
		int status;
		struct rusage ru;
		pid_t pid = wait4(-1, &status, WNOHANG, &ru);
		if (pid <= 0)
			return;
		if (!alk_tty_reaped(a, pid))
			alk_exec_reaped(a, pid, status, (uint64_t)ru.ru_maxrss);
	}
}

static void signal_handle(AlkAgent *a, uint32_t signo)
{
	switch (signo) {
	case SIGCHLD:
		signal_reap(a);
		break;
	case SIGIO:
		a->port.recheck_now = true;
		break;
	default:
		if (!a->quit)
			alk_log("%s: shutting down", strsignal((int)signo));
		a->quit = true;
		break;
	}
}

void alk_signal_ready(AlkAgent *a)
{
	struct signalfd_siginfo si;
	while (read(a->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		signal_handle(a, si.ssi_signo);
}

/* A sleep that still reaps children and notices shutdown requests. */
void alk_signal_wait(AlkAgent *a, int ms)
{
	struct pollfd pfd = {.fd = a->sigfd, .events = POLLIN};
	if (a->sigfd < 0) {
		poll(NULL, 0, ms);
		return;
	}
	if (poll(&pfd, 1, ms) > 0)
		alk_signal_ready(a);
}
