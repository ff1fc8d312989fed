/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A root shell on tty1 when the machine has a display (a PCI display
 * controller: the domain was created with a GPU), so that what the host's
 * screenshots show and its keyboard types is a console a person (or a
 * model) can use. Only as PID 1, where nothing else would start a getty.
 * Respawned when it exits, unless it keeps dying at once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alk-agent.h"

#define TTY_PATH "/dev/tty1"
#define TTY_QUICK_MS 1000 /* an exit sooner than this counts as a failure */
#define TTY_QUICK_MAX 5

/* PCI class 0x03xxxx: VGA, XGA, 3D or other display controller */
static bool tty_has_display(void)
{
	DIR *d = opendir("/sys/bus/pci/devices");
	struct dirent *e;
	bool found = false;

	if (d == NULL)
		return false;
	while (!found && (e = readdir(d)) != NULL) {
		char path[300];
		char cls[32];
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/class", e->d_name);
		found = alk_read_line(path, cls, sizeof(cls)) && strncmp(cls, "0x03", 4) == 0;
	}
	closedir(d);
	return found;
}

static void tty_spawn(AlkAgent *a)
{
	static char *const argv[] = {"-sh", NULL};
	static char *const envp[] = {"HOME=/root", "TERM=linux", "PS1=# ",
	                             "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	pid_t pid = fork();

	if (pid < 0) {
		alk_log("tty1 shell: fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		alk_signal_child_reset();
		setsid();
		/* the first tty a session leader opens becomes its controlling one */
		int fd = open(TTY_PATH, O_RDWR);
		if (fd < 0)
			_exit(127);
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
		if (chdir("/root") < 0 && chdir("/") < 0)
			_exit(127);
		execve("/bin/sh", argv, envp);
		_exit(127);
	}
	a->tty_pid = pid;
	a->tty_started_ms = alk_now_ms();
}

void alk_tty_start(AlkAgent *a)
{
	if (!a->pid1 || access(TTY_PATH, F_OK) < 0 || !tty_has_display())
		return;
	alk_log("display found: a root shell on tty1");
	tty_spawn(a);
}

bool alk_tty_reaped(AlkAgent *a, pid_t pid)
{
	if (pid != a->tty_pid || pid <= 0)
		return false;
	a->tty_pid = 0;
	if (alk_now_ms() - a->tty_started_ms < TTY_QUICK_MS && ++a->tty_quick >= TTY_QUICK_MAX) {
		alk_log("tty1 shell: exits at once, not restarted");
		return true;
	}
	if (!a->quit)
		tty_spawn(a);
	return true;
}
