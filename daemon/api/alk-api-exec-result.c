/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The answer of an unstreamed exec: {exit_code, signal, timed_out, stdout
 * or stdout_b64, stderr or stderr_b64, truncated, duration_ms}, written as
 * the client takes it, a slice at a time, straight from the output the
 * exec kept. Building it whole (a JsonNode of a 64 MiB string, then its
 * text) held the output three or four times over; this holds it once, plus
 * what is in flight to the client. */
#include <string.h>

#include "alk-api-private.h"

/* Output bytes turned into body text per step. */
#define SLICE (48 * 1024)

typedef enum { PART_HEAD, PART_STDOUT, PART_STDERR, PART_TAIL, PART_DONE } Part;

typedef struct {
	AlkApiReq *req;
	GByteArray *out[2];
	gboolean text[2]; /* valid UTF-8 without NUL: a JSON string; else base64 */
	Part part;
	gsize off; /* into the current stream */
	gint b64_state, b64_save;
	GString *head, *tail;
} Writer;

/* Gives out's bytes back to the daemon's budget for kept output. */
static void release(Writer *w, GByteArray *out)
{
	alk_api_output_drop(w->req->api, out);
}

static void writer_free(gpointer data)
{
	Writer *w = data;

	for (guint i = 0; i < 2; i++) {
		release(w, w->out[i]);
		g_byte_array_unref(w->out[i]);
	}
	g_string_free(w->head, TRUE);
	g_string_free(w->tail, TRUE);
	g_free(w);
}

gboolean alk_api_output_is_text(const guint8 *data, gsize len)
{
	/* an empty GByteArray has no data at all */
	return len == 0 ||
	       (g_utf8_validate_len((const char *)data, len, NULL) && memchr(data, 0, len) == NULL);
}

/* JSON string content of text: quotes, backslashes and control characters
 * escaped, everything else (UTF-8 included) as it is. */
static void escape(GString *s, const guint8 *d, gsize len)
{
	static const char hex[] = "0123456789abcdef";

	for (gsize i = 0; i < len; i++) {
		guint8 c = d[i];
		if (c == '"' || c == '\\') {
			g_string_append_c(s, '\\');
			g_string_append_c(s, (char)c);
		} else if (c == '\n') {
			g_string_append(s, "\\n");
		} else if (c == '\t') {
			g_string_append(s, "\\t");
		} else if (c == '\r') {
			g_string_append(s, "\\r");
		} else if (c < 0x20 || c == 0x7f) {
			g_string_append(s, "\\u00");
			g_string_append_c(s, hex[c >> 4]);
			g_string_append_c(s, hex[c & 15]);
		} else {
			g_string_append_c(s, (char)c);
		}
	}
}

/* The next piece of the stream i's member: its key, a slice, its end. */
static void stream_step(Writer *w, guint i, GString *s)
{
	static const char *const keys[] = {"stdout", "stderr"};
	GByteArray *out = w->out[i];
	gsize n = MIN((gsize)SLICE, out->len - w->off);

	if (w->off == 0)
		g_string_append_printf(s, "\"%s%s\":\"", keys[i], w->text[i] ? "" : "_b64");
	/* an empty stream's array may have no data pointer at all */
	if (n > 0 && w->text[i]) {
		escape(s, out->data + w->off, n);
	} else if (n > 0) {
		gsize at = s->len;
		g_string_set_size(s, at + (n / 3 + 1) * 4 + 4);
		g_string_set_size(s, at + g_base64_encode_step(out->data + w->off, n, FALSE,
		                                               s->str + at, &w->b64_state,
		                                               &w->b64_save));
	}
	w->off += n;
	if (w->off < out->len)
		return;
	if (!w->text[i]) {
		gsize at = s->len;
		g_string_set_size(s, at + 4);
		g_string_set_size(
		    s, at + g_base64_encode_close(FALSE, s->str + at, &w->b64_state, &w->b64_save));
	}
	g_string_append(s, "\",");
	/* what went out is not kept */
	release(w, out);
	w->off = 0;
	w->b64_state = w->b64_save = 0;
	w->part++;
}

static void pump(AlkApiReq *req, gpointer data)
{
	Writer *w = data;
	g_autoptr(GString) s = g_string_new(NULL);

	while (w->part != PART_DONE && req->unsent < ALK_API_STREAM_HIGH_WATER && !req->done) {
		g_string_truncate(s, 0);
		if (w->part == PART_HEAD || w->part == PART_TAIL) {
			GString *piece = w->part == PART_HEAD ? w->head : w->tail;
			g_string_append_len(s, piece->str, (gssize)piece->len);
			w->part++;
		} else {
			stream_step(w, w->part == PART_STDOUT ? 0 : 1, s);
		}
		alk_api_req_stream_write(req, s->str, s->len);
	}
	if (w->part == PART_DONE || req->done)
		alk_api_req_stream_end(req);
}

static void on_abort(AlkApiReq *req, gpointer data)
{
	alk_api_conn_drop(req->conn);
	alk_api_req_stream_end(req);
}

static const AlkApiReqHooks writer_hooks = {
    .abort = on_abort,
    .drained = pump,
};

void alk_api_exec_result_send(AlkApiReq *req, const AlkTaskResult *result, gboolean truncated,
                              GByteArray *out[2])
{
	const AlkMsgExit *exit = result->exit;
	Writer *w = g_new0(Writer, 1);

	w->req = req;
	w->head = g_string_new("{");
	if (exit->signo == 0)
		g_string_append_printf(w->head, "\"exit_code\":%d,\"signal\":null,",
		                       exit->exit_code);
	else
		g_string_append_printf(w->head, "\"exit_code\":null,\"signal\":%u,", exit->signo);
	g_string_append_printf(w->head, "\"timed_out\":%s,", exit->timed_out ? "true" : "false");
	w->tail = g_string_new(NULL);
	g_string_append_printf(w->tail, "\"truncated\":%s,\"duration_ms\":%" G_GUINT64_FORMAT "}",
	                       truncated ? "true" : "false", exit->duration_ms);
	for (guint i = 0; i < 2; i++) {
		w->out[i] = g_byte_array_ref(out[i]);
		w->text[i] = alk_api_output_is_text(out[i]->data, out[i]->len);
	}
	alk_api_req_attach(req, w, writer_free, &writer_hooks);
	alk_api_req_stream_begin(req, SOUP_STATUS_OK, "application/json", -1);
	pump(req, w);
}
