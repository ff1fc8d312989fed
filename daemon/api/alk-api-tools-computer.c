/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Anthropic computer tool (computer_20250124, computer_20251124): a
 * tool_use block's input becomes a batch of the runner of
 * alk-api-computer.c, in the model's space. That space is the display's
 * mode scaled to fit 1024x768 or 1280x800 (whichever has the nearer aspect
 * ratio), never up; the definition reports it, screenshots are scaled to
 * it and coordinates are mapped back from it on every call. Every action
 * but cursor_position and zoom answers with a screenshot, as the reference
 * implementation does. */
#include <math.h>
#include <string.h>

#include "alk-api-computer.h"
#include "alk-api-tools.h"
#include "alk-error.h"
#include "alk-json.h"

#define DURATION_MAX_S 100 /* of a wait or a hold_key */

void alk_api_tool_computer_space(guint width, guint height, guint *w, guint *h)
{
	/* 4:3 against 16:10: their ratios' midpoint decides */
	gboolean wide = width * 1000 >= height * 1467ULL;
	guint tw = wide ? 1280 : 1024, th = wide ? 800 : 768;

	if (width == 0 || height == 0 || (width <= tw && height <= th)) {
		*w = width;
		*h = height;
		return;
	}
	/* fit within the target, keeping the aspect ratio */
	if ((guint64)width * th >= (guint64)height * tw) {
		*w = tw;
		*h = MAX(1, (guint)(((guint64)height * tw + width / 2) / width));
	} else {
		*h = th;
		*w = MAX(1, (guint)(((guint64)width * th + height / 2) / height));
	}
}

/* ---- the input ------------------------------------------------------------------------------- */

typedef struct {
	char *action;
	JsonArray *coordinate;
	JsonArray *start_coordinate;
	char *text;
	char *scroll_direction;
	guint64 scroll_amount;
	gboolean has_amount;
	JsonArray *region;
} Input;

#define I(m) G_STRUCT_OFFSET(Input, m)
static const AlkJsonField input_fields[] = {
    {"action", ALK_JSON_STRING, I(action), TRUE, 1, 32, 0},
    {"coordinate", ALK_JSON_ARRAY, I(coordinate), FALSE, 2, 2, 0},
    {"start_coordinate", ALK_JSON_ARRAY, I(start_coordinate), FALSE, 2, 2, 0},
    {"text", ALK_JSON_STRING, I(text), FALSE, 0, ALK_API_COMPUTER_TEXT_MAX, 0},
    {"scroll_direction", ALK_JSON_STRING, I(scroll_direction), FALSE, 1, 8, 0},
    {"scroll_amount", ALK_JSON_UINT, I(scroll_amount), FALSE, 0, ALK_API_COMPUTER_SCROLL_MAX, 0},
    {"region", ALK_JSON_ARRAY, I(region), FALSE, 4, 4, 0},
    {NULL, 0, 0, FALSE, 0, 0, 0},
};
#undef I

G_GNUC_PRINTF(2, 3)
static gboolean invalid(GError **error, const char *fmt, ...)
{
	va_list args;
	g_autofree char *msg = NULL;

	va_start(args, fmt);
	msg = g_strdup_vprintf(fmt, args);
	va_end(args);
	g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "%s", msg);
	return FALSE;
}

/* integers of arr (its length already checked) */
static gboolean ints(JsonArray *arr, const char *what, gint64 *out, GError **error)
{
	for (guint i = 0; i < json_array_get_length(arr); i++) {
		JsonNode *n = json_array_get_element(arr, i);
		if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
			return invalid(error, "%s must hold integers", what);
		out[i] = json_node_get_int(n);
	}
	return TRUE;
}

/* seconds, an integer or a fraction, 0..DURATION_MAX_S; -1 when absent */
static gboolean read_duration(JsonObject *input, gint64 *ms, GError **error)
{
	JsonNode *n = json_object_get_member(input, "duration");
	GType t = n != NULL && JSON_NODE_HOLDS_VALUE(n) ? json_node_get_value_type(n) : G_TYPE_NONE;
	double s;

	*ms = -1;
	if (n == NULL)
		return TRUE;
	if (t != G_TYPE_INT64 && t != G_TYPE_DOUBLE)
		return invalid(error, "field 'duration' must be a number of seconds");
	s = t == G_TYPE_INT64 ? (double)json_node_get_int(n) : json_node_get_double(n);
	if (!isfinite(s) || s < 0 || s > DURATION_MAX_S)
		return invalid(error, "field 'duration' must be 0..%d seconds", DURATION_MAX_S);
	*ms = (gint64)llround(s * 1000);
	return TRUE;
}

typedef enum { NEED_NOT, NEED_MAY, NEED_MUST } Need;

typedef struct {
	const char *name;
	Need coordinate, text; /* text on clicks and scrolls: keys held */
	const char *kind;      /* the runner's action */
	const char *button;
	guint count;
} Verb;

static const Verb verbs[] = {
    {"screenshot", NEED_NOT, NEED_NOT, NULL, NULL, 0},
    {"cursor_position", NEED_NOT, NEED_NOT, "cursor_position", NULL, 0},
    {"mouse_move", NEED_MUST, NEED_NOT, "move", NULL, 0},
    {"left_click", NEED_MAY, NEED_MAY, "click", "left", 1},
    {"right_click", NEED_MAY, NEED_MAY, "click", "right", 1},
    {"middle_click", NEED_MAY, NEED_MAY, "click", "middle", 1},
    {"double_click", NEED_MAY, NEED_MAY, "click", "left", 2},
    {"triple_click", NEED_MAY, NEED_MAY, "click", "left", 3},
    {"left_mouse_down", NEED_MAY, NEED_NOT, "button_down", "left", 0},
    {"left_mouse_up", NEED_MAY, NEED_NOT, "button_up", "left", 0},
    {"left_click_drag", NEED_MUST, NEED_NOT, "drag", "left", 0},
    {"scroll", NEED_MAY, NEED_MAY, "scroll", NULL, 0},
    {"key", NEED_NOT, NEED_MUST, "key", NULL, 0},
    {"hold_key", NEED_NOT, NEED_MUST, "key_down", NULL, 0},
    {"type", NEED_NOT, NEED_MUST, "type", NULL, 0},
    {"wait", NEED_NOT, NEED_NOT, NULL, NULL, 0},
    {"zoom", NEED_NOT, NEED_NOT, "screenshot", NULL, 0},
};

static const Verb *find_verb(const char *name)
{
	for (guint i = 0; i < G_N_ELEMENTS(verbs); i++) {
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	}
	return NULL;
}

static JsonObject *action(const char *kind)
{
	JsonObject *o = json_object_new();
	json_object_set_string_member(o, "action", kind);
	return o;
}

static void add_waits(JsonArray *actions, gint64 ms)
{
	do {
		JsonObject *w = action("wait");
		gint64 now = MIN(ms, ALK_API_COMPUTER_WAIT_MAX_MS);
		json_object_set_int_member(w, "ms", now);
		json_array_add_object_element(actions, w);
		ms -= now;
	} while (ms > 0);
}

/* "shift", "ctrl+shift": the keys held during a click or scroll */
static JsonArray *held(const char *text)
{
	g_auto(GStrv) keys = g_strsplit(text, "+", -1);
	JsonArray *a = json_array_new();

	for (guint i = 0; keys[i] != NULL; i++)
		json_array_add_string_element(a, keys[i]);
	return a;
}

static JsonArray *point(const gint64 *xy)
{
	JsonArray *p = json_array_new();
	json_array_add_int_element(p, xy[0]);
	json_array_add_int_element(p, xy[1]);
	return p;
}

JsonObject *alk_api_tool_anthropic_batch(JsonObject *input, guint space_w, guint space_h,
                                         const char **verb_name, GError **error)
{
	g_autoptr(JsonObject) fields = json_object_new();
	g_autoptr(JsonObject) batch = json_object_new();
	g_autoptr(JsonObject) scale = json_object_new();
	JsonArray *actions = json_array_new();
	Input in = {0};
	const Verb *v;
	gint64 xy[2] = {0, 0}, start[2] = {0, 0}, region[4] = {0, 0, 0, 0};
	gint64 ms = -1;
	JsonObject *a = NULL;
	gboolean ok = FALSE;
	gboolean shot = TRUE;

	json_object_set_array_member(batch, "actions", actions);
	if (input == NULL) {
		invalid(error, "the input must be an object");
		return NULL;
	}
	/* duration is a number, which the table has no type for */
	for (GList *l = json_object_get_members(input), *m = l; m != NULL; m = m->next) {
		if (strcmp(m->data, "duration") != 0)
			json_object_set_member(
			    fields, m->data,
			    json_node_copy(json_object_get_member(input, m->data)));
		if (m->next == NULL)
			g_list_free(l);
	}
	if (!alk_json_read_object(fields, input_fields, &in, error) ||
	    !read_duration(input, &ms, error))
		goto out;
	in.has_amount = json_object_has_member(fields, "scroll_amount");
	v = find_verb(in.action);
	if (v == NULL) {
		invalid(error, "unknown action '%s'", in.action);
		goto out;
	}
	if (verb_name != NULL)
		*verb_name = v->name;
	if ((v->coordinate == NEED_MUST && in.coordinate == NULL) ||
	    (v->coordinate == NEED_NOT && in.coordinate != NULL)) {
		invalid(error, "%s: coordinate %s", v->name,
		        v->coordinate == NEED_MUST ? "is required" : "is not accepted");
		goto out;
	}
	if ((v->text == NEED_MUST && (in.text == NULL || in.text[0] == '\0')) ||
	    (v->text == NEED_NOT && in.text != NULL)) {
		invalid(error, "%s: text %s", v->name,
		        v->text == NEED_MUST ? "is required" : "is not accepted");
		goto out;
	}
	if ((strcmp(v->name, "left_click_drag") == 0) != (in.start_coordinate != NULL)) {
		invalid(error, "%s: start_coordinate %s", v->name,
		        in.start_coordinate == NULL ? "is required" : "is not accepted");
		goto out;
	}
	if ((strcmp(v->name, "scroll") == 0) != (in.scroll_direction != NULL || in.has_amount)) {
		invalid(error, "%s: scroll_direction and scroll_amount %s", v->name,
		        in.scroll_direction == NULL ? "are required" : "are not accepted");
		goto out;
	}
	if ((strcmp(v->name, "zoom") == 0) != (in.region != NULL)) {
		invalid(error, "%s: region %s", v->name,
		        in.region == NULL ? "is required" : "is not accepted");
		goto out;
	}
	if ((strcmp(v->name, "wait") == 0 || strcmp(v->name, "hold_key") == 0) != (ms >= 0)) {
		invalid(error, "%s: duration %s", v->name,
		        ms < 0 ? "is required" : "is not accepted");
		goto out;
	}
	if ((in.coordinate != NULL && !ints(in.coordinate, "coordinate", xy, error)) ||
	    (in.start_coordinate != NULL &&
	     !ints(in.start_coordinate, "start_coordinate", start, error)) ||
	    (in.region != NULL && !ints(in.region, "region", region, error)))
		goto out;

	if (v->kind != NULL) {
		a = action(v->kind);
		json_array_add_object_element(actions, a);
	}
	if (in.coordinate != NULL && strcmp(v->name, "left_click_drag") != 0) {
		json_object_set_int_member(a, "x", xy[0]);
		json_object_set_int_member(a, "y", xy[1]);
	}
	if (v->button != NULL && strcmp(v->name, "left_click_drag") != 0 &&
	    strcmp(v->button, "left") != 0)
		json_object_set_string_member(a, "button", v->button);
	if (v->count > 1)
		json_object_set_int_member(a, "count", v->count);
	if (strcmp(v->name, "left_click_drag") == 0) {
		JsonArray *path = json_array_new();
		json_array_add_array_element(path, point(start));
		json_array_add_array_element(path, point(xy));
		json_object_set_array_member(a, "path", path);
	} else if (strcmp(v->name, "scroll") == 0) {
		static const char *const dirs[] = {"up", "down", "left", "right"};
		guint d = 0;
		while (d < 4 && g_strcmp0(in.scroll_direction, dirs[d]) != 0)
			d++;
		if (d == 4 || !in.has_amount || in.scroll_amount == 0) {
			invalid(error,
			        "scroll: scroll_direction up, down, left or right and "
			        "scroll_amount 1..%d",
			        ALK_API_COMPUTER_SCROLL_MAX);
			goto out;
		}
		json_object_set_int_member(a, d < 2 ? "dy" : "dx",
		                           (d % 2 == 0 ? -1 : 1) * (gint64)in.scroll_amount);
	} else if (strcmp(v->name, "zoom") == 0) {
		JsonObject *r = json_object_new();
		if (region[2] <= region[0] || region[3] <= region[1]) {
			json_object_unref(r);
			invalid(error, "zoom: region is [x0, y0, x1, y1] with x1 > x0 and y1 > y0");
			goto out;
		}
		json_object_set_int_member(r, "x", region[0]);
		json_object_set_int_member(r, "y", region[1]);
		json_object_set_int_member(r, "width", region[2] - region[0]);
		json_object_set_int_member(r, "height", region[3] - region[1]);
		json_object_set_object_member(a, "region", r);
		shot = FALSE; /* the zoom is the answer */
	} else if (strcmp(v->name, "key") == 0 || strcmp(v->name, "hold_key") == 0) {
		json_object_set_string_member(a, "keys", in.text);
	} else if (strcmp(v->name, "type") == 0) {
		json_object_set_string_member(a, "text", in.text);
	}
	if (in.text != NULL && v->text == NEED_MAY && in.text[0] != '\0')
		json_object_set_array_member(a, "hold", held(in.text));
	if (strcmp(v->name, "hold_key") == 0 || strcmp(v->name, "wait") == 0)
		add_waits(actions, ms);
	if (strcmp(v->name, "hold_key") == 0) {
		JsonObject *up = action("key_up");
		json_object_set_string_member(up, "keys", in.text);
		json_array_add_object_element(actions, up);
	}
	if (strcmp(v->name, "cursor_position") == 0)
		shot = FALSE;
	json_object_set_boolean_member(batch, "screenshot", shot);
	json_object_set_int_member(scale, "width", space_w);
	json_object_set_int_member(scale, "height", space_h);
	json_object_set_object_member(batch, "scale_to", json_object_ref(scale));
	ok = TRUE;
out:
	alk_json_fields_clear(input_fields, &in);
	return ok ? json_object_ref(batch) : NULL;
}

/* ---- the call -------------------------------------------------------------------------------- */

JsonObject *alk_api_tool_text(const char *text)
{
	JsonObject *o = json_object_new();
	json_object_set_string_member(o, "type", "text");
	json_object_set_string_member(o, "text", text);
	return o;
}

JsonObject *alk_api_tool_image(const char *png_b64)
{
	JsonObject *o = json_object_new();
	JsonObject *src = json_object_new();

	json_object_set_string_member(src, "type", "base64");
	json_object_set_string_member(src, "media_type", "image/png");
	json_object_set_string_member(src, "data", png_b64);
	json_object_set_string_member(o, "type", "image");
	json_object_set_object_member(o, "source", src);
	return o;
}

struct AlkApiToolCall {
	AlkApiToolDone done;
	gpointer data;
	AlkApiComputerRun *run;
	guint idle;       /* an input refused before anything ran */
	JsonArray *early; /* its answer */
	gboolean ending;
	char *verb;
};

static void call_free(AlkApiToolCall *call)
{
	g_clear_handle_id(&call->idle, g_source_remove);
	g_clear_pointer(&call->early, json_array_unref);
	g_free(call->verb);
	g_free(call);
}

static JsonArray *error_content(const GError *error)
{
	JsonArray *content = json_array_new();
	g_autofree char *text =
	    g_strdup_printf("%s: %s", alk_api_error_code(error), error->message);

	json_array_add_object_element(content, alk_api_tool_text(text));
	return content;
}

static gboolean early_done(gpointer data)
{
	AlkApiToolCall *call = data;

	call->idle = 0;
	call->ending = TRUE;
	call->done(call->early, TRUE, call->data);
	call_free(call);
	return G_SOURCE_REMOVE;
}

static const char *shot_b64(JsonObject *shot)
{
	return shot != NULL ? json_object_get_string_member_with_default(shot, "png_b64", NULL)
	                    : NULL;
}

JsonArray *alk_api_tool_anthropic_content(const char *verb, JsonObject *result)
{
	JsonArray *content = json_array_new();
	JsonArray *results = json_object_get_array_member(result, "results");
	JsonObject *first =
	    json_array_get_length(results) > 0 ? json_array_get_object_element(results, 0) : NULL;
	JsonNode *final = json_object_get_member(result, "screenshot");
	const char *b64 = NULL;

	if (strcmp(verb, "cursor_position") == 0 && first != NULL) {
		JsonNode *x = json_object_get_member(first, "x");
		g_autofree char *text =
		    x == NULL || JSON_NODE_HOLDS_NULL(x)
		        ? g_strdup(
		              "the cursor position is not known yet (no pointer action so far)")
		        : g_strdup_printf("X=%" G_GINT64_FORMAT ",Y=%" G_GINT64_FORMAT,
		                          json_object_get_int_member(first, "x"),
		                          json_object_get_int_member(first, "y"));
		json_array_add_object_element(content, alk_api_tool_text(text));
		return content;
	}
	if (strcmp(verb, "zoom") == 0 && first != NULL &&
	    json_object_has_member(first, "screenshot"))
		b64 = shot_b64(json_object_get_object_member(first, "screenshot"));
	else if (final != NULL && JSON_NODE_HOLDS_OBJECT(final))
		b64 = shot_b64(json_node_get_object(final));
	if (b64 != NULL)
		json_array_add_object_element(content, alk_api_tool_image(b64));
	else
		json_array_add_object_element(content, alk_api_tool_text("done"));
	return content;
}

static void run_done(JsonObject *result, const GError *error, gpointer data)
{
	AlkApiToolCall *call = data;
	g_autoptr(JsonArray) content = NULL;

	call->run = NULL;
	call->ending = TRUE;
	content = error != NULL ? error_content(error)
	                        : alk_api_tool_anthropic_content(call->verb, result);
	call->done(content, error != NULL, call->data);
	call_free(call);
}

/* the model's space of the sandbox's display */
static gboolean space_of(AlkApi *api, const char *sandbox_id, guint *w, guint *h, GError **error)
{
	const AlkSandbox *sb = alk_manager_lookup(api->manager, sandbox_id, error);

	if (sb == NULL)
		return FALSE;
	if (sb->limits.display_width == 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_CONFLICT,
		            "sandbox %s has no display (create it with display: {width, height})",
		            sandbox_id);
		return FALSE;
	}
	alk_api_tool_computer_space(sb->limits.display_width, sb->limits.display_height, w, h);
	return TRUE;
}

AlkApiToolCall *alk_api_tool_anthropic_computer(AlkApi *api, const char *sandbox_id,
                                                JsonObject *input, const char *actor,
                                                AlkApiToolDone done, gpointer data)
{
	AlkApiToolCall *call = g_new0(AlkApiToolCall, 1);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) batch = NULL;
	g_autofree char *tool = NULL;
	const char *verb = NULL;
	guint w = 0, h = 0;

	call->done = done;
	call->data = data;
	if (space_of(api, sandbox_id, &w, &h, &error))
		batch = alk_api_tool_anthropic_batch(input, w, h, &verb, &error);
	if (batch == NULL) {
		g_prefix_error(&error, "computer: ");
		call->early = error_content(error);
		call->idle = g_idle_add(early_done, call);
		return call;
	}
	call->verb = g_strdup(verb);
	tool = g_strconcat("anthropic.computer:", verb, NULL);
	call->run = alk_api_computer_run_tool(api, sandbox_id, batch, actor, tool, run_done, call);
	return call;
}

void alk_api_tool_call_cancel(AlkApiToolCall *call)
{
	if (call == NULL || call->ending)
		return;
	alk_api_computer_run_cancel(call->run);
	call_free(call);
}

JsonObject *alk_api_tool_anthropic_computer_definition(AlkApi *api, const char *sandbox_id,
                                                       const char *version, GError **error)
{
	JsonObject *o;
	guint w = 0, h = 0;

	if (g_strcmp0(version, "computer_20250124") != 0 &&
	    g_strcmp0(version, "computer_20251124") != 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "computer tool version: computer_20250124 or computer_20251124");
		return NULL;
	}
	if (!space_of(api, sandbox_id, &w, &h, error))
		return NULL;
	o = json_object_new();
	json_object_set_string_member(o, "type", version);
	json_object_set_string_member(o, "name", "computer");
	json_object_set_int_member(o, "display_width_px", w);
	json_object_set_int_member(o, "display_height_px", h);
	if (strcmp(version, "computer_20251124") == 0)
		json_object_set_boolean_member(o, "enable_zoom", TRUE);
	return o;
}
