/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pipes of an exec. Output is read one chunk at a time and only while
 * the output queue is below its high-water mark (the loop does not poll the
 * pipes otherwise), so a process printing without end is slowed to the
 * host's pace instead of growing the agent. Stdin is buffered per exec up to
 * the protocol's window and acknowledged as it drains into the pipe.
 */
#include <errno.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "alk-agent.h"

static void stdio_forward(AlkAgent *a, AlkExec *e, int s, const uint8_t *buf, size_t n)
{
	size_t fwd = n;
	if (e->output_cap) {
		uint64_t room = e->output_cap > e->forwarded ? e->output_cap - e->forwarded : 0;
		if (fwd > room) {
			fwd = (size_t)room;
			e->truncated = true;
		}
	}
	if (fwd == 0)
		return;
	alk_send_data(a, s == ALK_STREAM_STDOUT ? ALK_MSG_STDOUT : ALK_MSG_STDERR, e->id, buf, fwd);
	e->forwarded += fwd;
}

static void stdio_close(AlkAgent *a, AlkExec *e, int s)
{
	alk_exec_close_fd(&e->out_fd[s]);
	alk_exec_maybe_finish(a, e);
}

void alk_exec_read(AlkAgent *a, AlkExec *e, int s)
{
	static uint8_t buf[ALK_PROTO_MAX_CHUNK];
	size_t want = sizeof(buf);
	if (e->draining && e->drain_left[s] < want)
		want = e->drain_left[s];
	/* past the cap nothing is forwarded, so nothing counts against the window */
	if (!e->output_cap || e->forwarded < e->output_cap)
		want = alk_window_room(e->out_window, e->forwarded, e->out_credit, want);
	if (want == 0 && !(e->draining && e->drain_left[s] == 0))
		return; /* the window is full: the host's CREDIT resumes it */
	ssize_t n = want ? read(e->out_fd[s], buf, want) : 0;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		stdio_close(a, e, s);
		return;
	}
	e->produced[s] += (uint64_t)n;
	stdio_forward(a, e, s, buf, (size_t)n);
	if (e->draining) {
		e->drain_left[s] -= (size_t)n;
		if (e->drain_left[s] == 0)
			stdio_close(a, e, s);
	}
}

/* The main process is gone but something still holds its pipes: take what
 * is buffered in them now, and nothing written later. */
void alk_exec_start_drain(AlkExec *e)
{
	e->draining = true;
	for (int s = 0; s < 2; s++) {
		int avail = 0;
		if (e->out_fd[s] < 0)
			continue;
		if (ioctl(e->out_fd[s], FIONREAD, &avail) < 0 || avail < 0)
			avail = 0;
		e->drain_left[s] = (size_t)avail;
		if (avail == 0)
			alk_exec_close_fd(&e->out_fd[s]);
	}
}

/* The child closed its stdin: what the host sends from now on is counted
 * as consumed, so a host waiting for acks is not stalled. */
static void stdin_broken(AlkExec *e)
{
	e->in_consumed += alk_buf_used(&e->in_buf);
	alk_buf_free(&e->in_buf);
	alk_exec_close_fd(&e->in_fd);
	e->in_broken = true;
}

void alk_exec_write_stdin(AlkAgent *a, AlkExec *e)
{
	uint64_t before = e->in_consumed;
	while (e->in_fd >= 0 && alk_buf_used(&e->in_buf) > 0) {
		ssize_t n = write(e->in_fd, alk_buf_peek(&e->in_buf), alk_buf_used(&e->in_buf));
		if (n > 0) {
			alk_buf_consume(&e->in_buf, (size_t)n);
			e->in_consumed += (uint64_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && errno == EAGAIN) {
			break;
		} else {
			stdin_broken(e);
		}
	}
	if (e->in_eof && alk_buf_used(&e->in_buf) == 0)
		alk_exec_close_fd(&e->in_fd);
	if (e->in_consumed != before)
		alk_send_ack(a, ALK_MSG_STDIN_ACK, e->id, e->in_consumed);
}

static AlkExec *stdin_target(AlkAgent *a, const AlkFrameHeader *h)
{
	AlkExec *e = alk_exec_find(a, h->id);
	if (!e) {
		alk_msg_no_such_id(a, h);
		return NULL;
	}
	if (!e->in_pipe || e->in_eof) {
		alk_send_error(a, h->id, ALK_ERR_BAD_REQUEST, 0,
		               "%s: stdin of request %u is not open", alk_proto_type_name(h->type),
		               h->id);
		return NULL;
	}
	return e;
}

void alk_exec_stdin(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m)
{
	const AlkBytes *d = &m->data.data;
	AlkExec *e = stdin_target(a, h);
	if (!e)
		return;
	if (alk_buf_used(&e->in_buf) + d->len > ALK_PROTO_STDIN_WINDOW) {
		alk_send_error(a, h->id, ALK_ERR_WINDOW, 0,
		               "more than %u bytes of stdin sent before their STDIN_ACK",
		               ALK_PROTO_STDIN_WINDOW);
		alk_dead_add(a, h->id);
		alk_exec_abort(a, e);
		return;
	}
	if (e->in_broken) {
		e->in_consumed += d->len;
		alk_send_ack(a, ALK_MSG_STDIN_ACK, e->id, e->in_consumed);
		return;
	}
	if (!alk_buf_append(&e->in_buf, d->data, d->len)) {
		alk_send_errno(a, h->id, ENOMEM, "buffering stdin");
		alk_dead_add(a, h->id);
		alk_exec_abort(a, e);
		return;
	}
	alk_exec_write_stdin(a, e);
}

void alk_exec_stdin_eof(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m)
{
	AlkExec *e = stdin_target(a, h);
	if (!e)
		return;
	e->in_eof = true;
	alk_exec_write_stdin(a, e);
}
