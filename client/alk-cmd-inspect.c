/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlock inspect ID: every field of one sandbox. */
#include "alk-cmd.h"

#include "alk-cli-table.h"

int alk_cmd_inspect(AlkCli *cli, int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = NULL;
	const char *id = NULL;

	if (!alk_cmd_parse_plain(cli, argc, argv, 1, &id, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	path = g_strdup_printf("/v1/sandboxes/%s", id);
	return alk_cli_show(cli, path, alk_cli_format_object);
}
