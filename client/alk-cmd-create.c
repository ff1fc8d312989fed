/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlock create [--image I] [--profile P] [--cpus N] [--memory MIB]
 *                [--disk MIB] [--network MODE] [--allow HOST[:PORT]]…
 *                [--ttl S] [--label K=V]… [--root writable|readonly]
 *                [--workspace MIB] [--readonly-path PATH]… [--volume NAME:PATH[:rw]]…
 * POST /v1/sandboxes?wait=ready with a progress line; prints the ID. */
#include "alk-cmd.h"

#include "alk-cli-table.h"
#include "alk-json.h"
#include "alk-name.h"

#define O(owner) ((AlkCreateOpts *)(owner))

static gboolean set_name(char **slot, const char *what, const char *value, GError **error)
{
	if (*slot != NULL)
		return alk_cli_usage_error(error, "given twice");
	if (!alk_cli_check_name(what, value, error))
		return FALSE;
	*slot = g_strdup(value);
	return TRUE;
}

static gboolean set_uint(guint64 *slot, const char *what, const char *value, guint64 min,
                         guint64 max, GError **error)
{
	if (*slot != 0)
		return alk_cli_usage_error(error, "given twice");
	return alk_cli_parse_uint(what, value, min, max, slot, error);
}

static gboolean set_image(gpointer owner, const char *value, GError **error)
{
	return set_name(&O(owner)->image, "image", value, error);
}

static gboolean set_profile(gpointer owner, const char *value, GError **error)
{
	return set_name(&O(owner)->profile, "profile", value, error);
}

static gboolean set_cpus(gpointer owner, const char *value, GError **error)
{
	return set_uint(&O(owner)->cpus, "CPUs", value, 1, ALK_CLI_CPUS_MAX, error);
}

static gboolean set_memory(gpointer owner, const char *value, GError **error)
{
	return set_uint(&O(owner)->memory_mib, "memory (MiB)", value, ALK_CLI_MEMORY_MIB_MIN,
	                ALK_CLI_MEMORY_MIB_MAX, error);
}

static gboolean set_disk(gpointer owner, const char *value, GError **error)
{
	return set_uint(&O(owner)->disk_mib, "disk (MiB)", value, ALK_CLI_DISK_MIB_MIN,
	                ALK_CLI_DISK_MIB_MAX, error);
}

static gboolean set_ttl(gpointer owner, const char *value, GError **error)
{
	return set_uint(&O(owner)->ttl_s, "TTL (seconds)", value, 1, ALK_CLI_TTL_MAX, error);
}

/* WIDTHxHEIGHT; the profile decides the rest */
static gboolean set_display(gpointer owner, const char *value, GError **error)
{
	g_auto(GStrv) wh = g_strsplit(value, "x", 3);

	if (g_strv_length(wh) != 2 ||
	    !alk_cli_parse_uint("width", wh[0], 1, 4096, &O(owner)->display_w, NULL) ||
	    !alk_cli_parse_uint("height", wh[1], 1, 4096, &O(owner)->display_h, NULL))
		return alk_cli_usage_error(error, "WIDTHxHEIGHT, each 1..4096");
	return TRUE;
}

static gboolean set_network(gpointer owner, const char *value, GError **error)
{
	if (O(owner)->network != NULL)
		return alk_cli_usage_error(error, "given twice");
	if (!alk_cli_check_network(value, error))
		return FALSE;
	O(owner)->network = g_strdup(value);
	return TRUE;
}

static gboolean set_allow(gpointer owner, const char *value, GError **error)
{
	AlkCreateOpts *o = owner;

	if (!alk_cli_check_allow(value, error))
		return FALSE;
	if (o->allow == NULL)
		o->allow = g_ptr_array_new_with_free_func(g_free);
	if (o->allow->len >= ALK_CLI_ALLOW_MAX)
		return alk_cli_usage_error(error, "at most %d entries", ALK_CLI_ALLOW_MAX);
	g_ptr_array_add(o->allow, g_strdup(value));
	return TRUE;
}

static gboolean set_label(gpointer owner, const char *value, GError **error)
{
	AlkCreateOpts *o = owner;
	g_autofree char *key = NULL;
	g_autofree char *val = NULL;

	if (!alk_cli_split_kv(value, &key, &val, error) || !alk_cli_check_label(key, val, error))
		return FALSE;
	if (o->labels == NULL)
		o->labels = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	if (g_hash_table_contains(o->labels, key))
		return alk_cli_usage_error(error, "label '%s' given twice", key);
	if (g_hash_table_size(o->labels) >= ALK_CLI_LABELS_MAX)
		return alk_cli_usage_error(error, "at most %d labels", ALK_CLI_LABELS_MAX);
	g_hash_table_insert(o->labels, g_steal_pointer(&key), g_steal_pointer(&val));
	return TRUE;
}

static gboolean set_root(gpointer owner, const char *value, GError **error)
{
	if (O(owner)->root != NULL)
		return alk_cli_usage_error(error, "given twice");
	if (g_strcmp0(value, "writable") != 0 && g_strcmp0(value, "readonly") != 0)
		return alk_cli_usage_error(error, "writable or readonly");
	O(owner)->root = g_strdup(value);
	return TRUE;
}

/* 0: no workspace, even where the profile gives one */
static gboolean set_workspace(gpointer owner, const char *value, GError **error)
{
	if (O(owner)->workspace_set)
		return alk_cli_usage_error(error, "given twice");
	O(owner)->workspace_set = TRUE;
	return alk_cli_parse_uint("workspace (MiB)", value, 0, ALK_CLI_DISK_MIB_MAX,
	                          &O(owner)->workspace_mib, error);
}

/* the daemon checks the path's form (one rule, alk_proto_mount_path_valid) */
static gboolean set_ro_path(gpointer owner, const char *value, GError **error)
{
	AlkCreateOpts *o = owner;

	if (value[0] != '/')
		return alk_cli_usage_error(error, "'%s' is not an absolute path", value);
	if (o->ro_paths == NULL)
		o->ro_paths = g_ptr_array_new_with_free_func(g_free);
	if (o->ro_paths->len >= ALK_CLI_RO_PATHS_MAX)
		return alk_cli_usage_error(error, "at most %d paths", ALK_CLI_RO_PATHS_MAX);
	g_ptr_array_add(o->ro_paths, g_strdup(value));
	return TRUE;
}

/* NAME:PATH, read-only unless :rw follows */
static gboolean set_volume(gpointer owner, const char *value, GError **error)
{
	AlkCreateOpts *o = owner;
	g_auto(GStrv) parts = g_strsplit(value, ":", 4);
	guint n = g_strv_length(parts);

	if (n < 2 || n > 3 || !alk_volume_name_is_valid(parts[0]) || parts[1][0] != '/' ||
	    (n == 3 && g_strcmp0(parts[2], "rw") != 0 && g_strcmp0(parts[2], "ro") != 0))
		return alk_cli_usage_error(error, "NAME:PATH[:rw|:ro], NAME [a-z0-9_-]{1,%d}",
		                           ALK_VOLUME_NAME_MAX);
	if (o->volumes == NULL)
		o->volumes = g_ptr_array_new_with_free_func(g_free);
	if (o->volumes->len >= ALK_CLI_VOLUMES_MAX)
		return alk_cli_usage_error(error, "at most %d volumes", ALK_CLI_VOLUMES_MAX);
	g_ptr_array_add(o->volumes, g_strdup(value));
	return TRUE;
}

const AlkCliOption alk_create_options[] = {
    {"image", 0, TRUE, set_image},
    {"profile", 0, TRUE, set_profile},
    {"cpus", 0, TRUE, set_cpus},
    {"memory", 0, TRUE, set_memory},
    {"disk", 0, TRUE, set_disk},
    {"network", 0, TRUE, set_network},
    {"allow", 0, TRUE, set_allow},
    {"ttl", 0, TRUE, set_ttl},
    {"label", 0, TRUE, set_label},
    {"display", 0, TRUE, set_display},
    {"root", 0, TRUE, set_root},
    {"workspace", 0, TRUE, set_workspace},
    {"readonly-path", 0, TRUE, set_ro_path},
    {"volume", 0, TRUE, set_volume},
    {NULL, 0, FALSE, NULL},
};

void alk_create_opts_clear(AlkCreateOpts *o)
{
	g_clear_pointer(&o->image, g_free);
	g_clear_pointer(&o->profile, g_free);
	g_clear_pointer(&o->network, g_free);
	g_clear_pointer(&o->allow, g_ptr_array_unref);
	g_clear_pointer(&o->labels, g_hash_table_unref);
	g_clear_pointer(&o->root, g_free);
	g_clear_pointer(&o->ro_paths, g_ptr_array_unref);
	g_clear_pointer(&o->volumes, g_ptr_array_unref);
	o->workspace_set = FALSE;
	o->workspace_mib = 0;
	o->cpus = o->memory_mib = o->disk_mib = o->ttl_s = 0;
	o->display_w = o->display_h = 0;
}

gboolean alk_create_opts_check(const AlkCreateOpts *o, GError **error)
{
	if (o->allow != NULL && g_strcmp0(o->network, "allowlist") != 0)
		return alk_cli_usage_error(error, "--allow needs --network allowlist");
	return TRUE;
}

static void add_network(JsonBuilder *b, const AlkCreateOpts *o)
{
	json_builder_set_member_name(b, "network");
	json_builder_begin_object(b);
	alk_json_add_string(b, "mode", o->network);
	if (o->allow != NULL) {
		g_autofree const char **allow = g_new0(const char *, o->allow->len + 1);
		for (guint i = 0; i < o->allow->len; i++)
			allow[i] = g_ptr_array_index(o->allow, i);
		alk_json_add_strv(b, "allow", allow);
	}
	json_builder_end_object(b);
}

static void add_uint(JsonBuilder *b, const char *name, guint64 value)
{
	if (value != 0)
		alk_json_add_int(b, name, (gint64)value);
}

static void add_fs(JsonBuilder *b, const AlkCreateOpts *o)
{
	if (o->root != NULL)
		alk_json_add_string(b, "root", o->root);
	if (o->workspace_set)
		alk_json_add_int(b, "workspace_mib", (gint64)o->workspace_mib);
	if (o->ro_paths != NULL) {
		g_autofree const char **paths = g_new0(const char *, o->ro_paths->len + 1);
		for (guint i = 0; i < o->ro_paths->len; i++)
			paths[i] = g_ptr_array_index(o->ro_paths, i);
		alk_json_add_strv(b, "readonly_paths", paths);
	}
	if (o->volumes == NULL)
		return;
	json_builder_set_member_name(b, "volumes");
	json_builder_begin_array(b);
	for (guint i = 0; i < o->volumes->len; i++) {
		g_auto(GStrv) parts = g_strsplit(g_ptr_array_index(o->volumes, i), ":", 3);

		json_builder_begin_object(b);
		alk_json_add_string(b, "name", parts[0]);
		alk_json_add_string(b, "path", parts[1]);
		alk_json_add_bool(b, "readonly", g_strcmp0(parts[2], "rw") != 0);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
}

char *alk_create_opts_to_json(const AlkCreateOpts *o)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;

	json_builder_begin_object(b);
	if (o->image != NULL)
		alk_json_add_string(b, "image", o->image);
	if (o->profile != NULL)
		alk_json_add_string(b, "profile", o->profile);
	add_uint(b, "cpus", o->cpus);
	add_uint(b, "memory_mib", o->memory_mib);
	add_uint(b, "disk_mib", o->disk_mib);
	add_uint(b, "ttl_s", o->ttl_s);
	if (o->network != NULL)
		add_network(b, o);
	if (o->labels != NULL)
		alk_json_add_map(b, "labels", o->labels);
	if (o->display_w != 0) {
		json_builder_set_member_name(b, "display");
		json_builder_begin_object(b);
		add_uint(b, "width", o->display_w);
		add_uint(b, "height", o->display_h);
		json_builder_end_object(b);
	}
	add_fs(b, o);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	return alk_json_to_string(root);
}

gboolean alk_cmd_create_parse(int argc, char **argv, AlkCreateOpts *o, AlkCliArgs *args,
                              GError **error)
{
	const AlkCliOptionGroup groups[] = {{alk_create_options, 0}, {NULL, 0}};

	if (!alk_cli_parse(groups, o, 0, argc, argv, args, error))
		return FALSE;
	if (args->extra != NULL || args->command != NULL) {
		g_autofree char *shown = alk_cli_shown(args->extra != NULL ? args->extra[0] : "--");
		return alk_cli_usage_error(error, "unexpected argument '%s'", shown);
	}
	return alk_create_opts_check(o, error);
}

GBytes *alk_cli_create(AlkCli *cli, const AlkCreateOpts *o, gboolean wait, GError **error)
{
	g_autofree char *body = alk_create_opts_to_json(o);
	g_autoptr(SoupMessage) msg = NULL;
	g_autoptr(GInputStream) in = NULL;

	if (!wait)
		return alk_cli_call(cli, "POST", "/v1/sandboxes", body, error);
	/* No deadline of ours: the daemon's boot deadline ends the wait. */
	msg = alk_cli_message(cli, "POST", "/v1/sandboxes?wait=ready", error);
	if (msg == NULL)
		return NULL;
	alk_cli_set_json_body(msg, body);
	in = alk_cli_send(cli, msg, error);
	return in != NULL ? alk_cli_read_all(cli, in, ALK_CLI_JSON_MAX, error) : NULL;
}

char *alk_cli_sandbox_id(GBytes *body, GError **error)
{
	g_autoptr(JsonObject) obj = alk_cli_parse_object(body, error);
	const char *id = alk_cli_json_string(obj, "id");
	g_autoptr(GError) local = NULL;

	if (obj == NULL)
		return NULL;
	if (id == NULL || !alk_cli_check_id(id, &local)) {
		g_set_error_literal(error, ALK_CLI_ERROR, ALK_CLI_ERROR_PROTOCOL,
		                    "the daemon's answer has no valid sandbox id");
		return NULL;
	}
	return g_strdup(id);
}

int alk_cmd_create(AlkCli *cli, int argc, char **argv)
{
	g_auto(AlkCreateOpts) o = {0};
	g_auto(AlkCliArgs) args = {0};
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) body = NULL;
	g_autofree char *id = NULL;
	g_autoptr(AlkCliProgress) progress = NULL;
	gint64 started = g_get_monotonic_time();

	if (!alk_cmd_create_parse(argc, argv, &o, &args, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	cli->json |= args.json;
	progress = alk_cli_progress_new("booting sandbox", TRUE);
	body = alk_cli_create(cli, &o, TRUE, &error);
	g_clear_pointer(&progress, alk_cli_progress_free);
	if (body == NULL)
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	if (cli->json)
		return alk_cli_print_json(body, &error)
		           ? ALK_EXIT_OK
		           : alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	id = alk_cli_sandbox_id(body, &error);
	if (id == NULL)
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	g_printerr("sandbox %s ready after %.1fs\n", id,
	           (g_get_monotonic_time() - started) / (double)G_USEC_PER_SEC);
	g_autofree char *line = g_strconcat(id, "\n", NULL);
	return alk_cli_print(line, &error) ? ALK_EXIT_OK
	                                   : alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
}
