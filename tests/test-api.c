/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The REST API end to end: a real airlockd per test, real guests (TCG),
 * requests over its unix socket and its TCP listener. Hostile input and
 * resource limits are in test-api-limits.c. */
#include <check.h>
#include <gio/gunixsocketaddress.h>
#include <libsoup/soup.h>
#include <libvirt/libvirt.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alk-audit-verify.h"
#include "alk-test-api.h"

#define D alk_test_api_d()

static const char *str(JsonObject *o, const char *key)
{
	return json_object_get_string_member(o, key);
}

static void assert_output(JsonObject *res, const char *key, const char *want)
{
	ck_assert_msg(json_object_has_member(res, key), "no %s", key);
	ck_assert_str_eq(str(res, key), want);
}

static char *read_audit(void)
{
	char *text = NULL;
	ck_assert(g_file_get_contents(D->audit_path, &text, NULL, NULL));
	return text;
}

START_TEST(roundtrip_unix)
{
	g_autofree char *id = alk_test_api_create("{\"labels\":{\"suite\":\"api\"}}");
	g_autofree char *base = g_strdup_printf("/v1/sandboxes/%s", id);
	g_autofree char *exec = g_strconcat(base, "/exec", NULL);
	g_autofree char *file = g_strconcat(base, "/files/tmp/hello.txt", NULL);
	g_autofree char *put_path = g_strconcat(file, "?mode=0640", NULL);
	g_autofree char *cat = alk_test_api_sh_body("cat; echo", "from stdin");
	g_autoptr(GError) error = NULL;

	g_autoptr(JsonObject) sb = alk_test_api_expect("GET", base, NULL, 200);
	ck_assert_str_eq(str(sb, "state"), "ready");
	ck_assert_str_eq(str(sb, "image"), "minimal");
	/* mode none: the same members, nothing in them */
	JsonObject *net = json_object_get_object_member(sb, "network");
	ck_assert_str_eq(str(net, "mode"), "none");
	ck_assert_int_eq(json_array_get_length(json_object_get_array_member(net, "allow")), 0);
	ck_assert(json_object_get_null_member(net, "address"));
	ck_assert(json_object_get_null_member(net, "counters"));
	/* where its cold boot went: the daemon's phases and the guest's own
	 * (the image's initramfs and agent stamp HELLO), adding up */
	JsonObject *boot = json_object_get_object_member(sb, "boot");
	ck_assert(boot != NULL);
	gint64 guest = json_object_get_int_member(boot, "guest_ms");
	gint64 parts = 0;
	static const char *const guest_parts[] = {"firmware_ms", "kernel_ms", "initramfs_ms",
	                                          "grow_ms",     "agent_ms",  "switch_root_ms"};
	for (guint i = 0; i < G_N_ELEMENTS(guest_parts); i++) {
		ck_assert_msg(!json_object_get_null_member(boot, guest_parts[i]), "boot.%s is null",
		              guest_parts[i]);
		parts += json_object_get_int_member(boot, guest_parts[i]);
	}
	ck_assert_int_gt(json_object_get_int_member(boot, "kernel_ms"), 0);
	/* each phase is rounded down on its own */
	ck_assert_int_le(parts, guest);
	ck_assert_int_ge(parts, guest - 6);
	ck_assert_int_ge(json_object_get_int_member(boot, "total_ms"), guest);
	g_autoptr(JsonObject) list =
	    alk_test_api_expect("GET", "/v1/sandboxes?label=suite=api", NULL, 200);
	ck_assert_int_eq(json_array_get_length(json_object_get_array_member(list, "sandboxes")), 1);
	g_autoptr(JsonObject) none =
	    alk_test_api_expect("GET", "/v1/sandboxes?label=suite=x", NULL, 200);
	ck_assert_int_eq(json_array_get_length(json_object_get_array_member(none, "sandboxes")), 0);

	g_autoptr(JsonObject) res = alk_test_api_sh(id, "echo out; echo err >&2; exit 7");
	ck_assert_int_eq(json_object_get_int_member(res, "exit_code"), 7);
	ck_assert(json_object_get_null_member(res, "signal"));
	ck_assert(!json_object_get_boolean_member(res, "timed_out"));
	assert_output(res, "stdout", "out\n");
	assert_output(res, "stderr", "err\n");
	g_autoptr(JsonObject) in = alk_test_api_expect("POST", exec, cat, 200);
	assert_output(in, "stdout", "from stdin\n");
	g_autoptr(JsonObject) bin = alk_test_api_sh(id, "printf '\\377\\001'");
	ck_assert_str_eq(str(bin, "stdout_b64"), "/wE=");

	/* files both ways */
	g_autoptr(AlkTestResponse) put = alk_test_http_request(
	    D, FALSE, NULL, "PUT", put_path, NULL, "hello file\n", 11, 60, &error);
	ck_assert_msg(put != NULL && put->status == 201, "put: %s", error ? error->message : "");
	g_autoptr(JsonObject) put_res = alk_test_response_json(put);
	g_autofree char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, "hello file\n", -1);
	ck_assert_str_eq(str(put_res, "sha256"), sum);
	ck_assert_int_eq(json_object_get_int_member(put_res, "bytes"), 11);
	g_autoptr(AlkTestResponse) got = alk_test_api_call("GET", file, NULL);
	ck_assert_int_eq(got->status, 200);
	ck_assert_int_eq(got->body->len, 11);
	ck_assert(memcmp(got->body->data, "hello file\n", 11) == 0);
	ck_assert_str_eq(alk_test_response_header(got, "X-Airlock-Mode"), "0640");
	g_autoptr(JsonObject) cat_res = alk_test_api_sh(id, "cat /tmp/hello.txt");
	assert_output(cat_res, "stdout", "hello file\n");

	/* the guest's own failure (a read-only file system) is a 502, not the
	 * caller's 400 */
	g_autoptr(JsonObject) ro =
	    alk_test_api_sh(id, "mkdir /tmp/ro && mount -t tmpfs -o ro tmpfs /tmp/ro && echo ok");
	assert_output(ro, "stdout", "ok\n");
	g_autofree char *ro_path = g_strconcat(base, "/files/tmp/ro/x", NULL);
	g_autoptr(AlkTestResponse) erofs =
	    alk_test_http_request(D, FALSE, NULL, "PUT", ro_path, NULL, "x", 1, 60, &error);
	ck_assert_msg(erofs != NULL, "put: %s", error ? error->message : "");
	alk_test_api_assert_error(erofs, 502, "guest_error");

	/* the rest of the read side */
	g_autofree char *console = g_strconcat(base, "/console", NULL);
	g_autoptr(AlkTestResponse) log = alk_test_api_call("GET", console, NULL);
	ck_assert_int_eq(log->status, 200);
	ck_assert(g_str_has_prefix(alk_test_response_header(log, "Content-Type"), "text/plain"));
	g_autofree char *ttl = g_strconcat(base, "/ttl", NULL);
	g_autoptr(JsonObject) t = alk_test_api_expect("POST", ttl, "{\"ttl_s\":600}", 200);
	ck_assert_str_eq(str(t, "id"), id);
	/* its network cannot change in mode none; a malformed body never reaches it */
	g_autofree char *network = g_strconcat(base, "/network", NULL);
	g_autoptr(AlkTestResponse) conflict =
	    alk_test_api_call("PUT", network, "{\"allow\":[\"pypi.org:443\"]}");
	alk_test_api_assert_error(conflict, 409, "conflict");
	g_autoptr(AlkTestResponse) unknown =
	    alk_test_api_call("PUT", network, "{\"allow\":[],\"mode\":\"allowlist\"}");
	alk_test_api_assert_error(unknown, 400, "invalid_request");
	g_autoptr(AlkTestResponse) missing_allow = alk_test_api_call("PUT", network, "{}");
	alk_test_api_assert_error(missing_allow, 400, "invalid_request");
	g_autoptr(JsonObject) health = alk_test_api_expect("GET", "/v1/health", NULL, 200);
	ck_assert_str_eq(str(health, "virt_type"), "qemu");
	ck_assert_int_eq(json_object_get_int_member(health, "sandboxes"), 1);
	g_autoptr(JsonObject) images = alk_test_api_expect("GET", "/v1/images", NULL, 200);
	g_autoptr(JsonObject) profiles = alk_test_api_expect("GET", "/v1/profiles", NULL, 200);
	ck_assert_str_eq(str(profiles, "default"), "development");
	g_autoptr(AlkTestResponse) metrics = alk_test_api_call("GET", "/metrics", NULL);
	g_autofree char *m = g_strndup((const char *)metrics->body->data, metrics->body->len);
	ck_assert_msg(strstr(m, "airlock_sandbox_creates_total 1") != NULL, "%s", m);
	ck_assert(strstr(m, "airlock_sandboxes{state=\"ready\"} 1") != NULL);
	ck_assert(strstr(m, "airlock_exec_duration_seconds_count 5") != NULL);
	ck_assert(strstr(m, "airlock_http_requests_total{code=\"200\"}") != NULL);
	/* described, but no series for a sandbox without a network */
	ck_assert(strstr(m, "# TYPE airlock_sandbox_network_packets_total counter\n") != NULL);
	ck_assert(strstr(m, "airlock_sandbox_network_packets_total{") == NULL);

	/* and gone */
	g_autofree char *wait = g_strconcat(base, "?wait=destroyed", NULL);
	g_autoptr(JsonObject) del = alk_test_api_expect("DELETE", wait, NULL, 200);
	ck_assert_str_eq(str(del, "state"), "destroyed");
	g_autoptr(AlkTestResponse) missing = alk_test_api_call("GET", base, NULL);
	alk_test_api_assert_error(missing, 404, "not_found");

	/* everything went into the audit log, chained */
	g_autofree char *audit = read_audit();
	g_autofree char *out_sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, "out\n", -1);
	ck_assert(strstr(audit, "\"action\":\"sandbox.exec\"") != NULL);
	ck_assert(strstr(audit, out_sum) != NULL);
	ck_assert(strstr(audit, "\"action\":\"sandbox.file_put\"") != NULL);
	ck_assert(strstr(audit, "\"action\":\"sandbox.file_get\"") != NULL);
	ck_assert(strstr(audit, "\"method\":\"DELETE\"") != NULL);
	ck_assert(strstr(audit, "\"action\":\"sandbox.network\"") != NULL);
	ck_assert(strstr(audit, "\"args\":{\"allow\":[\"pypi.org:443\"]}") != NULL);
	/* what a create made and a TTL change set, naming the sandbox */
	g_autofree char *created = g_strdup_printf("\"action\":\"sandbox.create\",\"sandbox\":\"%"
	                                           "s\",\"args\":{},\"result\":{\"id\":\"%s\"",
	                                           id, id);
	ck_assert_msg(strstr(audit, created) != NULL, "no %s", created);
	ck_assert(strstr(audit, "\"limits\":{\"cpus\":1,") != NULL);
	g_autofree char *ttl_line = g_strdup_printf(
	    "\"action\":\"sandbox.ttl\",\"sandbox\":\"%s\",\"args\":{\"ttl_s\":600},"
	    "\"result\":{\"expires_at\":\"",
	    id);
	ck_assert_msg(strstr(audit, ttl_line) != NULL, "no %s", ttl_line);
	g_autofree char *post = g_strdup_printf(
	    "\"action\":\"api.request\",\"sandbox\":\"%s\",\"args\":{\"method\":\"POST\","
	    "\"path\":\"/v1/sandboxes\"}",
	    id);
	ck_assert_msg(strstr(audit, post) != NULL, "no %s", post);
	ck_assert(strstr(audit, "\"caller\":\"airlockd\",\"action\":\"sandbox.end\"") != NULL);
	ck_assert(strstr(audit, "\"result\":{\"state\":\"destroyed\",\"reason\":\"deleted\"") !=
	          NULL);
	AlkAuditReport report;
	g_autofree char *head = g_build_filename(D->dir, "audit.head", NULL);
	ck_assert(alk_audit_verify(D->audit_path, head, &report, NULL));
	ck_assert_int_eq(report.problem, ALK_AUDIT_PROBLEM_NONE);
	ck_assert_uint_gt(report.lines, 15);
}
END_TEST

static AlkTestResponse *tcp(const char *token, const char *method, const char *path,
                            const char *json)
{
	g_autoptr(GError) error = NULL;
	AlkTestResponse *r =
	    alk_test_http_request(D, TRUE, token, method, path, json ? "application/json" : NULL,
	                          json, json ? strlen(json) : 0, 120, &error);
	ck_assert_msg(r != NULL, "%s %s: %s", method, path, error ? error->message : "");
	return r;
}

static void tcp_expect(const char *token, const char *method, const char *path, const char *json,
                       guint status, const char *code)
{
	g_autoptr(AlkTestResponse) r = tcp(token, method, path, json);
	if (code != NULL)
		alk_test_api_assert_error(r, status, code);
	else
		ck_assert_msg(r->status == status, "%s %s: %u", method, path, r->status);
	if (status == 401)
		ck_assert(
		    g_str_has_prefix(alk_test_response_header(r, "WWW-Authenticate"), "Bearer"));
}

static gboolean marker_exists(const char *id)
{
	g_autoptr(JsonObject) res = alk_test_api_sh(id, "test -e /tmp/marker");
	return json_object_get_int_member(res, "exit_code") == 0;
}

START_TEST(tcp_tokens_and_scopes)
{
	g_autofree char *id = alk_test_api_create(NULL);
	g_autofree char *base = g_strdup_printf("/v1/sandboxes/%s", id);
	g_autofree char *exec = g_strconcat(base, "/exec", NULL);
	g_autofree char *put = g_strconcat(base, "/files/tmp/marker", NULL);
	g_autofree char *ttl = g_strconcat(base, "/ttl", NULL);
	g_autofree char *touch = alk_test_api_sh_body("touch /tmp/marker", NULL);
	const char *ro = D->read_token;

	/* no token, a wrong one, a malformed header: nothing runs */
	tcp_expect(NULL, "POST", exec, touch, 401, "unauthorized");
	tcp_expect("alk_wrong", "POST", exec, touch, 401, "unauthorized");
	tcp_expect(NULL, "GET", "/v1/health", NULL, 401, "unauthorized");
	tcp_expect("", "GET", "/v1/sandboxes", NULL, 401, "unauthorized");
	g_autofree char *almost = g_strndup(D->write_token, strlen(D->write_token) - 1);
	tcp_expect(almost, "POST", exec, touch, 401, "unauthorized");
	ck_assert_msg(!marker_exists(id), "an unauthenticated exec ran");

	/* read: look, never touch */
	tcp_expect(ro, "GET", "/v1/health", NULL, 200, NULL);
	tcp_expect(ro, "GET", "/v1/sandboxes", NULL, 200, NULL);
	tcp_expect(ro, "GET", base, NULL, 200, NULL);
	tcp_expect(ro, "GET", "/metrics", NULL, 200, NULL);
	tcp_expect(ro, "POST", exec, touch, 403, "forbidden");
	tcp_expect(ro, "POST", "/v1/sandboxes", "{}", 403, "forbidden");
	tcp_expect(ro, "DELETE", base, NULL, 403, "forbidden");
	tcp_expect(ro, "POST", ttl, "{\"ttl_s\":60}", 403, "forbidden");
	tcp_expect(ro, "PUT", put, "x", 403, "forbidden");
	ck_assert_msg(!marker_exists(id), "a read-token exec ran");
	g_autoptr(JsonObject) still = alk_test_api_expect("GET", base, NULL, 200);
	ck_assert_str_eq(str(still, "state"), "ready");
	ck_assert_int_eq(
	    json_object_get_int_member(json_object_get_object_member(still, "limits"), "ttl_s"),
	    3600);

	/* write: does */
	g_autoptr(AlkTestResponse) ok = tcp(D->write_token, "POST", exec, touch);
	ck_assert_int_eq(ok->status, 200);
	ck_assert(marker_exists(id));

	g_autofree char *audit = read_audit();
	ck_assert(strstr(audit, "\"caller\":\"token:reader\"") != NULL);
	ck_assert(strstr(audit, "\"caller\":\"token:tester\"") != NULL);
	ck_assert(strstr(audit, "\"caller\":\"tcp:127.0.0.1\"") != NULL);
}
END_TEST

START_TEST(exec_ndjson_streams)
{
	g_autofree char *id = alk_test_api_create(NULL);
	int fd = -1;
	gint64 start = g_get_monotonic_time();
	g_autoptr(AlkTestReader) r =
	    alk_test_api_stream_exec(id, "echo first; sleep 6; echo second >&2", &fd);
	g_autofree char *l1 = alk_test_reader_line(r, alk_test_deadline(60), NULL);
	gint64 first_at = g_get_monotonic_time() - start;
	g_autoptr(JsonObject) o1 = alk_test_api_parse_line(l1);
	g_autofree char *t1 = alk_test_api_line_data(o1);

	/* the first line came while the process still slept */
	ck_assert_str_eq(str(o1, "stream"), "stdout");
	ck_assert_str_eq(t1, "first\n");
	ck_assert_msg(first_at < 5 * G_USEC_PER_SEC, "first line after %" G_GINT64_FORMAT " us",
	              first_at);
	g_autofree char *l2 = alk_test_reader_line(r, alk_test_deadline(60), NULL);
	g_autoptr(JsonObject) o2 = alk_test_api_parse_line(l2);
	g_autofree char *t2 = alk_test_api_line_data(o2);
	ck_assert_str_eq(str(o2, "stream"), "stderr");
	ck_assert_str_eq(t2, "second\n");
	ck_assert_int_ge(g_get_monotonic_time() - start, 6 * G_USEC_PER_SEC);
	g_autofree char *l3 = alk_test_reader_line(r, alk_test_deadline(60), NULL);
	g_autoptr(JsonObject) o3 = alk_test_api_parse_line(l3);
	ck_assert_str_eq(str(o3, "stream"), "exit");
	ck_assert_int_eq(json_object_get_int_member(o3, "exit_code"), 0);
	ck_assert(alk_test_reader_line(r, alk_test_deadline(10), NULL) == NULL);
	close(fd);
}
END_TEST

/* The run dir is root's (QEMU's user cannot plant links in it), and the
 * console log is read without following one. */
START_TEST(console_log_not_followed)
{
	g_autofree char *id = alk_test_api_create(NULL);
	g_autofree char *run = g_build_filename(D->run_dir, "sandboxes", id, NULL);
	g_autofree char *log = g_build_filename(run, "console.log", NULL);
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s/console", id);
	struct stat st;

	ck_assert_int_eq(stat(run, &st), 0);
	ck_assert_int_eq(st.st_uid, 0);
	ck_assert_int_eq(st.st_mode & 022, 0);
	ck_assert_int_eq(unlink(log), 0);
	ck_assert_int_eq(symlink("/etc/passwd", log), 0);
	g_autoptr(AlkTestResponse) r = alk_test_api_call("GET", path, NULL);
	ck_assert_int_ne(r->status, 200);
	g_byte_array_append(r->body, (const guint8 *)"", 1);
	ck_assert_msg(strstr((const char *)r->body->data, "root:") == NULL, "%s", r->body->data);
}
END_TEST

static gboolean audited_499(void)
{
	g_autofree char *audit = read_audit();
	return strstr(audit, "\"status\":499") != NULL;
}

START_TEST(exec_disconnect_kills)
{
	g_autofree char *id = alk_test_api_create(NULL);
	int fd = -1;
	g_autoptr(AlkTestReader) r = alk_test_api_stream_exec(id, "echo $$; exec sleep 600", &fd);
	g_autofree char *l1 = alk_test_reader_line(r, alk_test_deadline(60), NULL);
	g_autoptr(JsonObject) o1 = alk_test_api_parse_line(l1);
	g_autofree char *pid = g_strstrip(alk_test_api_line_data(o1));
	g_autofree char *check =
	    g_strdup_printf("kill -0 %s 2>/dev/null && echo alive || echo gone", pid);
	g_autofree char *base = g_strdup_printf("/v1/sandboxes/%s", id);
	gint64 deadline = alk_test_deadline(60);
	gboolean gone = FALSE;

	g_autoptr(JsonObject) alive = alk_test_api_sh(id, check);
	assert_output(alive, "stdout", "alive\n");
	close(fd); /* the client goes away mid-exec */
	while (!gone && g_get_monotonic_time() < deadline) {
		g_autoptr(JsonObject) res = alk_test_api_sh(id, check);
		gone = g_str_equal(str(res, "stdout"), "gone\n");
		if (!gone)
			g_usleep(200000);
	}
	ck_assert_msg(gone, "process %s still runs after its client left", pid);
	g_autoptr(JsonObject) sb = alk_test_api_expect("GET", base, NULL, 200);
	ck_assert_int_eq(json_object_get_int_member(sb, "execs_running"), 0);
	/* the request's audit line follows the exit's answer */
	deadline = alk_test_deadline(30);
	while (!audited_499() && g_get_monotonic_time() < deadline)
		g_usleep(100000);
	ck_assert(audited_499());
}
END_TEST

/* ---- WebSocket ---- */

static gboolean ws_run(const char *query, const char *input, AlkTestWs *w)
{
	if (!alk_test_api_ws_connect(query, w))
		return FALSE;
	soup_websocket_connection_send_binary(w->ws, input, strlen(input));
	soup_websocket_connection_send_text(w->ws, "{\"eof\":true}");
	alk_test_iterate_until(&w->closed, 120);
	return TRUE;
}

START_TEST(exec_websocket)
{
	g_autofree char *id = alk_test_api_create(NULL);
	g_autofree char *query = g_strdup_printf("%s/exec/ws?argv=/bin/sh&argv=-c&argv=cat%%3B"
	                                         "echo+%%24X&env=X%%3Dbye",
	                                         id);
	AlkTestWs w;

	ck_assert_msg(ws_run(query, "hello ws\n", &w), "connect: %s",
	              w.error ? w.error->message : "");
	ck_assert(w.closed);
	ck_assert_int_eq(w.code, SOUP_WEBSOCKET_CLOSE_NORMAL);
	ck_assert_str_eq(w.out->str, "hello ws\nbye\n");
	ck_assert_msg(w.exit != NULL && strstr(w.exit, "\"exit_code\":0") != NULL, "%s", w.exit);
	alk_test_api_ws_clear(&w);

	/* no such sandbox: the handshake is refused */
	ck_assert(!ws_run("0123456789ab/exec/ws?argv=/bin/true", "", &w));
	ck_assert(w.error != NULL);
	alk_test_api_ws_clear(&w);
}
END_TEST

/* Iterates until w's stdout holds needle, or it closed, or 60 s. */
static gboolean ws_wait_output(AlkTestWs *w, const char *needle)
{
	gint64 end = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

	while (strstr(w->out->str, needle) == NULL && !w->closed && g_get_monotonic_time() < end)
		g_main_context_iteration(NULL, TRUE);
	return strstr(w->out->str, needle) != NULL;
}

/* tty=1: the process is on a pseudo-terminal of the size asked for, and a
 * resize frame changes it; sizes out of range are refused. */
START_TEST(exec_websocket_tty)
{
	g_autofree char *id = alk_test_api_create(NULL);
	g_autofree char *query =
	    g_strdup_printf("%s/exec/ws?argv=/bin/sh&argv=-c&argv=test+-t+0+%%26%%26+echo+yes%%3B"
	                    "stty+size%%3Bread+x%%3Bstty+size%%3Becho+got-%%24x%%3Bexit+3"
	                    "&tty=1&rows=30&cols=90",
	                    id);
	g_autofree char *zero = g_strdup_printf("%s/exec/ws?argv=sh&tty=1&rows=0", id);
	g_autofree char *big = g_strdup_printf("%s/exec/ws?argv=sh&tty=1&cols=1001", id);
	g_autofree char *notty = g_strdup_printf("%s/exec/ws?argv=sh&rows=10", id);
	g_autofree char *plain = g_strdup_printf("%s/exec/ws?argv=sleep&argv=100", id);
	AlkTestWs w;

	ck_assert_msg(alk_test_api_ws_connect(query, &w), "connect: %s",
	              w.error ? w.error->message : "");
	ck_assert_msg(ws_wait_output(&w, "30 90\r\n"), "%s", w.out->str);
	ck_assert(strstr(w.out->str, "yes\r\n") != NULL);
	soup_websocket_connection_send_text(w.ws, "{\"resize\":{\"rows\":41,\"cols\":101}}");
	soup_websocket_connection_send_binary(w.ws, "hi\n", 3);
	alk_test_iterate_until(&w.closed, 120);
	ck_assert_int_eq(w.code, SOUP_WEBSOCKET_CLOSE_NORMAL);
	ck_assert_msg(strstr(w.out->str, "41 101\r\ngot-hi\r\n") != NULL, "%s", w.out->str);
	ck_assert_msg(w.exit != NULL && strstr(w.exit, "\"exit_code\":3") != NULL, "%s", w.exit);
	alk_test_api_ws_clear(&w);

	ck_assert(!alk_test_api_ws_connect(zero, &w));
	alk_test_api_ws_clear(&w);
	ck_assert(!alk_test_api_ws_connect(big, &w));
	alk_test_api_ws_clear(&w);
	ck_assert(!alk_test_api_ws_connect(notty, &w));
	alk_test_api_ws_clear(&w);

	/* a resize for an exec without a tty ends the session */
	ck_assert(alk_test_api_ws_connect(plain, &w));
	soup_websocket_connection_send_text(w.ws, "{\"resize\":{\"rows\":41,\"cols\":101}}");
	alk_test_iterate_until(&w.closed, 120);
	ck_assert_int_eq(w.code, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION);
	alk_test_api_ws_clear(&w);
	/* a malformed one too */
	ck_assert(alk_test_api_ws_connect(query, &w));
	soup_websocket_connection_send_text(w.ws, "{\"resize\":{\"rows\":0,\"cols\":101}}");
	alk_test_iterate_until(&w.closed, 120);
	ck_assert_int_eq(w.code, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION);
	alk_test_api_ws_clear(&w);
}
END_TEST

/* ---- 50 clients at once while sandboxes boot ---- */

typedef struct {
	const char *ids[2];
	gint failures;
	GString *first_failure;
	GMutex lock;
} Parallel;

static gboolean check_list(AlkTestResponse *r, Parallel *p)
{
	g_autoptr(JsonObject) o = r != NULL && r->status == 200 ? alk_test_response_json(r) : NULL;
	JsonArray *a = o != NULL ? json_object_get_array_member(o, "sandboxes") : NULL;
	guint found = 0;

	for (guint i = 0; a != NULL && i < json_array_get_length(a); i++) {
		const char *id =
		    json_object_get_string_member(json_array_get_object_element(a, i), "id");
		found += g_str_equal(id, p->ids[0]) || g_str_equal(id, p->ids[1]);
	}
	return found == 2;
}

static gboolean check_one(AlkTestResponse *r, const char *id)
{
	g_autoptr(JsonObject) o = r != NULL && r->status == 200 ? alk_test_response_json(r) : NULL;
	const char *state = o != NULL ? json_object_get_string_member(o, "state") : NULL;
	return o != NULL && g_str_equal(json_object_get_string_member(o, "id"), id) &&
	       (g_str_equal(state, "creating") || g_str_equal(state, "booting") ||
	        g_str_equal(state, "ready"));
}

static gpointer client(gpointer data)
{
	Parallel *p = data;

	for (guint i = 0; i < 10; i++) {
		const char *id = p->ids[i % 2];
		g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s", id);
		g_autoptr(AlkTestResponse) l =
		    alk_test_http_request(alk_test_api_daemon, FALSE, NULL, "GET", "/v1/sandboxes",
		                          NULL, NULL, 0, 60, NULL);
		g_autoptr(AlkTestResponse) one = alk_test_http_request(
		    alk_test_api_daemon, i % 3 == 0, alk_test_api_daemon->read_token, "GET", path,
		    NULL, NULL, 0, 60, NULL);
		if (!check_list(l, p) || !check_one(one, id)) {
			g_mutex_lock(&p->lock);
			if (p->failures++ == 0)
				g_string_printf(p->first_failure, "list %u, inspect %u",
				                l ? l->status : 0, one ? one->status : 0);
			g_mutex_unlock(&p->lock);
		}
	}
	return NULL;
}

START_TEST(parallel_clients_while_booting)
{
	g_autoptr(JsonObject) a = alk_test_api_expect("POST", "/v1/sandboxes", "{}", 201);
	g_autoptr(JsonObject) b = alk_test_api_expect("POST", "/v1/sandboxes", "{}", 201);
	Parallel p = {.ids = {str(a, "id"), str(b, "id")}, .first_failure = g_string_new(NULL)};
	GThread *threads[50];

	ck_assert_str_eq(str(a, "state"), "creating");
	g_mutex_init(&p.lock);
	for (guint i = 0; i < G_N_ELEMENTS(threads); i++)
		threads[i] = g_thread_new("client", client, &p);
	for (guint i = 0; i < G_N_ELEMENTS(threads); i++)
		g_thread_join(threads[i]);
	ck_assert_msg(p.failures == 0, "%d of 500 rounds failed, first: %s", p.failures,
	              p.first_failure->str);
	g_string_free(p.first_failure, TRUE);
	g_mutex_clear(&p.lock);
	/* and they did boot meanwhile */
	for (guint i = 0; i < 2; i++) {
		g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s", p.ids[i]);
		gint64 deadline = alk_test_deadline(300);
		gboolean ready = FALSE;
		while (!ready && g_get_monotonic_time() < deadline) {
			g_autoptr(JsonObject) sb = alk_test_api_expect("GET", path, NULL, 200);
			ready = g_str_equal(str(sb, "state"), "ready");
			ck_assert_str_ne(str(sb, "state"), "failed");
			if (!ready)
				g_usleep(250000);
		}
		ck_assert(ready);
	}
}
END_TEST

/* SIGTERM: in-flight work ends, the daemon exits cleanly (no sanitizer
 * report when it is an ASan build) and its sandboxes keep running. */
START_TEST(sigterm_leaves_sandboxes)
{
	g_autofree char *id = alk_test_api_create(NULL);
	g_autofree char *name = g_strconcat("airlock-", id, NULL);
	g_autofree char *log = alk_test_daemon_terminate(D, 60);
	virConnectPtr conn = virConnectOpen("qemu:///system");
	virDomainPtr dom = conn != NULL ? virDomainLookupByName(conn, name) : NULL;

	ck_assert_msg(log != NULL, "airlockd did not exit on SIGTERM");
	ck_assert_msg(strstr(log, "Sanitizer") == NULL, "%s", log);
	ck_assert_msg(strstr(log, "stopping") != NULL, "%s", log);
	ck_assert_msg(dom != NULL && virDomainIsActive(dom) == 1, "the sandbox did not survive");
	virDomainFree(dom);
	virConnectClose(conn);
	/* the fixture's teardown destroys it */
}
END_TEST

/* Pause and resume a real guest: commands refused while paused, the same
 * guest (its files) after, both audited. */
START_TEST(pause_resume)
{
	g_autofree char *id = alk_test_api_create(NULL);
	g_autofree char *base = g_strdup_printf("/v1/sandboxes/%s", id);
	g_autofree char *pause = g_strconcat(base, "/pause", NULL);
	g_autofree char *resume = g_strconcat(base, "/resume", NULL);
	g_autofree char *exec = g_strconcat(base, "/exec", NULL);
	g_autofree char *body = alk_test_api_sh_body("cat /tmp/mark", NULL);
	g_autofree char *audit = NULL;

	g_autoptr(JsonObject) mark = alk_test_api_sh(id, "echo kept > /tmp/mark; echo ok");
	assert_output(mark, "stdout", "ok\n");
	g_autoptr(JsonObject) paused = alk_test_api_expect("POST", pause, NULL, 200);
	ck_assert_str_eq(str(paused, "state"), "paused");
	ck_assert(json_object_get_null_member(paused, "healthy"));
	g_autoptr(AlkTestResponse) refused = alk_test_api_call("POST", exec, body);
	alk_test_api_assert_error(refused, 409, "conflict");
	ck_assert(strstr((const char *)refused->body->data, "paused") != NULL);
	g_autoptr(AlkTestResponse) twice = alk_test_api_call("POST", pause, NULL);
	alk_test_api_assert_error(twice, 409, "conflict");
	g_autoptr(JsonObject) listed = alk_test_api_expect("GET", base, NULL, 200);
	ck_assert_str_eq(str(listed, "state"), "paused");
	g_autoptr(JsonObject) resumed = alk_test_api_expect("POST", resume, NULL, 200);
	ck_assert_str_eq(str(resumed, "state"), "ready");
	g_autoptr(JsonObject) after = alk_test_api_expect("POST", exec, body, 200);
	assert_output(after, "stdout", "kept\n");
	g_autoptr(AlkTestResponse) again = alk_test_api_call("POST", resume, NULL);
	alk_test_api_assert_error(again, 409, "conflict");
	g_autoptr(AlkTestResponse) nobody =
	    alk_test_api_call("POST", "/v1/sandboxes/0123456789ab/pause", NULL);
	alk_test_api_assert_error(nobody, 404, "not_found");
	audit = read_audit();
	ck_assert(strstr(audit, "\"sandbox.pause\"") != NULL);
	ck_assert(strstr(audit, "\"sandbox.resume\"") != NULL);
	/* deleted while paused: gone like any other */
	g_autoptr(AlkTestResponse) p2 = alk_test_api_call("POST", pause, NULL);
	ck_assert_int_eq(p2->status, 200);
	g_autoptr(AlkTestResponse) del = alk_test_api_call("DELETE", base, NULL);
	ck_assert_msg(del->status == 202 || del->status == 200 || del->status == 204, "%u",
	              del->status);
}
END_TEST

static gboolean pool_ready(guint want)
{
	g_autoptr(JsonObject) health = alk_test_api_expect("GET", "/v1/health", NULL, 200);
	JsonArray *pool = json_object_get_array_member(health, "pool");
	JsonObject *key;

	ck_assert_uint_eq(json_array_get_length(pool), 1);
	key = json_array_get_object_element(pool, 0);
	ck_assert_str_eq(str(key, "key"), "minimal/development");
	return (guint)json_object_get_int_member(key, "ready") == want &&
	       json_object_get_int_member(key, "starting") == 0;
}

/* Waits (on the health answer, with a deadline) until the pool is full. */
static void wait_pool_ready(void)
{
	gint64 end = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;

	while (!pool_ready(1)) {
		ck_assert_msg(g_get_monotonic_time() < end, "the warm pool never filled");
		g_usleep(100 * 1000); /* a poll of the daemon's own report, not a guess */
	}
}

static void pool_setup(void)
{
	g_autoptr(GError) error = NULL;

	alk_test_api_daemon = alk_test_daemon_start("[api]\nrequest_timeout_s = 4\n"
	                                            "[daemon]\npool = minimal/development:1\n",
	                                            &error);
	if (alk_test_api_daemon == NULL)
		g_printerr("airlockd did not start: %s\n", error->message);
}

/* A warm pool of one: the create is answered ready at once with a booted
 * guest, the member is never listed, and the pool fills again. */
START_TEST(warm_pool)
{
	g_autofree char *id = NULL;
	g_autofree char *metrics = NULL;

	wait_pool_ready();
	g_autoptr(JsonObject) empty = alk_test_api_expect("GET", "/v1/sandboxes", NULL, 200);
	ck_assert_int_eq(json_array_get_length(json_object_get_array_member(empty, "sandboxes")),
	                 0);
	g_autoptr(JsonObject) sb =
	    alk_test_api_expect("POST", "/v1/sandboxes", "{\"labels\":{\"w\":\"1\"}}", 201);
	ck_assert_str_eq(str(sb, "state"), "ready");
	ck_assert(json_object_get_boolean_member(sb, "warm"));
	id = g_strdup(str(sb, "id"));
	g_autoptr(JsonObject) res = alk_test_api_sh(id, "echo warm");
	assert_output(res, "stdout", "warm\n");
	g_autoptr(JsonObject) one = alk_test_api_expect("GET", "/v1/sandboxes", NULL, 200);
	ck_assert_int_eq(json_array_get_length(json_object_get_array_member(one, "sandboxes")), 1);
	wait_pool_ready();
	g_autoptr(AlkTestResponse) m = alk_test_api_call("GET", "/metrics", NULL);
	metrics = g_strndup((const char *)m->body->data, m->body->len);
	ck_assert_msg(strstr(metrics, "airlock_pool_sandboxes{key=\"minimal/development\","
	                              "state=\"ready\"} 1") != NULL,
	              "%s", metrics);
	/* a cold shape is not served warm */
	g_autoptr(JsonObject) cold =
	    alk_test_api_expect("POST", "/v1/sandboxes", "{\"memory_mib\":384}", 201);
	ck_assert(!json_object_get_boolean_member(cold, "warm"));
}
END_TEST

static guint16 agent_port;

static void node_setup(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *extra = NULL;

	agent_port = alk_test_free_port();
	extra = g_strdup_printf("[api]\nrequest_timeout_s = 4\n[daemon]\nmax_sandboxes = 1\n"
	                        "[cluster]\nnode = 0a\nagent_listen = 127.0.0.1:%u\n",
	                        agent_port);
	alk_test_api_daemon = alk_test_daemon_start(extra, &error);
	if (alk_test_api_daemon == NULL)
		g_printerr("airlockd did not start: %s\n", error->message);
}

/* The agent-check line: "N%" and the connection closed. */
static guint agent_check(void)
{
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketConnection) conn = NULL;
	g_autoptr(GError) error = NULL;
	char buf[64] = "";
	gsize n = 0;
	guint64 pct = 0;
	char *end = NULL;

	conn = g_socket_client_connect_to_host(client, "127.0.0.1", agent_port, NULL, &error);
	ck_assert_msg(conn != NULL, "agent port: %s", error ? error->message : "?");
	ck_assert(g_input_stream_read_all(g_io_stream_get_input_stream(G_IO_STREAM(conn)), buf,
	                                  sizeof(buf) - 1, &n, NULL, &error));
	buf[n] = '\0';
	pct = g_ascii_strtoull(buf, &end, 10);
	ck_assert_msg(end != buf && g_str_equal(end, "%\n") && pct <= 100, "'%s'", buf);
	return (guint)pct;
}

/* One node of a cluster: its tag in every id, another node's ids refused as
 * not here, its capacity on the agent-check port, and a create it cannot
 * admit answered 503 + X-Airlock-Full before any side effect. */
START_TEST(cluster_node)
{
	g_autofree char *id = NULL;

	ck_assert_uint_ge(agent_check(), 1);
	id = alk_test_api_create(NULL);
	ck_assert_msg(g_str_has_prefix(id, "0a"), "%s", id);
	ck_assert_uint_eq(agent_check(), 0);
	g_autoptr(AlkTestResponse) full = alk_test_api_call("POST", "/v1/sandboxes", "{}");
	alk_test_api_assert_error(full, 503, "limit_exceeded");
	ck_assert_str_eq(alk_test_response_header(full, "X-Airlock-Full"), "1");
	g_autoptr(JsonObject) list = alk_test_api_expect("GET", "/v1/sandboxes", NULL, 200);
	ck_assert_int_eq(json_array_get_length(json_object_get_array_member(list, "sandboxes")), 1);
	g_autoptr(AlkTestResponse) other =
	    alk_test_api_call("GET", "/v1/sandboxes/0b0123456789", NULL);
	alk_test_api_assert_error(other, 404, "not_found");
	ck_assert(strstr((const char *)other->body->data, "node 0b's") != NULL);
	/* a create that fails for the request itself is not retried elsewhere */
	g_autoptr(AlkTestResponse) bad = alk_test_api_call("POST", "/v1/sandboxes", "{\"cpus\":0}");
	alk_test_api_assert_error(bad, 400, "invalid_request");
	ck_assert(alk_test_response_header(bad, "X-Airlock-Full") == NULL);
}
END_TEST

/* Who an exec runs as: a user (uid:gid here: the minimal image has no
 * passwd entries), root without capabilities, a bad user refused; the
 * production profile refuses root and forces no_new_privs. */
START_TEST(exec_users)
{
	g_autofree char *id = alk_test_api_create(NULL);
	g_autofree char *prod = alk_test_api_create("{\"profile\":\"production\"}");
	g_autofree char *exec = g_strdup_printf("/v1/sandboxes/%s/exec", id);
	g_autofree char *prod_exec = g_strdup_printf("/v1/sandboxes/%s/exec", prod);
	const char *status =
	    "grep -E '^(Uid|Gid|CapEff|NoNewPrivs)' /proc/self/status | tr -s '\\t' ' '; "
	    "echo \\\"$HOME|$USER\\\"; pwd";
	g_autofree char *as_user = g_strdup_printf(
	    "{\"argv\":[\"/bin/sh\",\"-c\",\"%s\"],\"user\":\"1000:1000\"}", status);
	g_autofree char *no_caps = g_strdup_printf(
	    "{\"argv\":[\"/bin/sh\",\"-c\",\"%s\"],\"capabilities\":\"none\"}", status);
	g_autofree char *as_root =
	    g_strdup_printf("{\"argv\":[\"/bin/sh\",\"-c\",\"%s\"]}", status);
	g_autofree char *audit = NULL;

	g_autoptr(JsonObject) u = alk_test_api_expect("POST", exec, as_user, 200);
	assert_output(u, "stdout",
	              "Uid: 1000 1000 1000 1000\nGid: 1000 1000 1000 1000\n"
	              "CapEff: 0000000000000000\nNoNewPrivs: 1\n/|1000\n/\n");
	g_autoptr(JsonObject) r = alk_test_api_expect("POST", exec, no_caps, 200);
	assert_output(r, "stdout",
	              "Uid: 0 0 0 0\nGid: 0 0 0 0\nCapEff: 0000000000000000\nNoNewPrivs: 0\n"
	              "/root|\n/\n");
	g_autoptr(AlkTestResponse) bad =
	    alk_test_api_call("POST", exec, "{\"argv\":[\"id\"],\"user\":\"Bad User\"}");
	alk_test_api_assert_error(bad, 400, "invalid_request");
	g_autoptr(AlkTestResponse) caps =
	    alk_test_api_call("POST", exec, "{\"argv\":[\"id\"],\"capabilities\":\"some\"}");
	alk_test_api_assert_error(caps, 400, "invalid_request");
	/* production: root refused, naming the profile; a user runs with no_new_privs */
	g_autoptr(AlkTestResponse) denied = alk_test_api_call("POST", prod_exec, as_root);
	alk_test_api_assert_error(denied, 403, "forbidden");
	ck_assert(strstr((const char *)denied->body->data, "production") != NULL);
	g_autoptr(AlkTestResponse) root_by_id =
	    alk_test_api_call("POST", prod_exec, "{\"argv\":[\"id\"],\"user\":\"0:1000\"}");
	alk_test_api_assert_error(root_by_id, 403, "forbidden");
	g_autoptr(JsonObject) pu = alk_test_api_expect("POST", prod_exec, as_user, 200);
	ck_assert(strstr(str(pu, "stdout"), "NoNewPrivs: 1") != NULL);
	audit = read_audit();
	ck_assert(strstr(audit, "\"user\":\"1000:1000\"") != NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api");
	SRunner *sr;
	int failed;

	alk_test_api_add(s, "roundtrip_unix", roundtrip_unix, NULL, NULL);
	alk_test_api_add(s, "tcp_tokens_and_scopes", tcp_tokens_and_scopes, NULL, NULL);
	alk_test_api_add(s, "exec_ndjson_streams", exec_ndjson_streams, NULL, NULL);
	alk_test_api_add(s, "exec_disconnect_kills", exec_disconnect_kills, NULL, NULL);
	alk_test_api_add(s, "exec_websocket", exec_websocket, NULL, NULL);
	alk_test_api_add(s, "exec_websocket_tty", exec_websocket_tty, NULL, NULL);
	alk_test_api_add(s, "console_log_not_followed", console_log_not_followed, NULL, NULL);
	alk_test_api_add(s, "parallel_clients_while_booting", parallel_clients_while_booting, NULL,
	                 NULL);
	alk_test_api_add(s, "sigterm_leaves_sandboxes", sigterm_leaves_sandboxes, NULL, NULL);
	alk_test_api_add(s, "pause_resume", pause_resume, NULL, NULL);
	alk_test_api_add(s, "exec_users", exec_users, NULL, NULL);
	alk_test_api_add(s, "warm_pool", warm_pool, pool_setup, NULL);
	alk_test_api_add(s, "cluster_node", cluster_node, node_setup, NULL);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
