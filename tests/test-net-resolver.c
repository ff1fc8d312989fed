/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The resolver between a scripted "guest" and a scripted fake upstream, all on
 * 127.0.0.1 with ephemeral ports. Every wait runs the main context until a
 * datagram arrives or a deadline passes. */
#include <check.h>
#include <gio/gio.h>
#include <glib.h>
#include <string.h>

#include "alk-allow.h"
#include "alk-dns.h"
#include "alk-nft.h"
#include "alk-resolver.h"
#include "alk-test-dns.h"

#define QR 0x80
#define RD 0x01
#define RA 0x80
#define WAIT_MS 5000 /* for what must come */
#define QUIET_MS 200 /* for what must not */

typedef struct {
	GBytes *bytes;
	GSocketAddress *from;
} Datagram;

/* A socket on 127.0.0.1 that queues what it receives. */
typedef struct {
	GSocket *socket;
	GSource *source;
	GQueue queue;
} Peer;

typedef struct {
	Peer guest, upstream, spoofer;
	GSocketAddress *resolver_address; /* where the guest asks */
	GSocketAddress *upstream_address; /* where the fake upstream listens */
	GSocketAddress *query_from;       /* the last forwarded query's source: replies go there */
	AlkResolver *r;
	GPtrArray *pins; /* "address:port/timeout" of every pin, in call order */
	guint pin_calls;
	char *pin_name; /* of the last call */
	guint guest_queue_at_pin;
	gboolean user_data_freed;
	gboolean hold; /* keep done() for the test to call */
	gboolean pin_ok;
	void (*done)(gpointer, gboolean);
	gpointer done_data;
} Fixture;

static Fixture f;

static void datagram_free(gpointer data)
{
	Datagram *d = data;

	g_bytes_unref(d->bytes);
	g_object_unref(d->from);
	g_free(d);
}

static gboolean on_peer(GSocket *socket, GIOCondition condition, gpointer data)
{
	Peer *p = data;
	guint8 buf[8192];
	GSocketAddress *from = NULL;
	gssize n = g_socket_receive_from(socket, &from, (char *)buf, sizeof(buf), NULL, NULL);

	if (n >= 0) {
		Datagram *d = g_new0(Datagram, 1);

		d->bytes = g_bytes_new(buf, (gsize)n);
		d->from = from;
		g_queue_push_tail(&p->queue, d);
	}
	return G_SOURCE_CONTINUE;
}

static GSocket *loopback_socket(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) any = g_inet_socket_address_new(lo, 0);
	GSocket *s = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
	                          G_SOCKET_PROTOCOL_UDP, &error);

	ck_assert_msg(s != NULL, "%s", error != NULL ? error->message : "");
	ck_assert_msg(g_socket_bind(s, any, FALSE, &error), "%s", error->message);
	g_socket_set_blocking(s, FALSE);
	return s;
}

static void peer_init(Peer *p)
{
	p->socket = loopback_socket();
	p->source = g_socket_create_source(p->socket, G_IO_IN, NULL);
	g_source_set_callback(p->source, G_SOURCE_FUNC(on_peer), p, NULL);
	g_source_attach(p->source, NULL);
	g_queue_init(&p->queue);
}

static void peer_clear(Peer *p)
{
	g_source_destroy(p->source);
	g_source_unref(p->source);
	g_object_unref(p->socket);
	g_queue_clear_full(&p->queue, datagram_free);
}

static GSocketAddress *local_address(GSocket *s)
{
	GSocketAddress *a = g_socket_get_local_address(s, NULL);

	ck_assert_ptr_nonnull(a);
	return a;
}

static void peer_send(Peer *p, GSocketAddress *to, GByteArray *m)
{
	ck_assert_int_eq(g_socket_send_to(p->socket, to, (const char *)m->data, m->len, NULL, NULL),
	                 m->len);
}

static gboolean deadline_hit(gpointer data)
{
	*(gboolean *)data = TRUE;
	return G_SOURCE_REMOVE;
}

/* Runs the main context until cond(data) holds or ms pass. */
static gboolean run_until(gboolean (*cond)(gpointer), gpointer data, guint ms)
{
	gboolean expired = FALSE;
	guint id = g_timeout_add(ms, deadline_hit, &expired);

	while (!cond(data) && !expired)
		g_main_context_iteration(NULL, TRUE);
	if (!expired)
		g_source_remove(id);
	return cond(data);
}

static gboolean peer_has_datagram(gpointer data)
{
	return !g_queue_is_empty(&((Peer *)data)->queue);
}

static gboolean pin_called(gpointer data)
{
	return f.pin_calls >= GPOINTER_TO_UINT(data);
}

/* Waits until p has a datagram or ms pass; pops it or NULL. */
static Datagram *peer_wait(Peer *p, guint ms)
{
	run_until(peer_has_datagram, p, ms);
	return g_queue_pop_head(&p->queue);
}

static void wait_pinned(guint calls)
{
	ck_assert_msg(run_until(pin_called, GUINT_TO_POINTER(calls), WAIT_MS), "pin() not called");
}

static void pin_func(const char *name, GPtrArray *pins, void (*done)(gpointer, gboolean),
                     gpointer done_data, gpointer user_data)
{
	ck_assert_ptr_eq(user_data, &f);
	g_free(f.pin_name);
	f.pin_name = g_strdup(name);
	f.pin_calls++;
	f.guest_queue_at_pin = g_queue_get_length(&f.guest.queue);
	for (guint i = 0; i < pins->len; i++) {
		const AlkNftPin *pin = g_ptr_array_index(pins, i);
		g_autofree char *a = g_inet_address_to_string(pin->address);

		g_ptr_array_add(f.pins, g_strdup_printf("%s:%u/%u", a, pin->port, pin->timeout_s));
	}
	if (f.hold) {
		f.done = done;
		f.done_data = done_data;
		return;
	}
	done(done_data, f.pin_ok);
}

static GPtrArray *masks(const char *const *texts)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(g_object_unref);

	for (guint i = 0; texts[i] != NULL; i++)
		g_ptr_array_add(out, g_inet_address_mask_new_from_string(texts[i], NULL));
	return out;
}

static void user_data_free(gpointer data)
{
	ck_assert_ptr_eq(data, &f);
	f.user_data_freed = TRUE;
}

static void setup(void)
{
	static const char *const allow[] = {"example.com:443", "*.example.com", "api.test:443",
	                                    "api.test:8443", NULL};
	static const char *const denied[] = {"203.0.113.0/24", NULL};
	g_autoptr(GPtrArray) extra = masks(denied);
	g_autoptr(GPtrArray) list = alk_allow_list_parse(allow, extra, NULL);
	g_autoptr(GSocket) listen = loopback_socket();

	memset(&f, 0, sizeof(f));
	f.pin_ok = TRUE;
	f.pins = g_ptr_array_new_with_free_func(g_free);
	peer_init(&f.guest);
	peer_init(&f.upstream);
	peer_init(&f.spoofer);
	f.resolver_address = local_address(listen);
	f.upstream_address = local_address(f.upstream.socket);
	/* NULL: the queries' sockets are made in this namespace */
	f.r = alk_resolver_new(listen, NULL, G_INET_SOCKET_ADDRESS(f.upstream_address), pin_func,
	                       &f, user_data_free);
	ck_assert_ptr_nonnull(list);
	alk_resolver_set_policy(f.r, list, extra);
}

static void teardown(void)
{
	alk_resolver_free(f.r);
	ck_assert(f.user_data_freed);
	g_free(f.pin_name);
	peer_clear(&f.guest);
	peer_clear(&f.upstream);
	peer_clear(&f.spoofer);
	g_ptr_array_unref(f.pins);
	g_object_unref(f.resolver_address);
	g_object_unref(f.upstream_address);
	g_clear_object(&f.query_from);
}

/* The guest asks the resolver. */
static void ask(guint16 id, const char *name, guint16 qtype)
{
	g_autoptr(GByteArray) m = alk_test_dns_message(id, RD, 0, name, qtype);

	peer_send(&f.guest, f.resolver_address, m);
}

/* The forwarded query as the fake upstream sees it. */
static AlkDnsQuery upstream_receives(void)
{
	Datagram *d = peer_wait(&f.upstream, WAIT_MS);
	AlkDnsQuery q;

	ck_assert_msg(d != NULL, "nothing forwarded upstream");
	ck_assert(alk_dns_query_parse(g_bytes_get_data(d->bytes, NULL), g_bytes_get_size(d->bytes),
	                              &q, NULL));
	ck_assert(q.rd);
	g_clear_object(&f.query_from);
	f.query_from = g_object_ref(d->from);
	datagram_free(d);
	return q;
}

static GByteArray *upstream_reply(guint16 id, const char *name, guint rcode)
{
	return alk_test_dns_message(id, QR | RD, RA | rcode, name, ALK_DNS_TYPE_A);
}

/* To the socket the last forwarded query came from. */
static void upstream_send(Peer *from, GByteArray *m)
{
	peer_send(from, f.query_from, m);
}

static guint16 port_of(GSocketAddress *a)
{
	return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(a));
}

/* The guest's answer: rcode and addresses (dotted, space separated). */
static guint guest_receives(guint16 id, AlkDnsAddress *out, guint *n)
{
	Datagram *d = peer_wait(&f.guest, WAIT_MS);
	g_auto(AlkDnsResponse) r = {0};
	guint rcode;

	ck_assert_msg(d != NULL, "no answer for the guest");
	ck_assert(alk_dns_response_parse(g_bytes_get_data(d->bytes, NULL),
	                                 g_bytes_get_size(d->bytes), &r, NULL));
	datagram_free(d);
	ck_assert_uint_eq(r.id, id);
	ck_assert_uint_eq(r.cnames->len, 0); /* CNAMEs flattened away */
	rcode = r.rcode;
	*n = alk_dns_response_addresses(&r, out, ALK_DNS_ADDRESSES_MAX);
	ck_assert_uint_eq(*n, r.as->len); /* every A owned by the question's name */
	return rcode;
}

static char *addresses_text(const AlkDnsAddress *a, guint n)
{
	GString *s = g_string_new(NULL);

	for (guint i = 0; i < n; i++)
		g_string_append_printf(s, "%s%u.%u.%u.%u/%u", i > 0 ? " " : "", a[i].address[0],
		                       a[i].address[1], a[i].address[2], a[i].address[3], a[i].ttl);
	return g_string_free(s, FALSE);
}

static void assert_answer(guint16 id, guint want_rcode, const char *want)
{
	AlkDnsAddress a[ALK_DNS_ADDRESSES_MAX];
	guint n;
	guint rcode = guest_receives(id, a, &n);
	g_autofree char *text = addresses_text(a, n);

	ck_assert_uint_eq(rcode, want_rcode);
	ck_assert_str_eq(text, want);
}

static void assert_quiet(Peer *p)
{
	Datagram *d = peer_wait(p, QUIET_MS);

	ck_assert_msg(d == NULL, "unexpected datagram");
}

static void assert_pins(const char *want)
{
	g_ptr_array_add(f.pins, NULL);
	{
		g_autofree char *got = g_strjoinv(" ", (char **)f.pins->pdata);

		ck_assert_str_eq(got, want);
	}
	g_ptr_array_remove_index(f.pins, f.pins->len - 1);
}

static void assert_counts(guint64 queries, guint64 refused)
{
	guint64 q, r;

	alk_resolver_get_counts(f.r, &q, &r);
	ck_assert_uint_eq(q, queries);
	ck_assert_uint_eq(r, refused);
}

START_TEST(allowed_answered_after_pins)
{
	AlkDnsQuery q;
	g_autoptr(GByteArray) m = NULL;

	ask(0x1111, "API.test", ALK_DNS_TYPE_A);
	q = upstream_receives();
	ck_assert_str_eq(q.question.name, "api.test");
	m = upstream_reply(q.id, "api.test", 0);
	alk_test_dns_cname(m, "api.test", "edge.cdn.test", 300);
	alk_test_dns_a(m, "edge.cdn.test", "192.0.2.10", 30);
	alk_test_dns_a(m, "api.test", "192.0.2.11", 7200);
	alk_test_dns_a(m, "denied.test", "198.51.100.66", 600); /* injected */
	upstream_send(&f.upstream, m);
	assert_answer(0x1111, 0, "192.0.2.11/3600 192.0.2.10/30");
	ck_assert_uint_eq(f.pin_calls, 1);
	ck_assert_str_eq(f.pin_name, "api.test");
	ck_assert_uint_eq(f.guest_queue_at_pin, 0);
	assert_pins("192.0.2.11:443/3600 192.0.2.11:8443/3600 192.0.2.10:443/60 "
	            "192.0.2.10:8443/60");
	assert_counts(1, 0);
}
END_TEST

START_TEST(delayed_done_delays_answer)
{
	AlkDnsQuery q;
	g_autoptr(GByteArray) m = NULL;

	f.hold = TRUE;
	ask(7, "www.example.com", ALK_DNS_TYPE_A);
	q = upstream_receives();
	m = upstream_reply(q.id, "www.example.com", 0);
	alk_test_dns_a(m, "www.example.com", "192.0.2.1", 120);
	upstream_send(&f.upstream, m);
	wait_pinned(1);
	assert_quiet(&f.guest);
	assert_pins("192.0.2.1:0/120"); /* "*.example.com" opens any port */
	f.done(f.done_data, TRUE);
	assert_answer(7, 0, "192.0.2.1/120");

	/* a failed pin: SERVFAIL, nothing served */
	ask(8, "www.example.com", ALK_DNS_TYPE_A);
	q = upstream_receives();
	m->data[0] = (guint8)(q.id >> 8);
	m->data[1] = (guint8)q.id;
	upstream_send(&f.upstream, m);
	wait_pinned(2);
	assert_quiet(&f.guest);
	f.done(f.done_data, FALSE);
	assert_answer(8, ALK_DNS_RCODE_SERVFAIL, "");
	assert_counts(2, 0);
}
END_TEST

START_TEST(denied_name_refused_not_forwarded)
{
	AlkDnsQuery q;

	ask(1, "denied.test", ALK_DNS_TYPE_A);
	assert_answer(1, ALK_DNS_RCODE_REFUSED, "");
	ask(2, "example.com.evil.test", ALK_DNS_TYPE_A);
	assert_answer(2, ALK_DNS_RCODE_REFUSED, "");
	ask(3, "badexample.com", ALK_DNS_TYPE_A);
	assert_answer(3, ALK_DNS_RCODE_REFUSED, "");
	/* the first query upstream ever sees is the allowed one */
	ask(4, "example.com", ALK_DNS_TYPE_A);
	q = upstream_receives();
	ck_assert_str_eq(q.question.name, "example.com");
	ck_assert_uint_eq(f.pin_calls, 0);
	assert_counts(4, 3);
}
END_TEST

START_TEST(denied_addresses_dropped)
{
	AlkDnsQuery q;
	g_autoptr(GByteArray) all = NULL;
	g_autoptr(GByteArray) some = NULL;

	ask(1, "example.com", ALK_DNS_TYPE_A);
	q = upstream_receives();
	all = upstream_reply(q.id, "example.com", 0);
	alk_test_dns_a(all, "example.com", "169.254.169.254", 60);
	alk_test_dns_a(all, "example.com", "127.0.0.1", 60);
	alk_test_dns_a(all, "example.com", "203.0.113.7", 60); /* the caller's extra range */
	upstream_send(&f.upstream, all);
	assert_answer(1, ALK_DNS_RCODE_REFUSED, "");
	ck_assert_uint_eq(f.pin_calls, 0);

	ask(2, "example.com", ALK_DNS_TYPE_A);
	q = upstream_receives();
	some = upstream_reply(q.id, "example.com", 0);
	alk_test_dns_a(some, "example.com", "127.0.0.1", 60);
	alk_test_dns_a(some, "example.com", "192.0.2.5", 60);
	upstream_send(&f.upstream, some);
	assert_answer(2, 0, "192.0.2.5/60");
	assert_pins("192.0.2.5:443/60");
	assert_counts(2, 1);
}
END_TEST

START_TEST(spoofed_replies_ignored)
{
	AlkDnsQuery q;
	g_autoptr(GByteArray) spoof = NULL;
	g_autoptr(GByteArray) wrong_id = NULL;
	g_autoptr(GByteArray) wrong_q = NULL;
	g_autoptr(GByteArray) good = NULL;

	ask(5, "www.example.com", ALK_DNS_TYPE_A);
	q = upstream_receives();
	spoof = upstream_reply(q.id, "www.example.com", 0); /* right id, wrong port */
	alk_test_dns_a(spoof, "www.example.com", "192.0.2.66", 60);
	upstream_send(&f.spoofer, spoof);
	wrong_id = upstream_reply(q.id ^ 1, "www.example.com", 0);
	alk_test_dns_a(wrong_id, "www.example.com", "192.0.2.77", 60);
	upstream_send(&f.upstream, wrong_id);
	wrong_q = upstream_reply(q.id, "other.example.com", 0);
	alk_test_dns_a(wrong_q, "other.example.com", "192.0.2.88", 60);
	upstream_send(&f.upstream, wrong_q);
	good = upstream_reply(q.id, "www.example.com", 0);
	alk_test_dns_a(good, "www.example.com", "192.0.2.1", 60);
	upstream_send(&f.upstream, good);
	assert_answer(5, 0, "192.0.2.1/60");
	assert_pins("192.0.2.1:0/60");
	/* a repeated reply finds nothing pending */
	upstream_send(&f.upstream, good);
	assert_quiet(&f.guest);
	ck_assert_uint_eq(f.pin_calls, 1);
}
END_TEST

START_TEST(upstream_timeout)
{
	AlkDnsQuery q;
	g_autoptr(GByteArray) late = NULL;

	alk_resolver_set_timeout_ms(f.r, 100);
	ask(9, "example.com", ALK_DNS_TYPE_A);
	q = upstream_receives();
	assert_answer(9, ALK_DNS_RCODE_SERVFAIL, "");
	late = upstream_reply(q.id, "example.com", 0);
	alk_test_dns_a(late, "example.com", "192.0.2.1", 60);
	upstream_send(&f.upstream, late);
	assert_quiet(&f.guest);
	ck_assert_uint_eq(f.pin_calls, 0);

	/* a pin that never completes times out too, and its late done() is harmless */
	f.hold = TRUE;
	ask(10, "example.com", ALK_DNS_TYPE_A);
	q = upstream_receives();
	late->data[0] = (guint8)(q.id >> 8);
	late->data[1] = (guint8)q.id;
	upstream_send(&f.upstream, late);
	wait_pinned(1);
	assert_answer(10, ALK_DNS_RCODE_SERVFAIL, "");
	f.done(f.done_data, TRUE);
	assert_quiet(&f.guest);
}
END_TEST

START_TEST(upstream_errors_pass_through)
{
	AlkDnsQuery q;
	g_autoptr(GByteArray) nx = NULL;
	g_autoptr(GByteArray) empty = NULL;

	ask(1, "nope.example.com", ALK_DNS_TYPE_A);
	q = upstream_receives();
	nx = upstream_reply(q.id, "nope.example.com", ALK_DNS_RCODE_NXDOMAIN);
	alk_test_dns_a(nx, "nope.example.com", "192.0.2.1", 60); /* not served with an error */
	upstream_send(&f.upstream, nx);
	assert_answer(1, ALK_DNS_RCODE_NXDOMAIN, "");

	ask(2, "empty.example.com", ALK_DNS_TYPE_A);
	q = upstream_receives();
	empty = upstream_reply(q.id, "empty.example.com", 0);
	alk_test_dns_cname(empty, "empty.example.com", "elsewhere.test", 60);
	upstream_send(&f.upstream, empty);
	assert_answer(2, 0, "");
	ck_assert_uint_eq(f.pin_calls, 0);
	assert_counts(2, 0);
}
END_TEST

START_TEST(other_types_and_malformed)
{
	GSocketAddress *to = f.resolver_address;
	g_autoptr(GByteArray) two = alk_test_dns_message(3, RD, 0, "example.com", 1);
	g_autoptr(GByteArray) junk = g_byte_array_new();
	g_autoptr(GByteArray) answer = alk_test_dns_message(4, QR, 0, "example.com", 1);
	Datagram *d;

	ask(1, "example.com", ALK_DNS_TYPE_AAAA);
	assert_answer(1, 0, "");
	ask(2, "example.com", 15 /* MX */);
	assert_answer(2, ALK_DNS_RCODE_REFUSED, "");
	two->data[5] = 2;
	peer_send(&f.guest, to, two);
	d = peer_wait(&f.guest, WAIT_MS);
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(g_bytes_get_size(d->bytes), 12);
	ck_assert_uint_eq(((const guint8 *)g_bytes_get_data(d->bytes, NULL))[3],
	                  RA | ALK_DNS_RCODE_FORMERR);
	datagram_free(d);
	g_byte_array_append(junk, (const guint8 *)"junk", 4);
	peer_send(&f.guest, to, junk);
	peer_send(&f.guest, to, answer); /* never answer an answer */
	assert_quiet(&f.guest);
	assert_quiet(&f.upstream);
	assert_counts(5, 4);
}
END_TEST

START_TEST(inflight_limit)
{
	for (guint i = 0; i < ALK_RESOLVER_INFLIGHT_MAX; i++) {
		ask((guint16)i, "example.com", ALK_DNS_TYPE_A);
		(void)upstream_receives();
	}
	ask(999, "example.com", ALK_DNS_TYPE_A);
	assert_answer(999, ALK_DNS_RCODE_SERVFAIL, "");
	assert_counts(ALK_RESOLVER_INFLIGHT_MAX + 1, 1);
	/* teardown frees the resolver with all of them pending */
}
END_TEST

START_TEST(free_before_done)
{
	AlkDnsQuery q;
	g_autoptr(GByteArray) m = NULL;

	f.hold = TRUE;
	ask(1, "example.com", ALK_DNS_TYPE_A);
	q = upstream_receives();
	m = upstream_reply(q.id, "example.com", 0);
	alk_test_dns_a(m, "example.com", "192.0.2.1", 60);
	upstream_send(&f.upstream, m);
	wait_pinned(1);
	alk_resolver_free(f.r);
	f.r = NULL;
	f.done(f.done_data, TRUE); /* must be a harmless no-op */
	assert_quiet(&f.guest);
}
END_TEST

START_TEST(policy_change_in_flight)
{
	AlkDnsQuery q;
	g_autoptr(GByteArray) m = NULL;

	ask(1, "example.com", ALK_DNS_TYPE_A);
	q = upstream_receives();
	alk_resolver_set_policy(f.r, NULL, NULL);
	m = upstream_reply(q.id, "example.com", 0);
	alk_test_dns_a(m, "example.com", "192.0.2.1", 60);
	upstream_send(&f.upstream, m);
	assert_answer(1, ALK_DNS_RCODE_REFUSED, "");
	ck_assert_uint_eq(f.pin_calls, 0);
	assert_counts(1, 1);
}
END_TEST

static gboolean never(gpointer data)
{
	return FALSE;
}

static gboolean counted(gpointer data)
{
	guint64 queries;

	alk_resolver_get_counts(f.r, &queries, NULL);
	return queries >= GPOINTER_TO_UINT(data);
}

/* The guest asks "q<id>.example.com" under id: the upstream's query tells whose it is. */
static void ask_numbered(guint16 id)
{
	g_autofree char *name = g_strdup_printf("q%u.example.com", id);

	ask(id, name, ALK_DNS_TYPE_A);
}

/* Answers the next forwarded query; *port: the port it came from. */
static void answer_numbered_at(guint16 *port)
{
	AlkDnsQuery q = upstream_receives();
	g_autoptr(GByteArray) m = upstream_reply(q.id, q.question.name, 0);

	if (port != NULL)
		*port = port_of(f.query_from);

	ck_assert(g_str_has_prefix(q.question.name, "q"));
	alk_test_dns_a(m, q.question.name, "192.0.2.1", 60);
	upstream_send(&f.upstream, m);
	assert_answer((guint16)g_ascii_strtoull(q.question.name + 1, NULL, 10), 0, "192.0.2.1/60");
}

static void answer_numbered(void)
{
	answer_numbered_at(NULL);
}

START_TEST(rate_limited)
{
	gint64 start = g_get_monotonic_time();
	guint forwarded, allowed;

	alk_resolver_set_rate(f.r, 5, 5);
	for (guint16 i = 0; i < 20; i++)
		ask_numbered(i);
	ck_assert(run_until(counted, GUINT_TO_POINTER(20), WAIT_MS));
	/* a slow machine may earn a token or two while the queries are read */
	allowed = 5 + (guint)((g_get_monotonic_time() - start) * 5 / G_USEC_PER_SEC);
	run_until(never, NULL, QUIET_MS); /* what was forwarded arrives */
	forwarded = g_queue_get_length(&f.upstream.queue);
	ck_assert_uint_ge(forwarded, 5);
	ck_assert_uint_le(forwarded, allowed);
	ck_assert_msg(g_queue_is_empty(&f.guest.queue), "a dropped query was answered");
	assert_counts(20, 20 - forwarded);
	for (guint i = 0; i < forwarded; i++)
		answer_numbered();
	assert_quiet(&f.guest);
	ck_assert_uint_eq(f.pin_calls, forwarded);

	/* a token comes back every 200 ms */
	run_until(never, NULL, 1000 / 5 + QUIET_MS);
	ask_numbered(100);
	answer_numbered();
	assert_counts(21, 20 - forwarded);
}
END_TEST

/* Each query leaves from a socket of its own: a reply counts only on that
 * socket, from the upstream's address and port, with that query's id and
 * question. A reply meant for another query, or a spoofer that guessed the
 * port and id, is dropped; the socket closes with the answer. */
START_TEST(own_port_per_query)
{
	AlkDnsQuery qa, qb;
	g_autoptr(GSocketAddress) from_a = NULL;
	g_autoptr(GSocketAddress) from_b = NULL;
	g_autoptr(GByteArray) ra = NULL;
	g_autoptr(GByteArray) rb = NULL;
	g_autoptr(GByteArray) spoof = NULL;

	ask(1, "a.example.com", ALK_DNS_TYPE_A);
	qa = upstream_receives();
	from_a = g_object_ref(f.query_from);
	ask(2, "b.example.com", ALK_DNS_TYPE_A);
	qb = upstream_receives();
	from_b = g_object_ref(f.query_from);
	ck_assert_uint_ne(port_of(from_a), port_of(from_b));
	ck_assert_uint_ne(port_of(from_a), port_of(f.resolver_address));
	ck_assert_uint_ne(qa.id, qb.id);
	ra = upstream_reply(qa.id, "a.example.com", 0);
	alk_test_dns_a(ra, "a.example.com", "192.0.2.1", 60);
	rb = upstream_reply(qb.id, "b.example.com", 0);
	alk_test_dns_a(rb, "b.example.com", "192.0.2.2", 60);
	/* each reply at the other query's socket: right source, wrong socket */
	peer_send(&f.upstream, from_b, ra);
	peer_send(&f.upstream, from_a, rb);
	/* a spoofer that knows a's port, id and question, from another port */
	spoof = upstream_reply(qa.id, "a.example.com", 0);
	alk_test_dns_a(spoof, "a.example.com", "192.0.2.66", 60);
	peer_send(&f.spoofer, from_a, spoof);
	assert_quiet(&f.guest);
	ck_assert_uint_eq(f.pin_calls, 0);
	peer_send(&f.upstream, from_a, ra);
	assert_answer(1, 0, "192.0.2.1/60");
	peer_send(&f.upstream, from_b, rb);
	assert_answer(2, 0, "192.0.2.2/60");
	assert_pins("192.0.2.1:0/60 192.0.2.2:0/60");
	/* answered: its socket is closed, a late copy reaches nothing */
	peer_send(&f.upstream, from_a, ra);
	assert_quiet(&f.guest);
	ck_assert_uint_eq(f.pin_calls, 2);
}
END_TEST

/* One query after another: not one fixed source port. */
START_TEST(fresh_port_each_time)
{
	guint16 ports[4];
	gboolean differ = FALSE;

	for (guint i = 0; i < G_N_ELEMENTS(ports); i++) {
		ask_numbered((guint16)i);
		answer_numbered_at(&ports[i]);
		differ = differ || ports[i] != ports[0];
	}
	ck_assert_msg(differ, "every query left from port %u", ports[0]);
}
END_TEST

static char *upstream_text(const char *configured, const char *resolv_conf)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GInetSocketAddress) a =
	    alk_resolver_upstream_parse(configured, resolv_conf, &error);
	g_autofree char *addr = NULL;

	if (a == NULL)
		return g_strdup(error->message);
	addr = g_inet_address_to_string(g_inet_socket_address_get_address(a));
	return g_strdup_printf("%s:%u", addr, g_inet_socket_address_get_port(a));
}

/* No fixture needed: where the upstream comes from. */
START_TEST(upstream_choice)
{
	static const struct {
		const char *configured, *resolv_conf, *want;
	} cases[] = {
	    {"192.0.2.53", "nameserver 198.51.100.1\n", "192.0.2.53:53"},
	    {"", "# comment\nsearch example\n  nameserver\t2001:db8::1\nnameserver 198.51.100.1\n",
	     "198.51.100.1:53"},
	    {NULL, "nameserver 198.51.100.2 # x\nnameserver 198.51.100.3\n", "198.51.100.2:53"},
	    {"", "nameserver ::1\n", "no upstream DNS server: set network.dns_upstream"},
	    {"", NULL, "no upstream DNS server: set network.dns_upstream"},
	    {"2001:db8::53", NULL, "no upstream DNS server: set network.dns_upstream"},
	    {"", "nameserverx 192.0.2.1\nnameserver\n",
	     "no upstream DNS server: set network.dns_upstream"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *got = upstream_text(cases[i].configured, cases[i].resolv_conf);

		ck_assert_msg(g_str_equal(got, cases[i].want), "case %u: %s", i, got);
	}
}
END_TEST

static Suite *resolver_suite(void)
{
	Suite *s = suite_create("net-resolver");
	TCase *tc = tcase_create("resolver");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, allowed_answered_after_pins);
	tcase_add_test(tc, delayed_done_delays_answer);
	tcase_add_test(tc, denied_name_refused_not_forwarded);
	tcase_add_test(tc, denied_addresses_dropped);
	tcase_add_test(tc, spoofed_replies_ignored);
	tcase_add_test(tc, upstream_timeout);
	tcase_add_test(tc, upstream_errors_pass_through);
	tcase_add_test(tc, other_types_and_malformed);
	tcase_add_test(tc, inflight_limit);
	tcase_add_test(tc, free_before_done);
	tcase_add_test(tc, policy_change_in_flight);
	tcase_add_test(tc, rate_limited);
	tcase_add_test(tc, own_port_per_query);
	tcase_add_test(tc, fresh_port_each_time);
	suite_add_tcase(s, tc);
	tc = tcase_create("upstream");
	tcase_add_test(tc, upstream_choice);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(resolver_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
