/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The desktop image (images/desktop) on a real guest: its X session comes up
 * on the emulated GPU by itself, the hypervisor's screenshot shows it drawn,
 * and a click into the xterm and typed text (POST /computer) run a command
 * whose file an exec reads back; a recorded Anthropic session replayed
 * through /tools/anthropic does the same. Label "desktop": slow under TCG. */
#include <check.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "alk-test-api.h"
#include "alk-test-desktop.h"

START_TEST(session_and_input)
{
	g_autofree char *id = alk_test_desktop_create();
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s/computer", id);
	g_autofree char *dpy = alk_test_desktop_sh(id, "xdpyinfo | grep dimensions");
	g_autofree char *gpu =
	    alk_test_desktop_sh(id, "grep -l modeset /run/Xorg.0.log >/dev/null && "
	                            "grep -c 'modeset(0): Output' /run/Xorg.0.log; ls /dev/dri");
	g_autoptr(GBytes) shot = alk_test_desktop_screenshot(id);
	g_autofree char *actions = NULL;
	g_autoptr(JsonObject) r = NULL;
	int x, y;

	/* X draws on the virtual GPU at the mode the display asked for */
	ck_assert_msg(g_strstr_len(dpy, -1, "1024x768") != NULL, "%s", dpy);
	ck_assert_msg(g_strstr_len(gpu, -1, "card0") != NULL, "%s", gpu);
	ck_assert_uint_ge(alk_test_png_colours(shot, 16), 16);
	/* to look at by eye: ALK_TEST_DESKTOP_SHOT=FILE */
	if (g_getenv("ALK_TEST_DESKTOP_SHOT") != NULL)
		g_file_set_contents(g_getenv("ALK_TEST_DESKTOP_SHOT"), g_bytes_get_data(shot, NULL),
		                    (gssize)g_bytes_get_size(shot), NULL);
	alk_test_desktop_xterm_centre(id, &x, &y);
	actions =
	    g_strdup_printf("{\"actions\":[{\"action\":\"click\",\"x\":%d,\"y\":%d},"
	                    "{\"action\":\"type\",\"text\":\"echo desk$((6*7)) > /tmp/desk\\n\"}]}",
	                    x, y);
	r = alk_test_api_expect("POST", path, actions, 200);
	/* the shell in the xterm runs it at its pace */
	gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
	for (;;) {
		g_autofree char *out = alk_test_desktop_sh(id, "cat /tmp/desk 2>/dev/null; true");
		if (g_strcmp0(out, "desk42\n") == 0)
			break;
		ck_assert_msg(g_get_monotonic_time() < deadline, "/tmp/desk: '%s'", out);
		g_usleep(300 * 1000);
	}
	g_autofree char *owner = alk_test_desktop_sh(id, "stat -c %U /tmp/desk");
	ck_assert_str_eq(owner, "agent\n");
}
END_TEST

/* A recorded Anthropic session replayed through /tools/anthropic, one
 * tool_use block at a time as an agent loop forwards them: a screenshot, a
 * new xterm opened from the bash tool, a click into it and a typed command
 * (the computer tool, coordinates in the model's space of the definitions),
 * a zoom at full resolution; every result checked, the command's file read
 * back through exec. */
static JsonObject *tool_use(const char *id, const char *name, const char *input)
{
	static guint n;
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s/tools/anthropic", id);
	g_autofree char *block = g_strdup_printf(
	    "{\"type\":\"tool_use\",\"id\":\"toolu_replay%02u\",\"name\":\"%s\",\"input\":%s}", ++n,
	    name, input);
	JsonObject *r = alk_test_api_expect("POST", path, block, 200);

	ck_assert_str_eq(json_object_get_string_member(r, "type"), "tool_result");
	ck_assert_msg(!json_object_get_boolean_member(r, "is_error"), "%s %s: %s", name, input,
	              json_to_string(json_object_get_member(r, "content"), FALSE));
	return r;
}

/* The first image block of a tool_result: PNG bytes, decoded by GdkPixbuf */
static GBytes *result_png(JsonObject *r)
{
	JsonArray *content = json_object_get_array_member(r, "content");

	for (guint i = 0; i < json_array_get_length(content); i++) {
		JsonObject *c = json_array_get_object_element(content, i);
		if (g_strcmp0(json_object_get_string_member(c, "type"), "image") == 0) {
			JsonObject *src = json_object_get_object_member(c, "source");
			gsize len = 0;
			guchar *png;

			ck_assert_str_eq(json_object_get_string_member(src, "media_type"),
			                 "image/png");
			png = g_base64_decode(json_object_get_string_member(src, "data"), &len);
			return g_bytes_new_take(png, len);
		}
	}
	ck_abort_msg("no image in the tool_result");
	return NULL;
}

START_TEST(anthropic_replay)
{
	g_autofree char *id = alk_test_desktop_create();
	g_autofree char *defs_path = g_strdup_printf(
	    "/v1/sandboxes/%s/tools/anthropic/definitions?computer=computer_20251124", id);
	g_autoptr(AlkTestResponse) defs = alk_test_api_call("GET", defs_path, NULL);
	g_autoptr(JsonObject) shot = NULL, opened = NULL, click = NULL, typed = NULL, zoom = NULL;
	g_autoptr(GBytes) png = NULL, zoomed = NULL;
	g_autofree char *defs_text = NULL;
	g_autofree char *click_input = NULL;
	int x = 0, y = 0;

	/* the model is told the screen's size (1024x768 needs no scaling) */
	ck_assert_uint_eq(defs->status, 200);
	defs_text = g_strndup((const char *)defs->body->data, defs->body->len);
	ck_assert_msg(strstr(defs_text, "\"display_width_px\":1024") != NULL &&
	                  strstr(defs_text, "\"display_height_px\":768") != NULL,
	              "%s", defs_text);

	shot = tool_use(id, "computer", "{\"action\":\"screenshot\"}");
	png = result_png(shot);
	ck_assert_uint_ge(alk_test_png_colours(png, 16), 16);

	opened = tool_use(id, "bash",
	                  "{\"command\":\"DISPLAY=:0 xterm -title replay -geometry 60x8+40+40 "
	                  ">/dev/null 2>&1 & echo started\"}");
	/* mapped once the window manager shows it (polled, with a deadline) */
	gint64 deadline = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;
	for (;;) {
		g_autofree char *st = alk_test_desktop_sh(
		    id,
		    "xwininfo -name replay 2>/dev/null | grep -c 'Map State: IsViewable'; true");
		if (g_str_has_prefix(st, "1"))
			break;
		ck_assert_msg(g_get_monotonic_time() < deadline, "the replay xterm never mapped");
		g_usleep(300 * 1000);
	}
	alk_test_desktop_window_centre(id, "replay", &x, &y);
	click_input = g_strdup_printf("{\"action\":\"left_click\",\"coordinate\":[%d,%d]}", x, y);
	click = tool_use(id, "computer", click_input);
	typed = tool_use(id, "computer",
	                 "{\"action\":\"type\",\"text\":\"echo replay$((6*7)) > /tmp/replay\\n\"}");
	zoom = tool_use(id, "computer", "{\"action\":\"zoom\",\"region\":[0,0,512,384]}");
	zoomed = result_png(zoom);
	ck_assert_uint_ge(alk_test_png_colours(zoomed, 4), 4);

	/* the shell in the new xterm runs it at its pace */
	deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
	for (;;) {
		g_autofree char *out = alk_test_desktop_sh(id, "cat /tmp/replay 2>/dev/null; true");
		if (g_strcmp0(out, "replay42\n") == 0)
			break;
		ck_assert_msg(g_get_monotonic_time() < deadline, "/tmp/replay: '%s'", out);
		g_usleep(300 * 1000);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("desktop");
	SRunner *sr;
	int failed;

	alk_test_api_add(s, "session", session_and_input, NULL, NULL);
	alk_test_api_add(s, "anthropic_replay", anthropic_replay, NULL, NULL);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
