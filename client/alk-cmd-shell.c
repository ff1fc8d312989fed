/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlock shell [--timeout S] [-e K=V]… [-w DIR] ID [-- CMD…]: an interactive
 * shell, exec -it ID -- /bin/sh -l (or CMD). */
#include "alk-cmd.h"

int alk_cmd_shell(AlkCli *cli, int argc, char **argv)
{
	static char *login_shell[] = {"/bin/sh", "-l", NULL};
	const AlkCliOptionGroup groups[] = {
	    {alk_shell_options, G_STRUCT_OFFSET(AlkExecCmd, exec)},
	    {NULL, 0},
	};
	g_auto(AlkExecCmd) cmd = {0};
	g_auto(AlkCliArgs) args = {0};
	g_autoptr(GError) error = NULL;
	AlkExecResult result = {0};

	if (!alk_cli_parse(groups, &cmd, 1, argc, argv, &args, &error) ||
	    (args.positional->len == 0 && !alk_cli_usage_error(&error, "missing the sandbox ID")) ||
	    (args.extra != NULL &&
	     !alk_cli_usage_error(&error, "missing '--' before the command")) ||
	    !alk_cli_check_id(g_ptr_array_index(args.positional, 0), &error) ||
	    (args.command != NULL && !alk_cli_check_argv(args.command, args.command_len, &error)))
		return alk_cli_fail(cli, error, ALK_EXIT_EXEC_FAILURE);
	cmd.exec.interactive = TRUE;
	cmd.exec.tty = TRUE;
	if (!alk_cli_exec_ws(cli, g_ptr_array_index(args.positional, 0), &cmd.exec,
	                     args.command != NULL ? args.command : login_shell,
	                     args.command != NULL ? args.command_len : 2, &result, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_EXEC_FAILURE);
	return alk_exec_result_status(&result);
}
