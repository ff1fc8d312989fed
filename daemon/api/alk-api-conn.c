/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Client connections. libsoup 3.2 has no connection limit and no
 * timeouts, and never tells when a client hangs up during a paused
 * response, so connections are accepted here: counted (per pool, per peer,
 * and while their caller is not known, in a smaller share), handed to
 * libsoup through a stream that records the request line, timed while
 * their request is read, and watched while their answer waits. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "alk-api-private.h"

/* A refused request's connection reads and drops what still comes for at
 * most this long and this much, so the client sees the answer, not a reset. */
#define LINGER_MS 2000
#define LINGER_BYTES (16 * 1024 * 1024)

AlkApiConn *alk_api_conn_ref(AlkApiConn *conn)
{
	conn->refs++;
	return conn;
}

void alk_api_conn_unref(AlkApiConn *conn)
{
	if (conn == NULL || --conn->refs > 0)
		return;
	g_clear_handle_id(&conn->timer, g_source_remove);
	alk_api_conn_unwatch(conn);
	if (conn->tap != NULL) {
		alk_api_tap_forget(conn->tap);
		g_object_remove_weak_pointer(G_OBJECT(conn->tap), (gpointer *)&conn->tap);
	}
	g_clear_object(&conn->socket);
	g_clear_object(&conn->tls);
	g_clear_object(&conn->sockconn);
	g_free(conn->peer);
	g_free(conn);
}

/* ---- counting ---- */

const char *alk_api_conn_admit(const AlkApiConfig *c, AlkApiPool pool, const AlkApiCount *in_pool,
                               const AlkApiCount *of_peer, gboolean authed)
{
	/* a share is never more than what it is a share of */
	guint per_peer = MIN(c->max_connections_per_peer, c->max_connections);
	guint unauth = MIN(c->max_unauthenticated, c->max_connections);
	guint unauth_per_peer = MIN(c->max_unauthenticated_per_peer, MIN(unauth, per_peer));

	if (in_pool->open >= c->max_connections)
		return "api.max_connections";
	/* root's pool is root's alone */
	if (pool != ALK_API_POOL_ROOT && of_peer->open >= per_peer)
		return "api.max_connections_per_peer";
	if (!authed && in_pool->unauth >= unauth)
		return "api.max_unauthenticated";
	if (!authed && of_peer->unauth >= unauth_per_peer)
		return "api.max_unauthenticated_per_peer";
	return NULL;
}

static AlkApiCount *peer_count(AlkApi *api, const char *peer)
{
	AlkApiCount *n = g_hash_table_lookup(api->peers, peer);

	if (n == NULL) {
		n = g_new0(AlkApiCount, 1);
		g_hash_table_insert(api->peers, g_strdup(peer), n);
	}
	return n;
}

static void count(AlkApiConn *conn)
{
	AlkApiCount *peer = peer_count(conn->api, conn->peer);

	conn->counted = TRUE;
	conn->api->pools[conn->pool].open++;
	peer->open++;
	if (!conn->authed) {
		conn->api->pools[conn->pool].unauth++;
		peer->unauth++;
	}
}

static void uncount(AlkApiConn *conn)
{
	AlkApiCount *peer = g_hash_table_lookup(conn->api->peers, conn->peer);

	if (!conn->counted || peer == NULL)
		return;
	conn->counted = FALSE;
	conn->api->pools[conn->pool].open--;
	peer->open--;
	if (!conn->authed) {
		conn->api->pools[conn->pool].unauth--;
		peer->unauth--;
	}
	if (peer->open == 0)
		g_hash_table_remove(conn->api->peers, conn->peer);
}

void alk_api_conn_authenticated(AlkApiConn *conn)
{
	AlkApiCount *peer;

	if (conn->authed)
		return;
	conn->authed = TRUE;
	if (!conn->counted || conn->api == NULL ||
	    (peer = g_hash_table_lookup(conn->api->peers, conn->peer)) == NULL)
		return;
	conn->api->pools[conn->pool].unauth--;
	peer->unauth--;
}

/* libsoup (or whoever stole the connection) closed it: close the socket
 * too (the stream alone does not; a cut one is closed once drained) and
 * stop counting it. */
static void on_closed(gpointer data)
{
	AlkApiConn *conn = data;

	if (conn->closed)
		return;
	conn->closed = TRUE;
	g_clear_handle_id(&conn->timer, g_source_remove);
	alk_api_conn_unwatch(conn);
	if (conn->cut == 0)
		g_io_stream_close(G_IO_STREAM(conn->sockconn), NULL, NULL);
	if (conn->api != NULL) {
		uncount(conn);
		g_hash_table_remove(conn->api->conns, conn);
	}
}

static void refuse_busy(AlkApiConn *conn, const char *limit)
{
	static gint64 last_warning;
	gint64 now = g_get_monotonic_time();
	g_autofree char *body = g_strdup_printf(
	    "{\"error\":{\"code\":\"limit_exceeded\",\"message\":\"too many connections to "
	    "airlockd (%s)\"}}",
	    limit);
	g_autofree char *response =
	    g_strdup_printf("HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
	                    "Content-Length: %" G_GSIZE_FORMAT "\r\nConnection: close\r\n\r\n%s",
	                    strlen(body), body);

	/* a fresh socket's buffer takes this much without blocking; over TLS
	 * (no handshake yet) the connection is just closed */
	if (conn->tls == NULL && !(conn->tcp && conn->api != NULL && conn->api->tls != NULL))
		g_socket_send(conn->socket, response, strlen(response), NULL, NULL);
	g_socket_shutdown(conn->socket, FALSE, TRUE, NULL);
	g_io_stream_close(G_IO_STREAM(conn->sockconn), NULL, NULL);
	if (now - last_warning > 10 * G_USEC_PER_SEC) {
		g_warning("refusing connections: %s reached (%s)", limit, conn->peer);
		last_warning = now;
	}
}

static GSocketAddress *any_address(void)
{
	g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	return g_inet_socket_address_new(lo, 0);
}

static void set_peer_tcp(AlkApiConn *conn)
{
	g_autoptr(GSocketAddress) addr = g_socket_get_remote_address(conn->socket, NULL);
	g_autofree char *ip = NULL;

	if (G_IS_INET_SOCKET_ADDRESS(addr))
		ip = g_inet_address_to_string(
		    g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(addr)));
	conn->peer = g_strdup_printf("tcp:%s", ip != NULL ? ip : "unknown");
	conn->scope = 0;
}

/* ---- a head cut off ---- */

/* What is still sent after the answer is read and dropped, for a while,
 * so the client sees the answer rather than a reset. */
typedef struct {
	AlkApiConn *conn;
	GSource *source;
	guint timer;
	guint64 drained;
} Drain;

static void drain_end(Drain *d)
{
	g_clear_handle_id(&d->timer, g_source_remove);
	g_source_destroy(d->source);
	g_source_unref(d->source);
	g_io_stream_close(G_IO_STREAM(d->conn->sockconn), NULL, NULL);
	alk_api_conn_unref(d->conn);
	g_free(d);
}

static gboolean drain_timeout(gpointer data)
{
	Drain *d = data;
	d->timer = 0;
	drain_end(d);
	return G_SOURCE_REMOVE;
}

static gboolean drain_read(GSocket *sock, GIOCondition cond, gpointer data)
{
	Drain *d = data;
	char buf[16384];
	gssize n = recv(g_socket_get_fd(sock), buf, sizeof(buf), MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return G_SOURCE_CONTINUE;
	d->drained += MAX(n, 0);
	if (n > 0 && d->drained < LINGER_BYTES)
		return G_SOURCE_CONTINUE;
	drain_end(d);
	return G_SOURCE_REMOVE;
}

/* The tap cut the head off (414, 431): libsoup reads no more of it and
 * will drop the connection without a word; the answer is ours. */
static void on_cut(gpointer data, guint status)
{
	AlkApiConn *conn = data;
	Drain *d = g_new0(Drain, 1);
	g_autoptr(GError) error =
	    status == 414 ? g_error_new(ALK_API_ERROR, ALK_API_ERROR_URI_TOO_LONG,
	                                "the request line is over %u bytes", ALK_API_LINE_MAX)
	                  : g_error_new(ALK_API_ERROR, ALK_API_ERROR_HEAD_TOO_LARGE,
	                                "the request head is over %u bytes", ALK_API_HEAD_MAX);
	g_autofree char *json = alk_api_error_json(error);
	g_autoptr(GBytes) response = alk_api_raw_response(status, json, NULL);
	gsize len = 0;
	const char *text = g_bytes_get_data(response, &len);

	g_message("%s: %u: %s", conn->peer, status, error->message);
	conn->cut = status;
	if (conn->tls != NULL) {
		/* the answer would have to go through TLS, which libsoup still
		 * holds: the connection is dropped instead */
		g_free(d);
		g_socket_shutdown(conn->socket, TRUE, TRUE, NULL);
		return;
	}
	/* a fresh socket's buffer takes this much without blocking */
	g_socket_send(conn->socket, text, len, NULL, NULL);
	g_socket_shutdown(conn->socket, FALSE, TRUE, NULL);
	d->conn = alk_api_conn_ref(conn);
	d->timer = g_timeout_add(LINGER_MS, drain_timeout, d);
	d->source = g_socket_create_source(conn->socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
	g_source_set_callback(d->source, G_SOURCE_FUNC(drain_read), d, NULL);
	g_source_attach(d->source, NULL);
}

static GIOStream *wrap(AlkApiConn *conn)
{
	GIOStream *base = conn->tls != NULL ? G_IO_STREAM(conn->tls) : G_IO_STREAM(conn->sockconn);
	g_autoptr(GInputStream) tap =
	    alk_api_tap_new(g_io_stream_get_input_stream(base), on_closed, conn);

	conn->tap = tap;
	g_object_add_weak_pointer(G_OBJECT(tap), (gpointer *)&conn->tap);
	alk_api_tap_limit(tap, ALK_API_LINE_MAX, ALK_API_HEAD_MAX, on_cut);
	return g_simple_io_stream_new(tap, g_io_stream_get_output_stream(base));
}

static void hand_over(AlkApiConn *conn);

/* The client's certificate, checked against daemon.tls_client_ca (the
 * connection's database): accepted only without any error; refused saying
 * why. glib-networking asks here even when the check found none. */
static gboolean on_client_cert(GTlsConnection *tls, GTlsCertificate *cert,
                               GTlsCertificateFlags errors, gpointer data)
{
	AlkApiConn *conn = data;

	if (errors == 0 && cert != NULL)
		return TRUE;
	g_message("%s: client certificate refused (GTlsCertificateFlags 0x%x: 0x1 unknown CA, "
	          "0x2 bad identity, 0x4 not yet valid, 0x8 expired, 0x10 revoked, 0x20 insecure)",
	          conn->peer, (guint)errors);
	return FALSE;
}

static void on_handshake(GObject *source, GAsyncResult *res, gpointer data)
{
	AlkApiConn *conn = data;
	g_autoptr(GError) error = NULL;
	gboolean ok = g_tls_connection_handshake_finish(G_TLS_CONNECTION(source), res, &error);

	if (conn->api == NULL || conn->closed) {
		alk_api_conn_unref(conn);
		return;
	}
	if (!ok) {
		g_message("%s: TLS handshake failed: %s", conn->peer, error->message);
		alk_api_conn_drop(conn);
		on_closed(conn);
		alk_api_conn_unref(conn);
		return;
	}
	hand_over(conn);
	alk_api_conn_unref(conn);
}

/* TLS over a TCP connection, its handshake done before libsoup sees it.
 * With daemon.tls_client_ca the client must show a certificate that CA
 * signed, or the handshake fails. */
static gboolean start_tls(AlkApiConn *conn)
{
	g_autoptr(GError) error = NULL;
	GIOStream *tls =
	    g_tls_server_connection_new(G_IO_STREAM(conn->sockconn), conn->api->tls, &error);

	if (tls == NULL) {
		g_warning("%s: TLS: %s", conn->peer, error->message);
		g_io_stream_close(G_IO_STREAM(conn->sockconn), NULL, NULL);
		return FALSE;
	}
	conn->tls = G_TLS_CONNECTION(tls);
	if (conn->api->tls_clients != NULL) {
		g_tls_connection_set_database(conn->tls, conn->api->tls_clients);
		g_object_set(tls, "authentication-mode", G_TLS_AUTHENTICATION_REQUIRED, NULL);
		g_signal_connect(tls, "accept-certificate", G_CALLBACK(on_client_cert), conn);
	}
	return TRUE;
}

/* A new connection, its caller known as far as the kernel says. */
static AlkApiConn *conn_new(AlkApi *api, GSocketConnection *sockconn, gboolean tcp)
{
	AlkApiConn *conn = g_new0(AlkApiConn, 1);

	conn->refs = 1;
	conn->api = api;
	conn->tcp = tcp;
	conn->sockconn = g_object_ref(sockconn);
	conn->socket = g_object_ref(g_socket_connection_get_socket(sockconn));
	conn->accepted_us = g_get_monotonic_time();
	if (tcp)
		set_peer_tcp(conn);
	else
		alk_api_auth_unix(api, conn);
	conn->pool = tcp                              ? ALK_API_POOL_TCP
	             : conn->scope == ALK_SCOPE_ADMIN ? ALK_API_POOL_ROOT
	                                              : ALK_API_POOL_UNIX;
	conn->authed = !tcp && conn->scope != 0;
	return conn;
}

void alk_api_conn_accept(AlkApi *api, GSocketConnection *sockconn, gboolean tcp)
{
	AlkApiConn *conn = conn_new(api, sockconn, tcp);
	const AlkApiCount none = {0, 0};
	const AlkApiCount *peer = g_hash_table_lookup(api->peers, conn->peer);
	const char *limit =
	    alk_api_conn_admit(&api->config->api, conn->pool, &api->pools[conn->pool],
	                       peer != NULL ? peer : &none, conn->authed);

	if (limit != NULL) {
		refuse_busy(conn, limit);
		conn->api = NULL;
		alk_api_conn_unref(conn);
		return;
	}
	if (tcp && api->tls != NULL && !start_tls(conn)) {
		conn->api = NULL;
		alk_api_conn_unref(conn);
		return;
	}
	count(conn);
	g_hash_table_add(api->conns, conn); /* its ref */
	if (conn->tls != NULL) {
		/* the head deadline covers the handshake too */
		alk_api_conn_arm(conn);
		g_tls_connection_handshake_async(conn->tls, G_PRIORITY_DEFAULT, NULL, on_handshake,
		                                 alk_api_conn_ref(conn));
		return;
	}
	hand_over(conn);
}

/* To libsoup, through the tap. */
static void hand_over(AlkApiConn *conn)
{
	AlkApi *api = conn->api;
	gboolean tcp = conn->tcp;
	g_autoptr(GIOStream) stream = NULL;
	g_autoptr(GSocketAddress) local = NULL;
	g_autoptr(GSocketAddress) remote = NULL;

	stream = wrap(conn);
	/* an inet address even on the unix socket: libsoup builds the URI of
	 * a Host-less HTTP/1.0 request from it and trips over anything else */
	local = tcp ? g_socket_get_local_address(conn->socket, NULL) : any_address();
	remote = tcp ? g_socket_get_remote_address(conn->socket, NULL) : any_address();
	alk_api_conn_arm(conn);
	api->accepting = conn;
	soup_server_accept_iostream(api->server, stream, local, remote, NULL);
	api->accepting = NULL;
}

const char *alk_api_conn_request_line(AlkApiConn *conn)
{
	return conn->tap != NULL ? alk_api_tap_line(conn->tap) : NULL;
}

/* ---- timeouts ---- */

/* When the connection is dropped unless it makes progress: a pause of
 * request_timeout_s, or (caller not known) head_timeout_s after the accept
 * however much it trickles. */
static gint64 due_us(AlkApiConn *conn, gboolean *head)
{
	const AlkApiConfig *c = &conn->api->config->api;
	gint64 idle = conn->active_us + (gint64)c->request_timeout_s * G_USEC_PER_SEC;
	gint64 head_due = conn->accepted_us + (gint64)c->head_timeout_s * G_USEC_PER_SEC;

	*head = !conn->authed && head_due < idle;
	return *head ? head_due : idle;
}

static gboolean on_timeout(gpointer data);

static void arm_at(AlkApiConn *conn, gint64 due)
{
	gint64 left = due - g_get_monotonic_time();
	conn->timer = g_timeout_add((guint)(MAX(left, 0) / 1000) + 1, on_timeout, conn);
}

/* One timer per connection, moved on lazily: a 200 MB upload re-arms it
 * for every 8 KiB chunk. */
static gboolean on_timeout(gpointer data)
{
	AlkApiConn *conn = data;
	gboolean head = FALSE;
	gint64 due = due_us(conn, &head);

	conn->timer = 0;
	if (g_get_monotonic_time() < due) {
		arm_at(conn, due);
		return G_SOURCE_REMOVE;
	}
	if (head)
		g_message("%s: request head not received within %u s (api.head_timeout_s): "
		          "dropping it",
		          conn->peer, conn->api->config->api.head_timeout_s);
	else
		g_message("%s: request not received within %u s (api.request_timeout_s): "
		          "dropping it",
		          conn->peer, conn->api->config->api.request_timeout_s);
	alk_api_conn_drop(conn);
	return G_SOURCE_REMOVE;
}

void alk_api_conn_arm(AlkApiConn *conn)
{
	gboolean head = FALSE;

	conn->active_us = g_get_monotonic_time();
	if (conn->timer == 0 && !conn->closed && conn->api != NULL)
		arm_at(conn, due_us(conn, &head));
}

void alk_api_conn_disarm(AlkApiConn *conn)
{
	g_clear_handle_id(&conn->timer, g_source_remove);
}

void alk_api_conn_drop(AlkApiConn *conn)
{
	if (!conn->closed)
		g_socket_shutdown(conn->socket, TRUE, TRUE, NULL);
}

/* ---- the peer of a waiting answer ---- */

/* Readable while we write nothing and read nothing: the client hung up
 * (EOF, error) or sent more than its one request (dropped). */
static gboolean on_peer(GSocket *sock, GIOCondition cond, gpointer data)
{
	AlkApiConn *conn = data;
	char buf[16384];
	/* over TLS the bytes are TLS's: peeked, never taken */
	gssize n = recv(g_socket_get_fd(sock), buf, sizeof(buf),
	                MSG_DONTWAIT | (conn->tls != NULL ? MSG_PEEK : 0));
	void (*gone)(gpointer) = conn->gone;
	gpointer gone_data = conn->gone_data;

	if (n > 0 && conn->tls != NULL) {
		/* a TLS record (an alert, a key update): what it means only TLS
		 * knows; stop watching rather than spin on it */
		alk_api_conn_unwatch(conn);
		return G_SOURCE_REMOVE;
	}
	if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
		return G_SOURCE_CONTINUE;
	alk_api_conn_ref(conn);
	alk_api_conn_unwatch(conn);
	if (gone != NULL)
		gone(gone_data);
	alk_api_conn_unref(conn);
	return G_SOURCE_REMOVE;
}

void alk_api_conn_watch(AlkApiConn *conn, void (*gone)(gpointer), gpointer data)
{
	alk_api_conn_unwatch(conn);
	if (conn->closed)
		return;
	conn->gone = gone;
	conn->gone_data = data;
	conn->watch = g_socket_create_source(conn->socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
	g_source_set_callback(conn->watch, G_SOURCE_FUNC(on_peer), conn, NULL);
	g_source_attach(conn->watch, NULL);
}

void alk_api_conn_unwatch(AlkApiConn *conn)
{
	if (conn->watch != NULL) {
		g_source_destroy(conn->watch);
		g_clear_pointer(&conn->watch, g_source_unref);
	}
	conn->gone = NULL;
	conn->gone_data = NULL;
}

/* ---- refusing a request whose body is still coming ---- */

typedef struct {
	AlkApiConn *conn;
	GIOStream *stream;
	GBytes *response;
	GCancellable *cancel;
	guint timer;
	guint64 drained;
	guint8 buf[16384];
} Linger;

static void linger_end(Linger *l)
{
	g_clear_handle_id(&l->timer, g_source_remove);
	g_io_stream_close(l->stream, NULL, NULL);
	g_object_unref(l->stream);
	g_object_unref(l->cancel);
	g_bytes_unref(l->response);
	alk_api_conn_unref(l->conn);
	g_free(l);
}

static gboolean linger_timeout(gpointer data)
{
	Linger *l = data;
	l->timer = 0;
	g_cancellable_cancel(l->cancel);
	return G_SOURCE_REMOVE;
}

static void drained(GObject *src, GAsyncResult *res, gpointer data)
{
	Linger *l = data;
	gssize n = g_input_stream_read_finish(G_INPUT_STREAM(src), res, NULL);

	l->drained += MAX(n, 0);
	if (n <= 0 || l->drained >= LINGER_BYTES) {
		linger_end(l);
		return;
	}
	g_input_stream_read_async(G_INPUT_STREAM(src), l->buf, sizeof(l->buf), G_PRIORITY_LOW,
	                          l->cancel, drained, l);
}

static void written(GObject *src, GAsyncResult *res, gpointer data)
{
	Linger *l = data;

	if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(src), res, NULL, NULL) ||
	    l->conn->closed) {
		linger_end(l);
		return;
	}
	g_socket_shutdown(l->conn->socket, FALSE, TRUE, NULL);
	g_input_stream_read_async(g_io_stream_get_input_stream(l->stream), l->buf, sizeof(l->buf),
	                          G_PRIORITY_LOW, l->cancel, drained, l);
}

void alk_api_conn_linger(AlkApiConn *conn, GIOStream *stream, GBytes *response)
{
	Linger *l = g_new0(Linger, 1);
	gsize len = 0;
	const void *data = g_bytes_get_data(response, &len);

	l->conn = alk_api_conn_ref(conn);
	l->stream = g_object_ref(stream);
	l->response = response;
	l->cancel = g_cancellable_new();
	l->timer = g_timeout_add(LINGER_MS, linger_timeout, l);
	alk_api_conn_disarm(conn);
	g_output_stream_write_all_async(g_io_stream_get_output_stream(stream), data, len,
	                                G_PRIORITY_DEFAULT, l->cancel, written, l);
}

void alk_api_conn_close_all(AlkApi *api)
{
	g_autoptr(GPtrArray) conns = alk_api_values(api->conns);

	for (guint i = 0; i < conns->len; i++) {
		AlkApiConn *conn = g_ptr_array_index(conns, i);
		alk_api_conn_drop(conn);
		uncount(conn);
		conn->api = NULL;
		g_clear_handle_id(&conn->timer, g_source_remove);
	}
}
