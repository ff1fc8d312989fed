/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* /mcp end to end: a real airlockd and guests. The transport's refusals
 * over raw HTTP (no session, an unknown one, GET, an Origin, a bad
 * revision header, batches, an audit line per tools/call with the
 * client's name), then the official MCP TypeScript SDK's client
 * (tests/test-mcp-sdk.mjs, npm ci of tests/mcp/ into the build tree) over
 * streamable HTTP with tokens and over stdio through `airlock mcp`. */
#include <check.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "alk-test-api.h"

#define D alk_test_api_d()
#define INIT                                                                                       \
	"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":" \
	"\"%s\",\"capabilities\":{},\"clientInfo\":{\"name\":\"raw-test\",\"version\":\"9\"}}}"

static AlkTestResponse *post(const char *extra, const char *body)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *full = g_strdup_printf("%sContent-Type: application/json\r\n", extra);
	g_autofree char *head =
	    alk_test_http_head("POST", "/mcp", D->write_token, (gssize)strlen(body), full);
	AlkTestResponse *r = NULL;
	int fd;

	fd = alk_test_http_connect(D, TRUE, &error);
	ck_assert_msg(fd >= 0, "%s", error ? error->message : "");
	ck_assert(alk_test_http_send(fd, head, strlen(head), alk_test_deadline(30), NULL));
	ck_assert(alk_test_http_send(fd, body, strlen(body), alk_test_deadline(30), NULL));
	r = alk_test_http_read(fd, alk_test_deadline(300), &error);
	close(fd);
	ck_assert_msg(r != NULL, "%s", error ? error->message : "");
	return r;
}

static gint64 rpc_error(AlkTestResponse *r, guint status)
{
	g_autoptr(JsonObject) o = alk_test_response_json(r);

	ck_assert_msg(r->status == status, "%u, wanted %u: %.*s", r->status, status,
	              (int)r->body->len, (const char *)r->body->data);
	ck_assert_msg(o != NULL && json_object_has_member(o, "error"), "%.*s", (int)r->body->len,
	              (const char *)r->body->data);
	return json_object_get_int_member(json_object_get_object_member(o, "error"), "code");
}

static char *initialize(void)
{
	g_autofree char *body = g_strdup_printf(INIT, "2025-06-18");
	g_autoptr(AlkTestResponse) r = post("", body);
	g_autoptr(JsonObject) o = alk_test_response_json(r);
	const char *sid = alk_test_response_header(r, "mcp-session-id");

	ck_assert_int_eq(r->status, 200);
	ck_assert_str_eq(json_object_get_string_member(json_object_get_object_member(o, "result"),
	                                               "protocolVersion"),
	                 "2025-06-18");
	ck_assert(sid != NULL && strlen(sid) == 32);
	return g_strdup(sid);
}

START_TEST(transport)
{
	g_autofree char *sid = initialize();
	g_autofree char *with = g_strdup_printf("Mcp-Session-Id: %s\r\n", sid);
	const char *list = "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}";
	g_autoptr(AlkTestResponse) r = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *old = g_strdup_printf(INIT, "2025-03-26");
	g_autofree char *future = g_strdup_printf(INIT, "2099-01-01");
	g_autofree char *bogus = g_strdup_printf(INIT, "1.0.0");
	g_autofree char *audit = NULL;

	r = post("", list); /* no session */
	ck_assert_int_eq(rpc_error(r, 400), -32600);
	g_clear_pointer(&r, alk_test_response_free);
	r = post("Mcp-Session-Id: 00000000000000000000000000000000\r\n", list);
	rpc_error(r, 404);
	g_clear_pointer(&r, alk_test_response_free);
	r = post(with, list);
	ck_assert_int_eq(r->status, 200);
	ck_assert(strstr((const char *)r->body->data, "\"sandbox_create\"") != NULL);
	g_clear_pointer(&r, alk_test_response_free);
	r = post(with, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
	ck_assert_int_eq(r->status, 202);
	g_clear_pointer(&r, alk_test_response_free);
	r = post(with, "[{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}]");
	ck_assert_int_eq(rpc_error(r, 400), -32600);
	g_clear_pointer(&r, alk_test_response_free);
	r = post(with, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"resources/list\"}");
	ck_assert_int_eq(rpc_error(r, 200), -32601);
	g_clear_pointer(&r, alk_test_response_free);
	r = post(with, "{\"jsonrpc\":\"2.0\",\"id\":5,");
	ck_assert_int_eq(rpc_error(r, 400), -32700);
	g_clear_pointer(&r, alk_test_response_free);
	/* the revision header: known ones pass, others are 400 */
	g_autofree char *bad_rev = g_strdup_printf("%sMCP-Protocol-Version: 2099-01-01\r\n", with);
	r = post(bad_rev, list);
	ck_assert_int_eq(r->status, 400);
	g_clear_pointer(&r, alk_test_response_free);
	g_autofree char *origin = g_strdup_printf("%sOrigin: http://evil.example\r\n", with);
	r = post(origin, list);
	ck_assert_int_eq(r->status, 403);
	g_clear_pointer(&r, alk_test_response_free);
	/* negotiation: the older revision is kept, an unknown date answered
	 * with the latest, a non-revision refused */
	r = post("", old);
	ck_assert(strstr((const char *)r->body->data, "\"2025-03-26\"") != NULL);
	g_clear_pointer(&r, alk_test_response_free);
	r = post("", future);
	ck_assert(strstr((const char *)r->body->data, "\"2025-06-18\"") != NULL);
	g_clear_pointer(&r, alk_test_response_free);
	r = post("", bogus);
	ck_assert_int_eq(rpc_error(r, 200), -32602);
	g_clear_pointer(&r, alk_test_response_free);
	/* members of the wrong type: -32602, and no complaint in the daemon's log
	 * (the test daemon fails on a GLib critical) */
	r = post(with, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/call\",\"params\":{"
	               "\"name\":{\"x\":1},\"arguments\":[]}}");
	ck_assert_int_eq(rpc_error(r, 200), -32602);
	g_clear_pointer(&r, alk_test_response_free);
	r = post("", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
	             "\"protocolVersion\":\"2025-06-18\",\"clientInfo\":{\"name\":[],"
	             "\"version\":{}}}}");
	ck_assert_int_eq(rpc_error(r, 200), -32602);
	g_clear_pointer(&r, alk_test_response_free);
	r = post(with, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{"
	               "\"requestId\":{\"a\":[]}}}");
	ck_assert_int_eq(r->status, 202);
	g_clear_pointer(&r, alk_test_response_free);
	/* a client name past 128 bytes, no clientInfo: refused before any session */
	g_autofree char *name = g_strnfill(129, 'n');
	g_autofree char *long_name =
	    g_strdup_printf("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
	                    "\"protocolVersion\":\"2025-06-18\",\"clientInfo\":{\"name\":\"%s\"}}}",
	                    name);
	r = post("", long_name);
	ck_assert_int_eq(rpc_error(r, 200), -32602);
	ck_assert(alk_test_response_header(r, "mcp-session-id") == NULL);
	g_clear_pointer(&r, alk_test_response_free);
	r = post("", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
	             "\"protocolVersion\":\"2025-06-18\"}}");
	ck_assert_int_eq(rpc_error(r, 200), -32602);
	g_clear_pointer(&r, alk_test_response_free);
	/* GET (no SSE stream here) */
	r = alk_test_http_request(D, TRUE, D->write_token, "GET", "/mcp", NULL, NULL, 0, 30,
	                          &error);
	ck_assert_int_eq(r->status, 405);
	g_clear_pointer(&r, alk_test_response_free);
	/* a tools/call is audited with the client's name */
	r = post(with, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":{"
	               "\"name\":\"sandbox_list\",\"arguments\":{}}}");
	ck_assert_int_eq(r->status, 200);
	ck_assert(strstr((const char *)r->body->data, "\"isError\":false") != NULL);
	ck_assert(g_file_get_contents(D->audit_path, &audit, NULL, NULL));
	ck_assert(strstr(audit, "\"mcp.sandbox_list\"") != NULL);
	ck_assert(strstr(audit, "\"raw-test\"") != NULL);
	g_clear_pointer(&r, alk_test_response_free);
	g_clear_pointer(&audit, g_free);
	/* refused before running (an unknown tool): -32602, audited as well */
	r = post(with, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{"
	               "\"name\":\"rm_rf\",\"arguments\":{}}}");
	ck_assert_int_eq(rpc_error(r, 200), -32602);
	ck_assert(g_file_get_contents(D->audit_path, &audit, NULL, NULL));
	ck_assert(strstr(audit, "\"mcp.refused\"") != NULL);
	ck_assert(strstr(audit, "\"rm_rf\"") != NULL);
	g_clear_pointer(&r, alk_test_response_free);
	/* DELETE ends a session: one it names */
	r = alk_test_http_request(D, TRUE, D->write_token, "DELETE", "/mcp", NULL, NULL, 0, 30,
	                          &error);
	ck_assert_int_eq(r->status, 400); /* no session header: refused */
	g_clear_pointer(&r, alk_test_response_free);
}
END_TEST

static gboolean find_line(GStrv lines, const char *a, const char *b)
{
	for (guint i = 0; lines[i] != NULL; i++) {
		if (strstr(lines[i], a) != NULL && (b == NULL || strstr(lines[i], b) != NULL))
			return TRUE;
	}
	return FALSE;
}

/* airlock mcp fed what no SDK sends: every request line gets exactly one
 * answer line (a line that is not JSON one with a null id), a
 * notification none, and what follows initialize waits for its session. */
START_TEST(bridge_hostile)
{
	g_autofree char *init = g_strdup_printf(INIT, "2025-06-18");
	g_autofree char *in =
	    g_strdup_printf("not json\n"
	                    "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\"}\n"
	                    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\"}\n"
	                    "\n%s\n"
	                    "{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"method\":\"ping\"}\n"
	                    "[{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"}]\n",
	                    init);
	g_autofree char *stdin_path = g_build_filename(D->dir, "mcp-in", NULL);
	g_autofree char *cmd = NULL;
	g_autofree char *out = NULL;
	g_auto(GStrv) lines = NULL;
	int status = 0;

	ck_assert(g_file_set_contents(stdin_path, in, -1, NULL));
	cmd = g_strdup_printf("'%s' --socket '%s' mcp < '%s'", ALK_CLI_BIN, D->socket_path,
	                      stdin_path);
	ck_assert(g_spawn_sync(NULL, (char *[]){"/bin/sh", "-c", cmd, NULL}, NULL, 0, NULL, NULL,
	                       &out, NULL, &status, NULL));
	ck_assert_msg(g_spawn_check_wait_status(status, NULL), "airlock mcp failed: %s", out);
	lines = g_strsplit(g_strchomp(out), "\n", -1);
	/* answers come as they are done: found by content, not place */
	ck_assert_msg(g_strv_length(lines) == 5, "%s", out);
	ck_assert(find_line(lines, "\"id\":null", "-32700"));
	ck_assert(find_line(lines, "\"id\":5,", "\"error\""));
	ck_assert(find_line(lines, "\"id\":1,", "\"protocolVersion\":\"2025-06-18\""));
	ck_assert(find_line(lines, "{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"result\":{}}", NULL));
	ck_assert(find_line(lines, "\"id\":null", "-32600"));
}
END_TEST

/* npm ci of the pinned SDK into the build tree, once per lock file. */
static void install_sdk(void)
{
	g_autofree char *stamp =
	    g_build_filename(ALK_MCP_BUILD_DIR, "node_modules", ".package-lock.json", NULL);
	g_autofree char *lock = g_build_filename(ALK_MCP_SOURCE_DIR, "package-lock.json", NULL);
	g_autofree char *cmd =
	    g_strdup_printf("mkdir -p '%s' && cp '%s/package.json' '%s/package-lock.json' '%s/' && "
	                    "cd '%s' && npm ci --no-audit --no-fund --loglevel=error",
	                    ALK_MCP_BUILD_DIR, ALK_MCP_SOURCE_DIR, ALK_MCP_SOURCE_DIR,
	                    ALK_MCP_BUILD_DIR, ALK_MCP_BUILD_DIR);
	GStatBuf a, b;
	int status = 0;

	if (g_stat(stamp, &a) == 0 && g_stat(lock, &b) == 0 && a.st_mtime >= b.st_mtime)
		return;
	ck_assert(g_spawn_sync(NULL, (char *[]){"/bin/sh", "-c", cmd, NULL}, NULL, 0, NULL, NULL,
	                       NULL, NULL, &status, NULL));
	ck_assert_msg(g_spawn_check_wait_status(status, NULL), "npm ci failed");
}

START_TEST(sdk_client)
{
	g_autofree char *modules = g_build_filename(ALK_MCP_BUILD_DIR, "node_modules", NULL);
	g_auto(GStrv) env = g_get_environ();
	int status = 0;
	g_autoptr(GError) error = NULL;

	install_sdk();
	env = g_environ_setenv(env, "ALK_MCP_MODULES", modules, TRUE);
	env = g_environ_setenv(env, "ALK_TCP_URL", D->tcp_url, TRUE);
	env = g_environ_setenv(env, "ALK_WRITE_TOKEN", D->write_token, TRUE);
	env = g_environ_setenv(env, "ALK_READ_TOKEN", D->read_token, TRUE);
	env = g_environ_setenv(env, "ALK_SOCKET", D->socket_path, TRUE);
	env = g_environ_setenv(env, "ALK_CLI_BIN", ALK_CLI_BIN, TRUE);
	ck_assert_msg(g_spawn_sync(NULL, (char *[]){"node", ALK_MCP_SCRIPT, NULL}, env,
	                           G_SPAWN_SEARCH_PATH | G_SPAWN_CHILD_INHERITS_STDIN, NULL, NULL,
	                           NULL, NULL, &status, &error),
	              "%s", error ? error->message : "");
	ck_assert_msg(g_spawn_check_wait_status(status, NULL), "the SDK client failed (see above)");
	/* the computer tool's typing is audited as its length and hash only, by
	 * the MCP call's line and the runner's */
	g_autofree char *audit = NULL;
	g_autofree char *sum =
	    g_compute_checksum_for_string(G_CHECKSUM_SHA256, "echo $((6*7)) > /tmp/m", -1);
	ck_assert(g_file_get_contents(D->audit_path, &audit, NULL, NULL));
	ck_assert(strstr(audit, "\"action\":\"mcp.computer\"") != NULL);
	ck_assert(strstr(audit, "\"action\":\"sandbox.computer\"") != NULL);
	ck_assert(strstr(audit, "\"action\":\"mcp.screenshot\"") != NULL);
	ck_assert(strstr(audit, sum) != NULL);
	ck_assert(strstr(audit, "6*7") == NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mcp-daemon");
	SRunner *sr;
	int failed;

	alk_test_api_add(s, "transport", transport, NULL, NULL);
	alk_test_api_add(s, "bridge_hostile", bridge_hostile, NULL, NULL);
	alk_test_api_add(s, "sdk_client", sdk_client, NULL, NULL);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
