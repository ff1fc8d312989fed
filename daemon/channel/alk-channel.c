/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The agent channel's connection: the socket and its retries, the HELLO and
 * SYNC handshake, the reader and its garbage and partial-frame limits, the
 * output queue. Frames that answer an op go to alk-channel-ops.c. */
#include "alk-channel.h"
#include "alk-channel-private.h"

#include <errno.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "alk-error.h"

#define TICK_MS 250
#define SYNC_RETRY_US (1 * G_USEC_PER_SEC)

static void channel_unref(AlkChannel *ch);
static void update_io(AlkChannel *ch);

static AlkChannel *channel_ref(AlkChannel *ch)
{
	ch->refs++;
	return ch;
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
	ch->ops = g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)alk_channel_op_free);
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
	alk_channel_ops_fail_all(ch, error);
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

gint64 alk_channel_get_hello_time(AlkChannel *ch)
{
	return ch->have_hello ? ch->hello_us : 0;
}

void alk_channel_hold_input(AlkChannel *ch, gboolean hold)
{
	ch->held = hold ? ch->held + 1 : ch->held - 1;
	/* a frame cut short by the hold gets its full read deadline again */
	if (ch->held == 0 && ch->partial_since != 0)
		ch->partial_since = g_get_monotonic_time();
	update_io(ch);
}

/* ---- output queue ---- */

gsize alk_channel_queued(AlkChannel *ch)
{
	return ch->out->len - ch->out_off;
}

void alk_channel_enqueue(AlkChannel *ch, const guint8 *frame, long len)
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
	while (alk_channel_queued(ch) > 0) {
		ssize_t n = write(ch->fd, ch->out->data + ch->out_off, alk_channel_queued(ch));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return FALSE;
		ch->out_off += n;
	}
	if (ch->out_off > 0 && (alk_channel_queued(ch) == 0 || ch->out_off > ch->out->len / 2)) {
		g_byte_array_remove_range(ch->out, 0, ch->out_off);
		ch->out_off = 0;
	}
	return TRUE;
}

/* ---- handshake ---- */

static void send_sync(AlkChannel *ch)
{
	AlkMsgSync m;
	ch->sync_nonce = ((guint64)g_random_int() << 32) | g_random_int();
	ch->sync_id = ch->next_id++;
	ch->sync_sent_us = g_get_monotonic_time();
	m.nonce = ch->sync_nonce;
	alk_channel_enqueue(
	    ch, ch->frame,
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
		alk_channel_ops_fail_all(ch, error);
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
	ch->hello_us = g_get_monotonic_time();
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

static void dispatch(AlkChannel *ch, const AlkFrameHeader *h, const guint8 *p)
{
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
	alk_channel_ops_dispatch(ch, h, p);
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

static gboolean on_tick(gpointer data);

static void lost(AlkChannel *ch, const char *why)
{
	g_autoptr(GError) error =
	    g_error_new(ALK_ERROR, ALK_ERROR_UNAVAILABLE, "agent connection lost: %s", why);

	if (ch->state == ALK_CHANNEL_CONNECTING) {
		/* QEMU may take a connection and then go (a guest that reboots
		 * ends its QEMU) or be restarting it: keep trying until the
		 * open's deadline, which says why if it passes */
		disconnect(ch);
		alk_channel_ops_fail_all(ch, error);
		ch->tick = g_timeout_add(TICK_MS, on_tick, ch);
		return;
	}
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

static gboolean on_io(GSource *src, GSourceFunc unused, gpointer data)
{
	AlkChannel *ch = channel_ref(data);
	GIOCondition cond = g_source_query_unix_fd(src, ch->io_tag);

	if (cond & G_IO_OUT) {
		if (!flush(ch))
			lost(ch, g_strerror(errno));
		else if (alk_channel_queued(ch) < ALK_CHANNEL_HIGH_WATER / 2)
			alk_channel_ops_wake_writers(ch);
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
	GIOCondition want = (ch->held > 0 ? G_IO_HUP | G_IO_ERR : G_IO_IN) |
	                    (alk_channel_queued(ch) > 0 ? G_IO_OUT : 0);
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
		alk_channel_ops_expire_pings(ch, now);
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
