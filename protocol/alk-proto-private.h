/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals shared by the codec's files: byte order and the schema engine.
 * Not installed, not for the daemon or the agent.
 */
#pragma once

#include "alk-proto.h"

#include <stddef.h>
#include <stdint.h>

/* ---- Byte order ---- */

static inline uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t get_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t get_be64(const uint8_t *p)
{
	return ((uint64_t)get_be32(p) << 32) | get_be32(p + 4);
}

static inline void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

/* ---- Schemas ----
 *
 * Every message is described once, by a table of fields (tag, kind,
 * required, repeat limit, value range, default, place in the struct). The
 * engine decodes a payload against such a table, so each check exists in one
 * place; encoding serialises from the same table and runs the decoder over
 * its own output, so nothing an encoder emits can be refused by the peer.
 */

typedef enum {
	ALK_K_U32,    /* 4 bytes, range lo..hi */
	ALK_K_I32,    /* 4 bytes two's complement, range lo..hi */
	ALK_K_U64,    /* 8 bytes */
	ALK_K_STR,    /* NUL-terminated, no inner NUL */
	ALK_K_PATH,   /* ALK_K_STR starting with '/' */
	ALK_K_ENV,    /* ALK_K_STR "KEY=VALUE" with a non-empty KEY */
	ALK_K_BYTES,  /* raw, at most hi bytes, into an AlkBytes */
	ALK_K_NONCE,  /* exactly ALK_PROTO_NONCE_SIZE bytes, copied */
	ALK_K_RLIMIT, /* 12 bytes: resource u32, value u64 */
	ALK_K_OCTETS, /* exactly hi bytes, copied into a uint8_t array */
} AlkKind;

typedef struct {
	uint16_t tag;
	uint8_t kind;
	uint8_t required;
	uint16_t max;     /* 0: single field; else repeated at most max times */
	int64_t lo, hi;   /* integer range; ALK_K_BYTES: hi is the size limit */
	int64_t def;      /* default of an optional integer */
	const char *sdef; /* default of an optional string (may be NULL) */
	size_t off;       /* value (or first element) in the message struct */
	size_t count_off; /* uint32_t element count, repeated only */
} AlkField;

/* Cross-field checks live beside the table. */
typedef struct {
	const AlkField *fields;
	size_t nfields;
	size_t size;
	int (*check)(const void *m);
} AlkSchema;

#define ALK_MAX_FIELDS 16
#define ALK_U32_MAX ((int64_t)UINT32_MAX)
#define ALK_FIELD_DEF(t, k, req, type, member, l, h, d, sd)                                        \
	{                                                                                          \
		.tag = t, .kind = k, .required = req, .lo = l, .hi = h, .def = d, .sdef = sd,      \
		.off = offsetof(type, member)                                                      \
	}
#define ALK_FIELD(t, k, req, type, member, l, h)                                                   \
	ALK_FIELD_DEF(t, k, req, type, member, l, h, 0, NULL)
#define ALK_REPEATED(t, k, req, n, type, member, count)                                            \
	{                                                                                          \
		.tag = t, .kind = k, .required = req, .max = n, .off = offsetof(type, member),     \
		.count_off = offsetof(type, count)                                                 \
	}
/* The engine tracks at most ALK_MAX_FIELDS fields per table: a longer one
 * fails to compile (negative array size). */
#define ALK_SCHEMA(f, type, chk)                                                                   \
	{                                                                                          \
		f,                                                                                 \
		    sizeof(f) / sizeof(f[0]) +                                                     \
		        0 * sizeof(char[sizeof(f) / sizeof(f[0]) <= ALK_MAX_FIELDS ? 1 : -1]),     \
		    sizeof(type), chk                                                              \
	}

/* Scratch big enough for any message, so decoders set their out-parameter
 * only on success. */
typedef union {
	AlkMsgHello hello;
	AlkMsgSync sync;
	AlkMsgExec exec;
	AlkMsgStarted started;
	AlkMsgData data;
	AlkMsgAck ack;
	AlkMsgSignal signal;
	AlkMsgExit exit;
	AlkMsgFile file;
	AlkMsgError error;
	AlkMsgNetConfig net_config;
	AlkMsgResize resize;
	AlkMsgFsConfig fs_config;
	AlkMsgRenew renew;
} AlkMsgAny;

/* Linux RLIMIT_CPU (0) .. RLIMIT_RTTIME (15). */
#define ALK_RLIMIT_RESOURCES 16u
#define ALK_MAX_SIGNAL 64
#define ALK_RLIMIT_WIRE_SIZE 12u

/* Decodes into m; m is clobbered on failure (use _into for out-params). */
int alk_schema_decode(const AlkSchema *s, const uint8_t *p, size_t n, void *m);
/* Decodes; out is written only on success. */
int alk_schema_decode_into(const AlkSchema *s, const uint8_t *p, size_t n, void *out);
/* A whole frame of type/id carrying m; see the encoders in alk-proto.h. */
long alk_schema_encode(uint8_t *out, size_t cap, int type, uint32_t id, const AlkSchema *s,
                       const void *m);
