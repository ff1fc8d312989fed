/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The routing table and the parsing of request targets.
 *
 * Routing uses the path libsoup normalised (GUri removed "." and ".."
 * segments, %2e%2e included). The raw target as the client sent it is
 * checked as well: a "." or ".." segment there, even encoded, is refused,
 * so "files/etc/../passwd" is not silently read as "files/passwd". File
 * paths are taken from the raw target, each segment decoded on its own. */
#include <string.h>

#include "alk-api-mcp.h"
#include "alk-error.h"

#define FILE_PATH_MAX 4096
#define QUERY_PAIRS_MAX 300

#define READ ALK_SCOPE_READ
#define WRITE ALK_SCOPE_WRITE
#define ADMIN ALK_SCOPE_ADMIN
static const AlkApiRoute routes[] = {
    {.method = "GET", .pattern = "/v1/health", .scope = READ, .handle = alk_api_health_get},
    {.method = "GET", .pattern = "/v1/images", .scope = READ, .handle = alk_api_images_get},
    {.method = "GET", .pattern = "/v1/profiles", .scope = READ, .handle = alk_api_profiles_get},
    {.method = "GET", .pattern = "/v1/volumes", .scope = READ, .handle = alk_api_volumes_list},
    {.method = "POST",
     .pattern = "/v1/volumes",
     .scope = ADMIN,
     .body = ALK_API_BODY_JSON,
     .handle = alk_api_volumes_create},
    {.method = "GET",
     .pattern = "/v1/volumes/{name}",
     .scope = READ,
     .handle = alk_api_volumes_get},
    {.method = "DELETE",
     .pattern = "/v1/volumes/{name}",
     .scope = ADMIN,
     .handle = alk_api_volumes_delete},
    {.method = "GET",
     .pattern = "/v1/sandboxes",
     .scope = READ,
     .query = "label scope",
     .handle = alk_api_sandboxes_list},
    {.method = "GET", .pattern = "/v1/cluster", .scope = READ, .handle = alk_api_cluster_get},
    {.method = "POST",
     .pattern = "/v1/sandboxes",
     .scope = WRITE,
     .body = ALK_API_BODY_JSON,
     .query = "wait",
     .handle = alk_api_sandboxes_create},
    {.method = "GET",
     .pattern = "/v1/sandboxes/{id}",
     .scope = READ,
     .handle = alk_api_sandboxes_get},
    {.method = "DELETE",
     .pattern = "/v1/sandboxes/{id}",
     .scope = WRITE,
     .query = "wait",
     .handle = alk_api_sandboxes_delete},
    {.method = "POST",
     .pattern = "/v1/sandboxes/{id}/exec",
     .scope = WRITE,
     .body = ALK_API_BODY_JSON,
     .handle = alk_api_exec_post},
    {.method = "GET",
     .pattern = "/v1/sandboxes/{id}/exec/ws",
     .scope = WRITE,
     .query = "argv env cwd timeout_s user tty rows cols stdin_ack",
     .handle = alk_api_exec_ws_check,
     .websocket = alk_api_exec_ws_open},
    {.method = "PUT",
     .pattern = "/v1/sandboxes/{id}/files/{path}",
     .scope = WRITE,
     .body = ALK_API_BODY_STREAM,
     .query = "mode",
     .handle = alk_api_files_put,
     .start = alk_api_files_put_start},
    {.method = "GET",
     .pattern = "/v1/sandboxes/{id}/files/{path}",
     .scope = READ,
     .handle = alk_api_files_get},
    {.method = "POST",
     .pattern = "/v1/sandboxes/{id}/ttl",
     .scope = WRITE,
     .body = ALK_API_BODY_JSON,
     .handle = alk_api_ttl_post},
    {.method = "POST",
     .pattern = "/v1/sandboxes/{id}/pause",
     .scope = WRITE,
     .handle = alk_api_pause_post},
    {.method = "POST",
     .pattern = "/v1/sandboxes/{id}/resume",
     .scope = WRITE,
     .handle = alk_api_resume_post},
    {.method = "PUT",
     .pattern = "/v1/sandboxes/{id}/network",
     .scope = WRITE,
     .body = ALK_API_BODY_JSON,
     .handle = alk_api_network_put},
    {.method = "GET",
     .pattern = "/v1/sandboxes/{id}/console",
     .scope = READ,
     .handle = alk_api_console_get},
    {.method = "GET",
     .pattern = "/v1/sandboxes/{id}/screen",
     .scope = READ,
     .query = "width height",
     .handle = alk_api_screen_get},
    {.method = "POST",
     .pattern = "/v1/sandboxes/{id}/computer",
     .scope = WRITE,
     .body = ALK_API_BODY_JSON,
     .handle = alk_api_computer_post},
    {.method = "POST",
     .pattern = "/v1/sandboxes/{id}/watch",
     .scope = READ, /* with control: write, checked by the handler */
     .query = "control",
     .handle = alk_api_watch_post},
    /* a browser's: the page needs no credentials, its stream a ticket */
    {.method = "GET",
     .pattern = "/v1/sandboxes/{id}/watch",
     .scope = READ,
     .auth = ALK_API_AUTH_NONE,
     .handle = alk_api_watch_page},
    {.method = "GET",
     .pattern = "/v1/sandboxes/{id}/screen/ws",
     .scope = READ,
     .auth = ALK_API_AUTH_TICKET,
     .query = "ticket fps width height",
     .handle = alk_api_watch_ws_check,
     .websocket = alk_api_watch_ws_open},
    {.method = "POST",
     .pattern = "/v1/sandboxes/{id}/tools/anthropic",
     .scope = WRITE,
     .body = ALK_API_BODY_JSON,
     .handle = alk_api_tools_anthropic_post},
    {.method = "GET",
     .pattern = "/v1/sandboxes/{id}/tools/anthropic/definitions",
     .scope = READ,
     .query = "editor computer",
     .handle = alk_api_tools_anthropic_definitions},
    {.method = "POST",
     .pattern = "/v1/sandboxes/{id}/tools/openai",
     .scope = WRITE,
     .body = ALK_API_BODY_JSON,
     .query = "width height",
     .handle = alk_api_tools_openai_post},
    {.method = "GET", .pattern = "/metrics", .scope = READ, .handle = alk_api_metrics_get},
    /* MCP (alk-api-mcp.c): each tool checks its own scope */
    {.method = "POST",
     .pattern = "/mcp",
     .scope = READ,
     .body = ALK_API_BODY_JSON,
     .handle = alk_api_mcp_post},
    {.method = "DELETE", .pattern = "/mcp", .scope = READ, .handle = alk_api_mcp_delete},
};
#undef READ
#undef WRITE
#undef ADMIN

const AlkApiRoute *alk_api_routes(guint *n)
{
	*n = G_N_ELEMENTS(routes);
	return routes;
}

char *alk_api_describe_routes(void)
{
	GString *out = g_string_new(NULL);
	for (guint i = 0; i < G_N_ELEMENTS(routes); i++)
		g_string_append_printf(out, "%s %s %s\n", routes[i].method, routes[i].pattern,
		                       alk_scope_to_string(routes[i].scope));
	return g_string_free(out, FALSE);
}

static gboolean invalid(GError **error, const char *what)
{
	g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "%s", what);
	return FALSE;
}

/* Decoded segments of an encoded path ("/a/b%20c" -> a, "b c"); NULL when
 * one does not decode (a bad escape or an encoded NUL). */
static GStrv split_path(const char *path)
{
	g_auto(GStrv) raw = g_strsplit(path[0] == '/' ? path + 1 : path, "/", -1);
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();

	for (guint i = 0; raw[i] != NULL; i++) {
		g_autofree char *seg = g_uri_unescape_segment(raw[i], NULL, NULL);
		if (seg == NULL)
			return NULL;
		g_strv_builder_add(b, seg);
	}
	return g_strv_builder_end(b);
}

static gboolean is_dot(const char *seg)
{
	return g_strcmp0(seg, ".") == 0 || g_strcmp0(seg, "..") == 0;
}

/* The path of a request line "METHOD TARGET HTTP/1.1" (origin or
 * absolute form), without its query. */
static char *raw_path(const char *line)
{
	g_auto(GStrv) parts = g_strsplit(line, " ", 3);
	const char *target;

	if (g_strv_length(parts) != 3)
		return NULL;
	target = parts[1];
	if (target[0] != '/') {
		const char *scheme_end = strstr(target, "://");
		target = scheme_end != NULL ? strchr(scheme_end + 3, '/') : NULL;
		if (target == NULL)
			return NULL;
	}
	return g_strndup(target, strcspn(target, "?#"));
}

/* {path}: the raw segments from index from on, decoded one by one. */
static gboolean file_path(GStrv raw, guint from, char **out, GError **error)
{
	g_autoptr(GString) path = g_string_new(NULL);

	for (guint i = from; raw[i] != NULL; i++)
		g_string_append_printf(path, "/%s", raw[i]);
	/* decoded %2F makes more segments: check them all again */
	g_auto(GStrv) parts = g_strsplit(path->str + 1, "/", -1);
	for (guint i = 0; parts[i] != NULL; i++) {
		if (parts[i][0] == '\0' || is_dot(parts[i]))
			return invalid(error, "file path: empty, \".\" or \"..\" segment");
	}
	if (path->len > FILE_PATH_MAX)
		return invalid(error, "file path: longer than 4096 bytes");
	*out = g_string_free(g_steal_pointer(&path), FALSE);
	return TRUE;
}

static gboolean match(const AlkApiRoute *r, GStrv segs, guint *path_at, char **id)
{
	g_auto(GStrv) pat = g_strsplit(r->pattern + 1, "/", -1);
	guint i;

	for (i = 0; pat[i] != NULL; i++) {
		if (g_strcmp0(pat[i], "{path}") == 0) {
			*path_at = i;
			return segs[i] != NULL;
		}
		if (segs[i] == NULL)
			return FALSE;
		/* a sandbox's id or a volume's name, checked by its handler */
		if (g_strcmp0(pat[i], "{id}") == 0 || g_strcmp0(pat[i], "{name}") == 0)
			*id = segs[i];
		else if (g_strcmp0(pat[i], segs[i]) != 0)
			return FALSE;
	}
	return segs[i] == NULL;
}

static gboolean find(AlkApiReq *req, GStrv segs, guint *path_at, GError **error)
{
	g_autoptr(GString) allow = g_string_new(NULL);
	const AlkApiRoute *table = req->api->routes;

	for (guint i = 0; i < req->api->n_routes; i++) {
		char *id = NULL;
		if (!match(&table[i], segs, path_at, &id))
			continue;
		if (g_strcmp0(table[i].method, req->method) != 0) {
			g_string_append_printf(allow, "%s%s", allow->len > 0 ? ", " : "",
			                       table[i].method);
			continue;
		}
		req->route = &table[i];
		req->id = g_strdup(id);
		return TRUE;
	}
	if (allow->len > 0) {
		g_set_error(error, ALK_API_ERROR, ALK_API_ERROR_METHOD,
		            "%s is not allowed on %s (allowed: %s)", req->method, req->path,
		            allow->str);
		g_free(req->allow);
		req->allow = g_string_free(g_steal_pointer(&allow), FALSE);
	} else
		g_set_error(error, ALK_ERROR, ALK_ERROR_NOT_FOUND, "no such resource");
	return FALSE;
}

gboolean alk_api_route(AlkApiReq *req, const char *line, GError **error)
{
	g_autofree char *raw = line != NULL ? raw_path(line) : NULL;
	g_auto(GStrv) raw_segs = NULL;
	g_auto(GStrv) segs = split_path(req->path);
	guint path_at = 0;

	if (raw == NULL || (raw_segs = split_path(raw)) == NULL || segs == NULL)
		return invalid(error, "malformed request target (bad escape or NUL)");
	for (guint i = 0; raw_segs[i] != NULL; i++) {
		if (is_dot(raw_segs[i]))
			return invalid(error, "request target: \".\" or \"..\" segment");
	}
	if (!find(req, segs, &path_at, error))
		return FALSE;
	if (g_strv_length(raw_segs) != g_strv_length(segs))
		return invalid(error, "request target: not in normal form");
	return path_at == 0 || file_path(raw_segs, path_at, &req->file, error);
}

static gboolean key_allowed(const AlkApiRoute *r, const char *key)
{
	g_auto(GStrv) keys = g_strsplit(r->query != NULL ? r->query : "", " ", -1);
	return g_strv_contains((const char *const *)keys, key);
}

static char *form_decode(const char *s)
{
	g_autofree char *plus = g_strdup(s);
	g_strdelimit(plus, "+", ' ');
	return g_uri_unescape_string(plus, NULL);
}

gboolean alk_api_parse_query(AlkApiReq *req, const char *query, GError **error)
{
	g_auto(GStrv) pairs = g_strsplit(query != NULL ? query : "", "&", -1);

	req->query = g_ptr_array_new_with_free_func(g_free);
	if (g_strv_length(pairs) > QUERY_PAIRS_MAX)
		return invalid(error, "query: too many parameters");
	for (guint i = 0; pairs[i] != NULL; i++) {
		char *eq = strchr(pairs[i], '=');
		g_autofree char *key = NULL;
		g_autofree char *value = NULL;

		if (pairs[i][0] == '\0')
			continue;
		if (eq != NULL)
			*eq = '\0';
		key = form_decode(pairs[i]);
		value = form_decode(eq != NULL ? eq + 1 : "");
		if (key == NULL || value == NULL)
			return invalid(error, "query: bad escape or NUL");
		if (!key_allowed(req->route, key)) {
			g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
			            "query: unknown parameter '%s'", key);
			return FALSE;
		}
		g_ptr_array_add(req->query, g_steal_pointer(&key));
		g_ptr_array_add(req->query, g_steal_pointer(&value));
	}
	return TRUE;
}

const char *alk_api_query(AlkApiReq *req, const char *key)
{
	const char *found = NULL;
	for (guint i = 0; req->query != NULL && i + 1 < req->query->len; i += 2) {
		if (g_strcmp0(g_ptr_array_index(req->query, i), key) == 0)
			found = g_ptr_array_index(req->query, i + 1);
	}
	return found;
}
