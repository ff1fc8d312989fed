/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the wire protocol codec (protocol/alk-proto.c): every message
 * round trip, every malformed input the decoder must refuse, and the
 * incremental decoder's framing and resync.
 */
#include "alk-proto.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t frame[ALK_PROTO_MAX_FRAME];
static uint8_t frame2[ALK_PROTO_MAX_FRAME];
static uint8_t stream[4 * ALK_PROTO_MAX_FRAME];
static AlkDecoder dec;

/* ---- Helpers ---- */

/* Feeds one whole frame to a fresh decoder; returns its payload. */
static const uint8_t *deliver(const uint8_t *f, long n, AlkFrameHeader *h)
{
	ck_assert_int_gt(n, 0);
	alk_decoder_init(&dec);
	ck_assert_uint_eq(alk_decoder_feed(&dec, f, (size_t)n), (size_t)n);
	ck_assert(alk_decoder_ready(&dec));
	ck_assert_uint_eq(dec.skipped, 0);
	return alk_decoder_frame(&dec, h);
}

/* A field header with a length that may lie about the value. */
static void raw_field(AlkWriter *w, uint16_t tag, uint32_t claimed, const void *v, size_t n)
{
	uint8_t *p = w->buf + w->len;

	ck_assert_uint_ge(w->cap - w->len, ALK_PROTO_FIELD_HEADER_SIZE + n);
	p[0] = (uint8_t)(tag >> 8);
	p[1] = (uint8_t)tag;
	p[2] = (uint8_t)(claimed >> 24);
	p[3] = (uint8_t)(claimed >> 16);
	p[4] = (uint8_t)(claimed >> 8);
	p[5] = (uint8_t)claimed;
	memcpy(p + ALK_PROTO_FIELD_HEADER_SIZE, v, n);
	w->len += ALK_PROTO_FIELD_HEADER_SIZE + n;
}

/* A 20-byte header with arbitrary fields and a correct checksum. */
static void raw_header(uint8_t *out, uint32_t magic, uint8_t version, uint8_t type, uint16_t flags,
                       uint32_t id, uint32_t len)
{
	uint32_t crc;
	uint32_t words[3] = {magic, id, len};
	int offs[3] = {0, 8, 12};

	for (int i = 0; i < 3; i++)
		for (int b = 0; b < 4; b++)
			out[offs[i] + b] = (uint8_t)(words[i] >> (24 - 8 * b));
	out[4] = version;
	out[5] = type;
	out[6] = (uint8_t)(flags >> 8);
	out[7] = (uint8_t)flags;
	crc = alk_proto_crc32(0, out, 16);
	for (int b = 0; b < 4; b++)
		out[16 + b] = (uint8_t)(crc >> (24 - 8 * b));
}

/* Garbage that never contains a magic byte 'A' (0x41). */
static void fill_garbage(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
		if (p[i] == 0x41)
			p[i] = 0x42;
	}
}

static void exec_sample(AlkMsgExec *e)
{
	memset(e, 0, sizeof(*e));
	e->argv[0] = "/bin/sh";
	e->argv[1] = "-c";
	e->argv[2] = "echo hi";
	e->argc = 3;
	e->env[0] = "PATH=/usr/bin:/bin";
	e->env[1] = "EMPTY=";
	e->envc = 2;
	e->cwd = "/tmp";
	e->timeout_ms = 30000;
	e->stdin_mode = ALK_STDIN_PIPE;
	e->output_cap = 1u << 20;
	e->rlimits[0] = (AlkRlimit){.resource = 7, .value = 1024};
	e->rlimits[1] = (AlkRlimit){.resource = 9, .value = UINT64_MAX};
	e->nrlimits = 2;
}

static long exec_frame(uint8_t *out)
{
	AlkMsgExec e;

	exec_sample(&e);
	return alk_msg_exec_encode(out, ALK_PROTO_MAX_FRAME, 42, &e);
}

/* ---- Header ---- */

START_TEST(test_crc_vector)
{
	ck_assert_uint_eq(alk_proto_crc32(0, "123456789", 9), 0xCBF43926u);
	ck_assert_uint_eq(alk_proto_crc32(0, "", 0), 0);
}
END_TEST

START_TEST(test_header_round_trip)
{
	AlkFrameHeader h = {.type = ALK_MSG_EXEC, .flags = 0, .id = 0xdeadbeef, .len = 1234};
	AlkFrameHeader g;
	uint8_t b[ALK_PROTO_HEADER_SIZE];
	static const uint8_t want[16] = {0x41, 0x4c, 0x4b, 0x21, 1, 6, 0,    0,
	                                 0xde, 0xad, 0xbe, 0xef, 0, 0, 0x04, 0xd2};

	alk_header_pack(&h, b);
	ck_assert_mem_eq(b, want, sizeof(want));
	ck_assert_int_eq(alk_header_unpack(b, &g), ALK_PROTO_OK);
	ck_assert_uint_eq(g.type, h.type);
	ck_assert_uint_eq(g.flags, 0);
	ck_assert_uint_eq(g.id, h.id);
	ck_assert_uint_eq(g.len, h.len);
}
END_TEST

START_TEST(test_header_rejects)
{
	AlkFrameHeader g = {.id = 7};
	uint8_t b[ALK_PROTO_HEADER_SIZE];

	raw_header(b, 0x414c4b22u, 1, 1, 0, 0, 0);
	ck_assert_int_eq(alk_header_unpack(b, &g), ALK_PROTO_E_MAGIC);
	raw_header(b, ALK_PROTO_MAGIC, 2, 1, 0, 0, 0);
	ck_assert_int_eq(alk_header_unpack(b, &g), ALK_PROTO_E_VERSION);
	raw_header(b, ALK_PROTO_MAGIC, 0, 1, 0, 0, 0);
	ck_assert_int_eq(alk_header_unpack(b, &g), ALK_PROTO_E_VERSION);
	raw_header(b, ALK_PROTO_MAGIC, 1, 1, 0x8000, 0, 0);
	ck_assert_int_eq(alk_header_unpack(b, &g), ALK_PROTO_E_VALUE);
	raw_header(b, ALK_PROTO_MAGIC, 1, 1, 0, 0, ALK_PROTO_MAX_PAYLOAD + 1);
	ck_assert_int_eq(alk_header_unpack(b, &g), ALK_PROTO_E_LENGTH);
	raw_header(b, ALK_PROTO_MAGIC, 1, 1, 0, 0, UINT32_MAX);
	ck_assert_int_eq(alk_header_unpack(b, &g), ALK_PROTO_E_LENGTH);
	raw_header(b, ALK_PROTO_MAGIC, 1, 1, 0, 0, 0);
	b[17] ^= 1;
	ck_assert_int_eq(alk_header_unpack(b, &g), ALK_PROTO_E_CRC);
	raw_header(b, ALK_PROTO_MAGIC, 1, 1, 0, 0, 0);
	b[9] ^= 0x10; /* a flipped id bit is caught by the checksum */
	ck_assert_int_eq(alk_header_unpack(b, &g), ALK_PROTO_E_CRC);
	/* Out-parameter untouched on failure. */
	ck_assert_uint_eq(g.id, 7);
	/* Unknown types are the receiver's business, not framing's. */
	raw_header(b, ALK_PROTO_MAGIC, 1, 200, 0, 5, ALK_PROTO_MAX_PAYLOAD);
	ck_assert_int_eq(alk_header_unpack(b, &g), ALK_PROTO_OK);
	ck_assert_uint_eq(g.type, 200);
	ck_assert_uint_eq(g.len, ALK_PROTO_MAX_PAYLOAD);
}
END_TEST

START_TEST(test_names)
{
	for (int t = ALK_MSG_HELLO; t <= ALK_MSG_TYPE_MAX; t++) {
		if (t > ALK_MSG_FS_CONFIG && t < ALK_MSG_RENEW) {
			/* reserved numbers are unknown */
			ck_assert(!alk_proto_type_known(t));
			continue;
		}
		ck_assert(alk_proto_type_known(t));
		ck_assert_str_ne(alk_proto_type_name(t), "unknown");
	}
	ck_assert(!alk_proto_type_known(0));
	ck_assert(!alk_proto_type_known(ALK_MSG_TYPE_MAX + 1));
	ck_assert_str_eq(alk_proto_type_name(0), "unknown");
	ck_assert_str_eq(alk_proto_type_name(-1), "unknown");
	ck_assert_str_eq(alk_proto_type_name(255), "unknown");
	ck_assert_str_eq(alk_proto_type_name(ALK_MSG_STDIN_ACK), "STDIN_ACK");
	ck_assert_str_eq(alk_proto_type_name(ALK_MSG_NET_CONFIG), "NET_CONFIG");
	for (int s = ALK_PROTO_OK; s >= ALK_PROTO_E_VALUE; s--)
		ck_assert_str_ne(alk_proto_strerror(s), "unknown");
	ck_assert_str_eq(alk_proto_strerror(ALK_PROTO_E_VALUE - 1), "unknown");
	ck_assert_str_eq(alk_proto_strerror(1), "unknown");
}
END_TEST

/* ---- Round trips ---- */

START_TEST(test_rt_hello)
{
	AlkMsgHello m = {.version = 1,
	                 .caps = ALK_CAP_EXEC | ALK_CAP_FILES,
	                 .max_payload = 65536,
	                 .agent_version = "0.1.0"};
	AlkMsgHello g;
	AlkFrameHeader h;
	const uint8_t *p;
	long n;

	for (int i = 0; i < ALK_PROTO_NONCE_SIZE; i++)
		m.nonce[i] = (uint8_t)(0xa0 + i);
	n = alk_msg_hello_encode(frame, sizeof(frame), &m);
	p = deliver(frame, n, &h);
	ck_assert_uint_eq(h.type, ALK_MSG_HELLO);
	ck_assert_uint_eq(h.id, 0);
	ck_assert_int_eq(alk_msg_hello_decode(p, h.len, &g), ALK_PROTO_OK);
	ck_assert_uint_eq(g.version, 1);
	ck_assert_uint_eq(g.caps, m.caps);
	ck_assert_mem_eq(g.nonce, m.nonce, ALK_PROTO_NONCE_SIZE);
	ck_assert_uint_eq(g.max_payload, 65536);
	ck_assert_str_eq(g.agent_version, "0.1.0");
	/* no boot stamps sent: all 0 (unknown) */
	ck_assert_uint_eq(g.initramfs_ms + g.root_ms + g.grown_ms + g.init_ms + g.uptime_ms, 0);
	/* Without agent_version: the default is "". With the boot's stamps. */
	m.agent_version = NULL;
	m.initramfs_ms = 900;
	m.root_ms = 1100;
	m.grown_ms = 1250;
	m.init_ms = 1400;
	m.uptime_ms = UINT32_MAX;
	n = alk_msg_hello_encode(frame, sizeof(frame), &m);
	p = deliver(frame, n, &h);
	ck_assert_int_eq(alk_msg_hello_decode(p, h.len, &g), ALK_PROTO_OK);
	ck_assert_str_eq(g.agent_version, "");
	ck_assert_uint_eq(g.initramfs_ms, 900);
	ck_assert_uint_eq(g.root_ms, 1100);
	ck_assert_uint_eq(g.grown_ms, 1250);
	ck_assert_uint_eq(g.init_ms, 1400);
	ck_assert_uint_eq(g.uptime_ms, UINT32_MAX);
}
END_TEST

START_TEST(test_rt_sync)
{
	static const int types[] = {ALK_MSG_SYNC, ALK_MSG_SYNC_ACK, ALK_MSG_PING, ALK_MSG_PONG};
	AlkMsgSync m = {.nonce = 0x0102030405060708ull};
	AlkMsgSync g;
	AlkFrameHeader h;
	const uint8_t *p;

	for (size_t i = 0; i < 4; i++) {
		long n =
		    alk_msg_sync_encode(frame, sizeof(frame), types[i], 1000 + (uint32_t)i, &m);

		p = deliver(frame, n, &h);
		ck_assert_int_eq(h.type, types[i]);
		ck_assert_uint_eq(h.id, 1000 + i);
		ck_assert_int_eq(alk_msg_sync_decode(p, h.len, &g), ALK_PROTO_OK);
		ck_assert_uint_eq(g.nonce, m.nonce);
	}
	ck_assert_int_eq(alk_msg_sync_encode(frame, sizeof(frame), ALK_MSG_EXEC, 1, &m),
	                 ALK_PROTO_E_TYPE);
}
END_TEST

START_TEST(test_rt_exec)
{
	AlkMsgExec m, g;
	AlkFrameHeader h;
	const uint8_t *p;

	exec_sample(&m);
	p = deliver(frame, alk_msg_exec_encode(frame, sizeof(frame), 42, &m), &h);
	ck_assert_uint_eq(h.type, ALK_MSG_EXEC);
	ck_assert_uint_eq(h.id, 42);
	ck_assert_int_eq(alk_msg_exec_decode(p, h.len, &g), ALK_PROTO_OK);
	ck_assert_uint_eq(g.argc, 3);
	for (uint32_t i = 0; i < 3; i++)
		ck_assert_str_eq(g.argv[i], m.argv[i]);
	ck_assert_ptr_null(g.argv[3]);
	ck_assert_uint_eq(g.envc, 2);
	ck_assert_str_eq(g.env[0], m.env[0]);
	ck_assert_str_eq(g.env[1], "EMPTY=");
	ck_assert_ptr_null(g.env[2]);
	ck_assert_str_eq(g.cwd, "/tmp");
	ck_assert_uint_eq(g.timeout_ms, 30000);
	ck_assert_uint_eq(g.stdin_mode, ALK_STDIN_PIPE);
	ck_assert_uint_eq(g.output_cap, 1u << 20);
	ck_assert_uint_eq(g.nrlimits, 2);
	ck_assert_uint_eq(g.rlimits[0].resource, 7);
	ck_assert_uint_eq(g.rlimits[0].value, 1024);
	ck_assert_uint_eq(g.rlimits[1].resource, 9);
	ck_assert_uint_eq(g.rlimits[1].value, UINT64_MAX);
	/* Strings are used in place, inside the payload. */
	ck_assert((const uint8_t *)g.argv[0] > p && (const uint8_t *)g.argv[0] < p + h.len);
}
END_TEST

START_TEST(test_rt_exec_defaults)
{
	AlkMsgExec m, g;
	AlkFrameHeader h;
	const uint8_t *p;

	memset(&m, 0, sizeof(m));
	m.argv[0] = "true";
	m.argc = 1;
	p = deliver(frame, alk_msg_exec_encode(frame, sizeof(frame), 1, &m), &h);
	ck_assert_int_eq(alk_msg_exec_decode(p, h.len, &g), ALK_PROTO_OK);
	ck_assert_uint_eq(g.argc, 1);
	ck_assert_str_eq(g.argv[0], "true");
	ck_assert_uint_eq(g.envc, 0);
	ck_assert_ptr_null(g.env[0]);
	ck_assert_ptr_null(g.cwd);
	ck_assert_uint_eq(g.timeout_ms, 0);
	ck_assert_uint_eq(g.stdin_mode, ALK_STDIN_NULL);
	ck_assert_uint_eq(g.output_cap, 0);
	ck_assert_uint_eq(g.nrlimits, 0);
	ck_assert_ptr_null(g.user);
	ck_assert_uint_eq(g.no_new_privs, 0);
	ck_assert_uint_eq(g.drop_caps, 0);
}
END_TEST

START_TEST(test_rt_exec_tty)
{
	AlkMsgExec m, g;
	AlkFrameHeader h;
	const uint8_t *p;

	exec_sample(&m);
	m.tty = 1;
	m.rows = ALK_TTY_SIZE_MAX;
	m.cols = ALK_TTY_SIZE_MIN;
	p = deliver(frame, alk_msg_exec_encode(frame, sizeof(frame), 42, &m), &h);
	ck_assert_int_eq(alk_msg_exec_decode(p, h.len, &g), ALK_PROTO_OK);
	ck_assert_uint_eq(g.tty, 1);
	ck_assert_uint_eq(g.rows, ALK_TTY_SIZE_MAX);
	ck_assert_uint_eq(g.cols, ALK_TTY_SIZE_MIN);
	/* a tty without a size: rows and cols left out, 0 when decoded */
	m.rows = m.cols = 0;
	p = deliver(frame, alk_msg_exec_encode(frame, sizeof(frame), 42, &m), &h);
	ck_assert_int_eq(alk_msg_exec_decode(p, h.len, &g), ALK_PROTO_OK);
	ck_assert_uint_eq(g.tty, 1);
	ck_assert_uint_eq(g.rows, 0);
	ck_assert_uint_eq(g.cols, 0);
	/* a size without a tty is refused, by the encoder too */
	m.tty = 0;
	m.rows = 10;
	ck_assert_int_eq(alk_msg_exec_encode(frame, sizeof(frame), 42, &m), ALK_PROTO_E_VALUE);
}
END_TEST

START_TEST(test_rt_renew)
{
	uint8_t pool[ALK_RENEW_ENTROPY_MAX + 1];
	AlkMsgRenew m = {.entropy = {pool, 64}, .realtime_s = 1796000000, .realtime_ns = 5}, g;
	AlkFrameHeader h;
	const uint8_t *p;

	for (size_t i = 0; i < sizeof(pool); i++)
		pool[i] = (uint8_t)(i * 7);
	p = deliver(frame, alk_msg_renew_encode(frame, sizeof(frame), 11, &m), &h);
	ck_assert_uint_eq(h.type, ALK_MSG_RENEW);
	ck_assert_uint_eq(h.id, 11);
	ck_assert_str_eq(alk_proto_type_name(ALK_MSG_RENEW), "RENEW");
	ck_assert_int_eq(alk_msg_renew_decode(p, h.len, &g), ALK_PROTO_OK);
	ck_assert_uint_eq(g.entropy.len, 64);
	ck_assert_mem_eq(g.entropy.data, pool, 64);
	ck_assert_uint_eq(g.realtime_s, 1796000000);
	ck_assert_uint_eq(g.realtime_ns, 5);
	/* too little entropy, too much, a nanosecond field past a second */
	m.entropy.len = ALK_RENEW_ENTROPY_MIN - 1;
	ck_assert_int_eq(alk_msg_renew_encode(frame, sizeof(frame), 11, &m), ALK_PROTO_E_VALUE);
	m.entropy.len = ALK_RENEW_ENTROPY_MAX + 1;
	ck_assert_int_eq(alk_msg_renew_encode(frame, sizeof(frame), 11, &m), ALK_PROTO_E_VALUE);
	m.entropy.len = ALK_RENEW_ENTROPY_MIN;
	m.realtime_ns = 1000000000;
	ck_assert_int_eq(alk_msg_renew_encode(frame, sizeof(frame), 11, &m), ALK_PROTO_E_VALUE);
	/* a hostile peer's frame is refused by the decoder as well */
	m.realtime_ns = 0;
	m.entropy.len = 8;
	ck_assert_int_eq(alk_msg_renew_decode(p, 0, &g), ALK_PROTO_E_MISSING);
}
END_TEST

START_TEST(test_rt_resize)
{
	AlkMsgResize m = {.rows = 50, .cols = 132}, g;
	AlkFrameHeader h;
	const uint8_t *p;

	p = deliver(frame, alk_msg_resize_encode(frame, sizeof(frame), 9, &m), &h);
	ck_assert_uint_eq(h.type, ALK_MSG_RESIZE);
	ck_assert_uint_eq(h.id, 9);
	ck_assert_str_eq(alk_proto_type_name(ALK_MSG_RESIZE), "RESIZE");
	ck_assert_int_eq(alk_msg_resize_decode(p, h.len, &g), ALK_PROTO_OK);
	ck_assert_uint_eq(g.rows, 50);
	ck_assert_uint_eq(g.cols, 132);
	m.rows = 0;
	ck_assert_int_eq(alk_msg_resize_encode(frame, sizeof(frame), 9, &m), ALK_PROTO_E_VALUE);
	m.rows = ALK_TTY_SIZE_MAX + 1;
	ck_assert_int_eq(alk_msg_resize_encode(frame, sizeof(frame), 9, &m), ALK_PROTO_E_VALUE);
}
END_TEST

START_TEST(test_rt_exec_max_counts)
{
	static char args[ALK_PROTO_MAX_ARGS][8];
	static char envs[ALK_PROTO_MAX_ENV][12];
	static AlkMsgExec m, g;
	AlkFrameHeader h;
	const uint8_t *p;

	memset(&m, 0, sizeof(m));
	for (int i = 0; i < ALK_PROTO_MAX_ARGS; i++) {
		snprintf(args[i], sizeof(args[i]), "a%d", i);
		m.argv[i] = args[i];
	}
	for (int i = 0; i < ALK_PROTO_MAX_ENV; i++) {
		snprintf(envs[i], sizeof(envs[i]), "K%d=%d", i, i);
		m.env[i] = envs[i];
	}
	for (uint32_t i = 0; i < ALK_PROTO_MAX_RLIMITS; i++)
		m.rlimits[i] = (AlkRlimit){.resource = i, .value = i * 100};
	m.argc = ALK_PROTO_MAX_ARGS;
	m.envc = ALK_PROTO_MAX_ENV;
	m.nrlimits = ALK_PROTO_MAX_RLIMITS;
	p = deliver(frame, alk_msg_exec_encode(frame, sizeof(frame), 9, &m), &h);
	ck_assert_int_eq(alk_msg_exec_decode(p, h.len, &g), ALK_PROTO_OK);
	ck_assert_uint_eq(g.argc, ALK_PROTO_MAX_ARGS);
	ck_assert_uint_eq(g.envc, ALK_PROTO_MAX_ENV);
	ck_assert_uint_eq(g.nrlimits, ALK_PROTO_MAX_RLIMITS);
	ck_assert_str_eq(g.argv[ALK_PROTO_MAX_ARGS - 1], args[ALK_PROTO_MAX_ARGS - 1]);
	ck_assert_ptr_null(g.argv[ALK_PROTO_MAX_ARGS]);
	ck_assert_ptr_null(g.env[ALK_PROTO_MAX_ENV]);
	ck_assert_uint_eq(g.rlimits[7].value, 700);
}
END_TEST

START_TEST(test_rt_started)
{
	AlkMsgStarted m = {.pid = 4242}, g;
	AlkFrameHeader h;
	const uint8_t *p = deliver(frame, alk_msg_started_encode(frame, sizeof(frame), 3, &m), &h);

	ck_assert_uint_eq(h.type, ALK_MSG_STARTED);
	ck_assert_int_eq(alk_msg_started_decode(p, h.len, &g), ALK_PROTO_OK);
	ck_assert_uint_eq(g.pid, 4242);
}
END_TEST

START_TEST(test_rt_data)
{
	static const int types[] = {ALK_MSG_STDIN, ALK_MSG_STDOUT, ALK_MSG_STDERR,
	                            ALK_MSG_FILE_DATA};
	static uint8_t chunk[ALK_PROTO_MAX_CHUNK];
	static const size_t sizes[] = {0, 1, 1000, ALK_PROTO_MAX_CHUNK};
	AlkMsgData g;
	AlkFrameHeader h;
	const uint8_t *p;

	fill_garbage(chunk, sizeof(chunk), 5);
	for (size_t t = 0; t < 4; t++) {
		for (size_t s = 0; s < 4; s++) {
			long n = alk_msg_data_encode(frame, sizeof(frame), types[t], 77, chunk,
			                             sizes[s]);

			p = deliver(frame, n, &h);
			ck_assert_int_eq(h.type, types[t]);
			ck_assert_int_eq(alk_msg_data_decode(p, h.len, &g), ALK_PROTO_OK);
			ck_assert_uint_eq(g.data.len, sizes[s]);
			if (sizes[s])
				ck_assert_mem_eq(g.data.data, chunk, sizes[s]);
		}
	}
	ck_assert_int_eq(alk_msg_data_encode(frame, sizeof(frame), ALK_MSG_PING, 1, chunk, 1),
	                 ALK_PROTO_E_TYPE);
}
END_TEST

START_TEST(test_rt_ack)
{
	static const int types[] = {ALK_MSG_STDIN_ACK, ALK_MSG_OK};
	AlkMsgAck g;
	AlkFrameHeader h;

	for (size_t t = 0; t < 2; t++) {
		const uint8_t *p = deliver(
		    frame, alk_msg_ack_encode(frame, sizeof(frame), types[t], 5, 1ull << 40), &h);

		ck_assert_int_eq(h.type, types[t]);
		ck_assert_int_eq(alk_msg_ack_decode(p, h.len, &g), ALK_PROTO_OK);
		ck_assert_uint_eq(g.bytes, 1ull << 40);
	}
	ck_assert_int_eq(alk_msg_ack_encode(frame, sizeof(frame), ALK_MSG_EXIT, 1, 0),
	                 ALK_PROTO_E_TYPE);
}
END_TEST

START_TEST(test_rt_signal)
{
	AlkMsgSignal g;
	AlkFrameHeader h;
	const uint8_t *p = deliver(frame, alk_msg_signal_encode(frame, sizeof(frame), 8, 15), &h);

	ck_assert_uint_eq(h.type, ALK_MSG_SIGNAL);
	ck_assert_int_eq(alk_msg_signal_decode(p, h.len, &g), ALK_PROTO_OK);
	ck_assert_uint_eq(g.signo, 15);
}
END_TEST

START_TEST(test_rt_exit)
{
	AlkMsgExit m = {.exit_code = 3,
	                .duration_ms = 1500,
	                .max_rss_kib = 2048,
	                .stdout_bytes = 10,
	                .stderr_bytes = 20,
	                .truncated = 1};
	AlkMsgExit g;
	AlkFrameHeader h;
	const uint8_t *p = deliver(frame, alk_msg_exit_encode(frame, sizeof(frame), 8, &m), &h);

	ck_assert_uint_eq(h.type, ALK_MSG_EXIT);
	ck_assert_int_eq(alk_msg_exit_decode(p, h.len, &g), ALK_PROTO_OK);
	ck_assert_mem_eq(&g, &m, sizeof(m));
	m = (AlkMsgExit){.exit_code = -1, .signo = 9, .timed_out = 1, .duration_ms = 30000};
	p = deliver(frame, alk_msg_exit_encode(frame, sizeof(frame), 8, &m), &h);
	ck_assert_int_eq(alk_msg_exit_decode(p, h.len, &g), ALK_PROTO_OK);
	ck_assert_int_eq(g.exit_code, -1);
	ck_assert_uint_eq(g.signo, 9);
	ck_assert_uint_eq(g.timed_out, 1);
	ck_assert_uint_eq(g.duration_ms, 30000);
}
END_TEST

START_TEST(test_rt_file)
{
	AlkMsgFile put = {.path = "/tmp/a b", .mode = 0755, .size = 12345};
	AlkMsgFile get = {.path = "/etc/hostname", .max_size = 1 << 20};
	AlkMsgFile info = {.mode = 0100644, .size = 99};
	AlkMsgFile g;
	AlkFrameHeader h;
	const uint8_t *p;

	p = deliver(frame, alk_msg_file_encode(frame, sizeof(frame), ALK_MSG_FILE_PUT, 1, &put),
	            &h);
	ck_assert_int_eq(alk_msg_file_decode_type(h.type, p, h.len, &g), ALK_PROTO_OK);
	ck_assert_str_eq(g.path, "/tmp/a b");
	ck_assert_uint_eq(g.mode, 0755);
	ck_assert_uint_eq(g.size, 12345);
	ck_assert_uint_eq(g.max_size, 0);
	ck_assert_int_eq(alk_msg_file_decode(p, h.len, &g), ALK_PROTO_OK);
	ck_assert_str_eq(g.path, "/tmp/a b");

	p = deliver(frame, alk_msg_file_encode(frame, sizeof(frame), ALK_MSG_FILE_GET, 2, &get),
	            &h);
	ck_assert_int_eq(alk_msg_file_decode_type(h.type, p, h.len, &g), ALK_PROTO_OK);
	ck_assert_str_eq(g.path, "/etc/hostname");
	ck_assert_uint_eq(g.max_size, 1 << 20);

	p = deliver(frame, alk_msg_file_encode(frame, sizeof(frame), ALK_MSG_FILE_INFO, 2, &info),
	            &h);
	ck_assert_int_eq(alk_msg_file_decode_type(h.type, p, h.len, &g), ALK_PROTO_OK);
	ck_assert_ptr_null(g.path);
	ck_assert_uint_eq(g.mode, 0100644);
	ck_assert_uint_eq(g.size, 99);

	ck_assert_int_eq(alk_msg_file_encode(frame, sizeof(frame), ALK_MSG_EXEC, 2, &info),
	                 ALK_PROTO_E_TYPE);
	ck_assert_int_eq(alk_msg_file_decode_type(ALK_MSG_EXEC, p, h.len, &g), ALK_PROTO_E_TYPE);
}
END_TEST

START_TEST(test_rt_file_put_default_mode)
{
	AlkWriter w;
	AlkMsgFile g;
	uint8_t b[64];

	alk_writer_init(&w, b, sizeof(b));
	alk_put_str(&w, 1, "/x");
	ck_assert_int_eq(w.error, ALK_PROTO_OK);
	ck_assert_int_eq(alk_msg_file_decode_type(ALK_MSG_FILE_PUT, b, w.len, &g), ALK_PROTO_OK);
	ck_assert_uint_eq(g.mode, 0644);
	ck_assert_uint_eq(g.size, 0);
	ck_assert_int_eq(alk_msg_file_decode(b, w.len, &g), ALK_PROTO_OK);
	ck_assert_uint_eq(g.mode, 0644);
}
END_TEST

/* Optional fields at their default are left out of the frame, and both
 * FILE decoders fill them back in. */
START_TEST(test_rt_defaults_omitted)
{
	AlkMsgFile put = {.path = "/p", .mode = 0644};
	AlkMsgFile g;
	AlkMsgExec e;
	long n;

	n = alk_msg_file_encode(frame, sizeof(frame), ALK_MSG_FILE_PUT, 1, &put);
	ck_assert_int_eq(n, ALK_PROTO_HEADER_SIZE + ALK_PROTO_FIELD_HEADER_SIZE + 3);
	ck_assert_int_eq(alk_msg_file_decode(frame + ALK_PROTO_HEADER_SIZE, 9, &g), ALK_PROTO_OK);
	ck_assert_uint_eq(g.mode, 0644);
	memset(&e, 0, sizeof(e));
	e.argv[0] = "x";
	e.argc = 1;
	n = alk_msg_exec_encode(frame, sizeof(frame), 1, &e);
	ck_assert_int_eq(n, ALK_PROTO_HEADER_SIZE + ALK_PROTO_FIELD_HEADER_SIZE + 2);
	n = alk_msg_error_encode(frame, sizeof(frame), 1, ALK_ERR_PROTOCOL, 0, "");
	ck_assert_int_eq(n, ALK_PROTO_HEADER_SIZE + ALK_PROTO_FIELD_HEADER_SIZE + 4);
}
END_TEST

START_TEST(test_rt_error)
{
	AlkMsgError g;
	AlkFrameHeader h;
	const uint8_t *p;

	p = deliver(frame,
	            alk_msg_error_encode(frame, sizeof(frame), 6, ALK_ERR_IO, 2, "no such file"),
	            &h);
	ck_assert_uint_eq(h.type, ALK_MSG_ERROR);
	ck_assert_uint_eq(h.id, 6);
	ck_assert_int_eq(alk_msg_error_decode(p, h.len, &g), ALK_PROTO_OK);
	ck_assert_uint_eq(g.code, ALK_ERR_IO);
	ck_assert_uint_eq(g.errnum, 2);
	ck_assert_str_eq(g.message, "no such file");
	p = deliver(frame, alk_msg_error_encode(frame, sizeof(frame), 6, ALK_ERR_BUSY, 0, NULL),
	            &h);
	ck_assert_int_eq(alk_msg_error_decode(p, h.len, &g), ALK_PROTO_OK);
	ck_assert_uint_eq(g.code, ALK_ERR_BUSY);
	ck_assert_str_eq(g.message, "");
}
END_TEST

static void net_sample(AlkMsgNetConfig *m)
{
	static const AlkMsgNetConfig sample = {
	    .mac = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef},
	    .address = {10, 77, 0, 2},
	    .prefix_len = 24,
	    .gateway = {10, 77, 0, 1},
	    .dns = {10, 77, 0, 1},
	    .mtu = 1500,
	};

	memset(m, 0, sizeof(*m));
	*m = sample;
}

static void net_equal(const AlkMsgNetConfig *a, const AlkMsgNetConfig *b)
{
	ck_assert_mem_eq(a->mac, b->mac, ALK_PROTO_MAC_SIZE);
	ck_assert_mem_eq(a->address, b->address, ALK_PROTO_IPV4_SIZE);
	ck_assert_uint_eq(a->prefix_len, b->prefix_len);
	ck_assert_mem_eq(a->gateway, b->gateway, ALK_PROTO_IPV4_SIZE);
	ck_assert_mem_eq(a->dns, b->dns, ALK_PROTO_IPV4_SIZE);
	ck_assert_uint_eq(a->mtu, b->mtu);
}

START_TEST(test_rt_net_config)
{
	AlkMsgNetConfig m, g;
	AlkFrameHeader h;
	const uint8_t *p;
	long n;

	net_sample(&m);
	n = alk_msg_net_config_encode(frame, sizeof(frame), 12, &m);
	/* six fields: 6 + 4 + 4 + 4 + 4 + 4 value bytes */
	ck_assert_int_eq(n, ALK_PROTO_HEADER_SIZE + 6 * ALK_PROTO_FIELD_HEADER_SIZE + 26);
	p = deliver(frame, n, &h);
	ck_assert_uint_eq(h.type, ALK_MSG_NET_CONFIG);
	ck_assert_uint_eq(h.id, 12);
	ck_assert_int_eq(alk_msg_net_config_decode(p, h.len, &g), ALK_PROTO_OK);
	net_equal(&m, &g);
	/* no gateway, no DNS: both left out, both read back as 0.0.0.0 */
	memset(m.gateway, 0, sizeof(m.gateway));
	memset(m.dns, 0, sizeof(m.dns));
	m.prefix_len = ALK_NET_PREFIX_MAX;
	m.mtu = ALK_NET_MTU_MAX;
	n = alk_msg_net_config_encode(frame, sizeof(frame), 13, &m);
	ck_assert_int_eq(n, ALK_PROTO_HEADER_SIZE + 4 * ALK_PROTO_FIELD_HEADER_SIZE + 18);
	p = deliver(frame, n, &h);
	memset(&g, 0xff, sizeof(g));
	ck_assert_int_eq(alk_msg_net_config_decode(p, h.len, &g), ALK_PROTO_OK);
	net_equal(&m, &g);
}
END_TEST

START_TEST(test_rt_empty)
{
	static const int types[] = {ALK_MSG_STDIN_EOF, ALK_MSG_FILE_END, ALK_MSG_SHUTDOWN};
	AlkFrameHeader h;

	for (size_t t = 0; t < 3; t++) {
		long n = alk_msg_empty_encode(frame, sizeof(frame), types[t], 31);
		const uint8_t *p;

		ck_assert_int_eq(n, ALK_PROTO_HEADER_SIZE);
		p = deliver(frame, n, &h);
		ck_assert_int_eq(h.type, types[t]);
		ck_assert_uint_eq(h.id, 31);
		ck_assert_uint_eq(h.len, 0);
		ck_assert_int_eq(alk_msg_empty_decode(p, h.len), ALK_PROTO_OK);
	}
	ck_assert_int_eq(alk_msg_empty_decode(frame, 1), ALK_PROTO_E_FIELD);
	ck_assert_int_eq(alk_msg_empty_encode(frame, sizeof(frame), ALK_MSG_EXEC, 1),
	                 ALK_PROTO_E_TYPE);
	ck_assert_int_eq(
	    alk_msg_empty_encode(frame, ALK_PROTO_HEADER_SIZE - 1, ALK_MSG_FILE_END, 1),
	    ALK_PROTO_E_SHORT);
}
END_TEST

/* ---- Encoder limits ---- */

START_TEST(test_encode_short)
{
	long full = exec_frame(frame);

	ck_assert_int_gt(full, ALK_PROTO_HEADER_SIZE);
	for (long cap = 0; cap < full; cap++) {
		AlkMsgExec e;

		exec_sample(&e);
		ck_assert_int_eq(alk_msg_exec_encode(frame2, (size_t)cap, 42, &e),
		                 ALK_PROTO_E_SHORT);
	}
	ck_assert_int_eq(exec_frame(frame2), full);
	ck_assert_mem_eq(frame, frame2, (size_t)full);
}
END_TEST

START_TEST(test_encode_length)
{
	static char big[40000];
	static uint8_t data[ALK_PROTO_MAX_PAYLOAD + 1];
	AlkMsgExec e;

	memset(big, 'x', sizeof(big) - 1);
	memset(&e, 0, sizeof(e));
	e.argv[0] = big;
	e.argv[1] = big;
	e.argc = 2;
	ck_assert_int_eq(alk_msg_exec_encode(frame, sizeof(frame), 1, &e), ALK_PROTO_E_LENGTH);
	/* Over the protocol maximum: E_LENGTH even with a small buffer. */
	ck_assert_int_eq(alk_msg_exec_encode(frame, 10, 1, &e), ALK_PROTO_E_LENGTH);
	ck_assert_int_eq(
	    alk_msg_data_encode(frame, sizeof(frame), ALK_MSG_STDOUT, 1, data, sizeof(data)),
	    ALK_PROTO_E_LENGTH);
	/* Within the payload maximum but over the chunk size. */
	ck_assert_int_eq(alk_msg_data_encode(frame, sizeof(frame), ALK_MSG_STDOUT, 1, data,
	                                     ALK_PROTO_MAX_CHUNK + 1),
	                 ALK_PROTO_E_VALUE);
}
END_TEST

START_TEST(test_encode_invalid)
{
	AlkMsgExec e;
	AlkMsgHello hello = {.version = 1, .max_payload = 65536};
	AlkMsgFile f = {.path = "relative"};
	AlkMsgExit x = {.exit_code = 0, .signo = 9};

	exec_sample(&e);
	e.argc = ALK_PROTO_MAX_ARGS + 1;
	ck_assert_int_eq(alk_msg_exec_encode(frame, sizeof(frame), 1, &e), ALK_PROTO_E_COUNT);
	exec_sample(&e);
	e.nrlimits = ALK_PROTO_MAX_RLIMITS + 1;
	ck_assert_int_eq(alk_msg_exec_encode(frame, sizeof(frame), 1, &e), ALK_PROTO_E_COUNT);
	exec_sample(&e);
	e.argc = 0;
	ck_assert_int_eq(alk_msg_exec_encode(frame, sizeof(frame), 1, &e), ALK_PROTO_E_MISSING);
	exec_sample(&e);
	e.stdin_mode = 2;
	ck_assert_int_eq(alk_msg_exec_encode(frame, sizeof(frame), 1, &e), ALK_PROTO_E_VALUE);
	exec_sample(&e);
	e.argv[1] = NULL;
	ck_assert_int_eq(alk_msg_exec_encode(frame, sizeof(frame), 1, &e), ALK_PROTO_E_VALUE);
	exec_sample(&e);
	e.env[0] = "NOEQUALS";
	ck_assert_int_eq(alk_msg_exec_encode(frame, sizeof(frame), 1, &e), ALK_PROTO_E_VALUE);
	ck_assert_int_gt(alk_msg_hello_encode(frame, sizeof(frame), &hello), 0);
	hello.version = 0;
	ck_assert_int_eq(alk_msg_hello_encode(frame, sizeof(frame), &hello), ALK_PROTO_E_VALUE);
	ck_assert_int_eq(alk_msg_file_encode(frame, sizeof(frame), ALK_MSG_FILE_PUT, 1, &f),
	                 ALK_PROTO_E_VALUE);
	f.path = NULL;
	ck_assert_int_eq(alk_msg_file_encode(frame, sizeof(frame), ALK_MSG_FILE_GET, 1, &f),
	                 ALK_PROTO_E_MISSING);
	ck_assert_int_eq(alk_msg_exit_encode(frame, sizeof(frame), 1, &x), ALK_PROTO_E_VALUE);
	ck_assert_int_eq(alk_msg_signal_encode(frame, sizeof(frame), 1, 0), ALK_PROTO_E_VALUE);
	ck_assert_int_eq(alk_msg_error_encode(frame, sizeof(frame), 1, 0, 0, "x"),
	                 ALK_PROTO_E_VALUE);
	ck_assert_int_eq(alk_msg_started_encode(frame, sizeof(frame), 1, &(AlkMsgStarted){0}),
	                 ALK_PROTO_E_VALUE);
}
END_TEST

START_TEST(test_writer_sticky)
{
	AlkWriter w;
	uint8_t b[16];

	alk_writer_init(&w, b, sizeof(b));
	alk_put_u32(&w, 1, 5);
	ck_assert_uint_eq(w.len, 10);
	alk_put_u64(&w, 2, 5); /* 14 bytes do not fit in the 6 left */
	ck_assert_int_eq(w.error, ALK_PROTO_E_SHORT);
	alk_put_i32(&w, 3, -1); /* would fit, but the error is sticky */
	ck_assert_uint_eq(w.len, 10);
	alk_writer_init(&w, NULL, 0);
	alk_put_str(&w, 1, "abc");
	alk_put_bytes(&w, 2, NULL, 0);
	ck_assert_uint_eq(w.len, 6 + 4 + 6);
	ck_assert_int_eq(w.error, ALK_PROTO_OK);
}
END_TEST

/* ---- Malformed payloads ---- */

static uint8_t pay[ALK_PROTO_MAX_PAYLOAD];
static AlkWriter pw;

static void pay_begin(void)
{
	alk_writer_init(&pw, pay, sizeof(pay));
}

static int exec_decode_pay(void)
{
	static AlkMsgExec g;

	ck_assert_int_eq(pw.error, ALK_PROTO_OK);
	return alk_msg_exec_decode(pay, pw.len, &g);
}

START_TEST(test_bad_truncated_payload)
{
	AlkMsgSync g;
	long n =
	    alk_msg_sync_encode(frame, sizeof(frame), ALK_MSG_SYNC, 1, &(AlkMsgSync){.nonce = 1});
	size_t len = (size_t)n - ALK_PROTO_HEADER_SIZE;

	for (size_t cut = 1; cut < len; cut++)
		ck_assert_int_eq(alk_msg_sync_decode(frame + ALK_PROTO_HEADER_SIZE, cut, &g),
		                 ALK_PROTO_E_FIELD);
	ck_assert_int_eq(alk_msg_sync_decode(frame + ALK_PROTO_HEADER_SIZE, 0, &g),
	                 ALK_PROTO_E_MISSING);
}
END_TEST

START_TEST(test_bad_field_overflow)
{
	uint8_t v[4] = {0, 0, 0, 1};
	AlkMsgStarted g = {.pid = 77};

	pay_begin();
	raw_field(&pw, 1, 5, v, 4); /* claims one byte more than there is */
	ck_assert_int_eq(alk_msg_started_decode(pay, pw.len, &g), ALK_PROTO_E_FIELD);
	pay_begin();
	raw_field(&pw, 1, UINT32_MAX, v, 4);
	ck_assert_int_eq(alk_msg_started_decode(pay, pw.len, &g), ALK_PROTO_E_FIELD);
	ck_assert_uint_eq(g.pid, 77);
}
END_TEST

START_TEST(test_bad_unknown_tag)
{
	AlkMsgStarted g;

	pay_begin();
	alk_put_u32(&pw, 1, 5);
	alk_put_u32(&pw, 2, 5);
	ck_assert_int_eq(alk_msg_started_decode(pay, pw.len, &g), ALK_PROTO_E_FIELD);
	pay_begin();
	alk_put_u32(&pw, 0, 5);
	ck_assert_int_eq(alk_msg_started_decode(pay, pw.len, &g), ALK_PROTO_E_FIELD);
	/* FILE_GET does not take FILE_PUT's mode. */
	pay_begin();
	alk_put_str(&pw, 1, "/x");
	alk_put_u32(&pw, 2, 0644);
	ck_assert_int_eq(alk_msg_file_decode_type(ALK_MSG_FILE_GET, pay, pw.len, &(AlkMsgFile){0}),
	                 ALK_PROTO_E_FIELD);
}
END_TEST

START_TEST(test_bad_int_size)
{
	uint8_t v[8] = {0};
	AlkMsgAck a;
	AlkMsgStarted s;

	pay_begin();
	alk_put_u32(&pw, 1, 5); /* a u64 field sent as 4 bytes */
	ck_assert_int_eq(alk_msg_ack_decode(pay, pw.len, &a), ALK_PROTO_E_FIELD);
	pay_begin();
	alk_put_u64(&pw, 1, 5);
	ck_assert_int_eq(alk_msg_started_decode(pay, pw.len, &s), ALK_PROTO_E_FIELD);
	pay_begin();
	alk_put_bytes(&pw, 1, v, 3);
	ck_assert_int_eq(alk_msg_started_decode(pay, pw.len, &s), ALK_PROTO_E_FIELD);
	pay_begin();
	alk_put_bytes(&pw, 1, v, 0);
	ck_assert_int_eq(alk_msg_started_decode(pay, pw.len, &s), ALK_PROTO_E_FIELD);
}
END_TEST

START_TEST(test_bad_duplicate)
{
	AlkMsgSignal s;

	pay_begin();
	alk_put_u32(&pw, 1, 9);
	alk_put_u32(&pw, 1, 9);
	ck_assert_int_eq(alk_msg_signal_decode(pay, pw.len, &s), ALK_PROTO_E_DUPLICATE);
	pay_begin();
	alk_put_str(&pw, 1, "ls");
	alk_put_str(&pw, 3, "/");
	alk_put_str(&pw, 3, "/");
	ck_assert_int_eq(exec_decode_pay(), ALK_PROTO_E_DUPLICATE);
}
END_TEST

START_TEST(test_bad_missing)
{
	AlkMsgHello h;
	uint8_t nonce[ALK_PROTO_NONCE_SIZE] = {0};

	pay_begin();
	alk_put_u32(&pw, 1, 1);
	alk_put_bytes(&pw, 3, nonce, sizeof(nonce));
	ck_assert_int_eq(alk_msg_hello_decode(pay, pw.len, &h), ALK_PROTO_E_MISSING);
	pay_begin();
	alk_put_str(&pw, 3, "/"); /* EXEC without argv: argc 0 */
	ck_assert_int_eq(exec_decode_pay(), ALK_PROTO_E_MISSING);
	pay_begin();
	ck_assert_int_eq(alk_msg_file_decode_type(ALK_MSG_FILE_PUT, pay, 0, &(AlkMsgFile){0}),
	                 ALK_PROTO_E_MISSING);
	ck_assert_int_eq(alk_msg_file_decode_type(ALK_MSG_FILE_INFO, pay, 0, &(AlkMsgFile){0}),
	                 ALK_PROTO_E_MISSING);
	ck_assert_int_eq(alk_msg_error_decode(pay, 0, &(AlkMsgError){0}), ALK_PROTO_E_MISSING);
	ck_assert_int_eq(alk_msg_data_decode(pay, 0, &(AlkMsgData){0}), ALK_PROTO_E_MISSING);
	ck_assert_int_eq(alk_msg_exit_decode(pay, 0, &(AlkMsgExit){0}), ALK_PROTO_E_MISSING);
}
END_TEST

START_TEST(test_bad_count)
{
	uint8_t rl[12] = {0};

	pay_begin();
	for (int i = 0; i < ALK_PROTO_MAX_ARGS + 1; i++)
		alk_put_str(&pw, 1, "a");
	ck_assert_int_eq(exec_decode_pay(), ALK_PROTO_E_COUNT);
	pay_begin();
	alk_put_str(&pw, 1, "a");
	for (int i = 0; i < ALK_PROTO_MAX_ENV + 1; i++)
		alk_put_str(&pw, 2, "A=1");
	ck_assert_int_eq(exec_decode_pay(), ALK_PROTO_E_COUNT);
	pay_begin();
	alk_put_str(&pw, 1, "a");
	for (int i = 0; i < ALK_PROTO_MAX_RLIMITS + 1; i++) {
		rl[3] = (uint8_t)i;
		alk_put_bytes(&pw, 7, rl, sizeof(rl));
	}
	ck_assert_int_eq(exec_decode_pay(), ALK_PROTO_E_COUNT);
}
END_TEST

START_TEST(test_bad_strings)
{
	AlkMsgError e;

	pay_begin();
	alk_put_str(&pw, 1, "ls");
	alk_put_bytes(&pw, 1, "abc", 3); /* no terminating NUL */
	ck_assert_int_eq(exec_decode_pay(), ALK_PROTO_E_STRING);
	pay_begin();
	alk_put_bytes(&pw, 1, "a\0b", 4); /* inner NUL */
	ck_assert_int_eq(exec_decode_pay(), ALK_PROTO_E_STRING);
	pay_begin();
	alk_put_bytes(&pw, 1, "", 0); /* no room for the NUL */
	ck_assert_int_eq(exec_decode_pay(), ALK_PROTO_E_STRING);
	pay_begin();
	alk_put_u32(&pw, 1, ALK_ERR_IO);
	alk_put_bytes(&pw, 3, "oops\0\0", 6);
	ck_assert_int_eq(alk_msg_error_decode(pay, pw.len, &e), ALK_PROTO_E_STRING);
	pay_begin();
	alk_put_bytes(&pw, 1, "", 1); /* the empty string is a string */
	ck_assert_int_eq(exec_decode_pay(), ALK_PROTO_OK);
}
END_TEST

/* One EXEC field that must be refused with want. */
static void exec_bad(uint16_t tag, const void *v, size_t n, int want)
{
	pay_begin();
	alk_put_str(&pw, 1, "ls");
	alk_put_bytes(&pw, tag, v, n);
	ck_assert_int_eq(exec_decode_pay(), want);
}

START_TEST(test_bad_exec_values)
{
	uint8_t two[4] = {0, 0, 0, 2};
	uint8_t rl[12] = {0, 0, 0, 16};

	uint8_t zero[4] = {0}, one[4] = {0, 0, 0, 1}, big[4] = {0, 0, 0x03, 0xe9}; /* 1001 */
	AlkMsgResize r;

	exec_bad(5, two, 4, ALK_PROTO_E_VALUE);  /* stdin_mode */
	exec_bad(16, two, 4, ALK_PROTO_E_VALUE); /* tty is 0/1 */
	exec_bad(17, one, 4, ALK_PROTO_E_VALUE); /* rows without tty */
	exec_bad(13, one, 4, ALK_PROTO_E_FIELD); /* a reserved tag */
	exec_bad(15, one, 4, ALK_PROTO_E_FIELD);
	pay_begin();
	alk_put_str(&pw, 1, "sh");
	alk_put_u32(&pw, 16, 1);
	alk_put_bytes(&pw, 18, big, 4);
	ck_assert_int_eq(exec_decode_pay(), ALK_PROTO_E_VALUE); /* cols 1001 */
	pay_begin();
	alk_put_str(&pw, 1, "sh");
	alk_put_u32(&pw, 16, 1);
	alk_put_bytes(&pw, 17, zero, 4);
	ck_assert_int_eq(exec_decode_pay(), ALK_PROTO_E_VALUE); /* rows 0 */
	pay_begin();
	alk_put_u32(&pw, 1, 24);
	ck_assert_int_eq(alk_msg_resize_decode(pay, pw.len, &r), ALK_PROTO_E_MISSING);
	alk_put_u32(&pw, 2, 0);
	ck_assert_int_eq(alk_msg_resize_decode(pay, pw.len, &r), ALK_PROTO_E_VALUE);
	exec_bad(3, "tmp", 4, ALK_PROTO_E_VALUE);
	exec_bad(3, "", 1, ALK_PROTO_E_VALUE);
	exec_bad(2, "NOEQUALS", 9, ALK_PROTO_E_VALUE);
	exec_bad(2, "=value", 7, ALK_PROTO_E_VALUE);
	exec_bad(7, rl, 12, ALK_PROTO_E_VALUE); /* resource 16 */
	exec_bad(7, rl, 11, ALK_PROTO_E_FIELD); /* rlimit entry not 12 bytes */
	rl[3] = 3;
	pay_begin();
	alk_put_str(&pw, 1, "ls");
	alk_put_bytes(&pw, 7, rl, 12);
	alk_put_bytes(&pw, 7, rl, 12);
	ck_assert_int_eq(exec_decode_pay(), ALK_PROTO_E_VALUE); /* same resource twice */
	/* who it runs as: a plain name or numbers, nothing else */
	exec_bad(9, "Root", 5, ALK_PROTO_E_VALUE);
	exec_bad(9, "a b", 4, ALK_PROTO_E_VALUE);
	exec_bad(9, "../x", 5, ALK_PROTO_E_VALUE);
	exec_bad(9, "1000:", 6, ALK_PROTO_E_VALUE);
	exec_bad(9, ":1000", 6, ALK_PROTO_E_VALUE);
	exec_bad(9, "12345678901", 12, ALK_PROTO_E_VALUE);
	exec_bad(9, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 34, ALK_PROTO_E_VALUE);
	exec_bad(9, "", 1, ALK_PROTO_E_VALUE);
	exec_bad(10, two, 4, ALK_PROTO_E_VALUE); /* no_new_privs is a bool */
	exec_bad(11, two, 4, ALK_PROTO_E_VALUE); /* drop_caps too */
}
END_TEST

START_TEST(test_rt_exec_user)
{
	AlkMsgExec m, g;
	AlkFrameHeader h;
	const uint8_t *p;
	const char *const ok[] = {"agent", "_apt", "www-data", "1000", "1000:100", "0:0"};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		memset(&m, 0, sizeof(m));
		m.argv[0] = "id";
		m.argc = 1;
		m.user = ok[i];
		m.no_new_privs = 1;
		m.drop_caps = i % 2;
		p = deliver(frame, alk_msg_exec_encode(frame, sizeof(frame), 7, &m), &h);
		ck_assert_int_eq(alk_msg_exec_decode(p, h.len, &g), ALK_PROTO_OK);
		ck_assert_str_eq(g.user, ok[i]);
		ck_assert_uint_eq(g.no_new_privs, 1);
		ck_assert_uint_eq(g.drop_caps, i % 2);
	}
	/* the encoder refuses what the decoder would */
	m.user = "not valid";
	ck_assert_int_lt(alk_msg_exec_encode(frame, sizeof(frame), 7, &m), 0);
}
END_TEST

START_TEST(test_bad_values)
{
	uint8_t nonce[ALK_PROTO_NONCE_SIZE + 1] = {0};
	AlkMsgHello h;
	AlkMsgExit x;
	AlkMsgFile f;

	for (size_t n = ALK_PROTO_NONCE_SIZE - 1; n <= ALK_PROTO_NONCE_SIZE + 1; n += 2) {
		pay_begin();
		alk_put_u32(&pw, 1, 1);
		alk_put_u32(&pw, 2, 0);
		alk_put_bytes(&pw, 3, nonce, n);
		ck_assert_int_eq(alk_msg_hello_decode(pay, pw.len, &h), ALK_PROTO_E_VALUE);
	}
	pay_begin();
	alk_put_i32(&pw, 1, 0);
	alk_put_u32(&pw, 3, 2); /* timed_out is a bool */
	ck_assert_int_eq(alk_msg_exit_decode(pay, pw.len, &x), ALK_PROTO_E_VALUE);
	pay_begin();
	alk_put_i32(&pw, 1, 256);
	ck_assert_int_eq(alk_msg_exit_decode(pay, pw.len, &x), ALK_PROTO_E_VALUE);
	pay_begin();
	alk_put_i32(&pw, 1, -1); /* killed, but by no signal */
	ck_assert_int_eq(alk_msg_exit_decode(pay, pw.len, &x), ALK_PROTO_E_VALUE);
	pay_begin();
	alk_put_str(&pw, 1, "etc/passwd");
	ck_assert_int_eq(alk_msg_file_decode_type(ALK_MSG_FILE_GET, pay, pw.len, &f),
	                 ALK_PROTO_E_VALUE);
	ck_assert_int_eq(alk_msg_file_decode(pay, pw.len, &f), ALK_PROTO_E_VALUE);
	pay_begin();
	alk_put_str(&pw, 1, "/x");
	alk_put_u32(&pw, 2, 010000);
	ck_assert_int_eq(alk_msg_file_decode_type(ALK_MSG_FILE_PUT, pay, pw.len, &f),
	                 ALK_PROTO_E_VALUE);
	pay_begin();
	alk_put_u32(&pw, 1, 65);
	ck_assert_int_eq(alk_msg_signal_decode(pay, pw.len, &(AlkMsgSignal){0}), ALK_PROTO_E_VALUE);
	pay_begin();
	alk_put_u32(&pw, 1, ALK_ERR_WINDOW + 1);
	ck_assert_int_eq(alk_msg_error_decode(pay, pw.len, &(AlkMsgError){0}), ALK_PROTO_E_VALUE);
	pay_begin();
	alk_put_bytes(&pw, 1, frame2, ALK_PROTO_MAX_CHUNK + 1);
	ck_assert_int_eq(alk_msg_data_decode(pay, pw.len, &(AlkMsgData){0}), ALK_PROTO_E_VALUE);
}
END_TEST

static uint8_t net_mac[6] = {0x52, 0x54, 0, 1, 2, 3};
static uint8_t net_addr[4] = {192, 168, 7, 10};

/* A NET_CONFIG payload: the required fields, each replaced by the caller's
 * (tag, bytes) when it names that tag (n 0: left out), then extra fields. */
static int net_decode_with(uint16_t tag, const void *v, size_t n)
{
	uint8_t prefix[4] = {0, 0, 0, 24}, mtu[4] = {0, 0, 0x05, 0xdc};
	/* tag 7 is not NET_CONFIG's: an unknown field when given */
	const void *vals[8] = {NULL, net_mac, net_addr, prefix, NULL, NULL, mtu, NULL};
	size_t lens[8] = {0, 6, 4, 4, 0, 0, 4, 0};
	AlkMsgNetConfig g;

	vals[tag] = v;
	lens[tag] = n;
	pay_begin();
	ck_assert_uint_lt(tag, 8);
	for (uint16_t t = 1; t < 8; t++)
		if (vals[t] != NULL && lens[t] > 0)
			alk_put_bytes(&pw, t, vals[t], lens[t]);
	return alk_msg_net_config_decode(pay, pw.len, &g);
}

static int net_u32(uint16_t tag, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	return net_decode_with(tag, b, 4);
}

START_TEST(test_bad_net_config)
{
	uint8_t v[8] = {0};
	uint8_t ip[4];

	ck_assert_int_eq(net_decode_with(0, NULL, 0), ALK_PROTO_OK);
	/* prefix_len 1..30, mtu 576..9000 */
	ck_assert_int_eq(net_u32(3, 0), ALK_PROTO_E_VALUE);
	ck_assert_int_eq(net_u32(3, 31), ALK_PROTO_E_VALUE);
	ck_assert_int_eq(net_u32(3, 32), ALK_PROTO_E_VALUE);
	ck_assert_int_eq(net_u32(6, 575), ALK_PROTO_E_VALUE);
	ck_assert_int_eq(net_u32(6, 9001), ALK_PROTO_E_VALUE);
	ck_assert_int_eq(net_u32(6, 576), ALK_PROTO_OK);
	ck_assert_int_eq(net_u32(6, 9000), ALK_PROTO_OK);
	/* short or long MAC and addresses */
	ck_assert_int_eq(net_decode_with(1, net_mac, 5), ALK_PROTO_E_FIELD);
	ck_assert_int_eq(net_decode_with(1, v, 7), ALK_PROTO_E_FIELD);
	ck_assert_int_eq(net_decode_with(2, net_addr, 3), ALK_PROTO_E_FIELD);
	ck_assert_int_eq(net_decode_with(2, v, 5), ALK_PROTO_E_FIELD);
	ck_assert_int_eq(net_decode_with(4, net_addr, 3), ALK_PROTO_E_FIELD);
	ck_assert_int_eq(net_decode_with(5, v, 8), ALK_PROTO_E_FIELD);
	ck_assert_int_eq(net_decode_with(3, v, 8), ALK_PROTO_E_FIELD); /* u32 as 8 bytes */
	/* each required field missing */
	for (uint16_t tag = 1; tag <= 6; tag++)
		if (tag != 4 && tag != 5)
			ck_assert_int_eq(net_decode_with(tag, NULL, 0), ALK_PROTO_E_MISSING);
	ck_assert_int_eq(net_decode_with(7, v, 4), ALK_PROTO_E_FIELD); /* unknown tag */
	/* multicast or zero MAC */
	ck_assert_int_eq(net_decode_with(1, (uint8_t[]){0x01, 0, 0x5e, 0, 0, 1}, 6),
	                 ALK_PROTO_E_VALUE);
	ck_assert_int_eq(net_decode_with(1, v, 6), ALK_PROTO_E_VALUE);
	/* addresses that are no host of a /24 */
	static const uint8_t bad_addr[][4] = {
	    {0, 0, 0, 0},         {0, 1, 2, 3},     {127, 0, 0, 1},    {224, 0, 0, 1},
	    {255, 255, 255, 255}, {192, 168, 7, 0}, {192, 168, 7, 255}};
	for (size_t i = 0; i < sizeof(bad_addr) / sizeof(bad_addr[0]); i++)
		ck_assert_int_eq(net_decode_with(2, bad_addr[i], 4), ALK_PROTO_E_VALUE);
	/* gateway: off the subnet, the address itself, the broadcast address */
	memcpy(ip, (uint8_t[]){192, 168, 8, 1}, 4);
	ck_assert_int_eq(net_decode_with(4, ip, 4), ALK_PROTO_E_VALUE);
	ck_assert_int_eq(net_decode_with(4, net_addr, 4), ALK_PROTO_E_VALUE);
	ip[2] = 7;
	ip[3] = 255;
	ck_assert_int_eq(net_decode_with(4, ip, 4), ALK_PROTO_E_VALUE);
	ip[3] = 1;
	ck_assert_int_eq(net_decode_with(4, ip, 4), ALK_PROTO_OK);
	/* dns: any unicast address, on the subnet or not */
	ck_assert_int_eq(net_decode_with(5, (uint8_t[]){9, 9, 9, 9}, 4), ALK_PROTO_OK);
	ck_assert_int_eq(net_decode_with(5, (uint8_t[]){239, 1, 1, 1}, 4), ALK_PROTO_E_VALUE);
	ck_assert_int_eq(net_decode_with(5, v, 4), ALK_PROTO_OK); /* 0.0.0.0 = none */
}
END_TEST

/* The encoder refuses what the decoder would. */
START_TEST(test_encode_bad_net_config)
{
	AlkMsgNetConfig m;

	net_sample(&m);
	m.prefix_len = 31;
	ck_assert_int_eq(alk_msg_net_config_encode(frame, sizeof(frame), 1, &m), ALK_PROTO_E_VALUE);
	net_sample(&m);
	m.mtu = 0;
	ck_assert_int_eq(alk_msg_net_config_encode(frame, sizeof(frame), 1, &m), ALK_PROTO_E_VALUE);
	net_sample(&m);
	m.gateway[2] = 1;
	ck_assert_int_eq(alk_msg_net_config_encode(frame, sizeof(frame), 1, &m), ALK_PROTO_E_VALUE);
	net_sample(&m);
	ck_assert_int_eq(alk_msg_net_config_encode(frame, ALK_PROTO_HEADER_SIZE + 10, 1, &m),
	                 ALK_PROTO_E_SHORT);
}
END_TEST

START_TEST(test_rt_fs_config)
{
	AlkMsgFsConfig m = {.root_readonly = 1,
	                    .tmpfs_mib = 64,
	                    .workspace = 1,
	                    .owner = "agent",
	                    .readonly_paths = {"/etc", "/usr/lib"},
	                    .nreadonly_paths = 2};
	AlkMsgFsConfig g;
	AlkFrameHeader h;
	const uint8_t *p;
	long n;

	n = alk_msg_fs_config_encode(frame, sizeof(frame), 7, &m);
	ck_assert_int_gt(n, 0);
	p = deliver(frame, n, &h);
	ck_assert_uint_eq(h.type, ALK_MSG_FS_CONFIG);
	ck_assert_str_eq(alk_proto_type_name(h.type), "FS_CONFIG");
	memset(&g, 0, sizeof(g));
	ck_assert_int_eq(alk_msg_fs_config_decode(p, h.len, &g), ALK_PROTO_OK);
	ck_assert(g.root_readonly == 1 && g.tmpfs_mib == 64 && g.workspace == 1);
	ck_assert_str_eq(g.owner, "agent");
	ck_assert_uint_eq(g.nreadonly_paths, 2);
	ck_assert_str_eq(g.readonly_paths[0], "/etc");
	ck_assert_str_eq(g.readonly_paths[1], "/usr/lib");
	/* all at their defaults: an empty payload, read back as nothing to do */
	memset(&m, 0, sizeof(m));
	n = alk_msg_fs_config_encode(frame, sizeof(frame), 8, &m);
	ck_assert_int_eq(n, ALK_PROTO_HEADER_SIZE);
	p = deliver(frame, n, &h);
	memset(&g, 0xff, sizeof(g));
	ck_assert_int_eq(alk_msg_fs_config_decode(p, h.len, &g), ALK_PROTO_OK);
	ck_assert(g.root_readonly == 0 && g.tmpfs_mib == 0 && g.workspace == 0 && g.owner == NULL &&
	          g.nreadonly_paths == 0);
}
END_TEST

static int fs_decode_path(const char *path)
{
	AlkMsgFsConfig g;

	pay_begin();
	alk_put_str(&pw, 5, path);
	return alk_msg_fs_config_decode(pay, pw.len, &g);
}

START_TEST(test_bad_fs_config)
{
	static const char *const bad[] = {"etc",     "/",     "/..",      "/a/../b",
	                                  "/a/./b",  "/a//b", "/a/",      "/proc",
	                                  "/proc/1", "/sys",  "/dev/sda", "//etc"};
	AlkMsgFsConfig m = {0}, g;
	char longer[ALK_FS_PATH_MAX + 2];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(fs_decode_path(bad[i]) < 0, "%s accepted", bad[i]);
	ck_assert_int_eq(fs_decode_path("/procs"), ALK_PROTO_OK);
	ck_assert_int_eq(fs_decode_path("/etc/..x"), ALK_PROTO_OK);
	memset(longer, 'a', sizeof(longer) - 1);
	longer[0] = '/';
	longer[sizeof(longer) - 1] = '\0';
	ck_assert_int_eq(fs_decode_path(longer), ALK_PROTO_E_VALUE);
	/* too many paths, a bad owner, out-of-range numbers */
	pay_begin();
	for (int i = 0; i <= ALK_FS_RO_PATHS_MAX; i++)
		alk_put_str(&pw, 5, "/etc");
	ck_assert_int_eq(alk_msg_fs_config_decode(pay, pw.len, &g), ALK_PROTO_E_COUNT);
	pay_begin();
	alk_put_str(&pw, 4, "Root;rm");
	ck_assert_int_eq(alk_msg_fs_config_decode(pay, pw.len, &g), ALK_PROTO_E_VALUE);
	pay_begin();
	alk_put_u32(&pw, 1, 2);
	ck_assert_int_eq(alk_msg_fs_config_decode(pay, pw.len, &g), ALK_PROTO_E_VALUE);
	pay_begin();
	alk_put_u32(&pw, 2, ALK_FS_TMPFS_MIB_MAX + 1);
	ck_assert_int_eq(alk_msg_fs_config_decode(pay, pw.len, &g), ALK_PROTO_E_VALUE);
	pay_begin();
	alk_put_u32(&pw, 9, 1);
	ck_assert_int_eq(alk_msg_fs_config_decode(pay, pw.len, &g), ALK_PROTO_E_FIELD);
	/* volumes: paths as readonly_paths, read-only bits only for volumes there */
	pay_begin();
	alk_put_str(&pw, 6, "/data");
	alk_put_u32(&pw, 7, 1);
	ck_assert_int_eq(alk_msg_fs_config_decode(pay, pw.len, &g), ALK_PROTO_OK);
	ck_assert(g.nvolumes == 1 && g.volumes_readonly == 1);
	ck_assert_str_eq(g.volumes[0], "/data");
	pay_begin();
	alk_put_str(&pw, 6, "/data");
	alk_put_u32(&pw, 7, 2);
	ck_assert_int_eq(alk_msg_fs_config_decode(pay, pw.len, &g), ALK_PROTO_E_VALUE);
	pay_begin();
	alk_put_str(&pw, 6, "/proc/x");
	ck_assert_int_eq(alk_msg_fs_config_decode(pay, pw.len, &g), ALK_PROTO_E_VALUE);
	pay_begin();
	for (int i = 0; i <= ALK_FS_VOLUMES_MAX; i++)
		alk_put_str(&pw, 6, "/v");
	ck_assert_int_eq(alk_msg_fs_config_decode(pay, pw.len, &g), ALK_PROTO_E_COUNT);
	/* the encoder refuses what the decoder would */
	m.readonly_paths[0] = "/proc/sys";
	m.nreadonly_paths = 1;
	ck_assert_int_eq(alk_msg_fs_config_encode(frame, sizeof(frame), 1, &m), ALK_PROTO_E_VALUE);
}
END_TEST

START_TEST(test_bad_out_untouched)
{
	AlkMsgExec *g = calloc(1, sizeof(*g));

	g->argc = 99;
	pay_begin();
	alk_put_str(&pw, 1, "ls");
	alk_put_u32(&pw, 5, 7);
	ck_assert_int_eq(alk_msg_exec_decode(pay, pw.len, g), ALK_PROTO_E_VALUE);
	ck_assert_uint_eq(g->argc, 99);
	ck_assert_ptr_null(g->argv[0]);
	free(g);
}
END_TEST

/* ---- Incremental decoder ---- */

/* Feeds buf in pieces of at most step bytes, collecting frame types. */
static size_t feed_all(const uint8_t *buf, size_t n, size_t step, int *types, uint32_t *lens)
{
	size_t off = 0, got = 0;

	while (off < n) {
		size_t len = n - off < step ? n - off : step;
		size_t used = alk_decoder_feed(&dec, buf + off, len);

		off += used;
		if (alk_decoder_ready(&dec)) {
			AlkFrameHeader h;

			ck_assert_ptr_nonnull(alk_decoder_frame(&dec, &h));
			types[got] = h.type;
			lens[got++] = h.len;
			alk_decoder_consume(&dec);
		} else {
			ck_assert_uint_eq(used, len);
		}
	}
	return got;
}

START_TEST(test_dec_split_every_boundary)
{
	long n = exec_frame(frame);
	AlkMsgExec *g = calloc(1, sizeof(*g));

	for (long cut = 0; cut <= n; cut++) {
		AlkFrameHeader h;
		const uint8_t *p;

		alk_decoder_init(&dec);
		ck_assert_uint_eq(alk_decoder_feed(&dec, frame, (size_t)cut), (size_t)cut);
		ck_assert_int_eq(alk_decoder_ready(&dec), cut == n);
		ck_assert_int_eq(alk_decoder_partial(&dec), cut > 0 && cut < n);
		ck_assert_uint_eq(alk_decoder_feed(&dec, frame + cut, (size_t)(n - cut)),
		                  (size_t)(n - cut));
		ck_assert(alk_decoder_ready(&dec));
		ck_assert(!alk_decoder_partial(&dec));
		p = alk_decoder_frame(&dec, &h);
		ck_assert_int_eq(alk_msg_exec_decode(p, h.len, g), ALK_PROTO_OK);
		ck_assert_str_eq(g->argv[2], "echo hi");
		ck_assert_uint_eq(dec.skipped, 0);
		ck_assert_uint_eq(dec.frames, 1);
	}
	free(g);
}
END_TEST

START_TEST(test_dec_byte_at_a_time)
{
	long n1 = exec_frame(stream);
	long n2 = alk_msg_empty_encode(stream + n1, 100, ALK_MSG_FILE_END, 3);
	long n3 = alk_msg_data_encode(stream + n1 + n2, 200, ALK_MSG_STDOUT, 3, "hello", 5);
	int types[8];
	uint32_t lens[8];

	alk_decoder_init(&dec);
	ck_assert_uint_eq(feed_all(stream, (size_t)(n1 + n2 + n3), 1, types, lens), 3);
	ck_assert_int_eq(types[0], ALK_MSG_EXEC);
	ck_assert_int_eq(types[1], ALK_MSG_FILE_END);
	ck_assert_uint_eq(lens[1], 0);
	ck_assert_int_eq(types[2], ALK_MSG_STDOUT);
	ck_assert_uint_eq(dec.skipped, 0);
}
END_TEST

START_TEST(test_dec_several_in_one_buffer)
{
	size_t off = 0;
	AlkFrameHeader h;
	AlkMsgSync s;
	const uint8_t *p;

	for (uint32_t i = 0; i < 10; i++)
		off += (size_t)alk_msg_sync_encode(stream + off, 100, ALK_MSG_PING, i,
		                                   &(AlkMsgSync){.nonce = i * 3});
	alk_decoder_init(&dec);
	for (uint32_t i = 0; i < 10; i++) {
		size_t used = alk_decoder_feed(&dec, stream, off);

		/* Stops at the frame boundary, and not before. */
		ck_assert_uint_eq(used, off / (10 - i));
		ck_assert(alk_decoder_ready(&dec));
		ck_assert_uint_eq(alk_decoder_feed(&dec, stream + used, off - used), 0);
		p = alk_decoder_frame(&dec, &h);
		ck_assert_int_eq(alk_msg_sync_decode(p, h.len, &s), ALK_PROTO_OK);
		ck_assert_uint_eq(h.id, i);
		ck_assert_uint_eq(s.nonce, i * 3);
		alk_decoder_consume(&dec);
		memmove(stream, stream + used, off - used);
		off -= used;
	}
	ck_assert_uint_eq(off, 0);
	ck_assert_uint_eq(dec.frames, 10);
	ck_assert(!alk_decoder_partial(&dec));
}
END_TEST

START_TEST(test_dec_garbage_between)
{
	static const size_t garbage[] = {1, 3, 19, 20, 21, 333};
	size_t off = 0, total = 0;
	int types[16];
	uint32_t lens[16];

	for (size_t i = 0; i < 6; i++) {
		fill_garbage(stream + off, garbage[i], (unsigned)i);
		off += garbage[i];
		total += garbage[i];
		off += (size_t)alk_msg_signal_encode(stream + off, 100, (uint32_t)i, 9);
	}
	fill_garbage(stream + off, 7, 99); /* trailing garbage */
	off += 7;
	total += 7;
	for (size_t step = 1; step <= off; step = step * 2 + 1) {
		alk_decoder_init(&dec);
		ck_assert_uint_eq(feed_all(stream, off, step, types, lens), 6);
		for (int i = 0; i < 6; i++)
			ck_assert_int_eq(types[i], ALK_MSG_SIGNAL);
		ck_assert_uint_eq(dec.skipped, total);
		ck_assert_uint_eq(dec.frames, 6);
		ck_assert_int_eq(dec.last_error, ALK_PROTO_E_MAGIC);
		ck_assert(!alk_decoder_partial(&dec));
	}
}
END_TEST

/* Garbage holding the magic (and prefixes of it) whose header fails. */
START_TEST(test_dec_false_magic)
{
	size_t off = 0;
	int types[4];
	uint32_t lens[4];
	long n;

	memcpy(stream, "ALK!", 4);
	fill_garbage(stream + 4, 16, 1); /* checksum will not match */
	memcpy(stream + 20, "AL", 2);    /* a magic prefix right before a frame */
	memcpy(stream + 22, "ALKALK!", 7);
	off = 29;
	n = alk_msg_signal_encode(stream + off, 100, 5, 2);
	off += (size_t)n;
	for (size_t step = 1; step <= off; step++) {
		alk_decoder_init(&dec);
		ck_assert_uint_eq(feed_all(stream, off, step, types, lens), 1);
		ck_assert_int_eq(types[0], ALK_MSG_SIGNAL);
		ck_assert_uint_eq(dec.skipped, 29);
	}
	/* Exactly the magic followed by a bad checksum: E_CRC. */
	raw_header(stream, ALK_PROTO_MAGIC, 1, ALK_MSG_PING, 0, 1, 0);
	stream[19] ^= 0xff;
	alk_decoder_init(&dec);
	ck_assert_uint_eq(alk_decoder_feed(&dec, stream, 20), 20);
	ck_assert_int_eq(dec.last_error, ALK_PROTO_E_CRC);
	ck_assert_uint_eq(dec.skipped, 20);
	ck_assert(!alk_decoder_partial(&dec));
}
END_TEST

START_TEST(test_dec_bad_headers_resync)
{
	struct {
		uint8_t version;
		uint16_t flags;
		uint32_t len;
		int want;
	} cases[] = {
	    {2, 0, 0, ALK_PROTO_E_VERSION},
	    {1, 1, 0, ALK_PROTO_E_VALUE},
	    {1, 0, ALK_PROTO_MAX_PAYLOAD + 1, ALK_PROTO_E_LENGTH},
	    {1, 0, UINT32_MAX, ALK_PROTO_E_LENGTH}, /* 4 GiB: never buffered */
	};
	int types[4];
	uint32_t lens[4];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long n;

		raw_header(stream, ALK_PROTO_MAGIC, cases[i].version, ALK_MSG_STDOUT,
		           cases[i].flags, 1, cases[i].len);
		fill_garbage(stream + 20, 50, 3); /* stands for the claimed payload */
		n = alk_msg_ack_encode(stream + 70, 100, ALK_MSG_STDIN_ACK, 2, 10);
		alk_decoder_init(&dec);
		ck_assert_uint_eq(alk_decoder_feed(&dec, stream, 20), 20);
		ck_assert_int_eq(dec.last_error, cases[i].want);
		ck_assert_uint_le(dec.have, 19);
		ck_assert_uint_eq(feed_all(stream + 20, 50 + (size_t)n, 1000, types, lens), 1);
		ck_assert_int_eq(types[0], ALK_MSG_STDIN_ACK);
		ck_assert_uint_eq(dec.skipped, 70);
	}
}
END_TEST

START_TEST(test_dec_max_payload)
{
	AlkFrameHeader h = {.type = ALK_MSG_FILE_DATA, .id = 4, .len = ALK_PROTO_MAX_PAYLOAD};
	AlkFrameHeader g;
	const uint8_t *p;

	alk_header_pack(&h, frame);
	fill_garbage(frame + ALK_PROTO_HEADER_SIZE, ALK_PROTO_MAX_PAYLOAD, 8);
	alk_decoder_init(&dec);
	ck_assert_uint_eq(alk_decoder_feed(&dec, frame, 1000), 1000);
	ck_assert(alk_decoder_partial(&dec));
	ck_assert_uint_eq(alk_decoder_feed(&dec, frame + 1000, sizeof(frame) - 1000),
	                  sizeof(frame) - 1000);
	ck_assert(alk_decoder_ready(&dec));
	p = alk_decoder_frame(&dec, &g);
	ck_assert_uint_eq(g.len, ALK_PROTO_MAX_PAYLOAD);
	ck_assert_mem_eq(p, frame + ALK_PROTO_HEADER_SIZE, ALK_PROTO_MAX_PAYLOAD);
	/* The largest frame an encoder makes fits too. */
	ck_assert_int_gt(alk_msg_data_encode(frame, sizeof(frame), ALK_MSG_FILE_DATA, 1, frame2,
	                                     ALK_PROTO_MAX_CHUNK),
	                 0);
}
END_TEST

START_TEST(test_dec_reset)
{
	long n = exec_frame(frame);
	long m = alk_msg_signal_encode(frame2, sizeof(frame2), 12, 15);
	AlkFrameHeader h;

	alk_decoder_init(&dec);
	ck_assert_uint_eq(alk_decoder_feed(&dec, frame, (size_t)n / 2), (size_t)n / 2);
	ck_assert(alk_decoder_partial(&dec));
	alk_decoder_reset(&dec);
	ck_assert(!alk_decoder_partial(&dec));
	ck_assert(!alk_decoder_ready(&dec));
	ck_assert_uint_eq(alk_decoder_feed(&dec, frame2, (size_t)m), (size_t)m);
	ck_assert(alk_decoder_ready(&dec));
	alk_decoder_frame(&dec, &h);
	ck_assert_uint_eq(h.type, ALK_MSG_SIGNAL);
	ck_assert_uint_eq(h.id, 12);
	ck_assert_uint_eq(dec.skipped, 0);
	/* Reset also drops a held frame. */
	alk_decoder_reset(&dec);
	ck_assert(!alk_decoder_ready(&dec));
	ck_assert_ptr_null(alk_decoder_frame(&dec, &h));
}
END_TEST

START_TEST(test_dec_unknown_type)
{
	AlkFrameHeader h = {.type = 99, .id = 0x01020304, .len = 5};
	AlkFrameHeader g;
	const uint8_t *p;

	alk_header_pack(&h, frame);
	memcpy(frame + ALK_PROTO_HEADER_SIZE, "\x00\x01\x02\x03\x04", 5);
	p = deliver(frame, ALK_PROTO_HEADER_SIZE + 5, &g);
	ck_assert_uint_eq(g.type, 99);
	ck_assert(!alk_proto_type_known(g.type));
	ck_assert_uint_eq(g.id, 0x01020304);
	ck_assert_uint_eq(g.len, 5);
	ck_assert_mem_eq(p, "\x00\x01\x02\x03\x04", 5);
}
END_TEST

START_TEST(test_dec_truncated_header)
{
	long n = alk_msg_empty_encode(frame, sizeof(frame), ALK_MSG_SHUTDOWN, 1);

	alk_decoder_init(&dec);
	ck_assert_uint_eq(alk_decoder_feed(&dec, frame, (size_t)n - 1), (size_t)n - 1);
	ck_assert(!alk_decoder_ready(&dec));
	ck_assert(alk_decoder_partial(&dec));
	ck_assert_ptr_null(alk_decoder_frame(&dec, NULL));
	alk_decoder_consume(&dec); /* no frame held: nothing happens */
	ck_assert(alk_decoder_partial(&dec));
	ck_assert_uint_eq(alk_decoder_feed(&dec, frame + n - 1, 1), 1);
	ck_assert(alk_decoder_ready(&dec));
	ck_assert_uint_eq(alk_decoder_feed(&dec, frame, 0), 0);
}
END_TEST

static Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc;

	tc = tcase_create("header");
	tcase_add_test(tc, test_crc_vector);
	tcase_add_test(tc, test_header_round_trip);
	tcase_add_test(tc, test_header_rejects);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("round-trip");
	tcase_add_test(tc, test_rt_hello);
	tcase_add_test(tc, test_rt_sync);
	tcase_add_test(tc, test_rt_exec);
	tcase_add_test(tc, test_rt_exec_defaults);
	tcase_add_test(tc, test_rt_exec_user);
	tcase_add_test(tc, test_rt_exec_max_counts);
	tcase_add_test(tc, test_rt_exec_tty);
	tcase_add_test(tc, test_rt_resize);
	tcase_add_test(tc, test_rt_renew);
	tcase_add_test(tc, test_rt_started);
	tcase_add_test(tc, test_rt_data);
	tcase_add_test(tc, test_rt_ack);
	tcase_add_test(tc, test_rt_signal);
	tcase_add_test(tc, test_rt_exit);
	tcase_add_test(tc, test_rt_file);
	tcase_add_test(tc, test_rt_file_put_default_mode);
	tcase_add_test(tc, test_rt_defaults_omitted);
	tcase_add_test(tc, test_rt_error);
	tcase_add_test(tc, test_rt_net_config);
	tcase_add_test(tc, test_rt_empty);
	suite_add_tcase(s, tc);

	tc = tcase_create("encode");
	tcase_add_test(tc, test_encode_short);
	tcase_add_test(tc, test_encode_length);
	tcase_add_test(tc, test_encode_invalid);
	tcase_add_test(tc, test_writer_sticky);
	suite_add_tcase(s, tc);

	tc = tcase_create("malformed");
	tcase_add_test(tc, test_bad_truncated_payload);
	tcase_add_test(tc, test_bad_field_overflow);
	tcase_add_test(tc, test_bad_unknown_tag);
	tcase_add_test(tc, test_bad_int_size);
	tcase_add_test(tc, test_bad_duplicate);
	tcase_add_test(tc, test_bad_missing);
	tcase_add_test(tc, test_bad_count);
	tcase_add_test(tc, test_bad_strings);
	tcase_add_test(tc, test_bad_exec_values);
	tcase_add_test(tc, test_bad_values);
	tcase_add_test(tc, test_bad_net_config);
	tcase_add_test(tc, test_encode_bad_net_config);
	tcase_add_test(tc, test_bad_out_untouched);
	tcase_add_test(tc, test_rt_fs_config);
	tcase_add_test(tc, test_bad_fs_config);
	suite_add_tcase(s, tc);

	tc = tcase_create("decoder");
	tcase_add_test(tc, test_dec_split_every_boundary);
	tcase_add_test(tc, test_dec_byte_at_a_time);
	tcase_add_test(tc, test_dec_several_in_one_buffer);
	tcase_add_test(tc, test_dec_garbage_between);
	tcase_add_test(tc, test_dec_false_magic);
	tcase_add_test(tc, test_dec_bad_headers_resync);
	tcase_add_test(tc, test_dec_max_payload);
	tcase_add_test(tc, test_dec_reset);
	tcase_add_test(tc, test_dec_unknown_type);
	tcase_add_test(tc, test_dec_truncated_header);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(proto_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
