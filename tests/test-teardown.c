/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tasks in flight when their sandbox ends (a real airlockd per test, real
 * guests): every exec and transfer gets one final answer naming why —
 * a JSON error, an NDJSON error line, a WebSocket close with the error, a
 * cut download — and the daemon survives the clients that leave
 * afterwards. Run by scripts/test against an ASan+UBSan airlockd too
 * ($ALK_AIRLOCKD): its stop fails the test on any sanitizer report. */
#include <check.h>
#include <string.h>
#include <unistd.h>

#include "alk-test-api.h"

#define D alk_test_api_d()

/* Sends an exec of sh -c cmd (body extra JSON members may follow argv);
 * returns the connection without reading. */
static int send_exec(const char *id, const char *cmd, const char *more, gboolean ndjson)
{
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s/exec", id);
	g_autofree char *body =
	    g_strdup_printf("{\"argv\":[\"/bin/sh\",\"-c\",\"%s\"]%s}", cmd, more ? more : "");
	g_autofree char *head = alk_test_http_head(
	    "POST", path, NULL, strlen(body),
	    ndjson ? "Content-Type: application/json\r\nAccept: application/x-ndjson\r\n"
	           : "Content-Type: application/json\r\n");
	g_autoptr(GError) error = NULL;
	int fd = alk_test_http_connect(D, FALSE, &error);

	ck_assert_msg(fd >= 0, "%s", error ? error->message : "");
	ck_assert(alk_test_http_send(fd, head, strlen(head), alk_test_deadline(10), NULL));
	ck_assert(alk_test_http_send(fd, body, strlen(body), alk_test_deadline(10), NULL));
	return fd;
}

static JsonObject *get_sandbox(const char *id)
{
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s", id);
	return alk_test_api_expect("GET", path, NULL, 200);
}

static gint64 execs_running(const char *id)
{
	g_autoptr(JsonObject) sb = get_sandbox(id);
	return json_object_get_int_member(sb, "execs_running");
}

/* Waits (bounded) until the sandbox's member key reads want (JSON text). */
static gboolean wait_sandbox(const char *id, const char *key, const char *want)
{
	gint64 deadline = alk_test_deadline(90);
	while (g_get_monotonic_time() < deadline) {
		g_autoptr(JsonObject) sb = get_sandbox(id);
		JsonNode *node = json_object_get_member(sb, key);
		g_autofree char *text = node != NULL ? json_to_string(node, FALSE) : NULL;
		g_autofree char *quoted = g_strdup_printf("\"%s\"", want);
		if (g_strcmp0(text, want) == 0 || g_strcmp0(text, quoted) == 0)
			return TRUE;
		g_usleep(200000);
	}
	return FALSE;
}

/* Waits (bounded) until the sandbox runs n execs. */
static void wait_execs(const char *id, gint64 n)
{
	gint64 deadline = alk_test_deadline(60);
	while (execs_running(id) != n && g_get_monotonic_time() < deadline)
		g_usleep(100000);
	ck_assert_int_eq(execs_running(id), n);
}

/* The whole answer on fd: status and error code asserted, the message. */
static char *expect_error(int fd, guint status, const char *code, guint timeout_s)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkTestResponse) r = alk_test_http_read(fd, alk_test_deadline(timeout_s), &error);
	g_autoptr(JsonObject) body = NULL;
	JsonObject *e;

	ck_assert_msg(r != NULL, "no answer: %s", error ? error->message : "");
	alk_test_api_assert_error(r, status, code);
	body = alk_test_response_json(r);
	e = json_object_get_object_member(body, "error");
	return g_strdup(json_object_get_string_member(e, "message"));
}

static void assert_contains(const char *text, const char *part)
{
	ck_assert_msg(text != NULL && strstr(text, part) != NULL, "'%s' lacks '%s'", text, part);
}

static void delete_sandbox(const char *id)
{
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s", id);
	g_autoptr(AlkTestResponse) r = alk_test_api_call("DELETE", path, NULL);
	ck_assert_msg(r->status == 200 || r->status == 202, "DELETE: %u", r->status);
}

static void assert_daemon_answers(void)
{
	g_autoptr(JsonObject) health = alk_test_api_expect("GET", "/v1/health", NULL, 200);
	ck_assert(health != NULL);
}

START_TEST(delete_ends_every_task)
{
	g_autofree char *id = alk_test_api_create(NULL);
	g_autofree char *get = g_strdup_printf("/v1/sandboxes/%s/files/tmp/big", id);
	g_autofree char *get_head = alk_test_http_head("GET", get, NULL, -1, NULL);
	g_autofree char *ws_query = g_strdup_printf("%s/exec/ws?argv=/bin/sleep&argv=100", id);
	g_autoptr(JsonObject) made =
	    alk_test_api_sh(id, "dd if=/dev/zero of=/tmp/big bs=1M count=32 2>/dev/null");
	g_autoptr(AlkTestReader) nd = NULL;
	g_autoptr(AlkTestReader) dl = NULL;
	g_autoptr(GError) error = NULL;
	AlkTestResponse dl_head = {0};
	AlkTestWs ws;
	int plain, gone, nd_fd = -1, dl_fd;
	guint64 got = 0;
	char buf[65536];
	gssize n;

	/* a plain exec, a streamed one, a WebSocket one, one whose client
	 * leaves after the end, and a download whose client does not read */
	plain = send_exec(id, "sleep 100", NULL, FALSE);
	gone = send_exec(id, "sleep 100", NULL, FALSE);
	nd = alk_test_api_stream_exec(id, "sleep 100", &nd_fd);
	ck_assert_msg(alk_test_api_ws_connect(ws_query, &ws), "ws: %s",
	              ws.error ? ws.error->message : "");
	wait_execs(id, 4);
	dl_fd = alk_test_http_connect(D, FALSE, &error);
	ck_assert(dl_fd >= 0);
	ck_assert(
	    alk_test_http_send(dl_fd, get_head, strlen(get_head), alk_test_deadline(10), NULL));
	dl = alk_test_reader_new(dl_fd);
	ck_assert(alk_test_reader_head(dl, &dl_head, alk_test_deadline(60), NULL));
	ck_assert_int_eq(dl_head.status, 200);
	g_hash_table_unref(dl_head.headers);

	delete_sandbox(id);
	close(gone);

	g_autofree char *plain_msg = expect_error(plain, 410, "sandbox_ended", 60);
	assert_contains(plain_msg, "deleted");
	close(plain);

	g_autofree char *line = alk_test_reader_line(nd, alk_test_deadline(60), NULL);
	g_autoptr(JsonObject) o = alk_test_api_parse_line(line);
	ck_assert_str_eq(json_object_get_string_member(o, "stream"), "error");
	JsonObject *e = json_object_get_object_member(o, "error");
	ck_assert_str_eq(json_object_get_string_member(e, "code"), "sandbox_ended");
	assert_contains(json_object_get_string_member(e, "message"), "deleted");
	ck_assert(alk_test_reader_line(nd, alk_test_deadline(30), NULL) == NULL);
	close(nd_fd);

	alk_test_iterate_until(&ws.closed, 60);
	ck_assert(ws.closed);
	ck_assert_int_eq(ws.code, SOUP_WEBSOCKET_CLOSE_SERVER_ERROR);
	assert_contains(ws.exit, "sandbox_ended");
	alk_test_api_ws_clear(&ws);

	/* the promised length is never reached: the connection is cut */
	while ((n = alk_test_reader_body(dl, buf, sizeof(buf), alk_test_deadline(60), NULL)) > 0)
		got += (guint64)n;
	ck_assert_int_lt(got, 32 * 1024 * 1024);
	close(dl_fd);

	assert_daemon_answers();
}
END_TEST

START_TEST(ttl_ends_a_running_exec)
{
	g_autofree char *id = alk_test_api_create(NULL);
	g_autofree char *ttl = g_strdup_printf("/v1/sandboxes/%s/ttl", id);
	int fd = send_exec(id, "sleep 100", NULL, FALSE);

	wait_execs(id, 1);
	g_autoptr(JsonObject) moved = alk_test_api_expect("POST", ttl, "{\"ttl_s\":1}", 200);
	g_autofree char *msg = expect_error(fd, 410, "sandbox_ended", 60);
	assert_contains(msg, "ttl expired");
	close(fd);
	assert_daemon_answers();
}
END_TEST

/* The reason the audit log gives for the end of sandbox id, once it
 * ended (NULL if it did not within the deadline). */
static char *end_reason(const char *id)
{
	gint64 deadline = alk_test_deadline(90);

	while (g_get_monotonic_time() < deadline) {
		g_autofree char *text = NULL;
		g_auto(GStrv) lines = NULL;

		ck_assert(g_file_get_contents(D->audit_path, &text, NULL, NULL));
		lines = g_strsplit(text, "\n", -1);
		for (char **l = lines; *l != NULL; l++) {
			g_autoptr(JsonParser) p = json_parser_new();
			JsonObject *o, *r;
			if (strstr(*l, "\"sandbox.end\"") == NULL || strstr(*l, id) == NULL ||
			    !json_parser_load_from_data(p, *l, -1, NULL))
				continue;
			o = json_node_get_object(json_parser_get_root(p));
			r = json_object_get_object_member(o, "result");
			/* no reason: the whole result, to say what happened instead */
			if (json_object_get_string_member_with_default(r, "reason", NULL) == NULL)
				return json_to_string(json_object_get_member(o, "result"), FALSE);
			return g_strdup(json_object_get_string_member(r, "reason"));
		}
		g_usleep(200000);
	}
	return NULL;
}

/* The guest ending itself: the end's reason says how. */
START_TEST(guest_reboot_and_poweroff_are_told_apart)
{
	g_autofree char *a = alk_test_api_create(NULL);
	g_autofree char *b = alk_test_api_create(NULL);
	int fa = send_exec(a, "reboot -f", NULL, FALSE);
	int fb = send_exec(b, "poweroff -f", NULL, FALSE);
	g_autofree char *ra = end_reason(a);
	g_autofree char *rb = end_reason(b);

	assert_contains(ra, "rebooted");
	assert_contains(rb, "powered off");
	close(fa);
	close(fb);
	assert_daemon_answers();
}
END_TEST

/* The daemon's own deadline: a guest whose agent stops (here the whole
 * domain is paused, as a guest that froze its agent would look) does not
 * hold an exec past its timeout and a short grace. */
START_TEST(frozen_guest_hits_the_daemon_deadline)
{
	g_autofree char *id = alk_test_api_create(NULL);
	g_autofree char *suspend =
	    g_strdup_printf("virsh -c qemu:///system suspend airlock-%s", id);
	int status = -1;
	int fd = send_exec(id, "sleep 100", ",\"timeout_s\":2", FALSE);
	gint64 start;

	wait_execs(id, 1);
	start = g_get_monotonic_time();
	ck_assert(g_spawn_command_line_sync(suspend, NULL, NULL, &status, NULL) && status == 0);
	g_autofree char *msg = expect_error(fd, 504, "timeout", 60);
	assert_contains(msg, "timed out");
	/* 2 s of timeout and 3 s of grace, measured from before the pause */
	ck_assert_int_lt(g_get_monotonic_time() - start, 20 * G_USEC_PER_SEC);
	close(fd);
	ck_assert_int_eq(execs_running(id), 0);

	/* its agent answers no ping: unhealthy first, then failed and ended */
	ck_assert_msg(wait_sandbox(id, "healthy", "false"), "never unhealthy");
	ck_assert_msg(wait_sandbox(id, "state", "failed"), "never failed");
	g_autoptr(JsonObject) sb = get_sandbox(id);
	assert_contains(json_object_get_string_member(sb, "error"), "stopped answering");
	assert_daemon_answers();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("teardown");
	SRunner *sr;
	int failed;

	alk_test_api_add(s, "delete_ends_every_task", delete_ends_every_task, NULL, NULL);
	alk_test_api_add(s, "ttl_ends_a_running_exec", ttl_ends_a_running_exec, NULL, NULL);
	alk_test_api_add(s, "guest_reboot_and_poweroff_are_told_apart",
	                 guest_reboot_and_poweroff_are_told_apart, NULL, NULL);
	alk_test_api_add(s, "frozen_guest_hits_the_daemon_deadline",
	                 frozen_guest_hits_the_daemon_deadline, NULL, NULL);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
