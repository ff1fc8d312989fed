/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlock rm [-f] ID…: destroys sandboxes and waits until they are gone.
 * -f: a sandbox that does not exist is no error. Goes on after a failure;
 * exits 1 if any failed. */
#include "alk-cmd.h"

static gboolean set_force(gpointer owner, const char *value, GError **error)
{
	((AlkRmCmd *)owner)->force = TRUE;
	return TRUE;
}

static const AlkCliOption rm_options[] = {
    {"force", 'f', FALSE, set_force},
    {NULL, 0, FALSE, NULL},
};

void alk_rm_cmd_clear(AlkRmCmd *c)
{
	g_clear_pointer(&c->ids, g_ptr_array_unref);
	c->force = FALSE;
}

gboolean alk_cmd_rm_parse(int argc, char **argv, AlkRmCmd *out, GError **error)
{
	const AlkCliOptionGroup groups[] = {{rm_options, 0}, {NULL, 0}};
	g_auto(AlkCliArgs) args = {0};

	if (!alk_cli_parse(groups, out, ALK_CLI_RM_MAX, argc, argv, &args, error))
		return FALSE;
	if (args.extra != NULL)
		return alk_cli_usage_error(error, "at most %d sandboxes at once", ALK_CLI_RM_MAX);
	if (args.command != NULL)
		return alk_cli_usage_error(error, "unexpected argument '--'");
	if (args.positional->len == 0)
		return alk_cli_usage_error(error, "missing the sandbox ID");
	out->ids = g_ptr_array_new();
	for (guint i = 0; i < args.positional->len; i++) {
		const char *id = g_ptr_array_index(args.positional, i);
		if (!alk_cli_check_id(id, error))
			return FALSE;
		if (!g_ptr_array_find_with_equal_func(out->ids, id, g_str_equal, NULL))
			g_ptr_array_add(out->ids, (gpointer)id);
	}
	out->json = args.json;
	return TRUE;
}

/* TRUE when gone (or absent with -f); *answer: the daemon's document. */
static gboolean remove_one(AlkCli *cli, const AlkRmCmd *cmd, const char *id, GBytes **answer,
                           GError **error)
{
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s?wait=destroyed", id);
	g_autoptr(GError) local = NULL;

	*answer = alk_cli_call(cli, "DELETE", path, NULL, &local);
	if (*answer != NULL)
		return TRUE;
	if (cmd->force && g_error_matches(local, ALK_CLI_HTTP_ERROR, SOUP_STATUS_NOT_FOUND))
		return TRUE;
	g_propagate_error(error, g_steal_pointer(&local));
	return FALSE;
}

/* --json: one array of the daemon's documents */
static void append_json(GString *out, GBytes *answer)
{
	g_autoptr(JsonObject) doc = answer != NULL ? alk_cli_parse_object(answer, NULL) : NULL;
	gsize len = 0;
	const char *data = doc != NULL ? g_bytes_get_data(answer, &len) : NULL;

	if (data == NULL)
		return;
	g_string_append_printf(out, "%s%.*s", out->len > 1 ? "," : "", (int)len, data);
}

int alk_cmd_rm(AlkCli *cli, int argc, char **argv)
{
	g_auto(AlkRmCmd) cmd = {0};
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) json = g_string_new("[");
	int status = ALK_EXIT_OK;

	if (!alk_cmd_rm_parse(argc, argv, &cmd, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	cli->json |= cmd.json;
	for (guint i = 0; i < cmd.ids->len && cli->interrupts == 0; i++) {
		const char *id = g_ptr_array_index(cmd.ids, i);
		g_autoptr(GBytes) answer = NULL;
		g_autoptr(GError) local = NULL;
		if (!remove_one(cli, &cmd, id, &answer, &local)) {
			g_prefix_error(&local, "%s: ", id);
			status = alk_cli_fail(cli, local, ALK_EXIT_FAILURE);
		} else if (cli->json) {
			append_json(json, answer);
		} else if (answer != NULL) {
			g_print("%s\n", id);
		}
	}
	if (cli->json) {
		g_string_append(json, "]\n");
		if (!alk_cli_print(json->str, &error))
			return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	}
	return status;
}
