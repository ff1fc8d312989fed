/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The host's agent channel against the real (host-built, static) agent:
 * the test plays QEMU, listening on a unix socket and handing the accepted
 * connection to `airlock-agent --fd`. */
#include <check.h>
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alk-channel.h"
#include "alk-error.h"

#ifndef ALK_AGENT_BIN
#define ALK_AGENT_BIN "agent/airlock-agent"
#endif

typedef struct {
	char *dir;
	char *path;
	int listener;
	int conn; /* the "QEMU" end, kept across agent restarts */
	pid_t agent;
	AlkChannelState state;
	GError *error;
	guint states;
} Fixture;

typedef struct {
	gboolean done;
	gboolean ok;
	GError *error;
	GString *out;
} Run;

static void on_state(AlkChannel *ch, AlkChannelState state, const GError *error, gpointer data)
{
	Fixture *f = data;
	f->state = state;
	f->states++;
	g_clear_error(&f->error);
	if (error != NULL)
		f->error = g_error_copy(error);
}

static gboolean wake(gpointer data)
{
	return G_SOURCE_CONTINUE;
}

/* Iterates the main loop until done(data) or 30 s. */
static gboolean loop_until(gboolean (*done)(gpointer), gpointer data)
{
	gint64 end = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
	guint tick = g_timeout_add(50, wake, NULL);
	gboolean ok;
	while (!(ok = done(data)) && g_get_monotonic_time() < end)
		g_main_context_iteration(NULL, TRUE);
	g_source_remove(tick);
	return ok;
}

static pid_t start_agent(int fd)
{
	const char *bin = g_getenv("ALK_AGENT_BIN") ?: ALK_AGENT_BIN;
	pid_t pid = fork();
	if (pid == 0) {
		char arg[16];
		g_snprintf(arg, sizeof(arg), "%d", fd);
		execl(bin, bin, "--fd", arg, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* NET_CONFIG changes the network of the agent's namespace: these agents
 * run in one of their own (unshare execs: the pid is the agent's), with a
 * veth d0 carrying NET_MAC whose peer is up (so d0 runs once the agent
 * brings it up), and no DNS is ever sent. */
#define NET_MAC "52:54:00:65:43:21"

static pid_t start_agent_netns(int fd)
{
	const char *bin = g_getenv("ALK_AGENT_BIN") ?: ALK_AGENT_BIN;
	pid_t pid = fork();
	if (pid == 0) {
		char arg[16];
		g_snprintf(arg, sizeof(arg), "%d", fd);
		execlp("unshare", "unshare", "--net", "sh", "-c",
		       "ip link add d0 address " NET_MAC " type veth peer name p0 && "
		       "ip link set p0 up && exec \"$0\" --fd \"$1\"",
		       bin, arg, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void listen_on(Fixture *f)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	f->dir = g_dir_make_tmp("alk-chan-XXXXXX", NULL);
	f->path = g_build_filename(f->dir, "agent.sock", NULL);
	g_strlcpy(addr.sun_path, f->path, sizeof(addr.sun_path));
	f->listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(bind(f->listener, (struct sockaddr *)&addr, sizeof(addr)), 0);
	ck_assert_int_eq(listen(f->listener, 1), 0);
}

static gboolean is_ready(gpointer data)
{
	return ((Fixture *)data)->state == ALK_CHANNEL_READY;
}

static gboolean is_done(gpointer data)
{
	return ((Run *)data)->done;
}

static void wait_ready(Fixture *f)
{
	ck_assert_msg(loop_until(is_ready, f), "channel not ready: %s",
	              f->error ? f->error->message : "-");
}

/* A channel connected to "QEMU's" socket (f's listener); with start, an
 * agent on the accepted end, waited for until ready. */
static AlkChannel *open_channel(Fixture *f, pid_t (*start)(int fd))
{
	AlkChannel *ch;

	listen_on(f);
	ch = alk_channel_new(f->path, on_state, f);
	alk_channel_open(ch, g_get_monotonic_time() + 30 * G_USEC_PER_SEC);
	f->conn = accept(f->listener, NULL, NULL);
	ck_assert_int_ge(f->conn, 0);
	if (start != NULL) {
		f->agent = start(f->conn);
		wait_ready(f);
	}
	return ch;
}

static void run_output(AlkChannelOp *op, int stream, const guint8 *d, gsize len, gpointer data)
{
	g_string_append_len(((Run *)data)->out, (const char *)d, len);
}

static void run_done(AlkChannelOp *op, const AlkMsgExit *exit, gpointer data)
{
	Run *r = data;
	r->ok = exit->exit_code == 0;
	r->done = TRUE;
}

static void run_failed(AlkChannelOp *op, const GError *error, gpointer data)
{
	Run *r = data;
	r->error = g_error_copy(error);
	r->done = TRUE;
}

static const AlkExecCallbacks run_cb = {
    .output = run_output, .done = run_done, .failed = run_failed};

static AlkChannelOp *start_sh(AlkChannel *ch, const char *cmd, Run *r)
{
	AlkMsgExec m = {.argc = 3, .argv = {"/bin/sh", "-c", cmd}};
	g_autoptr(GError) error = NULL;
	AlkChannelOp *op;
	memset(r, 0, sizeof(*r));
	r->out = g_string_new(NULL);
	op = alk_channel_exec(ch, &m, &run_cb, r, &error);
	ck_assert_msg(op != NULL, "%s", error ? error->message : "?");
	return op;
}

static void fixture_clear(Fixture *f)
{
	if (f->agent > 0) {
		kill(f->agent, SIGKILL);
		waitpid(f->agent, NULL, 0);
	}
	if (f->conn >= 0)
		close(f->conn);
	close(f->listener);
	g_unlink(f->path);
	g_rmdir(f->dir);
	g_free(f->path);
	g_free(f->dir);
	g_clear_error(&f->error);
}

/* Connects, handshakes, runs an exec; then the agent is replaced by a new
 * one on the same connection (a restart, as a guest reboot or crash would
 * look): its HELLO carries a new nonce, the exec in flight fails, and the
 * channel syncs again and serves. */
START_TEST(test_agent_restart)
{
	Fixture f = {.conn = -1};
	g_autoptr(AlkChannel) ch = NULL;
	guint8 nonce[ALK_PROTO_NONCE_SIZE];
	Run r1, r2;

	ch = open_channel(&f, start_agent);
	memcpy(nonce, alk_channel_get_hello(ch)->nonce, sizeof(nonce));

	start_sh(ch, "echo first", &r1);
	ck_assert(loop_until(is_done, &r1));
	ck_assert(r1.ok);
	ck_assert_str_eq(r1.out->str, "first\n");

	start_sh(ch, "sleep 30", &r2);
	kill(f.agent, SIGKILL);
	waitpid(f.agent, NULL, 0);
	f.agent = start_agent(f.conn);
	ck_assert(loop_until(is_done, &r2));
	ck_assert(r2.error != NULL);
	ck_assert_msg(strstr(r2.error->message, "restarted") != NULL, "%s", r2.error->message);
	wait_ready(&f);
	ck_assert(memcmp(nonce, alk_channel_get_hello(ch)->nonce, sizeof(nonce)) != 0);

	g_string_free(r1.out, TRUE);
	g_string_free(r2.out, TRUE);
	g_clear_error(&r2.error);
	start_sh(ch, "echo again", &r1);
	ck_assert(loop_until(is_done, &r1));
	ck_assert_str_eq(r1.out->str, "again\n");
	g_string_free(r1.out, TRUE);
	fixture_clear(&f);
}
END_TEST

/* A connection QEMU takes and drops while the channel connects (as when
 * a rebooting guest's QEMU goes, or is slow to start) is not the end:
 * the channel keeps trying until its deadline and serves the agent that
 * comes next on the same socket. */
START_TEST(test_connection_dropped_while_connecting)
{
	Fixture f = {.conn = -1};
	g_autoptr(AlkChannel) ch = NULL;
	gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	struct pollfd pfd;
	guint tick;
	Run r;

	ch = open_channel(&f, NULL);
	close(f.conn);
	f.conn = -1;
	/* the channel notices the hang-up and connects again */
	pfd = (struct pollfd){.fd = f.listener, .events = POLLIN};
	tick = g_timeout_add(50, wake, NULL);
	while (poll(&pfd, 1, 0) == 0 && g_get_monotonic_time() < end)
		g_main_context_iteration(NULL, TRUE);
	g_source_remove(tick);
	ck_assert_msg(pfd.revents & POLLIN, "no second connection");
	ck_assert_msg(f.states == 0, "the channel reported a state change: %d", f.state);
	f.conn = accept(f.listener, NULL, NULL);
	ck_assert_int_ge(f.conn, 0);
	f.agent = start_agent(f.conn);
	wait_ready(&f);
	start_sh(ch, "echo served", &r);
	ck_assert(loop_until(is_done, &r));
	ck_assert_str_eq(r.out->str, "served\n");
	g_string_free(r.out, TRUE);
	fixture_clear(&f);
}
END_TEST

/* A held exec (its consumer is behind) stops only its own output, in the
 * guest, within the window: another exec of the same channel runs to its
 * end meanwhile, and the held one completes once let go. */
static void hold_output(AlkChannelOp *op, int stream, const guint8 *d, gsize len, gpointer data)
{
	Run *r = data;
	g_string_append_len(r->out, (const char *)d, len);
	alk_channel_op_hold(op, TRUE);
}

static const AlkExecCallbacks hold_cb = {
    .output = hold_output, .done = run_done, .failed = run_failed};

START_TEST(test_held_exec_holds_only_itself)
{
	Fixture f = {.conn = -1};
	g_autoptr(AlkChannel) ch = NULL;
	AlkMsgExec m = {.argc = 3, .argv = {"/bin/sh", "-c", "head -c 4194304 /dev/zero"}};
	g_autoptr(GError) error = NULL;
	AlkChannelOp *held;
	Run big = {0}, other;

	ch = open_channel(&f, start_agent);
	ck_assert(alk_channel_get_hello(ch)->caps & ALK_CAP_CREDIT);

	big.out = g_string_new(NULL);
	held = alk_channel_exec(ch, &m, &hold_cb, &big, &error);
	ck_assert_msg(held != NULL, "%s", error ? error->message : "");
	start_sh(ch, "echo other", &other);
	ck_assert_msg(loop_until(is_done, &other), "the other exec waited for the held one");
	ck_assert(other.ok);
	ck_assert_str_eq(other.out->str, "other\n");
	ck_assert(!big.done);
	ck_assert_uint_le(big.out->len, ALK_PROTO_OUTPUT_WINDOW);
	alk_channel_op_hold(held, FALSE);
	/* from here on each output holds again: let it go each time */
	while (!big.done) {
		g_main_context_iteration(NULL, TRUE);
		if (!big.done)
			alk_channel_op_hold(held, FALSE);
	}
	ck_assert(big.ok);
	ck_assert_uint_eq(big.out->len, 4194304);
	g_string_free(big.out, TRUE);
	g_string_free(other.out, TRUE);
	fixture_clear(&f);
}
END_TEST

/* ---- a hostile agent, played by the test on "QEMU's" end ---- */

typedef struct {
	AlkDecoder dec;
	guint8 buf[65536];
	gsize off, len;
	guint8 payload[ALK_PROTO_MAX_PAYLOAD];
	guint8 frame[ALK_PROTO_MAX_FRAME];
} Peer;

/* The host's next frame (the loop runs meanwhile); FALSE after 10 s. */
static gboolean peer_next(Fixture *f, Peer *p, AlkFrameHeader *h)
{
	gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

	while (g_get_monotonic_time() < end) {
		struct pollfd pfd = {.fd = f->conn, .events = POLLIN};
		if (p->off < p->len)
			p->off += alk_decoder_feed(&p->dec, p->buf + p->off, p->len - p->off);
		if (alk_decoder_ready(&p->dec)) {
			const guint8 *d = alk_decoder_frame(&p->dec, h);
			memcpy(p->payload, d, h->len);
			alk_decoder_consume(&p->dec);
			return TRUE;
		}
		if (p->off < p->len)
			continue;
		g_main_context_iteration(NULL, FALSE);
		if (poll(&pfd, 1, 10) == 1) {
			ssize_t n = read(f->conn, p->buf, sizeof(p->buf));
			ck_assert_int_gt(n, 0);
			p->off = 0;
			p->len = (gsize)n;
		}
	}
	return FALSE;
}

/* Writes a frame, letting the channel read meanwhile (one thread does both). */
static void peer_send(Fixture *f, Peer *p, long n)
{
	gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	long off = 0;

	ck_assert_int_gt(n, 0);
	while (off < n && g_get_monotonic_time() < end) {
		struct pollfd pfd = {.fd = f->conn, .events = POLLOUT};
		ssize_t w = send(f->conn, p->frame + off, (gsize)(n - off), MSG_DONTWAIT);
		if (w > 0) {
			off += w;
			continue;
		}
		ck_assert_msg(errno == EAGAIN, "send: %s", g_strerror(errno));
		g_main_context_iteration(NULL, FALSE);
		poll(&pfd, 1, 10);
	}
	ck_assert_int_eq(off, n);
}

/* Greets with CAP_CREDIT and answers the host's SYNC: the channel is ready. */
static void peer_handshake(Fixture *f, Peer *p)
{
	AlkMsgHello hello = {.version = 1,
	                     .caps = ALK_CAP_EXEC | ALK_CAP_CREDIT,
	                     .max_payload = ALK_PROTO_MAX_PAYLOAD,
	                     .agent_version = "hostile"};
	AlkFrameHeader h;
	AlkMsgSync sync;

	memset(hello.nonce, 7, sizeof(hello.nonce));
	alk_decoder_init(&p->dec);
	peer_send(f, p, alk_msg_hello_encode(p->frame, sizeof(p->frame), &hello));
	/* every SYNC answered (the one sent at connect is stale after HELLO) */
	while (f->state != ALK_CHANNEL_READY) {
		ck_assert(peer_next(f, p, &h));
		if (h.type != ALK_MSG_SYNC)
			continue;
		ck_assert_int_eq(alk_msg_sync_decode(p->payload, h.len, &sync), 0);
		peer_send(
		    f, p,
		    alk_msg_sync_encode(p->frame, sizeof(p->frame), ALK_MSG_SYNC_ACK, h.id, &sync));
		g_main_context_iteration(NULL, FALSE);
	}
	wait_ready(f);
}

/* An agent that sends more than the window it was given while its
 * consumer is behind (the op held, nothing granted) fails its exec: the
 * daemon does not take a guest's word for the window. */
START_TEST(test_window_overrun_fails_the_exec)
{
	static Peer p;
	Fixture f = {.conn = -1};
	g_autoptr(AlkChannel) ch = open_channel(&f, NULL);
	AlkMsgStarted started = {.pid = 42};
	static guint8 chunk[ALK_PROTO_MAX_CHUNK];
	AlkFrameHeader h;
	Run r;

	AlkMsgExec m = {.argc = 1, .argv = {"yes"}};

	peer_handshake(&f, &p);
	memset(&r, 0, sizeof(r));
	r.out = g_string_new(NULL);
	ck_assert(alk_channel_exec(ch, &m, &hold_cb, &r, NULL) != NULL);
	do
		ck_assert(peer_next(&f, &p, &h));
	while (h.type != ALK_MSG_EXEC);
	peer_send(&f, &p, alk_msg_started_encode(p.frame, sizeof(p.frame), h.id, &started));
	for (guint i = 0; i <= ALK_PROTO_OUTPUT_WINDOW / sizeof(chunk); i++)
		peer_send(&f, &p,
		          alk_msg_data_encode(p.frame, sizeof(p.frame), ALK_MSG_STDOUT, h.id, chunk,
		                              sizeof(chunk)));
	ck_assert(loop_until(is_done, &r));
	ck_assert(r.error != NULL);
	ck_assert_msg(strstr(r.error->message, "beyond its credit window") != NULL, "%s",
	              r.error->message);
	ck_assert_uint_le(r.out->len, ALK_PROTO_OUTPUT_WINDOW);
	g_string_free(r.out, TRUE);
	g_clear_error(&r.error);
	fixture_clear(&f);
}
END_TEST

static gboolean has_ready(gpointer data)
{
	return strstr(((Run *)data)->out->str, "ready") != NULL || ((Run *)data)->done;
}

/* A tty exec through the channel: the window size it asked for, then a
 * RESIZE the process sees. */
START_TEST(test_tty_exec_and_resize)
{
	Fixture f = {.conn = -1};
	g_autoptr(AlkChannel) ch = NULL;
	AlkMsgExec m = {.argc = 3,
	                .argv = {"/bin/sh", "-c", "stty size; echo ready; read x; stty size"},
	                .stdin_mode = ALK_STDIN_PIPE,
	                .tty = 1,
	                .rows = 33,
	                .cols = 77};
	g_autoptr(GError) error = NULL;
	AlkChannelOp *op;
	Run r = {0};

	ch = open_channel(&f, start_agent);
	ck_assert(alk_channel_get_hello(ch)->caps & ALK_CAP_PTY);
	r.out = g_string_new(NULL);
	op = alk_channel_exec(ch, &m, &run_cb, &r, &error);
	ck_assert_msg(op != NULL, "%s", error ? error->message : "");
	ck_assert(loop_until(has_ready, &r));
	ck_assert_msg(strstr(r.out->str, "33 77\r\n") != NULL, "%s", r.out->str);
	/* the input after the resize: stty runs once both are in */
	alk_channel_op_resize(op, 44, 99);
	alk_channel_op_resize(op, 0, 99); /* out of range: not sent */
	ck_assert_uint_eq(alk_channel_op_write(op, (const guint8 *)"go\n", 3), 3);
	ck_assert(loop_until(is_done, &r));
	ck_assert(r.ok);
	ck_assert_msg(strstr(r.out->str, "44 99\r\n") != NULL, "%s", r.out->str);
	g_string_free(r.out, TRUE);
	fixture_clear(&f);
}
END_TEST

/* An agent without ALK_CAP_PTY is never sent a tty exec. */
START_TEST(test_tty_refused_by_old_agent)
{
	static Peer p;
	Fixture f = {.conn = -1};
	g_autoptr(AlkChannel) ch = open_channel(&f, NULL);
	AlkMsgExec m = {.argc = 1, .argv = {"sh"}, .tty = 1};
	g_autoptr(GError) error = NULL;

	peer_handshake(&f, &p);
	ck_assert(alk_channel_exec(ch, &m, &run_cb, NULL, &error) == NULL);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_CONFLICT));
	ck_assert_msg(strstr(error->message, "hostile") != NULL, "%s", error->message);
	fixture_clear(&f);
}
END_TEST

/* Garbage instead of an agent: the open fails with a clear error once
 * the garbage limit is passed, with memory bounded by the decoder. */
START_TEST(test_garbage_fails_open)
{
	Fixture f = {.conn = -1};
	g_autoptr(AlkChannel) ch = NULL;
	guint8 junk[65536];
	gboolean closed = FALSE;

	ch = open_channel(&f, NULL);
	for (gsize i = 0; i < sizeof(junk); i++)
		junk[i] = (guint8)g_random_int();
	for (int i = 0; i < 32 && !closed; i++) {
		ck_assert_int_eq(write(f.conn, junk, sizeof(junk)), (ssize_t)sizeof(junk));
		g_main_context_iteration(NULL, FALSE);
		closed = f.state == ALK_CHANNEL_CLOSED && f.states > 0;
	}
	while (!closed && g_main_context_iteration(NULL, FALSE))
		closed = f.state == ALK_CHANNEL_CLOSED && f.states > 0;
	ck_assert(closed);
	ck_assert(g_error_matches(f.error, ALK_ERROR, ALK_ERROR_PROTOCOL));
	ck_assert_msg(strstr(f.error->message, "not protocol frames") != NULL, "%s",
	              f.error->message);
	fixture_clear(&f);
}
END_TEST

/* ---- NET_CONFIG ---- */

typedef struct {
	gboolean done;
	gboolean ok;
	GError *error;
	AlkChannel *ch;
} NetRun;

static void net_done(GObject *source, GAsyncResult *res, gpointer data)
{
	NetRun *r = data;
	r->ok = alk_channel_net_config_finish(r->ch, res, &r->error);
	r->done = TRUE;
}

static gboolean net_is_done(gpointer data)
{
	return ((NetRun *)data)->done;
}

static const AlkMsgNetConfig net_cfg = {
    .mac = {0x52, 0x54, 0x00, 0x65, 0x43, 0x21},
    .address = {172, 30, 0, 2},
    .prefix_len = 24,
    .gateway = {172, 30, 0, 1},
    .mtu = 1500,
};

static AlkChannel *net_open(Fixture *f)
{
	return open_channel(f, start_agent_netns);
}

static void net_start(AlkChannel *ch, const AlkMsgNetConfig *cfg, GCancellable *cancel, NetRun *r)
{
	memset(r, 0, sizeof(*r));
	r->ch = ch;
	alk_channel_net_config_async(ch, cfg, cancel, net_done, r);
}

static gchar *in_netns(pid_t pid, const char *cmd)
{
	g_autofree gchar *line = g_strdup_printf("nsenter --net=/proc/%d/ns/net %s", (int)pid, cmd);
	gchar *out = NULL;
	gint status = -1;
	ck_assert(g_spawn_command_line_sync(line, &out, NULL, &status, NULL));
	ck_assert_int_eq(status, 0);
	return out;
}

START_TEST(test_net_config)
{
	Fixture f = {.conn = -1};
	g_autoptr(AlkChannel) ch = net_open(&f);
	g_autofree gchar *addr = NULL, *route = NULL;
	AlkMsgNetConfig bad = net_cfg;
	NetRun r;

	ck_assert(alk_channel_get_hello(ch)->caps & ALK_CAP_NET);
	net_start(ch, &net_cfg, NULL, &r);
	ck_assert(!r.done); /* never completes inside the call */
	ck_assert(loop_until(net_is_done, &r));
	ck_assert_msg(r.ok, "%s", r.error ? r.error->message : "?");
	addr = in_netns(f.agent, "ip -o -4 addr show dev d0");
	ck_assert_msg(strstr(addr, "inet 172.30.0.2/24") != NULL, "%s", addr);
	route = in_netns(f.agent, "ip route show default");
	ck_assert_msg(strstr(route, "default via 172.30.0.1 dev d0") != NULL, "%s", route);

	/* another address: the agent's ERROR comes back as a guest error */
	bad.address[3] = 3;
	net_start(ch, &bad, NULL, &r);
	ck_assert(loop_until(net_is_done, &r));
	ck_assert(!r.ok);
	ck_assert(g_error_matches(r.error, ALK_ERROR, ALK_ERROR_GUEST));
	ck_assert_msg(strstr(r.error->message, "already configured") != NULL, "%s",
	              r.error->message);
	g_clear_error(&r.error);

	/* what does not encode never reaches the agent */
	bad = net_cfg;
	bad.mtu = 100;
	net_start(ch, &bad, NULL, &r);
	ck_assert(loop_until(net_is_done, &r));
	ck_assert(g_error_matches(r.error, ALK_ERROR, ALK_ERROR_INVALID));
	g_clear_error(&r.error);
	fixture_clear(&f);
}
END_TEST

/* A MAC the guest lacks: ERROR after the agent's wait, as ALK_ERROR_GUEST. */
START_TEST(test_net_config_wrong_mac)
{
	Fixture f = {.conn = -1};
	g_autoptr(AlkChannel) ch = net_open(&f);
	AlkMsgNetConfig cfg = net_cfg;
	NetRun r;

	cfg.mac[5] = 0x22;
	net_start(ch, &cfg, NULL, &r);
	ck_assert(loop_until(net_is_done, &r));
	ck_assert(!r.ok);
	ck_assert(g_error_matches(r.error, ALK_ERROR, ALK_ERROR_GUEST));
	ck_assert_msg(strstr(r.error->message, "52:54:00:65:43:22") != NULL, "%s",
	              r.error->message);
	g_clear_error(&r.error);
	fixture_clear(&f);
}
END_TEST

/* Cancelled while the agent looks for the NIC; then the channel is freed
 * with another request in flight: both callbacks still run, once. */
START_TEST(test_net_config_cancel_and_free)
{
	Fixture f = {.conn = -1};
	AlkChannel *ch = net_open(&f);
	g_autoptr(GCancellable) cancel = g_cancellable_new();
	AlkMsgNetConfig cfg = net_cfg;
	NetRun r;
	gint64 t0 = g_get_monotonic_time();

	cfg.mac[5] = 0x22;
	net_start(ch, &cfg, cancel, &r);
	g_cancellable_cancel(cancel);
	ck_assert(loop_until(net_is_done, &r));
	ck_assert(g_error_matches(r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
	ck_assert_int_lt(g_get_monotonic_time() - t0, G_USEC_PER_SEC);
	g_clear_error(&r.error);

	/* the agent dropped the cancelled request: a new one is not BUSY */
	net_start(ch, &net_cfg, NULL, &r);
	ck_assert(loop_until(net_is_done, &r));
	ck_assert_msg(r.ok, "%s", r.error ? r.error->message : "?");

	net_start(ch, &cfg, NULL, &r);
	alk_channel_free(ch);
	ck_assert(!r.done);
	ck_assert(loop_until(net_is_done, &r));
	ck_assert(g_error_matches(r.error, ALK_ERROR, ALK_ERROR_UNAVAILABLE));
	g_clear_error(&r.error);
	fixture_clear(&f);
}
END_TEST

static gboolean netns_usable(void)
{
	return geteuid() == 0 && system("unshare --net ip link show lo >/dev/null 2>&1") == 0 &&
	       system("nsenter --version >/dev/null 2>&1") == 0;
}

int main(void)
{
	Suite *s = suite_create("channel");
	TCase *tc = tcase_create("agent");
	SRunner *sr;
	int failed;

	signal(SIGPIPE, SIG_IGN);
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, test_agent_restart);
	tcase_add_test(tc, test_garbage_fails_open);
	tcase_add_test(tc, test_connection_dropped_while_connecting);
	tcase_add_test(tc, test_held_exec_holds_only_itself);
	tcase_add_test(tc, test_window_overrun_fails_the_exec);
	tcase_add_test(tc, test_tty_exec_and_resize);
	tcase_add_test(tc, test_tty_refused_by_old_agent);
	if (netns_usable()) {
		tcase_add_test(tc, test_net_config);
		tcase_add_test(tc, test_net_config_wrong_mac);
		tcase_add_test(tc, test_net_config_cancel_and_free);
	} else {
		fprintf(stderr, "NET_CONFIG tests skipped: need root, unshare --net and nsenter\n");
	}
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
