/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * airlock-agent: command line, startup and the poll loop.
 *
 * The loop never blocks anywhere but in poll(2), and never spins: a source
 * that cannot make progress (a pipe while the output queue is full, a port
 * with no host) is left out of the poll set, and every timer is folded into
 * poll's timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "alk-agent.h"

#define ALK_POLL_MAX (2 + 3 * ALK_AGENT_MAX_EXECS)
#define ALK_GRND_NONBLOCK 0x0001
#define ALK_GRND_INSECURE 0x0004 /* Linux >= 5.6 */

typedef enum { REF_SIGNAL, REF_PORT, REF_STDIO, REF_STDIN } AlkRefKind;

/* What a pollfd stands for; serial detects an exec slot reused within one
 * loop turn. */
typedef struct {
	AlkRefKind kind;
	AlkExec *exec;
	uint64_t serial;
	int stream;
} AlkPollRef;

void alk_log(const char *fmt, ...)
{
	char msg[600];
	int n = snprintf(msg, sizeof(msg), "airlock-agent: ");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	strcat(msg, "\n");
	/* One write, so lines from a dying agent are not interleaved. */
	ssize_t w = write(STDERR_FILENO, msg, strlen(msg));
	(void)w;
}

uint32_t alk_uptime_ms(void)
{
	struct timespec ts;
	uint64_t ms;

	if (clock_gettime(CLOCK_BOOTTIME, &ts) != 0)
		return 0;
	ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

/* The initramfs's stamps, "INITRAMFS,ROOT,GROWN" in ms (images/lib/init.in),
 * taken out of the environment so that no exec inherits them. Anything
 * malformed is dropped: they are only a report. */
static void agent_boot_stamps(AlkAgent *a)
{
	const char *v = getenv("ALK_BOOT_MS");
	uint32_t *out[3] = {&a->boot_initramfs_ms, &a->boot_root_ms, &a->boot_grown_ms};
	uint32_t got[3];

	a->boot_init_ms = alk_uptime_ms();
	if (v == NULL)
		return;
	for (int i = 0; i < 3; i++) {
		char *end;
		errno = 0;
		unsigned long n = strtoul(v, &end, 10);
		if (end == v || errno != 0 || n > UINT32_MAX || *end != (i < 2 ? ',' : '\0'))
			goto done;
		got[i] = (uint32_t)n;
		v = end + 1;
	}
	for (int i = 0; i < 3; i++)
		*out[i] = got[i];
done:
	unsetenv("ALK_BOOT_MS");
}

uint64_t alk_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool alk_read_line(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t r = read(fd, buf, n - 1);
	close(fd);
	if (r < 0)
		return false;
	buf[r] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return true;
}

size_t alk_window_room(uint32_t window, uint64_t sent, uint64_t credit, size_t want)
{
	uint64_t out = sent > credit ? sent - credit : 0;
	if (window == 0)
		return want;
	if (out >= window)
		return 0;
	return window - out < want ? (size_t)(window - out) : want;
}

int alk_timeout_min(int cur, uint64_t deadline, uint64_t now)
{
	uint64_t left = deadline > now ? deadline - now : 0;
	int ms = left > INT_MAX ? INT_MAX : (int)left;
	return cur < 0 || ms < cur ? ms : cur;
}

void alk_agent_abort_all(AlkAgent *a)
{
	for (size_t i = 0; i < ALK_AGENT_MAX_EXECS; i++)
		if (a->execs[i].used)
			alk_exec_abort(a, &a->execs[i]);
	for (size_t i = 0; i < ALK_AGENT_MAX_XFERS; i++)
		if (a->xfers[i].used)
			alk_xfer_abort(&a->xfers[i]);
	alk_net_abort(a);
}

/* Per boot, so the host can tell a restarted agent from a reconnect. It
 * only has to be unique, never secret: when the pool is not ready yet,
 * bytes that do not wait for it (since Linux 5.18 /dev/urandom waits too,
 * about a second of jitter entropy under TCG). */
static void agent_nonce(uint8_t *nonce)
{
	if (syscall(SYS_getrandom, nonce, ALK_PROTO_NONCE_SIZE, ALK_GRND_NONBLOCK) ==
	        ALK_PROTO_NONCE_SIZE ||
	    syscall(SYS_getrandom, nonce, ALK_PROTO_NONCE_SIZE, ALK_GRND_INSECURE) ==
	        ALK_PROTO_NONCE_SIZE)
		return;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, nonce, ALK_PROTO_NONCE_SIZE) : -1;
	if (fd >= 0)
		close(fd);
	if (n == ALK_PROTO_NONCE_SIZE)
		return;
	uint64_t mix[2] = {alk_now_ms() ^ ((uint64_t)getpid() << 32), (uint64_t)time(NULL)};
	memcpy(nonce, mix, ALK_PROTO_NONCE_SIZE);
}

/* Children get 0, 1 and 2 by dup2: those must never be one of our own
 * close-on-exec descriptors. */
static void agent_sane_stdio(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		int n = open("/dev/null", O_RDWR);
		if (n >= 0 && n != fd) {
			dup2(n, fd);
			close(n);
		}
	}
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: airlock-agent [--version] [--fd N | --port PATH] [--resolv-conf PATH] "
	    "[--renew-dry]\n"
	    "  --fd N              use open descriptor N as the host connection (tests)\n"
	    "  --port PATH         open PATH instead of finding the virtio port\n"
	    "  --resolv-conf PATH  where NET_CONFIG writes the DNS server (default " ALK_RESOLV_CONF
	    ")\n"
	    "  --renew-dry         RENEW leaves the clock and the random pool alone (tests on a "
	    "host)\n");
}

/* As PID 1 nothing here may exit (the kernel would panic), and the kernel
 * passes unknown boot words on as arguments: those are ignored. */
static void agent_args(AlkAgent *a, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (a->pid1 && strcmp(arg, "--fd") != 0 && strcmp(arg, "--port") != 0)
			continue;
		if (strcmp(arg, "--version") == 0) {
			printf("airlock-agent %s\n", ALK_VERSION);
			exit(0);
		} else if (strcmp(arg, "--help") == 0) {
			usage(stdout);
			exit(0);
		} else if (strcmp(arg, "--fd") == 0 && val) {
			char *end;
			long fd = strtol(val, &end, 10);
			if (!*val || *end || fd < 0 || fd > INT_MAX)
				alk_fatal(a, "--fd %s: not a descriptor", val);
			a->port.mode = ALK_PORT_FD;
			a->port.fd = (int)fd;
			i++;
		} else if (strcmp(arg, "--port") == 0 && val) {
			a->port.mode = ALK_PORT_PATH;
			a->port.path = val;
			i++;
		} else if (strcmp(arg, "--resolv-conf") == 0 && val && val[0] == '/') {
			a->net.resolv_conf = val;
			i++;
		} else if (strcmp(arg, "--renew-dry") == 0) {
			a->renew_dry = true;
		} else if (!a->pid1) {
			usage(stderr);
			exit(2);
		}
	}
}

static void poll_add(struct pollfd *pfd, AlkPollRef *ref, size_t *n, int fd, short ev, AlkPollRef r)
{
	pfd[*n] = (struct pollfd){.fd = fd, .events = ev};
	ref[*n] = r;
	(*n)++;
}

/* Signals first, the port last: frames read from the port may end or
 * start execs, and the exec entries of this turn must still be valid. */
static size_t loop_build(AlkAgent *a, struct pollfd *pfd, AlkPollRef *ref)
{
	size_t n = 0;
	bool room = !alk_out_blocked(a);
	poll_add(pfd, ref, &n, a->sigfd, POLLIN, (AlkPollRef){.kind = REF_SIGNAL});
	for (size_t i = 0; i < ALK_AGENT_MAX_EXECS; i++) {
		AlkExec *e = &a->execs[i];
		if (!e->used)
			continue;
		for (int s = 0; s < 2; s++)
			if (room && e->out_fd[s] >= 0 &&
			    alk_window_room(e->out_window, e->forwarded, e->out_credit, 1) > 0)
				poll_add(pfd, ref, &n, e->out_fd[s], POLLIN,
				         (AlkPollRef){REF_STDIO, e, e->serial, s});
		if (e->in_fd >= 0 && alk_buf_used(&e->in_buf) > 0)
			poll_add(pfd, ref, &n, e->in_fd, POLLOUT,
			         (AlkPollRef){REF_STDIN, e, e->serial, 0});
	}
	if (a->port.connected)
		poll_add(pfd, ref, &n, a->port.fd, alk_port_events(a),
		         (AlkPollRef){.kind = REF_PORT});
	return n;
}

static void loop_dispatch(AlkAgent *a, const struct pollfd *pfd, const AlkPollRef *r)
{
	if (!pfd->revents)
		return;
	if (r->kind == REF_SIGNAL) {
		alk_signal_ready(a);
		return;
	}
	if (r->kind == REF_PORT) {
		alk_port_ready(a, pfd->revents);
		return;
	}
	AlkExec *e = r->exec;
	if (!e->used || e->serial != r->serial)
		return;
	if (r->kind == REF_STDIO && e->out_fd[r->stream] == pfd->fd)
		alk_exec_read(a, e, r->stream);
	else if (r->kind == REF_STDIN && e->in_fd == pfd->fd)
		alk_exec_write_stdin(a, e);
}

static void loop_once(AlkAgent *a)
{
	static struct pollfd pfd[ALK_POLL_MAX];
	static AlkPollRef ref[ALK_POLL_MAX];
	uint64_t now = alk_now_ms();
	alk_exec_tick(a, now);
	alk_port_tick(a, now);
	alk_net_tick(a, now);
	alk_file_pump(a);
	int timeout = alk_exec_timeout(a, -1, now);
	timeout = alk_port_timeout(a, timeout, now);
	timeout = alk_net_timeout(a, timeout, now);
	size_t n = loop_build(a, pfd, ref);
	int r = poll(pfd, n, timeout);
	if (r < 0) {
		if (errno != EINTR)
			alk_fatal(a, "poll: %s", strerror(errno));
		return;
	}
	for (size_t i = 0; i < n && !a->quit; i++)
		loop_dispatch(a, &pfd[i], &ref[i]);
}

int main(int argc, char **argv)
{
	/* Static: the decoder alone is a 64 KiB buffer. */
	static AlkAgent agent;
	AlkAgent *a = &agent;
	agent_boot_stamps(a);
	a->sigfd = -1;
	a->port.fd = -1;
	a->pid1 = getpid() == 1;
	a->net.resolv_conf = ALK_RESOLV_CONF;
	agent_args(a, argc, argv);
	a->sigfd = alk_signal_setup();
	int sig_err = errno;
	/* The mounts first: a fatal error must reach /dev/console. */
	if (a->pid1)
		alk_init_setup(a);
	agent_sane_stdio();
	if (a->sigfd < 0)
		alk_fatal(a, "signalfd: %s", strerror(sig_err));
	/* Outside PID 1, orphaned grandchildren come back to us, so they are
	 * reaped and a process group really ends. */
	if (!a->pid1)
		prctl(PR_SET_CHILD_SUBREAPER, 1);
	agent_nonce(a->nonce);
	alk_log("version %s started%s", ALK_VERSION, a->pid1 ? " as PID 1" : "");
	/* An image with a session of its own (the desktop) owns the screen:
	 * no root shell on tty1 there. */
	if (!a->pid1 || !alk_init_session())
		alk_tty_start(a);
	if (alk_port_open(a) == 0)
		while (!a->quit)
			loop_once(a);
	alk_agent_abort_all(a);
	alk_port_close(a);
	alk_buf_free(&a->out);
	if (a->pid1)
		alk_init_poweroff(a);
	close(a->sigfd);
	return 0;
}
