/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the wire protocol codec.
 *
 * The input is a byte stream from the peer. It is fed to the incremental
 * decoder in chunks of varying size; every delivered frame (and the raw
 * input itself) goes through every message decoder, and whatever decodes is
 * re-encoded and decoded again: the result must equal the first decode, and
 * encoding it once more must give the same bytes (the encoding is canonical).
 * Build with -DALK_FUZZ=ON (clang); seeds are in tests/fuzz-corpus-seed/.
 */
#include "alk-proto.h"

#include <stdlib.h>
#include <string.h>

/* Not assert(): it must hold in release builds too. */
#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

static uint8_t out1[ALK_PROTO_MAX_FRAME];
static uint8_t out2[ALK_PROTO_MAX_FRAME];
static AlkDecoder dec;

static int str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Checks the re-encoded frame r in out1 and returns its payload. A decoded
 * payload of n bytes re-encodes to at most n bytes: defaults are left out. */
static const uint8_t *reparse(long r, int type, uint32_t id, size_t n, uint32_t *len)
{
	AlkFrameHeader h;

	if (n > ALK_PROTO_MAX_PAYLOAD && r == ALK_PROTO_E_LENGTH)
		return NULL;
	CHECK(r >= ALK_PROTO_HEADER_SIZE);
	CHECK(alk_header_unpack(out1, &h) == ALK_PROTO_OK);
	CHECK(h.type == type && h.id == id && h.flags == 0);
	CHECK((size_t)r == ALK_PROTO_HEADER_SIZE + (size_t)h.len);
	CHECK(h.len <= n);
	*len = h.len;
	return out1 + ALK_PROTO_HEADER_SIZE;
}

/* The second encoding must be byte-identical to the first. */
static void same_bytes(long r1, long r2)
{
	CHECK(r1 == r2);
	CHECK(memcmp(out1, out2, (size_t)r1) == 0);
}

static void fuzz_hello(const uint8_t *p, size_t n)
{
	AlkMsgHello a, b;
	const uint8_t *q;
	uint32_t len;
	long r;

	if (alk_msg_hello_decode(p, n, &a) != ALK_PROTO_OK)
		return;
	r = alk_msg_hello_encode(out1, sizeof(out1), &a);
	q = reparse(r, ALK_MSG_HELLO, 0, n, &len);
	if (q == NULL)
		return;
	CHECK(alk_msg_hello_decode(q, len, &b) == ALK_PROTO_OK);
	CHECK(a.version == b.version && a.caps == b.caps && a.max_payload == b.max_payload);
	CHECK(memcmp(a.nonce, b.nonce, sizeof(a.nonce)) == 0);
	CHECK(str_eq(a.agent_version, b.agent_version));
	same_bytes(r, alk_msg_hello_encode(out2, sizeof(out2), &b));
}

static void fuzz_sync(const uint8_t *p, size_t n, uint32_t id)
{
	AlkMsgSync a, b;
	const uint8_t *q;
	uint32_t len;
	long r;

	if (alk_msg_sync_decode(p, n, &a) != ALK_PROTO_OK)
		return;
	r = alk_msg_sync_encode(out1, sizeof(out1), ALK_MSG_PONG, id, &a);
	q = reparse(r, ALK_MSG_PONG, id, n, &len);
	CHECK(q != NULL);
	CHECK(alk_msg_sync_decode(q, len, &b) == ALK_PROTO_OK);
	CHECK(a.nonce == b.nonce);
	same_bytes(r, alk_msg_sync_encode(out2, sizeof(out2), ALK_MSG_PONG, id, &b));
}

static void exec_equal(const AlkMsgExec *a, const AlkMsgExec *b)
{
	CHECK(a->argc == b->argc && a->envc == b->envc && a->nrlimits == b->nrlimits);
	CHECK(a->argc >= 1 && a->argc <= ALK_PROTO_MAX_ARGS && a->envc <= ALK_PROTO_MAX_ENV);
	for (uint32_t i = 0; i < a->argc; i++)
		CHECK(str_eq(a->argv[i], b->argv[i]));
	for (uint32_t i = 0; i < a->envc; i++)
		CHECK(str_eq(a->env[i], b->env[i]) && strchr(a->env[i], '=') != NULL);
	CHECK(a->argv[a->argc] == NULL && a->env[a->envc] == NULL);
	CHECK(str_eq(a->cwd, b->cwd) && (a->cwd == NULL || a->cwd[0] == '/'));
	CHECK(a->timeout_ms == b->timeout_ms && a->output_cap == b->output_cap);
	CHECK(a->stdin_mode == b->stdin_mode && a->stdin_mode <= ALK_STDIN_PIPE);
	CHECK(a->tty == b->tty && a->rows == b->rows && a->cols == b->cols);
	CHECK(a->tty || (a->rows == 0 && a->cols == 0));
	CHECK(a->rows <= ALK_TTY_SIZE_MAX && a->cols <= ALK_TTY_SIZE_MAX);
	for (uint32_t i = 0; i < a->nrlimits; i++)
		CHECK(a->rlimits[i].resource == b->rlimits[i].resource &&
		      a->rlimits[i].value == b->rlimits[i].value);
}

static void fuzz_exec(const uint8_t *p, size_t n, uint32_t id)
{
	static AlkMsgExec a, b;
	const uint8_t *q;
	uint32_t len;
	long r;

	if (alk_msg_exec_decode(p, n, &a) != ALK_PROTO_OK)
		return;
	r = alk_msg_exec_encode(out1, sizeof(out1), id, &a);
	q = reparse(r, ALK_MSG_EXEC, id, n, &len);
	if (q == NULL)
		return;
	CHECK(alk_msg_exec_decode(q, len, &b) == ALK_PROTO_OK);
	exec_equal(&a, &b);
	same_bytes(r, alk_msg_exec_encode(out2, sizeof(out2), id, &b));
}

static void fuzz_started(const uint8_t *p, size_t n, uint32_t id)
{
	AlkMsgStarted a, b;
	const uint8_t *q;
	uint32_t len;
	long r;

	if (alk_msg_started_decode(p, n, &a) != ALK_PROTO_OK)
		return;
	r = alk_msg_started_encode(out1, sizeof(out1), id, &a);
	q = reparse(r, ALK_MSG_STARTED, id, n, &len);
	CHECK(q != NULL);
	CHECK(alk_msg_started_decode(q, len, &b) == ALK_PROTO_OK);
	CHECK(a.pid == b.pid && a.pid != 0);
	same_bytes(r, alk_msg_started_encode(out2, sizeof(out2), id, &b));
}

static void fuzz_data(const uint8_t *p, size_t n, uint32_t id)
{
	AlkMsgData a, b;
	const uint8_t *q;
	uint32_t len;
	long r;

	if (alk_msg_data_decode(p, n, &a) != ALK_PROTO_OK)
		return;
	CHECK(a.data.len <= ALK_PROTO_MAX_CHUNK);
	r = alk_msg_data_encode(out1, sizeof(out1), ALK_MSG_STDOUT, id, a.data.data, a.data.len);
	q = reparse(r, ALK_MSG_STDOUT, id, n, &len);
	CHECK(q != NULL);
	CHECK(alk_msg_data_decode(q, len, &b) == ALK_PROTO_OK);
	CHECK(a.data.len == b.data.len);
	CHECK(a.data.len == 0 || memcmp(a.data.data, b.data.data, a.data.len) == 0);
	same_bytes(r, alk_msg_data_encode(out2, sizeof(out2), ALK_MSG_STDOUT, id, b.data.data,
	                                  b.data.len));
}

static void fuzz_ack(const uint8_t *p, size_t n, uint32_t id)
{
	AlkMsgAck a, b;
	const uint8_t *q;
	uint32_t len;
	long r;

	if (alk_msg_ack_decode(p, n, &a) != ALK_PROTO_OK)
		return;
	r = alk_msg_ack_encode(out1, sizeof(out1), ALK_MSG_STDIN_ACK, id, a.bytes);
	q = reparse(r, ALK_MSG_STDIN_ACK, id, n, &len);
	CHECK(q != NULL);
	CHECK(alk_msg_ack_decode(q, len, &b) == ALK_PROTO_OK);
	CHECK(a.bytes == b.bytes);
	same_bytes(r, alk_msg_ack_encode(out2, sizeof(out2), ALK_MSG_STDIN_ACK, id, b.bytes));
}

static void fuzz_signal(const uint8_t *p, size_t n, uint32_t id)
{
	AlkMsgSignal a, b;
	const uint8_t *q;
	uint32_t len;
	long r;

	if (alk_msg_signal_decode(p, n, &a) != ALK_PROTO_OK)
		return;
	r = alk_msg_signal_encode(out1, sizeof(out1), id, a.signo);
	q = reparse(r, ALK_MSG_SIGNAL, id, n, &len);
	CHECK(q != NULL);
	CHECK(alk_msg_signal_decode(q, len, &b) == ALK_PROTO_OK);
	CHECK(a.signo == b.signo);
	same_bytes(r, alk_msg_signal_encode(out2, sizeof(out2), id, b.signo));
}

static void fuzz_exit(const uint8_t *p, size_t n, uint32_t id)
{
	AlkMsgExit a, b;
	const uint8_t *q;
	uint32_t len;
	long r;

	if (alk_msg_exit_decode(p, n, &a) != ALK_PROTO_OK)
		return;
	r = alk_msg_exit_encode(out1, sizeof(out1), id, &a);
	q = reparse(r, ALK_MSG_EXIT, id, n, &len);
	CHECK(q != NULL);
	CHECK(alk_msg_exit_decode(q, len, &b) == ALK_PROTO_OK);
	CHECK(a.exit_code == b.exit_code && a.signo == b.signo && a.timed_out == b.timed_out);
	CHECK(a.truncated == b.truncated && a.duration_ms == b.duration_ms);
	CHECK(a.max_rss_kib == b.max_rss_kib && a.stdout_bytes == b.stdout_bytes);
	CHECK(a.stderr_bytes == b.stderr_bytes);
	same_bytes(r, alk_msg_exit_encode(out2, sizeof(out2), id, &b));
}

static void fuzz_file(const uint8_t *p, size_t n, int type, uint32_t id)
{
	AlkMsgFile a, b;
	const uint8_t *q;
	uint32_t len;
	long r;

	if (alk_msg_file_decode_type(type, p, n, &a) != ALK_PROTO_OK)
		return;
	/* What a typed decode accepts, the untyped one reads the same way
	 * (FILE_GET has no mode, so the untyped default shows there). */
	CHECK(alk_msg_file_decode(p, n, &b) == ALK_PROTO_OK);
	CHECK(str_eq(a.path, b.path) && a.size == b.size && a.max_size == b.max_size);
	CHECK(a.mode == b.mode || type == ALK_MSG_FILE_GET);
	r = alk_msg_file_encode(out1, sizeof(out1), type, id, &a);
	q = reparse(r, type, id, n, &len);
	if (q == NULL)
		return;
	CHECK(alk_msg_file_decode_type(type, q, len, &b) == ALK_PROTO_OK);
	CHECK(str_eq(a.path, b.path) && a.mode == b.mode && a.size == b.size);
	CHECK(a.max_size == b.max_size);
	same_bytes(r, alk_msg_file_encode(out2, sizeof(out2), type, id, &b));
}

static void fuzz_error(const uint8_t *p, size_t n, uint32_t id)
{
	AlkMsgError a, b;
	const uint8_t *q;
	uint32_t len;
	long r;

	if (alk_msg_error_decode(p, n, &a) != ALK_PROTO_OK)
		return;
	r = alk_msg_error_encode(out1, sizeof(out1), id, a.code, a.errnum, a.message);
	q = reparse(r, ALK_MSG_ERROR, id, n, &len);
	if (q == NULL)
		return;
	CHECK(alk_msg_error_decode(q, len, &b) == ALK_PROTO_OK);
	CHECK(a.code == b.code && a.errnum == b.errnum && str_eq(a.message, b.message));
	same_bytes(r, alk_msg_error_encode(out2, sizeof(out2), id, b.code, b.errnum, b.message));
}

static void fuzz_net_config(const uint8_t *p, size_t n, uint32_t id)
{
	AlkMsgNetConfig a, b;
	const uint8_t *q;
	uint32_t len;
	long r;

	if (alk_msg_net_config_decode(p, n, &a) != ALK_PROTO_OK)
		return;
	CHECK(a.prefix_len >= ALK_NET_PREFIX_MIN && a.prefix_len <= ALK_NET_PREFIX_MAX);
	CHECK(a.mtu >= ALK_NET_MTU_MIN && a.mtu <= ALK_NET_MTU_MAX);
	r = alk_msg_net_config_encode(out1, sizeof(out1), id, &a);
	q = reparse(r, ALK_MSG_NET_CONFIG, id, n, &len);
	CHECK(q != NULL);
	CHECK(alk_msg_net_config_decode(q, len, &b) == ALK_PROTO_OK);
	CHECK(memcmp(a.mac, b.mac, sizeof(a.mac)) == 0);
	CHECK(memcmp(a.address, b.address, sizeof(a.address)) == 0);
	CHECK(memcmp(a.gateway, b.gateway, sizeof(a.gateway)) == 0);
	CHECK(memcmp(a.dns, b.dns, sizeof(a.dns)) == 0);
	CHECK(a.prefix_len == b.prefix_len && a.mtu == b.mtu);
	same_bytes(r, alk_msg_net_config_encode(out2, sizeof(out2), id, &b));
}

static void fuzz_resize(const uint8_t *p, size_t n, uint32_t id)
{
	AlkMsgResize a, b;
	const uint8_t *q;
	uint32_t len;
	long r;

	if (alk_msg_resize_decode(p, n, &a) != ALK_PROTO_OK)
		return;
	CHECK(a.rows >= ALK_TTY_SIZE_MIN && a.rows <= ALK_TTY_SIZE_MAX);
	CHECK(a.cols >= ALK_TTY_SIZE_MIN && a.cols <= ALK_TTY_SIZE_MAX);
	r = alk_msg_resize_encode(out1, sizeof(out1), id, &a);
	q = reparse(r, ALK_MSG_RESIZE, id, n, &len);
	CHECK(q != NULL);
	CHECK(alk_msg_resize_decode(q, len, &b) == ALK_PROTO_OK);
	CHECK(a.rows == b.rows && a.cols == b.cols);
	same_bytes(r, alk_msg_resize_encode(out2, sizeof(out2), id, &b));
}

/* What the agent mounts: every path passed the one rule, every read-only
 * bit names a volume that is there. */
static void fuzz_fs_config(const uint8_t *p, size_t n, uint32_t id)
{
	AlkMsgFsConfig a, b;
	const uint8_t *q;
	uint32_t len;
	long r;

	if (alk_msg_fs_config_decode(p, n, &a) != ALK_PROTO_OK)
		return;
	CHECK(a.nreadonly_paths <= ALK_FS_RO_PATHS_MAX && a.nvolumes <= ALK_FS_VOLUMES_MAX);
	for (uint32_t i = 0; i < a.nreadonly_paths; i++)
		CHECK(alk_proto_mount_path_valid(a.readonly_paths[i]));
	for (uint32_t i = 0; i < a.nvolumes; i++)
		CHECK(alk_proto_mount_path_valid(a.volumes[i]));
	CHECK((a.volumes_readonly >> a.nvolumes) == 0);
	CHECK(a.owner == NULL || alk_proto_user_valid(a.owner));
	r = alk_msg_fs_config_encode(out1, sizeof(out1), id, &a);
	q = reparse(r, ALK_MSG_FS_CONFIG, id, n, &len);
	CHECK(q != NULL);
	CHECK(alk_msg_fs_config_decode(q, len, &b) == ALK_PROTO_OK);
	CHECK(a.nreadonly_paths == b.nreadonly_paths && a.nvolumes == b.nvolumes &&
	      a.volumes_readonly == b.volumes_readonly && a.tmpfs_mib == b.tmpfs_mib);
	same_bytes(r, alk_msg_fs_config_encode(out2, sizeof(out2), id, &b));
}

static void fuzz_renew(const uint8_t *p, size_t n, uint32_t id)
{
	AlkMsgRenew a, b;
	const uint8_t *q;
	uint32_t len;
	long r;

	if (alk_msg_renew_decode(p, n, &a) != ALK_PROTO_OK)
		return;
	CHECK(a.entropy.len >= ALK_RENEW_ENTROPY_MIN && a.entropy.len <= ALK_RENEW_ENTROPY_MAX);
	CHECK(a.realtime_ns <= 999999999);
	r = alk_msg_renew_encode(out1, sizeof(out1), id, &a);
	q = reparse(r, ALK_MSG_RENEW, id, n, &len);
	CHECK(q != NULL);
	CHECK(alk_msg_renew_decode(q, len, &b) == ALK_PROTO_OK);
	CHECK(a.entropy.len == b.entropy.len &&
	      memcmp(a.entropy.data, b.entropy.data, a.entropy.len) == 0);
	CHECK(a.realtime_s == b.realtime_s && a.realtime_ns == b.realtime_ns);
	same_bytes(r, alk_msg_renew_encode(out2, sizeof(out2), id, &b));
}

static void fuzz_payload(const uint8_t *p, size_t n, uint32_t id)
{
	AlkMsgFile f;

	fuzz_hello(p, n);
	fuzz_sync(p, n, id);
	fuzz_exec(p, n, id);
	fuzz_started(p, n, id);
	fuzz_data(p, n, id);
	fuzz_ack(p, n, id);
	fuzz_signal(p, n, id);
	fuzz_exit(p, n, id);
	fuzz_file(p, n, ALK_MSG_FILE_PUT, id);
	fuzz_file(p, n, ALK_MSG_FILE_GET, id);
	fuzz_file(p, n, ALK_MSG_FILE_INFO, id);
	(void)alk_msg_file_decode(p, n, &f);
	fuzz_error(p, n, id);
	fuzz_net_config(p, n, id);
	fuzz_resize(p, n, id);
	fuzz_fs_config(p, n, id);
	fuzz_renew(p, n, id);
	CHECK((alk_msg_empty_decode(p, n) == ALK_PROTO_OK) == (n == 0));
}

static void check_frame(void)
{
	AlkFrameHeader h;
	uint8_t hdr[ALK_PROTO_HEADER_SIZE];
	const uint8_t *p = alk_decoder_frame(&dec, &h);

	CHECK(p != NULL && h.len <= ALK_PROTO_MAX_PAYLOAD && h.flags == 0);
	/* A delivered header is exactly what packing it gives back. */
	alk_header_pack(&h, hdr);
	CHECK(memcmp(hdr, dec.buf, sizeof(hdr)) == 0);
	(void)alk_proto_type_name(h.type);
	fuzz_payload(p, h.len, h.id);
}

/* Chunk sizes: small ones split headers and fields, large ones cover
 * several frames in one feed. Seeded from the input so runs reproduce. */
static size_t next_chunk(uint32_t *seed)
{
	static const size_t sizes[] = {1, 2, 3, 7, 19, 20, 21, 64, 1000, 70000};

	*seed = *seed * 1103515245u + 12345u;
	return sizes[(*seed >> 16) % (sizeof(sizes) / sizeof(sizes[0]))];
}

static void fuzz_stream(const uint8_t *data, size_t size)
{
	uint32_t seed = size > 0 ? data[0] : 0;
	uint64_t frame_bytes = 0;
	size_t off = 0;

	alk_decoder_init(&dec);
	while (off < size) {
		size_t want = next_chunk(&seed);
		size_t len = size - off < want ? size - off : want;
		size_t used = alk_decoder_feed(&dec, data + off, len);

		CHECK(used <= len && dec.have <= sizeof(dec.buf));
		off += used;
		if (!alk_decoder_ready(&dec)) {
			CHECK(used == len);
			continue;
		}
		check_frame();
		frame_bytes += ALK_PROTO_HEADER_SIZE + dec.hdr.len;
		CHECK(alk_decoder_feed(&dec, data + off, size - off) == 0);
		alk_decoder_consume(&dec);
	}
	/* Every input byte is in a frame, skipped, or still buffered. */
	CHECK(dec.skipped + frame_bytes + dec.have == size);
	CHECK(alk_decoder_partial(&dec) == (dec.have > 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_stream(data, size);
	/* Bare payloads reach the field decoders without needing a header. */
	fuzz_payload(data, size, 1);
	return 0;
}
