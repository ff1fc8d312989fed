/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-config.h"

#include <gio/gio.h>
#include <stdarg.h>
#include <string.h>

#include "alk-error.h"
#include "alk-name.h"

#ifndef ALK_DATADIR
#define ALK_DATADIR "/usr/local/share/airlock"
#endif

#define ALL_NETS                                                                                   \
	(ALK_NET_FLAG(ALK_NET_NONE) | ALK_NET_FLAG(ALK_NET_ISOLATED) |                             \
	 ALK_NET_FLAG(ALK_NET_ALLOWLIST))
#define MIB (1024 * 1024)

/* The built-in tiers. production is also where a custom profile starts, so a
 * key a custom profile leaves out is never looser than the strictest tier. */
static const AlkProfile builtin_profiles[] = {
    {
        .name = (char *)"development",
        .cpus = 1,
        .max_cpus = 4,
        .memory_mib = 512,
        .max_memory_mib = 4096,
        .disk_mib = 2048,
        .max_disk_mib = 16384,
        .ttl_s = 3600,
        .max_ttl_s = 86400,
        .exec_timeout_s = 600,
        .max_exec_timeout_s = 3600,
        .cpu_quota_pct = 100,
        .io_bytes_sec = 0,
        .io_iops = 0,
        .output_cap_bytes = 64 * MIB,
        .max_execs = 16,
        .network_modes = ALL_NETS,
        .allow_root = TRUE,
        .display = TRUE,
        .max_display_width = 1920,
        .max_display_height = 1200,
        .max_workspace_mib = 16384,
        .tmpfs_mib = 256,
        .volumes = ALK_VOLUMES_WRITABLE,
    },
    {
        .name = (char *)"staging",
        .cpus = 1,
        .max_cpus = 2,
        .memory_mib = 512,
        .max_memory_mib = 2048,
        .disk_mib = 2048,
        .max_disk_mib = 8192,
        .ttl_s = 1800,
        .max_ttl_s = 14400,
        .exec_timeout_s = 300,
        .max_exec_timeout_s = 1800,
        .cpu_quota_pct = 75,
        .io_bytes_sec = 200 * MIB,
        .io_iops = 4000,
        .output_cap_bytes = 32 * MIB,
        .max_execs = 12,
        .network_modes = ALL_NETS,
        .allow_root = TRUE,
        .display = TRUE,
        .max_display_width = 1920,
        .max_display_height = 1200,
        .max_workspace_mib = 8192,
        .tmpfs_mib = 128,
        .volumes = ALK_VOLUMES_WRITABLE,
    },
    {
        .name = (char *)"production",
        .cpus = 1,
        .max_cpus = 2,
        .memory_mib = 512,
        .max_memory_mib = 2048,
        .disk_mib = 1024,
        .max_disk_mib = 4096,
        .ttl_s = 900,
        .max_ttl_s = 3600,
        .exec_timeout_s = 300,
        .max_exec_timeout_s = 900,
        .cpu_quota_pct = 50,
        .io_bytes_sec = 100 * MIB,
        .io_iops = 2000,
        .output_cap_bytes = 16 * MIB,
        .max_execs = 8,
        .network_modes = ALK_NET_FLAG(ALK_NET_NONE),
        .allow_root = FALSE,
        .no_new_privs = TRUE,
        .display = FALSE,
        .max_display_width = 1280,
        .max_display_height = 800,
        .root_readonly = TRUE,
        .workspace_mib = 1024,
        .max_workspace_mib = 4096,
        .tmpfs_mib = 64,
        .volumes = ALK_VOLUMES_READONLY,
    },
};

typedef enum {
	KEY_STRING,    /* char *, min..max bytes */
	KEY_PATH,      /* char *, absolute, at most max bytes */
	KEY_NAME,      /* char *, [a-z0-9_-]{1,32} */
	KEY_UINT,      /* guint, min..max */
	KEY_UINT64,    /* guint64, min..max */
	KEY_VIRT_TYPE, /* AlkVirtType */
	KEY_NET_MODES, /* guint, ALK_NET_FLAG() set */
	KEY_BOOL,      /* gboolean, true or false */
	KEY_ACCOUNT,   /* char *, a user or group name: [a-z_][a-z0-9_-]{0,31} */
	KEY_LISTEN,    /* char *, "" or what alk_config_parse_listen() takes */
	KEY_ROOT,      /* gboolean root_readonly: "writable" or "readonly" */
	KEY_VOLUMES,   /* AlkVolumesMode: "none", "readonly" or "writable" */
} AlkKeyType;

typedef struct {
	const char *name;
	AlkKeyType type;
	gsize offset;
	guint64 min;
	guint64 max;
} AlkConfigKey;

#define D(member) G_STRUCT_OFFSET(AlkConfig, member)
static const AlkConfigKey daemon_keys[] = {
    {"libvirt_uri", KEY_STRING, D(libvirt_uri), 1, 1024},
    {"virt_type", KEY_VIRT_TYPE, D(virt_type), 0, 0},
    {"max_sandboxes", KEY_UINT, D(max_sandboxes), 1, 1024},
    {"state_dir", KEY_PATH, D(state_dir), 0, 256},
    /* Agent sockets live at run_dir/sandboxes/<12 hex>/agent.sock, 34 bytes more,
     * and DESIGN.md keeps them under 100 bytes (sun_path holds 108). */
    {"run_dir", KEY_PATH, D(run_dir), 0, 64},
    {"image_dir", KEY_PATH, D(image_dir), 0, 256},
    {"template_dir", KEY_PATH, D(template_dir), 0, 256},
    {"tls_cert", KEY_PATH, D(tls_cert), 0, 256},
    {"tls_key", KEY_PATH, D(tls_key), 0, 256},
    {"tls_client_ca", KEY_PATH, D(tls_client_ca), 0, 256},
    {"boot_timeout_s", KEY_UINT, D(boot_timeout_s), 5, 3600},
    {"kvm_probe_timeout_s", KEY_UINT, D(kvm_probe_timeout_s), 1, 600},
    {"default_profile", KEY_NAME, D(default_profile), 0, 0},
    {"default_image", KEY_NAME, D(default_image), 0, 0},
    /* its form is checked in check_pool() */
    {"pool", KEY_STRING, D(pool_spec), 0, 1024},
    {"restore", KEY_BOOL, D(restore), 0, 0},
    {NULL, 0, 0, 0, 0},
};

/* sun_path holds 108 bytes with the NUL */
static const AlkConfigKey api_keys[] = {
    {"socket", KEY_PATH, D(api.socket), 0, 107},
    {"socket_group", KEY_ACCOUNT, D(api.socket_group), 0, 0},
    {"listen", KEY_LISTEN, D(api.listen), 0, 0},
    {"tokens_file", KEY_PATH, D(api.tokens_file), 0, 256},
    {"max_body_bytes", KEY_UINT64, D(api.max_body_bytes), 1024, 256 * MIB},
    {"max_file_bytes", KEY_UINT64, D(api.max_file_bytes), 1, G_GUINT64_CONSTANT(1) << 40},
    {"max_buffered_output_bytes", KEY_UINT64, D(api.max_buffered_output_bytes), 1,
     G_GUINT64_CONSTANT(1) << 40},
    {"max_connections", KEY_UINT, D(api.max_connections), 1, 65536},
    {"max_connections_per_peer", KEY_UINT, D(api.max_connections_per_peer), 1, 65536},
    {"max_unauthenticated", KEY_UINT, D(api.max_unauthenticated), 1, 65536},
    {"max_unauthenticated_per_peer", KEY_UINT, D(api.max_unauthenticated_per_peer), 1, 65536},
    {"head_timeout_s", KEY_UINT, D(api.head_timeout_s), 1, 3600},
    {"request_timeout_s", KEY_UINT, D(api.request_timeout_s), 1, 3600},
    {"bash_timeout_s", KEY_UINT, D(api.bash_timeout_s), 1, 86400},
    {"audit_log", KEY_PATH, D(api.audit_log), 0, 256},
    {"audit_head", KEY_PATH, D(api.audit_head), 0, 256},
    {"audit_key", KEY_PATH, D(api.audit_key), 0, 256},
    {NULL, 0, 0, 0, 0},
};

/* the values' forms are checked in check_net() */
static const AlkConfigKey net_keys[] = {
    {"egress_netns", KEY_STRING, D(net.egress_netns), 0, 32},
    {"uplink_cidr", KEY_STRING, D(net.uplink_cidr), 9, 18},
    {"dns_upstream", KEY_STRING, D(net.dns_upstream), 0, 15},
    {"deny", KEY_STRING, D(net.deny), 0, 4096},
    {NULL, 0, 0, 0, 0},
};
/* node's form is checked in check_cluster() */
static const AlkConfigKey cluster_keys[] = {
    {"node", KEY_STRING, D(cluster.node), 0, 2},
    {"agent_listen", KEY_LISTEN, D(cluster.agent_listen), 0, 0},
    {"etcd", KEY_STRING, D(cluster.etcd), 0, 1024},
    {"advertise", KEY_STRING, D(cluster.advertise), 0, 256},
    {"lease_ttl_s", KEY_UINT, D(cluster.lease_ttl_s), 3, 600},
    {NULL, 0, 0, 0, 0},
};
#undef D

/* Ranges are sanity bounds; the real guard is each default <= its ceiling. */
#define P(member) G_STRUCT_OFFSET(AlkProfile, member)
static const AlkConfigKey profile_keys[] = {
    {"cpus", KEY_UINT, P(cpus), 1, 64},
    {"max_cpus", KEY_UINT, P(max_cpus), 1, 64},
    {"memory_mib", KEY_UINT64, P(memory_mib), 64, 1048576},
    {"max_memory_mib", KEY_UINT64, P(max_memory_mib), 64, 1048576},
    {"disk_mib", KEY_UINT64, P(disk_mib), 16, 16777216},
    {"max_disk_mib", KEY_UINT64, P(max_disk_mib), 16, 16777216},
    {"ttl_s", KEY_UINT64, P(ttl_s), 1, 31536000},
    {"max_ttl_s", KEY_UINT64, P(max_ttl_s), 1, 31536000},
    {"exec_timeout_s", KEY_UINT64, P(exec_timeout_s), 1, 604800},
    {"max_exec_timeout_s", KEY_UINT64, P(max_exec_timeout_s), 1, 604800},
    {"cpu_quota_pct", KEY_UINT, P(cpu_quota_pct), 1, 100},
    {"io_bytes_sec", KEY_UINT64, P(io_bytes_sec), 0, G_GUINT64_CONSTANT(1) << 40},
    {"io_iops", KEY_UINT64, P(io_iops), 0, 10000000},
    {"output_cap_bytes", KEY_UINT64, P(output_cap_bytes), 1024, 1024 * MIB},
    {"max_execs", KEY_UINT, P(max_execs), 1, 1024},
    {"network_modes", KEY_NET_MODES, P(network_modes), 0, 0},
    {"allow_root", KEY_BOOL, P(allow_root), 0, 0},
    {"no_new_privs", KEY_BOOL, P(no_new_privs), 0, 0},
    {"display", KEY_BOOL, P(display), 0, 0},
    {"max_display_width", KEY_UINT, P(max_display_width), ALK_DISPLAY_MIN_WIDTH,
     ALK_DISPLAY_MAX_WIDTH},
    {"max_display_height", KEY_UINT, P(max_display_height), ALK_DISPLAY_MIN_HEIGHT,
     ALK_DISPLAY_MAX_HEIGHT},
    {"root", KEY_ROOT, P(root_readonly), 0, 0},
    {"workspace_mib", KEY_UINT64, P(workspace_mib), 0, 16777216},
    {"max_workspace_mib", KEY_UINT64, P(max_workspace_mib), 0, 16777216},
    /* ALK_FS_TMPFS_MIB_MAX of the protocol */
    {"tmpfs_mib", KEY_UINT, P(tmpfs_mib), 1, 65536},
    {"volumes", KEY_VOLUMES, P(volumes), 0, 0},
    {NULL, 0, 0, 0, 0},
};

/* Each default and the ceiling it must not pass. */
static const struct {
	gsize value;
	gsize ceiling;
	AlkKeyType type;
	const char *name;
	const char *ceiling_name;
} profile_pairs[] = {
    {P(cpus), P(max_cpus), KEY_UINT, "cpus", "max_cpus"},
    {P(memory_mib), P(max_memory_mib), KEY_UINT64, "memory_mib", "max_memory_mib"},
    {P(disk_mib), P(max_disk_mib), KEY_UINT64, "disk_mib", "max_disk_mib"},
    {P(ttl_s), P(max_ttl_s), KEY_UINT64, "ttl_s", "max_ttl_s"},
    {P(exec_timeout_s), P(max_exec_timeout_s), KEY_UINT64, "exec_timeout_s", "max_exec_timeout_s"},
    {P(workspace_mib), P(max_workspace_mib), KEY_UINT64, "workspace_mib", "max_workspace_mib"},
};
#undef P

static const char *const virt_type_names[] = {"auto", "kvm", "qemu"};
static const char *const net_mode_names[] = {"none", "isolated", "allowlist"};
static const char *const volumes_mode_names[] = {"none", "readonly", "writable"};

const char *alk_volumes_mode_to_string(AlkVolumesMode mode)
{
	return (guint)mode < G_N_ELEMENTS(volumes_mode_names) ? volumes_mode_names[mode]
	                                                      : "unknown";
}

const char *alk_virt_type_to_string(AlkVirtType type)
{
	return (guint)type < G_N_ELEMENTS(virt_type_names) ? virt_type_names[type] : "unknown";
}

const char *alk_net_mode_to_string(AlkNetMode mode)
{
	return (guint)mode < G_N_ELEMENTS(net_mode_names) ? net_mode_names[mode] : "unknown";
}

gboolean alk_net_mode_from_string(const char *s, AlkNetMode *out)
{
	for (guint i = 0; i < G_N_ELEMENTS(net_mode_names); i++) {
		if (g_strcmp0(s, net_mode_names[i]) == 0) {
			*out = (AlkNetMode)i;
			return TRUE;
		}
	}
	return FALSE;
}

static gboolean account_is_valid(const char *name)
{
	gsize len = strlen(name);

	if (len == 0 || len > 32 || !(g_ascii_islower(name[0]) || name[0] == '_'))
		return FALSE;
	for (gsize i = 1; i < len; i++) {
		char c = name[i];
		if (!g_ascii_islower(c) && !g_ascii_isdigit(c) && c != '_' && c != '-')
			return FALSE;
	}
	return TRUE;
}

gboolean alk_config_listen_is_loopback(const char *s)
{
	g_autofree char *address = NULL;
	g_autoptr(GInetAddress) inet = NULL;
	guint16 port = 0;

	if (!alk_config_parse_listen(s, &address, &port, NULL))
		return FALSE;
	inet = g_inet_address_new_from_string(address);
	return inet != NULL && g_inet_address_get_is_loopback(inet);
}

gboolean alk_config_parse_listen(const char *s, char **address, guint16 *port, GError **error)
{
	g_autofree char *host = NULL;
	g_autoptr(GInetAddress) inet = NULL;
	const char *colon = strrchr(s, ':');
	guint64 p = 0;

	if (colon == NULL || !g_ascii_string_to_unsigned(colon + 1, 10, 1, 65535, &p, NULL)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "'%s' is not ADDRESS:PORT with a port 1..65535", s);
		return FALSE;
	}
	host = g_strndup(s, colon - s);
	if (host[0] == '[' && g_str_has_suffix(host, "]")) {
		char *inner = g_strndup(host + 1, strlen(host) - 2);
		g_free(host);
		host = inner;
	} else if (strchr(host, ':') != NULL) {
		host[0] = '\0'; /* an IPv6 address needs its brackets */
	}
	inet = g_inet_address_new_from_string(host);
	if (inet == NULL) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "'%s' is not an IP address (write [::1]:PORT for IPv6; host names are "
		            "not resolved)",
		            s);
		return FALSE;
	}
	*address = g_steal_pointer(&host);
	*port = (guint16)p;
	return TRUE;
}

gboolean alk_config_name_is_valid(const char *name)
{
	return alk_name_is_valid(name, ALK_PROFILE_NAME_MAX);
}

static void profile_free(gpointer data)
{
	AlkProfile *p = data;

	if (p == NULL)
		return;
	g_free(p->name);
	g_free(p);
}

static AlkProfile *profile_copy(const AlkProfile *from, const char *name)
{
	AlkProfile *p = g_memdup2(from, sizeof *p);

	p->name = g_strdup(name);
	return p;
}

void alk_config_free(AlkConfig *c)
{
	if (c == NULL)
		return;
	g_free(c->libvirt_uri);
	g_free(c->state_dir);
	g_free(c->run_dir);
	g_free(c->image_dir);
	g_free(c->template_dir);
	g_free(c->tls_cert);
	g_free(c->tls_key);
	g_free(c->tls_client_ca);
	g_free(c->default_profile);
	g_free(c->default_image);
	g_free(c->pool_spec);
	g_free(c->cluster.node);
	g_free(c->cluster.agent_listen);
	g_free(c->cluster.etcd);
	g_free(c->cluster.advertise);
	g_clear_pointer(&c->pool, g_array_unref);
	g_free(c->api.socket);
	g_free(c->api.socket_group);
	g_free(c->api.listen);
	g_free(c->api.tokens_file);
	g_free(c->api.audit_log);
	g_free(c->api.audit_head);
	g_free(c->api.audit_key);
	g_free(c->net.egress_netns);
	g_free(c->net.uplink_cidr);
	g_free(c->net.dns_upstream);
	g_free(c->net.deny);
	g_clear_pointer(&c->profiles, g_ptr_array_unref);
	g_free(c);
}

static AlkConfig *config_new_default(void)
{
	AlkConfig *c = g_new0(AlkConfig, 1);

	c->libvirt_uri = g_strdup("qemu:///system");
	c->virt_type = ALK_VIRT_AUTO;
	c->max_sandboxes = 16;
	c->pool_spec = g_strdup("");
	c->cluster.node = g_strdup("");
	c->cluster.agent_listen = g_strdup("");
	c->cluster.etcd = g_strdup("");
	c->cluster.advertise = g_strdup("");
	c->cluster.lease_ttl_s = 10;
	c->pool = g_array_new(FALSE, TRUE, sizeof(AlkPoolKey));
	c->host_cpus = g_get_num_processors();
	c->state_dir = g_strdup("/var/lib/airlock");
	c->run_dir = g_strdup("/run/airlock");
	c->image_dir = g_strdup("/var/lib/airlock/images");
	c->template_dir = g_strdup(ALK_DATADIR "/xml-templates");
	c->tls_cert = g_strdup("");
	c->tls_key = g_strdup("");
	c->tls_client_ca = g_strdup("");
	c->boot_timeout_s = 120;
	c->kvm_probe_timeout_s = 20;
	c->default_profile = g_strdup("development");
	c->default_image = g_strdup("minimal");
	c->api.socket = g_strdup("/run/airlock/api.sock");
	c->api.socket_group = g_strdup("airlock");
	c->api.listen = g_strdup("");
	c->api.tokens_file = g_strdup("/etc/airlock/tokens");
	c->api.max_body_bytes = 8 * MIB;
	c->api.max_file_bytes = 1024 * MIB;
	c->api.max_buffered_output_bytes = 512 * MIB;
	c->api.max_connections = 64;
	c->api.max_connections_per_peer = 32;
	c->api.max_unauthenticated = 16;
	c->api.max_unauthenticated_per_peer = 8;
	c->api.head_timeout_s = 10;
	c->api.request_timeout_s = 30;
	c->api.bash_timeout_s = 120;
	c->api.audit_log = g_strdup("/var/lib/airlock/audit.jsonl");
	c->api.audit_head = g_strdup("/var/lib/airlock/audit.head");
	c->net.egress_netns = g_strdup("");
	c->net.uplink_cidr = g_strdup("10.253.0.0/16");
	c->net.dns_upstream = g_strdup("");
	c->net.deny = g_strdup("");
	c->profiles = g_ptr_array_new_with_free_func(profile_free);
	for (guint i = 0; i < G_N_ELEMENTS(builtin_profiles); i++)
		g_ptr_array_add(c->profiles,
		                profile_copy(&builtin_profiles[i], builtin_profiles[i].name));
	return c;
}

const AlkProfile *alk_config_profile(const AlkConfig *c, const char *name)
{
	for (guint i = 0; i < c->profiles->len; i++) {
		const AlkProfile *p = g_ptr_array_index(c->profiles, i);
		if (g_strcmp0(p->name, name) == 0)
			return p;
	}
	return NULL;
}

/* ---- reading keys --------------------------------------------------------------------------- */

G_GNUC_PRINTF(4, 5)
static gboolean key_error(GError **error, const char *group, const char *key, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	g_autofree char *msg = g_strdup_vprintf(fmt, args);
	va_end(args);
	g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "%s.%s: %s", group, key, msg);
	return FALSE;
}

static gboolean read_uint(GKeyFile *kf, const char *group, const AlkConfigKey *k, guint64 *out,
                          GError **error)
{
	g_autofree char *raw = g_key_file_get_value(kf, group, k->name, NULL);
	g_autoptr(GError) local = NULL;
	guint64 v = 0;

	g_strstrip(raw);
	if (!g_ascii_string_to_unsigned(raw, 10, k->min, k->max, &v, &local)) {
		gboolean bounds = g_error_matches(local, G_NUMBER_PARSER_ERROR,
		                                  G_NUMBER_PARSER_ERROR_OUT_OF_BOUNDS);
		return key_error(error, group, k->name,
		                 "'%s' is %s, allowed %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT,
		                 raw, bounds ? "out of range" : "not a whole number", k->min,
		                 k->max);
	}
	*out = v;
	return TRUE;
}

static gboolean check_string(const char *group, const AlkConfigKey *k, const char *s,
                             GError **error)
{
	gsize len = strlen(s);

	for (const char *p = s; *p != '\0'; p++) {
		if ((guchar)*p < 0x20 || *p == 0x7f)
			return key_error(error, group, k->name, "control character in the value");
	}
	if (k->type == KEY_NAME && !alk_config_name_is_valid(s))
		return key_error(error, group, k->name, "'%s' is not a name of [a-z0-9_-]{1,%d}", s,
		                 ALK_PROFILE_NAME_MAX);
	if (k->type == KEY_PATH && s[0] != '/')
		return key_error(error, group, k->name, "'%s' is not an absolute path", s);
	if (k->type == KEY_ACCOUNT && !account_is_valid(s))
		return key_error(error, group, k->name, "'%s' is not a user or group name", s);
	if (k->type == KEY_LISTEN && len > 0) {
		g_autofree char *address = NULL;
		g_autoptr(GError) local = NULL;
		guint16 port = 0;
		if (!alk_config_parse_listen(s, &address, &port, &local))
			return key_error(error, group, k->name, "%s", local->message);
	}
	if ((k->type == KEY_STRING || k->type == KEY_PATH) && (len < k->min || len > k->max))
		return key_error(error, group, k->name,
		                 "value has %" G_GSIZE_FORMAT " bytes, allowed %" G_GUINT64_FORMAT
		                 "..%" G_GUINT64_FORMAT,
		                 len, MAX(k->min, 1), k->max);
	return TRUE;
}

static gboolean read_string(GKeyFile *kf, const char *group, const AlkConfigKey *k, char **out,
                            GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autofree char *s = g_key_file_get_string(kf, group, k->name, &local);

	if (s == NULL)
		return key_error(error, group, k->name, "%s", local->message);
	g_strstrip(s);
	if (!check_string(group, k, s, error))
		return FALSE;
	g_free(*out);
	*out = g_steal_pointer(&s);
	return TRUE;
}

static gboolean read_virt_type(GKeyFile *kf, const char *group, const AlkConfigKey *k,
                               AlkVirtType *out, GError **error)
{
	g_autofree char *raw = g_key_file_get_value(kf, group, k->name, NULL);

	g_strstrip(raw);
	for (guint i = 0; i < G_N_ELEMENTS(virt_type_names); i++) {
		if (g_strcmp0(raw, virt_type_names[i]) == 0) {
			*out = (AlkVirtType)i;
			return TRUE;
		}
	}
	return key_error(error, group, k->name, "'%s' is not one of auto, kvm, qemu", raw);
}

static gboolean read_net_modes(GKeyFile *kf, const char *group, const AlkConfigKey *k, guint *out,
                               GError **error)
{
	g_auto(GStrv) list = g_key_file_get_string_list(kf, group, k->name, NULL, NULL);
	guint set = 0;

	for (guint i = 0; list != NULL && list[i] != NULL; i++) {
		AlkNetMode mode = ALK_NET_NONE;
		g_strstrip(list[i]);
		if (!alk_net_mode_from_string(list[i], &mode))
			return key_error(error, group, k->name,
			                 "'%s' is not one of none, isolated, allowlist", list[i]);
		set |= ALK_NET_FLAG(mode);
	}
	if (set == 0)
		return key_error(error, group, k->name,
		                 "needs at least one of none, isolated, allowlist");
	*out = set;
	return TRUE;
}

static gboolean read_bool(GKeyFile *kf, const char *group, const AlkConfigKey *k, gboolean *out,
                          GError **error)
{
	g_autofree char *text = g_key_file_get_value(kf, group, k->name, NULL);

	if (g_strcmp0(text, "true") == 0)
		*out = TRUE;
	else if (g_strcmp0(text, "false") == 0)
		*out = FALSE;
	else {
		g_autofree char *shown = g_strescape(text != NULL ? text : "", NULL);
		return key_error(error, group, k->name, "'%s' is not true or false", shown);
	}
	return TRUE;
}

static gboolean read_root(GKeyFile *kf, const char *group, const AlkConfigKey *k, gboolean *out,
                          GError **error)
{
	g_autofree char *text = g_key_file_get_value(kf, group, k->name, NULL);

	g_strstrip(text);
	if (!alk_root_mode_from_string(text, out)) {
		g_autofree char *shown = g_strescape(text, NULL);
		return key_error(error, group, k->name, "'%s' is not writable or readonly", shown);
	}
	return TRUE;
}

static gboolean read_volumes(GKeyFile *kf, const char *group, const AlkConfigKey *k,
                             AlkVolumesMode *out, GError **error)
{
	g_autofree char *raw = g_key_file_get_value(kf, group, k->name, NULL);

	g_strstrip(raw);
	for (guint i = 0; i < G_N_ELEMENTS(volumes_mode_names); i++) {
		if (g_strcmp0(raw, volumes_mode_names[i]) == 0) {
			*out = (AlkVolumesMode)i;
			return TRUE;
		}
	}
	g_autofree char *shown = g_strescape(raw, NULL);
	return key_error(error, group, k->name, "'%s' is not one of none, readonly, writable",
	                 shown);
}

gboolean alk_root_mode_from_string(const char *s, gboolean *readonly)
{
	if (g_strcmp0(s, "readonly") == 0)
		*readonly = TRUE;
	else if (g_strcmp0(s, "writable") == 0)
		*readonly = FALSE;
	else
		return FALSE;
	return TRUE;
}

static gboolean read_key(GKeyFile *kf, const char *group, const AlkConfigKey *k, gpointer target,
                         GError **error)
{
	gpointer dest = G_STRUCT_MEMBER_P(target, k->offset);
	guint64 v = 0;

	switch (k->type) {
	case KEY_STRING:
	case KEY_PATH:
	case KEY_NAME:
	case KEY_ACCOUNT:
	case KEY_LISTEN:
		return read_string(kf, group, k, dest, error);
	case KEY_UINT:
		if (!read_uint(kf, group, k, &v, error))
			return FALSE;
		*(guint *)dest = (guint)v;
		return TRUE;
	case KEY_UINT64:
		return read_uint(kf, group, k, dest, error);
	case KEY_VIRT_TYPE:
		return read_virt_type(kf, group, k, dest, error);
	case KEY_NET_MODES:
		return read_net_modes(kf, group, k, dest, error);
	case KEY_BOOL:
		return read_bool(kf, group, k, dest, error);
	case KEY_ROOT:
		return read_root(kf, group, k, dest, error);
	case KEY_VOLUMES:
		return read_volumes(kf, group, k, dest, error);
	default:
		g_assert_not_reached();
	}
}

static const AlkConfigKey *find_key(const AlkConfigKey *keys, const char *name)
{
	for (const AlkConfigKey *k = keys; k->name != NULL; k++) {
		if (g_strcmp0(k->name, name) == 0)
			return k;
	}
	return NULL;
}

/* GKeyFile keeps every copy of a repeated key (and merges repeated groups) but
 * returns only the last: a repeat is refused rather than half-honoured. */
static gboolean read_group(GKeyFile *kf, const char *group, const AlkConfigKey *keys,
                           gpointer target, GError **error)
{
	g_auto(GStrv) names = g_key_file_get_keys(kf, group, NULL, NULL);
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

	for (guint i = 0; names != NULL && names[i] != NULL; i++) {
		const AlkConfigKey *k = find_key(keys, names[i]);
		if (k == NULL)
			return key_error(error, group, names[i], "unknown key");
		if (!g_hash_table_add(seen, names[i]))
			return key_error(error, group, names[i], "set more than once");
		if (!read_key(kf, group, k, target, error))
			return FALSE;
	}
	return TRUE;
}

/* ---- groups and checks ---------------------------------------------------------------------- */

static AlkProfile *profile_for_group(AlkConfig *c, const char *group, GError **error)
{
	const char *name = group + strlen("profile:");
	AlkProfile *p = (AlkProfile *)alk_config_profile(c, name);

	if (!alk_config_name_is_valid(name)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "[%s]: profile names are [a-z0-9_-]{1,%d}", group,
		            ALK_PROFILE_NAME_MAX);
		return NULL;
	}
	if (p == NULL) {
		p = profile_copy(&builtin_profiles[G_N_ELEMENTS(builtin_profiles) - 1], name);
		g_ptr_array_add(c->profiles, p);
	}
	return p;
}

static gboolean read_groups(GKeyFile *kf, AlkConfig *c, GError **error)
{
	g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);

	for (guint i = 0; groups[i] != NULL; i++) {
		if (g_strcmp0(groups[i], "daemon") == 0) {
			if (!read_group(kf, groups[i], daemon_keys, c, error))
				return FALSE;
		} else if (g_strcmp0(groups[i], "api") == 0) {
			if (!read_group(kf, groups[i], api_keys, c, error))
				return FALSE;
		} else if (g_strcmp0(groups[i], "network") == 0) {
			if (!read_group(kf, groups[i], net_keys, c, error))
				return FALSE;
		} else if (g_strcmp0(groups[i], "cluster") == 0) {
			if (!read_group(kf, groups[i], cluster_keys, c, error))
				return FALSE;
		} else if (g_str_has_prefix(groups[i], "profile:")) {
			AlkProfile *p = profile_for_group(c, groups[i], error);
			if (p == NULL || !read_group(kf, groups[i], profile_keys, p, error))
				return FALSE;
		} else {
			g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
			            "[%s]: unknown group (expected [daemon], [api], [network], "
			            "[cluster] or [profile:NAME])",
			            groups[i]);
			return FALSE;
		}
	}
	return TRUE;
}

static guint64 field_u64(const AlkProfile *p, gsize offset, AlkKeyType type)
{
	gconstpointer at = G_STRUCT_MEMBER_P(p, offset);

	return type == KEY_UINT ? *(const guint *)at : *(const guint64 *)at;
}

static gboolean check_profile(const AlkProfile *p, GError **error)
{
	for (guint i = 0; i < G_N_ELEMENTS(profile_pairs); i++) {
		guint64 v = field_u64(p, profile_pairs[i].value, profile_pairs[i].type);
		guint64 ceiling = field_u64(p, profile_pairs[i].ceiling, profile_pairs[i].type);
		if (v > ceiling) {
			g_autofree char *group = g_strconcat("profile:", p->name, NULL);
			return key_error(error, group, profile_pairs[i].name,
			                 "default %" G_GUINT64_FORMAT
			                 " is above %s %" G_GUINT64_FORMAT,
			                 v, profile_pairs[i].ceiling_name, ceiling);
		}
	}
	return TRUE;
}

static gint compare_profiles(gconstpointer a, gconstpointer b)
{
	const AlkProfile *pa = *(AlkProfile *const *)a;
	const AlkProfile *pb = *(AlkProfile *const *)b;
	guint ra = G_N_ELEMENTS(builtin_profiles);
	guint rb = G_N_ELEMENTS(builtin_profiles);

	for (guint i = 0; i < G_N_ELEMENTS(builtin_profiles); i++) {
		if (g_strcmp0(pa->name, builtin_profiles[i].name) == 0)
			ra = i;
		if (g_strcmp0(pb->name, builtin_profiles[i].name) == 0)
			rb = i;
	}
	return ra != rb ? (gint)ra - (gint)rb : g_strcmp0(pa->name, pb->name);
}

static gboolean net_error(GError **error, const char *key, const char *value, const char *what)
{
	g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "network.%s: '%s' is not %s", key, value,
	            what);
	return FALSE;
}

static gboolean ipv4_mask(const char *s, guint min_len, guint max_len)
{
	g_autoptr(GInetAddressMask) m = g_inet_address_mask_new_from_string(s, NULL);

	return m != NULL && g_inet_address_mask_get_family(m) == G_SOCKET_FAMILY_IPV4 &&
	       g_inet_address_mask_get_length(m) >= min_len &&
	       g_inet_address_mask_get_length(m) <= max_len;
}

static gboolean check_net(const AlkNetConfig *n, GError **error)
{
	const char *e = n->egress_netns;
	g_auto(GStrv) deny = g_strsplit(n->deny, ",", 65);
	g_autoptr(GInetAddress) dns = NULL;

	/* ip(8) takes it as an argument: no option, no path */
	for (const char *p = e; *p != '\0'; p++) {
		if (!g_ascii_isalnum(*p) && *p != '_' && *p != '-')
			return net_error(error, "egress_netns", e,
			                 "a namespace name of [A-Za-z0-9_-]");
	}
	if (e[0] == '-' || (g_str_has_prefix(e, "al") && strlen(e) == 14))
		return net_error(error, "egress_netns", e, "allowed (reserved for sandboxes)");
	if (!ipv4_mask(n->uplink_cidr, 8, 24))
		return net_error(error, "uplink_cidr", n->uplink_cidr, "an IPv4 CIDR of /8../24");
	if (n->dns_upstream[0] != '\0') {
		dns = g_inet_address_new_from_string(n->dns_upstream);
		if (dns == NULL || g_inet_address_get_family(dns) != G_SOCKET_FAMILY_IPV4)
			return net_error(error, "dns_upstream", n->dns_upstream, "an IPv4 address");
	}
	if (g_strv_length(deny) > 64)
		return net_error(error, "deny", "...", "at most 64 CIDRs");
	for (guint i = 0; n->deny[0] != '\0' && deny[i] != NULL; i++) {
		g_strstrip(deny[i]);
		if (!ipv4_mask(deny[i], 0, 32))
			return net_error(error, "deny", deny[i], "an IPv4 CIDR");
	}
	return TRUE;
}

static gboolean pool_error(GError **error, const char *entry, const char *why)
{
	g_autofree char *shown = g_strescape(entry, NULL);

	g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "daemon.pool: '%s' %s", shown, why);
	return FALSE;
}

/* "IMAGE/PROFILE:N,…": each key once, a profile that exists, N from 1 and
 * all of them within max_sandboxes (members count against it). */
static gboolean check_pool(AlkConfig *c, GError **error)
{
	g_auto(GStrv) entries = g_strsplit(c->pool_spec, ",", -1);
	guint total = 0;

	g_array_set_size(c->pool, 0);
	for (guint i = 0; entries[i] != NULL; i++) {
		char *e = g_strstrip(entries[i]);
		const char *slash = strchr(e, '/');
		const char *colon = strrchr(e, ':');
		g_autofree char *image = NULL;
		g_autofree char *profile = NULL;
		AlkPoolKey key = {0};
		guint64 n = 0;

		if (e[0] == '\0' && entries[1] == NULL)
			break; /* pool = (empty): none */
		if (slash == NULL || colon == NULL || colon < slash)
			return pool_error(error, e, "is not IMAGE/PROFILE:N");
		image = g_strndup(e, (gsize)(slash - e));
		profile = g_strndup(slash + 1, (gsize)(colon - slash - 1));
		if (!alk_config_name_is_valid(image) || !alk_config_name_is_valid(profile))
			return pool_error(error, e,
			                  "names an invalid image or profile ([a-z0-9_-]{1,32})");
		if (alk_config_profile(c, profile) == NULL)
			return pool_error(error, e, "names no profile of this configuration");
		if (!g_ascii_string_to_unsigned(colon + 1, 10, 1, c->max_sandboxes, &n, NULL))
			return pool_error(error, e, "needs N between 1 and max_sandboxes");
		for (guint j = 0; j < c->pool->len; j++) {
			const AlkPoolKey *other = &g_array_index(c->pool, AlkPoolKey, j);
			if (strcmp(other->image, image) == 0 &&
			    strcmp(other->profile, profile) == 0)
				return pool_error(error, e, "repeats a key");
		}
		if (c->pool->len == ALK_POOL_KEYS_MAX)
			return pool_error(error, e, "is one key too many (16 at most)");
		g_strlcpy(key.image, image, sizeof(key.image));
		g_strlcpy(key.profile, profile, sizeof(key.profile));
		key.n = (guint)n;
		total += key.n;
		g_array_append_val(c->pool, key);
	}
	if (total > c->max_sandboxes) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "daemon.pool: %u pooled sandboxes, more than max_sandboxes (%u)", total,
		            c->max_sandboxes);
		return FALSE;
	}
	return TRUE;
}

/* Two lowercase hex digits, not 00 (an id's first byte must say a node). */
static gboolean check_cluster(const AlkClusterConfig *cl, GError **error)
{
	const char *n = cl->node;
	g_auto(GStrv) urls = NULL;

	if (n[0] == '\0') {
		if (cl->etcd[0] != '\0') {
			g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
			            "cluster.etcd needs cluster.node: a node registers by its tag");
			return FALSE;
		}
		return TRUE;
	}
	urls = g_strsplit(cl->etcd, ",", -1);
	for (guint i = 0; cl->etcd[0] != '\0' && urls[i] != NULL; i++) {
		g_autoptr(GUri) uri = g_uri_parse(g_strstrip(urls[i]), G_URI_FLAGS_NONE, NULL);
		if (uri == NULL ||
		    (g_strcmp0(g_uri_get_scheme(uri), "http") != 0 &&
		     g_strcmp0(g_uri_get_scheme(uri), "https") != 0) ||
		    g_uri_get_host(uri) == NULL || g_uri_get_host(uri)[0] == '\0' ||
		    (g_uri_get_path(uri)[0] != '\0' && strcmp(g_uri_get_path(uri), "/") != 0) ||
		    g_uri_get_query(uri) != NULL || g_uri_get_userinfo(uri) != NULL) {
			g_autofree char *shown = g_strescape(urls[i], NULL);
			g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
			            "cluster.etcd: '%s' is not an http(s)://HOST:PORT endpoint",
			            shown);
			return FALSE;
		}
	}
	if (strlen(n) != 2 || !g_ascii_isxdigit(n[0]) || !g_ascii_isxdigit(n[1]) ||
	    g_ascii_isupper(n[0]) || g_ascii_isupper(n[1]) || strcmp(n, "00") == 0) {
		g_autofree char *shown = g_strescape(n, NULL);
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "cluster.node: '%s' is not two lowercase hex digits from 01 to ff",
		            shown);
		return FALSE;
	}
	return TRUE;
}

static gboolean check_config(AlkConfig *c, GError **error)
{
	if (!check_net(&c->net, error) || !check_cluster(&c->cluster, error))
		return FALSE;
	if ((c->tls_cert[0] == '\0') != (c->tls_key[0] == '\0') ||
	    (c->tls_client_ca[0] != '\0' && c->tls_cert[0] == '\0')) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "daemon.tls_cert and daemon.tls_key go together, and tls_client_ca "
		            "needs them");
		return FALSE;
	}
	if (c->tls_cert[0] != '\0' && c->api.listen[0] == '\0') {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "daemon.tls_cert is for api.listen, which is not set");
		return FALSE;
	}
	for (guint i = 0; i < c->profiles->len; i++) {
		if (!check_profile(g_ptr_array_index(c->profiles, i), error))
			return FALSE;
	}
	if (alk_config_profile(c, c->default_profile) == NULL) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "daemon.default_profile: no profile '%s'", c->default_profile);
		return FALSE;
	}
	g_ptr_array_sort(c->profiles, compare_profiles);
	return check_pool(c, error);
}

AlkConfig *alk_config_load_data(const char *data, gssize len, GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(AlkConfig) c = config_new_default();
	g_autoptr(GError) local = NULL;

	/* Keeping translations makes "key[de]" visible, so it is refused as unknown
	 * instead of silently dropped or, in a German locale, silently used. */
	if (!g_key_file_load_from_data(kf, data, len < 0 ? strlen(data) : (gsize)len,
	                               G_KEY_FILE_KEEP_TRANSLATIONS, &local)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "%s", local->message);
		return NULL;
	}
	if (!read_groups(kf, c, error) || !check_config(c, error))
		return NULL;
	return g_steal_pointer(&c);
}

AlkConfig *alk_config_load(const char *path, GError **error)
{
	g_autofree char *data = NULL;
	g_autoptr(GError) local = NULL;
	gsize len = 0;

	if (path == NULL)
		path = ALK_CONFIG_DEFAULT_PATH;
	if (!g_file_get_contents(path, &data, &len, &local)) {
		if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return config_new_default();
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "%s", local->message);
		return NULL;
	}
	AlkConfig *c = alk_config_load_data(data, (gssize)len, error);
	if (c == NULL)
		g_prefix_error(error, "%s: ", path);
	return c;
}
