/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * FILE_PUT and FILE_GET.
 *
 * A PUT writes a private temp file (0600, O_EXCL through mkostemp) in the
 * target's directory and renames it over the target only when exactly the
 * announced bytes arrived, so a reader never sees a half-written file and a
 * failed upload leaves nothing behind. A GET is streamed from the loop
 * (alk_file_pump) only while the output queue has room.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "alk-agent.h"

AlkXfer *alk_xfer_find(AlkAgent *a, uint32_t id)
{
	for (size_t i = 0; i < ALK_AGENT_MAX_XFERS; i++)
		if (a->xfers[i].used && a->xfers[i].id == id)
			return &a->xfers[i];
	return NULL;
}

/* Frees the slot; an unfinished PUT's temp file goes with it. */
void alk_xfer_abort(AlkXfer *x)
{
	if (x->fd >= 0)
		close(x->fd);
	if (x->tmp)
		unlink(x->tmp);
	free(x->tmp);
	free(x->path);
	*x = (AlkXfer){.fd = -1};
}

/* A request that failed after its error was sent: the host may still be
 * streaming FILE_DATA for it, which is then dropped quietly. */
static void xfer_refuse(AlkAgent *a, uint32_t id, AlkXfer *x)
{
	alk_dead_add(a, id);
	if (x)
		alk_xfer_abort(x);
}

static AlkXfer *xfer_claim(AlkAgent *a, const AlkFrameHeader *h, const AlkMsgFile *m, int kind)
{
	if (!alk_msg_claim_id(a, h))
		return NULL;
	if (!m->path || m->path[0] != '/') {
		alk_send_error(a, h->id, ALK_ERR_BAD_REQUEST, 0, "path must be absolute");
		return NULL;
	}
	for (size_t i = 0; i < ALK_AGENT_MAX_XFERS; i++) {
		AlkXfer *x = &a->xfers[i];
		if (x->used)
			continue;
		*x = (AlkXfer){.used = true, .kind = kind, .id = h->id, .fd = -1};
		x->path = strdup(m->path);
		if (x->path)
			return x;
		alk_xfer_abort(x);
		alk_send_errno(a, h->id, ENOMEM, "strdup");
		return NULL;
	}
	alk_send_error(a, h->id, ALK_ERR_BUSY, 0, "%d file transfers are running already",
	               ALK_AGENT_MAX_XFERS);
	return NULL;
}

static char *put_temp_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	int dirlen = (int)(slash - path);
	char *tmp = NULL;
	if (asprintf(&tmp, "%.*s/.airlock-put-XXXXXX", dirlen, path) < 0)
		return NULL;
	return tmp;
}

static bool put_open(AlkAgent *a, AlkXfer *x)
{
	struct stat st;
	if (stat(x->path, &st) == 0 && S_ISDIR(st.st_mode)) {
		alk_send_errno(a, x->id, EISDIR, x->path);
		return false;
	}
	x->tmp = put_temp_name(x->path);
	if (!x->tmp) {
		alk_send_errno(a, x->id, ENOMEM, "temp name");
		return false;
	}
	x->fd = mkostemp(x->tmp, O_CLOEXEC);
	if (x->fd < 0) {
		int err = errno;
		free(x->tmp);
		x->tmp = NULL;
		alk_send_errno(a, x->id, err, x->path);
		return false;
	}
	return true;
}

static bool put_check_size(AlkAgent *a, AlkXfer *x)
{
	struct statvfs vfs;
	uint64_t avail = UINT64_MAX;
	if (fstatvfs(x->fd, &vfs) == 0)
		avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	if (x->size <= ALK_FILE_PUT_MAX && x->size <= avail)
		return true;
	alk_send_error(a, x->id, ALK_ERR_TOO_LARGE, 0,
	               "%llu bytes announced; the limit is %llu, %llu bytes are free",
	               (unsigned long long)x->size, (unsigned long long)ALK_FILE_PUT_MAX,
	               (unsigned long long)avail);
	return false;
}

void alk_file_put(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m)
{
	AlkXfer *x = xfer_claim(a, h, &m->file, ALK_XFER_PUT);
	if (!x) {
		if (!alk_id_in_use(a, h->id))
			xfer_refuse(a, h->id, NULL);
		return;
	}
	x->mode = m->file.mode & 07777;
	x->size = m->file.size;
	if (!put_open(a, x) || !put_check_size(a, x))
		xfer_refuse(a, h->id, x);
}

static bool write_all(int fd, const uint8_t *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ENOSPC;
			return false;
		}
		data += n;
		len -= (size_t)n;
	}
	return true;
}

static AlkXfer *put_target(AlkAgent *a, const AlkFrameHeader *h)
{
	AlkXfer *x = alk_xfer_find(a, h->id);
	if (!x) {
		alk_msg_no_such_id(a, h);
		return NULL;
	}
	if (x->kind != ALK_XFER_PUT) {
		alk_send_error(a, h->id, ALK_ERR_BAD_REQUEST, 0, "%s belongs to a FILE_PUT",
		               alk_proto_type_name(h->type));
		return NULL;
	}
	return x;
}

void alk_file_data(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m)
{
	const AlkBytes *d = &m->data.data;
	AlkXfer *x = put_target(a, h);
	if (!x)
		return;
	/* size 0 announces nothing: only the agent's own limit applies */
	uint64_t limit = x->size ? x->size : ALK_FILE_PUT_MAX;
	if (d->len > limit - x->done) {
		alk_send_error(a, h->id, ALK_ERR_TOO_LARGE, 0, "more than the %llu bytes %s",
		               (unsigned long long)limit, x->size ? "announced" : "allowed");
		xfer_refuse(a, h->id, x);
		return;
	}
	if (!write_all(x->fd, d->data, d->len)) {
		alk_send_errno(a, h->id, errno, x->path);
		xfer_refuse(a, h->id, x);
		return;
	}
	x->done += d->len;
}

/* fsync before rename: after OK the host may snapshot or power the guest
 * off, and the file must be there with its contents. */
static bool put_commit(AlkAgent *a, AlkXfer *x)
{
	if (fsync(x->fd) < 0 || fchmod(x->fd, x->mode) < 0) {
		alk_send_errno(a, x->id, errno, x->tmp);
		return false;
	}
	int fd = x->fd;
	x->fd = -1;
	if (close(fd) < 0 || rename(x->tmp, x->path) < 0) {
		alk_send_errno(a, x->id, errno, x->path);
		return false;
	}
	return true;
}

void alk_file_end(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m)
{
	AlkXfer *x = put_target(a, h);
	if (!x)
		return;
	if (x->size && x->done != x->size) {
		alk_send_error(a, h->id, ALK_ERR_BAD_REQUEST, 0,
		               "got %llu of the %llu bytes announced", (unsigned long long)x->done,
		               (unsigned long long)x->size);
	} else if (put_commit(a, x)) {
		free(x->tmp);
		x->tmp = NULL; /* renamed: nothing to clean up */
		alk_send_ack(a, ALK_MSG_OK, h->id, x->done);
	}
	alk_xfer_abort(x);
}

/* NOT_FOUND for a missing file, IO(errno) for everything else. */
static void get_open_error(AlkAgent *a, uint32_t id, const char *path, int err)
{
	if (err == ENOENT)
		alk_send_error(a, id, ALK_ERR_NOT_FOUND, 0, "%s: %s", path, strerror(err));
	else
		alk_send_errno(a, id, err, path);
}

static bool get_open(AlkAgent *a, AlkXfer *x, uint64_t max_size)
{
	struct stat st;
	/* O_NONBLOCK: opening a FIFO must not hang the loop; it is refused
	 * below as not a regular file. */
	x->fd = open(x->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (x->fd < 0 || fstat(x->fd, &st) < 0) {
		get_open_error(a, x->id, x->path, errno);
		return false;
	}
	if (S_ISDIR(st.st_mode)) {
		alk_send_errno(a, x->id, EISDIR, x->path);
		return false;
	}
	if (!S_ISREG(st.st_mode)) {
		alk_send_error(a, x->id, ALK_ERR_BAD_REQUEST, 0, "%s: not a regular file", x->path);
		return false;
	}
	if (max_size && (uint64_t)st.st_size > max_size) {
		alk_send_error(a, x->id, ALK_ERR_TOO_LARGE, 0, "%s: %llu bytes, over %llu", x->path,
		               (unsigned long long)st.st_size, (unsigned long long)max_size);
		return false;
	}
	x->size = (uint64_t)st.st_size;
	x->mode = st.st_mode;
	return true;
}

void alk_file_get(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m)
{
	AlkXfer *x = xfer_claim(a, h, &m->file, ALK_XFER_GET);
	if (!x)
		return;
	if (!get_open(a, x, m->file.max_size)) {
		alk_xfer_abort(x);
		return;
	}
	x->window = m->file.window;
	alk_send_file_info(a, h->id, x->size, x->mode);
}

/* One chunk of a GET. The size announced in FILE_INFO is what is sent: a
 * file growing meanwhile is cut there, one shrinking is an error. */
static void get_step(AlkAgent *a, AlkXfer *x)
{
	static uint8_t buf[ALK_PROTO_MAX_CHUNK];
	if (x->done == x->size) {
		alk_send_empty(a, ALK_MSG_FILE_END, x->id);
		alk_xfer_abort(x);
		return;
	}
	size_t want = x->size - x->done < sizeof(buf) ? (size_t)(x->size - x->done) : sizeof(buf);
	want = alk_window_room(x->window, x->done, x->credit, want);
	if (want == 0)
		return; /* the window is full: the host's CREDIT resumes it */
	ssize_t n = pread(x->fd, buf, want, (off_t)x->done);
	if (n < 0 && errno == EINTR)
		return;
	if (n <= 0) {
		if (n < 0)
			alk_send_errno(a, x->id, errno, x->path);
		else
			alk_send_error(a, x->id, ALK_ERR_IO, EIO, "%s: file shrank while read",
			               x->path);
		alk_xfer_abort(x);
		return;
	}
	alk_send_data(a, ALK_MSG_FILE_DATA, x->id, buf, (size_t)n);
	x->done += (uint64_t)n;
}

void alk_file_pump(AlkAgent *a)
{
	for (size_t i = 0; i < ALK_AGENT_MAX_XFERS; i++) {
		AlkXfer *x = &a->xfers[i];
		while (
		    x->used && x->kind == ALK_XFER_GET && !alk_out_blocked(a) &&
		    (x->done == x->size || alk_window_room(x->window, x->done, x->credit, 1) > 0))
			get_step(a, x);
	}
}
