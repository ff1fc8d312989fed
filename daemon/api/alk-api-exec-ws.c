/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GET /v1/sandboxes/{id}/exec/ws?argv=...: an interactive exec over a
 * WebSocket (libsoup 3.2 cannot stream a request body and a response at
 * once). Binary frames from the client are stdin, a text frame
 * {"eof":true} closes it; the server sends binary frames prefixed with 1
 * (stdout) or 2 (stderr), then a text frame with the exit, and closes
 * with 1000. The process group is killed when the client goes away.
 * With tty=1 (and rows, cols) the process runs on a pseudo-terminal in the
 * guest: its output is all stream 1, and a text frame
 * {"resize":{"rows":R,"cols":C}} changes the window size. */
#include <linux/sockios.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "alk-api-private.h"
#include "alk-error.h"
#include "alk-json.h"

/* stdin the client may send ahead of the guest taking it */
#define STDIN_QUEUE_MAX (1024 * 1024)
#define KEEPALIVE_S 30
/* While the client is behind, how often its socket is looked at. */
#define BACKLOG_POLL_MS 50
/* Resizes reach the guest at most this often; the latest size wins. */
#define RESIZE_INTERVAL_MS 50
/* A control (text) frame from the client: {"eof":true} or {"resize":…}. */
#define CONTROL_MAX 4096
/* stdin_ack=1: how often the client hears how much stdin was taken. */
#define STDIN_ACK_STEP (64 * 1024)

typedef struct {
	AlkApiReq *req;
	SoupServerMessage *msg; /* keeps req */
	SoupWebsocketConnection *ws;
	AlkApiExecBody *body; /* what the handshake's query asked */
	AlkTask *task;
	GByteArray *stdin_queue;
	gboolean stdin_eof;
	gboolean closed;
	AlkApiExecTally tally;
	/* the client is behind: the exec is held until its socket drains */
	guint backlog_timer;
	gsize backlog;      /* unread bytes in the socket when last looked */
	gint64 progress_us; /* when the client last read something */
	/* tty: the window size asked for, and the one last sent */
	gboolean tty;
	guint rows, cols, sent_rows, sent_cols;
	/* stdin_ack=1: {"stdin_taken":N} tells the client how far it may send */
	gboolean stdin_ack;
	guint64 stdin_taken, stdin_acked;
	guint resize_timer;
} WsCtx;

/* ---- before the handshake ---- */

static gboolean parse_query(AlkApiReq *req, AlkApiExecBody *body, GError **error)
{
	g_autoptr(GStrvBuilder) argv = g_strv_builder_new();
	const char *timeout = alk_api_query(req, "timeout_s");

	body->env = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	for (guint i = 0; i + 1 < req->query->len; i += 2) {
		const char *key = g_ptr_array_index(req->query, i);
		const char *value = g_ptr_array_index(req->query, i + 1);
		const char *eq = strchr(value, '=');
		if (g_strcmp0(key, "argv") == 0) {
			g_strv_builder_add(argv, value);
		} else if (g_strcmp0(key, "env") == 0 && eq != NULL) {
			g_hash_table_insert(body->env, g_strndup(value, eq - value),
			                    g_strdup(eq + 1));
		} else if (g_strcmp0(key, "env") == 0) {
			g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "env: KEY=VALUE");
			return FALSE;
		}
	}
	body->argv = g_strv_builder_end(argv);
	if (body->argv[0] == NULL) /* none: the image's default command */
		g_clear_pointer(&body->argv, g_strfreev);
	body->cwd = g_strdup(alk_api_query(req, "cwd"));
	body->user = g_strdup(alk_api_query(req, "user"));
	if (timeout != NULL &&
	    !g_ascii_string_to_unsigned(timeout, 10, 1, 604800, &body->timeout_s, NULL)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "timeout_s: 1..604800");
		return FALSE;
	}
	return TRUE;
}

/* tty=1|true|0|false, rows and cols (1..1000, with a tty only): 0 when
 * absent, the guest's 24x80 then. */
static gboolean parse_tty(AlkApiReq *req, gboolean *tty, guint *rows, guint *cols, GError **error)
{
	const char *t = alk_api_query(req, "tty");
	const char *names[2] = {"rows", "cols"};
	guint *out[2] = {rows, cols};

	*tty = FALSE;
	if (t != NULL && (g_strcmp0(t, "1") == 0 || g_strcmp0(t, "true") == 0))
		*tty = TRUE;
	else if (t != NULL && g_strcmp0(t, "0") != 0 && g_strcmp0(t, "false") != 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "tty: 1, true, 0 or false");
		return FALSE;
	}
	for (int i = 0; i < 2; i++) {
		const char *v = alk_api_query(req, names[i]);
		guint64 n = 0;

		*out[i] = 0;
		if (v == NULL)
			continue;
		if (!*tty) {
			g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "%s: only with tty=1",
			            names[i]);
			return FALSE;
		}
		if (!g_ascii_string_to_unsigned(v, 10, ALK_TTY_SIZE_MIN, ALK_TTY_SIZE_MAX, &n,
		                                NULL)) {
			g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "%s: %d..%d", names[i],
			            ALK_TTY_SIZE_MIN, ALK_TTY_SIZE_MAX);
			return FALSE;
		}
		*out[i] = (guint)n;
	}
	return TRUE;
}

static void body_free(gpointer data)
{
	AlkApiExecBody *body = data;
	alk_api_exec_body_clear(body);
	g_free(body);
}

void alk_api_exec_ws_check(AlkApiReq *req)
{
	AlkApiExecBody *body = g_new0(AlkApiExecBody, 1);
	g_autoptr(GError) error = NULL;
	const AlkSandbox *sb;
	AlkMsgExec msg;
	gboolean tty;
	guint rows, cols;

	alk_api_req_attach(req, body, body_free, NULL);
	if (!parse_query(req, body, &error) || !parse_tty(req, &tty, &rows, &cols, &error) ||
	    !alk_api_exec_message(body, &msg, &error) ||
	    (sb = alk_api_req_sandbox(req, &error)) == NULL) {
		alk_api_reply_error(req, error);
		return;
	}
	if (sb->state != ALK_SANDBOX_READY) {
		error = g_error_new(ALK_ERROR, ALK_ERROR_CONFLICT, "sandbox %s is %s", sb->id,
		                    alk_sandbox_state_name(sb->state));
		alk_api_reply_error(req, error);
	}
	/* else no status: libsoup goes on with the handshake */
}

/* ---- the session ---- */

/* Both the process and the WebSocket are over. */
static void maybe_end(WsCtx *ctx)
{
	if (ctx->task != NULL || !ctx->closed)
		return;
	g_clear_handle_id(&ctx->backlog_timer, g_source_remove);
	g_clear_handle_id(&ctx->resize_timer, g_source_remove);
	g_signal_handlers_disconnect_by_data(ctx->ws, ctx);
	alk_api_req_detach(ctx->req);
	alk_api_req_end_session(ctx->req);
	body_free(ctx->body);
	g_object_unref(ctx->ws);
	g_byte_array_unref(ctx->stdin_queue);
	alk_api_exec_tally_clear(&ctx->tally);
	g_object_unref(ctx->msg);
	g_free(ctx);
}

static gboolean ws_open(WsCtx *ctx)
{
	return !ctx->closed &&
	       soup_websocket_connection_get_state(ctx->ws) == SOUP_WEBSOCKET_STATE_OPEN;
}

static void send_json(WsCtx *ctx, JsonBuilder *b, gushort close_code)
{
	g_autoptr(JsonNode) node = json_builder_get_root(b);
	g_autofree char *text = alk_json_to_string(node);

	if (!ws_open(ctx))
		return;
	soup_websocket_connection_send_text(ctx->ws, text);
	soup_websocket_connection_close(ctx->ws, close_code, NULL);
}

/* Each STDIN_ACK_STEP bytes taken, and whenever the queue drains. */
static void ack_stdin(WsCtx *ctx)
{
	g_autofree char *text = NULL;

	if (!ctx->stdin_ack || ctx->stdin_taken == ctx->stdin_acked || !ws_open(ctx) ||
	    (ctx->stdin_taken - ctx->stdin_acked < STDIN_ACK_STEP && ctx->stdin_queue->len > 0))
		return;
	text = g_strdup_printf("{\"stdin_taken\":%" G_GUINT64_FORMAT "}", ctx->stdin_taken);
	soup_websocket_connection_send_text(ctx->ws, text);
	ctx->stdin_acked = ctx->stdin_taken;
}

static void feed_stdin(WsCtx *ctx)
{
	gsize n;

	if (ctx->task == NULL)
		return;
	n = alk_task_write(ctx->task, ctx->stdin_queue->data, ctx->stdin_queue->len);
	g_byte_array_remove_range(ctx->stdin_queue, 0, n);
	ctx->stdin_taken += n;
	ack_stdin(ctx);
	if (ctx->stdin_queue->len == 0 && ctx->stdin_eof)
		alk_task_close(ctx->task);
}

/* ---- a client that does not read ----
 * libsoup's WebSocket queues what the socket does not take and keeps no
 * count of it, so the kernel's count of what the client has not read
 * (SIOCOUTQ) tells when it is behind: the exec is then held (the guest
 * waits, within the credit window) and what libsoup queues stays small. A
 * client that reads nothing for api.request_timeout_s is dropped. */

static gsize socket_backlog(WsCtx *ctx, gsize *limit)
{
	GSocket *sock = ctx->req->conn->socket;
	int fd = g_socket_get_fd(sock);
	gint sndbuf = 0;
	int n = 0;

	if (!g_socket_get_option(sock, SOL_SOCKET, SO_SNDBUF, &sndbuf, NULL) || sndbuf <= 0)
		sndbuf = 212992;
	*limit = (gsize)sndbuf / 2;
	if (ioctl(fd, SIOCOUTQ, &n) < 0 || n < 0)
		return 0;
	return (gsize)n;
}

static void kill_exec(WsCtx *ctx);

static gboolean on_backlog(gpointer data)
{
	WsCtx *ctx = data;
	gsize limit;
	gsize now = socket_backlog(ctx, &limit);
	gint64 timeout_us = (gint64)ctx->req->api->config->api.request_timeout_s * G_USEC_PER_SEC;

	if (now < ctx->backlog)
		ctx->progress_us = g_get_monotonic_time();
	ctx->backlog = now;
	if (ctx->task == NULL || now < limit / 2) {
		ctx->backlog_timer = 0;
		if (ctx->task != NULL)
			alk_task_hold(ctx->task, FALSE);
		return G_SOURCE_REMOVE;
	}
	if (g_get_monotonic_time() - ctx->progress_us < timeout_us)
		return G_SOURCE_CONTINUE;
	g_message("%s: WebSocket exec of %s: the client read nothing for %u s: dropping it",
	          ctx->req->caller, ctx->req->id, ctx->req->api->config->api.request_timeout_s);
	ctx->backlog_timer = 0;
	kill_exec(ctx);
	alk_api_conn_drop(ctx->req->conn);
	return G_SOURCE_REMOVE;
}

static void check_backlog(WsCtx *ctx)
{
	gsize limit;

	if (ctx->backlog_timer != 0 || ctx->task == NULL)
		return;
	ctx->backlog = socket_backlog(ctx, &limit);
	if (ctx->backlog < limit)
		return;
	ctx->progress_us = g_get_monotonic_time();
	alk_task_hold(ctx->task, TRUE);
	ctx->backlog_timer = g_timeout_add(BACKLOG_POLL_MS, on_backlog, ctx);
}

static void on_output(AlkTask *task, int stream, const guint8 *d, gsize len, gpointer data)
{
	WsCtx *ctx = data;
	guint i = alk_api_exec_tally_add(&ctx->tally, stream, d, len);
	g_autofree guint8 *frame = NULL;

	if (!ws_open(ctx))
		return;
	frame = g_malloc(len + 1);
	frame[0] = (guint8)(i + 1);
	memcpy(frame + 1, d, len);
	soup_websocket_connection_send_binary(ctx->ws, frame, len + 1);
	check_backlog(ctx);
}

static void on_writable(AlkTask *task, gpointer data)
{
	feed_stdin(data);
}

static void on_done(AlkTask *task, const AlkTaskResult *result, gpointer data)
{
	WsCtx *ctx = data;
	g_autoptr(JsonBuilder) b = json_builder_new();

	ctx->task = NULL;
	alk_api_exec_audit(ctx->req, ctx->body, &ctx->tally, result, NULL);
	json_builder_begin_object(b);
	alk_api_json_add_exit(b, result, FALSE);
	json_builder_end_object(b);
	send_json(ctx, b, SOUP_WEBSOCKET_CLOSE_NORMAL);
	maybe_end(ctx);
}

static void send_error(WsCtx *ctx, const GError *error)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	alk_api_json_add_error(b, error);
	json_builder_end_object(b);
	send_json(ctx, b, SOUP_WEBSOCKET_CLOSE_SERVER_ERROR);
}

static void on_failed(AlkTask *task, const GError *error, gpointer data)
{
	WsCtx *ctx = data;

	ctx->task = NULL;
	alk_api_exec_audit(ctx->req, ctx->body, &ctx->tally, NULL, error);
	send_error(ctx, error);
	maybe_end(ctx);
}

static const AlkTaskCallbacks ws_callbacks = {
    .output = on_output,
    .writable = on_writable,
    .done = on_done,
    .failed = on_failed,
};

static void kill_exec(WsCtx *ctx)
{
	if (ctx->task != NULL)
		alk_task_signal(ctx->task, SIGKILL);
}

/* ---- control frames ---- */

static void send_resize(WsCtx *ctx)
{
	if (ctx->task == NULL || (ctx->rows == ctx->sent_rows && ctx->cols == ctx->sent_cols))
		return;
	alk_task_resize(ctx->task, ctx->rows, ctx->cols);
	ctx->sent_rows = ctx->rows;
	ctx->sent_cols = ctx->cols;
}

static gboolean on_resize_timer(gpointer data)
{
	WsCtx *ctx = data;

	if (ctx->task == NULL || (ctx->rows == ctx->sent_rows && ctx->cols == ctx->sent_cols)) {
		ctx->resize_timer = 0;
		return G_SOURCE_REMOVE;
	}
	send_resize(ctx);
	return G_SOURCE_CONTINUE;
}

/* A flood of resizes costs the guest one RESIZE per RESIZE_INTERVAL_MS. */
static void want_resize(WsCtx *ctx, guint rows, guint cols)
{
	ctx->rows = rows;
	ctx->cols = cols;
	if (ctx->resize_timer != 0)
		return;
	send_resize(ctx);
	ctx->resize_timer = g_timeout_add(RESIZE_INTERVAL_MS, on_resize_timer, ctx);
}

static gboolean json_true(JsonObject *obj, const char *name)
{
	JsonNode *n = json_object_get_member(obj, name);

	return n != NULL && JSON_NODE_HOLDS_VALUE(n) &&
	       json_node_get_value_type(n) == G_TYPE_BOOLEAN && json_node_get_boolean(n);
}

static gboolean size_member(JsonObject *obj, const char *name, guint *out)
{
	JsonNode *n = json_object_get_member(obj, name);
	gint64 v;

	if (n == NULL || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
		return FALSE;
	v = json_node_get_int(n);
	if (v < ALK_TTY_SIZE_MIN || v > ALK_TTY_SIZE_MAX)
		return FALSE;
	*out = (guint)v;
	return TRUE;
}

/* NULL when the frame was taken (or is of a kind this daemon does not
 * know: ignored, for newer clients), else why the session must end. */
static const char *on_control(WsCtx *ctx, GBytes *message)
{
	gsize len = 0;
	const char *text = g_bytes_get_data(message, &len);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) root = alk_json_parse(text, len, CONTROL_MAX, 4, &error);
	JsonObject *obj =
	    root != NULL && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
	JsonNode *resize = obj != NULL ? json_object_get_member(obj, "resize") : NULL;
	guint rows, cols;

	if (obj == NULL)
		return "a text frame is a JSON object of at most 4096 bytes";
	if (json_true(obj, "eof")) {
		ctx->stdin_eof = TRUE;
		feed_stdin(ctx);
	}
	if (resize == NULL)
		return NULL;
	if (!ctx->tty)
		return "resize: the exec has no tty";
	if (!JSON_NODE_HOLDS_OBJECT(resize) ||
	    !size_member(json_node_get_object(resize), "rows", &rows) ||
	    !size_member(json_node_get_object(resize), "cols", &cols))
		return "resize: {\"rows\":1..1000,\"cols\":1..1000}";
	want_resize(ctx, rows, cols);
	return NULL;
}

static void on_message(SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer data)
{
	WsCtx *ctx = data;
	gsize len = 0;
	const guint8 *d = g_bytes_get_data(message, &len);

	if (type == SOUP_WEBSOCKET_DATA_TEXT) {
		const char *bad = on_control(ctx, message);

		if (bad != NULL) {
			kill_exec(ctx);
			soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION,
			                                bad);
		}
		return;
	}
	if (ctx->stdin_eof || ctx->stdin_queue->len + len > STDIN_QUEUE_MAX) {
		kill_exec(ctx);
		soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION,
		                                "stdin after eof, or too far ahead of the guest");
		return;
	}
	g_byte_array_append(ctx->stdin_queue, d, len);
	feed_stdin(ctx);
}

static void on_closed(SoupWebsocketConnection *ws, gpointer data)
{
	WsCtx *ctx = data;

	ctx->closed = TRUE;
	kill_exec(ctx);
	maybe_end(ctx);
}

/* The daemon stops: end the process, the session follows. */
static void on_abort(AlkApiReq *req, gpointer data)
{
	WsCtx *ctx = data;

	kill_exec(ctx);
	if (ws_open(ctx))
		soup_websocket_connection_close(ctx->ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, NULL);
}

/* ctx is the session's: maybe_end frees it once the process and the
 * WebSocket are both over. */
static const AlkApiReqHooks ws_hooks = {.abort = on_abort};

void alk_api_exec_ws_open(AlkApiReq *req, SoupWebsocketConnection *ws)
{
	WsCtx *ctx = g_new0(WsCtx, 1);
	g_autoptr(GError) error = NULL;
	AlkMsgExec msg;

	ctx->req = req;
	ctx->msg = g_object_ref(req->msg);
	ctx->ws = g_object_ref(ws);
	ctx->stdin_queue = g_byte_array_new();
	alk_api_exec_tally_init(&ctx->tally);
	/* the session takes the body over from the handshake */
	ctx->body = alk_api_req_detach(req);
	alk_api_req_attach(req, ctx, NULL, &ws_hooks);
	soup_websocket_connection_set_keepalive_interval(ws, KEEPALIVE_S);
	g_signal_connect(ws, "message", G_CALLBACK(on_message), ctx);
	g_signal_connect(ws, "closed", G_CALLBACK(on_closed), ctx);
	ctx->stdin_ack = g_strcmp0(alk_api_query(req, "stdin_ack"), "1") == 0;
	if (parse_tty(req, &ctx->tty, &ctx->rows, &ctx->cols, &error) &&
	    alk_api_exec_message(ctx->body, &msg, &error)) {
		msg.stdin_mode = ALK_STDIN_PIPE;
		msg.tty = ctx->tty;
		msg.rows = ctx->rows;
		msg.cols = ctx->cols;
		ctx->sent_rows = ctx->rows;
		ctx->sent_cols = ctx->cols;
		ctx->task =
		    alk_manager_exec(req->api->manager, req->id, &msg, &ws_callbacks, ctx, &error);
	}
	if (ctx->task == NULL) {
		alk_api_exec_audit(req, ctx->body, &ctx->tally, NULL, error);
		send_error(ctx, error);
	}
}
