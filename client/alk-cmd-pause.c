/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlock pause ID / airlock resume ID: a sandbox's vCPUs stop and start. */
#include "alk-cmd.h"

gboolean alk_cmd_id_parse(const char *usage, const AlkCliOptionGroup *groups, gpointer opts,
                          int argc, char **argv, const char **id, gboolean *json, GError **error)
{
	g_auto(AlkCliArgs) args = {0};

	if (!alk_cli_parse(groups, opts, 1, argc, argv, &args, error))
		return FALSE;
	if (args.extra != NULL || args.command != NULL || args.positional->len > 1) {
		g_autofree char *shown =
		    alk_cli_shown(args.extra != NULL         ? args.extra[0]
		                  : args.positional->len > 1 ? g_ptr_array_index(args.positional, 1)
		                                             : "--");
		return alk_cli_usage_error(error, "unexpected argument '%s'", shown);
	}
	if (args.positional->len < 1)
		return alk_cli_usage_error(error, "%s", usage);
	*id = g_ptr_array_index(args.positional, 0);
	*json = args.json;
	return alk_cli_check_id(*id, error);
}

gboolean alk_cmd_pause_parse(const char *verb, int argc, char **argv, const char **id,
                             gboolean *json, GError **error)
{
	const AlkCliOptionGroup groups[] = {{NULL, 0}};
	g_autofree char *usage = g_strdup_printf("usage: airlock %s ID", verb);

	return alk_cmd_id_parse(usage, groups, NULL, argc, argv, id, json, error);
}

static char *describe_paused(JsonObject *sandbox, gpointer id)
{
	return g_strdup_printf("sandbox %s paused\n", (const char *)id);
}

static char *describe_resumed(JsonObject *sandbox, gpointer id)
{
	return g_strdup_printf("sandbox %s resumed\n", (const char *)id);
}

static int pause_or_resume(AlkCli *cli, const char *verb, int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = NULL;
	const char *id = NULL;
	gboolean json = FALSE;

	if (!alk_cmd_pause_parse(verb, argc, argv, &id, &json, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	cli->json |= json;
	path = g_strdup_printf("/v1/sandboxes/%s/%s", id, verb);
	return alk_cli_change(cli, "POST", path, NULL,
	                      g_str_equal(verb, "pause") ? describe_paused : describe_resumed,
	                      (gpointer)id);
}

int alk_cmd_pause(AlkCli *cli, int argc, char **argv)
{
	return pause_or_resume(cli, "pause", argc, argv);
}

int alk_cmd_resume(AlkCli *cli, int argc, char **argv)
{
	return pause_or_resume(cli, "resume", argc, argv);
}
