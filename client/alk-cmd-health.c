/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlock health: the daemon's status; exits 1 unless it is "ok". */
#include "alk-cmd.h"

#include "alk-cli-table.h"

int alk_cmd_health(AlkCli *cli, int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) body = NULL;
	g_autoptr(JsonObject) doc = NULL;
	g_autofree char *text = NULL;
	gboolean ok = FALSE;

	if (!alk_cmd_parse_plain(cli, argc, argv, 0, NULL, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	body = alk_cli_call(cli, "GET", "/v1/health", NULL, &error);
	doc = body != NULL ? alk_cli_parse_object(body, &error) : NULL;
	if (doc == NULL)
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	if (cli->json) {
		ok = alk_cli_print_json(body, &error);
	} else {
		text = alk_cli_format_object(doc);
		ok = alk_cli_print(text, &error);
	}
	if (!ok)
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	return g_strcmp0(alk_cli_json_string(doc, "status"), "ok") == 0 ? ALK_EXIT_OK
	                                                                : ALK_EXIT_FAILURE;
}
