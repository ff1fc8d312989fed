/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlock ls [-q] [--label K=V]: the sandboxes, as a table or IDs only.
 * The daemon filters by one label. */
#include "alk-cmd.h"

#include "alk-cli-table.h"

typedef struct {
	gboolean quiet;
	char *label; /* "k=v", validated */
} LsOpts;

static void ls_opts_clear(LsOpts *o)
{
	g_clear_pointer(&o->label, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(LsOpts, ls_opts_clear)

static gboolean set_quiet(gpointer owner, const char *value, GError **error)
{
	((LsOpts *)owner)->quiet = TRUE;
	return TRUE;
}

static gboolean set_label(gpointer owner, const char *value, GError **error)
{
	LsOpts *o = owner;
	g_autofree char *key = NULL;
	g_autofree char *val = NULL;

	if (!alk_cli_split_kv(value, &key, &val, error) || !alk_cli_check_label(key, val, error))
		return FALSE;
	if (o->label != NULL)
		return alk_cli_usage_error(error, "the daemon filters by one label only");
	o->label = g_strdup(value);
	return TRUE;
}

static const AlkCliOption ls_options[] = {
    {"quiet", 'q', FALSE, set_quiet},
    {"label", 'l', TRUE, set_label},
    {NULL, 0, FALSE, NULL},
};

/* /v1/sandboxes?label=k=v, escaped but for the "=" */
static char *list_path(const char *label)
{
	g_autofree char *escaped = NULL;

	if (label == NULL)
		return g_strdup("/v1/sandboxes");
	escaped = g_uri_escape_string(label, "=", FALSE);
	return g_strconcat("/v1/sandboxes?label=", escaped, NULL);
}

static char *format_ids(JsonArray *sandboxes)
{
	GString *out = g_string_new(NULL);
	guint n = sandboxes != NULL ? json_array_get_length(sandboxes) : 0;

	for (guint i = 0; i < n; i++) {
		JsonNode *node = json_array_get_element(sandboxes, i);
		const char *id = JSON_NODE_HOLDS_OBJECT(node)
		                     ? alk_cli_json_string(json_node_get_object(node), "id")
		                     : NULL;
		if (id != NULL && alk_cli_check_id(id, NULL))
			g_string_append_printf(out, "%s\n", id);
	}
	return g_string_free(out, FALSE);
}

static char *format_table(JsonObject *doc)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();

	return alk_cli_format_sandboxes(alk_cli_json_array(doc, "sandboxes"), now);
}

static char *format_quiet(JsonObject *doc)
{
	return format_ids(alk_cli_json_array(doc, "sandboxes"));
}

static gboolean parse(int argc, char **argv, LsOpts *o, gboolean *json, GError **error)
{
	const AlkCliOptionGroup groups[] = {{ls_options, 0}, {NULL, 0}};
	g_auto(AlkCliArgs) args = {0};

	if (!alk_cli_parse(groups, o, 0, argc, argv, &args, error))
		return FALSE;
	if (args.extra != NULL || args.command != NULL) {
		g_autofree char *shown = alk_cli_shown(args.extra != NULL ? args.extra[0] : "--");
		return alk_cli_usage_error(error, "unexpected argument '%s'", shown);
	}
	*json = args.json;
	return TRUE;
}

int alk_cmd_ls(AlkCli *cli, int argc, char **argv)
{
	g_auto(LsOpts) o = {FALSE, NULL};
	g_autoptr(GError) error = NULL;
	g_autofree char *path = NULL;
	gboolean json = FALSE;

	if (!parse(argc, argv, &o, &json, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	/* -q prints IDs, whatever --json says */
	cli->json = (cli->json || json) && !o.quiet;
	path = list_path(o.label);
	return alk_cli_show(cli, path, o.quiet ? format_quiet : format_table);
}
