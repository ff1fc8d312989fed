/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * airlock-agent: the guest side of the airlock wire protocol.
 *
 * One thread, one poll(2) loop. Everything the loop touches lives in one
 * AlkAgent; each file owns one concept (port, output queue, execs, files,
 * PID 1 duties) and talks to the others only through the functions below.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "alk-proto.h"

#ifndef ALK_VERSION
#define ALK_VERSION "0.0.0"
#endif

#define ALK_AGENT_PORT_NAME "org.airlock.agent.0"
#define ALK_AGENT_MAX_EXECS 64
#define ALK_AGENT_MAX_XFERS 16
/* Remembered ids of requests that failed while the host may still be
 * sending frames for them (FILE_DATA after an error, STDIN beyond the
 * window): their frames are dropped silently instead of answered. */
#define ALK_AGENT_DEAD_IDS 32

/* Output queue: above HIGH_WATER, producers (child pipes, FILE_GET) pause;
 * above INPUT_STOP the host's own frames stop being read, so a host that
 * floods PINGs without reading PONGs cannot grow the queue either. */
#define ALK_OUT_HIGH_WATER (256u * 1024u)
#define ALK_OUT_INPUT_STOP (1024u * 1024u)

/* After an exec's main process exited, how long its pipes may stay open
 * (held by background grandchildren) before EXIT is sent anyway. */
#define ALK_EXIT_GRACE_MS 200
/* While no host is connected: how often the port is re-checked besides
 * SIGIO (which virtio_console sends when the host side opens). */
#define ALK_RECHECK_MS 500
#define ALK_FILE_PUT_MAX (4ull << 30)
/* NET_CONFIG: how long the NIC may take to appear, and how often we look. */
#define ALK_NET_WAIT_MS 3000
#define ALK_NET_RETRY_MS 100
#define ALK_RESOLV_CONF "/etc/resolv.conf"

/* A byte FIFO: the output queue and each exec's pending stdin. */
typedef struct {
	uint8_t *data;
	size_t head; /* first unread byte */
	size_t len;  /* end of the bytes held */
	size_t cap;
} AlkBuf;

void alk_buf_free(AlkBuf *b);
void alk_buf_clear(AlkBuf *b);
size_t alk_buf_used(const AlkBuf *b);
const uint8_t *alk_buf_peek(const AlkBuf *b);
/* Room for at least n more bytes at the tail; NULL when out of memory. */
uint8_t *alk_buf_reserve(AlkBuf *b, size_t n);
void alk_buf_commit(AlkBuf *b, size_t n);
bool alk_buf_append(AlkBuf *b, const void *data, size_t n);
void alk_buf_consume(AlkBuf *b, size_t n);

enum { ALK_STREAM_STDOUT = 0, ALK_STREAM_STDERR = 1 };

typedef struct {
	bool used;
	uint64_t serial; /* tells a reused slot from the exec it held before */
	uint32_t id;
	pid_t pid; /* also the process group: the child calls setsid() */
	bool tty;  /* out_fd[0] is a pty's master (in_fd a dup of it), out_fd[1] unused */
	int out_fd[2];
	int in_fd;
	AlkBuf in_buf;
	bool in_eof;          /* STDIN_EOF received: close once in_buf drained */
	bool in_broken;       /* the child closed its stdin: discard further data */
	bool in_pipe;         /* stdin_mode was PIPE */
	uint64_t in_consumed; /* written into the pipe (or discarded) */
	uint64_t output_cap;
	uint64_t forwarded;
	uint32_t out_window; /* 0: none; else forwarded - out_credit stays within it */
	uint64_t out_credit; /* the host's latest CREDIT */
	uint64_t produced[2];
	bool truncated;
	bool timed_out;
	bool exited;
	int status;
	uint64_t max_rss_kib;
	uint64_t start_ms;
	uint64_t duration_ms;
	uint64_t deadline_ms; /* 0: no timeout */
	uint64_t grace_ms;    /* set when the main process exited */
	bool draining;        /* grace over: read only what is in the pipes */
	size_t drain_left[2];
} AlkExec;

enum { ALK_XFER_PUT = 1, ALK_XFER_GET = 2 };

typedef struct {
	bool used;
	int kind;
	uint32_t id;
	int fd;
	char *path;
	char *tmp; /* PUT: temp file renamed over path at FILE_END */
	uint32_t mode;
	uint64_t size; /* PUT: announced; GET: size at open */
	uint64_t done;
	uint32_t window; /* GET: 0: none; else done - credit stays within it */
	uint64_t credit; /* GET: the host's latest CREDIT */
} AlkXfer;

/* A decoded frame from the host; which member is valid follows the type. */
typedef union {
	AlkMsgSync sync; /* SYNC, PING */
	AlkMsgExec exec;
	AlkMsgData data; /* STDIN, FILE_DATA */
	AlkMsgAck ack;   /* CREDIT */
	AlkMsgSignal signal;
	AlkMsgFile file; /* FILE_PUT, FILE_GET */
	AlkMsgError error;
	AlkMsgNetConfig net;
	AlkMsgResize resize;
	AlkMsgFsConfig fs;
	AlkMsgRenew renew;
} AlkHostMsg;

/* The one NET_CONFIG: waiting for its NIC, then what was applied. */
typedef struct {
	bool pending;
	uint32_t id;
	AlkMsgNetConfig want;
	uint64_t give_up_ms;
	uint64_t retry_ms;
	bool configured;
	AlkMsgNetConfig applied;
	const char *resolv_conf; /* --resolv-conf, for tests */
	/* configured, and the OK waits (pending) until the kernel says the
	 * link runs: an address on a link still coming up is not a network */
	bool awaiting_link;
	char ifname[16];
} AlkNet;

typedef enum {
	ALK_PORT_DISCOVER, /* virtio port found through sysfs */
	ALK_PORT_PATH,     /* --port PATH: a device with virtio semantics */
	ALK_PORT_FD,       /* --fd N: a socket; EOF ends the agent */
} AlkPortMode;

typedef struct {
	AlkPortMode mode;
	int fd;
	const char *path;
	bool connected;
	AlkDecoder dec;
	uint64_t partial_since_ms; /* 0: no partial frame buffered */
	uint64_t frames_seen;
	uint64_t recheck_ms; /* next look at a disconnected port */
	bool recheck_now;    /* SIGIO arrived */
	bool reset_pending;  /* SYNC asked for a decoder reset */
} AlkPort;

typedef struct {
	bool pid1;
	bool quit;
	int sigfd;
	AlkPort port;
	AlkBuf out;
	uint8_t nonce[ALK_PROTO_NONCE_SIZE];
	AlkExec execs[ALK_AGENT_MAX_EXECS];
	AlkXfer xfers[ALK_AGENT_MAX_XFERS];
	AlkNet net;
	bool fs_configured; /* FS_CONFIG came this boot (alk-agent-fs.c) */
	uint32_t dead_ids[ALK_AGENT_DEAD_IDS];
	bool dead_used[ALK_AGENT_DEAD_IDS];
	unsigned dead_next;
	uint64_t exec_serial;
	pid_t tty_pid; /* the shell on tty1 (alk-agent-tty.c); 0: none */
	uint64_t tty_started_ms;
	unsigned tty_quick; /* its exits right after starting */
	/* the boot's stamps for HELLO (CLOCK_BOOTTIME ms, 0: unknown): the
	 * initramfs's /init start, root mounted, root grown; the agent's start */
	uint32_t boot_initramfs_ms, boot_root_ms, boot_grown_ms, boot_init_ms;
	bool renew_dry; /* --renew-dry: RENEW touches neither clock nor pool */
} AlkAgent;

/* alk-agent.c: shared helpers */
void alk_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t alk_now_ms(void);
/* CLOCK_BOOTTIME in ms, capped at UINT32_MAX */
uint32_t alk_uptime_ms(void);
/* First line of a small file, without its newline. */
bool alk_read_line(const char *path, char *buf, size_t n);
/* Ends every exec and transfer without a frame for any of them. */
void alk_agent_abort_all(AlkAgent *a);
/* The poll timeout cur, shortened to reach deadline (ms, monotonic). */
int alk_timeout_min(int cur, uint64_t deadline, uint64_t now);

/* alk-agent-out.c: outbound frames, all through the bounded queue */
bool alk_out_blocked(const AlkAgent *a);
void alk_send_hello(AlkAgent *a);
void alk_send_sync(AlkAgent *a, int type, uint32_t id, uint64_t nonce);
void alk_send_data(AlkAgent *a, int type, uint32_t id, const void *data, size_t len);
void alk_send_ack(AlkAgent *a, int type, uint32_t id, uint64_t bytes);
void alk_send_started(AlkAgent *a, uint32_t id, pid_t pid);
void alk_send_exit(AlkAgent *a, uint32_t id, const AlkMsgExit *m);
void alk_send_file_info(AlkAgent *a, uint32_t id, uint64_t size, uint32_t mode);
void alk_send_empty(AlkAgent *a, int type, uint32_t id);
void alk_send_error(AlkAgent *a, uint32_t id, uint32_t code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* ERROR(IO) whose message is "what: strerror(errnum)". */
void alk_send_errno(AlkAgent *a, uint32_t id, int errnum, const char *what);

/* alk-agent-port.c: the host connection */
int alk_port_open(AlkAgent *a);
void alk_port_close(AlkAgent *a);
bool alk_port_wants_input(const AlkAgent *a);
short alk_port_events(const AlkAgent *a);
void alk_port_ready(AlkAgent *a, short revents);
void alk_port_tick(AlkAgent *a, uint64_t now);
int alk_port_timeout(const AlkAgent *a, int cur, uint64_t now);
void alk_port_reset_decoder(AlkAgent *a);

/* Bytes a request may still send (of want) within the host's credit
 * window: want when it has no window. */
size_t alk_window_room(uint32_t window, uint64_t sent, uint64_t credit, size_t want);

/* alk-agent-msg.c: frames from the host, request ids */
void alk_msg_dispatch(AlkAgent *a, const AlkFrameHeader *h, const uint8_t *payload);
bool alk_id_in_use(const AlkAgent *a, uint32_t id);
void alk_dead_add(AlkAgent *a, uint32_t id);
bool alk_dead_has(const AlkAgent *a, uint32_t id);
void alk_dead_forget(AlkAgent *a, uint32_t id);
void alk_dead_clear(AlkAgent *a);
/* ERROR(NOT_FOUND) for a frame naming no live request, unless the id is
 * one that just failed (its trailing frames are expected). */
void alk_msg_no_such_id(AlkAgent *a, const AlkFrameHeader *h);
/* A new request must not reuse a live id; a reused dead id is forgotten. */
bool alk_msg_claim_id(AlkAgent *a, const AlkFrameHeader *h);

/* alk-agent-exec.c: process lifecycle */
void alk_exec_start(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m);
void alk_exec_signal(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m);
void alk_exec_resize(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m);
AlkExec *alk_exec_find(AlkAgent *a, uint32_t id);
void alk_exec_abort(AlkAgent *a, AlkExec *e);
void alk_exec_reaped(AlkAgent *a, pid_t pid, int status, uint64_t max_rss_kib);
void alk_exec_tick(AlkAgent *a, uint64_t now);
int alk_exec_timeout(const AlkAgent *a, int cur, uint64_t now);
void alk_exec_maybe_finish(AlkAgent *a, AlkExec *e);
void alk_exec_close_fd(int *fd);

/* alk-agent-spawn.c: fork + execve with the child's setup */
pid_t alk_spawn(AlkAgent *a, uint32_t id, const AlkMsgExec *m, int child_fds[3]);

/* alk-agent-user.c: who an exec runs as. */
#define ALK_CREDS_MAX_GROUPS 64
typedef struct {
	int set_ids; /* a user was asked for: uid, gid and groups below */
	uid_t uid;
	gid_t gid;
	gid_t groups[ALK_CREDS_MAX_GROUPS];
	int ngroups;
	uint32_t no_new_privs;
	uint32_t drop_caps;
	char home[256];
	int envp_given; /* envp replaces the request's environment */
	char env_home[262];
	char env_user[48];
	char env_logname[48];
	const char *envp[ALK_PROTO_MAX_ENV + 5];
} AlkCreds;
/* In the agent, before the fork: 0, or -1 with why in err. */
int alk_creds_resolve(const AlkMsgExec *m, AlkCreds *c, char *err, size_t errlen);
/* In the child: 0, or -1 with errno set. */
int alk_creds_apply(const AlkCreds *c);

/* alk-agent-stdio.c: the pipes of an exec */
void alk_exec_read(AlkAgent *a, AlkExec *e, int stream);
void alk_exec_stdin(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m);
void alk_exec_stdin_eof(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m);
void alk_exec_write_stdin(AlkAgent *a, AlkExec *e);
void alk_exec_start_drain(AlkExec *e);

/* alk-agent-file.c: FILE_PUT / FILE_GET */
void alk_file_put(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m);
void alk_file_get(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m);
void alk_file_data(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m);
void alk_file_end(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m);
AlkXfer *alk_xfer_find(AlkAgent *a, uint32_t id);
void alk_xfer_abort(AlkXfer *x);
/* Streams FILE_GET data until the queue reaches its high-water mark. */
void alk_file_pump(AlkAgent *a);

/* alk-agent-fs.c: FS_CONFIG */
void alk_fs_config(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m);

/* alk-agent-net.c: NET_CONFIG */
void alk_net_config(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m);
void alk_net_tick(AlkAgent *a, uint64_t now);
int alk_net_timeout(const AlkAgent *a, int cur, uint64_t now);
/* Forgets a NET_CONFIG still waiting for its NIC, without a reply. */
void alk_net_abort(AlkAgent *a);
/* Sets IFF_UP on ifname: 0 or an errno. */
int alk_net_link_up(int sock, const char *ifname);

/* alk-agent-renew.c: RENEW, a restored clone's new identity */
void alk_renew(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m);

/* alk-agent-init.c: PID 1 duties */
void alk_init_setup(AlkAgent *a);
bool alk_init_session(void);
void alk_init_poweroff(AlkAgent *a) __attribute__((noreturn));
void alk_fatal(AlkAgent *a, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));

/* alk-agent-signal.c: signals through a signalfd */
int alk_signal_setup(void);
void alk_signal_child_reset(void);

/* alk-agent-tty.c: a root shell on tty1 when the machine has a display */
void alk_tty_start(AlkAgent *a);
/* true when pid was that shell (restarted unless it keeps dying) */
bool alk_tty_reaped(AlkAgent *a, pid_t pid);
void alk_signal_ready(AlkAgent *a);
void alk_signal_wait(AlkAgent *a, int ms);
