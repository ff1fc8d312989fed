/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PUT and GET /v1/sandboxes/{id}/files/{path}: files streamed to and from
 * the guest in chunks, never whole in memory. An upload is read only as
 * fast as the agent channel takes it (libsoup's reading is paused while
 * the channel is full); a download holds the channel's input while the
 * client has more than a megabyte unread. */
#include <string.h>

#include "alk-api-private.h"
#include "alk-error.h"
#include "alk-json.h"

#define DEFAULT_MODE 0644

typedef struct {
	AlkApiReq *req;
	AlkTask *task;
	GChecksum *sum;
	guint64 size;  /* PUT: Content-Length; GET: FILE_INFO's */
	guint64 bytes; /* through so far */
	guint32 mode;
	GBytes *pending;    /* PUT: what the channel did not take yet */
	gboolean body_done; /* PUT: all of the body is in */
	gboolean op_held;   /* GET: the channel's input is held */
	GError *error;      /* PUT: the agent refused before the body ended */
	gint64 start_us;
} FileCtx;

static void ctx_free(gpointer data)
{
	FileCtx *ctx = data;

	if (ctx->task != NULL)
		alk_task_cancel(ctx->task);
	g_checksum_free(ctx->sum);
	g_clear_pointer(&ctx->pending, g_bytes_unref);
	g_clear_error(&ctx->error);
	g_free(ctx);
}

static FileCtx *ctx_new(AlkApiReq *req)
{
	FileCtx *ctx = g_new0(FileCtx, 1);

	ctx->req = req;
	ctx->sum = g_checksum_new(G_CHECKSUM_SHA256);
	ctx->start_us = g_get_monotonic_time();
	return ctx;
}

static void audit_file(FileCtx *ctx, const char *action, const GError *error)
{
	g_autoptr(JsonBuilder) a = json_builder_new();
	g_autoptr(JsonBuilder) r = json_builder_new();
	g_autoptr(JsonNode) args = NULL;
	g_autoptr(JsonNode) result = NULL;

	json_builder_begin_object(a);
	alk_json_add_string(a, "path", ctx->req->file);
	if (g_str_equal(action, "sandbox.file_put")) {
		alk_json_add_int(a, "mode", ctx->mode);
		alk_json_add_int(a, "size", (gint64)ctx->size);
	}
	json_builder_end_object(a);
	json_builder_begin_object(r);
	alk_json_add_int(r, "bytes", (gint64)ctx->bytes);
	if (error == NULL)
		alk_json_add_string(r, "sha256", g_checksum_get_string(ctx->sum));
	else
		alk_json_add_string(r, "error", error->message);
	alk_json_add_int(r, "elapsed_ms", (g_get_monotonic_time() - ctx->start_us) / 1000);
	json_builder_end_object(r);
	args = json_builder_get_root(a);
	result = json_builder_get_root(r);
	alk_api_audit(ctx->req->api, ctx->req->caller, action, ctx->req->id, args, result);
}

/* ---- PUT ---- */

static void put_resume(FileCtx *ctx)
{
	AlkApiReq *req = ctx->req;

	if (req->done)
		return;
	alk_api_conn_arm(req->conn);
	soup_server_message_unpause(req->msg);
}

static void put_writable(AlkTask *task, gpointer data)
{
	FileCtx *ctx = data;
	gsize len = 0;
	const guint8 *d = ctx->pending != NULL ? g_bytes_get_data(ctx->pending, &len) : NULL;
	gsize n;

	if (d == NULL)
		return;
	n = alk_task_write(task, d, len);
	if (n < len) {
		GBytes *rest = g_bytes_new_from_bytes(ctx->pending, n, len - n);
		g_bytes_unref(ctx->pending);
		ctx->pending = rest;
		return;
	}
	g_clear_pointer(&ctx->pending, g_bytes_unref);
	put_resume(ctx);
}

static void put_chunk(SoupServerMessage *msg, GBytes *chunk, gpointer data)
{
	FileCtx *ctx = data;
	gsize len = 0;
	const guint8 *d = g_bytes_get_data(chunk, &len);
	gsize n;

	if (ctx->req->done || ctx->task == NULL)
		return;
	g_checksum_update(ctx->sum, d, len);
	ctx->bytes += len;
	n = alk_task_write(ctx->task, d, len);
	if (n == len)
		return;
	/* the channel is full: stop reading the client until it drains */
	ctx->pending = g_bytes_new_from_bytes(chunk, n, len - n);
	alk_api_conn_disarm(ctx->req->conn);
	soup_server_message_pause(msg);
}

static void reply_put(FileCtx *ctx, guint64 bytes)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	alk_json_add_string(b, "path", ctx->req->file);
	alk_json_add_int(b, "bytes", (gint64)bytes);
	alk_json_add_string(b, "sha256", g_checksum_get_string(ctx->sum));
	json_builder_end_object(b);
	alk_api_reply_builder(ctx->req, SOUP_STATUS_CREATED, b);
}

static void put_done(AlkTask *task, const AlkTaskResult *result, gpointer data)
{
	FileCtx *ctx = data;

	ctx->task = NULL;
	audit_file(ctx, "sandbox.file_put", NULL);
	reply_put(ctx, result->bytes);
}

static void put_failed(AlkTask *task, const GError *error, gpointer data)
{
	FileCtx *ctx = data;

	ctx->task = NULL;
	audit_file(ctx, "sandbox.file_put", error);
	if (ctx->body_done) {
		alk_api_reply_error(ctx->req, error);
		return;
	}
	/* the body is still coming: answer now and stop reading it */
	g_clear_pointer(&ctx->pending, g_bytes_unref);
	alk_api_req_refuse(ctx->req, error);
}

static const AlkTaskCallbacks put_callbacks = {
    .writable = put_writable,
    .done = put_done,
    .failed = put_failed,
};

/* The client left, the connection broke, or the daemon stops. */
static void put_abort(AlkApiReq *req, gpointer data)
{
	FileCtx *ctx = data;
	g_autoptr(GError) error = NULL;

	g_clear_pointer(&ctx->task, alk_task_cancel);
	g_clear_pointer(&ctx->pending, g_bytes_unref);
	if (req->aborted || req->done) {
		alk_api_req_release(req);
		return;
	}
	error = g_error_new(ALK_ERROR, ALK_ERROR_UNAVAILABLE, "airlockd is stopping");
	/* mid-body, the rest is not read */
	if (req->held)
		alk_api_reply_error(req, error);
	else
		alk_api_req_refuse(req, error);
}

static const AlkApiReqHooks put_hooks = {.abort = put_abort};

static gboolean parse_mode(AlkApiReq *req, guint32 *mode, GError **error)
{
	const char *s = alk_api_query(req, "mode");
	guint64 v = DEFAULT_MODE;

	if (s != NULL && (strlen(s) > 5 || !g_ascii_string_to_unsigned(s, 8, 0, 07777, &v, NULL))) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "mode: octal, 0 to 07777");
		return FALSE;
	}
	*mode = (guint32)v;
	return TRUE;
}

static gboolean check_length(AlkApiReq *req, guint64 *size, GError **error)
{
	SoupMessageHeaders *h = soup_server_message_get_request_headers(req->msg);
	guint64 max = req->api->config->api.max_file_bytes;

	if (soup_message_headers_get_encoding(h) != SOUP_ENCODING_CONTENT_LENGTH &&
	    soup_message_headers_get_encoding(h) != SOUP_ENCODING_NONE) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "an upload needs a Content-Length (no chunked encoding)");
		return FALSE;
	}
	*size = (guint64)soup_message_headers_get_content_length(h);
	if (*size > max) {
		g_set_error(error, ALK_API_ERROR, ALK_API_ERROR_TOO_LARGE,
		            "the file is over %" G_GUINT64_FORMAT " bytes (api.max_file_bytes)",
		            max);
		return FALSE;
	}
	return TRUE;
}

gboolean alk_api_files_put_start(AlkApiReq *req, GError **error)
{
	FileCtx *ctx;
	guint64 size = 0;
	guint32 mode = DEFAULT_MODE;

	if (!check_length(req, &size, error) || !parse_mode(req, &mode, error))
		return FALSE;
	ctx = ctx_new(req);
	ctx->size = size;
	ctx->mode = mode;
	ctx->task = alk_manager_put(req->api->manager, req->id, req->file, mode, size,
	                            &put_callbacks, ctx, error);
	if (ctx->task == NULL) {
		ctx_free(ctx);
		return FALSE;
	}
	alk_api_req_attach(req, ctx, ctx_free, &put_hooks);
	g_signal_connect(req->msg, "got-chunk", G_CALLBACK(put_chunk), ctx);
	return TRUE;
}

void alk_api_files_put(AlkApiReq *req)
{
	FileCtx *ctx = alk_api_req_data(req);

	ctx->body_done = TRUE;
	if (ctx->task == NULL) {
		/* cannot happen: a failure mid-body refused the request */
		g_autoptr(GError) error =
		    g_error_new(ALK_ERROR, ALK_ERROR_FAILED, "the upload ended early");
		alk_api_reply_error(req, error);
		return;
	}
	alk_api_req_hold(req);
	alk_task_close(ctx->task);
}

/* ---- GET ---- */

static void get_info(AlkTask *task, guint64 size, guint32 mode, gpointer data)
{
	FileCtx *ctx = data;
	g_autofree char *text = g_strdup_printf("%04o", mode & 07777);

	ctx->size = size;
	ctx->mode = mode & 07777;
	if (!ctx->req->done)
		soup_message_headers_replace(
		    soup_server_message_get_response_headers(ctx->req->msg), "X-Airlock-Mode",
		    text);
	alk_api_req_stream_begin(ctx->req, SOUP_STATUS_OK, "application/octet-stream",
	                         (gint64)size);
}

static void get_data(AlkTask *task, int stream, const guint8 *d, gsize len, gpointer data)
{
	FileCtx *ctx = data;

	g_checksum_update(ctx->sum, d, len);
	ctx->bytes += len;
	alk_api_req_stream_write(ctx->req, d, len);
	if (ctx->req->unsent > ALK_API_STREAM_HIGH_WATER && !ctx->op_held) {
		ctx->op_held = TRUE;
		alk_task_hold(task, TRUE);
	}
}

static void get_drained(AlkApiReq *req, gpointer data)
{
	FileCtx *ctx = data;

	if (ctx->task != NULL && ctx->op_held) {
		ctx->op_held = FALSE;
		alk_task_hold(ctx->task, FALSE);
	}
}

static void get_done(AlkTask *task, const AlkTaskResult *result, gpointer data)
{
	FileCtx *ctx = data;

	ctx->task = NULL;
	audit_file(ctx, "sandbox.file_get", NULL);
	alk_api_req_stream_end(ctx->req);
}

static void get_failed(AlkTask *task, const GError *error, gpointer data)
{
	FileCtx *ctx = data;

	ctx->task = NULL;
	audit_file(ctx, "sandbox.file_get", error);
	if (!ctx->req->streaming) {
		alk_api_reply_error(ctx->req, error);
		return;
	}
	/* the length is promised already: a cut connection tells the client */
	alk_api_conn_drop(ctx->req->conn);
	alk_api_req_stream_end(ctx->req);
}

static const AlkTaskCallbacks get_callbacks = {
    .info = get_info,
    .output = get_data,
    .done = get_done,
    .failed = get_failed,
};

static void get_abort(AlkApiReq *req, gpointer data)
{
	FileCtx *ctx = data;
	g_autoptr(GError) error = NULL;

	g_clear_pointer(&ctx->task, alk_task_cancel);
	if (req->aborted || req->streaming) {
		alk_api_conn_drop(req->conn);
		alk_api_req_stream_end(req);
		return;
	}
	error = g_error_new(ALK_ERROR, ALK_ERROR_UNAVAILABLE, "airlockd is stopping");
	alk_api_reply_error(req, error);
}

static const AlkApiReqHooks get_hooks = {
    .abort = get_abort,
    .drained = get_drained,
};

void alk_api_files_get(AlkApiReq *req)
{
	FileCtx *ctx = ctx_new(req);
	g_autoptr(GError) error = NULL;

	ctx->task =
	    alk_manager_get(req->api->manager, req->id, req->file,
	                    req->api->config->api.max_file_bytes, &get_callbacks, ctx, &error);
	if (ctx->task == NULL) {
		ctx_free(ctx);
		alk_api_reply_error(req, error);
		return;
	}
	alk_api_req_hold(req);
	alk_api_req_attach(req, ctx, ctx_free, &get_hooks);
}
