/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Watching a sandbox's screen from a browser (docs/guide.md, "Watching").
 *
 * POST /v1/sandboxes/{id}/watch (scope read) hands out a ticket: 32 random
 * bytes, good for one WebSocket to that sandbox's screen within
 * ALK_WATCH_TICKET_TTL_S; with ?control=1 (scope write) one whose stream
 * takes input (alk-api-watch-ws.c). Browsers cannot put an Authorization header on a
 * WebSocket, so GET .../screen/ws takes the ticket in its query instead of a
 * caller's credentials; it is spent by the handshake that shows it. Only its
 * SHA-256 is kept, so the table's lookups say nothing about the secret.
 * GET .../watch is the viewer page: static, self-contained, no data of the
 * daemon's, so it needs no credentials; it reads the ticket from the URL's
 * fragment, which browsers never send to the server. */
#include <string.h>
#include <unistd.h>

#include "alk-api-private.h"
#include "alk-api-watch.h"
#include "alk-error.h"
#include "alk-json.h"

typedef struct {
	char *id;     /* the sandbox */
	char *caller; /* who asked for it */
	gint64 expires_us;
	gboolean control; /* the stream takes input (asked with write scope) */
} Ticket;

static void ticket_free(gpointer data)
{
	Ticket *t = data;
	g_free(t->id);
	g_free(t->caller);
	g_free(t);
}

static void watch_clear(gpointer data)
{
	AlkWatch *w = data;
	g_hash_table_unref(w->tickets);
	g_hash_table_unref(w->viewers);
}

AlkWatch *alk_api_watch_of(AlkApi *api)
{
	if (api->watch == NULL) {
		api->watch = g_rc_box_new0(AlkWatch);
		api->watch->tickets =
		    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, ticket_free);
		api->watch->viewers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	}
	return api->watch;
}

AlkWatch *alk_api_watch_ref(AlkWatch *w)
{
	return g_rc_box_acquire(w);
}

void alk_api_watch_unref(AlkWatch *w)
{
	g_rc_box_release_full(w, watch_clear);
}

static void forget_watch(AlkApi *api)
{
	if (api->watch == NULL)
		return;
	g_hash_table_remove_all(api->watch->tickets);
	g_clear_pointer(&api->watch, alk_api_watch_unref);
}

const AlkApiResource alk_api_watch_resource = {
    .name = "watch tickets",
    .api_free = forget_watch,
};

static char *secret_digest(const char *secret)
{
	return g_compute_checksum_for_string(G_CHECKSUM_SHA256, secret, -1);
}

static void expire(AlkWatch *w)
{
	GHashTableIter it;
	gpointer value;
	gint64 now = g_get_monotonic_time();

	g_hash_table_iter_init(&it, w->tickets);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		if (((Ticket *)value)->expires_us <= now)
			g_hash_table_iter_remove(&it);
	}
}

static char *new_secret(void)
{
	guint8 raw[32];
	GString *hex = g_string_sized_new(64);
	if (getentropy(raw, sizeof(raw)) != 0)
		return NULL;
	for (guint i = 0; i < sizeof(raw); i++)
		g_string_append_printf(hex, "%02x", raw[i]);
	memset(raw, 0, sizeof(raw));
	return g_string_free(hex, FALSE);
}

void alk_api_watch_post(AlkApiReq *req)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonBuilder) b = json_builder_new();
	const AlkSandbox *sb = alk_api_req_sandbox(req, &error);
	AlkWatch *w = alk_api_watch_of(req->api);
	const char *control = alk_api_query(req, "control");
	gboolean with_control = g_strcmp0(control, "1") == 0 || g_strcmp0(control, "true") == 0;
	g_autofree char *secret = NULL;
	Ticket *t;

	if (sb == NULL) {
		alk_api_reply_error(req, error);
		return;
	}
	/* input is what POST /computer does: its scope, write */
	if (control != NULL && !with_control && g_strcmp0(control, "0") != 0 &&
	    g_strcmp0(control, "false") != 0) {
		error = g_error_new(ALK_ERROR, ALK_ERROR_INVALID, "control must be 1 or 0");
		alk_api_reply_error(req, error);
		return;
	}
	if (with_control && req->scope < ALK_SCOPE_WRITE) {
		error = g_error_new(ALK_API_ERROR, ALK_API_ERROR_FORBIDDEN,
		                    "a watch with control sends input: it needs the write scope");
		alk_api_reply_error(req, error);
		return;
	}
	if (sb->limits.display_width == 0) {
		error = g_error_new(ALK_ERROR, ALK_ERROR_CONFLICT,
		                    "sandbox %s has no display (create it with display)", sb->id);
		alk_api_reply_error(req, error);
		return;
	}
	expire(w);
	if (g_hash_table_size(w->tickets) >= ALK_WATCH_TICKETS_MAX) {
		error = g_error_new(ALK_ERROR, ALK_ERROR_LIMIT,
		                    "%d watch tickets are outstanding; they expire after %d s",
		                    ALK_WATCH_TICKETS_MAX, ALK_WATCH_TICKET_TTL_S);
		alk_api_reply_error(req, error);
		return;
	}
	secret = new_secret();
	if (secret == NULL) {
		error = g_error_new(ALK_ERROR, ALK_ERROR_FAILED, "no randomness for a ticket");
		alk_api_reply_error(req, error);
		return;
	}
	t = g_new0(Ticket, 1);
	t->id = g_strdup(sb->id);
	t->caller = g_strdup(req->caller);
	t->expires_us = g_get_monotonic_time() + ALK_WATCH_TICKET_TTL_S * G_USEC_PER_SEC;
	t->control = with_control;
	g_hash_table_replace(w->tickets, secret_digest(secret), t);

	g_autofree char *page = g_strdup_printf("/v1/sandboxes/%s/watch#ticket=%s%s", sb->id,
	                                        secret, with_control ? "&control=1" : "");
	g_autofree char *ws =
	    g_strdup_printf("/v1/sandboxes/%s/screen/ws?ticket=%s", sb->id, secret);
	json_builder_begin_object(b);
	alk_json_add_string(b, "ticket", secret);
	alk_json_add_int(b, "expires_in_s", ALK_WATCH_TICKET_TTL_S);
	alk_json_add_string(b, "watch_path", page);
	alk_json_add_string(b, "ws_path", ws);
	alk_json_add_bool(b, "control", with_control);
	json_builder_end_object(b);
	alk_api_reply_builder(req, SOUP_STATUS_CREATED, b);
}

static gboolean bad_ticket(GError **error)
{
	g_set_error(error, ALK_API_ERROR, ALK_API_ERROR_UNAUTHORIZED,
	            "the watch ticket is not valid (unknown, used, expired or for another "
	            "sandbox): ask POST /v1/sandboxes/{id}/watch for a new one");
	return FALSE;
}

/* The ticket in the raw query, spent whether or not it fits: one try each. */
static gboolean auth_ticket(AlkApiReq *req, const char *query, GError **error)
{
	AlkWatch *w = alk_api_watch_of(req->api);
	g_autoptr(GHashTable) params = NULL;
	const char *secret;
	g_autofree char *digest = NULL;
	gpointer key = NULL, value = NULL;
	g_autofree char *owned_key = NULL;
	Ticket *t;

	if (query != NULL)
		params = g_uri_parse_params(query, -1, "&", G_URI_PARAMS_NONE, NULL);
	secret = params != NULL ? g_hash_table_lookup(params, "ticket") : NULL;
	if (secret == NULL || strlen(secret) != 64)
		return bad_ticket(error);
	expire(w);
	digest = secret_digest(secret);
	if (!g_hash_table_steal_extended(w->tickets, digest, &key, &value))
		return bad_ticket(error);
	owned_key = key;
	t = value;
	if (g_strcmp0(t->id, req->id) != 0) {
		ticket_free(t);
		return bad_ticket(error);
	}
	req->caller = g_strdup_printf("watch:%s", t->caller);
	/* the stream's own route is read; write marks a stream that takes input */
	req->scope = t->control ? ALK_SCOPE_WRITE : ALK_SCOPE_READ;
	req->authed = TRUE;
	alk_api_conn_authenticated(req->conn);
	ticket_free(t);
	return TRUE;
}

gboolean alk_api_watch_auth(AlkApiReq *req, const char *query, GError **error)
{
	if (req->route->auth == ALK_API_AUTH_TICKET)
		return auth_ticket(req, query, error);
	/* ALK_API_AUTH_NONE: the static page */
	req->caller = g_strdup("anonymous");
	req->scope = ALK_SCOPE_READ;
	return TRUE;
}

void alk_api_watch_page(AlkApiReq *req)
{
	SoupMessageHeaders *h = soup_server_message_get_response_headers(req->msg);
	gsize len = strlen(alk_api_watch_html);

	/* nothing from elsewhere, nothing of ours but the screen's stream */
	soup_message_headers_replace(h, "Content-Security-Policy",
	                             "default-src 'none'; script-src 'unsafe-inline'; "
	                             "style-src 'unsafe-inline'; img-src blob:; "
	                             "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'");
	soup_message_headers_replace(h, "Referrer-Policy", "no-referrer");
	soup_message_headers_replace(h, "X-Content-Type-Options", "nosniff");
	soup_message_headers_replace(h, "Cache-Control", "no-store");
	alk_api_reply_text(req, SOUP_STATUS_OK, "text/html; charset=utf-8",
	                   g_memdup2(alk_api_watch_html, len), len);
}
