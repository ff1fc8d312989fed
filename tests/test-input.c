/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pure parts of screen and input: key names and chords, the US layout,
 * coordinates of a scaled screenshot back on the real screen and on the
 * tablet's axis, the QMP text, and scaling a PNG with GdkPixbuf. */
#include <check.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <string.h>

#include "alk-error.h"
#include "alk-input.h"
#include "alk-screen.h"

static void assert_chord(const char *chord, const char *want)
{
	const char *keys[ALK_INPUT_CHORD_MAX];
	guint n = 0;
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) got = g_string_new(NULL);

	ck_assert_msg(alk_input_chord(chord, keys, &n, &error), "%s: %s", chord,
	              error ? error->message : "?");
	for (guint i = 0; i < n; i++)
		g_string_append_printf(got, "%s%s", i > 0 ? " " : "", keys[i]);
	ck_assert_msg(strcmp(got->str, want) == 0, "%s gave '%s', not '%s'", chord, got->str, want);
}

static void assert_chord_error(const char *chord, const char *want)
{
	const char *keys[ALK_INPUT_CHORD_MAX];
	guint n = 0;
	g_autoptr(GError) error = NULL;

	ck_assert_msg(!alk_input_chord(chord, keys, &n, &error), "%s accepted", chord);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	ck_assert_msg(strstr(error->message, want) != NULL, "'%s' lacks '%s'", error->message,
	              want);
}

START_TEST(chords)
{
	assert_chord("ctrl+shift+t", "ctrl shift t");
	assert_chord("Return", "ret");
	assert_chord("return", "ret");
	assert_chord("ENTER", "ret");
	assert_chord("KP_0", "kp_0");
	assert_chord("kp_enter", "kp_enter");
	assert_chord("alt+F4", "alt f4");
	assert_chord("F12", "f12");
	assert_chord("super+Left", "meta_l left");
	assert_chord("CMD+ARROWLEFT", "meta_l left");
	assert_chord("Escape", "esc");
	assert_chord("ctrl+c", "ctrl c");
	assert_chord("A", "shift a"); /* a capital is shift + its key */
	assert_chord("ctrl+A", "ctrl shift a");
	assert_chord("+", "shift equal");
	assert_chord("ctrl++", "ctrl shift equal");
	assert_chord("shift+1", "shift 1");
	assert_chord("minus", "minus");
	assert_chord("-", "minus");
	assert_chord("Page_Down", "pgdn");
	assert_chord("BackSpace", "backspace");
	assert_chord_error("ctrl+bogus", "unknown key 'bogus'");
	assert_chord_error("F13", "unknown key 'F13'");
	assert_chord_error("F0", "unknown key 'F0'");
	assert_chord_error("ctrl+", "unknown key ''");
	assert_chord_error("", "1..128 bytes");
	assert_chord_error("é", "unknown key 'é'");
	assert_chord_error("a+b+c+d+e+f+g+h+i", "more than 8 keys");
	assert_chord_error("a+b+c+d+e+f+g+A", "more than 8 keys");
}
END_TEST

START_TEST(us_layout)
{
	static const struct {
		gunichar c;
		const char *qcode;
		gboolean shift;
	} cases[] = {
	    {'a', "a", FALSE},        {'Z', "z", TRUE},          {'0', "0", FALSE},
	    {')', "0", TRUE},         {'$', "4", TRUE},          {'(', "9", TRUE},
	    {'*', "8", TRUE},         {'>', "dot", TRUE},        {'/', "slash", FALSE},
	    {'?', "slash", TRUE},     {'"', "apostrophe", TRUE}, {'~', "grave_accent", TRUE},
	    {'|', "backslash", TRUE}, {' ', "spc", FALSE},       {'\n', "ret", FALSE},
	    {'\t', "tab", FALSE},     {'_', "minus", TRUE},
	};
	static const gunichar refused[] = {0xe9, 0x20ac, '\r', 0x7f, 0, 0x1b, 0x1F600};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		const char *q = NULL;
		gboolean shift = !cases[i].shift;
		ck_assert_msg(alk_input_char(cases[i].c, &q, &shift), "U+%04X refused", cases[i].c);
		ck_assert_str_eq(q, cases[i].qcode);
		ck_assert_int_eq(shift, cases[i].shift);
	}
	for (guint i = 0; i < G_N_ELEMENTS(refused); i++) {
		const char *q = NULL;
		gboolean shift = FALSE;
		ck_assert_msg(!alk_input_char(refused[i], &q, &shift), "U+%04X typed", refused[i]);
	}
	/* every printable ASCII character is on the layout */
	for (gunichar c = 0x20; c < 0x7f; c++) {
		const char *q = NULL;
		gboolean shift = FALSE;
		ck_assert_msg(alk_input_char(c, &q, &shift), "'%c' refused", (char)c);
	}
}
END_TEST

START_TEST(scaling)
{
	guint px = 99;

	/* a 360x200 view of a 720x400 screen */
	ck_assert(alk_input_scale(180, 360, 720, &px) && px == 360);
	ck_assert(alk_input_scale(0, 360, 720, &px) && px == 0);
	ck_assert(alk_input_scale(359, 360, 720, &px) && px == 718);
	ck_assert(!alk_input_scale(360, 360, 720, &px));
	ck_assert(!alk_input_scale(-1, 360, 720, &px));
	ck_assert(!alk_input_scale(G_MAXINT64, 360, 720, &px));
	/* unscaled: the real screen */
	ck_assert(alk_input_scale(719, 0, 720, &px) && px == 719);
	ck_assert(!alk_input_scale(720, 0, 720, &px));
	/* scaled up: 1280 wide over 720 */
	ck_assert(alk_input_scale(1279, 1280, 720, &px) && px == 719);
	/* the tablet's axis spans the screen: first and last pixel at its ends */
	ck_assert_uint_eq(alk_input_abs(0, 720), 0);
	ck_assert_uint_eq(alk_input_abs(719, 720), ALK_INPUT_ABS_MAX);
	ck_assert_uint_eq(alk_input_abs(360, 720), 16406);
	ck_assert_uint_eq(alk_input_abs(100, 400), 8212);
	ck_assert_uint_eq(alk_input_abs(5000, 720), ALK_INPUT_ABS_MAX);
	ck_assert_uint_eq(alk_input_abs(0, 1), 0);
}
END_TEST

START_TEST(qmp_text)
{
	AlkInputEvent ev[] = {
	    {.kind = ALK_INPUT_KEY, .down = TRUE, .name = "ctrl"},
	    {.kind = ALK_INPUT_BTN, .down = FALSE, .name = "left"},
	    {.kind = ALK_INPUT_ABS, .x = 16406, .y = 99999},
	};
	g_autofree char *qmp = alk_input_qmp(ev, G_N_ELEMENTS(ev));

	ck_assert_str_eq(qmp,
	                 "{\"execute\":\"input-send-event\",\"arguments\":{\"events\":["
	                 "{\"type\":\"key\",\"data\":{\"down\":true,\"key\":{\"type\":\"qcode\","
	                 "\"data\":\"ctrl\"}}},"
	                 "{\"type\":\"btn\",\"data\":{\"down\":false,\"button\":\"left\"}},"
	                 "{\"type\":\"abs\",\"data\":{\"axis\":\"x\",\"value\":16406}},"
	                 "{\"type\":\"abs\",\"data\":{\"axis\":\"y\",\"value\":32767}}]}}");
}
END_TEST

/* a w x h PNG, left half black, right half white */
static GBytes *make_png(int w, int h)
{
	g_autoptr(GdkPixbuf) pix = gdk_pixbuf_new(GDK_COLORSPACE_RGB, FALSE, 8, w, h);
	guchar *px = gdk_pixbuf_get_pixels(pix);
	int stride = gdk_pixbuf_get_rowstride(pix);
	gchar *buf = NULL;
	gsize len = 0;

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			memset(px + y * stride + x * 3, x < w / 2 ? 0 : 255, 3);
	ck_assert(gdk_pixbuf_save_to_buffer(pix, &buf, &len, "png", NULL, NULL));
	return g_bytes_new_take(buf, len);
}

static void assert_png_size(GBytes *png, int w, int h)
{
	g_autoptr(GdkPixbufLoader) l = gdk_pixbuf_loader_new_with_type("png", NULL);
	ck_assert(gdk_pixbuf_loader_write_bytes(l, png, NULL) && gdk_pixbuf_loader_close(l, NULL));
	ck_assert_int_eq(gdk_pixbuf_get_width(gdk_pixbuf_loader_get_pixbuf(l)), w);
	ck_assert_int_eq(gdk_pixbuf_get_height(gdk_pixbuf_loader_get_pixbuf(l)), h);
}

START_TEST(screenshots)
{
	g_autoptr(GBytes) png = make_png(720, 400);
	g_autoptr(GBytes) junk = g_bytes_new_static("not a png", 9);
	g_autoptr(GError) error = NULL;
	AlkScreenshot *s;

	s = alk_screenshot_from_png(png, 0, 0, 0, 0, 0, 0, &error);
	ck_assert(s != NULL && s->png == png); /* as the hypervisor gave it */
	ck_assert(s->width == 720 && s->height == 400);
	alk_screenshot_free(s);
	s = alk_screenshot_from_png(png, 1280, 800, 0, 0, 0, 0, &error);
	ck_assert(s->width == 1280 && s->height == 800 && s->screen_width == 720);
	assert_png_size(s->png, 1280, 800);
	alk_screenshot_free(s);
	s = alk_screenshot_from_png(png, 360, 0, 0, 0, 0, 0, &error); /* the aspect kept */
	assert_png_size(s->png, 360, 200);
	alk_screenshot_free(s);
	s = alk_screenshot_from_png(png, 0, 0, 350, 10, 20, 30, &error); /* a region */
	ck_assert(s->width == 20 && s->height == 30 && s->screen_height == 400);
	assert_png_size(s->png, 20, 30);
	alk_screenshot_free(s);
	ck_assert(alk_screenshot_from_png(png, 4097, 0, 0, 0, 0, 0, &error) == NULL);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	g_clear_error(&error);
	/* a tiny width with its aspect would ask for a huge height: refused */
	ck_assert(alk_screenshot_from_png(png, 0, 4000, 0, 0, 0, 0, &error) == NULL);
	g_clear_error(&error);
	ck_assert(alk_screenshot_from_png(png, 0, 0, 710, 0, 20, 10, &error) == NULL);
	ck_assert(strstr(error->message, "not within the 720x400 screen") != NULL);
	g_clear_error(&error);
	ck_assert(alk_screenshot_from_png(junk, 0, 0, 0, 0, 0, 0, &error) == NULL);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_FAILED));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("input");
	TCase *tc = tcase_create("input");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, chords);
	tcase_add_test(tc, us_layout);
	tcase_add_test(tc, scaling);
	tcase_add_test(tc, qmp_text);
	tcase_add_test(tc, screenshots);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
