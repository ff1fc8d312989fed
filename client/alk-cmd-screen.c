/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlock screenshot [--width W] [--height H] ID FILE: the sandbox's screen
 * as PNG (GET /v1/sandboxes/ID/screen), FILE "-" for stdout.
 * airlock computer [--scale WxH] [--screenshot FILE] ID ACTION [ARG…]: one
 * action of POST /v1/sandboxes/ID/computer, for people and scripts. */
#include "alk-cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "alk-cli-table.h"
#include "alk-json.h"

#define SIDE_MAX 4096

/* ---- screenshot ---------------------------------------------------------------------------- */

#define S(owner) ((AlkScreenshotCmd *)(owner))

static gboolean set_width(gpointer owner, const char *value, GError **error)
{
	guint64 v = 0;
	if (!alk_cli_parse_uint("width", value, 1, SIDE_MAX, &v, error))
		return FALSE;
	S(owner)->width = (guint)v;
	return TRUE;
}

static gboolean set_height(gpointer owner, const char *value, GError **error)
{
	guint64 v = 0;
	if (!alk_cli_parse_uint("height", value, 1, SIDE_MAX, &v, error))
		return FALSE;
	S(owner)->height = (guint)v;
	return TRUE;
}

static const AlkCliOption screenshot_options[] = {
    {"width", 0, TRUE, set_width},
    {"height", 0, TRUE, set_height},
    {NULL, 0, FALSE, NULL},
};

gboolean alk_cmd_screenshot_parse(int argc, char **argv, AlkScreenshotCmd *out, GError **error)
{
	const AlkCliOptionGroup groups[] = {{screenshot_options, 0}, {NULL, 0}};
	g_auto(AlkCliArgs) args = {0};

	memset(out, 0, sizeof *out);
	if (!alk_cli_parse(groups, out, 2, argc, argv, &args, error))
		return FALSE;
	if (args.extra != NULL || args.command != NULL) {
		g_autofree char *shown = alk_cli_shown(args.extra != NULL ? args.extra[0] : "--");
		return alk_cli_usage_error(error, "unexpected argument '%s'", shown);
	}
	if (args.positional->len < 2)
		return alk_cli_usage_error(error, "usage: airlock screenshot ID FILE");
	out->id = g_ptr_array_index(args.positional, 0);
	out->file = g_ptr_array_index(args.positional, 1);
	out->json = args.json;
	return alk_cli_check_id(out->id, error);
}

static gboolean save(const char *file, GBytes *png, GError **error)
{
	gsize len = 0;
	const void *data = g_bytes_get_data(png, &len);
	int fd;
	gboolean ok;

	if (strcmp(file, "-") == 0)
		return alk_cli_write_all(STDOUT_FILENO, data, len, error);
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		g_autofree char *shown = alk_cli_shown(file);
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "%s: %s", shown,
		            g_strerror(errno));
		return FALSE;
	}
	ok = alk_cli_write_all(fd, data, len, error);
	if (close(fd) < 0 && ok) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "closing: %s",
		            g_strerror(errno));
		ok = FALSE;
	}
	return ok;
}

int alk_cmd_screenshot(AlkCli *cli, int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) path = g_string_new(NULL);
	g_autoptr(SoupMessage) msg = NULL;
	g_autoptr(GInputStream) in = NULL;
	g_autoptr(GBytes) png = NULL;
	AlkScreenshotCmd c;

	if (!alk_cmd_screenshot_parse(argc, argv, &c, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	g_string_printf(path, "/v1/sandboxes/%s/screen?", c.id);
	if (c.width != 0)
		g_string_append_printf(path, "width=%u&", c.width);
	if (c.height != 0)
		g_string_append_printf(path, "height=%u", c.height);
	msg = alk_cli_message(cli, "GET", path->str, &error);
	if (msg == NULL || (in = alk_cli_send(cli, msg, &error)) == NULL ||
	    (png = alk_cli_read_all(cli, in, ALK_CLI_JSON_MAX, &error)) == NULL ||
	    !save(c.file, png, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	if (strcmp(c.file, "-") != 0 && !cli->json && !c.json) {
		SoupMessageHeaders *h = soup_message_get_response_headers(msg);
		const char *sw = soup_message_headers_get_one(h, "X-Airlock-Screen-Width");
		const char *sh = soup_message_headers_get_one(h, "X-Airlock-Screen-Height");
		g_autofree char *w = alk_cli_sanitize(sw != NULL ? sw : "?");
		g_autofree char *hh = alk_cli_sanitize(sh != NULL ? sh : "?");
		g_autofree char *shown = alk_cli_sanitize(c.file);
		g_autofree char *line = g_strdup_printf("screen %sx%s saved to %s\n", w, hh, shown);
		if (!alk_cli_print(line, &error))
			return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	}
	return ALK_EXIT_OK;
}

/* ---- computer ------------------------------------------------------------------------------ */

#define C(owner) ((AlkComputerCmd *)(owner))

static gboolean set_scale(gpointer owner, const char *value, GError **error)
{
	g_auto(GStrv) wh = g_strsplit(value, "x", 3);
	guint64 w = 0, h = 0;

	if (g_strv_length(wh) != 2 ||
	    !alk_cli_parse_uint("scale width", wh[0], 1, SIDE_MAX, &w, error) ||
	    !alk_cli_parse_uint("scale height", wh[1], 1, SIDE_MAX, &h, error)) {
		g_clear_error(error);
		return alk_cli_usage_error(error, "WIDTHxHEIGHT, each 1..%d", SIDE_MAX);
	}
	C(owner)->scale_w = (guint)w;
	C(owner)->scale_h = (guint)h;
	return TRUE;
}

static gboolean set_shot(gpointer owner, const char *value, GError **error)
{
	C(owner)->shot_file = value;
	return TRUE;
}

static const AlkCliOption computer_options[] = {
    {"scale", 0, TRUE, set_scale},
    {"screenshot", 0, TRUE, set_shot},
    {NULL, 0, FALSE, NULL},
};

static gboolean coord(const char *what, const char *s, gint64 *out, GError **error)
{
	guint64 v = 0;
	if (!alk_cli_parse_uint(what, s, 0, G_MAXINT32, &v, error))
		return FALSE;
	*out = (gint64)v;
	return TRUE;
}

/* up|down|left|right [N]: wheel steps as dx, dy */
static gboolean scroll_steps(char **a, guint n, gint64 *dx, gint64 *dy, GError **error)
{
	guint64 v = 1;

	if (n > 1 && !alk_cli_parse_uint("N", a[1], 1, 50, &v, error))
		return FALSE;
	*dx = *dy = 0;
	if (strcmp(a[0], "up") == 0)
		*dy = -(gint64)v;
	else if (strcmp(a[0], "down") == 0)
		*dy = (gint64)v;
	else if (strcmp(a[0], "left") == 0)
		*dx = -(gint64)v;
	else if (strcmp(a[0], "right") == 0)
		*dx = (gint64)v;
	else
		return alk_cli_usage_error(error, "scroll up, down, left or right");
	return TRUE;
}

/* ACTION [ARG…] as one action object; n: the arguments after ACTION */
static gboolean build_action(JsonBuilder *b, const char *action, char **a, guint n, GError **error)
{
	static const struct {
		const char *verb, *action, *button;
		guint count, min, max;
	} verbs[] = {
	    {"move", "move", NULL, 0, 2, 2},
	    {"click", "click", NULL, 0, 0, 2},
	    {"double-click", "click", NULL, 2, 0, 2},
	    {"right-click", "click", "right", 0, 0, 2},
	    {"middle-click", "click", "middle", 0, 0, 2},
	    {"drag", "drag", NULL, 0, 4, 512},
	    {"scroll", "scroll", NULL, 0, 1, 2},
	    {"key", "key", NULL, 0, 1, 1},
	    {"key-down", "key_down", NULL, 0, 1, 1},
	    {"key-up", "key_up", NULL, 0, 1, 1},
	    {"type", "type", NULL, 0, 1, 1},
	    {"wait", "wait", NULL, 0, 1, 1},
	    {"cursor", "cursor_position", NULL, 0, 0, 0},
	    {"screenshot", "screenshot", NULL, 0, 0, 0},
	};
	gint64 x = 0, y = 0;
	guint i;

	for (i = 0; i < G_N_ELEMENTS(verbs) && strcmp(verbs[i].verb, action) != 0; i++)
		;
	if (i == G_N_ELEMENTS(verbs)) {
		g_autofree char *shown = alk_cli_shown(action);
		return alk_cli_usage_error(error, "unknown action '%s'", shown);
	}
	if (n < verbs[i].min || n > verbs[i].max || (strcmp(action, "drag") == 0 && n % 2 != 0) ||
	    (verbs[i].max == 2 && verbs[i].min == 0 && n == 1))
		return alk_cli_usage_error(error, "wrong number of arguments for '%s'", action);
	json_builder_begin_object(b);
	alk_json_add_string(b, "action", verbs[i].action);
	if (verbs[i].button != NULL)
		alk_json_add_string(b, "button", verbs[i].button);
	if (verbs[i].count != 0)
		alk_json_add_int(b, "count", verbs[i].count);
	if (strcmp(action, "drag") == 0) {
		json_builder_set_member_name(b, "path");
		json_builder_begin_array(b);
		for (guint k = 0; k < n; k += 2) {
			if (!coord("x", a[k], &x, error) || !coord("y", a[k + 1], &y, error))
				return FALSE;
			json_builder_begin_array(b);
			json_builder_add_int_value(b, x);
			json_builder_add_int_value(b, y);
			json_builder_end_array(b);
		}
		json_builder_end_array(b);
	} else if (strcmp(action, "scroll") == 0) {
		gint64 dy = 0, dx = 0;
		if (!scroll_steps(a, n, &dx, &dy, error))
			return FALSE;
		alk_json_add_int(b, "dy", dy);
		alk_json_add_int(b, "dx", dx);
	} else if (strcmp(verbs[i].action, "key") == 0 || strncmp(action, "key-", 4) == 0) {
		alk_json_add_string(b, "keys", a[0]);
	} else if (strcmp(action, "type") == 0) {
		alk_json_add_string(b, "text", a[0]);
	} else if (strcmp(action, "wait") == 0) {
		guint64 ms = 0;
		if (!alk_cli_parse_uint("MS", a[0], 0, 10000, &ms, error))
			return FALSE;
		alk_json_add_int(b, "ms", (gint64)ms);
	} else if (n == 2) {
		if (!coord("X", a[0], &x, error) || !coord("Y", a[1], &y, error))
			return FALSE;
		alk_json_add_int(b, "x", x);
		alk_json_add_int(b, "y", y);
	}
	json_builder_end_object(b);
	return TRUE;
}

void alk_computer_cmd_clear(AlkComputerCmd *c)
{
	g_clear_pointer(&c->body, g_free);
	memset(c, 0, sizeof *c);
}

gboolean alk_cmd_computer_parse(int argc, char **argv, AlkComputerCmd *out, GError **error)
{
	const AlkCliOptionGroup groups[] = {{computer_options, 0}, {NULL, 0}};
	g_auto(AlkCliArgs) args = {0};
	g_autoptr(GPtrArray) words = g_ptr_array_new();
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;

	memset(out, 0, sizeof *out);
	if (!alk_cli_parse(groups, out, 2 + 512, argc, argv, &args, error))
		return FALSE;
	if (args.extra != NULL)
		return alk_cli_usage_error(error, "too many arguments");
	for (guint i = 0; i < args.positional->len; i++)
		g_ptr_array_add(words, g_ptr_array_index(args.positional, i));
	for (int i = 0; i < args.command_len; i++) /* "type -- -text" */
		g_ptr_array_add(words, args.command[i]);
	if (words->len < 2)
		return alk_cli_usage_error(error, "usage: airlock computer ID ACTION [ARG…]");
	out->id = g_ptr_array_index(words, 0);
	out->json = args.json;
	if (!alk_cli_check_id(out->id, error))
		return FALSE;
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "actions");
	json_builder_begin_array(b);
	if (!build_action(b, g_ptr_array_index(words, 1), (char **)words->pdata + 2, words->len - 2,
	                  error))
		return FALSE;
	json_builder_end_array(b);
	if (out->scale_w != 0) {
		json_builder_set_member_name(b, "scale_to");
		json_builder_begin_object(b);
		alk_json_add_int(b, "width", out->scale_w);
		alk_json_add_int(b, "height", out->scale_h);
		json_builder_end_object(b);
	}
	out->shot_action = strcmp(g_ptr_array_index(words, 1), "screenshot") == 0;
	if (out->shot_action && out->shot_file == NULL)
		return alk_cli_usage_error(error, "the screenshot action needs --screenshot FILE");
	if (out->shot_file != NULL && !out->shot_action)
		alk_json_add_bool(b, "screenshot", TRUE);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	out->body = alk_json_to_string(root);
	return TRUE;
}

/* the PNG of a {width, height, png_b64} object into file */
static gboolean save_b64(JsonObject *shot, const char *file, GError **error)
{
	const char *b64 = shot != NULL ? alk_cli_json_string(shot, "png_b64") : NULL;
	gsize len = 0;
	g_autofree guchar *raw = NULL;
	g_autoptr(GBytes) png = NULL;

	if (b64 == NULL) {
		g_set_error(error, ALK_CLI_ERROR, ALK_CLI_ERROR_PROTOCOL,
		            "no screenshot came back");
		return FALSE;
	}
	raw = g_base64_decode(b64, &len);
	png = g_bytes_new(raw, len);
	return save(file, png, error);
}

/* "ok", the cursor, or where a screenshot went */
static char *describe_result(JsonObject *res, const char *file)
{
	JsonObject *first = NULL;
	JsonArray *results = NULL;
	JsonNode *r = json_object_get_member(res, "results");

	if (r != NULL && JSON_NODE_HOLDS_ARRAY(r))
		results = json_node_get_array(r);
	if (results != NULL && json_array_get_length(results) > 0 &&
	    JSON_NODE_HOLDS_OBJECT(json_array_get_element(results, 0)))
		first = json_array_get_object_element(results, 0);
	if (first != NULL && json_object_has_member(first, "x")) {
		JsonNode *x = json_object_get_member(first, "x");
		JsonNode *y = json_object_get_member(first, "y");
		if (JSON_NODE_HOLDS_NULL(x) || JSON_NODE_HOLDS_NULL(y))
			return g_strdup("cursor position unknown (nothing moved it yet)\n");
		return g_strdup_printf("%" G_GINT64_FORMAT " %" G_GINT64_FORMAT "\n",
		                       json_node_get_int(x), json_node_get_int(y));
	}
	if (file != NULL) {
		g_autofree char *shown = alk_cli_sanitize(file);
		return g_strdup_printf("ok, screenshot saved to %s\n", shown);
	}
	return g_strdup("ok\n");
}

int alk_cmd_computer(AlkCli *cli, int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_auto(AlkComputerCmd) c = {0};
	g_autofree char *path = NULL;
	g_autofree char *text = NULL;
	g_autoptr(GBytes) body = NULL;
	g_autoptr(JsonObject) res = NULL;
	JsonObject *first = NULL;
	const char *file = NULL;

	if (!alk_cmd_computer_parse(argc, argv, &c, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	path = g_strdup_printf("/v1/sandboxes/%s/computer", c.id);
	body = alk_cli_call(cli, "POST", path, c.body, &error);
	if (body == NULL || (res = alk_cli_parse_object(body, &error)) == NULL)
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	/* the action screenshot's file is the --screenshot one */
	if (c.shot_action) {
		JsonArray *results = json_object_get_array_member(res, "results");
		first = results != NULL && json_array_get_length(results) > 0
		            ? json_array_get_object_element(results, 0)
		            : NULL;
		if (first == NULL || !save_b64(json_object_get_object_member(first, "screenshot"),
		                               c.shot_file, &error))
			return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
		file = c.shot_file;
	} else if (c.shot_file != NULL) {
		if (!save_b64(json_object_get_object_member(res, "screenshot"), c.shot_file,
		              &error))
			return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
		file = c.shot_file;
	}
	if (cli->json || c.json)
		return alk_cli_print_json(body, &error)
		           ? ALK_EXIT_OK
		           : alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	text = describe_result(res, file);
	return alk_cli_print(text, &error) ? ALK_EXIT_OK
	                                   : alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
}
