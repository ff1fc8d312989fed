/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Screen, keyboard and mouse from the hypervisor, end to end: a real
 * airlockd, a real guest of the minimal image with a display (its agent
 * runs a root shell on tty1), and what arrives is read inside the guest:
 * the shell's output through exec, the input devices' raw events with cat
 * on /dev/input/event*. */
#include <check.h>
#include <string.h>

#include "alk-test-api.h"

#define DISPLAY "{\"display\":{\"width\":1024,\"height\":768}}"

/* struct input_event on x86_64 */
typedef struct {
	guint64 sec, usec;
	guint16 type, code;
	gint32 value;
} Ev;
#define EV_KEY 1
#define EV_ABS 3
#define BTN_LEFT 0x110

static char *computer_path(const char *id)
{
	return g_strdup_printf("/v1/sandboxes/%s/computer", id);
}

/* sh -c cmd's stdout (text or base64), exit 0 asserted */
static GBytes *sh_out(const char *id, const char *cmd)
{
	g_autoptr(JsonObject) r = alk_test_api_sh(id, cmd);
	gsize len = 0;

	ck_assert_msg(
	    json_object_get_int_member(r, "exit_code") == 0, "%s: %s", cmd,
	    json_object_has_member(r, "stderr") ? json_object_get_string_member(r, "stderr") : "?");
	if (json_object_has_member(r, "stdout_b64")) {
		guchar *raw = g_base64_decode(json_object_get_string_member(r, "stdout_b64"), &len);
		return g_bytes_new_take(raw, len);
	}
	const char *text = json_object_get_string_member(r, "stdout");
	return g_bytes_new(text, strlen(text));
}

static char *sh_text(const char *id, const char *cmd)
{
	g_autoptr(GBytes) out = sh_out(id, cmd);
	return g_strndup(g_bytes_get_data(out, NULL), g_bytes_get_size(out));
}

/* the shell on tty1 runs: its stdin is the tty */
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

/* Starts a reader of each input device whose name has what into
 * /tmp/ev-<tag>-N; returns how many. */
static guint start_readers(const char *id, const char *what, const char *tag)
{
	g_autofree char *cmd = g_strdup_printf(
	    "n=0; for e in /sys/class/input/event*; do grep -q '%s' $e/device/name || continue; "
	    "n=$((n+1)); cat /dev/input/${e##*/} > /tmp/ev-%s-$n & done; echo $n",
	    what, tag);
	g_autofree char *out = sh_text(id, cmd);
	guint n = (guint)g_ascii_strtoull(out, NULL, 10);

	ck_assert_msg(n > 0, "no input device named %s", what);
	return n;
}

/* the events one reader recorded */
static GArray *events(const char *id, const char *tag, guint i)
{
	g_autofree char *cmd = g_strdup_printf("cat /tmp/ev-%s-%u", tag, i);
	g_autoptr(GBytes) raw = sh_out(id, cmd);
	GArray *out = g_array_new(FALSE, FALSE, sizeof(Ev));
	gsize len = g_bytes_get_size(raw);

	ck_assert_uint_eq(len % sizeof(Ev), 0);
	g_array_append_vals(out, g_bytes_get_data(raw, NULL), (guint)(len / sizeof(Ev)));
	return out;
}

/* waits until the reader has at least n events of type (0: any) */
static GArray *wait_events(const char *id, const char *tag, guint i, guint16 type, guint n)
{
	gint64 deadline = alk_test_deadline(30);

	for (;;) {
		GArray *ev = events(id, tag, i);
		guint found = 0;
		for (guint k = 0; k < ev->len; k++)
			found += type == 0 || g_array_index(ev, Ev, k).type == type;
		if (found >= n)
			return ev;
		g_array_unref(ev);
		ck_assert_msg(g_get_monotonic_time() < deadline, "%u events of type %u never came",
		              n, type);
		g_usleep(100 * 1000);
	}
}

static GBytes *screenshot(const char *id, const char *query, guint *sw, guint *sh)
{
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s/screen%s", id, query);
	g_autoptr(AlkTestResponse) r = alk_test_api_call("GET", path, NULL);
	const guint8 *png;

	ck_assert_uint_eq(r->status, 200);
	ck_assert_str_eq(alk_test_response_header(r, "content-type"), "image/png");
	*sw = (guint)g_ascii_strtoull(alk_test_response_header(r, "x-airlock-screen-width"), NULL,
	                              10);
	*sh = (guint)g_ascii_strtoull(alk_test_response_header(r, "x-airlock-screen-height"), NULL,
	                              10);
	png = r->body->data;
	ck_assert_uint_ge(r->body->len, 33);
	ck_assert(memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0 && memcmp(png + 12, "IHDR", 4) == 0);
	return g_bytes_new(r->body->data, r->body->len);
}

static guint png_width(GBytes *png)
{
	const guint8 *p = g_bytes_get_data(png, NULL);
	return (guint)p[16] << 24 | (guint)p[17] << 16 | (guint)p[18] << 8 | p[19];
}

static guint png_height(GBytes *png)
{
	const guint8 *p = g_bytes_get_data(png, NULL);
	return (guint)p[20] << 24 | (guint)p[21] << 16 | (guint)p[22] << 8 | p[23];
}

/* the axis value of a pixel, as QEMU's tablet reports it (0..0x7fff) */
static gint32 axis(guint pixel, guint real)
{
	return (gint32)(((guint64)pixel * 0x7fff + (real - 1) / 2) / (real - 1));
}

static void assert_size_and_change(const char *id)
{
	guint sw = 0, sh = 0, w2 = 0, h2 = 0;
	g_autoptr(GBytes) a = screenshot(id, "?width=640&height=480", &sw, &sh);
	g_autoptr(GBytes) full = screenshot(id, "", &w2, &h2);
	g_autoptr(GBytes) half = screenshot(id, "?width=360", &w2, &h2);
	gint64 deadline = alk_test_deadline(30);

	ck_assert_uint_eq(png_width(a), 640);
	ck_assert_uint_eq(png_height(a), 480);
	/* the cloud kernel's VGA text console, whatever mode was offered */
	ck_assert(sw >= 320 && sh >= 200 && sw == w2 && sh == h2);
	ck_assert_uint_eq(png_width(full), sw);
	ck_assert_uint_eq(png_height(full), sh);
	ck_assert_uint_eq(png_width(half), 360);
	ck_assert_uint_eq(png_height(half), (sh * 360 + sw / 2) / sw);
	/* a region of a 360x200 view, at the real screen's resolution (a zoom) */
	g_autofree char *path = computer_path(id);
	g_autoptr(JsonObject) zoom = alk_test_api_expect(
	    "POST", path,
	    "{\"scale_to\":{\"width\":360,\"height\":200},\"actions\":[{\"action\":"
	    "\"screenshot\",\"region\":{\"x\":10,\"y\":20,\"width\":100,\"height\":50}}]}",
	    200);
	JsonObject *z = json_object_get_object_member(
	    json_array_get_object_element(json_object_get_array_member(zoom, "results"), 0),
	    "screenshot");
	ck_assert_int_eq(json_object_get_int_member(z, "width"), 100 * sw / 360);
	ck_assert_int_eq(json_object_get_int_member(z, "height"), 50 * sh / 200);
	g_autoptr(AlkTestResponse) off = alk_test_api_call(
	    "POST", path,
	    "{\"scale_to\":{\"width\":360,\"height\":200},\"actions\":[{\"action\":"
	    "\"screenshot\",\"region\":{\"x\":300,\"y\":0,\"width\":100,\"height\":50}}]}");
	alk_test_api_assert_error(off, 400, "invalid_request");
	/* the console prints: the screen changes */
	g_free(sh_text(id, "seq 1000 1040 > /dev/tty1"));
	for (;;) {
		g_autoptr(GBytes) b = screenshot(id, "?width=640&height=480", &w2, &h2);
		if (!g_bytes_equal(a, b))
			break;
		ck_assert_msg(g_get_monotonic_time() < deadline, "the screen never changed");
		g_usleep(100 * 1000);
	}
}

static void assert_typing(const char *id)
{
	g_autofree char *path = computer_path(id);
	g_autoptr(JsonObject) r = alk_test_api_expect(
	    "POST", path,
	    "{\"actions\":[{\"action\":\"type\",\"text\":\"echo $((6*7)) > /tmp/k\"},"
	    "{\"action\":\"key\",\"keys\":\"Return\"}]}",
	    200);
	gint64 deadline = alk_test_deadline(30);
	JsonArray *results = json_object_get_array_member(r, "results");

	ck_assert_uint_eq(json_array_get_length(results), 2);
	ck_assert(json_object_get_boolean_member(json_array_get_object_element(results, 1), "ok"));
	for (;;) {
		g_autofree char *k = sh_text(id, "cat /tmp/k 2>/dev/null; true");
		if (strcmp(k, "42\n") == 0)
			break;
		ck_assert_msg(g_get_monotonic_time() < deadline, "/tmp/k holds '%s'", k);
		g_usleep(100 * 1000);
	}
	/* audited: the actions, the typed text only as its length and hash */
	g_autofree char *audit = NULL;
	g_autofree char *sum =
	    g_compute_checksum_for_string(G_CHECKSUM_SHA256, "echo $((6*7)) > /tmp/k", -1);
	ck_assert(g_file_get_contents(alk_test_api_d()->audit_path, &audit, NULL, NULL));
	ck_assert(strstr(audit, "\"action\":\"sandbox.computer\"") != NULL);
	ck_assert(strstr(audit, sum) != NULL);
	ck_assert(strstr(audit, "\"text_bytes\":22") != NULL);
	ck_assert(strstr(audit, "6*7") == NULL);
}

/* a move in a 360x200 view and a click: the tablet reports the real
 * screen's position, then a press and a release apart */
static void assert_pointer(const char *id)
{
	g_autofree char *path = computer_path(id);
	guint sw, sh;
	g_autoptr(GBytes) s = screenshot(id, "", &sw, &sh);
	g_autoptr(JsonObject) r = NULL;
	g_autoptr(GArray) ev = NULL;
	gint32 x = -1, y = -1;
	int press = -1, release = -1;

	start_readers(id, "Tablet", "move");
	r = alk_test_api_expect("POST", path,
	                        "{\"scale_to\":{\"width\":360,\"height\":200},\"actions\":["
	                        "{\"action\":\"move\",\"x\":180,\"y\":50},"
	                        "{\"action\":\"click\"},{\"action\":\"cursor_position\"}]}",
	                        200);
	JsonObject *cursor =
	    json_array_get_object_element(json_object_get_array_member(r, "results"), 2);
	ck_assert_int_eq(json_object_get_int_member(cursor, "x"), 180);
	ck_assert_int_eq(json_object_get_int_member(cursor, "y"), 50);
	ev = wait_events(id, "move", 1, EV_KEY, 2);
	for (guint i = 0; i < ev->len; i++) {
		const Ev *e = &g_array_index(ev, Ev, i);
		if (e->type == EV_ABS && e->code == 0)
			x = e->value;
		if (e->type == EV_ABS && e->code == 1)
			y = e->value;
		if (e->type == EV_KEY && e->code == BTN_LEFT && e->value == 1)
			press = (int)i;
		if (e->type == EV_KEY && e->code == BTN_LEFT && e->value == 0)
			release = (int)i;
	}
	ck_assert_int_eq(x, axis(180 * sw / 360, sw));
	ck_assert_int_eq(y, axis(50 * sh / 200, sh));
	/* a sync report between them: two reports, not one merged */
	ck_assert_int_ge(press, 0);
	ck_assert_int_gt(release, press + 1);
}

/* every bad batch is refused whole: nothing reaches the guest */
static void assert_refusals(const char *id)
{
	static const char *const bad[] = {
	    /* valid typing first, then an off-screen point */
	    "{\"actions\":[{\"action\":\"type\",\"text\":\"touch /tmp/bad\\n\"},"
	    "{\"action\":\"move\",\"x\":360,\"y\":10}],\"scale_to\":{\"width\":360,\"height\":200}"
	    "}",
	    "{\"actions\":[{\"action\":\"key\",\"keys\":\"Return\"},{\"action\":\"key\","
	    "\"keys\":\"ctrl+nokey\"}]}",
	    "{\"actions\":[{\"action\":\"key\",\"keys\":\"a\"},{\"action\":\"type\",\"text\":"
	    "\"caf\\u00e9\"}]}",
	    "{\"actions\":[{\"action\":\"move\",\"x\":-1,\"y\":0}]}",
	    "{\"actions\":[{\"action\":\"key\",\"keys\":\"a\"},{\"action\":\"fly\"}]}",
	    "{\"actions\":[{\"action\":\"key\",\"keys\":\"a\"},{\"action\":\"move\",\"x\":1}]}",
	    "{\"actions\":[{\"action\":\"key\",\"keys\":\"a\"},{\"action\":\"click\",\"button\":"
	    "\"thumb\"}]}",
	    "{\"actions\":[{\"action\":\"key\",\"keys\":\"a\"},{\"action\":\"wait\",\"ms\":999999}]"
	    "}",
	    "{\"actions\":[{\"action\":\"key\",\"keys\":\"a\",\"extra\":1}]}",
	    "{\"actions\":[{\"action\":\"drag\",\"path\":[[1,1]]}]}",
	    "{\"actions\":[{\"action\":\"drag\",\"path\":[[1,1],[2,\"x\"]]}]}",
	    "{\"actions\":[{\"action\":\"scroll\",\"dy\":500}]}",
	    "{\"actions\":[{\"action\":\"key\",\"keys\":\"a\"}],\"scale_to\":{\"width\":0,"
	    "\"height\":1}}",
	    "{\"actions\":[{\"action\":\"key\",\"keys\":\"a\"}],\"bogus\":true}",
	    "{\"actions\":\"key a\"}",
	    "{\"actions\":[]}",
	    "{\"actions\":[42]}",
	};
	g_autofree char *path = computer_path(id);
	g_autofree char *big = NULL;
	g_autoptr(GString) text = g_string_new("{\"actions\":[{\"action\":\"type\",\"text\":\"");
	guint kbds = start_readers(id, "eyboard", "kbd");

	start_readers(id, "Tablet", "tablet");
	for (guint i = 0; i < 4097; i++)
		g_string_append_c(text, 'a');
	g_string_append(text, "\"}]}");
	big = g_string_free(g_steal_pointer(&text), FALSE);
	/* each text fits, but all of it would be too many injections to plan */
	g_autoptr(GString) many = g_string_new("{\"actions\":[");
	for (guint k = 0; k < 3; k++) {
		g_string_append_printf(many, "%s{\"action\":\"type\",\"delay_ms\":1,\"text\":\"",
		                       k > 0 ? "," : "");
		for (guint i = 0; i < 4096; i++)
			g_string_append_c(many, 'b');
		g_string_append(many, "\"}");
	}
	g_string_append(many, "]}");
	g_autoptr(AlkTestResponse) too_many = alk_test_api_call("POST", path, many->str);
	alk_test_api_assert_error(too_many, 400, "invalid_request");
	for (guint i = 0; i <= G_N_ELEMENTS(bad); i++) {
		g_autoptr(AlkTestResponse) r =
		    alk_test_api_call("POST", path, i < G_N_ELEMENTS(bad) ? bad[i] : big);
		ck_assert_msg(r->status == 400, "batch %u: %u", i, r->status);
		alk_test_api_assert_error(r, 400, "invalid_request");
	}
	/* a valid batch after them: what the readers would have seen arrives */
	g_autoptr(JsonObject) ok = alk_test_api_expect(
	    "POST", path, "{\"actions\":[{\"action\":\"move\",\"x\":5,\"y\":5}]}", 200);
	g_autoptr(GArray) t = wait_events(id, "tablet", 1, EV_ABS, 1);
	/* only the move: nothing of the refused batches came before it */
	for (guint i = 0; i < t->len; i++)
		ck_assert_uint_ne(g_array_index(t, Ev, i).type, EV_KEY);
	for (guint k = 1; k <= kbds; k++) {
		g_autoptr(GArray) e = events(id, "kbd", k);
		ck_assert_msg(e->len == 0, "keyboard %u got %u events", k, e->len);
	}
	g_autofree char *gone = sh_text(id, "ls /tmp/bad 2>&1; true");
	ck_assert(strstr(gone, "No such file") != NULL);
	/* and the keyboards' readers do see a key that is sent */
	g_autoptr(JsonObject) key = alk_test_api_expect(
	    "POST", path, "{\"actions\":[{\"action\":\"key\",\"keys\":\"shift\"}]}", 200);
	gint64 deadline = alk_test_deadline(30);
	for (guint seen = 0; seen < 2;) {
		seen = 0;
		for (guint k = 1; k <= kbds; k++) {
			g_autoptr(GArray) e = events(id, "kbd", k);
			for (guint i = 0; i < e->len; i++)
				seen += g_array_index(e, Ev, i).type == EV_KEY;
		}
		ck_assert_msg(g_get_monotonic_time() < deadline, "no keyboard saw shift");
		if (seen < 2)
			g_usleep(100 * 1000);
	}
}

START_TEST(with_display)
{
	g_autofree char *id = alk_test_api_create(DISPLAY);
	g_autofree char *base = g_strdup_printf("/v1/sandboxes/%s", id);
	g_autoptr(JsonObject) sb = alk_test_api_expect("GET", base, NULL, 200);
	JsonObject *mode = json_object_get_object_member(sb, "display");

	ck_assert_int_eq(json_object_get_int_member(mode, "width"), 1024);
	ck_assert_int_eq(json_object_get_int_member(mode, "height"), 768);
	wait_for_tty_shell(id);
	assert_size_and_change(id);
	assert_typing(id);
	assert_pointer(id);
	assert_refusals(id);
}
END_TEST

START_TEST(no_display)
{
	g_autofree char *id = alk_test_api_create("{}");
	g_autofree char *screen = g_strdup_printf("/v1/sandboxes/%s/screen", id);
	g_autofree char *computer = computer_path(id);
	g_autofree char *base = g_strdup_printf("/v1/sandboxes/%s", id);
	g_autoptr(JsonObject) sb = alk_test_api_expect("GET", base, NULL, 200);
	g_autoptr(AlkTestResponse) shot = alk_test_api_call("GET", screen, NULL);
	g_autoptr(AlkTestResponse) keys = alk_test_api_call(
	    "POST", computer, "{\"actions\":[{\"action\":\"key\",\"keys\":\"a\"}]}");
	g_autoptr(AlkTestResponse) prod = alk_test_api_call(
	    "POST", "/v1/sandboxes",
	    "{\"profile\":\"production\",\"display\":{\"width\":1024,\"height\":768}}");
	g_autoptr(AlkTestResponse) wide = alk_test_api_call(
	    "POST", "/v1/sandboxes", "{\"display\":{\"width\":4096,\"height\":768}}");
	g_autoptr(AlkTestResponse) size =
	    alk_test_api_call("GET", "/v1/sandboxes/0123456789ab/screen?width=5000", NULL);

	ck_assert(json_object_get_null_member(sb, "display"));
	alk_test_api_assert_error(shot, 409, "conflict");
	alk_test_api_assert_error(keys, 409, "conflict");
	alk_test_api_assert_error(prod, 429, "limit_exceeded");
	alk_test_api_assert_error(wide, 429, "limit_exceeded");
	alk_test_api_assert_error(size, 400, "invalid_request");
	/* no domain of any sandbox has a graphics listener */
	g_autofree char *xml = NULL;
	g_autofree char *cmd = g_strdup_printf("virsh -c qemu:///system dumpxml airlock-%s", id);
	ck_assert(g_spawn_command_line_sync(cmd, &xml, NULL, NULL, NULL));
	ck_assert(strstr(xml, "<graphics") == NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("screen");
	SRunner *sr;
	int failed;

	alk_test_api_add(s, "display", with_display, NULL, NULL);
	alk_test_api_add(s, "no_display", no_display, NULL, NULL);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
