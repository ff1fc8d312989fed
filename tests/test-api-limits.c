/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The REST API against hostile clients: oversize and malformed bodies,
 * crafted paths, slow and too many connections, and big files whose
 * transfer must not grow the daemon's memory. A real airlockd per test. */
#include <check.h>
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alk-test-api.h"

#define D alk_test_api_d()
#define MIB (1024 * 1024)

/* An ASan build (ALK_AIRLOCKD) keeps freed memory in quarantine: its peak
 * says nothing unless the quarantine is off. */
static gboolean memory_checked(void)
{
	const char *asan = g_getenv("ASAN_OPTIONS");
	return g_getenv("ALK_AIRLOCKD") == NULL ||
	       (asan != NULL && strstr(asan, "quarantine_size_mb=0") != NULL);
}

static void assert_alive(void)
{
	g_autoptr(JsonObject) h = alk_test_api_expect("GET", "/v1/health", NULL, 200);
	ck_assert_str_eq(json_object_get_string_member(h, "status"), "ok");
}

static int connect_unix(void)
{
	g_autoptr(GError) error = NULL;
	int fd = alk_test_http_connect(D, FALSE, &error);
	ck_assert_msg(fd >= 0, "%s", error ? error->message : "");
	return fd;
}

/* Sends head, then up to total body bytes (chunked or not) until the
 * answer comes; returns the answer and how much body went out. */
static AlkTestResponse *send_until_answered(const char *head, gboolean chunked, guint64 total,
                                            guint64 *sent)
{
	int fd = connect_unix();
	g_autofree char *block = g_malloc(64 * 1024);
	AlkTestResponse *r;

	memset(block, 'x', 64 * 1024);
	ck_assert(alk_test_http_send(fd, head, strlen(head), alk_test_deadline(10), NULL));
	*sent = 0;
	while (*sent < total) {
		struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
		ck_assert_msg(poll(&p, 1, 30000) > 0, "neither readable nor writable for 30 s");
		if (p.revents & (POLLIN | POLLHUP | POLLERR))
			break;
		if (chunked && send(fd, "10000\r\n", 7, MSG_NOSIGNAL) < 0)
			break;
		if (send(fd, block, 64 * 1024, MSG_NOSIGNAL) < 0)
			break;
		if (chunked && send(fd, "\r\n", 2, MSG_NOSIGNAL) < 0)
			break;
		*sent += 64 * 1024;
	}
	r = alk_test_http_read(fd, alk_test_deadline(30), NULL);
	close(fd);
	ck_assert_msg(r != NULL, "no answer after %" G_GUINT64_FORMAT " bytes", *sent);
	return r;
}

START_TEST(body_limits)
{
	guint64 hwm = alk_test_daemon_hwm_kib(D), sent = 0;
	g_autofree char *cl_head = alk_test_http_head("POST", "/v1/sandboxes", NULL, 100 * MIB,
	                                              "Content-Type: application/json\r\n");
	g_autofree char *chunked_head =
	    alk_test_http_head("POST", "/v1/sandboxes", NULL, -1,
	                       "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n");

	/* a declared 100 MB: refused before any of it is read */
	g_autoptr(AlkTestResponse) a = send_until_answered(cl_head, FALSE, 100 * MIB, &sent);
	alk_test_api_assert_error(a, 413, "payload_too_large");
	ck_assert_uint_lt(sent, 100 * MIB);
	/* chunked, no length: refused once past api.max_body_bytes */
	g_autoptr(AlkTestResponse) b = send_until_answered(chunked_head, TRUE, 100 * MIB, &sent);
	alk_test_api_assert_error(b, 413, "payload_too_large");
	ck_assert_uint_lt(sent, 100 * MIB);
	ck_assert_uint_ge(sent, 8 * MIB);
	/* other routes too, and a body where none belongs */
	g_autofree char *exec_head =
	    alk_test_http_head("POST", "/v1/sandboxes/0123456789ab/exec", NULL, 100 * MIB,
	                       "Content-Type: application/json\r\n");
	g_autoptr(AlkTestResponse) c = send_until_answered(exec_head, FALSE, 100 * MIB, &sent);
	alk_test_api_assert_error(c, 413, "payload_too_large");
	g_autofree char *get_head =
	    alk_test_http_head("GET", "/v1/sandboxes", NULL, -1, "Transfer-Encoding: chunked\r\n");
	g_autoptr(AlkTestResponse) e = send_until_answered(get_head, TRUE, 100 * MIB, &sent);
	alk_test_api_assert_error(e, 413, "payload_too_large");
	/* a file over api.max_file_bytes is refused from its length alone */
	g_autofree char *put_head = alk_test_http_head(
	    "PUT", "/v1/sandboxes/0123456789ab/files/tmp/x", NULL, (gssize)2048 * MIB, NULL);
	g_autoptr(AlkTestResponse) f = send_until_answered(put_head, FALSE, 100 * MIB, &sent);
	alk_test_api_assert_error(f, 413, "payload_too_large");
	ck_assert_uint_lt(sent, 4 * MIB);
	/* and JSON routes want JSON */
	g_autoptr(AlkTestResponse) g = alk_test_http_request(
	    D, FALSE, NULL, "POST", "/v1/sandboxes", "text/plain", "{}", 2, 30, NULL);
	alk_test_api_assert_error(g, 415, "unsupported_media_type");

	ck_assert_msg(!memory_checked() || alk_test_daemon_hwm_kib(D) < hwm + 64 * 1024,
	              "daemon peak memory grew from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT
	              " KiB",
	              hwm, alk_test_daemon_hwm_kib(D));
	assert_alive();
}
END_TEST

START_TEST(hostile_json)
{
	static const char *const bodies[] = {
	    "{",
	    "{\"image\":}",
	    "{\"image\":\"minimal\",\"image\":\"minimal\"}",
	    "{\"bogus\":1}",
	    "{\"cpus\":\"2\"}",
	    "{\"cpus\":99999999999999999999999999}",
	    "{\"cpus\":-1}",
	    "{\"cpus\":1.5}",
	    "{\"cpus\":true}",
	    "{\"cpus\":null}",
	    "{\"ttl_s\":null}",
	    "{\"memory_mib\":null}",
	    "{\"labels\":{\"a\":1}}",
	    "{\"labels\":[]}",
	    "{\"network\":{\"mode\":\"none\",\"mode\":\"allowlist\"}}",
	    "{\"image\":\"min\\u0000imal\"}",
	    "{\"image\":\"\xff\"}",
	    "{} trailing",
	    "[]",
	    "\"text\"",
	    "{'image':'minimal'}",
	    "{\"ttl_s\":0x10}",
	};
	g_autoptr(GString) deep = g_string_new(NULL);

	for (guint i = 0; i < G_N_ELEMENTS(bodies); i++) {
		g_autoptr(AlkTestResponse) r =
		    alk_test_api_call("POST", "/v1/sandboxes", bodies[i]);
		alk_test_api_assert_error(r, 400, "invalid_request");
	}
	for (guint i = 0; i < 100000; i++)
		g_string_append_c(deep, '[');
	g_autoptr(AlkTestResponse) d1 = alk_test_api_call("POST", "/v1/sandboxes", deep->str);
	alk_test_api_assert_error(d1, 400, "invalid_request");
	g_string_truncate(deep, 0);
	for (guint i = 0; i < 100000; i++)
		g_string_append(deep, "{\"a\":");
	g_autoptr(AlkTestResponse) d2 = alk_test_api_call("POST", "/v1/sandboxes", deep->str);
	alk_test_api_assert_error(d2, 400, "invalid_request");
	/* the body is read before the sandbox is looked up */
	g_autoptr(AlkTestResponse) t =
	    alk_test_api_call("POST", "/v1/sandboxes/0123456789ab/ttl", "{\"ttl_s\":\"10\"}");
	alk_test_api_assert_error(t, 400, "invalid_request");
	g_autoptr(JsonObject) list = alk_test_api_expect("GET", "/v1/sandboxes", NULL, 200);
	ck_assert_int_eq(json_array_get_length(json_object_get_array_member(list, "sandboxes")), 0);
	assert_alive();
}
END_TEST

static AlkTestResponse *raw(const char *method, const char *target, const char *body)
{
	int fd = connect_unix();
	g_autofree char *head = alk_test_http_head(method, target, NULL,
	                                           body != NULL ? (gssize)strlen(body) : -1, NULL);
	AlkTestResponse *r;

	ck_assert(alk_test_http_send(fd, head, strlen(head), alk_test_deadline(10), NULL));
	if (body != NULL)
		ck_assert(alk_test_http_send(fd, body, strlen(body), alk_test_deadline(10), NULL));
	r = alk_test_http_read(fd, alk_test_deadline(30), NULL);
	close(fd);
	ck_assert_msg(r != NULL, "%s %s: no answer", method, target);
	return r;
}

START_TEST(hostile_paths)
{
	static const char *const targets[] = {
	    "/files/etc/../passwd",
	    "/files/%2e%2e/etc/passwd",
	    "/files/%2E%2e/x",
	    "/files/a/./b",
	    "/files/a/%2e/b",
	    "/files/a%00b",
	    "/files/a%2f..%2fb",
	    "/files/a//b",
	    "/files/a/",
	    "/files/..",
	};

	for (guint i = 0; i < G_N_ELEMENTS(targets); i++) {
		g_autofree char *t = g_strconcat("/v1/sandboxes/0123456789ab", targets[i], NULL);
		g_autoptr(AlkTestResponse) get = raw("GET", t, NULL);
		g_autoptr(AlkTestResponse) put = raw("PUT", t, "data");
		alk_test_api_assert_error(get, 400, "invalid_request");
		alk_test_api_assert_error(put, 400, "invalid_request");
	}
	/* a bad escape: libsoup itself refuses the request line (bare 400) */
	g_autoptr(AlkTestResponse) zz = raw("GET", "/v1/sandboxes/0123456789ab/files/a%zzb", NULL);
	ck_assert_int_eq(zz->status, 400);
	g_autoptr(AlkTestResponse) escape = raw("GET", "/v1/sandboxes/../health", NULL);
	alk_test_api_assert_error(escape, 400, "invalid_request");
	g_autoptr(AlkTestResponse) nul = raw("GET", "/v1/health%00", NULL);
	alk_test_api_assert_error(nul, 400, "invalid_request");
	/* a clean path reaches the sandbox lookup */
	g_autoptr(AlkTestResponse) ok =
	    raw("GET", "/v1/sandboxes/0123456789ab/files/etc/passwd", NULL);
	alk_test_api_assert_error(ok, 404, "not_found");
	/* HTTP/1.0 without Host on the unix socket: libsoup builds the URI from
	 * the local address (a GLib critical if that is not an inet one; the
	 * teardown fails on any) */
	int fd = connect_unix();
	const char *old = "GET /v1/health HTTP/1.0\r\n\r\n";
	ck_assert(alk_test_http_send(fd, old, strlen(old), alk_test_deadline(5), NULL));
	g_autoptr(AlkTestResponse) h10 = alk_test_http_read(fd, alk_test_deadline(10), NULL);
	close(fd);
	ck_assert(h10 != NULL && h10->status == 200);
	/* a 405 says what is allowed, with a body or without */
	g_autoptr(AlkTestResponse) patch = raw("PATCH", "/v1/health", NULL);
	alk_test_api_assert_error(patch, 405, "method_not_allowed");
	ck_assert_str_eq(alk_test_response_header(patch, "Allow") ?: "(none)", "GET");
	g_autoptr(AlkTestResponse) post = raw("POST", "/v1/sandboxes/0123456789ab", "{}");
	alk_test_api_assert_error(post, 405, "method_not_allowed");
	ck_assert_str_eq(alk_test_response_header(post, "Allow") ?: "(none)", "GET, DELETE");
	g_autoptr(AlkTestResponse) q = raw("GET", "/v1/sandboxes?bogus=1", NULL);
	alk_test_api_assert_error(q, 400, "invalid_request");
	assert_alive();
}
END_TEST

/* A raw head (and body) on the unix socket or TCP; the answer must come
 * within 10 s. */
static AlkTestResponse *raw_head(gboolean tcp, const char *head, const char *body)
{
	g_autoptr(GError) error = NULL;
	int fd = alk_test_http_connect(D, tcp, &error);
	AlkTestResponse *r;

	ck_assert_msg(fd >= 0, "%s", error ? error->message : "");
	ck_assert(alk_test_http_send(fd, head, strlen(head), alk_test_deadline(10), NULL));
	if (body != NULL)
		ck_assert(alk_test_http_send(fd, body, strlen(body), alk_test_deadline(10), NULL));
	r = alk_test_http_read(fd, alk_test_deadline(10), &error);
	close(fd);
	ck_assert_msg(r != NULL, "no answer within 10 s to %.60s: %s", head,
	              error ? error->message : "");
	return r;
}

START_TEST(two_authorizations)
{
	g_autofree char *good = g_strdup_printf("Authorization: Bearer %s\r\n", D->write_token);
	const char *bad = "Authorization: Bearer not-a-token\r\n";
	g_autofree char *good_last =
	    g_strdup_printf("GET /v1/sandboxes HTTP/1.1\r\nHost: a\r\n%s%s\r\n", bad, good);
	g_autofree char *good_first =
	    g_strdup_printf("GET /v1/sandboxes HTTP/1.1\r\nHost: a\r\n%s%s\r\n", good, bad);
	g_autofree char *twice =
	    g_strdup_printf("GET /v1/sandboxes HTTP/1.1\r\nHost: a\r\n%s%s\r\n", good, good);
	g_autofree char *once =
	    g_strdup_printf("GET /v1/sandboxes HTTP/1.1\r\nHost: a\r\n%s\r\n", good);

	/* whichever comes last, and on either socket */
	g_autoptr(AlkTestResponse) a = raw_head(TRUE, good_last, NULL);
	alk_test_api_assert_error(a, 400, "invalid_request");
	g_autoptr(AlkTestResponse) b = raw_head(TRUE, good_first, NULL);
	alk_test_api_assert_error(b, 400, "invalid_request");
	g_autoptr(AlkTestResponse) c = raw_head(TRUE, twice, NULL);
	alk_test_api_assert_error(c, 400, "invalid_request");
	g_autoptr(AlkTestResponse) d = raw_head(FALSE, good_last, NULL);
	alk_test_api_assert_error(d, 400, "invalid_request");
	g_autoptr(AlkTestResponse) e = raw_head(TRUE, once, NULL);
	ck_assert_uint_eq(e->status, 200);
}
END_TEST

/* A head of a request line with a target of target_len bytes and pad
 * bytes of extra headers. */
static char *padded_head(const char *method, gsize target_len, gsize pad, const char *extra)
{
	GString *h = g_string_new(method);
	g_string_append(h, " /v1/health");
	while (h->len < strlen(method) + 1 + target_len)
		g_string_append_c(h, 'a');
	g_string_append(h, " HTTP/1.1\r\nHost: a\r\n");
	for (gsize done = 0; done < pad; done += 4000) {
		g_string_append_printf(h, "X-Pad-%" G_GSIZE_FORMAT ": ", done);
		for (guint i = 0; i < 4000; i++)
			g_string_append_c(h, 'p');
		g_string_append(h, "\r\n");
	}
	g_string_append_printf(h, "%s\r\n", extra != NULL ? extra : "");
	return g_string_free(h, FALSE);
}

START_TEST(head_limits)
{
	g_autofree char *long_line = padded_head("GET", 9000, 0, NULL);
	g_autofree char *long_method =
	    padded_head("GETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGET"
	                "GETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGET",
	                8100, 0, NULL);
	g_autofree char *big_head = padded_head("GET", 20, 40000, NULL);
	g_autofree char *with_body = padded_head(
	    "POST", 9000, 0, "Content-Length: 100000\r\nContent-Type: application/json\r\n");
	g_autofree char *fits = padded_head("GET", 8000, 20000, NULL);

	g_autoptr(AlkTestResponse) a = raw_head(FALSE, long_line, NULL);
	alk_test_api_assert_error(a, 414, "uri_too_long");
	g_autoptr(AlkTestResponse) b = raw_head(TRUE, long_line, NULL);
	alk_test_api_assert_error(b, 414, "uri_too_long");
	g_autoptr(AlkTestResponse) c = raw_head(TRUE, long_method, NULL);
	alk_test_api_assert_error(c, 414, "uri_too_long");
	g_autoptr(AlkTestResponse) d = raw_head(FALSE, big_head, NULL);
	alk_test_api_assert_error(d, 431, "headers_too_large");
	g_autoptr(AlkTestResponse) e = raw_head(FALSE, with_body, "{\"image\":");
	alk_test_api_assert_error(e, 414, "uri_too_long");
	/* past libsoup's own 64 KiB, which would drop them without a word */
	g_autofree char *huge_line = padded_head("GET", 70000, 0, NULL);
	g_autofree char *huge_head = padded_head("GET", 20, 70000, NULL);
	g_autoptr(AlkTestResponse) g = raw_head(TRUE, huge_line, NULL);
	alk_test_api_assert_error(g, 414, "uri_too_long");
	g_autoptr(AlkTestResponse) h = raw_head(FALSE, huge_head, NULL);
	alk_test_api_assert_error(h, 431, "headers_too_large");
	/* just within both: routed */
	g_autoptr(AlkTestResponse) f = raw_head(FALSE, fits, NULL);
	alk_test_api_assert_error(f, 404, "not_found");
	assert_alive();
}
END_TEST

static goffset file_size(const char *path)
{
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

/* From offset on: the audit lines of caller for action, their longest
 * line, and the sum of their args' "requests" (the summaries'). */
static guint audit_lines(goffset from, const char *caller, const char *action, gsize *longest,
                         gint64 *requests)
{
	g_autofree char *text = NULL;
	gsize len = 0;
	g_auto(GStrv) lines = NULL;
	guint n = 0;

	ck_assert(g_file_get_contents(D->audit_path, &text, &len, NULL));
	lines = g_strsplit(text + MIN((gsize)from, len), "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		g_autoptr(JsonParser) p = json_parser_new();
		JsonObject *o;
		if (lines[i][0] == '\0' || !json_parser_load_from_data(p, lines[i], -1, NULL))
			continue;
		o = json_node_get_object(json_parser_get_root(p));
		if (g_strcmp0(json_object_get_string_member(o, "caller"), caller) != 0 ||
		    g_strcmp0(json_object_get_string_member(o, "action"), action) != 0)
			continue;
		n++;
		if (longest != NULL)
			*longest = MAX(*longest, strlen(lines[i]));
		if (requests != NULL)
			*requests += json_object_get_int_member(
			    json_object_get_object_member(o, "args"), "requests");
	}
	return n;
}

/* raw_head(), again while the daemon is out of connections (429: a
 * refused request's connection lingers, draining, for a moment). */
static AlkTestResponse *raw_head_retry(gboolean tcp, const char *head)
{
	for (guint i = 0;; i++) {
		AlkTestResponse *r = raw_head(tcp, head, NULL);
		if (r->status != 429 || i == 100)
			return r;
		alk_test_response_free(r);
		g_usleep(50 * 1000);
	}
}

START_TEST(audit_flood)
{
	g_autofree char *long_path = padded_head("GET", 8190, 0, NULL);
	g_autofree char *long_method =
	    padded_head("GETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGET",
	                8150, 0, NULL);
	const char *no_token = "GET /v1/sandboxes HTTP/1.1\r\nHost: a\r\n\r\n";
	goffset before = file_size(D->audit_path);
	gsize longest = 0;
	gint64 suppressed = 0;
	guint written = 0;

	/* no token, on TCP: 300 refusals */
	for (guint i = 0; i < 100; i++) {
		g_autoptr(AlkTestResponse) a = raw_head_retry(TRUE, long_path);
		g_autoptr(AlkTestResponse) b = raw_head_retry(TRUE, long_method);
		g_autoptr(AlkTestResponse) c = raw_head_retry(TRUE, no_token);
		ck_assert_uint_eq(a->status, 414);
		ck_assert_uint_eq(b->status, 414);
		ck_assert_uint_eq(c->status, 401);
	}
	/* a few lines, each short; the 16 MB it used to be is far off */
	ck_assert_msg(file_size(D->audit_path) - before < 32 * 1024,
	              "the audit log grew by %" G_GOFFSET_FORMAT " bytes",
	              file_size(D->audit_path) - before);
	written = audit_lines(before, "tcp:127.0.0.1", "api.request", &longest, NULL);
	ck_assert_uint_gt(written, 0);
	ck_assert_uint_lt(written, 300);
	ck_assert_msg(longest < 1024, "an audit line of %" G_GSIZE_FORMAT " bytes", longest);
	/* and the rest are counted, in a summary once the window is over */
	gint64 deadline = alk_test_deadline(40);
	while (written + suppressed < 300 && g_get_monotonic_time() < deadline) {
		g_usleep(500 * 1000);
		suppressed = 0;
		audit_lines(before, "tcp:127.0.0.1", "api.suppressed", NULL, &suppressed);
		/* a cut head is answered before its request ends and is audited */
		written = audit_lines(before, "tcp:127.0.0.1", "api.request", &longest, NULL);
	}
	ck_assert_int_eq(written + suppressed, 300);
	/* a caller who is known is audited, each time (fields capped) */
	for (guint i = 0; i < 2 * 10 + 1; i++) {
		g_autoptr(AlkTestResponse) mine = raw_head_retry(FALSE, long_path);
		ck_assert_uint_eq(mine->status, 414);
	}
	longest = 0;
	deadline = alk_test_deadline(10);
	while (audit_lines(before, "uid:0", "api.request", NULL, NULL) < 21 &&
	       g_get_monotonic_time() < deadline)
		g_usleep(100 * 1000);
	ck_assert_uint_ge(audit_lines(before, "uid:0", "api.request", &longest, NULL), 21);
	ck_assert_msg(longest < 1024, "an audit line of %" G_GSIZE_FORMAT " bytes", longest);
	assert_alive();
}
END_TEST

START_TEST(content_lengths)
{
	static const char *const heads[] = {
	    "Content-Length: 2\r\nContent-Length: 5\r\n",
	    "Content-Length: 5\r\nContent-Length: 2\r\n",
	    "Content-Length: -1\r\n",
	    "Content-Length: +2\r\n",
	    "Content-Length: 99999999999999999999999\r\n",
	};

	for (guint i = 0; i < G_N_ELEMENTS(heads); i++) {
		g_autofree char *head = g_strdup_printf(
		    "POST /v1/sandboxes HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
		    "%s\r\n",
		    heads[i]);
		gint64 start = g_get_monotonic_time();
		g_autoptr(AlkTestResponse) r = raw_head(FALSE, head, "{}");
		alk_test_api_assert_error(r, 400, "invalid_request");
		ck_assert_int_lt(g_get_monotonic_time() - start, 3 * G_USEC_PER_SEC);
	}
	/* "Content-Length: 2, 5" or "2x" libsoup refuses itself with a bare 400
	 * (and libsoup 3.2.3 leaks the request path doing so: not sent here,
	 * so that a sanitizer build of airlockd passes) */
	/* the same length twice is one length */
	g_autoptr(AlkTestResponse) same =
	    raw_head(FALSE,
	             "POST /v1/sandboxes/0123456789ab/ttl HTTP/1.1\r\nHost: a\r\n"
	             "Content-Type: application/json\r\nContent-Length: 12\r\n"
	             "Content-Length: 12\r\n\r\n",
	             "{\"ttl_s\":10}");
	alk_test_api_assert_error(same, 404, "not_found");
	assert_alive();
}
END_TEST

/* Everything the server sends until it closes, as text. */
static char *raw_exchange(const char *head)
{
	g_autoptr(GString) got = g_string_new(NULL);
	int fd = connect_unix();
	gint64 deadline = alk_test_deadline(10);
	char buf[4096];

	ck_assert(alk_test_http_send(fd, head, strlen(head), deadline, NULL));
	while (g_get_monotonic_time() < deadline) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;
		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		g_string_append_len(got, buf, n);
	}
	close(fd);
	return g_string_free(g_steal_pointer(&got), FALSE);
}

static guint count_lines(const char *text, const char *prefix)
{
	g_auto(GStrv) lines = g_strsplit(text, "\r\n", -1);
	guint n = 0;

	for (guint i = 0; lines[i] != NULL && lines[i][0] != '\0'; i++)
		n += g_ascii_strncasecmp(lines[i], prefix, strlen(prefix)) == 0;
	return n;
}

START_TEST(websocket_refusals)
{
	static const char *const heads[] = {
	    /* no upgrade at all */
	    "",
	    /* no key */
	    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n",
	    /* a version nobody speaks */
	    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 7\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
	};
	/* a ready sandbox: libsoup's own check came after the route's */
	g_autofree char *id = alk_test_api_create(NULL);

	for (guint i = 0; i < G_N_ELEMENTS(heads); i++) {
		g_autofree char *head =
		    g_strdup_printf("GET /v1/sandboxes/%s/exec/ws?argv=true HTTP/1.1\r\n"
		                    "Host: a\r\n%s\r\n",
		                    id, heads[i]);
		g_autofree char *text = raw_exchange(head);
		const char *body = strstr(text, "\r\n\r\n");

		ck_assert_msg(g_str_has_prefix(text, "HTTP/1.1 400 "), "case %u: %.200s", i, text);
		ck_assert_msg(count_lines(text, "Connection:") == 1, "case %u: %.400s", i, text);
		ck_assert_msg(count_lines(text, "Content-Type: application/json") == 1,
		              "case %u: %.400s", i, text);
		ck_assert_msg(body != NULL && strstr(body, "\"code\":\"invalid_request\"") != NULL,
		              "case %u: %.400s", i, text);
	}
	/* a good handshake still gets as far as the sandbox lookup */
	g_autofree char *good = raw_exchange(
	    "GET /v1/sandboxes/0123456789ab/exec/ws?argv=true HTTP/1.1\r\nHost: a\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
	ck_assert_msg(g_str_has_prefix(good, "HTTP/1.1 404 "), "%.200s", good);
}
END_TEST

/* A uid and gid nobody has: no passwd entry, no /etc/group membership. */
static uid_t throwaway_uid(void)
{
	for (uid_t uid = 61000; uid < 62000; uid++) {
		if (getpwuid(uid) == NULL && getgrgid(uid) == NULL)
			return uid;
	}
	ck_abort_msg("no free uid in 61000..61999");
	return 0;
}

/* In a child: drops to uid with the socket's group (root in the tests'
 * config) only as a supplementary group, then asks for /v1/health.
 * Exits 0 on 200, 3 on 403, 4 on anything else, 5 when it cannot connect,
 * 6 when it could not drop. */
static void health_as(uid_t uid)
{
	gid_t supplementary[] = {0};
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkTestResponse) r = NULL;
	const char *head = "GET /v1/health HTTP/1.1\r\nHost: a\r\n\r\n";
	int fd;

	if (setgroups(1, supplementary) != 0 || setgid(uid) != 0 || setuid(uid) != 0 ||
	    getuid() != uid)
		_exit(6);
	fd = alk_test_http_connect(D, FALSE, &error);
	if (fd < 0)
		_exit(5);
	if (!alk_test_http_send(fd, head, strlen(head), alk_test_deadline(10), NULL))
		_exit(4);
	r = alk_test_http_read(fd, alk_test_deadline(10), NULL);
	_exit(r == NULL ? 4 : r->status == 200 ? 0 : r->status == 403 ? 3 : 4);
}

START_TEST(supplementary_group)
{
	uid_t uid = throwaway_uid();
	g_autofree char *dir = g_path_get_dirname(D->socket_path);
	int status = 0;
	pid_t pid;

	/* the socket's directory is 0700: let the group through, as a
	 * deployment's /run/airlock lets everyone */
	ck_assert_int_eq(chmod(dir, 0710), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		health_as(uid);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	              "uid %u with group 0 only as a supplementary group: exit %d (3: 403)",
	              (guint)uid, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}
END_TEST

/* Waits for the server to close fd; the seconds it took, -1 if it did not. */
static double wait_closed(int fd, guint timeout_s)
{
	gint64 start = g_get_monotonic_time();
	char buf[4096];

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;
		if (g_get_monotonic_time() - start > (gint64)timeout_s * G_USEC_PER_SEC)
			return -1;
		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return (g_get_monotonic_time() - start) / 1e6;
	}
}

START_TEST(slow_clients)
{
	int head_fd = connect_unix(), body_fd = connect_unix(), idle_fd = connect_unix();
	const char *half = "GET /v1/health HTTP/1.1\r\nHo";
	g_autofree char *body_head = alk_test_http_head("POST", "/v1/sandboxes", NULL, 100,
	                                                "Content-Type: application/json\r\n");
	gint64 start = g_get_monotonic_time();
	double head_s, body_s, idle_s;

	ck_assert(alk_test_http_send(head_fd, half, strlen(half), alk_test_deadline(5), NULL));
	ck_assert(
	    alk_test_http_send(body_fd, body_head, strlen(body_head), alk_test_deadline(5), NULL));
	ck_assert(alk_test_http_send(body_fd, "{\"image\"", 8, alk_test_deadline(5), NULL));
	/* others are served meanwhile */
	for (guint i = 0; i < 5; i++)
		assert_alive();
	ck_assert_int_lt(g_get_monotonic_time() - start, 3 * G_USEC_PER_SEC);
	/* and the stalled ones dropped after api.request_timeout_s (4) */
	head_s = wait_closed(head_fd, 15);
	body_s = wait_closed(body_fd, 15);
	idle_s = wait_closed(idle_fd, 15);
	ck_assert_msg(head_s > 2.5 && body_s > 0 && idle_s > 0, "closed after %g, %g, %g s", head_s,
	              body_s, idle_s);
	close(head_fd);
	close(body_fd);
	close(idle_fd);
	assert_alive();
}
END_TEST

static void setup_few_connections(void)
{
	g_autoptr(GError) error = NULL;
	alk_test_api_daemon = alk_test_daemon_start("[api]\nmax_connections = 4\n", &error);
	if (alk_test_api_daemon == NULL)
		g_printerr("airlockd did not start: %s\n", error->message);
}

START_TEST(connection_limit)
{
	int fds[4];
	int extra;

	/* queued in the listen backlog in this order, accepted in this order:
	 * the fifth is the one over the limit */
	for (guint i = 0; i < G_N_ELEMENTS(fds); i++)
		fds[i] = connect_unix();
	extra = connect_unix();
	g_autoptr(AlkTestResponse) r = alk_test_http_read(extra, alk_test_deadline(10), NULL);
	ck_assert_msg(r != NULL, "the fifth connection got no answer");
	alk_test_api_assert_error(r, 429, "limit_exceeded");
	close(extra);
	for (guint i = 0; i < G_N_ELEMENTS(fds); i++)
		close(fds[i]);
	/* the slots come back */
	gint64 deadline = alk_test_deadline(10);
	gboolean ok = FALSE;
	while (!ok && g_get_monotonic_time() < deadline) {
		g_autoptr(AlkTestResponse) h = alk_test_http_request(
		    D, FALSE, NULL, "GET", "/v1/health", NULL, NULL, 0, 5, NULL);
		ok = h != NULL && h->status == 200;
		if (!ok)
			g_usleep(100000);
	}
	ck_assert(ok);
}
END_TEST

/* ---- shares of the connections ---- */

#define SHARES_EXTRA                                                                               \
	"[api]\nmax_connections = 8\nmax_connections_per_peer = 4\nmax_unauthenticated = 6\n"      \
	"max_unauthenticated_per_peer = 3\nhead_timeout_s = 3\n"

static void setup_shares(void)
{
	g_autoptr(GError) error = NULL;
	alk_test_api_daemon = alk_test_daemon_start(SHARES_EXTRA, &error);
	if (alk_test_api_daemon == NULL)
		g_printerr("airlockd did not start: %s\n", error->message);
}

/* A TCP connection to the daemon from a loopback address of our choice:
 * another peer. */
static int connect_from(const char *from)
{
	struct sockaddr_in src = {.sin_family = AF_INET};
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(D->port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(inet_pton(AF_INET, from, &src.sin_addr), 1);
	ck_assert_int_eq(inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr), 1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&src, sizeof(src)), 0);
	ck_assert_msg(connect(fd, (struct sockaddr *)&dst, sizeof(dst)) == 0, "connect: %s",
	              g_strerror(errno));
	return fd;
}

/* The status of an answer already there (or coming within ms), 0 if none. */
static guint answered(int fd, guint ms)
{
	g_autoptr(AlkTestResponse) r = NULL;
	struct pollfd p = {.fd = fd, .events = POLLIN};

	if (poll(&p, 1, (int)ms) <= 0)
		return 0;
	r = alk_test_http_read(fd, alk_test_deadline(5), NULL);
	return r != NULL ? r->status : 0;
}

static guint health_from(const char *from)
{
	int fd = connect_from(from);
	g_autofree char *head = alk_test_http_head("GET", "/v1/health", D->read_token, -1, NULL);
	guint status;

	ck_assert(alk_test_http_send(fd, head, strlen(head), alk_test_deadline(5), NULL));
	status = answered(fd, 10000);
	close(fd);
	return status;
}

START_TEST(connection_shares)
{
	int idle[64], held[4], extra, trickle;
	guint refused = 0, waiting = 0;
	g_autofree char *post = alk_test_http_head("POST", "/v1/sandboxes", D->write_token, 100,
	                                           "Content-Type: application/json\r\n");
	const char *head = "GET /v1/health HTTP/1.1\r\nHost: a\r\n\r\n";
	gint64 start;

	/* 64 connections from one peer that say nothing */
	for (guint i = 0; i < G_N_ELEMENTS(idle); i++)
		idle[i] = connect_from("127.0.0.1");
	/* root on the unix socket is served all the same */
	assert_alive();
	/* the peer kept its share of connections not yet authenticated (3),
	 * the others were refused at once */
	for (guint i = 0; i < G_N_ELEMENTS(idle); i++) {
		guint status = answered(idle[i], 200);
		refused += status == 429;
		waiting += status == 0;
	}
	ck_assert_msg(refused == 61 && waiting == 3, "%u refused, %u waiting", refused, waiting);
	/* another peer has a share of its own */
	ck_assert_uint_eq(health_from("127.0.0.2"), 200);
	/* and of the authenticated ones, at most its 4 */
	for (guint i = 0; i < G_N_ELEMENTS(held); i++) {
		held[i] = connect_from("127.0.0.2");
		ck_assert(
		    alk_test_http_send(held[i], post, strlen(post), alk_test_deadline(5), NULL));
	}
	for (guint i = 0; i < G_N_ELEMENTS(held); i++)
		ck_assert_uint_eq(answered(held[i], 200), 0);
	extra = connect_from("127.0.0.2");
	ck_assert_uint_eq(answered(extra, 5000), 429);
	close(extra);
	assert_alive();
	/* the silent ones are gone after api.head_timeout_s (3 s) */
	for (guint i = 0; i < G_N_ELEMENTS(idle); i++) {
		double s = wait_closed(idle[i], 10);
		ck_assert_msg(s >= 0, "an idle connection still open after 10 s");
		close(idle[i]);
	}
	/* so is one that trickles its head, however steadily */
	trickle = connect_from("127.0.0.1");
	start = g_get_monotonic_time();
	for (guint i = 0; head[i + 1] != '\0'; i++) {
		if (send(trickle, head + i, 1, MSG_NOSIGNAL) != 1)
			break;
		g_usleep(200 * 1000);
	}
	ck_assert_msg(g_get_monotonic_time() - start < 6 * G_USEC_PER_SEC,
	              "a trickled head kept its connection for %.1f s",
	              (g_get_monotonic_time() - start) / 1e6);
	close(trickle);
	for (guint i = 0; i < G_N_ELEMENTS(held); i++)
		close(held[i]);
	assert_alive();
}
END_TEST

/* ---- 200 MB both ways ---- */

#define BIG_BYTES (200ull * MIB)
#define BLOCK (256 * 1024)

/* Deterministic, incompressible-looking data. */
static void fill_block(guint8 *buf, guint64 offset)
{
	guint64 x = offset * 0x9E3779B97F4A7C15ull + 1;
	for (gsize i = 0; i < BLOCK; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(buf + i, &x, 8);
	}
}

static char *upload(const char *path, guint64 size)
{
	int fd = connect_unix();
	g_autofree char *head = alk_test_http_head("PUT", path, NULL, (gssize)size, NULL);
	g_autofree guint8 *buf = g_malloc(BLOCK);
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
	gint64 deadline = alk_test_deadline(600);
	g_autoptr(GError) error = NULL;

	ck_assert(alk_test_http_send(fd, head, strlen(head), deadline, NULL));
	for (guint64 off = 0; off < size; off += BLOCK) {
		fill_block(buf, off);
		g_checksum_update(sum, buf, BLOCK);
		ck_assert_msg(alk_test_http_send(fd, buf, BLOCK, deadline, &error), "upload: %s",
		              error ? error->message : "");
	}
	g_autoptr(AlkTestResponse) r = alk_test_http_read(fd, deadline, &error);
	close(fd);
	ck_assert_msg(r != NULL && r->status == 201, "upload: %u %s", r ? r->status : 0,
	              error ? error->message : "");
	g_autoptr(JsonObject) o = alk_test_response_json(r);
	ck_assert_str_eq(json_object_get_string_member(o, "sha256"), g_checksum_get_string(sum));
	ck_assert_uint_eq(json_object_get_int_member(o, "bytes"), size);
	return g_strdup(g_checksum_get_string(sum));
}

static char *download(const char *path, guint64 *size)
{
	int fd = connect_unix();
	g_autofree char *head = alk_test_http_head("GET", path, NULL, -1, NULL);
	g_autoptr(AlkTestReader) r = alk_test_reader_new(fd);
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
	g_autofree guint8 *buf = g_malloc(BLOCK);
	gint64 deadline = alk_test_deadline(600);
	AlkTestResponse resp = {0};
	gssize n;

	ck_assert(alk_test_http_send(fd, head, strlen(head), deadline, NULL));
	ck_assert(alk_test_reader_head(r, &resp, deadline, NULL));
	ck_assert_int_eq(resp.status, 200);
	g_hash_table_unref(resp.headers);
	*size = 0;
	while ((n = alk_test_reader_body(r, buf, BLOCK, deadline, NULL)) > 0) {
		g_checksum_update(sum, buf, n);
		*size += n;
	}
	ck_assert_int_eq(n, 0);
	close(fd);
	return g_strdup(g_checksum_get_string(sum));
}

START_TEST(big_file_round_trip)
{
	g_autofree char *id = alk_test_api_create(NULL);
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s/files/var/big.bin", id);
	guint64 hwm = alk_test_daemon_hwm_kib(D), size = 0;
	g_autofree char *sent = upload(path, BIG_BYTES);
	g_autofree char *got = download(path, &size);

	ck_assert_uint_eq(size, BIG_BYTES);
	ck_assert_str_eq(sent, got);
	ck_assert_msg(!memory_checked() || alk_test_daemon_hwm_kib(D) < hwm + 64 * 1024,
	              "daemon peak memory grew from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT
	              " KiB for a %llu byte file",
	              hwm, alk_test_daemon_hwm_kib(D), BIG_BYTES);
	/* the guest has the same bytes */
	g_autoptr(JsonObject) res = alk_test_api_sh(id, "sha256sum /var/big.bin");
	ck_assert(g_str_has_prefix(json_object_get_string_member(res, "stdout"), sent));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api-limits");
	SRunner *sr;
	int failed;

	alk_test_api_add(s, "body_limits", body_limits, NULL, NULL);
	alk_test_api_add(s, "hostile_json", hostile_json, NULL, NULL);
	alk_test_api_add(s, "hostile_paths", hostile_paths, NULL, NULL);
	alk_test_api_add(s, "two_authorizations", two_authorizations, NULL, NULL);
	alk_test_api_add(s, "head_limits", head_limits, NULL, NULL);
	alk_test_api_add(s, "audit_flood", audit_flood, NULL, NULL);
	alk_test_api_add(s, "content_lengths", content_lengths, NULL, NULL);
	alk_test_api_add(s, "websocket_refusals", websocket_refusals, NULL, NULL);
	alk_test_api_add(s, "supplementary_group", supplementary_group, NULL, NULL);
	alk_test_api_add(s, "slow_clients", slow_clients, NULL, NULL);
	alk_test_api_add(s, "connection_limit", connection_limit, setup_few_connections, NULL);
	alk_test_api_add(s, "connection_shares", connection_shares, setup_shares, NULL);
	alk_test_api_add(s, "big_file_round_trip", big_file_round_trip, NULL, NULL);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
