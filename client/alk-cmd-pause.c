/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlock pause ID / airlock resume ID: a sandbox's vCPUs stop and start. */
#include "alk-cmd.h"

gboolean alk_cmd_pause_parse(const char *verb, int argc, char **argv, const char **id,
                             gboolean *json, GError **error)
{
	const AlkCliOptionGroup groups[] = {{NULL, 0}};
	g_auto(AlkCliArgs) args = {0};

	if (!alk_cli_parse(groups, NULL, 1, argc, argv, &args, error))
		return FALSE;
	if (args.extra != NULL || args.command != NULL || args.positional->len > 1) {
		g_autofree char *shown =
		    alk_cli_shown(args.extra != NULL         ? args.extra[0]
		                  : args.positional->len > 1 ? g_ptr_array_index(args.positional, 1)
		                                             : "--");
		return alk_cli_usage_error(error, "unexpected argument '%s'", shown);
	}
	if (args.positional->len < 1)
		return alk_cli_usage_error(error, "usage: airlock %s ID", verb);
	*id = g_ptr_array_index(args.positional, 0);
	*json = args.json;
	return alk_cli_check_id(*id, error);
}

static int pause_or_resume(AlkCli *cli, const char *verb, int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = NULL;
	g_autofree char *text = NULL;
	g_autoptr(GBytes) answer = NULL;
	const char *id = NULL;
	gboolean json = FALSE;

	if (!alk_cmd_pause_parse(verb, argc, argv, &id, &json, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	cli->json |= json;
	path = g_strdup_printf("/v1/sandboxes/%s/%s", id, verb);
	answer = alk_cli_call(cli, "POST", path, NULL, &error);
	if (answer == NULL)
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	if (cli->json)
		return alk_cli_print_json(answer, &error)
		           ? ALK_EXIT_OK
		           : alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	text = g_strdup_printf("sandbox %s %s\n", id,
	                       g_str_equal(verb, "pause") ? "paused" : "resumed");
	return alk_cli_print(text, &error) ? ALK_EXIT_OK
	                                   : alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
}

int alk_cmd_pause(AlkCli *cli, int argc, char **argv)
{
	return pause_or_resume(cli, "pause", argc, argv);
}

int alk_cmd_resume(AlkCli *cli, int argc, char **argv)
{
	return pause_or_resume(cli, "resume", argc, argv);
}
