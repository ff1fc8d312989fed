/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the channel's files share among themselves; not for the layers
 * above the channel. alk-channel.c owns the connection (socket, handshake,
 * reader, output queue), alk-channel-ops.c the ops carried on it; the
 * operation files on top (alk-channel-net.c) use only the plain request
 * at the end. */
#pragma once

#include "alk-channel.h"

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
	gint64 hello_us; /* when the HELLO in hello came (monotonic) */
	guint held;      /* ops that hold input: nothing is read meanwhile */
	AlkMsgHello hello;
	char agent_version[64];
	guint refs;
	guint8 in[65536];
	guint8 frame[ALK_PROTO_MAX_FRAME];
};

/* ---- alk-channel.c, for alk-channel-ops.c ---- */

/* Bytes in the output queue not yet written. */
gsize alk_channel_queued(AlkChannel *ch);
/* Queues an encoded frame (len > 0); dropped when not connected. */
void alk_channel_enqueue(AlkChannel *ch, const guint8 *frame, long len);
/* One more (or one fewer) op holding input: see alk_channel_op_hold(). */
void alk_channel_hold_input(AlkChannel *ch, gboolean hold);

/* ---- alk-channel-ops.c, for alk-channel.c ---- */

/* The ops table's value destructor: no callback runs. */
void alk_channel_op_free(AlkChannelOp *op);
/* Hands a frame of a READY channel to the op of its id, if any. */
void alk_channel_ops_dispatch(AlkChannel *ch, const AlkFrameHeader *h, const guint8 *p);
/* Ends every op in flight with error. */
void alk_channel_ops_fail_all(AlkChannel *ch, const GError *error);
/* Fails the pings whose deadline has passed. */
void alk_channel_ops_expire_pings(AlkChannel *ch, gint64 now);
/* The output queue drained: writers that were told to wait may write. */
void alk_channel_ops_wake_writers(AlkChannel *ch);

/* ---- the plain request, for the operation files ---- */

/* error NULL: the agent answered OK. Otherwise ALK_ERROR_GUEST (its ERROR,
 * with its message), ALK_ERROR_PROTOCOL (a reply that does not decode) or
 * ALK_ERROR_UNAVAILABLE (the connection went away, the agent restarted). */
typedef void (*AlkChannelReplyFunc)(AlkChannel *ch, const GError *error, gpointer user_data);
/* An alk_msg_*_encode() of msg under request id id. */
typedef long (*AlkChannelEncodeFunc)(guint8 *out, gsize cap, guint32 id, gconstpointer msg);

/* Sends the request encode makes of msg. func runs at most once; it does
 * not run when the op is cancelled (alk_channel_op_cancel) or the channel
 * freed. destroy(user_data) runs once the op is gone, whichever way it
 * ended, after func. Returns NULL with an error (what names the request)
 * when the channel is not ready or msg does not encode; then neither func
 * nor destroy runs. */
AlkChannelOp *alk_channel_request(AlkChannel *ch, AlkChannelEncodeFunc encode, gconstpointer msg,
                                  const char *what, AlkChannelReplyFunc func, gpointer user_data,
                                  GDestroyNotify destroy, GError **error);
