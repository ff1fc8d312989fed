/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The airlock CLI without a daemon: argument parsing and validation of
 * every verb (hostile input included), the request bodies it builds, exit
 * statuses, and the tables it prints. */
#include <check.h>
#include <glib.h>
#include <string.h>

#include "alk-cli-table.h"
#include "alk-cmd.h"
#include "alk-json.h"

/* argv from a space-separated string (no quoting needed in these tests) */
static char **words(const char *s)
{
	return s[0] != '\0' ? g_strsplit(s, " ", -1) : g_new0(char *, 1);
}

static void assert_usage(const GError *error, const char *part)
{
	ck_assert_msg(error != NULL, "expected a usage error containing '%s'", part);
	ck_assert_msg(g_error_matches(error, ALK_CLI_ERROR, ALK_CLI_ERROR_USAGE), "%s",
	              error->message);
	ck_assert_msg(strstr(error->message, part) != NULL, "'%s' lacks '%s'", error->message,
	              part);
}

static JsonObject *object(const char *text)
{
	g_autoptr(GError) error = NULL;
	JsonObject *obj = alk_json_parse_object(text, strlen(text), 1 << 20, 16, &error);

	ck_assert_msg(obj != NULL, "%s", error ? error->message : "");
	return obj;
}

/* ---- numbers, IDs, K=V ---------------------------------------------------------------------- */

START_TEST(test_uint)
{
	static const char *const bad[] = {"",   "-1",   "+1",  "1x",  " 1",
	                                  "1 ", "0x10", "1e3", "1.5", "99999999999999999999999",
	                                  "١٢"};
	guint64 v = 0;

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		ck_assert_msg(!alk_cli_parse_uint("n", bad[i], 0, G_MAXUINT64, &v, &error), "%s",
		              bad[i]);
		assert_usage(error, "whole number");
	}
	g_autoptr(GError) range = NULL;
	ck_assert(!alk_cli_parse_uint("CPUs", "0", 1, 8, &v, &range));
	assert_usage(range, "between 1 and 8");
	ck_assert(alk_cli_parse_uint("n", "18446744073709551615", 0, G_MAXUINT64, &v, NULL));
	ck_assert(v == G_MAXUINT64);
	ck_assert(alk_cli_parse_uint("n", "007", 1, 8, &v, NULL));
	ck_assert_uint_eq(v, 7);
}
END_TEST

START_TEST(test_ids)
{
	static const char *const bad[] = {"",
	                                  "0123456789a",
	                                  "0123456789abc",
	                                  "0123456789AB",
	                                  "0123456789ag",
	                                  "../../../etc",
	                                  "0123456789ab/x",
	                                  "0123456789a\n"};

	ck_assert(alk_cli_check_id("0123456789ab", NULL));
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		ck_assert_msg(!alk_cli_check_id(bad[i], &error), "%s", bad[i]);
		assert_usage(error, "12 lowercase hex");
		ck_assert(strchr(error->message, '\n') == NULL);
	}
}
END_TEST

START_TEST(test_kv)
{
	g_autofree char *k = NULL;
	g_autofree char *v = NULL;
	g_autoptr(GError) e1 = NULL;
	g_autoptr(GError) e2 = NULL;

	ck_assert(alk_cli_split_kv("a=b=c", &k, &v, NULL));
	ck_assert_str_eq(k, "a");
	ck_assert_str_eq(v, "b=c");
	g_clear_pointer(&k, g_free);
	g_clear_pointer(&v, g_free);
	ck_assert(alk_cli_split_kv("a=", &k, &v, NULL));
	ck_assert_str_eq(v, "");
	ck_assert(!alk_cli_split_kv("=b", &k, &v, &e1));
	assert_usage(e1, "KEY=VALUE");
	ck_assert(!alk_cli_split_kv("ab", &k, &v, &e2));
	assert_usage(e2, "KEY=VALUE");
}
END_TEST

START_TEST(test_labels_env_names)
{
	g_autofree char *long_key = g_strnfill(64, 'a');
	g_autofree char *long_value = g_strnfill(256, 'v');

	ck_assert(alk_cli_check_label("team.x-1_y", "anything goes ✓", NULL));
	ck_assert(!alk_cli_check_label("Team", "v", NULL));
	ck_assert(!alk_cli_check_label(long_key, "v", NULL));
	ck_assert(!alk_cli_check_label("k", long_value, NULL));
	ck_assert(!alk_cli_check_label("k", "\xff\xfe", NULL));
	ck_assert(alk_cli_check_env("_PATH2", "/bin", NULL));
	ck_assert(!alk_cli_check_env("2X", "v", NULL));
	ck_assert(!alk_cli_check_env("A-B", "v", NULL));
	ck_assert(!alk_cli_check_env("A", "\xc3", NULL));
	ck_assert(alk_cli_check_name("image", "minimal", NULL));
	ck_assert(!alk_cli_check_name("image", "Minimal", NULL));
	ck_assert(!alk_cli_check_name("image", "../x", NULL));
	ck_assert(alk_cli_check_network("allowlist", NULL));
	ck_assert(!alk_cli_check_network("bridge", NULL));
}
END_TEST

START_TEST(test_allow)
{
	/* the daemon's grammar (common/alk-allow.h) */
	static const char *const good[] = {
	    "example.com",         "example.com:443", "1.2.3.4:80",
	    "[2001:db8::1]:22",    "[2001:db8::1]",   "a-b.c",
	    "*.example.com",       "10.0.0.0/8",      "10.0.0.0/8:443",
	    "[2001:db8::/32]:443", "2001:db8::/32",   "0.0.0.0/0"};
	static const char *const bad[] = {
	    "",          "ex ample", "host.org:0", "host.org:65536", "host.org:abc",
	    "-bad.com",  "[::1",     "a..b",       "[::1]x",         "host.org:",
	    "[1.2.3.4]", "a_b.com",  "localhost",  "10.0.0.1/8",     "10.0.0.0/33",
	    "*.com",     "a.*.com",  "127.0.0.1",  "[::1]:22",       "169.254.169.254:80",
	    "224.0.0.1"};

	for (guint i = 0; i < G_N_ELEMENTS(good); i++)
		ck_assert_msg(alk_cli_check_allow(good[i], NULL), "%s", good[i]);
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++)
		ck_assert_msg(!alk_cli_check_allow(bad[i], NULL), "%s", bad[i]);
}
END_TEST

START_TEST(test_guest_paths)
{
	g_autofree char *huge = g_strnfill(ALK_CLI_PATH_MAX + 1, 'a');

	huge[0] = '/';
	ck_assert(alk_cli_check_guest_path("/tmp/x", FALSE, NULL));
	ck_assert(alk_cli_check_guest_path("/tmp/", TRUE, NULL));
	ck_assert(alk_cli_check_guest_path("/", TRUE, NULL));
	ck_assert(!alk_cli_check_guest_path("/", FALSE, NULL));
	ck_assert(!alk_cli_check_guest_path("/tmp/", FALSE, NULL));
	ck_assert(!alk_cli_check_guest_path("tmp/x", FALSE, NULL));
	ck_assert(!alk_cli_check_guest_path("/a/../b", TRUE, NULL));
	ck_assert(!alk_cli_check_guest_path("/a/./b", TRUE, NULL));
	ck_assert(!alk_cli_check_guest_path("/a/..", TRUE, NULL));
	ck_assert(!alk_cli_check_guest_path("/a//b", TRUE, NULL));
	ck_assert(!alk_cli_check_guest_path("/a/\xff", TRUE, NULL));
	ck_assert(!alk_cli_check_guest_path(huge, TRUE, NULL));
}
END_TEST

START_TEST(test_argv_limits)
{
	g_auto(GStrv) many = g_new0(char *, ALK_CLI_ARGV_MAX + 2);
	g_autofree char *big = g_strnfill(ALK_CLI_ARGV_BYTES_MAX, 'x');
	char *one[] = {"true", NULL};
	char *bigv[] = {big, NULL};
	char *empty[] = {"", NULL};
	char *binary[] = {"echo", "\xff", NULL};
	g_autoptr(GError) e1 = NULL;
	g_autoptr(GError) e2 = NULL;

	for (int i = 0; i <= ALK_CLI_ARGV_MAX; i++)
		many[i] = g_strdup("x");
	ck_assert(alk_cli_check_argv(one, 1, NULL));
	ck_assert(alk_cli_check_argv(many, ALK_CLI_ARGV_MAX, NULL));
	ck_assert(!alk_cli_check_argv(many, ALK_CLI_ARGV_MAX + 1, &e1));
	assert_usage(e1, "at most 256");
	ck_assert(!alk_cli_check_argv(NULL, 0, &e2));
	assert_usage(e2, "missing '--'");
	ck_assert(!alk_cli_check_argv(one, 0, NULL));
	ck_assert(!alk_cli_check_argv(bigv, 1, NULL));
	ck_assert(!alk_cli_check_argv(empty, 1, NULL));
	ck_assert(!alk_cli_check_argv(binary, 2, NULL));
}
END_TEST

START_TEST(test_shown_defuses)
{
	g_autofree char *long_input = g_strnfill(500, 'y');
	g_autofree char *esc = alk_cli_shown("a\033[31mb\n");
	g_autofree char *cut = alk_cli_shown(long_input);
	g_autofree char *bin = alk_cli_shown("\xff\xfe");

	ck_assert_str_eq(esc, "a?[31mb?");
	ck_assert(g_str_has_suffix(cut, "…"));
	ck_assert_int_le(g_utf8_strlen(cut, -1), 65);
	ck_assert(g_utf8_validate(bin, -1, NULL));
}
END_TEST

START_TEST(test_exit_status)
{
	ck_assert_int_eq(alk_cli_exit_status(TRUE, 0, 0, FALSE), 0);
	ck_assert_int_eq(alk_cli_exit_status(TRUE, 3, 0, FALSE), 3);
	ck_assert_int_eq(alk_cli_exit_status(FALSE, 0, 9, FALSE), 137);
	ck_assert_int_eq(alk_cli_exit_status(FALSE, 0, 15, FALSE), 143);
	ck_assert_int_eq(alk_cli_exit_status(FALSE, 0, 9, TRUE), 124);
	ck_assert_int_eq(alk_cli_exit_status(TRUE, 0, 0, TRUE), 124);
	ck_assert_int_eq(alk_cli_exit_status(TRUE, 300, 0, FALSE), 125);
	ck_assert_int_eq(alk_cli_exit_status(TRUE, -1, 0, FALSE), 125);
	ck_assert_int_eq(alk_cli_exit_status(FALSE, 0, 0, FALSE), 125);
}
END_TEST

/* ---- the option parser and the verbs -------------------------------------------------------- */

START_TEST(test_exec_parse)
{
	g_auto(GStrv) argv = words("-e A=1 --env=B=2 -w /srv -i --timeout 30 --json "
	                           "0123456789ab -- sh -c echo --json");
	g_auto(AlkExecCmd) cmd = {0};
	g_autoptr(GError) error = NULL;

	ck_assert_msg(alk_cmd_exec_parse(g_strv_length(argv), argv, &cmd, &error), "%s",
	              error ? error->message : "");
	ck_assert_str_eq(cmd.id, "0123456789ab");
	ck_assert_int_eq(cmd.command_len, 4);
	ck_assert_str_eq(cmd.command[3], "--json"); /* after "--": the command's */
	ck_assert(cmd.json);
	ck_assert(cmd.exec.interactive);
	ck_assert_uint_eq(cmd.exec.timeout_s, 30);
	ck_assert_str_eq(cmd.exec.cwd, "/srv");
	ck_assert_str_eq(g_hash_table_lookup(cmd.exec.env, "B"), "2");
}
END_TEST

/* Flags bundle as with getopt: -it is -i -t; a flag taking a value does not. */
START_TEST(test_exec_parse_user)
{
	g_auto(GStrv) ok = words("--user agent 0123456789ab -- id");
	g_auto(GStrv) num = words("-u 1000:1000 0123456789ab -- id");
	g_auto(GStrv) bad = words("--user Bad;rm 0123456789ab -- id");
	g_auto(GStrv) twice = words("-u a -u b 0123456789ab -- id");
	g_auto(AlkExecCmd) a = {0};
	g_auto(AlkExecCmd) b = {0};
	g_auto(AlkExecCmd) c = {0};
	g_auto(AlkExecCmd) d = {0};
	g_autofree char *body = NULL;
	g_autoptr(GError) error = NULL;

	ck_assert(alk_cmd_exec_parse(g_strv_length(ok), ok, &a, NULL));
	ck_assert_str_eq(a.exec.user, "agent");
	body = alk_exec_body(&a.exec, a.command, a.command_len, NULL);
	ck_assert_msg(strstr(body, "\"user\":\"agent\"") != NULL, "%s", body);
	ck_assert(alk_cmd_exec_parse(g_strv_length(num), num, &b, NULL));
	ck_assert_str_eq(b.exec.user, "1000:1000");
	ck_assert(!alk_cmd_exec_parse(g_strv_length(bad), bad, &c, &error));
	ck_assert_msg(strstr(error->message, "--user") != NULL, "%s", error->message);
	ck_assert(!alk_cmd_exec_parse(g_strv_length(twice), twice, &d, NULL));
}
END_TEST

START_TEST(test_exec_parse_bundled)
{
	g_auto(GStrv) argv = words("-it 0123456789ab -- sh");
	g_auto(GStrv) tty = words("--tty 0123456789ab -- sh");
	g_auto(AlkExecCmd) cmd = {0};
	g_auto(AlkExecCmd) cmd2 = {0};
	g_autoptr(GError) error = NULL;

	ck_assert_msg(alk_cmd_exec_parse(g_strv_length(argv), argv, &cmd, &error), "%s",
	              error ? error->message : "");
	ck_assert(cmd.exec.interactive);
	ck_assert(cmd.exec.tty);
	ck_assert_str_eq(cmd.command[0], "sh");
	ck_assert(alk_cmd_exec_parse(g_strv_length(tty), tty, &cmd2, &error));
	ck_assert(cmd2.exec.tty);
	ck_assert(!cmd2.exec.interactive);
}
END_TEST

static void exec_fails(const char *args, const char *part)
{
	g_auto(GStrv) argv = words(args);
	g_auto(AlkExecCmd) cmd = {0};
	g_autoptr(GError) error = NULL;

	ck_assert_msg(!alk_cmd_exec_parse(g_strv_length(argv), argv, &cmd, &error), "%s", args);
	assert_usage(error, part);
}

START_TEST(test_exec_parse_errors)
{
	exec_fails("0123456789ab ls -l", "missing '--'");
	exec_fails("0123456789ab ls", "missing '--'");
	exec_fails("0123456789ab", "missing '--'");
	exec_fails("0123456789ab --", "no command");
	exec_fails("-- ls", "missing the sandbox ID");
	exec_fails("", "missing the sandbox ID");
	exec_fails("0123456789AB -- ls", "not a sandbox ID");
	exec_fails("--timeout 0 0123456789ab -- ls", "--timeout");
	exec_fails("--timeout -5 0123456789ab -- ls", "--timeout");
	exec_fails("--timeout 0123456789ab -- ls", "--timeout");
	exec_fails("--timeout 5 --timeout 6 0123456789ab -- ls", "given twice");
	exec_fails("--env A 0123456789ab -- ls", "KEY=VALUE");
	exec_fails("--env 1A=b 0123456789ab -- ls", "variable name");
	exec_fails("-e A=1 -e A=2 0123456789ab -- ls", "A given twice");
	exec_fails("--cwd srv 0123456789ab -- ls", "absolute");
	exec_fails("--cwd /a/../b 0123456789ab -- ls", "'..'");
	exec_fails("--frobnicate 0123456789ab -- ls", "unknown option '--frobnicate'");
	exec_fails("-x 0123456789ab -- ls", "unknown option '-x'");
	exec_fails("-i=1 0123456789ab -- ls", "unknown option");
	exec_fails("--interactive=yes 0123456789ab -- ls", "takes no value");
	exec_fails("--env", "needs a value");
	exec_fails("-ie A=1 0123456789ab -- ls", "unknown option '-ie'");
	exec_fails("-ix 0123456789ab -- ls", "unknown option '-ix'");
	exec_fails("--tty=1 0123456789ab -- ls", "takes no value");
}
END_TEST

START_TEST(test_exec_parse_help)
{
	g_auto(GStrv) argv = words("0123456789ab --help -- ls");
	g_auto(AlkExecCmd) cmd = {0};
	g_autoptr(GError) error = NULL;

	ck_assert(!alk_cmd_exec_parse(g_strv_length(argv), argv, &cmd, &error));
	ck_assert(g_error_matches(error, ALK_CLI_ERROR, ALK_CLI_ERROR_HELP));
}
END_TEST

START_TEST(test_exec_body)
{
	g_auto(GStrv) argv = words("--env B=2 --env A=1 --cwd /w --timeout 9 0123456789ab -- "
	                           "printf %s é");
	g_auto(AlkExecCmd) cmd = {0};
	g_autoptr(GBytes) input = g_bytes_new_static("hi\0\xff", 4);
	g_autofree char *body = NULL;
	g_autofree char *plain = NULL;
	AlkExecOpts none = {0};

	ck_assert(alk_cmd_exec_parse(g_strv_length(argv), argv, &cmd, NULL));
	body = alk_exec_body(&cmd.exec, cmd.command, cmd.command_len, input);
	ck_assert_str_eq(body, "{\"argv\":[\"printf\",\"%s\",\"é\"],\"env\":{\"A\":\"1\",\"B\":"
	                       "\"2\"},\"cwd\":\"/w\",\"timeout_s\":9,\"stdin_b64\":\"aGkA/w==\"}");
	plain = alk_exec_body(&none, cmd.command, 1, NULL);
	ck_assert_str_eq(plain, "{\"argv\":[\"printf\"]}");
	ck_assert(alk_json_validate(body, strlen(body), 1024, 8, NULL));
}
END_TEST

START_TEST(test_exec_result)
{
	g_autoptr(JsonObject) a =
	    object("{\"stream\":\"exit\",\"exit_code\":3,\"signal\":null,\"timed_out\":false,"
	           "\"truncated\":true,\"duration_ms\":5}");
	g_autoptr(JsonObject) b = object("{\"exit_code\":null,\"signal\":9,\"timed_out\":true}");
	g_autoptr(JsonObject) c = object("{\"exit_code\":\"3\"}");
	AlkExecResult r = {0};

	ck_assert(a != NULL && b != NULL && c != NULL);
	ck_assert(alk_exec_result_read(a, &r, NULL));
	ck_assert(r.has_exit_code && r.exit_code == 3 && r.signo == 0 && r.truncated);
	ck_assert(alk_exec_result_read(b, &r, NULL));
	ck_assert(!r.has_exit_code && r.signo == 9 && r.timed_out);
	ck_assert_int_eq(alk_cli_exit_status(r.has_exit_code, r.exit_code, r.signo, r.timed_out),
	                 124);
	ck_assert(!alk_exec_result_read(c, &r, NULL)); /* a string is not an exit code */
}
END_TEST

START_TEST(test_create_parse)
{
	g_auto(GStrv) argv = words("--image minimal --profile staging --cpus 2 --memory 1024 "
	                           "--disk 4096 --ttl 600 --label team=ml --label b=x=y "
	                           "--network allowlist --allow pypi.org:443 --allow 10.0.0.1 "
	                           "--display 1024x768");
	g_auto(AlkCreateOpts) o = {0};
	g_auto(AlkCliArgs) args = {0};
	g_autofree char *body = NULL;
	g_autoptr(GError) error = NULL;

	ck_assert_msg(alk_cmd_create_parse(g_strv_length(argv), argv, &o, &args, &error), "%s",
	              error ? error->message : "");
	body = alk_create_opts_to_json(&o);
	ck_assert_str_eq(body, "{\"image\":\"minimal\",\"profile\":\"staging\",\"cpus\":2,"
	                       "\"memory_mib\":1024,\"disk_mib\":4096,\"ttl_s\":600,"
	                       "\"network\":{\"mode\":\"allowlist\",\"allow\":[\"pypi.org:443\","
	                       "\"10.0.0.1\"]},\"labels\":{\"b\":\"x=y\",\"team\":\"ml\"},"
	                       "\"display\":{\"width\":1024,\"height\":768}}");
}
END_TEST

static void create_fails(const char *args, const char *part)
{
	g_auto(GStrv) argv = words(args);
	g_auto(AlkCreateOpts) o = {0};
	g_auto(AlkCliArgs) a = {0};
	g_autoptr(GError) error = NULL;

	ck_assert_msg(!alk_cmd_create_parse(g_strv_length(argv), argv, &o, &a, &error), "%s", args);
	assert_usage(error, part);
}

START_TEST(test_create_parse_errors)
{
	GString *many = g_string_new(NULL);

	create_fails("minimal", "unexpected argument 'minimal'");
	create_fails("-- ls", "unexpected argument '--'");
	create_fails("--cpus 0", "between 1");
	create_fails("--display 1024", "WIDTHxHEIGHT");
	create_fails("--display 0x768", "WIDTHxHEIGHT");
	create_fails("--cpus 1025", "between 1");
	create_fails("--cpus two", "whole number");
	create_fails("--memory 63", "between 64");
	create_fails("--memory 99999999999999999999", "whole number");
	create_fails("--disk 1", "between 16");
	create_fails("--ttl 0", "between 1");
	create_fails("--ttl 1 --ttl 2", "given twice");
	create_fails("--image ../etc", "[a-z0-9_-]");
	create_fails("--profile PROD", "[a-z0-9_-]");
	create_fails("--network bridge", "none, isolated, allowlist");
	create_fails("--allow pypi.org", "--network allowlist");
	create_fails("--network allowlist --allow pypi.org:99999", "port must be 1..65535");
	create_fails("--network allowlist --allow 127.0.0.1",
	             "--allow: allowlist entry '127.0.0.1'");
	create_fails("--label noequals", "KEY=VALUE");
	create_fails("--label K=v", "[a-z0-9_.-]");
	create_fails("--label k=1 --label k=2", "given twice");
	for (int i = 0; i <= ALK_CLI_LABELS_MAX; i++)
		g_string_append_printf(many, "%s--label k%d=v", i > 0 ? " " : "", i);
	create_fails(many->str, "at most 32 labels");
	g_string_free(many, TRUE);
}
END_TEST

START_TEST(test_create_parse_fs)
{
	g_auto(GStrv) argv = words("--root readonly --workspace 0 --readonly-path /etc "
	                           "--readonly-path /usr --volume data:/data --volume ref:/ref:rw");
	g_auto(AlkCreateOpts) o = {0};
	g_auto(AlkCliArgs) args = {0};
	g_autofree char *body = NULL;
	g_autoptr(GError) error = NULL;

	ck_assert_msg(alk_cmd_create_parse(g_strv_length(argv), argv, &o, &args, &error), "%s",
	              error ? error->message : "");
	body = alk_create_opts_to_json(&o);
	ck_assert_str_eq(body, "{\"root\":\"readonly\",\"workspace_mib\":0,"
	                       "\"readonly_paths\":[\"/etc\",\"/usr\"],\"volumes\":["
	                       "{\"name\":\"data\",\"path\":\"/data\",\"readonly\":true},"
	                       "{\"name\":\"ref\",\"path\":\"/ref\",\"readonly\":false}]}");
	create_fails("--root ro", "writable or readonly");
	create_fails("--root readonly --root writable", "given twice");
	create_fails("--workspace -1", "whole number");
	create_fails("--workspace 1 --workspace 2", "given twice");
	create_fails("--readonly-path etc", "not an absolute path");
	create_fails("--volume data", "NAME:PATH");
	create_fails("--volume Data:/d", "NAME:PATH");
	create_fails("--volume data:d", "NAME:PATH");
	create_fails("--volume data:/d:rx", "NAME:PATH");
	create_fails("--volume a:/1 --volume b:/2 --volume c:/3 --volume d:/4 --volume e:/5 "
	             "--volume f:/6 --volume g:/7 --volume h:/8 --volume i:/9",
	             "at most 8 volumes");
}
END_TEST

START_TEST(test_volume_parse)
{
	static const struct {
		const char *args;
		const char *action, *name;
		guint64 size;
	} good[] = {
	    {"create data --size 64", "create", "data", 64},
	    {"ls", "ls", NULL, 0},
	    {"--json ls", "ls", NULL, 0},
	    {"rm data", "rm", "data", 0},
	};
	static const struct {
		const char *args, *part;
	} bad[] = {
	    {"", "expected create"},          {"create data", "needs --size"},
	    {"create --size 64", "NAME"},     {"create ../x --size 64", "[a-z0-9_-]"},
	    {"create x --size 0", "between"}, {"rm", "NAME"},
	    {"rm x --size 1", "no --size"},   {"ls x", "nothing more"},
	    {"mv a", "unknown action"},       {"create x --size 99999999", "between"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
		g_auto(GStrv) argv = words(good[i].args);
		AlkVolumeCmd c = {0};
		g_autoptr(GError) error = NULL;

		ck_assert_msg(alk_cmd_volume_parse(g_strv_length(argv), argv, &c, &error), "%s: %s",
		              good[i].args, error ? error->message : "");
		ck_assert_str_eq(c.action, good[i].action);
		ck_assert_pstr_eq(c.name, good[i].name);
		ck_assert_uint_eq(c.size_mib, good[i].size);
	}
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_auto(GStrv) argv = words(bad[i].args);
		AlkVolumeCmd c = {0};
		g_autoptr(GError) error = NULL;

		ck_assert_msg(!alk_cmd_volume_parse(g_strv_length(argv), argv, &c, &error), "%s",
		              bad[i].args);
		assert_usage(error, bad[i].part);
	}
}
END_TEST

START_TEST(test_run_parse)
{
	g_auto(GStrv) argv = words("--rm --image minimal -e X=1 --timeout 5 -- uname -a");
	g_auto(GStrv) bad = words("--rm uname -a");
	g_auto(GStrv) none = words("--rm");
	g_auto(GStrv) allow = words("--allow x.org -- true");
	g_auto(AlkRunCmd) cmd = {0};
	g_auto(AlkRunCmd) cmd2 = {0};
	g_auto(AlkRunCmd) cmd3 = {0};
	g_auto(AlkRunCmd) cmd4 = {0};
	g_autoptr(GError) e1 = NULL;
	g_autoptr(GError) e2 = NULL;
	g_autoptr(GError) e3 = NULL;

	ck_assert(alk_cmd_run_parse(g_strv_length(argv), argv, &cmd, NULL));
	ck_assert(cmd.rm);
	ck_assert_str_eq(cmd.create.image, "minimal");
	ck_assert_uint_eq(cmd.exec.timeout_s, 5);
	ck_assert_int_eq(cmd.command_len, 2);
	ck_assert(!alk_cmd_run_parse(g_strv_length(bad), bad, &cmd2, &e1));
	assert_usage(e1, "missing '--'");
	ck_assert(!alk_cmd_run_parse(g_strv_length(none), none, &cmd3, &e2));
	assert_usage(e2, "missing '--'");
	ck_assert(!alk_cmd_run_parse(g_strv_length(allow), allow, &cmd4, &e3));
	assert_usage(e3, "--network allowlist");
}
END_TEST

START_TEST(test_cp_parse)
{
	g_auto(GStrv) up = words("dir/report.txt 0123456789ab:/tmp/");
	g_auto(GStrv) down = words("0123456789ab:/etc/os-release -");
	g_auto(AlkCpCmd) a = {0};
	g_auto(AlkCpCmd) b = {0};

	ck_assert(alk_cmd_cp_parse(2, up, &a, NULL));
	ck_assert_str_eq(a.dst.id, "0123456789ab");
	ck_assert_str_eq(a.dst.path, "/tmp/report.txt");
	ck_assert(a.src.id == NULL);
	ck_assert(alk_cmd_cp_parse(2, down, &b, NULL));
	ck_assert_str_eq(b.src.path, "/etc/os-release");
	ck_assert_str_eq(b.dst.path, "-");
}
END_TEST

static void cp_fails(const char *args, const char *part)
{
	g_auto(GStrv) argv = words(args);
	g_auto(AlkCpCmd) c = {0};
	g_autoptr(GError) error = NULL;

	ck_assert_msg(!alk_cmd_cp_parse(g_strv_length(argv), argv, &c, &error), "%s", args);
	assert_usage(error, part);
}

START_TEST(test_cp_parse_errors)
{
	cp_fails("a b", "one side must be in a sandbox");
	cp_fails("0123456789ab:/a 0123456789ab:/b", "between sandboxes");
	cp_fails("a", "two arguments");
	cp_fails("a b c", "two arguments");
	cp_fails("- 0123456789ab:/tmp/", "name the file");
	cp_fails("a 0123456789ab:tmp/x", "absolute");
	cp_fails("a 0123456789ab:/tmp/../etc/passwd", "'..'");
	cp_fails("0123456789ab:/tmp/ .", "directory");
	cp_fails("0123456789ab:/ .", "directory");
	cp_fails(". 0123456789ab:/tmp/", "name the destination");
}
END_TEST

START_TEST(test_rm_ttl_parse)
{
	g_auto(GStrv) rm = words("-f 0123456789ab aaaaaaaaaaaa 0123456789ab");
	g_auto(GStrv) rm_bad = words("0123456789ab nope");
	g_auto(GStrv) ttl = words("0123456789ab 3600");
	g_auto(GStrv) ttl_bad = words("0123456789ab 0");
	g_auto(GStrv) ttl_short = words("0123456789ab");
	g_auto(AlkRmCmd) a = {0};
	g_auto(AlkRmCmd) b = {0};
	g_auto(AlkRmCmd) c = {0};
	GString *many = g_string_new(NULL);
	const char *id = NULL;
	guint64 ttl_s = 0;
	gboolean json = FALSE;

	ck_assert(alk_cmd_rm_parse(g_strv_length(rm), rm, &a, NULL));
	ck_assert(a.force);
	ck_assert_uint_eq(a.ids->len, 2);
	ck_assert(!alk_cmd_rm_parse(g_strv_length(rm_bad), rm_bad, &b, NULL));
	for (int i = 0; i <= ALK_CLI_RM_MAX; i++)
		g_string_append_printf(many, "%s%012x", i > 0 ? " " : "", i);
	g_auto(GStrv) rm_many = words(many->str);
	ck_assert(!alk_cmd_rm_parse(g_strv_length(rm_many), rm_many, &c, NULL));
	g_string_free(many, TRUE);
	ck_assert(alk_cmd_ttl_parse(2, ttl, &id, &ttl_s, &json, NULL));
	ck_assert_uint_eq(ttl_s, 3600);
	ck_assert(!alk_cmd_ttl_parse(2, ttl_bad, &id, &ttl_s, &json, NULL));
	ck_assert(!alk_cmd_ttl_parse(1, ttl_short, &id, &ttl_s, &json, NULL));
}
END_TEST

static void assert_computer(const char *argv, const char *want)
{
	g_auto(GStrv) w = words(argv);
	g_auto(AlkComputerCmd) c = {0};
	g_autoptr(GError) error = NULL;

	ck_assert_msg(alk_cmd_computer_parse(g_strv_length(w), w, &c, &error), "%s: %s", argv,
	              error ? error->message : "?");
	ck_assert_str_eq(c.body, want);
}

static void assert_computer_error(const char *argv, const char *want)
{
	g_auto(GStrv) w = words(argv);
	g_auto(AlkComputerCmd) c = {0};
	g_autoptr(GError) error = NULL;

	ck_assert_msg(!alk_cmd_computer_parse(g_strv_length(w), w, &c, &error), "%s accepted",
	              argv);
	ck_assert_msg(strstr(error->message, want) != NULL, "'%s' lacks '%s'", error->message,
	              want);
}

START_TEST(test_screen_parse)
{
	g_auto(GStrv) shot = words("--width 640 0123456789ab /tmp/s.png");
	g_auto(GStrv) shot_big = words("--width 5000 0123456789ab /tmp/s.png");
	g_auto(GStrv) shot_short = words("0123456789ab");
	AlkScreenshotCmd s;

	ck_assert(alk_cmd_screenshot_parse(g_strv_length(shot), shot, &s, NULL));
	ck_assert(s.width == 640 && s.height == 0);
	ck_assert_str_eq(s.file, "/tmp/s.png");
	ck_assert(!alk_cmd_screenshot_parse(g_strv_length(shot_big), shot_big, &s, NULL));
	ck_assert(!alk_cmd_screenshot_parse(1, shot_short, &s, NULL));
	assert_computer("0123456789ab move 10 20",
	                "{\"actions\":[{\"action\":\"move\",\"x\":10,\"y\":20}]}");
	assert_computer("--scale 360x200 0123456789ab double-click 5 6",
	                "{\"actions\":[{\"action\":\"click\",\"count\":2,\"x\":5,\"y\":6}],"
	                "\"scale_to\":{\"width\":360,\"height\":200}}");
	assert_computer("0123456789ab right-click",
	                "{\"actions\":[{\"action\":\"click\",\"button\":\"right\"}]}");
	assert_computer("0123456789ab key ctrl+shift+t",
	                "{\"actions\":[{\"action\":\"key\",\"keys\":\"ctrl+shift+t\"}]}");
	assert_computer("0123456789ab scroll up 3",
	                "{\"actions\":[{\"action\":\"scroll\",\"dy\":-3,\"dx\":0}]}");
	assert_computer("0123456789ab drag 1 2 3 4",
	                "{\"actions\":[{\"action\":\"drag\",\"path\":[[1,2],[3,4]]}]}");
	assert_computer("0123456789ab type -- -rf",
	                "{\"actions\":[{\"action\":\"type\",\"text\":\"-rf\"}]}");
	assert_computer("--screenshot /tmp/x.png 0123456789ab wait 100",
	                "{\"actions\":[{\"action\":\"wait\",\"ms\":100}],\"screenshot\":true}");
	assert_computer_error("0123456789ab fly", "unknown action 'fly'");
	assert_computer_error("0123456789ab move 10", "wrong number of arguments");
	assert_computer_error("0123456789ab click 10", "wrong number of arguments");
	assert_computer_error("0123456789ab drag 1 2 3", "wrong number of arguments");
	assert_computer_error("0123456789ab move -1 2", "");
	assert_computer_error("0123456789ab scroll up 51", "");
	assert_computer_error("0123456789ab scroll sideways", "up, down, left or right");
	assert_computer_error("--scale 360 0123456789ab cursor", "WIDTHxHEIGHT");
	assert_computer_error("0123456789ab screenshot", "needs --screenshot FILE");
	assert_computer_error("nope cursor", "");
	assert_computer_error("0123456789ab", "usage");
}
END_TEST

START_TEST(test_pause_parse)
{
	g_auto(GStrv) ok = words("0123456789ab");
	g_auto(GStrv) two = words("0123456789ab aaaaaaaaaaaa");
	g_auto(GStrv) bad = words("../etc");
	g_auto(GStrv) none = words("");
	g_autoptr(GError) error = NULL;
	const char *id = NULL;
	gboolean json = FALSE;

	ck_assert(alk_cmd_pause_parse("pause", 1, ok, &id, &json, NULL));
	ck_assert_str_eq(id, "0123456789ab");
	ck_assert(!alk_cmd_pause_parse("pause", 2, two, &id, &json, &error));
	ck_assert_msg(strstr(error->message, "unexpected argument 'aaaaaaaaaaaa'") != NULL, "%s",
	              error->message);
	g_clear_error(&error);
	ck_assert(!alk_cmd_pause_parse("resume", 1, bad, &id, &json, NULL));
	ck_assert(!alk_cmd_pause_parse("resume", 0, none, &id, &json, &error));
	ck_assert_msg(strstr(error->message, "airlock resume ID") != NULL, "%s", error->message);
}
END_TEST

static void net_fails(const char *args, const char *part)
{
	g_auto(GStrv) argv = words(args);
	g_auto(AlkNetCmd) c = {0};
	g_autoptr(GError) error = NULL;

	ck_assert_msg(!alk_cmd_net_parse(g_strv_length(argv), argv, &c, &error), "%s", args);
	assert_usage(error, part);
}

START_TEST(test_net_parse)
{
	g_auto(GStrv) allow = words("0123456789ab --allow pypi.org:443 --allow=10.0.0.0/8 --json");
	g_auto(GStrv) none = words("--none 0123456789ab");
	g_auto(AlkNetCmd) a = {0};
	g_auto(AlkNetCmd) b = {0};
	g_autofree char *body_a = NULL;
	g_autofree char *body_b = NULL;
	g_autoptr(GError) error = NULL;

	ck_assert_msg(alk_cmd_net_parse(g_strv_length(allow), allow, &a, &error), "%s",
	              error ? error->message : "");
	ck_assert_str_eq(a.id, "0123456789ab");
	ck_assert(a.json && !a.none);
	body_a = alk_net_body(&a);
	ck_assert_str_eq(body_a, "{\"allow\":[\"pypi.org:443\",\"10.0.0.0/8\"]}");
	ck_assert(alk_cmd_net_parse(g_strv_length(none), none, &b, NULL));
	ck_assert(b.none && !b.json);
	body_b = alk_net_body(&b);
	ck_assert_str_eq(body_b, "{\"allow\":[]}");
}
END_TEST

START_TEST(test_net_parse_errors)
{
	GString *many = g_string_new("0123456789ab");

	net_fails("", "missing the sandbox ID");
	net_fails("--none", "missing the sandbox ID");
	net_fails("0123456789ab", "--allow ENTRY (repeatable), or --none");
	net_fails("0123456789ab --json", "--allow ENTRY (repeatable), or --none");
	net_fails("0123456789ab --none --allow a.org", "exclude each other");
	net_fails("0123456789ab --allow a.org --none", "exclude each other");
	net_fails("0123456789ab --none=yes", "--none takes no value");
	net_fails("0123456789ab --allow", "--allow needs a value");
	net_fails("0123456789ab --allow a.org:0", "port must be 1..65535");
	net_fails("0123456789ab --allow 169.254.169.254", "--allow: allowlist entry");
	net_fails("nope --none", "nope");
	net_fails("0123456789ab extra --none", "unexpected argument 'extra'");
	net_fails("0123456789ab --none -- ls", "unexpected argument '--'");
	net_fails("0123456789ab --mode allowlist", "unknown option '--mode'");
	for (int i = 0; i <= ALK_CLI_ALLOW_MAX; i++)
		g_string_append_printf(many, " --allow h%d.org", i);
	net_fails(many->str, "at most 64 entries");
	g_string_free(many, TRUE);
}
END_TEST

START_TEST(test_net_describe)
{
	g_autoptr(JsonObject) some =
	    object("{\"id\":\"0123456789ab\",\"network\":{\"mode\":\"allowlist\",\"allow\":"
	           "[\"pypi.org:443\",\"*.github.com\",\"x\\u001b[31m.org\"],\"address\":null,"
	           "\"counters\":null}}");
	g_autoptr(JsonObject) nothing =
	    object("{\"id\":\"0123456789ab\",\"network\":{\"mode\":\"allowlist\",\"allow\":[]}}");
	g_autofree char *a = alk_net_describe(some);
	g_autofree char *b = alk_net_describe(nothing);

	ck_assert_str_eq(a, "sandbox 0123456789ab allows:\n  pypi.org:443\n  *.github.com\n"
	                    "  x?[31m.org\n");
	ck_assert_str_eq(b, "sandbox 0123456789ab allows nothing\n");
}
END_TEST

START_TEST(test_audit_parse)
{
	g_auto(GStrv) plain = words("verify");
	g_auto(GStrv) file = words("verify /x/audit.jsonl");
	g_auto(GStrv) other = words("verify --no-head log.txt");
	g_auto(GStrv) both = words("verify --no-head --head h");
	g_auto(GStrv) wrong = words("check");
	g_auto(AlkAuditCmd) a = {0};
	g_auto(AlkAuditCmd) b = {0};
	g_auto(AlkAuditCmd) c = {0};
	g_auto(AlkAuditCmd) d = {0};
	g_auto(AlkAuditCmd) e = {0};

	ck_assert(alk_cmd_audit_parse(1, plain, &a, NULL));
	ck_assert_str_eq(a.log_path, "/var/lib/airlock/audit.jsonl");
	ck_assert_str_eq(a.head_path, "/var/lib/airlock/audit.head");
	ck_assert(alk_cmd_audit_parse(2, file, &b, NULL));
	ck_assert_str_eq(b.head_path, "/x/audit.head");
	ck_assert(b.head_derived);
	ck_assert(alk_cmd_audit_parse(3, other, &c, NULL));
	ck_assert(c.head_path == NULL);
	ck_assert(!alk_cmd_audit_parse(4, both, &d, NULL));
	ck_assert(!alk_cmd_audit_parse(1, wrong, &e, NULL));

	g_auto(GStrv) keyed = words("verify --key /etc/airlock/audit.key");
	g_auto(GStrv) twice = words("verify --key a --key b");
	g_auto(AlkAuditCmd) f = {0};
	g_auto(AlkAuditCmd) g = {0};
	ck_assert(alk_cmd_audit_parse(3, keyed, &f, NULL));
	ck_assert_str_eq(f.key_path, "/etc/airlock/audit.key");
	ck_assert(!alk_cmd_audit_parse(5, twice, &g, NULL));

	/* --anchors and --node, together, of their forms */
	g_auto(GStrv) anchored =
	    words("verify --anchors http://127.0.0.1:2379,http://h:2 --node 07");
	g_auto(GStrv) no_node = words("verify --anchors http://127.0.0.1:2379");
	g_auto(GStrv) no_anchors = words("verify --node 07");
	g_auto(GStrv) bad_node = words("verify --anchors http://h:1 --node 00");
	g_auto(GStrv) bad_url = words("verify --anchors ftp://h:1 --node 07");
	g_auto(AlkAuditCmd) h = {0};
	g_auto(AlkAuditCmd) i = {0};
	g_auto(AlkAuditCmd) j = {0};
	g_auto(AlkAuditCmd) k = {0};
	g_auto(AlkAuditCmd) l = {0};
	ck_assert(alk_cmd_audit_parse(5, anchored, &h, NULL));
	ck_assert_str_eq(h.node, "07");
	ck_assert_str_eq(h.anchors, "http://127.0.0.1:2379,http://h:2");
	ck_assert(!alk_cmd_audit_parse(3, no_node, &i, NULL));
	ck_assert(!alk_cmd_audit_parse(3, no_anchors, &j, NULL));
	ck_assert(!alk_cmd_audit_parse(5, bad_node, &k, NULL));
	ck_assert(!alk_cmd_audit_parse(5, bad_url, &l, NULL));
}
END_TEST

/* ---- global options ------------------------------------------------------------------------- */

static gboolean global(const char *args, AlkCli **out, GError **error)
{
	g_autofree char *line = g_strconcat("airlock ", args, NULL);
	g_auto(GStrv) argv = words(line);
	int argc = g_strv_length(argv);
	char **rest = argv;
	g_autoptr(AlkCli) cli = alk_cli_new();

	if (!alk_cli_parse_global(cli, &argc, &rest, error))
		return FALSE;
	*out = g_steal_pointer(&cli);
	return TRUE;
}

START_TEST(test_global_options)
{
	g_autoptr(AlkCli) a = NULL;
	g_autoptr(AlkCli) b = NULL;
	g_autoptr(AlkCli) c = NULL;
	g_autoptr(AlkCli) d = NULL;
	g_autoptr(GError) e1 = NULL;
	g_autoptr(GError) e2 = NULL;
	g_autoptr(GError) e3 = NULL;

	g_unsetenv("AIRLOCK_SOCKET");
	g_unsetenv("AIRLOCK_URL");
	g_unsetenv("AIRLOCK_TOKEN");
	ck_assert(global("ls", &a, NULL));
	ck_assert_str_eq(a->socket_path, "/run/airlock/api.sock");
	ck_assert_str_eq(a->base_url, "http://localhost");
	ck_assert(global("--url http://127.0.0.1:8420// --token=abc --json ls", &b, NULL));
	ck_assert(b->socket_path == NULL && b->json);
	ck_assert_str_eq(b->base_url, "http://127.0.0.1:8420");
	ck_assert_str_eq(b->token, "abc");
	ck_assert(!global("--socket /s --url http://x ls", &c, &e1));
	assert_usage(e1, "exclude each other");
	ck_assert(!global("--url http://x/?a=b ls", &c, &e2));
	ck_assert(!global("--socket", &c, &e3));
	assert_usage(e3, "needs a value");
	g_setenv("AIRLOCK_SOCKET", "/tmp/a.sock", TRUE);
	ck_assert(global("ls", &c, NULL));
	ck_assert_str_eq(c->socket_path, "/tmp/a.sock");
	g_setenv("AIRLOCK_URL", "http://h:1", TRUE);
	ck_assert(!global("ls", &d, NULL));
	ck_assert(global("--url http://h:2 ls", &d, NULL)); /* the command line wins */
	g_setenv("AIRLOCK_TOKEN", "with space", TRUE);
	g_clear_pointer(&d, alk_cli_free);
	ck_assert(!global("--url http://h:2 ls", &d, NULL));
	g_unsetenv("AIRLOCK_SOCKET");
	g_unsetenv("AIRLOCK_URL");
	g_unsetenv("AIRLOCK_TOKEN");
}
END_TEST

/* ---- what people see ------------------------------------------------------------------------ */

START_TEST(test_durations)
{
	static const struct {
		gint64 s;
		const char *text;
	} cases[] = {{-5, "0s"},    {0, "0s"},    {59, "59s"},    {60, "1m"},
	             {3599, "59m"}, {3600, "1h"}, {86399, "23h"}, {90000, "1d"}};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *t = alk_cli_format_duration(cases[i].s);
		ck_assert_str_eq(t, cases[i].text);
	}
	g_autofree char *m = alk_cli_format_mib(512);
	g_autofree char *g = alk_cli_format_mib(2048);
	g_autofree char *odd = alk_cli_format_mib(1536);
	ck_assert_str_eq(m, "512M");
	ck_assert_str_eq(g, "2G");
	ck_assert_str_eq(odd, "1536M");
}
END_TEST

START_TEST(test_sandbox_table)
{
	g_autoptr(JsonObject) doc = object(
	    "{\"sandboxes\":[{\"id\":\"0123456789ab\",\"state\":\"ready\",\"image\":\"minimal\","
	    "\"profile\":\"development\",\"created_at\":\"2026-11-27T01:00:00Z\","
	    "\"expires_at\":\"2026-11-27T02:00:00Z\",\"labels\":{\"z\":\"1\",\"a\":\"\\u001b[2J\"},"
	    "\"limits\":{\"cpus\":2,\"memory_mib\":2048}},"
	    "{\"id\":\"ba9876543210\",\"state\":\"failed\",\"image\":7,\"profile\":null,"
	    "\"created_at\":\"garbage\",\"labels\":{},\"limits\":\"x\"}]}");
	g_autoptr(GDateTime) now = g_date_time_new_from_iso8601("2026-11-27T01:30:05Z", NULL);
	g_autofree char *table =
	    alk_cli_format_sandboxes(alk_cli_json_array(doc, "sandboxes"), now);

	ck_assert_str_eq(table,
	                 "ID            STATE   IMAGE    PROFILE      CPUS  MEM  AGE  EXPIRES  "
	                 "LABELS\n"
	                 "0123456789ab  ready   minimal  development  2     2G   30m  in 29m   "
	                 "a=?[2J,z=1\n"
	                 "ba9876543210  failed  -        -            -     -    -    -        "
	                 "-\n");
}
END_TEST

START_TEST(test_images_profiles)
{
	g_autoptr(JsonObject) images = object(
	    "{\"images\":[{\"name\":\"minimal\",\"kernel_version\":\"6.1.0\",\"agent_version\":"
	    "\"0.1.0\",\"rootfs_virtual_mib\":1024,\"built_at\":\"2026-11-25T01:30:05Z\","
	    "\"build_id\":\"20261125T013005Z-0123abcd\",\"rootfs_bytes\":5000000,"
	    "\"default_user\":null,\"source\":{\"kind\":\"minimal\"},"
	    "\"usable\":true,\"error\":null},{\"name\":\"py\",\"kernel_version\":\"6.1.0\","
	    "\"rootfs_virtual_mib\":2048,\"built_at\":\"2026-11-27T01:00:05Z\",\"build_id\":"
	    "\"20261127T010005Z-89abcdef\",\"rootfs_bytes\":300000000,\"default_user\":\"agent\","
	    "\"source\":{\"kind\":\"debian\",\"suite\":\"bookworm\",\"packages\":[\"python3\","
	    "\"git\"]},\"usable\":true,\"error\":null},{\"name\":\"app\",\"kernel_version\":"
	    "\"6.1.0\",\"rootfs_virtual_mib\":512,\"built_at\":\"2026-11-27T01:30:00Z\","
	    "\"build_id\":\"20261127T013000Z-00000000\",\"rootfs_bytes\":1048576,"
	    "\"source\":{\"kind\":\"oci\",\"reference\":\"app.tar\",\"digest\":\"sha256:"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"},"
	    "\"usable\":true,\"error\":null},{\"name\":\"broken\",\"usable\":false,"
	    "\"error\":\"no kernel\"}]}");
	g_autoptr(JsonObject) profiles = object(
	    "{\"profiles\":[{\"name\":\"development\",\"cpus\":1,\"max_cpus\":4,\"memory_mib\":512,"
	    "\"max_memory_mib\":4096,\"disk_mib\":2048,\"max_disk_mib\":8192,\"ttl_s\":3600,"
	    "\"max_ttl_s\":86400,\"exec_timeout_s\":600,\"max_exec_timeout_s\":3600,"
	    "\"network_modes\":[\"none\",\"isolated\"]}],\"default\":\"development\"}");
	g_autoptr(GDateTime) now = g_date_time_new_from_iso8601("2026-11-27T01:30:05Z", NULL);
	g_autofree char *a = alk_cli_format_images(alk_cli_json_array(images, "images"), now);
	g_autofree char *b = alk_cli_format_profiles(profiles);

	ck_assert_str_eq(
	    a, "NAME     KERNEL  USER   SOURCE                           SIZE  ROOTFS  BUILT    "
	       "BUILD                      USABLE\n"
	       "minimal  6.1.0   root   minimal                          5M    1G      2d ago   "
	       "20261125T013005Z-0123abcd  yes\n"
	       "py       6.1.0   agent  debian bookworm +python3,git     287M  2G      30m ago  "
	       "20261127T010005Z-89abcdef  yes\n"
	       "app      6.1.0   root   oci app.tar@sha256:0123456789ab  1M    512M    5s ago   "
	       "20261127T013000Z-00000000  yes\n"
	       "broken   -       -      -                                -     -       -        "
	       "-                          no: no kernel\n");
	ck_assert_str_eq(b, "NAME                   CPUS  MEMORY   DISK   TTL    EXEC-TIMEOUT  "
	                    "NETWORK\n"
	                    "development (default)  1/4   512M/4G  2G/8G  1h/1d  10m/1h        "
	                    "none,isolated\n");
}
END_TEST

START_TEST(test_object_listing)
{
	g_autoptr(JsonObject) sb =
	    object("{\"id\":\"0123456789ab\",\"labels\":{\"k\":\"v\"},\"limits\":{\"cpus\":1},"
	           "\"network\":{\"mode\":\"allowlist\",\"allow\":[\"a.org\",\"b.org:1\"],"
	           "\"address\":\"10.254.254.2/30\",\"counters\":{\"allowed_packets\":12,"
	           "\"denied_packets\":3,\"dns_queries\":5,\"dns_refused\":1}},"
	           "\"error\":null,\"adopted\":false,\"empty\":{}}");
	g_autofree char *text = alk_cli_format_object(sb);

	ck_assert_str_eq(text, "id                                0123456789ab\n"
	                       "labels.k                          v\n"
	                       "limits.cpus                       1\n"
	                       "network.mode                      allowlist\n"
	                       "network.allow                     a.org,b.org:1\n"
	                       "network.address                   10.254.254.2/30\n"
	                       "network.counters.allowed_packets  12\n"
	                       "network.counters.denied_packets   3\n"
	                       "network.counters.dns_queries      5\n"
	                       "network.counters.dns_refused      1\n"
	                       "error                             -\n"
	                       "adopted                           false\n"
	                       "empty                             -\n");
}
END_TEST

START_TEST(test_progress_text)
{
	g_autofree char *a =
	    alk_cli_progress_text("booting sandbox 0123456789ab", 3250000, FALSE, 0, 0);
	g_autofree char *b =
	    alk_cli_progress_text("uploading", 1000000, TRUE, 10 * 1024 * 1024, 20 * 1024 * 1024);
	g_autofree char *c = alk_cli_progress_text("downloading", 0, TRUE, 512, 0);

	ck_assert_str_eq(a, "booting sandbox 0123456789ab… 3.2s");
	ck_assert_str_eq(b, "uploading 10.0 MiB / 20.0 MiB (50%) 1.0s");
	ck_assert_str_eq(c, "downloading 0.5 KiB 0.0s");
}
END_TEST

START_TEST(test_table_sanitizes)
{
	static const char *const headers[] = {"A", "B", NULL};
	const char *row[] = {"\xe2\x80\xae"
	                     "evil",
	                     "x\ty\rz\x7f", NULL};
	g_autoptr(AlkCliTable) t = alk_cli_table_new(headers);
	g_autofree char *text = NULL;

	alk_cli_table_add(t, row);
	text = alk_cli_table_to_string(t);
	ck_assert_str_eq(text, "A      B\n?evil  x?y?z?\n");
}
END_TEST

START_TEST(test_error_text_cannot_forge_lines)
{
	g_autofree char *a = alk_cli_error_text("no such file\nairlock: forged\r\x1b[2J\a");
	g_autofree char *b = alk_cli_error_text("boot failed\n--- console ---\nline");

	ck_assert_str_eq(a, "airlock: no such file\n  airlock: forged??[2J?\n");
	ck_assert_str_eq(b, "airlock: boot failed\n  --- console ---\n  line\n");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("cli");
	TCase *args = tcase_create("args");
	TCase *verbs = tcase_create("verbs");
	TCase *show = tcase_create("show");

	tcase_add_test(args, test_uint);
	tcase_add_test(args, test_ids);
	tcase_add_test(args, test_kv);
	tcase_add_test(args, test_labels_env_names);
	tcase_add_test(args, test_allow);
	tcase_add_test(args, test_guest_paths);
	tcase_add_test(args, test_argv_limits);
	tcase_add_test(args, test_shown_defuses);
	tcase_add_test(args, test_exit_status);
	tcase_add_test(verbs, test_exec_parse);
	tcase_add_test(verbs, test_exec_parse_errors);
	tcase_add_test(verbs, test_exec_parse_bundled);
	tcase_add_test(verbs, test_exec_parse_user);
	tcase_add_test(verbs, test_exec_parse_help);
	tcase_add_test(verbs, test_exec_body);
	tcase_add_test(verbs, test_exec_result);
	tcase_add_test(verbs, test_create_parse);
	tcase_add_test(verbs, test_create_parse_errors);
	tcase_add_test(verbs, test_create_parse_fs);
	tcase_add_test(verbs, test_volume_parse);
	tcase_add_test(verbs, test_run_parse);
	tcase_add_test(verbs, test_cp_parse);
	tcase_add_test(verbs, test_cp_parse_errors);
	tcase_add_test(verbs, test_rm_ttl_parse);
	tcase_add_test(verbs, test_screen_parse);
	tcase_add_test(verbs, test_pause_parse);
	tcase_add_test(verbs, test_audit_parse);
	tcase_add_test(verbs, test_net_parse);
	tcase_add_test(verbs, test_net_parse_errors);
	tcase_add_test(show, test_net_describe);
	tcase_add_test(verbs, test_global_options);
	tcase_add_test(show, test_durations);
	tcase_add_test(show, test_sandbox_table);
	tcase_add_test(show, test_images_profiles);
	tcase_add_test(show, test_object_listing);
	tcase_add_test(show, test_progress_text);
	tcase_add_test(show, test_table_sanitizes);
	tcase_add_test(show, test_error_text_cannot_forge_lines);
	suite_add_tcase(s, args);
	suite_add_tcase(s, verbs);
	suite_add_tcase(s, show);
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
