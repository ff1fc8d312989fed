/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the channel's operation files share with alk-channel.c: a plain
 * request that the agent answers with one OK or ERROR. Not for the layers
 * above the channel. */
#pragma once

#include "alk-channel.h"

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
