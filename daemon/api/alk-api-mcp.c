/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* POST /mcp and DELETE /mcp: the MCP streamable HTTP transport, answered
 * with application/json (no SSE stream: GET is 405, as the transport
 * allows). One JSON-RPC message per POST; initialize opens a session
 * (Mcp-Session-Id) that every later message must name; a tools/call runs
 * its tool under the request's own scope and is audited as "mcp.TOOL"
 * with the client's name and version from initialize (one refused before
 * its tool ran as "mcp.refused"). */
#include <string.h>

#include "alk-api-mcp.h"
#include "alk-error.h"

#define SESSIONS_MAX 256
#define SESSION_HEADER "Mcp-Session-Id"
#define VERSION_HEADER "MCP-Protocol-Version"

struct _AlkMcpCall {
	AlkApi *api;
	AlkApiReq *req; /* NULL once nobody waits for the answer */
	JsonNode *id;
	const AlkMcpTool *tool;
	gpointer args;
	JsonNode *arguments; /* as sent, for the audit */
	char *caller;
	char *client_name, *client_version, *session;
	char *sandbox;
	char *action;
	void (*cancel)(gpointer data);
	gpointer cancel_data;
	gboolean held;
	char *key;               /* in its session's calls, while the client may cancel it */
	AlkMcpSession *starting; /* while its tool starts */
};

static AlkMcpSessions *sessions(AlkApi *api)
{
	if (api->mcp == NULL)
		api->mcp = alk_mcp_sessions_new(SESSIONS_MAX);
	return api->mcp;
}

static void forget_sessions(AlkApi *api)
{
	g_clear_pointer(&api->mcp, alk_mcp_sessions_free);
}

const AlkApiResource alk_api_mcp_resource = {
    .name = "mcp sessions",
    .api_free = forget_sessions,
};

static const char *header(AlkApiReq *req, const char *name)
{
	return soup_message_headers_get_one(soup_server_message_get_request_headers(req->msg),
	                                    name);
}

static void reply_rpc(AlkApiReq *req, guint status, JsonNode *node)
{
	alk_api_reply_json(req, status, node);
	json_node_unref(node);
}

static void reply_rpc_error(AlkApiReq *req, guint status, JsonNode *id, const GError *error,
                            JsonNode *data)
{
	int code = error->domain == ALK_MCP_ERROR ? error->code : ALK_MCP_INVALID_PARAMS;
	reply_rpc(req, status, alk_mcp_error(id, code, error->message, data));
}

/* ---- a tool call ---- */

/* The call is no longer cancellable by the client. */
static void unlist(AlkMcpCall *call)
{
	AlkMcpSession *s = NULL;

	if (call->key == NULL)
		return;
	/* the session may have ended meanwhile */
	if (call->api != NULL && call->api->mcp != NULL)
		s = alk_mcp_sessions_find(call->api->mcp, call->session, call->caller);
	if (s != NULL && g_hash_table_lookup(s->calls, call->key) == call)
		g_hash_table_remove(s->calls, call->key);
	g_clear_pointer(&call->key, g_free);
}

static void call_free(AlkMcpCall *call)
{
	unlist(call);
	alk_mcp_tool_args_free(call->tool, call->args);
	g_clear_pointer(&call->id, json_node_unref);
	g_clear_pointer(&call->arguments, json_node_unref);
	g_free(call->caller);
	g_free(call->client_name);
	g_free(call->client_version);
	g_free(call->session);
	g_free(call->sandbox);
	g_free(call->action);
	g_free(call);
}

AlkApi *alk_mcp_call_api(AlkMcpCall *call)
{
	return call->api;
}

AlkApiReq *alk_mcp_call_req(AlkMcpCall *call)
{
	return call->req;
}

void alk_mcp_call_set_sandbox(AlkMcpCall *call, const char *id)
{
	g_free(call->sandbox);
	call->sandbox = g_strdup(id);
	if (call->req != NULL) {
		g_free(call->req->id);
		call->req->id = g_strdup(id);
	}
}

const char *alk_mcp_call_sandbox(AlkMcpCall *call)
{
	return call->sandbox;
}

const char *alk_mcp_call_caller(AlkMcpCall *call)
{
	return call->caller;
}

const char *alk_mcp_call_action(AlkMcpCall *call)
{
	return call->action;
}

/* "client": who called, from initialize (every mcp.* audit line has it). */
static void add_client(JsonBuilder *b, const char *name, const char *version, const char *session)
{
	json_builder_set_member_name(b, "client");
	json_builder_begin_object(b);
	alk_json_add_string(b, "name", name);
	alk_json_add_string(b, "version", version);
	alk_json_add_string(b, "session", session);
	json_builder_end_object(b);
}

/* An array of objects (the computer tool's actions) as audited: each
 * object's "text" (what was typed) as its length and SHA-256 only. */
static void add_redacted_array(JsonBuilder *b, JsonArray *a)
{
	json_builder_begin_array(b);
	for (guint i = 0; i < json_array_get_length(a); i++) {
		JsonNode *n = json_array_get_element(a, i);
		JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
		g_autoptr(GList) names = o != NULL ? json_object_get_members(o) : NULL;

		if (o == NULL) {
			json_builder_add_value(b, json_node_copy(n));
			continue;
		}
		json_builder_begin_object(b);
		for (GList *l = names; l != NULL; l = l->next) {
			JsonNode *v = json_object_get_member(o, l->data);
			if (g_str_equal(l->data, "text") && JSON_NODE_HOLDS_VALUE(v) &&
			    json_node_get_value_type(v) == G_TYPE_STRING) {
				const char *t = json_node_get_string(v);
				g_autofree char *sum =
				    g_compute_checksum_for_string(G_CHECKSUM_SHA256, t, -1);
				alk_json_add_int(b, "text_bytes", (gint64)strlen(t));
				alk_json_add_string(b, "text_sha256", sum);
			} else {
				json_builder_set_member_name(b, l->data);
				json_builder_add_value(b, json_node_copy(v));
			}
		}
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
}

/* Strings over 256 bytes kept as their start, length and SHA-256;
 * env's values left out (secrets); content and stdin as length and
 * digest only; typed text in an array of actions likewise. */
JsonNode *alk_mcp_call_audit_args(AlkMcpCall *call)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	JsonObject *o = json_node_get_object(call->arguments);
	g_autoptr(GList) names = json_object_get_members(o);

	json_builder_begin_object(b);
	add_client(b, call->client_name, call->client_version, call->session);
	json_builder_set_member_name(b, "arguments");
	json_builder_begin_object(b);
	for (GList *l = names; l != NULL; l = l->next) {
		const char *key = l->data;
		JsonNode *n = json_object_get_member(o, key);
		if (g_str_equal(key, "env") && JSON_NODE_HOLDS_OBJECT(n)) {
			g_autoptr(GList) env = json_object_get_members(json_node_get_object(n));
			json_builder_set_member_name(b, key);
			json_builder_begin_array(b);
			for (GList *e = env; e != NULL; e = e->next)
				json_builder_add_string_value(b, e->data);
			json_builder_end_array(b);
		} else if (JSON_NODE_HOLDS_VALUE(n) &&
		           json_node_get_value_type(n) == G_TYPE_STRING) {
			gboolean secret =
			    g_str_has_prefix(key, "content") || g_str_equal(key, "stdin");
			const char *v = json_node_get_string(n);
			alk_api_audit_add_field(b, key, secret ? "" : v, TRUE);
			if (secret) {
				g_autofree char *bytes = g_strconcat(key, "_bytes", NULL);
				g_autofree char *sha = g_strconcat(key, "_sha256", NULL);
				g_autofree char *sum =
				    g_compute_checksum_for_string(G_CHECKSUM_SHA256, v, -1);
				alk_json_add_int(b, bytes, (gint64)strlen(v));
				alk_json_add_string(b, sha, sum);
			}
		} else if (JSON_NODE_HOLDS_ARRAY(n)) {
			json_builder_set_member_name(b, key);
			add_redacted_array(b, json_node_get_array(n));
		} else {
			json_builder_set_member_name(b, key);
			json_builder_add_value(b, json_node_copy(n));
		}
	}
	json_builder_end_object(b);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

void alk_mcp_call_audit(AlkMcpCall *call, JsonNode *result)
{
	g_autoptr(JsonNode) args = alk_mcp_call_audit_args(call);
	alk_api_audit(call->api, call->caller, call->action, call->sandbox, args, result);
}

static JsonNode *tool_result(const char *text, JsonNode *structured, gboolean is_error)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "content");
	json_builder_begin_array(b);
	json_builder_begin_object(b);
	alk_json_add_string(b, "type", "text");
	alk_json_add_string(b, "text", text);
	json_builder_end_object(b);
	json_builder_end_array(b);
	if (structured != NULL) {
		json_builder_set_member_name(b, "structuredContent");
		json_builder_add_value(b, structured);
	}
	alk_json_add_bool(b, "isError", is_error);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

/* The answer, the audit line, the end of the call. */
static void call_end(AlkMcpCall *call, JsonNode *result, JsonNode *audit)
{
	AlkApiReq *req = call->req;

	alk_mcp_call_audit(call, audit);
	if (req != NULL) {
		if (call->held)
			alk_api_req_detach(req);
		reply_rpc(req, SOUP_STATUS_OK, alk_mcp_result(call->id, result));
	} else {
		json_node_unref(result);
	}
	if (audit != NULL)
		json_node_unref(audit);
	call_free(call);
}

void alk_mcp_call_reply_content(AlkMcpCall *call, JsonArray *content, JsonNode *structured,
                                gboolean is_error, JsonNode *audit)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "content");
	json_builder_add_value(b, json_node_init_array(json_node_alloc(), content));
	json_array_unref(content);
	if (structured != NULL) {
		json_builder_set_member_name(b, "structuredContent");
		json_builder_add_value(b, structured);
	}
	alk_json_add_bool(b, "isError", is_error);
	json_builder_end_object(b);
	call_end(call, json_builder_get_root(b), audit);
}

void alk_mcp_call_reply(AlkMcpCall *call, const char *text, JsonNode *structured, JsonNode *audit)
{
	g_autofree char *json =
	    text == NULL && structured != NULL ? alk_json_to_string(structured) : NULL;
	call_end(call, tool_result(text != NULL ? text : json, structured, FALSE), audit);
}

static JsonNode *error_audit(const GError *error)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	alk_json_add_string(b, "error", error->message);
	alk_json_add_string(b, "code", alk_api_error_code(error));
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

static JsonNode *error_result(const GError *error)
{
	g_autofree char *text =
	    g_strdup_printf("%s: %s", alk_api_error_code(error), error->message);
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	alk_api_json_add_error(b, error);
	json_builder_end_object(b);
	return tool_result(text, json_builder_get_root(b), TRUE);
}

void alk_mcp_call_fail(AlkMcpCall *call, const GError *error)
{
	call_end(call, error_result(error), error_audit(error));
}

static void on_abort(AlkApiReq *req, gpointer data)
{
	AlkMcpCall *call = data;
	g_autoptr(GError) error = NULL;

	unlist(call);
	alk_api_req_detach(req);
	call->held = FALSE;
	if (call->cancel != NULL)
		call->cancel(call->cancel_data);
	if (req->aborted) {
		call->req = NULL;
		alk_api_req_release(req);
	}
	error = g_error_new(ALK_ERROR, ALK_ERROR_UNAVAILABLE,
	                    req->aborted ? "the client left" : "airlockd is stopping");
	alk_mcp_call_fail(call, error);
}

static const AlkApiReqHooks call_hooks = {.abort = on_abort};

/* A call whose answer comes later: the client may cancel it by its
 * request id (notifications/cancelled). A second call with the same id
 * is not listed. */
static void list(AlkMcpCall *call, AlkMcpSession *s)
{
	g_autofree char *key = alk_json_to_string(call->id);

	if (!call->held || g_hash_table_contains(s->calls, key))
		return;
	call->key = g_strdup(key);
	g_hash_table_insert(s->calls, g_steal_pointer(&key), call);
}

void alk_mcp_call_hold(AlkMcpCall *call, void (*cancel)(gpointer data), gpointer data)
{
	call->cancel = cancel;
	call->cancel_data = data;
	call->held = TRUE;
	alk_api_req_hold(call->req);
	alk_api_req_attach(call->req, call, NULL, &call_hooks);
	if (call->starting != NULL)
		list(call, call->starting);
	call->starting = NULL;
}

AlkApiCall *alk_mcp_call_manager(AlkMcpCall *call, const AlkApiCallClass *klass)
{
	AlkApiReq *req = call->req;

	/* the manager call answers and audits from here on */
	call->req = NULL;
	return alk_api_call_new(req, klass, call, (GDestroyNotify)call_free);
}

void alk_mcp_call_answer_sandbox(AlkApiReq *req, const AlkSandbox *sb, const GError *error,
                                 gpointer data)
{
	AlkMcpCall *call = data;
	JsonNode *result;

	if (sb != NULL) {
		g_autoptr(JsonNode) node = alk_api_json_sandbox_node(sb, NULL);
		g_autofree char *text = alk_json_to_string(node);
		result = tool_result(text, g_steal_pointer(&node), FALSE);
	} else {
		result = error_result(error);
	}
	reply_rpc(req, SOUP_STATUS_OK, alk_mcp_result(call->id, result));
}

/* ---- the methods ---- */

static gboolean read_client(JsonObject *params, const char **name, const char **version,
                            const char **revision, GError **error)
{
	JsonNode *info = json_object_get_member(params, "clientInfo");
	JsonNode *pv = json_object_get_member(params, "protocolVersion");
	JsonObject *o;

	if (pv == NULL || !JSON_NODE_HOLDS_VALUE(pv) ||
	    json_node_get_value_type(pv) != G_TYPE_STRING || info == NULL ||
	    !JSON_NODE_HOLDS_OBJECT(info)) {
		g_set_error(error, ALK_MCP_ERROR, ALK_MCP_INVALID_PARAMS,
		            "initialize: protocolVersion (a string) and clientInfo (an object) "
		            "are required");
		return FALSE;
	}
	o = json_node_get_object(info);
	*revision = json_node_get_string(pv);
	*name = alk_mcp_string(o, "name");
	*version = json_object_has_member(o, "version") ? alk_mcp_string(o, "version") : "";
	if (*name == NULL || strlen(*name) > ALK_MCP_CLIENT_MAX || *version == NULL ||
	    strlen(*version) > ALK_MCP_CLIENT_MAX) {
		g_set_error(error, ALK_MCP_ERROR, ALK_MCP_INVALID_PARAMS,
		            "clientInfo: name and version strings of at most 128 bytes");
		return FALSE;
	}
	return TRUE;
}

static void do_initialize(AlkApiReq *req, AlkMcpMsg *msg)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonBuilder) b = json_builder_new();
	JsonNode *data = NULL;
	const char *name = NULL, *version = NULL, *requested = NULL, *revision = NULL;
	AlkMcpSession *s;

	if (!read_client(msg->params, &name, &version, &requested, &error) ||
	    (revision = alk_mcp_negotiate(requested, &data, &error)) == NULL) {
		reply_rpc_error(req, SOUP_STATUS_OK, msg->id, error, data);
		return;
	}
	s = alk_mcp_sessions_add(sessions(req->api), req->caller, name, version, revision);
	soup_message_headers_replace(soup_server_message_get_response_headers(req->msg),
	                             SESSION_HEADER, s->id);
	json_builder_begin_object(b);
	alk_json_add_string(b, "protocolVersion", revision);
	json_builder_set_member_name(b, "capabilities");
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "tools");
	json_builder_begin_object(b);
	alk_json_add_bool(b, "listChanged", FALSE);
	json_builder_end_object(b);
	json_builder_end_object(b);
	json_builder_set_member_name(b, "serverInfo");
	json_builder_begin_object(b);
	alk_json_add_string(b, "name", "airlockd");
	alk_json_add_string(b, "title", "airlock sandboxes");
	alk_json_add_string(b, "version", ALK_VERSION);
	json_builder_end_object(b);
	alk_json_add_string(b, "instructions",
	                    "Each sandbox is a disposable virtual machine: create one with "
	                    "sandbox_create, run commands in it with exec, move files with "
	                    "file_write and file_read, and destroy it with sandbox_destroy when "
	                    "done. Nothing in a sandbox survives it.");
	json_builder_end_object(b);
	reply_rpc(req, SOUP_STATUS_OK, alk_mcp_result(msg->id, json_builder_get_root(b)));
}

/* A tools/call refused before its tool ran (unknown tool, arguments
 * outside its schema): audited too, as "mcp.refused". */
static void audit_refused(AlkApiReq *req, AlkMcpSession *s, const char *name, const GError *error)
{
	g_autoptr(JsonBuilder) a = json_builder_new();
	g_autoptr(JsonNode) args = NULL;
	g_autoptr(JsonNode) result = error_audit(error);

	json_builder_begin_object(a);
	add_client(a, s->client_name, s->client_version, s->id);
	alk_api_audit_add_field(a, "tool", name != NULL ? name : "", TRUE);
	json_builder_end_object(a);
	args = json_builder_get_root(a);
	alk_api_audit(req->api, req->caller, "mcp.refused", NULL, args, result);
}

/* notifications/cancelled {requestId, reason}: the call stops (its
 * command killed, its transfer dropped) and is answered with isError,
 * an answer the client ignores. Unknown or finished ids are ignored. */
static void cancel_call(AlkMcpSession *s, JsonObject *params)
{
	JsonNode *id = json_object_get_member(params, "requestId");
	g_autofree char *key = NULL;
	g_autoptr(GError) error = NULL;
	AlkMcpCall *call;

	if (id == NULL || !JSON_NODE_HOLDS_VALUE(id))
		return;
	key = alk_json_to_string(id);
	call = g_hash_table_lookup(s->calls, key);
	if (call == NULL || !call->held)
		return;
	unlist(call);
	alk_api_req_detach(call->req);
	call->held = FALSE;
	if (call->cancel != NULL)
		call->cancel(call->cancel_data);
	error = g_error_new(ALK_ERROR, ALK_ERROR_FAILED, "cancelled by the client");
	alk_mcp_call_fail(call, error);
}

static void do_tools_call(AlkApiReq *req, AlkMcpMsg *msg, AlkMcpSession *s)
{
	const char *name = alk_mcp_string(msg->params, "name");
	JsonNode *arguments = json_object_get_member(msg->params, "arguments");
	const AlkMcpTool *tool = name != NULL ? alk_mcp_tool_find(name) : NULL;
	g_autoptr(GError) error = NULL;
	gpointer args = NULL;
	AlkMcpCall *call;

	if (tool == NULL)
		error = g_error_new(ALK_MCP_ERROR, ALK_MCP_INVALID_PARAMS, "Unknown tool: %.64s",
		                    name != NULL ? name : "(no name)");
	else if (arguments != NULL && !JSON_NODE_HOLDS_OBJECT(arguments))
		error = g_error_new(ALK_MCP_ERROR, ALK_MCP_INVALID_PARAMS,
		                    "arguments: must be an object");
	if (error == NULL) {
		g_autoptr(JsonObject) empty = json_object_new();
		args = alk_mcp_tool_args(
		    tool, arguments != NULL ? json_node_get_object(arguments) : empty, &error);
	}
	if (args == NULL) {
		audit_refused(req, s, name, error);
		reply_rpc_error(req, SOUP_STATUS_OK, msg->id, error, NULL);
		return;
	}
	call = g_new0(AlkMcpCall, 1);
	call->api = req->api;
	call->req = req;
	call->id = json_node_copy(msg->id);
	call->tool = tool;
	call->args = args;
	if (arguments != NULL) {
		call->arguments = json_node_copy(arguments);
	} else {
		call->arguments = json_node_new(JSON_NODE_OBJECT);
		json_node_take_object(call->arguments, json_object_new());
	}
	call->caller = g_strdup(req->caller);
	call->client_name = g_strdup(s->client_name);
	call->client_version = g_strdup(s->client_version);
	call->session = g_strdup(s->id);
	call->action = g_strconcat("mcp.", alk_mcp_tool_name(tool), NULL);
	if (!alk_scope_allows(req->scope, alk_mcp_tool_scope(tool))) {
		g_autoptr(GError) denied = g_error_new(
		    ALK_API_ERROR, ALK_API_ERROR_FORBIDDEN, "tool %s needs scope %s; %s has %s",
		    alk_mcp_tool_name(tool), alk_scope_to_string(alk_mcp_tool_scope(tool)),
		    req->caller, alk_scope_to_string(req->scope));
		alk_mcp_call_fail(call, denied);
		return;
	}
	/* a call that holds its request is listed for cancelling (hold) */
	call->starting = s;
	alk_mcp_tool_run(tool, call, args);
	/* call may be freed by now */
}

static void dispatch(AlkApiReq *req, AlkMcpMsg *msg, AlkMcpSession *s)
{
	g_autoptr(GError) error = NULL;

	if (g_strcmp0(msg->method, "ping") == 0) {
		reply_rpc(req, SOUP_STATUS_OK,
		          alk_mcp_result(msg->id, json_node_init_object(json_node_alloc(),
		                                                        json_object_new())));
	} else if (g_strcmp0(msg->method, "tools/list") == 0) {
		reply_rpc(req, SOUP_STATUS_OK, alk_mcp_result(msg->id, alk_mcp_tools_list()));
	} else if (g_strcmp0(msg->method, "tools/call") == 0) {
		do_tools_call(req, msg, s);
	} else {
		error = g_error_new(ALK_MCP_ERROR, ALK_MCP_METHOD_NOT_FOUND,
		                    "Method not found: %.64s", msg->method);
		reply_rpc_error(req, SOUP_STATUS_OK, msg->id, error, NULL);
	}
}

/* The transport's checks before any message is read: no browser origin
 * (DNS rebinding: the transport says to validate it, and airlock serves
 * no browser), a known protocol revision header. */
static gboolean check_transport(AlkApiReq *req, GError **error)
{
	const char *version = header(req, VERSION_HEADER);

	if (header(req, "Origin") != NULL) {
		g_set_error(error, ALK_API_ERROR, ALK_API_ERROR_FORBIDDEN,
		            "requests with an Origin header are refused (no browser clients)");
		return FALSE;
	}
	if (version != NULL && !alk_mcp_version_supported(version)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "MCP-Protocol-Version: %.32s is not supported (%s, %s)", version,
		            ALK_MCP_VERSION_LATEST, ALK_MCP_VERSION_OLDER);
		return FALSE;
	}
	return TRUE;
}

/* The session a message names; an answer when it names none or one that
 * is unknown (400, 404, as the transport prescribes). */
static AlkMcpSession *find_session(AlkApiReq *req, AlkMcpMsg *msg)
{
	const char *id = header(req, SESSION_HEADER);
	AlkMcpSession *s =
	    id != NULL ? alk_mcp_sessions_find(sessions(req->api), id, req->caller) : NULL;
	g_autoptr(GError) error = NULL;

	if (s != NULL)
		return s;
	if (id == NULL)
		error = g_error_new(ALK_MCP_ERROR, ALK_MCP_INVALID_REQUEST,
		                    "Bad Request: no " SESSION_HEADER " header (initialize first)");
	else
		error = g_error_new(ALK_MCP_ERROR, ALK_MCP_INVALID_REQUEST,
		                    "Session not found: initialize again");
	reply_rpc_error(req, id == NULL ? SOUP_STATUS_BAD_REQUEST : SOUP_STATUS_NOT_FOUND, msg->id,
	                error, NULL);
	return NULL;
}

static void reply_accepted(AlkApiReq *req)
{
	alk_api_reply_text(req, SOUP_STATUS_ACCEPTED, "application/json", g_strdup(""), 0);
}

void alk_api_mcp_post(AlkApiReq *req)
{
	g_auto(AlkMcpMsg) msg = {0};
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) id = NULL;
	AlkMcpSession *s;
	const char *data = req->body != NULL ? (const char *)req->body->data : "";
	gsize len = req->body != NULL ? req->body->len : 0;

	if (!check_transport(req, &error)) {
		alk_api_reply_error(req, error);
		return;
	}
	if (!alk_mcp_parse(data, len, req->api->config->api.max_body_bytes, &msg, &id, &error)) {
		reply_rpc_error(req, SOUP_STATUS_BAD_REQUEST, id, error, NULL);
		return;
	}
	if (g_strcmp0(msg.method, "initialize") == 0 && msg.id != NULL) {
		do_initialize(req, &msg);
		return;
	}
	if ((s = find_session(req, &msg)) == NULL)
		return;
	if (msg.id == NULL || msg.method == NULL) {
		/* a notification or a response: nothing to answer */
		if (g_strcmp0(msg.method, "notifications/initialized") == 0)
			s->initialized = TRUE;
		else if (g_strcmp0(msg.method, "notifications/cancelled") == 0)
			cancel_call(s, msg.params);
		reply_accepted(req);
		return;
	}
	dispatch(req, &msg, s);
}

void alk_api_mcp_delete(AlkApiReq *req)
{
	const char *id = header(req, SESSION_HEADER);
	g_autoptr(GError) error = NULL;

	if (!check_transport(req, &error)) {
		alk_api_reply_error(req, error);
	} else if (id == NULL) {
		error = g_error_new(ALK_ERROR, ALK_ERROR_INVALID, "no " SESSION_HEADER " header");
		alk_api_reply_error(req, error);
	} else if (!alk_mcp_sessions_remove(sessions(req->api), id, req->caller)) {
		error = g_error_new(ALK_ERROR, ALK_ERROR_NOT_FOUND, "no such session");
		alk_api_reply_error(req, error);
	} else {
		alk_api_reply_text(req, SOUP_STATUS_NO_CONTENT, "application/json", g_strdup(""),
		                   0);
	}
}
