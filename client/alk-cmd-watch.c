/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlock watch [--control] ID: a link to watch a sandbox's screen live from
 * a browser (POST /v1/sandboxes/ID/watch: a ticket good for one viewer, for
 * a minute; with --control, ?control=1: the viewer's clicks and keys reach
 * the guest, which needs the write scope). */
#include "alk-cmd.h"

typedef struct {
	gboolean control;
} WatchOpts;

static gboolean set_control(gpointer owner, const char *value, GError **error)
{
	((WatchOpts *)owner)->control = TRUE;
	return TRUE;
}

static const AlkCliOption watch_options[] = {
    {"control", 0, FALSE, set_control},
    {NULL, 0, FALSE, NULL},
};

static char *describe(JsonObject *r, gpointer data)
{
	AlkCli *cli = data;
	const char *page = json_object_get_string_member_with_default(r, "watch_path", "");
	gint64 ttl = json_object_get_int_member_with_default(r, "expires_in_s", 0);
	const char *what = json_object_get_boolean_member_with_default(r, "control", FALSE)
	                       ? "; its clicks and keys reach the guest"
	                       : "";

	/* over the unix socket no browser reaches the daemon: the path then,
	 * to open on its TCP listener (api.listen) */
	if (cli->socket_path != NULL)
		return g_strdup_printf("%s\n(on the daemon's TCP listener, api.listen; the ticket "
		                       "serves one viewer and expires in %" G_GINT64_FORMAT
		                       " s%s)\n",
		                       page, ttl, what);
	return g_strdup_printf(
	    "%s%s\n(the ticket serves one viewer and expires in %" G_GINT64_FORMAT " s%s)\n",
	    cli->base_url, page, ttl, what);
}

int alk_cmd_watch(AlkCli *cli, int argc, char **argv)
{
	const AlkCliOptionGroup groups[] = {{watch_options, 0}, {NULL, 0}};
	g_autoptr(GError) error = NULL;
	g_autofree char *path = NULL;
	WatchOpts opts = {FALSE};
	const char *id = NULL;
	gboolean json = FALSE;

	if (!alk_cmd_id_parse("usage: airlock watch [--control] ID", groups, &opts, argc, argv, &id,
	                      &json, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	cli->json |= json;
	path = g_strdup_printf("/v1/sandboxes/%s/watch%s", id, opts.control ? "?control=1" : "");
	return alk_cli_change(cli, "POST", path, NULL, describe, cli);
}
