/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of airlock-agent, run on the host: the built static agent is
 * started with `--fd N` on one end of a socketpair and this file speaks the
 * wire protocol to it through the codec. Every wait has a deadline; nothing
 * sleeps and hopes.
 */
#include "alk-proto.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef ALK_AGENT_BIN
#define ALK_AGENT_BIN "agent/airlock-agent"
#endif

#define WAIT_MS 20000
#define MIB (1024u * 1024u)

typedef struct {
	AlkFrameHeader h;
	const uint8_t *p; /* valid until the next recv */
} Frame;

typedef struct {
	uint8_t *data;
	size_t len, cap;
} Buf;

/* One exec as the host sees it. */
typedef struct {
	uint32_t id;
	pid_t pid;
	bool started, exited, failed;
	Buf out, err;
	size_t out_frames;
	bool out_before_exit;
	AlkMsgExit exit;
	uint32_t err_code, err_errnum;
	char err_msg[256];
	uint64_t acked;
} Exec;

static pid_t agent_pid = -1;
static int conn = -1;
static AlkDecoder dec;
static uint8_t rbuf[65536];
static size_t roff, rlen;
static uint8_t payload[ALK_PROTO_MAX_PAYLOAD];
static uint8_t frame[ALK_PROTO_MAX_FRAME];
static AlkMsgHello hello;
static char hello_version[64];
static uint32_t next_id = 1;
static char basedir[64];
static char tmpdir[96];

/* ---- Plumbing ---- */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void buf_add(Buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->data = realloc(b->data, b->cap);
		ck_assert_ptr_nonnull(b->data);
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void send_bytes(const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t w = write(conn, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		ck_assert_msg(w > 0, "write to agent: %s", strerror(errno));
		b += w;
		n -= (size_t)w;
	}
}

static void send_frame(long n)
{
	ck_assert_msg(n > 0, "encode: %s", alk_proto_strerror((int)n));
	send_bytes(frame, (size_t)n);
}

/* The next frame, or false when the deadline passed first. */
static bool recv_until(Frame *f, uint64_t deadline)
{
	for (;;) {
		if (roff < rlen)
			roff += alk_decoder_feed(&dec, rbuf + roff, rlen - roff);
		if (alk_decoder_ready(&dec)) {
			const uint8_t *p = alk_decoder_frame(&dec, &f->h);
			memcpy(payload, p, f->h.len);
			f->p = payload;
			alk_decoder_consume(&dec);
			return true;
		}
		if (roff < rlen)
			continue;
		uint64_t now = now_ms();
		if (now >= deadline)
			return false;
		struct pollfd pfd = {.fd = conn, .events = POLLIN};
		int r = poll(&pfd, 1, (int)(deadline - now));
		if (r <= 0)
			continue;
		ssize_t n = read(conn, rbuf, sizeof(rbuf));
		ck_assert_msg(n > 0, "agent closed the connection");
		roff = 0;
		rlen = (size_t)n;
	}
}

static void recv_frame(Frame *f)
{
	ck_assert_msg(recv_until(f, now_ms() + WAIT_MS), "no frame from the agent in time");
}

static void expect(Frame *f, int type, uint32_t id)
{
	recv_frame(f);
	ck_assert_msg(f->h.type == type && f->h.id == id, "expected %s id %u, got %s id %u",
	              alk_proto_type_name(type), id, alk_proto_type_name(f->h.type), f->h.id);
}

static AlkMsgError expect_error(uint32_t id)
{
	Frame f;
	AlkMsgError e;
	expect(&f, ALK_MSG_ERROR, id);
	ck_assert_int_eq(alk_msg_error_decode(f.p, f.h.len, &e), 0);
	return e;
}

static void send_ping(uint32_t id, uint64_t nonce)
{
	AlkMsgSync m = {.nonce = nonce};
	send_frame(alk_msg_sync_encode(frame, sizeof(frame), ALK_MSG_PING, id, &m));
}

/* PING and wait for its PONG: everything the agent sent before is in. */
static void ping_pong(void)
{
	Frame f;
	AlkMsgSync m;
	uint32_t id = next_id++;
	send_ping(id, 0x1234567890abcdefull);
	expect(&f, ALK_MSG_PONG, id);
	ck_assert_int_eq(alk_msg_sync_decode(f.p, f.h.len, &m), 0);
	ck_assert_uint_eq(m.nonce, 0x1234567890abcdefull);
}

/* Gone or a zombie: either way it no longer runs. */
static bool pid_gone(pid_t pid)
{
	char path[64], stat[256];
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *fp = fopen(path, "r");
	if (!fp)
		return true;
	bool zombie = fgets(stat, sizeof(stat), fp) && strstr(stat, ") Z ");
	fclose(fp);
	return zombie;
}

static void wait_gone(pid_t pid)
{
	uint64_t deadline = now_ms() + WAIT_MS;
	while (!pid_gone(pid)) {
		ck_assert_msg(now_ms() < deadline, "process %d still runs", (int)pid);
		poll(NULL, 0, 10);
	}
}

/* ---- Fixture: one agent per test ---- */

static const char *agent_bin(void)
{
	const char *bin = getenv("ALK_AGENT_BIN");
	return bin && *bin ? bin : ALK_AGENT_BIN;
}

/* NET_CONFIG tests: the agent runs in a network namespace of its own
 * (unshare execs, so agent_pid is still the agent) holding a veth pair,
 * d0 with the NIC's MAC and its peer p0 that must stay untouched, and
 * writes resolv.conf into the test's directory: the host's network and
 * files are never touched. veth rather than dummy: kernels without the
 * dummy module exist (this one). */
#define NET_MAC "52:54:00:12:34:56"
#define NET_SCRIPT                                                                                 \
	"ip link add d0 address " NET_MAC " type veth peer name p0 && "                            \
	"exec \"$0\" --fd \"$1\" --resolv-conf \"$2\""

static char resolv_path[160];

static void agent_exec(int fd, bool netns)
{
	char fdarg[16];
	snprintf(fdarg, sizeof(fdarg), "%d", fd);
	if (netns)
		execlp("unshare", "unshare", "--net", "sh", "-c", NET_SCRIPT, agent_bin(), fdarg,
		       resolv_path, (char *)NULL);
	else
		execl(agent_bin(), agent_bin(), "--fd", fdarg, (char *)NULL);
	_exit(127);
}

static void agent_start_in(bool netns)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	agent_pid = fork();
	ck_assert_int_ge(agent_pid, 0);
	if (agent_pid == 0)
		agent_exec(dup(sv[1]) /* without close-on-exec */, netns);
	close(sv[1]);
	conn = sv[0];
	alk_decoder_init(&dec);
	roff = rlen = 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

/* Once per run, in the parent: a failing test exits without its teardown,
 * so the temp dirs of all tests live in one tree removed here. */
static void tree_setup(void)
{
	snprintf(basedir, sizeof(basedir), "/tmp/alk-test-agent-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(basedir));
}

static void tree_teardown(void)
{
	nftw(basedir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup_in(bool netns)
{
	Frame f;
	signal(SIGPIPE, SIG_IGN);
	snprintf(tmpdir, sizeof(tmpdir), "%s/t-XXXXXX", basedir);
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(resolv_path, sizeof(resolv_path), "%s/resolv.conf", tmpdir);
	agent_start_in(netns);
	expect(&f, ALK_MSG_HELLO, 0);
	ck_assert_int_eq(alk_msg_hello_decode(f.p, f.h.len, &hello), 0);
	snprintf(hello_version, sizeof(hello_version), "%s", hello.agent_version);
	hello.agent_version = hello_version;
}

static void setup(void)
{
	setup_in(false);
}

static void setup_netns(void)
{
	setup_in(true);
}

/* EOF on its connection makes the agent exit 0: proven after every test. */
static void teardown(void)
{
	int status = -1;
	uint64_t deadline = now_ms() + WAIT_MS;
	close(conn);
	while (waitpid(agent_pid, &status, WNOHANG) == 0 && now_ms() < deadline)
		poll(NULL, 0, 10);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "agent status %#x", status);
}

/* ---- Exec helpers ---- */

static void exec_send(Exec *e, const char *const *argv, uint32_t timeout_ms, uint64_t cap,
                      bool stdin_pipe)
{
	static AlkMsgExec m;
	memset(&m, 0, sizeof(m));
	while (argv[m.argc]) {
		m.argv[m.argc] = argv[m.argc];
		m.argc++;
	}
	m.timeout_ms = timeout_ms;
	m.output_cap = cap;
	m.stdin_mode = stdin_pipe ? ALK_STDIN_PIPE : ALK_STDIN_NULL;
	memset(e, 0, sizeof(*e));
	e->id = next_id++;
	send_frame(alk_msg_exec_encode(frame, sizeof(frame), e->id, &m));
}

/* An exec on a pseudo-terminal of rows x cols (0: the default size). */
static void exec_send_tty(Exec *e, const char *const *argv, uint32_t rows, uint32_t cols,
                          bool stdin_pipe)
{
	static AlkMsgExec m;
	memset(&m, 0, sizeof(m));
	while (argv[m.argc]) {
		m.argv[m.argc] = argv[m.argc];
		m.argc++;
	}
	m.timeout_ms = WAIT_MS;
	m.stdin_mode = stdin_pipe ? ALK_STDIN_PIPE : ALK_STDIN_NULL;
	m.tty = 1;
	m.rows = rows;
	m.cols = cols;
	memset(e, 0, sizeof(*e));
	e->id = next_id++;
	send_frame(alk_msg_exec_encode(frame, sizeof(frame), e->id, &m));
}

static void exec_free(Exec *e)
{
	free(e->out.data);
	free(e->err.data);
}

static void exec_take_error(Exec *e, const Frame *f)
{
	AlkMsgError m;
	ck_assert_int_eq(alk_msg_error_decode(f->p, f->h.len, &m), 0);
	e->failed = true;
	e->err_code = m.code;
	e->err_errnum = m.errnum;
	snprintf(e->err_msg, sizeof(e->err_msg), "%s", m.message);
}

/* Applies a frame addressed to e; checks the order STARTED < data < EXIT. */
static void exec_take(Exec *e, const Frame *f)
{
	AlkMsgData d;
	AlkMsgAck ack;
	AlkMsgStarted st;
	ck_assert_msg(!e->exited && !e->failed, "%s after the end of exec %u",
	              alk_proto_type_name(f->h.type), e->id);
	switch (f->h.type) {
	case ALK_MSG_STARTED:
		ck_assert_int_eq(alk_msg_started_decode(f->p, f->h.len, &st), 0);
		e->started = true;
		e->pid = (pid_t)st.pid;
		break;
	case ALK_MSG_STDOUT:
	case ALK_MSG_STDERR:
		ck_assert(e->started);
		ck_assert_int_eq(alk_msg_data_decode(f->p, f->h.len, &d), 0);
		ck_assert_uint_le(d.data.len, ALK_PROTO_MAX_CHUNK);
		buf_add(f->h.type == ALK_MSG_STDOUT ? &e->out : &e->err, d.data.data, d.data.len);
		if (f->h.type == ALK_MSG_STDOUT && e->out_frames++ == 0)
			e->out_before_exit = true;
		break;
	case ALK_MSG_STDIN_ACK:
		ck_assert_int_eq(alk_msg_ack_decode(f->p, f->h.len, &ack), 0);
		ck_assert_uint_ge(ack.bytes, e->acked);
		e->acked = ack.bytes;
		break;
	case ALK_MSG_EXIT:
		ck_assert(e->started);
		ck_assert_int_eq(alk_msg_exit_decode(f->p, f->h.len, &e->exit), 0);
		e->exited = true;
		break;
	case ALK_MSG_ERROR:
		exec_take_error(e, f);
		break;
	default:
		ck_abort_msg("unexpected %s for exec %u", alk_proto_type_name(f->h.type), e->id);
	}
}

static void exec_wait(Exec *e)
{
	Frame f;
	while (!e->exited && !e->failed) {
		recv_frame(&f);
		ck_assert_uint_eq(f.h.id, e->id);
		exec_take(e, &f);
	}
}

static bool buf_has(const Buf *b, const char *needle)
{
	size_t n = strlen(needle);
	for (size_t i = 0; i + n <= b->len; i++)
		if (memcmp(b->data + i, needle, n) == 0)
			return true;
	return false;
}

/* Takes e's frames until its stdout holds needle (fails at its end). */
static void exec_wait_output(Exec *e, const char *needle)
{
	Frame f;
	while (!buf_has(&e->out, needle)) {
		ck_assert_msg(!e->exited && !e->failed, "exec %u ended without printing '%s'",
		              e->id, needle);
		recv_frame(&f);
		ck_assert_uint_eq(f.h.id, e->id);
		exec_take(e, &f);
	}
}

static void send_stdin(uint32_t id, const char *text)
{
	send_frame(
	    alk_msg_data_encode(frame, sizeof(frame), ALK_MSG_STDIN, id, text, strlen(text)));
}

static void send_resize(uint32_t id, uint32_t rows, uint32_t cols)
{
	AlkMsgResize r = {.rows = rows, .cols = cols};
	send_frame(alk_msg_resize_encode(frame, sizeof(frame), id, &r));
}

static void run(Exec *e, const char *const *argv, uint32_t timeout_ms, uint64_t cap)
{
	exec_send(e, argv, timeout_ms, cap, false);
	exec_wait(e);
}

static void run_ok(Exec *e, const char *const *argv, uint32_t timeout_ms, uint64_t cap)
{
	run(e, argv, timeout_ms, cap);
	ck_assert_msg(!e->failed, "exec %s: %s", argv[0], e->err_msg);
}

/* ---- Handshake ---- */

START_TEST(test_hello)
{
	static const uint8_t zero[ALK_PROTO_NONCE_SIZE];
	ck_assert_uint_eq(hello.version, ALK_PROTO_VERSION);
	ck_assert(memcmp(hello.nonce, zero, sizeof(zero)) != 0);
	ck_assert_uint_eq(hello.caps & ALK_CAP_EXEC, ALK_CAP_EXEC);
	ck_assert_uint_eq(hello.caps & ALK_CAP_FILES, ALK_CAP_FILES);
	ck_assert_uint_eq(hello.max_payload, ALK_PROTO_MAX_PAYLOAD);
	ck_assert_str_eq(hello.agent_version, ALK_VERSION);
}
END_TEST

START_TEST(test_version_flag)
{
	char cmd[512], out[128] = "";
	snprintf(cmd, sizeof(cmd), "'%s' --version", agent_bin());
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(fgets(out, sizeof(out), p));
	ck_assert_int_eq(pclose(p), 0);
	ck_assert_str_eq(out, "airlock-agent " ALK_VERSION "\n");
}
END_TEST

START_TEST(test_sync)
{
	Frame f;
	AlkMsgSync m = {.nonce = 0xfeedface01020304ull};
	send_frame(alk_msg_sync_encode(frame, sizeof(frame), ALK_MSG_SYNC, 4242, &m));
	expect(&f, ALK_MSG_SYNC_ACK, 4242);
	ck_assert_int_eq(alk_msg_sync_decode(f.p, f.h.len, &m), 0);
	ck_assert_uint_eq(m.nonce, 0xfeedface01020304ull);
}
END_TEST

START_TEST(test_ping)
{
	ping_pong();
	ping_pong();
}
END_TEST

/* ---- Exec ---- */

START_TEST(test_echo)
{
	const char *argv[] = {"echo", "hello", NULL};
	Exec e;
	run_ok(&e, argv, 0, 0);
	ck_assert_int_eq(e.exit.exit_code, 0);
	ck_assert_uint_eq(e.exit.signo, 0);
	ck_assert_uint_eq(e.out.len, 6);
	ck_assert(memcmp(e.out.data, "hello\n", 6) == 0);
	ck_assert_uint_eq(e.exit.stdout_bytes, 6);
	ck_assert_uint_gt(e.exit.max_rss_kib, 0);
	ck_assert_int_gt(e.pid, 1);
	exec_free(&e);
}
END_TEST

START_TEST(test_exit_code)
{
	const char *argv[] = {"sh", "-c", "echo oops >&2; exit 3", NULL};
	Exec e;
	run_ok(&e, argv, 0, 0);
	ck_assert_int_eq(e.exit.exit_code, 3);
	ck_assert_uint_eq(e.exit.signo, 0);
	ck_assert_uint_eq(e.err.len, 5);
	ck_assert(memcmp(e.err.data, "oops\n", 5) == 0);
	ck_assert_uint_eq(e.exit.stderr_bytes, 5);
	exec_free(&e);
}
END_TEST

START_TEST(test_signal_exit)
{
	const char *argv[] = {"sh", "-c", "kill -9 $$", NULL};
	Exec e;
	run_ok(&e, argv, 0, 0);
	ck_assert_int_eq(e.exit.exit_code, -1);
	ck_assert_uint_eq(e.exit.signo, SIGKILL);
	ck_assert_uint_eq(e.exit.timed_out, 0);
	exec_free(&e);
}
END_TEST

START_TEST(test_missing_binary)
{
	const char *argv[] = {"/no/such/binary", NULL};
	Exec e;
	run(&e, argv, 0, 0);
	ck_assert(e.failed);
	ck_assert(!e.started);
	ck_assert_uint_eq(e.err_code, ALK_ERR_IO);
	ck_assert_uint_eq(e.err_errnum, ENOENT);
	ck_assert_msg(strstr(e.err_msg, "No such file or directory"), "%s", e.err_msg);
	exec_free(&e);
	ping_pong();
}
END_TEST

START_TEST(test_env_cwd)
{
	static AlkMsgExec m;
	Exec e;
	memset(&e, 0, sizeof(e));
	m = (AlkMsgExec){.argc = 3, .envc = 1, .cwd = tmpdir};
	m.argv[0] = "/bin/sh";
	m.argv[1] = "-c";
	m.argv[2] = "echo \"$FOO\"; pwd; echo \"$HOME\"";
	m.env[0] = "FOO=bar";
	e.id = next_id++;
	send_frame(alk_msg_exec_encode(frame, sizeof(frame), e.id, &m));
	exec_wait(&e);
	ck_assert(!e.failed);
	char want[128];
	snprintf(want, sizeof(want), "bar\n%s\n\n", tmpdir);
	buf_add(&e.out, "", 1);
	ck_assert_str_eq((char *)e.out.data, want);
	exec_free(&e);
}
END_TEST

/* sh -c script as user (NULL: root) with the privilege flags; its stdout. */
static char *run_as(const char *user, uint32_t nnp, uint32_t drop, const char *script,
                    const char *env0, Exec *e)
{
	static AlkMsgExec m;
	memset(e, 0, sizeof(*e));
	m = (AlkMsgExec){.argc = 3, .user = user, .no_new_privs = nnp, .drop_caps = drop};
	m.argv[0] = "/bin/sh";
	m.argv[1] = "-c";
	m.argv[2] = script;
	if (env0 != NULL) {
		m.env[0] = env0;
		m.envc = 1;
	}
	e->id = next_id++;
	send_frame(alk_msg_exec_encode(frame, sizeof(frame), e->id, &m));
	exec_wait(e);
	buf_add(&e->out, "", 1);
	return (char *)e->out.data;
}

#define PRIVS "grep -E '^(NoNewPrivs|CapEff|CapBnd)' /proc/self/status | tr -s '\t' ' '"

START_TEST(test_exec_user)
{
	Exec e;
	const char *out;

	if (getuid() != 0) {
		printf("skipped: test_exec_user needs root\n");
		return;
	}
	out = run_as("nobody", 1, 0,
	             "id -u; id -g; echo \"$HOME|$USER|$LOGNAME|$PATH\"; pwd; " PRIVS, NULL, &e);
	ck_assert_msg(!e.failed, "%s", e.err_msg);
	ck_assert_str_eq(out, "65534\n65534\n/|nobody|nobody|/usr/local/bin:/usr/bin:/bin\n/\n"
	                      "CapEff: 0000000000000000\nCapBnd: 0000000000000000\n"
	                      "NoNewPrivs: 1\n");
	exec_free(&e);
	/* numbers need no entry; a request's HOME wins */
	out =
	    run_as("4242:4343", 0, 0, "id -u; id -g; id -G; echo \"$HOME|$USER\"", "HOME=/tmp", &e);
	ck_assert_msg(!e.failed, "%s", e.err_msg);
	ck_assert_str_eq(out, "4242\n4343\n4343\n/tmp|4242\n");
	exec_free(&e);
	/* root without capabilities */
	out = run_as(NULL, 0, 1, "id -u; " PRIVS, NULL, &e);
	ck_assert_msg(!e.failed, "%s", e.err_msg);
	ck_assert_str_eq(out, "0\nCapEff: 0000000000000000\nCapBnd: 0000000000000000\n"
	                      "NoNewPrivs: 0\n");
	exec_free(&e);
	/* a name the guest maps to uid 0 is root, refused where root is not allowed */
	{
		static AlkMsgExec m;
		memset(&e, 0, sizeof(e));
		m = (AlkMsgExec){.argc = 1, .user = "root", .forbid_root = 1};
		m.argv[0] = "/bin/true";
		e.id = next_id++;
		send_frame(alk_msg_exec_encode(frame, sizeof(frame), e.id, &m));
		exec_wait(&e);
		ck_assert(e.failed && !e.started);
		ck_assert_msg(strstr(e.err_msg, "is root (uid 0)") != NULL, "%s", e.err_msg);
		exec_free(&e);
	}
	/* a name the guest does not know: refused, nothing run */
	run_as("nosuchuser", 0, 0, "echo ran", NULL, &e);
	ck_assert(e.failed && !e.started);
	ck_assert_uint_eq(e.err_code, ALK_ERR_BAD_REQUEST);
	ck_assert_msg(strstr(e.err_msg, "no such user") != NULL, "%s", e.err_msg);
	exec_free(&e);
	ping_pong();
}
END_TEST

START_TEST(test_stdout_10mib)
{
	const char *argv[] = {"sh", "-c", "echo start; head -c 10485760 /dev/zero", NULL};
	Exec e;
	run_ok(&e, argv, 0, 0);
	ck_assert_int_eq(e.exit.exit_code, 0);
	ck_assert_uint_eq(e.out.len, 10 * MIB + 6);
	ck_assert_uint_eq(e.exit.stdout_bytes, 10 * MIB + 6);
	ck_assert_uint_eq(e.exit.truncated, 0);
	ck_assert(memcmp(e.out.data, "start\n", 6) == 0);
	ck_assert(e.out_before_exit);
	ck_assert_uint_ge(e.out_frames, 10 * MIB / ALK_PROTO_MAX_CHUNK);
	exec_free(&e);
}
END_TEST

static uint32_t xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static uint8_t *random_bytes(size_t n, uint32_t seed)
{
	uint8_t *d = malloc(n);
	ck_assert_ptr_nonnull(d);
	for (size_t i = 0; i < n; i++)
		d[i] = (uint8_t)xorshift(&seed);
	return d;
}

/* Sends stdin only within the window, reads output meanwhile. */
START_TEST(test_stdin_1mib_cat)
{
	const char *argv[] = {"cat", NULL};
	size_t total = MIB, sent = 0;
	uint8_t *data = random_bytes(total, 7);
	bool eof = false;
	Exec e;
	Frame f;
	exec_send(&e, argv, 0, 0, true);
	while (!e.exited) {
		ck_assert(!e.failed);
		size_t chunk =
		    total - sent < ALK_PROTO_MAX_CHUNK ? total - sent : ALK_PROTO_MAX_CHUNK;
		if (e.started && chunk && sent + chunk - e.acked <= ALK_PROTO_STDIN_WINDOW) {
			send_frame(alk_msg_data_encode(frame, sizeof(frame), ALK_MSG_STDIN, e.id,
			                               data + sent, chunk));
			sent += chunk;
			continue;
		}
		if (sent == total && !eof) {
			send_frame(
			    alk_msg_empty_encode(frame, sizeof(frame), ALK_MSG_STDIN_EOF, e.id));
			eof = true;
		}
		recv_frame(&f);
		ck_assert_uint_eq(f.h.id, e.id);
		exec_take(&e, &f);
	}
	ck_assert_int_eq(e.exit.exit_code, 0);
	ck_assert_uint_eq(e.acked, total);
	ck_assert_uint_eq(e.out.len, total);
	ck_assert(memcmp(e.out.data, data, total) == 0);
	free(data);
	exec_free(&e);
}
END_TEST

START_TEST(test_stdin_window_exceeded)
{
	const char *argv[] = {"sleep", "100", NULL};
	uint8_t chunk[ALK_PROTO_MAX_CHUNK] = {0};
	Exec e;
	Frame f;
	exec_send(&e, argv, 0, 0, true);
	expect(&f, ALK_MSG_STARTED, e.id);
	exec_take(&e, &f);
	/* sleep never reads: beyond the pipe's buffer, everything piles up */
	for (int i = 0; i < 16; i++)
		send_frame(alk_msg_data_encode(frame, sizeof(frame), ALK_MSG_STDIN, e.id, chunk,
		                               sizeof(chunk)));
	while (!e.failed) {
		recv_frame(&f);
		ck_assert_uint_eq(f.h.id, e.id);
		exec_take(&e, &f);
	}
	ck_assert_uint_eq(e.err_code, ALK_ERR_WINDOW);
	wait_gone(e.pid);
	/* the request is over: no EXIT follows, late stdin is dropped */
	send_frame(alk_msg_data_encode(frame, sizeof(frame), ALK_MSG_STDIN, e.id, chunk, 16));
	ping_pong();
	exec_free(&e);
}
END_TEST

START_TEST(test_concurrent_fifo)
{
	char fifo[128], cmd[256];
	snprintf(fifo, sizeof(fifo), "%s/meet", tmpdir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	snprintf(cmd, sizeof(cmd), "echo met > '%s'", fifo);
	const char *reader[] = {"cat", fifo, NULL};
	const char *writer[] = {"sh", "-c", cmd, NULL};
	Exec r, w;
	Frame f;
	/* opening a fifo blocks until the other side opens it: both must run
	 * at the same time for either to end */
	exec_send(&r, reader, 20000, 0, false);
	exec_send(&w, writer, 20000, 0, false);
	while (!r.exited || !w.exited) {
		recv_frame(&f);
		ck_assert(f.h.id == r.id || f.h.id == w.id);
		exec_take(f.h.id == r.id ? &r : &w, &f);
	}
	ck_assert(!r.exit.timed_out && !w.exit.timed_out);
	ck_assert_int_eq(w.exit.exit_code, 0);
	ck_assert_uint_eq(r.out.len, 4);
	ck_assert(memcmp(r.out.data, "met\n", 4) == 0);
	exec_free(&r);
	exec_free(&w);
}
END_TEST

START_TEST(test_timeout_kills_grandchild)
{
	const char *argv[] = {"sh", "-c", "sleep 100 & echo $!; wait", NULL};
	Exec e;
	uint64_t t0 = now_ms();
	run_ok(&e, argv, 500, 0);
	ck_assert_uint_eq(e.exit.timed_out, 1);
	ck_assert_uint_eq(e.exit.signo, SIGKILL);
	ck_assert_uint_lt(now_ms() - t0, 10000);
	buf_add(&e.out, "", 1);
	pid_t grandchild = atoi((char *)e.out.data);
	ck_assert_int_gt(grandchild, 1);
	wait_gone(grandchild);
	exec_free(&e);
}
END_TEST

/* A background child holding stdout must not delay EXIT forever. */
START_TEST(test_background_holds_pipe)
{
	const char *argv[] = {"sh", "-c", "sleep 30 & echo $!", NULL};
	Exec e;
	uint64_t t0 = now_ms();
	run_ok(&e, argv, 0, 0);
	ck_assert_int_eq(e.exit.exit_code, 0);
	ck_assert_uint_lt(now_ms() - t0, 5000);
	buf_add(&e.out, "", 1);
	pid_t bg = atoi((char *)e.out.data);
	ck_assert_int_gt(bg, 1);
	kill(bg, SIGKILL);
	exec_free(&e);
}
END_TEST

START_TEST(test_output_cap)
{
	const char *argv[] = {"sh", "-c", "head -c 100000 /dev/zero; echo tail >&2", NULL};
	Exec e;
	run_ok(&e, argv, 0, 1000);
	ck_assert_int_eq(e.exit.exit_code, 0);
	ck_assert_uint_eq(e.exit.truncated, 1);
	ck_assert_uint_eq(e.out.len + e.err.len, 1000);
	ck_assert_uint_eq(e.exit.stdout_bytes, 100000);
	ck_assert_uint_eq(e.exit.stderr_bytes, 5);
	exec_free(&e);
}
END_TEST

START_TEST(test_signal_request)
{
	const char *argv[] = {"sleep", "100", NULL};
	Exec e;
	Frame f;
	exec_send(&e, argv, 0, 0, false);
	expect(&f, ALK_MSG_STARTED, e.id);
	exec_take(&e, &f);
	send_frame(alk_msg_signal_encode(frame, sizeof(frame), e.id, SIGTERM));
	exec_wait(&e);
	ck_assert(e.exited);
	ck_assert_uint_eq(e.exit.signo, SIGTERM);
	/* the request is over now */
	send_frame(alk_msg_signal_encode(frame, sizeof(frame), e.id, SIGTERM));
	ck_assert_uint_eq(expect_error(e.id).code, ALK_ERR_NOT_FOUND);
	exec_free(&e);
}
END_TEST

/* ---- Exec on a pseudo-terminal ---- */

START_TEST(test_pty_exec)
{
	const char *argv[] = {"sh", "-c",
	                      "test -t 0 && test -t 1 && test -t 2 && echo yes; "
	                      "stty size; echo oops >&2; exit 4",
	                      NULL};
	Exec e;
	ck_assert_uint_eq(hello.caps & ALK_CAP_PTY, ALK_CAP_PTY);
	exec_send_tty(&e, argv, 30, 100, false);
	exec_wait(&e);
	ck_assert_msg(!e.failed, "tty exec: %s", e.err_msg);
	ck_assert_int_eq(e.exit.exit_code, 4);
	/* the terminal's output processing: \n becomes \r\n */
	ck_assert_msg(buf_has(&e.out, "yes\r\n"), "no 'yes' from test -t");
	ck_assert_msg(buf_has(&e.out, "30 100\r\n"), "stty size is not 30 100");
	/* stderr is the terminal too: merged into stdout */
	ck_assert(buf_has(&e.out, "oops\r\n"));
	ck_assert_uint_eq(e.err.len, 0);
	ck_assert_uint_eq(e.exit.stderr_bytes, 0);
	exec_free(&e);
}
END_TEST

START_TEST(test_pty_default_size)
{
	const char *argv[] = {"stty", "size", NULL};
	Exec e;
	exec_send_tty(&e, argv, 0, 0, false);
	exec_wait(&e);
	ck_assert(!e.failed);
	ck_assert_int_eq(e.exit.exit_code, 0);
	ck_assert(buf_has(&e.out, "24 80\r\n"));
	exec_free(&e);
}
END_TEST

/* Typed input reaches the process through the line discipline; a RESIZE
 * (before the input, so in place when the process reads it) changes what
 * stty sees. */
START_TEST(test_pty_stdin_resize)
{
	const char *argv[] = {"sh", "-c",
	                      "echo ready; read x; stty size; "
	                      "echo got-$x; read y; echo $((6*7))-$y",
	                      NULL};
	Exec e;
	exec_send_tty(&e, argv, 10, 20, true);
	exec_wait_output(&e, "ready\r\n");
	send_resize(e.id, 40, 120);
	send_stdin(e.id, "abc\n");
	exec_wait_output(&e, "40 120\r\n");
	exec_wait_output(&e, "got-abc\r\n");
	send_stdin(e.id, "z\n");
	exec_wait(&e);
	ck_assert(!e.failed);
	ck_assert_int_eq(e.exit.exit_code, 0);
	ck_assert(buf_has(&e.out, "42-z\r\n"));
	/* echoed by the terminal, as a user would see it */
	ck_assert(buf_has(&e.out, "abc\r\n"));
	exec_free(&e);
}
END_TEST

/* ^C typed on the terminal interrupts its foreground process group: the
 * process has the pty as its controlling terminal. ^D is end of file. */
START_TEST(test_pty_ctrl_c_ctrl_d)
{
	const char *sleeper[] = {"sleep", "100", NULL};
	const char *cat[] = {"sh", "-c", "cat; echo cat-done", NULL};
	Exec e;
	Frame f;
	exec_send_tty(&e, sleeper, 0, 0, true);
	expect(&f, ALK_MSG_STARTED, e.id);
	exec_take(&e, &f);
	send_stdin(e.id, "\x03");
	exec_wait(&e);
	ck_assert(e.exited);
	ck_assert_uint_eq(e.exit.signo, SIGINT);
	exec_free(&e);

	exec_send_tty(&e, cat, 0, 0, true);
	expect(&f, ALK_MSG_STARTED, e.id);
	exec_take(&e, &f);
	send_stdin(e.id, "hi\n\x04");
	exec_wait(&e);
	ck_assert(e.exited);
	ck_assert_int_eq(e.exit.exit_code, 0);
	ck_assert(buf_has(&e.out, "cat-done"));
	exec_free(&e);
}
END_TEST

START_TEST(test_pty_bad_requests)
{
	const char *argv[] = {"sleep", "100", NULL};
	uint8_t raw[64];
	AlkWriter w;
	Exec e;
	Frame f;

	/* RESIZE of a request without a tty, or of no request */
	exec_send(&e, argv, 0, 0, false);
	expect(&f, ALK_MSG_STARTED, e.id);
	exec_take(&e, &f);
	send_resize(e.id, 10, 10);
	ck_assert_uint_eq(expect_error(e.id).code, ALK_ERR_BAD_REQUEST);
	send_resize(9999, 10, 10);
	ck_assert_uint_eq(expect_error(9999).code, ALK_ERR_NOT_FOUND);
	/* a window of 0 or over the limit is malformed */
	alk_writer_init(&w, raw + ALK_PROTO_HEADER_SIZE, sizeof(raw) - ALK_PROTO_HEADER_SIZE);
	alk_put_u32(&w, 1, 0);
	alk_put_u32(&w, 2, 80);
	AlkFrameHeader h = {.type = ALK_MSG_RESIZE, .id = e.id, .len = (uint32_t)w.len};
	alk_header_pack(&h, raw);
	send_bytes(raw, ALK_PROTO_HEADER_SIZE + w.len);
	ck_assert_uint_eq(expect_error(e.id).code, ALK_ERR_PROTOCOL);
	send_frame(alk_msg_signal_encode(frame, sizeof(frame), e.id, SIGKILL));
	exec_wait(&e);
	exec_free(&e);
	ping_pong();
}
END_TEST

static long agent_rss_kib(void)
{
	char path[64], line[256];
	long rss = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)agent_pid);
	FILE *fp = fopen(path, "r");
	ck_assert_ptr_nonnull(fp);
	while (fgets(line, sizeof(line), fp))
		if (strncmp(line, "VmRSS:", 6) == 0)
			rss = atol(line + 6);
	fclose(fp);
	ck_assert_int_gt(rss, 0);
	return rss;
}

/* ERROR from the host ends an exec: killed, and not a frame more. */
START_TEST(test_host_cancels_exec)
{
	const char *argv[] = {"sleep", "100", NULL};
	Exec e;
	Frame f;
	exec_send(&e, argv, 0, 0, false);
	expect(&f, ALK_MSG_STARTED, e.id);
	exec_take(&e, &f);
	send_frame(alk_msg_error_encode(frame, sizeof(frame), e.id, ALK_ERR_CANCELLED, 0, "bye"));
	wait_gone(e.pid);
	ping_pong();
	exec_free(&e);
}
END_TEST

/* Stop reading for a while: the agent must stop reading `yes`, not buffer. */
START_TEST(test_backpressure_bounded)
{
	const char *argv[] = {"yes", NULL};
	Exec e;
	Frame f;
	long before = agent_rss_kib();
	exec_send(&e, argv, 0, 0, false);
	/* not reading on purpose: time for `yes` to fill every buffer */
	poll(NULL, 0, 1500);
	long grown = agent_rss_kib() - before;
	ck_assert_msg(grown < 4096, "agent RSS grew by %ld KiB", grown);
	/* SYNC ends it; frames of the exec may precede SYNC_ACK, none follow */
	AlkMsgSync m = {.nonce = 99};
	send_frame(alk_msg_sync_encode(frame, sizeof(frame), ALK_MSG_SYNC, 7777, &m));
	do
		recv_frame(&f);
	while (f.h.type != ALK_MSG_SYNC_ACK);
	ck_assert_uint_eq(f.h.id, 7777);
	exec_free(&e);
	ping_pong();
}
END_TEST

START_TEST(test_sync_kills_exec)
{
	const char *argv[] = {"sh", "-c", "yes & exec sleep 100", NULL};
	Exec e;
	Frame f;
	AlkMsgSync m = {.nonce = 5};
	uint32_t sync_id = 900;
	exec_send(&e, argv, 0, 0, false);
	expect(&f, ALK_MSG_STARTED, e.id);
	exec_take(&e, &f);
	send_frame(alk_msg_sync_encode(frame, sizeof(frame), ALK_MSG_SYNC, sync_id, &m));
	for (;;) {
		recv_frame(&f);
		if (f.h.type == ALK_MSG_SYNC_ACK)
			break;
		ck_assert_uint_eq(f.h.id, e.id);
		ck_assert_uint_eq(f.h.type, ALK_MSG_STDOUT);
	}
	ck_assert_uint_eq(f.h.id, sync_id);
	wait_gone(e.pid);
	/* nothing for the old id arrives after SYNC_ACK */
	uint32_t ping_id = next_id++;
	send_ping(ping_id, 1);
	recv_frame(&f);
	ck_assert_uint_eq(f.h.type, ALK_MSG_PONG);
	ck_assert_uint_eq(f.h.id, ping_id);
	send_frame(alk_msg_signal_encode(frame, sizeof(frame), e.id, SIGTERM));
	ck_assert_uint_eq(expect_error(e.id).code, ALK_ERR_NOT_FOUND);
	exec_free(&e);
}
END_TEST

START_TEST(test_duplicate_id_and_busy)
{
	const char *argv[] = {"sleep", "100", NULL};
	static Exec e[64];
	Exec again;
	Frame f;
	for (int i = 0; i < 64; i++) {
		exec_send(&e[i], argv, 0, 0, false);
		expect(&f, ALK_MSG_STARTED, e[i].id);
		exec_take(&e[i], &f);
	}
	exec_send(&again, argv, 0, 0, false);
	ck_assert_uint_eq(expect_error(again.id).code, ALK_ERR_BUSY);
	/* the same id again while it runs */
	next_id = e[0].id;
	exec_send(&again, argv, 0, 0, false);
	ck_assert_uint_eq(expect_error(e[0].id).code, ALK_ERR_BAD_REQUEST);
	/* EOF on the connection (teardown) kills them all */
	for (int i = 0; i < 64; i++)
		exec_free(&e[i]);
}
END_TEST

/* ---- Files ---- */

static void put_file(uint32_t id, const char *path, uint32_t mode, const uint8_t *data, size_t len,
                     size_t announced)
{
	AlkMsgFile m = {.path = path, .mode = mode, .size = announced};
	send_frame(alk_msg_file_encode(frame, sizeof(frame), ALK_MSG_FILE_PUT, id, &m));
	for (size_t off = 0; off < len; off += ALK_PROTO_MAX_CHUNK) {
		size_t n = len - off < ALK_PROTO_MAX_CHUNK ? len - off : ALK_PROTO_MAX_CHUNK;
		send_frame(alk_msg_data_encode(frame, sizeof(frame), ALK_MSG_FILE_DATA, id,
		                               data + off, n));
	}
	send_frame(alk_msg_empty_encode(frame, sizeof(frame), ALK_MSG_FILE_END, id));
}

static size_t count_entries(const char *dir)
{
	size_t n = 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

START_TEST(test_file_put_get_10mib)
{
	size_t len = 10 * MIB;
	uint8_t *data = random_bytes(len, 11);
	char path[128];
	Frame f;
	AlkMsgAck ack;
	AlkMsgFile info;
	AlkMsgData d;
	struct stat st;
	Buf back = {0};
	snprintf(path, sizeof(path), "%s/blob", tmpdir);
	uint32_t id = next_id++;
	put_file(id, path, 0640, data, len, len);
	expect(&f, ALK_MSG_OK, id);
	ck_assert_int_eq(alk_msg_ack_decode(f.p, f.h.len, &ack), 0);
	ck_assert_uint_eq(ack.bytes, len);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0640);
	ck_assert_uint_eq((size_t)st.st_size, len);
	ck_assert_uint_eq(count_entries(tmpdir), 1);

	AlkMsgFile get = {.path = path};
	id = next_id++;
	send_frame(alk_msg_file_encode(frame, sizeof(frame), ALK_MSG_FILE_GET, id, &get));
	expect(&f, ALK_MSG_FILE_INFO, id);
	ck_assert_int_eq(alk_msg_file_decode_type(ALK_MSG_FILE_INFO, f.p, f.h.len, &info), 0);
	ck_assert_uint_eq(info.size, len);
	ck_assert_uint_eq(info.mode & 07777, 0640);
	for (;;) {
		recv_frame(&f);
		ck_assert_uint_eq(f.h.id, id);
		if (f.h.type == ALK_MSG_FILE_END)
			break;
		ck_assert_uint_eq(f.h.type, ALK_MSG_FILE_DATA);
		ck_assert_int_eq(alk_msg_data_decode(f.p, f.h.len, &d), 0);
		buf_add(&back, d.data.data, d.data.len);
	}
	ck_assert_uint_eq(back.len, len);
	ck_assert(memcmp(back.data, data, len) == 0);
	free(back.data);
	free(data);
}
END_TEST

/* ---- output windows (CREDIT) ---- */

#define TEST_WINDOW (64u * 1024u)

static void send_credit(uint32_t id, uint64_t bytes)
{
	send_frame(alk_msg_ack_encode(frame, sizeof(frame), ALK_MSG_CREDIT, id, bytes));
}

/* Output frames of request id (STDOUT or FILE_DATA) until the agent stops
 * for 1.5 s: their bytes. end: set when the request's last frame came. */
static size_t take_until_quiet(uint32_t id, int data_type, int end_type, bool *end)
{
	size_t got = 0;
	AlkMsgData d;
	Frame f;

	while (!*end && recv_until(&f, now_ms() + 1500)) {
		ck_assert_uint_eq(f.h.id, id);
		if (f.h.type == end_type) {
			*end = true;
		} else if (f.h.type == data_type) {
			ck_assert_int_eq(alk_msg_data_decode(f.p, f.h.len, &d), 0);
			got += d.data.len;
		} else {
			ck_assert_msg(f.h.type == ALK_MSG_STARTED || f.h.type == ALK_MSG_FILE_INFO,
			              "unexpected %s", alk_proto_type_name(f.h.type));
		}
	}
	return got;
}

/* Grants whatever arrives until the request ends; the bytes received. */
static size_t take_granting(uint32_t id, int data_type, int end_type, size_t got)
{
	bool end = false;
	while (!end) {
		send_credit(id, got);
		got += take_until_quiet(id, data_type, end_type, &end);
	}
	return got;
}

START_TEST(test_output_window)
{
	static AlkMsgExec m;
	bool end = false;
	size_t got;
	uint32_t id = next_id++;

	ck_assert(hello.caps & ALK_CAP_CREDIT);
	memset(&m, 0, sizeof(m));
	m.argv[0] = "sh";
	m.argv[1] = "-c";
	m.argv[2] = "head -c 1048576 /dev/zero";
	m.argc = 3;
	m.out_window = TEST_WINDOW;
	send_frame(alk_msg_exec_encode(frame, sizeof(frame), id, &m));
	/* nothing granted: the window and not a byte more, the process waits */
	got = take_until_quiet(id, ALK_MSG_STDOUT, ALK_MSG_EXIT, &end);
	ck_assert(!end);
	ck_assert_uint_eq(got, TEST_WINDOW);
	/* a CREDIT for a request that is gone (or never was) is dropped silently */
	send_credit(9999, 1);
	ping_pong();
	ck_assert_uint_eq(take_granting(id, ALK_MSG_STDOUT, ALK_MSG_EXIT, got), MIB);
}
END_TEST

/* A process flooding its terminal is held by the window as with pipes. */
START_TEST(test_pty_output_window)
{
	static AlkMsgExec m;
	bool end = false;
	size_t got;
	uint32_t id = next_id++;

	memset(&m, 0, sizeof(m));
	m.argv[0] = "sh";
	m.argv[1] = "-c";
	m.argv[2] = "head -c 1048576 /dev/zero";
	m.argc = 3;
	m.tty = 1;
	m.out_window = TEST_WINDOW;
	send_frame(alk_msg_exec_encode(frame, sizeof(frame), id, &m));
	got = take_until_quiet(id, ALK_MSG_STDOUT, ALK_MSG_EXIT, &end);
	ck_assert(!end);
	ck_assert_uint_eq(got, TEST_WINDOW);
	ck_assert_uint_eq(take_granting(id, ALK_MSG_STDOUT, ALK_MSG_EXIT, got), MIB);
}
END_TEST

START_TEST(test_file_get_window)
{
	size_t len = MIB;
	uint8_t *data = random_bytes(len, 5);
	char path[128];
	bool end = false;
	size_t got;
	Frame f;
	uint32_t id = next_id++;

	snprintf(path, sizeof(path), "%s/windowed", tmpdir);
	put_file(id, path, 0600, data, len, len);
	expect(&f, ALK_MSG_OK, id);
	AlkMsgFile get = {.path = path, .window = TEST_WINDOW};
	id = next_id++;
	send_frame(alk_msg_file_encode(frame, sizeof(frame), ALK_MSG_FILE_GET, id, &get));
	got = take_until_quiet(id, ALK_MSG_FILE_DATA, ALK_MSG_FILE_END, &end);
	ck_assert(!end);
	ck_assert_uint_eq(got, TEST_WINDOW);
	ck_assert_uint_eq(take_granting(id, ALK_MSG_FILE_DATA, ALK_MSG_FILE_END, got), len);
	free(data);
}
END_TEST

START_TEST(test_file_put_too_much)
{
	uint8_t data[300] = {1, 2, 3};
	char path[128];
	snprintf(path, sizeof(path), "%s/small", tmpdir);
	uint32_t id = next_id++;
	put_file(id, path, 0600, data, sizeof(data), 100);
	ck_assert_uint_eq(expect_error(id).code, ALK_ERR_TOO_LARGE);
	/* the trailing FILE_END was dropped quietly: PONG comes next */
	ping_pong();
	ck_assert_uint_eq(count_entries(tmpdir), 0);
}
END_TEST

START_TEST(test_file_put_short)
{
	uint8_t data[50] = {0};
	char path[128];
	snprintf(path, sizeof(path), "%s/short", tmpdir);
	uint32_t id = next_id++;
	put_file(id, path, 0600, data, sizeof(data), 100);
	ck_assert_uint_eq(expect_error(id).code, ALK_ERR_BAD_REQUEST);
	ck_assert_uint_eq(count_entries(tmpdir), 0);
}
END_TEST

/* size 0 announces nothing: whatever arrives is the file */
START_TEST(test_file_put_unannounced)
{
	uint8_t data[70000];
	char path[128];
	Frame f;
	struct stat st;
	memset(data, 'x', sizeof(data));
	snprintf(path, sizeof(path), "%s/free", tmpdir);
	uint32_t id = next_id++;
	put_file(id, path, 0600, data, sizeof(data), 0);
	expect(&f, ALK_MSG_OK, id);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq((size_t)st.st_size, sizeof(data));
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
}
END_TEST

START_TEST(test_file_put_huge_announced)
{
	char path[128];
	AlkMsgFile m = {.path = path, .mode = 0600, .size = 1ull << 50};
	snprintf(path, sizeof(path), "%s/huge", tmpdir);
	uint32_t id = next_id++;
	send_frame(alk_msg_file_encode(frame, sizeof(frame), ALK_MSG_FILE_PUT, id, &m));
	ck_assert_uint_eq(expect_error(id).code, ALK_ERR_TOO_LARGE);
	ck_assert_uint_eq(count_entries(tmpdir), 0);
}
END_TEST

START_TEST(test_file_put_bad_dir)
{
	uint8_t data[4] = {0};
	uint32_t id = next_id++;
	put_file(id, "/no/such/dir/file", 0600, data, sizeof(data), sizeof(data));
	AlkMsgError e = expect_error(id);
	ck_assert_uint_eq(e.code, ALK_ERR_IO);
	ck_assert_uint_eq(e.errnum, ENOENT);
	ping_pong();
}
END_TEST

START_TEST(test_file_get_missing)
{
	AlkMsgFile m = {.path = "/no/such/file"};
	uint32_t id = next_id++;
	send_frame(alk_msg_file_encode(frame, sizeof(frame), ALK_MSG_FILE_GET, id, &m));
	ck_assert_uint_eq(expect_error(id).code, ALK_ERR_NOT_FOUND);
	m.path = tmpdir;
	id = next_id++;
	send_frame(alk_msg_file_encode(frame, sizeof(frame), ALK_MSG_FILE_GET, id, &m));
	AlkMsgError e = expect_error(id);
	ck_assert_uint_eq(e.code, ALK_ERR_IO);
	ck_assert_uint_eq(e.errnum, EISDIR);
}
END_TEST

START_TEST(test_file_get_over_max)
{
	char path[128];
	uint8_t data[1000] = {0};
	snprintf(path, sizeof(path), "%s/f", tmpdir);
	uint32_t id = next_id++;
	put_file(id, path, 0644, data, sizeof(data), sizeof(data));
	Frame f;
	expect(&f, ALK_MSG_OK, id);
	AlkMsgFile m = {.path = path, .max_size = 999};
	id = next_id++;
	send_frame(alk_msg_file_encode(frame, sizeof(frame), ALK_MSG_FILE_GET, id, &m));
	ck_assert_uint_eq(expect_error(id).code, ALK_ERR_TOO_LARGE);
}
END_TEST

/* ---- Garbage ---- */

START_TEST(test_garbage)
{
	uint8_t junk[8192];
	uint32_t seed = 42;
	AlkFrameHeader h = {0};
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)xorshift(&seed);
	send_bytes(junk, sizeof(junk));
	/* magic and all, but a wrong checksum: skipped without a reply */
	AlkMsgSync m = {.nonce = 3};
	long n = alk_msg_sync_encode(frame, sizeof(frame), ALK_MSG_PING, 50, &m);
	frame[19] ^= 0x55;
	send_frame(n);
	/* well-framed, unknown type */
	h = (AlkFrameHeader){.type = 99, .id = 51};
	alk_header_pack(&h, frame);
	send_frame(ALK_PROTO_HEADER_SIZE);
	ck_assert_uint_eq(expect_error(51).code, ALK_ERR_UNKNOWN_TYPE);
	/* well-framed EXEC with a nonsense payload */
	h = (AlkFrameHeader){.type = ALK_MSG_EXEC, .id = 52, .len = 64};
	alk_header_pack(&h, frame);
	memset(frame + ALK_PROTO_HEADER_SIZE, 0xff, 64);
	send_frame(ALK_PROTO_HEADER_SIZE + 64);
	ck_assert_uint_eq(expect_error(52).code, ALK_ERR_PROTOCOL);
	/* a frame only the agent sends */
	AlkMsgExit ex = {.exit_code = 0};
	send_frame(alk_msg_exit_encode(frame, sizeof(frame), 53, &ex));
	ck_assert_uint_eq(expect_error(53).code, ALK_ERR_BAD_REQUEST);
	/* stdin for no request */
	send_frame(alk_msg_data_encode(frame, sizeof(frame), ALK_MSG_STDIN, 54, "x", 1));
	ck_assert_uint_eq(expect_error(54).code, ALK_ERR_NOT_FOUND);
	/* STDIN_EOF with a payload */
	h = (AlkFrameHeader){.type = ALK_MSG_STDIN_EOF, .id = 55, .len = 3};
	alk_header_pack(&h, frame);
	send_frame(ALK_PROTO_HEADER_SIZE + 3);
	ck_assert_uint_eq(expect_error(55).code, ALK_ERR_PROTOCOL);
	ping_pong();
	const char *argv[] = {"echo", "alive", NULL};
	Exec e;
	run_ok(&e, argv, 0, 0);
	ck_assert_uint_eq(e.out.len, 6);
	exec_free(&e);
}
END_TEST

/* Well-framed frames of every type with random payloads: answered or
 * dropped, never a crash or a hang. */
START_TEST(test_random_frames)
{
	uint32_t seed = 1234;
	for (int i = 0; i < 3000; i++) {
		AlkFrameHeader h = {.type = (uint8_t)xorshift(&seed), .id = 100000 + (uint32_t)i};
		h.len = xorshift(&seed) % 200;
		/* NET_CONFIG: this agent runs in the host's network namespace */
		if (h.type == ALK_MSG_SHUTDOWN || h.type == ALK_MSG_SYNC ||
		    h.type == ALK_MSG_NET_CONFIG)
			continue;
		alk_header_pack(&h, frame);
		for (uint32_t k = 0; k < h.len; k++)
			frame[ALK_PROTO_HEADER_SIZE + k] = (uint8_t)xorshift(&seed);
		send_frame(ALK_PROTO_HEADER_SIZE + h.len);
	}
	uint32_t id = next_id++;
	Frame f;
	send_ping(id, 9);
	do
		recv_frame(&f);
	while (f.h.type != ALK_MSG_PONG);
	ck_assert_uint_eq(f.h.id, id);
}
END_TEST

/* A header whose payload never comes is dropped after the read deadline;
 * otherwise the PING after it would be swallowed as that payload. */
START_TEST(test_read_deadline)
{
	Frame f;
	AlkFrameHeader h = {.type = ALK_MSG_PING, .id = 60, .len = 14};
	alk_header_pack(&h, frame);
	send_frame(ALK_PROTO_HEADER_SIZE + 4);
	ck_assert(!recv_until(&f, now_ms() + ALK_PROTO_READ_DEADLINE_MS + 1500));
	ping_pong();
}
END_TEST

/* ---- NET_CONFIG (in a network namespace of the agent's own) ---- */

static const AlkMsgNetConfig net_sample = {
    .mac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56},
    .address = {10, 0, 2, 15},
    .prefix_len = 24,
    .gateway = {10, 0, 2, 2},
    .dns = {10, 0, 2, 3},
    .mtu = 1400,
};

/* Output of a shell command run in the agent's network namespace. */
static void in_netns(const char *cmd, char *out, size_t n)
{
	char line[512];
	snprintf(line, sizeof(line), "nsenter --net=/proc/%d/ns/net sh -c '%s' 2>&1",
	         (int)agent_pid, cmd);
	FILE *p = popen(line, "r");
	ck_assert_ptr_nonnull(p);
	size_t len = fread(out, 1, n - 1, p);
	out[len] = '\0';
	ck_assert_int_eq(pclose(p), 0);
}

static void assert_netns_has(const char *cmd, const char *want)
{
	char out[4096];
	in_netns(cmd, out, sizeof(out));
	ck_assert_msg(strstr(out, want) != NULL, "%s: no \"%s\" in:\n%s", cmd, want, out);
}

static void net_send(uint32_t id, const AlkMsgNetConfig *c)
{
	send_frame(alk_msg_net_config_encode(frame, sizeof(frame), id, c));
}

static void expect_ok(uint32_t id)
{
	Frame f;
	recv_frame(&f);
	if (f.h.type == ALK_MSG_ERROR) {
		AlkMsgError e;
		ck_assert_int_eq(alk_msg_error_decode(f.p, f.h.len, &e), 0);
		ck_abort_msg("NET_CONFIG failed: %s", e.message);
	}
	ck_assert_msg(f.h.type == ALK_MSG_OK && f.h.id == id, "expected OK id %u, got %s id %u", id,
	              alk_proto_type_name(f.h.type), f.h.id);
}

static void read_file(const char *path, char *buf, size_t n)
{
	FILE *fp = fopen(path, "r");
	ck_assert_msg(fp != NULL, "%s: %s", path, strerror(errno));
	size_t len = fread(buf, 1, n - 1, fp);
	buf[len] = '\0';
	fclose(fp);
}

START_TEST(test_net_config)
{
	char buf[256];
	uint32_t id = next_id++;
	ck_assert_uint_eq(hello.caps & ALK_CAP_NET, ALK_CAP_NET);
	net_send(id, &net_sample);
	expect_ok(id);
	assert_netns_has("ip -o -4 addr show dev d0", "inet 10.0.2.15/24 brd 10.0.2.255");
	assert_netns_has("ip -o link show dev d0", "mtu 1400");
	assert_netns_has("ip -o link show dev d0", ",UP");
	assert_netns_has("ip -o link show dev lo", ",UP");
	assert_netns_has("ip route show default", "default via 10.0.2.2 dev d0");
	assert_netns_has("ip route show 10.0.2.0/24", "10.0.2.0/24 dev d0");
	assert_netns_has("cat /proc/sys/net/ipv6/conf/d0/disable_ipv6", "1");
	read_file(resolv_path, buf, sizeof(buf));
	ck_assert_str_eq(buf, "nameserver 10.0.2.3\n");
	in_netns("ip -o addr show dev p0; ip -o link show dev p0 up", buf, sizeof(buf));
	ck_assert_str_eq(buf, "");
	ck_assert_uint_eq(count_entries(tmpdir), 1); /* no temporary file left */
	/* the same again is fine (a daemon that restarted); another is not */
	id = next_id++;
	net_send(id, &net_sample);
	expect_ok(id);
	AlkMsgNetConfig other = net_sample;
	other.address[3] = 16;
	id = next_id++;
	net_send(id, &other);
	ck_assert_uint_eq(expect_error(id).code, ALK_ERR_BAD_REQUEST);
	assert_netns_has("ip -o -4 addr show dev d0", "inet 10.0.2.15/24");
}
END_TEST

/* No gateway, no DNS: no default route and resolv.conf left alone. */
START_TEST(test_net_config_minimal)
{
	AlkMsgNetConfig c = net_sample;
	char out[4096];
	uint32_t id = next_id++;
	memset(c.gateway, 0, sizeof(c.gateway));
	memset(c.dns, 0, sizeof(c.dns));
	c.prefix_len = 30;
	c.address[3] = 1;
	net_send(id, &c);
	expect_ok(id);
	assert_netns_has("ip -o -4 addr show dev d0", "inet 10.0.2.1/30");
	in_netns("ip route show default", out, sizeof(out));
	ck_assert_str_eq(out, "");
	ck_assert_int_ne(access(resolv_path, F_OK), 0);
}
END_TEST

/* A MAC no interface has: the agent keeps serving while it looks, then
 * answers NOT_FOUND, and touches nothing. */
START_TEST(test_net_config_wrong_mac)
{
	AlkMsgNetConfig c = net_sample;
	char out[4096];
	uint32_t id = next_id++;
	c.mac[5] = 0x57;
	uint64_t t0 = now_ms();
	net_send(id, &c);
	ping_pong();
	ck_assert_uint_lt(now_ms() - t0, 1000);
	AlkMsgError e = expect_error(id);
	ck_assert_uint_eq(e.code, ALK_ERR_NOT_FOUND);
	ck_assert_msg(strstr(e.message, "52:54:00:12:34:57") != NULL, "%s", e.message);
	ck_assert_uint_ge(now_ms() - t0, 2500);
	in_netns("ip -o -4 addr show dev d0", out, sizeof(out));
	ck_assert_str_eq(out, "");
	ck_assert_int_ne(access(resolv_path, F_OK), 0);
}
END_TEST

/* The NIC shows up a moment after the request, as virtio_net may. */
START_TEST(test_net_config_late_nic)
{
	AlkMsgNetConfig c = net_sample;
	char out[64];
	uint32_t id = next_id++;
	c.mac[5] = 0x58;
	net_send(id, &c);
	poll(NULL, 0, 300);
	in_netns("ip link add d1 address 52:54:00:12:34:58 type veth peer name p1", out,
	         sizeof(out));
	expect_ok(id);
	assert_netns_has("ip -o -4 addr show dev d1", "inet 10.0.2.15/24");
	in_netns("ip -o -4 addr show dev d0", out, sizeof(out));
	ck_assert_str_eq(out, "");
}
END_TEST

/* Root and a working `unshare --net`, else the NET_CONFIG tests are
 * skipped (the rest of the suite still runs). */
static bool netns_usable(void)
{
	return geteuid() == 0 && system("unshare --net ip link show lo >/dev/null 2>&1") == 0 &&
	       system("nsenter --version >/dev/null 2>&1") == 0;
}

static Suite *agent_suite(void)
{
	Suite *s = suite_create("agent");
	TCase *tc = tcase_create("agent");
	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, tree_setup, tree_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_hello);
	tcase_add_test(tc, test_version_flag);
	tcase_add_test(tc, test_sync);
	tcase_add_test(tc, test_ping);
	tcase_add_test(tc, test_echo);
	tcase_add_test(tc, test_exit_code);
	tcase_add_test(tc, test_signal_exit);
	tcase_add_test(tc, test_missing_binary);
	tcase_add_test(tc, test_env_cwd);
	tcase_add_test(tc, test_exec_user);
	tcase_add_test(tc, test_stdout_10mib);
	tcase_add_test(tc, test_stdin_1mib_cat);
	tcase_add_test(tc, test_stdin_window_exceeded);
	tcase_add_test(tc, test_concurrent_fifo);
	tcase_add_test(tc, test_timeout_kills_grandchild);
	tcase_add_test(tc, test_background_holds_pipe);
	tcase_add_test(tc, test_output_cap);
	tcase_add_test(tc, test_output_window);
	tcase_add_test(tc, test_file_get_window);
	tcase_add_test(tc, test_signal_request);
	tcase_add_test(tc, test_pty_exec);
	tcase_add_test(tc, test_pty_default_size);
	tcase_add_test(tc, test_pty_stdin_resize);
	tcase_add_test(tc, test_pty_ctrl_c_ctrl_d);
	tcase_add_test(tc, test_pty_bad_requests);
	tcase_add_test(tc, test_pty_output_window);
	tcase_add_test(tc, test_host_cancels_exec);
	tcase_add_test(tc, test_backpressure_bounded);
	tcase_add_test(tc, test_sync_kills_exec);
	tcase_add_test(tc, test_duplicate_id_and_busy);
	tcase_add_test(tc, test_file_put_get_10mib);
	tcase_add_test(tc, test_file_put_too_much);
	tcase_add_test(tc, test_file_put_short);
	tcase_add_test(tc, test_file_put_unannounced);
	tcase_add_test(tc, test_file_put_huge_announced);
	tcase_add_test(tc, test_file_put_bad_dir);
	tcase_add_test(tc, test_file_get_missing);
	tcase_add_test(tc, test_file_get_over_max);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_random_frames);
	tcase_add_test(tc, test_read_deadline);
	suite_add_tcase(s, tc);
	if (!netns_usable()) {
		fprintf(stderr, "NET_CONFIG tests skipped: need root, unshare --net and nsenter\n");
		return s;
	}
	tc = tcase_create("net");
	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, tree_setup, tree_teardown);
	tcase_add_checked_fixture(tc, setup_netns, teardown);
	tcase_add_test(tc, test_net_config);
	tcase_add_test(tc, test_net_config_minimal);
	tcase_add_test(tc, test_net_config_wrong_mac);
	tcase_add_test(tc, test_net_config_late_nic);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(agent_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
