/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A sandbox's screen and input: screenshots through the virt table (scaled
 * on a worker with GdkPixbuf), input as QMP input-send-event batches. Only
 * for a sandbox with a display that runs (ready; a paused one can still be
 * looked at). The domain is not held: a sandbox ending meanwhile fails the
 * call with libvirt's error, nothing else. */
#include "alk-error.h"
#include <string.h>

#include "alk-manager-private.h"

/* The slot of a running sandbox with a display, or NULL with the error. */
static AlkSlot *screen_slot(AlkManager *m, const char *id, gboolean input, GError **error)
{
	AlkSlot *slot = alk_slot_lookup(m, id);
	AlkSandbox *sb = slot != NULL ? slot->sb : NULL;

	if (slot == NULL) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_NOT_FOUND, "no sandbox %s",
		            alk_sandbox_id_valid(id) ? id : "with that id");
		return NULL;
	}
	if (sb->limits.display_width == 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_CONFLICT,
		            "sandbox %s has no display (create it with display: {width, height})",
		            sb->id);
		return NULL;
	}
	if (sb->state != ALK_SANDBOX_READY && (input || sb->state != ALK_SANDBOX_PAUSED)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_CONFLICT, "sandbox %s is %s, not ready",
		            sb->id, alk_sandbox_state_name(sb->state));
		return NULL;
	}
	if (!m->virt_ops->is_connected(m->virt_ctx)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_UNAVAILABLE,
		            "libvirt unavailable: sandbox %s's screen cannot be reached now",
		            sb->id);
		return NULL;
	}
	return slot;
}

typedef struct {
	guint width, height;
	guint rx, ry, rw, rh;
	GBytes *png;
} Shot;

static void shot_free(Shot *s)
{
	if (s->png != NULL)
		g_bytes_unref(s->png);
	g_free(s);
}

static void scale_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
	Shot *s = data;
	GError *error = NULL;
	AlkScreenshot *shot = alk_screenshot_from_png(s->png, s->width, s->height, s->rx, s->ry,
	                                              s->rw, s->rh, &error);

	if (shot == NULL)
		g_task_return_error(task, error);
	else
		g_task_return_pointer(task, shot, (GDestroyNotify)alk_screenshot_free);
}

static void shot_taken(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(GTask) task = data;
	Shot *s = g_task_get_task_data(task);
	GError *error = NULL;

	s->png = alk_virt_ops_bytes_finish(res, &error);
	if (s->png == NULL) {
		g_task_return_error(task, error);
		return;
	}
	g_task_run_in_thread(task, scale_thread);
}

void alk_manager_screenshot_async(AlkManager *m, const char *id, const AlkScreenshotArea *area,
                                  GAsyncReadyCallback cb, gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, NULL, cb, user_data);
	GError *error = NULL;
	AlkSlot *slot = screen_slot(m, id, FALSE, &error);
	Shot *s;

	g_task_set_source_tag(task, alk_manager_screenshot_async);
	if (slot == NULL) {
		g_task_return_error(task, error);
		return;
	}
	s = g_new0(Shot, 1);
	if (area != NULL) {
		s->width = area->width;
		s->height = area->height;
		s->rx = area->rx;
		s->ry = area->ry;
		s->rw = area->rw;
		s->rh = area->rh;
	}
	g_task_set_task_data(task, s, (GDestroyNotify)shot_free);
	m->virt_ops->screenshot(m->virt_ctx, slot->sb->domain, shot_taken, g_steal_pointer(&task));
}

AlkScreenshot *alk_manager_screenshot_finish(AlkManager *m, GAsyncResult *res, GError **error)
{
	return g_task_propagate_pointer(G_TASK(res), error);
}

/* QMP answers {"return":{}} or {"error":{"class":…,"desc":…}} */
static gboolean qmp_ok(const char *reply, GError **error)
{
	if (reply != NULL && strstr(reply, "\"error\"") == NULL)
		return TRUE;
	g_set_error(error, ALK_ERROR, ALK_ERROR_FAILED, "QEMU refused the input: %.200s",
	            reply != NULL ? reply : "no answer");
	return FALSE;
}

typedef struct {
	AlkSlotRef *ref;
	gboolean moved; /* the pointer went to x, y */
	guint x, y;
} Input;

static void input_free(Input *in)
{
	g_free(in->ref);
	g_free(in);
}

static void input_sent(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(GTask) task = data;
	Input *in = g_task_get_task_data(task);
	GError *error = NULL;
	g_autofree char *reply = alk_virt_ops_text_finish(res, &error);
	AlkSlot *slot;

	if (error != NULL || !qmp_ok(reply, &error)) {
		g_task_return_error(task, error);
		return;
	}
	slot = alk_slot_ref_get(in->ref);
	if (slot != NULL && in->moved) {
		slot->sb->cursor_known = TRUE;
		slot->sb->cursor_x = in->x;
		slot->sb->cursor_y = in->y;
	}
	g_task_return_boolean(task, TRUE);
}

void alk_manager_input_async(AlkManager *m, const char *id, const AlkInputEvent *events, guint n,
                             GAsyncReadyCallback cb, gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, NULL, cb, user_data);
	GError *error = NULL;
	AlkSlot *slot = screen_slot(m, id, TRUE, &error);
	g_autofree char *qmp = NULL;
	Input *in;

	g_task_set_source_tag(task, alk_manager_input_async);
	if (slot == NULL) {
		g_task_return_error(task, error);
		return;
	}
	if (n == 0 || n > ALK_INPUT_BATCH_MAX) {
		g_task_return_new_error(task, ALK_ERROR, ALK_ERROR_INVALID,
		                        "1..%d input events at once", ALK_INPUT_BATCH_MAX);
		return;
	}
	in = g_new0(Input, 1);
	in->ref = alk_slot_ref(slot, NULL);
	for (guint i = 0; i < n; i++) {
		if (events[i].kind == ALK_INPUT_ABS) {
			in->moved = TRUE;
			in->x = events[i].px;
			in->y = events[i].py;
		}
	}
	g_task_set_task_data(task, in, (GDestroyNotify)input_free);
	qmp = alk_input_qmp(events, n);
	m->virt_ops->monitor(m->virt_ctx, slot->sb->domain, qmp, input_sent,
	                     g_steal_pointer(&task));
}

gboolean alk_manager_input_finish(AlkManager *m, GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}
