/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlock version: the client's version, and the daemon's if it answers. */
#include "alk-cmd.h"

#include "alk-cli-table.h"

static char *daemon_line(GBytes *body, const GError *error)
{
	g_autoptr(GError) ignored = NULL;
	g_autoptr(JsonObject) doc = body != NULL ? alk_cli_parse_object(body, &ignored) : NULL;
	const char *version = alk_cli_json_string(doc, "version");
	const char *virt = alk_cli_json_string(doc, "virt_type");
	g_autofree char *v = alk_cli_sanitize(version != NULL ? version : "unknown");
	g_autofree char *t = alk_cli_sanitize(virt != NULL ? virt : "unknown");

	if (doc == NULL) {
		g_auto(GStrv) lines = g_strsplit(error != NULL ? error->message : "?", "\n", 2);
		g_autofree char *why = alk_cli_sanitize(lines[0]);
		return g_strdup_printf("airlockd: not reachable (%s)\n", why);
	}
	return g_strdup_printf("airlockd %s (virt %s)\n", v, t);
}

static char *as_json(GBytes *body)
{
	gsize len = 0;
	const char *data = body != NULL ? g_bytes_get_data(body, &len) : NULL;
	g_autofree char *health = data != NULL ? g_strndup(data, len) : g_strdup("null");

	return g_strdup_printf("{\"client\":\"%s\",\"daemon\":%s}\n", ALK_VERSION,
	                       g_strstrip(health));
}

int alk_cmd_version(AlkCli *cli, int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) daemon_error = NULL;
	g_autoptr(GBytes) body = NULL;
	g_autoptr(JsonObject) check = NULL;
	g_autofree char *text = NULL;

	if (!alk_cmd_parse_plain(cli, argc, argv, 0, NULL, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	body = alk_cli_call(cli, "GET", "/v1/health", NULL, &daemon_error);
	/* Only a well-formed answer goes into the JSON document. */
	check = body != NULL ? alk_cli_parse_object(body, NULL) : NULL;
	if (check == NULL)
		g_clear_pointer(&body, g_bytes_unref);
	if (cli->json) {
		text = as_json(body);
	} else {
		g_autofree char *line = daemon_line(body, daemon_error);
		text = g_strdup_printf("airlock %s\n%s", ALK_VERSION, line);
	}
	return alk_cli_print(text, &error) ? ALK_EXIT_OK
	                                   : alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
}
