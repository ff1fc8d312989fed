/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* POST /v1/sandboxes/{id}/tools/openai?width=&height=: an OpenAI
 * computer_call item (one action, or an actions list) run through the
 * batch runner of alk-api-computer.c, answered with the
 * computer_call_output item and its computer_screenshot data URL.
 * Coordinates are the real screen's, or the width x height space the
 * caller declared to the model (the query: screenshots are scaled to it
 * and points mapped back). Pending safety checks are the caller's to
 * acknowledge: a call whose pending checks are not all in its own
 * acknowledged_safety_checks is refused (409) with nothing sent, and only
 * what the caller acknowledged is passed back; airlock never acknowledges
 * anything itself. */
#include <string.h>

#include "alk-api-computer.h"
#include "alk-api-tools.h"
#include "alk-error.h"
#include "alk-json.h"

#define CALL_ID_MAX 256
#define CHECKS_MAX 16
#define CHECK_FIELD_MAX 4096
#define KEYS_MAX 8
#define WAIT_DEFAULT_MS 1000
#define SCROLL_PX_PER_STEP 100 /* pixels a wheel step stands for */

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

/* ---- keys ------------------------------------------------------------------------------------ */

/* An OpenAI key name (ENTER, CTRL, ARROWLEFT, ESC, CMD, A, /, ...) as a
 * chord part of alk-input's (case does not matter there); NULL: no key. */
const char *alk_api_tool_openai_key(const char *name, char buf[2])
{
	static const char *const aliases[][2] = {
	    {"PRINTSCREEN", "Print"}, {"SPACEBAR", "space"}, {"CONTROL", "ctrl"},
	    {"COMMAND", "cmd"},       {"OPTION", "alt"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(aliases); i++) {
		if (g_ascii_strcasecmp(name, aliases[i][0]) == 0)
			return aliases[i][1];
	}
	if (strcmp(name, "+") == 0)
		return "+"; /* a chord's last key only (alk_input_chord's "ctrl++") */
	if (name[0] != '\0' && name[1] == '\0') {
		/* one character: the key itself, never shifted ("A" in a chord
		 * with CTRL is ctrl+a) */
		buf[0] = g_ascii_tolower(name[0]);
		buf[1] = '\0';
		name = buf;
	}
	if (strchr(name, '+') != NULL || alk_input_key(name) == NULL)
		return NULL;
	return name;
}

/* keys ["CTRL", "A"] as "ctrl+a" */
static char *chord(JsonArray *keys, GError **error)
{
	g_autoptr(GString) out = g_string_new(NULL);
	guint n = keys != NULL ? json_array_get_length(keys) : 0;

	if (n == 0 || n > KEYS_MAX) {
		invalid(error, "keys must be an array of 1..%d key names", KEYS_MAX);
		return NULL;
	}
	for (guint i = 0; i < n; i++) {
		JsonNode *k = json_array_get_element(keys, i);
		const char *name =
		    JSON_NODE_HOLDS_VALUE(k) && json_node_get_value_type(k) == G_TYPE_STRING
		        ? json_node_get_string(k)
		        : NULL;
		char buf[2];
		const char *key =
		    name != NULL && strlen(name) <= 32 ? alk_api_tool_openai_key(name, buf) : NULL;
		if (key != NULL && strcmp(key, "+") == 0 && i + 1 < n)
			key = NULL; /* "+" only ends a chord */
		if (key == NULL) {
			g_autofree char *shown = name != NULL ? g_strndup(name, 32) : NULL;
			invalid(error, "keys: '%s' is not a key",
			        shown != NULL ? shown : "(not a string)");
			return NULL;
		}
		g_string_append_printf(out, "%s%s", i > 0 ? "+" : "", key);
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

/* ---- one action ------------------------------------------------------------------------------ */

typedef struct {
	char *type;
	gint64 x, y;
	gboolean has_x, has_y;
	char *button;
	JsonArray *keys;
	JsonArray *path;
	gint64 scroll_x, scroll_y;
	char *text;
	guint64 ms;
} Act;

#define O(m) G_STRUCT_OFFSET(Act, m)
static const AlkJsonField act_fields[] = {
    {"type", ALK_JSON_STRING, O(type), TRUE, 1, 32, 0},
    {"x", ALK_JSON_INT, O(x), FALSE, G_MININT32, G_MAXINT32, 0},
    {"y", ALK_JSON_INT, O(y), FALSE, G_MININT32, G_MAXINT32, 0},
    {"button", ALK_JSON_STRING, O(button), FALSE, 1, 16, 0},
    {"keys", ALK_JSON_ARRAY, O(keys), FALSE, 0, KEYS_MAX, 0},
    {"path", ALK_JSON_ARRAY, O(path), FALSE, 2, 256, 0},
    {"scroll_x", ALK_JSON_INT, O(scroll_x), FALSE, -1000000, 1000000, 0},
    {"scroll_y", ALK_JSON_INT, O(scroll_y), FALSE, -1000000, 1000000, 0},
    {"text", ALK_JSON_STRING, O(text), FALSE, 0, ALK_API_COMPUTER_TEXT_MAX, 0},
    {"ms", ALK_JSON_UINT, O(ms), FALSE, 0, ALK_API_COMPUTER_WAIT_MAX_MS, 0},
    {NULL, 0, 0, FALSE, 0, 0, 0},
};
#undef O

/* which members each action takes, besides type */
static const struct {
	const char *type;
	const char *members; /* space separated; x and y are required when named */
} acts[] = {
    {"click", "x y button keys"},
    {"double_click", "x y keys"},
    {"drag", "path keys"},
    {"keypress", "keys"},
    {"move", "x y keys"},
    {"scroll", "x y scroll_x scroll_y keys"},
    {"type", "text"},
    {"wait", "ms"},
    {"screenshot", ""},
};

static gboolean takes(const char *members, const char *name)
{
	g_auto(GStrv) m = g_strsplit(members, " ", -1);
	return g_strv_contains((const char *const *)m, name);
}

/* pixels to wheel steps: any movement at least one, away from zero */
static gint64 steps(gint64 px)
{
	if (px == 0)
		return 0;
	return (px > 0 ? 1 : -1) * ((ABS(px) + SCROLL_PX_PER_STEP - 1) / SCROLL_PX_PER_STEP);
}

/* held keys of a click, move, scroll or drag: ["SHIFT"] */
static JsonArray *hold_of(JsonArray *keys, GError **error)
{
	JsonArray *hold = json_array_new();
	g_autofree char *c = chord(keys, error);
	g_auto(GStrv) parts = NULL;

	if (c == NULL) {
		json_array_unref(hold);
		return NULL;
	}
	parts = g_strsplit(c, "+", -1);
	for (guint i = 0; parts[i] != NULL; i++)
		json_array_add_string_element(hold, parts[i]);
	return hold;
}

static gboolean add_action(JsonArray *actions, JsonNode *node, GString *label, GError **error)
{
	JsonObject *in =
	    node != NULL && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
	Act a = {0};
	const char *members = NULL;
	JsonObject *o = NULL;
	gboolean ok = FALSE;

	if (in == NULL)
		return invalid(error, "an action must be an object");
	if (!alk_json_read_object(in, act_fields, &a, error))
		return FALSE;
	for (guint i = 0; i < G_N_ELEMENTS(acts); i++) {
		if (strcmp(acts[i].type, a.type) == 0)
			members = acts[i].members;
	}
	if (members == NULL) {
		invalid(error,
		        "unknown action type '%s' (click, double_click, drag, keypress, move, "
		        "scroll, type, wait, screenshot)",
		        a.type);
		goto out;
	}
	for (guint i = 0; act_fields[i].name != NULL; i++) {
		const char *f = act_fields[i].name;
		if (strcmp(f, "type") == 0)
			continue;
		if (json_object_has_member(in, f) && !takes(members, f)) {
			invalid(error, "%s: '%s' is not one of its members", a.type, f);
			goto out;
		}
		if ((strcmp(f, "x") == 0 || strcmp(f, "y") == 0 ||
		     (strcmp(f, "keys") == 0 && strcmp(a.type, "keypress") == 0) ||
		     (strcmp(f, "text") == 0) || strcmp(f, "path") == 0) &&
		    takes(members, f) && !json_object_has_member(in, f)) {
			invalid(error, "%s: '%s' is required", a.type, f);
			goto out;
		}
	}
	g_string_append_printf(label, "%s%s", label->len > 0 ? "," : "", a.type);
	if (strcmp(a.type, "screenshot") == 0) {
		ok = TRUE; /* the answer always is one */
		goto out;
	}
	o = json_object_new();
	if (takes(members, "x")) {
		json_object_set_int_member(o, "x", a.x);
		json_object_set_int_member(o, "y", a.y);
	}
	if (a.keys != NULL && strcmp(a.type, "keypress") != 0) {
		JsonArray *hold = hold_of(a.keys, error);
		if (hold == NULL)
			goto out;
		json_object_set_array_member(o, "hold", hold);
	}
	if (strcmp(a.type, "click") == 0 || strcmp(a.type, "double_click") == 0) {
		static const char *const buttons[][2] = {{"left", "left"},
		                                         {"right", "right"},
		                                         {"wheel", "middle"},
		                                         {"back", "back"},
		                                         {"forward", "forward"}};
		const char *b = NULL;
		for (guint i = 0; i < G_N_ELEMENTS(buttons); i++) {
			if (strcmp(a.button != NULL ? a.button : "left", buttons[i][0]) == 0)
				b = buttons[i][1];
		}
		if (b == NULL) {
			invalid(error, "click: button must be left, right, wheel, back or forward");
			goto out;
		}
		json_object_set_string_member(o, "action", "click");
		json_object_set_string_member(o, "button", b);
		if (strcmp(a.type, "double_click") == 0)
			json_object_set_int_member(o, "count", 2);
	} else if (strcmp(a.type, "drag") == 0) {
		JsonArray *path = json_array_new();
		json_object_set_string_member(o, "action", "drag");
		json_object_set_array_member(o, "path", path);
		for (guint i = 0; i < json_array_get_length(a.path); i++) {
			JsonNode *p = json_array_get_element(a.path, i);
			JsonObject *po = JSON_NODE_HOLDS_OBJECT(p) ? json_node_get_object(p) : NULL;
			JsonNode *px = po != NULL ? json_object_get_member(po, "x") : NULL;
			JsonNode *py = po != NULL ? json_object_get_member(po, "y") : NULL;
			JsonArray *xy;
			if (px == NULL || py == NULL || json_object_get_size(po) != 2 ||
			    !JSON_NODE_HOLDS_VALUE(px) || !JSON_NODE_HOLDS_VALUE(py) ||
			    json_node_get_value_type(px) != G_TYPE_INT64 ||
			    json_node_get_value_type(py) != G_TYPE_INT64) {
				invalid(error, "drag: path point %u is not {x, y} in integers", i);
				goto out;
			}
			xy = json_array_new();
			json_array_add_int_element(xy, json_node_get_int(px));
			json_array_add_int_element(xy, json_node_get_int(py));
			json_array_add_array_element(path, xy);
		}
	} else if (strcmp(a.type, "keypress") == 0) {
		g_autofree char *c = chord(a.keys, error);
		if (c == NULL)
			goto out;
		json_object_set_string_member(o, "action", "key");
		json_object_set_string_member(o, "keys", c);
	} else if (strcmp(a.type, "move") == 0) {
		json_object_set_string_member(o, "action", "move");
	} else if (strcmp(a.type, "scroll") == 0) {
		gint64 dx = steps(a.scroll_x), dy = steps(a.scroll_y);
		if (ABS(dx) > ALK_API_COMPUTER_SCROLL_MAX ||
		    ABS(dy) > ALK_API_COMPUTER_SCROLL_MAX) {
			invalid(error, "scroll: at most %d pixels each way",
			        ALK_API_COMPUTER_SCROLL_MAX * SCROLL_PX_PER_STEP);
			goto out;
		}
		json_object_set_string_member(o, "action", dx == 0 && dy == 0 ? "move" : "scroll");
		if (dx != 0)
			json_object_set_int_member(o, "dx", dx);
		if (dy != 0)
			json_object_set_int_member(o, "dy", dy);
	} else if (strcmp(a.type, "type") == 0) {
		if (a.text[0] == '\0') {
			invalid(error, "type: text is empty");
			goto out;
		}
		json_object_set_string_member(o, "action", "type");
		json_object_set_string_member(o, "text", a.text);
	} else if (strcmp(a.type, "wait") == 0) {
		json_object_set_string_member(o, "action", "wait");
		json_object_set_int_member(
		    o, "ms", json_object_has_member(in, "ms") ? (gint64)a.ms : WAIT_DEFAULT_MS);
	}
	json_array_add_object_element(actions, g_steal_pointer(&o));
	ok = TRUE;
out:
	if (o != NULL)
		json_object_unref(o);
	alk_json_fields_clear(act_fields, &a);
	return ok;
}

/* ---- the item -------------------------------------------------------------------------------- */

typedef struct {
	char *type;
	char *id;
	char *call_id;
	JsonObject *action;
	JsonArray *actions;
	JsonArray *pending;
	JsonArray *acknowledged;
	char *status;
} Item;

#define T(m) G_STRUCT_OFFSET(Item, m)
static const AlkJsonField item_fields[] = {
    {"type", ALK_JSON_STRING, T(type), TRUE, 1, 32, 0},
    {"id", ALK_JSON_STRING, T(id), FALSE, 0, CALL_ID_MAX, 0},
    {"call_id", ALK_JSON_STRING, T(call_id), TRUE, 1, CALL_ID_MAX, 0},
    {"action", ALK_JSON_OBJECT, T(action), FALSE, 0, 0, 0},
    {"actions", ALK_JSON_ARRAY, T(actions), FALSE, 1, ALK_API_COMPUTER_ACTIONS_MAX, 0},
    {"pending_safety_checks", ALK_JSON_ARRAY, T(pending), FALSE, 0, CHECKS_MAX, 0},
    {"acknowledged_safety_checks", ALK_JSON_ARRAY, T(acknowledged), FALSE, 0, CHECKS_MAX, 0},
    {"status", ALK_JSON_STRING, T(status), FALSE, 0, 32, 0},
    {NULL, 0, 0, FALSE, 0, 0, 0},
};
#undef T

typedef struct {
	char *id, *code, *message;
} Check;
#define K(m) G_STRUCT_OFFSET(Check, m)
static const AlkJsonField check_fields[] = {
    {"id", ALK_JSON_STRING, K(id), TRUE, 1, CALL_ID_MAX, 0},
    {"code", ALK_JSON_STRING, K(code), FALSE, 0, CHECK_FIELD_MAX, 0},
    {"message", ALK_JSON_STRING, K(message), FALSE, 0, CHECK_FIELD_MAX, 0},
    {NULL, 0, 0, FALSE, 0, 0, 0},
};
#undef K

/* the ids of a safety check list, each {id, code, message} */
static GPtrArray *check_ids(JsonArray *checks, const char *what, GError **error)
{
	g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; checks != NULL && i < json_array_get_length(checks); i++) {
		JsonNode *n = json_array_get_element(checks, i);
		Check c = {0};
		if (!JSON_NODE_HOLDS_OBJECT(n) ||
		    !alk_json_read_object(json_node_get_object(n), check_fields, &c, error)) {
			g_clear_error(error);
			invalid(error, "%s: item %u is not a safety check {id, code, message}",
			        what, i);
			return NULL;
		}
		g_ptr_array_add(ids, g_steal_pointer(&c.id));
		alk_json_fields_clear(check_fields, &c);
	}
	return g_steal_pointer(&ids);
}

static gboolean has_id(GPtrArray *ids, const char *id)
{
	for (guint i = 0; i < ids->len; i++) {
		if (strcmp(g_ptr_array_index(ids, i), id) == 0)
			return TRUE;
	}
	return FALSE;
}

JsonObject *alk_api_tool_openai_batch(JsonObject *item, guint space_w, guint space_h,
                                      char **call_id, JsonArray **acknowledged, char **label,
                                      GError **error)
{
	Item it = {0};
	g_autoptr(JsonObject) batch = json_object_new();
	g_autoptr(GString) names = g_string_new(NULL);
	g_autoptr(GPtrArray) pending = NULL;
	g_autoptr(GPtrArray) acked = NULL;
	JsonArray *actions = json_array_new();
	gboolean ok = FALSE;

	json_object_set_array_member(batch, "actions", actions);
	if (!alk_json_read_object(item, item_fields, &it, error))
		goto out;
	if (strcmp(it.type, "computer_call") != 0) {
		invalid(error, "type must be computer_call, not '%.32s'", it.type);
		goto out;
	}
	if ((it.action == NULL) == (it.actions == NULL)) {
		invalid(error, "give exactly one of action and actions");
		goto out;
	}
	if ((pending = check_ids(it.pending, "pending_safety_checks", error)) == NULL ||
	    (acked = check_ids(it.acknowledged, "acknowledged_safety_checks", error)) == NULL)
		goto out;
	for (guint i = 0; i < pending->len; i++) {
		if (!has_id(acked, g_ptr_array_index(pending, i))) {
			g_set_error(
			    error, ALK_ERROR, ALK_ERROR_CONFLICT,
			    "pending safety check '%s' is not acknowledged: airlock never "
			    "acknowledges a check itself; confirm it with the user and send it "
			    "in acknowledged_safety_checks",
			    (const char *)g_ptr_array_index(pending, i));
			goto out;
		}
	}
	if (it.action != NULL) {
		g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), it.action);
		if (!add_action(actions, n, names, error))
			goto out;
	}
	for (guint i = 0; it.actions != NULL && i < json_array_get_length(it.actions); i++) {
		if (!add_action(actions, json_array_get_element(it.actions, i), names, error)) {
			g_prefix_error(error, "actions[%u]: ", i);
			goto out;
		}
	}
	json_object_set_boolean_member(batch, "screenshot", TRUE);
	if (space_w != 0) {
		JsonObject *scale = json_object_new();
		json_object_set_int_member(scale, "width", space_w);
		json_object_set_int_member(scale, "height", space_h);
		json_object_set_object_member(batch, "scale_to", scale);
	}
	*call_id = g_strdup(it.call_id);
	*acknowledged = it.acknowledged != NULL ? json_array_ref(it.acknowledged) : NULL;
	*label = g_strconcat("openai.computer_call:", names->str, NULL);
	ok = TRUE;
out:
	alk_json_fields_clear(item_fields, &it);
	return ok ? json_object_ref(batch) : NULL;
}

/* ---- the request ----------------------------------------------------------------------------- */

typedef struct {
	AlkApiReq *req;
	AlkApiComputerRun *run;
	char *call_id;
	JsonArray *acknowledged; /* the caller's, passed back */
} Post;

static void post_free(Post *p)
{
	g_free(p->call_id);
	if (p->acknowledged != NULL)
		json_array_unref(p->acknowledged);
	g_free(p);
}

static void post_done(JsonObject *result, const GError *error, gpointer data)
{
	Post *p = data;
	AlkApiReq *req = p->req;
	g_autoptr(JsonBuilder) b = NULL;
	JsonNode *shot;
	const char *b64;
	g_autofree char *url = NULL;

	alk_api_req_detach(req);
	if (error != NULL) {
		alk_api_reply_error(req, error);
		post_free(p);
		return;
	}
	shot = json_object_get_member(result, "screenshot");
	b64 = JSON_NODE_HOLDS_OBJECT(shot)
	          ? json_object_get_string_member(json_node_get_object(shot), "png_b64")
	          : "";
	url = g_strconcat("data:image/png;base64,", b64, NULL);
	b = json_builder_new();
	json_builder_begin_object(b);
	alk_json_add_string(b, "type", "computer_call_output");
	alk_json_add_string(b, "call_id", p->call_id);
	json_builder_set_member_name(b, "output");
	json_builder_begin_object(b);
	alk_json_add_string(b, "type", "computer_screenshot");
	alk_json_add_string(b, "image_url", url);
	json_builder_end_object(b);
	if (p->acknowledged != NULL) {
		json_builder_set_member_name(b, "acknowledged_safety_checks");
		json_builder_add_value(b, json_node_init_array(json_node_alloc(), p->acknowledged));
	}
	json_builder_end_object(b);
	alk_api_reply_builder(req, SOUP_STATUS_OK, b);
	post_free(p);
}

static void on_abort(AlkApiReq *req, gpointer data)
{
	Post *p = data;
	g_autoptr(GError) error =
	    g_error_new(ALK_ERROR, ALK_ERROR_UNAVAILABLE, "%s",
	                req->aborted ? "the client left" : "airlockd is stopping");

	alk_api_req_detach(req);
	alk_api_computer_run_cancel(p->run);
	post_free(p);
	if (req->aborted)
		alk_api_req_release(req);
	else
		alk_api_reply_error(req, error);
}

static const AlkApiReqHooks openai_hooks = {.abort = on_abort};

void alk_api_tools_openai_post(AlkApiReq *req)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) obj = alk_api_req_json(req, &error);
	g_autoptr(JsonObject) batch = NULL;
	g_autofree char *label = NULL;
	guint w = 0, h = 0;
	Post *p;

	if (obj == NULL || !alk_api_screen_side(alk_api_query(req, "width"), "width", &w, &error) ||
	    !alk_api_screen_side(alk_api_query(req, "height"), "height", &h, &error)) {
		alk_api_reply_error(req, error);
		return;
	}
	if ((w == 0) != (h == 0)) {
		error = g_error_new(ALK_ERROR, ALK_ERROR_INVALID, "width and height go together");
		alk_api_reply_error(req, error);
		return;
	}
	p = g_new0(Post, 1);
	p->req = req;
	if (alk_api_req_sandbox(req, &error) == NULL ||
	    (batch = alk_api_tool_openai_batch(obj, w, h, &p->call_id, &p->acknowledged, &label,
	                                       &error)) == NULL) {
		post_free(p);
		alk_api_reply_error(req, error);
		return;
	}
	alk_api_req_hold(req);
	p->run = alk_api_computer_run_tool(req->api, req->id, batch,
	                                   req->caller != NULL ? req->caller : req->conn->peer,
	                                   label, post_done, p);
	alk_api_req_attach(req, p, NULL, &openai_hooks);
}
