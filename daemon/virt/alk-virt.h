/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The libvirt connection: opened and re-opened by itself, domain lifecycle
 * events delivered on the main loop, and every call that can block run on a
 * worker thread (GTask), its result delivered back on the main loop. While
 * libvirtd is away, calls fail at once with ALK_ERROR_UNAVAILABLE. */
#pragma once

#include <gio/gio.h>

typedef struct AlkVirt AlkVirt;

typedef enum {
	ALK_VIRT_STOPPED_SHUTDOWN, /* the guest powered off */
	ALK_VIRT_STOPPED_CRASHED,  /* guest panic */
	ALK_VIRT_STOPPED_FAILED,   /* QEMU died */
	ALK_VIRT_STOPPED_DESTROYED,
	ALK_VIRT_STOPPED_OTHER,
} AlkVirtStopReason;

typedef struct {
	/* a domain of ours stopped (transient: it is gone) */
	void (*stopped)(const char *name, AlkVirtStopReason reason, gpointer user_data);
	/* libvirt went away (FALSE) or is back and subscribed (TRUE) */
	void (*connection)(gboolean up, gpointer user_data);
} AlkVirtCallbacks;

typedef struct {
	char *name;
	char *record; /* text of the airlock <metadata> element, or NULL */
	gboolean running;
	gboolean paused; /* running, its vCPUs paused */
} AlkVirtDomain;

void alk_virt_domain_free(AlkVirtDomain *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkVirtDomain, alk_virt_domain_free)

/* The namespace of the <metadata> element holding a sandbox's record. */
#define ALK_VIRT_METADATA_NS "https://airlock.invalid/xmlns/sandbox/1"

/* Registers libvirt's GLib-based event loop; call once before alk_virt_new. */
gboolean alk_virt_init(GError **error);
/* Only domains whose name starts with prefix are reported. */
AlkVirt *alk_virt_new(const char *uri, const char *prefix, const AlkVirtCallbacks *cb,
                      gpointer user_data);
void alk_virt_free(AlkVirt *v);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkVirt, alk_virt_free)

/* Opens the connection now (blocking, for start-up). Later losses are
 * repaired by the reconnect timer. */
gboolean alk_virt_connect(AlkVirt *v, GError **error);
gboolean alk_virt_is_connected(AlkVirt *v);

/* Starts a transient domain from xml (optionally paused). */
void alk_virt_create_async(AlkVirt *v, const char *xml, gboolean paused, GAsyncReadyCallback cb,
                           gpointer user_data);
gboolean alk_virt_create_finish(AlkVirt *v, GAsyncResult *res, GError **error);

/* Destroys a domain by name; a domain that is already gone is success. */
void alk_virt_destroy_async(AlkVirt *v, const char *name, GAsyncReadyCallback cb,
                            gpointer user_data);
gboolean alk_virt_destroy_finish(AlkVirt *v, GAsyncResult *res, GError **error);

/* Resumes a domain created paused. */
void alk_virt_resume_async(AlkVirt *v, const char *name, GAsyncReadyCallback cb,
                           gpointer user_data);
gboolean alk_virt_resume_finish(AlkVirt *v, GAsyncResult *res, GError **error);
/* Pauses the domain's vCPUs (virDomainSuspend); finish with
 * alk_virt_resume_finish(). */
void alk_virt_suspend_async(AlkVirt *v, const char *name, GAsyncReadyCallback cb,
                            gpointer user_data);

/* Replaces the live domain's record (the text of its airlock <metadata>
 * element), e.g. after its deadline moved. */
void alk_virt_set_record_async(AlkVirt *v, const char *name, const char *record,
                               GAsyncReadyCallback cb, gpointer user_data);
gboolean alk_virt_set_record_finish(AlkVirt *v, GAsyncResult *res, GError **error);

/* Saves the running domain's memory to path (virDomainSaveFlags): the
 * domain stops and is gone. Finish with alk_virt_create_finish(). */
void alk_virt_save_async(AlkVirt *v, const char *name, const char *path, GAsyncReadyCallback cb,
                         gpointer user_data);
/* A new domain from save_path's memory under xml (its own name and paths),
 * fed through the FIFO fifo_path (alk-restore.h), optionally paused.
 * Finish with alk_virt_create_finish(). */
void alk_virt_restore_async(AlkVirt *v, const char *save_path, const char *xml,
                            const char *fifo_path, gboolean paused, GAsyncReadyCallback cb,
                            gpointer user_data);

/* Lists our domains with their records (array of AlkVirtDomain). */
void alk_virt_list_async(AlkVirt *v, GAsyncReadyCallback cb, gpointer user_data);
GPtrArray *alk_virt_list_finish(AlkVirt *v, GAsyncResult *res, GError **error);

/* Blocking variants for start-up and tests. */
gboolean alk_virt_create_sync(AlkVirt *v, const char *xml, GError **error);
GPtrArray *alk_virt_list_sync(AlkVirt *v, GError **error);
gboolean alk_virt_destroy_sync(AlkVirt *v, const char *name, GError **error);
/* The hypervisor's (QEMU's) and libvirt's versions, "major.minor.micro". */
gboolean alk_virt_versions_sync(AlkVirt *v, char **hypervisor, char **library, GError **error);

/* The domain's screen as PNG (virDomainScreenshot: the primary GPU's
 * console, whatever it shows; no graphics listener needed). */
void alk_virt_screenshot_async(AlkVirt *v, const char *name, GAsyncReadyCallback cb,
                               gpointer user_data);
GBytes *alk_virt_screenshot_finish(AlkVirt *v, GAsyncResult *res, GError **error);

/* One QMP command (JSON text) to the domain's QEMU through libvirt-qemu
 * (the domain is marked "tainted"); returns QEMU's reply text. For input:
 * libvirt has no pointer API. */
void alk_virt_monitor_async(AlkVirt *v, const char *name, const char *command,
                            GAsyncReadyCallback cb, gpointer user_data);
char *alk_virt_monitor_finish(AlkVirt *v, GAsyncResult *res, GError **error);
