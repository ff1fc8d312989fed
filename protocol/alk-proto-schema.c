/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The schema engine: decodes a payload against a message's field table and
 * encodes a message struct from the same table (alk-proto-private.h).
 */
#include "alk-proto-private.h"

#include <stdint.h>
#include <string.h>

/* ---- Schema decoding ---- */

static size_t elem_size(const AlkField *f)
{
	return f->kind == ALK_K_RLIMIT ? sizeof(AlkRlimit) : sizeof(const char *);
}

static void *field_slot(const AlkField *f, void *m, uint32_t index)
{
	return (uint8_t *)m + f->off + (size_t)index * elem_size(f);
}

static int store_int(const AlkField *f, void *slot, const uint8_t *v, uint32_t n)
{
	int64_t x;

	if (n != (f->kind == ALK_K_U64 ? 8u : 4u))
		return ALK_PROTO_E_FIELD;
	if (f->kind == ALK_K_U64) {
		uint64_t u = get_be64(v);

		memcpy(slot, &u, sizeof(u));
		return ALK_PROTO_OK;
	}
	x = f->kind == ALK_K_I32 ? (int64_t)(int32_t)get_be32(v) : (int64_t)get_be32(v);
	if (x < f->lo || x > f->hi)
		return ALK_PROTO_E_VALUE;
	if (f->kind == ALK_K_I32) {
		int32_t i = (int32_t)x;

		memcpy(slot, &i, sizeof(i));
	} else {
		uint32_t u = (uint32_t)x;

		memcpy(slot, &u, sizeof(u));
	}
	return ALK_PROTO_OK;
}

static int store_str(const AlkField *f, void *slot, const uint8_t *v, uint32_t n)
{
	const char *s = (const char *)v;
	const char *eq;

	if (n == 0 || v[n - 1] != 0 || memchr(v, 0, n - 1) != NULL)
		return ALK_PROTO_E_STRING;
	if (f->kind == ALK_K_PATH && s[0] != '/')
		return ALK_PROTO_E_VALUE;
	if (f->kind == ALK_K_ENV) {
		eq = strchr(s, '=');
		if (eq == NULL || eq == s)
			return ALK_PROTO_E_VALUE;
	}
	memcpy(slot, &s, sizeof(s));
	return ALK_PROTO_OK;
}

static int store_rlimit(void *slot, const uint8_t *v, uint32_t n)
{
	AlkRlimit r;

	if (n != ALK_RLIMIT_WIRE_SIZE)
		return ALK_PROTO_E_FIELD;
	r.resource = get_be32(v);
	r.value = get_be64(v + 4);
	if (r.resource >= ALK_RLIMIT_RESOURCES)
		return ALK_PROTO_E_VALUE;
	memcpy(slot, &r, sizeof(r));
	return ALK_PROTO_OK;
}

static int store_field(const AlkField *f, void *slot, const uint8_t *v, uint32_t n)
{
	AlkBytes b;

	switch (f->kind) {
	case ALK_K_U32:
	case ALK_K_I32:
	case ALK_K_U64:
		return store_int(f, slot, v, n);
	case ALK_K_STR:
	case ALK_K_PATH:
	case ALK_K_ENV:
		return store_str(f, slot, v, n);
	case ALK_K_NONCE:
		if (n != ALK_PROTO_NONCE_SIZE)
			return ALK_PROTO_E_VALUE;
		memcpy(slot, v, n);
		return ALK_PROTO_OK;
	case ALK_K_RLIMIT:
		return store_rlimit(slot, v, n);
	case ALK_K_OCTETS:
		if (n != f->hi)
			return ALK_PROTO_E_FIELD;
		memcpy(slot, v, n);
		return ALK_PROTO_OK;
	case ALK_K_BYTES:
		if (n > f->hi)
			return ALK_PROTO_E_VALUE;
		b.data = v;
		b.len = n;
		memcpy(slot, &b, sizeof(b));
		return ALK_PROTO_OK;
	}
	return ALK_PROTO_E_FIELD;
}

static void set_default(const AlkField *f, void *m)
{
	void *slot = field_slot(f, m, 0);
	uint32_t u = (uint32_t)f->def;
	int32_t i = (int32_t)f->def;
	uint64_t q = (uint64_t)f->def;

	if (f->kind == ALK_K_U32)
		memcpy(slot, &u, sizeof(u));
	else if (f->kind == ALK_K_I32)
		memcpy(slot, &i, sizeof(i));
	else if (f->kind == ALK_K_U64)
		memcpy(slot, &q, sizeof(q));
	else if (f->kind == ALK_K_STR || f->kind == ALK_K_PATH)
		memcpy(slot, &f->sdef, sizeof(f->sdef));
}

static const AlkField *schema_find(const AlkSchema *s, uint16_t tag)
{
	for (size_t i = 0; i < s->nfields; i++)
		if (s->fields[i].tag == tag)
			return &s->fields[i];
	return NULL;
}

/* One field at p[*pos]: header, bounds, tag, multiplicity, value. */
static int decode_one(const AlkSchema *s, const uint8_t *p, size_t n, size_t *pos, void *m,
                      uint32_t *seen)
{
	const AlkField *f;
	uint32_t flen;
	size_t i;
	int rc;

	if (n - *pos < ALK_PROTO_FIELD_HEADER_SIZE)
		return ALK_PROTO_E_FIELD;
	f = schema_find(s, get_be16(p + *pos));
	flen = get_be32(p + *pos + 2);
	*pos += ALK_PROTO_FIELD_HEADER_SIZE;
	if (flen > n - *pos || f == NULL)
		return ALK_PROTO_E_FIELD;
	i = (size_t)(f - s->fields);
	if (f->max == 0 && seen[i] > 0)
		return ALK_PROTO_E_DUPLICATE;
	if (f->max != 0 && seen[i] >= f->max)
		return ALK_PROTO_E_COUNT;
	rc = store_field(f, field_slot(f, m, seen[i]), p + *pos, flen);
	if (rc != ALK_PROTO_OK)
		return rc;
	seen[i]++;
	*pos += flen;
	return ALK_PROTO_OK;
}

int alk_schema_decode(const AlkSchema *s, const uint8_t *p, size_t n, void *m)
{
	uint32_t seen[ALK_MAX_FIELDS] = {0};
	size_t pos = 0;
	int rc;

	memset(m, 0, s->size);
	for (size_t i = 0; i < s->nfields; i++)
		if (!s->fields[i].required && s->fields[i].max == 0)
			set_default(&s->fields[i], m);
	while (pos < n) {
		rc = decode_one(s, p, n, &pos, m, seen);
		if (rc != ALK_PROTO_OK)
			return rc;
	}
	for (size_t i = 0; i < s->nfields; i++) {
		const AlkField *f = &s->fields[i];

		if (f->required && seen[i] == 0)
			return ALK_PROTO_E_MISSING;
		if (f->max != 0)
			memcpy((uint8_t *)m + f->count_off, &seen[i], sizeof(uint32_t));
	}
	return s->check ? s->check(m) : ALK_PROTO_OK;
}

int alk_schema_decode_into(const AlkSchema *s, const uint8_t *p, size_t n, void *out)
{
	AlkMsgAny tmp;
	int rc = alk_schema_decode(s, p, n, &tmp);

	if (rc == ALK_PROTO_OK)
		memcpy(out, &tmp, s->size);
	return rc;
}

/* ---- Schema encoding ---- */

static int encode_elem(AlkWriter *w, const AlkField *f, const void *slot)
{
	const char *s;
	AlkBytes b;
	AlkRlimit r;
	uint8_t raw[ALK_RLIMIT_WIRE_SIZE];
	uint32_t u;
	uint64_t q;

	switch (f->kind) {
	case ALK_K_U32:
	case ALK_K_I32:
		memcpy(&u, slot, sizeof(u));
		alk_put_u32(w, f->tag, u);
		return ALK_PROTO_OK;
	case ALK_K_U64:
		memcpy(&q, slot, sizeof(q));
		alk_put_u64(w, f->tag, q);
		return ALK_PROTO_OK;
	case ALK_K_STR:
	case ALK_K_PATH:
	case ALK_K_ENV:
		memcpy(&s, slot, sizeof(s));
		/* An absent required string is left out, and then reported
		 * missing by the check decode. */
		if (s == NULL)
			return f->max ? ALK_PROTO_E_VALUE : ALK_PROTO_OK;
		alk_put_str(w, f->tag, s);
		return ALK_PROTO_OK;
	case ALK_K_NONCE:
		alk_put_bytes(w, f->tag, slot, ALK_PROTO_NONCE_SIZE);
		return ALK_PROTO_OK;
	case ALK_K_OCTETS:
		alk_put_bytes(w, f->tag, slot, (size_t)f->hi);
		return ALK_PROTO_OK;
	case ALK_K_RLIMIT:
		memcpy(&r, slot, sizeof(r));
		put_be32(raw, r.resource);
		put_be64(raw + 4, r.value);
		alk_put_bytes(w, f->tag, raw, sizeof(raw));
		return ALK_PROTO_OK;
	case ALK_K_BYTES:
		memcpy(&b, slot, sizeof(b));
		if (b.data == NULL && b.len != 0)
			return ALK_PROTO_E_VALUE;
		alk_put_bytes(w, f->tag, b.data, b.len);
		return ALK_PROTO_OK;
	}
	return ALK_PROTO_E_FIELD;
}

/* An optional field holding its default is left out: the peer fills it
 * in, and re-encoding a decoded message never makes it longer. */
static int is_default(const AlkField *f, const void *slot)
{
	uint32_t u;
	int32_t i;
	uint64_t q;
	const char *s;

	switch (f->kind) {
	case ALK_K_U32:
		memcpy(&u, slot, sizeof(u));
		return (int64_t)u == f->def;
	case ALK_K_I32:
		memcpy(&i, slot, sizeof(i));
		return (int64_t)i == f->def;
	case ALK_K_U64:
		memcpy(&q, slot, sizeof(q));
		return q == (uint64_t)f->def;
	case ALK_K_STR:
	case ALK_K_PATH:
		memcpy(&s, slot, sizeof(s));
		return s == NULL || (f->sdef != NULL && strcmp(s, f->sdef) == 0);
	case ALK_K_OCTETS: /* the default of an optional one is all zeros */
		for (int64_t k = 0; k < f->hi; k++)
			if (((const uint8_t *)slot)[k] != 0)
				return 0;
		return 1;
	default:
		return 0;
	}
}

static uint32_t field_count(const AlkField *f, const void *m)
{
	uint32_t c = 1;

	if (f->max != 0)
		memcpy(&c, (const uint8_t *)m + f->count_off, sizeof(c));
	else if (!f->required && is_default(f, field_slot(f, (void *)m, 0)))
		c = 0;
	return c;
}

static int schema_put(AlkWriter *w, const AlkSchema *s, const void *m)
{
	for (size_t i = 0; i < s->nfields; i++) {
		const AlkField *f = &s->fields[i];
		uint32_t c = field_count(f, m);

		/* Checked before reading: the arrays hold only max entries. */
		if (f->max != 0 && c > f->max)
			return ALK_PROTO_E_COUNT;
		for (uint32_t k = 0; k < c; k++) {
			int rc = encode_elem(w, f, field_slot(f, (void *)m, k));

			if (rc != ALK_PROTO_OK)
				return rc;
		}
	}
	return ALK_PROTO_OK;
}

/* Sizes the payload first, so that "too big for the protocol" (E_LENGTH)
 * and "too big for this buffer" (E_SHORT) are told apart, then writes it
 * and decodes it back: the decoder is the single judge of validity. */
long alk_schema_encode(uint8_t *out, size_t cap, int type, uint32_t id, const AlkSchema *s,
                       const void *m)
{
	AlkFrameHeader h = {.type = (uint8_t)type, .flags = 0, .id = id};
	AlkMsgAny scratch;
	AlkWriter w;
	int rc;

	alk_writer_init(&w, NULL, 0);
	rc = schema_put(&w, s, m);
	if (rc != ALK_PROTO_OK)
		return rc;
	if (w.error != ALK_PROTO_OK || w.len > ALK_PROTO_MAX_PAYLOAD)
		return ALK_PROTO_E_LENGTH;
	if (cap < ALK_PROTO_HEADER_SIZE || w.len > cap - ALK_PROTO_HEADER_SIZE)
		return ALK_PROTO_E_SHORT;
	alk_writer_init(&w, out + ALK_PROTO_HEADER_SIZE, w.len);
	schema_put(&w, s, m);
	rc = alk_schema_decode(s, out + ALK_PROTO_HEADER_SIZE, w.len, &scratch);
	if (rc != ALK_PROTO_OK)
		return rc;
	h.len = (uint32_t)w.len;
	alk_header_pack(&h, out);
	return (long)(ALK_PROTO_HEADER_SIZE + w.len);
}
