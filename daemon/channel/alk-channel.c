/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-channel.h"
#include "alk-channel-private.h"

#include <errno.h>
#include <glib-unix.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "alk-error.h"

#define TICK_MS 250
#define SYNC_RETRY_US (1 * G_USEC_PER_SEC)

typedef enum { OP_EXEC, OP_PUT, OP_GET, OP_PING, OP_REQUEST } OpKind;

struct AlkChannelOp {
	AlkChannel *ch;
	OpKind kind;
	guint32 id;
	gpointer user_data;
	AlkExecCallbacks exec;
	AlkFileCallbacks file;
	AlkPingFunc ping;
	AlkChannelReplyFunc reply;
	GDestroyNotify destroy; /* of user_data, OP_REQUEST only */
	guint64 ping_nonce;
	gint64 deadline_us;
	guint64 sent;  /* stdin or upload bytes queued */
	guint64 acked; /* stdin bytes the agent consumed */
	guint64 size;  /* upload: announced size */
	guint64 received;
	gboolean want_writable;
	gboolean closed;
	gboolean held; /* counts in ch->held */
};

struct AlkChannel {
	char *path;
	AlkChannelStateFunc state_func;
	gpointer user_data;
	AlkChannelState state;
	int fd;
	GSource *src; /* watches fd; its condition follows the output queue */
	gpointer io_tag;
	GIOCondition io_cond;
	guint tick;
	gint64 deadline_us;
	AlkDecoder *dec;
	guint64 garbage_base; /* dec->skipped when the channel became ready */
	gint64 partial_since;
	GByteArray *out;
	gsize out_off;
	GHashTable *ops; /* id -> AlkChannelOp, owned */
	guint32 next_id;
	guint32 sync_id;
	guint64 sync_nonce;
	gint64 sync_sent_us;
	gboolean have_hello;
	guint held; /* ops that hold input: nothing is read meanwhile */
	AlkMsgHello hello;
	char agent_version[64];
	guint refs;
	guint8 in[65536];
	guint8 frame[ALK_PROTO_MAX_FRAME];
};

static void channel_unref(AlkChannel *ch);
static void update_io(AlkChannel *ch);
static void fail_all(AlkChannel *ch, const GError *error);

static AlkChannel *channel_ref(AlkChannel *ch)
{
	ch->refs++;
	return ch;
}

static void op_free(AlkChannelOp *op)
{
	alk_channel_op_hold(op, FALSE);
	if (op->destroy != NULL)
		op->destroy(op->user_data);
	g_free(op);
}

AlkChannel *alk_channel_new(const char *socket_path, AlkChannelStateFunc state_func,
                            gpointer user_data)
{
	AlkChannel *ch = g_new0(AlkChannel, 1);
	ch->path = g_strdup(socket_path);
	ch->state_func = state_func;
	ch->user_data = user_data;
	ch->fd = -1;
	ch->refs = 1;
	ch->next_id = 1;
	ch->dec = g_new(AlkDecoder, 1);
	alk_decoder_init(ch->dec);
	ch->out = g_byte_array_new();
	ch->ops = g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)op_free);
	return ch;
}

static void set_state(AlkChannel *ch, AlkChannelState state, const GError *error)
{
	ch->state = state;
	if (ch->state_func != NULL)
		ch->state_func(ch, state, error, ch->user_data);
}

static void disconnect(AlkChannel *ch)
{
	if (ch->src != NULL) {
		g_source_destroy(ch->src);
		g_clear_pointer(&ch->src, g_source_unref);
	}
	g_clear_handle_id(&ch->tick, g_source_remove);
	if (ch->fd >= 0)
		close(ch->fd);
	ch->fd = -1;
	ch->io_cond = 0;
	g_byte_array_set_size(ch->out, 0);
	ch->out_off = 0;
	alk_decoder_reset(ch->dec);
	ch->partial_since = 0;
}

/* Ends the connection; what was in flight fails with error. */
static void drop(AlkChannel *ch, AlkChannelState state, const GError *error)
{
	disconnect(ch);
	fail_all(ch, error);
	set_state(ch, state, error);
}

void alk_channel_close(AlkChannel *ch)
{
	g_autoptr(GError) error =
	    g_error_new(ALK_ERROR, ALK_ERROR_UNAVAILABLE, "agent channel closed");
	if (ch->fd < 0 && ch->tick == 0)
		return;
	drop(ch, ALK_CHANNEL_CLOSED, error);
}

void alk_channel_free(AlkChannel *ch)
{
	if (ch == NULL)
		return;
	ch->state_func = NULL;
	disconnect(ch);
	/* ops are dropped without callbacks: the owner is going away */
	g_hash_table_remove_all(ch->ops);
	channel_unref(ch);
}

static void channel_unref(AlkChannel *ch)
{
	if (--ch->refs > 0)
		return;
	g_hash_table_unref(ch->ops);
	g_byte_array_unref(ch->out);
	g_free(ch->dec);
	g_free(ch->path);
	g_free(ch);
}

AlkChannelState alk_channel_get_state(AlkChannel *ch)
{
	return ch->state;
}

const AlkMsgHello *alk_channel_get_hello(AlkChannel *ch)
{
	return ch->have_hello ? &ch->hello : NULL;
}

void alk_channel_op_hold(AlkChannelOp *op, gboolean hold)
{
	AlkChannel *ch = op->ch;

	if (op->held == hold)
		return;
	op->held = hold;
	ch->held = hold ? ch->held + 1 : ch->held - 1;
	/* a frame cut short by the hold gets its full read deadline again */
	if (ch->held == 0 && ch->partial_since != 0)
		ch->partial_since = g_get_monotonic_time();
	update_io(ch);
}

guint32 alk_channel_op_id(AlkChannelOp *op)
{
	return op->id;
}

/* ---- output queue ---- */

static gsize queued(AlkChannel *ch)
{
	return ch->out->len - ch->out_off;
}

static void enqueue(AlkChannel *ch, const guint8 *frame, long len)
{
	g_assert(len > 0);
	if (ch->fd < 0)
		return;
	g_byte_array_append(ch->out, frame, (guint)len);
	update_io(ch);
}

/* Writes what the socket takes; FALSE on a hard error. */
static gboolean flush(AlkChannel *ch)
{
	while (queued(ch) > 0) {
		ssize_t n = write(ch->fd, ch->out->data + ch->out_off, queued(ch));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return FALSE;
		ch->out_off += n;
	}
	if (ch->out_off > 0 && (queued(ch) == 0 || ch->out_off > ch->out->len / 2)) {
		g_byte_array_remove_range(ch->out, 0, ch->out_off);
		ch->out_off = 0;
	}
	return TRUE;
}

static long encode_empty(AlkChannel *ch, int type, guint32 id)
{
	return alk_msg_empty_encode(ch->frame, sizeof(ch->frame), type, id);
}

/* ---- handshake ---- */

static void send_sync(AlkChannel *ch)
{
	AlkMsgSync m;
	ch->sync_nonce = ((guint64)g_random_int() << 32) | g_random_int();
	ch->sync_id = ch->next_id++;
	ch->sync_sent_us = g_get_monotonic_time();
	m.nonce = ch->sync_nonce;
	enqueue(ch, ch->frame,
	        alk_msg_sync_encode(ch->frame, sizeof(ch->frame), ALK_MSG_SYNC, ch->sync_id, &m));
}

static void take_hello(AlkChannel *ch, const guint8 *p, gsize n)
{
	AlkMsgHello m;
	if (alk_msg_hello_decode(p, n, &m) < 0)
		return;
	if (ch->have_hello && memcmp(m.nonce, ch->hello.nonce, sizeof(m.nonce)) == 0)
		return; /* the same agent greeting again after a reconnect */
	if (ch->have_hello) {
		/* a new boot nonce: the agent restarted and lost every request */
		g_autoptr(GError) error =
		    g_error_new(ALK_ERROR, ALK_ERROR_UNAVAILABLE, "the guest agent restarted");
		gboolean was_ready = ch->state == ALK_CHANNEL_READY;
		fail_all(ch, error);
		ch->state = ALK_CHANNEL_CONNECTING;
		ch->deadline_us = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
		if (was_ready)
			set_state(ch, ALK_CHANNEL_LOST, error);
		if (ch->fd < 0)
			return; /* the owner closed the channel */
		ch->state = ALK_CHANNEL_CONNECTING;
	}
	g_strlcpy(ch->agent_version, m.agent_version ? m.agent_version : "",
	          sizeof(ch->agent_version));
	ch->hello = m;
	ch->hello.agent_version = ch->agent_version;
	ch->have_hello = TRUE;
	if (ch->state == ALK_CHANNEL_CONNECTING)
		send_sync(ch);
}

static void take_sync_ack(AlkChannel *ch, const AlkFrameHeader *h, const guint8 *p, gsize n)
{
	AlkMsgSync m;
	if (ch->state != ALK_CHANNEL_CONNECTING || h->id != ch->sync_id ||
	    alk_msg_sync_decode(p, n, &m) < 0 || m.nonce != ch->sync_nonce)
		return;
	/* HELLO normally came first; after a quick reconnect the agent may not
	 * have greeted again, and the SYNC_ACK alone proves it answers */
	ch->garbage_base = ch->dec->skipped;
	set_state(ch, ALK_CHANNEL_READY, NULL);
}

/* ---- dispatch ---- */

static AlkChannelOp *lookup(AlkChannel *ch, guint32 id)
{
	return g_hash_table_lookup(ch->ops, GUINT_TO_POINTER(id));
}

/* Removes op from the table and runs its final callback. */
static void finish_failed(AlkChannelOp *op, const GError *error)
{
	AlkChannel *ch = op->ch;
	g_hash_table_steal(ch->ops, GUINT_TO_POINTER(op->id));
	if (op->kind == OP_EXEC && op->exec.failed != NULL)
		op->exec.failed(op, error, op->user_data);
	else if ((op->kind == OP_PUT || op->kind == OP_GET) && op->file.failed != NULL)
		op->file.failed(op, error, op->user_data);
	else if (op->kind == OP_PING && op->ping != NULL)
		op->ping(ch, error, op->user_data);
	else if (op->kind == OP_REQUEST && op->reply != NULL)
		op->reply(ch, error, op->user_data);
	op_free(op);
}

static void fail_all(AlkChannel *ch, const GError *error)
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

static void guest_error(AlkChannelOp *op, const guint8 *p, gsize n)
{
	AlkMsgError e;
	g_autoptr(GError) error = NULL;
	if (alk_msg_error_decode(p, n, &e) < 0)
		error = g_error_new(ALK_ERROR, ALK_ERROR_PROTOCOL, "malformed ERROR from agent");
	else if (e.code == ALK_ERR_NOT_FOUND)
		error = g_error_new(ALK_ERROR, ALK_ERROR_NOT_FOUND, "%s", e.message);
	else if (e.code == ALK_ERR_TOO_LARGE)
		error = g_error_new(ALK_ERROR, ALK_ERROR_LIMIT, "%s", e.message);
	else if (e.code == ALK_ERR_BUSY)
		error = g_error_new(ALK_ERROR, ALK_ERROR_LIMIT, "agent busy: %s", e.message);
	else
		error = g_error_new(ALK_ERROR, ALK_ERROR_GUEST, "%s", e.message);
	finish_failed(op, error);
}

static void malformed(AlkChannelOp *op, int type)
{
	g_autoptr(GError) error = g_error_new(ALK_ERROR, ALK_ERROR_PROTOCOL,
	                                      "malformed %s from agent", alk_proto_type_name(type));
	finish_failed(op, error);
}

static void notify_writable(AlkChannelOp *op)
{
	op->want_writable = FALSE;
	if (op->kind == OP_EXEC && op->exec.writable != NULL)
		op->exec.writable(op, op->user_data);
	else if (op->kind == OP_PUT && op->file.writable != NULL)
		op->file.writable(op, op->user_data);
}

static void exec_frame(AlkChannelOp *op, const AlkFrameHeader *h, const guint8 *p, gsize n)
{
	AlkMsgStarted st;
	AlkMsgData d;
	AlkMsgAck ack;
	AlkMsgExit ex;

	if (h->type == ALK_MSG_STARTED && alk_msg_started_decode(p, n, &st) == 0) {
		if (op->exec.started != NULL)
			op->exec.started(op, st.pid, op->user_data);
	} else if ((h->type == ALK_MSG_STDOUT || h->type == ALK_MSG_STDERR) &&
	           alk_msg_data_decode(p, n, &d) == 0) {
		if (op->exec.output != NULL)
			op->exec.output(op, h->type, d.data.data, d.data.len, op->user_data);
	} else if (h->type == ALK_MSG_STDIN_ACK && alk_msg_ack_decode(p, n, &ack) == 0) {
		op->acked = MIN(ack.bytes, op->sent);
		if (op->want_writable)
			notify_writable(op);
	} else if (h->type == ALK_MSG_EXIT && alk_msg_exit_decode(p, n, &ex) == 0) {
		g_hash_table_steal(op->ch->ops, GUINT_TO_POINTER(op->id));
		if (op->exec.done != NULL)
			op->exec.done(op, &ex, op->user_data);
		op_free(op);
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
	op_free(op);
}

static void file_frame(AlkChannelOp *op, const AlkFrameHeader *h, const guint8 *p, gsize n)
{
	AlkMsgFile info;
	AlkMsgData d;
	AlkMsgAck ack;

	if (h->type == ALK_MSG_ERROR) {
		guest_error(op, p, n);
	} else if (op->kind == OP_PUT && h->type == ALK_MSG_OK &&
	           alk_msg_ack_decode(p, n, &ack) == 0) {
		file_done(op, ack.bytes);
	} else if (op->kind == OP_GET && h->type == ALK_MSG_FILE_INFO &&
	           alk_msg_file_decode_type(ALK_MSG_FILE_INFO, p, n, &info) == 0) {
		op->size = info.size;
		if (op->file.info != NULL)
			op->file.info(op, info.size, info.mode, op->user_data);
	} else if (op->kind == OP_GET && h->type == ALK_MSG_FILE_DATA &&
	           alk_msg_data_decode(p, n, &d) == 0) {
		op->received += d.data.len;
		if (op->file.data != NULL)
			op->file.data(op, d.data.data, d.data.len, op->user_data);
	} else if (op->kind == OP_GET && h->type == ALK_MSG_FILE_END) {
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
	op_free(op);
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
		op_free(op);
	} else if (h->type == ALK_MSG_ERROR && alk_msg_error_decode(p, n, &e) == 0) {
		error = g_error_new(ALK_ERROR, ALK_ERROR_GUEST, "%s", e.message);
		finish_failed(op, error);
	} else {
		malformed(op, h->type);
	}
}

static void dispatch(AlkChannel *ch, const AlkFrameHeader *h, const guint8 *p)
{
	AlkChannelOp *op;

	if (h->type == ALK_MSG_HELLO) {
		take_hello(ch, p, h->len);
		return;
	}
	if (h->type == ALK_MSG_SYNC_ACK) {
		take_sync_ack(ch, h, p, h->len);
		return;
	}
	/* replies to requests older than the last SYNC are stale */
	if (ch->state != ALK_CHANNEL_READY || h->id < ch->sync_id)
		return;
	op = lookup(ch, h->id);
	if (op == NULL)
		return;
	if (op->kind == OP_EXEC)
		exec_frame(op, h, p, h->len);
	else if (op->kind == OP_PING)
		pong_frame(op, h, p, h->len);
	else if (op->kind == OP_REQUEST)
		request_frame(op, h, p, h->len);
	else
		file_frame(op, h, p, h->len);
}

/* ---- I/O ---- */

static gboolean garbage_ok(AlkChannel *ch)
{
	guint64 since = ch->dec->skipped - (ch->state == ALK_CHANNEL_READY ? ch->garbage_base : 0);
	g_autoptr(GError) error = NULL;
	if (since <= ALK_CHANNEL_GARBAGE_LIMIT)
		return TRUE;
	error = g_error_new(ALK_ERROR, ALK_ERROR_PROTOCOL,
	                    "agent channel: %" G_GUINT64_FORMAT " bytes from the guest were not "
	                    "protocol frames (last: %s); something other than airlock-agent "
	                    "holds the port",
	                    since, alk_proto_strerror(ch->dec->last_error));
	drop(ch, ch->state == ALK_CHANNEL_READY ? ALK_CHANNEL_LOST : ALK_CHANNEL_CLOSED, error);
	return FALSE;
}

/* Feeds one read's worth of bytes; FALSE once the connection was dropped. */
static gboolean consume(AlkChannel *ch, gsize len)
{
	gsize off = 0;
	while (off < len && ch->fd >= 0) {
		off += alk_decoder_feed(ch->dec, ch->in + off, len - off);
		if (alk_decoder_ready(ch->dec)) {
			AlkFrameHeader h;
			const guint8 *p = alk_decoder_frame(ch->dec, &h);
			dispatch(ch, &h, p);
			/* a callback may have closed the channel (and reset the decoder) */
			if (ch->fd >= 0)
				alk_decoder_consume(ch->dec);
		}
		if (ch->fd >= 0 && !garbage_ok(ch))
			return FALSE;
	}
	if (ch->fd < 0)
		return FALSE;
	if (!alk_decoder_partial(ch->dec))
		ch->partial_since = 0;
	else if (ch->partial_since == 0)
		ch->partial_since = g_get_monotonic_time();
	return TRUE;
}

static void lost(AlkChannel *ch, const char *why)
{
	g_autoptr(GError) error =
	    g_error_new(ALK_ERROR, ALK_ERROR_UNAVAILABLE, "agent connection lost: %s", why);
	drop(ch, ch->state == ALK_CHANNEL_READY ? ALK_CHANNEL_LOST : ALK_CHANNEL_CLOSED, error);
}

static void on_readable(AlkChannel *ch)
{
	/* bounded per wakeup so one busy guest cannot starve the loop; held,
	 * one read only, to notice a hang-up */
	for (int i = 0; i < 16 && ch->fd >= 0 && (i == 0 || ch->held == 0); i++) {
		ssize_t n = read(ch->fd, ch->in, sizeof(ch->in));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			lost(ch, n == 0 ? "closed by QEMU" : g_strerror(errno));
			return;
		}
		if (!consume(ch, n))
			return;
	}
}

static void wake_writers(AlkChannel *ch)
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
	for (guint i = 0; i < ids->len && queued(ch) < ALK_CHANNEL_HIGH_WATER / 2; i++) {
		AlkChannelOp *op = lookup(ch, g_array_index(ids, guint32, i));
		if (op != NULL)
			notify_writable(op);
	}
}

static gboolean on_io(GSource *src, GSourceFunc unused, gpointer data)
{
	AlkChannel *ch = channel_ref(data);
	GIOCondition cond = g_source_query_unix_fd(src, ch->io_tag);

	if (cond & G_IO_OUT) {
		if (!flush(ch))
			lost(ch, g_strerror(errno));
		else if (queued(ch) < ALK_CHANNEL_HIGH_WATER / 2)
			wake_writers(ch);
	}
	if (ch->fd >= 0 && (cond & (G_IO_IN | G_IO_HUP | G_IO_ERR)))
		on_readable(ch);
	if (ch->fd >= 0)
		update_io(ch);
	channel_unref(ch);
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs io_funcs = {.dispatch = on_io};

static void update_io(AlkChannel *ch)
{
	GIOCondition want =
	    (ch->held > 0 ? G_IO_HUP | G_IO_ERR : G_IO_IN) | (queued(ch) > 0 ? G_IO_OUT : 0);
	if (ch->fd < 0 || want == ch->io_cond)
		return;
	if (ch->src == NULL) {
		ch->src = g_source_new(&io_funcs, sizeof(GSource));
		g_source_set_callback(ch->src, NULL, ch, NULL);
		ch->io_tag = g_source_add_unix_fd(ch->src, ch->fd, want);
		g_source_attach(ch->src, NULL);
	} else {
		g_source_modify_unix_fd(ch->src, ch->io_tag, want);
	}
	ch->io_cond = want;
}

/* ---- connection and timers ---- */

static gboolean try_connect(AlkChannel *ch)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd;

	if (g_strlcpy(addr.sun_path, ch->path, sizeof(addr.sun_path)) >= sizeof(addr.sun_path))
		return FALSE;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return FALSE;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(fd);
		return FALSE;
	}
	ch->fd = fd;
	alk_decoder_reset(ch->dec);
	update_io(ch);
	/* sent at once: an agent that did not notice the reconnect (and so
	 * does not greet again) still answers SYNC */
	send_sync(ch);
	return TRUE;
}

static void expire_pings(AlkChannel *ch, gint64 now)
{
	g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(guint32));
	GHashTableIter it;
	gpointer value;

	g_hash_table_iter_init(&it, ch->ops);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		AlkChannelOp *op = value;
		if (op->kind == OP_PING && now >= op->deadline_us)
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

static void tick_connecting(AlkChannel *ch, gint64 now)
{
	if (now >= ch->deadline_us) {
		g_autoptr(GError) error =
		    g_error_new(ALK_ERROR, ALK_ERROR_TIMEOUT, "the guest agent did not %s in time",
		                ch->fd < 0       ? "open its channel"
		                : ch->have_hello ? "complete SYNC"
		                                 : "greet");
		drop(ch, ALK_CHANNEL_CLOSED, error);
		return;
	}
	if (ch->fd < 0)
		try_connect(ch);
	else if (now - ch->sync_sent_us >= SYNC_RETRY_US)
		send_sync(ch);
}

static gboolean on_tick(gpointer data)
{
	AlkChannel *ch = channel_ref(data);
	gint64 now = g_get_monotonic_time();

	if (ch->state == ALK_CHANNEL_CONNECTING)
		tick_connecting(ch, now);
	if (ch->fd >= 0 && ch->partial_since != 0 && ch->held == 0 &&
	    now - ch->partial_since >= (gint64)ALK_PROTO_READ_DEADLINE_MS * 1000) {
		/* a frame that never completes is garbage: drop it and resync */
		alk_decoder_reset(ch->dec);
		ch->partial_since = 0;
	}
	if (ch->fd >= 0)
		expire_pings(ch, now);
	channel_unref(ch);
	return G_SOURCE_CONTINUE;
}

void alk_channel_open(AlkChannel *ch, gint64 deadline_us)
{
	ch->deadline_us = deadline_us;
	if (ch->state == ALK_CHANNEL_READY)
		return;
	ch->state = ALK_CHANNEL_CONNECTING;
	if (ch->tick == 0)
		ch->tick = g_timeout_add(TICK_MS, on_tick, ch);
	if (ch->fd < 0)
		try_connect(ch);
}

/* ---- operations ---- */

static gboolean check_ready(AlkChannel *ch, GError **error)
{
	if (ch->state == ALK_CHANNEL_READY)
		return TRUE;
	g_set_error(error, ALK_ERROR, ALK_ERROR_UNAVAILABLE, "the guest agent is not connected");
	return FALSE;
}

static AlkChannelOp *op_new(AlkChannel *ch, OpKind kind, gpointer user_data)
{
	AlkChannelOp *op = g_new0(AlkChannelOp, 1);
	op->ch = ch;
	op->kind = kind;
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

AlkChannelOp *alk_channel_exec(AlkChannel *ch, const AlkMsgExec *msg, const AlkExecCallbacks *cb,
                               gpointer user_data, GError **error)
{
	AlkChannelOp *op;
	long n;

	if (!check_ready(ch, error))
		return NULL;
	n = alk_msg_exec_encode(ch->frame, sizeof(ch->frame), ch->next_id, msg);
	if (!encoded(n, "exec request", error))
		return NULL;
	op = op_new(ch, OP_EXEC, user_data);
	op->exec = *cb;
	op->closed = msg->stdin_mode != ALK_STDIN_PIPE;
	enqueue(ch, ch->frame, n);
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
	if (!encoded(n, type == ALK_MSG_FILE_PUT ? "file upload" : "file download", error))
		return NULL;
	op = op_new(ch, type == ALK_MSG_FILE_PUT ? OP_PUT : OP_GET, user_data);
	op->file = *cb;
	op->size = m->size;
	/* a download takes no data from the host */
	op->closed = type == ALK_MSG_FILE_GET;
	enqueue(ch, ch->frame, n);
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
	AlkMsgFile m = {.path = path, .max_size = max_size};
	return file_op(ch, ALK_MSG_FILE_GET, &m, cb, user_data, error);
}

/* How many bytes op may queue now. */
static gsize room(AlkChannelOp *op)
{
	gsize q = queued(op->ch);
	gsize r = q >= ALK_CHANNEL_HIGH_WATER ? 0 : ALK_CHANNEL_HIGH_WATER - q;
	if (op->kind == OP_EXEC)
		r = MIN(r, ALK_PROTO_STDIN_WINDOW - (op->sent - op->acked));
	else
		r = MIN(r, op->size - op->sent);
	return r;
}

gsize alk_channel_op_write(AlkChannelOp *op, const guint8 *data, gsize len)
{
	AlkChannel *ch = op->ch;
	int type = op->kind == OP_EXEC ? ALK_MSG_STDIN : ALK_MSG_FILE_DATA;
	gsize done = 0;

	g_return_val_if_fail(op->kind == OP_EXEC || op->kind == OP_PUT, 0);
	if (op->closed || ch->fd < 0)
		return 0;
	while (done < len) {
		gsize chunk = MIN(MIN(len - done, (gsize)ALK_PROTO_MAX_CHUNK), room(op));
		if (chunk == 0)
			break;
		enqueue(ch, ch->frame,
		        alk_msg_data_encode(ch->frame, sizeof(ch->frame), type, op->id, data + done,
		                            chunk));
		op->sent += chunk;
		done += chunk;
	}
	if (done < len)
		op->want_writable = TRUE;
	return done;
}

void alk_channel_op_close(AlkChannelOp *op)
{
	int type = op->kind == OP_EXEC ? ALK_MSG_STDIN_EOF : ALK_MSG_FILE_END;
	if (op->closed)
		return;
	op->closed = TRUE;
	enqueue(op->ch, op->ch->frame, encode_empty(op->ch, type, op->id));
}

void alk_channel_op_signal(AlkChannelOp *op, guint32 signo)
{
	AlkChannel *ch = op->ch;
	g_return_if_fail(op->kind == OP_EXEC);
	enqueue(ch, ch->frame, alk_msg_signal_encode(ch->frame, sizeof(ch->frame), op->id, signo));
}

void alk_channel_op_cancel(AlkChannelOp *op)
{
	AlkChannel *ch = op->ch;
	if (op->kind == OP_EXEC) {
		alk_channel_op_signal(op, SIGKILL);
	} else if (op->kind != OP_PING) {
		/* the agent drops a transfer or request the host answers with
		 * ERROR; an upload's temporary file is removed */
		enqueue(ch, ch->frame,
		        alk_msg_error_encode(ch->frame, sizeof(ch->frame), op->id,
		                             ALK_ERR_CANCELLED, 0, "cancelled by the host"));
	}
	g_hash_table_remove(ch->ops, GUINT_TO_POINTER(op->id));
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
	op = op_new(ch, OP_REQUEST, user_data);
	op->reply = func;
	op->destroy = destroy;
	enqueue(ch, ch->frame, n);
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
	op = op_new(ch, OP_PING, user_data);
	op->ping = func;
	op->deadline_us = deadline_us;
	op->ping_nonce = m.nonce = ((guint64)g_random_int() << 32) | g_random_int();
	enqueue(ch, ch->frame,
	        alk_msg_sync_encode(ch->frame, sizeof(ch->frame), ALK_MSG_PING, op->id, &m));
}
