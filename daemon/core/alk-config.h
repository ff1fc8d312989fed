/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlockd's configuration: /etc/airlock/airlockd.conf (GKeyFile), groups [daemon]
 * and [api], and one group [profile:NAME] per profile. Every key is optional; built-in
 * defaults fill the rest. Anything unknown, mistyped or out of range is an
 * error naming "group.key", so a typo never silently loosens a limit. */
#pragma once

#include <glib.h>

#include "alk-name.h" /* ALK_PROFILE_NAME_MAX */

#define ALK_CONFIG_DEFAULT_PATH "/etc/airlock/airlockd.conf"

typedef enum {
	ALK_VIRT_AUTO, /* KVM if a probe boot proves it works, else QEMU TCG */
	ALK_VIRT_KVM,
	ALK_VIRT_QEMU,
} AlkVirtType;

typedef enum {
	ALK_NET_NONE, /* no NIC at all */
	ALK_NET_ISOLATED,
	ALK_NET_ALLOWLIST,
} AlkNetMode;

/* The screen sizes a sandbox's display may have (libvirt's video
 * <resolution>), whatever a profile says. */
#define ALK_DISPLAY_MIN_WIDTH 320
#define ALK_DISPLAY_MIN_HEIGHT 200
#define ALK_DISPLAY_MAX_WIDTH 3840
#define ALK_DISPLAY_MAX_HEIGHT 2160

/* What a profile lets a sandbox do with named volumes. */
typedef enum {
	ALK_VOLUMES_NONE,     /* attach none */
	ALK_VOLUMES_READONLY, /* read-only attachments only */
	ALK_VOLUMES_WRITABLE, /* read-only and writable ones */
} AlkVolumesMode;

/* AlkProfile.network_modes is a set of these bits. */
#define ALK_NET_FLAG(mode) (1u << (mode))

/* The limits of one environment tier: each default a request gets when it asks
 * for nothing, and the ceiling it may ask for at most. */
typedef struct {
	char *name;
	guint cpus;
	guint max_cpus;
	guint64 memory_mib;
	guint64 max_memory_mib;
	guint64 disk_mib;
	guint64 max_disk_mib;
	guint64 ttl_s;
	guint64 max_ttl_s;
	guint64 exec_timeout_s;
	guint64 max_exec_timeout_s;
	guint cpu_quota_pct;      /* share of one host CPU each vcpu may use, 1..100 */
	guint64 io_bytes_sec;     /* disk throughput; 0: unlimited */
	guint64 io_iops;          /* disk operations per second; 0: unlimited */
	guint64 output_cap_bytes; /* stdout + stderr kept per exec */
	guint max_execs;          /* concurrent execs per sandbox */
	guint network_modes;      /* ALK_NET_FLAG() set, never empty */
	gboolean allow_root;      /* execs may run as root (uid 0) */
	gboolean no_new_privs;    /* every exec gets no_new_privs, root's too */
	gboolean display;         /* a sandbox may ask for a screen (display: {width, height}) */
	guint max_display_width;  /* the largest screen it may ask for */
	guint max_display_height;
	gboolean root_readonly;    /* root: readonly (TRUE) or writable */
	guint64 workspace_mib;     /* a /workspace disk of this size; 0: none */
	guint64 max_workspace_mib; /* the largest one a request may ask for; 0: none at all */
	guint tmpfs_mib;           /* a read-only root's /tmp, /var/tmp and /run: each this size */
	AlkVolumesMode volumes;    /* which attachments of named volumes it allows */
} AlkProfile;

/* [api]: the REST server's sockets, credentials, limits and audit log. */
typedef struct {
	char *socket;                      /* the unix socket */
	char *socket_group;                /* its group (mode 0660): members may call the API */
	char *listen;                      /* "ADDRESS:PORT" for TCP with bearer tokens; "": none */
	char *tokens_file;                 /* API tokens for TCP callers */
	guint64 max_body_bytes;            /* JSON request bodies */
	guint64 max_file_bytes;            /* file uploads and downloads */
	guint64 max_buffered_output_bytes; /* unstreamed exec output kept, all execs */
	guint max_connections;             /* open client connections at once, per listener */
	/* shares of it (each at most the whole it is a share of, whatever it says) */
	guint max_connections_per_peer;     /* from one address (TCP) or uid (unix) */
	guint max_unauthenticated;          /* whose caller is not known yet */
	guint max_unauthenticated_per_peer; /* of those, from one peer */
	guint head_timeout_s;    /* to send the whole head while the caller is not known */
	guint request_timeout_s; /* to send a request head, or between body chunks */
	guint bash_timeout_s; /* /tools/anthropic: one bash tool command, then its shell restarts */
	char *audit_log;
	char *audit_head;
	char *audit_key; /* keyed chaining (HMAC-SHA256) with the key in this file; NULL: off */
} AlkApiConfig;

/* [network]: where networked sandboxes' uplinks go (network issue). */
typedef struct {
	char *egress_netns; /* namespace holding the egress; "": the host's own */
	char *uplink_cidr;  /* IPv4 pool cut into one /30 per allowlist sandbox */
	char *dns_upstream; /* IPv4 of the resolver's upstream; "": /etc/resolv.conf's first */
	char *deny;         /* more CIDRs never reachable (comma-separated): the LAN, say */
} AlkNetConfig;

/* A warm pool key: n booted, never used sandboxes of image under profile. */
typedef struct {
	char image[ALK_IMAGE_NAME_MAX + 1];
	char profile[ALK_PROFILE_NAME_MAX + 1];
	guint n;
} AlkPoolKey;

#define ALK_POOL_KEYS_MAX 16

/* [cluster]: this daemon as one node of many behind a proxy (docs/cluster.md). */
typedef struct {
	char *node;         /* two hex digits 01-ff: every sandbox id starts with them; "": alone */
	char *agent_listen; /* "ADDRESS:PORT" answering the proxy's agent-check; "": none */
	char *etcd;         /* "http://HOST:PORT,..." etcd's JSON gateway; "": no etcd */
	char *advertise;    /* the address the proxy reaches this node at; "": api.listen */
	guint lease_ttl_s;  /* the node's etcd lease */
} AlkClusterConfig;

typedef struct {
	char *libvirt_uri;
	AlkVirtType virt_type;
	guint max_sandboxes;
	char *state_dir;
	char *run_dir;
	char *image_dir;
	char *template_dir;
	/* TLS on api.listen: certificate and key (PEM); "" for both: plain HTTP.
	 * tls_client_ca: clients must show a certificate it signed (mutual TLS) */
	char *tls_cert;
	char *tls_key;
	char *tls_client_ca;
	guint boot_timeout_s;
	guint kvm_probe_timeout_s; /* virt_type=auto: how long a KVM test boot may take */
	char *default_profile;
	char *default_image;
	char *pool_spec;     /* "IMAGE/PROFILE:N,…" as written; "": no pool */
	GArray *pool;        /* AlkPoolKey, parsed from pool_spec */
	gboolean restore;    /* boot once, restore many (alk-manager-restore.c) */
	GPtrArray *profiles; /* AlkProfile *: development, staging, production, then custom
	                      * ones in name order */
	AlkApiConfig api;
	AlkNetConfig net;
	AlkClusterConfig cluster;
	guint host_cpus; /* online CPUs, read at load: no sandbox gets more CPU time */
} AlkConfig;

/* Loads path (NULL: ALK_CONFIG_DEFAULT_PATH). A missing file gives the built-in
 * defaults; any other failure, or an invalid file, is an error that names the
 * file and the key. */
AlkConfig *alk_config_load(const char *path, GError **error);

/* The same from text in memory (len -1: NUL-terminated). */
AlkConfig *alk_config_load_data(const char *data, gssize len, GError **error);

void alk_config_free(AlkConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkConfig, alk_config_free)

/* The profile called name, or NULL. */
const AlkProfile *alk_config_profile(const AlkConfig *config, const char *name);

/* TRUE if name is a valid profile or image name: [a-z0-9_-]{1,32}. */
gboolean alk_config_name_is_valid(const char *name);

const char *alk_virt_type_to_string(AlkVirtType type);
const char *alk_net_mode_to_string(AlkNetMode mode);
/* Splits an [api] listen value, "192.0.2.1:8420" or "[::1]:8420": an IP
 * address literal (no host names: nothing is resolved) and a port 1..65535. */
gboolean alk_config_parse_listen(const char *s, char **address, guint16 *port, GError **error);
/* Whether a valid listen value names a loopback address. */
gboolean alk_config_listen_is_loopback(const char *s);

const char *alk_volumes_mode_to_string(AlkVolumesMode mode);

/* Parses a root mode, "writable" or "readonly". */
gboolean alk_root_mode_from_string(const char *s, gboolean *readonly);

/* Parses "none", "isolated" or "allowlist". */
gboolean alk_net_mode_from_string(const char *s, AlkNetMode *out);
