/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlock ttl ID SECONDS: a new deadline, SECONDS from now. */
#include "alk-cmd.h"

#include "alk-cli-table.h"

gboolean alk_cmd_ttl_parse(int argc, char **argv, const char **id, guint64 *ttl_s, gboolean *json,
                           GError **error)
{
	const AlkCliOptionGroup groups[] = {{NULL, 0}};
	g_auto(AlkCliArgs) args = {0};

	if (!alk_cli_parse(groups, NULL, 2, argc, argv, &args, error))
		return FALSE;
	if (args.extra != NULL || args.command != NULL) {
		g_autofree char *shown = alk_cli_shown(args.extra != NULL ? args.extra[0] : "--");
		return alk_cli_usage_error(error, "unexpected argument '%s'", shown);
	}
	if (args.positional->len < 2)
		return alk_cli_usage_error(error, "usage: airlock ttl ID SECONDS");
	*id = g_ptr_array_index(args.positional, 0);
	*json = args.json;
	return alk_cli_check_id(*id, error) &&
	       alk_cli_parse_uint("SECONDS", g_ptr_array_index(args.positional, 1), 1,
	                          ALK_CLI_TTL_MAX, ttl_s, error);
}

static char *describe(JsonObject *sandbox, gpointer id)
{
	const char *expires = alk_cli_json_string(sandbox, "expires_at");
	g_autofree char *shown = alk_cli_sanitize(expires != NULL ? expires : "?");

	return g_strdup_printf("sandbox %s now expires at %s\n", (const char *)id, shown);
}

int alk_cmd_ttl(AlkCli *cli, int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = NULL;
	g_autofree char *body = NULL;
	const char *id = NULL;
	guint64 ttl_s = 0;
	gboolean json = FALSE;

	if (!alk_cmd_ttl_parse(argc, argv, &id, &ttl_s, &json, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	cli->json |= json;
	path = g_strdup_printf("/v1/sandboxes/%s/ttl", id);
	body = g_strdup_printf("{\"ttl_s\":%" G_GUINT64_FORMAT "}", ttl_s);
	return alk_cli_change(cli, "POST", path, body, describe, (gpointer)id);
}
