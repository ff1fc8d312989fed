/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <glib.h>
#include <string.h>

#include "alk-dns.h"
#include "alk-error.h"
#include "alk-test-dns.h"

#define QR 0x80
#define RD 0x01
#define TC 0x02

static GByteArray *query(const char *name, guint16 qtype)
{
	return alk_test_dns_message(0x1234, RD, 0, name, qtype);
}

static void assert_query_bad(const guint8 *buf, gsize len, const char *why)
{
	g_autoptr(GError) error = NULL;
	AlkDnsQuery q;

	ck_assert_msg(!alk_dns_query_parse(buf, len, &q, &error), "accepted: %s", why);
	ck_assert_msg(g_error_matches(error, ALK_ERROR, ALK_ERROR_PROTOCOL), "%s", why);
}

static void assert_response_bad(const guint8 *buf, gsize len, const char *why)
{
	g_autoptr(GError) error = NULL;
	g_auto(AlkDnsResponse) r = {0};

	ck_assert_msg(!alk_dns_response_parse(buf, len, &r, &error), "accepted: %s", why);
	ck_assert_msg(g_error_matches(error, ALK_ERROR, ALK_ERROR_PROTOCOL), "%s", why);
	ck_assert_ptr_null(r.as);
}

START_TEST(query_good)
{
	g_autoptr(GByteArray) m = query("Api.Example.COM", ALK_DNS_TYPE_A);
	g_autoptr(GError) error = NULL;
	AlkDnsQuery q;
	guint16 id;
	gboolean rd;

	ck_assert(alk_dns_query_parse(m->data, m->len, &q, &error));
	ck_assert_ptr_null(error);
	ck_assert_uint_eq(q.id, 0x1234);
	ck_assert(q.rd);
	ck_assert_str_eq(q.question.name, "api.example.com");
	ck_assert_uint_eq(q.question.qtype, ALK_DNS_TYPE_A);
	ck_assert_uint_eq(q.question.qclass, ALK_DNS_CLASS_IN);
	ck_assert(alk_dns_query_header(m->data, m->len, &id, &rd));
	ck_assert_uint_eq(id, 0x1234);

	/* an EDNS OPT record in the additional section, as dig sends */
	m->data[11] = 1;
	g_byte_array_append(m, (const guint8 *)"\0\0\x29\x10\0\0\0\0\0\0\0", 11);
	ck_assert(alk_dns_query_parse(m->data, m->len, &q, NULL));
	ck_assert_str_eq(q.question.name, "api.example.com");
}
END_TEST

START_TEST(query_build_roundtrip)
{
	AlkDnsQuestion in = {.name = "a.b.example", .qtype = 1, .qclass = 1};
	guint8 buf[ALK_DNS_QUERY_MAX];
	gsize len = alk_dns_build_query(buf, sizeof(buf), 0xbeef, &in);
	AlkDnsQuery q;

	ck_assert_uint_eq(len, 12 + 13 + 4);
	ck_assert(alk_dns_query_parse(buf, len, &q, NULL));
	ck_assert_uint_eq(q.id, 0xbeef);
	ck_assert(q.rd);
	ck_assert(alk_dns_question_equal(&q.question, &in));
	ck_assert_uint_eq(alk_dns_build_query(buf, len - 1, 1, &in), 0);
	g_strlcpy(in.name, "a..b", sizeof(in.name)); /* an empty label cannot be written */
	ck_assert_uint_eq(alk_dns_build_query(buf, sizeof(buf), 1, &in), 0);
}
END_TEST

START_TEST(query_bad_header)
{
	g_autoptr(GByteArray) m = query("example.com", ALK_DNS_TYPE_A);
	static const struct {
		guint off;
		guint8 value;
		const char *why;
	} cases[] = {
	    {2, QR | RD, "a response"},  {2, 0x10 | RD, "opcode 2"}, {5, 0, "no question"},
	    {5, 2, "two questions"},     {7, 1, "an answer"},        {9, 1, "an authority record"},
	    {4, 1, "256 + 1 questions"},
	};
	guint16 id;
	gboolean rd;

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		guint8 saved = m->data[cases[i].off];

		m->data[cases[i].off] = cases[i].value;
		assert_query_bad(m->data, m->len, cases[i].why);
		m->data[cases[i].off] = saved;
	}
	m->data[2] = QR;
	ck_assert(!alk_dns_query_header(m->data, m->len, &id, &rd)); /* never answer an answer */
	ck_assert(!alk_dns_query_header(m->data, 11, &id, &rd));
}
END_TEST

START_TEST(query_truncated)
{
	g_autoptr(GByteArray) m = query("www.example.com", ALK_DNS_TYPE_A);

	for (guint len = 0; len < m->len; len++)
		assert_query_bad(m->data, len, "truncated");
}
END_TEST

START_TEST(query_oversize)
{
	g_autoptr(GByteArray) m = query("example.com", ALK_DNS_TYPE_A);
	AlkDnsQuery q;

	g_byte_array_set_size(m, ALK_DNS_QUERY_MAX); /* trailing bytes are ignored */
	ck_assert(alk_dns_query_parse(m->data, m->len, &q, NULL));
	g_byte_array_set_size(m, ALK_DNS_QUERY_MAX + 1);
	assert_query_bad(m->data, m->len, "513 bytes");
}
END_TEST

static char *name_of(guint labels, guint label_len)
{
	GString *s = g_string_new(NULL);

	for (guint i = 0; i < labels; i++) {
		if (i > 0)
			g_string_append_c(s, '.');
		for (guint j = 0; j < label_len; j++)
			g_string_append_c(s, 'a');
	}
	return g_string_free(s, FALSE);
}

START_TEST(names_lengths)
{
	g_autofree char *l63 = name_of(1, 63);
	g_autofree char *l64 = name_of(1, 64);
	/* 4 labels of 62: 251 characters */
	g_autofree char *n251 = name_of(4, 62);
	g_autofree char *n253 = g_strconcat("a.", n251, NULL);
	g_autofree char *n254 = g_strconcat("aa.", n251, NULL);
	g_autoptr(GByteArray) m63 = query(l63, 1);
	g_autoptr(GByteArray) m64 = query(l64, 1);
	g_autoptr(GByteArray) m253 = query(n253, 1);
	g_autoptr(GByteArray) m254 = query(n254, 1);
	g_autoptr(GByteArray) root = query("", 1);
	AlkDnsQuery q;

	ck_assert(alk_dns_query_parse(m63->data, m63->len, &q, NULL));
	ck_assert_str_eq(q.question.name, l63);
	assert_query_bad(m64->data, m64->len, "label of 64 (a reserved label type)");
	ck_assert_uint_eq(strlen(n253), 253);
	ck_assert(alk_dns_query_parse(m253->data, m253->len, &q, NULL));
	ck_assert_str_eq(q.question.name, n253);
	assert_query_bad(m254->data, m254->len, "254 characters");
	ck_assert(alk_dns_query_parse(root->data, root->len, &q, NULL));
	ck_assert_str_eq(q.question.name, "");
}
END_TEST

/* A query whose question name is the given raw bytes. */
static GByteArray *raw_query(const guint8 *name, gsize len)
{
	g_autoptr(GByteArray) base = query("", 1);
	GByteArray *m = g_byte_array_new();

	g_byte_array_append(m, base->data, 12);
	g_byte_array_append(m, name, (guint)len);
	alk_test_dns_put16(m, 1);
	alk_test_dns_put16(m, 1);
	return m;
}

START_TEST(names_bytes)
{
	static const char *const bad[] = {"a.b\x01", "a b.example", "a\x7f.example"};
	/* a label holding a dot would read as two labels */
	static const guint8 dot[] = {5, 'a', '.', 'b', 'c', 'd', 3, 'c', 'o', 'm', 0};
	static const guint8 nul[] = {3, 'a', 0, 'b', 3, 'c', 'o', 'm', 0};
	g_autoptr(GByteArray) m_dot = raw_query(dot, sizeof(dot));
	g_autoptr(GByteArray) m_nul = raw_query(nul, sizeof(nul));

	assert_query_bad(m_dot->data, m_dot->len, "dot in a label");
	assert_query_bad(m_nul->data, m_nul->len, "NUL in a label");
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GByteArray) m = query(bad[i], 1);

		assert_query_bad(m->data, m->len, bad[i]);
	}
}
END_TEST

START_TEST(names_pointers)
{
	static const struct {
		guint8 name[8];
		gsize len;
		const char *why;
	} cases[] = {
	    {{0xc0, 12}, 2, "pointer to itself"},
	    {{1, 'a', 0xc0, 12}, 4, "pointer loop to the name's start"},
	    {{1, 'a', 0xc0, 14}, 4, "pointer to itself after a label"},
	    {{0xc0, 16, 0, 1, 0, 1, 1, 'a'}, 8, "forward pointer"},
	    {{0xc0, 2}, 2, "pointer into the header"},
	    {{0xc0}, 1, "pointer cut short"},
	    {{0x80, 1}, 2, "reserved label type 0x80"},
	    {{0x41, 'a'}, 2, "reserved label type 0x40"},
	    {{3, 'a', 'b'}, 3, "label past the end"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GByteArray) m = raw_query(cases[i].name, cases[i].len);

		assert_query_bad(m->data, m->len, cases[i].why);
	}
}
END_TEST

static GByteArray *response(const char *qname)
{
	return alk_test_dns_message(0x4242, QR | RD, 0x80, qname, ALK_DNS_TYPE_A);
}

static guint addresses(GByteArray *m, AlkDnsAddress *out, guint max)
{
	g_autoptr(GError) error = NULL;
	g_auto(AlkDnsResponse) r = {0};

	ck_assert_msg(alk_dns_response_parse(m->data, m->len, &r, &error), "%s",
	              error != NULL ? error->message : "");
	return alk_dns_response_addresses(&r, out, max);
}

static void assert_address(const AlkDnsAddress *a, const char *want, guint32 ttl)
{
	g_autoptr(GInetAddress) in =
	    g_inet_address_new_from_bytes(a->address, G_SOCKET_FAMILY_IPV4);
	g_autofree char *text = g_inet_address_to_string(in);

	ck_assert_str_eq(text, want);
	ck_assert_uint_eq(a->ttl, ttl);
}

START_TEST(response_cname_chain)
{
	g_autoptr(GByteArray) m = response("www.example.com");
	AlkDnsAddress out[ALK_DNS_ADDRESSES_MAX];
	g_auto(AlkDnsResponse) r = {0};

	alk_test_dns_cname(m, "WWW.example.com", "edge.cdn.test", 300);
	alk_test_dns_cname(m, "edge.cdn.test", "e1.cdn.test", 100);
	alk_test_dns_a(m, "e1.cdn.test", "192.0.2.10", 200);
	alk_test_dns_a(m, "e1.cdn.test", "192.0.2.10", 50);     /* a duplicate: folded */
	alk_test_dns_a(m, "denied.test", "198.51.100.66", 999); /* injected: not ours */
	alk_test_dns_a(m, "www.example.com", "192.0.2.1", 20);
	alk_test_dns_rr(m, "www.example.com", 16, 60, "\3txt", 4); /* TXT: ignored */
	ck_assert_uint_eq(addresses(m, out, G_N_ELEMENTS(out)), 2);
	assert_address(&out[0], "192.0.2.1", 20);
	assert_address(&out[1], "192.0.2.10", 100); /* the chain's smallest TTL */

	ck_assert(alk_dns_response_parse(m->data, m->len, &r, NULL));
	ck_assert_uint_eq(r.id, 0x4242);
	ck_assert_uint_eq(r.rcode, 0);
	ck_assert_uint_eq(r.cnames->len, 2);
	ck_assert_uint_eq(r.as->len, 4);
	ck_assert_str_eq(g_array_index(r.cnames, AlkDnsCname, 0).owner, "www.example.com");
	ck_assert_uint_eq(addresses(m, out, 1), 1);
}
END_TEST

START_TEST(response_cname_bounds)
{
	g_autoptr(GByteArray) loop = response("a.test");
	g_autoptr(GByteArray) longc = response("h0.test");
	g_autoptr(GByteArray) capped = response("many.test");
	AlkDnsAddress out[ALK_DNS_ADDRESSES_MAX];

	alk_test_dns_cname(loop, "a.test", "b.test", 60);
	alk_test_dns_cname(loop, "b.test", "a.test", 60);
	alk_test_dns_a(loop, "b.test", "192.0.2.2", 60);
	ck_assert_uint_eq(addresses(loop, out, G_N_ELEMENTS(out)), 1);

	/* h0 -> h1 -> ... -> h9: h8 is eight hops away, h9 nine */
	for (guint i = 0; i < 9; i++) {
		g_autofree char *from = g_strdup_printf("h%u.test", i);
		g_autofree char *to = g_strdup_printf("h%u.test", i + 1);

		alk_test_dns_cname(longc, from, to, 60);
	}
	alk_test_dns_a(longc, "h9.test", "192.0.2.9", 60);
	ck_assert_uint_eq(addresses(longc, out, G_N_ELEMENTS(out)), 0);
	alk_test_dns_a(longc, "h8.test", "192.0.2.8", 60);
	ck_assert_uint_eq(addresses(longc, out, G_N_ELEMENTS(out)), 1);
	assert_address(&out[0], "192.0.2.8", 60);

	for (guint i = 0; i < 40; i++) {
		g_autofree char *a = g_strdup_printf("192.0.2.%u", i + 1);

		alk_test_dns_a(capped, "many.test", a, 60);
	}
	ck_assert_uint_eq(addresses(capped, out, 100), ALK_DNS_ADDRESSES_MAX);
}
END_TEST

START_TEST(response_compressed_and_ttl)
{
	g_autoptr(GByteArray) m = response("example.com");
	guint8 rr[] = {0xc0, 12, 0, 1, 0, 1, 0x80, 0, 0, 0, 0, 4, 192, 0, 2, 7};
	guint8 cn[] = {0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 9, 0, 6, 3, 'w', 'w', 'w', 0xc0, 12};
	AlkDnsAddress out[4];

	g_byte_array_append(m, rr, sizeof(rr)); /* owner by pointer, TTL top bit set */
	m->data[7] = 1;
	ck_assert_uint_eq(addresses(m, out, 4), 1);
	assert_address(&out[0], "192.0.2.7", 0);

	/* a CNAME whose target ends with a pointer: www.example.com */
	g_byte_array_set_size(m, m->len - sizeof(rr));
	g_byte_array_append(m, cn, sizeof(cn));
	m->data[7] = 1;
	alk_test_dns_a(m, "www.example.com", "192.0.2.8", 30);
	ck_assert_uint_eq(addresses(m, out, 4), 1);
	assert_address(&out[0], "192.0.2.8", 9);
}
END_TEST

START_TEST(response_bad)
{
	g_autoptr(GByteArray) m = response("example.com");
	g_autoptr(GByteArray) loop = response("example.com");
	/* owner names pointing at each other: 29 -> 47 is forward, so refused */
	guint8 rr1[] = {0xc0, 47, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 192, 0, 2, 1};
	guint8 rr2[] = {0xc0, 29, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 192, 0, 2, 1};
	g_auto(AlkDnsResponse) r = {0};
	guint full;

	alk_test_dns_a(m, "example.com", "192.0.2.1", 60);
	full = m->len;
	for (guint len = 0; len < full; len++)
		assert_response_bad(m->data, len, "truncated");
	m->data[2] = RD;
	assert_response_bad(m->data, full, "not a response");
	m->data[2] = QR;
	m->data[5] = 2;
	assert_response_bad(m->data, full, "two questions");
	m->data[5] = 1;
	m->data[full - 5] = 5; /* A record of 5 bytes */
	g_byte_array_append(m, (const guint8 *)"x", 1);
	assert_response_bad(m->data, m->len, "A of 5 bytes");

	ck_assert_uint_eq(loop->len, 29);
	g_byte_array_append(loop, rr1, sizeof(rr1));
	g_byte_array_append(loop, rr2, sizeof(rr2));
	loop->data[7] = 2;
	assert_response_bad(loop->data, loop->len, "owner pointer loop");

	g_byte_array_set_size(m, ALK_DNS_RESPONSE_MAX + 1);
	assert_response_bad(m->data, m->len, "4097 bytes");
	ck_assert_ptr_null(r.as);
}
END_TEST

START_TEST(response_truncated_flag)
{
	g_autoptr(GByteArray) m = response("example.com");
	AlkDnsAddress out[4];
	g_auto(AlkDnsResponse) r = {0};

	alk_test_dns_a(m, "example.com", "192.0.2.1", 60);
	alk_test_dns_a(m, "example.com", "192.0.2.2", 60);
	g_byte_array_set_size(m, m->len - 3); /* the second record cut short */
	assert_response_bad(m->data, m->len, "cut without TC");
	m->data[2] |= TC;
	ck_assert(alk_dns_response_parse(m->data, m->len, &r, NULL));
	ck_assert(r.truncated);
	ck_assert_uint_eq(alk_dns_response_addresses(&r, out, 4), 1);
}
END_TEST

START_TEST(answer_build)
{
	AlkDnsQuestion q = {.name = "example.com", .qtype = 1, .qclass = 1};
	AlkDnsAddress in[ALK_DNS_ADDRESSES_MAX] = {{{192, 0, 2, 1}, 60}, {{192, 0, 2, 2}, 0}};
	AlkDnsAddress out[ALK_DNS_ADDRESSES_MAX];
	guint8 buf[ALK_DNS_QUERY_MAX];
	gsize len =
	    alk_dns_build_answer(buf, sizeof(buf), 7, TRUE, ALK_DNS_RCODE_NOERROR, &q, in, 2);
	g_auto(AlkDnsResponse) r = {0};

	ck_assert_uint_eq(len, 12 + 17 + 2 * 16);
	ck_assert_uint_eq(buf[2], QR | RD);
	ck_assert_uint_eq(buf[3], 0x80); /* RA */
	ck_assert(alk_dns_response_parse(buf, len, &r, NULL));
	ck_assert_uint_eq(r.id, 7);
	ck_assert(alk_dns_question_equal(&r.question, &q));
	ck_assert_uint_eq(alk_dns_response_addresses(&r, out, 4), 2);
	ck_assert(memcmp(out, in, 2 * sizeof(*in)) == 0);

	len =
	    alk_dns_build_answer(buf, sizeof(buf), 9, FALSE, ALK_DNS_RCODE_FORMERR, NULL, NULL, 0);
	ck_assert_uint_eq(len, 12);
	ck_assert_uint_eq(buf[2], QR);
	ck_assert_uint_eq(buf[3], 0x80 | ALK_DNS_RCODE_FORMERR);
	ck_assert_uint_eq(buf[5], 0);
	ck_assert_uint_eq(alk_dns_build_answer(buf, sizeof(buf), 9, FALSE, 0, NULL, in, 1), 0);
}
END_TEST

START_TEST(answer_capacity)
{
	g_autofree char *n251 = name_of(4, 62);
	AlkDnsQuestion q = {.qtype = 1, .qclass = 1};
	AlkDnsAddress in[ALK_DNS_ADDRESSES_MAX];
	guint8 buf[ALK_DNS_QUERY_MAX];
	guint cap;

	memset(in, 0, sizeof(in));
	g_snprintf(q.name, sizeof(q.name), "a.%s", n251);
	cap = alk_dns_answer_capacity(&q);
	ck_assert_uint_eq(cap, (512 - 12 - 255 - 4) / 16);
	ck_assert_uint_gt(alk_dns_build_answer(buf, sizeof(buf), 1, TRUE, 0, &q, in, cap), 0);
	ck_assert_uint_eq(alk_dns_build_answer(buf, sizeof(buf), 1, TRUE, 0, &q, in, cap + 1), 0);
	g_strlcpy(q.name, "a.io", sizeof(q.name));
	ck_assert_uint_eq(alk_dns_answer_capacity(&q), (512 - 12 - 6 - 4) / 16);
}
END_TEST

static Suite *dns_suite(void)
{
	Suite *s = suite_create("net-dns");
	TCase *tc = tcase_create("dns");

	tcase_add_test(tc, query_good);
	tcase_add_test(tc, query_build_roundtrip);
	tcase_add_test(tc, query_bad_header);
	tcase_add_test(tc, query_truncated);
	tcase_add_test(tc, query_oversize);
	tcase_add_test(tc, names_lengths);
	tcase_add_test(tc, names_bytes);
	tcase_add_test(tc, names_pointers);
	tcase_add_test(tc, response_cname_chain);
	tcase_add_test(tc, response_cname_bounds);
	tcase_add_test(tc, response_compressed_and_ttl);
	tcase_add_test(tc, response_bad);
	tcase_add_test(tc, response_truncated_flag);
	tcase_add_test(tc, answer_build);
	tcase_add_test(tc, answer_capacity);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(dns_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
