/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared between the manager's files; not for other layers. */
#pragma once

#include "alk-channel.h"
#include "alk-image.h"
#include "alk-manager.h"
#include "alk-net-ops.h"
#include "alk-slot-end.h"
#include "alk-virt-ops.h"

typedef struct AlkSlotNet AlkSlotNet;
typedef struct AlkKvmProbe AlkKvmProbe;
typedef struct AlkSlot AlkSlot;
typedef struct AlkTemplate AlkTemplate;

/* A clone restored from a template renews its agent's identity before it is
 * ready (alk-manager-restore.c). */
typedef enum {
	ALK_RENEW_NONE,   /* booted cold: nothing to renew */
	ALK_RENEW_NEEDED, /* RENEW once the channel is ready */
	ALK_RENEW_SENT,   /* waiting for its answer */
	ALK_RENEW_ACKED,  /* answered: waiting for the HELLO with a new nonce */
	ALK_RENEW_DONE,
} AlkRenew;

/* sb->pool of a restore template's maker (never a pool key: no '/') */
#define ALK_TEMPLATE_MAKER "restore-template"
/* What runs after a step of a sandbox's making or network: error NULL on
 * success, owned. */
typedef void (*AlkSlotNext)(AlkSlot *slot, GError *error);

struct AlkSlot {
	AlkManager *m;
	AlkSandbox *sb;
	AlkHold res[ALK_RES_N];
	AlkEnd end;
	AlkChannel *channel;
	GHashTable *tasks;    /* AlkTask * in flight (alk-manager-tasks.c) */
	AlkImage *image;      /* while creating */
	GCancellable *cancel; /* overlay creation */
	guint ttl_timer;
	guint ping_timer;   /* READY: the agent is pinged on a schedule */
	gboolean ping_out;  /* a ping waits for its pong */
	guint retry;        /* ALK_END_RETRY: the timer */
	GPtrArray *waiters; /* AlkManagerWait *: alk_manager_wait() */
	AlkSlotNet *net;    /* networked sandboxes: alk-manager-net.c */
	AlkTemplate *tpl;   /* a clone: the template it holds (ALK_RES_TEMPLATE) */
	AlkRenew renew;
	guint8 renew_nonce[ALK_PROTO_NONCE_SIZE]; /* the template's, seen before RENEW */
	gboolean renew_greeted;                   /* the channel had a HELLO when RENEW went */
};

struct AlkManager {
	AlkConfig *config;
	const AlkVirtOps *virt_ops; /* libvirt, or a test's fake */
	gpointer virt_ctx;
	const AlkNetOps *net_ops; /* ip and nft, or a test's fake */
	gpointer net_ctx;
	const char *virt_type; /* NULL while the KVM probe decides */
	AlkKvmProbeState kvm_probe;
	AlkKvmProbe *probe;   /* while it runs */
	GArray *virt_waiters; /* VirtWaiter: creates waiting for virt_type */
	guint reconcile_left; /* destroys reconcile still waits for */
	GPtrArray *drops;     /* those destroys (alk-reconcile.c), not owned */
	gboolean memtune;     /* libvirt can raise QEMU's MEMLOCK to hard_limit */
	uid_t qemu_uid;       /* QEMU's user: owns each sandbox's overlay and run dir */
	gid_t qemu_gid;
	GHashTable *slots;   /* id -> AlkSlot, owned */
	guint net_timer;     /* reads the namespaces' counters */
	guint pool_kick;     /* a refill of the warm pool is scheduled */
	guint pool_timer;    /* the warm pool's members are checked on a schedule */
	guint pool_failures; /* members that failed in a row: the refill backs off */
	AlkManagerWatch watch;
	gpointer watch_data;
	GHashTable *volumes_making; /* names of volumes being made (alk-volume.c) */
	GHashTable *templates;      /* key -> AlkTemplate: alk-manager-restore.c */
};

#define ALK_SLOT(sb) ((AlkSlot *)(sb)->priv)

/* The one reference to a sandbox that a callback holds: found again by id,
 * since the slot may be gone (alk_slot_ref_get() says); next: the step
 * after, or NULL. */
typedef struct {
	AlkManager *m;
	char id[ALK_SANDBOX_ID_LEN + 1];
	AlkSlotNext next;
} AlkSlotRef;

/* alk-manager.c */
AlkSlotRef *alk_slot_ref(AlkSlot *slot, AlkSlotNext next);
/* The slot ref names, or NULL when the manager let go of it. */
AlkSlot *alk_slot_ref_get(const AlkSlotRef *ref);
void alk_slot_set_state(AlkSlot *slot, AlkSandboxState state);
void alk_slot_forget(AlkSlot *slot);
/* Begins its end: stops its timers, tasks and channel, then steps. */
void alk_slot_teardown(AlkSlot *slot);
/* Its end goes on from where it is (a no-op unless it is ending): what was
 * being made has settled, a destroy finished, libvirt came back. */
void alk_slot_step(AlkSlot *slot);
/* A resource settled: held (exists) or not. TRUE when the sandbox is ending
 * meanwhile: its end went on from there, the caller stops. */
gboolean alk_slot_settled(AlkSlot *slot, AlkRes res, gboolean exists);
/* Why what an ending sandbox had in flight fails: "sandbox ID ended:
 * deleted", or the first line of its failure (ALK_ERROR_ENDED). */
GError *alk_slot_ended_error(AlkSlot *slot);
AlkSlot *alk_slot_lookup(AlkManager *m, const char *id);
AlkSlot *alk_slot_add(AlkManager *m, AlkSandbox *sb);
void alk_slot_notify(AlkSlot *slot);
void alk_slot_fail(AlkSlot *slot, GError *error);
void alk_slot_end(AlkSlot *slot, const char *reason);
void alk_slot_arm_ttl(AlkSlot *slot);
void alk_slot_open_channel(AlkSlot *slot, gint64 deadline_us);
gboolean alk_slot_prepare_dirs(AlkSlot *slot, GError **error);
void alk_slot_remove_files(AlkManager *m, const char *id);
/* The last max_bytes of the console log ("" when there is none yet), read
 * without following a link. Errors: IO. */
char *alk_slot_console_tail(AlkSandbox *sb, gsize max_bytes, GError **error);

/* alk-manager-create.c: a new slot for req under limits, creating; pool:
 * the warm pool key it is a member of, or NULL. Errors: as
 * alk_manager_create's, past the checks of limits and capacity. */
AlkSlot *alk_slot_create(AlkManager *m, const AlkSandboxRequest *req, const AlkLimits *limits,
                         const char *pool, GError **error);
/* A request's labels (NULL: none) onto sb's. */
void alk_slot_add_labels(AlkSandbox *sb, GHashTable *labels);

/* What tells an image's builds apart (a pool member of an older one is
 * replaced). */
static inline const char *alk_image_build(const AlkImage *image)
{
	return image->build_id != NULL ? image->build_id : image->built_at;
}

/* alk-exec-defaults.c: the image's exec defaults of a sandbox. */
/* Copied from the image at create, and kept in its state dir. */
void alk_slot_exec_defaults_take(AlkSlot *slot, const AlkImage *image);
/* Read back for an adopted sandbox. */
void alk_slot_exec_defaults_load(AlkSlot *slot);
/* Fills what msg leaves out: argv (none: the image's command, INVALID
 * when it has none), cwd, and the image's env under msg's own. */
gboolean alk_slot_exec_defaults_apply(AlkSlot *slot, AlkMsgExec *msg, GError **error);

/* alk-manager-pool.c: the warm pool ([daemon] pool). */
/* A ready member matching req and limits, handed out: its TTL and labels
 * are the request's from now on; NULL when there is none. */
AlkSlot *alk_slot_pool_take(AlkManager *m, const AlkSandboxRequest *req, const AlkLimits *limits);
/* At capacity: a member not handed out yet ends to make room; FALSE if
 * there is none. */
gboolean alk_slot_pool_evict(AlkManager *m);
/* A refill soon (after a back-off while members fail). */
void alk_manager_pool_kick(AlkManager *m);
/* A slot ended (finish()): a failed member is forgotten and counted. */
void alk_slot_pool_ended(AlkSlot *slot);
/* A member is ready: the back-off resets. */
void alk_slot_pool_ready(AlkSlot *slot);
/* Start-up, after reconcile: members adopted are checked, the pool fills. */
void alk_manager_pool_start(AlkManager *m);
void alk_manager_pool_stop(AlkManager *m);

/* alk-manager-restore.c: boot once, restore many ([daemon] restore). */
/* A ready template of image's current build and limits' shape, or NULL
 * (then one is being made, or the shape cannot be restored). */
AlkTemplate *alk_slot_template_pick(AlkManager *m, const AlkImage *image, const AlkLimits *limits);
/* slot is a clone of t from now on, until alk_slot_template_release(). */
void alk_slot_template_hold(AlkSlot *slot, AlkTemplate *t);
void alk_slot_template_release(AlkSlot *slot);
/* Its restore failed: the template is not used again, the slot lets go. */
void alk_slot_template_broken(AlkSlot *slot, const GError *error);
const char *alk_template_frozen(const AlkTemplate *t);
const char *alk_template_save_path(const AlkTemplate *t);
/* The MAC of the template's NIC ("" when it has none). */
const char *alk_template_mac(const AlkTemplate *t);
gboolean alk_slot_is_template_maker(AlkSlot *slot);
/* Its memory is being saved: the domain's stop is expected. */
gboolean alk_slot_template_saving(AlkSlot *slot);
void alk_slot_template_maker_ready(AlkSlot *slot);
void alk_slot_template_maker_ended(AlkSlot *slot);
/* The channel is ready (again): TRUE while a clone's renewal goes on (it
 * calls alk_slot_booted() when done), FALSE when there is nothing to renew. */
gboolean alk_slot_renew_step(AlkSlot *slot);
void alk_manager_restore_start(AlkManager *m);
void alk_manager_restore_stop(AlkManager *m);

/* alk-manager.c: the agent answers (and a clone renewed): the network, if
 * any, then ready. */
void alk_slot_booted(AlkSlot *slot);

/* alk-manager-tasks.c: ends every task in flight with error (each gets its
 * failed callback); before anything a task uses goes. */
void alk_slot_end_tasks(AlkSlot *slot, const GError *error);

/* alk-manager-ping.c: while READY, PING every few seconds; an agent that
 * stops answering makes the sandbox unhealthy, then failed. */
void alk_slot_start_pings(AlkSlot *slot);
void alk_slot_stop_pings(AlkSlot *slot);

/* A create that waits until the virtualisation type is known, then goes
 * on in next(slot, NULL); TRUE when it waits (nothing is being made
 * meanwhile: its end need not wait for the probe). */
gboolean alk_slot_await_virt_type(AlkSlot *slot, AlkSlotNext next);

/* alk-kvm-probe.c: the probe's domains are named ALK_PROBE_DOMAIN, a tag
 * of the instance (its state_dir), '-', the daemon's pid; each instance
 * touches only its own. */
#define ALK_PROBE_DOMAIN "airlock-probe-"
char *alk_manager_probe_prefix(AlkManager *m);
/* The verdict is in: usable says whether KVM guests boot, reason why not. */
typedef void (*AlkKvmProbeDone)(AlkManager *m, AlkKvmProbeState how, gboolean usable,
                                const char *reason);
/* Takes the verdict remembered for this host, else boots the probe; done
 * runs once, maybe before this returns. */
void alk_manager_probe_kvm_start(AlkManager *m, AlkKvmProbeDone done);
/* The manager stops: the probe's domain and files go now, done never runs. */
void alk_manager_probe_kvm_abandon(AlkManager *m);

/* alk-reconcile.c: adopts and drops at once; the destroys it needs and the
 * sweeps after them finish on the loop (m->reconcile_left). */
gboolean alk_manager_reconcile(AlkManager *m, GError **error);
/* The manager stops: destroys in flight finish without it. */
void alk_manager_reconcile_abandon(AlkManager *m);

/* alk-volume.c: a volume's qcow2; whether req's volumes exist and are free */
char *alk_manager_volume_path(AlkManager *m, const char *name);
gboolean alk_manager_volumes_check(AlkManager *m, const AlkSandboxRequest *req, GError **error);

/* alk-manager-fs.c: the workspace disk and FS_CONFIG */
char *alk_manager_disk_base_dir(AlkManager *m);
/* Whether the guest's layout differs from the image's own (FS_CONFIG). */
gboolean alk_slot_fs_wanted(AlkSlot *slot);
/* Makes the workspace's overlay (its base first, once per size) while the
 * files resource is MAKING; next(slot, NULL) at once when there is none. */
void alk_slot_fs_prepare(AlkSlot *slot, AlkSlotNext next);
/* The workspace's base, or NULL without a workspace. */
char *alk_slot_fs_workspace_base(AlkSlot *slot);
void alk_slot_fs_configure(AlkSlot *slot, AlkSlotNext next);

/* alk-manager-net.c: each step ends in next(), unless the manager let go of
 * the sandbox meanwhile */
gboolean alk_slot_net_wanted(AlkSlot *slot);
const char *alk_slot_net_tap(AlkSlot *slot);
const char *alk_slot_net_mac(AlkSlot *slot);
/* A restored clone's NIC is the template's: the guest's device state holds
 * its MAC, which the XML and NET_CONFIG must name. Never on the wire beyond
 * the sandbox's own namespace. */
void alk_slot_net_use_mac(AlkSlot *slot, const char *mac);
void alk_slot_net_prepare(AlkSlot *slot, AlkSlotNext next);
void alk_slot_net_attach(AlkSlot *slot, AlkSlotNext next);
void alk_slot_net_configure(AlkSlot *slot, AlkSlotNext next);
gboolean alk_slot_net_adopt(AlkSlot *slot, GError **error);
void alk_slot_net_teardown(AlkSlot *slot, AlkSlotNext next);
/* frees what the daemon holds (the resolver), leaves the namespace */
void alk_slot_net_free(AlkSlot *slot);
GPtrArray *alk_manager_net_denied(AlkManager *m, GError **error);
/* An allowlist checked against the always-denied ranges and this host's */
gboolean alk_manager_net_check(AlkManager *m, const char *const *allow, GError **error);
void alk_manager_net_sweep(AlkManager *m);
void alk_manager_net_start(AlkManager *m);
/* Warns about [network] settings allowlist sandboxes would fail on. */
void alk_manager_net_check_config(AlkManager *m);
