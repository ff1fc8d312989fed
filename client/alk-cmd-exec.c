/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlock exec [--timeout S] [--env K=V]… [--cwd D] [-i] ID -- CMD…
 * Streams the command's output and exits with its status (124 timed out,
 * 128+N killed by signal N, 125 when airlock itself failed). */
#include "alk-cmd.h"

void alk_exec_cmd_clear(AlkExecCmd *c)
{
	alk_exec_opts_clear(&c->exec);
	c->id = NULL;
	c->command = NULL;
	c->command_len = 0;
}

/* One ID, then "--" and the command. A second word without "--" is the
 * classic mistake ("exec ID ls -l"): say so. */
static gboolean check_words(AlkCliArgs *args, GError **error)
{
	if (args->positional->len == 0)
		return alk_cli_usage_error(error, "missing the sandbox ID");
	if (args->extra != NULL)
		return alk_cli_usage_error(
		    error, "missing '--' before the command (airlock exec ID -- CMD…)");
	return alk_cli_check_id(g_ptr_array_index(args->positional, 0), error) &&
	       alk_cli_check_argv(args->command, args->command_len, error);
}

gboolean alk_cmd_exec_parse(int argc, char **argv, AlkExecCmd *out, GError **error)
{
	const AlkCliOptionGroup groups[] = {
	    {alk_exec_options, G_STRUCT_OFFSET(AlkExecCmd, exec)},
	    {NULL, 0},
	};
	g_auto(AlkCliArgs) args = {0};

	if (!alk_cli_parse(groups, out, 1, argc, argv, &args, error) || !check_words(&args, error))
		return FALSE;
	out->id = g_ptr_array_index(args.positional, 0);
	out->command = args.command;
	out->command_len = args.command_len;
	out->json = args.json;
	return TRUE;
}

int alk_cmd_exec(AlkCli *cli, int argc, char **argv)
{
	g_auto(AlkExecCmd) cmd = {0};
	g_autoptr(GError) error = NULL;
	AlkExecResult result = {0};

	if (!alk_cmd_exec_parse(argc, argv, &cmd, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_EXEC_FAILURE);
	cli->json |= cmd.json;
	if (!alk_cli_exec_command(cli, cmd.id, &cmd.exec, cmd.command, cmd.command_len, &result,
	                          &error))
		return alk_cli_fail(cli, error, ALK_EXIT_EXEC_FAILURE);
	return alk_exec_result_status(&result);
}
