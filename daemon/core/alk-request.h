/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A sandbox create request and the effective limits it resolves to under a
 * profile. A request may narrow a profile's limits, never widen them. Pure: no
 * I/O, so every rule is unit-tested. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "alk-config.h"
#include "alk-name.h" /* the label limits */

#define ALK_MEMORY_MIB_MIN 64
/* named volumes one sandbox may attach */
#define ALK_VOLUMES_PER_SANDBOX 8

/* One attachment of a named volume: plain data, copied into the record. */
typedef struct {
	char name[ALK_VOLUME_NAME_MAX + 1];
	char path[256]; /* where the guest mounts it: alk_proto_mount_path_valid() */
	gboolean readonly;
} AlkVolumeAttach;
/* ext4 with a journal wants a few MiB at least */
#define ALK_WORKSPACE_MIB_MIN 16

/* memtune hard_limit caps the whole QEMU process, not just guest RAM: QEMU's
 * own heap, device state, the TCG translation cache and the pages of the
 * kernel/initrd it loads come on top. Too tight and the kernel OOM-kills QEMU
 * (a "crash" the guest never caused); 256 MiB covers QEMU 7.2 with our small
 * device set. TCG's code cache (tb-size) must stay below it: cap it in the
 * domain XML rather than raise this. */
#define ALK_QEMU_OVERHEAD_MIB 256

/* POST /v1/sandboxes. 0 or NULL: the profile's (or the daemon's) default. */
typedef struct {
	char *image;   /* NULL: the daemon's default_image */
	char *profile; /* NULL: the daemon's default_profile */
	guint64 cpus;
	guint64 memory_mib;
	guint64 disk_mib;
	guint64 ttl_s;
	AlkNetMode network;    /* ALK_NET_NONE unless asked */
	char **allow;          /* allowlist entries (network issue); NULL: none */
	GHashTable *labels;    /* string -> string; NULL: none */
	guint64 display_width; /* display: {width, height}; 0: no display */
	guint64 display_height;
	char *root;            /* "writable" or "readonly"; NULL: the profile's */
	guint64 workspace_mib; /* 0: the profile's; ALK_WORKSPACE_NONE: no workspace */
	char **readonly_paths; /* bound read-only in the guest; NULL: none */
	AlkVolumeAttach volumes[ALK_VOLUMES_PER_SANDBOX];
	guint nvolumes;
} AlkSandboxRequest;

/* A request's workspace_mib: 0 in JSON, no workspace. */
#define ALK_WORKSPACE_NONE G_MAXUINT64

/* What a sandbox gets: plain data, so it can be copied into the sandbox record. */
typedef struct {
	char profile[ALK_PROFILE_NAME_MAX + 1];
	guint cpus;
	guint64 memory_mib;
	guint64 hard_limit_mib; /* memory_mib + ALK_QEMU_OVERHEAD_MIB */
	guint64 disk_mib;
	guint cpu_quota_pct;
	guint64 io_bytes_sec; /* 0: unlimited */
	guint64 io_iops;      /* 0: unlimited */
	guint64 ttl_s;
	guint64 max_ttl_s;      /* ceiling for a later POST .../ttl */
	guint64 exec_timeout_s; /* for an exec that names no timeout */
	guint64 max_exec_timeout_s;
	guint64 output_cap_bytes;
	guint max_execs;
	AlkNetMode network;
	guint display_width; /* the screen's mode offered to the guest; 0: no display */
	guint display_height;
	gboolean root_readonly; /* / read-only in the guest, tmpfs of tmpfs_mib on /tmp, /run,
	                           /var/tmp */
	guint tmpfs_mib;
	guint64 workspace_mib; /* a disk at /workspace; 0: none */
} AlkLimits;

void alk_request_clear(AlkSandboxRequest *req);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AlkSandboxRequest, alk_request_clear)

/* Reads the DESIGN.md body {image, profile, cpus, memory_mib, disk_mib,
 * network:{mode, allow:[...]}, ttl_s, labels:{}, display:{width, height}} into *out
 * (ALK_ERROR_INVALID), which it overwrites: pass a zeroed or cleared request. Only the shape and
 * plain ranges are checked here; alk_request_resolve() applies the profile. */
gboolean alk_request_from_json(JsonObject *obj, AlkSandboxRequest *out, GError **error);

/* Checks req against its profile and fills *out with the effective limits.
 * ALK_ERROR_NOT_FOUND: no such profile. ALK_ERROR_LIMIT: a value above the
 * profile's ceiling, or a network mode the profile does not allow; the message
 * names the limit. ALK_ERROR_INVALID: bad labels, too little memory, a network
 * mode not supported yet. */
/* Adds the limits a client sees (cpus … max_execs) to the object b is in. */
void alk_limits_add_json(JsonBuilder *b, const AlkLimits *limits);

gboolean alk_request_resolve(const AlkConfig *config, const AlkSandboxRequest *req, AlkLimits *out,
                             GError **error);

/* A later POST /v1/sandboxes/{id}/ttl: ALK_ERROR_LIMIT above limits->max_ttl_s. */
gboolean alk_limits_check_ttl(const AlkLimits *limits, guint64 ttl_s, GError **error);

/* An exec's timeout: 0 gives limits->exec_timeout_s; above
 * limits->max_exec_timeout_s is ALK_ERROR_LIMIT. */
gboolean alk_limits_exec_timeout(const AlkLimits *limits, guint64 requested, guint64 *out,
                                 GError **error);
