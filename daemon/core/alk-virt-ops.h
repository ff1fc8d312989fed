/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The virtualisation backend as the manager sees it: a small table of
 * functions over an opaque context (as crun's cgroup managers). The real one
 * (alk-virt-real.c) is libvirt through daemon/virt/; tests give the manager
 * a fake. Exported so that tests can build one; nothing here names virt/.
 *
 * Every async operation completes once, on the main loop, with a GTask:
 * a boolean for create, destroy, resume, suspend, set_record, save and restore (read it with
 * alk_virt_ops_finish), a GPtrArray of AlkVirtOpsDomain for list, a GBytes
 * for screenshot, a string for monitor. While the
 * connection is away, operations fail at once with ALK_ERROR_UNAVAILABLE. */
#pragma once

#include <gio/gio.h>

#include "alk-manager.h"

typedef enum {
	ALK_VIRT_OPS_STOPPED_SHUTDOWN, /* the guest powered off */
	ALK_VIRT_OPS_STOPPED_CRASHED,  /* guest panic */
	ALK_VIRT_OPS_STOPPED_FAILED,   /* QEMU died */
	ALK_VIRT_OPS_STOPPED_DESTROYED,
	ALK_VIRT_OPS_STOPPED_OTHER,
} AlkVirtOpsStop;

typedef struct {
	/* a domain of ours stopped (transient: it is gone) */
	void (*stopped)(const char *name, AlkVirtOpsStop reason, gpointer user_data);
	/* the connection went away (FALSE) or is back and subscribed (TRUE) */
	void (*connection)(gboolean up, gpointer user_data);
} AlkVirtOpsEvents;

typedef struct {
	char *name;
	char *record; /* text of the airlock <metadata> element, or NULL */
	gboolean running;
	gboolean paused; /* running, its vCPUs paused */
} AlkVirtOpsDomain;

AlkVirtOpsDomain *alk_virt_ops_domain_new(const char *name, const char *record, gboolean running,
                                          gboolean paused);
void alk_virt_ops_domain_free(AlkVirtOpsDomain *d);

typedef struct {
	/* Opens the connection now (blocking, for start-up); events reach ev
	 * on the main loop from then on; later losses repair themselves. */
	gboolean (*open)(gpointer ctx, const AlkVirtOpsEvents *ev, gpointer ev_data,
	                 GError **error);
	gboolean (*is_connected)(gpointer ctx);
	/* A transient domain from xml, optionally paused. */
	void (*create)(gpointer ctx, const char *xml, gboolean paused, GAsyncReadyCallback cb,
	               gpointer user_data);
	/* By name; a domain that is already gone is success. */
	void (*destroy)(gpointer ctx, const char *name, GAsyncReadyCallback cb, gpointer user_data);
	void (*resume)(gpointer ctx, const char *name, GAsyncReadyCallback cb, gpointer user_data);
	/* Pauses its vCPUs (resume undoes it). */
	void (*suspend)(gpointer ctx, const char *name, GAsyncReadyCallback cb, gpointer user_data);
	/* Replaces the live domain's record. */
	void (*set_record)(gpointer ctx, const char *name, const char *record,
	                   GAsyncReadyCallback cb, gpointer user_data);
	/* The domains named airlock-* with their records. */
	void (*list)(gpointer ctx, GAsyncReadyCallback cb, gpointer user_data);
	/* Blocking, for start-up and shutdown only. */
	GPtrArray *(*list_sync)(gpointer ctx, GError **error);
	gboolean (*destroy_sync)(gpointer ctx, const char *name, GError **error);
	/* The hypervisor's and the library's versions (the KVM probe's key). */
	gboolean (*versions_sync)(gpointer ctx, char **hypervisor, char **library, GError **error);
	/* Frees ctx when the manager goes; NULL: ctx is not the manager's. */
	void (*free)(gpointer ctx);
	/* The domain's screen as PNG (a GBytes: alk_virt_ops_bytes_finish). */
	void (*screenshot)(gpointer ctx, const char *name, GAsyncReadyCallback cb,
	                   gpointer user_data);
	/* One QMP command (JSON text) to the domain's QEMU; its reply text
	 * (alk_virt_ops_text_finish). */
	void (*monitor)(gpointer ctx, const char *name, const char *command, GAsyncReadyCallback cb,
	                gpointer user_data);
	/* Boot once, restore many (alk-manager-restore.c). save: the running
	 * domain's memory into the file path (root's); the domain is gone
	 * after. restore: a new domain from that memory under xml (its own
	 * name, UUID and paths), fed through the FIFO fifo_path, optionally
	 * paused. */
	void (*save)(gpointer ctx, const char *name, const char *path, GAsyncReadyCallback cb,
	             gpointer user_data);
	void (*restore)(gpointer ctx, const char *save_path, const char *xml, const char *fifo_path,
	                gboolean paused, GAsyncReadyCallback cb, gpointer user_data);
} AlkVirtOps;

static inline gboolean alk_virt_ops_finish(GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}

/* A GPtrArray of AlkVirtOpsDomain, or NULL with error. */
static inline GPtrArray *alk_virt_ops_list_finish(GAsyncResult *res, GError **error)
{
	return g_task_propagate_pointer(G_TASK(res), error);
}

static inline GBytes *alk_virt_ops_bytes_finish(GAsyncResult *res, GError **error)
{
	return g_task_propagate_pointer(G_TASK(res), error);
}

static inline char *alk_virt_ops_text_finish(GAsyncResult *res, GError **error)
{
	return g_task_propagate_pointer(G_TASK(res), error);
}

/* The manager over another backend: what alk_manager_new is over
 * alk_virt_real_ops. */
AlkManager *alk_manager_new_with_backend(AlkConfig *config, const AlkVirtOps *ops, gpointer ctx);
