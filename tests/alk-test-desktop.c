/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "alk-test-api.h"
#include "alk-test-desktop.h"
#include "alk-test-http.h"

/* Under TCG on shared cores Xorg takes tens of seconds to come up. */
#define DESKTOP_BOOT_S 300

static JsonObject *desktop_exec(const char *id, const char *cmd)
{
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s/exec", id);
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *body = NULL;

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "argv");
	json_builder_begin_array(b);
	json_builder_add_string_value(b, "/bin/sh");
	json_builder_add_string_value(b, "-c");
	json_builder_add_string_value(b, cmd);
	json_builder_end_array(b);
	json_builder_set_member_name(b, "env");
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "DISPLAY");
	json_builder_add_string_value(b, ":0");
	json_builder_end_object(b);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	body = json_to_string(root, FALSE);
	return alk_test_api_expect("POST", path, body, 200);
}

char *alk_test_desktop_sh(const char *id, const char *cmd)
{
	g_autoptr(JsonObject) r = desktop_exec(id, cmd);

	ck_assert_msg(
	    json_object_get_int_member(r, "exit_code") == 0, "%s: %s", cmd,
	    json_object_has_member(r, "stderr") ? json_object_get_string_member(r, "stderr") : "?");
	return g_strdup(json_object_get_string_member(r, "stdout"));
}

char *alk_test_desktop_create(void)
{
	gint64 t0 = g_get_monotonic_time();
	char *id = alk_test_api_create("{\"image\":\"desktop\",\"memory_mib\":1024,"
	                               "\"display\":" ALK_TEST_DESKTOP_DISPLAY "}");
	gint64 deadline = alk_test_deadline(DESKTOP_BOOT_S);

	/* xwininfo answers once X runs; the xterm is there once it is mapped */
	for (;;) {
		g_autoptr(JsonObject) r =
		    desktop_exec(id, "xwininfo -name xterm | grep -q 'Map State: IsViewable'");
		if (json_object_get_int_member(r, "exit_code") == 0) {
			g_printerr("desktop %s: create to xterm mapped in %.1f s\n", id,
			           (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC);
			return id;
		}
		if (g_get_monotonic_time() > deadline) {
			g_autoptr(JsonObject) log = desktop_exec(
			    id, "cat /run/airlock-session.log; tail -n 30 /run/Xorg.0.log");
			ck_abort_msg("no xterm on the desktop after %d s; session: %s",
			             DESKTOP_BOOT_S, json_object_get_string_member(log, "stdout"));
		}
		g_usleep(500 * 1000); /* pacing between polls, not a proof */
	}
}

static int geometry_field(const char *text, const char *name)
{
	const char *p = strstr(text, name);

	ck_assert_msg(p != NULL, "xwininfo has no '%s': %s", name, text);
	return (int)g_ascii_strtoll(p + strlen(name), NULL, 10);
}

void alk_test_desktop_xterm_centre(const char *id, int *x, int *y)
{
	alk_test_desktop_window_centre(id, "xterm", x, y);
}

void alk_test_desktop_window_centre(const char *id, const char *name, int *x, int *y)
{
	g_autofree char *quoted = g_shell_quote(name);
	g_autofree char *cmd = g_strdup_printf("xwininfo -name %s", quoted);
	g_autofree char *info = alk_test_desktop_sh(id, cmd);

	*x = geometry_field(info, "Absolute upper-left X:") + geometry_field(info, "Width:") / 2;
	*y = geometry_field(info, "Absolute upper-left Y:") + geometry_field(info, "Height:") / 2;
}

GBytes *alk_test_desktop_screenshot(const char *id)
{
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s/screen", id);
	g_autoptr(AlkTestResponse) r = alk_test_api_call("GET", path, NULL);

	ck_assert_uint_eq(r->status, 200);
	ck_assert_str_eq(alk_test_response_header(r, "content-type"), "image/png");
	return g_bytes_new(r->body->data, r->body->len);
}

guint alk_test_png_colours(GBytes *png, guint max)
{
	g_autoptr(GInputStream) in = g_memory_input_stream_new_from_bytes(png);
	g_autoptr(GdkPixbuf) pb = gdk_pixbuf_new_from_stream(in, NULL, NULL);
	g_autoptr(GHashTable) seen = g_hash_table_new(g_direct_hash, g_direct_equal);

	if (pb == NULL)
		return 0;
	int n = gdk_pixbuf_get_n_channels(pb), stride = gdk_pixbuf_get_rowstride(pb);
	const guint8 *px = gdk_pixbuf_read_pixels(pb);
	for (int y = 0; y < gdk_pixbuf_get_height(pb); y++)
		for (int x = 0; x < gdk_pixbuf_get_width(pb); x++) {
			const guint8 *p = px + y * stride + x * n;
			guint rgb = (guint)p[0] << 16 | (guint)p[1] << 8 | p[2];
			g_hash_table_add(seen, GUINT_TO_POINTER(rgb + 1));
			if (g_hash_table_size(seen) >= max)
				return max;
		}
	return g_hash_table_size(seen);
}
