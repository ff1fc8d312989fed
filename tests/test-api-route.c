/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The REST server's pure parts: routing on the normalised path, the raw
 * request target check, file paths, query strings and the error table. */
#include <check.h>
#include <string.h>

#include "alk-api-private.h"
#include "alk-error.h"
#include "alk-json.h"

static AlkApiReq *req_new(const char *method, const char *path)
{
	static AlkApi api;
	AlkApiReq *req = g_new0(AlkApiReq, 1);

	api.routes = alk_api_routes(&api.n_routes);
	req->api = &api;
	req->method = g_strdup(method);
	req->path = g_strdup(path);
	return req;
}

static void req_done(AlkApiReq *req)
{
	g_free(req->method);
	g_free(req->path);
	g_free(req->id);
	g_free(req->file);
	g_free(req->allow);
	g_clear_pointer(&req->query, g_ptr_array_unref);
	g_free(req);
}

/* Routes method + normalised path with the given request line. */
static AlkApiReq *route(const char *method, const char *path, const char *line, GError **error)
{
	AlkApiReq *req = req_new(method, path);
	g_autofree char *request_line =
	    line != NULL ? g_strdup(line) : g_strdup_printf("%s %s HTTP/1.1", method, path);

	if (!alk_api_route(req, request_line, error)) {
		req_done(req);
		return NULL;
	}
	return req;
}

START_TEST(routes_match)
{
	g_autoptr(GError) error = NULL;
	AlkApiReq *r = route("GET", "/v1/sandboxes/0123456789ab", NULL, &error);

	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->route->pattern, "/v1/sandboxes/{id}");
	ck_assert_str_eq(r->id, "0123456789ab");
	req_done(r);
	r = route("DELETE", "/v1/sandboxes/abc", NULL, &error);
	ck_assert_str_eq(r->route->pattern, "/v1/sandboxes/{id}");
	ck_assert_int_eq(r->route->scope, ALK_SCOPE_WRITE);
	req_done(r);
	r = route("PUT", "/v1/sandboxes/x/files/etc/hosts", NULL, &error);
	ck_assert_str_eq(r->route->pattern, "/v1/sandboxes/{id}/files/{path}");
	ck_assert_str_eq(r->file, "/etc/hosts");
	ck_assert_int_eq(r->route->body, ALK_API_BODY_STREAM);
	req_done(r);
	r = route("GET", "/v1/sandboxes/x/files/a%20b/c%2Fd", NULL, &error);
	ck_assert_str_eq(r->file, "/a b/c/d");
	req_done(r);
	r = route("GET", "/metrics", NULL, &error);
	ck_assert_ptr_eq(r->route->handle, alk_api_metrics_get);
	req_done(r);
	r = route("GET", "/v1/sandboxes/x/exec/ws", NULL, &error);
	ck_assert_ptr_nonnull(r->route->websocket);
	req_done(r);
	r = route("POST", "/v1/sandboxes/0123456789ab/pause", NULL, &error);
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_eq(r->route->handle, alk_api_pause_post);
	req_done(r);
	r = route("PUT", "/v1/sandboxes/0123456789ab/network", NULL, &error);
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_eq(r->route->handle, alk_api_network_put);
	ck_assert_str_eq(r->id, "0123456789ab");
	ck_assert_int_eq(r->route->scope, ALK_SCOPE_WRITE);
	ck_assert_int_eq(r->route->body, ALK_API_BODY_JSON);
	req_done(r);
}
END_TEST

START_TEST(routes_refuse)
{
	static const struct {
		const char *method;
		const char *path;
		const char *line;
		GQuark domain;
		int code;
	} cases[] = {
	    {"GET", "/v1/nope", NULL, 0, ALK_ERROR_NOT_FOUND},
	    {"GET", "/v1/sandboxes/x/y", NULL, 0, ALK_ERROR_NOT_FOUND},
	    {"GET", "/v1/sandboxes/x/files", NULL, 0, ALK_ERROR_NOT_FOUND},
	    {"PATCH", "/v1/health", NULL, 1, ALK_API_ERROR_METHOD},
	    {"POST", "/v1/sandboxes/x", NULL, 1, ALK_API_ERROR_METHOD},
	    {"GET", "/v1/sandboxes/x/network", NULL, 1, ALK_API_ERROR_METHOD},
	    {"POST", "/v1/sandboxes/x/network", NULL, 1, ALK_API_ERROR_METHOD},
	    {"DELETE", "/v1/sandboxes/x/network", NULL, 1, ALK_API_ERROR_METHOD},
	    {"PUT", "/v1/sandboxes/x/network/y", NULL, 0, ALK_ERROR_NOT_FOUND},
	    {"GET", "/v1/sandboxes/x/pause", NULL, 1, ALK_API_ERROR_METHOD},
	    {"DELETE", "/v1/sandboxes/x/resume", NULL, 1, ALK_API_ERROR_METHOD},
	    {"PUT", "/v1/sandboxes/network", NULL, 1, ALK_API_ERROR_METHOD},
	    /* GUri folded these; the raw target tells */
	    {"GET", "/v1/sandboxes/x/files/passwd",
	     "GET /v1/sandboxes/x/files/etc/../passwd HTTP/1.1", 0, ALK_ERROR_INVALID},
	    {"GET", "/v1/sandboxes/x/files/passwd",
	     "GET /v1/sandboxes/x/files/etc/%2E%2e/passwd HTTP/1.1", 0, ALK_ERROR_INVALID},
	    {"GET", "/v1/health", "GET /v1/sandboxes/../health HTTP/1.1", 0, ALK_ERROR_INVALID},
	    {"GET", "/v1/sandboxes/x/files/a", "GET /v1/sandboxes/x/files/./a HTTP/1.1", 0,
	     ALK_ERROR_INVALID},
	    {"GET", "/v1/sandboxes/x/files/a%00b", NULL, 0, ALK_ERROR_INVALID},
	    {"GET", "/v1/sandboxes/x/files/a%2F..%2Fb", NULL, 0, ALK_ERROR_INVALID},
	    {"GET", "/v1/sandboxes/x/files/a//b", NULL, 0, ALK_ERROR_INVALID},
	    {"GET", "/v1/sandboxes/x/files/a/", NULL, 0, ALK_ERROR_INVALID},
	    {"GET", "/v1/health", "garbage", 0, ALK_ERROR_INVALID},
	    {"GET", "/v1/health", NULL, 0, -1},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		AlkApiReq *r = route(cases[i].method, cases[i].path, cases[i].line, &error);
		if (cases[i].code < 0) {
			ck_assert_ptr_nonnull(r);
			req_done(r);
			continue;
		}
		ck_assert_msg(r == NULL, "case %u routed", i);
		ck_assert_msg(g_error_matches(error, cases[i].domain ? ALK_API_ERROR : ALK_ERROR,
		                              cases[i].code),
		              "case %u: %s", i, error->message);
	}
}
END_TEST

static char *allow_of(const char *method, const char *path)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *line = g_strdup_printf("%s %s HTTP/1.1", method, path);
	AlkApiReq *req = req_new(method, path);
	char *allow;

	ck_assert(!alk_api_route(req, line, &error));
	ck_assert(g_error_matches(error, ALK_API_ERROR, ALK_API_ERROR_METHOD));
	allow = g_steal_pointer(&req->allow);
	req_done(req);
	return allow;
}

START_TEST(method_not_allowed)
{
	g_autofree char *health = allow_of("PATCH", "/v1/health");
	g_autofree char *sandbox = allow_of("POST", "/v1/sandboxes/x");
	g_autofree char *files = allow_of("DELETE", "/v1/sandboxes/x/files/a/b");

	ck_assert_str_eq(health, "GET");
	ck_assert_str_eq(sandbox, "GET, DELETE");
	ck_assert_str_eq(files, "PUT, GET");
}
END_TEST

START_TEST(long_file_path)
{
	g_autoptr(GString) path = g_string_new("/v1/sandboxes/x/files/");
	g_autoptr(GError) error = NULL;
	AlkApiReq *r;

	/* "/" and 4095 bytes: the most a file path may have */
	for (guint i = 0; i < 4095; i++)
		g_string_append_c(path, 'a');
	r = route("GET", path->str, NULL, &error);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(strlen(r->file), 4096);
	req_done(r);
	g_string_append(path, "a");
	r = route("GET", path->str, NULL, &error);
	ck_assert_ptr_null(r);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
}
END_TEST

START_TEST(query_strings)
{
	g_autoptr(GError) error = NULL;
	AlkApiReq *r = route("GET", "/v1/sandboxes/x/exec/ws", NULL, &error);

	ck_assert(
	    alk_api_parse_query(r, "argv=%2Fbin%2Fsh&argv=-c&argv=echo+hi&env=A%3Db&", &error));
	ck_assert_int_eq(r->query->len, 8);
	ck_assert_str_eq(g_ptr_array_index(r->query, 5), "echo hi");
	ck_assert_str_eq(alk_api_query(r, "env"), "A=b");
	ck_assert_str_eq(alk_api_query(r, "argv"), "echo hi"); /* the last one */
	ck_assert_ptr_null(alk_api_query(r, "cwd"));
	g_clear_pointer(&r->query, g_ptr_array_unref);
	ck_assert(!alk_api_parse_query(r, "bogus=1", &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	g_clear_error(&error);
	g_clear_pointer(&r->query, g_ptr_array_unref);
	ck_assert(!alk_api_parse_query(r, "argv=a%00", &error));
	g_clear_error(&error);
	g_clear_pointer(&r->query, g_ptr_array_unref);
	ck_assert(alk_api_parse_query(r, NULL, &error));
	ck_assert_int_eq(r->query->len, 0);
	req_done(r);
}
END_TEST

static SoupMessageHeaders *head_of(const char *const *lines)
{
	SoupMessageHeaders *h = soup_message_headers_new(SOUP_MESSAGE_HEADERS_REQUEST);
	for (guint i = 0; lines[i] != NULL; i += 2)
		soup_message_headers_append(h, lines[i], lines[i + 1]);
	return h;
}

static gboolean head_ok(const char *const *lines)
{
	g_autoptr(GError) error = NULL;
	SoupMessageHeaders *h = head_of(lines);
	gboolean ok = alk_api_req_check_head(h, &error);

	ck_assert(ok || g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	soup_message_headers_unref(h);
	return ok;
}

START_TEST(head_checks)
{
	ck_assert(head_ok((const char *const[]){"Host", "a", NULL}));
	ck_assert(head_ok((const char *const[]){"Authorization", "Bearer x", NULL}));
	ck_assert(!head_ok(
	    (const char *const[]){"Authorization", "Bearer x", "authorization", "Bearer y", NULL}));
	ck_assert(!head_ok(
	    (const char *const[]){"Authorization", "Bearer y", "Authorization", "Bearer x", NULL}));
	ck_assert(head_ok((const char *const[]){"Content-Length", "12", NULL}));
	ck_assert(
	    head_ok((const char *const[]){"Content-Length", "2", "Content-Length", "2", NULL}));
	ck_assert(
	    !head_ok((const char *const[]){"Content-Length", "2", "Content-Length", "5", NULL}));
	ck_assert(!head_ok((const char *const[]){"Content-Length", "-1", NULL}));
	ck_assert(!head_ok((const char *const[]){"Content-Length", "+1", NULL}));
}
END_TEST

START_TEST(connection_admission)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkConfig) c = alk_config_load_data(
	    "[api]\nmax_connections = 8\nmax_connections_per_peer = 4\n"
	    "max_unauthenticated = 6\nmax_unauthenticated_per_peer = 3\nhead_timeout_s = 2\n",
	    -1, &error);
	const AlkApiConfig *a;
	const AlkApiCount empty = {0, 0}, full = {8, 0}, peer_full = {4, 0}, unauth = {6, 6},
	                  peer_unauth = {3, 3};

	ck_assert_msg(c != NULL, "%s", error ? error->message : "");
	a = &c->api;
	ck_assert_uint_eq(a->head_timeout_s, 2);
	ck_assert_ptr_null(alk_api_conn_admit(a, ALK_API_POOL_TCP, &empty, &empty, FALSE));
	ck_assert_str_eq(alk_api_conn_admit(a, ALK_API_POOL_TCP, &full, &empty, TRUE),
	                 "api.max_connections");
	ck_assert_str_eq(alk_api_conn_admit(a, ALK_API_POOL_TCP, &peer_full, &peer_full, TRUE),
	                 "api.max_connections_per_peer");
	ck_assert_str_eq(alk_api_conn_admit(a, ALK_API_POOL_TCP, &unauth, &empty, FALSE),
	                 "api.max_unauthenticated");
	ck_assert_str_eq(alk_api_conn_admit(a, ALK_API_POOL_TCP, &peer_unauth, &peer_unauth, FALSE),
	                 "api.max_unauthenticated_per_peer");
	/* a caller already known does not need the unauthenticated share */
	ck_assert_ptr_null(alk_api_conn_admit(a, ALK_API_POOL_UNIX, &unauth, &peer_unauth, TRUE));
	/* root's pool is its own: no peer share in it */
	ck_assert_ptr_null(alk_api_conn_admit(a, ALK_API_POOL_ROOT, &peer_full, &peer_full, TRUE));
	ck_assert_str_eq(alk_api_conn_admit(a, ALK_API_POOL_ROOT, &full, &full, TRUE),
	                 "api.max_connections");
	g_clear_pointer(&c, alk_config_free);
	/* a share larger than its whole counts as the whole */
	c = alk_config_load_data("[api]\nmax_connections = 2\n", -1, &error);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_null(alk_api_conn_admit(&c->api, ALK_API_POOL_TCP, &(AlkApiCount){1, 1},
	                                      &(AlkApiCount){1, 1}, FALSE));
	ck_assert_str_eq(alk_api_conn_admit(&c->api, ALK_API_POOL_TCP, &(AlkApiCount){2, 2},
	                                    &(AlkApiCount){0, 0}, FALSE),
	                 "api.max_connections");
	g_clear_pointer(&c, alk_config_free);
	/* the keys are checked */
	c = alk_config_load_data("[api]\nhead_timeout_s = 0\n", -1, &error);
	ck_assert_ptr_null(c);
	ck_assert(strstr(error->message, "api.head_timeout_s") != NULL);
	g_clear_error(&error);
	c = alk_config_load_data("[api]\nmax_unauthenticated_per_peer = 0\n", -1, &error);
	ck_assert_ptr_null(c);
	ck_assert(strstr(error->message, "api.max_unauthenticated_per_peer") != NULL);
}
END_TEST

START_TEST(audit_throttle)
{
	g_autoptr(AlkAuditThrottle) t = alk_audit_throttle_new(3, 10, 4);
	g_autoptr(GPtrArray) none = NULL;
	g_autoptr(GPtrArray) ended = NULL;
	const gint64 s = G_USEC_PER_SEC;
	guint admitted = 0;

	for (guint i = 0; i < 10; i++)
		admitted += alk_audit_throttle_admit(t, "tcp:192.0.2.1", 0);
	ck_assert_uint_eq(admitted, 3);
	/* another peer has its own budget */
	ck_assert(alk_audit_throttle_admit(t, "tcp:192.0.2.2", 1 * s));
	ck_assert_uint_eq(alk_audit_throttle_pending(t), 7);
	none = alk_audit_throttle_expire(t, 9 * s);
	ck_assert_uint_eq(none->len, 0);
	/* still in the window: still counted */
	ck_assert(!alk_audit_throttle_admit(t, "tcp:192.0.2.1", 9 * s));
	ended = alk_audit_throttle_expire(t, 10 * s);
	ck_assert_uint_eq(ended->len, 1);
	ck_assert_str_eq(((AlkAuditSuppressed *)g_ptr_array_index(ended, 0))->key, "tcp:192.0.2.1");
	ck_assert_uint_eq(((AlkAuditSuppressed *)g_ptr_array_index(ended, 0))->suppressed, 8);
	ck_assert_uint_eq(alk_audit_throttle_pending(t), 0);
	/* a new window, a new budget */
	ck_assert(alk_audit_throttle_admit(t, "tcp:192.0.2.1", 10 * s));
	/* past max_keys, the rest share one key */
	for (guint i = 0; i < 100; i++) {
		g_autofree char *peer = g_strdup_printf("tcp:198.51.100.%u", i);
		alk_audit_throttle_admit(t, peer, 11 * s);
	}
	g_clear_pointer(&ended, g_ptr_array_unref);
	ended = alk_audit_throttle_expire(t, G_MAXINT64);
	ck_assert_uint_eq(ended->len, 1);
	ck_assert_str_eq(((AlkAuditSuppressed *)g_ptr_array_index(ended, 0))->key, "*");
}
END_TEST

START_TEST(audit_fields)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *big = g_strnfill(60000, 'x');
	g_autofree char *sha = g_compute_checksum_for_string(G_CHECKSUM_SHA256, big, -1);
	g_autofree char *cut = g_strnfill(256, 'x');
	JsonObject *o;

	json_builder_begin_object(b);
	alk_api_audit_add_field(b, "method", "GET", TRUE);
	alk_api_audit_add_field(b, "path", big, TRUE);
	alk_api_audit_add_field(b, "kept", big, FALSE);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	o = json_node_get_object(root);
	ck_assert_str_eq(json_object_get_string_member(o, "method"), "GET");
	ck_assert(!json_object_has_member(o, "method_bytes"));
	ck_assert_str_eq(json_object_get_string_member(o, "path"), cut);
	ck_assert_int_eq(json_object_get_int_member(o, "path_bytes"), 60000);
	ck_assert_str_eq(json_object_get_string_member(o, "path_sha256"), sha);
	ck_assert_uint_eq(strlen(json_object_get_string_member(o, "kept")), 60000);
}
END_TEST

START_TEST(error_table)
{
	static const struct {
		gboolean api;
		int code;
		guint status;
		const char *name;
	} cases[] = {
	    {FALSE, ALK_ERROR_INVALID, 400, "invalid_request"},
	    {TRUE, ALK_API_ERROR_UNAUTHORIZED, 401, "unauthorized"},
	    {TRUE, ALK_API_ERROR_FORBIDDEN, 403, "forbidden"},
	    {FALSE, ALK_ERROR_DENIED, 403, "forbidden"},
	    {FALSE, ALK_ERROR_NOT_FOUND, 404, "not_found"},
	    {TRUE, ALK_API_ERROR_METHOD, 405, "method_not_allowed"},
	    {FALSE, ALK_ERROR_CONFLICT, 409, "conflict"},
	    {TRUE, ALK_API_ERROR_TOO_LARGE, 413, "payload_too_large"},
	    {TRUE, ALK_API_ERROR_URI_TOO_LONG, 414, "uri_too_long"},
	    {TRUE, ALK_API_ERROR_MEDIA_TYPE, 415, "unsupported_media_type"},
	    {FALSE, ALK_ERROR_LIMIT, 429, "limit_exceeded"},
	    {FALSE, ALK_ERROR_FULL, 429, "limit_exceeded"},
	    {TRUE, ALK_API_ERROR_HEAD_TOO_LARGE, 431, "headers_too_large"},
	    {FALSE, ALK_ERROR_FAILED, 500, "internal"},
	    {FALSE, ALK_ERROR_UNAVAILABLE, 503, "libvirt_unavailable"},
	    {TRUE, ALK_API_ERROR_CLUSTER, 503, "cluster_unavailable"},
	    {FALSE, ALK_ERROR_TIMEOUT, 504, "timeout"},
	};
	g_autoptr(GError) other = g_error_new(G_IO_ERROR, G_IO_ERROR_FAILED, "x");

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) e = g_error_new(cases[i].api ? ALK_API_ERROR : ALK_ERROR,
		                                  cases[i].code, "m\"%u", i);
		g_autofree char *json = alk_api_error_json(e);
		g_autofree char *want = g_strdup_printf(
		    "{\"error\":{\"code\":\"%s\",\"message\":\"m\\\"%u\"}}", cases[i].name, i);
		ck_assert_uint_eq(alk_api_error_status(e), cases[i].status);
		ck_assert_str_eq(json, want);
	}
	ck_assert_uint_eq(alk_api_error_status(other), 500);
	ck_assert_str_eq(alk_api_error_code(NULL), "internal");
}
END_TEST

START_TEST(route_table)
{
	g_autofree char *text = alk_api_describe_routes();
	guint n = 0;
	const AlkApiRoute *routes = alk_api_routes(&n);

	guint uncredentialed = 0;

	ck_assert_uint_eq(n, 32);
	/* volumes: listed with read, made and removed by the operator */
	ck_assert(strstr(text, "GET /v1/volumes read\n") != NULL);
	ck_assert(strstr(text, "POST /v1/volumes admin\n") != NULL);
	ck_assert(strstr(text, "GET /v1/volumes/{name} read\n") != NULL);
	ck_assert(strstr(text, "DELETE /v1/volumes/{name} admin\n") != NULL);
	ck_assert(strstr(text, "GET /v1/cluster read\n") != NULL);
	ck_assert(strstr(text, "POST /v1/sandboxes/{id}/tools/anthropic write\n") != NULL);
	ck_assert(strstr(text, "GET /v1/sandboxes/{id}/tools/anthropic/definitions read\n") !=
	          NULL);
	ck_assert(strstr(text, "POST /v1/sandboxes/{id}/tools/openai write\n") != NULL);
	ck_assert(strstr(text, "GET /v1/sandboxes/{id}/exec/ws write\n") != NULL);
	/* MCP: each tool checks its own scope (alk-api-mcp-tools.c) */
	ck_assert(strstr(text, "POST /mcp read\n") != NULL);
	ck_assert(strstr(text, "DELETE /mcp read\n") != NULL);
	ck_assert(strstr(text, "GET /v1/sandboxes/{id}/screen read\n") != NULL);
	ck_assert(strstr(text, "POST /v1/sandboxes/{id}/computer write\n") != NULL);
	ck_assert(strstr(text, "POST /v1/sandboxes/{id}/pause write\n") != NULL);
	ck_assert(strstr(text, "POST /v1/sandboxes/{id}/resume write\n") != NULL);
	ck_assert(strstr(text, "PUT /v1/sandboxes/{id}/network write\n") != NULL);
	ck_assert(strstr(text, "PUT /v1/sandboxes/{id}/files/{path} write\n") != NULL);
	for (guint i = 0; i < n; i++) {
		ck_assert_ptr_nonnull(routes[i].handle);
		/* only the browser's watch routes take no caller's credentials:
		 * the page (static) and the stream (a ticket), both read-only */
		if (routes[i].auth != ALK_API_AUTH_CALLER) {
			uncredentialed++;
			ck_assert_str_eq(routes[i].method, "GET");
			ck_assert(routes[i].scope == ALK_SCOPE_READ);
			ck_assert(g_str_has_suffix(routes[i].pattern, "/watch") ||
			          (g_str_has_suffix(routes[i].pattern, "/screen/ws") &&
			           routes[i].auth == ALK_API_AUTH_TICKET));
		}
		ck_assert(routes[i].scope == ALK_SCOPE_READ ||
		          g_strcmp0(routes[i].method, "GET") != 0 || routes[i].websocket != NULL);
	}
	ck_assert_uint_eq(uncredentialed, 2);
	ck_assert(strstr(text, "POST /v1/sandboxes/{id}/watch read\n") != NULL);
}
END_TEST

START_TEST(times)
{
	g_autofree char *t = alk_api_json_time(1795741323);
	ck_assert_str_eq(t, "2026-11-27T01:02:03Z");
}
END_TEST

/* ---- sandbox JSON and per-sandbox metrics ---- */

static AlkSandbox *sandbox(const char *id, AlkNetMode mode, AlkSandboxState state)
{
	AlkSandbox *sb = alk_sandbox_new(id, "/nonexistent/state", "/nonexistent/run");

	sb->state = state;
	sb->image = g_strdup("minimal");
	sb->profile = g_strdup("development");
	sb->limits.network = mode;
	sb->created_at = 1795741323;
	sb->deadline = 1795741383;
	return sb;
}

static char *network_json(const AlkSandbox *sb)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;

	json_builder_begin_object(b);
	alk_api_json_add_network(b, sb);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	return alk_json_to_string(root);
}

START_TEST(sandbox_network_json)
{
	g_autoptr(AlkSandbox) none = sandbox("0123456789ab", ALK_NET_NONE, ALK_SANDBOX_READY);
	g_autoptr(AlkSandbox) iso = sandbox("0123456789ac", ALK_NET_ISOLATED, ALK_SANDBOX_READY);
	g_autoptr(AlkSandbox) al = sandbox("0123456789ad", ALK_NET_ALLOWLIST, ALK_SANDBOX_READY);
	g_autofree char *a = network_json(none);
	g_autofree char *b = NULL;
	g_autofree char *c = NULL;
	g_autofree char *whole = NULL;
	g_autoptr(JsonNode) node = NULL;

	ck_assert_str_eq(a, "{\"network\":{\"mode\":\"none\",\"allow\":[],\"address\":null,"
	                    "\"counters\":null}}");
	iso->net.address = g_strdup("10.254.254.2/30");
	iso->net.denied = 7;
	b = network_json(iso);
	ck_assert_str_eq(b, "{\"network\":{\"mode\":\"isolated\",\"allow\":[],"
	                    "\"address\":\"10.254.254.2/30\",\"counters\":{\"allowed_packets\":0,"
	                    "\"denied_packets\":7,\"dns_queries\":0,\"dns_refused\":0}}}");
	al->net.allow = g_strsplit("pypi.org:443 10.0.0.0/8", " ", -1);
	al->net.address = g_strdup("10.254.254.6/30");
	al->net.allowed = 12;
	al->net.denied = 3;
	al->net.dns_queries = 5;
	al->net.dns_refused = G_MAXUINT64; /* clamped, never negative */
	c = network_json(al);
	ck_assert_str_eq(c, "{\"network\":{\"mode\":\"allowlist\",\"allow\":[\"pypi.org:443\","
	                    "\"10.0.0.0/8\"],\"address\":\"10.254.254.6/30\",\"counters\":{"
	                    "\"allowed_packets\":12,\"denied_packets\":3,\"dns_queries\":5,"
	                    "\"dns_refused\":9223372036854775807}}}");
	/* in the sandbox object, between limits and adopted */
	node = alk_api_json_sandbox_node(al, NULL);
	whole = alk_json_to_string(node);
	ck_assert(strstr(whole, "\"limits\":{") != NULL);
	ck_assert(
	    strstr(whole, "},\"network\":{\"mode\":\"allowlist\",\"allow\":[\"pypi.org:443\"") !=
	    NULL);
	ck_assert(strstr(whole, "\"dns_refused\":9223372036854775807}},\"volumes\":[],"
	                        "\"display\":null,\"adopted\":false") != NULL);
}
END_TEST

START_TEST(sandbox_metrics)
{
	g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func((GDestroyNotify)alk_sandbox_free);
	g_autoptr(GString) out = g_string_new(NULL);
	AlkSandbox *sb;

	g_ptr_array_add(all, sandbox("00000000000a", ALK_NET_NONE, ALK_SANDBOX_READY));
	sb = sandbox("00000000000b", ALK_NET_ALLOWLIST, ALK_SANDBOX_READY);
	sb->net.allowed = 10;
	sb->net.denied = 2;
	sb->net.dns_queries = 4;
	sb->net.dns_refused = 1;
	g_ptr_array_add(all, sb);
	/* failed: its network is gone */
	g_ptr_array_add(all, sandbox("00000000000c", ALK_NET_ISOLATED, ALK_SANDBOX_FAILED));
	sb = sandbox("00000000000d", ALK_NET_ISOLATED, ALK_SANDBOX_BOOTING);
	sb->net.denied = 5;
	g_ptr_array_add(all, sb);
	alk_api_metrics_sandboxes(out, all);
	ck_assert_str_eq(
	    out->str,
	    "# HELP airlock_sandbox_network_packets_total Packets of networked sandboxes, let out "
	    "by the allowlist or dropped.\n"
	    "# TYPE airlock_sandbox_network_packets_total counter\n"
	    "airlock_sandbox_network_packets_total{sandbox=\"00000000000b\",verdict=\"allowed\"} "
	    "10\n"
	    "airlock_sandbox_network_packets_total{sandbox=\"00000000000b\",verdict=\"denied\"} 2\n"
	    "airlock_sandbox_network_packets_total{sandbox=\"00000000000d\",verdict=\"allowed\"} "
	    "0\n"
	    "airlock_sandbox_network_packets_total{sandbox=\"00000000000d\",verdict=\"denied\"} 5\n"
	    "# HELP airlock_sandbox_dns_queries_total DNS queries of networked sandboxes to "
	    "airlock's resolver, answered or refused (a name not allowed, a denied answer).\n"
	    "# TYPE airlock_sandbox_dns_queries_total counter\n"
	    "airlock_sandbox_dns_queries_total{result=\"answered\",sandbox=\"00000000000b\"} 3\n"
	    "airlock_sandbox_dns_queries_total{result=\"refused\",sandbox=\"00000000000b\"} 1\n"
	    "airlock_sandbox_dns_queries_total{result=\"answered\",sandbox=\"00000000000d\"} 0\n"
	    "airlock_sandbox_dns_queries_total{result=\"refused\",sandbox=\"00000000000d\"} 0\n");
	/* no networked sandbox: the families are still described */
	g_string_truncate(out, 0);
	g_ptr_array_set_size(all, 1);
	alk_api_metrics_sandboxes(out, all);
	ck_assert_str_eq(out->str, "# HELP airlock_sandbox_network_packets_total Packets of "
	                           "networked sandboxes, let out by the allowlist or dropped.\n"
	                           "# TYPE airlock_sandbox_network_packets_total counter\n"
	                           "# HELP airlock_sandbox_dns_queries_total DNS queries of "
	                           "networked sandboxes to airlock's resolver, answered or "
	                           "refused (a name not allowed, a denied answer).\n"
	                           "# TYPE airlock_sandbox_dns_queries_total counter\n");
}
END_TEST

START_TEST(metrics_samples_checked)
{
	g_autoptr(GString) out = g_string_new("kept\n");
	g_autoptr(GError) error = NULL;
	const AlkMetricSample bad_label[] = {{(const char *const[]){"__x", "1", NULL}, 1}};
	const AlkMetricSample negative[] = {{NULL, -1}};
	const AlkMetricSample quoted[] = {{(const char *const[]){"a", "x\"\n", NULL}, 2}};

	ck_assert(
	    !alk_metrics_render_samples(out, "bad name", ALK_METRIC_COUNTER, "h", NULL, 0, &error));
	g_clear_error(&error);
	ck_assert(
	    !alk_metrics_render_samples(out, "m", ALK_METRIC_HISTOGRAM, "h", NULL, 0, &error));
	g_clear_error(&error);
	ck_assert(
	    !alk_metrics_render_samples(out, "m", ALK_METRIC_COUNTER, "h", bad_label, 1, &error));
	g_clear_error(&error);
	ck_assert(
	    !alk_metrics_render_samples(out, "m", ALK_METRIC_COUNTER, "h", negative, 1, &error));
	g_clear_error(&error);
	ck_assert_str_eq(out->str, "kept\n");
	ck_assert(alk_metrics_render_samples(out, "m", ALK_METRIC_GAUGE, "h\\", quoted, 1, &error));
	ck_assert_str_eq(out->str, "kept\n# HELP m h\\\\\n# TYPE m gauge\nm{a=\"x\\\"\\n\"} 2\n");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api-route");
	TCase *tc = tcase_create("route");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, routes_match);
	tcase_add_test(tc, routes_refuse);
	tcase_add_test(tc, method_not_allowed);
	tcase_add_test(tc, long_file_path);
	tcase_add_test(tc, query_strings);
	tcase_add_test(tc, head_checks);
	tcase_add_test(tc, connection_admission);
	tcase_add_test(tc, audit_throttle);
	tcase_add_test(tc, audit_fields);
	tcase_add_test(tc, error_table);
	tcase_add_test(tc, route_table);
	tcase_add_test(tc, times);
	tcase_add_test(tc, sandbox_network_json);
	tcase_add_test(tc, sandbox_metrics);
	tcase_add_test(tc, metrics_samples_checked);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
