/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The built `airlock` binary run as a user runs it. Built twice: as
 * test-cli-e2e (unit) without a daemon — usage errors, exit statuses, an
 * unreachable daemon — and with ALK_CLI_E2E_DAEMON as test-cli-daemon
 * (integration), driving a real airlockd with real guests. */
#include <check.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <string.h>

#include "alk-name.h"
#include "alk-test-cli.h"
#ifdef ALK_CLI_E2E_DAEMON
#include <json-glib/json-glib.h>
#include <signal.h>

#include "alk-test-daemon.h"
#endif

/* ---- the binary, without a daemon ---------------------------------------------------------- */

static char *scratch; /* removed by the parent, whatever the tests did */

static void scratch_setup(void)
{
	scratch = g_dir_make_tmp("alk-cli-XXXXXX", NULL);
	g_assert_nonnull(scratch);
}

static void scratch_teardown(void)
{
	g_autofree char *cmd = g_strdup_printf("rm -rf %s", scratch);

	g_spawn_command_line_sync(cmd, NULL, NULL, NULL, NULL);
	g_clear_pointer(&scratch, g_free);
}

START_TEST(test_no_daemon)
{
	const char *dir = scratch;
	g_autofree char *missing = g_build_filename(dir, "missing.sock", NULL);
	g_auto(AlkTestCli) r = {0};

	alk_test_cli_set_socket(NULL);
	alk_test_cli_runf(&r, 30, "--socket %s ls", missing);
	ck_assert_int_eq(r.status, 1);
	ck_assert_str_eq(r.out_text, "");
	ck_assert_msg(strstr(r.err_text, missing) != NULL, "%s", r.err_text);
	ck_assert_msg(strstr(r.err_text, "does not exist") != NULL, "%s", r.err_text);
	ck_assert_msg(strstr(r.err_text, "systemctl start airlockd") != NULL, "%s", r.err_text);
	ck_assert_msg(strstr(r.err_text, "./scripts/quickstart") != NULL, "%s", r.err_text);
}
END_TEST

/* A socket file nobody listens on: the daemon died without cleaning up. */
START_TEST(test_stale_socket)
{
	g_autofree char *path = g_build_filename(scratch, "api.sock", NULL);
	g_autoptr(GSocket) sock = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, 0, NULL);
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
	g_auto(AlkTestCli) r = {0};
	g_auto(AlkTestCli) ex = {0};

	ck_assert(g_socket_bind(sock, addr, FALSE, NULL)); /* bound, never listening */
	alk_test_cli_set_socket(path);
	alk_test_cli_runf(&r, 30, "health");
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err_text, "nobody answers") != NULL, "%s", r.err_text);
	alk_test_cli_runf(&ex, 30, "exec 0123456789ab -- true");
	ck_assert_int_eq(ex.status, 125); /* exec keeps 0..124 for the command */
	alk_test_cli_set_socket(NULL);
}
END_TEST

START_TEST(test_usage_exits)
{
	static const struct {
		const char *args;
		int status;
		const char *err;
	} cases[] = {
	    {"", 2, "usage: airlock"},
	    {"frobnicate", 2, "unknown command 'frobnicate'"},
	    {"ls --bogus", 2, "unknown option '--bogus'"},
	    {"inspect", 2, "missing the sandbox ID"},
	    {"inspect 0123456789ab extra", 2, "unexpected argument 'extra'"},
	    {"create --memory lots", 2, "--memory"},
	    {"exec 0123456789ab uname", 125, "missing '--'"},
	    {"run -- ", 125, "command name is empty"},
	    /* stdin here is not a terminal: refused before any connection */
	    {"exec -it 0123456789ab -- sh", 125, "-t needs a terminal on stdin"},
	    {"run -t -- sh", 125, "-t needs a terminal on stdin"},
	    {"shell 0123456789ab", 125, "-t needs a terminal on stdin"},
	    {"shell", 125, "missing the sandbox ID"},
	    {"shell 0123456789ab sh", 125, "missing '--'"},
	    {"ttl 0123456789ab -5", 2, "unknown option '-5'"},
	    {"audit", 2, "audit verify"},
	    {"--socket", 2, "--socket needs a value"},
	};

	alk_test_cli_set_socket("/nonexistent/api.sock");
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_auto(AlkTestCli) r = {0};
		alk_test_cli_runf(&r, 30, "%s", cases[i].args);
		ck_assert_msg(r.status == cases[i].status, "'%s': status %d: %s", cases[i].args,
		              r.status, r.err_text);
		ck_assert_msg(strstr(r.err_text, cases[i].err) != NULL, "'%s': %s", cases[i].args,
		              r.err_text);
	}
	alk_test_cli_set_socket(NULL);
}
END_TEST

START_TEST(test_help_and_version)
{
	g_auto(AlkTestCli) help = {0};
	g_auto(AlkTestCli) version = {0};

	alk_test_cli_set_socket("/nonexistent/api.sock");
	alk_test_cli_runf(&help, 30, "exec --help");
	ck_assert_int_eq(help.status, 0);
	ck_assert(g_str_has_prefix(help.out_text, "usage: airlock exec"));
	alk_test_cli_runf(&version, 30, "version");
	ck_assert_int_eq(version.status, 0);
	ck_assert(g_str_has_prefix(version.out_text, "airlock " ALK_VERSION "\n"));
	ck_assert(strstr(version.out_text, "airlockd: not reachable") != NULL);
	alk_test_cli_set_socket(NULL);
}
END_TEST

#ifdef ALK_CLI_E2E_DAEMON
/* ---- against a real daemon ------------------------------------------------------------------ */

#define BOOT_S 300 /* create + boot under TCG, with room to spare */
#define CALL_S 120

static AlkTestDaemon *alkd;

/* unchecked: runs in the parent, so the daemon and every sandbox are
 * removed even when a test crashes */
static void daemon_setup(void)
{
	g_autoptr(GError) error = NULL;

	scratch_setup();
	alkd = alk_test_daemon_start(NULL, &error);
	if (alkd == NULL)
		g_error("cannot start airlockd: %s", error->message);
	alk_test_cli_set_socket(alkd->socket_path);
}

static void daemon_teardown(void)
{
	alk_test_daemon_stop(alkd);
	alkd = NULL;
	alk_test_cli_set_socket(NULL);
	scratch_teardown();
}

static void assert_status(const AlkTestCli *r, int status, const char *what)
{
	ck_assert_msg(r->status == status,
	              "%s: status %d, not %d\nstdout: %.2000s\nstderr: %.2000s", what, r->status,
	              status, r->out_text, r->err_text);
}

/* airlock create …; returns the ID it printed last */
static char *create(const char *options)
{
	g_auto(AlkTestCli) r = {0};
	g_autofree char *id = NULL;

	alk_test_cli_runf(&r, BOOT_S, "create %s", options);
	assert_status(&r, 0, "create");
	id = alk_test_cli_last_line(&r);
	ck_assert_msg(alk_sandbox_id_valid(id), "id '%s'", id);
	ck_assert_msg(strstr(r.err_text, "ready") != NULL, "%s", r.err_text);
	return g_steal_pointer(&id);
}

static void remove_sandbox(const char *id)
{
	g_auto(AlkTestCli) r = {0};

	g_autofree char *line = g_strconcat(id, "\n", NULL);

	alk_test_cli_runf(&r, CALL_S, "rm %s", id);
	assert_status(&r, 0, "rm");
	ck_assert_str_eq(r.out_text, line);
}

static JsonObject *json_of(const AlkTestCli *r)
{
	g_autoptr(JsonParser) p = json_parser_new();

	ck_assert_msg(json_parser_load_from_data(p, r->out_text, -1, NULL), "%s", r->out_text);
	ck_assert(JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)));
	return json_object_ref(json_node_get_object(json_parser_get_root(p)));
}

/* IDs with label k=v, from `ls -q --label` */
static guint count_labelled(const char *label)
{
	g_auto(AlkTestCli) r = {0};
	g_auto(GStrv) lines = NULL;

	alk_test_cli_runf(&r, CALL_S, "ls -q --label %s", label);
	assert_status(&r, 0, "ls -q");
	lines = g_strsplit(g_strstrip(r.out_text), "\n", -1);
	return r.out_text[0] == '\0' ? 0 : g_strv_length(lines);
}

START_TEST(test_lifecycle)
{
	g_autofree char *id = create("--label suite=cli --label step=lifecycle --ttl 900");
	g_auto(AlkTestCli) ls = {0};
	g_auto(AlkTestCli) js = {0};
	g_auto(AlkTestCli) in = {0};
	g_auto(AlkTestCli) ttl = {0};
	g_auto(AlkTestCli) logs = {0};
	g_auto(AlkTestCli) again = {0};
	g_auto(AlkTestCli) force = {0};
	g_auto(AlkTestCli) gone = {0};
	g_autoptr(JsonObject) doc = NULL;

	alk_test_cli_runf(&ls, CALL_S, "ls");
	assert_status(&ls, 0, "ls");
	ck_assert(g_str_has_prefix(ls.out_text, "ID "));
	ck_assert_msg(strstr(ls.out_text, id) != NULL && strstr(ls.out_text, "step=lifecycle"),
	              "%s", ls.out_text);
	ck_assert_uint_eq(count_labelled("step=lifecycle"), 1);
	ck_assert_uint_eq(count_labelled("step=other"), 0);
	alk_test_cli_runf(&js, CALL_S, "--json inspect %s", id);
	assert_status(&js, 0, "inspect --json");
	doc = json_of(&js);
	ck_assert_str_eq(json_object_get_string_member(doc, "state"), "ready");
	alk_test_cli_runf(&in, CALL_S, "inspect %s", id);
	ck_assert_msg(strstr(in.out_text, "limits.cpus") != NULL, "%s", in.out_text);
	alk_test_cli_runf(&ttl, CALL_S, "ttl %s 600", id);
	assert_status(&ttl, 0, "ttl");
	ck_assert(strstr(ttl.out_text, "now expires at") != NULL);
	alk_test_cli_runf(&logs, CALL_S, "logs %s", id);
	assert_status(&logs, 0, "logs");
	ck_assert_msg(strstr(logs.out_text, "airlock-agent") != NULL, "%.500s", logs.out_text);
	remove_sandbox(id);
	alk_test_cli_runf(&again, CALL_S, "rm %s", id);
	assert_status(&again, 1, "rm of a removed sandbox");
	alk_test_cli_runf(&force, CALL_S, "rm -f %s", id);
	assert_status(&force, 0, "rm -f");
	alk_test_cli_runf(&gone, CALL_S, "inspect %s", id);
	assert_status(&gone, 1, "inspect of a removed sandbox");
	ck_assert(g_str_has_prefix(gone.err_text, "airlock: "));
}
END_TEST

/* airlock exec ID -- argv… */
static void exec_expect(const char *id, const char *const *argv, int status)
{
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	g_auto(AlkTestCli) r = {0};
	g_autofree char *what = g_strjoinv(" ", (char **)argv);

	g_ptr_array_add(args, "exec");
	g_ptr_array_add(args, (gpointer)id);
	g_ptr_array_add(args, "--");
	for (guint i = 0; argv[i] != NULL; i++)
		g_ptr_array_add(args, (gpointer)argv[i]);
	g_ptr_array_add(args, NULL);
	alk_test_cli_run((const char *const *)args->pdata, NULL, CALL_S, &r);
	assert_status(&r, status, what);
}

START_TEST(test_exec)
{
	g_autofree char *id = create("--label step=exec");
	const char *split[] = {"exec", id, "--", "sh", "-c", "printf out; printf err >&2", NULL};
	const char *env[] = {"exec", "-e", "GREETING=hi there",       "-w", "/tmp", id, "--",
	                     "sh",   "-c", "echo \"$GREETING\"; pwd", NULL};
	const char *in[] = {"exec", "-i", id, "--", "wc", "-c", NULL};
	g_auto(AlkTestCli) a = {0};
	g_auto(AlkTestCli) b = {0};
	g_auto(AlkTestCli) c = {0};
	g_auto(AlkTestCli) d = {0};
	g_autoptr(GBytes) input = g_bytes_new_static("12345\n", 6);
	g_autoptr(JsonObject) doc = NULL;

	exec_expect(id, (const char *[]){"true", NULL}, 0);
	exec_expect(id, (const char *[]){"false", NULL}, 1);
	exec_expect(id, (const char *[]){"sh", "-c", "exit 7", NULL}, 7);
	exec_expect(id, (const char *[]){"/no/such/program", NULL}, 125);
	alk_test_cli_run(split, NULL, CALL_S, &a);
	assert_status(&a, 0, "exec split");
	ck_assert_str_eq(a.out_text, "out");
	ck_assert_str_eq(a.err_text, "err");
	alk_test_cli_run(env, NULL, CALL_S, &b);
	assert_status(&b, 0, "exec --env --cwd");
	ck_assert_str_eq(b.out_text, "hi there\n/tmp\n");
	alk_test_cli_run(in, input, CALL_S, &c);
	assert_status(&c, 0, "exec -i");
	ck_assert_str_eq(g_strstrip(c.out_text), "6");
	const char *json[] = {"--json", "exec", id, "--", "sh", "-c", "exit 4", NULL};
	alk_test_cli_run(json, NULL, CALL_S, &d);
	assert_status(&d, 4, "exec --json");
	doc = json_of(&d);
	ck_assert_int_eq(json_object_get_int_member(doc, "exit_code"), 4);
	remove_sandbox(id);
}
END_TEST

START_TEST(test_exec_signals)
{
	g_autofree char *id = create("--label step=signals");
	const char *kill9[] = {"exec", id, "--", "sh", "-c", "kill -9 $$", NULL};
	g_auto(AlkTestCli) k = {0};
	g_auto(AlkTestCli) t = {0};
	gint64 started = g_get_monotonic_time();

	alk_test_cli_run(kill9, NULL, CALL_S, &k);
	assert_status(&k, 128 + 9, "exec kill -9");
	alk_test_cli_runf(&t, CALL_S, "exec --timeout 2 %s -- sleep 60", id);
	assert_status(&t, 124, "exec --timeout");
	ck_assert(strstr(t.err_text, "timed out") != NULL);
	ck_assert(g_get_monotonic_time() - started < 50 * G_USEC_PER_SEC);
	remove_sandbox(id);
}
END_TEST

static char *sha256_file(const char *path)
{
	g_autofree char *data = NULL;
	gsize len = 0;

	ck_assert(g_file_get_contents(path, &data, &len, NULL));
	return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)data, len);
}

static char *random_file(const char *dir, const char *name, gsize size)
{
	char *path = g_build_filename(dir, name, NULL);
	g_autofree guint32 *data = g_new(guint32, size / 4);

	for (gsize i = 0; i < size / 4; i++)
		data[i] = g_random_int();
	ck_assert(g_file_set_contents(path, (const char *)data, (gssize)size, NULL));
	return path;
}

/* ---- exec -it in a terminal: tmux drives the real CLI ---- */

typedef struct {
	char *name; /* tmux -L: a server of our own */
	char *status_file;
	char *stty_file;
} Tmux;

static char *tmux_run(const Tmux *t, const char *const *args)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autofree char *out = NULL;
	g_autoptr(GError) error = NULL;
	int status = 0;

	g_ptr_array_add(argv, "tmux");
	g_ptr_array_add(argv, "-L");
	g_ptr_array_add(argv, t->name);
	for (guint i = 0; args[i] != NULL; i++)
		g_ptr_array_add(argv, (char *)args[i]);
	g_ptr_array_add(argv, NULL);
	ck_assert_msg(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL,
	                           NULL, &out, NULL, &status, &error),
	              "tmux: %s", error ? error->message : "");
	ck_assert_msg(g_spawn_check_wait_status(status, NULL), "tmux %s failed", args[0]);
	return g_steal_pointer(&out);
}

static void tmux_keys(const Tmux *t, const char *keys, gboolean enter)
{
	g_autofree char *out =
	    tmux_run(t, (const char *[]){"send-keys", "-t", "alk", "-l", keys, NULL});
	g_autofree char *out2 = NULL;

	if (enter)
		out2 = tmux_run(t, (const char *[]){"send-keys", "-t", "alk", "Enter", NULL});
}

/* Polls the pane (every 100 ms, 60 s at most) until a line equals want. */
static void tmux_wait_line(const Tmux *t, const char *want)
{
	gint64 end = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
	g_autofree char *screen = NULL;

	for (;;) {
		g_auto(GStrv) lines = NULL;

		g_free(screen);
		screen = tmux_run(t, (const char *[]){"capture-pane", "-p", "-t", "alk", NULL});
		lines = g_strsplit(screen, "\n", -1);
		for (guint i = 0; lines[i] != NULL; i++)
			if (g_str_equal(g_strchomp(lines[i]), want))
				return;
		ck_assert_msg(g_get_monotonic_time() < end, "no line '%s' on the screen:\n%s", want,
		              screen);
		g_usleep(100 * 1000);
	}
}

/* The guest shell's prompt ("/ # ") is on the screen. */
static void tmux_wait_prompt(const Tmux *t)
{
	gint64 end = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

	for (;;) {
		g_autofree char *screen =
		    tmux_run(t, (const char *[]){"capture-pane", "-p", "-t", "alk", NULL});

		g_auto(GStrv) lines = g_strsplit(screen, "\n", -1);

		/* capture-pane drops the prompt's trailing blank */
		for (guint i = 0; lines[i] != NULL; i++)
			if (g_str_has_suffix(g_strchomp(lines[i]), "#"))
				return;
		ck_assert_msg(g_get_monotonic_time() < end, "no prompt:\n%s", screen);
		g_usleep(100 * 1000);
	}
}

static char *wait_file(const char *path)
{
	gint64 end = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
	char *text = NULL;

	while (!g_file_get_contents(path, &text, NULL, NULL) || text[0] == '\0' ||
	       strchr(text, '\n') == NULL) {
		g_clear_pointer(&text, g_free);
		ck_assert_msg(g_get_monotonic_time() < end, "%s never written", path);
		g_usleep(100 * 1000);
	}
	return text;
}

/* What a person at a terminal does: a shell in the sandbox, arithmetic,
 * the window resized, ^C on a sleeper, ^D to cat, exit 3. The CLI's exit
 * status is the shell's, and its terminal is no longer raw. */
START_TEST(test_exec_tty)
{
	g_autofree char *id = create("--label step=tty");
	Tmux t = {
	    .name = g_strdup_printf("alk-test-%d", (int)getpid()),
	    .status_file = g_build_filename(scratch, "status", NULL),
	    .stty_file = g_build_filename(scratch, "stty", NULL),
	};
	g_autofree char *cmd = g_strdup_printf(
	    "AIRLOCK_SOCKET='%s' '%s' exec -it %s -- sh; echo $? > '%s'; stty -a > '%s'; "
	    "sleep 600",
	    alkd->socket_path, alk_test_cli_bin(), id, t.status_file, t.stty_file);
	g_autofree char *out = NULL;
	g_autofree char *status = NULL;
	g_autofree char *stty = NULL;
	g_auto(AlkTestCli) notty = {0};

	out = tmux_run(&t, (const char *[]){"-f", "/dev/null", "new-session", "-d", "-s", "alk",
	                                    "-x", "100", "-y", "30", "sh", "-c", cmd, NULL});
	tmux_wait_prompt(&t);
	tmux_keys(&t, "test -t 0 && echo tty-$((6*7))", TRUE);
	tmux_wait_line(&t, "tty-42");
	tmux_keys(&t, "stty size", TRUE);
	tmux_wait_line(&t, "30 100");
	g_free(tmux_run(
	    &t, (const char *[]){"resize-window", "-t", "alk", "-x", "120", "-y", "40", NULL}));
	/* the SIGWINCH, the resize frame and RESIZE may take a moment */
	for (gint64 end = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;;) {
		g_autofree char *screen = NULL;

		tmux_keys(&t, "echo size-$(stty size | tr ' ' x)", TRUE);
		screen = tmux_run(&t, (const char *[]){"capture-pane", "-p", "-t", "alk", NULL});
		if (strstr(screen, "\nsize-40x120") != NULL)
			break;
		ck_assert_msg(g_get_monotonic_time() < end, "the size never changed:\n%s", screen);
		g_usleep(500 * 1000);
	}
	/* keys wait until the program that should get them runs: the line
	 * "sleeping" is its output, not the echo of the command */
	tmux_keys(&t, "sh -c 'echo sleep''ing; exec sleep 100'", TRUE);
	tmux_wait_line(&t, "sleeping");
	g_free(tmux_run(&t, (const char *[]){"send-keys", "-t", "alk", "C-c", NULL}));
	tmux_keys(&t, "echo after-$?", TRUE);
	tmux_wait_line(&t, "after-130");
	tmux_keys(&t, "sh -c 'echo cat''ing; exec cat'; echo cat-done", TRUE);
	tmux_wait_line(&t, "cating");
	tmux_keys(&t, "hi", TRUE);
	g_free(tmux_run(&t, (const char *[]){"send-keys", "-t", "alk", "C-d", NULL}));
	tmux_wait_line(&t, "cat-done");
	tmux_keys(&t, "exit 3", TRUE);
	status = wait_file(t.status_file);
	ck_assert_str_eq(status, "3\n");
	stty = wait_file(t.stty_file);
	/* raw mode undone: canonical input and echo again */
	ck_assert_msg(strstr(stty, " icanon") != NULL && strstr(stty, " echo ") != NULL, "%s",
	              stty);
	g_free(tmux_run(&t, (const char *[]){"kill-server", NULL}));

	/* -t without a terminal on stdin */
	alk_test_cli_runf(&notty, CALL_S, "exec -t %s -- true", id);
	assert_status(&notty, 125, "exec -t without a terminal");
	ck_assert_msg(strstr(notty.err_text, "-t needs a terminal") != NULL, "%s", notty.err_text);
	remove_sandbox(id);
	g_free(t.name);
	g_free(t.status_file);
	g_free(t.stty_file);
}
END_TEST

/* -i streams stdin over the WebSocket: more than the old 6 MiB limit, byte
 * for byte. */
START_TEST(test_exec_stdin_big)
{
	g_autofree char *id = create("--label step=stdin");
	g_autofree char *path = random_file(scratch, "in.bin", 10 * 1024 * 1024);
	g_autofree char *want = sha256_file(path);
	g_autofree char *cmd =
	    g_strdup_printf("AIRLOCK_SOCKET='%s' '%s' exec -i %s -- sha256sum < '%s'",
	                    alkd->socket_path, alk_test_cli_bin(), id, path);
	g_autofree char *out = NULL;
	g_autofree char *err = NULL;
	g_auto(AlkTestCli) gone = {0};
	int status = 0;

	ck_assert(g_spawn_sync(NULL, (char *[]){"sh", "-c", cmd, NULL}, NULL, G_SPAWN_SEARCH_PATH,
	                       NULL, NULL, &out, &err, &status, NULL));
	ck_assert_msg(g_spawn_check_wait_status(status, NULL), "%s", err);
	ck_assert_msg(g_str_has_prefix(out, want), "%s vs %s", out, want);
	remove_sandbox(id);
	/* a refused handshake still says why */
	alk_test_cli_runf(&gone, CALL_S, "exec -i %s -- cat", id);
	assert_status(&gone, 125, "exec -i of a removed sandbox");
	ck_assert_msg(strstr(gone.err_text, id) != NULL, "%s", gone.err_text);
}
END_TEST

/* Binary output of exec arrives byte for byte, on stdout only. */
START_TEST(test_exec_binary)
{
	const char *dir = scratch;
	g_autofree char *local = random_file(dir, "r.bin", 1024 * 1024);
	g_autofree char *id = create("--label step=binary");
	g_auto(AlkTestCli) up = {0};
	g_auto(AlkTestCli) cat = {0};
	g_autofree char *data = NULL;
	gsize len = 0;

	alk_test_cli_runf(&up, CALL_S, "cp %s %s:/tmp/r.bin", local, id);
	assert_status(&up, 0, "cp up");
	alk_test_cli_runf(&cat, CALL_S, "exec %s -- cat /tmp/r.bin", id);
	assert_status(&cat, 0, "exec cat");
	ck_assert(g_file_get_contents(local, &data, &len, NULL));
	ck_assert_uint_eq(g_bytes_get_size(cat.out), len);
	ck_assert(memcmp(g_bytes_get_data(cat.out, NULL), data, len) == 0);
	ck_assert_uint_eq(g_bytes_get_size(cat.err), 0);
	remove_sandbox(id);
}
END_TEST

START_TEST(test_cp)
{
	const char *dir = scratch;
	g_autofree char *local = random_file(dir, "big.bin", 20 * 1000 * 1000);
	g_autofree char *back = g_build_filename(dir, "back.bin", NULL);
	g_autofree char *sum = sha256_file(local);
	g_autofree char *id = create("--label step=cp");
	g_auto(AlkTestCli) up = {0};
	g_auto(AlkTestCli) guest = {0};
	g_auto(AlkTestCli) down = {0};
	g_auto(AlkTestCli) to_dir = {0};
	g_auto(AlkTestCli) to_stdout = {0};
	g_auto(AlkTestCli) missing = {0};
	g_autofree char *in_dir = g_build_filename(dir, "sub", NULL);
	g_autofree char *in_dir_file = g_build_filename(in_dir, "big.bin", NULL);

	alk_test_cli_runf(&up, CALL_S, "cp %s %s:/tmp/", local, id);
	assert_status(&up, 0, "cp up");
	alk_test_cli_runf(&guest, CALL_S, "exec %s -- sha256sum /tmp/big.bin", id);
	assert_status(&guest, 0, "sha256sum in the guest");
	ck_assert_msg(g_str_has_prefix(guest.out_text, sum), "%s vs %s", guest.out_text, sum);
	alk_test_cli_runf(&down, CALL_S, "cp %s:/tmp/big.bin %s", id, back);
	assert_status(&down, 0, "cp down");
	g_autofree char *back_sum = sha256_file(back);
	ck_assert_str_eq(back_sum, sum);
	ck_assert(g_mkdir(in_dir, 0700) == 0);
	alk_test_cli_runf(&to_dir, CALL_S, "cp %s:/tmp/big.bin %s", id, in_dir);
	assert_status(&to_dir, 0, "cp into a directory");
	g_autofree char *dir_sum = sha256_file(in_dir_file);
	ck_assert_str_eq(dir_sum, sum);
	alk_test_cli_runf(&to_stdout, CALL_S, "cp %s:/tmp/big.bin -", id);
	assert_status(&to_stdout, 0, "cp to stdout");
	g_autofree char *out_sum = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, to_stdout.out);
	ck_assert_str_eq(out_sum, sum);
	alk_test_cli_runf(&missing, CALL_S, "cp %s:/tmp/nope %s/nope", id, dir);
	assert_status(&missing, 1, "cp of a missing file");
	ck_assert(!g_file_test(in_dir_file, G_FILE_TEST_IS_DIR));
	remove_sandbox(id);
}
END_TEST

START_TEST(test_cp_stdin)
{
	g_autofree char *id = create("--label step=cpstdin");
	const char *up[] = {"--json", "cp", "-", NULL, NULL};
	g_autofree char *dst = g_strdup_printf("%s:/tmp/piped", id);
	g_autoptr(GBytes) data = g_bytes_new_static("piped \0 bytes\n", 14);
	g_auto(AlkTestCli) r = {0};
	g_auto(AlkTestCli) back = {0};
	g_autoptr(JsonObject) doc = NULL;

	up[3] = dst;
	alk_test_cli_run(up, data, CALL_S, &r);
	assert_status(&r, 0, "cp from stdin");
	doc = json_of(&r);
	ck_assert_int_eq(json_object_get_int_member(doc, "bytes"), 14);
	alk_test_cli_runf(&back, CALL_S, "exec %s -- cat /tmp/piped", id);
	ck_assert(g_bytes_equal(back.out, data));
	remove_sandbox(id);
}
END_TEST

START_TEST(test_run_rm)
{
	g_auto(AlkTestCli) ok = {0};
	g_auto(AlkTestCli) fail = {0};

	alk_test_cli_runf(&ok, BOOT_S, "run --rm --label step=run -- uname -a");
	assert_status(&ok, 0, "run --rm uname");
	ck_assert_msg(g_str_has_prefix(ok.out_text, "Linux "), "%s", ok.out_text);
	ck_assert_uint_eq(count_labelled("step=run"), 0);
	const char *failing[] = {"run", "--rm",   "--label", "step=runfail", "--", "sh",
	                         "-c",  "exit 3", NULL};
	alk_test_cli_run(failing, NULL, BOOT_S, &fail);
	assert_status(&fail, 3, "run --rm failing");
	ck_assert_uint_eq(count_labelled("step=runfail"), 0);
}
END_TEST

/* TRUE once the labelled sandbox is ready and runs an exec */
static gboolean exec_running(const char *label)
{
	g_auto(AlkTestCli) r = {0};
	g_autoptr(JsonObject) doc = NULL;
	JsonArray *list = NULL;

	alk_test_cli_runf(&r, CALL_S, "--json ls --label %s", label);
	assert_status(&r, 0, "ls --json");
	doc = json_of(&r);
	list = json_object_get_array_member(doc, "sandboxes");
	if (json_array_get_length(list) != 1)
		return FALSE;
	JsonObject *sb = json_array_get_object_element(list, 0);
	return g_strcmp0(json_object_get_string_member(sb, "state"), "ready") == 0 &&
	       json_object_get_int_member(sb, "execs_running") == 1;
}

/* Ctrl-C while the command runs: airlock exits 130, the sandbox is gone. */
START_TEST(test_run_rm_interrupted)
{
	const char *args[] = {"run", "--rm", "--label", "step=sigint", "--", "sleep", "600", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(GSubprocess) p = alk_test_cli_spawn(args, &error);
	gint64 deadline = g_get_monotonic_time() + BOOT_S * G_USEC_PER_SEC;

	ck_assert_msg(p != NULL, "%s", error ? error->message : "");
	while (!exec_running("step=sigint")) {
		ck_assert_msg(g_get_monotonic_time() < deadline,
		              "the sandbox never ran the command");
		g_usleep(200 * 1000);
	}
	g_subprocess_send_signal(p, SIGINT);
	ck_assert_int_eq(alk_test_cli_wait(p, CALL_S), 130);
	ck_assert_uint_eq(count_labelled("step=sigint"), 0);
}
END_TEST

/* Over TCP: the bearer token from --token or AIRLOCK_TOKEN; none or a
 * wrong one is refused, a read token cannot run anything. */
START_TEST(test_tcp)
{
	g_auto(AlkTestCli) ok = {0};
	g_auto(AlkTestCli) none = {0};
	g_auto(AlkTestCli) wrong = {0};
	g_auto(AlkTestCli) reader = {0};
	g_auto(AlkTestCli) reader_ls = {0};

	alk_test_cli_set_socket(NULL);
	alk_test_cli_runf(&ok, CALL_S, "--url %s --token %s ls", alkd->tcp_url, alkd->write_token);
	assert_status(&ok, 0, "ls over TCP");
	ck_assert(g_str_has_prefix(ok.out_text, "ID "));
	alk_test_cli_runf(&none, CALL_S, "--url %s ls", alkd->tcp_url);
	assert_status(&none, 1, "ls over TCP without a token");
	ck_assert_msg(strstr(none.err_text, "AIRLOCK_TOKEN") != NULL, "%s", none.err_text);
	alk_test_cli_runf(&wrong, CALL_S, "--url %s/ --token nottherightone health", alkd->tcp_url);
	assert_status(&wrong, 1, "health with a wrong token");
	alk_test_cli_runf(&reader_ls, CALL_S, "--url %s --token %s ls", alkd->tcp_url,
	                  alkd->read_token);
	assert_status(&reader_ls, 0, "ls with a read token");
	alk_test_cli_runf(&reader, CALL_S, "--url %s --token %s exec 0123456789ab -- true",
	                  alkd->tcp_url, alkd->read_token);
	assert_status(&reader, 125, "exec with a read token");
	alk_test_cli_set_socket(alkd->socket_path);
}
END_TEST

/* ---- audit verify on a copy of the daemon's log --------------------------------------------- */

static GPtrArray *read_lines(const char *path)
{
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);

	ck_assert(g_file_get_contents(path, &text, NULL, NULL));
	lines = g_strsplit(text, "\n", -1);
	for (guint i = 0; lines[i] != NULL && lines[i][0] != '\0'; i++)
		g_ptr_array_add(out, g_strdup(lines[i]));
	return out;
}

/* NAME.jsonl from lines (each with its newline, then tail without one) and
 * NAME.head, a copy of the daemon's head; returns the log's path. */
static char *write_copy(const char *dir, const char *name, GPtrArray *lines, const char *tail)
{
	g_autofree char *log_name = g_strconcat(name, ".jsonl", NULL);
	g_autofree char *head_name = g_strconcat(name, ".head", NULL);
	g_autofree char *daemon_head = g_build_filename(alkd->dir, "audit.head", NULL);
	g_autofree char *head_path = g_build_filename(dir, head_name, NULL);
	g_autofree char *head = NULL;
	g_autoptr(GString) text = g_string_new(NULL);
	char *path = g_build_filename(dir, log_name, NULL);

	for (guint i = 0; i < lines->len; i++)
		g_string_append_printf(text, "%s\n", (char *)g_ptr_array_index(lines, i));
	g_string_append(text, tail != NULL ? tail : "");
	ck_assert(g_file_set_contents(path, text->str, (gssize)text->len, NULL));
	ck_assert(g_file_get_contents(daemon_head, &head, NULL, NULL));
	ck_assert(g_file_set_contents(head_path, head, -1, NULL));
	return path;
}

static void verify_expect(const char *dir, const char *name, GPtrArray *lines, const char *tail,
                          int status, const char *part)
{
	g_autofree char *log = write_copy(dir, name, lines, tail);
	g_auto(AlkTestCli) r = {0};

	alk_test_cli_runf(&r, CALL_S, "audit verify %s", log);
	assert_status(&r, status, name);
	ck_assert_msg(strstr(r.out_text, part) != NULL, "%s: '%s' lacks '%s'", name, r.out_text,
	              part);
}

START_TEST(test_audit_verify)
{
	const char *dir = scratch;
	g_autofree char *daemon_log = NULL;

	for (guint i = 0; i < 6; i++) {
		g_auto(AlkTestCli) warm = {0};
		alk_test_cli_runf(&warm, CALL_S, "%s", i % 2 ? "ls" : "health");
		assert_status(&warm, 0, "warming up");
	}
	/* a daemon that has exited has written every line */
	daemon_log = alk_test_daemon_terminate(alkd, 60);
	ck_assert(daemon_log != NULL);
	g_autoptr(GPtrArray) intact = read_lines(alkd->audit_path);
	ck_assert_uint_ge(intact->len, 6);
	verify_expect(dir, "ok", intact, NULL, 0, "OK: ");

	g_autoptr(GPtrArray) edited = read_lines(alkd->audit_path);
	char *t = strstr(g_ptr_array_index(edited, 2), "\"time\":\"");
	ck_assert(t != NULL);
	t[8] = t[8] == '1' ? '2' : '1'; /* the year's first digit */
	verify_expect(dir, "edited", edited, NULL, 1, "line 3: edited line");

	g_autoptr(GPtrArray) deleted = read_lines(alkd->audit_path);
	g_ptr_array_remove_index(deleted, 2);
	verify_expect(dir, "deleted", deleted, NULL, 1, "deleted line");

	g_autoptr(GPtrArray) truncated = read_lines(alkd->audit_path);
	g_ptr_array_remove_index(truncated, truncated->len - 1);
	verify_expect(dir, "truncated", truncated, NULL, 1, "truncated at the end");

	g_autoptr(GPtrArray) cut = read_lines(alkd->audit_path);
	g_autofree char *last = g_ptr_array_steal_index(cut, cut->len - 1);
	last[strlen(last) / 2] = '\0';
	verify_expect(dir, "cut", cut, last, 1, "BAD: line");
}
END_TEST

static TCase *daemon_case(const char *name, const TTest *test)
{
	TCase *tc = tcase_create(name);

	tcase_add_unchecked_fixture(tc, daemon_setup, daemon_teardown);
	tcase_set_timeout(tc, 900);
	tcase_add_test(tc, test);
	return tc;
}
#endif

static Suite *suite(void)
{
	Suite *s = suite_create("cli-e2e");
	TCase *binary = tcase_create("binary");

	tcase_add_test(binary, test_no_daemon);
	tcase_add_test(binary, test_stale_socket);
	tcase_add_test(binary, test_usage_exits);
	tcase_add_test(binary, test_help_and_version);
	tcase_add_unchecked_fixture(binary, scratch_setup, scratch_teardown);
	tcase_set_timeout(binary, 120);
#ifdef ALK_CLI_E2E_DAEMON
	/* a daemon per case: its teardown removes what a failing test left */
	suite_add_tcase(s, daemon_case("lifecycle", test_lifecycle));
	suite_add_tcase(s, daemon_case("exec", test_exec));
	suite_add_tcase(s, daemon_case("exec-signals", test_exec_signals));
	suite_add_tcase(s, daemon_case("exec-binary", test_exec_binary));
	suite_add_tcase(s, daemon_case("exec-tty", test_exec_tty));
	suite_add_tcase(s, daemon_case("exec-stdin-big", test_exec_stdin_big));
	suite_add_tcase(s, daemon_case("cp", test_cp));
	suite_add_tcase(s, daemon_case("cp-stdin", test_cp_stdin));
	suite_add_tcase(s, daemon_case("run-rm", test_run_rm));
	suite_add_tcase(s, daemon_case("run-rm-interrupted", test_run_rm_interrupted));
	suite_add_tcase(s, daemon_case("tcp", test_tcp));
	suite_add_tcase(s, daemon_case("audit-verify", test_audit_verify));
#else
	suite_add_tcase(s, binary);
#endif
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(suite());
	int failed = 0;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? 0 : 1;
}
