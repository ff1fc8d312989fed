/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The MCP server at /mcp (Model Context Protocol, streamable HTTP
 * transport, JSON answers only): the JSON-RPC envelope, version
 * negotiation and sessions (alk-api-mcp-rpc.c, pure), the tools
 * (alk-api-mcp-tools.c), the endpoint and a tool call's life
 * (alk-api-mcp.c). Private to daemon/api. */
#pragma once

#include "alk-api-private.h"
#include "alk-json.h"

/* The revision answered by default, and the older one still accepted. */
#define ALK_MCP_VERSION_LATEST "2025-06-18"
#define ALK_MCP_VERSION_OLDER "2025-03-26"

/* JSON-RPC 2.0's error codes. */
typedef enum {
	ALK_MCP_PARSE_ERROR = -32700,
	ALK_MCP_INVALID_REQUEST = -32600,
	ALK_MCP_METHOD_NOT_FOUND = -32601,
	ALK_MCP_INVALID_PARAMS = -32602,
	ALK_MCP_INTERNAL_ERROR = -32603,
} AlkMcpCode;

#define ALK_MCP_ERROR (alk_mcp_error_quark())
GQuark alk_mcp_error_quark(void); /* codes: AlkMcpCode */

/* Longest string id accepted (a client's; echoed in every answer). */
#define ALK_MCP_ID_MAX 256
/* Longest clientInfo name and version kept (audited with every call). */
#define ALK_MCP_CLIENT_MAX 128

/* One JSON-RPC message from the client. */
typedef struct {
	JsonNode *id;       /* string or integer; NULL: a notification */
	char *method;       /* NULL: a response to us (we send no requests) */
	JsonObject *params; /* {} when absent */
} AlkMcpMsg;

void alk_mcp_msg_clear(AlkMcpMsg *msg);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AlkMcpMsg, alk_mcp_msg_clear)

/* Parses one message within max bytes and ALK_JSON_MAX_DEPTH: an object
 * with "jsonrpc":"2.0", an id that is a string (at most ALK_MCP_ID_MAX
 * bytes) or an integer, a method string, params an object; nothing else.
 * A batch (an array) is refused: the 2025-06-18 revision has none.
 * Errors: ALK_MCP_ERROR PARSE_ERROR, INVALID_REQUEST, INVALID_PARAMS; then
 * *id is the request's id when it was readable (else NULL). */
gboolean alk_mcp_parse(const char *data, gsize len, gsize max, AlkMcpMsg *msg, JsonNode **id,
                       GError **error);

/* o's member key when it is a string, else NULL (json-glib's getters
 * complain about other types). */
const char *alk_mcp_string(JsonObject *o, const char *key);

/* {"jsonrpc":"2.0","id":id,"result":result} (takes result). */
JsonNode *alk_mcp_result(JsonNode *id, JsonNode *result);
/* {"jsonrpc":"2.0","id":id or null,"error":{code, message, data}} (takes
 * data, which may be NULL). */
JsonNode *alk_mcp_error(JsonNode *id, int code, const char *message, JsonNode *data);

/* Whether the server speaks revision version (the MCP-Protocol-Version
 * header's check). */
gboolean alk_mcp_version_supported(const char *version);
/* initialize: the revision to answer for the one the client asked for: the
 * same when supported, else the latest (the lifecycle's rule; the client
 * then decides). A protocolVersion that is not a revision (YYYY-MM-DD) is
 * INVALID_PARAMS with *data {supported, requested}. */
const char *alk_mcp_negotiate(const char *requested, JsonNode **data, GError **error);

/* Sessions: one per initialize, bound to the caller that made it. */
typedef struct {
	char id[33]; /* 32 hex characters from the system's random source */
	char *caller;
	char *client_name;
	char *client_version;
	char *version; /* negotiated revision */
	gboolean initialized;
	gint64 used_us;
	/* tools/calls under way that the client may cancel: the id's JSON
	 * text -> AlkMcpCall * (not owned; each removes itself when it ends) */
	GHashTable *calls;
} AlkMcpSession;

typedef struct _AlkMcpSessions AlkMcpSessions;
/* Sessions one caller may hold: its next one ends its longest unused. */
#define ALK_MCP_SESSIONS_PER_CALLER 32
/* At most max sessions in all: a new one beyond that ends the longest
 * unused, whoever's it is. */
AlkMcpSessions *alk_mcp_sessions_new(guint max);
void alk_mcp_sessions_free(AlkMcpSessions *s);
AlkMcpSession *alk_mcp_sessions_add(AlkMcpSessions *s, const char *caller, const char *name,
                                    const char *version, const char *revision);
/* The session id of caller's, or NULL (unknown, ended, or another's). */
AlkMcpSession *alk_mcp_sessions_find(AlkMcpSessions *s, const char *id, const char *caller);
gboolean alk_mcp_sessions_remove(AlkMcpSessions *s, const char *id, const char *caller);
guint alk_mcp_sessions_count(AlkMcpSessions *s);

/* ---- tools (alk-api-mcp-tools.c, alk-api-mcp-tasks.c) ---- */
typedef struct _AlkMcpCall AlkMcpCall;

/* What a field table cannot say: a description, and for strings the
 * values allowed. Parallel to the table. */
typedef struct {
	const char *description;
	const char *const *values;
} AlkMcpDoc;

/* One tool: a row of the table in alk-api-mcp-tools.c. */
typedef struct AlkMcpTool {
	const char *name;
	const char *title;
	const char *description;
	AlkScope scope;
	gboolean read_only;
	gboolean destructive;
	const AlkJsonField *fields;
	const AlkMcpDoc *docs;
	gsize size; /* of the arguments struct */
	/* sets what a zeroed struct cannot say (an absent number that 0
	 * would mean something for), before the arguments are read; NULL: none */
	void (*init)(gpointer args);
	/* checks beyond the table's (one of two members, say) */
	gboolean (*check)(gpointer args, GError **error);
	void (*run)(AlkMcpCall *call, gpointer args);
	/* The inputSchema of a field the table can only type-check
	 * (ALK_JSON_ARRAY, ALK_JSON_OBJECT), from the code that checks the
	 * rest when the tool runs; NULL (or NULL returned): its type alone. */
	JsonNode *(*field_schema)(const char *field);
} AlkMcpTool;

/* Every tool on a sandbox names it first. */
#define ALK_MCP_SANDBOX_FIELD(T)                                                                   \
	{                                                                                          \
		"sandbox", ALK_JSON_STRING, G_STRUCT_OFFSET(T, sandbox), TRUE, ALK_SANDBOX_ID_LEN, \
		    ALK_SANDBOX_ID_LEN, 0                                                          \
	}
#define ALK_MCP_SANDBOX_DOC                                                                        \
	{                                                                                          \
		"the sandbox's id (12 lowercase hex characters)", NULL                             \
	}
#define ALK_MCP_FIELDS_END                                                                         \
	{                                                                                          \
		NULL, 0, 0, FALSE, 0, 0, 0                                                         \
	}

extern const AlkMcpTool alk_mcp_tool_exec;
extern const AlkMcpTool alk_mcp_tool_file_read;
extern const AlkMcpTool alk_mcp_tool_file_write;
/* alk-api-mcp-computer.c */
extern const AlkMcpTool alk_mcp_tool_screenshot;
extern const AlkMcpTool alk_mcp_tool_computer;

const AlkMcpTool *alk_mcp_tool_find(const char *name);
const char *alk_mcp_tool_name(const AlkMcpTool *tool);
AlkScope alk_mcp_tool_scope(const AlkMcpTool *tool);
/* {"tools":[{name, title, description, inputSchema, annotations}…]} */
JsonNode *alk_mcp_tools_list(void);
/* A tool's inputSchema, built from the same field table that reads its
 * arguments. */
JsonNode *alk_mcp_tool_schema(const AlkMcpTool *tool);
/* Reads arguments into the tool's own struct (returned; free it with
 * alk_mcp_tool_args_free). Errors: ALK_ERROR_INVALID naming the field. */
gpointer alk_mcp_tool_args(const AlkMcpTool *tool, JsonObject *arguments, GError **error);
void alk_mcp_tool_args_free(const AlkMcpTool *tool, gpointer args);
/* Runs the tool: it ends the call with alk_mcp_call_reply or _fail, now or
 * later. */
void alk_mcp_tool_run(const AlkMcpTool *tool, AlkMcpCall *call, gpointer args);

/* ---- a tool call (alk-api-mcp.c) ---- */
AlkApi *alk_mcp_call_api(AlkMcpCall *call);
/* The request, while one waits for the answer (NULL after an abort). */
AlkApiReq *alk_mcp_call_req(AlkMcpCall *call);
/* The sandbox the call is about: its audit line and the request's. */
void alk_mcp_call_set_sandbox(AlkMcpCall *call, const char *id);
const char *alk_mcp_call_sandbox(AlkMcpCall *call);
/* The answer comes later: holds the request; cancel(data) (NULL: none)
 * stops the work when the request is aborted (the client left, the daemon
 * stops), and the call then ends without it. */
void alk_mcp_call_hold(AlkMcpCall *call, void (*cancel)(gpointer data), gpointer data);
/* Ends the call with a tool result: text content, structuredContent
 * (taken, may be NULL), and the audit line's result (taken, may be NULL). */
void alk_mcp_call_reply(AlkMcpCall *call, const char *text, JsonNode *structured, JsonNode *audit);
/* Ends the call with a tool result of these content items (taken: text,
 * image, ...), structuredContent (taken, may be NULL), isError, and the
 * audit line's result (taken, may be NULL). */
void alk_mcp_call_reply_content(AlkMcpCall *call, JsonArray *content, JsonNode *structured,
                                gboolean is_error, JsonNode *audit);
/* The caller (a uid or token name), for the audit lines of what the call
 * starts. */
const char *alk_mcp_call_caller(AlkMcpCall *call);
/* Ends the call with isError: true and error's message. */
void alk_mcp_call_fail(AlkMcpCall *call, const GError *error);
/* Hands the request over to a manager call of alk-api-call.c (klass's
 * reply answers with alk_mcp_call_answer_sandbox): the MCP call is freed
 * by that call (its data). Returns the AlkApiCall. */
AlkApiCall *alk_mcp_call_manager(AlkMcpCall *call, const AlkApiCallClass *klass);
/* For an AlkApiCallClass's reply: the tool result of a manager call. */
void alk_mcp_call_answer_sandbox(AlkApiReq *req, const AlkSandbox *sb, const GError *error,
                                 gpointer data);
/* An audit line of the call (action "mcp.TOOL"), args {client, arguments}. */
void alk_mcp_call_audit(AlkMcpCall *call, JsonNode *result);
/* The audit's args of a call handed to a manager call. */
JsonNode *alk_mcp_call_audit_args(AlkMcpCall *call);
const char *alk_mcp_call_action(AlkMcpCall *call);

extern const AlkApiResource alk_api_mcp_resource;
void alk_api_mcp_post(AlkApiReq *req);
void alk_api_mcp_delete(AlkApiReq *req);
