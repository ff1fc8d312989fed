/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Raw DNS messages for the resolver's tests, written byte by byte (names
 * uncompressed) so tests can shape them freely, hostile forms included. */
#pragma once

#include <glib.h>

/* A header (id, flag bytes 2 and 3, QDCOUNT 1) and the question. */
GByteArray *alk_test_dns_message(guint16 id, guint8 flags2, guint8 flags3, const char *qname,
                                 guint16 qtype);
void alk_test_dns_name(GByteArray *m, const char *name);
/* Appends an answer record of class IN and counts it in ANCOUNT. */
void alk_test_dns_rr(GByteArray *m, const char *owner, guint16 type, guint32 ttl, const void *rdata,
                     gsize len);
void alk_test_dns_a(GByteArray *m, const char *owner, const char *ipv4, guint32 ttl);
void alk_test_dns_cname(GByteArray *m, const char *owner, const char *target, guint32 ttl);
void alk_test_dns_put16(GByteArray *m, guint v);
