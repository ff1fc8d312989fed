/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-cli.h"

#include <errno.h>
#include <glib-unix.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "alk-cli-table.h"

static gboolean on_signal(gpointer data)
{
	AlkCli *cli = data;

	cli->interrupts++;
	if (!cli->shield || cli->interrupts >= 2)
		g_cancellable_cancel(cli->cancel);
	return G_SOURCE_CONTINUE;
}

AlkCli *alk_cli_new(void)
{
	AlkCli *cli = g_new0(AlkCli, 1);
	static const int signals[] = {SIGINT, SIGTERM, SIGHUP};

	cli->cancel = g_cancellable_new();
	cli->verb = "";
	cli->usage = "";
	/* A closed stdout must not kill us before run --rm cleans up. */
	signal(SIGPIPE, SIG_IGN);
	for (guint i = 0; i < G_N_ELEMENTS(signals); i++)
		cli->signal_ids[i] = g_unix_signal_add(signals[i], on_signal, cli);
	return cli;
}

void alk_cli_free(AlkCli *cli)
{
	if (cli == NULL)
		return;
	alk_cli_arm_deadline(cli, 0);
	for (guint i = 0; i < G_N_ELEMENTS(cli->signal_ids); i++)
		g_clear_handle_id(&cli->signal_ids[i], g_source_remove);
	g_clear_object(&cli->session);
	g_clear_object(&cli->cancel);
	g_free(cli->socket_path);
	g_free(cli->base_url);
	g_free(cli->cacert);
	g_free(cli->token);
	g_free(cli);
}

/* ---- global options ------------------------------------------------------------------------- */

/* 1: it was this option, 0: it was not, -1: error */
static int take_value(const char *name, int argc, char **argv, int *i, char **slot, GError **error)
{
	const char *arg = argv[*i];
	gsize n = strlen(name);

	if (strncmp(arg, name, n) != 0 || (arg[n] != '\0' && arg[n] != '='))
		return 0;
	if (*slot != NULL)
		return alk_cli_usage_error(error, "%s given twice", name) ? 1 : -1;
	if (arg[n] == '=') {
		*slot = g_strdup(arg + n + 1);
		return 1;
	}
	if (*i + 1 >= argc)
		return alk_cli_usage_error(error, "%s needs a value", name) ? 1 : -1;
	(*i)++;
	*slot = g_strdup(argv[*i]);
	return 1;
}

typedef struct {
	char *socket_path;
	char *url;
	char *token;
	char *cacert;
} Global;

static void global_clear(Global *g)
{
	g_free(g->socket_path);
	g_free(g->url);
	g_free(g->token);
	g_free(g->cacert);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Global, global_clear)

static gboolean global_option(AlkCli *cli, int argc, char **argv, int *i, Global *g, GError **error)
{
	const char *arg = argv[*i];
	int r = 0;

	if (strcmp(arg, "--json") == 0) {
		cli->json = TRUE;
		return TRUE;
	}
	if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
		g_set_error_literal(error, ALK_CLI_ERROR, ALK_CLI_ERROR_HELP, "help");
		return FALSE;
	}
	if ((r = take_value("--socket", argc, argv, i, &g->socket_path, error)) != 0 ||
	    (r = take_value("--url", argc, argv, i, &g->url, error)) != 0 ||
	    (r = take_value("--token", argc, argv, i, &g->token, error)) != 0 ||
	    (r = take_value("--cacert", argc, argv, i, &g->cacert, error)) != 0)
		return r > 0;
	g_autofree char *shown = alk_cli_shown(arg);
	return alk_cli_usage_error(error, "unknown option '%s'", shown);
}

static char *env(const char *name)
{
	const char *v = g_getenv(name);

	return v != NULL && v[0] != '\0' ? g_strdup(v) : NULL;
}

/* The command line wins over the environment; both variables set is a mistake. */
static gboolean resolve_target(Global *g, GError **error)
{
	if (g->socket_path != NULL && g->url != NULL)
		return alk_cli_usage_error(error, "--socket and --url exclude each other");
	if (g->socket_path == NULL && g->url == NULL) {
		g->socket_path = env("AIRLOCK_SOCKET");
		g->url = env("AIRLOCK_URL");
		if (g->socket_path != NULL && g->url != NULL)
			return alk_cli_usage_error(error,
			                           "AIRLOCK_SOCKET and AIRLOCK_URL are both "
			                           "set; unset one, or pass --socket or --url");
	}
	if (g->token == NULL)
		g->token = env("AIRLOCK_TOKEN");
	if (g->cacert == NULL)
		g->cacert = env("AIRLOCK_CACERT");
	if (g->cacert != NULL && g->cacert[0] == '\0')
		return alk_cli_usage_error(error, "--cacert: an empty path");
	if (g->socket_path == NULL && g->url == NULL)
		g->socket_path = g_strdup(ALK_CLI_DEFAULT_SOCKET);
	return (g->socket_path == NULL || alk_cli_check_socket_path(g->socket_path, error)) &&
	       (g->url == NULL || alk_cli_check_url(g->url, error)) &&
	       (g->token == NULL || alk_cli_check_token(g->token, error));
}

gboolean alk_cli_parse_global(AlkCli *cli, int *argc, char ***argv, GError **error)
{
	g_auto(Global) g = {0};
	int i = 1;

	for (; i < *argc && (*argv)[i][0] == '-' && (*argv)[i][1] != '\0'; i++) {
		if (strcmp((*argv)[i], "--") == 0) {
			i++;
			break;
		}
		if (!global_option(cli, *argc, *argv, &i, &g, error))
			return FALSE;
	}
	if (!resolve_target(&g, error))
		return FALSE;
	if (g.url != NULL) {
		gsize n = strlen(g.url);
		while (n > 0 && g.url[n - 1] == '/')
			g.url[--n] = '\0';
		cli->base_url = g_steal_pointer(&g.url);
	} else {
		cli->socket_path = g_steal_pointer(&g.socket_path);
		cli->base_url = g_strdup("http://localhost");
	}
	cli->token = g_steal_pointer(&g.token);
	cli->cacert = g_steal_pointer(&g.cacert);
	*argc -= i;
	*argv += i;
	return TRUE;
}

/* ---- reporting ------------------------------------------------------------------------------ */

char *alk_cli_error_text(const char *msg)
{
	g_auto(GStrv) lines = g_strsplit(msg, "\n", 200);
	GString *out = g_string_new("airlock: ");

	for (char **l = lines; *l != NULL; l++) {
		g_autofree char *clean = alk_cli_sanitize(*l);
		/* continuation lines are indented: text from the guest or the
		 * daemon never starts a line of its own */
		g_string_append_printf(out, "%s%s", l != lines ? "\n  " : "", clean);
	}
	g_string_append_c(out, '\n');
	return g_string_free(out, FALSE);
}

int alk_cli_fail(AlkCli *cli, const GError *error, int failure)
{
	gboolean usage = g_error_matches(error, ALK_CLI_ERROR, ALK_CLI_ERROR_USAGE);

	if (g_error_matches(error, ALK_CLI_ERROR, ALK_CLI_ERROR_HELP)) {
		g_print("%s", cli->usage);
		return ALK_EXIT_OK;
	}
	if (g_error_matches(error, ALK_CLI_ERROR, ALK_CLI_ERROR_PIPE))
		return ALK_EXIT_PIPE;
	g_autofree char *msg = alk_cli_error_text(error->message);
	g_printerr("%s", msg);
	if (usage)
		g_printerr("Try 'airlock %s%s--help'.\n", cli->verb,
		           cli->verb[0] != '\0' ? " " : "");
	if (g_error_matches(error, ALK_CLI_ERROR, ALK_CLI_ERROR_INTERRUPTED))
		return ALK_EXIT_INTERRUPTED;
	if (usage && failure == ALK_EXIT_FAILURE)
		return ALK_EXIT_USAGE;
	return failure;
}

/* ---- waiting -------------------------------------------------------------------------------- */

void alk_cli_async_done(GObject *source, GAsyncResult *res, gpointer slot)
{
	*(GAsyncResult **)slot = g_object_ref(res);
}

void alk_cli_await(AlkCli *cli, GAsyncResult **slot)
{
	while (*slot == NULL)
		g_main_context_iteration(NULL, TRUE);
}

static gboolean on_deadline(gpointer data)
{
	AlkCli *cli = data;

	cli->deadline_id = 0;
	cli->timed_out = TRUE;
	g_cancellable_cancel(cli->cancel);
	return G_SOURCE_REMOVE;
}

void alk_cli_arm_deadline(AlkCli *cli, guint seconds)
{
	g_clear_handle_id(&cli->deadline_id, g_source_remove);
	if (seconds > 0)
		cli->deadline_id = g_timeout_add_seconds(seconds, on_deadline, cli);
}

gboolean alk_cli_renew_cancellable(AlkCli *cli)
{
	if (cli->interrupts >= 2)
		return FALSE;
	g_clear_object(&cli->cancel);
	cli->cancel = g_cancellable_new();
	cli->timed_out = FALSE;
	return TRUE;
}

static gboolean on_sleep_done(gpointer data)
{
	*(gboolean *)data = TRUE;
	return G_SOURCE_REMOVE;
}

gboolean alk_cli_sleep(AlkCli *cli, guint ms, GError **error)
{
	gboolean fired = FALSE;
	guint id = g_timeout_add(ms, on_sleep_done, &fired);

	while (!fired && !g_cancellable_is_cancelled(cli->cancel))
		g_main_context_iteration(NULL, TRUE);
	if (!fired)
		g_source_remove(id);
	if (g_cancellable_set_error_if_cancelled(cli->cancel, error)) {
		alk_cli_explain_cancel(cli, error);
		return FALSE;
	}
	return TRUE;
}

void alk_cli_explain_cancel(AlkCli *cli, GError **error)
{
	if (error == NULL || !g_error_matches(*error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	g_clear_error(error);
	if (cli->timed_out)
		g_set_error(error, ALK_CLI_ERROR, ALK_CLI_ERROR_TIMEOUT,
		            "airlockd did not answer within %d s", ALK_CLI_CALL_TIMEOUT_S);
	else
		g_set_error_literal(error, ALK_CLI_ERROR, ALK_CLI_ERROR_INTERRUPTED, "interrupted");
}

/* ---- output --------------------------------------------------------------------------------- */

gboolean alk_cli_write_all(int fd, const void *data, gsize len, GError **error)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EPIPE) {
			g_set_error_literal(error, ALK_CLI_ERROR, ALK_CLI_ERROR_PIPE,
			                    "output closed");
			return FALSE;
		}
		if (n < 0) {
			int saved = errno;
			g_set_error(error, ALK_CLI_ERROR, ALK_CLI_ERROR_IO, "writing output: %s",
			            g_strerror(saved));
			return FALSE;
		}
		p += n;
		len -= (gsize)n;
	}
	return TRUE;
}

gboolean alk_cli_print(const char *text, GError **error)
{
	return alk_cli_write_all(STDOUT_FILENO, text, strlen(text), error);
}

int alk_cli_change(AlkCli *cli, const char *method, const char *path, const char *json,
                   AlkCliDescribe describe, gpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) answer = alk_cli_call(cli, method, path, json, &error);
	g_autoptr(JsonObject) doc = NULL;
	g_autofree char *text = NULL;

	if (answer == NULL)
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	if (cli->json)
		return alk_cli_print_json(answer, &error)
		           ? ALK_EXIT_OK
		           : alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	doc = alk_cli_parse_object(answer, &error);
	if (doc == NULL)
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	text = describe(doc, data);
	return alk_cli_print(text, &error) ? ALK_EXIT_OK
	                                   : alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
}

gboolean alk_cli_print_json(GBytes *body, GError **error)
{
	gsize len = 0;
	const char *data = g_bytes_get_data(body, &len);

	if (!alk_cli_write_all(STDOUT_FILENO, data, len, error))
		return FALSE;
	if (len > 0 && data[len - 1] == '\n')
		return TRUE;
	return alk_cli_write_all(STDOUT_FILENO, "\n", 1, error);
}
