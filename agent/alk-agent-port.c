/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host connection: finding and opening the virtio port, tracking
 * whether a host is connected, feeding the decoder and draining the output
 * queue.
 *
 * virtio_console reports POLLHUP for as long as no host holds the other end
 * (and read() returns 0). Polling the port in that state would return at
 * once, forever, so a disconnected port leaves the poll set: the agent arms
 * O_ASYNC (virtio_console sends SIGIO when the host opens) and re-checks on a
 * slow timer in case that signal is missed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "alk-agent.h"

#define ALK_PORT_SYSFS "/sys/class/virtio-ports"
/* At boot the port may appear a little after the agent starts. */
#define ALK_PORT_WAIT_MS 30000
#define ALK_PORT_RETRY_MS 250
#define ALK_PORT_BUSY_LOG_MS 10000

static uint8_t port_rbuf[ALK_PROTO_MAX_FRAME];

static bool port_find(char *dev, size_t n)
{
	DIR *d = opendir(ALK_PORT_SYSFS);
	if (!d)
		return false;
	bool found = false;
	struct dirent *de;
	while (!found && (de = readdir(d))) {
		char path[512], name[128];
		if (strncmp(de->d_name, "vport", 5) != 0)
			continue;
		snprintf(path, sizeof(path), ALK_PORT_SYSFS "/%s/name", de->d_name);
		if (alk_read_line(path, name, sizeof(name)) &&
		    strcmp(name, ALK_AGENT_PORT_NAME) == 0) {
			snprintf(dev, n, "%s", de->d_name);
			found = true;
		}
	}
	closedir(d);
	return found;
}

/* Without devtmpfs (or before udev) the node may be missing: sysfs has its
 * major:minor. */
static void port_mknod(const char *dev)
{
	char path[512], line[64], node[300];
	unsigned ma, mi;
	snprintf(path, sizeof(path), ALK_PORT_SYSFS "/%s/dev", dev);
	if (!alk_read_line(path, line, sizeof(line)) || sscanf(line, "%u:%u", &ma, &mi) != 2)
		return;
	snprintf(node, sizeof(node), "/dev/%s", dev);
	if (mknod(node, S_IFCHR | 0600, makedev(ma, mi)) < 0 && errno != EEXIST)
		alk_log("mknod %s: %s", node, strerror(errno));
}

static int port_open_dev(const char *dev)
{
	char node[300];
	snprintf(node, sizeof(node), "/dev/%s", dev);
	int fd = open(node, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno == ENOENT) {
		port_mknod(dev);
		fd = open(node, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	}
	return fd;
}

/* Bounded wait for the port to appear; unbounded (but loud) while another
 * process holds it, since that process may go away. */
static int port_discover(AlkAgent *a)
{
	uint64_t give_up = alk_now_ms() + ALK_PORT_WAIT_MS, busy_log = 0;
	while (!a->quit) {
		char dev[256];
		if (port_find(dev, sizeof(dev))) {
			int fd = port_open_dev(dev);
			if (fd >= 0) {
				alk_log("port %s found at /dev/%s", ALK_AGENT_PORT_NAME, dev);
				return fd;
			}
			if (errno != EBUSY)
				alk_fatal(a, "open /dev/%s: %s", dev, strerror(errno));
			if (alk_now_ms() >= busy_log) {
				alk_log("port /dev/%s is held by another process (EBUSY): "
				        "is a second agent running? retrying",
				        dev);
				busy_log = alk_now_ms() + ALK_PORT_BUSY_LOG_MS;
			}
			give_up = alk_now_ms() + ALK_PORT_WAIT_MS;
		} else if (alk_now_ms() >= give_up) {
			alk_fatal(a, "no virtio port named %s", ALK_AGENT_PORT_NAME);
		}
		alk_signal_wait(a, ALK_PORT_RETRY_MS);
	}
	return -1;
}

static void port_set_async(AlkAgent *a, bool on)
{
	int fl = fcntl(a->port.fd, F_GETFL);
	if (fl >= 0)
		fcntl(a->port.fd, F_SETFL, on ? fl | O_ASYNC : fl & ~O_ASYNC);
}

static void port_connected(AlkAgent *a)
{
	AlkPort *p = &a->port;
	if (p->mode != ALK_PORT_FD)
		alk_log("host connected");
	p->connected = true;
	port_set_async(a, false);
	alk_decoder_reset(&p->dec);
	p->partial_since_ms = 0;
	/* Whatever was queued was meant for a host that is gone; the new one
	 * starts from HELLO and will SYNC. */
	alk_buf_clear(&a->out);
	alk_send_hello(a);
}

static void port_lost(AlkAgent *a)
{
	AlkPort *p = &a->port;
	if (p->mode == ALK_PORT_FD) {
		a->quit = true;
		return;
	}
	if (p->connected)
		alk_log("host disconnected");
	p->connected = false;
	alk_decoder_reset(&p->dec);
	p->partial_since_ms = 0;
	alk_buf_clear(&a->out);
	/* Armed before the next check so that a host opening in between
	 * still wakes the loop. */
	port_set_async(a, true);
	p->recheck_ms = alk_now_ms() + ALK_RECHECK_MS;
}

static void port_check(AlkAgent *a)
{
	struct pollfd pfd = {.fd = a->port.fd, .events = POLLIN};
	if (poll(&pfd, 1, 0) < 0)
		return;
	if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL))
		port_lost(a);
	else
		port_connected(a);
}

int alk_port_open(AlkAgent *a)
{
	AlkPort *p = &a->port;
	alk_decoder_init(&p->dec);
	if (p->mode == ALK_PORT_DISCOVER) {
		p->fd = port_discover(a);
	} else if (p->mode == ALK_PORT_PATH) {
		p->fd = open(p->path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		if (p->fd < 0)
			alk_fatal(a, "open %s: %s", p->path, strerror(errno));
	} else {
		int fl = fcntl(p->fd, F_GETFL);
		if (fl < 0 || fcntl(p->fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
		    fcntl(p->fd, F_SETFD, FD_CLOEXEC) < 0)
			alk_fatal(a, "--fd %d: %s", p->fd, strerror(errno));
	}
	if (p->fd < 0)
		return -1;
	if (p->mode != ALK_PORT_FD)
		fcntl(p->fd, F_SETOWN, getpid());
	port_check(a);
	if (!p->connected && p->mode != ALK_PORT_FD)
		alk_log("waiting for the host to connect");
	return 0;
}

void alk_port_close(AlkAgent *a)
{
	if (a->port.fd >= 0)
		close(a->port.fd);
	a->port.fd = -1;
	a->port.connected = false;
}

bool alk_port_wants_input(const AlkAgent *a)
{
	return a->port.connected && alk_buf_used(&a->out) < ALK_OUT_INPUT_STOP;
}

short alk_port_events(const AlkAgent *a)
{
	short ev = 0;
	if (alk_port_wants_input(a))
		ev |= POLLIN;
	if (alk_buf_used(&a->out) > 0)
		ev |= POLLOUT;
	return ev;
}

/* Frames may reset the decoder (SYNC) only between frames: the held
 * frame's payload lives in the decoder's buffer until it is consumed. */
void alk_port_reset_decoder(AlkAgent *a)
{
	a->port.reset_pending = true;
}

static void port_feed(AlkAgent *a, const uint8_t *buf, size_t n)
{
	AlkDecoder *d = &a->port.dec;
	size_t off = 0;
	while (off < n && a->port.connected && !a->quit) {
		size_t used = alk_decoder_feed(d, buf + off, n - off);
		off += used;
		if (!alk_decoder_ready(d)) {
			if (used == 0)
				break; /* cannot happen with a sane decoder; never spin */
			continue;
		}
		AlkFrameHeader h;
		const uint8_t *payload = alk_decoder_frame(d, &h);
		alk_msg_dispatch(a, &h, payload);
		alk_decoder_consume(d);
		if (a->port.reset_pending)
			alk_decoder_reset(d);
		a->port.reset_pending = false;
	}
}

/* The read deadline runs from the moment a frame started arriving: a new
 * frame (the frame counter moved) restarts it. */
static void port_track_partial(AlkPort *p, uint64_t now)
{
	if (!alk_decoder_partial(&p->dec))
		p->partial_since_ms = 0;
	else if (p->partial_since_ms == 0 || p->dec.frames != p->frames_seen)
		p->partial_since_ms = now;
	p->frames_seen = p->dec.frames;
}

static void port_read(AlkAgent *a)
{
	ssize_t n = read(a->port.fd, port_rbuf, sizeof(port_rbuf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (n < 0)
			alk_log("reading the port: %s", strerror(errno));
		port_lost(a);
		return;
	}
	port_feed(a, port_rbuf, (size_t)n);
	if (a->port.connected)
		port_track_partial(&a->port, alk_now_ms());
}

static void port_flush(AlkAgent *a)
{
	while (alk_buf_used(&a->out) > 0) {
		ssize_t n = write(a->port.fd, alk_buf_peek(&a->out), alk_buf_used(&a->out));
		if (n > 0) {
			alk_buf_consume(&a->out, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0 && errno != EPIPE)
			alk_log("writing the port: %s", strerror(errno));
		port_lost(a);
		return;
	}
}

void alk_port_ready(AlkAgent *a, short revents)
{
	/* On the virtio port hang-up means "no host": anything still readable
	 * was sent by a host that is gone. A socket (--fd) is read to EOF. */
	if (a->port.mode != ALK_PORT_FD && (revents & (POLLHUP | POLLERR | POLLNVAL))) {
		port_lost(a);
		return;
	}
	if (revents & POLLOUT)
		port_flush(a);
	if (!a->port.connected)
		return;
	if (revents & POLLIN)
		port_read(a);
	else if (revents & (POLLHUP | POLLERR | POLLNVAL))
		port_lost(a);
}

void alk_port_tick(AlkAgent *a, uint64_t now)
{
	AlkPort *p = &a->port;
	if (!p->connected) {
		if (p->recheck_now || now >= p->recheck_ms) {
			p->recheck_now = false;
			port_check(a);
		}
		return;
	}
	if (p->partial_since_ms == 0)
		return;
	/* While input is paused the bytes wait in the kernel, not in the
	 * decoder: that time is ours, not the host's. */
	if (!alk_port_wants_input(a)) {
		p->partial_since_ms = now;
	} else if (now - p->partial_since_ms >= ALK_PROTO_READ_DEADLINE_MS) {
		alk_log("dropping a partial frame older than %u ms", ALK_PROTO_READ_DEADLINE_MS);
		alk_decoder_reset(&p->dec);
		p->partial_since_ms = 0;
	}
}

int alk_port_timeout(const AlkAgent *a, int cur, uint64_t now)
{
	const AlkPort *p = &a->port;
	if (!p->connected)
		return alk_timeout_min(cur, p->recheck_ms, now);
	if (p->partial_since_ms && alk_port_wants_input(a))
		return alk_timeout_min(cur, p->partial_since_ms + ALK_PROTO_READ_DEADLINE_MS, now);
	return cur;
}
