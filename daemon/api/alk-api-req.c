/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A request from its first byte to its audit line: attached to the
 * SoupServerMessage when libsoup starts it, routed, authenticated and
 * size-checked as soon as its head is in (the early handler), body counted
 * chunk by chunk (never accumulated by libsoup), handed to its resource,
 * answered, held or streamed, and audited once it ends however it ends. */
#include <string.h>

#include "alk-api-private.h"
#include "alk-error.h"
#include "alk-json.h"

/* A streamed response resumes its producer below this many unsent bytes. */
#define STREAM_LOW_WATER (256 * 1024)

#define REQ_KEY "alk-api-req"

/* A resource's state on its request. */
struct _AlkApiAttached {
	gpointer data;
	GDestroyNotify data_free;
	const AlkApiReqHooks *hooks; /* NULL once disarmed */
};

static AlkApiReq *req_of(SoupServerMessage *msg)
{
	return g_object_get_data(G_OBJECT(msg), REQ_KEY);
}

/* ---- what a resource attached ---- */

void alk_api_req_attach(AlkApiReq *req, gpointer data, GDestroyNotify data_free,
                        const AlkApiReqHooks *hooks)
{
	g_return_if_fail(req->attached == NULL);
	req->attached = g_new0(AlkApiAttached, 1);
	req->attached->data = data;
	req->attached->data_free = data_free;
	req->attached->hooks = hooks;
}

gpointer alk_api_req_data(AlkApiReq *req)
{
	return req->attached != NULL ? req->attached->data : NULL;
}

gpointer alk_api_req_detach(AlkApiReq *req)
{
	gpointer data = alk_api_req_data(req);

	g_clear_pointer(&req->attached, g_free);
	return data;
}

static const AlkApiReqHooks *armed(AlkApiReq *req)
{
	return req->attached != NULL ? req->attached->hooks : NULL;
}

/* The request is answered: no hook runs any more. */
static void disarm(AlkApiReq *req)
{
	if (req->attached != NULL)
		req->attached->hooks = NULL;
}

/* Runs the abort hook if it is armed, disarming both hooks first (it may
 * detach, answer, even free what it attached): whether it ran. */
static gboolean run_abort(AlkApiReq *req)
{
	const AlkApiReqHooks *hooks = armed(req);

	if (hooks == NULL || hooks->abort == NULL)
		return FALSE;
	disarm(req);
	hooks->abort(req, req->attached->data);
	return TRUE;
}

static void req_free(gpointer data)
{
	AlkApiReq *req = data;

	if (req->attached != NULL && req->attached->data_free != NULL)
		req->attached->data_free(req->attached->data);
	g_clear_pointer(&req->attached, g_free);
	g_clear_handle_id(&req->stall, g_source_remove);
	/* ended requests left the table already; the API may be gone since */
	if (!req->done)
		g_hash_table_remove(req->api->reqs, req);
	alk_api_conn_unref(req->conn);
	g_free(req->method);
	g_free(req->path);
	g_free(req->request_id);
	g_free(req->id);
	g_free(req->file);
	g_free(req->allow);
	g_free(req->caller);
	g_clear_pointer(&req->query, g_ptr_array_unref);
	g_clear_pointer(&req->body, g_byte_array_unref);
	g_free(req);
}

/* ---- audit and metrics ---- */

void alk_api_audit(AlkApi *api, const char *caller, const char *action, const char *sandbox,
                   JsonNode *args, JsonNode *result)
{
	g_autoptr(GError) error = NULL;

	if (api->audit != NULL &&
	    !alk_audit_append(api->audit, caller, action, sandbox, args, result, &error))
		g_warning("audit log: %s", error->message);
	/* under systemd, stderr is the journal */
	if (g_getenv("JOURNAL_STREAM") != NULL) {
		g_autofree char *a = args != NULL ? alk_json_to_string(args) : g_strdup("{}");
		g_autofree char *r = result != NULL ? alk_json_to_string(result) : g_strdup("{}");
		g_message("audit: %s %s %s %s %s", caller, action, sandbox != NULL ? sandbox : "-",
		          a, r);
	}
}

/* Requests refused before their caller is known: audited one by one up to
 * REFUSALS_BURST per peer in REFUSALS_WINDOW_S, then counted, and the count
 * audited once the window is over ("api.suppressed"). */
#define REFUSALS_BURST 10
#define REFUSALS_WINDOW_S 10
#define REFUSALS_PEERS 1024

void alk_api_audit_flush_refusals(AlkApi *api, gboolean all)
{
	g_autoptr(GPtrArray) ended = NULL;

	if (api->refusals == NULL)
		return;
	ended = alk_audit_throttle_expire(api->refusals, all ? G_MAXINT64 : g_get_monotonic_time());
	for (guint i = 0; i < ended->len; i++) {
		const AlkAuditSuppressed *s = g_ptr_array_index(ended, i);
		g_autoptr(JsonBuilder) b = json_builder_new();
		g_autoptr(JsonNode) args = NULL;

		json_builder_begin_object(b);
		alk_json_add_int(b, "requests", (gint64)s->suppressed);
		alk_json_add_int(b, "window_s", REFUSALS_WINDOW_S);
		alk_json_add_string(b, "why",
		                    "refused before authentication, not audited one by one");
		json_builder_end_object(b);
		args = json_builder_get_root(b);
		alk_api_audit(api, s->key, "api.suppressed", NULL, args, NULL);
	}
}

static gboolean on_refusals_timer(gpointer data)
{
	AlkApi *api = data;

	alk_api_audit_flush_refusals(api, FALSE);
	if (alk_audit_throttle_pending(api->refusals) > 0)
		return G_SOURCE_CONTINUE;
	api->refusals_timer = 0;
	return G_SOURCE_REMOVE;
}

/* Whether this request's line is written; the others are counted. */
static gboolean audit_admits(AlkApiReq *req, gboolean refused)
{
	AlkApi *api = req->api;

	/* a unix caller is known from the start: the kernel said who */
	if (req->authed || !refused || (!req->conn->tcp && req->conn->scope != 0))
		return TRUE;
	if (api->refusals == NULL)
		api->refusals =
		    alk_audit_throttle_new(REFUSALS_BURST, REFUSALS_WINDOW_S, REFUSALS_PEERS);
	if (alk_audit_throttle_admit(api->refusals, req->conn->peer, g_get_monotonic_time()))
		return TRUE;
	if (api->refusals_timer == 0)
		api->refusals_timer =
		    g_timeout_add_seconds(REFUSALS_WINDOW_S / 2, on_refusals_timer, api);
	return FALSE;
}

/* What a refused request's method and path keep of the sender's bytes:
 * enough to recognise them, never enough to fill a disk. */
#define AUDIT_FIELD_MAX 256

void alk_api_audit_add_field(JsonBuilder *b, const char *key, const char *value, gboolean capped)
{
	gsize len = strlen(value);
	g_autofree char *cut = NULL;
	g_autofree char *bytes = NULL;
	g_autofree char *sha = NULL;
	g_autofree char *digest = NULL;

	if (!capped || len <= AUDIT_FIELD_MAX) {
		alk_json_add_string(b, key, value);
		return;
	}
	/* a cut UTF-8 sequence is repaired by the builder */
	cut = g_strndup(value, AUDIT_FIELD_MAX);
	bytes = g_strconcat(key, "_bytes", NULL);
	sha = g_strconcat(key, "_sha256", NULL);
	digest = g_compute_checksum_for_string(G_CHECKSUM_SHA256, value, (gssize)len);
	alk_json_add_string(b, key, cut);
	alk_json_add_int(b, bytes, (gint64)len);
	alk_json_add_string(b, sha, digest);
}

/* The proxy's request id, on a node of a cluster and over TCP only (the
 * unix socket is local: no proxy there). One header of the charset and
 * length alk_audit_request_id_valid() allows, else none: garbage is
 * dropped, never written to the log. */
static void take_request_id(AlkApiReq *req, SoupMessageHeaders *h)
{
	const char *id;

	if (!req->conn->tcp || req->api->config->cluster.node[0] == '\0')
		return;
	id = soup_message_headers_get_list(h, ALK_API_REQUEST_ID_HEADER);
	if (id != NULL && alk_audit_request_id_valid(id))
		req->request_id = g_strdup(id);
	else if (id != NULL)
		g_debug("%s: a %s that is not one: dropped", req->conn->peer,
		        ALK_API_REQUEST_ID_HEADER);
}

static void audit_request(AlkApiReq *req)
{
	g_autoptr(JsonBuilder) a = json_builder_new();
	g_autoptr(JsonBuilder) r = json_builder_new();
	g_autoptr(JsonNode) args = NULL;
	g_autoptr(JsonNode) result = NULL;
	g_autofree char *code = g_strdup_printf("%u", req->status);
	const char *caller = req->caller != NULL ? req->caller : req->conn->peer;
	gboolean refused = req->status >= 400 && req->status != ALK_API_STATUS_GONE;
	gboolean admitted;

	json_builder_begin_object(a);
	alk_api_audit_add_field(a, "method", req->method != NULL ? req->method : "-", refused);
	alk_api_audit_add_field(a, "path", req->path != NULL ? req->path : "-", refused);
	json_builder_end_object(a);
	json_builder_begin_object(r);
	alk_json_add_int(r, "status", req->status);
	alk_json_add_int(r, "duration_ms", (g_get_monotonic_time() - req->start_us) / 1000);
	json_builder_end_object(r);
	args = json_builder_get_root(a);
	result = json_builder_get_root(r);
	/* asked once: a refusal it does not admit is counted (api.suppressed) */
	admitted = audit_admits(req, refused);
	if (admitted && req->api->audit != NULL) {
		g_autoptr(GError) error = NULL;
		if (!alk_audit_append_request(req->api->audit, caller, "api.request",
		                              alk_sandbox_id_valid(req->id) ? req->id : NULL,
		                              req->request_id, args, result, &error))
			g_warning("audit log: %s", error->message);
	} else if (admitted) {
		alk_api_audit(req->api, caller, "api.request",
		              alk_sandbox_id_valid(req->id) ? req->id : NULL, args, result);
	}
	if (req->api->metrics != NULL)
		alk_metrics_add(req->api->metrics, ALK_METRIC_HTTP_REQUESTS,
		                (const char *const[]){"code", code, NULL}, 1, NULL);
}

/* The request is over for libsoup: audit it and stop whatever still works
 * on it. */
static void req_end(AlkApiReq *req, guint status)
{
	if (req->done)
		return;
	req->done = TRUE;
	/* its head cut off (alk-api-conn.c answered it): what came of the line */
	if (req->method == NULL && req->conn->cut != 0) {
		req->status = req->conn->cut;
		req->method = g_strdup("-");
		req->path = g_strdup(alk_api_conn_request_line(req->conn) ?: "-");
	}
	if (req->status == 0)
		req->status = status;
	alk_api_conn_unwatch(req->conn);
	g_clear_handle_id(&req->stall, g_source_remove);
	if (req->method != NULL)
		audit_request(req);
	g_hash_table_remove(req->api->reqs, req);
	run_abort(req);
}

/* The client left (or stopped reading) while its answer was pending. */
static void req_gone(gpointer data)
{
	AlkApiReq *req = data;

	req->aborted = TRUE;
	req->status = ALK_API_STATUS_GONE;
	/* libsoup then fails its next write at once */
	alk_api_conn_drop(req->conn);
	run_abort(req);
}

void alk_api_req_abort_all(AlkApi *api)
{
	g_autoptr(GPtrArray) reqs = alk_api_values(api->reqs);
	g_autoptr(GError) error =
	    g_error_new(ALK_ERROR, ALK_ERROR_UNAVAILABLE, "airlockd is stopping");

	for (guint i = 0; i < reqs->len; i++) {
		AlkApiReq *req = g_ptr_array_index(reqs, i);
		if (!run_abort(req) && req->held && !req->streaming && !req->awaiting_audit)
			alk_api_reply_error(req, error);
	}
}

/* ---- answers ---- */

/* libsoup 3.2 has no phrase for 431 */
static const char *phrase(guint status)
{
	return status == 431 ? "Request Header Fields Too Large" : soup_status_get_phrase(status);
}

/* ---- answers that wait for the audit log ----
 *
 * The answer to a request that may change something (any method but GET
 * and HEAD: create, exec, delete, files, TTL, network) goes out once every
 * audit line written so far, its own among them, is on disk (alk-audit.h:
 * group commit). Reads never wait. A failed sync is logged and the answer
 * goes out all the same: what it answers has happened. */

typedef struct {
	AlkApiReq *req;
	guint status;
	char *content_type;
	char *body;
	gsize len;
	gboolean stream_end; /* the end of a streamed answer, not a body */
} Durable;

static void set_response_now(AlkApiReq *req, guint status, const char *content_type, char *body,
                             gsize len);
static void stream_end_now(AlkApiReq *req);

static void on_durable(const GError *error, gpointer data)
{
	Durable *d = data;

	if (error != NULL)
		g_warning("%s (answering %s %s all the same)", error->message, d->req->method,
		          d->req->path);
	d->req->awaiting_audit = FALSE;
	if (d->stream_end)
		stream_end_now(d->req);
	else
		set_response_now(d->req, d->status, d->content_type, d->body, d->len);
	g_free(d->content_type);
	g_free(d);
}

/* TRUE: the answer waits (held) for the sync of the audit lines so far. */
static gboolean wait_for_audit(AlkApiReq *req, guint status, const char *content_type, char *body,
                               gsize len)
{
	AlkAudit *audit = req->api->audit;
	guint64 seq = audit != NULL ? alk_audit_get_seq(audit) : 0;
	Durable *d;

	if (audit == NULL || req->done || req->method == NULL || strcmp(req->method, "GET") == 0 ||
	    strcmp(req->method, "HEAD") == 0 || alk_audit_is_durable(audit, seq))
		return FALSE;
	d = g_new0(Durable, 1);
	d->req = req;
	d->status = status;
	d->content_type = g_strdup(content_type);
	d->body = body;
	d->len = len;
	d->stream_end = content_type == NULL;
	disarm(req);
	req->awaiting_audit = TRUE;
	if (!req->held)
		alk_api_req_hold(req);
	alk_audit_when_durable(audit, seq, on_durable, d);
	return TRUE;
}

static void set_response(AlkApiReq *req, guint status, const char *content_type, char *body,
                         gsize len)
{
	/* its answer is decided already, only waiting for the audit's sync */
	if (req->awaiting_audit) {
		g_free(body);
		return;
	}
	if (!wait_for_audit(req, status, content_type, body, len))
		set_response_now(req, status, content_type, body, len);
}

static void set_response_now(AlkApiReq *req, guint status, const char *content_type, char *body,
                             gsize len)
{
	disarm(req);
	if (!req->aborted)
		req->status = status;
	if (req->done) {
		g_free(body);
	} else {
		soup_server_message_set_status(req->msg, status, phrase(status));
		soup_server_message_set_response(req->msg, content_type, SOUP_MEMORY_TAKE, body,
		                                 len);
	}
	alk_api_req_release(req);
}

void alk_api_reply_text(AlkApiReq *req, guint status, const char *content_type, char *text,
                        gsize len)
{
	set_response(req, status, content_type, text, len);
}

void alk_api_reply_json(AlkApiReq *req, guint status, JsonNode *node)
{
	char *text = alk_json_to_string(node);
	set_response(req, status, "application/json", text, strlen(text));
}

void alk_api_reply_builder(AlkApiReq *req, guint status, JsonBuilder *b)
{
	g_autoptr(JsonNode) root = json_builder_get_root(b);
	alk_api_reply_json(req, status, root);
}

void alk_api_reply_error(AlkApiReq *req, const GError *error)
{
	alk_api_reply_error_status(req, alk_api_error_status(error), error);
}

void alk_api_reply_error_status(AlkApiReq *req, guint status, const GError *error)
{
	char *text = alk_api_error_json(error);

	SoupMessageHeaders *h =
	    req->done ? NULL : soup_server_message_get_response_headers(req->msg);

	if (h != NULL && status == 401)
		soup_message_headers_replace(h, "WWW-Authenticate", "Bearer realm=\"airlock\"");
	if (h != NULL && status == 405 && req->allow != NULL)
		soup_message_headers_replace(h, "Allow", req->allow);
	set_response(req, status, "application/json", text, strlen(text));
}

GBytes *alk_api_raw_response(guint status, const char *json, const char *allow)
{
	GString *out = g_string_new(NULL);

	g_string_append_printf(out,
	                       "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\n"
	                       "Content-Length: %" G_GSIZE_FORMAT "\r\nConnection: close\r\n",
	                       status, phrase(status), strlen(json));
	if (status == 401)
		g_string_append(out, "WWW-Authenticate: Bearer realm=\"airlock\"\r\n");
	if (status == 405 && allow != NULL)
		g_string_append_printf(out, "Allow: %s\r\n", allow);
	g_string_append_printf(out, "\r\n%s", json);
	return g_string_free_to_bytes(out);
}

void alk_api_req_refuse(AlkApiReq *req, const GError *error)
{
	g_autoptr(SoupServerMessage) msg = g_object_ref(req->msg);
	AlkApiConn *conn = alk_api_conn_ref(req->conn);
	g_autofree char *json = alk_api_error_json(error);
	guint status = alk_api_error_status(error);
	g_autofree char *allow = g_strdup(req->allow);
	g_autoptr(GIOStream) stream = NULL;

	if (req->done) {
		alk_api_conn_unref(conn);
		return;
	}
	req->status = status;
	/* the journal is a disk too: a stranger's method and path, cut */
	g_message("%s %.64s %.256s: %u: %s", req->caller != NULL ? req->caller : conn->peer,
	          req->method, req->path, status, error->message);
	req_end(req, status);
	/* may free req */
	stream = soup_server_message_steal_connection(msg);
	if (stream != NULL)
		alk_api_conn_linger(conn, stream, alk_api_raw_response(status, json, allow));
	alk_api_conn_unref(conn);
}

/* ---- holding and streaming ---- */

void alk_api_req_hold(AlkApiReq *req)
{
	g_return_if_fail(!req->held);
	req->held = TRUE;
	g_object_ref(req->msg);
	if (!req->done) {
		soup_server_message_pause(req->msg);
		alk_api_conn_watch(req->conn, req_gone, req);
	}
}

void alk_api_req_release(AlkApiReq *req)
{
	SoupServerMessage *msg = req->msg;

	if (!req->held)
		return;
	req->held = FALSE;
	alk_api_conn_unwatch(req->conn);
	if (!req->done)
		soup_server_message_unpause(msg);
	g_object_unref(msg);
}

static gboolean on_stall(gpointer data)
{
	AlkApiReq *req = data;

	req->stall = 0;
	g_message("%s %s %s: the client stopped reading its response: dropping it", req->caller,
	          req->method, req->path);
	req_gone(req);
	return G_SOURCE_REMOVE;
}

static void arm_stall(AlkApiReq *req)
{
	g_clear_handle_id(&req->stall, g_source_remove);
	if (req->unsent > 0 && !req->done)
		req->stall =
		    g_timeout_add_seconds(req->api->config->api.request_timeout_s, on_stall, req);
}

static void on_wrote_data(SoupServerMessage *msg, guint n, gpointer data)
{
	AlkApiReq *req = data;
	gboolean was_high = req->unsent >= STREAM_LOW_WATER;
	const AlkApiReqHooks *hooks = armed(req);

	req->unsent -= MIN((guint64)n, req->unsent);
	arm_stall(req);
	if (was_high && req->unsent < STREAM_LOW_WATER && hooks != NULL && hooks->drained != NULL)
		hooks->drained(req, req->attached->data);
}

void alk_api_req_stream_begin(AlkApiReq *req, guint status, const char *content_type, gint64 length)
{
	SoupMessageHeaders *h;

	req->streaming = TRUE;
	if (!req->aborted)
		req->status = status;
	if (req->done)
		return;
	h = soup_server_message_get_response_headers(req->msg);
	soup_server_message_set_status(req->msg, status, NULL);
	soup_message_headers_set_content_type(h, content_type, NULL);
	if (length < 0)
		soup_message_headers_set_encoding(h, SOUP_ENCODING_CHUNKED);
	else
		soup_message_headers_set_content_length(h, length);
	/* written chunks are dropped, not kept for a body nobody reads */
	soup_message_body_set_accumulate(soup_server_message_get_response_body(req->msg), FALSE);
	g_signal_connect(req->msg, "wrote-body-data", G_CALLBACK(on_wrote_data), req);
	soup_server_message_unpause(req->msg);
}

void alk_api_req_stream_write(AlkApiReq *req, const void *data, gsize len)
{
	if (req->done || req->aborted || len == 0)
		return;
	soup_message_body_append(soup_server_message_get_response_body(req->msg), SOUP_MEMORY_COPY,
	                         data, len);
	req->unsent += len;
	if (req->stall == 0)
		arm_stall(req);
	soup_server_message_unpause(req->msg);
}

void alk_api_req_stream_end(AlkApiReq *req)
{
	if (req->awaiting_audit)
		return;
	if (!wait_for_audit(req, 0, NULL, NULL, 0))
		stream_end_now(req);
}

static void stream_end_now(AlkApiReq *req)
{
	disarm(req);
	if (!req->done)
		soup_message_body_complete(soup_server_message_get_response_body(req->msg));
	alk_api_req_release(req);
}

/* ---- bodies ---- */

JsonObject *alk_api_req_json(AlkApiReq *req, GError **error)
{
	gsize max = req->api->config->api.max_body_bytes;

	if (req->body == NULL || req->body->len == 0)
		return json_object_new();
	return alk_json_parse_object((const char *)req->body->data, req->body->len, max,
	                             ALK_JSON_MAX_DEPTH, error);
}

const AlkSandbox *alk_api_req_sandbox(AlkApiReq *req, GError **error)
{
	return alk_manager_lookup(req->api->manager, req->id, error);
}

static gboolean body_follows(SoupServerMessage *msg)
{
	SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
	SoupEncoding enc = soup_message_headers_get_encoding(h);

	return enc == SOUP_ENCODING_CHUNKED || enc == SOUP_ENCODING_EOF ||
	       (enc == SOUP_ENCODING_CONTENT_LENGTH &&
	        soup_message_headers_get_content_length(h) > 0);
}

static gboolean check_body(AlkApiReq *req, GError **error)
{
	SoupMessageHeaders *h = soup_server_message_get_request_headers(req->msg);
	guint64 max = req->api->config->api.max_body_bytes;
	const char *type = soup_message_headers_get_content_type(h, NULL);

	if (req->route->body == ALK_API_BODY_STREAM || !body_follows(req->msg))
		return TRUE;
	if (req->route->body == ALK_API_BODY_JSON &&
	    g_ascii_strcasecmp(type ?: "", "application/json") != 0) {
		g_set_error(error, ALK_API_ERROR, ALK_API_ERROR_MEDIA_TYPE,
		            "the body must be application/json");
		return FALSE;
	}
	if (soup_message_headers_get_encoding(h) == SOUP_ENCODING_CONTENT_LENGTH &&
	    (guint64)soup_message_headers_get_content_length(h) > max) {
		g_set_error(error, ALK_API_ERROR, ALK_API_ERROR_TOO_LARGE,
		            "the body is over %" G_GUINT64_FORMAT " bytes (api.max_body_bytes)",
		            max);
		return FALSE;
	}
	if (req->route->body == ALK_API_BODY_JSON)
		req->body = g_byte_array_new();
	return TRUE;
}

/* ---- the head ---- */

typedef struct {
	const char *name;
	guint n;
} HeaderCount;

static void count_header(const char *name, const char *value, gpointer data)
{
	HeaderCount *c = data;
	if (g_ascii_strcasecmp(name, c->name) == 0)
		c->n++;
}

static guint count_headers(SoupMessageHeaders *h, const char *name)
{
	HeaderCount c = {name, 0};
	soup_message_headers_foreach(h, count_header, &c);
	return c.n;
}

/* Every Content-Length the same run of digits: libsoup reads "-1" as a
 * body without end and the last of two differing ones as the length. */
static gboolean content_length_ok(SoupMessageHeaders *h)
{
	const char *list = soup_message_headers_get_list(h, "Content-Length");
	g_auto(GStrv) values = NULL;

	if (list == NULL)
		return TRUE;
	values = g_strsplit(list, ",", -1);
	for (guint i = 0; values[i] != NULL; i++) {
		g_strstrip(values[i]);
		if (values[i][0] == '\0' || strspn(values[i], "0123456789") != strlen(values[i]) ||
		    strlen(values[i]) > 19 || strcmp(values[i], values[0]) != 0)
			return FALSE;
	}
	return TRUE;
}

static void add_header_size(const char *name, const char *value, gpointer data)
{
	*(gsize *)data += strlen(name) + strlen(value) + 4; /* ": ", CRLF */
}

gboolean alk_api_req_check_size(const char *line, SoupMessageHeaders *h, GError **error)
{
	gsize line_len = line != NULL ? strlen(line) : 0;
	gsize size = line_len + 4; /* CRLF and the blank line's */

	if (line_len > ALK_API_LINE_MAX) {
		g_set_error(error, ALK_API_ERROR, ALK_API_ERROR_URI_TOO_LONG,
		            "the request line is over %u bytes", ALK_API_LINE_MAX);
		return FALSE;
	}
	soup_message_headers_foreach(h, add_header_size, &size);
	if (size > ALK_API_HEAD_MAX) {
		g_set_error(error, ALK_API_ERROR, ALK_API_ERROR_HEAD_TOO_LARGE,
		            "the request head is over %u bytes", ALK_API_HEAD_MAX);
		return FALSE;
	}
	return TRUE;
}

gboolean alk_api_req_check_head(SoupMessageHeaders *h, GError **error)
{
	/* libsoup would hand us the last one: whichever a proxy checked, the
	 * other may be the one that counts */
	if (count_headers(h, "Authorization") > 1) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "more than one Authorization header");
		return FALSE;
	}
	if (!content_length_ok(h)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "Content-Length: not one non-negative decimal number");
		return FALSE;
	}
	return TRUE;
}

/* A WebSocket route's handshake, checked as libsoup will check it, so a
 * bad one gets the contract's JSON error and not libsoup's HTML page. The
 * extensions are the server's (permessage-deflate, libsoup's default). */
static gboolean check_websocket(AlkApiReq *req, GError **error)
{
	static GPtrArray *extensions;
	g_autoptr(GError) local = NULL;

	if (req->route->websocket == NULL)
		return TRUE;
	if (g_once_init_enter(&extensions)) {
		GPtrArray *types = g_ptr_array_new();
		g_ptr_array_add(types, g_type_class_ref(SOUP_TYPE_WEBSOCKET_EXTENSION_DEFLATE));
		g_once_init_leave(&extensions, types);
	}
	if (soup_websocket_server_check_handshake(req->msg, NULL, NULL, extensions, &local))
		return TRUE;
	g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "not a WebSocket handshake: %s",
	            local->message);
	return FALSE;
}

/* ---- libsoup's stages ---- */

/* The caller's credentials, then the route; except that a route which takes
 * no credentials or a watch ticket is known by the route itself. */
static gboolean auth_and_route(AlkApiReq *req, GUri *uri, GError **error)
{
	g_autoptr(GError) route_error = NULL;

	if (alk_api_route(req, alk_api_conn_request_line(req->conn), &route_error) &&
	    req->route->auth != ALK_API_AUTH_CALLER)
		return alk_api_watch_auth(req, g_uri_get_query(uri), error);
	if (!alk_api_auth(req, error))
		return FALSE;
	if (route_error != NULL) {
		g_propagate_error(error, g_steal_pointer(&route_error));
		return FALSE;
	}
	return TRUE;
}

static void early_handler(SoupServer *server, SoupServerMessage *msg, const char *path,
                          GHashTable *unused, gpointer data)
{
	AlkApiReq *req = req_of(msg);
	GUri *uri = soup_server_message_get_uri(msg);
	g_autoptr(GError) error = NULL;

	if (req == NULL)
		return;
	req->method = g_strdup(soup_server_message_get_method(msg));
	req->path = g_strdup(g_uri_get_path(uri));
	take_request_id(req, soup_server_message_get_request_headers(msg));
	soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);
	/* where its body ends is not known: libsoup must not read on */
	if (!alk_api_req_check_size(alk_api_conn_request_line(req->conn),
	                            soup_server_message_get_request_headers(msg), &error) ||
	    !alk_api_req_check_head(soup_server_message_get_request_headers(msg), &error)) {
		alk_api_req_refuse(req, error);
		return;
	}
	if (auth_and_route(req, uri, &error) && alk_api_auth_scope(req, &error) &&
	    alk_api_parse_query(req, g_uri_get_query(uri), &error) &&
	    check_websocket(req, &error) && check_body(req, &error) &&
	    (req->route->start == NULL || req->route->start(req, &error)))
		return;
	req->route = NULL;
	if (body_follows(msg))
		alk_api_req_refuse(req, error);
	else
		alk_api_reply_error(req, error);
}

static void on_got_headers(SoupServerMessage *msg, gpointer data)
{
	AlkApiReq *req = data;

	if (req->done)
		return;
	if (req->method == NULL && body_follows(msg)) {
		/* libsoup refused the head before our early handler ran; it
		 * would now read the body into memory */
		g_autoptr(GError) error =
		    g_error_new(ALK_ERROR, ALK_ERROR_INVALID, "malformed request head");
		req->method = g_strdup(soup_server_message_get_method(msg));
		alk_api_req_refuse(req, error);
		return;
	}
	if (body_follows(msg))
		alk_api_conn_arm(req->conn);
	else
		alk_api_conn_disarm(req->conn);
}

static void on_got_chunk(SoupServerMessage *msg, GBytes *chunk, gpointer data)
{
	AlkApiReq *req = data;
	gsize len = g_bytes_get_size(chunk);
	guint64 max = req->api->config->api.max_body_bytes;

	if (req->done)
		return;
	alk_api_conn_arm(req->conn);
	req->body_len += len;
	if (req->route == NULL || req->route->body == ALK_API_BODY_STREAM)
		return;
	if (req->body_len > max) {
		g_autoptr(GError) error = g_error_new(
		    ALK_API_ERROR, ALK_API_ERROR_TOO_LARGE,
		    "the body is over %" G_GUINT64_FORMAT " bytes (api.max_body_bytes)", max);
		alk_api_req_refuse(req, error);
		return;
	}
	if (req->body != NULL)
		g_byte_array_append(req->body, g_bytes_get_data(chunk, NULL), len);
}

static void on_got_body(SoupServerMessage *msg, gpointer data)
{
	AlkApiReq *req = data;
	if (!req->done)
		alk_api_conn_disarm(req->conn);
}

static void on_finished(SoupServerMessage *msg, gpointer data)
{
	AlkApiReq *req = data;
	GUri *uri = soup_server_message_get_uri(msg);

	/* refused by libsoup before the early handler: audited all the same */
	if (req->method == NULL && soup_server_message_get_method(msg) != NULL) {
		req->method = g_strdup(soup_server_message_get_method(msg));
		req->path = g_strdup(uri != NULL ? g_uri_get_path(uri) : "(unparsable)");
	}
	req_end(req, req->aborted ? ALK_API_STATUS_GONE : soup_server_message_get_status(msg));
}

static void on_disconnected(SoupServerMessage *msg, gpointer data)
{
	AlkApiReq *req = data;

	/* a WebSocket upgrade steals the connection: its session goes on */
	if (soup_server_message_get_status(msg) == SOUP_STATUS_SWITCHING_PROTOCOLS)
		return;
	req->aborted = TRUE;
	req_end(req, ALK_API_STATUS_GONE);
}

static void handler(SoupServer *server, SoupServerMessage *msg, const char *path,
                    GHashTable *unused, gpointer data)
{
	AlkApiReq *req = req_of(msg);

	if (req == NULL || req->route == NULL) {
		soup_server_message_set_status(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, NULL);
		return;
	}
	req->route->handle(req);
	/* an unset status makes libsoup try a WebSocket handshake */
	if (req->route->websocket == NULL && soup_server_message_get_status(msg) == 0)
		soup_server_message_set_status(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, NULL);
}

static void websocket_handler(SoupServer *server, SoupServerMessage *msg, const char *path,
                              SoupWebsocketConnection *ws, gpointer data)
{
	AlkApiReq *req = req_of(msg);

	if (req == NULL || req->route == NULL || req->route->websocket == NULL) {
		soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_SERVER_ERROR, NULL);
		return;
	}
	req->status = SOUP_STATUS_SWITCHING_PROTOCOLS;
	req->route->websocket(req, ws);
}

static void on_request_started(SoupServer *server, SoupServerMessage *msg, gpointer data)
{
	AlkApi *api = data;
	AlkApiReq *req;

	/* one request per connection: there is no other */
	if (api->accepting == NULL)
		return;
	req = g_new0(AlkApiReq, 1);
	req->api = api;
	req->conn = alk_api_conn_ref(api->accepting);
	req->msg = msg;
	req->start_us = g_get_monotonic_time();
	g_object_set_data_full(G_OBJECT(msg), REQ_KEY, req, req_free);
	g_hash_table_add(api->reqs, req);
	soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection",
	                             "close");
	g_signal_connect(msg, "got-headers", G_CALLBACK(on_got_headers), req);
	g_signal_connect(msg, "got-chunk", G_CALLBACK(on_got_chunk), req);
	g_signal_connect(msg, "got-body", G_CALLBACK(on_got_body), req);
	g_signal_connect(msg, "finished", G_CALLBACK(on_finished), req);
	g_signal_connect(msg, "disconnected", G_CALLBACK(on_disconnected), req);
}

void alk_api_req_setup(AlkApi *api)
{
	g_signal_connect(api->server, "request-started", G_CALLBACK(on_request_started), api);
	soup_server_add_early_handler(api->server, "/", early_handler, api, NULL);
	soup_server_add_handler(api->server, "/", handler, api, NULL);
	soup_server_add_websocket_handler(api->server, "/", NULL, NULL, websocket_handler, api,
	                                  NULL);
}

void alk_api_req_end_session(AlkApiReq *req)
{
	disarm(req);
	req_end(req, SOUP_STATUS_SWITCHING_PROTOCOLS);
}
