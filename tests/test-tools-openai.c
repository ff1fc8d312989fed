/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* POST /v1/sandboxes/{id}/tools/openai end to end: a real airlockd, a
 * real guest of the minimal image with a display (its agent runs a root
 * shell on tty1). OpenAI computer_call items type on the console and an
 * exec reads what the shell did; the answer is a computer_call_output
 * whose data URL is a PNG; hostile items are 400 with nothing typed. */
#include <check.h>
#include <string.h>

#include "alk-test-api.h"

#define DISPLAY "{\"display\":{\"width\":1024,\"height\":768}}"

static char *sh_text(const char *id, const char *cmd)
{
	g_autoptr(JsonObject) r = alk_test_api_sh(id, cmd);

	ck_assert_int_eq(json_object_get_int_member(r, "exit_code"), 0);
	return g_strdup(json_object_get_string_member(r, "stdout"));
}

static void wait_for_tty_shell(const char *id)
{
	gint64 deadline = alk_test_deadline(60);

	for (;;) {
		g_autofree char *out =
		    sh_text(id, "for p in /proc/[0-9]*; do [ \"$(readlink $p/fd/0)\" = /dev/tty1 ] "
		                "&& echo yes; done; true");
		if (strstr(out, "yes") != NULL)
			return;
		ck_assert_msg(g_get_monotonic_time() < deadline, "no shell on tty1");
		g_usleep(100 * 1000);
	}
}

static void wait_for_file(const char *id, const char *path, const char *want)
{
	g_autofree char *cmd = g_strdup_printf("cat %s 2>/dev/null; true", path);
	gint64 deadline = alk_test_deadline(30);

	for (;;) {
		g_autofree char *got = sh_text(id, cmd);
		if (strcmp(got, want) == 0)
			return;
		ck_assert_msg(g_get_monotonic_time() < deadline, "%s holds '%s'", path, got);
		g_usleep(100 * 1000);
	}
}

/* the output item's screenshot: a PNG of w x h (0: any) */
static void assert_output(JsonObject *out, const char *call_id, guint w, guint h)
{
	JsonObject *o = json_object_get_object_member(out, "output");
	const char *url = json_object_get_string_member(o, "image_url");
	const char *prefix = "data:image/png;base64,";
	g_autofree guchar *png = NULL;
	gsize len = 0;

	ck_assert_str_eq(json_object_get_string_member(out, "type"), "computer_call_output");
	ck_assert_str_eq(json_object_get_string_member(out, "call_id"), call_id);
	ck_assert_str_eq(json_object_get_string_member(o, "type"), "computer_screenshot");
	ck_assert(g_str_has_prefix(url, prefix));
	png = g_base64_decode(url + strlen(prefix), &len);
	ck_assert_uint_ge(len, 33);
	ck_assert(memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0 && memcmp(png + 12, "IHDR", 4) == 0);
	if (w != 0) {
		ck_assert_uint_eq(
		    (guint)png[16] << 24 | (guint)png[17] << 16 | (guint)png[18] << 8 | png[19], w);
		ck_assert_uint_eq(
		    (guint)png[20] << 24 | (guint)png[21] << 16 | (guint)png[22] << 8 | png[23], h);
	}
}

#define ITEM(actions)                                                                              \
	"{\"type\":\"computer_call\",\"call_id\":\"call_7\",\"actions\":[" actions "]}"
/* typed first in every hostile list: it must never arrive */
#define BAD_FIRST "{\"type\":\"type\",\"text\":\"touch /tmp/bad\\n\"},"

START_TEST(openai_computer_call)
{
	g_autofree char *id = alk_test_api_create(DISPLAY);
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s/tools/openai", id);
	g_autofree char *scaled = g_strdup_printf("%s?width=640&height=480", path);
	g_autofree char *big = NULL;
	g_autoptr(GString) text = g_string_new(ITEM(BAD_FIRST "{\"type\":\"type\",\"text\":\""));

	wait_for_tty_shell(id);
	/* typing and a key press reach the console's shell */
	g_autoptr(JsonObject) typed =
	    alk_test_api_expect("POST", path,
	                        ITEM("{\"type\":\"type\",\"text\":\"echo $((6*7)) > /tmp/o\"},"
	                             "{\"type\":\"keypress\",\"keys\":[\"ENTER\"]}"),
	                        200);
	assert_output(typed, "call_7", 0, 0);
	ck_assert(!json_object_has_member(typed, "acknowledged_safety_checks"));
	wait_for_file(id, "/tmp/o", "42\n");
	/* one action, in the space declared to the model */
	g_autoptr(JsonObject) shot = alk_test_api_expect(
	    "POST", scaled,
	    "{\"type\":\"computer_call\",\"id\":\"cu_1\",\"call_id\":\"call_8\",\"status\":"
	    "\"completed\",\"action\":{\"type\":\"screenshot\"},\"pending_safety_checks\":[]}",
	    200);
	assert_output(shot, "call_8", 640, 480);

	/* a pending safety check runs only when the caller acknowledged it */
	g_autoptr(AlkTestResponse) unacked = alk_test_api_call(
	    "POST", path,
	    "{\"type\":\"computer_call\",\"call_id\":\"call_9\",\"action\":{\"type\":\"type\","
	    "\"text\":\"touch /tmp/bad\\n\"},\"pending_safety_checks\":[{\"id\":\"sc_1\",\"code\":"
	    "\"malicious_instructions\",\"message\":\"m\"}]}");
	alk_test_api_assert_error(unacked, 409, "conflict");
	g_autoptr(JsonObject) acked = alk_test_api_expect(
	    "POST", path,
	    "{\"type\":\"computer_call\",\"call_id\":\"call_10\",\"action\":{\"type\":\"move\","
	    "\"x\":5,\"y\":5},\"pending_safety_checks\":[{\"id\":\"sc_1\",\"code\":\"c\","
	    "\"message\":\"m\"}],\"acknowledged_safety_checks\":[{\"id\":\"sc_1\",\"code\":\"c\","
	    "\"message\":\"m\"}]}",
	    200);
	assert_output(acked, "call_10", 0, 0);
	JsonArray *back = json_object_get_array_member(acked, "acknowledged_safety_checks");
	ck_assert_int_eq(json_array_get_length(back), 1);

	/* hostile items: 400, nothing typed */
	for (guint i = 0; i < 5000; i++)
		g_string_append_c(text, 'a');
	g_string_append(text, "\"}]}");
	big = g_string_free(g_steal_pointer(&text), FALSE);
	const char *const bad[] = {
	    "{\"call_id\":\"c\",\"actions\":[" BAD_FIRST "{\"type\":\"wait\"}]}",
	    ITEM(BAD_FIRST "{\"type\":\"fly\"}"),
	    ITEM(BAD_FIRST "{\"x\":1,\"y\":1}"),
	    ITEM(BAD_FIRST "{\"type\":\"click\",\"x\":5000,\"y\":10}"),
	    ITEM(BAD_FIRST "{\"type\":\"click\",\"x\":-1,\"y\":10}"),
	    ITEM(BAD_FIRST "{\"type\":\"click\",\"x\":\"1\",\"y\":10}"),
	    ITEM(BAD_FIRST "{\"type\":\"click\",\"x\":1,\"y\":10,\"button\":7}"),
	    ITEM(BAD_FIRST "{\"type\":\"keypress\",\"keys\":[\"NOKEY\"]}"),
	    ITEM(BAD_FIRST "{\"type\":\"keypress\",\"keys\":\"ENTER\"}"),
	    ITEM(BAD_FIRST "{\"type\":\"type\",\"text\":\"caf\\u00e9\"}"),
	    ITEM(BAD_FIRST "{\"type\":\"scroll\",\"x\":1,\"y\":1,\"scroll_y\":100000}"),
	    ITEM(BAD_FIRST "{\"type\":\"drag\",\"path\":[[1,2],[3,4]]}"),
	    ITEM(BAD_FIRST "42"),
	    ITEM(BAD_FIRST "{\"type\":\"move\",\"x\":1,\"y\":1,\"z\":1}"),
	    "{\"type\":\"computer_call\",\"call_id\":7,\"actions\":[" BAD_FIRST
	    "{\"type\":\"wait\"}]}",
	    "{\"type\":\"computer_call_output\",\"call_id\":\"c\",\"actions\":[" BAD_FIRST
	    "{\"type\":\"wait\"}]}",
	    "[" BAD_FIRST "{\"type\":\"wait\"}]",
	    "\"computer_call\"",
	    big,
	};
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(AlkTestResponse) r = alk_test_api_call("POST", path, bad[i]);
		ck_assert_msg(r->status == 400, "item %u: %u", i, r->status);
		alk_test_api_assert_error(r, 400, "invalid_request");
	}
	g_autofree char *half = g_strdup_printf("%s?width=640", path);
	g_autoptr(AlkTestResponse) wide =
	    alk_test_api_call("POST", half, ITEM("{\"type\":\"wait\"}"));
	alk_test_api_assert_error(wide, 400, "invalid_request");
	/* what follows is typed after all of them: had any typed, its file
	 * would be there by the time this one's is */
	g_autoptr(JsonObject) after =
	    alk_test_api_expect("POST", path,
	                        ITEM("{\"type\":\"type\",\"text\":\"echo after > /tmp/a\"},"
	                             "{\"type\":\"keypress\",\"keys\":[\"enter\"]}"),
	                        200);
	wait_for_file(id, "/tmp/a", "after\n");
	g_autofree char *gone = sh_text(id, "ls /tmp/bad 2>&1; true");
	ck_assert_msg(strstr(gone, "No such file") != NULL, "%s", gone);

	/* audited as the runner's line: the call's actions, the text hashed */
	g_autofree char *audit = NULL;
	g_autofree char *sum =
	    g_compute_checksum_for_string(G_CHECKSUM_SHA256, "echo $((6*7)) > /tmp/o", -1);
	ck_assert(g_file_get_contents(alk_test_api_d()->audit_path, &audit, NULL, NULL));
	ck_assert(strstr(audit, "\"tool\":\"openai.computer_call:type,keypress\"") != NULL);
	ck_assert(strstr(audit, sum) != NULL);
	ck_assert(strstr(audit, "screenshot_sha256") != NULL);
	ck_assert(strstr(audit, "6*7") == NULL);
}
END_TEST

START_TEST(openai_no_display)
{
	g_autofree char *id = alk_test_api_create("{}");
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s/tools/openai", id);
	g_autoptr(AlkTestResponse) r = alk_test_api_call(
	    "POST", path,
	    "{\"type\":\"computer_call\",\"call_id\":\"c\",\"action\":{\"type\":\"screenshot\"}}");
	g_autoptr(AlkTestResponse) none = alk_test_api_call(
	    "POST", "/v1/sandboxes/0123456789ab/tools/openai",
	    "{\"type\":\"computer_call\",\"call_id\":\"c\",\"action\":{\"type\":\"screenshot\"}}");

	alk_test_api_assert_error(r, 409, "conflict");
	alk_test_api_assert_error(none, 404, "not_found");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tools-openai");
	SRunner *sr;
	int failed;

	alk_test_api_add(s, "computer_call", openai_computer_call, NULL, NULL);
	alk_test_api_add(s, "no_display", openai_no_display, NULL, NULL);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
