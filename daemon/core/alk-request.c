/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-request.h"

#include <string.h>

#include "alk-allow.h"
#include "alk-error.h"
#include "alk-image.h"
#include "alk-json.h"
#include "alk-proto.h"

void alk_request_clear(AlkSandboxRequest *req)
{
	if (req == NULL)
		return;
	g_clear_pointer(&req->image, g_free);
	g_clear_pointer(&req->profile, g_free);
	g_clear_pointer(&req->allow, g_strfreev);
	g_clear_pointer(&req->labels, g_hash_table_unref);
	g_clear_pointer(&req->root, g_free);
	g_clear_pointer(&req->readonly_paths, g_strfreev);
	memset(req, 0, sizeof *req);
}

/* ---- JSON body ------------------------------------------------------------------------------ */

typedef struct {
	AlkSandboxRequest req;
	JsonObject *network;
	JsonObject *display;
	guint64 workspace_mib; /* G_MAXUINT64 while absent */
	JsonArray *volumes;
} AlkCreateBody;

typedef struct {
	char *name;
	char *path;
	gboolean readonly;
} AlkVolumeBody;

typedef struct {
	char *mode;
	char **allow;
} AlkNetworkBody;

/* Ranges here are shape only (positive, sane); ceilings come from the profile in
 * alk_request_resolve(), so a widening request gets ALK_ERROR_LIMIT naming it. */
#define B(member) G_STRUCT_OFFSET(AlkCreateBody, member)
static const AlkJsonField create_fields[] = {
    {"image", ALK_JSON_STRING, B(req.image), FALSE, 1, ALK_PROFILE_NAME_MAX, 0},
    {"profile", ALK_JSON_STRING, B(req.profile), FALSE, 1, ALK_PROFILE_NAME_MAX, 0},
    {"cpus", ALK_JSON_UINT, B(req.cpus), FALSE, 1, G_MAXINT64, 0},
    {"memory_mib", ALK_JSON_UINT, B(req.memory_mib), FALSE, 1, G_MAXINT64, 0},
    {"disk_mib", ALK_JSON_UINT, B(req.disk_mib), FALSE, 1, G_MAXINT64, 0},
    {"ttl_s", ALK_JSON_UINT, B(req.ttl_s), FALSE, 1, G_MAXINT64, 0},
    {"network", ALK_JSON_OBJECT, B(network), FALSE, 0, 0, 0},
    {"labels", ALK_JSON_STRING_MAP, B(req.labels), FALSE, 0, ALK_LABELS_MAX, ALK_LABEL_VALUE_MAX},
    {"display", ALK_JSON_OBJECT, B(display), FALSE, 0, 0, 0},
    {"root", ALK_JSON_STRING, B(req.root), FALSE, 1, 16, 0},
    {"workspace_mib", ALK_JSON_UINT, B(workspace_mib), FALSE, 0, G_MAXINT64, 0},
    {"readonly_paths", ALK_JSON_STRING_ARRAY, B(req.readonly_paths), FALSE, 0, ALK_FS_RO_PATHS_MAX,
     ALK_FS_PATH_MAX},
    {"volumes", ALK_JSON_OBJECT_ARRAY, B(volumes), FALSE, 0, ALK_VOLUMES_PER_SANDBOX, 0},
    {NULL, 0, 0, FALSE, 0, 0, 0},
};
#define V(member) G_STRUCT_OFFSET(AlkVolumeBody, member)
static const AlkJsonField volume_fields[] = {
    {"name", ALK_JSON_STRING, V(name), TRUE, 1, ALK_VOLUME_NAME_MAX, 0},
    {"path", ALK_JSON_STRING, V(path), TRUE, 1, ALK_FS_PATH_MAX, 0},
    {"readonly", ALK_JSON_BOOL, V(readonly), FALSE, 0, 0, 0},
    {NULL, 0, 0, FALSE, 0, 0, 0},
};
#undef V
static const AlkJsonField display_fields[] = {
    {"width", ALK_JSON_UINT, G_STRUCT_OFFSET(AlkSandboxRequest, display_width), TRUE, 1, G_MAXINT64,
     0},
    {"height", ALK_JSON_UINT, G_STRUCT_OFFSET(AlkSandboxRequest, display_height), TRUE, 1,
     G_MAXINT64, 0},
    {NULL, 0, 0, FALSE, 0, 0, 0},
};
#undef B

#define N(member) G_STRUCT_OFFSET(AlkNetworkBody, member)
static const AlkJsonField network_fields[] = {
    {"mode", ALK_JSON_STRING, N(mode), TRUE, 1, 16, 0},
    {"allow", ALK_JSON_STRING_ARRAY, N(allow), FALSE, 0, ALK_ALLOW_MAX, ALK_ALLOW_ENTRY_MAX},
    {NULL, 0, 0, FALSE, 0, 0, 0},
};
#undef N

static gboolean read_network(JsonObject *obj, AlkSandboxRequest *req, GError **error)
{
	AlkNetworkBody body = {NULL, NULL};
	AlkNetMode mode = ALK_NET_NONE;
	gboolean ok = alk_json_read_object(obj, network_fields, &body, error);

	if (ok && !alk_net_mode_from_string(body.mode, &mode)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "field 'mode' must be none, isolated or allowlist");
		ok = FALSE;
	}
	if (ok) {
		req->network = mode;
		req->allow = g_steal_pointer(&body.allow);
	}
	alk_json_fields_clear(network_fields, &body);
	if (!ok)
		g_prefix_error(error, "network: ");
	return ok;
}

/* Read-only unless it says readonly: false. Names and paths are checked
 * in alk_request_resolve(), with the rest of what the profile decides. */
static gboolean read_volumes(JsonArray *array, AlkSandboxRequest *req, GError **error)
{
	for (guint i = 0; array != NULL && i < json_array_get_length(array); i++) {
		AlkVolumeBody v = {NULL, NULL, TRUE};
		AlkVolumeAttach *a = &req->volumes[req->nvolumes];
		JsonObject *obj = json_array_get_object_element(array, i);

		if (!alk_json_read_object(obj, volume_fields, &v, error)) {
			alk_json_fields_clear(volume_fields, &v);
			g_prefix_error(error, "volumes[%u]: ", i);
			return FALSE;
		}
		g_strlcpy(a->name, v.name, sizeof a->name);
		g_strlcpy(a->path, v.path, sizeof a->path);
		a->readonly = v.readonly;
		req->nvolumes++;
		alk_json_fields_clear(volume_fields, &v);
	}
	return TRUE;
}

gboolean alk_request_from_json(JsonObject *obj, AlkSandboxRequest *out, GError **error)
{
	AlkCreateBody body = {{0}, NULL, NULL, G_MAXUINT64, NULL};

	if (!alk_json_read_object(obj, create_fields, &body, error))
		return FALSE;
	if (body.workspace_mib != G_MAXUINT64)
		body.req.workspace_mib =
		    body.workspace_mib == 0 ? ALK_WORKSPACE_NONE : body.workspace_mib;
	if (!read_volumes(body.volumes, &body.req, error)) {
		alk_request_clear(&body.req);
		return FALSE;
	}
	if (body.network != NULL && !read_network(body.network, &body.req, error)) {
		alk_request_clear(&body.req);
		return FALSE;
	}
	if (body.display != NULL &&
	    !alk_json_read_object(body.display, display_fields, &body.req, error)) {
		g_prefix_error(error, "display: ");
		alk_request_clear(&body.req);
		return FALSE;
	}
	*out = body.req;
	return TRUE;
}

/* ---- resolving against a profile ------------------------------------------------------------ */

static gboolean check_label(const char *key, const char *value, GError **error)
{
	if (!alk_label_key_is_valid(key)) {
		gboolean printable = g_utf8_validate(key, -1, NULL) && strlen(key) <= 64;
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "label key '%s' is not [a-z0-9_.-]{1,%d}", printable ? key : "…",
		            ALK_LABEL_KEY_MAX);
		return FALSE;
	}
	if (strlen(value) > ALK_LABEL_VALUE_MAX || !g_utf8_validate(value, -1, NULL)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "label '%s': the value must be valid UTF-8 of at most %d bytes", key,
		            ALK_LABEL_VALUE_MAX);
		return FALSE;
	}
	return TRUE;
}

static gboolean check_labels(GHashTable *labels, GError **error)
{
	GHashTableIter iter;
	gpointer key = NULL;
	gpointer value = NULL;

	if (labels == NULL)
		return TRUE;
	if (g_hash_table_size(labels) > ALK_LABELS_MAX) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "%u labels, at most %d allowed",
		            g_hash_table_size(labels), ALK_LABELS_MAX);
		return FALSE;
	}
	g_hash_table_iter_init(&iter, labels);
	while (g_hash_table_iter_next(&iter, &key, &value)) {
		if (!check_label(key, value, error))
			return FALSE;
	}
	return TRUE;
}

static gboolean check_image(const char *image, GError **error)
{
	if (image == NULL || alk_image_name_is_valid(image))
		return TRUE;
	g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "image name must be [a-z0-9_-]{1,%d}",
	            ALK_PROFILE_NAME_MAX);
	return FALSE;
}

static gboolean limit_error(const AlkProfile *p, const char *what, guint64 value, guint64 ceiling,
                            GError **error)
{
	g_set_error(error, ALK_ERROR, ALK_ERROR_LIMIT,
	            "%s %" G_GUINT64_FORMAT " exceeds the %s profile's limit of %" G_GUINT64_FORMAT,
	            what, value, p->name, ceiling);
	return FALSE;
}

/* requested 0 takes the default; anything else must lie in floor..ceiling. */
static gboolean pick(const AlkProfile *p, const char *what, guint64 requested, guint64 def,
                     guint64 floor, guint64 ceiling, guint64 *out, GError **error)
{
	if (requested == 0) {
		*out = def;
		return TRUE;
	}
	if (requested > ceiling)
		return limit_error(p, what, requested, ceiling, error);
	if (requested < floor) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "%s %" G_GUINT64_FORMAT " is below the minimum of %" G_GUINT64_FORMAT,
		            what, requested, floor);
		return FALSE;
	}
	*out = requested;
	return TRUE;
}

static gboolean pick_sizes(const AlkProfile *p, const AlkSandboxRequest *req, AlkLimits *l,
                           GError **error)
{
	guint64 cpus = 0;

	if (!pick(p, "cpus", req->cpus, p->cpus, 1, p->max_cpus, &cpus, error) ||
	    !pick(p, "memory_mib", req->memory_mib, p->memory_mib, ALK_MEMORY_MIB_MIN,
	          p->max_memory_mib, &l->memory_mib, error) ||
	    !pick(p, "disk_mib", req->disk_mib, p->disk_mib, 16, p->max_disk_mib, &l->disk_mib,
	          error) ||
	    !pick(p, "ttl_s", req->ttl_s, p->ttl_s, 1, p->max_ttl_s, &l->ttl_s, error))
		return FALSE;
	l->cpus = (guint)cpus;
	l->hard_limit_mib = l->memory_mib + ALK_QEMU_OVERHEAD_MIB;
	return TRUE;
}

/* The profile decides what is allowed (LIMIT); the entries must parse (INVALID). */
static gboolean check_network(const AlkProfile *p, const AlkSandboxRequest *req, GError **error)
{
	const char *mode = alk_net_mode_to_string(req->network);

	if ((guint)req->network > ALK_NET_ALLOWLIST) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "unknown network mode");
		return FALSE;
	}
	if ((p->network_modes & ALK_NET_FLAG(req->network)) == 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_LIMIT,
		            "network mode '%s' is not allowed by the %s profile", mode, p->name);
		return FALSE;
	}
	if (req->allow != NULL && req->allow[0] != NULL && req->network != ALK_NET_ALLOWLIST) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "network.allow needs network mode 'allowlist', not '%s'", mode);
		return FALSE;
	}
	if (req->network == ALK_NET_ALLOWLIST) {
		/* the host's own addresses are checked when the sandbox is made */
		g_autoptr(GPtrArray) list =
		    alk_allow_list_parse_egress((const char *const *)req->allow, NULL, error);

		if (list == NULL)
			return FALSE;
	}
	return TRUE;
}

/* A screen only where the profile allows one, within its ceiling and
 * within what a virtual GPU offers. */
static gboolean pick_display(const AlkProfile *p, const AlkSandboxRequest *req, AlkLimits *l,
                             GError **error)
{
	guint64 w = req->display_width;
	guint64 h = req->display_height;

	if (w == 0 && h == 0)
		return TRUE;
	if (!p->display) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_LIMIT,
		            "a display is not allowed by the %s profile", p->name);
		return FALSE;
	}
	if (w > p->max_display_width)
		return limit_error(p, "display width", w, p->max_display_width, error);
	if (h > p->max_display_height)
		return limit_error(p, "display height", h, p->max_display_height, error);
	if (w < ALK_DISPLAY_MIN_WIDTH || h < ALK_DISPLAY_MIN_HEIGHT || w % 8 != 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "display %" G_GUINT64_FORMAT "x%" G_GUINT64_FORMAT
		            ": at least %dx%d, the width a multiple of 8",
		            w, h, ALK_DISPLAY_MIN_WIDTH, ALK_DISPLAY_MIN_HEIGHT);
		return FALSE;
	}
	l->display_width = (guint)w;
	l->display_height = (guint)h;
	return TRUE;
}

/* A request may make the root read-only, never writable where the
 * profile makes it read-only; the workspace within the profile's ceiling. */
static gboolean pick_fs(const AlkProfile *p, const AlkSandboxRequest *req, AlkLimits *l,
                        GError **error)
{
	gboolean readonly = p->root_readonly;

	if (req->root != NULL && !alk_root_mode_from_string(req->root, &readonly)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "root must be writable or readonly");
		return FALSE;
	}
	if (p->root_readonly && !readonly) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_LIMIT,
		            "a writable root is not allowed by the %s profile", p->name);
		return FALSE;
	}
	l->root_readonly = readonly;
	l->tmpfs_mib = p->tmpfs_mib;
	if (req->workspace_mib == ALK_WORKSPACE_NONE) {
		l->workspace_mib = 0;
		return TRUE;
	}
	if (req->workspace_mib != 0 && p->max_workspace_mib == 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_LIMIT,
		            "a workspace is not allowed by the %s profile", p->name);
		return FALSE;
	}
	return pick(p, "workspace_mib", req->workspace_mib, p->workspace_mib, ALK_WORKSPACE_MIB_MIN,
	            p->max_workspace_mib, &l->workspace_mib, error);
}

static gboolean check_readonly_paths(char **paths, GError **error)
{
	for (guint i = 0; paths != NULL && paths[i] != NULL; i++) {
		if (alk_proto_mount_path_valid(paths[i]))
			continue;
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "readonly_paths: '%s' is not an absolute path of at most %d bytes "
		            "without empty, '.' or '..' components, or is /, or is under /proc, "
		            "/sys or /dev",
		            g_utf8_validate(paths[i], -1, NULL) ? paths[i] : "…", ALK_FS_PATH_MAX);
		return FALSE;
	}
	return TRUE;
}

/* The profile says whether volumes may be attached and whether writable;
 * whether they exist and are free is the manager's (alk-volume.c). */
static gboolean check_volumes(const AlkProfile *p, const AlkSandboxRequest *req, GError **error)
{
	for (guint i = 0; i < req->nvolumes; i++) {
		const AlkVolumeAttach *a = &req->volumes[i];

		if (!alk_volume_name_is_valid(a->name) || !alk_proto_mount_path_valid(a->path)) {
			g_set_error(
			    error, ALK_ERROR, ALK_ERROR_INVALID,
			    "volumes[%u]: the name must be [a-z0-9_-]{1,%d} and the path as "
			    "readonly_paths'",
			    i, ALK_VOLUME_NAME_MAX);
			return FALSE;
		}
		for (guint j = 0; j < i; j++) {
			if (g_strcmp0(req->volumes[j].name, a->name) == 0 ||
			    g_strcmp0(req->volumes[j].path, a->path) == 0) {
				g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
				            "volumes[%u]: volume %s or path %s given twice", i,
				            a->name, a->path);
				return FALSE;
			}
		}
		if (p->volumes == ALK_VOLUMES_NONE ||
		    (!a->readonly && p->volumes != ALK_VOLUMES_WRITABLE)) {
			g_set_error(error, ALK_ERROR, ALK_ERROR_LIMIT,
			            "%s volumes are not allowed by the %s profile",
			            a->readonly ? "attaching" : "writable", p->name);
			return FALSE;
		}
	}
	return TRUE;
}

/* vCPUs at the profile's quota may not promise more CPU time than the host
 * has: the excess would only slow every sandbox down. */
static gboolean check_host_cpus(const AlkConfig *config, const AlkLimits *l, GError **error)
{
	if (config->host_cpus == 0 ||
	    (guint64)l->cpus * l->cpu_quota_pct <= config->host_cpus * 100ULL)
		return TRUE;
	g_set_error(error, ALK_ERROR, ALK_ERROR_LIMIT,
	            "cpus %u at the %s profile's %u%% CPU quota is more than this host's %u CPUs",
	            l->cpus, l->profile, l->cpu_quota_pct, config->host_cpus);
	return FALSE;
}

static void copy_profile(const AlkProfile *p, AlkLimits *l)
{
	g_strlcpy(l->profile, p->name, sizeof l->profile);
	l->cpu_quota_pct = p->cpu_quota_pct;
	l->io_bytes_sec = p->io_bytes_sec;
	l->io_iops = p->io_iops;
	l->max_ttl_s = p->max_ttl_s;
	l->exec_timeout_s = p->exec_timeout_s;
	l->max_exec_timeout_s = p->max_exec_timeout_s;
	l->output_cap_bytes = p->output_cap_bytes;
	l->max_execs = p->max_execs;
}

gboolean alk_request_resolve(const AlkConfig *config, const AlkSandboxRequest *req, AlkLimits *out,
                             GError **error)
{
	const char *name = req->profile != NULL ? req->profile : config->default_profile;
	const AlkProfile *p = alk_config_profile(config, name);
	AlkLimits l;

	memset(&l, 0, sizeof l);
	if (p == NULL) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_NOT_FOUND, "no profile '%s'", name);
		return FALSE;
	}
	if (!check_image(req->image, error) || !check_labels(req->labels, error) ||
	    !pick_sizes(p, req, &l, error) || !check_network(p, req, error) ||
	    !pick_display(p, req, &l, error) || !pick_fs(p, req, &l, error) ||
	    !check_readonly_paths(req->readonly_paths, error) || !check_volumes(p, req, error))
		return FALSE;
	copy_profile(p, &l);
	if (!check_host_cpus(config, &l, error))
		return FALSE;
	l.network = req->network;
	*out = l;
	return TRUE;
}

gboolean alk_limits_check_ttl(const AlkLimits *limits, guint64 ttl_s, GError **error)
{
	if (ttl_s == 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "ttl_s must be at least 1");
		return FALSE;
	}
	if (ttl_s > limits->max_ttl_s) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_LIMIT,
		            "ttl_s %" G_GUINT64_FORMAT
		            " exceeds the %s profile's limit of %" G_GUINT64_FORMAT,
		            ttl_s, limits->profile, limits->max_ttl_s);
		return FALSE;
	}
	return TRUE;
}

gboolean alk_limits_exec_timeout(const AlkLimits *limits, guint64 requested, guint64 *out,
                                 GError **error)
{
	if (requested > limits->max_exec_timeout_s) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_LIMIT,
		            "timeout_s %" G_GUINT64_FORMAT
		            " exceeds the %s profile's limit of %" G_GUINT64_FORMAT,
		            requested, limits->profile, limits->max_exec_timeout_s);
		return FALSE;
	}
	*out = requested != 0 ? requested : limits->exec_timeout_s;
	return TRUE;
}

void alk_limits_add_json(JsonBuilder *b, const AlkLimits *l)
{
	alk_json_add_int(b, "cpus", l->cpus);
	alk_json_add_int(b, "memory_mib", (gint64)l->memory_mib);
	alk_json_add_int(b, "disk_mib", (gint64)l->disk_mib);
	alk_json_add_int(b, "cpu_quota_pct", l->cpu_quota_pct);
	alk_json_add_int(b, "io_bytes_sec", (gint64)l->io_bytes_sec);
	alk_json_add_int(b, "io_iops", (gint64)l->io_iops);
	alk_json_add_int(b, "ttl_s", (gint64)l->ttl_s);
	alk_json_add_int(b, "max_ttl_s", (gint64)l->max_ttl_s);
	alk_json_add_int(b, "exec_timeout_s", (gint64)l->exec_timeout_s);
	alk_json_add_int(b, "max_exec_timeout_s", (gint64)l->max_exec_timeout_s);
	alk_json_add_int(b, "output_cap_bytes", (gint64)l->output_cap_bytes);
	alk_json_add_int(b, "max_execs", l->max_execs);
	alk_json_add_string(b, "root", l->root_readonly ? "readonly" : "writable");
	alk_json_add_int(b, "tmpfs_mib", l->tmpfs_mib);
	alk_json_add_int(b, "workspace_mib", (gint64)l->workspace_mib);
}
