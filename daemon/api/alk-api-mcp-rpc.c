/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* MCP's JSON-RPC 2.0 envelope, its version negotiation and its sessions:
 * pure, so every hostile message is unit-tested (tests/test-mcp.c). */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "alk-api-mcp.h"
#include "alk-error.h"

G_DEFINE_QUARK(alk - mcp - error - quark, alk_mcp_error)

static const char *const versions[] = {ALK_MCP_VERSION_LATEST, ALK_MCP_VERSION_OLDER, NULL};

void alk_mcp_msg_clear(AlkMcpMsg *msg)
{
	g_clear_pointer(&msg->id, json_node_unref);
	g_clear_pointer(&msg->method, g_free);
	g_clear_pointer(&msg->params, json_object_unref);
}

static gboolean fail(GError **error, AlkMcpCode code, const char *what)
{
	g_set_error(error, ALK_MCP_ERROR, code, "%s", what);
	return FALSE;
}

/* A string within ALK_MCP_ID_MAX or an integer; never null (MCP). */
static gboolean read_id(JsonNode *node, GError **error)
{
	GType type = JSON_NODE_HOLDS_VALUE(node) ? json_node_get_value_type(node) : G_TYPE_INVALID;

	if (type == G_TYPE_STRING && strlen(json_node_get_string(node)) <= ALK_MCP_ID_MAX)
		return TRUE;
	if (type == G_TYPE_INT64)
		return TRUE;
	return fail(error, ALK_MCP_INVALID_REQUEST,
	            "id: a string of at most 256 bytes or an integer (not null)");
}

const char *alk_mcp_string(JsonObject *o, const char *key)
{
	JsonNode *n = json_object_get_member(o, key);

	if (n == NULL || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(n);
}

static gboolean is_string(JsonObject *o, const char *key, const char *want)
{
	const char *v = alk_mcp_string(o, key);
	return v != NULL && (want == NULL || g_strcmp0(v, want) == 0);
}

static gboolean check_members(JsonObject *o, GError **error)
{
	static const char *const known[] = {"jsonrpc", "id",    "method", "params",
	                                    "result",  "error", NULL};
	g_autoptr(GList) names = json_object_get_members(o);

	for (GList *l = names; l != NULL; l = l->next) {
		if (!g_strv_contains(known, l->data)) {
			g_autofree char *msg =
			    g_strdup_printf("unknown member '%.64s'", (const char *)l->data);
			return fail(error, ALK_MCP_INVALID_REQUEST, msg);
		}
	}
	return TRUE;
}

static gboolean read_envelope(JsonObject *o, AlkMcpMsg *msg, GError **error)
{
	JsonNode *params = json_object_get_member(o, "params");
	gboolean response =
	    json_object_has_member(o, "result") || json_object_has_member(o, "error");

	if (!is_string(o, "jsonrpc", "2.0"))
		return fail(error, ALK_MCP_INVALID_REQUEST, "jsonrpc: must be \"2.0\"");
	if (!check_members(o, error))
		return FALSE;
	if (json_object_has_member(o, "method")) {
		if (!is_string(o, "method", NULL) || response)
			return fail(error, ALK_MCP_INVALID_REQUEST,
			            "method: a string, and no result or error beside it");
		msg->method = g_strdup(alk_mcp_string(o, "method"));
	} else if (!response || msg->id == NULL) {
		return fail(error, ALK_MCP_INVALID_REQUEST, "neither a request nor a response");
	}
	if (params != NULL && !JSON_NODE_HOLDS_OBJECT(params))
		return fail(error, ALK_MCP_INVALID_PARAMS, "params: must be an object");
	msg->params =
	    params != NULL ? json_object_ref(json_node_get_object(params)) : json_object_new();
	return TRUE;
}

gboolean alk_mcp_parse(const char *data, gsize len, gsize max, AlkMcpMsg *msg, JsonNode **id,
                       GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(JsonNode) root = alk_json_parse(data, len, max, ALK_JSON_MAX_DEPTH, &local);
	JsonObject *o;
	JsonNode *idn;

	*id = NULL;
	memset(msg, 0, sizeof(*msg));
	if (root == NULL) {
		g_set_error(error, ALK_MCP_ERROR, ALK_MCP_PARSE_ERROR, "parse error: %s",
		            local->message);
		return FALSE;
	}
	if (JSON_NODE_HOLDS_ARRAY(root))
		return fail(error, ALK_MCP_INVALID_REQUEST,
		            "batches are not supported (MCP 2025-06-18 has none)");
	if (!JSON_NODE_HOLDS_OBJECT(root))
		return fail(error, ALK_MCP_INVALID_REQUEST, "a message must be a JSON object");
	o = json_node_get_object(root);
	idn = json_object_get_member(o, "id");
	if (idn != NULL) {
		if (!read_id(idn, error))
			return FALSE;
		msg->id = json_node_copy(idn);
	}
	if (!read_envelope(o, msg, error)) {
		*id = msg->id != NULL ? json_node_copy(msg->id) : NULL;
		alk_mcp_msg_clear(msg);
		return FALSE;
	}
	return TRUE;
}

static JsonNode *envelope(JsonNode *id, const char *key, JsonNode *value)
{
	JsonObject *o = json_object_new();
	JsonNode *node = json_node_new(JSON_NODE_OBJECT);

	json_object_set_string_member(o, "jsonrpc", "2.0");
	json_object_set_member(o, "id",
	                       id != NULL ? json_node_copy(id) : json_node_new(JSON_NODE_NULL));
	json_object_set_member(o, key, value);
	json_node_take_object(node, o);
	return node;
}

JsonNode *alk_mcp_result(JsonNode *id, JsonNode *result)
{
	return envelope(id, "result", result);
}

JsonNode *alk_mcp_error(JsonNode *id, int code, const char *message, JsonNode *data)
{
	JsonObject *e = json_object_new();
	JsonNode *node = json_node_new(JSON_NODE_OBJECT);

	json_object_set_int_member(e, "code", code);
	json_object_set_string_member(e, "message", message);
	if (data != NULL)
		json_object_set_member(e, "data", data);
	json_node_take_object(node, e);
	return envelope(id, "error", node);
}

gboolean alk_mcp_version_supported(const char *version)
{
	return version != NULL && g_strv_contains(versions, version);
}

static gboolean looks_like_revision(const char *v)
{
	static const char shape[] = "dddd-dd-dd";

	if (strlen(v) != sizeof(shape) - 1)
		return FALSE;
	for (guint i = 0; shape[i] != '\0'; i++) {
		if (shape[i] == 'd' ? !g_ascii_isdigit(v[i]) : v[i] != '-')
			return FALSE;
	}
	return TRUE;
}

const char *alk_mcp_negotiate(const char *requested, JsonNode **data, GError **error)
{
	g_autoptr(JsonBuilder) b = NULL;

	*data = NULL;
	if (alk_mcp_version_supported(requested))
		return requested;
	if (requested != NULL && looks_like_revision(requested))
		return ALK_MCP_VERSION_LATEST;
	b = json_builder_new();
	json_builder_begin_object(b);
	alk_json_add_strv(b, "supported", versions);
	alk_json_add_string(b, "requested", requested);
	json_builder_end_object(b);
	*data = json_builder_get_root(b);
	fail(error, ALK_MCP_INVALID_PARAMS, "Unsupported protocol version");
	return NULL;
}

/* ---- sessions ---- */

struct _AlkMcpSessions {
	GHashTable *by_id; /* id -> AlkMcpSession *, owned */
	guint max;
};

static void session_free(gpointer data)
{
	AlkMcpSession *s = data;

	g_free(s->caller);
	g_free(s->client_name);
	g_free(s->client_version);
	g_free(s->version);
	g_hash_table_unref(s->calls);
	g_free(s);
}

AlkMcpSessions *alk_mcp_sessions_new(guint max)
{
	AlkMcpSessions *s = g_new0(AlkMcpSessions, 1);

	s->by_id = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, session_free);
	s->max = MAX(max, 1);
	return s;
}

void alk_mcp_sessions_free(AlkMcpSessions *s)
{
	if (s == NULL)
		return;
	g_hash_table_unref(s->by_id);
	g_free(s);
}

/* The longest unused session (of caller's, unless NULL), and how many
 * there are of caller's. */
static AlkMcpSession *oldest(AlkMcpSessions *s, const char *caller, guint *count)
{
	AlkMcpSession *found = NULL;
	GHashTableIter it;
	gpointer v;

	*count = 0;
	g_hash_table_iter_init(&it, s->by_id);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		AlkMcpSession *one = v;
		if (caller != NULL && g_strcmp0(one->caller, caller) != 0)
			continue;
		(*count)++;
		if (found == NULL || one->used_us < found->used_us)
			found = one;
	}
	return found;
}

/* Room for one more session of caller's: a caller over its share makes
 * room among its own, so it cannot push other callers' sessions out. */
static void make_room(AlkMcpSessions *s, const char *caller)
{
	guint mine = 0, all = 0;
	AlkMcpSession *own = oldest(s, caller, &mine);

	if (mine >= ALK_MCP_SESSIONS_PER_CALLER) {
		g_hash_table_remove(s->by_id, own->id);
		return;
	}
	while (g_hash_table_size(s->by_id) >= s->max)
		g_hash_table_remove(s->by_id, oldest(s, NULL, &all)->id);
}

/* 128 bits from the kernel's random source: not guessable by another
 * caller (GLib's g_random and g_uuid are not meant for secrets). */
static void new_id(char out[33])
{
	guint8 raw[16] = {0};
	gsize got = 0;

	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n > 0)
			got += (gsize)n;
		else if (errno != EINTR)
			g_error("getrandom: %s", g_strerror(errno));
	}
	for (guint i = 0; i < sizeof(raw); i++)
		g_snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

AlkMcpSession *alk_mcp_sessions_add(AlkMcpSessions *s, const char *caller, const char *name,
                                    const char *version, const char *revision)
{
	AlkMcpSession *one = g_new0(AlkMcpSession, 1);

	make_room(s, caller);
	do
		new_id(one->id);
	while (g_hash_table_contains(s->by_id, one->id));
	one->caller = g_strdup(caller);
	one->client_name = g_utf8_make_valid(name != NULL ? name : "", -1);
	one->client_version = g_utf8_make_valid(version != NULL ? version : "", -1);
	one->version = g_strdup(revision);
	one->calls = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	one->used_us = g_get_monotonic_time();
	g_hash_table_insert(s->by_id, one->id, one);
	return one;
}

AlkMcpSession *alk_mcp_sessions_find(AlkMcpSessions *s, const char *id, const char *caller)
{
	AlkMcpSession *one = id != NULL ? g_hash_table_lookup(s->by_id, id) : NULL;

	if (one == NULL || g_strcmp0(one->caller, caller) != 0)
		return NULL;
	one->used_us = g_get_monotonic_time();
	return one;
}

gboolean alk_mcp_sessions_remove(AlkMcpSessions *s, const char *id, const char *caller)
{
	AlkMcpSession *one = alk_mcp_sessions_find(s, id, caller);
	return one != NULL && g_hash_table_remove(s->by_id, one->id);
}

guint alk_mcp_sessions_count(AlkMcpSessions *s)
{
	return g_hash_table_size(s->by_id);
}
