/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guest's one-time setup on the agent channel, as GIO async
 * operations answered by OK: NET_CONFIG, the guest's NIC gets the address
 * the daemon chose (docs/protocol.md, 7.6), and FS_CONFIG, its mounts
 * (7.7). Each is a SetupKind row.
 *
 * One NetCall per request. The channel op's destroy notify is the single
 * place the GTask returns, so it returns exactly once whichever way the op
 * ends: the agent's reply, a lost connection, a cancellation, or the
 * channel being freed. */
#include "alk-channel-private.h"

#include "alk-error.h"

typedef struct {
	AlkChannelEncodeFunc encode;
	guint32 cap;             /* the HELLO capability it needs */
	const char *what;        /* names the request */
	const char *prefix;      /* of its errors */
	const char *unsupported; /* what an agent without the capability cannot do */
} SetupKind;

typedef struct {
	const SetupKind *kind;
	GTask *task;
	AlkChannelOp *op;
	GSource *cancel_src;
	gboolean done;
	GError *error;
} NetCall;

static long net_encode(guint8 *out, gsize cap, guint32 id, gconstpointer msg)
{
	return alk_msg_net_config_encode(out, cap, id, msg);
}

static long fs_encode(guint8 *out, gsize cap, guint32 id, gconstpointer msg)
{
	return alk_msg_fs_config_encode(out, cap, id, msg);
}

static const SetupKind net_kind = {net_encode, ALK_CAP_NET, "network configuration",
                                   "guest network setup: ", "configure the network"};
static const SetupKind fs_kind = {fs_encode, ALK_CAP_FS, "filesystem configuration",
                                  "guest filesystem setup: ", "set up its filesystems"};

static void net_reply(AlkChannel *ch, const GError *error, gpointer data)
{
	NetCall *call = data;

	call->done = TRUE;
	if (error != NULL) {
		call->error = g_error_copy(error);
		g_prefix_error(&call->error, "%s", call->kind->prefix);
	}
}

static gboolean net_return_closed(gpointer data)
{
	g_autoptr(GTask) task = data;

	g_task_return_new_error(task, ALK_ERROR, ALK_ERROR_UNAVAILABLE, "agent channel closed");
	return G_SOURCE_REMOVE;
}

/* The op is gone: the task gets its result. Freed with the channel, the
 * op ends inside alk_channel_free(), so the result waits for an idle turn
 * rather than reach the caller from there. */
static void net_call_free(gpointer data)
{
	NetCall *call = data;

	if (call->cancel_src != NULL) {
		g_source_destroy(call->cancel_src);
		g_source_unref(call->cancel_src);
	}
	if (!call->done) {
		GSource *idle = g_idle_source_new();

		g_source_set_callback(idle, net_return_closed, call->task, NULL);
		g_source_attach(idle, g_task_get_context(call->task));
		g_source_unref(idle);
	} else if (call->error != NULL) {
		g_task_return_error(call->task, call->error);
		g_object_unref(call->task);
	} else {
		g_task_return_boolean(call->task, TRUE);
		g_object_unref(call->task);
	}
	g_free(call);
}

/* Runs in the task's context, whichever thread cancelled. */
static gboolean net_cancelled(GCancellable *cancel, gpointer data)
{
	NetCall *call = data;

	call->done = TRUE;
	call->error =
	    g_error_new(G_IO_ERROR, G_IO_ERROR_CANCELLED, "%scancelled", call->kind->prefix);
	alk_channel_op_cancel(call->op); /* frees call */
	return G_SOURCE_REMOVE;
}

static gboolean net_supported(AlkChannel *ch, const SetupKind *kind, GError **error)
{
	const AlkMsgHello *hello = alk_channel_get_hello(ch);

	if (alk_channel_get_state(ch) != ALK_CHANNEL_READY || hello == NULL ||
	    (hello->caps & kind->cap) != 0)
		return TRUE; /* alk_channel_request() reports a channel not ready */
	g_set_error(error, ALK_ERROR, ALK_ERROR_GUEST,
	            "the guest agent (version %s) cannot %s: rebuild the image",
	            hello->agent_version, kind->unsupported);
	return FALSE;
}

static void setup_async(const SetupKind *kind, gpointer tag, AlkChannel *ch, gconstpointer msg,
                        GCancellable *cancel, GAsyncReadyCallback cb, gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, cancel, cb, user_data);
	g_autoptr(GError) error = NULL;
	NetCall *call;

	g_task_set_source_tag(task, tag);
	g_task_set_task_data(task, ch, NULL);
	if (g_task_return_error_if_cancelled(task))
		return;
	if (!net_supported(ch, kind, &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	call = g_new0(NetCall, 1);
	call->kind = kind;
	call->task = g_object_ref(task);
	call->op = alk_channel_request(ch, kind->encode, msg, kind->what, net_reply, call,
	                               net_call_free, &error);
	if (call->op == NULL) {
		g_object_unref(call->task);
		g_free(call);
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (cancel != NULL) {
		call->cancel_src = g_cancellable_source_new(cancel);
		g_source_set_callback(call->cancel_src, G_SOURCE_FUNC(net_cancelled), call, NULL);
		g_source_attach(call->cancel_src, g_task_get_context(task));
	}
}

static gboolean setup_finish(gpointer tag, AlkChannel *ch, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(res, NULL), FALSE);
	g_return_val_if_fail(g_task_get_source_tag(G_TASK(res)) == tag, FALSE);
	g_return_val_if_fail(g_task_get_task_data(G_TASK(res)) == ch, FALSE);
	return g_task_propagate_boolean(G_TASK(res), error);
}

void alk_channel_net_config_async(AlkChannel *ch, const AlkMsgNetConfig *cfg, GCancellable *cancel,
                                  GAsyncReadyCallback cb, gpointer user_data)
{
	setup_async(&net_kind, alk_channel_net_config_async, ch, cfg, cancel, cb, user_data);
}

gboolean alk_channel_net_config_finish(AlkChannel *ch, GAsyncResult *res, GError **error)
{
	return setup_finish(alk_channel_net_config_async, ch, res, error);
}

void alk_channel_fs_config_async(AlkChannel *ch, const AlkMsgFsConfig *cfg, GCancellable *cancel,
                                 GAsyncReadyCallback cb, gpointer user_data)
{
	setup_async(&fs_kind, alk_channel_fs_config_async, ch, cfg, cancel, cb, user_data);
}

gboolean alk_channel_fs_config_finish(AlkChannel *ch, GAsyncResult *res, GError **error)
{
	return setup_finish(alk_channel_fs_config_async, ch, res, error);
}
