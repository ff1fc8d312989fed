/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The airlock host <-> guest wire protocol: frame codec and typed messages.
 *
 * Plain C17, no GLib, no allocation: it is compiled into both the daemon and
 * the static guest agent. docs/protocol.md is the byte-level specification;
 * keep the two in step.
 *
 * A frame is a 20-byte header followed by a payload of at most
 * ALK_PROTO_MAX_PAYLOAD bytes. The payload is a sequence of typed fields
 * (tag u16, length u32, value). All integers are big-endian.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define ALK_PROTO_MAGIC 0x414c4b21u /* "ALK!" */
#define ALK_PROTO_VERSION 1
#define ALK_PROTO_HEADER_SIZE 20
#define ALK_PROTO_FIELD_HEADER_SIZE 6
#define ALK_PROTO_MAX_PAYLOAD 65536u
/* Largest data chunk a sender puts in one STDOUT/STDERR/STDIN/FILE_DATA
 * frame; leaves room for the field header. */
#define ALK_PROTO_MAX_CHUNK 32768u
#define ALK_PROTO_NONCE_SIZE 16
#define ALK_PROTO_MAX_ARGS 256
#define ALK_PROTO_MAX_ENV 256
#define ALK_PROTO_MAX_RLIMITS 8
#define ALK_PROTO_MAC_SIZE 6
#define ALK_PROTO_IPV4_SIZE 4
/* NET_CONFIG limits */
#define ALK_NET_PREFIX_MIN 1
#define ALK_NET_PREFIX_MAX 30
#define ALK_NET_MTU_MIN 576
#define ALK_NET_MTU_MAX 9000
/* FS_CONFIG limits */
#define ALK_FS_TMPFS_MIB_MAX 65536u /* each of /tmp, /run, /var/tmp */
#define ALK_FS_RO_PATHS_MAX 16
#define ALK_FS_PATH_MAX 255 /* bytes of one mount path */
/* The virtio serial numbers of the extra disks, as /sys/block/vdX/serial. */
#define ALK_FS_WORKSPACE_SERIAL "alk-workspace"
#define ALK_FS_WORKSPACE_PATH "/workspace"
/* named volumes: the i-th has serial "alk-vol<i>" */
#define ALK_FS_VOLUMES_MAX 8
#define ALK_FS_VOLUME_SERIAL "alk-vol%u"
/* A tty exec's window size (EXEC, RESIZE), in character cells. */
#define ALK_TTY_SIZE_MIN 1
#define ALK_TTY_SIZE_MAX 1000
#define ALK_TTY_ROWS_DEFAULT 24
/* RENEW: entropy a host sends a restored clone, in bytes */
#define ALK_RENEW_ENTROPY_MIN 32
#define ALK_RENEW_ENTROPY_MAX 512
#define ALK_TTY_COLS_DEFAULT 80
/* Bytes of STDIN a host may send for one exec before the agent has
 * acknowledged them with STDIN_ACK. */
#define ALK_PROTO_STDIN_WINDOW (256u * 1024u)
/* The output window a host asks for in EXEC and FILE_GET (section 7.2):
 * bytes of STDOUT+STDERR (or FILE_DATA) the agent may send for one request
 * beyond what the host has granted with CREDIT. */
#define ALK_PROTO_OUTPUT_WINDOW (256u * 1024u)
/* A frame whose header arrived must be complete within this time. */
#define ALK_PROTO_READ_DEADLINE_MS 5000u

/* Capability bits announced in HELLO. */
#define ALK_CAP_EXEC (1u << 0)
#define ALK_CAP_FILES (1u << 1)
#define ALK_CAP_SIGNAL (1u << 2)
#define ALK_CAP_SHUTDOWN (1u << 3)
#define ALK_CAP_NET (1u << 4)    /* understands NET_CONFIG */
#define ALK_CAP_CREDIT (1u << 5) /* honours out_window/window and CREDIT */
#define ALK_CAP_PTY (1u << 6)    /* EXEC tty, RESIZE */
#define ALK_CAP_FS (1u << 7)     /* understands FS_CONFIG */
#define ALK_CAP_RENEW (1u << 8)  /* RENEW: a restored clone's new identity */

typedef enum {
	ALK_MSG_HELLO = 1,       /* agent -> host, id 0 */
	ALK_MSG_SYNC = 2,        /* host -> agent */
	ALK_MSG_SYNC_ACK = 3,    /* agent -> host */
	ALK_MSG_PING = 4,        /* host -> agent */
	ALK_MSG_PONG = 5,        /* agent -> host */
	ALK_MSG_EXEC = 6,        /* host -> agent, new request id */
	ALK_MSG_STARTED = 7,     /* agent -> host: exec has a pid */
	ALK_MSG_STDIN = 8,       /* host -> agent */
	ALK_MSG_STDIN_EOF = 9,   /* host -> agent */
	ALK_MSG_STDIN_ACK = 10,  /* agent -> host: stdin bytes consumed */
	ALK_MSG_STDOUT = 11,     /* agent -> host */
	ALK_MSG_STDERR = 12,     /* agent -> host */
	ALK_MSG_SIGNAL = 13,     /* host -> agent */
	ALK_MSG_EXIT = 14,       /* agent -> host, ends an exec */
	ALK_MSG_FILE_PUT = 15,   /* host -> agent, new request id */
	ALK_MSG_FILE_GET = 16,   /* host -> agent, new request id */
	ALK_MSG_FILE_INFO = 17,  /* agent -> host: reply to FILE_GET */
	ALK_MSG_FILE_DATA = 18,  /* either way */
	ALK_MSG_FILE_END = 19,   /* either way: no more FILE_DATA */
	ALK_MSG_OK = 20,         /* agent -> host: FILE_PUT / NET_CONFIG done */
	ALK_MSG_ERROR = 21,      /* either way, ends a request */
	ALK_MSG_SHUTDOWN = 22,   /* host -> agent: power off */
	ALK_MSG_NET_CONFIG = 23, /* host -> agent, new request id */
	ALK_MSG_CREDIT = 24,     /* host -> agent: output bytes taken so far */
	ALK_MSG_RESIZE = 25,     /* host -> agent: a tty exec's window size */
	ALK_MSG_FS_CONFIG = 26,  /* host -> agent, new request id: mounts, once per boot */
	/* 27-29: reserved */
	ALK_MSG_RENEW = 30, /* host -> agent, new request id: entropy, clock, new nonce */
	/* 31-33: reserved for restore */
	ALK_MSG_TYPE_MAX = 30,
} AlkMsgType;

/* Error codes carried by ERROR. */
typedef enum {
	ALK_ERR_PROTOCOL = 1, /* malformed frame or message */
	ALK_ERR_UNKNOWN_TYPE = 2,
	ALK_ERR_BAD_REQUEST = 3, /* well-formed but invalid arguments */
	ALK_ERR_NOT_FOUND = 4,   /* no such request id / file */
	ALK_ERR_BUSY = 5,        /* too many requests in flight */
	ALK_ERR_IO = 6,          /* errno-style failure, see errno field */
	ALK_ERR_TOO_LARGE = 7,   /* size limit exceeded */
	ALK_ERR_CANCELLED = 8,   /* cancelled by SYNC or shutdown */
	ALK_ERR_WINDOW = 9,      /* stdin sent beyond the window */
} AlkErrCode;

/* Status codes of the codec itself (negative) */
typedef enum {
	ALK_PROTO_OK = 0,
	ALK_PROTO_E_SHORT = -1, /* buffer too small / message truncated */
	ALK_PROTO_E_MAGIC = -2,
	ALK_PROTO_E_VERSION = -3,
	ALK_PROTO_E_TYPE = -4,      /* unknown message type */
	ALK_PROTO_E_LENGTH = -5,    /* payload length over the maximum */
	ALK_PROTO_E_CRC = -6,       /* header checksum mismatch */
	ALK_PROTO_E_FIELD = -7,     /* field overruns payload, unknown tag, bad size */
	ALK_PROTO_E_MISSING = -8,   /* required field absent */
	ALK_PROTO_E_DUPLICATE = -9, /* non-repeated field twice */
	ALK_PROTO_E_STRING = -10,   /* string not NUL-terminated or has inner NUL */
	ALK_PROTO_E_COUNT = -11,    /* too many repeated fields */
	ALK_PROTO_E_VALUE = -12,    /* value out of range */
} AlkProtoStatus;

const char *alk_proto_strerror(int status);
const char *alk_proto_type_name(int type);
int alk_proto_type_known(int type);
/* CRC-32 (IEEE 802.3, as zlib's crc32()); start with crc = 0. Exposed so
 * tests and tools can build headers by hand. */
uint32_t alk_proto_crc32(uint32_t crc, const void *data, size_t len);

/* ---- Frame header ---- */

typedef struct {
	uint8_t type;
	uint16_t flags;
	uint32_t id;
	uint32_t len; /* payload length */
} AlkFrameHeader;

/* Writes 20 bytes. */
void alk_header_pack(const AlkFrameHeader *h, uint8_t out[ALK_PROTO_HEADER_SIZE]);
/* Validates magic, version, checksum and length: what framing needs. The
 * type is not checked here, so that a well-framed frame of an unknown type
 * can be answered with ERROR(ALK_ERR_UNKNOWN_TYPE) under its request id:
 * use alk_proto_type_known(). Flags are reserved and must be 0 in version 1
 * (ALK_PROTO_E_VALUE). */
int alk_header_unpack(const uint8_t in[ALK_PROTO_HEADER_SIZE], AlkFrameHeader *h);

/* ---- Incremental decoder ----
 *
 * Owns a fixed buffer of header + maximum payload: it never grows. Feed it
 * bytes as they arrive; it consumes only what it can use and returns how many
 * bytes it took. After garbage (bad magic, version, checksum, flags or
 * length) it drops one byte and hunts for the next magic, counting what it
 * skipped. Frames of unknown type are delivered: the receiver rejects them. */

typedef enum {
	ALK_DEC_NEED_MORE = 0,
	ALK_DEC_FRAME = 1, /* a complete frame is ready: alk_decoder_frame() */
} AlkDecState;

typedef struct {
	uint8_t buf[ALK_PROTO_HEADER_SIZE + ALK_PROTO_MAX_PAYLOAD];
	size_t have;        /* bytes in buf */
	int state;          /* AlkDecState */
	AlkFrameHeader hdr; /* valid when have >= header size */
	uint64_t skipped;   /* garbage bytes dropped, total */
	int last_error;     /* reason of the latest resync, AlkProtoStatus */
	uint64_t frames;    /* complete frames, total */
} AlkDecoder;

void alk_decoder_init(AlkDecoder *d);
/* Takes bytes from data; returns how many were consumed (may be < len when a
 * frame completed: call again after alk_decoder_consume()). */
size_t alk_decoder_feed(AlkDecoder *d, const uint8_t *data, size_t len);
/* Non-zero when a complete frame is held. */
int alk_decoder_ready(const AlkDecoder *d);
/* The held frame: header and payload pointer (valid until the next
 * feed/consume/reset). */
const uint8_t *alk_decoder_frame(const AlkDecoder *d, AlkFrameHeader *h);
/* Drops the held frame. */
void alk_decoder_consume(AlkDecoder *d);
/* Drops a partial frame, e.g. after the read deadline or a reconnect. */
void alk_decoder_reset(AlkDecoder *d);
/* Non-zero when part of a frame is buffered (the read deadline applies). */
int alk_decoder_partial(const AlkDecoder *d);

/* ---- Payload encoding ---- */

typedef struct {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int error; /* sticky ALK_PROTO_E_SHORT once something did not fit */
} AlkWriter;

/* buf NULL: nothing is written, len only counts (cap is ignored). */
void alk_writer_init(AlkWriter *w, uint8_t *buf, size_t cap);
void alk_put_u32(AlkWriter *w, uint16_t tag, uint32_t v);
void alk_put_u64(AlkWriter *w, uint16_t tag, uint64_t v);
void alk_put_i32(AlkWriter *w, uint16_t tag, int32_t v);
void alk_put_bytes(AlkWriter *w, uint16_t tag, const void *data, size_t len);
/* Writes s with its terminating NUL. */
void alk_put_str(AlkWriter *w, uint16_t tag, const char *s);

/* ---- Messages ----
 *
 * Decoding never copies: strings and byte ranges point into the payload,
 * which must outlive the message struct. Strings are NUL-terminated on the
 * wire, so they are usable as C strings in place. */

typedef struct {
	const uint8_t *data;
	uint32_t len;
} AlkBytes;

typedef struct {
	uint32_t version;
	uint32_t caps;
	uint8_t nonce[ALK_PROTO_NONCE_SIZE];
	uint32_t max_payload;
	const char *agent_version;
	/* The guest's boot, in ms of its CLOCK_BOOTTIME (0: unknown): when the
	 * initramfs's /init started, when it had the root mounted, when the
	 * root was grown, when the agent started, and when this HELLO left. */
	uint32_t initramfs_ms;
	uint32_t root_ms;
	uint32_t grown_ms;
	uint32_t init_ms;
	uint32_t uptime_ms;
} AlkMsgHello;

typedef struct {
	uint64_t nonce;
} AlkMsgSync; /* SYNC, SYNC_ACK, PING, PONG */

typedef struct {
	uint32_t resource; /* RLIMIT_* number */
	uint64_t value;    /* soft = hard = value; UINT64_MAX = unlimited */
} AlkRlimit;

#define ALK_STDIN_NULL 0 /* stdin is /dev/null */
#define ALK_STDIN_PIPE 1 /* stdin fed by STDIN/STDIN_EOF */

typedef struct {
	const char *argv[ALK_PROTO_MAX_ARGS + 1]; /* NULL-terminated */
	uint32_t argc;
	const char *env[ALK_PROTO_MAX_ENV + 1]; /* "K=V", NULL-terminated */
	uint32_t envc;
	const char *cwd;     /* NULL: "/" */
	uint32_t timeout_ms; /* 0: none */
	uint32_t stdin_mode; /* ALK_STDIN_* */
	uint64_t output_cap; /* bytes of stdout+stderr forwarded; 0: no cap */
	AlkRlimit rlimits[ALK_PROTO_MAX_RLIMITS];
	uint32_t nrlimits;
	uint32_t out_window;   /* 0: none; else output bytes beyond the host's CREDIT */
	const char *user;      /* NULL: root; a name in the guest's /etc/passwd, or UID[:GID] */
	uint32_t no_new_privs; /* 0/1: PR_SET_NO_NEW_PRIVS before exec */
	uint32_t drop_caps;    /* 0/1: empty capability sets (for a root exec) */
	uint32_t forbid_root;  /* 0/1: refuse when user resolves to uid 0 in the guest */
	uint32_t tty;  /* 0/1: stdin, stdout and stderr are a pseudo-terminal (ALK_CAP_PTY) */
	uint32_t rows; /* tty: initial window size, ALK_TTY_SIZE_MIN..MAX; 0: the default */
	uint32_t cols;
} AlkMsgExec;

/* A user name for EXEC's user: [a-z_][a-z0-9_-]{0,31} (Debian's
 * useradd), or digits for a uid, with :digits for a gid. */
#define ALK_PROTO_USER_MAX 32
int alk_proto_user_valid(const char *user);

typedef struct {
	uint32_t rows; /* ALK_TTY_SIZE_MIN..MAX */
	uint32_t cols;
} AlkMsgResize;

/* RENEW (section 7.8): sent once to a sandbox restored from a template's
 * saved memory, whose agent, clock and random pool are the template's. */
typedef struct {
	AlkBytes entropy;     /* ALK_RENEW_ENTROPY_MIN..MAX bytes for the guest's pool */
	uint64_t realtime_s;  /* the host's CLOCK_REALTIME */
	uint32_t realtime_ns; /* 0..999999999 */
} AlkMsgRenew;

typedef struct {
	uint32_t pid;
} AlkMsgStarted;

typedef struct {
	AlkBytes data;
} AlkMsgData; /* STDIN, STDOUT, STDERR, FILE_DATA */

typedef struct {
	uint64_t bytes;
} AlkMsgAck; /* STDIN_ACK (bytes consumed), OK (bytes written), CREDIT (bytes taken) */

typedef struct {
	uint32_t signo;
} AlkMsgSignal;

typedef struct {
	int32_t exit_code;  /* -1 when killed by a signal */
	uint32_t signo;     /* 0 unless killed by a signal */
	uint32_t timed_out; /* 0/1 */
	uint32_t truncated; /* 0/1: output went over the cap */
	uint64_t duration_ms;
	uint64_t max_rss_kib;
	uint64_t stdout_bytes; /* produced by the process, forwarded or not */
	uint64_t stderr_bytes;
} AlkMsgExit;

typedef struct {
	const char *path;  /* absolute */
	uint32_t mode;     /* FILE_PUT: permission bits; FILE_INFO: st_mode bits */
	uint64_t size;     /* FILE_PUT: announced size; FILE_INFO: file size */
	uint64_t max_size; /* FILE_GET: refuse files larger than this; 0: none */
	uint32_t window;   /* FILE_GET: 0: none; else bytes beyond the host's CREDIT */
} AlkMsgFile;              /* FILE_PUT, FILE_GET, FILE_INFO (path unused) */

typedef struct {
	uint32_t code;   /* AlkErrCode */
	uint32_t errnum; /* errno when code is ALK_ERR_IO, else 0 */
	const char *message;
} AlkMsgError;

/* The guest's one NIC. Addresses are in network byte order, as on the
 * wire: address[0] is the first number of the dotted quad. */
typedef struct {
	uint8_t mac[ALK_PROTO_MAC_SIZE];      /* picks the interface */
	uint8_t address[ALK_PROTO_IPV4_SIZE]; /* unicast, not the net/broadcast address */
	uint32_t prefix_len;                  /* ALK_NET_PREFIX_MIN..MAX */
	uint8_t gateway[ALK_PROTO_IPV4_SIZE]; /* 0.0.0.0: no default route; else in the subnet */
	uint8_t dns[ALK_PROTO_IPV4_SIZE];     /* 0.0.0.0: resolv.conf left alone */
	uint32_t mtu;                         /* ALK_NET_MTU_MIN..MAX */
} AlkMsgNetConfig;

/* The guest's filesystem layout, applied once per boot before the host
 * calls the sandbox ready (docs/protocol.md, 7.7). */
typedef struct {
	uint32_t root_readonly; /* 0/1: / remounted read-only once the rest is set up */
	uint32_t tmpfs_mib;     /* 0: leave /tmp, /run, /var/tmp; else tmpfs of this size each */
	uint32_t workspace;     /* 0/1: the disk ALK_FS_WORKSPACE_SERIAL at ALK_FS_WORKSPACE_PATH */
	const char *owner;      /* the workspace's owner: a user name or UID[:GID]; NULL: root */
	const char *readonly_paths[ALK_FS_RO_PATHS_MAX + 1]; /* bind-remounted read-only */
	uint32_t nreadonly_paths;
	const char *volumes[ALK_FS_VOLUMES_MAX + 1]; /* mount points; the i-th: serial alk-vol<i> */
	uint32_t nvolumes;
	uint32_t volumes_readonly; /* bit i: the i-th is mounted read-only (ro,noload) */
} AlkMsgFsConfig;

/* A path FS_CONFIG may mount on or bind: absolute, at most
 * ALK_FS_PATH_MAX bytes, not "/" itself, no empty, "." or ".." component
 * and no trailing '/', and not under /proc, /sys or /dev. */
int alk_proto_mount_path_valid(const char *path);

/* Decoders: 0 or a negative AlkProtoStatus. The payload must be exactly
 * one message of that type; unknown tags are rejected. */
int alk_msg_hello_decode(const uint8_t *p, size_t n, AlkMsgHello *m);
int alk_msg_sync_decode(const uint8_t *p, size_t n, AlkMsgSync *m);
int alk_msg_exec_decode(const uint8_t *p, size_t n, AlkMsgExec *m);
int alk_msg_started_decode(const uint8_t *p, size_t n, AlkMsgStarted *m);
int alk_msg_data_decode(const uint8_t *p, size_t n, AlkMsgData *m);
int alk_msg_ack_decode(const uint8_t *p, size_t n, AlkMsgAck *m);
int alk_msg_signal_decode(const uint8_t *p, size_t n, AlkMsgSignal *m);
int alk_msg_exit_decode(const uint8_t *p, size_t n, AlkMsgExit *m);
/* Accepts the fields of any of FILE_PUT/FILE_GET/FILE_INFO, none required:
 * receivers should use alk_msg_file_decode_type(), which knows what the
 * frame's type requires (a FILE_PUT without a path is refused). */
int alk_msg_file_decode(const uint8_t *p, size_t n, AlkMsgFile *m);
/* type: ALK_MSG_FILE_PUT, _GET or _INFO, else ALK_PROTO_E_TYPE. */
int alk_msg_file_decode_type(int type, const uint8_t *p, size_t n, AlkMsgFile *m);
int alk_msg_error_decode(const uint8_t *p, size_t n, AlkMsgError *m);
int alk_msg_net_config_decode(const uint8_t *p, size_t n, AlkMsgNetConfig *m);
int alk_msg_resize_decode(const uint8_t *p, size_t n, AlkMsgResize *m);
int alk_msg_fs_config_decode(const uint8_t *p, size_t n, AlkMsgFsConfig *m);
int alk_msg_renew_decode(const uint8_t *p, size_t n, AlkMsgRenew *m);
/* STDIN_EOF, FILE_END, SHUTDOWN: the payload must be empty (ALK_PROTO_E_FIELD). */
int alk_msg_empty_decode(const uint8_t *p, size_t n);

/* Encoders write a whole frame (header + payload) into out and return its
 * length, or a negative AlkProtoStatus (ALK_PROTO_E_SHORT when out is too
 * small, ALK_PROTO_E_LENGTH when the payload would exceed the maximum,
 * ALK_PROTO_E_VALUE/COUNT for invalid input). */
long alk_msg_hello_encode(uint8_t *out, size_t cap, const AlkMsgHello *m);
long alk_msg_sync_encode(uint8_t *out, size_t cap, int type, uint32_t id, const AlkMsgSync *m);
long alk_msg_exec_encode(uint8_t *out, size_t cap, uint32_t id, const AlkMsgExec *m);
long alk_msg_started_encode(uint8_t *out, size_t cap, uint32_t id, const AlkMsgStarted *m);
long alk_msg_data_encode(uint8_t *out, size_t cap, int type, uint32_t id, const void *data,
                         size_t len);
long alk_msg_ack_encode(uint8_t *out, size_t cap, int type, uint32_t id, uint64_t bytes);
long alk_msg_signal_encode(uint8_t *out, size_t cap, uint32_t id, uint32_t signo);
long alk_msg_exit_encode(uint8_t *out, size_t cap, uint32_t id, const AlkMsgExit *m);
long alk_msg_file_encode(uint8_t *out, size_t cap, int type, uint32_t id, const AlkMsgFile *m);
long alk_msg_error_encode(uint8_t *out, size_t cap, uint32_t id, uint32_t code, uint32_t errnum,
                          const char *message);
long alk_msg_net_config_encode(uint8_t *out, size_t cap, uint32_t id, const AlkMsgNetConfig *m);
long alk_msg_resize_encode(uint8_t *out, size_t cap, uint32_t id, const AlkMsgResize *m);
long alk_msg_fs_config_encode(uint8_t *out, size_t cap, uint32_t id, const AlkMsgFsConfig *m);
long alk_msg_renew_encode(uint8_t *out, size_t cap, uint32_t id, const AlkMsgRenew *m);
/* A frame with an empty payload: STDIN_EOF, FILE_END, SHUTDOWN. */
long alk_msg_empty_encode(uint8_t *out, size_t cap, int type, uint32_t id);

/* Largest frame any encoder produces. */
#define ALK_PROTO_MAX_FRAME (ALK_PROTO_HEADER_SIZE + ALK_PROTO_MAX_PAYLOAD)
