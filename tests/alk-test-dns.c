/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-test-dns.h"

#include <gio/gio.h>
#include <string.h>

void alk_test_dns_put16(GByteArray *m, guint v)
{
	guint8 b[2] = {(guint8)(v >> 8), (guint8)v};

	g_byte_array_append(m, b, 2);
}

void alk_test_dns_name(GByteArray *m, const char *name)
{
	g_auto(GStrv) labels = g_strsplit(name, ".", -1);

	for (guint i = 0; name[0] != '\0' && labels[i] != NULL; i++) {
		guint8 len = (guint8)strlen(labels[i]);

		g_byte_array_append(m, &len, 1);
		g_byte_array_append(m, (const guint8 *)labels[i], len);
	}
	g_byte_array_append(m, (const guint8 *)"", 1);
}

GByteArray *alk_test_dns_message(guint16 id, guint8 flags2, guint8 flags3, const char *qname,
                                 guint16 qtype)
{
	GByteArray *m = g_byte_array_new();

	alk_test_dns_put16(m, id);
	g_byte_array_append(m, &flags2, 1);
	g_byte_array_append(m, &flags3, 1);
	alk_test_dns_put16(m, 1);
	for (guint i = 0; i < 3; i++)
		alk_test_dns_put16(m, 0);
	alk_test_dns_name(m, qname);
	alk_test_dns_put16(m, qtype);
	alk_test_dns_put16(m, 1);
	return m;
}

void alk_test_dns_rr(GByteArray *m, const char *owner, guint16 type, guint32 ttl, const void *rdata,
                     gsize len)
{
	guint ancount = (guint)(m->data[6] << 8 | m->data[7]) + 1;

	m->data[6] = (guint8)(ancount >> 8);
	m->data[7] = (guint8)ancount;
	alk_test_dns_name(m, owner);
	alk_test_dns_put16(m, type);
	alk_test_dns_put16(m, 1);
	alk_test_dns_put16(m, ttl >> 16);
	alk_test_dns_put16(m, ttl & 0xffff);
	alk_test_dns_put16(m, (guint)len);
	g_byte_array_append(m, rdata, (guint)len);
}

void alk_test_dns_a(GByteArray *m, const char *owner, const char *ipv4, guint32 ttl)
{
	g_autoptr(GInetAddress) a = g_inet_address_new_from_string(ipv4);

	g_assert(a != NULL && g_inet_address_get_family(a) == G_SOCKET_FAMILY_IPV4);
	alk_test_dns_rr(m, owner, 1, ttl, g_inet_address_to_bytes(a), 4);
}

void alk_test_dns_cname(GByteArray *m, const char *owner, const char *target, guint32 ttl)
{
	g_autoptr(GByteArray) name = g_byte_array_new();

	alk_test_dns_name(name, target);
	alk_test_dns_rr(m, owner, 5, ttl, name->data, name->len);
}
