/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pausing and resuming a sandbox: its domain's vCPUs stop and start again.
 * The domain is "making" meanwhile, so a delete waits for libvirt's answer
 * before destroying it. */
#include "alk-error.h"
#include "alk-manager-private.h"

static void settled(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(GTask) task = data;
	AlkSlotRef *ref = g_task_get_task_data(task);
	gboolean pause = GPOINTER_TO_INT(g_object_get_data(G_OBJECT(task), "pause"));
	GError *error = NULL;
	gboolean ok = alk_virt_ops_finish(res, &error);
	AlkSlot *slot = alk_slot_ref_get(ref);

	if (slot == NULL) {
		g_clear_error(&error);
		g_task_return_new_error(task, ALK_ERROR, ALK_ERROR_UNAVAILABLE,
		                        "airlockd is stopping");
		return;
	}
	if (slot->end != ALK_END_NONE) {
		/* it ended meanwhile: its end goes on from here (and may free it) */
		GError *ended = alk_slot_ended_error(slot);

		g_clear_error(&error);
		alk_slot_settled(slot, ALK_RES_DOMAIN, TRUE);
		g_task_return_error(task, ended);
		return;
	}
	slot->res[ALK_RES_DOMAIN] = ALK_HOLD_HELD;
	if (!ok) {
		g_prefix_error(&error, "sandbox %s: ", ref->id);
		g_task_return_error(task, error);
		return;
	}
	if (pause) {
		alk_slot_stop_pings(slot);
		alk_slot_set_state(slot, ALK_SANDBOX_PAUSED);
	} else if (slot->channel == NULL) {
		/* adopted paused: its agent answers again before it is ready */
		alk_slot_set_state(slot, ALK_SANDBOX_BOOTING);
		alk_slot_open_channel(slot,
		                      g_get_monotonic_time() +
		                          (gint64)slot->m->config->boot_timeout_s * G_USEC_PER_SEC);
	} else {
		slot->sb->missed_pings = 0;
		alk_slot_set_state(slot, ALK_SANDBOX_READY);
		alk_slot_start_pings(slot);
	}
	g_task_return_boolean(task, TRUE);
}

/* Why this sandbox cannot be paused (or resumed) now, or NULL. */
static GError *refusal(AlkSlot *slot, gboolean pause)
{
	AlkSandbox *sb = slot->sb;
	AlkSandboxState from = pause ? ALK_SANDBOX_READY : ALK_SANDBOX_PAUSED;
	guint tasks = g_hash_table_size(slot->tasks);

	if (slot->res[ALK_RES_DOMAIN] == ALK_HOLD_MAKING)
		return g_error_new(ALK_ERROR, ALK_ERROR_CONFLICT,
		                   "sandbox %s is being paused or resumed already", sb->id);
	if (sb->state != from)
		return g_error_new(ALK_ERROR, ALK_ERROR_CONFLICT, "sandbox %s is %s, not %s",
		                   sb->id, alk_sandbox_state_name(sb->state),
		                   alk_sandbox_state_name(from));
	/* a paused guest would leave them to their deadlines */
	if (pause && tasks > 0)
		return g_error_new(ALK_ERROR, ALK_ERROR_CONFLICT,
		                   "sandbox %s has %u command%s or transfer%s in flight: pause it "
		                   "once they are done",
		                   sb->id, tasks, tasks == 1 ? "" : "s", tasks == 1 ? "" : "s");
	if (!slot->m->virt_ops->is_connected(slot->m->virt_ctx))
		return g_error_new(ALK_ERROR, ALK_ERROR_UNAVAILABLE,
		                   "libvirt unavailable: cannot %s sandbox %s now",
		                   pause ? "pause" : "resume", sb->id);
	return NULL;
}

void alk_manager_pause_async(AlkManager *m, const char *id, gboolean pause, GAsyncReadyCallback cb,
                             gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, NULL, cb, user_data);
	AlkSlot *slot = alk_slot_lookup(m, id);
	GError *error;

	g_task_set_source_tag(task, alk_manager_pause_async);
	if (slot == NULL) {
		g_task_return_new_error(task, ALK_ERROR, ALK_ERROR_NOT_FOUND, "no sandbox %s",
		                        alk_sandbox_id_valid(id) ? id : "with that id");
		return;
	}
	if ((error = refusal(slot, pause)) != NULL) {
		g_task_return_error(task, error);
		return;
	}
	slot->res[ALK_RES_DOMAIN] = ALK_HOLD_MAKING; /* a delete waits for the answer */
	g_object_set_data(G_OBJECT(task), "pause", GINT_TO_POINTER(pause));
	g_task_set_task_data(task, alk_slot_ref(slot, NULL), g_free);
	(pause ? m->virt_ops->suspend : m->virt_ops->resume)(m->virt_ctx, slot->sb->domain, settled,
	                                                     g_steal_pointer(&task));
}

gboolean alk_manager_pause_finish(AlkManager *m, GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}
