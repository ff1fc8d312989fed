/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* POST /v1/sandboxes/{id}/exec: runs a process and answers with its
 * result, or with "Accept: application/x-ndjson" streams its output as it
 * comes. A client that goes away kills the process group. */
#include <signal.h>
#include <string.h>

#include "alk-api-private.h"
#include "alk-error.h"
#include "alk-json.h"

#define ARG_MAX_BYTES (64 * 1024)
#define CWD_MAX 4096
#define TIMEOUT_MAX_S 604800

#define E(member) G_STRUCT_OFFSET(AlkApiExecBody, member)
static const AlkJsonField exec_fields[] = {
    /* absent: the image's default command */
    {"argv", ALK_JSON_STRING_ARRAY, E(argv), FALSE, 1, ALK_PROTO_MAX_ARGS, ARG_MAX_BYTES},
    {"env", ALK_JSON_STRING_MAP, E(env), FALSE, 0, ALK_PROTO_MAX_ENV, ARG_MAX_BYTES},
    {"cwd", ALK_JSON_STRING, E(cwd), FALSE, 1, CWD_MAX, 0},
    {"stdin_b64", ALK_JSON_STRING, E(stdin_b64), FALSE, 0, 0, 0},
    {"timeout_s", ALK_JSON_UINT, E(timeout_s), FALSE, 1, TIMEOUT_MAX_S, 0},
    {"user", ALK_JSON_STRING, E(user), FALSE, 1, ALK_PROTO_USER_MAX, 0},
    {"capabilities", ALK_JSON_STRING, E(capabilities), FALSE, 3, 4, 0},
    {"no_new_privs", ALK_JSON_BOOL, E(no_new_privs), FALSE, 0, 0, 0},
    {NULL, 0, 0, FALSE, 0, 0, 0},
};
#undef E

void alk_api_exec_body_clear(AlkApiExecBody *body)
{
	alk_json_fields_clear(exec_fields, body);
	g_clear_pointer(&body->env_strings, g_ptr_array_unref);
}

static gboolean invalid(GError **error, const char *what)
{
	g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "%s", what);
	return FALSE;
}

static gboolean add_env(AlkApiExecBody *body, AlkMsgExec *msg, GError **error)
{
	GHashTableIter it;
	gpointer k, v;

	body->env_strings = g_ptr_array_new_with_free_func(g_free);
	if (body->env == NULL)
		return TRUE;
	g_hash_table_iter_init(&it, body->env);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		if (((char *)k)[0] == '\0' || strchr(k, '=') != NULL)
			return invalid(error, "env: names must be non-empty and without '='");
		g_ptr_array_add(body->env_strings, g_strdup_printf("%s=%s", (char *)k, (char *)v));
	}
	for (guint i = 0; i < body->env_strings->len; i++)
		msg->env[i] = g_ptr_array_index(body->env_strings, i);
	msg->envc = body->env_strings->len;
	return TRUE;
}

gboolean alk_api_exec_message(AlkApiExecBody *body, AlkMsgExec *msg, GError **error)
{
	guint argc = body->argv != NULL ? g_strv_length(body->argv) : 0;

	memset(msg, 0, sizeof(*msg));
	/* none at all: the image's default command (core says when there is none) */
	if (argc > ALK_PROTO_MAX_ARGS || (argc > 0 && body->argv[0][0] == '\0') ||
	    (body->argv != NULL && argc == 0))
		return invalid(error, "argv: 1 to 256 arguments, the first not empty");
	for (guint i = 0; i < argc; i++)
		msg->argv[i] = body->argv[i];
	msg->argc = argc;
	if (body->cwd != NULL && body->cwd[0] != '/')
		return invalid(error, "cwd: must be an absolute path");
	msg->cwd = body->cwd;
	if (body->timeout_s > TIMEOUT_MAX_S)
		return invalid(error, "timeout_s: at most 604800");
	msg->timeout_ms = (guint32)(body->timeout_s * 1000);
	if (body->user != NULL && !alk_proto_user_valid(body->user))
		return invalid(error, "user: a name ([a-z_][a-z0-9_-]{0,31}) or UID[:GID]");
	msg->user = body->user;
	if (body->capabilities != NULL && !g_str_equal(body->capabilities, "all") &&
	    !g_str_equal(body->capabilities, "none"))
		return invalid(error, "capabilities: \"all\" or \"none\"");
	msg->drop_caps = g_strcmp0(body->capabilities, "none") == 0;
	msg->no_new_privs = !body->no_new_privs_given ? ALK_EXEC_NNP_DEFAULT
	                    : body->no_new_privs      ? ALK_EXEC_NNP_ON
	                                              : ALK_EXEC_NNP_OFF;
	g_clear_pointer(&body->env_strings, g_ptr_array_unref);
	return add_env(body, msg, error);
}

JsonNode *alk_api_exec_audit_args(const AlkApiExecBody *body)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autofree const char **keys = NULL;

	json_builder_begin_object(b);
	alk_json_add_strv(b, "argv", (const char *const *)body->argv);
	alk_json_add_string(b, "cwd", body->cwd);
	/* names only: values may be secrets */
	if (body->env != NULL)
		keys = (const char **)g_hash_table_get_keys_as_array(body->env, NULL);
	alk_json_add_strv(b, "env", keys);
	alk_json_add_int(b, "timeout_s", (gint64)body->timeout_s);
	alk_json_add_string(b, "user", body->user);
	alk_json_add_string(b, "capabilities", body->capabilities);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

/* ---- what both kinds of exec record ---- */

void alk_api_exec_tally_init(AlkApiExecTally *t)
{
	memset(t, 0, sizeof(*t));
	for (guint i = 0; i < 2; i++)
		t->sum[i] = g_checksum_new(G_CHECKSUM_SHA256);
	t->start_us = g_get_monotonic_time();
}

void alk_api_exec_tally_clear(AlkApiExecTally *t)
{
	for (guint i = 0; i < 2; i++)
		g_clear_pointer(&t->sum[i], g_checksum_free);
}

guint alk_api_exec_tally_add(AlkApiExecTally *t, int stream, const guint8 *d, gsize len)
{
	guint i = stream == ALK_MSG_STDOUT ? 0 : 1;
	g_checksum_update(t->sum[i], d, len);
	t->bytes[i] += len;
	return i;
}

JsonNode *alk_api_exec_audit_result(const AlkApiExecTally *t, const AlkTaskResult *result,
                                    const GError *error)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	static const char *const names[] = {"stdout", "stderr"};

	json_builder_begin_object(b);
	if (result != NULL) {
		alk_api_json_add_exit(b, result, TRUE);
		alk_json_add_int(b, "max_rss_kib", (gint64)result->exit->max_rss_kib);
	} else {
		alk_json_add_string(b, "error", error->message);
	}
	for (guint i = 0; i < 2; i++) {
		g_autofree char *bytes = g_strconcat(names[i], "_bytes", NULL);
		g_autofree char *sha = g_strconcat(names[i], "_sha256", NULL);
		alk_json_add_int(b, bytes, (gint64)t->bytes[i]);
		alk_json_add_string(b, sha, g_checksum_get_string(t->sum[i]));
	}
	alk_json_add_int(b, "elapsed_ms", (g_get_monotonic_time() - t->start_us) / 1000);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

void alk_api_exec_observe(AlkApi *api, const AlkApiExecTally *t)
{
	if (api->metrics != NULL)
		alk_metrics_observe(api->metrics, ALK_METRIC_EXEC_DURATION, NULL,
		                    (g_get_monotonic_time() - t->start_us) / 1e6, NULL);
}

void alk_api_exec_audit(AlkApiReq *req, const AlkApiExecBody *body, const AlkApiExecTally *t,
                        const AlkTaskResult *result, const GError *error)
{
	g_autoptr(JsonNode) args = alk_api_exec_audit_args(body);
	g_autoptr(JsonNode) node = alk_api_exec_audit_result(t, result, error);

	alk_api_audit(req->api, req->caller, "sandbox.exec", req->id, args, node);
	if (result != NULL)
		alk_api_exec_observe(req->api, t);
}

/* ---- output kept for an answer, stdin fed ---- */

gboolean alk_api_output_keep(AlkApi *api, GByteArray *out, const guint8 *d, gsize len)
{
	guint64 max = api->config->api.max_buffered_output_bytes;
	gsize take = (gsize)MIN((guint64)len, max - MIN(api->buffered_output, max));

	g_byte_array_append(out, d, take);
	api->buffered_output += take;
	/* the daemon's whole budget for kept output is spent: this is cut */
	return take == len;
}

void alk_api_output_drop(AlkApi *api, GByteArray *out)
{
	api->buffered_output -= MIN((guint64)out->len, api->buffered_output);
	g_byte_array_set_size(out, 0);
}

void alk_api_task_feed(AlkTask *task, GBytes **data, gsize *off)
{
	gsize len = 0;
	const guint8 *d = *data != NULL ? g_bytes_get_data(*data, &len) : NULL;

	if (d == NULL || task == NULL)
		return;
	*off += alk_task_write(task, d + *off, len - *off);
	if (*off == len) {
		alk_task_close(task);
		g_clear_pointer(data, g_bytes_unref);
	}
}

/* ---- one exec ---- */

typedef struct {
	AlkApiReq *req; /* may be gone once answered: ctx_free uses api */
	AlkApi *api;
	AlkTask *task;
	AlkApiExecBody body;
	GBytes *stdin_data;
	gsize stdin_off;
	gboolean ndjson;
	gboolean held;      /* NDJSON: the client is behind, the guest waits */
	GByteArray *out[2]; /* kept for a JSON answer */
	gboolean cut;       /* the daemon's budget for kept output was spent */
	AlkApiExecTally tally;
} ExecCtx;

static void ctx_free(ExecCtx *ctx)
{
	alk_api_exec_body_clear(&ctx->body);
	g_clear_pointer(&ctx->stdin_data, g_bytes_unref);
	for (guint i = 0; i < 2; i++) {
		alk_api_output_drop(ctx->api, ctx->out[i]);
		g_byte_array_unref(ctx->out[i]);
	}
	alk_api_exec_tally_clear(&ctx->tally);
	g_free(ctx);
}

static void stream_line(ExecCtx *ctx, JsonNode *node)
{
	g_autofree char *text = alk_json_to_string(node);
	g_autofree char *line = g_strconcat(text, "\n", NULL);

	if (!ctx->req->streaming)
		alk_api_req_stream_begin(ctx->req, SOUP_STATUS_OK, "application/x-ndjson", -1);
	alk_api_req_stream_write(ctx->req, line, strlen(line));
	/* a client that reads slowly slows the process, not the daemon's memory */
	if (ctx->task != NULL && !ctx->held && ctx->req->unsent > ALK_API_STREAM_HIGH_WATER) {
		ctx->held = TRUE;
		alk_task_hold(ctx->task, TRUE);
	}
}

static void on_drained(AlkApiReq *req, gpointer data)
{
	ExecCtx *ctx = data;

	if (ctx->task != NULL && ctx->held) {
		ctx->held = FALSE;
		alk_task_hold(ctx->task, FALSE);
	}
}

static void on_started(AlkTask *task, guint32 pid, gpointer data)
{
	ExecCtx *ctx = data;
	/* the status is final now: a failure from here on is a stream line */
	if (ctx->ndjson && !ctx->req->streaming)
		alk_api_req_stream_begin(ctx->req, SOUP_STATUS_OK, "application/x-ndjson", -1);
}

static void on_output(AlkTask *task, int stream, const guint8 *d, gsize len, gpointer data)
{
	ExecCtx *ctx = data;
	/* core delivers at most the sandbox's output cap */
	guint i = alk_api_exec_tally_add(&ctx->tally, stream, d, len);
	g_autoptr(JsonBuilder) b = NULL;
	g_autoptr(JsonNode) node = NULL;

	if (!ctx->ndjson) {
		if (!alk_api_output_keep(ctx->api, ctx->out[i], d, len))
			ctx->cut = TRUE;
		return;
	}
	b = json_builder_new();
	json_builder_begin_object(b);
	alk_json_add_string(b, "stream", i == 0 ? "stdout" : "stderr");
	g_autofree char *b64 = g_base64_encode(d, len);
	alk_json_add_string(b, "data_b64", b64);
	json_builder_end_object(b);
	node = json_builder_get_root(b);
	stream_line(ctx, node);
}

static void feed_stdin(ExecCtx *ctx)
{
	alk_api_task_feed(ctx->task, &ctx->stdin_data, &ctx->stdin_off);
}

static void on_writable(AlkTask *task, gpointer data)
{
	feed_stdin(data);
}

static void on_done(AlkTask *task, const AlkTaskResult *result, gpointer data)
{
	ExecCtx *ctx = data;

	ctx->task = NULL;
	/* the result's writer may attach itself instead */
	alk_api_req_detach(ctx->req);
	alk_api_exec_audit(ctx->req, &ctx->body, &ctx->tally, result, NULL);
	if (ctx->ndjson) {
		g_autoptr(JsonBuilder) b = json_builder_new();
		g_autoptr(JsonNode) node = NULL;
		json_builder_begin_object(b);
		alk_json_add_string(b, "stream", "exit");
		alk_api_json_add_exit(b, result, TRUE);
		json_builder_end_object(b);
		node = json_builder_get_root(b);
		stream_line(ctx, node);
		alk_api_req_stream_end(ctx->req);
	} else {
		alk_api_exec_result_send(ctx->req, result, result->truncated || ctx->cut, ctx->out);
		for (guint i = 0; i < 2; i++) {
			/* the answer owns (and accounts for) the output now */
			g_byte_array_unref(ctx->out[i]);
			ctx->out[i] = g_byte_array_new();
		}
	}
	ctx_free(ctx);
}

static void on_failed(AlkTask *task, const GError *error, gpointer data)
{
	ExecCtx *ctx = data;

	ctx->task = NULL;
	alk_api_req_detach(ctx->req);
	alk_api_exec_audit(ctx->req, &ctx->body, &ctx->tally, NULL, error);
	if (ctx->ndjson && ctx->req->streaming) {
		g_autoptr(JsonBuilder) b = json_builder_new();
		g_autoptr(JsonNode) node = NULL;
		json_builder_begin_object(b);
		alk_json_add_string(b, "stream", "error");
		alk_api_json_add_error(b, error);
		json_builder_end_object(b);
		node = json_builder_get_root(b);
		stream_line(ctx, node);
		alk_api_req_stream_end(ctx->req);
	} else {
		alk_api_reply_error(ctx->req, error);
	}
	ctx_free(ctx);
}

static const AlkTaskCallbacks exec_callbacks = {
    .started = on_started,
    .output = on_output,
    .writable = on_writable,
    .done = on_done,
    .failed = on_failed,
};

/* The client left or the daemon stops: the answer (if anyone still
 * reads it) comes with the exit. */
static void on_abort(AlkApiReq *req, gpointer data)
{
	ExecCtx *ctx = data;

	if (ctx->task != NULL)
		alk_task_signal(ctx->task, SIGKILL);
}

/* ctx is not the request's to free: it lives until the task's one final
 * callback, which answers the request. */
static const AlkApiReqHooks exec_hooks = {
    .abort = on_abort,
    .drained = on_drained,
};

gboolean alk_api_base64_valid(const char *s)
{
	gsize len = strlen(s);
	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_isalnum(s[i]) && s[i] != '+' && s[i] != '/' &&
		    !(s[i] == '=' && i + 2 >= len))
			return FALSE;
	}
	return len % 4 == 0;
}

static gboolean prepare(ExecCtx *ctx, AlkMsgExec *msg, GError **error)
{
	g_autoptr(JsonObject) obj = alk_api_req_json(ctx->req, error);
	gsize len = 0;

	if (obj == NULL || !alk_json_read_object(obj, exec_fields, &ctx->body, error))
		return FALSE;
	ctx->body.no_new_privs_given = json_object_has_member(obj, "no_new_privs");
	if (!alk_api_exec_message(&ctx->body, msg, error))
		return FALSE;
	if (ctx->body.stdin_b64 != NULL) {
		if (!alk_api_base64_valid(ctx->body.stdin_b64))
			return invalid(error, "stdin_b64: not base64");
		guchar *data = g_base64_decode(ctx->body.stdin_b64, &len);
		ctx->stdin_data = g_bytes_new_take(data, len);
		msg->stdin_mode = ALK_STDIN_PIPE;
	}
	return TRUE;
}

static gboolean wants_ndjson(AlkApiReq *req)
{
	const char *accept = soup_message_headers_get_one(
	    soup_server_message_get_request_headers(req->msg), "Accept");
	return accept != NULL && strstr(accept, "application/x-ndjson") != NULL;
}

void alk_api_exec_post(AlkApiReq *req)
{
	ExecCtx *ctx = g_new0(ExecCtx, 1);
	g_autoptr(GError) error = NULL;
	AlkMsgExec msg;

	ctx->req = req;
	ctx->api = req->api;
	ctx->ndjson = wants_ndjson(req);
	alk_api_exec_tally_init(&ctx->tally);
	for (guint i = 0; i < 2; i++)
		ctx->out[i] = g_byte_array_new();
	if (alk_api_req_sandbox(req, &error) == NULL || !prepare(ctx, &msg, &error)) {
		alk_api_reply_error(req, error);
		ctx_free(ctx);
		return;
	}
	ctx->task =
	    alk_manager_exec(req->api->manager, req->id, &msg, &exec_callbacks, ctx, &error);
	if (ctx->task == NULL) {
		alk_api_reply_error(req, error);
		ctx_free(ctx);
		return;
	}
	alk_api_req_hold(req);
	alk_api_req_attach(req, ctx, NULL, &exec_hooks);
	feed_stdin(ctx);
}
