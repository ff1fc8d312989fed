/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What runs inside a sandbox: execs and file transfers, within the
 * sandbox's limits, carried by its agent channel. */
#include <string.h>

#include "alk-error.h"
#include "alk-manager-private.h"

static AlkSlot *ready_slot(AlkManager *m, const char *id, GError **error)
{
	AlkSlot *slot = alk_slot_lookup(m, id);
	if (slot == NULL) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_NOT_FOUND, "no sandbox %s",
		            alk_sandbox_id_valid(id) ? id : "with that id");
		return NULL;
	}
	if (slot->sb->state != ALK_SANDBOX_READY || slot->channel == NULL ||
	    alk_channel_get_state(slot->channel) != ALK_CHANNEL_READY) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_CONFLICT, "sandbox %s is %s", id,
		            slot->sb->state == ALK_SANDBOX_READY
		                ? "reconnecting to its agent"
		                : alk_sandbox_state_name(slot->sb->state));
		return NULL;
	}
	return slot;
}

/* An exec in flight: counts against the sandbox's max_execs until it ends. */
typedef struct {
	AlkManager *m;
	char id[ALK_SANDBOX_ID_LEN + 1];
	AlkExecCallbacks cb;
	gpointer user_data;
} ExecCtx;

static void exec_ended(ExecCtx *ctx)
{
	AlkSlot *slot = alk_slot_lookup(ctx->m, ctx->id);
	if (slot != NULL && slot->sb->execs > 0)
		slot->sb->execs--;
}

static void on_started(AlkChannelOp *op, guint32 pid, gpointer data)
{
	ExecCtx *ctx = data;
	if (ctx->cb.started != NULL)
		ctx->cb.started(op, pid, ctx->user_data);
}

static void on_output(AlkChannelOp *op, int stream, const guint8 *d, gsize len, gpointer data)
{
	ExecCtx *ctx = data;
	if (ctx->cb.output != NULL)
		ctx->cb.output(op, stream, d, len, ctx->user_data);
}

static void on_writable(AlkChannelOp *op, gpointer data)
{
	ExecCtx *ctx = data;
	if (ctx->cb.writable != NULL)
		ctx->cb.writable(op, ctx->user_data);
}

static void on_done(AlkChannelOp *op, const AlkMsgExit *exit, gpointer data)
{
	g_autofree ExecCtx *ctx = data;
	exec_ended(ctx);
	if (ctx->cb.done != NULL)
		ctx->cb.done(op, exit, ctx->user_data);
}

static void on_failed(AlkChannelOp *op, const GError *error, gpointer data)
{
	g_autofree ExecCtx *ctx = data;
	exec_ended(ctx);
	if (ctx->cb.failed != NULL)
		ctx->cb.failed(op, error, ctx->user_data);
}

static const AlkExecCallbacks exec_wrappers = {
    .started = on_started,
    .output = on_output,
    .writable = on_writable,
    .done = on_done,
    .failed = on_failed,
};

AlkChannelOp *alk_manager_exec(AlkManager *m, const char *id, AlkMsgExec *msg,
                               const AlkExecCallbacks *cb, gpointer user_data, GError **error)
{
	AlkSlot *slot = ready_slot(m, id, error);
	guint64 timeout_s;
	ExecCtx *ctx;
	AlkChannelOp *op;

	if (slot == NULL)
		return NULL;
	if (slot->sb->execs >= slot->sb->limits.max_execs) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_LIMIT,
		            "sandbox %s runs %u execs already (the %s profile's max_execs)", id,
		            slot->sb->execs, slot->sb->profile);
		return NULL;
	}
	/* whole seconds, rounded up, so a sub-second request is not "none" */
	if (!alk_limits_exec_timeout(&slot->sb->limits, (msg->timeout_ms + 999) / 1000, &timeout_s,
	                             error))
		return NULL;
	if (msg->timeout_ms == 0)
		msg->timeout_ms = (guint32)MIN(timeout_s * 1000, G_MAXUINT32);
	msg->output_cap = slot->sb->limits.output_cap_bytes;
	ctx = g_new0(ExecCtx, 1);
	ctx->m = m;
	g_strlcpy(ctx->id, id, sizeof(ctx->id));
	ctx->cb = *cb;
	ctx->user_data = user_data;
	op = alk_channel_exec(slot->channel, msg, &exec_wrappers, ctx, error);
	if (op == NULL) {
		g_free(ctx);
		return NULL;
	}
	slot->sb->execs++;
	return op;
}

AlkChannelOp *alk_manager_put(AlkManager *m, const char *id, const char *path, guint32 mode,
                              guint64 size, const AlkFileCallbacks *cb, gpointer user_data,
                              GError **error)
{
	AlkSlot *slot = ready_slot(m, id, error);
	if (slot == NULL)
		return NULL;
	return alk_channel_put(slot->channel, path, mode, size, cb, user_data, error);
}

AlkChannelOp *alk_manager_get(AlkManager *m, const char *id, const char *path, guint64 max_size,
                              const AlkFileCallbacks *cb, gpointer user_data, GError **error)
{
	AlkSlot *slot = ready_slot(m, id, error);
	if (slot == NULL)
		return NULL;
	return alk_channel_get(slot->channel, path, max_size, cb, user_data, error);
}

char *alk_manager_console(AlkManager *m, const char *id, gsize max_bytes, GError **error)
{
	AlkSlot *slot = alk_slot_lookup(m, id);
	g_autofree char *text = NULL;
	gsize len = 0;

	if (slot == NULL) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_NOT_FOUND, "no sandbox %s",
		            alk_sandbox_id_valid(id) ? id : "with that id");
		return NULL;
	}
	if (!g_file_get_contents(slot->sb->console_log, &text, &len, NULL))
		return g_strdup("");
	return g_strdup(len > max_bytes ? text + len - max_bytes : text);
}
