/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The messages of the protocol: one field table per message type and the
 * public decoders and encoders over them. docs/protocol.md lists the same
 * tags, kinds, limits and defaults: keep the two in step.
 */
#include "alk-proto-private.h"

#include <stdint.h>
#include <string.h>

static const AlkField hello_fields[] = {
    ALK_FIELD(1, ALK_K_U32, 1, AlkMsgHello, version, 1, ALK_U32_MAX),
    ALK_FIELD(2, ALK_K_U32, 1, AlkMsgHello, caps, 0, ALK_U32_MAX),
    ALK_FIELD(3, ALK_K_NONCE, 1, AlkMsgHello, nonce, 0, 0),
    ALK_FIELD_DEF(4, ALK_K_U32, 0, AlkMsgHello, max_payload, 1024, ALK_U32_MAX,
                  ALK_PROTO_MAX_PAYLOAD, NULL),
    ALK_FIELD_DEF(5, ALK_K_STR, 0, AlkMsgHello, agent_version, 0, 0, 0, ""),
    ALK_FIELD(6, ALK_K_U32, 0, AlkMsgHello, initramfs_ms, 0, ALK_U32_MAX),
    ALK_FIELD(7, ALK_K_U32, 0, AlkMsgHello, root_ms, 0, ALK_U32_MAX),
    ALK_FIELD(8, ALK_K_U32, 0, AlkMsgHello, grown_ms, 0, ALK_U32_MAX),
    ALK_FIELD(9, ALK_K_U32, 0, AlkMsgHello, init_ms, 0, ALK_U32_MAX),
    ALK_FIELD(10, ALK_K_U32, 0, AlkMsgHello, uptime_ms, 0, ALK_U32_MAX),
};

static const AlkField sync_fields[] = {
    ALK_FIELD(1, ALK_K_U64, 1, AlkMsgSync, nonce, 0, 0),
};

static const AlkField exec_fields[] = {
    ALK_REPEATED(1, ALK_K_STR, 1, ALK_PROTO_MAX_ARGS, AlkMsgExec, argv, argc),
    ALK_REPEATED(2, ALK_K_ENV, 0, ALK_PROTO_MAX_ENV, AlkMsgExec, env, envc),
    ALK_FIELD(3, ALK_K_PATH, 0, AlkMsgExec, cwd, 0, 0),
    ALK_FIELD(4, ALK_K_U32, 0, AlkMsgExec, timeout_ms, 0, ALK_U32_MAX),
    ALK_FIELD(5, ALK_K_U32, 0, AlkMsgExec, stdin_mode, ALK_STDIN_NULL, ALK_STDIN_PIPE),
    ALK_FIELD(6, ALK_K_U64, 0, AlkMsgExec, output_cap, 0, 0),
    ALK_REPEATED(7, ALK_K_RLIMIT, 0, ALK_PROTO_MAX_RLIMITS, AlkMsgExec, rlimits, nrlimits),
    ALK_FIELD(8, ALK_K_U32, 0, AlkMsgExec, out_window, 0, ALK_U32_MAX),
    ALK_FIELD(9, ALK_K_STR, 0, AlkMsgExec, user, 0, 0),
    ALK_FIELD(10, ALK_K_U32, 0, AlkMsgExec, no_new_privs, 0, 1),
    ALK_FIELD(11, ALK_K_U32, 0, AlkMsgExec, drop_caps, 0, 1),
    ALK_FIELD(12, ALK_K_U32, 0, AlkMsgExec, forbid_root, 0, 1),
    /* 13..15 reserved */
    ALK_FIELD(16, ALK_K_U32, 0, AlkMsgExec, tty, 0, 1),
    /* absent (0): the agent's ALK_TTY_ROWS/COLS_DEFAULT */
    ALK_FIELD(17, ALK_K_U32, 0, AlkMsgExec, rows, ALK_TTY_SIZE_MIN, ALK_TTY_SIZE_MAX),
    ALK_FIELD(18, ALK_K_U32, 0, AlkMsgExec, cols, ALK_TTY_SIZE_MIN, ALK_TTY_SIZE_MAX),
};

static int digits(const char *s, size_t n)
{
	if (n == 0 || n > 10)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

int alk_proto_user_valid(const char *user)
{
	const char *colon = strchr(user, ':');
	size_t n = strlen(user);

	if (n == 0 || n > ALK_PROTO_USER_MAX)
		return 0;
	if (colon != NULL)
		return digits(user, (size_t)(colon - user)) &&
		       digits(colon + 1, n - (size_t)(colon - user) - 1);
	if (digits(user, n))
		return 1;
	if (!((user[0] >= 'a' && user[0] <= 'z') || user[0] == '_'))
		return 0;
	for (size_t i = 1; i < n; i++) {
		char c = user[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* Two entries for one resource would make the result depend on order. A
 * window size means something only for a tty. */
static int exec_check(const void *m)
{
	const AlkMsgExec *e = m;

	if (!e->tty && (e->rows != 0 || e->cols != 0))
		return ALK_PROTO_E_VALUE;

	for (uint32_t i = 0; i < e->nrlimits; i++)
		for (uint32_t j = i + 1; j < e->nrlimits; j++)
			if (e->rlimits[i].resource == e->rlimits[j].resource)
				return ALK_PROTO_E_VALUE;
	if (e->user != NULL && !alk_proto_user_valid(e->user))
		return ALK_PROTO_E_VALUE;
	return ALK_PROTO_OK;
}

static const AlkField started_fields[] = {
    ALK_FIELD(1, ALK_K_U32, 1, AlkMsgStarted, pid, 1, ALK_U32_MAX),
};

static const AlkField data_fields[] = {
    ALK_FIELD(1, ALK_K_BYTES, 1, AlkMsgData, data, 0, ALK_PROTO_MAX_CHUNK),
};

static const AlkField ack_fields[] = {
    ALK_FIELD(1, ALK_K_U64, 1, AlkMsgAck, bytes, 0, 0),
};

static const AlkField signal_fields[] = {
    ALK_FIELD(1, ALK_K_U32, 1, AlkMsgSignal, signo, 1, ALK_MAX_SIGNAL),
};

static const AlkField exit_fields[] = {
    ALK_FIELD(1, ALK_K_I32, 1, AlkMsgExit, exit_code, -1, 255),
    ALK_FIELD(2, ALK_K_U32, 0, AlkMsgExit, signo, 0, ALK_MAX_SIGNAL),
    ALK_FIELD(3, ALK_K_U32, 0, AlkMsgExit, timed_out, 0, 1),
    ALK_FIELD(4, ALK_K_U32, 0, AlkMsgExit, truncated, 0, 1),
    ALK_FIELD(5, ALK_K_U64, 0, AlkMsgExit, duration_ms, 0, 0),
    ALK_FIELD(6, ALK_K_U64, 0, AlkMsgExit, max_rss_kib, 0, 0),
    ALK_FIELD(7, ALK_K_U64, 0, AlkMsgExit, stdout_bytes, 0, 0),
    ALK_FIELD(8, ALK_K_U64, 0, AlkMsgExit, stderr_bytes, 0, 0),
};

/* A process either exited (code 0..255) or was killed (-1 and a signal). */
static int exit_check(const void *m)
{
	const AlkMsgExit *e = m;

	return (e->signo != 0) == (e->exit_code == -1) ? ALK_PROTO_OK : ALK_PROTO_E_VALUE;
}

/* FILE_PUT, FILE_GET and FILE_INFO share one struct and one tag numbering;
 * each accepts only its own fields. */
static const AlkField file_put_fields[] = {
    ALK_FIELD(1, ALK_K_PATH, 1, AlkMsgFile, path, 0, 0),
    ALK_FIELD_DEF(2, ALK_K_U32, 0, AlkMsgFile, mode, 0, 07777, 0644, NULL),
    ALK_FIELD(3, ALK_K_U64, 0, AlkMsgFile, size, 0, 0),
};

static const AlkField file_get_fields[] = {
    ALK_FIELD(1, ALK_K_PATH, 1, AlkMsgFile, path, 0, 0),
    ALK_FIELD(4, ALK_K_U64, 0, AlkMsgFile, max_size, 0, 0),
    ALK_FIELD(5, ALK_K_U32, 0, AlkMsgFile, window, 0, ALK_U32_MAX),
};

static const AlkField file_info_fields[] = {
    ALK_FIELD(2, ALK_K_U32, 1, AlkMsgFile, mode, 0, ALK_U32_MAX),
    ALK_FIELD(3, ALK_K_U64, 1, AlkMsgFile, size, 0, 0),
};

/* For alk_msg_file_decode(), which is not told the type. Its defaults are
 * FILE_PUT's, so it reads every valid FILE_* payload as the typed decoder
 * does (an encoder leaves out a FILE_PUT mode of 0644). */
static const AlkField file_any_fields[] = {
    ALK_FIELD(1, ALK_K_PATH, 0, AlkMsgFile, path, 0, 0),
    ALK_FIELD_DEF(2, ALK_K_U32, 0, AlkMsgFile, mode, 0, ALK_U32_MAX, 0644, NULL),
    ALK_FIELD(3, ALK_K_U64, 0, AlkMsgFile, size, 0, 0),
    ALK_FIELD(4, ALK_K_U64, 0, AlkMsgFile, max_size, 0, 0),
    ALK_FIELD(5, ALK_K_U32, 0, AlkMsgFile, window, 0, ALK_U32_MAX),
};

static const AlkField error_fields[] = {
    ALK_FIELD(1, ALK_K_U32, 1, AlkMsgError, code, ALK_ERR_PROTOCOL, ALK_ERR_WINDOW),
    ALK_FIELD(2, ALK_K_U32, 0, AlkMsgError, errnum, 0, ALK_U32_MAX),
    ALK_FIELD_DEF(3, ALK_K_STR, 0, AlkMsgError, message, 0, 0, 0, ""),
};

#define ALK_OCTETS(t, req, member, size)                                                           \
	ALK_FIELD(t, ALK_K_OCTETS, req, AlkMsgNetConfig, member, size, size)

static const AlkField net_config_fields[] = {
    ALK_OCTETS(1, 1, mac, ALK_PROTO_MAC_SIZE),
    ALK_OCTETS(2, 1, address, ALK_PROTO_IPV4_SIZE),
    ALK_FIELD(3, ALK_K_U32, 1, AlkMsgNetConfig, prefix_len, ALK_NET_PREFIX_MIN, ALK_NET_PREFIX_MAX),
    ALK_OCTETS(4, 0, gateway, ALK_PROTO_IPV4_SIZE),
    ALK_OCTETS(5, 0, dns, ALK_PROTO_IPV4_SIZE),
    ALK_FIELD(6, ALK_K_U32, 1, AlkMsgNetConfig, mtu, ALK_NET_MTU_MIN, ALK_NET_MTU_MAX),
};

static const AlkField resize_fields[] = {
    ALK_FIELD(1, ALK_K_U32, 1, AlkMsgResize, rows, ALK_TTY_SIZE_MIN, ALK_TTY_SIZE_MAX),
    ALK_FIELD(2, ALK_K_U32, 1, AlkMsgResize, cols, ALK_TTY_SIZE_MIN, ALK_TTY_SIZE_MAX),
};

static const AlkField fs_config_fields[] = {
    ALK_FIELD(1, ALK_K_U32, 0, AlkMsgFsConfig, root_readonly, 0, 1),
    ALK_FIELD(2, ALK_K_U32, 0, AlkMsgFsConfig, tmpfs_mib, 0, ALK_FS_TMPFS_MIB_MAX),
    ALK_FIELD(3, ALK_K_U32, 0, AlkMsgFsConfig, workspace, 0, 1),
    ALK_FIELD(4, ALK_K_STR, 0, AlkMsgFsConfig, owner, 0, 0),
    ALK_REPEATED(5, ALK_K_PATH, 0, ALK_FS_RO_PATHS_MAX, AlkMsgFsConfig, readonly_paths,
                 nreadonly_paths),
    ALK_REPEATED(6, ALK_K_PATH, 0, ALK_FS_VOLUMES_MAX, AlkMsgFsConfig, volumes, nvolumes),
    ALK_FIELD(7, ALK_K_U32, 0, AlkMsgFsConfig, volumes_readonly, 0, (1u << ALK_FS_VOLUMES_MAX) - 1),
};

static int prefix_is(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

int alk_proto_mount_path_valid(const char *path)
{
	size_t n = strlen(path);

	if (n < 2 || n > ALK_FS_PATH_MAX || path[0] != '/' || path[n - 1] == '/')
		return 0;
	for (const char *c = path; *c != '\0';) {
		const char *next = strchr(c + 1, '/');
		size_t len = next ? (size_t)(next - c - 1) : strlen(c + 1);

		/* c points at a '/': the component is c+1 .. c+len */
		if (len == 0 || (len == 1 && c[1] == '.') ||
		    (len == 2 && c[1] == '.' && c[2] == '.'))
			return 0;
		if (next == NULL)
			break;
		c = next;
	}
	return !prefix_is(path, "/proc") && !prefix_is(path, "/sys") && !prefix_is(path, "/dev");
}

static int fs_config_check(const void *m)
{
	const AlkMsgFsConfig *c = m;

	if (c->owner != NULL && !alk_proto_user_valid(c->owner))
		return ALK_PROTO_E_VALUE;
	for (uint32_t i = 0; i < c->nreadonly_paths; i++)
		if (!alk_proto_mount_path_valid(c->readonly_paths[i]))
			return ALK_PROTO_E_VALUE;
	for (uint32_t i = 0; i < c->nvolumes; i++)
		if (!alk_proto_mount_path_valid(c->volumes[i]))
			return ALK_PROTO_E_VALUE;
	/* a bit for a volume that is not there */
	if ((c->volumes_readonly >> c->nvolumes) != 0)
		return ALK_PROTO_E_VALUE;
	return ALK_PROTO_OK;
}

static const AlkField renew_fields[] = {
    ALK_FIELD(1, ALK_K_BYTES, 1, AlkMsgRenew, entropy, 0, ALK_RENEW_ENTROPY_MAX),
    ALK_FIELD(2, ALK_K_U64, 1, AlkMsgRenew, realtime_s, 0, 0),
    ALK_FIELD(3, ALK_K_U32, 1, AlkMsgRenew, realtime_ns, 0, 999999999),
};

/* Too little entropy would make the reseed a formality. */
static int renew_check(const void *m)
{
	const AlkMsgRenew *r = m;

	return r->entropy.len >= ALK_RENEW_ENTROPY_MIN ? ALK_PROTO_OK : ALK_PROTO_E_VALUE;
}

static uint32_t ipv4(const uint8_t a[ALK_PROTO_IPV4_SIZE])
{
	return get_be32(a);
}

/* Not 0.0.0.0/8, loopback, multicast or reserved: what a peer can be. */
static int ipv4_unicast(uint32_t a)
{
	uint8_t first = (uint8_t)(a >> 24);

	return first != 0 && first != 127 && first < 224;
}

/* A host of the subnet: unicast, neither its network nor its broadcast
 * address. */
static int ipv4_host(uint32_t a, uint32_t prefix_len)
{
	uint32_t host_mask = UINT32_MAX >> prefix_len;

	return ipv4_unicast(a) && (a & host_mask) != 0 && (a & host_mask) != host_mask;
}

/* Catches what the kernel would refuse halfway through the guest's setup:
 * a gateway off the subnet has no route (ENETUNREACH). */
static int net_config_check(const void *m)
{
	const AlkMsgNetConfig *c = m;
	uint32_t addr = ipv4(c->address), gw = ipv4(c->gateway), dns = ipv4(c->dns);
	uint32_t net_mask = ~(UINT32_MAX >> c->prefix_len);
	static const uint8_t zero_mac[ALK_PROTO_MAC_SIZE];

	if ((c->mac[0] & 1) != 0 || memcmp(c->mac, zero_mac, sizeof(zero_mac)) == 0)
		return ALK_PROTO_E_VALUE; /* multicast or unset */
	if (!ipv4_host(addr, c->prefix_len))
		return ALK_PROTO_E_VALUE;
	if (gw != 0 &&
	    (!ipv4_host(gw, c->prefix_len) || gw == addr || (gw & net_mask) != (addr & net_mask)))
		return ALK_PROTO_E_VALUE;
	if (dns != 0 && !ipv4_unicast(dns))
		return ALK_PROTO_E_VALUE;
	return ALK_PROTO_OK;
}

static const AlkSchema hello_schema = ALK_SCHEMA(hello_fields, AlkMsgHello, NULL);
static const AlkSchema sync_schema = ALK_SCHEMA(sync_fields, AlkMsgSync, NULL);
static const AlkSchema exec_schema = ALK_SCHEMA(exec_fields, AlkMsgExec, exec_check);
static const AlkSchema started_schema = ALK_SCHEMA(started_fields, AlkMsgStarted, NULL);
static const AlkSchema data_schema = ALK_SCHEMA(data_fields, AlkMsgData, NULL);
static const AlkSchema ack_schema = ALK_SCHEMA(ack_fields, AlkMsgAck, NULL);
static const AlkSchema signal_schema = ALK_SCHEMA(signal_fields, AlkMsgSignal, NULL);
static const AlkSchema exit_schema = ALK_SCHEMA(exit_fields, AlkMsgExit, exit_check);
static const AlkSchema file_put_schema = ALK_SCHEMA(file_put_fields, AlkMsgFile, NULL);
static const AlkSchema file_get_schema = ALK_SCHEMA(file_get_fields, AlkMsgFile, NULL);
static const AlkSchema file_info_schema = ALK_SCHEMA(file_info_fields, AlkMsgFile, NULL);
static const AlkSchema file_any_schema = ALK_SCHEMA(file_any_fields, AlkMsgFile, NULL);
static const AlkSchema error_schema = ALK_SCHEMA(error_fields, AlkMsgError, NULL);
static const AlkSchema resize_schema = ALK_SCHEMA(resize_fields, AlkMsgResize, NULL);
static const AlkSchema fs_config_schema =
    ALK_SCHEMA(fs_config_fields, AlkMsgFsConfig, fs_config_check);
static const AlkSchema renew_schema = ALK_SCHEMA(renew_fields, AlkMsgRenew, renew_check);
static const AlkSchema net_config_schema =
    ALK_SCHEMA(net_config_fields, AlkMsgNetConfig, net_config_check);

int alk_msg_hello_decode(const uint8_t *p, size_t n, AlkMsgHello *m)
{
	return alk_schema_decode_into(&hello_schema, p, n, m);
}

int alk_msg_sync_decode(const uint8_t *p, size_t n, AlkMsgSync *m)
{
	return alk_schema_decode_into(&sync_schema, p, n, m);
}

int alk_msg_exec_decode(const uint8_t *p, size_t n, AlkMsgExec *m)
{
	return alk_schema_decode_into(&exec_schema, p, n, m);
}

int alk_msg_started_decode(const uint8_t *p, size_t n, AlkMsgStarted *m)
{
	return alk_schema_decode_into(&started_schema, p, n, m);
}

int alk_msg_data_decode(const uint8_t *p, size_t n, AlkMsgData *m)
{
	return alk_schema_decode_into(&data_schema, p, n, m);
}

int alk_msg_ack_decode(const uint8_t *p, size_t n, AlkMsgAck *m)
{
	return alk_schema_decode_into(&ack_schema, p, n, m);
}

int alk_msg_signal_decode(const uint8_t *p, size_t n, AlkMsgSignal *m)
{
	return alk_schema_decode_into(&signal_schema, p, n, m);
}

int alk_msg_exit_decode(const uint8_t *p, size_t n, AlkMsgExit *m)
{
	return alk_schema_decode_into(&exit_schema, p, n, m);
}

int alk_msg_file_decode(const uint8_t *p, size_t n, AlkMsgFile *m)
{
	return alk_schema_decode_into(&file_any_schema, p, n, m);
}

static const AlkSchema *file_schema(int type)
{
	switch (type) {
	case ALK_MSG_FILE_PUT:
		return &file_put_schema;
	case ALK_MSG_FILE_GET:
		return &file_get_schema;
	case ALK_MSG_FILE_INFO:
		return &file_info_schema;
	default:
		return NULL;
	}
}

int alk_msg_file_decode_type(int type, const uint8_t *p, size_t n, AlkMsgFile *m)
{
	const AlkSchema *s = file_schema(type);

	return s ? alk_schema_decode_into(s, p, n, m) : ALK_PROTO_E_TYPE;
}

int alk_msg_error_decode(const uint8_t *p, size_t n, AlkMsgError *m)
{
	return alk_schema_decode_into(&error_schema, p, n, m);
}

int alk_msg_net_config_decode(const uint8_t *p, size_t n, AlkMsgNetConfig *m)
{
	return alk_schema_decode_into(&net_config_schema, p, n, m);
}

int alk_msg_resize_decode(const uint8_t *p, size_t n, AlkMsgResize *m)
{
	return alk_schema_decode_into(&resize_schema, p, n, m);
}

int alk_msg_renew_decode(const uint8_t *p, size_t n, AlkMsgRenew *m)
{
	return alk_schema_decode_into(&renew_schema, p, n, m);
}

int alk_msg_fs_config_decode(const uint8_t *p, size_t n, AlkMsgFsConfig *m)
{
	return alk_schema_decode_into(&fs_config_schema, p, n, m);
}

int alk_msg_empty_decode(const uint8_t *p, size_t n)
{
	(void)p;
	return n == 0 ? ALK_PROTO_OK : ALK_PROTO_E_FIELD;
}

long alk_msg_hello_encode(uint8_t *out, size_t cap, const AlkMsgHello *m)
{
	return alk_schema_encode(out, cap, ALK_MSG_HELLO, 0, &hello_schema, m);
}

long alk_msg_sync_encode(uint8_t *out, size_t cap, int type, uint32_t id, const AlkMsgSync *m)
{
	if (type != ALK_MSG_SYNC && type != ALK_MSG_SYNC_ACK && type != ALK_MSG_PING &&
	    type != ALK_MSG_PONG)
		return ALK_PROTO_E_TYPE;
	return alk_schema_encode(out, cap, type, id, &sync_schema, m);
}

long alk_msg_exec_encode(uint8_t *out, size_t cap, uint32_t id, const AlkMsgExec *m)
{
	return alk_schema_encode(out, cap, ALK_MSG_EXEC, id, &exec_schema, m);
}

long alk_msg_started_encode(uint8_t *out, size_t cap, uint32_t id, const AlkMsgStarted *m)
{
	return alk_schema_encode(out, cap, ALK_MSG_STARTED, id, &started_schema, m);
}

long alk_msg_data_encode(uint8_t *out, size_t cap, int type, uint32_t id, const void *data,
                         size_t len)
{
	AlkMsgData m = {.data = {.data = data, .len = (uint32_t)len}};

	if (type != ALK_MSG_STDIN && type != ALK_MSG_STDOUT && type != ALK_MSG_STDERR &&
	    type != ALK_MSG_FILE_DATA)
		return ALK_PROTO_E_TYPE;
	if (len > ALK_PROTO_MAX_PAYLOAD)
		return ALK_PROTO_E_LENGTH;
	return alk_schema_encode(out, cap, type, id, &data_schema, &m);
}

long alk_msg_ack_encode(uint8_t *out, size_t cap, int type, uint32_t id, uint64_t bytes)
{
	AlkMsgAck m = {.bytes = bytes};

	if (type != ALK_MSG_STDIN_ACK && type != ALK_MSG_OK && type != ALK_MSG_CREDIT)
		return ALK_PROTO_E_TYPE;
	return alk_schema_encode(out, cap, type, id, &ack_schema, &m);
}

long alk_msg_signal_encode(uint8_t *out, size_t cap, uint32_t id, uint32_t signo)
{
	AlkMsgSignal m = {.signo = signo};

	return alk_schema_encode(out, cap, ALK_MSG_SIGNAL, id, &signal_schema, &m);
}

long alk_msg_exit_encode(uint8_t *out, size_t cap, uint32_t id, const AlkMsgExit *m)
{
	return alk_schema_encode(out, cap, ALK_MSG_EXIT, id, &exit_schema, m);
}

long alk_msg_file_encode(uint8_t *out, size_t cap, int type, uint32_t id, const AlkMsgFile *m)
{
	const AlkSchema *s = file_schema(type);

	if (s == NULL)
		return ALK_PROTO_E_TYPE;
	return alk_schema_encode(out, cap, type, id, s, m);
}

long alk_msg_error_encode(uint8_t *out, size_t cap, uint32_t id, uint32_t code, uint32_t errnum,
                          const char *message)
{
	AlkMsgError m = {.code = code, .errnum = errnum, .message = message};

	return alk_schema_encode(out, cap, ALK_MSG_ERROR, id, &error_schema, &m);
}

long alk_msg_net_config_encode(uint8_t *out, size_t cap, uint32_t id, const AlkMsgNetConfig *m)
{
	return alk_schema_encode(out, cap, ALK_MSG_NET_CONFIG, id, &net_config_schema, m);
}

long alk_msg_resize_encode(uint8_t *out, size_t cap, uint32_t id, const AlkMsgResize *m)
{
	return alk_schema_encode(out, cap, ALK_MSG_RESIZE, id, &resize_schema, m);
}

long alk_msg_renew_encode(uint8_t *out, size_t cap, uint32_t id, const AlkMsgRenew *m)
{
	return alk_schema_encode(out, cap, ALK_MSG_RENEW, id, &renew_schema, m);
}

long alk_msg_fs_config_encode(uint8_t *out, size_t cap, uint32_t id, const AlkMsgFsConfig *m)
{
	return alk_schema_encode(out, cap, ALK_MSG_FS_CONFIG, id, &fs_config_schema, m);
}

long alk_msg_empty_encode(uint8_t *out, size_t cap, int type, uint32_t id)
{
	AlkFrameHeader h = {.type = (uint8_t)type, .flags = 0, .id = id, .len = 0};

	if (type != ALK_MSG_STDIN_EOF && type != ALK_MSG_FILE_END && type != ALK_MSG_SHUTDOWN)
		return ALK_PROTO_E_TYPE;
	if (cap < ALK_PROTO_HEADER_SIZE)
		return ALK_PROTO_E_SHORT;
	alk_header_pack(&h, out);
	return ALK_PROTO_HEADER_SIZE;
}
