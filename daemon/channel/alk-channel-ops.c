/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The operations carried on the agent channel: the table of ops in flight
 * by request id, the frames the agent sends each kind, and the API that
 * starts and drives them. The connection itself (socket, handshake,
 * reader, output queue) is alk-channel.c's. */
#include "alk-channel-private.h"

#include <errno.h>
#include <signal.h>

#include "alk-error.h"

typedef struct OpClass OpClass;

struct AlkChannelOp {
	AlkChannel *ch;
	const OpClass *cls;
	guint32 id;
	gpointer user_data;
	AlkExecCallbacks exec;
	AlkFileCallbacks file;
	AlkPingFunc ping;
	AlkChannelReplyFunc reply;
	GDestroyNotify destroy; /* of user_data, plain requests only */
	guint64 ping_nonce;
	gint64 deadline_us;
	guint64 sent;  /* stdin or upload bytes queued */
	guint64 acked; /* stdin bytes the agent consumed */
	guint64 size;  /* upload: announced size */
	guint64 received;
	gboolean want_writable;
	gboolean closed;
	gboolean held; /* without a window: counts in ch->held */
	/* output flow control (docs/protocol.md 7.2): the agent sends at most
	 * window bytes beyond what the host granted with CREDIT */
	guint32 window; /* 0: the agent has no CAP_CREDIT */
	guint64 taken;  /* output bytes handed to the callbacks */
	guint64 granted;
};

/* What differs between the kinds of op: one row each, in "the kinds of
 * op" below. */
struct OpClass {
	const char *name;
	/* a frame the agent sent under the op's id */
	void (*frame)(AlkChannelOp *op, const AlkFrameHeader *h, const guint8 *p, gsize n);
	/* the op's final callback with error */
	void (*failed)(AlkChannelOp *op, const GError *error);
	/* ops that take data from the host: its frames and the can-write callback */
	int data_type, end_type;
	void (*writable)(AlkChannelOp *op);
	/* the bytes of data the op may have in flight beyond the agent's word */
	guint64 (*window)(AlkChannelOp *op);
	/* how the agent is told the host gave up on the op (NULL: not at all) */
	void (*cancel)(AlkChannelOp *op);
	/* answered only within its own deadline */
	gboolean has_deadline;
};

void alk_channel_op_free(AlkChannelOp *op)
{
	alk_channel_op_hold(op, FALSE);
	if (op->destroy != NULL)
		op->destroy(op->user_data);
	g_free(op);
}

/* Grants the agent what the callbacks took, once a quarter window is due
 * (or anything, when forced), unless the op is held. */
static void grant(AlkChannelOp *op, gboolean force)
{
	AlkChannel *ch = op->ch;

	if (op->window == 0 || op->held || op->taken == op->granted ||
	    (!force && op->taken - op->granted < op->window / 4))
		return;
	op->granted = op->taken;
	alk_channel_enqueue(
	    ch, ch->frame,
	    alk_msg_ack_encode(ch->frame, sizeof(ch->frame), ALK_MSG_CREDIT, op->id, op->granted));
}

void alk_channel_op_hold(AlkChannelOp *op, gboolean hold)
{
	if (op->held == hold)
		return;
	op->held = hold;
	/* with a window only this op's output waits (in the guest); without,
	 * nothing is read from the agent at all */
	if (op->window == 0)
		alk_channel_hold_input(op->ch, hold);
	else if (!hold)
		grant(op, TRUE);
}

/* After a callback took len output bytes of the op with id (which the
 * callback may have ended). */
static void taken(AlkChannel *ch, guint32 id, gsize len)
{
	AlkChannelOp *op = g_hash_table_lookup(ch->ops, GUINT_TO_POINTER(id));
	if (op == NULL)
		return;
	op->taken += len;
	grant(op, FALSE);
}

guint32 alk_channel_op_id(AlkChannelOp *op)
{
	return op->id;
}

/* ---- frames from the agent ---- */

static AlkChannelOp *lookup(AlkChannel *ch, guint32 id)
{
	return g_hash_table_lookup(ch->ops, GUINT_TO_POINTER(id));
}

/* Removes op from the table and runs its final callback. */
static void finish_failed(AlkChannelOp *op, const GError *error)
{
	AlkChannel *ch = op->ch;
	g_hash_table_steal(ch->ops, GUINT_TO_POINTER(op->id));
	op->cls->failed(op, error);
	alk_channel_op_free(op);
}

void alk_channel_ops_fail_all(AlkChannel *ch, const GError *error)
{
	GHashTableIter it;
	gpointer value;
	g_autoptr(GPtrArray) ops = g_ptr_array_new();

	g_hash_table_iter_init(&it, ch->ops);
	while (g_hash_table_iter_next(&it, NULL, &value))
		g_ptr_array_add(ops, value);
	for (guint i = 0; i < ops->len; i++) {
		AlkChannelOp *op = g_ptr_array_index(ops, i);
		/* a callback may have cancelled a later op already */
		if (lookup(ch, op->id) == op)
			finish_failed(op, error);
	}
}

/* The agent's errno for a path the caller named badly: the caller's
 * mistake. Any other I/O failure (a full disk, EIO, a refusal) is the
 * guest's. */
static gboolean caller_errno(guint32 errnum)
{
	switch (errnum) {
	case ENOENT:
	case ENOTDIR:
	case EISDIR:
	case ENAMETOOLONG:
	case ELOOP:
	case EEXIST:
		return TRUE;
	default:
		return FALSE;
	}
}

/* The agent's ERROR as an ALK_ERROR: once, here, at the guest's edge. */
static GError *guest_gerror(const AlkMsgError *e)
{
	switch (e->code) {
	case ALK_ERR_NOT_FOUND:
		return g_error_new(ALK_ERROR, ALK_ERROR_NOT_FOUND, "%s", e->message);
	case ALK_ERR_TOO_LARGE:
		return g_error_new(ALK_ERROR, ALK_ERROR_LIMIT, "%s", e->message);
	case ALK_ERR_BUSY:
		return g_error_new(ALK_ERROR, ALK_ERROR_LIMIT, "agent busy: %s", e->message);
	case ALK_ERR_BAD_REQUEST:
		return g_error_new(ALK_ERROR, ALK_ERROR_INVALID, "%s", e->message);
	case ALK_ERR_IO:
		if (caller_errno(e->errnum))
			return g_error_new(ALK_ERROR, ALK_ERROR_INVALID, "%s", e->message);
		return g_error_new(ALK_ERROR, ALK_ERROR_GUEST, "in the guest: %s", e->message);
	default:
		return g_error_new(ALK_ERROR, ALK_ERROR_GUEST, "in the guest: %s", e->message);
	}
}

static void guest_error(AlkChannelOp *op, const guint8 *p, gsize n)
{
	AlkMsgError e;
	g_autoptr(GError) error = NULL;
	if (alk_msg_error_decode(p, n, &e) < 0)
		error = g_error_new(ALK_ERROR, ALK_ERROR_PROTOCOL, "malformed ERROR from agent");
	else
		error = guest_gerror(&e);
	finish_failed(op, error);
}

static void malformed(AlkChannelOp *op, int type)
{
	g_autoptr(GError) error = g_error_new(ALK_ERROR, ALK_ERROR_PROTOCOL,
	                                      "malformed %s from agent", alk_proto_type_name(type));
	finish_failed(op, error);
}

/* The agent may send an op at most its window beyond what was granted; a
 * guest that does not keep to it fails the op rather than grow the daemon.
 * FALSE: the op is gone. */
static gboolean within_window(AlkChannelOp *op, gsize len)
{
	g_autoptr(GError) error = NULL;

	if (op->window == 0 || op->taken + len - op->granted <= op->window)
		return TRUE;
	error =
	    g_error_new(ALK_ERROR, ALK_ERROR_PROTOCOL,
	                "the guest agent sent %s output beyond its credit window", op->cls->name);
	finish_failed(op, error);
	return FALSE;
}

static void notify_writable(AlkChannelOp *op)
{
	op->want_writable = FALSE;
	if (op->cls->writable != NULL)
		op->cls->writable(op);
}

void alk_channel_ops_wake_writers(AlkChannel *ch)
{
	g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(guint32));
	GHashTableIter it;
	gpointer value;

	g_hash_table_iter_init(&it, ch->ops);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		AlkChannelOp *op = value;
		if (op->want_writable)
			g_array_append_val(ids, op->id);
	}
	for (guint i = 0; i < ids->len && alk_channel_queued(ch) < ALK_CHANNEL_HIGH_WATER / 2;
	     i++) {
		AlkChannelOp *op = lookup(ch, g_array_index(ids, guint32, i));
		if (op != NULL)
			notify_writable(op);
	}
}

static void exec_frame(AlkChannelOp *op, const AlkFrameHeader *h, const guint8 *p, gsize n)
{
	AlkChannel *ch = op->ch;
	AlkMsgStarted st;
	AlkMsgData d;
	AlkMsgAck ack;
	AlkMsgExit ex;

	if (h->type == ALK_MSG_STARTED && alk_msg_started_decode(p, n, &st) == 0) {
		if (op->exec.started != NULL)
			op->exec.started(op, st.pid, op->user_data);
	} else if ((h->type == ALK_MSG_STDOUT || h->type == ALK_MSG_STDERR) &&
	           alk_msg_data_decode(p, n, &d) == 0) {
		if (!within_window(op, d.data.len))
			return;
		if (op->exec.output != NULL)
			op->exec.output(op, h->type, d.data.data, d.data.len, op->user_data);
		taken(ch, h->id, d.data.len);
	} else if (h->type == ALK_MSG_STDIN_ACK && alk_msg_ack_decode(p, n, &ack) == 0) {
		op->acked = MIN(ack.bytes, op->sent);
		if (op->want_writable)
			notify_writable(op);
	} else if (h->type == ALK_MSG_EXIT && alk_msg_exit_decode(p, n, &ex) == 0) {
		g_hash_table_steal(op->ch->ops, GUINT_TO_POINTER(op->id));
		if (op->exec.done != NULL)
			op->exec.done(op, &ex, op->user_data);
		alk_channel_op_free(op);
	} else if (h->type == ALK_MSG_ERROR) {
		guest_error(op, p, n);
	} else {
		malformed(op, h->type);
	}
}

static void file_done(AlkChannelOp *op, guint64 bytes)
{
	g_hash_table_steal(op->ch->ops, GUINT_TO_POINTER(op->id));
	if (op->file.done != NULL)
		op->file.done(op, bytes, op->user_data);
	alk_channel_op_free(op);
}

static void put_frame(AlkChannelOp *op, const AlkFrameHeader *h, const guint8 *p, gsize n)
{
	AlkMsgAck ack;

	if (h->type == ALK_MSG_ERROR)
		guest_error(op, p, n);
	else if (h->type == ALK_MSG_OK && alk_msg_ack_decode(p, n, &ack) == 0)
		file_done(op, ack.bytes);
	else
		malformed(op, h->type);
}

static void get_frame(AlkChannelOp *op, const AlkFrameHeader *h, const guint8 *p, gsize n)
{
	AlkMsgFile info;
	AlkMsgData d;

	if (h->type == ALK_MSG_ERROR) {
		guest_error(op, p, n);
	} else if (h->type == ALK_MSG_FILE_INFO &&
	           alk_msg_file_decode_type(ALK_MSG_FILE_INFO, p, n, &info) == 0) {
		op->size = info.size;
		if (op->file.info != NULL)
			op->file.info(op, info.size, info.mode, op->user_data);
	} else if (h->type == ALK_MSG_FILE_DATA && alk_msg_data_decode(p, n, &d) == 0) {
		AlkChannel *ch = op->ch;
		if (!within_window(op, d.data.len))
			return;
		op->received += d.data.len;
		if (op->file.data != NULL)
			op->file.data(op, d.data.data, d.data.len, op->user_data);
		taken(ch, h->id, d.data.len);
	} else if (h->type == ALK_MSG_FILE_END) {
		file_done(op, op->received);
	} else {
		malformed(op, h->type);
	}
}

static void pong_frame(AlkChannelOp *op, const AlkFrameHeader *h, const guint8 *p, gsize n)
{
	AlkMsgSync m;
	AlkChannel *ch = op->ch;
	if (h->type != ALK_MSG_PONG || alk_msg_sync_decode(p, n, &m) < 0 ||
	    m.nonce != op->ping_nonce) {
		malformed(op, h->type);
		return;
	}
	g_hash_table_steal(ch->ops, GUINT_TO_POINTER(op->id));
	if (op->ping != NULL)
		op->ping(ch, NULL, op->user_data);
	alk_channel_op_free(op);
}

/* Every ERROR of a plain request is the guest's failure, whatever its
 * code: the codes describe the guest's side (a missing NIC is not a
 * missing sandbox). */
static void request_frame(AlkChannelOp *op, const AlkFrameHeader *h, const guint8 *p, gsize n)
{
	AlkMsgAck ack;
	AlkMsgError e;
	g_autoptr(GError) error = NULL;

	if (h->type == ALK_MSG_OK && alk_msg_ack_decode(p, n, &ack) == 0) {
		g_hash_table_steal(op->ch->ops, GUINT_TO_POINTER(op->id));
		if (op->reply != NULL)
			op->reply(op->ch, NULL, op->user_data);
		alk_channel_op_free(op);
	} else if (h->type == ALK_MSG_ERROR && alk_msg_error_decode(p, n, &e) == 0) {
		error = g_error_new(ALK_ERROR, ALK_ERROR_GUEST, "%s", e.message);
		finish_failed(op, error);
	} else {
		malformed(op, h->type);
	}
}

/* ---- the kinds of op ---- */

static void exec_failed(AlkChannelOp *op, const GError *error)
{
	if (op->exec.failed != NULL)
		op->exec.failed(op, error, op->user_data);
}

static void file_failed(AlkChannelOp *op, const GError *error)
{
	if (op->file.failed != NULL)
		op->file.failed(op, error, op->user_data);
}

static void ping_failed(AlkChannelOp *op, const GError *error)
{
	if (op->ping != NULL)
		op->ping(op->ch, error, op->user_data);
}

static void request_failed(AlkChannelOp *op, const GError *error)
{
	if (op->reply != NULL)
		op->reply(op->ch, error, op->user_data);
}

static void exec_writable(AlkChannelOp *op)
{
	if (op->exec.writable != NULL)
		op->exec.writable(op, op->user_data);
}

static void put_writable(AlkChannelOp *op)
{
	if (op->file.writable != NULL)
		op->file.writable(op, op->user_data);
}

/* stdin: what the agent has not acknowledged yet counts against its window */
static guint64 stdin_window(AlkChannelOp *op)
{
	return ALK_PROTO_STDIN_WINDOW - (op->sent - op->acked);
}

/* an upload: no more than it announced */
static guint64 upload_window(AlkChannelOp *op)
{
	return op->size - op->sent;
}

/* the agent drops a request the host answers with ERROR: an exec's process
 * group is killed and its output discarded (whatever its window holds
 * back), an upload's temporary file removed */
static void cancel_by_error(AlkChannelOp *op)
{
	AlkChannel *ch = op->ch;
	alk_channel_enqueue(ch, ch->frame,
	                    alk_msg_error_encode(ch->frame, sizeof(ch->frame), op->id,
	                                         ALK_ERR_CANCELLED, 0, "cancelled by the host"));
}

static const OpClass op_exec = {
    .name = "exec",
    .frame = exec_frame,
    .failed = exec_failed,
    .data_type = ALK_MSG_STDIN,
    .end_type = ALK_MSG_STDIN_EOF,
    .writable = exec_writable,
    .window = stdin_window,
    .cancel = cancel_by_error,
};
static const OpClass op_put = {
    .name = "file upload",
    .frame = put_frame,
    .failed = file_failed,
    .data_type = ALK_MSG_FILE_DATA,
    .end_type = ALK_MSG_FILE_END,
    .writable = put_writable,
    .window = upload_window,
    .cancel = cancel_by_error,
};
static const OpClass op_get = {
    .name = "file download",
    .frame = get_frame,
    .failed = file_failed,
    .cancel = cancel_by_error,
};
static const OpClass op_ping = {
    .name = "ping",
    .frame = pong_frame,
    .failed = ping_failed,
    .has_deadline = TRUE,
};
static const OpClass op_request = {
    .name = "request",
    .frame = request_frame,
    .failed = request_failed,
    .cancel = cancel_by_error,
};

void alk_channel_ops_dispatch(AlkChannel *ch, const AlkFrameHeader *h, const guint8 *p)
{
	AlkChannelOp *op = lookup(ch, h->id);

	if (op != NULL)
		op->cls->frame(op, h, p, h->len);
}

void alk_channel_ops_expire_pings(AlkChannel *ch, gint64 now)
{
	g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(guint32));
	GHashTableIter it;
	gpointer value;

	/* while input is held the pong cannot be read: no verdict meanwhile */
	if (ch->held > 0)
		return;
	g_hash_table_iter_init(&it, ch->ops);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		AlkChannelOp *op = value;
		if (op->cls->has_deadline && now >= op->deadline_us)
			g_array_append_val(ids, op->id);
	}
	for (guint i = 0; i < ids->len; i++) {
		AlkChannelOp *op = lookup(ch, g_array_index(ids, guint32, i));
		g_autoptr(GError) error =
		    g_error_new(ALK_ERROR, ALK_ERROR_TIMEOUT, "the guest agent did not answer");
		if (op != NULL)
			finish_failed(op, error);
	}
}

/* ---- operations ---- */

static gboolean check_ready(AlkChannel *ch, GError **error)
{
	if (ch->state == ALK_CHANNEL_READY)
		return TRUE;
	g_set_error(error, ALK_ERROR, ALK_ERROR_UNAVAILABLE, "the guest agent is not connected");
	return FALSE;
}

static AlkChannelOp *op_new(AlkChannel *ch, const OpClass *cls, gpointer user_data)
{
	AlkChannelOp *op = g_new0(AlkChannelOp, 1);
	op->ch = ch;
	op->cls = cls;
	op->id = ch->next_id++;
	op->user_data = user_data;
	g_hash_table_insert(ch->ops, GUINT_TO_POINTER(op->id), op);
	return op;
}

static gboolean encoded(long n, const char *what, GError **error)
{
	if (n > 0)
		return TRUE;
	g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "%s: %s", what,
	            alk_proto_strerror((int)n));
	return FALSE;
}

/* The output window to ask for: the agent must know CREDIT. */
static guint32 output_window(AlkChannel *ch)
{
	return ch->have_hello && (ch->hello.caps & ALK_CAP_CREDIT) != 0 ? ALK_PROTO_OUTPUT_WINDOW
	                                                                : 0;
}

AlkChannelOp *alk_channel_exec(AlkChannel *ch, const AlkMsgExec *msg, const AlkExecCallbacks *cb,
                               gpointer user_data, GError **error)
{
	AlkMsgExec windowed;
	AlkChannelOp *op;
	long n;

	if (!check_ready(ch, error))
		return NULL;
	/* an older agent would refuse the tags as malformed: say why here */
	if (msg->tty && (!ch->have_hello || (ch->hello.caps & ALK_CAP_PTY) == 0)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_CONFLICT,
		            "this sandbox's guest agent (%s) has no terminal support: "
		            "use an image built with a newer agent",
		            ch->agent_version[0] ? ch->agent_version : "unknown version");
		return NULL;
	}
	windowed = *msg;
	windowed.out_window = output_window(ch);
	n = alk_msg_exec_encode(ch->frame, sizeof(ch->frame), ch->next_id, &windowed);
	if (!encoded(n, op_exec.name, error))
		return NULL;
	op = op_new(ch, &op_exec, user_data);
	op->window = windowed.out_window;
	op->exec = *cb;
	op->closed = msg->stdin_mode != ALK_STDIN_PIPE;
	alk_channel_enqueue(ch, ch->frame, n);
	return op;
}

static AlkChannelOp *file_op(AlkChannel *ch, int type, const AlkMsgFile *m,
                             const AlkFileCallbacks *cb, gpointer user_data, GError **error)
{
	AlkChannelOp *op;
	long n;

	if (!check_ready(ch, error))
		return NULL;
	n = alk_msg_file_encode(ch->frame, sizeof(ch->frame), type, ch->next_id, m);
	if (!encoded(n, type == ALK_MSG_FILE_PUT ? op_put.name : op_get.name, error))
		return NULL;
	op = op_new(ch, type == ALK_MSG_FILE_PUT ? &op_put : &op_get, user_data);
	op->file = *cb;
	op->size = m->size;
	op->window = m->window;
	/* a download takes no data from the host */
	op->closed = type == ALK_MSG_FILE_GET;
	alk_channel_enqueue(ch, ch->frame, n);
	return op;
}

AlkChannelOp *alk_channel_put(AlkChannel *ch, const char *path, guint32 mode, guint64 size,
                              const AlkFileCallbacks *cb, gpointer user_data, GError **error)
{
	AlkMsgFile m = {.path = path, .mode = mode, .size = size};
	return file_op(ch, ALK_MSG_FILE_PUT, &m, cb, user_data, error);
}

AlkChannelOp *alk_channel_get(AlkChannel *ch, const char *path, guint64 max_size,
                              const AlkFileCallbacks *cb, gpointer user_data, GError **error)
{
	AlkMsgFile m = {.path = path, .max_size = max_size, .window = output_window(ch)};
	return file_op(ch, ALK_MSG_FILE_GET, &m, cb, user_data, error);
}

static long encode_empty(AlkChannel *ch, int type, guint32 id)
{
	return alk_msg_empty_encode(ch->frame, sizeof(ch->frame), type, id);
}

/* How many bytes op may queue now. */
static gsize room(AlkChannelOp *op)
{
	gsize q = alk_channel_queued(op->ch);
	gsize r = q >= ALK_CHANNEL_HIGH_WATER ? 0 : ALK_CHANNEL_HIGH_WATER - q;
	return (gsize)MIN((guint64)r, op->cls->window(op));
}

gsize alk_channel_op_write(AlkChannelOp *op, const guint8 *data, gsize len)
{
	AlkChannel *ch = op->ch;
	int type = op->cls->data_type;
	gsize done = 0;

	g_return_val_if_fail(op->cls->window != NULL, 0);
	if (op->closed || ch->fd < 0)
		return 0;
	while (done < len) {
		gsize chunk = MIN(MIN(len - done, (gsize)ALK_PROTO_MAX_CHUNK), room(op));
		if (chunk == 0)
			break;
		alk_channel_enqueue(ch, ch->frame,
		                    alk_msg_data_encode(ch->frame, sizeof(ch->frame), type, op->id,
		                                        data + done, chunk));
		op->sent += chunk;
		done += chunk;
	}
	if (done < len)
		op->want_writable = TRUE;
	return done;
}

void alk_channel_op_close(AlkChannelOp *op)
{
	if (op->closed || op->cls->end_type == 0)
		return;
	op->closed = TRUE;
	alk_channel_enqueue(op->ch, op->ch->frame, encode_empty(op->ch, op->cls->end_type, op->id));
}

void alk_channel_op_signal(AlkChannelOp *op, guint32 signo)
{
	AlkChannel *ch = op->ch;
	g_return_if_fail(op->cls == &op_exec);
	alk_channel_enqueue(ch, ch->frame,
	                    alk_msg_signal_encode(ch->frame, sizeof(ch->frame), op->id, signo));
}

void alk_channel_op_resize(AlkChannelOp *op, guint32 rows, guint32 cols)
{
	AlkChannel *ch = op->ch;
	AlkMsgResize m = {.rows = rows, .cols = cols};
	long n;

	g_return_if_fail(op->cls == &op_exec);
	n = alk_msg_resize_encode(ch->frame, sizeof(ch->frame), op->id, &m);
	if (n > 0) /* else out of range: the caller checks, nothing to send */
		alk_channel_enqueue(ch, ch->frame, n);
}

void alk_channel_op_cancel(AlkChannelOp *op)
{
	if (op->cls->cancel != NULL)
		op->cls->cancel(op);
	g_hash_table_remove(op->ch->ops, GUINT_TO_POINTER(op->id));
}

AlkChannelOp *alk_channel_request(AlkChannel *ch, AlkChannelEncodeFunc encode, gconstpointer msg,
                                  const char *what, AlkChannelReplyFunc func, gpointer user_data,
                                  GDestroyNotify destroy, GError **error)
{
	AlkChannelOp *op;
	long n;

	if (!check_ready(ch, error))
		return NULL;
	n = encode(ch->frame, sizeof(ch->frame), ch->next_id, msg);
	if (!encoded(n, what, error))
		return NULL;
	op = op_new(ch, &op_request, user_data);
	op->reply = func;
	op->destroy = destroy;
	alk_channel_enqueue(ch, ch->frame, n);
	return op;
}

void alk_channel_ping(AlkChannel *ch, gint64 deadline_us, AlkPingFunc func, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	AlkChannelOp *op;
	AlkMsgSync m;

	if (!check_ready(ch, &error)) {
		func(ch, error, user_data);
		return;
	}
	op = op_new(ch, &op_ping, user_data);
	op->ping = func;
	op->deadline_us = deadline_us;
	op->ping_nonce = m.nonce = ((guint64)g_random_int() << 32) | g_random_int();
	alk_channel_enqueue(
	    ch, ch->frame,
	    alk_msg_sync_encode(ch->frame, sizeof(ch->frame), ALK_MSG_PING, op->id, &m));
}
