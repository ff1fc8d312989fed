/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlock run [create options] [exec options] [--rm] -- CMD…
 * Creates a sandbox, waits until it is ready, runs the command streaming
 * its output, and with --rm deletes the sandbox whatever happened, Ctrl-C
 * included. The sandbox is created without ?wait=ready so that its ID is
 * known from the first moment; readiness is then polled with a deadline. */
#include "alk-cmd.h"

#include "alk-cli-table.h"

#define POLL_MS 200
#define BOOT_DEADLINE_S 900

static gboolean set_rm(gpointer owner, const char *value, GError **error)
{
	((AlkRunCmd *)owner)->rm = TRUE;
	return TRUE;
}

static const AlkCliOption run_options[] = {
    {"rm", 0, FALSE, set_rm},
    {NULL, 0, FALSE, NULL},
};

void alk_run_cmd_clear(AlkRunCmd *c)
{
	alk_create_opts_clear(&c->create);
	alk_exec_opts_clear(&c->exec);
	c->rm = FALSE;
	c->command = NULL;
	c->command_len = 0;
}

gboolean alk_cmd_run_parse(int argc, char **argv, AlkRunCmd *out, GError **error)
{
	const AlkCliOptionGroup groups[] = {
	    {alk_create_options, G_STRUCT_OFFSET(AlkRunCmd, create)},
	    {alk_exec_options, G_STRUCT_OFFSET(AlkRunCmd, exec)},
	    {run_options, 0},
	    {NULL, 0},
	};
	g_auto(AlkCliArgs) args = {0};

	if (!alk_cli_parse(groups, out, 0, argc, argv, &args, error))
		return FALSE;
	if (args.extra != NULL)
		return alk_cli_usage_error(error, "missing '--' before the command (airlock run "
		                                  "[OPTIONS] -- CMD…)");
	if (!alk_create_opts_check(&out->create, error) ||
	    !alk_cli_check_argv(args.command, args.command_len, error))
		return FALSE;
	out->command = args.command;
	out->command_len = args.command_len;
	out->json = args.json;
	return TRUE;
}

/* The POST is shielded from Ctrl-C: its answer carries the ID that --rm
 * must delete. A second Ctrl-C still cancels it. */
static char *create_sandbox(AlkCli *cli, const AlkCreateOpts *o, GError **error)
{
	g_autoptr(GBytes) body = NULL;

	cli->shield = TRUE;
	body = alk_cli_create(cli, o, FALSE, error);
	cli->shield = FALSE;
	if (body == NULL)
		return NULL;
	return alk_cli_sandbox_id(body, error);
}

/* TRUE when ready; an error once it failed or ended. */
static gboolean poll_state(AlkCli *cli, const char *id, gboolean *ready, GError **error)
{
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s", id);
	g_autoptr(GBytes) body = alk_cli_call(cli, "GET", path, NULL, error);
	g_autoptr(JsonObject) obj = body != NULL ? alk_cli_parse_object(body, error) : NULL;
	const char *state = alk_cli_json_string(obj, "state");
	const char *why = alk_cli_json_string(obj, "error");

	if (obj == NULL)
		return FALSE;
	*ready = g_strcmp0(state, "ready") == 0;
	if (*ready || g_strcmp0(state, "creating") == 0 || g_strcmp0(state, "booting") == 0)
		return TRUE;
	g_set_error(error, ALK_CLI_ERROR, ALK_CLI_ERROR_FAILED, "sandbox %s is %s%s%s", id,
	            state != NULL ? state : "in an unknown state", why != NULL ? ": " : "",
	            why != NULL ? why : "");
	return FALSE;
}

static gboolean wait_ready(AlkCli *cli, const char *id, GError **error)
{
	g_autofree char *label = g_strdup_printf("booting sandbox %s", id);
	/* shown while it lives */
	G_GNUC_UNUSED g_autoptr(AlkCliProgress) progress = alk_cli_progress_new(label, TRUE);
	gint64 deadline = g_get_monotonic_time() + BOOT_DEADLINE_S * G_USEC_PER_SEC;
	gboolean ready = FALSE;

	if (cli->interrupts > 0) {
		g_set_error_literal(error, ALK_CLI_ERROR, ALK_CLI_ERROR_INTERRUPTED, "interrupted");
		return FALSE;
	}
	while (poll_state(cli, id, &ready, error) && !ready) {
		if (g_get_monotonic_time() > deadline) {
			g_set_error(error, ALK_CLI_ERROR, ALK_CLI_ERROR_TIMEOUT,
			            "sandbox %s was not ready within %d s", id, BOOT_DEADLINE_S);
			return FALSE;
		}
		if (!alk_cli_sleep(cli, POLL_MS, error))
			return FALSE;
	}
	return ready;
}

/* DELETE ?wait=destroyed, also after Ctrl-C (not after a second one). */
static int remove_sandbox(AlkCli *cli, const char *id, int status)
{
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s?wait=destroyed", id);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) body = NULL;

	if (g_cancellable_is_cancelled(cli->cancel) && !alk_cli_renew_cancellable(cli)) {
		g_printerr("airlock: sandbox %s was not removed: airlock rm %s\n", id, id);
		return status;
	}
	body = alk_cli_call(cli, "DELETE", path, NULL, &error);
	if (body != NULL || g_error_matches(error, ALK_CLI_HTTP_ERROR, SOUP_STATUS_NOT_FOUND))
		return status;
	g_printerr("airlock: removing sandbox %s: %s\n", id, error->message);
	return status != ALK_EXIT_OK ? status : ALK_EXIT_EXEC_FAILURE;
}

static gboolean boot_and_exec(AlkCli *cli, AlkRunCmd *cmd, char **id, AlkExecResult *result,
                              GError **error)
{
	*id = create_sandbox(cli, &cmd->create, error);
	if (*id == NULL || !wait_ready(cli, *id, error))
		return FALSE;
	return alk_cli_exec_command(cli, *id, &cmd->exec, cmd->command, cmd->command_len, result,
	                            error);
}

int alk_cmd_run(AlkCli *cli, int argc, char **argv)
{
	g_auto(AlkRunCmd) cmd = {0};
	g_autoptr(GError) error = NULL;
	g_autofree char *id = NULL;
	AlkExecResult result = {0};
	int status = ALK_EXIT_OK;

	if (!alk_cmd_run_parse(argc, argv, &cmd, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_EXEC_FAILURE);
	cli->json |= cmd.json;
	/* before a sandbox is made for nothing */
	if (!alk_cli_check_tty(&cmd.exec, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_EXEC_FAILURE);
	if (boot_and_exec(cli, &cmd, &id, &result, &error))
		status = alk_exec_result_status(&result);
	else
		status = alk_cli_fail(cli, error, ALK_EXIT_EXEC_FAILURE);
	if (id != NULL && cmd.rm)
		status = remove_sandbox(cli, id, status);
	return status;
}
