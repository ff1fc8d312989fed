/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A sandbox: its state machine, its record (what survives a daemon restart,
 * kept in the domain's <metadata>) and its paths. Pure: no I/O. */
#pragma once

#include <glib.h>

#include "alk-name.h"
#include "alk-request.h"

typedef enum {
	ALK_SANDBOX_CREATING,
	ALK_SANDBOX_BOOTING,
	ALK_SANDBOX_READY,
	ALK_SANDBOX_STOPPING,
	ALK_SANDBOX_DESTROYED,
	ALK_SANDBOX_FAILED,
	ALK_SANDBOX_PAUSED, /* its vCPUs stopped (alk_manager_pause_async) */
} AlkSandboxState;
#define ALK_SANDBOX_N_STATES (ALK_SANDBOX_PAUSED + 1)

#define ALK_DOMAIN_PREFIX "airlock-"

typedef struct AlkSandbox AlkSandbox;

/* A networked sandbox's policy and what it has counted (network issue).
 * Counters are refreshed from nftables and the resolver while it runs. */
typedef struct {
	char **allow;        /* canonical allowlist entries (alk_allow_entry_to_string) */
	guint generation;    /* bumped by every change of the allowlist */
	gint uplink;         /* index of its uplink /30 in the pool; -1: none */
	char *address;       /* the guest's address, e.g. "10.254.254.2/30"; NULL: no NIC */
	guint64 allowed;     /* packets of connections let out (nftables "allowed") */
	guint64 denied;      /* packets dropped (nftables "denied") */
	guint64 dns_queries; /* queries the resolver received */
	guint64 dns_refused; /* queries refused: a name not allowed, a denied answer */
} AlkSandboxNet;

/* A cold boot's timeline, create to ready: host times are
 * g_get_monotonic_time() (0: not reached; all 0 for an adopted sandbox),
 * the guest's are the stamps of its agent's HELLO (its CLOCK_BOOTTIME in
 * ms, 0: unknown; the guest's word, so only a report). */
typedef struct {
	gint64 start_us;       /* the create began */
	gint64 domain_call_us; /* libvirt was asked for the domain */
	gint64 domain_us;      /* libvirt's create returned: QEMU runs */
	gint64 running_us;     /* the guest runs (networked: its tap moved) */
	gint64 hello_us;       /* the agent's HELLO came */
	gint64 ready_us;
	guint32 guest_initramfs_ms, guest_root_ms, guest_grown_ms, guest_init_ms, guest_hello_ms;
} AlkSandboxBoot;

/* The boot's phases in ms (-1: not known): prepare (dirs, overlay,
 * network, XML), libvirt (its create: QEMU's start), attach (the tap moved
 * and the vCPUs resumed), guest (running to HELLO), and, when the guest's
 * stamps are in order, guest split into firmware (up to the kernel's
 * clock), kernel (to the initramfs), initramfs (modules, the disk),
 * grow (the root's resize2fs), switch_root (to the agent's start) and
 * agent (its start to HELLO); handshake (HELLO to ready: SYNC, network
 * configuration). */
typedef struct {
	gint64 total, prepare, libvirt, attach, guest;
	gint64 firmware, kernel, initramfs, grow, switch_root, agent;
	gint64 handshake;
} AlkBootPhases;

/* FALSE (out untouched) until the sandbox was ready after a cold boot. */
gboolean alk_sandbox_boot_phases(const AlkSandboxBoot *b, AlkBootPhases *out);

struct AlkSandbox {
	char id[ALK_SANDBOX_ID_LEN + 1];
	char *domain; /* airlock-<id> */
	AlkSandboxState state;
	char *instance; /* the daemon's state_dir: whose sandbox this is */
	char *image;
	char *profile;
	AlkLimits limits;
	AlkSandboxNet net;
	GHashTable *labels; /* string -> string */
	gint64 created_at;  /* unix seconds */
	gint64 deadline;    /* unix seconds: the TTL as an absolute time */
	char *state_dir;    /* <state>/sandboxes/<id> */
	char *run_dir;      /* <run>/sandboxes/<id> */
	char *overlay;
	char *agent_socket;
	char *console_log;
	GError *error;      /* why it failed */
	char *end_reason;   /* why it ended: "deleted", "ttl expired", "guest powered off", ... */
	gboolean adopted;   /* found running at start-up */
	char *pool;         /* "IMAGE/PROFILE" while a warm pool's member, else NULL */
	gboolean warm;      /* handed out from the warm pool */
	char *build;        /* its image's build when it was made (replaced pool members) */
	char *default_user; /* its image's: who an exec runs as unless it says; NULL: root */
	char **exec_env;    /* its image's exec defaults (an OCI config's Env, WorkingDir, */
	char *exec_cwd;     /* Entrypoint + Cmd): under an exec's own; NULL: none */
	char **exec_argv;
	guint execs;           /* execs in flight */
	guint missed_pings;    /* in a row: the agent stopped answering (unhealthy) */
	gboolean cursor_known; /* where input last put the pointer (screen pixels) */
	guint cursor_x, cursor_y;
	AlkSandboxBoot boot;
	gpointer priv; /* the manager's */
};

AlkSandbox *alk_sandbox_new(const char *id, const char *state_root, const char *run_root);
void alk_sandbox_free(AlkSandbox *sb);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkSandbox, alk_sandbox_free)

const char *alk_sandbox_state_name(AlkSandboxState state);
/* Whether the state machine allows from -> to. */
gboolean alk_sandbox_state_allowed(AlkSandboxState from, AlkSandboxState to);
/* Moves the sandbox on; FALSE (and no change) when not allowed. */
gboolean alk_sandbox_set_state(AlkSandbox *sb, AlkSandboxState to);
gboolean alk_sandbox_is_live(const AlkSandbox *sb);

/* A fresh random id. */
void alk_sandbox_new_id(char out[ALK_SANDBOX_ID_LEN + 1]);
/* The id of a domain name of ours, or NULL; ids, there as anywhere, are
 * checked with alk_sandbox_id_valid() (alk-name.h). */
const char *alk_sandbox_id_from_domain(const char *name);

/* The record as JSON text, and back (checked field by field). */
char *alk_sandbox_record_to_json(const AlkSandbox *sb);
gboolean alk_sandbox_record_from_json(AlkSandbox *sb, const char *json, GError **error);
