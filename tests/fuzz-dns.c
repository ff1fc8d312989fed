/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the resolver's DNS wire code (daemon/net/alk-dns.c).
 *
 * The input goes through the query parser and the response parser. Whatever
 * parses must hold the parsers' promises (names short, lowercase, well
 * formed; at most ALK_DNS_ADDRESSES_MAX addresses) and survive a round trip:
 * the query or answer written from it parses back to the same question and
 * addresses. Build with -DALK_FUZZ=ON (clang).
 */
#include "alk-dns.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Not assert(): it must hold in release builds too. */
#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

static void check_name(const char *name)
{
	gsize len = strlen(name);

	CHECK(len <= ALK_DNS_NAME_MAX);
	CHECK(len == 0 || (name[0] != '.' && name[len - 1] != '.'));
	CHECK(strstr(name, "..") == NULL);
	for (gsize i = 0; i < len; i++)
		CHECK(name[i] > 0x20 && name[i] < 0x7f && !g_ascii_isupper(name[i]));
}

static void fuzz_query(const guint8 *data, gsize size)
{
	guint8 buf[ALK_DNS_QUERY_MAX];
	AlkDnsQuery q, back;
	gsize len;

	if (!alk_dns_query_parse(data, size, &q, NULL))
		return;
	check_name(q.question.name);
	len = alk_dns_build_query(buf, sizeof(buf), q.id, &q.question);
	CHECK(len > 0);
	CHECK(alk_dns_query_parse(buf, len, &back, NULL));
	CHECK(back.id == q.id && alk_dns_question_equal(&q.question, &back.question));
}

static void fuzz_response(const guint8 *data, gsize size)
{
	AlkDnsAddress addrs[ALK_DNS_ADDRESSES_MAX], again[ALK_DNS_ADDRESSES_MAX];
	g_auto(AlkDnsResponse) r = {0};
	g_auto(AlkDnsResponse) back = {0};
	guint8 buf[ALK_DNS_QUERY_MAX];
	guint n;
	gsize len;

	if (!alk_dns_response_parse(data, size, &r, NULL))
		return;
	check_name(r.question.name);
	for (guint i = 0; i < r.cnames->len; i++) {
		check_name(g_array_index(r.cnames, AlkDnsCname, i).owner);
		check_name(g_array_index(r.cnames, AlkDnsCname, i).target);
	}
	n = alk_dns_response_addresses(&r, addrs, G_N_ELEMENTS(addrs));
	CHECK(n <= ALK_DNS_ADDRESSES_MAX);
	n = MIN(n, alk_dns_answer_capacity(&r.question));
	len = alk_dns_build_answer(buf, sizeof(buf), r.id, TRUE, ALK_DNS_RCODE_NOERROR, &r.question,
	                           addrs, n);
	CHECK(len > 0);
	CHECK(alk_dns_response_parse(buf, len, &back, NULL));
	CHECK(alk_dns_question_equal(&r.question, &back.question));
	CHECK(alk_dns_response_addresses(&back, again, G_N_ELEMENTS(again)) == n);
	CHECK(n == 0 || memcmp(addrs, again, n * sizeof(*addrs)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	guint16 id;
	gboolean rd;

	(void)alk_dns_query_header(data, size, &id, &rd);
	fuzz_query(data, size);
	fuzz_response(data, size);
	return 0;
}
