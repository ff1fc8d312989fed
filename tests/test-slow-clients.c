/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Clients that do not read (a real airlockd per test, real guests): their
 * output waits in the guest, within the protocol's credit window, not in
 * the daemon; they are dropped after api.request_timeout_s of no progress;
 * and they never hold up the sandbox's other tasks. */
#include <check.h>
#include <string.h>
#include <unistd.h>

#include "alk-test-api.h"

#define D alk_test_api_d()
/* What the daemon may grow by while 100 MB go unread: far below the 64 MiB
 * output cap it would otherwise queue. */
#define GROWTH_MAX_KIB (24 * 1024)
#define FLOOD "head -c 100000000 /dev/zero"

static gint64 execs_running(const char *id)
{
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s", id);
	g_autoptr(JsonObject) sb = alk_test_api_expect("GET", path, NULL, 200);
	return json_object_get_int_member(sb, "execs_running");
}

/* Waits (bounded) until the sandbox runs no exec. */
static void wait_idle(const char *id, guint seconds)
{
	gint64 deadline = alk_test_deadline(seconds);
	while (execs_running(id) != 0 && g_get_monotonic_time() < deadline)
		g_usleep(200000);
	ck_assert_int_eq(execs_running(id), 0);
}

static int connect_send(const char *head, const char *body)
{
	g_autoptr(GError) error = NULL;
	int fd = alk_test_http_connect(D, FALSE, &error);

	ck_assert_msg(fd >= 0, "%s", error ? error->message : "");
	ck_assert(alk_test_http_send(fd, head, strlen(head), alk_test_deadline(10), NULL));
	if (body != NULL)
		ck_assert(alk_test_http_send(fd, body, strlen(body), alk_test_deadline(10), NULL));
	return fd;
}

/* Reads the response head on fd and asserts its status; then reads no more. */
static void expect_head(int fd, guint status)
{
	g_autoptr(AlkTestReader) r = alk_test_reader_new(fd);
	AlkTestResponse head = {0};
	g_autoptr(GError) error = NULL;

	ck_assert_msg(alk_test_reader_head(r, &head, alk_test_deadline(60), &error), "%s",
	              error ? error->message : "");
	ck_assert_int_eq(head.status, status);
	g_hash_table_unref(head.headers);
}

/* Under ASan ($ALK_TEST_SANITIZED, set by scripts/test) freed memory stays
 * in quarantine: the daemon's size says nothing then. */
static gboolean sizes_meaningful(void)
{
	return g_getenv("ALK_TEST_SANITIZED") == NULL;
}

static void assert_bounded(guint64 before_kib)
{
	guint64 after = alk_test_daemon_hwm_kib(D);

	if (!sizes_meaningful())
		return;
	ck_assert_msg(after < before_kib + GROWTH_MAX_KIB,
	              "the daemon grew from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT " KiB",
	              before_kib, after);
}

/* Sends the request, reads its head (status), then not a byte more: the
 * client is dropped and its process killed, the daemon stays small. */
static void assert_unread_dropped(const char *id, const char *head, const char *body, guint status)
{
	guint64 before = alk_test_daemon_hwm_kib(D);
	int fd = connect_send(head, body);

	expect_head(fd, status);
	wait_idle(id, 120);
	assert_bounded(before);
	close(fd);
}

START_TEST(websocket_unread)
{
	g_autofree char *id = alk_test_api_create(NULL);
	g_autofree char *head = g_strdup_printf(
	    "GET /v1/sandboxes/%s/exec/ws?argv=/bin/sh&argv=-c&argv=head+-c+100000000+/dev/zero "
	    "HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
	    id);

	assert_unread_dropped(id, head, NULL, 101);
}
END_TEST

START_TEST(ndjson_unread)
{
	g_autofree char *id = alk_test_api_create(NULL);
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s/exec", id);
	g_autofree char *body = alk_test_api_sh_body(FLOOD, NULL);
	g_autofree char *head = alk_test_http_head(
	    "POST", path, NULL, strlen(body),
	    "Content-Type: application/json\r\nAccept: application/x-ndjson\r\n");

	assert_unread_dropped(id, head, body, 200);
}
END_TEST

/* A download nobody reads holds only itself: an exec of the same sandbox
 * answers meanwhile (this daemon drops stalled clients only after 60 s). */
START_TEST(unread_download_holds_only_itself)
{
	g_autofree char *id = alk_test_api_create(NULL);
	g_autofree char *get = g_strdup_printf("/v1/sandboxes/%s/files/tmp/big", id);
	g_autofree char *get_head = alk_test_http_head("GET", get, NULL, -1, NULL);
	g_autoptr(JsonObject) made =
	    alk_test_api_sh(id, "dd if=/dev/zero of=/tmp/big bs=1M count=48 2>/dev/null");
	int fd = connect_send(get_head, NULL);

	expect_head(fd, 200);
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s/exec", id);
	g_autofree char *body = alk_test_api_sh_body("echo meanwhile", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkTestResponse) r = alk_test_http_request(
	    D, FALSE, NULL, "POST", path, "application/json", body, strlen(body), 40, &error);
	ck_assert_msg(r != NULL, "the exec waited for the unread download: %s",
	              error ? error->message : "");
	ck_assert_int_eq(r->status, 200);
	g_autoptr(JsonObject) res = alk_test_response_json(r);
	ck_assert_str_eq(json_object_get_string_member(res, "stdout"), "meanwhile\n");
	close(fd);
}
END_TEST

/* An unstreamed exec past its 64 MiB cap: its output is kept once (the
 * answer is written from it as the client reads), truncated says so. */
START_TEST(big_unstreamed_output_kept_once)
{
	g_autofree char *id = alk_test_api_create(NULL);
	guint64 before = alk_test_daemon_hwm_kib(D);
	g_autoptr(JsonObject) res = alk_test_api_sh(id, "head -c 100000000 /dev/zero | tr '\\0' a");
	guint64 after = alk_test_daemon_hwm_kib(D);
	const char *out = json_object_get_string_member(res, "stdout");

	ck_assert_uint_eq(strlen(out), 64 * 1024 * 1024);
	ck_assert(json_object_get_boolean_member(res, "truncated"));
	ck_assert_msg(!sizes_meaningful() || after < before + 100 * 1024,
	              "%" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT, before, after);
}
END_TEST

/* The daemon's budget for kept output across all execs: past it, output
 * is cut and the answer says truncated. */
START_TEST(output_budget_cuts)
{
	g_autofree char *id = alk_test_api_create(NULL);
	g_autoptr(JsonObject) res = alk_test_api_sh(id, "head -c 3000000 /dev/zero | tr '\\0' a");

	ck_assert_uint_eq(strlen(json_object_get_string_member(res, "stdout")), 1048576);
	ck_assert(json_object_get_boolean_member(res, "truncated"));
	g_autoptr(JsonObject) small = alk_test_api_sh(id, "echo fits");
	ck_assert_str_eq(json_object_get_string_member(small, "stdout"), "fits\n");
	ck_assert(!json_object_get_boolean_member(small, "truncated"));
}
END_TEST

static void budget_setup(void)
{
	g_autoptr(GError) error = NULL;

	alk_test_api_daemon =
	    alk_test_daemon_start("[api]\nmax_buffered_output_bytes = 1048576\n", &error);
	if (alk_test_api_daemon == NULL)
		g_printerr("airlockd did not start: %s\n", error->message);
}

static void slow_timeout_setup(void)
{
	g_autoptr(GError) error = NULL;

	alk_test_api_daemon = alk_test_daemon_start("[api]\nrequest_timeout_s = 60\n", &error);
	if (alk_test_api_daemon == NULL)
		g_printerr("airlockd did not start: %s\n", error->message);
}

int main(void)
{
	Suite *s = suite_create("slow-clients");
	SRunner *sr;
	int failed;

	alk_test_api_add(s, "websocket_unread", websocket_unread, NULL, NULL);
	alk_test_api_add(s, "ndjson_unread", ndjson_unread, NULL, NULL);
	alk_test_api_add(s, "unread_download_holds_only_itself", unread_download_holds_only_itself,
	                 slow_timeout_setup, NULL);
	alk_test_api_add(s, "big_unstreamed_output_kept_once", big_unstreamed_output_kept_once,
	                 NULL, NULL);
	alk_test_api_add(s, "output_budget_cuts", output_budget_cuts, budget_setup, NULL);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
