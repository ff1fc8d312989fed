/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The desktop image (images/desktop) on a real guest: its X session comes up
 * on the emulated GPU by itself, the hypervisor's screenshot shows it drawn,
 * and a click into the xterm and typed text (POST /computer) run a command
 * whose file an exec reads back. Label "desktop": slow under TCG. */
#include <check.h>
#include <json-glib/json-glib.h>

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

int main(void)
{
	Suite *s = suite_create("desktop");
	SRunner *sr;
	int failed;

	alk_test_api_add(s, "session", session_and_input, NULL, NULL);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
