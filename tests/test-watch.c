/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Watching a screen (docs/guide.md, "Watching"), against a real airlockd and
 * a real guest of the minimal image with a display (its root shell on tty1
 * is the screen): tickets are single-use and bound to their sandbox, the
 * stream sends a PNG frame, a new one when the console changes and none
 * while it does not, at most fps a second, takes no input unless its ticket
 * was asked with control (then batches as POST /computer takes them), and a
 * viewer that does not read gets few frames, not a growing queue. */
#include <check.h>
#include <gio/gunixsocketaddress.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "alk-test-api.h"
#include "alk-test-cli.h"
#include "alk-test-daemon.h"
#include "alk-test-http.h"

#define DISPLAY "{\"display\":{\"width\":1024,\"height\":768}}"

typedef struct {
	SoupWebsocketConnection *ws;
	GError *error;
	guint frames, texts;
	guint64 bytes;      /* of the frames */
	GBytes *prev;       /* the last frame */
	gboolean repeated;  /* a frame the same as the one before it */
	gboolean bad_frame; /* a binary message that is not a PNG */
	gint64 last_frame_us;
	gboolean closed;
	gushort code;
	char *text;       /* the last answer to input */
	guint text_count; /* answers to input */
} View;

static void on_message(SoupWebsocketConnection *ws, gint type, GBytes *msg, gpointer data)
{
	View *v = data;
	gsize len = 0;
	const guint8 *d = g_bytes_get_data(msg, &len);

	if (type == SOUP_WEBSOCKET_DATA_TEXT) {
		v->texts++;
		g_autofree char *text = g_strndup((const char *)d, len);
		/* an answer to input, not a frame's size */
		if (g_str_has_prefix(text, "{\"result\"") || g_str_has_prefix(text, "{\"error\"")) {
			g_free(v->text);
			v->text = g_steal_pointer(&text);
			v->text_count++;
		}
		return;
	}
	if (len < 8 || memcmp(d, "\x89PNG\r\n\x1a\n", 8) != 0)
		v->bad_frame = TRUE;
	v->frames++;
	v->bytes += len;
	if (v->prev != NULL && g_bytes_equal(v->prev, msg))
		v->repeated = TRUE;
	g_clear_pointer(&v->prev, g_bytes_unref);
	v->prev = g_bytes_ref(msg);
	/* to look at by eye: ALK_TEST_WATCH_DUMP=DIR keeps every frame */
	if (g_getenv("ALK_TEST_WATCH_DUMP") != NULL) {
		g_autofree char *f = g_strdup_printf("%s/frame-%03u.png",
		                                     g_getenv("ALK_TEST_WATCH_DUMP"), v->frames);
		g_file_set_contents(f, (const char *)d, (gssize)len, NULL);
	}
	v->last_frame_us = g_get_monotonic_time();
}

static void on_closed(SoupWebsocketConnection *ws, gpointer data)
{
	View *v = data;
	v->closed = TRUE;
	v->code = soup_websocket_connection_get_close_code(ws);
}

static void connected(GObject *src, GAsyncResult *res, gpointer data)
{
	View *v = data;
	v->ws = soup_session_websocket_connect_finish(SOUP_SESSION(src), res, &v->error);
	if (v->ws != NULL) {
		g_signal_connect(v->ws, "message", G_CALLBACK(on_message), v);
		g_signal_connect(v->ws, "closed", G_CALLBACK(on_closed), v);
	}
}

/* over TCP, as a browser would, with no Authorization header; or over the
 * unix socket, whose buffers are small enough that a viewer which reads
 * nothing shows at once (loopback TCP would buffer megabytes in the kernel) */
static gboolean view_open_on(View *v, gboolean tcp, const char *id, const char *ticket,
                             const char *extra)
{
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(alk_test_api_d()->socket_path);
	g_autoptr(SoupSession) s =
	    tcp ? soup_session_new()
	        : soup_session_new_with_options("remote-connectable", addr, NULL);
	g_autofree char *host =
	    tcp ? g_strdup_printf("127.0.0.1:%u", alk_test_api_d()->port) : g_strdup("localhost");
	g_autofree char *url = g_strdup_printf("ws://%s/v1/sandboxes/%s/screen/ws?ticket=%s%s",
	                                       host, id, ticket, extra);
	g_autoptr(SoupMessage) msg = soup_message_new("GET", url);

	memset(v, 0, sizeof(*v));
	soup_session_websocket_connect_async(s, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
	                                     connected, v);
	while (v->ws == NULL && v->error == NULL)
		g_main_context_iteration(NULL, TRUE);
	return v->ws != NULL;
}

static gboolean view_open(View *v, const char *id, const char *ticket, const char *extra)
{
	return view_open_on(v, TRUE, id, ticket, extra);
}

static void view_clear(View *v)
{
	if (v->ws != NULL) {
		g_signal_handlers_disconnect_by_data(v->ws, v);
		if (soup_websocket_connection_get_state(v->ws) == SOUP_WEBSOCKET_STATE_OPEN)
			soup_websocket_connection_close(v->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
	}
	g_clear_object(&v->ws);
	g_clear_error(&v->error);
	g_clear_pointer(&v->prev, g_bytes_unref);
	g_clear_pointer(&v->text, g_free);
}

/* Runs the loop until frames reaches n or seconds passed. */
static void wait_frames(View *v, guint n, guint seconds)
{
	gint64 deadline = alk_test_deadline(seconds);
	while (v->frames < n && !v->closed && g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, FALSE) || (g_usleep(5000), TRUE);
}

/* Runs the loop for seconds (a bounded wait in which nothing must come). */
static void run_for(guint seconds)
{
	gint64 end = g_get_monotonic_time() + (gint64)seconds * G_USEC_PER_SEC;
	while (g_get_monotonic_time() < end)
		g_main_context_iteration(NULL, FALSE) || (g_usleep(5000), TRUE);
}

static char *ticket(const char *id)
{
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s/watch", id);
	g_autoptr(JsonObject) r = alk_test_api_expect("POST", path, NULL, 201);
	const char *page = json_object_get_string_member(r, "watch_path");

	ck_assert_int_eq(json_object_get_int_member(r, "expires_in_s"), 60);
	ck_assert(g_str_has_suffix(page, json_object_get_string_member(r, "ticket")));
	return g_strdup(json_object_get_string_member(r, "ticket"));
}

static void sh(const char *id, const char *cmd)
{
	g_autoptr(JsonObject) r = alk_test_api_sh(id, cmd);
	ck_assert_int_eq(json_object_get_int_member(r, "exit_code"), 0);
}

/* the root shell on tty1 has drawn its prompt: its stdin is the tty */
static void quiet_console(const char *id)
{
	gint64 deadline = alk_test_deadline(60);
	for (;;) {
		g_autoptr(JsonObject) r = alk_test_api_sh(
		    id, "for p in /proc/[0-9]*; do [ \"$(readlink $p/fd/0)\" = /dev/tty1 ] && "
		        "exit 0; done; exit 1");
		if (json_object_get_int_member(r, "exit_code") == 0)
			break;
		ck_assert(g_get_monotonic_time() < deadline);
		g_usleep(200 * 1000);
	}
	/* no blinking cursor: an unchanged console is an unchanged picture */
	sh(id, "printf '\\033[?25l\\033[?1c' > /dev/tty1; setterm --blank 0 >/dev/null 2>&1; true");
}

START_TEST(tickets)
{
	g_autofree char *id = alk_test_api_create(DISPLAY);
	g_autofree char *t = ticket(id);
	g_autofree char *other = ticket(id);
	g_autofree char *ws = g_strdup_printf("/v1/sandboxes/%s/screen/ws?ticket=%s", id, t);
	g_autofree char *page = g_strdup_printf("/v1/sandboxes/%s/watch", id);
	g_autofree char *wrong =
	    g_strdup_printf("/v1/sandboxes/0123456789ab/screen/ws?ticket=%s", other);
	g_autofree char *bogus = g_strdup_printf("/v1/sandboxes/%s/screen/ws?ticket=%064d", id, 0);
	g_autofree char *none = g_strdup_printf("/v1/sandboxes/%s/screen/ws", id);
	g_autofree char *bad_fps =
	    g_strdup_printf("/v1/sandboxes/%s/screen/ws?ticket=%s&fps=0", id, ticket(id));
	g_autoptr(AlkTestResponse) p = alk_test_api_call("GET", page, NULL);
	View v;

	alk_test_api_assert_error(
	    alk_test_api_call("POST", "/v1/sandboxes/0123456789ab/watch", NULL), 404, "not_found");
	ck_assert_uint_eq(p->status, 200);
	ck_assert(g_str_has_prefix(alk_test_response_header(p, "content-type"), "text/html"));
	ck_assert(strstr(alk_test_response_header(p, "content-security-policy"),
	                 "default-src 'none'") != NULL);
	ck_assert(g_strstr_len((char *)p->body->data, p->body->len, "://") == NULL);
	/* no ticket, an unknown one, another sandbox's: 401, and that spends it */
	alk_test_api_assert_error(alk_test_api_call("GET", none, NULL), 401, "unauthorized");
	alk_test_api_assert_error(alk_test_api_call("GET", bogus, NULL), 401, "unauthorized");
	alk_test_api_assert_error(alk_test_api_call("GET", wrong, NULL), 401, "unauthorized");
	ck_assert(!view_open(&v, id, other, ""));
	view_clear(&v);
	alk_test_api_assert_error(alk_test_api_call("GET", bad_fps, NULL), 400, "invalid_request");
	/* airlock watch: over TCP the page's URL; over the socket its path */
	{
		g_auto(AlkTestCli) tcp = {0};
		g_auto(AlkTestCli) local = {0};
		g_autofree char *url = g_strdup_printf(
		    "http://127.0.0.1:%u/v1/sandboxes/%s/watch#ticket=", alk_test_api_d()->port,
		    id);
		g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s/watch#ticket=", id);

		alk_test_cli_set_socket(alk_test_api_d()->socket_path);
		alk_test_cli_runf(&tcp, 60, "--url http://127.0.0.1:%u --token %s watch %s",
		                  alk_test_api_d()->port, alk_test_api_d()->read_token, id);
		alk_test_cli_runf(&local, 60, "watch %s", id);
		ck_assert_msg(tcp.status == 0, "%s", tcp.err_text);
		ck_assert_msg(g_str_has_prefix(tcp.out_text, url), "%s", tcp.out_text);
		ck_assert_msg(local.status == 0, "%s", local.err_text);
		ck_assert_msg(g_str_has_prefix(local.out_text, path), "%s", local.out_text);
		/* the printed ticket opens the stream */
		g_autofree char *printed = g_strndup(tcp.out_text + strlen(url), 64);
		ck_assert(view_open(&v, id, printed, ""));
		view_clear(&v);
	}
	/* a good one works once */
	ck_assert_msg(view_open(&v, id, t, ""), "%s", v.error ? v.error->message : "");
	wait_frames(&v, 1, 120);
	ck_assert_uint_ge(v.frames, 1);
	view_clear(&v);
	ck_assert(!view_open(&v, id, t, ""));
	view_clear(&v);
	alk_test_api_assert_error(alk_test_api_call("GET", ws, NULL), 401, "unauthorized");
	/* the sandbox goes: its stream ends normally */
	{
		g_autofree char *last = ticket(id);
		g_autofree char *sb = g_strdup_printf("/v1/sandboxes/%s", id);
		g_autoptr(AlkTestResponse) del = NULL;

		ck_assert(view_open(&v, id, last, ""));
		wait_frames(&v, 1, 120);
		del = alk_test_api_call("DELETE", sb, NULL);
		ck_assert_uint_eq(del->status, 202);
		alk_test_iterate_until(&v.closed, 120);
		ck_assert(v.closed);
		ck_assert_uint_eq(v.code, SOUP_WEBSOCKET_CLOSE_NORMAL);
		view_clear(&v);
	}
}
END_TEST

START_TEST(stream)
{
	g_autofree char *id = alk_test_api_create(DISPLAY);
	g_autofree char *t = NULL;
	guint before;
	View v;

	quiet_console(id);
	t = ticket(id);
	ck_assert_msg(view_open(&v, id, t, "&fps=2"), "%s", v.error ? v.error->message : "");
	wait_frames(&v, 1, 120);
	ck_assert_uint_eq(v.frames, 1);
	ck_assert_uint_eq(v.texts, 1); /* the size, before the first frame */
	/* unchanged (once what the shell was still drawing is drawn: at most
	 * 30 s for a 2 s pause): nothing within 3 s (6 ticks at 2 fps) */
	gint64 settle = alk_test_deadline(30);
	for (guint n = 0; n != v.frames && g_get_monotonic_time() < settle;) {
		n = v.frames;
		run_for(2);
	}
	before = v.frames;
	run_for(3);
	/* a frame only when the picture changed: never the same twice in a row;
	 * and a still console sends nothing. (The cloud kernel's console cursor
	 * may keep blinking however it is told to hide: then every tick is a
	 * change, and the frames must still be at most one a tick.) */
	ck_assert(!v.repeated);
	ck_assert_msg(v.frames == before || v.frames - before <= 2 * 3 + 1,
	              "%u frames in 3 s at 2 fps", v.frames - before);
	if (v.frames != before)
		g_printerr("watch stream: the console still changes (a blinking cursor?): "
		           "%u frames in 3 s, none repeated\n",
		           v.frames - before);
	/* the console changes: a new frame */
	sh(id, "echo watched > /dev/tty1");
	before = v.frames;
	wait_frames(&v, before + 1, 60);
	ck_assert_uint_ge(v.frames, before + 1);
	/* always changing for 6 s: at most 2 a second (and one for the tick in hand) */
	before = v.frames;
	gint64 t0 = g_get_monotonic_time();
	g_autoptr(JsonObject) busy = alk_test_api_sh(
	    id,
	    "end=$(($(cut -d. -f1 /proc/uptime) + 6)); "
	    "while [ $(cut -d. -f1 /proc/uptime) -lt $end ]; do echo $RANDOM > /dev/tty1; done");
	(void)busy;
	run_for(1);
	double secs = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
	ck_assert_msg(v.frames - before <= (guint)(2 * secs) + 2, "%u frames in %.1f s",
	              v.frames - before, secs);
	ck_assert_uint_ge(v.frames - before, 2);
	ck_assert(!v.bad_frame);
	ck_assert(!v.repeated);
	/* read-only: input ends the stream */
	soup_websocket_connection_send_text(v.ws, "{\"actions\":[{\"action\":\"click\"}]}");
	alk_test_iterate_until(&v.closed, 30);
	ck_assert(v.closed);
	ck_assert_uint_eq(v.code, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION);
	view_clear(&v);
}
END_TEST

/* Runs the loop until the view has had n answers to its input. */
static void wait_answers(View *v, guint n, guint seconds)
{
	gint64 deadline = alk_test_deadline(seconds);
	while (v->text_count < n && !v->closed && g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, FALSE) || (g_usleep(5000), TRUE);
	ck_assert_msg(v->text_count >= n, "%u answers of %u (closed %d code %u, texts %u)",
	              v->text_count, n, v->closed, v->code, v->texts);
}

/* With control (asked with the write scope), the stream takes batches as
 * POST /computer does and answers each on the stream; garbage is answered
 * with an error and the stream goes on; a binary message ends it; a caller
 * with only the read scope gets no such ticket. */
START_TEST(control)
{
	g_autofree char *id = alk_test_api_create(DISPLAY);
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s/watch?control=1", id);
	g_autofree char *bad = g_strdup_printf("/v1/sandboxes/%s/watch?control=yes", id);
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkTestResponse) ro = NULL;
	g_autoptr(JsonObject) r = NULL;
	g_autoptr(GBytes) bin = g_bytes_new_static("x", 1);
	View v;

	quiet_console(id);
	ro = alk_test_http_request(alk_test_api_d(), TRUE, alk_test_api_d()->read_token, "POST",
	                           path, NULL, NULL, 0, 60, &error);
	ck_assert_msg(ro != NULL, "%s", error ? error->message : "");
	alk_test_api_assert_error(ro, 403, "forbidden");
	alk_test_api_assert_error(alk_test_api_call("POST", bad, NULL), 400, "invalid_request");
	r = alk_test_api_expect("POST", path, NULL, 201);
	ck_assert(json_object_get_boolean_member(r, "control"));
	ck_assert(g_str_has_suffix(json_object_get_string_member(r, "watch_path"), "&control=1"));
	ck_assert_msg(view_open(&v, id, json_object_get_string_member(r, "ticket"), ""), "%s",
	              v.error ? v.error->message : "");
	wait_frames(&v, 1, 120);

	/* garbage: an error answer, and the stream goes on */
	soup_websocket_connection_send_text(v.ws, "not json");
	wait_answers(&v, 1, 60);
	ck_assert_msg(strstr(v.text, "\"invalid_request\"") != NULL, "%s", v.text);
	soup_websocket_connection_send_text(v.ws, "{\"actions\":[{\"action\":\"key\","
	                                          "\"keys\":\"no_such_key\"}]}");
	wait_answers(&v, 2, 60);
	ck_assert_msg(strstr(v.text, "\"error\"") != NULL, "%s", v.text);
	ck_assert(!v.closed);

	/* a batch: typed on the console, answered with its result */
	soup_websocket_connection_send_text(
	    v.ws,
	    "{\"actions\":[{\"action\":\"type\",\"text\":\"echo ctl$((6*7)) > /tmp/ctl\\n\"}]}");
	wait_answers(&v, 3, 60);
	ck_assert_msg(strstr(v.text, "\"result\"") != NULL, "%s", v.text);
	gint64 deadline = alk_test_deadline(60);
	for (;;) {
		g_autoptr(JsonObject) out = alk_test_api_sh(id, "cat /tmp/ctl 2>/dev/null; true");
		if (g_strcmp0(json_object_get_string_member(out, "stdout"), "ctl42\n") == 0)
			break;
		ck_assert_msg(g_get_monotonic_time() < deadline,
		              "no /tmp/ctl from the typed batch");
		g_usleep(200 * 1000);
	}

	/* binary input ends it */
	soup_websocket_connection_send_message(v.ws, SOUP_WEBSOCKET_DATA_BINARY, bin);
	alk_test_iterate_until(&v.closed, 30);
	ck_assert(v.closed);
	ck_assert_uint_eq(v.code, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION);
	view_clear(&v);

	/* airlock watch --control: refused to a read token; with a write
	 * token a link whose ticket opens a stream that takes input */
	{
		g_auto(AlkTestCli) ro_cli = {0};
		g_auto(AlkTestCli) rw_cli = {0};
		g_auto(AlkTestCli) extra = {0};
		g_autofree char *url = g_strdup_printf(
		    "http://127.0.0.1:%u/v1/sandboxes/%s/watch#ticket=", alk_test_api_d()->port,
		    id);

		alk_test_cli_set_socket(alk_test_api_d()->socket_path);
		alk_test_cli_runf(&ro_cli, 60,
		                  "--url http://127.0.0.1:%u --token %s watch --control %s",
		                  alk_test_api_d()->port, alk_test_api_d()->read_token, id);
		ck_assert_int_ne(ro_cli.status, 0);
		ck_assert_msg(strstr(ro_cli.err_text, "write scope") != NULL, "%s",
		              ro_cli.err_text);
		alk_test_cli_runf(&extra, 60, "watch --control %s %s", id, id);
		ck_assert_int_eq(extra.status, 2);
		alk_test_cli_runf(&rw_cli, 60,
		                  "--url http://127.0.0.1:%u --token %s watch --control %s",
		                  alk_test_api_d()->port, alk_test_api_d()->write_token, id);
		ck_assert_msg(rw_cli.status == 0, "%s", rw_cli.err_text);
		ck_assert_msg(g_str_has_prefix(rw_cli.out_text, url), "%s", rw_cli.out_text);
		ck_assert_msg(strstr(rw_cli.out_text, "&control=1") != NULL, "%s", rw_cli.out_text);
		ck_assert_msg(strstr(rw_cli.out_text, "clicks and keys") != NULL, "%s",
		              rw_cli.out_text);
		g_autofree char *printed = g_strndup(rw_cli.out_text + strlen(url), 64);
		ck_assert(view_open(&v, id, printed, ""));
		wait_frames(&v, 1, 120);
		soup_websocket_connection_send_text(v.ws, "not json");
		wait_answers(&v, 1, 60);
		ck_assert_msg(strstr(v.text, "\"invalid_request\"") != NULL, "%s", v.text);
		ck_assert(!v.closed);
		view_clear(&v);
	}
}
END_TEST

START_TEST(slow_viewer)
{
	g_autofree char *id = alk_test_api_create(DISPLAY);
	g_autofree char *t = ticket(id);
	View v;

	/* twice the console's size: frames of tens of KiB */
	ck_assert_msg(view_open_on(&v, FALSE, id, t, "&fps=10&width=1440"), "%s",
	              v.error ? v.error->message : "");
	wait_frames(&v, 1, 120);
	guint64 rss0 = alk_test_daemon_rss_kib(alk_test_api_d());
	/* 15 s of a changing console while this viewer (on the unix socket)
	 * reads nothing (the exec
	 * runs in this thread, the loop does not), then the screen rests */
	g_autoptr(JsonObject) busy = alk_test_api_sh(
	    id, "end=$(($(cut -d. -f1 /proc/uptime) + 15)); "
	        "while [ $(cut -d. -f1 /proc/uptime) -lt $end ]; do ls -l /bin > /dev/tty1; done");
	(void)busy;
	guint64 rss1 = alk_test_daemon_rss_kib(alk_test_api_d());
	guint stalled = v.frames;
	guint64 stalled_bytes = v.bytes;
	/* what was queued for it arrives now; then only the few new ones */
	gint64 quiet_from = g_get_monotonic_time();
	for (;;) {
		guint n = v.frames;
		run_for(2);
		if (v.frames == n || g_get_monotonic_time() - quiet_from > 60 * G_USEC_PER_SEC)
			break;
	}
	/* up to 150 frames were due (megabytes); the daemon kept only what its
	 * socket buffer (wmem_default, 208 KiB) and about one frame in hand hold */
	ck_assert_msg(v.bytes - stalled_bytes <= 1024 * 1024,
	              "%u frames, %" G_GUINT64_FORMAT " bytes were queued for a stalled viewer",
	              v.frames - stalled, v.bytes - stalled_bytes);
	/* under ASan ($ALK_TEST_SANITIZED) freed memory stays in its quarantine:
	 * the count of frames is the check there */
	ck_assert_msg(g_getenv("ALK_TEST_SANITIZED") != NULL || rss1 < rss0 + 32 * 1024,
	              "airlockd grew from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT " KiB", rss0,
	              rss1);
	/* and, reading nothing for longer than request_timeout_s (4 s here), it
	 * was dropped */
	ck_assert(v.closed);
	view_clear(&v);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("watch");
	SRunner *sr;
	int failed;

	alk_test_api_add(s, "tickets", tickets, NULL, NULL);
	alk_test_api_add(s, "stream", stream, NULL, NULL);
	alk_test_api_add(s, "slow_viewer", slow_viewer, NULL, NULL);
	alk_test_api_add(s, "control", control, NULL, NULL);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
