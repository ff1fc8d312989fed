/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration tests of the guest agent and the minimal image: each test
 * boots a real QEMU guest (TCG) through a real libvirtd and speaks the wire
 * protocol to airlock-agent over virtio-serial. */
#include <check.h>
#include <glib.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alk-error.h"
#include "alk-test-guest.h"

#define DL(s) (g_get_monotonic_time() + (gint64)(s)*G_USEC_PER_SEC)

static pid_t owner;

static AlkTestGuest *boot(void)
{
	g_autoptr(GError) error = NULL;
	AlkTestGuest *g = alk_test_guest_boot("minimal", &error);
	ck_assert_msg(g != NULL, "boot: %s", error ? error->message : "?");
	return g;
}

/* Frees the guest and proves nothing of it is left. */
static void finish(AlkTestGuest *g)
{
	alk_test_guest_free(g);
	ck_assert_uint_eq(alk_test_count_leftovers(owner), 0);
}

static void run_ok(AlkTestGuest *g, const char *const *argv, GBytes *in, guint32 timeout_ms,
                   guint64 cap, AlkTestExec *r)
{
	g_autoptr(GError) error = NULL;
	gboolean ok = alk_test_guest_exec(g, argv, in, timeout_ms, cap, r, DL(120), &error);
	ck_assert_msg(ok, "exec %s: %s", argv[0], error ? error->message : "?");
}

static char *sh(AlkTestGuest *g, const char *cmd, int *code)
{
	g_autoptr(GError) error = NULL;
	char *out = alk_test_guest_sh(g, cmd, code, &error);
	ck_assert_msg(out != NULL, "sh %s: %s", cmd, error ? error->message : "?");
	return out;
}

START_TEST(test_echo_and_hello)
{
	AlkTestGuest *g = boot();
	const AlkMsgHello *hello = alk_test_guest_hello(g);
	static const guint8 zero[ALK_PROTO_NONCE_SIZE];
	const char *argv[] = {"/bin/echo", "hello", "airlock", NULL};
	AlkTestExec r;

	ck_assert_uint_eq(hello->version, ALK_PROTO_VERSION);
	ck_assert(memcmp(hello->nonce, zero, sizeof(zero)) != 0);
	ck_assert(hello->caps & ALK_CAP_EXEC);
	run_ok(g, argv, NULL, 0, 0, &r);
	ck_assert_int_eq(r.exit_code, 0);
	ck_assert_uint_eq(r.out->len, strlen("hello airlock\n"));
	ck_assert(memcmp(r.out->data, "hello airlock\n", r.out->len) == 0);
	ck_assert_uint_gt(r.pid, 1);
	alk_test_exec_clear(&r);
	finish(g);
}
END_TEST

START_TEST(test_exit_codes)
{
	AlkTestGuest *g = boot();
	const char *exit3[] = {"/bin/sh", "-c", "echo oops >&2; exit 3", NULL};
	const char *killed[] = {"/bin/sh", "-c", "kill -9 $$", NULL};
	const char *missing[] = {"/no/such/binary", NULL};
	g_autoptr(GError) error = NULL;
	AlkTestExec r;

	run_ok(g, exit3, NULL, 0, 0, &r);
	ck_assert_int_eq(r.exit_code, 3);
	ck_assert_uint_eq(r.signo, 0);
	ck_assert(r.err->len == 5 && memcmp(r.err->data, "oops\n", 5) == 0);
	alk_test_exec_clear(&r);
	run_ok(g, killed, NULL, 0, 0, &r);
	ck_assert_uint_eq(r.signo, SIGKILL);
	ck_assert_int_eq(r.exit_code, -1);
	alk_test_exec_clear(&r);
	ck_assert(!alk_test_guest_exec(g, missing, NULL, 0, 0, &r, DL(60), &error));
	ck_assert_msg(strstr(error->message, "No such file") != NULL, "%s", error->message);
	alk_test_exec_clear(&r);
	finish(g);
}
END_TEST

START_TEST(test_stdout_10mib_streams)
{
	AlkTestGuest *g = boot();
	const char *argv[] = {"/bin/sh", "-c", "echo start; sleep 2; head -c 10485760 /dev/zero",
	                      NULL};
	AlkTestExec r;

	run_ok(g, argv, NULL, 0, 0, &r);
	ck_assert_int_eq(r.exit_code, 0);
	ck_assert_uint_eq(r.out->len, 10485760 + 6);
	ck_assert_uint_eq(r.stdout_bytes, 10485760 + 6);
	ck_assert(!r.truncated);
	/* streamed as produced: the first line came long before the end */
	ck_assert_int_gt(r.first_out_us, 0);
	ck_assert_int_lt(r.first_out_us, r.exit_us - G_USEC_PER_SEC);
	alk_test_exec_clear(&r);
	finish(g);
}
END_TEST

START_TEST(test_stdin_1mib_echo)
{
	AlkTestGuest *g = boot();
	const char *argv[] = {"/bin/cat", NULL};
	g_autofree guint8 *data = g_malloc(1 << 20);
	g_autoptr(GBytes) in = NULL;
	AlkTestExec r;

	for (gsize i = 0; i < (1 << 20); i++)
		data[i] = (guint8)g_random_int();
	in = g_bytes_new(data, 1 << 20);
	run_ok(g, argv, in, 0, 0, &r);
	ck_assert_int_eq(r.exit_code, 0);
	ck_assert_uint_eq(r.out->len, 1 << 20);
	ck_assert(memcmp(r.out->data, data, 1 << 20) == 0);
	alk_test_exec_clear(&r);
	finish(g);
}
END_TEST

START_TEST(test_concurrent_execs_meet)
{
	AlkTestGuest *g = boot();
	const char *reader[] = {"/bin/sh", "-c", "cat /tmp/meet > /tmp/got", NULL};
	const char *writer[] = {"/bin/sh", "-c", "echo met > /tmp/meet", NULL};
	g_autoptr(GError) error = NULL;
	g_autofree char *got = NULL;
	AlkMsgExec m = {.argc = 3};
	guint8 frame[ALK_PROTO_MAX_FRAME];
	AlkTestExec r;
	int code = -1;

	g_free(sh(g, "mkfifo /tmp/meet", &code));
	ck_assert_int_eq(code, 0);
	/* the reader is left running: its replies are not waited for */
	memcpy(m.argv, reader, sizeof(reader));
	long n = alk_msg_exec_encode(frame, sizeof(frame), alk_test_guest_next_id(g), &m);
	ck_assert_int_gt(n, 0);
	ck_assert(alk_test_guest_send(g, frame, n, DL(10), &error));
	/* opening a fifo for writing blocks until a reader has it open: this
	 * exec only ends if the reader runs at the same time */
	run_ok(g, writer, NULL, 30000, 0, &r);
	ck_assert_msg(!r.timed_out, "the two execs never met");
	ck_assert_int_eq(r.exit_code, 0);
	alk_test_exec_clear(&r);
	got = sh(g, "while [ ! -s /tmp/got ]; do sleep 0.05; done; cat /tmp/got", &code);
	ck_assert_str_eq(got, "met\n");
	finish(g);
}
END_TEST

START_TEST(test_timeout_kills_group)
{
	AlkTestGuest *g = boot();
	const char *argv[] = {"/bin/sh", "-c", "sleep 100 & echo $!; wait", NULL};
	g_autofree char *cmd = NULL;
	g_autofree char *state = NULL;
	AlkTestExec r;
	int code;

	run_ok(g, argv, NULL, 1000, 0, &r);
	ck_assert(r.timed_out);
	ck_assert_uint_eq(r.signo, SIGKILL);
	g_byte_array_append(r.out, (const guint8 *)"", 1);
	int pid = atoi((const char *)r.out->data);
	ck_assert_int_gt(pid, 1);
	alk_test_exec_clear(&r);
	cmd =
	    g_strdup_printf("if kill -0 %d 2>/dev/null; then echo alive; else echo gone; fi", pid);
	state = sh(g, cmd, &code);
	ck_assert_str_eq(state, "gone\n");
	finish(g);
}
END_TEST

START_TEST(test_output_cap)
{
	AlkTestGuest *g = boot();
	const char *argv[] = {"/bin/sh", "-c", "head -c 200000 /dev/zero", NULL};
	AlkTestExec r;

	run_ok(g, argv, NULL, 0, 4096, &r);
	ck_assert_int_eq(r.exit_code, 0);
	ck_assert(r.truncated);
	ck_assert_uint_eq(r.out->len, 4096);
	ck_assert_uint_eq(r.stdout_bytes, 200000);
	alk_test_exec_clear(&r);
	finish(g);
}
END_TEST

START_TEST(test_file_put_get_10mib)
{
	AlkTestGuest *g = boot();
	gsize len = 10 << 20;
	g_autofree guint8 *data = g_malloc(len);
	g_autoptr(GBytes) in = NULL;
	g_autoptr(GBytes) back = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *want = NULL;
	g_autofree char *guest_sum = NULL;
	g_autofree char *mode = NULL;
	int code;

	for (gsize i = 0; i < len; i++)
		data[i] = (guint8)g_random_int();
	in = g_bytes_new(data, len);
	want = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, in);
	ck_assert_msg(alk_test_guest_put(g, "/root/blob", 0640, in, DL(300), &error), "put: %s",
	              error ? error->message : "?");
	guest_sum = sh(g, "sha256sum /root/blob | cut -d' ' -f1", &code);
	ck_assert_str_eq(g_strstrip(guest_sum), want);
	mode = sh(g, "stat -c %a /root/blob", &code);
	ck_assert_str_eq(mode, "640\n");
	back = alk_test_guest_get(g, "/root/blob", DL(300), &error);
	ck_assert_msg(back != NULL, "get: %s", error ? error->message : "?");
	g_autofree char *got = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, back);
	ck_assert_str_eq(got, want);
	ck_assert(alk_test_guest_get(g, "/no/such/file", DL(30), &error) == NULL);
	finish(g);
}
END_TEST

START_TEST(test_reconnect)
{
	AlkTestGuest *g = boot();
	guint8 nonce[ALK_PROTO_NONCE_SIZE];
	g_autoptr(GError) error = NULL;
	g_autofree char *out = NULL;
	int code;

	memcpy(nonce, alk_test_guest_hello(g)->nonce, sizeof(nonce));
	for (int round = 0; round < 3; round++) {
		alk_test_guest_disconnect(g);
		ck_assert(alk_test_guest_connect(g, DL(30), &error));
		ck_assert_msg(alk_test_guest_sync(g, DL(60), &error), "sync: %s",
		              error ? error->message : "?");
		g_free(out);
		out = sh(g, "echo again", &code);
		ck_assert_str_eq(out, "again\n");
	}
	/* same boot: the agent did not restart */
	ck_assert(memcmp(nonce, alk_test_guest_hello(g)->nonce, sizeof(nonce)) == 0);
	finish(g);
}
END_TEST

/* Waits for an ERROR frame with this id and returns its code. */
static guint32 expect_error(AlkTestGuest *g, guint32 id)
{
	for (;;) {
		AlkFrameHeader h;
		g_autoptr(GBytes) p = NULL;
		g_autoptr(GError) error = NULL;
		AlkMsgError e;
		gsize n;
		ck_assert_msg(alk_test_guest_recv(g, &h, &p, DL(30), &error), "no ERROR: %s",
		              error->message);
		if (h.id != id)
			continue;
		ck_assert_int_eq(h.type, ALK_MSG_ERROR);
		const guint8 *data = g_bytes_get_data(p, &n);
		ck_assert_int_eq(alk_msg_error_decode(data, n, &e), 0);
		return e.code;
	}
}

START_TEST(test_garbage_from_host)
{
	AlkTestGuest *g = boot();
	g_autoptr(GError) error = NULL;
	g_autofree char *out = NULL;
	guint8 junk[65536];
	guint8 frame[ALK_PROTO_MAX_FRAME];
	AlkFrameHeader h = {.type = 99, .id = alk_test_guest_next_id(g), .len = 0};
	int code;

	g_random_set_seed(42);
	for (gsize i = 0; i < sizeof(junk); i++)
		junk[i] = (guint8)g_random_int();
	ck_assert(alk_test_guest_send(g, junk, sizeof(junk), DL(30), &error));
	/* a well-framed frame of an unknown type */
	alk_header_pack(&h, frame);
	ck_assert(alk_test_guest_send(g, frame, ALK_PROTO_HEADER_SIZE, DL(30), &error));
	ck_assert_uint_eq(expect_error(g, h.id), ALK_ERR_UNKNOWN_TYPE);
	/* a well-framed EXEC whose payload is nonsense */
	h.type = ALK_MSG_EXEC;
	h.id = alk_test_guest_next_id(g);
	h.len = 64;
	alk_header_pack(&h, frame);
	memset(frame + ALK_PROTO_HEADER_SIZE, 0xff, 64);
	ck_assert(alk_test_guest_send(g, frame, ALK_PROTO_HEADER_SIZE + 64, DL(30), &error));
	ck_assert_uint_eq(expect_error(g, h.id), ALK_ERR_PROTOCOL);
	/* and it still serves */
	out = sh(g, "echo alive", &code);
	ck_assert_str_eq(out, "alive\n");
	finish(g);
}
END_TEST

static long rss_kib(void)
{
	g_autofree char *status = NULL;
	g_file_get_contents("/proc/self/status", &status, NULL, NULL);
	const char *p = status ? strstr(status, "VmRSS:") : NULL;
	return p ? atol(p + 6) : -1;
}

START_TEST(test_flooder_holds_port)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkTestGuest) g = alk_test_guest_create("minimal-flooder", 0, 0, 0, &error);
	long before;

	ck_assert_msg(g != NULL, "create: %s", error ? error->message : "?");
	ck_assert(alk_test_guest_connect(g, DL(60), &error));
	before = rss_kib();
	ck_assert(!alk_test_guest_handshake(g, DL(120), &error));
	ck_assert_msg(g_error_matches(error, ALK_ERROR, ALK_ERROR_PROTOCOL), "%s", error->message);
	ck_assert_msg(strstr(error->message, "not protocol frames") != NULL, "%s", error->message);
	ck_assert_uint_gt(alk_test_guest_garbage(g), 1024 * 1024);
	/* the decoder never buffers more than one frame */
	ck_assert_int_lt(rss_kib() - before, 4096);
	alk_test_guest_free(g_steal_pointer(&g));
	ck_assert_uint_eq(alk_test_count_leftovers(owner), 0);
}
END_TEST

static void sweep_teardown(void)
{
	alk_test_sweep(owner);
}

static TCase *tcase(const char *name, const TTest *test)
{
	TCase *tc = tcase_create(name);
	tcase_set_timeout(tc, 300);
	tcase_add_unchecked_fixture(tc, NULL, sweep_teardown);
	tcase_add_test(tc, test);
	return tc;
}

int main(void)
{
	Suite *s = suite_create("integration");
	SRunner *sr;
	int failed;
	char pid[32];

	owner = getpid();
	g_snprintf(pid, sizeof(pid), "%d", owner);
	g_setenv("ALK_TEST_OWNER", pid, TRUE);
	suite_add_tcase(s, tcase("echo", test_echo_and_hello));
	suite_add_tcase(s, tcase("exit", test_exit_codes));
	suite_add_tcase(s, tcase("stdout", test_stdout_10mib_streams));
	suite_add_tcase(s, tcase("stdin", test_stdin_1mib_echo));
	suite_add_tcase(s, tcase("concurrent", test_concurrent_execs_meet));
	suite_add_tcase(s, tcase("timeout", test_timeout_kills_group));
	suite_add_tcase(s, tcase("cap", test_output_cap));
	suite_add_tcase(s, tcase("files", test_file_put_get_10mib));
	suite_add_tcase(s, tcase("reconnect", test_reconnect));
	suite_add_tcase(s, tcase("garbage", test_garbage_from_host));
	suite_add_tcase(s, tcase("flooder", test_flooder_holds_port));
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	/* whatever a failed test left behind goes too, and counts as failure */
	if (alk_test_sweep(owner) != 0)
		failed++;
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
