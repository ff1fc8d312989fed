/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-dns.h"

#include <string.h>

#include "alk-error.h"

#define FLAG_QR 0x80     /* byte 2 */
#define FLAG_OPCODE 0x78 /* byte 2 */
#define FLAG_TC 0x02     /* byte 2 */
#define FLAG_RD 0x01     /* byte 2 */
#define FLAG_RA 0x80     /* byte 3 */
#define RCODE_MASK 0x0f  /* byte 3 */
#define LABEL_MAX 63
/* Legitimate compressors chain a pointer or two; a long chain only burns CPU. */
#define POINTER_JUMPS_MAX 32
/* An answer's A record: a pointer to the question's name, type, class, TTL,
 * length and the address. */
#define ANSWER_A_SIZE 16
#define QUESTION_NAME_OFFSET ALK_DNS_HEADER_SIZE

static gboolean fail(GError **error, const char *format, ...) G_GNUC_PRINTF(2, 3);

static gboolean fail(GError **error, const char *format, ...)
{
	va_list ap;
	g_autofree char *message = NULL;

	va_start(ap, format);
	message = g_strdup_vprintf(format, ap);
	va_end(ap);
	g_set_error_literal(error, ALK_ERROR, ALK_ERROR_PROTOCOL, message);
	return FALSE;
}

static guint16 get16(const guint8 *p)
{
	return (guint16)(p[0] << 8 | p[1]);
}

static guint32 get32(const guint8 *p)
{
	return (guint32)p[0] << 24 | (guint32)p[1] << 16 | (guint32)p[2] << 8 | p[3];
}

/* Appends one label's bytes to the name being read, lowercased. */
static gboolean name_append(char *out, gsize *n, const guint8 *label, guint len, GError **error)
{
	if (*n + (*n > 0 ? 1 : 0) + len > ALK_DNS_NAME_MAX)
		return fail(error, "name longer than %d characters", ALK_DNS_NAME_MAX);
	if (*n > 0)
		out[(*n)++] = '.';
	for (guint i = 0; i < len; i++) {
		if (label[i] <= 0x20 || label[i] >= 0x7f || label[i] == '.')
			return fail(error, "name has byte 0x%02x in a label", label[i]);
		out[(*n)++] = g_ascii_tolower((char)label[i]);
	}
	return TRUE;
}

/* Follows a compression pointer at p. It must point past the header and before
 * start, where the part of the name read so far began: each jump goes strictly
 * backwards, so a name can neither loop nor reach ahead. */
static gboolean name_jump(const guint8 *buf, gsize len, gsize *p, gsize *start, guint *jumps,
                          GError **error)
{
	gsize target;

	if (*p + 1 >= len)
		return fail(error, "name runs past the end");
	target = (gsize)(buf[*p] & 0x3f) << 8 | buf[*p + 1];
	if (target < QUESTION_NAME_OFFSET || target >= *start)
		return fail(error, "compression pointer to %zu does not point backwards", target);
	if (++*jumps > POINTER_JUMPS_MAX)
		return fail(error, "more than %d compression pointers", POINTER_JUMPS_MAX);
	*p = *start = target;
	return TRUE;
}

/* Reads the name at *pos into out; *pos moves past the name as it lies there
 * (its labels up to the root label or the first pointer). */
static gboolean read_name(const guint8 *buf, gsize len, gsize *pos, char *out, GError **error)
{
	gsize p = *pos, start = *pos, end = 0, n = 0;
	guint jumps = 0;

	for (;;) {
		guint8 c;

		if (p >= len)
			return fail(error, "name runs past the end");
		c = buf[p];
		if ((c & 0xc0) == 0xc0) {
			if (end == 0)
				end = p + 2;
			if (!name_jump(buf, len, &p, &start, &jumps, error))
				return FALSE;
			continue;
		}
		if (c > LABEL_MAX)
			return fail(error, "reserved label type 0x%02x", c);
		if (c == 0)
			break;
		if (len - p - 1 < c)
			return fail(error, "label runs past the end");
		if (!name_append(out, &n, buf + p + 1, c, error))
			return FALSE;
		p += 1 + (gsize)c;
	}
	out[n] = '\0';
	*pos = end != 0 ? end : p + 1;
	return TRUE;
}

static gboolean read_question(const guint8 *buf, gsize len, gsize *pos, AlkDnsQuestion *q,
                              GError **error)
{
	if (!read_name(buf, len, pos, q->name, error))
		return FALSE;
	if (len - *pos < 4)
		return fail(error, "question runs past the end");
	q->qtype = get16(buf + *pos);
	q->qclass = get16(buf + *pos + 2);
	*pos += 4;
	return TRUE;
}

gboolean alk_dns_query_header(const guint8 *buf, gsize len, guint16 *id, gboolean *rd)
{
	if (len < ALK_DNS_HEADER_SIZE || (buf[2] & FLAG_QR) != 0)
		return FALSE;
	*id = get16(buf);
	*rd = (buf[2] & FLAG_RD) != 0;
	return TRUE;
}

gboolean alk_dns_query_parse(const guint8 *buf, gsize len, AlkDnsQuery *query, GError **error)
{
	AlkDnsQuery q = {0};
	gsize pos = ALK_DNS_HEADER_SIZE;

	if (len < ALK_DNS_HEADER_SIZE || len > ALK_DNS_QUERY_MAX)
		return fail(error, "query of %zu bytes", len);
	if ((buf[2] & FLAG_QR) != 0 || (buf[2] & FLAG_OPCODE) != 0)
		return fail(error, "not a standard query");
	if (get16(buf + 4) != 1 || get16(buf + 6) != 0 || get16(buf + 8) != 0)
		return fail(error, "query without exactly one question, or with answers");
	if (!read_question(buf, len, &pos, &q.question, error))
		return FALSE;
	q.id = get16(buf);
	q.rd = (buf[2] & FLAG_RD) != 0;
	*query = q;
	return TRUE;
}

static gboolean read_rdata_name(const guint8 *buf, gsize rdata, gsize rdlen, char *out,
                                GError **error)
{
	gsize p = rdata;

	if (!read_name(buf, rdata + rdlen, &p, out, error))
		return FALSE;
	if (p != rdata + rdlen)
		return fail(error, "CNAME data longer than its name");
	return TRUE;
}

static gboolean keep_record(const guint8 *buf, const char *owner, guint16 type, guint32 ttl,
                            gsize rdata, gsize rdlen, AlkDnsResponse *r, GError **error)
{
	/* RFC 2181 8: a TTL with the top bit set is read as zero */
	if (ttl > G_MAXINT32)
		ttl = 0;
	if (type == ALK_DNS_TYPE_A) {
		AlkDnsA a = {.ttl = ttl};

		if (rdlen != 4)
			return fail(error, "A record of %zu bytes", rdlen);
		g_strlcpy(a.owner, owner, sizeof(a.owner));
		memcpy(a.address, buf + rdata, 4);
		g_array_append_val(r->as, a);
	} else if (type == ALK_DNS_TYPE_CNAME) {
		AlkDnsCname c = {.ttl = ttl};

		if (!read_rdata_name(buf, rdata, rdlen, c.target, error))
			return FALSE;
		g_strlcpy(c.owner, owner, sizeof(c.owner));
		g_array_append_val(r->cnames, c);
	}
	return TRUE;
}

static gboolean read_record(const guint8 *buf, gsize len, gsize *pos, AlkDnsResponse *r,
                            GError **error)
{
	char owner[ALK_DNS_NAME_MAX + 1];
	guint16 type, klass, rdlen;
	guint32 ttl;

	if (!read_name(buf, len, pos, owner, error))
		return FALSE;
	if (len - *pos < 10)
		return fail(error, "record runs past the end");
	type = get16(buf + *pos);
	klass = get16(buf + *pos + 2);
	ttl = get32(buf + *pos + 4);
	rdlen = get16(buf + *pos + 8);
	*pos += 10;
	if (len - *pos < rdlen)
		return fail(error, "record data runs past the end");
	*pos += rdlen;
	if (klass != ALK_DNS_CLASS_IN)
		return TRUE;
	return keep_record(buf, owner, type, ttl, *pos - rdlen, rdlen, r, error);
}

/* A truncated response (TC) keeps the records that arrived whole. */
static gboolean read_answers(const guint8 *buf, gsize len, gsize pos, AlkDnsResponse *r,
                             GError **error)
{
	guint count = get16(buf + 6);

	for (guint i = 0; i < count; i++) {
		g_autoptr(GError) local = NULL;

		if (read_record(buf, len, &pos, r, &local))
			continue;
		if (r->truncated)
			return TRUE;
		g_propagate_prefixed_error(error, g_steal_pointer(&local), "answer %u: ", i);
		return FALSE;
	}
	return TRUE;
}

gboolean alk_dns_response_parse(const guint8 *buf, gsize len, AlkDnsResponse *response,
                                GError **error)
{
	g_auto(AlkDnsResponse) r = {0};
	gsize pos = ALK_DNS_HEADER_SIZE;

	if (len < ALK_DNS_HEADER_SIZE || len > ALK_DNS_RESPONSE_MAX)
		return fail(error, "response of %zu bytes", len);
	if ((buf[2] & FLAG_QR) == 0 || (buf[2] & FLAG_OPCODE) != 0)
		return fail(error, "not a standard response");
	if (get16(buf + 4) != 1)
		return fail(error, "response without exactly one question");
	r.id = get16(buf);
	r.rcode = buf[3] & RCODE_MASK;
	r.truncated = (buf[2] & FLAG_TC) != 0;
	if (!read_question(buf, len, &pos, &r.question, error))
		return FALSE;
	r.cnames = g_array_new(FALSE, TRUE, sizeof(AlkDnsCname));
	r.as = g_array_new(FALSE, TRUE, sizeof(AlkDnsA));
	if (!read_answers(buf, len, pos, &r, error))
		return FALSE;
	*response = r;
	memset(&r, 0, sizeof(r));
	return TRUE;
}

void alk_dns_response_clear(AlkDnsResponse *response)
{
	if (response == NULL)
		return;
	g_clear_pointer(&response->cnames, g_array_unref);
	g_clear_pointer(&response->as, g_array_unref);
}

gboolean alk_dns_question_equal(const AlkDnsQuestion *a, const AlkDnsQuestion *b)
{
	return a->qtype == b->qtype && a->qclass == b->qclass && strcmp(a->name, b->name) == 0;
}

static guint add_address(AlkDnsAddress *out, guint n, guint max, const AlkDnsA *a, guint32 ttl)
{
	for (guint i = 0; i < n; i++) {
		if (memcmp(out[i].address, a->address, 4) == 0)
			return n;
	}
	if (n >= max)
		return n;
	memcpy(out[n].address, a->address, 4);
	out[n].ttl = MIN(a->ttl, ttl);
	return n + 1;
}

static const AlkDnsCname *find_cname(const AlkDnsResponse *r, const char *owner)
{
	for (guint i = 0; i < r->cnames->len; i++) {
		const AlkDnsCname *c = &g_array_index(r->cnames, AlkDnsCname, i);

		if (strcmp(c->owner, owner) == 0)
			return c;
	}
	return NULL;
}

guint alk_dns_response_addresses(const AlkDnsResponse *response, AlkDnsAddress *out, guint max)
{
	const char *name = response->question.name;
	guint32 chain_ttl = G_MAXUINT32;
	guint n = 0;

	max = MIN(max, ALK_DNS_ADDRESSES_MAX);
	for (guint hop = 0; hop <= ALK_DNS_CNAME_HOPS_MAX; hop++) {
		const AlkDnsCname *cname;

		for (guint i = 0; i < response->as->len; i++) {
			const AlkDnsA *a = &g_array_index(response->as, AlkDnsA, i);

			if (strcmp(a->owner, name) == 0)
				n = add_address(out, n, max, a, chain_ttl);
		}
		cname = find_cname(response, name);
		if (cname == NULL)
			break;
		chain_ttl = MIN(chain_ttl, cname->ttl);
		name = cname->target;
	}
	return n;
}

/* Writes into a fixed buffer; any overflow makes the whole message fail. */
typedef struct {
	guint8 *buf;
	gsize size;
	gsize pos;
	gboolean ok;
} Writer;

static void put(Writer *w, const void *data, gsize n)
{
	if (!w->ok || w->size - w->pos < n) {
		w->ok = FALSE;
		return;
	}
	memcpy(w->buf + w->pos, data, n);
	w->pos += n;
}

static void put16(Writer *w, guint v)
{
	guint8 b[2] = {(guint8)(v >> 8), (guint8)v};

	put(w, b, 2);
}

static void put32(Writer *w, guint32 v)
{
	put16(w, v >> 16);
	put16(w, v & 0xffff);
}

static void put_name(Writer *w, const char *name)
{
	const char *p = name;

	while (*p != '\0') {
		const char *dot = strchr(p, '.');
		gsize n = dot != NULL ? (gsize)(dot - p) : strlen(p);
		guint8 len = (guint8)n;

		if (n == 0 || n > LABEL_MAX) {
			w->ok = FALSE;
			return;
		}
		put(w, &len, 1);
		put(w, p, n);
		p += n + (dot != NULL ? 1 : 0);
	}
	put(w, "", 1);
}

static void put_header(Writer *w, guint16 id, guint8 flags2, guint8 flags3, guint qd, guint an)
{
	put16(w, id);
	put(w, &flags2, 1);
	put(w, &flags3, 1);
	put16(w, qd);
	put16(w, an);
	put16(w, 0);
	put16(w, 0);
}

static void put_question(Writer *w, const AlkDnsQuestion *q)
{
	put_name(w, q->name);
	put16(w, q->qtype);
	put16(w, q->qclass);
}

guint alk_dns_answer_capacity(const AlkDnsQuestion *question)
{
	gsize name = question->name[0] == '\0' ? 1 : strlen(question->name) + 2;
	gsize used = ALK_DNS_HEADER_SIZE + name + 4;

	if (used >= ALK_DNS_QUERY_MAX)
		return 0;
	return (guint)MIN((ALK_DNS_QUERY_MAX - used) / ANSWER_A_SIZE, ALK_DNS_ADDRESSES_MAX);
}

gsize alk_dns_build_answer(guint8 *buf, gsize size, guint16 id, gboolean rd, AlkDnsRcode rcode,
                           const AlkDnsQuestion *question, const AlkDnsAddress *addresses, guint n)
{
	Writer w = {buf, size, 0, TRUE};
	guint8 flags2 = FLAG_QR | (rd ? FLAG_RD : 0);

	if (question == NULL && n > 0)
		return 0;
	put_header(&w, id, flags2, FLAG_RA | (rcode & RCODE_MASK), question != NULL ? 1 : 0, n);
	if (question != NULL)
		put_question(&w, question);
	for (guint i = 0; i < n; i++) {
		put16(&w, 0xc000 | QUESTION_NAME_OFFSET);
		put16(&w, ALK_DNS_TYPE_A);
		put16(&w, ALK_DNS_CLASS_IN);
		put32(&w, addresses[i].ttl);
		put16(&w, 4);
		put(&w, addresses[i].address, 4);
	}
	return w.ok ? w.pos : 0;
}

gsize alk_dns_build_query(guint8 *buf, gsize size, guint16 id, const AlkDnsQuestion *question)
{
	Writer w = {buf, size, 0, TRUE};

	put_header(&w, id, FLAG_RD, 0, 1, 0);
	put_question(&w, question);
	return w.ok ? w.pos : 0;
}
