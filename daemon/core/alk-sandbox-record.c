/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A sandbox's record: the JSON kept in its domain's <metadata>, from which
 * a restarted daemon rebuilds the sandbox. The guest cannot reach it, but a
 * record is still read as untrusted input: every field is checked. */
#include <string.h>

#include "alk-error.h"
#include "alk-json.h"
#include "alk-proto.h"
#include "alk-sandbox.h"

#define RECORD_VERSION 1
#define RECORD_MAX (64 * 1024)

static void add_limits(JsonBuilder *b, const AlkLimits *l)
{
	json_builder_set_member_name(b, "limits");
	json_builder_begin_object(b);
	alk_json_add_string(b, "profile", l->profile);
	alk_json_add_int(b, "hard_limit_mib", (gint64)l->hard_limit_mib);
	alk_json_add_string(b, "network", alk_net_mode_to_string(l->network));
	alk_limits_add_json(b, l);
	if (l->display_width != 0) {
		alk_json_add_int(b, "display_width", l->display_width);
		alk_json_add_int(b, "display_height", l->display_height);
	}
	json_builder_end_object(b);
}

char *alk_sandbox_record_to_json(const AlkSandbox *sb)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;

	json_builder_begin_object(b);
	alk_json_add_int(b, "v", RECORD_VERSION);
	alk_json_add_string(b, "id", sb->id);
	alk_json_add_string(b, "instance", sb->instance);
	alk_json_add_string(b, "image", sb->image);
	alk_json_add_string(b, "profile", sb->profile);
	alk_json_add_int(b, "created_at", sb->created_at);
	alk_json_add_int(b, "deadline", sb->deadline);
	add_limits(b, &sb->limits);
	alk_json_add_map(b, "labels", sb->labels);
	if (sb->pool != NULL)
		alk_json_add_string(b, "pool", sb->pool);
	if (sb->warm)
		alk_json_add_bool(b, "warm", TRUE);
	if (sb->build != NULL)
		alk_json_add_string(b, "build", sb->build);
	if (sb->default_user != NULL)
		alk_json_add_string(b, "default_user", sb->default_user);
	if (sb->readonly_paths != NULL)
		alk_json_add_strv(b, "readonly_paths", (const char *const *)sb->readonly_paths);
	if (sb->nvolumes != 0)
		alk_sandbox_add_volumes_json(b, sb);
	if (sb->limits.network != ALK_NET_NONE) {
		json_builder_set_member_name(b, "net");
		json_builder_begin_object(b);
		alk_json_add_strv(b, "allow", (const char *const *)sb->net.allow);
		alk_json_add_int(b, "generation", sb->net.generation);
		alk_json_add_int(b, "uplink", sb->net.uplink);
		json_builder_end_object(b);
	}
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	return alk_json_to_string(root);
}

typedef struct {
	guint64 v;
	char *id, *instance, *image, *profile;
	gint64 created_at, deadline;
	JsonObject *limits;
	GHashTable *labels;
	JsonObject *net;
	char *pool, *build, *default_user;
	gboolean warm;
	char **readonly_paths;
	JsonArray *volumes;
} Record;

#define R(f) G_STRUCT_OFFSET(Record, f)
static const AlkJsonField record_fields[] = {
    {"v", ALK_JSON_UINT, R(v), TRUE, RECORD_VERSION, RECORD_VERSION, 0},
    {"id", ALK_JSON_STRING, R(id), TRUE, ALK_SANDBOX_ID_LEN, ALK_SANDBOX_ID_LEN, 0},
    {"instance", ALK_JSON_STRING, R(instance), TRUE, 1, 4096, 0},
    {"image", ALK_JSON_STRING, R(image), TRUE, 1, ALK_IMAGE_NAME_MAX, 0},
    {"profile", ALK_JSON_STRING, R(profile), TRUE, 1, ALK_PROFILE_NAME_MAX, 0},
    {"created_at", ALK_JSON_INT, R(created_at), TRUE, 0, G_MAXINT64, 0},
    {"deadline", ALK_JSON_INT, R(deadline), TRUE, 0, G_MAXINT64, 0},
    {"limits", ALK_JSON_OBJECT, R(limits), TRUE, 0, 0, 0},
    {"labels", ALK_JSON_STRING_MAP, R(labels), FALSE, 0, 32, 255},
    {"net", ALK_JSON_OBJECT, R(net), FALSE, 0, 0, 0},
    {"pool", ALK_JSON_STRING, R(pool), FALSE, 3, 2 * ALK_IMAGE_NAME_MAX + 1, 0},
    {"warm", ALK_JSON_BOOL, R(warm), FALSE, 0, 0, 0},
    {"build", ALK_JSON_STRING, R(build), FALSE, 1, 128, 0},
    {"default_user", ALK_JSON_STRING, R(default_user), FALSE, 1, ALK_PROTO_USER_MAX, 0},
    {"readonly_paths", ALK_JSON_STRING_ARRAY, R(readonly_paths), FALSE, 0, ALK_FS_RO_PATHS_MAX,
     ALK_FS_PATH_MAX},
    {"volumes", ALK_JSON_OBJECT_ARRAY, R(volumes), FALSE, 0, ALK_VOLUMES_PER_SANDBOX, 0},
    {NULL},
};

/* the allowlist's entries are parsed again (alk_allow_list_parse) when used */
typedef struct {
	char **allow;
	gint64 generation, uplink;
} Net;

#define N(f) G_STRUCT_OFFSET(Net, f)
static const AlkJsonField net_fields[] = {
    {"allow", ALK_JSON_STRING_ARRAY, N(allow), TRUE, 0, 64, 261},
    {"generation", ALK_JSON_INT, N(generation), TRUE, 0, G_MAXUINT32, 0},
    {"uplink", ALK_JSON_INT, N(uplink), TRUE, -1, 1 << 22, 0},
    {NULL},
};

static gboolean net_from(JsonObject *obj, AlkSandboxNet *out, GError **error)
{
	Net n = {0};

	if (obj == NULL)
		return TRUE;
	if (!alk_json_read_object(obj, net_fields, &n, error)) {
		g_prefix_error(error, "net: ");
		return FALSE;
	}
	g_strfreev(out->allow);
	out->allow = g_steal_pointer(&n.allow);
	out->generation = (guint)n.generation;
	out->uplink = (gint)n.uplink;
	alk_json_fields_clear(net_fields, &n);
	return TRUE;
}

typedef struct {
	char *profile, *network;
	guint64 cpus, memory_mib, hard_limit_mib, disk_mib, cpu_quota_pct, io_bytes_sec, io_iops;
	guint64 ttl_s, max_ttl_s, exec_timeout_s, max_exec_timeout_s, output_cap_bytes, max_execs;
	guint64 display_width, display_height;
	char *root;
	guint64 tmpfs_mib, workspace_mib;
} Limits;

#define L(f) G_STRUCT_OFFSET(Limits, f)
#define LU(f, lo, hi)                                                                              \
	{                                                                                          \
#f, ALK_JSON_UINT, L(f), TRUE, lo, hi, 0                                           \
	}
static const AlkJsonField limit_fields[] = {
    {"profile", ALK_JSON_STRING, L(profile), TRUE, 1, 32, 0},
    {"network", ALK_JSON_STRING, L(network), TRUE, 1, 16, 0},
    LU(cpus, 1, 64),
    LU(memory_mib, 16, 1048576),
    LU(hard_limit_mib, 16, 2097152),
    LU(disk_mib, 1, G_MAXINT64),
    LU(cpu_quota_pct, 0, 100),
    LU(io_bytes_sec, 0, G_MAXINT64),
    LU(io_iops, 0, G_MAXINT64),
    LU(ttl_s, 0, G_MAXINT64),
    LU(max_ttl_s, 0, G_MAXINT64),
    LU(exec_timeout_s, 0, G_MAXINT64),
    LU(max_exec_timeout_s, 0, G_MAXINT64),
    LU(output_cap_bytes, 0, G_MAXINT64),
    LU(max_execs, 1, 4096),
    {"display_width", ALK_JSON_UINT, L(display_width), FALSE, 320, 3840, 0},
    {"display_height", ALK_JSON_UINT, L(display_height), FALSE, 200, 2160, 0},
    /* absent in the records of older daemons: a writable root, no workspace */
    {"root", ALK_JSON_STRING, L(root), FALSE, 1, 16, 0},
    {"tmpfs_mib", ALK_JSON_UINT, L(tmpfs_mib), FALSE, 0, 65536, 0},
    {"workspace_mib", ALK_JSON_UINT, L(workspace_mib), FALSE, 0, G_MAXINT64, 0},
    {NULL},
};

static gboolean limits_from(JsonObject *obj, AlkLimits *out, GError **error)
{
	Limits l = {0};
	gboolean ok = alk_json_read_object(obj, limit_fields, &l, error);
	AlkNetMode net;
	gboolean readonly = FALSE;

	if (ok && l.root != NULL && !alk_root_mode_from_string(l.root, &readonly)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "limits.root: unknown mode");
		ok = FALSE;
	}
	if (ok && (l.display_width == 0) != (l.display_height == 0)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "limits: half a display");
		ok = FALSE;
	}
	if (ok && !alk_net_mode_from_string(l.network, &net)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "limits.network: unknown mode");
		ok = FALSE;
	}
	if (ok) {
		*out = (AlkLimits){.cpus = (guint)l.cpus,
		                   .memory_mib = l.memory_mib,
		                   .hard_limit_mib = l.hard_limit_mib,
		                   .disk_mib = l.disk_mib,
		                   .cpu_quota_pct = (guint)l.cpu_quota_pct,
		                   .io_bytes_sec = l.io_bytes_sec,
		                   .io_iops = l.io_iops,
		                   .ttl_s = l.ttl_s,
		                   .max_ttl_s = l.max_ttl_s,
		                   .exec_timeout_s = l.exec_timeout_s,
		                   .max_exec_timeout_s = l.max_exec_timeout_s,
		                   .output_cap_bytes = l.output_cap_bytes,
		                   .max_execs = (guint)l.max_execs,
		                   .network = net,
		                   .display_width = (guint)l.display_width,
		                   .display_height = (guint)l.display_height,
		                   .root_readonly = readonly,
		                   .tmpfs_mib = (guint)l.tmpfs_mib,
		                   .workspace_mib = l.workspace_mib};
		g_strlcpy(out->profile, l.profile, sizeof(out->profile));
	}
	alk_json_fields_clear(limit_fields, &l);
	return ok;
}

void alk_sandbox_add_volumes_json(JsonBuilder *b, const AlkSandbox *sb)
{
	json_builder_set_member_name(b, "volumes");
	json_builder_begin_array(b);
	for (guint i = 0; i < sb->nvolumes; i++) {
		json_builder_begin_object(b);
		alk_json_add_string(b, "name", sb->volumes[i].name);
		alk_json_add_string(b, "path", sb->volumes[i].path);
		alk_json_add_bool(b, "readonly", sb->volumes[i].readonly);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
}

typedef struct {
	char *name, *path;
	gboolean readonly;
} Volume;

#define VF(f) G_STRUCT_OFFSET(Volume, f)
static const AlkJsonField volume_fields[] = {
    {"name", ALK_JSON_STRING, VF(name), TRUE, 1, ALK_VOLUME_NAME_MAX, 0},
    {"path", ALK_JSON_STRING, VF(path), TRUE, 2, ALK_FS_PATH_MAX, 0},
    {"readonly", ALK_JSON_BOOL, VF(readonly), TRUE, 0, 0, 0},
    {NULL},
};

/* what a restarted daemon must know to keep the one-writer rule */
static gboolean volumes_from(JsonArray *array, AlkSandbox *sb, GError **error)
{
	for (guint i = 0; array != NULL && i < json_array_get_length(array); i++) {
		Volume v = {0};
		gboolean ok = alk_json_read_object(json_array_get_object_element(array, i),
		                                   volume_fields, &v, error) &&
		              alk_volume_name_is_valid(v.name) &&
		              alk_proto_mount_path_valid(v.path);

		if (ok) {
			g_strlcpy(sb->volumes[i].name, v.name, sizeof sb->volumes[i].name);
			g_strlcpy(sb->volumes[i].path, v.path, sizeof sb->volumes[i].path);
			sb->volumes[i].readonly = v.readonly;
			sb->nvolumes = i + 1;
		} else if (error != NULL && *error == NULL) {
			g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
			            "volumes[%u]: bad name or path", i);
		}
		alk_json_fields_clear(volume_fields, &v);
		if (!ok)
			return FALSE;
	}
	return TRUE;
}

static gboolean paths_valid(char **paths)
{
	for (guint i = 0; paths != NULL && paths[i] != NULL; i++)
		if (!alk_proto_mount_path_valid(paths[i]))
			return FALSE;
	return TRUE;
}

gboolean alk_sandbox_record_from_json(AlkSandbox *sb, const char *json, GError **error)
{
	g_autoptr(JsonObject) obj = NULL;
	Record r = {0};
	AlkLimits limits;
	gboolean ok;

	obj = alk_json_parse_object(json, strlen(json), RECORD_MAX, 4, error);
	if (obj == NULL || !alk_json_read_object(obj, record_fields, &r, error)) {
		g_prefix_error(error, "sandbox record: ");
		alk_json_fields_clear(record_fields, &r);
		return FALSE;
	}
	if (r.default_user != NULL && !alk_proto_user_valid(r.default_user)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "default_user: not a user name");
		ok = FALSE;
	} else if (!paths_valid(r.readonly_paths)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "readonly_paths: not a mount path");
		ok = FALSE;
	} else {
		ok = g_strcmp0(r.id, sb->id) == 0 && limits_from(r.limits, &limits, error) &&
		     net_from(r.net, &sb->net, error) && volumes_from(r.volumes, sb, error);
	}
	if (ok) {
		g_free(sb->instance);
		sb->instance = g_steal_pointer(&r.instance);
		g_free(sb->image);
		sb->image = g_steal_pointer(&r.image);
		g_free(sb->profile);
		sb->profile = g_steal_pointer(&r.profile);
		sb->created_at = r.created_at;
		sb->deadline = r.deadline;
		g_free(sb->pool);
		sb->pool = g_steal_pointer(&r.pool);
		g_free(sb->build);
		sb->build = g_steal_pointer(&r.build);
		g_free(sb->default_user);
		sb->default_user = g_steal_pointer(&r.default_user);
		sb->warm = r.warm;
		sb->limits = limits;
		g_strfreev(sb->readonly_paths);
		sb->readonly_paths = g_steal_pointer(&r.readonly_paths);
		if (r.labels != NULL) {
			g_hash_table_unref(sb->labels);
			sb->labels = g_steal_pointer(&r.labels);
		}
	} else if (error != NULL && *error == NULL) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "id mismatch");
	}
	alk_json_fields_clear(record_fields, &r);
	if (!ok)
		g_prefix_error(error, "sandbox record: ");
	return ok;
}
