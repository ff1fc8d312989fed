/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* POST /v1/sandboxes/{id}/tools/anthropic against a real airlockd and a
 * guest of the minimal image: the bash tool's persistent shell (its
 * directory, variables and jobs carry over, restart resets them, a hung
 * command times out and the next one runs, a syntax error or an exit does
 * not wedge it), the text editor under both names (what it wrote read back
 * with exec, inside the guest), hostile envelopes refused with nothing
 * run, the definitions, and the audit lines. */
#include <check.h>
#include <string.h>
#include <unistd.h>

#include "alk-test-api.h"

#define BASH_TIMEOUT_S 5

static char *tools_path(const char *id)
{
	return g_strdup_printf("/v1/sandboxes/%s/tools/anthropic", id);
}

/* One tool_use block, answered 200 with one tool_result: it, checked. */
static JsonObject *tool(const char *id, const char *name, const char *input)
{
	static guint n;
	g_autofree char *path = tools_path(id);
	g_autofree char *use_id = g_strdup_printf("toolu_%u", ++n);
	g_autofree char *body =
	    g_strdup_printf("{\"type\":\"tool_use\",\"id\":\"%s\",\"name\":\"%s\",\"input\":%s}",
	                    use_id, name, input);
	JsonObject *r = alk_test_api_expect("POST", path, body, 200);

	ck_assert_str_eq(json_object_get_string_member(r, "type"), "tool_result");
	ck_assert_str_eq(json_object_get_string_member(r, "tool_use_id"), use_id);
	ck_assert(JSON_NODE_HOLDS_VALUE(json_object_get_member(r, "is_error")));
	return r;
}

/* The result's text (its text blocks' texts, joined; images left out). */
static char *text_of(JsonObject *r)
{
	JsonArray *content = json_object_get_array_member(r, "content");
	GString *s = g_string_new(NULL);

	for (guint i = 0; i < json_array_get_length(content); i++) {
		JsonObject *c = json_array_get_object_element(content, i);
		const char *type = json_object_get_string_member(c, "type");

		ck_assert(g_str_equal(type, "text") || g_str_equal(type, "image"));
		if (g_str_equal(type, "text"))
			g_string_append(s, json_object_get_string_member(c, "text"));
	}
	return g_string_free(s, FALSE);
}

/* Runs the tool; asserts is_error; returns the text. */
static char *run(const char *id, const char *name, const char *input, gboolean is_error)
{
	g_autoptr(JsonObject) r = tool(id, name, input);
	char *text = text_of(r);

	ck_assert_msg(json_object_get_boolean_member(r, "is_error") == is_error,
	              "%s %s: is_error %d: %s", name, input, !is_error, text);
	return text;
}

static void assert_has(const char *text, const char *what)
{
	ck_assert_msg(strstr(text, what) != NULL, "no \"%s\" in \"%s\"", what, text);
}

static char *bash(const char *id, const char *command, gboolean is_error)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonGenerator) g = json_generator_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *input = NULL;

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "command");
	json_builder_add_string_value(b, command);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	json_generator_set_root(g, root);
	input = json_generator_to_data(g, NULL);
	return run(id, "bash", input, is_error);
}

/* A file's content, read by an exec in the guest. */
static char *guest_file(const char *id, const char *path)
{
	g_autofree char *cmd = g_strdup_printf("cat %s", path);
	g_autoptr(JsonObject) r = alk_test_api_sh(id, cmd);

	ck_assert_int_eq(json_object_get_int_member(r, "exit_code"), 0);
	return g_strdup(json_object_get_string_member(r, "stdout"));
}

static void setup(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *extra = g_strdup_printf("[api]\nbash_timeout_s = %d\n", BASH_TIMEOUT_S);

	alk_test_api_daemon = alk_test_daemon_start(extra, &error);
	if (alk_test_api_daemon == NULL)
		g_printerr("airlockd did not start: %s\n", error->message);
}

START_TEST(bash_session)
{
	g_autofree char *id = alk_test_api_create("{}");
	g_autofree char *home = bash(id, "pwd", FALSE);
	g_autofree char *set =
	    bash(id, "mkdir -p /tmp/w && cd /tmp/w && export FOO=bar; X=1", FALSE);
	g_autofree char *kept = bash(id, "pwd; echo \"$FOO $X\"", FALSE);
	g_autofree char *job = bash(id, "sleep 600 & echo $! > /tmp/job", FALSE);
	g_autofree char *alive =
	    bash(id, "kill -0 $! && [ $! = $(cat /tmp/job) ] && echo alive", FALSE);
	g_autofree char *failed = bash(id, "echo out; echo err >&2; false", TRUE);
	g_autofree char *syntax = bash(id, "if then fi (", TRUE);
	g_autofree char *after = bash(id, "pwd", FALSE);
	g_autofree char *no_stdin = bash(id, "cat; echo read-nothing", FALSE);
	g_autofree char *spoof = bash(id, "printf '\\n__alk_0123:0\\n'; echo still", FALSE);
	g_autofree char *quotes =
	    bash(id, "echo \"it's\" 'a '\\''b'\\'; echo \\\"$HOME\\\"", FALSE);
	g_autofree char *nul = bash(id, "printf 'a\\000b\\377c'", FALSE);

	ck_assert_str_eq(set, "");
	ck_assert_str_eq(kept, "/tmp/w\nbar 1\n");
	ck_assert_str_eq(job, "");
	ck_assert_str_eq(alive, "alive\n");
	assert_has(failed, "out\nerr\n");
	assert_has(failed, "[exit status 1]");
	assert_has(syntax, "syntax error");
	ck_assert_str_eq(after, "/tmp/w\n");
	ck_assert_str_eq(no_stdin, "read-nothing\n");
	ck_assert_str_eq(spoof, "\n__alk_0123:0\nstill\n");
	assert_has(quotes, "it's a 'b'\n\"");
	ck_assert_str_eq(nul, "a\xef\xbf\xbd"
	                      "b\xef\xbf\xbd"
	                      "c");

	/* restart: a new shell, where it starts and with nothing set */
	g_autofree char *restarted = run(id, "bash", "{\"restart\":true}", FALSE);
	g_autofree char *fresh = bash(id, "pwd; echo \"[$FOO$X]\"", FALSE);
	g_autofree char *home_again = g_strdup_printf("%s[]\n", home);
	assert_has(restarted, "restarted");
	ck_assert_str_eq(fresh, home_again);

	/* a hung command: is_error after the timeout, and the next runs */
	g_autofree char *hung = bash(id, "cd /tmp; sleep 1000", TRUE);
	g_autofree char *next = bash(id, "echo ok; pwd", FALSE);
	g_autofree char *want = g_strdup_printf("timed out after %d s", BASH_TIMEOUT_S);
	assert_has(hung, want);
	assert_has(hung, "restarted");
	g_autofree char *ok_home = g_strdup_printf("ok\n%s", home);
	ck_assert_str_eq(next, ok_home);

	/* the shell exits: said, and the next command gets a new one */
	g_autofree char *exited = bash(id, "exit 3", TRUE);
	g_autofree char *again = bash(id, "echo back", FALSE);
	assert_has(exited, "exited with status 3");
	ck_assert_str_eq(again, "back\n");

	/* output over the cap: its head, a note, its tail */
	g_autofree char *big =
	    bash(id, "head -c 400000 /dev/zero | tr '\\0' a; echo; echo the-end", FALSE);
	assert_has(big, "bytes of output cut here");
	assert_has(big, "the-end\n");
	ck_assert_uint_lt(strlen(big), 300 * 1024);
}
END_TEST

static void setup_small_cap(void)
{
	g_autoptr(GError) error = NULL;

	alk_test_api_daemon =
	    alk_test_daemon_start("[profile:development]\noutput_cap_bytes = 1048576\n", &error);
	if (alk_test_api_daemon == NULL)
		g_printerr("airlockd did not start: %s\n", error->message);
}

/* The shell's output counts against the sandbox's output cap: it is
 * restarted before a command could reach it, and a command that reaches it
 * ends with the shell at once (no waiting for a marker that cannot come). */
START_TEST(bash_cap)
{
	g_autofree char *id = alk_test_api_create("{}");
	g_autofree char *one = bash(id, "head -c 700000 /dev/zero | tr '\\0' b; echo", FALSE);
	g_autofree char *two = bash(id, "echo two", FALSE);
	g_autofree char *three = bash(id, "head -c 3000000 /dev/zero | tr '\\0' c; echo", TRUE);
	g_autofree char *four = bash(id, "echo four", FALSE);

	assert_has(one, "bytes of output cut here");
	assert_has(two, "a new shell");
	assert_has(two, "two\n");
	assert_has(three, "output cap");
	/* not the timeout's doing (120 s here) */
	ck_assert(strstr(three, "timed out") == NULL);
	assert_has(four, "four\n");
}
END_TEST

/* A second call while a command runs is refused, not queued. */
START_TEST(bash_busy)
{
	g_autofree char *id = alk_test_api_create("{}");
	g_autofree char *path = tools_path(id);
	const char *slow =
	    "{\"type\":\"tool_use\",\"id\":\"toolu_slow\",\"name\":\"bash\","
	    "\"input\":{\"command\":\"touch /tmp/started; while [ ! -e /tmp/go ]; do "
	    "sleep 0.2; done; "
	    "echo slow-done\"}}";
	g_autoptr(GError) error = NULL;
	g_autofree char *head = NULL;
	int fd = alk_test_http_connect(alk_test_api_d(), FALSE, &error);

	ck_assert_msg(fd >= 0, "%s", error ? error->message : "?");
	head = alk_test_http_head("POST", path, NULL, (gssize)strlen(slow),
	                          "Content-Type: application/json\r\n");
	ck_assert(alk_test_http_send(fd, head, strlen(head), alk_test_deadline(30), NULL));
	ck_assert(alk_test_http_send(fd, slow, strlen(slow), alk_test_deadline(30), NULL));
	/* the slow one holds the shell until /tmp/go exists: wait until it runs */
	gint64 deadline = alk_test_deadline(120);
	for (;;) {
		g_autoptr(JsonObject) st = alk_test_api_sh(id, "test -e /tmp/started; echo $?");
		if (g_str_equal(json_object_get_string_member(st, "stdout"), "0\n"))
			break;
		ck_assert_msg(g_get_monotonic_time() < deadline, "the slow command never ran");
		g_usleep(100 * 1000);
	}
	g_autofree char *busy = bash(id, "echo second", TRUE);
	assert_has(busy, "busy");
	g_autoptr(JsonObject) go = alk_test_api_sh(id, "touch /tmp/go");
	g_autoptr(AlkTestResponse) r = alk_test_http_read(fd, alk_test_deadline(120), &error);
	ck_assert_msg(r != NULL, "%s", error ? error->message : "?");
	ck_assert_uint_eq(r->status, 200);
	g_autoptr(JsonObject) res = alk_test_response_json(r);
	g_autofree char *text = text_of(res);
	ck_assert_str_eq(text, "slow-done\n");
	g_autofree char *third = bash(id, "echo third", FALSE);
	ck_assert_str_eq(third, "third\n");
	close(fd);

	/* a client that leaves while its command runs: the shell goes with it, and the
	 * next call gets a new one (not "busy") */
	const char *hang = "{\"type\":\"tool_use\",\"id\":\"toolu_hang\",\"name\":\"bash\","
	                   "\"input\":{\"command\":\"touch /tmp/hung; sleep 600\"}}";
	g_autofree char *head2 = alk_test_http_head("POST", path, NULL, (gssize)strlen(hang),
	                                            "Content-Type: application/json\r\n");
	int fd2 = alk_test_http_connect(alk_test_api_d(), FALSE, &error);
	ck_assert(fd2 >= 0);
	ck_assert(alk_test_http_send(fd2, head2, strlen(head2), alk_test_deadline(30), NULL));
	ck_assert(alk_test_http_send(fd2, hang, strlen(hang), alk_test_deadline(30), NULL));
	deadline = alk_test_deadline(120);
	for (;;) {
		g_autoptr(JsonObject) st = alk_test_api_sh(id, "test -e /tmp/hung; echo $?");
		if (g_str_equal(json_object_get_string_member(st, "stdout"), "0\n"))
			break;
		ck_assert_msg(g_get_monotonic_time() < deadline, "the hanging command never ran");
		g_usleep(100 * 1000);
	}
	close(fd2);
	deadline = alk_test_deadline(120);
	for (;;) {
		g_autoptr(JsonObject) r2 = tool(id, "bash", "{\"command\":\"echo after\"}");
		g_autofree char *t2 = text_of(r2);
		if (!json_object_get_boolean_member(r2, "is_error")) {
			ck_assert_str_eq(t2, "after\n");
			break;
		}
		assert_has(t2, "busy");
		ck_assert_msg(g_get_monotonic_time() < deadline,
		              "the left command holds the shell");
		g_usleep(100 * 1000);
	}
	/* and its sleep was killed with its shell */
	g_autoptr(JsonObject) ps = alk_test_api_sh(id, "ps | grep -c '[s]leep 600' || true");
	ck_assert_str_eq(json_object_get_string_member(ps, "stdout"), "0\n");
}
END_TEST

static const char *based = "str_replace_based_edit_tool";
static const char *old = "str_replace_editor";

START_TEST(editor)
{
	g_autofree char *id = alk_test_api_create("{}");
	g_autofree char *created = run(id, based,
	                               "{\"command\":\"create\",\"path\":\"/tmp/ed/a.txt\","
	                               "\"file_text\":\"one\\ntwo\\nthree\\ntwo\\n\"}",
	                               FALSE);
	g_autofree char *content = guest_file(id, "/tmp/ed/a.txt");
	g_autofree char *again =
	    run(id, based,
	        "{\"command\":\"create\",\"path\":\"/tmp/ed/a.txt\",\"file_text\":\"x\"}", TRUE);
	g_autofree char *view =
	    run(id, based, "{\"command\":\"view\",\"path\":\"/tmp/ed/a.txt\"}", FALSE);
	g_autofree char *range =
	    run(id, based, "{\"command\":\"view\",\"path\":\"/tmp/ed/a.txt\",\"view_range\":[2,3]}",
	        FALSE);
	g_autofree char *to_end =
	    run(id, based,
	        "{\"command\":\"view\",\"path\":\"/tmp/ed/a.txt\",\"view_range\":[3,-1]}", FALSE);
	g_autofree char *bad_range =
	    run(id, based, "{\"command\":\"view\",\"path\":\"/tmp/ed/a.txt\",\"view_range\":[2,9]}",
	        TRUE);
	g_autofree char *dir = run(id, based, "{\"command\":\"view\",\"path\":\"/tmp/ed\"}", FALSE);

	assert_has(created, "/tmp/ed/a.txt");
	ck_assert_str_eq(content, "one\ntwo\nthree\ntwo\n");
	assert_has(again, "exists already");
	assert_has(view, "     1\tone\n     2\ttwo\n     3\tthree\n     4\ttwo\n");
	assert_has(range, "     2\ttwo\n     3\tthree\n");
	ck_assert(strstr(range, "1\tone") == NULL && strstr(range, "4\ttwo") == NULL);
	assert_has(to_end, "     3\tthree\n     4\ttwo\n");
	assert_has(bad_range, "outside");
	assert_has(dir, "/tmp/ed/a.txt");

	/* str_replace refuses an ambiguous and a missing match, and writes nothing */
	g_autofree char *ambiguous =
	    run(id, based,
	        "{\"command\":\"str_replace\",\"path\":\"/tmp/ed/a.txt\",\"old_str\":\"two\","
	        "\"new_str\":\"2\"}",
	        TRUE);
	g_autofree char *missing =
	    run(id, based,
	        "{\"command\":\"str_replace\",\"path\":\"/tmp/ed/a.txt\",\"old_str\":\"four\","
	        "\"new_str\":\"4\"}",
	        TRUE);
	g_autofree char *unchanged = guest_file(id, "/tmp/ed/a.txt");
	assert_has(ambiguous, "appears 2 times");
	assert_has(ambiguous, "lines 2, 4");
	assert_has(missing, "does not appear");
	ck_assert_str_eq(unchanged, "one\ntwo\nthree\ntwo\n");

	g_autofree char *replaced =
	    run(id, based,
	        "{\"command\":\"str_replace\",\"path\":\"/tmp/ed/a.txt\",\"old_str\":\"three\","
	        "\"new_str\":\"THREE\"}",
	        FALSE);
	g_autofree char *inserted =
	    run(id, based,
	        "{\"command\":\"insert\",\"path\":\"/tmp/ed/a.txt\",\"insert_line\":1,"
	        "\"insert_text\":\"inserted\\n\"}",
	        FALSE);
	g_autofree char *edited = guest_file(id, "/tmp/ed/a.txt");
	g_autofree char *no_undo =
	    run(id, based, "{\"command\":\"undo_edit\",\"path\":\"/tmp/ed/a.txt\"}", TRUE);
	assert_has(replaced, "THREE");
	assert_has(inserted, "     2\tinserted\n");
	ck_assert_str_eq(edited, "one\ninserted\ntwo\nTHREE\ntwo\n");
	assert_has(no_undo, "undo_edit");

	/* the older name: insert with new_str, undo_edit back step by step */
	g_autofree char *top =
	    run(id, old,
	        "{\"command\":\"insert\",\"path\":\"/tmp/ed/a.txt\",\"insert_line\":0,"
	        "\"new_str\":\"zero\"}",
	        FALSE);
	g_autofree char *top_file = guest_file(id, "/tmp/ed/a.txt");
	g_autofree char *undo1 =
	    run(id, old, "{\"command\":\"undo_edit\",\"path\":\"/tmp/ed/a.txt\"}", FALSE);
	g_autofree char *after1 = guest_file(id, "/tmp/ed/a.txt");
	g_autofree char *undo2 =
	    run(id, old, "{\"command\":\"undo_edit\",\"path\":\"/tmp/ed/a.txt\"}", FALSE);
	g_autofree char *undo3 =
	    run(id, old, "{\"command\":\"undo_edit\",\"path\":\"/tmp/ed/a.txt\"}", FALSE);
	g_autofree char *after3 = guest_file(id, "/tmp/ed/a.txt");
	g_autofree char *undo4 =
	    run(id, old, "{\"command\":\"undo_edit\",\"path\":\"/tmp/ed/a.txt\"}", TRUE);
	ck_assert_str_eq(top_file, "zero\none\ninserted\ntwo\nTHREE\ntwo\n");
	ck_assert_str_eq(after1, "one\ninserted\ntwo\nTHREE\ntwo\n");
	ck_assert_str_eq(after3, "one\ntwo\nthree\ntwo\n");
	assert_has(undo4, "no edit");

	/* tool-level refusals */
	g_autofree char *relative =
	    run(id, based, "{\"command\":\"view\",\"path\":\"tmp/ed/a.txt\"}", TRUE);
	g_autofree char *nofile =
	    run(id, based, "{\"command\":\"view\",\"path\":\"/tmp/nope\"}", TRUE);
	g_autofree char *badcmd =
	    run(id, based, "{\"command\":\"delete\",\"path\":\"/tmp/x\"}", TRUE);
	g_autofree char *badfield =
	    run(id, based, "{\"command\":\"view\",\"path\":\"/tmp/x\",\"colour\":1}", TRUE);
	g_autofree char *oldtext = run(id, old,
	                               "{\"command\":\"insert\",\"path\":\"/tmp/ed/"
	                               "a.txt\",\"insert_line\":0,\"insert_text\":\"x\"}",
	                               TRUE);
	assert_has(relative, "not absolute");
	assert_has(nofile, "does not exist");
	assert_has(badcmd, "unknown command");
	assert_has(badfield, "colour");
	assert_has(oldtext, "new_str");

	/* a file the default user cannot read is not read either */
	g_autoptr(JsonObject) bin = alk_test_api_sh(id, "printf 'a\\0b' > /tmp/bin");
	g_autofree char *binary =
	    run(id, based, "{\"command\":\"view\",\"path\":\"/tmp/bin\"}", TRUE);
	assert_has(binary, "not UTF-8 text");
}
END_TEST

/* The undo history keeps the last 32 edits of a sandbox. */
START_TEST(editor_undo_bound)
{
	g_autofree char *id = alk_test_api_create("{}");
	g_autofree char *path = tools_path(id);
	g_autoptr(GString) edits = g_string_new("[");
	g_autoptr(GString) undos = g_string_new("[");
	g_autofree char *made =
	    run(id, old, "{\"command\":\"create\",\"path\":\"/tmp/u\",\"file_text\":\"\"}", FALSE);

	for (guint i = 0; i < 33; i++) {
		g_string_append_printf(edits,
		                       "%s{\"type\":\"tool_use\",\"id\":\"e%u\",\"name\":\"%s\","
		                       "\"input\":{\"command\":\"insert\",\"path\":\"/tmp/u\","
		                       "\"insert_line\":0,\"new_str\":\"%u\"}}",
		                       i > 0 ? "," : "", i, old, i);
		g_string_append_printf(undos,
		                       "%s{\"type\":\"tool_use\",\"id\":\"u%u\",\"name\":\"%s\","
		                       "\"input\":{\"command\":\"undo_edit\",\"path\":\"/tmp/u\"}}",
		                       i > 0 ? "," : "", i, old);
	}
	g_string_append(edits, "]");
	g_string_append(undos, "]");
	g_autoptr(AlkTestResponse) e = alk_test_api_call("POST", path, edits->str);
	g_autoptr(AlkTestResponse) u = alk_test_api_call("POST", path, undos->str);
	g_autoptr(JsonParser) p = json_parser_new();

	ck_assert_uint_eq(e->status, 200);
	ck_assert_uint_eq(u->status, 200);
	ck_assert(json_parser_load_from_data(p, (const char *)u->body->data, u->body->len, NULL));
	JsonArray *list = json_node_get_array(json_parser_get_root(p));
	ck_assert_uint_eq(json_array_get_length(list), 33);
	for (guint i = 0; i < 33; i++) {
		JsonObject *o = json_array_get_object_element(list, i);
		ck_assert_msg(json_object_get_boolean_member(o, "is_error") == (i == 32), "undo %u",
		              i);
	}
	/* the first edit's undo was dropped: the file keeps its first line */
	g_autofree char *left = guest_file(id, "/tmp/u");
	ck_assert_str_eq(left, "0\n");
}
END_TEST

static void assert_400(const char *id, const char *body)
{
	g_autofree char *path = tools_path(id);
	g_autoptr(AlkTestResponse) r = alk_test_api_call("POST", path, body);

	ck_assert_msg(r->status == 400, "%s: %u", body, r->status);
	alk_test_api_assert_error(r, 400, "invalid_request");
}

START_TEST(envelopes)
{
	g_autofree char *id = alk_test_api_create("{}");
	g_autofree char *path = tools_path(id);
	const char *touch = "{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"bash\","
	                    "\"input\":{\"command\":\"touch /tmp/ran\"}}";
	g_autofree char *touch_then_bad = g_strdup_printf("[%s,{\"type\":\"tool_use\"}]", touch);
	g_autoptr(GString) many = g_string_new("[");

	assert_400(id, "not json");
	assert_400(id, "42");
	assert_400(id, "\"tool_use\"");
	assert_400(id, "[]");
	assert_400(id, "[1]");
	assert_400(id, "{\"type\":\"tool_use\",\"id\":\"x\",\"name\":\"bash\"}");
	assert_400(id, "{\"type\":\"tool_use\",\"id\":\"x\",\"name\":\"bash\",\"input\":\"ls\"}");
	assert_400(id, "{\"type\":\"tool_use\",\"id\":7,\"name\":\"bash\",\"input\":{}}");
	assert_400(id, "{\"type\":\"tool_use\",\"id\":\"x\",\"input\":{}}");
	assert_400(id, "{\"type\":\"text\",\"id\":\"x\",\"name\":\"bash\",\"input\":{}}");
	assert_400(id, "{\"type\":\"tool_use\",\"id\":\"x\",\"name\":\"bash\",\"input\":{},"
	               "\"extra\":1}");
	assert_400(id, "{\"type\":\"tool_use\",\"id\":\"\",\"name\":\"bash\",\"input\":{}}");
	assert_400(id, "{\"type\":\"tool_use\",\"id\":\"x\",\"id\":\"y\",\"name\":\"bash\","
	               "\"input\":{}}");
	for (guint i = 0; i < 65; i++)
		g_string_append_printf(many, "%s%s", i > 0 ? "," : "", touch);
	g_string_append(many, "]");
	assert_400(id, many->str);
	assert_400(id, touch_then_bad);
	/* nothing of the refused batches ran */
	g_autoptr(JsonObject) ls = alk_test_api_sh(id, "test -e /tmp/ran; echo $?");
	ck_assert_str_eq(json_object_get_string_member(ls, "stdout"), "1\n");

	/* a list in, a list out, in order; an unknown tool is a result */
	g_autoptr(AlkTestResponse) r = alk_test_api_call(
	    "POST", path,
	    "[{\"type\":\"tool_use\",\"id\":\"a\",\"name\":\"bash\",\"input\":{\"command\":\"echo "
	    "A\"}},{\"type\":\"tool_use\",\"id\":\"b\",\"name\":\"teleport\",\"input\":{}},"
	    "{\"type\":\"tool_use\",\"id\":\"c\",\"name\":\"bash\",\"input\":{\"command\":\"echo "
	    "C\"}}]");
	ck_assert_uint_eq(r->status, 200);
	g_autoptr(JsonParser) p = json_parser_new();
	ck_assert(json_parser_load_from_data(p, (const char *)r->body->data, r->body->len, NULL));
	JsonArray *list = json_node_get_array(json_parser_get_root(p));
	ck_assert_uint_eq(json_array_get_length(list), 3);
	const char *ids[] = {"a", "b", "c"};
	for (guint i = 0; i < 3; i++) {
		JsonObject *o = json_array_get_object_element(list, i);
		ck_assert_str_eq(json_object_get_string_member(o, "tool_use_id"), ids[i]);
		ck_assert(json_object_get_boolean_member(o, "is_error") == (i == 1));
	}
	g_autofree char *a = text_of(json_array_get_object_element(list, 0));
	g_autofree char *b = text_of(json_array_get_object_element(list, 1));
	ck_assert_str_eq(a, "A\n");
	assert_has(b, "unknown tool 'teleport'");
	g_autofree char *badinput = run(id, "bash", "{\"command\":5}", TRUE);
	g_autofree char *noinput = run(id, "bash", "{}", TRUE);
	assert_has(badinput, "command");
	assert_has(noinput, "command");

	/* no such sandbox */
	g_autoptr(AlkTestResponse) gone =
	    alk_test_api_call("POST", "/v1/sandboxes/0123456789ab/tools/anthropic", touch);
	alk_test_api_assert_error(gone, 404, "not_found");

	/* the definitions */
	g_autofree char *defs_path = g_strdup_printf("%s/definitions", path);
	g_autofree char *old_path = g_strdup_printf("%s/definitions?editor=20250124", path);
	g_autofree char *bad_path = g_strdup_printf("%s/definitions?editor=1999", path);
	g_autoptr(AlkTestResponse) defs = alk_test_api_call("GET", defs_path, NULL);
	g_autoptr(AlkTestResponse) olds = alk_test_api_call("GET", old_path, NULL);
	g_autoptr(AlkTestResponse) bad = alk_test_api_call("GET", bad_path, NULL);
	g_autofree char *dt = g_strndup((const char *)defs->body->data, defs->body->len);
	g_autofree char *ot = g_strndup((const char *)olds->body->data, olds->body->len);
	ck_assert_uint_eq(defs->status, 200);
	assert_has(dt, "{\"type\":\"bash_20250124\",\"name\":\"bash\"}");
	assert_has(dt,
	           "{\"type\":\"text_editor_20250728\",\"name\":\"str_replace_based_edit_tool\"}");
	ck_assert(strstr(dt, "computer") == NULL); /* no display */
	assert_has(ot, "{\"type\":\"text_editor_20250124\",\"name\":\"str_replace_editor\"}");
	alk_test_api_assert_error(bad, 400, "invalid_request");
}
END_TEST

/* Each block is an audit line: what was asked, contents as length and hash. */
START_TEST(audit)
{
	g_autofree char *id = alk_test_api_create("{}");
	g_autofree char *c = run(id, based,
	                         "{\"command\":\"create\",\"path\":\"/tmp/s.txt\","
	                         "\"file_text\":\"hunter2-secret\"}",
	                         FALSE);
	g_autofree char *b = bash(id, "echo audited-command", FALSE);
	g_autofree char *log = NULL;

	ck_assert(g_file_get_contents(alk_test_api_d()->audit_path, &log, NULL, NULL));
	assert_has(log, "\"sandbox.tool\"");
	assert_has(log, "\"file_text_bytes\":14");
	assert_has(log, "\"file_text_sha256\":\"");
	assert_has(log, "audited-command");
	ck_assert(strstr(log, "hunter2-secret") == NULL);
}
END_TEST

/* computer, forwarded to the batch runner: the definition in the model's
 * space, a screenshot as an image block, typed text reaching the guest's
 * console shell (read back with the bash tool), a bad action is_error. */
START_TEST(computer)
{
	g_autofree char *id = alk_test_api_create("{\"display\":{\"width\":1024,\"height\":768}}");
	g_autofree char *path = tools_path(id);
	g_autofree char *defs_path =
	    g_strdup_printf("%s/definitions?computer=computer_20251124", path);
	g_autoptr(AlkTestResponse) defs = alk_test_api_call("GET", defs_path, NULL);
	g_autofree char *dt = g_strndup((const char *)defs->body->data, defs->body->len);

	ck_assert_uint_eq(defs->status, 200);
	assert_has(dt, "\"type\":\"computer_20251124\",\"name\":\"computer\"");
	assert_has(dt, "\"display_width_px\":1024,\"display_height_px\":768");

	g_autoptr(JsonObject) shot = tool(id, "computer", "{\"action\":\"screenshot\"}");
	JsonArray *content = json_object_get_array_member(shot, "content");
	gboolean image = FALSE;
	for (guint i = 0; i < json_array_get_length(content); i++) {
		JsonObject *c = json_array_get_object_element(content, i);
		if (g_str_equal(json_object_get_string_member(c, "type"), "image")) {
			JsonObject *src = json_object_get_object_member(c, "source");
			ck_assert_str_eq(json_object_get_string_member(src, "media_type"),
			                 "image/png");
			ck_assert(g_str_has_prefix(json_object_get_string_member(src, "data"),
			                           "iVBORw0KGgo"));
			image = TRUE;
		}
	}
	ck_assert(!json_object_get_boolean_member(shot, "is_error"));
	ck_assert(image);

	/* the console's shell reads what is typed; the file it writes is read back */
	gint64 deadline = alk_test_deadline(120);
	for (;;) {
		g_autofree char *typed =
		    run(id, "computer",
		        "{\"action\":\"type\",\"text\":\"echo $((6*7)) > /tmp/k\\n\"}", FALSE);
		g_autofree char *k = bash(id, "sleep 1; cat /tmp/k 2>/dev/null; true", FALSE);
		if (g_str_equal(k, "42\n"))
			break;
		ck_assert_msg(g_get_monotonic_time() < deadline,
		              "typed text never reached the shell");
	}
	g_autofree char *bad = run(id, "computer", "{\"action\":\"levitate\"}", TRUE);
	g_autofree char *off =
	    run(id, "computer", "{\"action\":\"left_click\",\"coordinate\":[5000,5000]}", TRUE);
	assert_has(bad, "levitate");

	/* without a display: is_error, and no computer among the definitions */
	g_autofree char *plain = alk_test_api_create("{}");
	g_autofree char *none = run(plain, "computer", "{\"action\":\"screenshot\"}", TRUE);
	assert_has(none, "display");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tools-anthropic");
	SRunner *sr;
	int failed;

	alk_test_api_add(s, "bash_session", bash_session, setup, NULL);
	alk_test_api_add(s, "bash_busy", bash_busy, setup, NULL);
	alk_test_api_add(s, "bash_cap", bash_cap, setup_small_cap, NULL);
	alk_test_api_add(s, "editor", editor, setup, NULL);
	alk_test_api_add(s, "editor_undo_bound", editor_undo_bound, setup, NULL);
	alk_test_api_add(s, "envelopes", envelopes, setup, NULL);
	alk_test_api_add(s, "audit", audit, setup, NULL);
	alk_test_api_add(s, "computer", computer, setup, NULL);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
