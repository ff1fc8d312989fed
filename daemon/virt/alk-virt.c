/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-virt.h"

#include <errno.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdlib.h>

#include "alk-error.h"
#include "alk-restore.h"

#define RECONNECT_MS 1000

struct AlkVirt {
	char *uri;
	char *prefix;
	AlkVirtCallbacks cb;
	gpointer user_data;
	virConnectPtr conn; /* NULL while libvirtd is away */
	int event_id;
	guint reconnect;
	gboolean reconnecting;
	GHashTable *crashed; /* names that reported a guest panic */
	GCancellable *cancel;
};

static void quiet(void *opaque, virErrorPtr err)
{
	/* errors are read with virGetLastErrorMessage where they matter */
}

gboolean alk_virt_init(GError **error)
{
	static gsize done;
	static int rc;
	if (g_once_init_enter(&done)) {
		virSetErrorFunc(NULL, quiet);
		rc = virEventRegisterDefaultImpl();
		g_once_init_leave(&done, 1);
	}
	if (rc == 0)
		return TRUE;
	g_set_error(error, ALK_ERROR, ALK_ERROR_FAILED, "libvirt event loop: %s",
	            virGetLastErrorMessage());
	return FALSE;
}

void alk_virt_domain_free(AlkVirtDomain *d)
{
	if (d == NULL)
		return;
	g_free(d->name);
	g_free(d->record);
	g_free(d);
}

static void set_unavailable(GError **error, const char *what)
{
	g_set_error(error, ALK_ERROR, ALK_ERROR_UNAVAILABLE, "libvirt unavailable: %s", what);
}

static void set_virt_error(GError **error, const char *what)
{
	virErrorPtr e = virGetLastError();
	int code = e != NULL ? e->code : 0;
	AlkError kind = code == VIR_ERR_SYSTEM_ERROR || code == VIR_ERR_RPC ||
	                        code == VIR_ERR_NO_CONNECT || code == VIR_ERR_INTERNAL_ERROR
	                    ? ALK_ERROR_UNAVAILABLE
	                    : ALK_ERROR_FAILED;
	g_set_error(error, ALK_ERROR, kind, "%s: %s", what, virGetLastErrorMessage());
}

/* ---- events ---- */

static AlkVirtStopReason stop_reason(AlkVirt *v, const char *name, int detail)
{
	if (g_hash_table_remove(v->crashed, name) || detail == VIR_DOMAIN_EVENT_STOPPED_CRASHED)
		return ALK_VIRT_STOPPED_CRASHED;
	switch (detail) {
	case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN:
		return ALK_VIRT_STOPPED_SHUTDOWN;
	case VIR_DOMAIN_EVENT_STOPPED_FAILED:
		return ALK_VIRT_STOPPED_FAILED;
	case VIR_DOMAIN_EVENT_STOPPED_DESTROYED:
		return ALK_VIRT_STOPPED_DESTROYED;
	default:
		return ALK_VIRT_STOPPED_OTHER;
	}
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	AlkVirt *v = opaque;
	const char *name = virDomainGetName(dom);

	if (name == NULL || !g_str_has_prefix(name, v->prefix))
		return 0;
	if (event == VIR_DOMAIN_EVENT_CRASHED)
		g_hash_table_add(v->crashed, g_strdup(name));
	else if (event == VIR_DOMAIN_EVENT_STOPPED && v->cb.stopped != NULL)
		v->cb.stopped(name, stop_reason(v, name, detail), v->user_data);
	return 0;
}

static void schedule_reconnect(AlkVirt *v);

static void drop_conn(AlkVirt *v)
{
	virConnectPtr conn = g_steal_pointer(&v->conn);
	if (conn == NULL)
		return;
	if (v->event_id >= 0)
		virConnectDomainEventDeregisterAny(conn, v->event_id);
	v->event_id = -1;
	virConnectUnregisterCloseCallback(conn, NULL);
	virConnectClose(conn);
}

static gboolean on_closed_idle(gpointer data)
{
	AlkVirt *v = data;
	drop_conn(v);
	if (v->cb.connection != NULL)
		v->cb.connection(FALSE, v->user_data);
	schedule_reconnect(v);
	return G_SOURCE_REMOVE;
}

static void on_close(virConnectPtr conn, int reason, void *opaque)
{
	/* not from inside libvirt's own callback: close the connection later */
	g_idle_add(on_closed_idle, opaque);
}

static gboolean subscribe(AlkVirt *v, virConnectPtr conn, GError **error)
{
	v->event_id =
	    virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
	                                     VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), v, NULL);
	if (v->event_id < 0 || virConnectRegisterCloseCallback(conn, on_close, v, NULL) < 0) {
		set_virt_error(error, "subscribing to libvirt events");
		return FALSE;
	}
	/* a dead libvirtd is noticed within ~15 s even when idle */
	virConnectSetKeepAlive(conn, 5, 3);
	v->conn = conn;
	return TRUE;
}

/* ---- connection ---- */

AlkVirt *alk_virt_new(const char *uri, const char *prefix, const AlkVirtCallbacks *cb,
                      gpointer user_data)
{
	AlkVirt *v = g_new0(AlkVirt, 1);
	v->uri = g_strdup(uri);
	v->prefix = g_strdup(prefix);
	v->cb = *cb;
	v->user_data = user_data;
	v->event_id = -1;
	v->crashed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	v->cancel = g_cancellable_new();
	return v;
}

void alk_virt_free(AlkVirt *v)
{
	if (v == NULL)
		return;
	g_cancellable_cancel(v->cancel);
	g_clear_handle_id(&v->reconnect, g_source_remove);
	g_idle_remove_by_data(v);
	drop_conn(v);
	g_hash_table_unref(v->crashed);
	g_object_unref(v->cancel);
	g_free(v->uri);
	g_free(v->prefix);
	g_free(v);
}

gboolean alk_virt_is_connected(AlkVirt *v)
{
	return v->conn != NULL;
}

static virConnectPtr open_conn(const char *uri, GError **error)
{
	virConnectPtr conn = virConnectOpen(uri);
	if (conn == NULL)
		set_unavailable(error, virGetLastErrorMessage());
	return conn;
}

gboolean alk_virt_connect(AlkVirt *v, GError **error)
{
	virConnectPtr conn;
	if (v->conn != NULL)
		return TRUE;
	conn = open_conn(v->uri, error);
	if (conn == NULL)
		return FALSE;
	if (!subscribe(v, conn, error)) {
		virConnectClose(conn);
		return FALSE;
	}
	return TRUE;
}

static void conn_close(gpointer conn)
{
	virConnectClose(conn);
}

static void open_thread(GTask *task, gpointer src, gpointer data, GCancellable *c)
{
	GError *error = NULL;
	virConnectPtr conn = open_conn(data, &error);
	if (conn == NULL)
		g_task_return_error(task, error);
	else
		g_task_return_pointer(task, conn, conn_close);
}

static void opened(GObject *src, GAsyncResult *res, gpointer data)
{
	AlkVirt *v = data;
	virConnectPtr conn;

	/* v may be gone: the task's own reference to the cancellable tells */
	if (g_cancellable_is_cancelled(g_task_get_cancellable(G_TASK(res))))
		return;
	conn = g_task_propagate_pointer(G_TASK(res), NULL);
	v->reconnecting = FALSE;
	if (conn == NULL || !subscribe(v, conn, NULL)) {
		if (conn != NULL)
			virConnectClose(conn);
		schedule_reconnect(v);
		return;
	}
	if (v->cb.connection != NULL)
		v->cb.connection(TRUE, v->user_data);
}

static gboolean on_reconnect(gpointer data)
{
	AlkVirt *v = data;
	g_autoptr(GTask) task = g_task_new(NULL, v->cancel, opened, v);
	v->reconnect = 0;
	v->reconnecting = TRUE;
	g_task_set_task_data(task, g_strdup(v->uri), g_free);
	g_task_run_in_thread(task, open_thread);
	return G_SOURCE_REMOVE;
}

static void schedule_reconnect(AlkVirt *v)
{
	if (v->reconnect == 0 && !v->reconnecting && v->conn == NULL)
		v->reconnect = g_timeout_add(RECONNECT_MS, on_reconnect, v);
}

/* ---- calls on a worker thread ---- */

typedef struct {
	virConnectPtr conn;
	char *arg;
	gboolean paused;
	char *prefix;
	char *record;    /* set_record's record, monitor's command */
	const void *how; /* resume or suspend: a RunState */
	char *path;      /* save's file; restore's FIFO */
} Call;

static void call_free(Call *c)
{
	if (c->conn != NULL)
		virConnectClose(c->conn);
	g_free(c->arg);
	g_free(c->prefix);
	g_free(c->record);
	g_free(c->path);
	g_free(c);
}

/* A task holding its own reference to the connection, or NULL after
 * failing the task at once when libvirt is away. */
static GTask *call_new(AlkVirt *v, const char *arg, GAsyncReadyCallback cb, gpointer user_data)
{
	GTask *task = g_task_new(NULL, NULL, cb, user_data);
	Call *c;
	if (v->conn == NULL) {
		g_task_return_new_error(task, ALK_ERROR, ALK_ERROR_UNAVAILABLE,
		                        "libvirt unavailable: reconnecting");
		g_object_unref(task);
		return NULL;
	}
	c = g_new0(Call, 1);
	virConnectRef(v->conn);
	c->conn = v->conn;
	c->arg = g_strdup(arg);
	c->prefix = g_strdup(v->prefix);
	g_task_set_task_data(task, c, (GDestroyNotify)call_free);
	return task;
}

static void create_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
	Call *c = data;
	GError *error = NULL;
	virDomainPtr dom =
	    virDomainCreateXML(c->conn, c->arg, c->paused ? VIR_DOMAIN_START_PAUSED : 0);
	if (dom == NULL) {
		set_virt_error(&error, "starting the domain");
		g_task_return_error(task, error);
		return;
	}
	virDomainFree(dom);
	g_task_return_boolean(task, TRUE);
}

void alk_virt_create_async(AlkVirt *v, const char *xml, gboolean paused, GAsyncReadyCallback cb,
                           gpointer user_data)
{
	g_autoptr(GTask) task = call_new(v, xml, cb, user_data);
	if (task == NULL)
		return;
	((Call *)g_task_get_task_data(task))->paused = paused;
	g_task_run_in_thread(task, create_thread);
}

gboolean alk_virt_create_finish(AlkVirt *v, GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}

/* ---- save and restore (alk-restore.h) ---- */

static void save_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
	Call *c = data;
	GError *error = NULL;
	virDomainPtr dom = virDomainLookupByName(c->conn, c->arg);

	/* RUNNING: a restore without flags resumes the guest */
	if (dom == NULL || virDomainSaveFlags(dom, c->path, NULL, VIR_DOMAIN_SAVE_RUNNING) != 0) {
		set_virt_error(&error, "saving the domain's memory");
		if (dom != NULL)
			virDomainFree(dom);
		g_task_return_error(task, error);
		return;
	}
	virDomainFree(dom);
	g_task_return_boolean(task, TRUE);
}

void alk_virt_save_async(AlkVirt *v, const char *name, const char *path, GAsyncReadyCallback cb,
                         gpointer user_data)
{
	g_autoptr(GTask) task = call_new(v, name, cb, user_data);
	if (task == NULL)
		return;
	((Call *)g_task_get_task_data(task))->path = g_strdup(path);
	g_task_run_in_thread(task, save_thread);
}

static gboolean restore_clone(Call *c, GError **error)
{
	g_autoptr(AlkSaveImage) img = alk_save_image_read(c->arg, error);
	g_autoptr(GBytes) head = NULL;
	g_autoptr(GError) feed_error = NULL;
	AlkRestoreFeed *feed;
	int rc;

	if (img == NULL || (head = alk_save_image_clone_head(img, c->record, error)) == NULL)
		return FALSE;
	feed = alk_restore_feed_start(c->path, head, c->arg, img->stream_offset, img->stream_len,
	                              error);
	if (feed == NULL)
		return FALSE;
	rc = virDomainRestoreFlags(c->conn, c->path, NULL,
	                           c->paused ? VIR_DOMAIN_SAVE_PAUSED : VIR_DOMAIN_SAVE_RUNNING);
	if (rc != 0)
		set_virt_error(error, "restoring the template's memory");
	/* once QEMU has its state, what the writer says no longer matters */
	if (!alk_restore_feed_finish(feed, &feed_error) && rc == 0)
		g_debug("%s", feed_error->message);
	return rc == 0;
}

static void restore_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
	GError *error = NULL;

	if (!restore_clone(data, &error))
		g_task_return_error(task, error);
	else
		g_task_return_boolean(task, TRUE);
}

void alk_virt_restore_async(AlkVirt *v, const char *save_path, const char *xml,
                            const char *fifo_path, gboolean paused, GAsyncReadyCallback cb,
                            gpointer user_data)
{
	g_autoptr(GTask) task = call_new(v, save_path, cb, user_data);
	Call *c;

	if (task == NULL)
		return;
	c = g_task_get_task_data(task);
	c->record = g_strdup(xml);
	c->path = g_strdup(fifo_path);
	c->paused = paused;
	g_task_run_in_thread(task, restore_thread);
}

static gboolean destroy_by_name(virConnectPtr conn, const char *name, GError **error)
{
	virDomainPtr dom = virDomainLookupByName(conn, name);
	int rc;
	if (dom == NULL) {
		if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN)
			return TRUE;
		set_virt_error(error, "looking up the domain");
		return FALSE;
	}
	rc = virDomainDestroy(dom);
	/* read the error now: virDomainFree, a public call, resets it */
	if (rc < 0 && virGetLastErrorCode() != VIR_ERR_NO_DOMAIN &&
	    virGetLastErrorCode() != VIR_ERR_OPERATION_INVALID) /* stopped meanwhile */
		set_virt_error(error, "destroying the domain");
	else
		rc = 0;
	virDomainFree(dom);
	return rc == 0;
}

static void destroy_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
	Call *c = data;
	GError *error = NULL;
	if (destroy_by_name(c->conn, c->arg, &error))
		g_task_return_boolean(task, TRUE);
	else
		g_task_return_error(task, error);
}

void alk_virt_destroy_async(AlkVirt *v, const char *name, GAsyncReadyCallback cb,
                            gpointer user_data)
{
	g_autoptr(GTask) task = call_new(v, name, cb, user_data);
	if (task != NULL)
		g_task_run_in_thread(task, destroy_thread);
}

gboolean alk_virt_destroy_finish(AlkVirt *v, GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}

/* Resume or suspend by name: the call and what a failure says */
typedef struct {
	int (*call)(virDomainPtr dom);
	const char *doing;
} RunState;

static const RunState resume_call = {virDomainResume, "resuming the domain"};
static const RunState suspend_call = {virDomainSuspend, "pausing the domain"};

static void run_state_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
	Call *c = data;
	const RunState *how = c->how;
	GError *error = NULL;
	virDomainPtr dom = virDomainLookupByName(c->conn, c->arg);

	if (dom == NULL || how->call(dom) < 0)
		set_virt_error(&error, how->doing);
	if (dom != NULL)
		virDomainFree(dom);
	if (error != NULL)
		g_task_return_error(task, error);
	else
		g_task_return_boolean(task, TRUE);
}

static void run_state_async(AlkVirt *v, const RunState *how, const char *name,
                            GAsyncReadyCallback cb, gpointer user_data)
{
	g_autoptr(GTask) task = call_new(v, name, cb, user_data);
	if (task == NULL)
		return;
	((Call *)g_task_get_task_data(task))->how = how;
	g_task_run_in_thread(task, run_state_thread);
}

void alk_virt_resume_async(AlkVirt *v, const char *name, GAsyncReadyCallback cb, gpointer user_data)
{
	run_state_async(v, &resume_call, name, cb, user_data);
}

void alk_virt_suspend_async(AlkVirt *v, const char *name, GAsyncReadyCallback cb,
                            gpointer user_data)
{
	run_state_async(v, &suspend_call, name, cb, user_data);
}

gboolean alk_virt_resume_finish(AlkVirt *v, GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}

gboolean alk_virt_create_sync(AlkVirt *v, const char *xml, GError **error)
{
	virDomainPtr dom;
	if (v->conn == NULL) {
		set_unavailable(error, "not connected");
		return FALSE;
	}
	dom = virDomainCreateXML(v->conn, xml, 0);
	if (dom == NULL) {
		set_virt_error(error, "starting the domain");
		return FALSE;
	}
	virDomainFree(dom);
	return TRUE;
}

gboolean alk_virt_destroy_sync(AlkVirt *v, const char *name, GError **error)
{
	if (v->conn == NULL) {
		set_unavailable(error, "not connected");
		return FALSE;
	}
	return destroy_by_name(v->conn, name, error);
}

static char *version_text(unsigned long v)
{
	return g_strdup_printf("%lu.%lu.%lu", v / 1000000, v / 1000 % 1000, v % 1000);
}

gboolean alk_virt_versions_sync(AlkVirt *v, char **hypervisor, char **library, GError **error)
{
	unsigned long hv = 0, lib = 0;
	if (v->conn == NULL) {
		set_unavailable(error, "not connected");
		return FALSE;
	}
	if (virConnectGetVersion(v->conn, &hv) < 0 || virConnectGetLibVersion(v->conn, &lib) < 0) {
		set_virt_error(error, "reading libvirt's versions");
		return FALSE;
	}
	*hypervisor = version_text(hv);
	*library = version_text(lib);
	return TRUE;
}

static void set_record_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
	Call *c = data;
	GError *error = NULL;
	virDomainPtr dom = virDomainLookupByName(c->conn, c->arg);
	g_autofree char *escaped = g_markup_escape_text(c->record, -1);
	g_autofree char *xml = g_strdup_printf("<sandbox>%s</sandbox>", escaped);
	int rc = dom == NULL
	             ? -1
	             : virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, xml, "airlock",
	                                    ALK_VIRT_METADATA_NS, VIR_DOMAIN_AFFECT_LIVE);
	if (rc < 0)
		set_virt_error(&error, "updating the domain's record");
	if (dom != NULL)
		virDomainFree(dom);
	if (error != NULL)
		g_task_return_error(task, error);
	else
		g_task_return_boolean(task, TRUE);
}

void alk_virt_set_record_async(AlkVirt *v, const char *name, const char *record,
                               GAsyncReadyCallback cb, gpointer user_data)
{
	g_autoptr(GTask) task = call_new(v, name, cb, user_data);
	if (task == NULL)
		return;
	((Call *)g_task_get_task_data(task))->record = g_strdup(record);
	g_task_run_in_thread(task, set_record_thread);
}

gboolean alk_virt_set_record_finish(AlkVirt *v, GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}

/* The text inside the metadata element libvirt hands back. */
static void meta_text(GMarkupParseContext *ctx, const char *text, gsize len, gpointer data,
                      GError **error)
{
	g_string_append_len(data, text, len);
}

static char *metadata_text(const char *xml)
{
	static const GMarkupParser parser = {.text = meta_text};
	g_autoptr(GString) text = g_string_new(NULL);
	g_autoptr(GMarkupParseContext) ctx = g_markup_parse_context_new(&parser, 0, text, NULL);
	if (!g_markup_parse_context_parse(ctx, xml, -1, NULL) ||
	    !g_markup_parse_context_end_parse(ctx, NULL))
		return NULL;
	return g_string_free(g_steal_pointer(&text), FALSE);
}

static AlkVirtDomain *describe(virDomainPtr dom)
{
	AlkVirtDomain *d = g_new0(AlkVirtDomain, 1);
	char *xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, ALK_VIRT_METADATA_NS, 0);
	int state = 0;
	d->name = g_strdup(virDomainGetName(dom));
	if (xml != NULL)
		d->record = metadata_text(xml);
	free(xml);
	d->running = virDomainGetState(dom, &state, NULL, 0) == 0 &&
	             (state == VIR_DOMAIN_RUNNING || state == VIR_DOMAIN_PAUSED);
	d->paused = d->running && state == VIR_DOMAIN_PAUSED;
	return d;
}

static GPtrArray *list_domains(virConnectPtr conn, const char *prefix, GError **error)
{
	virDomainPtr *doms = NULL;
	int n = virConnectListAllDomains(conn, &doms, 0);
	GPtrArray *out;
	if (n < 0) {
		set_virt_error(error, "listing domains");
		return NULL;
	}
	out = g_ptr_array_new_with_free_func((GDestroyNotify)alk_virt_domain_free);
	for (int i = 0; i < n; i++) {
		const char *name = virDomainGetName(doms[i]);
		if (name != NULL && g_str_has_prefix(name, prefix))
			g_ptr_array_add(out, describe(doms[i]));
		virDomainFree(doms[i]);
	}
	free(doms);
	return out;
}

static void list_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
	Call *c = data;
	GError *error = NULL;
	GPtrArray *out = list_domains(c->conn, c->prefix, &error);
	if (out == NULL)
		g_task_return_error(task, error);
	else
		g_task_return_pointer(task, out, (GDestroyNotify)g_ptr_array_unref);
}

void alk_virt_list_async(AlkVirt *v, GAsyncReadyCallback cb, gpointer user_data)
{
	g_autoptr(GTask) task = call_new(v, NULL, cb, user_data);
	if (task != NULL)
		g_task_run_in_thread(task, list_thread);
}

GPtrArray *alk_virt_list_finish(AlkVirt *v, GAsyncResult *res, GError **error)
{
	return g_task_propagate_pointer(G_TASK(res), error);
}

GPtrArray *alk_virt_list_sync(AlkVirt *v, GError **error)
{
	if (v->conn == NULL) {
		set_unavailable(error, "not connected");
		return NULL;
	}
	return list_domains(v->conn, v->prefix, error);
}

/* ---- screen and input ---- */

/* A screenshot is the GPU's framebuffer as PNG: a few MiB at 4K. More is a
 * QEMU gone wrong, not a picture. */
#define SCREENSHOT_MAX (64 * 1024 * 1024)

static int screenshot_sink(virStreamPtr st, const char *buf, size_t n, void *opaque)
{
	GByteArray *out = opaque;
	if (out->len + n > SCREENSHOT_MAX) {
		errno = EFBIG;
		return -1;
	}
	g_byte_array_append(out, (const guint8 *)buf, (guint)n);
	return (int)n; /* all of it taken */
}

static GBytes *take_screenshot(virConnectPtr conn, const char *name, GError **error)
{
	virDomainPtr dom = virDomainLookupByName(conn, name);
	virStreamPtr st = NULL;
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autofree char *mime = NULL;
	gboolean ok = FALSE;

	if (dom == NULL || (st = virStreamNew(conn, 0)) == NULL) {
		set_virt_error(error, "taking a screenshot");
	} else if ((mime = virDomainScreenshot(dom, st, 0, 0)) == NULL ||
	           virStreamRecvAll(st, screenshot_sink, out) < 0) {
		set_virt_error(error, "taking a screenshot");
		virStreamAbort(st);
	} else if (g_strcmp0(mime, "image/png") != 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_FAILED, "screenshot: %s, not PNG", mime);
		virStreamFinish(st);
	} else {
		ok = virStreamFinish(st) == 0;
		if (!ok)
			set_virt_error(error, "taking a screenshot");
	}
	if (st != NULL)
		virStreamFree(st);
	if (dom != NULL)
		virDomainFree(dom);
	return ok ? g_byte_array_free_to_bytes(g_steal_pointer(&out)) : NULL;
}

static void screenshot_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
	Call *c = data;
	GError *error = NULL;
	GBytes *png = take_screenshot(c->conn, c->arg, &error);

	if (png == NULL)
		g_task_return_error(task, error);
	else
		g_task_return_pointer(task, png, (GDestroyNotify)g_bytes_unref);
}

void alk_virt_screenshot_async(AlkVirt *v, const char *name, GAsyncReadyCallback cb,
                               gpointer user_data)
{
	g_autoptr(GTask) task = call_new(v, name, cb, user_data);
	if (task != NULL)
		g_task_run_in_thread(task, screenshot_thread);
}

GBytes *alk_virt_screenshot_finish(AlkVirt *v, GAsyncResult *res, GError **error)
{
	return g_task_propagate_pointer(G_TASK(res), error);
}

static void monitor_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
	Call *c = data;
	GError *error = NULL;
	virDomainPtr dom = virDomainLookupByName(c->conn, c->arg);
	char *reply = NULL;

	if (dom == NULL || virDomainQemuMonitorCommand(dom, c->record, &reply, 0) < 0)
		set_virt_error(&error, "sending input");
	if (dom != NULL)
		virDomainFree(dom);
	if (error != NULL)
		g_task_return_error(task, error);
	else
		g_task_return_pointer(task, reply, free);
}

void alk_virt_monitor_async(AlkVirt *v, const char *name, const char *command,
                            GAsyncReadyCallback cb, gpointer user_data)
{
	g_autoptr(GTask) task = call_new(v, name, cb, user_data);
	if (task == NULL)
		return;
	((Call *)g_task_get_task_data(task))->record = g_strdup(command);
	g_task_run_in_thread(task, monitor_thread);
}

char *alk_virt_monitor_finish(AlkVirt *v, GAsyncResult *res, GError **error)
{
	return g_task_propagate_pointer(G_TASK(res), error);
}
