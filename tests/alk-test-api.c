/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-test-api.h"

#include <gio/gunixsocketaddress.h>
#include <string.h>

AlkTestDaemon *alk_test_api_daemon;

/* Short enough for the slow-client tests, long enough for a loaded host. */
#define API_EXTRA "[api]\nrequest_timeout_s = 4\n"

void alk_test_api_setup(void)
{
	g_autoptr(GError) error = NULL;

	alk_test_api_daemon = alk_test_daemon_start(API_EXTRA, &error);
	if (alk_test_api_daemon == NULL)
		g_printerr("airlockd did not start: %s\n", error->message);
}

void alk_test_api_teardown(void)
{
	g_clear_pointer(&alk_test_api_daemon, alk_test_daemon_stop);
}

void alk_test_api_add(Suite *s, const char *name, const TTest *test, void (*setup)(void),
                      void (*teardown)(void))
{
	TCase *tc = tcase_create(name);

	tcase_add_unchecked_fixture(tc, setup != NULL ? setup : alk_test_api_setup,
	                            teardown != NULL ? teardown : alk_test_api_teardown);
	tcase_set_timeout(tc, 900);
	tcase_add_test(tc, test);
	suite_add_tcase(s, tc);
}

AlkTestDaemon *alk_test_api_d(void)
{
	ck_assert_msg(alk_test_api_daemon != NULL, "airlockd did not start (see above)");
	return alk_test_api_daemon;
}

AlkTestResponse *alk_test_api_call(const char *method, const char *path, const char *json)
{
	g_autoptr(GError) error = NULL;
	AlkTestResponse *r = alk_test_http_json(alk_test_api_d(), method, path, json, &error);

	ck_assert_msg(r != NULL, "%s %s: %s", method, path, error ? error->message : "?");
	return r;
}

JsonObject *alk_test_api_expect(const char *method, const char *path, const char *json,
                                guint status)
{
	g_autoptr(AlkTestResponse) r = alk_test_api_call(method, path, json);

	ck_assert_msg(r->status == status, "%s %s: %u, wanted %u: %.*s", method, path, r->status,
	              status, (int)MIN(r->body->len, 2000), (const char *)r->body->data);
	return alk_test_response_json(r);
}

void alk_test_api_assert_error(AlkTestResponse *r, guint status, const char *code)
{
	g_autoptr(JsonObject) obj = alk_test_response_json(r);
	JsonObject *err = obj != NULL && json_object_has_member(obj, "error")
	                      ? json_object_get_object_member(obj, "error")
	                      : NULL;

	ck_assert_msg(r->status == status, "status %u, wanted %u: %.*s", r->status, status,
	              (int)MIN(r->body->len, 500), (const char *)r->body->data);
	ck_assert_msg(err != NULL, "no error object: %.*s", (int)MIN(r->body->len, 500),
	              (const char *)r->body->data);
	ck_assert_str_eq(json_object_get_string_member(err, "code"), code);
	ck_assert(json_object_get_string_member(err, "message") != NULL);
}

char *alk_test_api_create(const char *json)
{
	g_autoptr(JsonObject) sb =
	    alk_test_api_expect("POST", "/v1/sandboxes?wait=ready", json ? json : "{}", 201);

	ck_assert_str_eq(json_object_get_string_member(sb, "state"), "ready");
	return g_strdup(json_object_get_string_member(sb, "id"));
}

char *alk_test_api_sh_body(const char *cmd, const char *stdin_text)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonNode) root = NULL;

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "argv");
	json_builder_begin_array(b);
	json_builder_add_string_value(b, "/bin/sh");
	json_builder_add_string_value(b, "-c");
	json_builder_add_string_value(b, cmd);
	json_builder_end_array(b);
	if (stdin_text != NULL) {
		g_autofree char *b64 =
		    g_base64_encode((const guchar *)stdin_text, strlen(stdin_text));
		json_builder_set_member_name(b, "stdin_b64");
		json_builder_add_string_value(b, b64);
	}
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	json_generator_set_root(gen, root);
	return json_generator_to_data(gen, NULL);
}

JsonObject *alk_test_api_sh(const char *id, const char *cmd)
{
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s/exec", id);
	g_autofree char *body = alk_test_api_sh_body(cmd, NULL);
	return alk_test_api_expect("POST", path, body, 200);
}

/* ---- streamed execs ---- */

AlkTestReader *alk_test_api_stream_exec(const char *id, const char *cmd, int *fd)
{
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s/exec", id);
	g_autofree char *body = alk_test_api_sh_body(cmd, NULL);
	g_autofree char *head = alk_test_http_head(
	    "POST", path, NULL, strlen(body),
	    "Content-Type: application/json\r\nAccept: application/x-ndjson\r\n");
	AlkTestResponse resp = {0};
	AlkTestReader *r;
	g_autoptr(GError) error = NULL;

	*fd = alk_test_http_connect(alk_test_api_d(), FALSE, &error);
	ck_assert_msg(*fd >= 0, "%s", error ? error->message : "");
	ck_assert(alk_test_http_send(*fd, head, strlen(head), alk_test_deadline(10), NULL));
	ck_assert(alk_test_http_send(*fd, body, strlen(body), alk_test_deadline(10), NULL));
	r = alk_test_reader_new(*fd);
	ck_assert_msg(alk_test_reader_head(r, &resp, alk_test_deadline(60), &error), "%s",
	              error ? error->message : "");
	ck_assert_int_eq(resp.status, 200);
	ck_assert_str_eq(g_hash_table_lookup(resp.headers, "content-type"), "application/x-ndjson");
	g_hash_table_unref(resp.headers);
	return r;
}

JsonObject *alk_test_api_parse_line(const char *line)
{
	g_autoptr(JsonParser) p = json_parser_new();
	ck_assert_msg(line != NULL, "stream ended early");
	ck_assert_msg(json_parser_load_from_data(p, line, -1, NULL), "not JSON: %s", line);
	return json_object_ref(json_node_get_object(json_parser_get_root(p)));
}

char *alk_test_api_line_data(JsonObject *line)
{
	gsize len = 0;
	guchar *data = g_base64_decode(json_object_get_string_member(line, "data_b64"), &len);
	char *text = g_strndup((const char *)data, len);
	g_free(data);
	return text;
}

/* ---- WebSocket execs ---- */

static void ws_message(SoupWebsocketConnection *ws, gint type, GBytes *msg, gpointer data)
{
	AlkTestWs *w = data;
	gsize len = 0;
	const char *d = g_bytes_get_data(msg, &len);

	if (type == SOUP_WEBSOCKET_DATA_BINARY && len > 0 && d[0] == 1)
		g_string_append_len(w->out, d + 1, len - 1);
	else if (type == SOUP_WEBSOCKET_DATA_TEXT)
		w->exit = g_strndup(d, len);
}

static void ws_closed(SoupWebsocketConnection *ws, gpointer data)
{
	AlkTestWs *w = data;
	w->closed = TRUE;
	w->code = soup_websocket_connection_get_close_code(ws);
	w->reason = g_strdup(soup_websocket_connection_get_close_data(ws));
}

static void ws_connected(GObject *src, GAsyncResult *res, gpointer data)
{
	AlkTestWs *w = data;
	w->ws = soup_session_websocket_connect_finish(SOUP_SESSION(src), res, &w->error);
	if (w->ws != NULL) {
		g_signal_connect(w->ws, "message", G_CALLBACK(ws_message), w);
		g_signal_connect(w->ws, "closed", G_CALLBACK(ws_closed), w);
	}
}

void alk_test_iterate_until(gboolean *flag, guint seconds)
{
	gint64 deadline = alk_test_deadline(seconds);
	while (!*flag && g_get_monotonic_time() < deadline) {
		if (!g_main_context_iteration(NULL, FALSE))
			g_usleep(10000);
	}
}

gboolean alk_test_api_ws_connect(const char *query, AlkTestWs *w)
{
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(alk_test_api_d()->socket_path);
	g_autoptr(SoupSession) s = soup_session_new_with_options("remote-connectable", addr, NULL);
	g_autofree char *url = g_strdup_printf("ws://localhost/v1/sandboxes/%s", query);
	g_autoptr(SoupMessage) msg = soup_message_new("GET", url);

	memset(w, 0, sizeof(*w));
	w->out = g_string_new(NULL);
	soup_session_websocket_connect_async(s, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
	                                     ws_connected, w);
	while (w->ws == NULL && w->error == NULL)
		g_main_context_iteration(NULL, TRUE);
	return w->ws != NULL;
}

void alk_test_api_ws_clear(AlkTestWs *w)
{
	if (w->ws != NULL)
		g_signal_handlers_disconnect_by_data(w->ws, w);
	g_clear_object(&w->ws);
	g_clear_error(&w->error);
	if (w->out != NULL)
		g_string_free(w->out, TRUE);
	w->out = NULL;
	g_clear_pointer(&w->exit, g_free);
	g_clear_pointer(&w->reason, g_free);
}
