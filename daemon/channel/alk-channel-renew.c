/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* RENEW on the agent channel, as a GIO async operation: a clone restored
 * from a template's memory gets entropy, the time and a new identity
 * (docs/protocol.md, 7.8). As NET_CONFIG's call (alk-channel-net.c), the
 * op's destroy notify is the one place the task returns. */
#include "alk-channel-private.h"

#include "alk-error.h"

typedef struct {
	GTask *task;
	gboolean done;
	GError *error;
} RenewCall;

static long renew_encode(guint8 *out, gsize cap, guint32 id, gconstpointer msg)
{
	return alk_msg_renew_encode(out, cap, id, msg);
}

static void renew_reply(AlkChannel *ch, const GError *error, gpointer data)
{
	RenewCall *call = data;

	call->done = TRUE;
	if (error != NULL) {
		call->error = g_error_copy(error);
		g_prefix_error(&call->error, "renewing the restored guest: ");
	}
}

static gboolean renew_return_closed(gpointer data)
{
	g_autoptr(GTask) task = data;

	g_task_return_new_error(task, ALK_ERROR, ALK_ERROR_UNAVAILABLE, "agent channel closed");
	return G_SOURCE_REMOVE;
}

/* Freed with the channel, the op ends inside alk_channel_free(): the
 * result then waits for an idle turn. */
static void renew_call_free(gpointer data)
{
	RenewCall *call = data;

	if (!call->done) {
		GSource *idle = g_idle_source_new();
		g_source_set_callback(idle, renew_return_closed, call->task, NULL);
		g_source_attach(idle, g_task_get_context(call->task));
		g_source_unref(idle);
	} else {
		if (call->error != NULL)
			g_task_return_error(call->task, call->error);
		else
			g_task_return_boolean(call->task, TRUE);
		g_object_unref(call->task);
	}
	g_free(call);
}

void alk_channel_renew_async(AlkChannel *ch, const AlkMsgRenew *msg, GAsyncReadyCallback cb,
                             gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, NULL, cb, user_data);
	const AlkMsgHello *hello = alk_channel_get_hello(ch);
	g_autoptr(GError) error = NULL;
	RenewCall *call;

	g_task_set_source_tag(task, alk_channel_renew_async);
	if (alk_channel_get_state(ch) == ALK_CHANNEL_READY && hello != NULL &&
	    (hello->caps & ALK_CAP_RENEW) == 0) {
		g_task_return_new_error(
		    task, ALK_ERROR, ALK_ERROR_GUEST,
		    "the guest agent (version %s) cannot renew: rebuild the image",
		    hello->agent_version);
		return;
	}
	call = g_new0(RenewCall, 1);
	call->task = g_object_ref(task);
	if (alk_channel_request(ch, renew_encode, msg, "renewal", renew_reply, call,
	                        renew_call_free, &error) == NULL) {
		g_object_unref(call->task);
		g_free(call);
		g_task_return_error(task, g_steal_pointer(&error));
	}
}

gboolean alk_channel_renew_finish(GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_get_source_tag(G_TASK(res)) == alk_channel_renew_async, FALSE);
	return g_task_propagate_boolean(G_TASK(res), error);
}
