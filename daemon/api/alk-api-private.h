/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared between the REST server's files; not for other layers. */
#pragma once

#include <libsoup/soup.h>

#include "alk-api.h"
#include "alk-audit.h"
#include "alk-cluster.h"
#include "alk-tokens.h"

/* HTTP refusals that are not ALK_ERROR codes; the code is the status. The
 * one table in alk-api-error.c maps both domains. */
#define ALK_API_ERROR (alk_api_error_quark())
GQuark alk_api_error_quark(void);

typedef enum {
	ALK_API_ERROR_UNAUTHORIZED = 401,
	ALK_API_ERROR_FORBIDDEN = 403,
	ALK_API_ERROR_METHOD = 405,
	ALK_API_ERROR_TOO_LARGE = 413,
	ALK_API_ERROR_URI_TOO_LONG = 414,
	ALK_API_ERROR_MEDIA_TYPE = 415,
	ALK_API_ERROR_HEAD_TOO_LARGE = 431,
	ALK_API_ERROR_CLUSTER = 503, /* etcd cannot be read: the cluster-wide views fail */
} AlkApiError;

/* The longest request line and request head accepted (414, 431): an audit
 * line keeps what a request sent, so heads are bounded well below both
 * ALK_AUDIT_MAX_LINE and libsoup's own 64 KiB. */
#define ALK_API_LINE_MAX 8192
#define ALK_API_HEAD_MAX 32768

/* A streamed response holds its producer (the guest) above this many
 * unsent bytes; alk-api-req.c resumes it below STREAM_LOW_WATER. */
#define ALK_API_STREAM_HIGH_WATER (1024 * 1024)

/* Status a client gets when it left before its answer (nginx's convention;
 * only the audit log and the metrics ever see it). */
#define ALK_API_STATUS_GONE 499

/* The header a proxy puts its request id in (HAProxy's unique-id-header) */
#define ALK_API_REQUEST_ID_HEADER "X-Request-Id"

typedef struct _AlkApiConn AlkApiConn;

/* Connections are counted per pool, each with api.max_connections: TCP
 * peers, local callers, and root (whom no other local caller can crowd
 * out). */
typedef enum {
	ALK_API_POOL_TCP,
	ALK_API_POOL_UNIX,
	ALK_API_POOL_ROOT,
	ALK_API_POOLS,
} AlkApiPool;

typedef struct {
	guint open;
	guint unauth; /* of them, whose caller is not known yet */
} AlkApiCount;
typedef struct _AlkApiReq AlkApiReq;
typedef struct _AlkApiAttached AlkApiAttached;
typedef struct _AlkApiCall AlkApiCall;
typedef struct _AlkWatch AlkWatch;

/* Who may call a route: the caller (a bearer token, or the unix socket's
 * peer), nobody in particular (a static page), or whoever shows a watch
 * ticket in the query (alk-api-watch.c: browsers' WebSockets carry no
 * Authorization header). */
typedef enum {
	ALK_API_AUTH_CALLER,
	ALK_API_AUTH_NONE,
	ALK_API_AUTH_TICKET,
} AlkApiAuth;

typedef enum {
	ALK_API_BODY_NONE,   /* any body is read and dropped, within max_body_bytes */
	ALK_API_BODY_JSON,   /* application/json within max_body_bytes, kept in req->body */
	ALK_API_BODY_STREAM, /* route->start consumes it as it arrives */
} AlkApiBody;

typedef struct {
	const char *method;
	const char *pattern; /* segments; "{id}" one, "{path}" the rest */
	AlkScope scope;
	AlkApiAuth auth;
	AlkApiBody body;
	const char *query; /* allowed query keys, space separated; NULL: none */
	void (*handle)(AlkApiReq *req);
	/* BODY_STREAM: runs after the head, before any of the body */
	gboolean (*start)(AlkApiReq *req, GError **error);
	/* a WebSocket route: handle validates and leaves the status unset */
	void (*websocket)(AlkApiReq *req, SoupWebsocketConnection *ws);
} AlkApiRoute;

struct _AlkApi {
	AlkConfig *config;
	AlkManager *manager;
	AlkAudit *audit;
	AlkMetrics *metrics;
	AlkTokens *tokens;
	gid_t group; /* api.socket_group, (gid_t)-1 when it does not exist */
	SoupServer *server;
	GSocketService *service;
	GSocketService *agent_service; /* [cluster] agent_listen: the proxy's agent-check */
	AlkCluster *cluster;           /* [cluster] etcd: this node in etcd; NULL: none */
	GTlsCertificate *tls;          /* daemon.tls_cert: TCP connections are TLS; NULL: plain */
	GTlsDatabase *tls_clients;     /* daemon.tls_client_ca: mutual TLS; NULL: none */
	char *socket_path;             /* bound here: removed at the end */
	GHashTable *conns;             /* AlkApiConn *, a ref each */
	AlkApiCount pools[ALK_API_POOLS];
	GHashTable *peers;     /* AlkApiConn.peer -> AlkApiCount *, of open connections */
	AlkApiConn *accepting; /* during soup_server_accept_iostream() */
	GHashTable *reqs;      /* AlkApiReq * not yet finished */
	GHashTable *states;    /* sandbox id -> last AlkSandboxState seen (metrics) */
	GList *calls;          /* AlkApiCall *: changes the manager works on (alk-api-call.c) */
	/* the routing table: alk_api_routes(), or a test's own */
	const AlkApiRoute *routes;
	guint n_routes;
	/* unstreamed exec output kept, all execs: within api.max_buffered_output_bytes */
	guint64 buffered_output;
	struct _AlkMcpSessions *mcp; /* MCP sessions (alk-api-mcp.c), made when first used */
	GHashTable *tools;           /* sandbox id -> AlkToolState (alk-api-tools-anthropic.c) */
	AlkWatch *watch;             /* watch tickets and viewers (alk-api-watch.c), the same */
	AlkAuditThrottle *refusals;  /* audit lines of requests refused unauthenticated */
	guint refusals_timer;        /* writes their summaries */
};

/* One client connection. */
struct _AlkApiConn {
	gint refs;
	AlkApi *api;
	GSocketConnection *sockconn;
	GSocket *socket;
	GInputStream *tap; /* weak: records the request line */
	gboolean tcp;
	GTlsConnection *tls; /* over sockconn, when daemon.tls_cert is set */
	char *peer;          /* "uid:1000", "tcp:127.0.0.1" */
	AlkScope scope;      /* unix callers: by uid and group; 0: not allowed */
	AlkApiPool pool;
	gboolean counted; /* in its pool and its peer's count */
	gboolean authed;  /* the caller is known (else the head deadline holds) */
	guint cut;        /* 414 or 431: its head was cut off, answered and drained */
	gint64 accepted_us;
	guint timer;      /* reading the request took too long */
	gint64 active_us; /* when it last made progress */
	GSource *watch;   /* the peer, while a response waits */
	void (*gone)(gpointer data);
	gpointer gone_data;
	gboolean closed;
};

/* One request: object data of its SoupServerMessage. */
struct _AlkApiReq {
	AlkApi *api;
	AlkApiConn *conn; /* a ref */
	SoupServerMessage *msg;
	const AlkApiRoute *route;
	char *method;
	char *path;       /* normalised, for the audit */
	char *id;         /* {id} */
	char *file;       /* {path}: decoded, absolute */
	GPtrArray *query; /* key, value, key, value, ... */
	char *allow;      /* a 405's Allow header: the path's methods */
	char *caller;     /* "uid:0", "token:ci" */
	char
	    *request_id; /* the proxy's X-Request-Id (valid, TCP on a node of a cluster), or NULL */
	AlkScope scope;
	gboolean authed; /* the caller is known: its refusals are audited in full */
	gint64 start_us;
	guint status;            /* as answered */
	gboolean done;           /* finished, stolen or disconnected: msg is not ours to use */
	gboolean held;           /* paused, with a ref on msg */
	gboolean awaiting_audit; /* answered; the answer waits for its audit lines' sync */
	gboolean aborted;
	GByteArray *body;
	guint64 body_len;
	/* alk-api-req.c's: what the resource attached (alk_api_req_attach) */
	AlkApiAttached *attached;
	/* streamed responses */
	gboolean streaming;
	guint64 unsent;
	guint stall;
};

/* ---- alk-api.c ---- */
/* A table's values, as GLib 2.76's g_hash_table_get_values_as_ptr_array(). */
GPtrArray *alk_api_values(GHashTable *table);

/* ---- alk-api-error.c ---- */
guint alk_api_error_status(const GError *error);
const char *alk_api_error_code(const GError *error);
/* {"error":{"code":...,"message":...}} */
char *alk_api_error_json(const GError *error);

/* ---- alk-api-route.c ---- */
const AlkApiRoute *alk_api_routes(guint *n);
/* Finds the route of method + normalised path and fills req->route, id
 * and file. file comes from the raw request target, which must have no
 * "." or ".." segment (GUri folds them away). Errors: NOT_FOUND, METHOD
 * (then req->allow lists the path's methods). */
gboolean alk_api_route(AlkApiReq *req, const char *raw_target, GError **error);
/* Parses an encoded query string into req->query, checking the keys
 * against the route's. */
gboolean alk_api_parse_query(AlkApiReq *req, const char *query, GError **error);
/* The last value of key, or NULL. */
const char *alk_api_query(AlkApiReq *req, const char *key);

/* ---- alk-api-auth.c ---- */
/* Who the unix peer is and what it may do (SO_PEERCRED). */
void alk_api_auth_unix(AlkApi *api, AlkApiConn *conn);
/* Sets req->caller and req->scope: the unix peer, or the TCP bearer token.
 * Errors: UNAUTHORIZED (TCP), FORBIDDEN (unix). */
gboolean alk_api_auth(AlkApiReq *req, GError **error);
/* Whether req->scope allows req->route. Errors: FORBIDDEN. */
gboolean alk_api_auth_scope(AlkApiReq *req, GError **error);

/* ---- alk-api-conn.c ---- */
void alk_api_conn_accept(AlkApi *api, GSocketConnection *sockconn, gboolean tcp);
/* Whether one more connection fits: NULL if it does, else the name of the
 * limit it is over. pool and peer: the counts without it. */
const char *alk_api_conn_admit(const AlkApiConfig *c, AlkApiPool pool, const AlkApiCount *in_pool,
                               const AlkApiCount *of_peer, gboolean authed);
/* The caller proved who it is (a valid token): the connection leaves the
 * unauthenticated share and its head deadline. */
void alk_api_conn_authenticated(AlkApiConn *conn);
AlkApiConn *alk_api_conn_ref(AlkApiConn *conn);
void alk_api_conn_unref(AlkApiConn *conn);
/* The first line of the request as received, or NULL. */
const char *alk_api_conn_request_line(AlkApiConn *conn);
/* Starts the request-reading timeout, or notes progress: the request must
 * make some within api.request_timeout_s, and while its caller is not known
 * its whole head must be in within api.head_timeout_s of the accept. */
void alk_api_conn_arm(AlkApiConn *conn);
void alk_api_conn_disarm(AlkApiConn *conn);
/* Calls gone(data) once when the peer hangs up. */
void alk_api_conn_watch(AlkApiConn *conn, void (*gone)(gpointer), gpointer data);
void alk_api_conn_unwatch(AlkApiConn *conn);
/* Shuts the socket down, so libsoup notices and ends the connection. */
void alk_api_conn_drop(AlkApiConn *conn);
/* "HTTP/1.1 status ..." with the JSON body, Connection: close, and for a
 * 401 WWW-Authenticate, for a 405 Allow (when not NULL). */
GBytes *alk_api_raw_response(guint status, const char *json, const char *allow);
/* Writes response on a stolen connection, then closes it (reading and
 * dropping what the client still sends, for a while, so it sees the
 * answer rather than a reset). */
void alk_api_conn_linger(AlkApiConn *conn, GIOStream *stream, GBytes *response);
void alk_api_conn_close_all(AlkApi *api);

/* ---- alk-api-tap.c ---- */
/* An input stream that passes base through and keeps its first line. */
GInputStream *alk_api_tap_new(GInputStream *base, void (*closed)(gpointer), gpointer data);
/* Cuts the stream (libsoup reads an end of stream) once its first line is
 * over line_max bytes (without CRLF) or its head over head_max, calling
 * cut(data, 414 or 431) once. */
void alk_api_tap_limit(GInputStream *tap, gsize line_max, gsize head_max,
                       void (*cut)(gpointer data, guint status));
/* The request line (what came of it, when cut), or NULL. */
const char *alk_api_tap_line(GInputStream *tap);
/* Its close is no longer reported. */
void alk_api_tap_forget(GInputStream *tap);

/* ---- alk-api-req.c ---- */
void alk_api_req_setup(AlkApi *api);
/* The request line (as received) and the head (as parsed, counted as sent
 * without folding) within ALK_API_LINE_MAX and ALK_API_HEAD_MAX. Errors:
 * URI_TOO_LONG, HEAD_TOO_LARGE. */
gboolean alk_api_req_check_size(const char *line, SoupMessageHeaders *h, GError **error);
/* What a request head must be before anything else reads it: at most one
 * Authorization header, and Content-Length (if any) one decimal number,
 * however often repeated. Errors: INVALID. */
gboolean alk_api_req_check_head(SoupMessageHeaders *h, GError **error);
/* A WebSocket session (whose connection libsoup no longer has) ended. */
void alk_api_req_end_session(AlkApiReq *req);
void alk_api_req_abort_all(AlkApi *api);
/* Answers: set the status and body, and if held, let it go out. */
void alk_api_reply_json(AlkApiReq *req, guint status, JsonNode *node);
void alk_api_reply_builder(AlkApiReq *req, guint status, JsonBuilder *b);
void alk_api_reply_error(AlkApiReq *req, const GError *error);
/* The same error body (its code from the error) under another status. */
void alk_api_reply_error_status(AlkApiReq *req, guint status, const GError *error);
void alk_api_reply_text(AlkApiReq *req, guint status, const char *content_type, char *text,
                        gsize len);
/* Answers error on a connection whose request body is still coming: the
 * connection is stolen from libsoup, answered and closed. */
void alk_api_req_refuse(AlkApiReq *req, const GError *error);
/* Pauses the response (the answer comes later) and watches the client. */
void alk_api_req_hold(AlkApiReq *req);
/* Ends a hold: lets the response go. req may be freed by it. */
void alk_api_req_release(AlkApiReq *req);
/* Streamed responses: length -1 is chunked. */
void alk_api_req_stream_begin(AlkApiReq *req, guint status, const char *content_type,
                              gint64 length);
void alk_api_req_stream_write(AlkApiReq *req, const void *data, gsize len);
/* Completes the body and releases the hold. */
void alk_api_req_stream_end(AlkApiReq *req);

/* What a resource that answers later is told, with the data it attached.
 * Both are armed from the attach until the answer is given (a reply, the
 * end of a stream or of a WebSocket session), the abort runs or the data
 * is detached; then neither runs again. */
typedef struct {
	/* The request cannot be answered any more (req->aborted: the client
	 * left, its connection broke or it stopped reading) or the daemon
	 * stops (then answer it, or end its stream) while the resource still
	 * works on it. At most once. */
	void (*abort)(AlkApiReq *req, gpointer data);
	/* A streamed response's unsent bytes fell below the low water mark:
	 * the producer held above ALK_API_STREAM_HIGH_WATER may go on. */
	void (*drained)(AlkApiReq *req, gpointer data);
} AlkApiReqHooks;
/* The one way a resource hangs its state on a request: data_free (NULL:
 * the resource frees data itself) runs exactly once, when the request is
 * freed, however it ended; hooks (NULL: none) as above. Once per request:
 * attaching again before alk_api_req_detach() is a programming error,
 * refused. */
void alk_api_req_attach(AlkApiReq *req, gpointer data, GDestroyNotify data_free,
                        const AlkApiReqHooks *hooks);
/* The data attached, or NULL. */
gpointer alk_api_req_data(AlkApiReq *req);
/* The resource takes its data back: data_free will not run, no hook runs
 * any more, and req may be attached again. Returns the data (or NULL). */
gpointer alk_api_req_detach(AlkApiReq *req);
/* Parses req->body as a JSON object (empty: {}), within the size and
 * depth limits. */
JsonObject *alk_api_req_json(AlkApiReq *req, GError **error);
void alk_api_audit(AlkApi *api, const char *caller, const char *action, const char *sandbox,
                   JsonNode *args, JsonNode *result);
/* Writes the summary lines of the refusals not audited one by one (all of
 * them with all: when the API ends). */
void alk_api_audit_flush_refusals(AlkApi *api, gboolean all);
/* Adds key: value; capped and longer than 256 bytes: its first 256 bytes,
 * key_bytes (its length) and key_sha256 (of all of it) instead. */
void alk_api_audit_add_field(JsonBuilder *b, const char *key, const char *value, gboolean capped);
/* A sandbox object snapshot or the error; checks req->id. */
const AlkSandbox *alk_api_req_sandbox(AlkApiReq *req, GError **error);

/* ---- alk-api-json.c ---- */
char *alk_api_json_time(gint64 unix_s);
void alk_api_json_sandbox(JsonBuilder *b, const AlkSandbox *sb, const char *state);
/* "network": {mode, allow, address, counters} (counters null in mode none). */
void alk_api_json_add_network(JsonBuilder *b, const AlkSandbox *sb);
JsonNode *alk_api_json_sandbox_node(const AlkSandbox *sb, const char *state);
/* Adds key (valid UTF-8) or key_b64 (anything else). */
void alk_api_json_add_output(JsonBuilder *b, const char *key, const guint8 *data, gsize len);

/* ---- alk-api-exec-result.c ---- */
/* Whether output is answered as a JSON string (valid UTF-8, no NUL) rather
 * than base64. */
gboolean alk_api_output_is_text(const guint8 *data, gsize len);
/* Answers an unstreamed exec: 200 and its result, written as the client
 * takes it straight from out (whose bytes, counted in the API's
 * buffered_output, the answer takes over and gives back as they go out). */
void alk_api_exec_result_send(AlkApiReq *req, const AlkTaskResult *result, gboolean truncated,
                              GByteArray *out[2]);
/* exit_code, signal, timed_out; full: truncated and duration_ms too. */
void alk_api_json_add_exit(JsonBuilder *b, const AlkTaskResult *result, gboolean full);
/* "error": {code, message}, as every error answer carries it. */
void alk_api_json_add_error(JsonBuilder *b, const GError *error);

/* ---- resources ----
 * A resource's endpoints are rows in the routing table (alk-api-route.c);
 * its state on a request is attached (alk_api_req_attach); what it must do
 * when the API itself ends is a hook in its row of alk-api.c's resources[],
 * which alk-api.c iterates, never calling a resource by name. A row has
 * only hooks some resource uses. */
typedef struct {
	const char *name;
	/* alk_api_free(): work still in the manager's hands must complete
	 * without touching the API. */
	void (*api_free)(AlkApi *api);
	/* a sandbox ended (destroyed or failed): what the resource keeps for it
	 * goes */
	void (*sandbox_ended)(AlkApi *api, const AlkSandbox *sb);
} AlkApiResource;
extern const AlkApiResource alk_api_call_resource;

/* ---- calls (alk-api-call.c): a change the manager makes asynchronously
 * for a request, answered with the sandbox or the error ---- */
typedef struct {
	/* the manager's finish function of the change */
	gboolean (*finish)(AlkManager *m, GAsyncResult *res, GError **error);
	/* its audit line: sb the sandbox after it, or error why not */
	void (*audit)(AlkApiCall *call, const AlkSandbox *sb, const GError *error);
	/* the answer (sb the sandbox after it, or error why not, "airlockd is
	 * stopping" included), data the call's; NULL: the sandbox as JSON or
	 * the error, as REST answers */
	void (*reply)(AlkApiReq *req, const AlkSandbox *sb, const GError *error, gpointer data);
} AlkApiCallClass;
/* Holds req and attaches the call to it; pass alk_api_call_done and the
 * call to the manager's async function. data (freed with data_free when
 * the call ends) is the resource's. */
AlkApiCall *alk_api_call_new(AlkApiReq *req, const AlkApiCallClass *klass, gpointer data,
                             GDestroyNotify data_free);
void alk_api_call_done(GObject *source, GAsyncResult *res, gpointer call);
const char *alk_api_call_id(const AlkApiCall *call);
gpointer alk_api_call_data(const AlkApiCall *call);
gint64 alk_api_call_elapsed_ms(const AlkApiCall *call);
/* An audit line of the call's caller about its sandbox. */
void alk_api_call_audit(AlkApiCall *call, const char *action, JsonNode *args, JsonNode *result);

void alk_api_health_get(AlkApiReq *req);
void alk_api_images_get(AlkApiReq *req);
void alk_api_volumes_list(AlkApiReq *req);
void alk_api_volumes_get(AlkApiReq *req);
void alk_api_volumes_create(AlkApiReq *req);
void alk_api_volumes_delete(AlkApiReq *req);
void alk_api_profiles_get(AlkApiReq *req);
void alk_api_sandboxes_list(AlkApiReq *req);
/* ---- alk-api-cluster.c ---- */
/* GET /v1/sandboxes of a clustered node (without ?scope=node): from etcd */
void alk_api_cluster_list(AlkApiReq *req);
void alk_api_cluster_get(AlkApiReq *req);
/* Whether sb matches the request's label filters (alk-api-sandboxes.c) */
gboolean alk_api_labels_match(AlkApiReq *req, JsonObject *labels);
void alk_api_sandboxes_create(AlkApiReq *req);
/* What a create does for every front end: the body {image, profile, …}
 * read (alk_request_from_json), the manager's create, the metric. */
const AlkSandbox *alk_api_sandboxes_make(AlkApi *api, JsonObject *body, GError **error);
void alk_api_sandboxes_get(AlkApiReq *req);
void alk_api_sandboxes_delete(AlkApiReq *req);
void alk_api_exec_post(AlkApiReq *req);
/* Shared by the JSON and WebSocket execs: the AlkMsgExec of argv, env, cwd. */
typedef struct {
	char **argv;
	GHashTable *env;
	char *cwd;
	char *stdin_b64;
	guint64 timeout_s;
	char *user;            /* NULL: the image's default user */
	char *capabilities;    /* NULL, "all" or "none" (a root exec) */
	gboolean no_new_privs; /* as asked, when no_new_privs_given */
	gboolean no_new_privs_given;
	/* built by alk_api_exec_message() */
	GPtrArray *env_strings;
} AlkApiExecBody;
void alk_api_exec_body_clear(AlkApiExecBody *body);
gboolean alk_api_exec_message(AlkApiExecBody *body, AlkMsgExec *msg, GError **error);
JsonNode *alk_api_exec_audit_args(const AlkApiExecBody *body);
/* What an exec put out, for its audit line: bytes and SHA-256 per stream. */
typedef struct {
	guint64 bytes[2];
	GChecksum *sum[2];
	gint64 start_us;
} AlkApiExecTally;
void alk_api_exec_tally_init(AlkApiExecTally *t);
void alk_api_exec_tally_clear(AlkApiExecTally *t);
/* Counts output of stream (ALK_MSG_STDOUT or _STDERR); returns 0 or 1. */
guint alk_api_exec_tally_add(AlkApiExecTally *t, int stream, const guint8 *d, gsize len);
/* The one sandbox.exec audit line (and duration metric) of both kinds of
 * exec: the result, or the error that ended it. */
void alk_api_exec_audit(AlkApiReq *req, const AlkApiExecBody *body, const AlkApiExecTally *t,
                        const AlkTaskResult *result, const GError *error);
/* That line's result: the exit (or error), bytes and SHA-256 per stream. */
JsonNode *alk_api_exec_audit_result(const AlkApiExecTally *t, const AlkTaskResult *result,
                                    const GError *error);
/* The exec duration metric of an exec that ended. */
void alk_api_exec_observe(AlkApi *api, const AlkApiExecTally *t);
/* Appends what of d fits the daemon's budget for kept output
 * (api.max_buffered_output_bytes, all answers) to out, counting it;
 * FALSE when some was cut. */
gboolean alk_api_output_keep(AlkApi *api, GByteArray *out, const guint8 *d, gsize len);
/* Empties out, giving its bytes back to the budget. */
void alk_api_output_drop(AlkApi *api, GByteArray *out);
/* Writes what the task takes of *data from *off on; once all of it is in,
 * closes the task's input and frees *data. Call again on writable. */
void alk_api_task_feed(AlkTask *task, GBytes **data, gsize *off);
/* Standard base64 with its padding, nothing else. */
gboolean alk_api_base64_valid(const char *s);
void alk_api_exec_ws_check(AlkApiReq *req);
void alk_api_exec_ws_open(AlkApiReq *req, SoupWebsocketConnection *ws);
gboolean alk_api_files_put_start(AlkApiReq *req, GError **error);
void alk_api_files_put(AlkApiReq *req);
void alk_api_files_get(AlkApiReq *req);
void alk_api_ttl_post(AlkApiReq *req);
void alk_api_pause_post(AlkApiReq *req);
void alk_api_resume_post(AlkApiReq *req);
void alk_api_network_put(AlkApiReq *req);
void alk_api_console_get(AlkApiReq *req);
void alk_api_metrics_get(AlkApiReq *req);
/* alk-api-screen.c: GET .../screen, and what /computer shares of it */
void alk_api_screen_get(AlkApiReq *req);
void alk_api_screen_reply(AlkApiReq *req, const AlkScreenshot *shot);
gboolean alk_api_screen_side(const char *text, const char *what, guint *out, GError **error);
/* alk-api-computer.c: POST .../computer (its runner: alk-api-computer.h) */
void alk_api_computer_post(AlkApiReq *req);
/* alk-api-tools-anthropic.c: POST .../tools/anthropic, GET …/definitions */
void alk_api_tools_anthropic_post(AlkApiReq *req);
void alk_api_tools_anthropic_definitions(AlkApiReq *req);
/* alk-api-tools-openai.c: POST .../tools/openai */
void alk_api_tools_openai_post(AlkApiReq *req);
/* alk-api-watch.c: POST and GET .../watch, the tickets; alk-api-watch-ws.c:
 * GET .../screen/ws */
extern const AlkApiResource alk_api_watch_resource;
void alk_api_watch_post(AlkApiReq *req);
void alk_api_watch_page(AlkApiReq *req);
/* A route whose auth is not ALK_API_AUTH_CALLER: the ticket in query (the
 * raw query string), spent; sets caller and scope. Errors: UNAUTHORIZED. */
gboolean alk_api_watch_auth(AlkApiReq *req, const char *query, GError **error);
void alk_api_watch_ws_check(AlkApiReq *req);
void alk_api_watch_ws_open(AlkApiReq *req, SoupWebsocketConnection *ws);
/* The per-sandbox network counters (ALK_METRIC_NET_PACKETS,
 * ALK_METRIC_DNS_QUERIES) of the live networked sandboxes among these. */
void alk_api_metrics_sandboxes(GString *out, GPtrArray *sandboxes);
