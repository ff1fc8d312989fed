/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the simple verbs share: argument checks and GET-and-show. */
#include "alk-cmd.h"

gboolean alk_cmd_parse_plain(AlkCli *cli, int argc, char **argv, guint n_ids, const char **id,
                             GError **error)
{
	const AlkCliOptionGroup groups[] = {{NULL, 0}};
	g_auto(AlkCliArgs) args = {0};

	if (!alk_cli_parse(groups, NULL, n_ids, argc, argv, &args, error))
		return FALSE;
	cli->json |= args.json;
	if (args.extra != NULL || args.command != NULL) {
		g_autofree char *shown = alk_cli_shown(args.extra != NULL ? args.extra[0] : "--");
		return alk_cli_usage_error(error, "unexpected argument '%s'", shown);
	}
	if (args.positional->len < n_ids)
		return alk_cli_usage_error(error, "missing the sandbox ID");
	if (n_ids == 0)
		return TRUE;
	*id = g_ptr_array_index(args.positional, 0);
	return alk_cli_check_id(*id, error);
}

int alk_cli_show(AlkCli *cli, const char *path, AlkCliFormat format)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) body = alk_cli_call(cli, "GET", path, NULL, &error);
	g_autoptr(JsonObject) doc = NULL;
	g_autofree char *text = NULL;

	if (body == NULL)
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	if (cli->json)
		return alk_cli_print_json(body, &error)
		           ? ALK_EXIT_OK
		           : alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	doc = alk_cli_parse_object(body, &error);
	if (doc == NULL)
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	text = format(doc);
	return alk_cli_print(text, &error) ? ALK_EXIT_OK
	                                   : alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
}
