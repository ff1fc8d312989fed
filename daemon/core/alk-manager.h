/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sandbox manager: creates, watches and destroys sandboxes, carries
 * their tasks to the agent, enforces their limits and TTLs, and on start-up
 * reconciles what libvirt and the disk hold with what it knows. Lives on
 * the main thread; libvirt calls run on workers. The REST layer wraps it. */
#pragma once

#include <gio/gio.h>

#include "alk-config.h"
#include "alk-input.h"
#include "alk-proto.h"
#include "alk-request.h"
#include "alk-sandbox.h"
#include "alk-screen.h"
#include "alk-task.h"

typedef struct AlkManager AlkManager;

/* Called after every state change of a sandbox (also for DESTROYED, just
 * before the manager forgets it). */
typedef void (*AlkManagerWatch)(AlkManager *m, const AlkSandbox *sb, gpointer user_data);

AlkManager *alk_manager_new(AlkConfig *config);
void alk_manager_free(AlkManager *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkManager, alk_manager_free)

void alk_manager_set_watch(AlkManager *m, AlkManagerWatch func, gpointer user_data);

/* Connects to libvirt and reconciles: adopts live sandboxes (they are
 * listed when this returns), destroys what cannot be adopted or whose
 * deadline passed, deletes orphans. Chooses the virtualisation type
 * (virt_type=auto: the KVM probe, or its verdict remembered for this
 * host). Adoption, the destroys, the sweeps and the probe finish on the
 * loop; creates meanwhile wait for the virtualisation type. */
gboolean alk_manager_start(AlkManager *m, GError **error);

typedef enum {
	ALK_KVM_PROBE_OFF,     /* virt_type is kvm or qemu: no probe */
	ALK_KVM_PROBE_RUNNING, /* booting the probe guest */
	ALK_KVM_PROBE_PROBED,  /* this start booted it */
	ALK_KVM_PROBE_CACHED,  /* the verdict remembered for this host */
	ALK_KVM_PROBE_SKIPPED, /* no probe could boot (no /dev/kvm, ...): TCG */
} AlkKvmProbeState;

/* "qemu" or "kvm"; "pending" while the KVM probe runs. */
const char *alk_manager_virt_type(AlkManager *m);
AlkKvmProbeState alk_manager_kvm_probe(AlkManager *m);
const char *alk_kvm_probe_state_name(AlkKvmProbeState state);
/* What start-up still does: "reconciling", "probing_kvm" or "done". */
const char *alk_manager_startup(AlkManager *m);
gboolean alk_manager_libvirt_up(AlkManager *m);

/* Validates the request and starts creating; the sandbox is returned in
 * state CREATING. Errors: INVALID, NOT_FOUND (image, profile), LIMIT. */
const AlkSandbox *alk_manager_create(AlkManager *m, const AlkSandboxRequest *req, GError **error);
/* Waiting for a sandbox to settle: the one mechanism, for the REST API's
 * ?wait= and for tests. func runs once, with the sandbox as it settled
 * (valid during the call) or the error saying it never will. */
typedef struct AlkManagerWait AlkManagerWait;
typedef void (*AlkManagerWaitFunc)(const AlkSandbox *sb, const GError *error, gpointer user_data);
/* until READY: settles when the sandbox is ready; its failure or end is the
 * error (the failure's own, or CONFLICT "ended: REASON"). until DESTROYED:
 * settles once it is no longer live (destroyed or failed). The daemon
 * stopping is UNAVAILABLE. Returns FALSE with NOT_FOUND; else *wait is the
 * pending wait, or NULL when the sandbox had settled and func ran already. */
gboolean alk_manager_wait(AlkManager *m, const char *id, AlkSandboxState until,
                          AlkManagerWaitFunc func, gpointer user_data, AlkManagerWait **wait,
                          GError **error);
/* func never runs. */
void alk_manager_wait_cancel(AlkManagerWait *wait);

const AlkSandbox *alk_manager_lookup(AlkManager *m, const char *id, GError **error);
/* Every sandbox the manager knows (live and failed), sorted by creation. */
GPtrArray *alk_manager_list(AlkManager *m);
guint alk_manager_count_live(AlkManager *m);

/* Starts destroying; the sandbox ends in DESTROYED. Errors: NOT_FOUND,
 * UNAVAILABLE (libvirt is away: nothing changed). A failed sandbox is
 * simply forgotten. */
gboolean alk_manager_destroy(AlkManager *m, const char *id, GError **error);
/* New deadline = now + ttl_s (within the profile's ceiling). */
gboolean alk_manager_set_ttl(AlkManager *m, const char *id, guint64 ttl_s, GError **error);

/* Replaces a READY allowlist sandbox's allowlist (entries as in a create
 * request; NULL or empty: allow nothing). Takes effect in the namespace's
 * nftables at once, both ways: connections to removed destinations are cut.
 * Errors: NOT_FOUND, CONFLICT (not ready, or not in mode allowlist), INVALID
 * (an entry), LIMIT (too many entries), INTERNAL (nftables refused). */
void alk_manager_set_network_async(AlkManager *m, const char *id, const char *const *allow,
                                   GAsyncReadyCallback cb, gpointer user_data);
gboolean alk_manager_set_network_finish(AlkManager *m, GAsyncResult *res, GError **error);

/* The share of this daemon's capacity a proxy may still place creates on,
 * 0-100: free sandbox slots (ready warm pool members count as free; a pool
 * with none ready halves the figure), bounded by the host's available
 * memory; 0 when full or without libvirt. */
guint alk_manager_capacity_pct(AlkManager *m);

/* The warm pool, a key at a time: members ready to be handed out and
 * members still starting. */
typedef struct {
	char key[2 * ALK_IMAGE_NAME_MAX + 2]; /* IMAGE/PROFILE */
	guint size;
	guint ready;
	guint starting;
} AlkPoolStatus;
/* An AlkPoolStatus per key of [daemon] pool, in its order. */
GArray *alk_manager_pool_status(AlkManager *m);

/* Pauses a ready sandbox's vCPUs (PAUSED) or resumes a paused one (READY;
 * one adopted paused goes through BOOTING while its agent answers again).
 * Its memory stays where it is; its TTL runs on while paused; commands and
 * transfers on a paused sandbox are refused (CONFLICT). Errors: NOT_FOUND,
 * CONFLICT (not ready / not paused, or with commands or transfers in
 * flight, or a pause or resume in progress), UNAVAILABLE (libvirt away),
 * ENDED (it ended meanwhile), FAILED (libvirt refused). */
void alk_manager_pause_async(AlkManager *m, const char *id, gboolean pause, GAsyncReadyCallback cb,
                             gpointer user_data);
gboolean alk_manager_pause_finish(AlkManager *m, GAsyncResult *res, GError **error);

/* Runs a process in a READY sandbox. msg's timeout_ms 0 means the profile
 * default; output_cap is set from the profile. Who it runs as: msg->user,
 * else the image's default user, else root; root only where the profile
 * allows it (allow_root). msg->no_new_privs is one of ALK_EXEC_NNP_*: by
 * default on for a non-root exec, and always where the profile says so.
 * msg->drop_caps asks a root exec for empty capability sets. The task
 * (alk-task.h) ends with one of cb's done/failed; the daemon ends it itself
 * (ALK_ERROR_TIMEOUT) when the guest does not report the end shortly after
 * the timeout. Errors: NOT_FOUND, CONFLICT (not ready), LIMIT (too many
 * execs, timeout above ceiling), DENIED (root where the profile forbids it). */
#define ALK_EXEC_NNP_DEFAULT 0 /* on for non-root execs */
#define ALK_EXEC_NNP_ON 1
#define ALK_EXEC_NNP_OFF 2 /* asked off (ignored where the profile forces it) */
AlkTask *alk_manager_exec(AlkManager *m, const char *id, AlkMsgExec *msg,
                          const AlkTaskCallbacks *cb, gpointer user_data, GError **error);
/* An upload of exactly size bytes: feed it with alk_task_write(), finish with
 * alk_task_close(). */
AlkTask *alk_manager_put(AlkManager *m, const char *id, const char *path, guint32 mode,
                         guint64 size, const AlkTaskCallbacks *cb, gpointer user_data,
                         GError **error);
/* A download; max_size 0: no limit. */
AlkTask *alk_manager_get(AlkManager *m, const char *id, const char *path, guint64 max_size,
                         const AlkTaskCallbacks *cb, gpointer user_data, GError **error);

/* The serial console log (last max_bytes). */
char *alk_manager_console(AlkManager *m, const char *id, gsize max_bytes, GError **error);

/* Stops every timer and channel without touching the sandboxes: what a
 * daemon does when it exits (they are adopted on the next start). */
void alk_manager_detach(AlkManager *m);

/* A sandbox's screen (it has a display, and is ready or paused): what to
 * return of it. All 0: the whole screen at its real size. */
typedef struct {
	guint width, height;  /* scale to this (one 0: keep the aspect ratio) */
	guint rx, ry, rw, rh; /* a region of the real screen first; rw 0: all of it */
} AlkScreenshotArea;
/* Errors: NOT_FOUND, CONFLICT (no display, not running), UNAVAILABLE
 * (libvirt away), INVALID (a size or region out of bounds), FAILED. */
void alk_manager_screenshot_async(AlkManager *m, const char *id, const AlkScreenshotArea *area,
                                  GAsyncReadyCallback cb, gpointer user_data);
AlkScreenshot *alk_manager_screenshot_finish(AlkManager *m, GAsyncResult *res, GError **error);

/* Input events to a ready sandbox's display, in one input-send-event (a
 * press and its release belong in separate calls: the tablet merges them).
 * Errors as for screenshots; FAILED when QEMU refuses them. */
#define ALK_INPUT_BATCH_MAX 16
void alk_manager_input_async(AlkManager *m, const char *id, const AlkInputEvent *events, guint n,
                             GAsyncReadyCallback cb, gpointer user_data);
gboolean alk_manager_input_finish(AlkManager *m, GAsyncResult *res, GError **error);
