/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlock images: what can be created. */
#include "alk-cmd.h"

#include "alk-cli-table.h"

static char *format(JsonObject *doc)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();

	return alk_cli_format_images(alk_cli_json_array(doc, "images"), now);
}

int alk_cmd_images(AlkCli *cli, int argc, char **argv)
{
	g_autoptr(GError) error = NULL;

	if (!alk_cmd_parse_plain(cli, argc, argv, 0, NULL, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	return alk_cli_show(cli, "/v1/images", format);
}
