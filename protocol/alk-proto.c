/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Framing of the host <-> guest protocol: names, header, CRC, the
 * incremental decoder and the field writer. Messages are in
 * alk-proto-msg.c, the schema engine in alk-proto-schema.c;
 * docs/protocol.md is the byte-level specification.
 */
#include "alk-proto-private.h"

#include <stdint.h>
#include <string.h>

/* ---- Names ---- */

const char *alk_proto_strerror(int status)
{
	switch (status) {
	case ALK_PROTO_OK:
		return "ok";
	case ALK_PROTO_E_SHORT:
		return "buffer too small or message truncated";
	case ALK_PROTO_E_MAGIC:
		return "bad magic";
	case ALK_PROTO_E_VERSION:
		return "unsupported protocol version";
	case ALK_PROTO_E_TYPE:
		return "unknown message type";
	case ALK_PROTO_E_LENGTH:
		return "payload length over the maximum";
	case ALK_PROTO_E_CRC:
		return "header checksum mismatch";
	case ALK_PROTO_E_FIELD:
		return "malformed field";
	case ALK_PROTO_E_MISSING:
		return "required field missing";
	case ALK_PROTO_E_DUPLICATE:
		return "duplicate field";
	case ALK_PROTO_E_STRING:
		return "malformed string";
	case ALK_PROTO_E_COUNT:
		return "too many repeated fields";
	case ALK_PROTO_E_VALUE:
		return "value out of range";
	default:
		return "unknown";
	}
}

static const char *const type_names[] = {
    [ALK_MSG_HELLO] = "HELLO",
    [ALK_MSG_SYNC] = "SYNC",
    [ALK_MSG_SYNC_ACK] = "SYNC_ACK",
    [ALK_MSG_PING] = "PING",
    [ALK_MSG_PONG] = "PONG",
    [ALK_MSG_EXEC] = "EXEC",
    [ALK_MSG_STARTED] = "STARTED",
    [ALK_MSG_STDIN] = "STDIN",
    [ALK_MSG_STDIN_EOF] = "STDIN_EOF",
    [ALK_MSG_STDIN_ACK] = "STDIN_ACK",
    [ALK_MSG_STDOUT] = "STDOUT",
    [ALK_MSG_STDERR] = "STDERR",
    [ALK_MSG_SIGNAL] = "SIGNAL",
    [ALK_MSG_EXIT] = "EXIT",
    [ALK_MSG_FILE_PUT] = "FILE_PUT",
    [ALK_MSG_FILE_GET] = "FILE_GET",
    [ALK_MSG_FILE_INFO] = "FILE_INFO",
    [ALK_MSG_FILE_DATA] = "FILE_DATA",
    [ALK_MSG_FILE_END] = "FILE_END",
    [ALK_MSG_OK] = "OK",
    [ALK_MSG_ERROR] = "ERROR",
    [ALK_MSG_SHUTDOWN] = "SHUTDOWN",
    [ALK_MSG_NET_CONFIG] = "NET_CONFIG",
    [ALK_MSG_CREDIT] = "CREDIT",
    [ALK_MSG_RESIZE] = "RESIZE",
    [ALK_MSG_FS_CONFIG] = "FS_CONFIG",
    [ALK_MSG_RENEW] = "RENEW",
};

int alk_proto_type_known(int type)
{
	/* the numbers may have gaps: each range is some feature's */
	return type >= ALK_MSG_HELLO && type <= ALK_MSG_TYPE_MAX && type_names[type] != NULL;
}

const char *alk_proto_type_name(int type)
{
	return alk_proto_type_known(type) ? type_names[type] : "unknown";
}

/* ---- Header ---- */

/* Bitwise CRC-32 (IEEE, reflected 0xEDB88320, as zlib): it only ever covers
 * 16 header bytes, so a table would buy nothing. */
uint32_t alk_proto_crc32(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;

	crc = ~crc;
	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

void alk_header_pack(const AlkFrameHeader *h, uint8_t out[ALK_PROTO_HEADER_SIZE])
{
	put_be32(out, ALK_PROTO_MAGIC);
	out[4] = ALK_PROTO_VERSION;
	out[5] = h->type;
	put_be16(out + 6, h->flags);
	put_be32(out + 8, h->id);
	put_be32(out + 12, h->len);
	put_be32(out + 16, alk_proto_crc32(0, out, 16));
}

int alk_header_unpack(const uint8_t in[ALK_PROTO_HEADER_SIZE], AlkFrameHeader *h)
{
	if (get_be32(in) != ALK_PROTO_MAGIC)
		return ALK_PROTO_E_MAGIC;
	if (in[4] != ALK_PROTO_VERSION)
		return ALK_PROTO_E_VERSION;
	/* The checksum before the other fields: if it fails they are noise. */
	if (get_be32(in + 16) != alk_proto_crc32(0, in, 16))
		return ALK_PROTO_E_CRC;
	if (get_be16(in + 6) != 0)
		return ALK_PROTO_E_VALUE;
	if (get_be32(in + 12) > ALK_PROTO_MAX_PAYLOAD)
		return ALK_PROTO_E_LENGTH;
	h->type = in[5];
	h->flags = 0;
	h->id = get_be32(in + 8);
	h->len = get_be32(in + 12);
	return ALK_PROTO_OK;
}

/* ---- Incremental decoder ---- */

void alk_decoder_init(AlkDecoder *d)
{
	d->have = 0;
	d->state = ALK_DEC_NEED_MORE;
	memset(&d->hdr, 0, sizeof(d->hdr));
	d->skipped = 0;
	d->last_error = ALK_PROTO_OK;
	d->frames = 0;
}

static const uint8_t magic_bytes[4] = {0x41, 0x4c, 0x4b, 0x21};

/* Whether buf[0..n) could be the start of a header. */
static int magic_prefix(const uint8_t *buf, size_t n)
{
	return memcmp(buf, magic_bytes, n < 4 ? n : 4) == 0;
}

/* Drops the first byte (the frame it started was garbage), then every byte
 * up to where a magic could begin, all counted as skipped. At most a header
 * is buffered here, so what is left is shorter than a header. */
static void decoder_resync(AlkDecoder *d, int reason)
{
	size_t start = 1;

	d->last_error = reason;
	while (start < d->have && !magic_prefix(d->buf + start, d->have - start))
		start++;
	d->skipped += start;
	memmove(d->buf, d->buf + start, d->have - start);
	d->have -= start;
}

/* Takes header bytes; resyncs as soon as they cannot be a header. */
static size_t decoder_take_header(AlkDecoder *d, const uint8_t *data, size_t len)
{
	size_t take = ALK_PROTO_HEADER_SIZE - d->have;
	int rc;

	if (take > len)
		take = len;
	memcpy(d->buf + d->have, data, take);
	d->have += take;
	if (!magic_prefix(d->buf, d->have)) {
		decoder_resync(d, ALK_PROTO_E_MAGIC);
		return take;
	}
	if (d->have < ALK_PROTO_HEADER_SIZE)
		return take;
	rc = alk_header_unpack(d->buf, &d->hdr);
	if (rc != ALK_PROTO_OK)
		decoder_resync(d, rc);
	return take;
}

static size_t decoder_take_payload(AlkDecoder *d, const uint8_t *data, size_t len)
{
	size_t take = ALK_PROTO_HEADER_SIZE + d->hdr.len - d->have;

	if (take > len)
		take = len;
	memcpy(d->buf + d->have, data, take);
	d->have += take;
	return take;
}

size_t alk_decoder_feed(AlkDecoder *d, const uint8_t *data, size_t len)
{
	size_t used = 0;

	if (d->state == ALK_DEC_FRAME)
		return 0;
	for (;;) {
		if (d->have >= ALK_PROTO_HEADER_SIZE &&
		    d->have == ALK_PROTO_HEADER_SIZE + (size_t)d->hdr.len) {
			d->state = ALK_DEC_FRAME;
			d->frames++;
			return used;
		}
		if (used == len)
			return used;
		if (d->have < ALK_PROTO_HEADER_SIZE)
			used += decoder_take_header(d, data + used, len - used);
		else
			used += decoder_take_payload(d, data + used, len - used);
	}
}

int alk_decoder_ready(const AlkDecoder *d)
{
	return d->state == ALK_DEC_FRAME;
}

const uint8_t *alk_decoder_frame(const AlkDecoder *d, AlkFrameHeader *h)
{
	if (d->state != ALK_DEC_FRAME)
		return NULL;
	if (h)
		*h = d->hdr;
	return d->buf + ALK_PROTO_HEADER_SIZE;
}

void alk_decoder_consume(AlkDecoder *d)
{
	if (d->state != ALK_DEC_FRAME)
		return;
	d->have = 0;
	d->state = ALK_DEC_NEED_MORE;
}

void alk_decoder_reset(AlkDecoder *d)
{
	d->have = 0;
	d->state = ALK_DEC_NEED_MORE;
}

int alk_decoder_partial(const AlkDecoder *d)
{
	return d->state != ALK_DEC_FRAME && d->have > 0;
}

/* ---- Writer ---- */

void alk_writer_init(AlkWriter *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->cap = buf ? cap : SIZE_MAX;
	w->len = 0;
	w->error = ALK_PROTO_OK;
}

static void writer_field(AlkWriter *w, uint16_t tag, const void *v, size_t n)
{
	if (w->error)
		return;
	if (n > UINT32_MAX || w->cap - w->len < ALK_PROTO_FIELD_HEADER_SIZE ||
	    w->cap - w->len - ALK_PROTO_FIELD_HEADER_SIZE < n) {
		w->error = ALK_PROTO_E_SHORT;
		return;
	}
	if (w->buf) {
		uint8_t *p = w->buf + w->len;

		put_be16(p, tag);
		put_be32(p + 2, (uint32_t)n);
		if (n)
			memcpy(p + ALK_PROTO_FIELD_HEADER_SIZE, v, n);
	}
	w->len += ALK_PROTO_FIELD_HEADER_SIZE + n;
}

void alk_put_u32(AlkWriter *w, uint16_t tag, uint32_t v)
{
	uint8_t b[4];

	put_be32(b, v);
	writer_field(w, tag, b, sizeof(b));
}

void alk_put_u64(AlkWriter *w, uint16_t tag, uint64_t v)
{
	uint8_t b[8];

	put_be64(b, v);
	writer_field(w, tag, b, sizeof(b));
}

void alk_put_i32(AlkWriter *w, uint16_t tag, int32_t v)
{
	alk_put_u32(w, tag, (uint32_t)v);
}

void alk_put_bytes(AlkWriter *w, uint16_t tag, const void *data, size_t len)
{
	writer_field(w, tag, data, len);
}

void alk_put_str(AlkWriter *w, uint16_t tag, const char *s)
{
	writer_field(w, tag, s, strlen(s) + 1);
}
