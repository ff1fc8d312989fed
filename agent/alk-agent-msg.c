/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Frames from the host: one table from type to handler, the connection-level
 * messages (SYNC, PING, SHUTDOWN, ERROR) and request-id bookkeeping. Every
 * well-framed frame the agent cannot honour gets an ERROR under its id, so
 * the host never waits for a reply that will not come.
 */
#include <stdio.h>
#include <unistd.h>

#include "alk-agent.h"

typedef void (*AlkHandler)(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m);

bool alk_id_in_use(const AlkAgent *a, uint32_t id)
{
	for (size_t i = 0; i < ALK_AGENT_MAX_EXECS; i++)
		if (a->execs[i].used && a->execs[i].id == id)
			return true;
	for (size_t i = 0; i < ALK_AGENT_MAX_XFERS; i++)
		if (a->xfers[i].used && a->xfers[i].id == id)
			return true;
	return a->net.pending && a->net.id == id;
}

void alk_dead_add(AlkAgent *a, uint32_t id)
{
	a->dead_ids[a->dead_next] = id;
	a->dead_used[a->dead_next] = true;
	a->dead_next = (a->dead_next + 1) % ALK_AGENT_DEAD_IDS;
}

bool alk_dead_has(const AlkAgent *a, uint32_t id)
{
	for (size_t i = 0; i < ALK_AGENT_DEAD_IDS; i++)
		if (a->dead_used[i] && a->dead_ids[i] == id)
			return true;
	return false;
}

void alk_dead_forget(AlkAgent *a, uint32_t id)
{
	for (size_t i = 0; i < ALK_AGENT_DEAD_IDS; i++)
		if (a->dead_used[i] && a->dead_ids[i] == id)
			a->dead_used[i] = false;
}

void alk_dead_clear(AlkAgent *a)
{
	for (size_t i = 0; i < ALK_AGENT_DEAD_IDS; i++)
		a->dead_used[i] = false;
}

void alk_msg_no_such_id(AlkAgent *a, const AlkFrameHeader *h)
{
	if (alk_dead_has(a, h->id))
		return;
	alk_send_error(a, h->id, ALK_ERR_NOT_FOUND, 0, "%s: no request with id %u",
	               alk_proto_type_name(h->type), h->id);
}

bool alk_msg_claim_id(AlkAgent *a, const AlkFrameHeader *h)
{
	if (alk_id_in_use(a, h->id)) {
		alk_send_error(a, h->id, ALK_ERR_BAD_REQUEST, 0, "request id %u is in use", h->id);
		return false;
	}
	alk_dead_forget(a, h->id);
	return true;
}

/* The host's handshake after every (re)connect: everything it asked for
 * before is forgotten without replies, so it can drop stale frames by
 * waiting for the SYNC_ACK carrying its nonce. */
static void msg_sync(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m)
{
	alk_agent_abort_all(a);
	alk_dead_clear(a);
	alk_port_reset_decoder(a);
	alk_send_sync(a, ALK_MSG_SYNC_ACK, h->id, m->sync.nonce);
}

static void msg_ping(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m)
{
	alk_send_sync(a, ALK_MSG_PONG, h->id, m->sync.nonce);
}

static void msg_shutdown(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m)
{
	alk_log("shutdown requested by the host");
	sync();
	a->quit = true;
}

/* ERROR from the host ends its request, as ERROR does in either
 * direction: a transfer is aborted (its temp file removed), an exec's
 * process group is killed, and neither gets another frame. */
static void msg_error(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m)
{
	AlkXfer *x = alk_xfer_find(a, h->id);
	AlkExec *e = alk_exec_find(a, h->id);
	if (x)
		alk_xfer_abort(x);
	if (e)
		alk_exec_abort(a, e);
	if (a->net.pending && a->net.id == h->id)
		alk_net_abort(a);
}

/* CREDIT: the host took this many output bytes of the request so far.
 * One for a request that just ended is expected and dropped silently. */
static void msg_credit(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m)
{
	AlkExec *e = alk_exec_find(a, h->id);
	AlkXfer *x = alk_xfer_find(a, h->id);
	uint64_t bytes = m->ack.bytes;

	if (e != NULL && bytes > e->out_credit)
		e->out_credit = bytes < e->forwarded ? bytes : e->forwarded;
	if (x != NULL && x->kind == ALK_XFER_GET && bytes > x->credit)
		x->credit = bytes < x->done ? bytes : x->done;
}

static const AlkHandler msg_handlers[ALK_MSG_TYPE_MAX + 1] = {
    [ALK_MSG_SYNC] = msg_sync,
    [ALK_MSG_PING] = msg_ping,
    [ALK_MSG_EXEC] = alk_exec_start,
    [ALK_MSG_STDIN] = alk_exec_stdin,
    [ALK_MSG_STDIN_EOF] = alk_exec_stdin_eof,
    [ALK_MSG_SIGNAL] = alk_exec_signal,
    [ALK_MSG_FILE_PUT] = alk_file_put,
    [ALK_MSG_FILE_GET] = alk_file_get,
    [ALK_MSG_FILE_DATA] = alk_file_data,
    [ALK_MSG_FILE_END] = alk_file_end,
    [ALK_MSG_ERROR] = msg_error,
    [ALK_MSG_SHUTDOWN] = msg_shutdown,
    [ALK_MSG_NET_CONFIG] = alk_net_config,
    [ALK_MSG_CREDIT] = msg_credit,
    [ALK_MSG_RESIZE] = alk_exec_resize,
    [ALK_MSG_FS_CONFIG] = alk_fs_config,
    [ALK_MSG_RENEW] = alk_renew,
};

/* Every check of a payload's shape is the codec's, done here once. */
static int msg_decode(int type, const uint8_t *p, size_t n, AlkHostMsg *m)
{
	switch (type) {
	case ALK_MSG_SYNC:
	case ALK_MSG_PING:
		return alk_msg_sync_decode(p, n, &m->sync);
	case ALK_MSG_EXEC:
		return alk_msg_exec_decode(p, n, &m->exec);
	case ALK_MSG_STDIN:
	case ALK_MSG_FILE_DATA:
		return alk_msg_data_decode(p, n, &m->data);
	case ALK_MSG_SIGNAL:
		return alk_msg_signal_decode(p, n, &m->signal);
	case ALK_MSG_FILE_PUT:
	case ALK_MSG_FILE_GET:
		return alk_msg_file_decode_type(type, p, n, &m->file);
	case ALK_MSG_ERROR:
		return alk_msg_error_decode(p, n, &m->error);
	case ALK_MSG_NET_CONFIG:
		return alk_msg_net_config_decode(p, n, &m->net);
	case ALK_MSG_CREDIT:
		return alk_msg_ack_decode(p, n, &m->ack);
	case ALK_MSG_RESIZE:
		return alk_msg_resize_decode(p, n, &m->resize);
	case ALK_MSG_FS_CONFIG:
		return alk_msg_fs_config_decode(p, n, &m->fs);
	case ALK_MSG_RENEW:
		return alk_msg_renew_decode(p, n, &m->renew);
	default: /* STDIN_EOF, FILE_END, SHUTDOWN */
		return alk_msg_empty_decode(p, n);
	}
}

static void msg_malformed(AlkAgent *a, const AlkFrameHeader *h, int status)
{
	/* Two peers answering each other's errors could loop forever. */
	if (h->type == ALK_MSG_ERROR)
		return;
	alk_send_error(a, h->id, ALK_ERR_PROTOCOL, 0, "malformed %s: %s",
	               alk_proto_type_name(h->type), alk_proto_strerror(status));
	/* The host may already be streaming STDIN or FILE_DATA for the
	 * request it tried to start: those are dropped without more noise. */
	if ((h->type == ALK_MSG_EXEC || h->type == ALK_MSG_FILE_PUT) && !alk_id_in_use(a, h->id))
		alk_dead_add(a, h->id);
}

void alk_msg_dispatch(AlkAgent *a, const AlkFrameHeader *h, const uint8_t *payload)
{
	static AlkHostMsg m; /* an AlkMsgExec is ~4 KiB of pointers */
	if (!alk_proto_type_known(h->type) || h->type > ALK_MSG_TYPE_MAX) {
		alk_send_error(a, h->id, ALK_ERR_UNKNOWN_TYPE, 0, "unknown frame type %u", h->type);
		return;
	}
	AlkHandler fn = msg_handlers[h->type];
	if (!fn) {
		alk_send_error(a, h->id, ALK_ERR_BAD_REQUEST, 0, "%s is not sent by the host",
		               alk_proto_type_name(h->type));
		return;
	}
	int r = msg_decode(h->type, payload, h->len, &m);
	if (r < 0) {
		msg_malformed(a, h, r);
		return;
	}
	fn(a, h, &m);
}
