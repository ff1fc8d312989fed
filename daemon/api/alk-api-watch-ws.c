/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GET /v1/sandboxes/{id}/screen/ws?ticket=T&fps=N&width=&height=: the screen
 * as a stream of PNG frames (binary messages), each preceded by a text
 * message {"width","height","screen_width","screen_height"} when those
 * change. A frame goes only when the picture changed, at most fps a second
 * (1..ALK_WATCH_FPS_MAX); while the viewer has not read what was sent
 * (the socket's unsent bytes, SIOCOUTQ, over half its buffer) no screenshot
 * is taken, so a slow viewer sees fewer frames and the daemon keeps at most
 * about one frame for it. Read-only unless its ticket was asked with
 * control: then a text message is a batch as POST /computer takes it, run
 * one at a time, each answered with a text message {"result": …} or
 * {"error": {code, message}}; otherwise any message from the viewer ends the
 * stream (1008). The stream ends with 1000 when the sandbox goes. */
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "alk-api-computer.h"
#include "alk-api-watch.h"
#include "alk-error.h"
#include "alk-json.h"

#define KEEPALIVE_S 30
/* a control message: one batch of JSON text (a whole batch of typed text
 * fits: ALK_API_COMPUTER_ACTIONS_MAX × ALK_API_COMPUTER_TEXT_MAX is more,
 * but no viewer sends that much at once) */
#define CONTROL_MESSAGE_MAX (64 * 1024)

typedef struct {
	AlkApiReq *req; /* NULL once the session ended */
	SoupServerMessage *msg;
	SoupWebsocketConnection *ws;
	AlkWatch *watch; /* a ref: for the viewer count */
	char *id;
	AlkApi *api; /* only while req */
	AlkScreenshotArea area;
	guint interval_ms;
	guint timer;
	gboolean in_flight; /* a screenshot is being taken */
	GBytes *last;       /* the last frame sent */
	guint last_w, last_h, last_sw, last_sh;
	gint64 progress_us; /* when the viewer last read something */
	gsize backlog;
	gboolean control;       /* takes input: its ticket was asked so */
	AlkApiComputerRun *run; /* the viewer's batch in hand */
} View;

typedef struct {
	guint fps;
	AlkScreenshotArea area;
} ViewQuery;

static gboolean parse(AlkApiReq *req, ViewQuery *q, GError **error)
{
	const char *fps = alk_api_query(req, "fps");
	guint64 v = ALK_WATCH_FPS_DEFAULT;

	if (fps != NULL && !g_ascii_string_to_unsigned(fps, 10, 1, ALK_WATCH_FPS_MAX, &v, NULL)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "fps must be 1..%d",
		            ALK_WATCH_FPS_MAX);
		return FALSE;
	}
	q->fps = (guint)v;
	return alk_api_screen_side(alk_api_query(req, "width"), "width", &q->area.width, error) &&
	       alk_api_screen_side(alk_api_query(req, "height"), "height", &q->area.height, error);
}

static guint viewers_of(AlkWatch *w, const char *id)
{
	return GPOINTER_TO_UINT(g_hash_table_lookup(w->viewers, id));
}

void alk_api_watch_ws_check(AlkApiReq *req)
{
	g_autoptr(GError) error = NULL;
	AlkWatch *w = alk_api_watch_of(req->api);
	const AlkSandbox *sb;
	ViewQuery q = {0};

	if (!parse(req, &q, &error) || (sb = alk_api_req_sandbox(req, &error)) == NULL) {
		alk_api_reply_error(req, error);
		return;
	}
	if (sb->limits.display_width == 0) {
		error =
		    g_error_new(ALK_ERROR, ALK_ERROR_CONFLICT, "sandbox %s has no display", sb->id);
	} else if (viewers_of(w, sb->id) >= ALK_WATCH_VIEWERS_PER_SANDBOX ||
	           w->n_viewers >= ALK_WATCH_VIEWERS_MAX) {
		error = g_error_new(ALK_ERROR, ALK_ERROR_LIMIT,
		                    "too many viewers (%d per sandbox, %d in all)",
		                    ALK_WATCH_VIEWERS_PER_SANDBOX, ALK_WATCH_VIEWERS_MAX);
	}
	if (error != NULL)
		alk_api_reply_error(req, error);
	/* else no status: libsoup goes on with the handshake */
}

static gsize backlog(View *v, gsize *limit)
{
	GSocket *sock = v->req->conn->socket;
	gint sndbuf = 0;
	int n = 0;

	if (!g_socket_get_option(sock, SOL_SOCKET, SO_SNDBUF, &sndbuf, NULL) || sndbuf <= 0)
		sndbuf = 212992;
	*limit = (gsize)sndbuf / 2;
	if (ioctl(g_socket_get_fd(sock), SIOCOUTQ, &n) < 0 || n < 0)
		return 0;
	return (gsize)n;
}

static void view_free(View *v)
{
	g_clear_pointer(&v->last, g_bytes_unref);
	alk_api_watch_unref(v->watch);
	g_object_unref(v->ws);
	g_object_unref(v->msg);
	g_free(v->id);
	g_free(v);
}

/* The stream is over: the count and the request go now, the memory when
 * no screenshot is in flight any more. */
static void view_end(View *v)
{
	guint n;

	if (v->req == NULL)
		return;
	g_clear_handle_id(&v->timer, g_source_remove);
	g_clear_pointer(&v->run, alk_api_computer_run_cancel);
	g_signal_handlers_disconnect_by_data(v->ws, v);
	n = viewers_of(v->watch, v->id);
	if (n <= 1)
		g_hash_table_remove(v->watch->viewers, v->id);
	else
		g_hash_table_replace(v->watch->viewers, g_strdup(v->id), GUINT_TO_POINTER(n - 1));
	v->watch->n_viewers--;
	alk_api_req_detach(v->req);
	alk_api_req_end_session(v->req);
	v->req = NULL;
	v->api = NULL;
	if (!v->in_flight)
		view_free(v);
}

static gboolean ws_open(View *v)
{
	return v->req != NULL &&
	       soup_websocket_connection_get_state(v->ws) == SOUP_WEBSOCKET_STATE_OPEN;
}

static void close_with(View *v, gushort code, const char *reason)
{
	if (ws_open(v))
		soup_websocket_connection_close(v->ws, code, reason);
}

static void send_frame(View *v, AlkScreenshot *shot)
{
	if (v->last != NULL && g_bytes_equal(v->last, shot->png))
		return;
	if (shot->width != v->last_w || shot->height != v->last_h ||
	    shot->screen_width != v->last_sw || shot->screen_height != v->last_sh) {
		g_autofree char *text = g_strdup_printf(
		    "{\"width\":%u,\"height\":%u,\"screen_width\":%u,\"screen_height\":%u}",
		    shot->width, shot->height, shot->screen_width, shot->screen_height);
		soup_websocket_connection_send_text(v->ws, text);
		v->last_w = shot->width;
		v->last_h = shot->height;
		v->last_sw = shot->screen_width;
		v->last_sh = shot->screen_height;
	}
	soup_websocket_connection_send_message(v->ws, SOUP_WEBSOCKET_DATA_BINARY, shot->png);
	g_clear_pointer(&v->last, g_bytes_unref);
	v->last = g_bytes_ref(shot->png);
}

static void taken(GObject *src, GAsyncResult *res, gpointer data)
{
	View *v = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkScreenshot) shot = alk_manager_screenshot_finish(NULL, res, &error);

	v->in_flight = FALSE;
	if (v->req == NULL) {
		view_free(v);
		return;
	}
	if (!ws_open(v))
		return;
	if (shot != NULL) {
		send_frame(v, shot);
	} else if (g_error_matches(error, ALK_ERROR, ALK_ERROR_NOT_FOUND) ||
	           g_error_matches(error, ALK_ERROR, ALK_ERROR_CONFLICT)) {
		/* gone, or no longer running: nothing more to watch */
		close_with(v, SOUP_WEBSOCKET_CLOSE_NORMAL, error->message);
	} else {
		g_message("%s: watching %s: %s", v->req->caller, v->id, error->message);
	}
}

static gboolean on_tick(gpointer data)
{
	View *v = data;
	gsize limit, now;
	gint64 timeout_us;

	if (v->in_flight || !ws_open(v))
		return G_SOURCE_CONTINUE;
	now = backlog(v, &limit);
	if (now < v->backlog || now == 0)
		v->progress_us = g_get_monotonic_time();
	v->backlog = now;
	if (now >= limit) {
		timeout_us = (gint64)v->api->config->api.request_timeout_s * G_USEC_PER_SEC;
		if (g_get_monotonic_time() - v->progress_us > timeout_us) {
			g_message("%s: watching %s: the viewer read nothing for %u s: dropping it",
			          v->req->caller, v->id, v->api->config->api.request_timeout_s);
			alk_api_conn_drop(v->req->conn);
		}
		return G_SOURCE_CONTINUE; /* behind: this frame is skipped */
	}
	v->in_flight = TRUE;
	alk_manager_screenshot_async(v->api->manager, v->id, &v->area, taken, v);
	return G_SOURCE_CONTINUE;
}

static void send_json(View *v, JsonBuilder *b)
{
	g_autoptr(JsonNode) root = json_builder_get_root(b);
	g_autofree char *text = alk_json_to_string(root);

	if (ws_open(v))
		soup_websocket_connection_send_text(v->ws, text);
}

static void send_error(View *v, const GError *error)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	alk_api_json_add_error(b, error);
	json_builder_end_object(b);
	send_json(v, b);
}

static void controlled(JsonObject *result, const GError *error, gpointer data)
{
	View *v = data;
	g_autoptr(JsonBuilder) b = NULL;

	v->run = NULL;
	if (error != NULL) {
		send_error(v, error);
		return;
	}
	b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "result");
	json_builder_add_value(b, json_node_init_object(json_node_alloc(), result));
	json_builder_end_object(b);
	send_json(v, b);
}

static void on_message(SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer data)
{
	View *v = data;
	g_autoptr(JsonParser) p = NULL;
	g_autoptr(GError) error = NULL;
	gsize len = 0;
	const char *text = g_bytes_get_data(message, &len);
	JsonNode *root;

	if (!v->control) {
		close_with(
		    v, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION,
		    "read-only: a watch stream takes no input (ask its ticket with control)");
		return;
	}
	if (type != SOUP_WEBSOCKET_DATA_TEXT) {
		close_with(v, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION,
		           "control messages are JSON text: a batch as POST /computer takes it");
		return;
	}
	if (v->run != NULL) {
		error = g_error_new(ALK_ERROR, ALK_ERROR_CONFLICT,
		                    "one batch at a time: wait for the answer to the last");
		send_error(v, error);
		return;
	}
	p = json_parser_new_immutable();
	if (!json_parser_load_from_data(p, text, (gssize)len, &error) ||
	    (root = json_parser_get_root(p)) == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		g_clear_error(&error);
		error = g_error_new(ALK_ERROR, ALK_ERROR_INVALID,
		                    "a control message is a JSON object: {\"actions\": [...]}");
		send_error(v, error);
		return;
	}
	v->run = alk_api_computer_run_tool(v->api, v->id, json_node_get_object(root),
	                                   v->req->caller, "watch", controlled, v);
}

static void on_closed(SoupWebsocketConnection *ws, gpointer data)
{
	view_end(data);
}

static void on_abort(AlkApiReq *req, gpointer data)
{
	close_with(data, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "airlockd is stopping");
}

static const AlkApiReqHooks view_hooks = {.abort = on_abort};

void alk_api_watch_ws_open(AlkApiReq *req, SoupWebsocketConnection *ws)
{
	View *v = g_new0(View, 1);
	g_autoptr(GError) error = NULL;
	ViewQuery q = {0};

	v->req = req;
	v->api = req->api;
	v->msg = g_object_ref(req->msg);
	v->ws = g_object_ref(ws);
	v->id = g_strdup(req->id);
	v->watch = alk_api_watch_ref(alk_api_watch_of(req->api));
	g_hash_table_replace(v->watch->viewers, g_strdup(v->id),
	                     GUINT_TO_POINTER(viewers_of(v->watch, v->id) + 1));
	v->watch->n_viewers++;
	parse(req, &q, &error); /* checked before the handshake */
	v->area = q.area;
	v->interval_ms = 1000 / q.fps;
	v->progress_us = g_get_monotonic_time();
	v->control = req->scope >= ALK_SCOPE_WRITE;
	if (v->control)
		soup_websocket_connection_set_max_incoming_payload_size(ws, CONTROL_MESSAGE_MAX);
	alk_api_req_attach(req, v, NULL, &view_hooks);
	soup_websocket_connection_set_keepalive_interval(ws, KEEPALIVE_S);
	g_signal_connect(ws, "message", G_CALLBACK(on_message), v);
	g_signal_connect(ws, "closed", G_CALLBACK(on_closed), v);
	v->timer = g_timeout_add(v->interval_ms, on_tick, v);
	on_tick(v); /* the first frame at once */
}
