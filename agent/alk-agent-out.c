/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The outbound side: a byte FIFO of encoded frames, written to the port by
 * the loop. Frames are encoded straight into the FIFO's tail, so a frame is
 * never copied. Memory stays bounded because data producers stop at
 * ALK_OUT_HIGH_WATER and the host's input stops at ALK_OUT_INPUT_STOP.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alk-agent.h"

/* An emptied buffer bigger than this is released, so a burst does not pin
 * its peak memory for the rest of the boot. */
#define ALK_BUF_KEEP (512u * 1024u)

void alk_buf_free(AlkBuf *b)
{
	free(b->data);
	*b = (AlkBuf){0};
}

void alk_buf_clear(AlkBuf *b)
{
	b->head = 0;
	b->len = 0;
	if (b->cap > ALK_BUF_KEEP)
		alk_buf_free(b);
}

size_t alk_buf_used(const AlkBuf *b)
{
	return b->len - b->head;
}

const uint8_t *alk_buf_peek(const AlkBuf *b)
{
	return b->data + b->head;
}

uint8_t *alk_buf_reserve(AlkBuf *b, size_t n)
{
	if (b->cap - b->len >= n)
		return b->data + b->len;
	if (b->head > 0) {
		memmove(b->data, b->data + b->head, b->len - b->head);
		b->len -= b->head;
		b->head = 0;
		if (b->cap - b->len >= n)
			return b->data + b->len;
	}
	size_t cap = b->cap ? b->cap : 4096;
	while (cap - b->len < n)
		cap *= 2;
	uint8_t *data = realloc(b->data, cap);
	if (!data)
		return NULL;
	b->data = data;
	b->cap = cap;
	return b->data + b->len;
}

void alk_buf_commit(AlkBuf *b, size_t n)
{
	b->len += n;
}

bool alk_buf_append(AlkBuf *b, const void *data, size_t n)
{
	uint8_t *p = alk_buf_reserve(b, n);
	if (!p)
		return false;
	memcpy(p, data, n);
	alk_buf_commit(b, n);
	return true;
}

void alk_buf_consume(AlkBuf *b, size_t n)
{
	b->head += n;
	if (b->head == b->len)
		alk_buf_clear(b);
}

bool alk_out_blocked(const AlkAgent *a)
{
	return alk_buf_used(&a->out) >= ALK_OUT_HIGH_WATER;
}

static uint8_t *out_room(AlkAgent *a)
{
	uint8_t *p = alk_buf_reserve(&a->out, ALK_PROTO_MAX_FRAME);
	if (!p)
		alk_log("out of memory: dropping an outbound frame");
	return p;
}

/* An encoder failing here is an agent bug (a field too long for a frame):
 * the frame is dropped and logged rather than sent half-made. */
static void out_commit(AlkAgent *a, long n, int type)
{
	if (n < 0) {
		alk_log("cannot encode %s: %s", alk_proto_type_name(type),
		        alk_proto_strerror((int)n));
		return;
	}
	alk_buf_commit(&a->out, (size_t)n);
}

void alk_send_hello(AlkAgent *a)
{
	AlkMsgHello m = {
	    .version = ALK_PROTO_VERSION,
	    .caps = ALK_CAP_EXEC | ALK_CAP_FILES | ALK_CAP_SIGNAL | ALK_CAP_SHUTDOWN | ALK_CAP_NET |
	            ALK_CAP_PTY | ALK_CAP_CREDIT | ALK_CAP_FS | ALK_CAP_RENEW,
	    .max_payload = ALK_PROTO_MAX_PAYLOAD,
	    .agent_version = ALK_VERSION,
	    .initramfs_ms = a->boot_initramfs_ms,
	    .root_ms = a->boot_root_ms,
	    .grown_ms = a->boot_grown_ms,
	    .init_ms = a->boot_init_ms,
	    .uptime_ms = alk_uptime_ms(),
	};
	memcpy(m.nonce, a->nonce, sizeof(m.nonce));
	uint8_t *p = out_room(a);
	if (p)
		out_commit(a, alk_msg_hello_encode(p, ALK_PROTO_MAX_FRAME, &m), ALK_MSG_HELLO);
}

void alk_send_sync(AlkAgent *a, int type, uint32_t id, uint64_t nonce)
{
	AlkMsgSync m = {.nonce = nonce};
	uint8_t *p = out_room(a);
	if (p)
		out_commit(a, alk_msg_sync_encode(p, ALK_PROTO_MAX_FRAME, type, id, &m), type);
}

void alk_send_data(AlkAgent *a, int type, uint32_t id, const void *data, size_t len)
{
	uint8_t *p = out_room(a);
	if (p)
		out_commit(a, alk_msg_data_encode(p, ALK_PROTO_MAX_FRAME, type, id, data, len),
		           type);
}

void alk_send_ack(AlkAgent *a, int type, uint32_t id, uint64_t bytes)
{
	uint8_t *p = out_room(a);
	if (p)
		out_commit(a, alk_msg_ack_encode(p, ALK_PROTO_MAX_FRAME, type, id, bytes), type);
}

void alk_send_started(AlkAgent *a, uint32_t id, pid_t pid)
{
	AlkMsgStarted m = {.pid = (uint32_t)pid};
	uint8_t *p = out_room(a);
	if (p)
		out_commit(a, alk_msg_started_encode(p, ALK_PROTO_MAX_FRAME, id, &m),
		           ALK_MSG_STARTED);
}

void alk_send_exit(AlkAgent *a, uint32_t id, const AlkMsgExit *m)
{
	uint8_t *p = out_room(a);
	if (p)
		out_commit(a, alk_msg_exit_encode(p, ALK_PROTO_MAX_FRAME, id, m), ALK_MSG_EXIT);
}

void alk_send_file_info(AlkAgent *a, uint32_t id, uint64_t size, uint32_t mode)
{
	AlkMsgFile m = {.size = size, .mode = mode};
	uint8_t *p = out_room(a);
	if (p)
		out_commit(a,
		           alk_msg_file_encode(p, ALK_PROTO_MAX_FRAME, ALK_MSG_FILE_INFO, id, &m),
		           ALK_MSG_FILE_INFO);
}

void alk_send_empty(AlkAgent *a, int type, uint32_t id)
{
	uint8_t *p = out_room(a);
	if (p)
		out_commit(a, alk_msg_empty_encode(p, ALK_PROTO_MAX_FRAME, type, id), type);
}

void alk_send_error(AlkAgent *a, uint32_t id, uint32_t code, int errnum, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	uint8_t *p = out_room(a);
	if (p)
		out_commit(
		    a,
		    alk_msg_error_encode(p, ALK_PROTO_MAX_FRAME, id, code, (uint32_t)errnum, msg),
		    ALK_MSG_ERROR);
}

void alk_send_errno(AlkAgent *a, uint32_t id, int errnum, const char *what)
{
	alk_send_error(a, id, ALK_ERR_IO, errnum, "%s: %s", what, strerror(errnum));
}
