/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlock logs ID: the sandbox's serial console (its last 256 KiB). The
 * guest writes it, so on a terminal its control characters are defused. */
#include "alk-cmd.h"

#include <unistd.h>

#include "alk-cli-table.h"

/* Keeps newlines and tabs, replaces other control characters. */
static char *defuse(GBytes *body)
{
	gsize len = 0;
	const char *data = g_bytes_get_data(body, &len);
	g_autofree char *text = g_strndup(data != NULL ? data : "", len);
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	GString *out = g_string_new(NULL);

	for (char **l = lines; *l != NULL; l++) {
		g_strdelimit(*l, "\t", ' ');
		g_autofree char *clean = alk_cli_sanitize(*l);
		g_string_append_printf(out, "%s%s", l != lines ? "\n" : "", clean);
	}
	return g_string_free(out, FALSE);
}

int alk_cmd_logs(AlkCli *cli, int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = NULL;
	g_autoptr(GBytes) body = NULL;
	gboolean ok = FALSE;
	const char *id = NULL;

	if (!alk_cmd_parse_plain(cli, argc, argv, 1, &id, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	path = g_strdup_printf("/v1/sandboxes/%s/console", id);
	body = alk_cli_call(cli, "GET", path, NULL, &error);
	if (body == NULL)
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	if (isatty(STDOUT_FILENO)) {
		g_autofree char *text = defuse(body);
		ok = alk_cli_print(text, &error);
	} else {
		ok = alk_cli_write_all(STDOUT_FILENO, g_bytes_get_data(body, NULL),
		                       g_bytes_get_size(body), &error);
	}
	return ok ? ALK_EXIT_OK : alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
}
