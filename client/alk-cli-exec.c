/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Running a command in a sandbox, for exec and run: the request body, the
 * NDJSON output stream written to our stdout and stderr as it arrives, and
 * the exit status. With -i or -t the command runs over the WebSocket
 * endpoint instead (the streamed POST cannot take a request body and
 * answer at the same time, libsoup 3.2): stdin streamed within the
 * daemon's window, a pseudo-terminal with -t. Only -i with --json still
 * reads stdin whole, up to ALK_CLI_STDIN_MAX, and sends it as stdin_b64. */
#include "alk-cmd.h"

#include <errno.h>
#include <gio/gunixinputstream.h>
#include <glib-unix.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "alk-cli-table.h"
#include "alk-json.h"

#define READ_CHUNK (64 * 1024)
#define LINE_MAX_BYTES (16 * 1024 * 1024)

/* ---- options -------------------------------------------------------------------------------- */

#define O(owner) ((AlkExecOpts *)(owner))

static gboolean set_timeout(gpointer owner, const char *value, GError **error)
{
	if (O(owner)->timeout_s != 0)
		return alk_cli_usage_error(error, "given twice");
	return alk_cli_parse_uint("the timeout (seconds)", value, 1, ALK_CLI_TIMEOUT_MAX,
	                          &O(owner)->timeout_s, error);
}

static gboolean set_env(gpointer owner, const char *value, GError **error)
{
	AlkExecOpts *o = owner;
	g_autofree char *key = NULL;
	g_autofree char *val = NULL;

	if (!alk_cli_split_kv(value, &key, &val, error) || !alk_cli_check_env(key, val, error))
		return FALSE;
	if (o->env == NULL)
		o->env = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	if (g_hash_table_contains(o->env, key))
		return alk_cli_usage_error(error, "%s given twice", key);
	if (g_hash_table_size(o->env) >= ALK_CLI_ENV_MAX)
		return alk_cli_usage_error(error, "at most %d variables", ALK_CLI_ENV_MAX);
	g_hash_table_insert(o->env, g_steal_pointer(&key), g_steal_pointer(&val));
	return TRUE;
}

static gboolean set_cwd(gpointer owner, const char *value, GError **error)
{
	if (O(owner)->cwd != NULL)
		return alk_cli_usage_error(error, "given twice");
	if (!alk_cli_check_guest_path(value, TRUE, error))
		return FALSE;
	O(owner)->cwd = g_strdup(value);
	return TRUE;
}

static gboolean set_interactive(gpointer owner, const char *value, GError **error)
{
	O(owner)->interactive = TRUE;
	return TRUE;
}

static gboolean set_tty(gpointer owner, const char *value, GError **error)
{
	O(owner)->tty = TRUE;
	return TRUE;
}

const AlkCliOption alk_exec_options[] = {
    {"timeout", 0, TRUE, set_timeout}, {"env", 'e', TRUE, set_env},
    {"cwd", 'w', TRUE, set_cwd},       {"interactive", 'i', FALSE, set_interactive},
    {"tty", 't', FALSE, set_tty},      {NULL, 0, FALSE, NULL},
};

/* shell: always -it */
const AlkCliOption alk_shell_options[] = {
    {"timeout", 0, TRUE, set_timeout},
    {"env", 'e', TRUE, set_env},
    {"cwd", 'w', TRUE, set_cwd},
    {NULL, 0, FALSE, NULL},
};

void alk_exec_opts_clear(AlkExecOpts *o)
{
	g_clear_pointer(&o->env, g_hash_table_unref);
	g_clear_pointer(&o->cwd, g_free);
	o->timeout_s = 0;
	o->interactive = FALSE;
	o->tty = FALSE;
}

char *alk_exec_body(const AlkExecOpts *o, char **argv, int argc, GBytes *stdin_data)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	g_auto(GStrv) args = g_new0(char *, argc + 1);

	for (int i = 0; i < argc; i++)
		args[i] = g_strdup(argv[i]);
	json_builder_begin_object(b);
	alk_json_add_strv(b, "argv", (const char *const *)args);
	if (o->env != NULL)
		alk_json_add_map(b, "env", o->env);
	if (o->cwd != NULL)
		alk_json_add_string(b, "cwd", o->cwd);
	if (o->timeout_s != 0)
		alk_json_add_int(b, "timeout_s", (gint64)o->timeout_s);
	if (stdin_data != NULL) {
		gsize len = 0;
		const guchar *data = g_bytes_get_data(stdin_data, &len);
		g_autofree char *b64 = g_base64_encode(data, len);
		alk_json_add_string(b, "stdin_b64", b64);
	}
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	return alk_json_to_string(root);
}

/* ---- results -------------------------------------------------------------------------------- */

gboolean alk_exec_result_read(JsonObject *obj, AlkExecResult *out, GError **error)
{
	AlkExecResult r = {0};
	gboolean has_signal = alk_cli_json_int(obj, "signal", &r.signo);

	r.has_exit_code = alk_cli_json_int(obj, "exit_code", &r.exit_code);
	alk_cli_json_bool(obj, "timed_out", &r.timed_out);
	alk_cli_json_bool(obj, "truncated", &r.truncated);
	if (!r.has_exit_code && !has_signal && !r.timed_out) {
		g_set_error_literal(error, ALK_CLI_ERROR, ALK_CLI_ERROR_PROTOCOL,
		                    "the daemon's result has neither an exit code nor a signal");
		return FALSE;
	}
	if (!has_signal)
		r.signo = 0;
	*out = r;
	return TRUE;
}

int alk_exec_result_status(const AlkExecResult *r)
{
	if (r->truncated)
		g_printerr("airlock: output was cut at the sandbox's output cap\n");
	if (r->timed_out)
		g_printerr("airlock: the command timed out\n");
	return alk_cli_exit_status(r->has_exit_code, r->exit_code, r->signo, r->timed_out);
}

/* ---- stdin ---------------------------------------------------------------------------------- */

GBytes *alk_cli_read_stdin(AlkCli *cli, gsize cap, GError **error)
{
	g_autoptr(GInputStream) in = g_unix_input_stream_new(STDIN_FILENO, FALSE);
	g_autoptr(GError) local = NULL;
	GBytes *data = alk_cli_read_all(cli, in, cap, &local);

	if (data != NULL)
		return data;
	if (g_error_matches(local, ALK_CLI_ERROR, ALK_CLI_ERROR_PROTOCOL))
		g_set_error(error, ALK_CLI_ERROR, ALK_CLI_ERROR_USAGE,
		            "stdin exceeds %" G_GSIZE_FORMAT " MiB; copy big inputs in with "
		            "'airlock cp' instead",
		            cap / (1024 * 1024));
	else
		g_propagate_prefixed_error(error, g_steal_pointer(&local), "reading stdin: ");
	return NULL;
}

/* ---- the NDJSON stream ---------------------------------------------------------------------- */

typedef struct {
	GByteArray *line;
	AlkExecResult *result;
	gboolean ended;
} Stream;

static gboolean write_chunk(JsonObject *obj, int fd, GError **error)
{
	const char *b64 = alk_cli_json_string(obj, "data_b64");
	gsize len = 0;
	g_autofree guchar *data = NULL;

	if (b64 == NULL) {
		g_set_error_literal(error, ALK_CLI_ERROR, ALK_CLI_ERROR_PROTOCOL,
		                    "an output line without data_b64");
		return FALSE;
	}
	data = g_base64_decode(b64, &len);
	return alk_cli_write_all(fd, data, len, error);
}

static gboolean stream_error(JsonObject *obj, GError **error)
{
	JsonObject *err = alk_cli_json_object(obj, "error");
	const char *message = alk_cli_json_string(err, "message");

	g_set_error_literal(error, ALK_CLI_ERROR, ALK_CLI_ERROR_FAILED,
	                    message != NULL ? message : "the command failed to run");
	return FALSE;
}

static gboolean handle_line(Stream *s, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(JsonObject) obj = alk_json_parse_object(
	    (const char *)s->line->data, s->line->len, LINE_MAX_BYTES, ALK_JSON_MAX_DEPTH, &local);
	const char *stream = alk_cli_json_string(obj, "stream");

	if (obj == NULL) {
		g_set_error(error, ALK_CLI_ERROR, ALK_CLI_ERROR_PROTOCOL,
		            "the daemon sent a malformed output line: %s", local->message);
		return FALSE;
	}
	if (g_strcmp0(stream, "stdout") == 0)
		return write_chunk(obj, STDOUT_FILENO, error);
	if (g_strcmp0(stream, "stderr") == 0)
		return write_chunk(obj, STDERR_FILENO, error);
	if (g_strcmp0(stream, "exit") == 0) {
		s->ended = TRUE;
		return alk_exec_result_read(obj, s->result, error);
	}
	if (g_strcmp0(stream, "error") == 0) {
		s->ended = TRUE;
		return stream_error(obj, error);
	}
	return TRUE; /* a kind of line from a newer daemon */
}

static gboolean feed(Stream *s, const guint8 *data, gsize len, GError **error)
{
	while (len > 0 && !s->ended) {
		const guint8 *nl = memchr(data, '\n', len);
		gsize take = nl != NULL ? (gsize)(nl - data) : len;
		if (s->line->len + take > LINE_MAX_BYTES) {
			g_set_error(error, ALK_CLI_ERROR, ALK_CLI_ERROR_PROTOCOL,
			            "an output line exceeds %d bytes", LINE_MAX_BYTES);
			return FALSE;
		}
		g_byte_array_append(s->line, data, take);
		if (nl == NULL)
			break;
		if (s->line->len > 0 && !handle_line(s, error))
			return FALSE;
		g_byte_array_set_size(s->line, 0);
		data += take + 1;
		len -= take + 1;
	}
	return TRUE;
}

static gboolean read_stream(AlkCli *cli, GInputStream *in, Stream *s, GError **error)
{
	while (!s->ended) {
		g_autoptr(GAsyncResult) res = NULL;
		g_autoptr(GBytes) chunk = NULL;
		gsize len = 0;
		g_input_stream_read_bytes_async(in, READ_CHUNK, G_PRIORITY_DEFAULT, cli->cancel,
		                                alk_cli_async_done, &res);
		alk_cli_await(cli, &res);
		chunk = g_input_stream_read_bytes_finish(in, res, error);
		if (chunk == NULL) {
			alk_cli_explain_cancel(cli, error);
			return FALSE;
		}
		const guint8 *data = g_bytes_get_data(chunk, &len);
		if (len == 0)
			break;
		if (!feed(s, data, len, error))
			return FALSE;
	}
	if (!s->ended && s->line->len > 0 && !handle_line(s, error))
		return FALSE;
	if (!s->ended) {
		g_set_error_literal(error, ALK_CLI_ERROR, ALK_CLI_ERROR_PROTOCOL,
		                    "airlockd ended the output before the command finished");
		return FALSE;
	}
	return TRUE;
}

/* ---- whole results (--json, or a daemon that does not stream) ------------------------------- */

static gboolean write_whole(JsonObject *obj, const char *name, int fd, GError **error)
{
	g_autofree char *b64_name = g_strconcat(name, "_b64", NULL);
	const char *text = alk_cli_json_string(obj, name);
	const char *b64 = alk_cli_json_string(obj, b64_name);
	gsize len = 0;
	g_autofree guchar *data = NULL;

	if (text != NULL)
		return alk_cli_write_all(fd, text, strlen(text), error);
	if (b64 == NULL)
		return TRUE;
	data = g_base64_decode(b64, &len);
	return alk_cli_write_all(fd, data, len, error);
}

static gboolean whole_result(AlkCli *cli, GInputStream *in, gboolean print_json,
                             AlkExecResult *result, GError **error)
{
	g_autoptr(GBytes) body = alk_cli_read_all(cli, in, ALK_CLI_JSON_MAX, error);
	g_autoptr(JsonObject) obj = body != NULL ? alk_cli_parse_object(body, error) : NULL;

	if (obj == NULL)
		return FALSE;
	if (print_json)
		return alk_cli_print_json(body, error) && alk_exec_result_read(obj, result, error);
	return write_whole(obj, "stdout", STDOUT_FILENO, error) &&
	       write_whole(obj, "stderr", STDERR_FILENO, error) &&
	       alk_exec_result_read(obj, result, error);
}

gboolean alk_cli_exec(AlkCli *cli, const char *id, const char *body, AlkExecResult *result,
                      GError **error)
{
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s/exec", id);
	g_autoptr(SoupMessage) msg = alk_cli_message(cli, "POST", path, error);
	g_autoptr(GInputStream) in = NULL;
	g_autoptr(GByteArray) line = g_byte_array_new();
	Stream s = {line, result, FALSE};
	const char *type = NULL;

	if (msg == NULL)
		return FALSE;
	alk_cli_set_json_body(msg, body);
	if (!cli->json)
		soup_message_headers_replace(soup_message_get_request_headers(msg), "Accept",
		                             "application/x-ndjson");
	in = alk_cli_send(cli, msg, error);
	if (in == NULL)
		return FALSE;
	type = soup_message_headers_get_content_type(soup_message_get_response_headers(msg), NULL);
	if (cli->json || g_strcmp0(type, "application/x-ndjson") != 0)
		return whole_result(cli, in, cli->json, result, error);
	return read_stream(cli, in, &s, error);
}

/* ---- the WebSocket: -i and -t ---------------------------------------------------------------- */

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
		x->ended = TRUE;
		stream_error(obj, &local);
		ws_fail(x, g_steal_pointer(&local));
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

gboolean alk_cli_exec_command(AlkCli *cli, const char *id, const AlkExecOpts *o, char **argv,
                              int argc, AlkExecResult *result, GError **error)
{
	g_autoptr(GBytes) input = NULL;
	g_autofree char *body = NULL;

	if (o->tty || (o->interactive && !cli->json))
		return alk_cli_exec_ws(cli, id, o, argv, argc, result, error);
	if (o->interactive) {
		input = alk_cli_read_stdin(cli, ALK_CLI_STDIN_MAX, error);
		if (input == NULL)
			return FALSE;
	}
	body = alk_exec_body(o, argv, argc, input);
	return alk_cli_exec(cli, id, body, result, error);
}
