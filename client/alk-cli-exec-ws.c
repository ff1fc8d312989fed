/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* exec -i and -t over the WebSocket endpoint (/v1/sandboxes/{id}/exec/ws):
 * stdin streamed as it is read, within the daemon's window (stdin_ack=1),
 * and with -t a pseudo-terminal in the guest: our terminal in raw mode for
 * the session (restored on every way out), its size followed on SIGWINCH.
 * The frame format is docs/openapi.yaml's. */
#include "alk-cmd.h"

#include <errno.h>
#include <glib-unix.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "alk-cli-table.h"
#include "alk-json.h"

/* stdin sent beyond what the daemon said it took ({"stdin_taken":N}): its
 * queue takes 1 MiB and ends a session that sends more. */
#define WS_STDIN_WINDOW (1024 * 1024)
#define WS_STDIN_CHUNK (32 * 1024)
#define WS_CONTROL_MAX (64 * 1024)
#define WS_TTY_MAX 1000

typedef struct {
	AlkCli *cli;
	SoupWebsocketConnection *ws;
	AlkExecResult *result;
	gboolean forward_stdin;
	gboolean tty;
	gboolean ended; /* an exit or error frame came */
	gboolean closed;
	GError *error;
	guint stdin_id, winch_id;
	guint64 sent, taken;
	guint rows, cols;
} WsExec;

/* The terminal as it was before raw mode: restored on every way out,
 * including the signals that end us without the main loop. */
static struct termios saved_termios;
static volatile sig_atomic_t raw_active;

static void raw_restore(void)
{
	if (raw_active) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
		raw_active = 0;
	}
}

static void raw_fatal(int signo)
{
	raw_restore();
	signal(signo, SIG_DFL);
	raise(signo);
}

static gboolean raw_enter(GError **error)
{
	static const int fatal[] = {SIGQUIT, SIGABRT, SIGSEGV, SIGBUS};
	static gboolean registered;
	struct termios raw;

	if (tcgetattr(STDIN_FILENO, &saved_termios) < 0) {
		g_set_error(error, ALK_CLI_ERROR, ALK_CLI_ERROR_FAILED, "reading the terminal: %s",
		            g_strerror(errno));
		return FALSE;
	}
	if (!registered) {
		atexit(raw_restore);
		registered = TRUE;
	}
	for (guint i = 0; i < G_N_ELEMENTS(fatal); i++)
		signal(fatal[i], raw_fatal);
	raw = saved_termios;
	cfmakeraw(&raw);
	raw_active = 1;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) < 0) {
		raw_active = 0;
		g_set_error(error, ALK_CLI_ERROR, ALK_CLI_ERROR_FAILED, "raw mode: %s",
		            g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

gboolean alk_cli_check_tty(const AlkExecOpts *o, GError **error)
{
	if (o->tty && !isatty(STDIN_FILENO))
		return alk_cli_usage_error(error, "-t needs a terminal on stdin (to pipe input "
		                                  "into the command, use -i alone)");
	return TRUE;
}

/* Our terminal's size, within what the daemon takes; FALSE when unknown. */
static gboolean window_size(guint *rows, guint *cols)
{
	struct winsize ws = {0};

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0)
		return FALSE;
	if (ws.ws_row == 0 || ws.ws_col == 0)
		return FALSE;
	*rows = MIN(ws.ws_row, WS_TTY_MAX);
	*cols = MIN(ws.ws_col, WS_TTY_MAX);
	return TRUE;
}

static void add_query(GString *q, const char *key, const char *value)
{
	g_autofree char *escaped = g_uri_escape_string(value, NULL, FALSE);

	g_string_append_printf(q, "%c%s=%s", strchr(q->str, '?') ? '&' : '?', key, escaped);
}

static char *ws_path(const char *id, const AlkExecOpts *o, char **argv, int argc, guint rows,
                     guint cols)
{
	GString *q = g_string_new(NULL);
	GHashTableIter it;
	gpointer k, v;

	g_string_printf(q, "/v1/sandboxes/%s/exec/ws", id);
	for (int i = 0; i < argc; i++)
		add_query(q, "argv", argv[i]);
	if (o->env != NULL) {
		g_hash_table_iter_init(&it, o->env);
		while (g_hash_table_iter_next(&it, &k, &v)) {
			g_autofree char *kv = g_strconcat(k, "=", v, NULL);
			add_query(q, "env", kv);
		}
	}
	if (o->cwd != NULL)
		add_query(q, "cwd", o->cwd);
	if (o->user != NULL)
		add_query(q, "user", o->user);
	if (o->timeout_s != 0)
		g_string_append_printf(q, "&timeout_s=%" G_GUINT64_FORMAT, o->timeout_s);
	if (o->tty)
		g_string_append(q, "&tty=1");
	if (o->tty && rows != 0)
		g_string_append_printf(q, "&rows=%u&cols=%u", rows, cols);
	g_string_append(q, "&stdin_ack=1");
	return g_string_free(q, FALSE);
}

static void ws_fail(WsExec *x, GError *error)
{
	if (x->error == NULL)
		x->error = error;
	else
		g_error_free(error);
	if (soup_websocket_connection_get_state(x->ws) == SOUP_WEBSOCKET_STATE_OPEN)
		soup_websocket_connection_close(x->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
}

static gboolean on_stdin(gint fd, GIOCondition cond, gpointer data);

static void stdin_watch(WsExec *x)
{
	if (x->stdin_id == 0 && x->forward_stdin && !x->ended)
		x->stdin_id =
		    g_unix_fd_add(STDIN_FILENO, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, x);
}

/* Reads what the window allows; at its edge the watch stops until the
 * daemon reports stdin taken. */
static gboolean on_stdin(gint fd, GIOCondition cond, gpointer data)
{
	WsExec *x = data;
	guint8 buf[WS_STDIN_CHUNK];
	guint64 room = WS_STDIN_WINDOW - (x->sent - x->taken);
	ssize_t n;

	if (room == 0) {
		x->stdin_id = 0;
		return G_SOURCE_REMOVE;
	}
	n = read(fd, buf, MIN(sizeof(buf), room));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return G_SOURCE_CONTINUE;
	if (n < 0) {
		ws_fail(x, g_error_new(ALK_CLI_ERROR, ALK_CLI_ERROR_FAILED, "reading stdin: %s",
		                       g_strerror(errno)));
		x->stdin_id = 0;
		return G_SOURCE_REMOVE;
	}
	if (n == 0) {
		soup_websocket_connection_send_text(x->ws, "{\"eof\":true}");
		x->forward_stdin = FALSE;
		x->stdin_id = 0;
		return G_SOURCE_REMOVE;
	}
	soup_websocket_connection_send_binary(x->ws, buf, (gsize)n);
	x->sent += (guint64)n;
	return G_SOURCE_CONTINUE;
}

static gboolean on_winch(gpointer data)
{
	WsExec *x = data;
	guint rows, cols;
	g_autofree char *text = NULL;

	if (!window_size(&rows, &cols) || (rows == x->rows && cols == x->cols))
		return G_SOURCE_CONTINUE;
	x->rows = rows;
	x->cols = cols;
	text = g_strdup_printf("{\"resize\":{\"rows\":%u,\"cols\":%u}}", rows, cols);
	soup_websocket_connection_send_text(x->ws, text);
	return G_SOURCE_CONTINUE;
}

static void on_text(WsExec *x, GBytes *message)
{
	gsize len = 0;
	const char *text = g_bytes_get_data(message, &len);
	g_autoptr(GError) local = NULL;
	g_autoptr(JsonObject) obj =
	    alk_json_parse_object(text, len, WS_CONTROL_MAX, ALK_JSON_MAX_DEPTH, &local);
	gint64 taken;

	if (obj == NULL) {
		ws_fail(x, g_error_new(ALK_CLI_ERROR, ALK_CLI_ERROR_PROTOCOL,
		                       "the daemon sent a malformed frame: %s", local->message));
		return;
	}
	if (alk_cli_json_int(obj, "stdin_taken", &taken)) {
		if (taken >= 0 && (guint64)taken <= x->sent && (guint64)taken > x->taken)
			x->taken = (guint64)taken;
		stdin_watch(x);
		return;
	}
	if (alk_cli_json_object(obj, "error") != NULL) {
		const char *why = alk_cli_json_string(alk_cli_json_object(obj, "error"), "message");

		x->ended = TRUE;
		ws_fail(x, g_error_new_literal(ALK_CLI_ERROR, ALK_CLI_ERROR_FAILED,
		                               why != NULL ? why : "the command failed to run"));
		return;
	}
	x->ended = TRUE;
	if (!alk_exec_result_read(obj, x->result, &local))
		ws_fail(x, g_steal_pointer(&local));
}

static void on_ws_message(SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer data)
{
	WsExec *x = data;
	gsize len = 0;
	const guint8 *d = g_bytes_get_data(message, &len);
	GError *error = NULL;

	if (type == SOUP_WEBSOCKET_DATA_TEXT) {
		on_text(x, message);
		return;
	}
	if (len == 0 || (d[0] != 1 && d[0] != 2))
		return; /* a kind of frame from a newer daemon */
	if (!alk_cli_write_all(d[0] == 1 ? STDOUT_FILENO : STDERR_FILENO, d + 1, len - 1, &error))
		ws_fail(x, error);
}

static void on_ws_closed(SoupWebsocketConnection *ws, gpointer data)
{
	WsExec *x = data;
	const char *reason = soup_websocket_connection_get_close_data(ws);

	x->closed = TRUE;
	if (x->ended || x->error != NULL)
		return;
	x->error = g_error_new(ALK_CLI_ERROR, ALK_CLI_ERROR_PROTOCOL,
	                       "airlockd ended the session before the command finished%s%s",
	                       reason != NULL && *reason ? ": " : "", reason ? reason : "");
}

/* A refused handshake carries no message: the sandbox's state explains. */
static void explain_refusal(AlkCli *cli, const char *id, GError **error)
{
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s", id);
	g_autoptr(GError) local = NULL;
	g_autoptr(GBytes) body = NULL;
	g_autoptr(JsonObject) obj = NULL;
	const char *state;

	if (*error == NULL || (*error)->domain != ALK_CLI_HTTP_ERROR)
		return;
	body = alk_cli_call(cli, "GET", path, NULL, &local);
	if (body == NULL) {
		g_clear_error(error);
		g_propagate_error(error, g_steal_pointer(&local));
		return;
	}
	obj = alk_cli_parse_object(body, NULL);
	state = alk_cli_json_string(obj, "state");
	if (state != NULL && g_strcmp0(state, "ready") != 0)
		g_prefix_error(error, "sandbox %s is %s: ", id, state);
}

static gboolean ws_session(AlkCli *cli, WsExec *x, GError **error)
{
	g_signal_connect(x->ws, "message", G_CALLBACK(on_ws_message), x);
	g_signal_connect(x->ws, "closed", G_CALLBACK(on_ws_closed), x);
	if (x->tty)
		x->winch_id = g_unix_signal_add(SIGWINCH, on_winch, x);
	stdin_watch(x);
	if (!x->forward_stdin)
		soup_websocket_connection_send_text(x->ws, "{\"eof\":true}");
	while (!x->closed && !g_cancellable_is_cancelled(cli->cancel))
		g_main_context_iteration(NULL, TRUE);
	g_clear_handle_id(&x->stdin_id, g_source_remove);
	g_clear_handle_id(&x->winch_id, g_source_remove);
	if (!x->closed) {
		/* interrupted: closing is what kills the command */
		soup_websocket_connection_close(x->ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, NULL);
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled");
		alk_cli_explain_cancel(cli, error);
		return FALSE;
	}
	if (x->error != NULL) {
		g_propagate_error(error, g_steal_pointer(&x->error));
		return FALSE;
	}
	return TRUE;
}

gboolean alk_cli_exec_ws(AlkCli *cli, const char *id, const AlkExecOpts *o, char **argv, int argc,
                         AlkExecResult *result, GError **error)
{
	WsExec x = {.cli = cli, .result = result, .forward_stdin = o->interactive, .tty = o->tty};
	g_autofree char *path = NULL;
	g_autoptr(SoupMessage) msg = NULL;
	gboolean ok;

	if (!alk_cli_check_tty(o, error))
		return FALSE;
	if (o->tty)
		window_size(&x.rows, &x.cols);
	path = ws_path(id, o, argv, argc, x.rows, x.cols);
	msg = alk_cli_message(cli, "GET", path, error);
	if (msg == NULL)
		return FALSE;
	x.ws = alk_cli_websocket(cli, msg, error);
	if (x.ws == NULL) {
		explain_refusal(cli, id, error);
		return FALSE;
	}
	/* ^C, ^Z, ^D are the guest's now; only -t with -i takes the keyboard */
	if (o->tty && o->interactive && !raw_enter(error)) {
		g_object_unref(x.ws);
		return FALSE;
	}
	ok = ws_session(cli, &x, error);
	raw_restore();
	g_signal_handlers_disconnect_by_data(x.ws, &x);
	g_object_unref(x.ws);
	g_clear_error(&x.error);
	return ok;
}
