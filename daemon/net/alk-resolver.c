/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-resolver.h"

#include <string.h>

#include "alk-allow.h"
#include "alk-dns.h"
#include "alk-error.h"
#include "alk-netns.h"
#include "alk-nft.h"

/* datagrams read per wakeup: a flood cannot starve the rest of the daemon */
#define RECV_BATCH 32

struct AlkResolver {
	GMainContext *context;
	GSocket *listen;
	char *upstream_ns; /* where queries' sockets are made; NULL: the caller's namespace */
	GInetSocketAddress *upstream_address;
	GSource *listen_source;
	AlkResolverPinFunc pin;
	gpointer user_data;
	GDestroyNotify user_data_free;
	GPtrArray *allow;        /* AlkAllowEntry *, or NULL */
	GPtrArray *extra_denied; /* GInetAddressMask *, or NULL */
	GHashTable *pending;     /* upstream id -> Pending (a reference) */
	guint timeout_ms;
	/* the token bucket, in millionths of a token: a microsecond's worth at 1/s */
	guint rate;    /* tokens a second, > 0 */
	gint64 credit; /* <= credit_max */
	gint64 credit_max;
	gint64 refilled; /* g_get_monotonic_time() of the last refill */
	guint64 queries;
	guint64 refused;
};

/* One forwarded query. Referenced by the pending table while unanswered and by
 * an outstanding done(); resolver is cleared once it is answered or the
 * resolver is freed, so a late done() or timeout finds nothing to do. */
typedef struct {
	guint refs;
	AlkResolver *resolver;
	guint16 upstream_id;
	GSocket *socket; /* its own, connected to the upstream: a fresh source port */
	GSource *socket_source;
	AlkDnsQuery query; /* the guest's id, RD bit and question */
	GSocketAddress *guest;
	GSource *timeout;
	gboolean pinning;
	guint8 answer[ALK_DNS_QUERY_MAX];
	gsize answer_len;
} Pending;

/* The query's socket closes with its answer: nothing late reaches us. */
static void pending_close(Pending *p)
{
	if (p->socket_source != NULL) {
		g_source_destroy(p->socket_source);
		g_clear_pointer(&p->socket_source, g_source_unref);
	}
	if (p->socket != NULL) {
		(void)g_socket_close(p->socket, NULL);
		g_clear_object(&p->socket);
	}
}

static void pending_unref(gpointer data)
{
	Pending *p = data;

	if (--p->refs > 0)
		return;
	if (p->timeout != NULL) {
		g_source_destroy(p->timeout);
		g_source_unref(p->timeout);
	}
	pending_close(p);
	g_clear_object(&p->guest);
	g_free(p);
}

static void pending_detach(Pending *p)
{
	if (p->timeout != NULL) {
		g_source_destroy(p->timeout);
		g_clear_pointer(&p->timeout, g_source_unref);
	}
	pending_close(p);
	p->resolver = NULL;
}

/* Takes p out of the table: p may be freed unless the caller holds a reference. */
static void pending_finish(Pending *p)
{
	AlkResolver *r = p->resolver;

	if (r == NULL)
		return;
	pending_detach(p);
	g_hash_table_remove(r->pending, GUINT_TO_POINTER(p->upstream_id));
}

static void send_to(AlkResolver *r, GSocketAddress *to, const guint8 *buf, gsize len)
{
	/* best effort, like any UDP answer: a full buffer loses it */
	if (len > 0)
		(void)g_socket_send_to(r->listen, to, (const char *)buf, len, NULL, NULL);
}

static void reply(AlkResolver *r, GSocketAddress *to, const AlkDnsQuery *q, AlkDnsRcode rcode)
{
	guint8 buf[ALK_DNS_QUERY_MAX];
	gsize len =
	    alk_dns_build_answer(buf, sizeof(buf), q->id, q->rd, rcode, &q->question, NULL, 0);

	send_to(r, to, buf, len);
}

static void pending_answer(Pending *p, AlkDnsRcode rcode)
{
	if (p->resolver == NULL)
		return;
	reply(p->resolver, p->guest, &p->query, rcode);
	pending_finish(p);
}

static gboolean on_timeout(gpointer data)
{
	pending_answer(data, ALK_DNS_RCODE_SERVFAIL);
	return G_SOURCE_REMOVE;
}

static void pending_arm(Pending *p)
{
	if (p->timeout != NULL) {
		g_source_destroy(p->timeout);
		g_source_unref(p->timeout);
	}
	p->timeout = g_timeout_source_new(p->resolver->timeout_ms);
	g_source_set_callback(p->timeout, on_timeout, p, NULL);
	g_source_attach(p->timeout, p->resolver->context);
}

static Pending *pending_new(AlkResolver *r, GSocketAddress *guest, const AlkDnsQuery *q)
{
	Pending *p = g_new0(Pending, 1);

	p->refs = 1;
	p->resolver = r;
	p->query = *q;
	p->guest = g_object_ref(guest);
	do {
		p->upstream_id = (guint16)g_random_int_range(0, 0x10000);
	} while (g_hash_table_contains(r->pending, GUINT_TO_POINTER(p->upstream_id)));
	g_hash_table_insert(r->pending, GUINT_TO_POINTER(p->upstream_id), p);
	pending_arm(p);
	return p;
}

static gboolean name_admitted(AlkResolver *r, const char *name)
{
	for (guint i = 0; r->allow != NULL && i < r->allow->len; i++) {
		if (alk_allow_entry_matches_name(g_ptr_array_index(r->allow, i), name))
			return TRUE;
	}
	return FALSE;
}

/* The ports the name's entries open; 0 (any port) covers the others. */
static GArray *name_ports(AlkResolver *r, const char *name)
{
	GArray *ports = g_array_new(FALSE, FALSE, sizeof(guint16));

	for (guint i = 0; r->allow != NULL && i < r->allow->len; i++) {
		const AlkAllowEntry *e = g_ptr_array_index(r->allow, i);
		gboolean seen = FALSE;

		if (!alk_allow_entry_matches_name(e, name))
			continue;
		if (e->port == 0) {
			g_array_set_size(ports, 0);
			g_array_append_val(ports, e->port);
			return ports;
		}
		for (guint j = 0; j < ports->len; j++)
			seen = seen || g_array_index(ports, guint16, j) == e->port;
		if (!seen)
			g_array_append_val(ports, e->port);
	}
	return ports;
}

static GPtrArray *make_pins(AlkResolver *r, const char *name, const AlkDnsAddress *addrs, guint n)
{
	g_autoptr(GArray) ports = name_ports(r, name);
	GPtrArray *pins = alk_nft_pins_new();

	for (guint i = 0; i < n; i++) {
		for (guint j = 0; j < ports->len; j++) {
			AlkNftPin *pin = g_new0(AlkNftPin, 1);

			pin->address =
			    g_inet_address_new_from_bytes(addrs[i].address, G_SOCKET_FAMILY_IPV4);
			pin->port = g_array_index(ports, guint16, j);
			pin->timeout_s =
			    CLAMP(addrs[i].ttl, ALK_RESOLVER_PIN_MIN_S, ALK_RESOLVER_PIN_MAX_S);
			g_ptr_array_add(pins, pin);
		}
	}
	return pins;
}

static void pending_done(gpointer data, gboolean ok)
{
	Pending *p = data;

	if (p->resolver != NULL && p->pinning) {
		if (ok)
			send_to(p->resolver, p->guest, p->answer, p->answer_len);
		else
			reply(p->resolver, p->guest, &p->query, ALK_DNS_RCODE_SERVFAIL);
		pending_finish(p);
	}
	pending_unref(p);
}

/* The answer waits in p until its addresses are pinned; the deadline starts
 * again for the pinning. */
static void pin_answer(AlkResolver *r, Pending *p, const AlkDnsAddress *addrs, guint n)
{
	g_autoptr(GPtrArray) pins = make_pins(r, p->query.question.name, addrs, n);

	p->pinning = TRUE;
	pending_close(p); /* the upstream has answered: nothing more to hear */
	pending_arm(p);
	/* done()'s, and ours: the name stays valid through a done() from within */
	p->refs += 2;
	r->pin(p->query.question.name, pins, pending_done, p, r->user_data);
	pending_unref(p);
}

/* Drops denied addresses; the TTL handed out never outlives the pin. */
static guint keep_allowed(AlkResolver *r, AlkDnsAddress *addrs, guint n)
{
	guint kept = 0;

	for (guint i = 0; i < n; i++) {
		g_autoptr(GInetAddress) a =
		    g_inet_address_new_from_bytes(addrs[i].address, G_SOCKET_FAMILY_IPV4);

		if (alk_allow_address_is_denied(a, r->extra_denied))
			continue;
		addrs[kept] = addrs[i];
		addrs[kept].ttl = MIN(addrs[i].ttl, CLAMP(addrs[i].ttl, ALK_RESOLVER_PIN_MIN_S,
		                                          ALK_RESOLVER_PIN_MAX_S));
		kept++;
	}
	return kept;
}

static void answer_from(AlkResolver *r, Pending *p, const AlkDnsResponse *resp)
{
	AlkDnsAddress addrs[ALK_DNS_ADDRESSES_MAX];
	const AlkDnsQuery *q = &p->query;
	guint found, n;

	if (!name_admitted(r, q->question.name)) { /* the policy changed meanwhile */
		r->refused++;
		pending_answer(p, ALK_DNS_RCODE_REFUSED);
		return;
	}
	if (resp->rcode != ALK_DNS_RCODE_NOERROR) {
		pending_answer(p, (AlkDnsRcode)resp->rcode);
		return;
	}
	found = alk_dns_response_addresses(resp, addrs, ALK_DNS_ADDRESSES_MAX);
	n = keep_allowed(r, addrs, found);
	if (found > 0 && n == 0) {
		r->refused++;
		pending_answer(p, ALK_DNS_RCODE_REFUSED);
		return;
	}
	if (n == 0) {
		pending_answer(p, ALK_DNS_RCODE_NOERROR);
		return;
	}
	n = MIN(n, alk_dns_answer_capacity(&q->question));
	p->answer_len = alk_dns_build_answer(p->answer, sizeof(p->answer), q->id, q->rd,
	                                     ALK_DNS_RCODE_NOERROR, &q->question, addrs, n);
	pin_answer(r, p, addrs, n);
}

static gboolean from_upstream(AlkResolver *r, GSocketAddress *from)
{
	GInetSocketAddress *in;

	if (!G_IS_INET_SOCKET_ADDRESS(from))
		return FALSE;
	in = G_INET_SOCKET_ADDRESS(from);
	return g_inet_socket_address_get_port(in) ==
	           g_inet_socket_address_get_port(r->upstream_address) &&
	       g_inet_address_equal(g_inet_socket_address_get_address(in),
	                            g_inet_socket_address_get_address(r->upstream_address));
}

/* What reaches p's socket counts only if it comes from the upstream's
 * address and port, carries p's id and asks p's question: anything else
 * (a spoofer guessing ports, a reply to another query) is dropped. */
static void handle_response(Pending *p, GSocketAddress *from, const guint8 *buf, gsize len)
{
	g_auto(AlkDnsResponse) resp = {0};
	AlkResolver *r = p->resolver;

	if (r == NULL || p->pinning || !from_upstream(r, from) ||
	    !alk_dns_response_parse(buf, len, &resp, NULL) || resp.id != p->upstream_id ||
	    !alk_dns_question_equal(&p->query.question, &resp.question))
		return;
	answer_from(r, p, &resp);
}

static gboolean on_upstream(GSocket *socket, GIOCondition condition, gpointer data)
{
	Pending *p = data;
	gboolean more = TRUE;

	p->refs++; /* an answer takes p out of the table */
	for (guint i = 0; i < RECV_BATCH && p->resolver != NULL && !p->pinning; i++) {
		guint8 buf[ALK_DNS_RESPONSE_MAX + 1];
		g_autoptr(GSocketAddress) from = NULL;
		gssize n =
		    g_socket_receive_from(socket, &from, (char *)buf, sizeof(buf), NULL, NULL);

		if (n < 0)
			break;
		handle_response(p, from, buf, (gsize)n);
	}
	more = p->socket_source != NULL;
	pending_unref(p);
	return more ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* A socket of the upstream's namespace for one query, connected to the
 * upstream: the kernel binds it to a random ephemeral port, so every query
 * leaves from a port of its own that a spoofer must guess along with the id. */
static gboolean pending_open(AlkResolver *r, Pending *p, GError **error)
{
	p->socket =
	    alk_netns_socket(r->upstream_ns, G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, error);
	if (p->socket == NULL ||
	    !g_socket_connect(p->socket, G_SOCKET_ADDRESS(r->upstream_address), NULL, error))
		return FALSE;
	g_socket_set_blocking(p->socket, FALSE);
	p->socket_source = g_socket_create_source(p->socket, G_IO_IN, NULL);
	g_source_set_callback(p->socket_source, G_SOURCE_FUNC(on_upstream), p, NULL);
	g_source_attach(p->socket_source, r->context);
	return TRUE;
}

static void forward(AlkResolver *r, GSocketAddress *guest, const AlkDnsQuery *q)
{
	guint8 buf[ALK_DNS_QUERY_MAX];
	Pending *p;
	gsize len;

	if (g_hash_table_size(r->pending) >= ALK_RESOLVER_INFLIGHT_MAX) {
		r->refused++;
		reply(r, guest, q, ALK_DNS_RCODE_SERVFAIL);
		return;
	}
	p = pending_new(r, guest, q);
	len = alk_dns_build_query(buf, sizeof(buf), p->upstream_id, &q->question);
	if (len == 0 || !pending_open(r, p, NULL) ||
	    g_socket_send(p->socket, (const char *)buf, len, NULL, NULL) != (gssize)len)
		pending_answer(p, ALK_DNS_RCODE_SERVFAIL);
}

/* A FORMERR only to what reads as a query: never answer an answer. */
static void reply_malformed(AlkResolver *r, GSocketAddress *from, const guint8 *buf, gsize len)
{
	guint8 out[ALK_DNS_HEADER_SIZE];
	guint16 id;
	gboolean rd;

	r->refused++;
	if (!alk_dns_query_header(buf, len, &id, &rd))
		return;
	send_to(
	    r, from, out,
	    alk_dns_build_answer(out, sizeof(out), id, rd, ALK_DNS_RCODE_FORMERR, NULL, NULL, 0));
}

static void handle_query(AlkResolver *r, GSocketAddress *from, const guint8 *buf, gsize len)
{
	AlkDnsQuery q;

	if (!alk_dns_query_parse(buf, len, &q, NULL)) {
		reply_malformed(r, from, buf, len);
		return;
	}
	if (!name_admitted(r, q.question.name) || q.question.qclass != ALK_DNS_CLASS_IN ||
	    (q.question.qtype != ALK_DNS_TYPE_A && q.question.qtype != ALK_DNS_TYPE_AAAA)) {
		r->refused++;
		reply(r, from, &q, ALK_DNS_RCODE_REFUSED);
		return;
	}
	if (q.question.qtype == ALK_DNS_TYPE_AAAA) /* no IPv6 egress: no addresses */
		reply(r, from, &q, ALK_DNS_RCODE_NOERROR);
	else
		forward(r, from, &q);
}

/* A long wait only fills the bucket: elapsed * rate is computed only when it is
 * at most what is missing, so it cannot overflow. */
static void bucket_refill(AlkResolver *r, gint64 now)
{
	gint64 elapsed = MAX(now - r->refilled, 0);
	gint64 missing = r->credit_max - r->credit;

	if (elapsed > missing / r->rate)
		r->credit = r->credit_max;
	else
		r->credit += elapsed * r->rate;
	r->refilled = now;
}

static gboolean bucket_take(AlkResolver *r)
{
	bucket_refill(r, g_get_monotonic_time());
	if (r->credit < G_USEC_PER_SEC)
		return FALSE;
	r->credit -= G_USEC_PER_SEC;
	return TRUE;
}

static gboolean on_listen(GSocket *socket, GIOCondition condition, gpointer data)
{
	AlkResolver *r = data;

	for (guint i = 0; i < RECV_BATCH; i++) {
		guint8 buf[ALK_DNS_QUERY_MAX + 1]; /* one more: an oversize query shows */
		g_autoptr(GSocketAddress) from = NULL;
		gssize n =
		    g_socket_receive_from(socket, &from, (char *)buf, sizeof(buf), NULL, NULL);

		if (n < 0)
			break;
		r->queries++;
		if (!bucket_take(r)) { /* read all the same: the socket must drain */
			r->refused++;
			continue;
		}
		handle_query(r, from, buf, (gsize)n);
	}
	return G_SOURCE_CONTINUE;
}

static GSource *watch(AlkResolver *r, GSocket *socket, GSocketSourceFunc func)
{
	GSource *source = g_socket_create_source(socket, G_IO_IN, NULL);

	g_source_set_callback(source, G_SOURCE_FUNC(func), r, NULL);
	g_source_attach(source, r->context);
	return source;
}

AlkResolver *alk_resolver_new(GSocket *listen, const char *upstream_ns,
                              GInetSocketAddress *upstream_address, AlkResolverPinFunc pin,
                              gpointer user_data, GDestroyNotify user_data_free)
{
	AlkResolver *r;

	g_return_val_if_fail(G_IS_SOCKET(listen), NULL);
	g_return_val_if_fail(G_IS_INET_SOCKET_ADDRESS(upstream_address) && pin != NULL, NULL);
	r = g_new0(AlkResolver, 1);
	r->context = g_main_context_ref_thread_default();
	r->listen = g_object_ref(listen);
	r->upstream_ns = g_strdup(upstream_ns);
	r->upstream_address = g_object_ref(upstream_address);
	r->pin = pin;
	r->user_data = user_data;
	r->user_data_free = user_data_free;
	r->pending = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, pending_unref);
	r->timeout_ms = ALK_RESOLVER_TIMEOUT_MS;
	alk_resolver_set_rate(r, ALK_RESOLVER_RATE, ALK_RESOLVER_BURST);
	g_socket_set_blocking(listen, FALSE);
	r->listen_source = watch(r, listen, on_listen);
	return r;
}

void alk_resolver_set_policy(AlkResolver *r, GPtrArray *allow, GPtrArray *extra_denied)
{
	g_clear_pointer(&r->allow, g_ptr_array_unref);
	g_clear_pointer(&r->extra_denied, g_ptr_array_unref);
	r->allow = allow != NULL ? g_ptr_array_ref(allow) : NULL;
	r->extra_denied = extra_denied != NULL ? g_ptr_array_ref(extra_denied) : NULL;
}

void alk_resolver_get_counts(AlkResolver *r, guint64 *queries, guint64 *refused)
{
	if (queries != NULL)
		*queries = r->queries;
	if (refused != NULL)
		*refused = r->refused;
}

void alk_resolver_set_timeout_ms(AlkResolver *r, guint timeout_ms)
{
	r->timeout_ms = timeout_ms;
}

void alk_resolver_set_rate(AlkResolver *r, guint per_s, guint burst)
{
	g_return_if_fail(per_s > 0 && burst > 0);
	r->rate = per_s;
	r->credit_max = (gint64)burst * G_USEC_PER_SEC;
	r->credit = r->credit_max;
	r->refilled = g_get_monotonic_time();
}

static void unwatch(GSource **source)
{
	g_source_destroy(*source);
	g_clear_pointer(source, g_source_unref);
}

void alk_resolver_free(AlkResolver *r)
{
	GHashTableIter iter;
	gpointer value;

	if (r == NULL)
		return;
	unwatch(&r->listen_source);
	g_hash_table_iter_init(&iter, r->pending);
	while (g_hash_table_iter_next(&iter, NULL, &value))
		pending_detach(value);
	g_hash_table_unref(r->pending);
	(void)g_socket_close(r->listen, NULL);
	g_object_unref(r->listen);
	g_free(r->upstream_ns);
	g_object_unref(r->upstream_address);
	alk_resolver_set_policy(r, NULL, NULL);
	if (r->user_data_free != NULL)
		r->user_data_free(r->user_data);
	g_main_context_unref(r->context);
	g_free(r);
}

GInetSocketAddress *alk_resolver_upstream_parse(const char *configured, const char *resolv_conf,
                                                GError **error)
{
	g_autoptr(GInetAddress) a = NULL;
	g_auto(GStrv) lines = NULL;

	if (configured != NULL && configured[0] != '\0')
		a = g_inet_address_new_from_string(configured);
	else if (resolv_conf != NULL)
		lines = g_strsplit(resolv_conf, "\n", 256);
	for (guint i = 0; a == NULL && lines != NULL && lines[i] != NULL; i++) {
		g_auto(GStrv) w = g_strsplit_set(g_strstrip(lines[i]), " \t", 3);

		if (g_strv_length(w) >= 2 && g_str_equal(w[0], "nameserver")) {
			a = g_inet_address_new_from_string(w[1]);
			if (a != NULL && g_inet_address_get_family(a) != G_SOCKET_FAMILY_IPV4)
				g_clear_object(&a);
		}
	}
	if (a == NULL || g_inet_address_get_family(a) != G_SOCKET_FAMILY_IPV4) {
		g_set_error_literal(error, ALK_ERROR, ALK_ERROR_FAILED,
		                    "no upstream DNS server: set network.dns_upstream");
		return NULL;
	}
	return G_INET_SOCKET_ADDRESS(g_inet_socket_address_new(a, 53));
}

GInetSocketAddress *alk_resolver_upstream(const char *configured, const char *resolv_conf_path,
                                          GError **error)
{
	g_autofree char *text = NULL;

	if (configured == NULL || configured[0] == '\0')
		(void)g_file_get_contents(resolv_conf_path != NULL ? resolv_conf_path
		                                                   : ALK_RESOLVER_RESOLV_CONF,
		                          &text, NULL, NULL);
	return alk_resolver_upstream_parse(configured, text, error);
}
