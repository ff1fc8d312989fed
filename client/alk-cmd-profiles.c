/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlock profiles: the limits a sandbox can get (default/max). */
#include "alk-cmd.h"

#include "alk-cli-table.h"

int alk_cmd_profiles(AlkCli *cli, int argc, char **argv)
{
	g_autoptr(GError) error = NULL;

	if (!alk_cmd_parse_plain(cli, argc, argv, 0, NULL, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	return alk_cli_show(cli, "/v1/profiles", alk_cli_format_profiles);
}
