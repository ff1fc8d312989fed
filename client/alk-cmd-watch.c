/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlock watch ID: a link to watch a sandbox's screen live from a browser
 * (POST /v1/sandboxes/ID/watch: a ticket good for one viewer, for a minute). */
#include "alk-cmd.h"

static char *describe(JsonObject *r, gpointer data)
{
	AlkCli *cli = data;
	const char *page = json_object_get_string_member_with_default(r, "watch_path", "");
	gint64 ttl = json_object_get_int_member_with_default(r, "expires_in_s", 0);

	/* over the unix socket no browser reaches the daemon: the path then,
	 * to open on its TCP listener (api.listen) */
	if (cli->socket_path != NULL)
		return g_strdup_printf("%s\n(on the daemon's TCP listener, api.listen; the ticket "
		                       "serves one viewer and expires in %" G_GINT64_FORMAT " s)\n",
		                       page, ttl);
	return g_strdup_printf(
	    "%s%s\n(the ticket serves one viewer and expires in %" G_GINT64_FORMAT " s)\n",
	    cli->base_url, page, ttl);
}

int alk_cmd_watch(AlkCli *cli, int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = NULL;
	const char *id = NULL;
	gboolean json = FALSE;

	if (!alk_cmd_pause_parse("watch", argc, argv, &id, &json, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	cli->json |= json;
	path = g_strdup_printf("/v1/sandboxes/%s/watch", id);
	return alk_cli_change(cli, "POST", path, NULL, describe, cli);
}
