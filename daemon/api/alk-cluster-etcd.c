/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* etcd's JSON gateway with libsoup: one POST, one JSON answer, failover
 * over the endpoints (alk-cluster.h). */
#include <errno.h>
#include <libsoup/soup.h>
#include <string.h>

#include "alk-cluster.h"
#include "alk-error.h"
#include "alk-json.h"

struct _AlkEtcd {
	gint refs;       /* the owner's and one per call under way */
	gboolean closed; /* the owner let go: calls under way end at once */
	SoupSession *session;
	GPtrArray *urls; /* char *, without a trailing slash */
	guint current;   /* the endpoint that answered last */
};

typedef struct {
	AlkEtcd *e;
	char *path;
	GBytes *body;
	GCancellable *cancel;
	AlkEtcdFunc func;
	gpointer data;
	guint tries;
	guint endpoint;
	guint status;
	GError *last; /* why the endpoints tried so far did not answer */
	guint8 *buf;
	GInputStream *in;
} Call;

AlkEtcd *alk_etcd_new(const char *endpoints, guint timeout_s, GError **error)
{
	g_autoptr(AlkEtcd) e = g_new0(AlkEtcd, 1);
	g_auto(GStrv) parts = g_strsplit(endpoints, ",", -1);

	e->refs = 1;
	e->urls = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; parts[i] != NULL; i++) {
		char *u = g_strstrip(parts[i]);
		gsize n = strlen(u);
		if (n == 0)
			continue;
		while (n > 0 && u[n - 1] == '/')
			u[--n] = '\0';
		g_ptr_array_add(e->urls, g_strdup(u));
	}
	if (e->urls->len == 0 || e->urls->len > ALK_ETCD_MAX_ENDPOINTS) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "cluster.etcd: between 1 and %u endpoints, not %u",
		            ALK_ETCD_MAX_ENDPOINTS, e->urls->len);
		return NULL;
	}
	e->session =
	    soup_session_new_with_options("timeout", timeout_s, "idle-timeout", 30,
	                                  "max-conns-per-host", 4, "user-agent", "airlockd", NULL);
	return g_steal_pointer(&e);
}

static void etcd_unref(AlkEtcd *e)
{
	if (--e->refs > 0)
		return;
	g_clear_object(&e->session);
	g_ptr_array_unref(e->urls);
	g_free(e);
}

void alk_etcd_free(AlkEtcd *e)
{
	if (e == NULL)
		return;
	e->closed = TRUE;
	if (e->session != NULL)
		soup_session_abort(e->session);
	etcd_unref(e);
}

static void call_free(Call *call)
{
	etcd_unref(call->e);
	g_free(call->path);
	g_bytes_unref(call->body);
	g_clear_object(&call->cancel);
	g_clear_error(&call->last);
	g_free(call->buf);
	g_clear_object(&call->in);
	g_free(call);
}

static void call_end(Call *call, JsonObject *answer, const GError *error)
{
	call->func(answer, error, call->data);
	call_free(call);
}

static void try_next(Call *call);

/* This endpoint did not answer (or answered 5xx): the next one, if any. */
static void failed_over(Call *call, GError *why)
{
	const char *url = g_ptr_array_index(call->e->urls, call->endpoint);

	g_clear_error(&call->last);
	call->last =
	    g_error_new(ALK_ERROR, ALK_ERROR_UNAVAILABLE, "etcd %s: %s", url, why->message);
	g_error_free(why);
	g_clear_object(&call->in);
	if (call->e->closed || g_cancellable_is_cancelled(call->cancel) ||
	    call->tries >= call->e->urls->len) {
		g_autoptr(GError) none = NULL;
		if (call->tries > 1)
			none = g_error_new(
			    ALK_ERROR, ALK_ERROR_UNAVAILABLE,
			    "none of the %u etcd endpoints tried answered (the last, %s)",
			    call->tries, call->last->message);
		call_end(call, NULL, none != NULL ? none : call->last);
		return;
	}
	call->endpoint = (call->endpoint + 1) % call->e->urls->len;
	try_next(call);
}

/* The message of an error answer, made printable and short: never the raw
 * bytes of what a peer sent. */
static char *answer_message(JsonObject *o)
{
	const char *m = NULL;
	JsonNode *n;

	if (o != NULL && (n = json_object_get_member(o, "message")) != NULL &&
	    JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING)
		m = json_node_get_string(n);
	else if (o != NULL && (n = json_object_get_member(o, "error")) != NULL &&
	         JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING)
		m = json_node_get_string(n);
	if (m == NULL)
		return g_strdup("(no message)");
	g_autofree char *cut = g_utf8_make_valid(m, MIN(strlen(m), 200));
	return g_strescape(cut, NULL);
}

static void on_read(GObject *source, GAsyncResult *res, gpointer data)
{
	Call *call = data;
	gsize got = 0;
	GError *error = NULL;
	g_autoptr(JsonObject) answer = NULL;
	const char *url = g_ptr_array_index(call->e->urls, call->endpoint);

	if (!g_input_stream_read_all_finish(G_INPUT_STREAM(source), res, &got, &error)) {
		failed_over(call, error);
		return;
	}
	g_input_stream_close(call->in, NULL, NULL);
	if (got > ALK_ETCD_MAX_ANSWER) {
		g_autoptr(GError) big =
		    g_error_new(ALK_ERROR, ALK_ERROR_PROTOCOL, "etcd %s: an answer over %u bytes",
		                url, ALK_ETCD_MAX_ANSWER);
		call_end(call, NULL, big);
		return;
	}
	answer = alk_json_parse_object((const char *)call->buf, got, ALK_ETCD_MAX_ANSWER,
	                               ALK_JSON_MAX_DEPTH, &error);
	if (call->status >= 500) {
		g_autofree char *m = answer_message(answer);
		g_clear_error(&error);
		failed_over(call, g_error_new(ALK_ERROR, ALK_ERROR_UNAVAILABLE, "HTTP %u: %s",
		                              call->status, m));
		return;
	}
	if (call->status != 200) {
		g_autofree char *m = answer_message(answer);
		g_autoptr(GError) refused =
		    g_error_new(ALK_ERROR, ALK_ERROR_FAILED, "etcd %s refused %s (HTTP %u): %s",
		                url, call->path, call->status, m);
		g_clear_error(&error);
		call_end(call, NULL, refused);
		return;
	}
	if (answer == NULL) {
		g_autoptr(GError) bad =
		    g_error_new(ALK_ERROR, ALK_ERROR_PROTOCOL, "etcd %s: not a JSON object: %s",
		                url, error->message);
		g_clear_error(&error);
		call_end(call, NULL, bad);
		return;
	}
	call->e->current = call->endpoint;
	call_end(call, answer, NULL);
}

static void on_sent(GObject *source, GAsyncResult *res, gpointer data)
{
	Call *call = data;
	GError *error = NULL;
	SoupMessage *msg = soup_session_get_async_result_message(SOUP_SESSION(source), res);
	GInputStream *in = soup_session_send_finish(SOUP_SESSION(source), res, &error);

	if (in == NULL) {
		failed_over(call, error);
		return;
	}
	call->in = in;
	call->status = soup_message_get_status(msg);
	/* one byte more than allowed: so an answer too long is known as such */
	if (call->buf == NULL)
		call->buf = g_malloc(ALK_ETCD_MAX_ANSWER + 1);
	g_input_stream_read_all_async(in, call->buf, ALK_ETCD_MAX_ANSWER + 1, G_PRIORITY_DEFAULT,
	                              call->cancel, on_read, call);
}

static void try_next(Call *call)
{
	const char *base = g_ptr_array_index(call->e->urls, call->endpoint);
	g_autofree char *url = g_strconcat(base, call->path, NULL);
	g_autoptr(SoupMessage) msg = NULL;

	call->tries++;
	if (call->e->closed) {
		failed_over(call,
		            g_error_new(ALK_ERROR, ALK_ERROR_UNAVAILABLE, "airlockd is stopping"));
		return;
	}
	msg = soup_message_new("POST", url);
	if (msg == NULL) {
		failed_over(call, g_error_new(ALK_ERROR, ALK_ERROR_INVALID, "not a URL: %s", url));
		return;
	}
	soup_message_set_request_body_from_bytes(msg, "application/json", call->body);
	soup_session_send_async(call->e->session, msg, G_PRIORITY_DEFAULT, call->cancel, on_sent,
	                        call);
}

static gboolean start_idle(gpointer data)
{
	try_next(data);
	return G_SOURCE_REMOVE;
}

void alk_etcd_call(AlkEtcd *e, const char *path, JsonNode *body, GCancellable *cancel,
                   AlkEtcdFunc func, gpointer data)
{
	Call *call = g_new0(Call, 1);
	char *text = alk_json_to_string(body);

	e->refs++;
	call->e = e;
	call->path = g_strdup(path);
	call->body = g_bytes_new_take(text, strlen(text));
	call->cancel = cancel != NULL ? g_object_ref(cancel) : g_cancellable_new();
	call->func = func;
	call->data = data;
	call->endpoint = e->current;
	g_idle_add(start_idle, call);
}

void alk_etcd_kv_free(AlkEtcdKv *kv)
{
	if (kv == NULL)
		return;
	g_free(kv->key);
	g_bytes_unref(kv->value);
	g_free(kv);
}

gboolean alk_etcd_answer_int(JsonObject *o, const char *member, gint64 def, gint64 *out,
                             GError **error)
{
	JsonNode *n = json_object_get_member(o, member);
	const char *s;
	char *end = NULL;

	*out = def;
	if (n == NULL || JSON_NODE_HOLDS_NULL(n))
		return TRUE;
	if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_INT64) {
		*out = json_node_get_int(n);
		return TRUE;
	}
	if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
		goto bad;
	s = json_node_get_string(n);
	if (s[0] == '\0' || strlen(s) > 20 || !(g_ascii_isdigit(s[0]) || s[0] == '-'))
		goto bad;
	errno = 0;
	*out = g_ascii_strtoll(s, &end, 10);
	if (errno != 0 || end == NULL || *end != '\0')
		goto bad;
	return TRUE;
bad:
	g_set_error(error, ALK_ERROR, ALK_ERROR_PROTOCOL, "etcd: %s is not an int64", member);
	return FALSE;
}

/* A base64 member decoded, at most max bytes; absent: empty. */
static GBytes *b64_member(JsonObject *o, const char *member, gsize max, GError **error)
{
	JsonNode *n = json_object_get_member(o, member);
	const char *s;
	guchar *raw;
	gsize len = 0;

	if (n == NULL)
		return g_bytes_new(NULL, 0);
	if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
		goto bad;
	s = json_node_get_string(n);
	if (strlen(s) > (max / 3 + 1) * 4 ||
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") !=
	        strlen(s) ||
	    strlen(s) % 4 != 0)
		goto bad;
	raw = g_base64_decode(s, &len);
	if (len > max) {
		g_free(raw);
		goto bad;
	}
	return g_bytes_new_take(raw, len);
bad:
	g_set_error(error, ALK_ERROR, ALK_ERROR_PROTOCOL,
	            "etcd: a kv's %s is not base64 of at most %zu bytes", member, max);
	return NULL;
}

GPtrArray *alk_etcd_answer_kvs(JsonObject *answer, GError **error)
{
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func((GDestroyNotify)alk_etcd_kv_free);
	JsonNode *n = json_object_get_member(answer, "kvs");
	JsonArray *kvs;

	if (n == NULL)
		return g_steal_pointer(&out);
	if (!JSON_NODE_HOLDS_ARRAY(n)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_PROTOCOL, "etcd: kvs is not an array");
		return NULL;
	}
	kvs = json_node_get_array(n);
	if (json_array_get_length(kvs) > ALK_ETCD_RANGE_LIMIT) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_PROTOCOL, "etcd: over %u kvs",
		            ALK_ETCD_RANGE_LIMIT);
		return NULL;
	}
	for (guint i = 0; i < json_array_get_length(kvs); i++) {
		JsonNode *item = json_array_get_element(kvs, i);
		g_autoptr(GBytes) key = NULL;
		AlkEtcdKv *kv;
		gsize klen = 0;
		const char *kdata;

		if (!JSON_NODE_HOLDS_OBJECT(item)) {
			g_set_error(error, ALK_ERROR, ALK_ERROR_PROTOCOL,
			            "etcd: kvs[%u] is not an object", i);
			return NULL;
		}
		key = b64_member(json_node_get_object(item), "key", 1024, error);
		if (key == NULL)
			return NULL;
		kdata = g_bytes_get_data(key, &klen);
		if (klen == 0 || memchr(kdata, '\0', klen) != NULL ||
		    !g_utf8_validate(kdata, klen, NULL)) {
			g_set_error(error, ALK_ERROR, ALK_ERROR_PROTOCOL,
			            "etcd: kvs[%u]'s key is empty or not text", i);
			return NULL;
		}
		kv = g_new0(AlkEtcdKv, 1);
		kv->key = g_strndup(kdata, klen);
		g_ptr_array_add(out, kv);
		kv->value =
		    b64_member(json_node_get_object(item), "value", ALK_ETCD_MAX_VALUE, error);
		if (kv->value == NULL ||
		    !alk_etcd_answer_int(json_node_get_object(item), "lease", 0, &kv->lease, error))
			return NULL;
	}
	return g_steal_pointer(&out);
}

void alk_etcd_add_b64(JsonBuilder *b, const char *member, const void *data, gsize len)
{
	g_autofree char *s = g_base64_encode(data, len);

	json_builder_set_member_name(b, member);
	json_builder_add_string_value(b, s);
}

char *alk_etcd_prefix_end(const char *prefix)
{
	char *end = g_strdup(prefix);
	gsize n = strlen(end);

	/* every prefix here ends in '/', never 0xff */
	end[n - 1]++;
	return end;
}
