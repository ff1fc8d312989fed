/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* DNS wire format (RFC 1035), only what the per-sandbox resolver needs: a
 * guest's query, an upstream response, and the two messages it writes. Pure:
 * no I/O; allocates only errors and the response's record arrays.
 *
 * Names are read with every check a hostile peer calls for: label lengths
 * (1..63; the reserved 0x40/0x80 label types refused), a total of at most
 * ALK_DNS_NAME_MAX characters, label bytes printable ASCII other than '.',
 * and compression pointers that must each point before the start of the
 * part of the name read so far (so no loop, no forward reference) and
 * past the header. Names come out lowercased, without a trailing dot; the
 * root is "". */
#pragma once

#include <gio/gio.h>
#include <glib.h>

#define ALK_DNS_HEADER_SIZE 12
#define ALK_DNS_QUERY_MAX 512     /* a guest query over UDP, and our answer */
#define ALK_DNS_RESPONSE_MAX 4096 /* an upstream response */
#define ALK_DNS_NAME_MAX 253      /* characters, no trailing dot */
#define ALK_DNS_ADDRESSES_MAX 32  /* A records used from one response */
#define ALK_DNS_CNAME_HOPS_MAX 8  /* CNAMEs followed from the question */

enum {
	ALK_DNS_TYPE_A = 1,
	ALK_DNS_TYPE_CNAME = 5,
	ALK_DNS_TYPE_AAAA = 28,
	ALK_DNS_CLASS_IN = 1,
};

typedef enum {
	ALK_DNS_RCODE_NOERROR = 0,
	ALK_DNS_RCODE_FORMERR = 1,
	ALK_DNS_RCODE_SERVFAIL = 2,
	ALK_DNS_RCODE_NXDOMAIN = 3,
	ALK_DNS_RCODE_NOTIMP = 4,
	ALK_DNS_RCODE_REFUSED = 5,
} AlkDnsRcode;

typedef struct {
	char name[ALK_DNS_NAME_MAX + 1];
	guint16 qtype;
	guint16 qclass;
} AlkDnsQuestion;

typedef struct {
	guint16 id;
	gboolean rd; /* recursion desired: copied into the answer */
	AlkDnsQuestion question;
} AlkDnsQuery;

typedef struct {
	char owner[ALK_DNS_NAME_MAX + 1];
	char target[ALK_DNS_NAME_MAX + 1];
	guint32 ttl;
} AlkDnsCname;

typedef struct {
	char owner[ALK_DNS_NAME_MAX + 1];
	guint8 address[4];
	guint32 ttl;
} AlkDnsA;

typedef struct {
	guint16 id;
	guint8 rcode;
	gboolean truncated; /* TC: answers cut short were left out, no error */
	AlkDnsQuestion question;
	GArray *cnames; /* AlkDnsCname, class IN, in message order */
	GArray *as;     /* AlkDnsA, class IN, in message order */
} AlkDnsResponse;

/* One address of a flattened answer. */
typedef struct {
	guint8 address[4];
	guint32 ttl; /* the smallest TTL along the CNAME chain to it */
} AlkDnsAddress;

/* Reads the id and RD bit of a datagram that is at least a header and not a
 * response (QR=0): whether a FORMERR can be sent back for it. */
gboolean alk_dns_query_header(const guint8 *buf, gsize len, guint16 *id, gboolean *rd);

/* Parses a guest query: at most ALK_DNS_QUERY_MAX bytes, QR=0, opcode 0,
 * exactly one question, no answer or authority records (additional records,
 * such as an EDNS OPT, and trailing bytes are ignored). Errors:
 * ALK_ERROR_PROTOCOL. */
gboolean alk_dns_query_parse(const guint8 *buf, gsize len, AlkDnsQuery *query, GError **error);

/* Parses an upstream response: at most ALK_DNS_RESPONSE_MAX bytes, QR=1,
 * opcode 0, exactly one question; collects the answer section's CNAME and A
 * records of class IN and ignores other types; authority and additional
 * sections are not read. A record running past the end is an error unless TC
 * is set. Errors: ALK_ERROR_PROTOCOL. Clear with alk_dns_response_clear(). */
gboolean alk_dns_response_parse(const guint8 *buf, gsize len, AlkDnsResponse *response,
                                GError **error);
void alk_dns_response_clear(AlkDnsResponse *response);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AlkDnsResponse, alk_dns_response_clear)

/* The addresses the response gives for its question's name: A records owned
 * by the name or by a name reached from it through at most
 * ALK_DNS_CNAME_HOPS_MAX CNAMEs; records of any other owner are ignored.
 * Duplicates are folded; at most max (<= ALK_DNS_ADDRESSES_MAX) kept.
 * Returns how many were written to out. */
guint alk_dns_response_addresses(const AlkDnsResponse *response, AlkDnsAddress *out, guint max);

gboolean alk_dns_question_equal(const AlkDnsQuestion *a, const AlkDnsQuestion *b);

/* How many A answers for question fit in an answer of ALK_DNS_QUERY_MAX
 * bytes (at most ALK_DNS_ADDRESSES_MAX). */
guint alk_dns_answer_capacity(const AlkDnsQuestion *question);

/* Writes an answer: id, RD copied, QR=1, RA=1, rcode, the question (NULL:
 * none, as for a FORMERR) and n A records owned by the question's name
 * (by a pointer to it). Returns the length, 0 if it does not fit in size. */
gsize alk_dns_build_answer(guint8 *buf, gsize size, guint16 id, gboolean rd, AlkDnsRcode rcode,
                           const AlkDnsQuestion *question, const AlkDnsAddress *addresses, guint n);

/* Writes a query to forward upstream: id, RD=1, the question, no EDNS.
 * Returns the length, 0 if it does not fit in size. */
gsize alk_dns_build_query(guint8 *buf, gsize size, guint16 id, const AlkDnsQuestion *question);
