/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The real backend: libvirt, through daemon/virt/alk-virt.h. */
#include "alk-virt-real.h"

#include <stdlib.h>

#include "alk-virt.h"

typedef struct {
	char *uri;
	AlkVirt *virt; /* once open */
	const AlkVirtOpsEvents *ev;
	gpointer ev_data;
} Real;

AlkVirtOpsDomain *alk_virt_ops_domain_new(const char *name, const char *record, gboolean running,
                                          gboolean paused)
{
	AlkVirtOpsDomain *d = g_new0(AlkVirtOpsDomain, 1);
	d->name = g_strdup(name);
	d->record = g_strdup(record);
	d->running = running;
	d->paused = paused;
	return d;
}

void alk_virt_ops_domain_free(AlkVirtOpsDomain *d)
{
	if (d == NULL)
		return;
	g_free(d->name);
	g_free(d->record);
	g_free(d);
}

static void on_stopped(const char *name, AlkVirtStopReason reason, gpointer data)
{
	static const AlkVirtOpsStop map[] = {
	    [ALK_VIRT_STOPPED_SHUTDOWN] = ALK_VIRT_OPS_STOPPED_SHUTDOWN,
	    [ALK_VIRT_STOPPED_CRASHED] = ALK_VIRT_OPS_STOPPED_CRASHED,
	    [ALK_VIRT_STOPPED_FAILED] = ALK_VIRT_OPS_STOPPED_FAILED,
	    [ALK_VIRT_STOPPED_DESTROYED] = ALK_VIRT_OPS_STOPPED_DESTROYED,
	    [ALK_VIRT_STOPPED_OTHER] = ALK_VIRT_OPS_STOPPED_OTHER,
	};
	Real *r = data;
	r->ev->stopped(name,
	               (guint)reason < G_N_ELEMENTS(map) ? map[reason] : ALK_VIRT_OPS_STOPPED_OTHER,
	               r->ev_data);
}

static void on_connection(gboolean up, gpointer data)
{
	Real *r = data;
	r->ev->connection(up, r->ev_data);
}

static gboolean real_open(gpointer ctx, const AlkVirtOpsEvents *ev, gpointer ev_data,
                          GError **error)
{
	static const AlkVirtCallbacks cb = {.stopped = on_stopped, .connection = on_connection};
	Real *r = ctx;

	if (!alk_virt_init(error))
		return FALSE;
	r->ev = ev;
	r->ev_data = ev_data;
	r->virt = alk_virt_new(r->uri, ALK_DOMAIN_PREFIX, &cb, r);
	if (!alk_virt_connect(r->virt, error)) {
		g_prefix_error(error, "%s: ", r->uri);
		return FALSE;
	}
	return TRUE;
}

static gboolean real_is_connected(gpointer ctx)
{
	Real *r = ctx;
	return r->virt != NULL && alk_virt_is_connected(r->virt);
}

static void real_save(gpointer ctx, const char *name, const char *path, GAsyncReadyCallback cb,
                      gpointer user_data)
{
	alk_virt_save_async(((Real *)ctx)->virt, name, path, cb, user_data);
}

static void real_restore(gpointer ctx, const char *save_path, const char *xml,
                         const char *fifo_path, gboolean paused, GAsyncReadyCallback cb,
                         gpointer user_data)
{
	alk_virt_restore_async(((Real *)ctx)->virt, save_path, xml, fifo_path, paused, cb,
	                       user_data);
}

static void real_create(gpointer ctx, const char *xml, gboolean paused, GAsyncReadyCallback cb,
                        gpointer user_data)
{
	alk_virt_create_async(((Real *)ctx)->virt, xml, paused, cb, user_data);
}

static void real_destroy(gpointer ctx, const char *name, GAsyncReadyCallback cb, gpointer user_data)
{
	alk_virt_destroy_async(((Real *)ctx)->virt, name, cb, user_data);
}

static void real_resume(gpointer ctx, const char *name, GAsyncReadyCallback cb, gpointer user_data)
{
	alk_virt_resume_async(((Real *)ctx)->virt, name, cb, user_data);
}

static void real_suspend(gpointer ctx, const char *name, GAsyncReadyCallback cb, gpointer user_data)
{
	alk_virt_suspend_async(((Real *)ctx)->virt, name, cb, user_data);
}

static void real_set_record(gpointer ctx, const char *name, const char *record,
                            GAsyncReadyCallback cb, gpointer user_data)
{
	alk_virt_set_record_async(((Real *)ctx)->virt, name, record, cb, user_data);
}

/* virt's domains as the table's */
static GPtrArray *convert(GPtrArray *doms)
{
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)alk_virt_ops_domain_free);
	for (guint i = 0; i < doms->len; i++) {
		const AlkVirtDomain *d = g_ptr_array_index(doms, i);
		g_ptr_array_add(out,
		                alk_virt_ops_domain_new(d->name, d->record, d->running, d->paused));
	}
	return out;
}

static void listed(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(GTask) task = data;
	GError *error = NULL;
	/* reads only res: the context may be gone by now */
	g_autoptr(GPtrArray) doms = alk_virt_list_finish(NULL, res, &error);

	if (doms == NULL)
		g_task_return_error(task, error);
	else
		g_task_return_pointer(task, convert(doms), (GDestroyNotify)g_ptr_array_unref);
}

static void real_list(gpointer ctx, GAsyncReadyCallback cb, gpointer user_data)
{
	alk_virt_list_async(((Real *)ctx)->virt, listed, g_task_new(NULL, NULL, cb, user_data));
}

static GPtrArray *real_list_sync(gpointer ctx, GError **error)
{
	g_autoptr(GPtrArray) doms = alk_virt_list_sync(((Real *)ctx)->virt, error);
	return doms != NULL ? convert(doms) : NULL;
}

static gboolean real_destroy_sync(gpointer ctx, const char *name, GError **error)
{
	return alk_virt_destroy_sync(((Real *)ctx)->virt, name, error);
}

static gboolean real_versions_sync(gpointer ctx, char **hypervisor, char **library, GError **error)
{
	return alk_virt_versions_sync(((Real *)ctx)->virt, hypervisor, library, error);
}

/* virt's results as the table's: the same values, read from res only */
static void forward_bytes(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(GTask) task = data;
	GError *error = NULL;
	GBytes *png = alk_virt_screenshot_finish(NULL, res, &error);

	if (png == NULL)
		g_task_return_error(task, error);
	else
		g_task_return_pointer(task, png, (GDestroyNotify)g_bytes_unref);
}

static void real_screenshot(gpointer ctx, const char *name, GAsyncReadyCallback cb,
                            gpointer user_data)
{
	alk_virt_screenshot_async(((Real *)ctx)->virt, name, forward_bytes,
	                          g_task_new(NULL, NULL, cb, user_data));
}

static void forward_text(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(GTask) task = data;
	GError *error = NULL;
	char *reply = alk_virt_monitor_finish(NULL, res, &error);

	if (reply == NULL) {
		g_task_return_error(task, error);
	} else {
		/* libvirt's malloc'ed text, as GLib's */
		g_task_return_pointer(task, g_strdup(reply), g_free);
		free(reply);
	}
}

static void real_monitor(gpointer ctx, const char *name, const char *command,
                         GAsyncReadyCallback cb, gpointer user_data)
{
	alk_virt_monitor_async(((Real *)ctx)->virt, name, command, forward_text,
	                       g_task_new(NULL, NULL, cb, user_data));
}

static void real_free(gpointer ctx)
{
	Real *r = ctx;
	alk_virt_free(r->virt);
	g_free(r->uri);
	g_free(r);
}

const AlkVirtOps alk_virt_real_ops = {
    .open = real_open,
    .is_connected = real_is_connected,
    .create = real_create,
    .destroy = real_destroy,
    .resume = real_resume,
    .suspend = real_suspend,
    .set_record = real_set_record,
    .list = real_list,
    .list_sync = real_list_sync,
    .destroy_sync = real_destroy_sync,
    .versions_sync = real_versions_sync,
    .free = real_free,
    .screenshot = real_screenshot,
    .monitor = real_monitor,
    .save = real_save,
    .restore = real_restore,
};

gpointer alk_virt_real_new(const char *uri)
{
	Real *r = g_new0(Real, 1);
	r->uri = g_strdup(uri);
	return r;
}
