/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PID 1 duties in the minimal image: the mounts a program expects, the
 * hostname, loopback, and a clean power-off. PID 1 must never exit (the
 * kernel panics), so fatal errors power the machine off instead: the host
 * sees the guest stop, with our last words on the console.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alk-agent.h"

#define ALK_INIT_TERM_GRACE_MS 2000
#define ALK_INIT_KILL_GRACE_MS 1000

typedef struct {
	const char *source;
	const char *target;
	const char *type;
	unsigned long flags;
	const char *data;
	mode_t mode;
} AlkMount;

static const AlkMount init_mounts[] = {
    {"proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0555},
    {"sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0555},
    {"devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755", 0755},
    {"devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "mode=0620,ptmxmode=0666", 0755},
    {"tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", 01777},
    {"tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", 01777},
    {"tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755", 0755},
};

/* The initramfs may have moved /dev (or more) over already. */
static bool init_is_mountpoint(const char *path)
{
	struct stat st, up;
	char parent[256];
	snprintf(parent, sizeof(parent), "%s/..", path);
	return stat(path, &st) == 0 && stat(parent, &up) == 0 && st.st_dev != up.st_dev;
}

static void init_mount(const AlkMount *m)
{
	if (mkdir(m->target, m->mode) < 0 && errno != EEXIST)
		alk_log("mkdir %s: %s", m->target, strerror(errno));
	if (init_is_mountpoint(m->target))
		return;
	if (mount(m->source, m->target, m->type, m->flags, m->data) < 0)
		alk_log("mount %s on %s: %s", m->type, m->target, strerror(errno));
}

/* Without /dev/console in the root, the kernel started us with no stdio. */
static void init_console(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		int c = open("/dev/console", O_RDWR | O_NOCTTY);
		if (c < 0)
			return;
		if (c != fd) {
			dup2(c, fd);
			close(c);
		}
	}
}

static void init_hostname(void)
{
	char name[HOST_NAME_MAX + 1];
	if (alk_read_line("/etc/hostname", name, sizeof(name)) && name[0] &&
	    sethostname(name, strlen(name)) < 0)
		alk_log("sethostname: %s", strerror(errno));
}

/* Linux gives lo 127.0.0.1/8 and ::1 by itself once it is up. */
static void init_loopback(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int err = s < 0 ? errno : alk_net_link_up(s, "lo");
	if (err)
		alk_log("bringing lo up: %s", strerror(err));
	if (s >= 0)
		close(s);
}

void alk_init_setup(AlkAgent *a)
{
	umask(022);
	setsid();
	for (size_t i = 0; i < sizeof(init_mounts) / sizeof(init_mounts[0]); i++)
		init_mount(&init_mounts[i]);
	init_console();
	init_hostname();
	init_loopback();
	/* Ctrl-Alt-Del becomes SIGINT to us (a power-off), not a reboot. */
	reboot(RB_DISABLE_CAD);
}

/*
 * An image's session (the desktop's X server and clients) is started by us,
 * not by an init system: /etc/airlock/session, if present and executable, runs
 * once at boot as root in a session of its own, with stdio on /dev/null (it
 * logs where it likes); the image then has no root shell on tty1. It is reaped like any orphan; it
 * is the image's job to drop privileges for what it starts as the default user.
 */
bool alk_init_session(void)
{
	static const char path[] = "/etc/airlock/session";
	if (access(path, X_OK) != 0)
		return false;
	pid_t pid = fork();
	if (pid != 0) {
		if (pid < 0)
			alk_log("cannot start %s: %s", path, strerror(errno));
		return true;
	}
	alk_signal_child_reset();
	setsid();
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
	}
	execl(path, path, (char *)NULL);
	_exit(127);
}

/* Waits until every process is gone or the grace ends. */
static void init_reap_until(AlkAgent *a, uint64_t deadline)
{
	for (;;) {
		pid_t pid;
		while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
			;
		if ((pid < 0 && errno == ECHILD) || alk_now_ms() >= deadline)
			return;
		alk_signal_wait(a, (int)(deadline - alk_now_ms()));
	}
}

void alk_init_poweroff(AlkAgent *a)
{
	alk_log("powering off");
	alk_agent_abort_all(a);
	kill(-1, SIGTERM);
	init_reap_until(a, alk_now_ms() + ALK_INIT_TERM_GRACE_MS);
	kill(-1, SIGKILL);
	init_reap_until(a, alk_now_ms() + ALK_INIT_KILL_GRACE_MS);
	sync();
	reboot(RB_POWER_OFF);
	alk_log("power off failed: %s", strerror(errno));
	for (;;)
		pause();
}

void alk_fatal(AlkAgent *a, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	alk_log("fatal: %s", msg);
	if (a->pid1)
		alk_init_poweroff(a);
	exit(1);
}
