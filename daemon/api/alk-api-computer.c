/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* POST /v1/sandboxes/{id}/computer {actions:[…], screenshot, scale_to}:
 * keyboard and pointer at the hypervisor. The whole batch is read and
 * planned (a screenshot first tells the real screen's size) before anything
 * is injected, so a malformed action, an unknown key, an off-screen point
 * or oversize text is a 400 with nothing sent. The plan is a list of steps
 * (one input-send-event call, a pause, a screenshot, the cursor), run one
 * at a time; a press and its release are always separate calls. The
 * runner (alk-api-computer.h) belongs to no request: POST /computer, the
 * MCP computer tool and the models' tool calls each start one and answer
 * their own way. */
#include <string.h>

#include "alk-api-computer.h"
#include "alk-error.h"
#include "alk-json.h"

#define ACTIONS_MAX ALK_API_COMPUTER_ACTIONS_MAX
#define TEXT_MAX ALK_API_COMPUTER_TEXT_MAX
#define PATH_POINTS_MAX 256 /* of one drag */
#define WAIT_MAX_MS ALK_API_COMPUTER_WAIT_MAX_MS
#define BATCH_PAUSE_MAX_MS 120000 /* waits and typing delays of a batch */
#define TYPE_DELAY_MS 8           /* between typed characters, unless asked */
#define TYPE_DELAY_MAX_MS 1000
#define CLICKS_MAX 3
#define SCROLL_MAX ALK_API_COMPUTER_SCROLL_MAX
#define HOLD_MAX 4
#define STEPS_MAX 20000 /* injections and pauses of a batch: its plan's memory */
#define ABSENT G_MININT64
G_STATIC_ASSERT(HOLD_MAX <= ALK_INPUT_CHORD_MAX && ALK_INPUT_CHORD_MAX <= ALK_INPUT_BATCH_MAX);

/* ---- the actions as read ---------------------------------------------------------------- */

typedef struct {
	char *action;
	gint64 x, y;
	char *button;
	guint64 count;
	char **hold;
	gint64 dx, dy;
	char *keys;
	char *text;
	guint64 delay_ms;
	guint64 ms;
	JsonObject *region;
} Action;

#define A(f) G_STRUCT_OFFSET(Action, f)
#define F_ACTION                                                                                   \
	{                                                                                          \
		"action", ALK_JSON_STRING, A(action), TRUE, 1, 32, 0                               \
	}
#define F_X                                                                                        \
	{                                                                                          \
		"x", ALK_JSON_INT, A(x), FALSE, G_MININT32, G_MAXINT32, 0                          \
	}
#define F_Y                                                                                        \
	{                                                                                          \
		"y", ALK_JSON_INT, A(y), FALSE, G_MININT32, G_MAXINT32, 0                          \
	}
#define F_BUTTON                                                                                   \
	{                                                                                          \
		"button", ALK_JSON_STRING, A(button), FALSE, 1, 16, 0                              \
	}
#define F_HOLD                                                                                     \
	{                                                                                          \
		"hold", ALK_JSON_STRING_ARRAY, A(hold), FALSE, 0, HOLD_MAX, 32                     \
	}
#define F_KEYS                                                                                     \
	{                                                                                          \
		"keys", ALK_JSON_STRING, A(keys), TRUE, 1, 128, 0                                  \
	}
#define F_END                                                                                      \
	{                                                                                          \
		NULL, 0, 0, FALSE, 0, 0, 0                                                         \
	}
static const AlkJsonField move_fields[] = {F_ACTION, F_X, F_Y, F_END};
static const AlkJsonField click_fields[] = {
    F_ACTION, F_X,    F_Y,
    F_BUTTON, F_HOLD, {"count", ALK_JSON_UINT, A(count), FALSE, 1, CLICKS_MAX, 0},
    F_END};
static const AlkJsonField button_fields[] = {F_ACTION, F_X, F_Y, F_BUTTON, F_END};
static const AlkJsonField drag_fields[] = {F_ACTION, F_BUTTON, F_HOLD, F_END}; /* + path */
static const AlkJsonField scroll_fields[] = {
    F_ACTION,
    F_X,
    F_Y,
    F_HOLD,
    {"dx", ALK_JSON_INT, A(dx), FALSE, -SCROLL_MAX, SCROLL_MAX, 0},
    {"dy", ALK_JSON_INT, A(dy), FALSE, -SCROLL_MAX, SCROLL_MAX, 0},
    F_END};
static const AlkJsonField key_fields[] = {F_ACTION, F_KEYS, F_END};
static const AlkJsonField type_fields[] = {
    F_ACTION,
    {"text", ALK_JSON_STRING, A(text), TRUE, 1, TEXT_MAX, 0},
    {"delay_ms", ALK_JSON_UINT, A(delay_ms), FALSE, 0, TYPE_DELAY_MAX_MS, 0},
    F_END};
static const AlkJsonField wait_fields[] = {
    F_ACTION, {"ms", ALK_JSON_UINT, A(ms), TRUE, 0, WAIT_MAX_MS, 0}, F_END};
static const AlkJsonField shot_fields[] = {
    F_ACTION, {"region", ALK_JSON_OBJECT, A(region), FALSE, 0, 0, 0}, F_END};
static const AlkJsonField cursor_fields[] = {F_ACTION, F_END};
#undef A

typedef enum {
	A_MOVE,
	A_CLICK,
	A_BUTTON_DOWN,
	A_BUTTON_UP,
	A_DRAG,
	A_SCROLL,
	A_KEY,
	A_KEY_DOWN,
	A_KEY_UP,
	A_TYPE,
	A_WAIT,
	A_SCREENSHOT,
	A_CURSOR,
} Kind;

static const struct {
	const char *name;
	const AlkJsonField *fields;
} kinds[] = {
    [A_MOVE] = {"move", move_fields},
    [A_CLICK] = {"click", click_fields},
    [A_BUTTON_DOWN] = {"button_down", button_fields},
    [A_BUTTON_UP] = {"button_up", button_fields},
    [A_DRAG] = {"drag", drag_fields},
    [A_SCROLL] = {"scroll", scroll_fields},
    [A_KEY] = {"key", key_fields},
    [A_KEY_DOWN] = {"key_down", key_fields},
    [A_KEY_UP] = {"key_up", key_fields},
    [A_TYPE] = {"type", type_fields},
    [A_WAIT] = {"wait", wait_fields},
    [A_SCREENSHOT] = {"screenshot", shot_fields},
    [A_CURSOR] = {"cursor_position", cursor_fields},
};

typedef struct {
	gint64 x, y, w, h;
} Region;

typedef struct {
	Kind kind;
	Action a;     /* a.region is borrowed from the body: read into region at once */
	GArray *path; /* drag: gint64 x, y, x, y, ... */
	gboolean has_region;
	Region region;
} Read;

#define RG(f) G_STRUCT_OFFSET(Region, f)
static const AlkJsonField region_fields[] = {
    {"x", ALK_JSON_INT, RG(x), TRUE, 0, G_MAXINT32, 0},
    {"y", ALK_JSON_INT, RG(y), TRUE, 0, G_MAXINT32, 0},
    {"width", ALK_JSON_INT, RG(w), TRUE, 1, G_MAXINT32, 0},
    {"height", ALK_JSON_INT, RG(h), TRUE, 1, G_MAXINT32, 0},
    {NULL, 0, 0, FALSE, 0, 0, 0},
};
#undef RG

static void read_clear(Read *r)
{
	alk_json_fields_clear(kinds[r->kind].fields, &r->a);
	g_clear_pointer(&r->path, g_array_unref);
}

/* a drag's path: [[x, y], …], 2..PATH_POINTS_MAX points */
static GArray *read_path(JsonNode *node, GError **error)
{
	JsonArray *arr =
	    node != NULL && JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
	guint n = arr != NULL ? json_array_get_length(arr) : 0;
	g_autoptr(GArray) out = g_array_new(FALSE, FALSE, sizeof(gint64));

	if (n < 2 || n > PATH_POINTS_MAX) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "field 'path' must be an array of 2..%d [x, y] points",
		            PATH_POINTS_MAX);
		return NULL;
	}
	for (guint i = 0; i < n; i++) {
		JsonNode *p = json_array_get_element(arr, i);
		JsonArray *xy = JSON_NODE_HOLDS_ARRAY(p) ? json_node_get_array(p) : NULL;
		for (guint k = 0; k < 2; k++) {
			JsonNode *v = xy != NULL && json_array_get_length(xy) == 2
			                  ? json_array_get_element(xy, k)
			                  : NULL;
			gint64 c;
			if (v == NULL || !JSON_NODE_HOLDS_VALUE(v) ||
			    json_node_get_value_type(v) != G_TYPE_INT64) {
				g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
				            "field 'path': point %u is not [x, y] in integers", i);
				return NULL;
			}
			c = json_node_get_int(v);
			g_array_append_val(out, c);
		}
	}
	return g_steal_pointer(&out);
}

static gboolean read_kind(JsonObject *obj, Kind *kind, GError **error)
{
	JsonNode *n = json_object_get_member(obj, "action");
	const char *name =
	    n != NULL && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
	        ? json_node_get_string(n)
	        : NULL;

	for (guint i = 0; name != NULL && i < G_N_ELEMENTS(kinds); i++) {
		if (strcmp(name, kinds[i].name) == 0) {
			*kind = (Kind)i;
			return TRUE;
		}
	}
	g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
	            "field 'action' must be one of move, click, button_down, button_up, drag, "
	            "scroll, key, key_down, key_up, type, wait, screenshot, cursor_position");
	return FALSE;
}

static gboolean read_action(JsonNode *node, Read *r, GError **error)
{
	JsonObject *obj = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
	g_autoptr(JsonObject) copy = NULL;

	memset(r, 0, sizeof *r);
	r->a.x = r->a.y = ABSENT;
	if (obj == NULL) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "an action must be an object");
		return FALSE;
	}
	if (!read_kind(obj, &r->kind, error))
		return FALSE;
	if (r->kind == A_DRAG) {
		/* the table reads the rest; path is not a table type */
		r->path = read_path(json_object_get_member(obj, "path"), error);
		if (r->path == NULL)
			return FALSE;
		copy = json_object_new();
		for (GList *l = json_object_get_members(obj), *m = l; m != NULL; m = m->next) {
			if (strcmp(m->data, "path") != 0)
				json_object_set_member(
				    copy, m->data,
				    json_node_copy(json_object_get_member(obj, m->data)));
			if (m->next == NULL)
				g_list_free(l);
		}
		obj = copy;
	}
	if (!alk_json_read_object(obj, kinds[r->kind].fields, &r->a, error)) {
		read_clear(r);
		return FALSE;
	}
	if (r->a.region != NULL) {
		gboolean ok = alk_json_read_object(r->a.region, region_fields, &r->region, error);
		r->a.region = NULL; /* the body goes before the plan is made */
		r->has_region = TRUE;
		if (!ok) {
			g_prefix_error(error, "region: ");
			read_clear(r);
			return FALSE;
		}
	}
	if ((r->a.x == ABSENT) != (r->a.y == ABSENT)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "x and y go together");
		read_clear(r);
		return FALSE;
	}
	return TRUE;
}

/* ---- the schema of the actions, from the same tables ------------------------------------- */

static void schema_range(JsonBuilder *b, const char *lo, const char *hi, gint64 min, gint64 max)
{
	alk_json_add_int(b, lo, min);
	alk_json_add_int(b, hi, max);
}

static void schema_field(JsonBuilder *b, const AlkJsonField *f, const char *kind)
{
	json_builder_set_member_name(b, f->name);
	json_builder_begin_object(b);
	if (strcmp(f->name, "action") == 0) {
		alk_json_add_string(b, "const", kind);
	} else if (f->type == ALK_JSON_STRING) {
		alk_json_add_string(b, "type", "string");
		schema_range(b, "minLength", "maxLength", f->min, f->max);
	} else if (f->type == ALK_JSON_INT || f->type == ALK_JSON_UINT) {
		alk_json_add_string(b, "type", "integer");
		schema_range(b, "minimum", "maximum", f->min, f->max);
	} else if (f->type == ALK_JSON_STRING_ARRAY) {
		alk_json_add_string(b, "type", "array");
		schema_range(b, "minItems", "maxItems", f->min, f->max);
		json_builder_set_member_name(b, "items");
		json_builder_begin_object(b);
		alk_json_add_string(b, "type", "string");
		alk_json_add_int(b, "maxLength", (gint64)f->item_max);
		json_builder_end_object(b);
	} else if (f->type == ALK_JSON_OBJECT) {
		/* the one object of an action: a screenshot's region */
		alk_json_add_string(b, "type", "object");
		json_builder_set_member_name(b, "properties");
		json_builder_begin_object(b);
		for (const AlkJsonField *r = region_fields; r->name != NULL; r++)
			schema_field(b, r, kind);
		json_builder_end_object(b);
		alk_json_add_strv(b, "required",
		                  (const char *const[]){"x", "y", "width", "height", NULL});
		alk_json_add_bool(b, "additionalProperties", FALSE);
	}
	json_builder_end_object(b);
}

static void schema_path(JsonBuilder *b)
{
	json_builder_set_member_name(b, "path");
	json_builder_begin_object(b);
	alk_json_add_string(b, "type", "array");
	schema_range(b, "minItems", "maxItems", 2, PATH_POINTS_MAX);
	json_builder_set_member_name(b, "items");
	json_builder_begin_object(b);
	alk_json_add_string(b, "type", "array");
	schema_range(b, "minItems", "maxItems", 2, 2);
	json_builder_set_member_name(b, "items");
	json_builder_begin_object(b);
	alk_json_add_string(b, "type", "integer");
	json_builder_end_object(b);
	json_builder_end_object(b);
	json_builder_end_object(b);
}

JsonNode *alk_api_computer_actions_schema(void)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	alk_json_add_string(b, "type", "array");
	alk_json_add_int(b, "maxItems", ACTIONS_MAX);
	json_builder_set_member_name(b, "items");
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "oneOf");
	json_builder_begin_array(b);
	for (guint k = 0; k < G_N_ELEMENTS(kinds); k++) {
		g_autoptr(GPtrArray) required = g_ptr_array_new();
		json_builder_begin_object(b);
		alk_json_add_string(b, "type", "object");
		json_builder_set_member_name(b, "properties");
		json_builder_begin_object(b);
		for (const AlkJsonField *f = kinds[k].fields; f->name != NULL; f++) {
			schema_field(b, f, kinds[k].name);
			if (f->required)
				g_ptr_array_add(required, (gpointer)f->name);
		}
		if (k == A_DRAG) {
			schema_path(b);
			g_ptr_array_add(required, "path");
		}
		json_builder_end_object(b);
		g_ptr_array_add(required, NULL);
		alk_json_add_strv(b, "required", (const char *const *)required->pdata);
		alk_json_add_bool(b, "additionalProperties", FALSE);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	json_builder_end_object(b);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

JsonNode *alk_api_computer_scale_schema(void)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	alk_json_add_string(b, "type", "object");
	json_builder_set_member_name(b, "properties");
	json_builder_begin_object(b);
	for (guint i = 0; i < 2; i++) {
		json_builder_set_member_name(b, i == 0 ? "width" : "height");
		json_builder_begin_object(b);
		alk_json_add_string(b, "type", "integer");
		schema_range(b, "minimum", "maximum", 1, ALK_SCREEN_MAX_SIDE);
		json_builder_end_object(b);
	}
	json_builder_end_object(b);
	alk_json_add_strv(b, "required", (const char *const[]){"width", "height", NULL});
	alk_json_add_bool(b, "additionalProperties", FALSE);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

/* ---- the plan ------------------------------------------------------------------------------ */

typedef enum { S_EVENTS, S_PAUSE, S_SCREENSHOT, S_CURSOR } StepKind;

typedef struct {
	StepKind kind;
	guint action; /* index in the batch; G_MAXUINT: the final screenshot */
	AlkInputEvent ev[ALK_INPUT_CHORD_MAX]; /* a chord at most */
	guint n;
	guint ms;
	AlkScreenshotArea area;
} Step;

typedef struct {
	GArray *steps;
	guint sw, sh;           /* the real screen */
	guint scale_w, scale_h; /* the client's space; 0: the real screen */
	guint64 paused_ms;
	guint action;
} Plan;

G_GNUC_PRINTF(3, 4)
static gboolean plan_error(Plan *p, GError **error, const char *fmt, ...)
{
	va_list args;
	g_autofree char *msg = NULL;

	va_start(args, fmt);
	msg = g_strdup_vprintf(fmt, args);
	va_end(args);
	g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "action %u: %s", p->action, msg);
	return FALSE;
}

static Step *add_step(Plan *p, StepKind kind)
{
	Step s = {.kind = kind, .action = p->action};
	g_array_append_val(p->steps, s);
	return &g_array_index(p->steps, Step, p->steps->len - 1);
}

static gboolean add_pause(Plan *p, guint64 ms, GError **error)
{
	p->paused_ms += ms;
	if (p->paused_ms > BATCH_PAUSE_MAX_MS)
		return plan_error(p, error, "waits and typing take more than %d ms in one batch",
		                  BATCH_PAUSE_MAX_MS);
	if (ms > 0)
		add_step(p, S_PAUSE)->ms = (guint)ms;
	return TRUE;
}

static gboolean point(Plan *p, gint64 x, gint64 y, guint *px, guint *py, GError **error)
{
	guint w = p->scale_w != 0 ? p->scale_w : p->sw;
	guint h = p->scale_h != 0 ? p->scale_h : p->sh;

	if (!alk_input_scale(x, p->scale_w, p->sw, px) ||
	    !alk_input_scale(y, p->scale_h, p->sh, py))
		return plan_error(p, error,
		                  "(%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
		                  ") is off the %ux%u screen",
		                  x, y, w, h);
	return TRUE;
}

static gboolean add_move(Plan *p, gint64 x, gint64 y, GError **error)
{
	Step *s;
	guint px, py;

	if (!point(p, x, y, &px, &py, error))
		return FALSE;
	s = add_step(p, S_EVENTS);
	s->ev[0] = (AlkInputEvent){.kind = ALK_INPUT_ABS,
	                           .x = alk_input_abs(px, p->sw),
	                           .y = alk_input_abs(py, p->sh),
	                           .px = px,
	                           .py = py};
	s->n = 1;
	return TRUE;
}

/* keys down in order (one call), or up in the reverse order */
static void add_keys(Plan *p, const char **keys, guint n, gboolean down)
{
	Step *s;

	if (n == 0)
		return;
	s = add_step(p, S_EVENTS);
	for (guint i = 0; i < n; i++) {
		s->ev[i] = (AlkInputEvent){
		    .kind = ALK_INPUT_KEY, .down = down, .name = keys[down ? i : n - 1 - i]};
	}
	s->n = n;
}

static void add_button(Plan *p, const char *button, gboolean down)
{
	Step *s = add_step(p, S_EVENTS);
	s->ev[0] = (AlkInputEvent){.kind = ALK_INPUT_BTN, .down = down, .name = button};
	s->n = 1;
}

static gboolean button_name(Plan *p, const char *name, const char **out, GError **error)
{
	static const char *const map[][2] = {{"left", "left"},
	                                     {"middle", "middle"},
	                                     {"right", "right"},
	                                     {"back", "side"},
	                                     {"forward", "extra"}};
	if (name == NULL)
		name = "left";
	for (guint i = 0; i < G_N_ELEMENTS(map); i++) {
		if (strcmp(name, map[i][0]) == 0) {
			*out = map[i][1];
			return TRUE;
		}
	}
	return plan_error(p, error, "button must be left, middle, right, back or forward");
}

/* the held keys of a click, drag or scroll: one key name each */
static gboolean hold_keys(Plan *p, char **hold, const char **keys, guint *n, GError **error)
{
	*n = 0;
	for (guint i = 0; hold != NULL && hold[i] != NULL; i++) {
		const char *q = alk_input_key(hold[i]);
		if (q == NULL)
			return plan_error(p, error, "unknown key '%s'", hold[i]);
		keys[(*n)++] = q;
	}
	return TRUE;
}

static gboolean plan_click(Plan *p, const Action *a, GError **error)
{
	const char *held[HOLD_MAX];
	const char *button = NULL;
	guint n = 0;

	if (!button_name(p, a->button, &button, error) || !hold_keys(p, a->hold, held, &n, error) ||
	    (a->x != ABSENT && !add_move(p, a->x, a->y, error)))
		return FALSE;
	add_keys(p, held, n, TRUE);
	for (guint64 i = 0; i < MAX(a->count, 1); i++) {
		add_button(p, button, TRUE);
		add_button(p, button, FALSE);
	}
	add_keys(p, held, n, FALSE);
	return TRUE;
}

static gboolean plan_drag(Plan *p, const Read *r, GError **error)
{
	const char *held[HOLD_MAX];
	const char *button = NULL;
	guint n = 0;
	const gint64 *xy = (const gint64 *)r->path->data;

	if (!button_name(p, r->a.button, &button, error) ||
	    !hold_keys(p, r->a.hold, held, &n, error) || !add_move(p, xy[0], xy[1], error))
		return FALSE;
	add_keys(p, held, n, TRUE);
	add_button(p, button, TRUE);
	for (guint i = 1; i < r->path->len / 2; i++) {
		if (!add_move(p, xy[2 * i], xy[2 * i + 1], error))
			return FALSE;
	}
	add_button(p, button, FALSE);
	add_keys(p, held, n, FALSE);
	return TRUE;
}

static gboolean plan_scroll(Plan *p, const Action *a, GError **error)
{
	const char *held[HOLD_MAX];
	guint n = 0;

	if (a->dx == 0 && a->dy == 0)
		return plan_error(p, error, "scroll needs dx or dy");
	if (!hold_keys(p, a->hold, held, &n, error) ||
	    (a->x != ABSENT && !add_move(p, a->x, a->y, error)))
		return FALSE;
	add_keys(p, held, n, TRUE);
	for (gint64 i = 0; i < ABS(a->dy); i++) {
		add_button(p, a->dy > 0 ? "wheel-down" : "wheel-up", TRUE);
		add_button(p, a->dy > 0 ? "wheel-down" : "wheel-up", FALSE);
	}
	for (gint64 i = 0; i < ABS(a->dx); i++) {
		add_button(p, a->dx > 0 ? "wheel-right" : "wheel-left", TRUE);
		add_button(p, a->dx > 0 ? "wheel-right" : "wheel-left", FALSE);
	}
	add_keys(p, held, n, FALSE);
	return TRUE;
}

static gboolean plan_key(Plan *p, Kind kind, const char *chord, GError **error)
{
	const char *keys[ALK_INPUT_CHORD_MAX];
	guint n = 0;
	g_autoptr(GError) local = NULL;

	if (!alk_input_chord(chord, keys, &n, &local))
		return plan_error(p, error, "%s", local->message);
	if (kind != A_KEY_UP)
		add_keys(p, keys, n, TRUE);
	if (kind != A_KEY_DOWN)
		add_keys(p, keys, n, FALSE);
	return TRUE;
}

static gboolean plan_type(Plan *p, const Action *a, GError **error)
{
	guint64 delay = a->delay_ms != 0 ? a->delay_ms : TYPE_DELAY_MS;

	if (!g_utf8_validate(a->text, -1, NULL))
		return plan_error(p, error, "text is not UTF-8");
	for (const char *c = a->text; *c != '\0'; c = g_utf8_next_char(c)) {
		gunichar u = g_utf8_get_char(c);
		const char *keys[2];
		const char *qcode = NULL;
		gboolean shift = FALSE;
		guint n = 0;

		if (!alk_input_char(u, &qcode, &shift)) {
			char shown[8] = {0};
			if (g_unichar_isprint(u))
				g_unichar_to_utf8(u, shown);
			return plan_error(p, error,
			                  "cannot type '%s' (U+%04X): not on the US layout", shown,
			                  (guint)u);
		}
		if (shift)
			keys[n++] = "shift";
		keys[n++] = qcode;
		add_keys(p, keys, n, TRUE);
		add_keys(p, keys, n, FALSE);
		if (!add_pause(p, delay, error))
			return FALSE;
	}
	return TRUE;
}

/* a screenshot's region {x, y, width, height} in the client's space */
static gboolean plan_region(Plan *p, const Region *r, AlkScreenshotArea *area, GError **error)
{
	guint w = p->scale_w != 0 ? p->scale_w : p->sw;
	guint h = p->scale_h != 0 ? p->scale_h : p->sh;
	guint x0, y0;

	if (!point(p, r->x, r->y, &x0, &y0, error))
		return FALSE;
	if (r->x + r->w > w || r->y + r->h > h)
		return plan_error(p, error,
		                  "region %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT
		                  " at (%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
		                  ") is not within the "
		                  "%ux%u screen",
		                  r->w, r->h, r->x, r->y, w, h);
	/* the real pixels the region covers, its last ones whole */
	area->rx = x0;
	area->ry = y0;
	area->rw = (guint)(((guint64)(r->x + r->w) * p->sw + w - 1) / w) - x0;
	area->rh = (guint)(((guint64)(r->y + r->h) * p->sh + h - 1) / h) - y0;
	return TRUE; /* at the region's real resolution: a zoom */
}

static gboolean plan_action(Plan *p, const Read *r, GError **error)
{
	const Action *a = &r->a;
	Step *s;

	switch (r->kind) {
	case A_MOVE:
		if (a->x == ABSENT)
			return plan_error(p, error, "move needs x and y");
		return add_move(p, a->x, a->y, error);
	case A_CLICK:
		return plan_click(p, a, error);
	case A_BUTTON_DOWN:
	case A_BUTTON_UP: {
		const char *button = NULL;
		if (!button_name(p, a->button, &button, error) ||
		    (a->x != ABSENT && !add_move(p, a->x, a->y, error)))
			return FALSE;
		add_button(p, button, r->kind == A_BUTTON_DOWN);
		return TRUE;
	}
	case A_DRAG:
		return plan_drag(p, r, error);
	case A_SCROLL:
		return plan_scroll(p, a, error);
	case A_KEY:
	case A_KEY_DOWN:
	case A_KEY_UP:
		return plan_key(p, r->kind, a->keys, error);
	case A_TYPE:
		return plan_type(p, a, error);
	case A_WAIT:
		return add_pause(p, a->ms, error);
	case A_SCREENSHOT: {
		AlkScreenshotArea area = {.width = p->scale_w, .height = p->scale_h};
		if (r->has_region && !plan_region(p, &r->region, &area, error))
			return FALSE;
		if (r->has_region)
			area.width = area.height = 0;
		s = add_step(p, S_SCREENSHOT);
		s->area = area;
		return TRUE;
	}
	case A_CURSOR:
		add_step(p, S_CURSOR);
		return TRUE;
	}
	return FALSE;
}

/* ---- the body ------------------------------------------------------------------------------ */

typedef struct {
	JsonNode *actions;
	gboolean screenshot;
	JsonObject *scale_to;
} Body;

static const AlkJsonField scale_fields[] = {
    {"width", ALK_JSON_UINT, 0, TRUE, 1, ALK_SCREEN_MAX_SIDE, 0},
    {"height", ALK_JSON_UINT, sizeof(guint64), TRUE, 1, ALK_SCREEN_MAX_SIDE, 0},
    {NULL, 0, 0, FALSE, 0, 0, 0},
};

/* audit arguments: what was done, never what was typed (its length and hash) */
static void audit_action(JsonBuilder *b, const Read *r)
{
	const Action *a = &r->a;

	json_builder_begin_object(b);
	alk_json_add_string(b, "action", kinds[r->kind].name);
	if (a->x != ABSENT) {
		alk_json_add_int(b, "x", a->x);
		alk_json_add_int(b, "y", a->y);
	}
	if (a->button != NULL)
		alk_json_add_string(b, "button", a->button);
	if (a->count != 0)
		alk_json_add_int(b, "count", (gint64)a->count);
	if (a->hold != NULL)
		alk_json_add_strv(b, "hold", (const char *const *)a->hold);
	if (a->dx != 0 || a->dy != 0) {
		alk_json_add_int(b, "dx", a->dx);
		alk_json_add_int(b, "dy", a->dy);
	}
	if (a->keys != NULL)
		alk_json_add_string(b, "keys", a->keys);
	if (a->text != NULL) {
		g_autofree char *sum =
		    g_compute_checksum_for_string(G_CHECKSUM_SHA256, a->text, -1);
		alk_json_add_int(b, "text_bytes", (gint64)strlen(a->text));
		alk_json_add_string(b, "text_sha256", sum);
	}
	if (r->kind == A_WAIT)
		alk_json_add_int(b, "ms", (gint64)a->ms);
	if (r->path != NULL)
		alk_json_add_int(b, "path_points", r->path->len / 2);
	json_builder_end_object(b);
}

struct AlkApiComputerRun {
	AlkApi *api; /* NULL once cancelled */
	AlkApiComputerDone done;
	gpointer data;
	gboolean cancelled; /* done is not called; freed when the manager answers */
	gboolean ending;    /* in done: a cancel now is too late, and ignored */
	guint idle;         /* answers early, an error found before anything ran */
	GError *early;
	char *id;
	char *caller;
	char *tool; /* the tool call it runs for, audited; NULL: a batch as such */
	gint64 start_us;
	GPtrArray *reads; /* Read * */
	JsonNode *args;
	gboolean want_shot;
	guint scale_w, scale_h;
	Plan plan;
	guint next;         /* step */
	guint timer;        /* a pause */
	gboolean waiting;   /* for the manager */
	JsonArray *results; /* one object per action */
	AlkScreenshot *final;
	char *shot_sha256; /* of the last screenshot */
};
typedef AlkApiComputerRun Op;

static void read_free(Read *r)
{
	read_clear(r);
	g_free(r);
}

static void op_free(Op *op)
{
	g_clear_handle_id(&op->timer, g_source_remove);
	g_clear_handle_id(&op->idle, g_source_remove);
	g_clear_error(&op->early);
	g_free(op->id);
	g_free(op->caller);
	g_free(op->tool);
	g_ptr_array_unref(op->reads);
	if (op->args != NULL)
		json_node_unref(op->args);
	if (op->plan.steps != NULL)
		g_array_unref(op->plan.steps);
	json_array_unref(op->results);
	alk_screenshot_free(op->final);
	g_free(op->shot_sha256);
	g_free(op);
}

static gboolean read_body(Op *op, JsonObject *obj, GError **error)
{
	JsonNode *list = json_object_get_member(obj, "actions");
	JsonNode *shot = json_object_get_member(obj, "screenshot");
	JsonNode *scale = json_object_get_member(obj, "scale_to");
	JsonArray *arr =
	    list != NULL && JSON_NODE_HOLDS_ARRAY(list) ? json_node_get_array(list) : NULL;
	g_autoptr(JsonBuilder) b = json_builder_new();
	guint n = arr != NULL ? json_array_get_length(arr) : 0;

	for (GList *l = json_object_get_members(obj), *m = l; m != NULL; m = m->next) {
		gboolean known = strcmp(m->data, "actions") == 0 ||
		                 strcmp(m->data, "screenshot") == 0 ||
		                 strcmp(m->data, "scale_to") == 0;
		if (!known)
			g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "unknown field '%s'",
			            (const char *)m->data);
		if (m->next == NULL)
			g_list_free(l);
		if (!known)
			return FALSE;
	}
	if (shot != NULL &&
	    (!JSON_NODE_HOLDS_VALUE(shot) || json_node_get_value_type(shot) != G_TYPE_BOOLEAN)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "field 'screenshot' must be a boolean");
		return FALSE;
	}
	op->want_shot = shot != NULL && json_node_get_boolean(shot);
	if (scale != NULL) {
		guint64 wh[2] = {0, 0};
		if (!JSON_NODE_HOLDS_OBJECT(scale) ||
		    !alk_json_read_object(json_node_get_object(scale), scale_fields, wh, error)) {
			g_prefix_error(error, "scale_to: ");
			if (error != NULL && *error == NULL)
				g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
				            "scale_to must be {width, height}");
			return FALSE;
		}
		op->scale_w = (guint)wh[0];
		op->scale_h = (guint)wh[1];
	}
	if (list != NULL && arr == NULL) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "field 'actions' must be an array");
		return FALSE;
	}
	if (n > ACTIONS_MAX || (n == 0 && !op->want_shot)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "1..%d actions (or none with screenshot: true)", ACTIONS_MAX);
		return FALSE;
	}
	json_builder_begin_object(b);
	if (op->tool != NULL)
		alk_json_add_string(b, "tool", op->tool);
	alk_json_add_bool(b, "screenshot", op->want_shot);
	if (op->scale_w != 0) {
		json_builder_set_member_name(b, "scale_to");
		json_builder_begin_object(b);
		alk_json_add_int(b, "width", op->scale_w);
		alk_json_add_int(b, "height", op->scale_h);
		json_builder_end_object(b);
	}
	json_builder_set_member_name(b, "actions");
	json_builder_begin_array(b);
	for (guint i = 0; i < n; i++) {
		Read *r = g_new0(Read, 1);
		if (!read_action(json_array_get_element(arr, i), r, error)) {
			g_free(r);
			g_prefix_error(error, "action %u: ", i);
			return FALSE;
		}
		g_ptr_array_add(op->reads, r);
		audit_action(b, r);
	}
	json_builder_end_array(b);
	json_builder_end_object(b);
	op->args = json_builder_get_root(b);
	return TRUE;
}

static gboolean make_plan(Op *op, guint sw, guint sh, GError **error)
{
	Plan *p = &op->plan;

	p->steps = g_array_new(FALSE, FALSE, sizeof(Step));
	p->sw = sw;
	p->sh = sh;
	p->scale_w = op->scale_w;
	p->scale_h = op->scale_h;
	for (guint i = 0; i < op->reads->len; i++) {
		p->action = i;
		if (!plan_action(p, g_ptr_array_index(op->reads, i), error))
			return FALSE;
		if (p->steps->len > STEPS_MAX)
			return plan_error(
			    p, error,
			    "the batch needs more than %d injections and pauses: split it",
			    STEPS_MAX);
	}
	if (op->want_shot) {
		Step *s;
		p->action = G_MAXUINT;
		s = add_step(p, S_SCREENSHOT);
		s->area.width = op->scale_w;
		s->area.height = op->scale_h;
	}
	return TRUE;
}

/* ---- running it ---------------------------------------------------------------------------- */

static void audit(Op *op, const GError *error)
{
	g_autoptr(JsonBuilder) r = json_builder_new();
	g_autoptr(JsonNode) result = NULL;

	if (op->api == NULL)
		return;
	json_builder_begin_object(r);
	alk_json_add_bool(r, "ok", error == NULL);
	if (error != NULL)
		alk_json_add_string(r, "error", error->message);
	alk_json_add_int(r, "steps_done", op->next);
	alk_json_add_int(r, "elapsed_ms", (g_get_monotonic_time() - op->start_us) / 1000);
	if (op->shot_sha256 != NULL)
		alk_json_add_string(r, "screenshot_sha256", op->shot_sha256);
	json_builder_end_object(r);
	result = json_builder_get_root(r);
	alk_api_audit(op->api, op->caller, "sandbox.computer", op->id, op->args, result);
}

static void add_shot_json(JsonBuilder *b, const AlkScreenshot *shot)
{
	gsize len = 0;
	const guchar *png = g_bytes_get_data(shot->png, &len);
	g_autofree char *b64 = g_base64_encode(png, len);

	json_builder_begin_object(b);
	alk_json_add_int(b, "width", shot->width);
	alk_json_add_int(b, "height", shot->height);
	alk_json_add_string(b, "png_b64", b64);
	json_builder_end_object(b);
}

/* the answer: {results, screen, screenshot} */
static JsonObject *result_object(Op *op)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "results");
	json_builder_add_value(b, json_node_init_array(json_node_alloc(), op->results));
	json_builder_set_member_name(b, "screen");
	json_builder_begin_object(b);
	alk_json_add_int(b, "width", op->plan.sw);
	alk_json_add_int(b, "height", op->plan.sh);
	json_builder_end_object(b);
	json_builder_set_member_name(b, "screenshot");
	if (op->final != NULL)
		add_shot_json(b, op->final);
	else
		json_builder_add_null_value(b);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	return json_object_ref(json_node_get_object(root));
}

/* Ends the batch: audited, its caller told (error NULL: the results), freed. */
static void finish(Op *op, GError *error)
{
	g_autoptr(JsonObject) result = NULL;

	audit(op, error);
	if (error == NULL)
		result = result_object(op);
	op->ending = TRUE;
	op->done(result, error, op->data);
	g_clear_error(&error);
	op_free(op);
}

/* the result object of the step's action, made on its first step */
static JsonObject *result_of(Op *op, const Step *s)
{
	guint n = json_array_get_length(op->results);

	if (s->action == G_MAXUINT)
		return NULL;
	while (n <= s->action) {
		const Read *r = g_ptr_array_index(op->reads, n);
		JsonObject *o = json_object_new();
		json_object_set_string_member(o, "action", kinds[r->kind].name);
		json_array_add_object_element(op->results, o);
		n++;
	}
	return json_array_get_object_element(op->results, s->action);
}

static void run(Op *op);

static void step_done(Op *op, GError *error)
{
	op->waiting = FALSE;
	if (op->cancelled) {
		/* audited then: stop here */
		g_clear_error(&error);
		op_free(op);
		return;
	}
	if (error != NULL) {
		const Step *s = &g_array_index(op->plan.steps, Step, op->next);
		g_prefix_error(&error, "action %u: ", s->action);
		finish(op, error);
		return;
	}
	op->next++;
	run(op);
}

static void input_done(GObject *src, GAsyncResult *res, gpointer data)
{
	GError *error = NULL;
	alk_manager_input_finish(NULL, res, &error);
	step_done(data, error);
}

static void shot_done(GObject *src, GAsyncResult *res, gpointer data)
{
	Op *op = data;
	GError *error = NULL;
	AlkScreenshot *shot = alk_manager_screenshot_finish(NULL, res, &error);

	if (shot != NULL && !op->cancelled) {
		const Step *s = &g_array_index(op->plan.steps, Step, op->next);
		JsonObject *o = result_of(op, s);
		gsize len = 0;
		const guchar *png = g_bytes_get_data(shot->png, &len);

		g_free(op->shot_sha256);
		op->shot_sha256 = g_compute_checksum_for_data(G_CHECKSUM_SHA256, png, len);
		if (o == NULL) {
			alk_screenshot_free(op->final);
			op->final = g_steal_pointer(&shot);
		} else {
			g_autoptr(JsonBuilder) b = json_builder_new();
			add_shot_json(b, shot);
			json_object_set_member(o, "screenshot", json_builder_get_root(b));
		}
	}
	alk_screenshot_free(shot);
	step_done(op, error);
}

static gboolean pause_done(gpointer data)
{
	Op *op = data;
	op->timer = 0;
	step_done(op, NULL);
	return G_SOURCE_REMOVE;
}

static void add_cursor(Op *op, const Step *s)
{
	JsonObject *o = result_of(op, s);
	const AlkSandbox *sb = alk_manager_lookup(op->api->manager, op->id, NULL);
	guint w = op->scale_w != 0 ? op->scale_w : op->plan.sw;
	guint h = op->scale_h != 0 ? op->scale_h : op->plan.sh;

	if (sb == NULL || !sb->cursor_known) {
		json_object_set_null_member(o, "x");
		json_object_set_null_member(o, "y");
		return;
	}
	/* back in the client's space */
	json_object_set_int_member(o, "x", (gint64)sb->cursor_x * w / MAX(op->plan.sw, 1));
	json_object_set_int_member(o, "y", (gint64)sb->cursor_y * h / MAX(op->plan.sh, 1));
}

static void run(Op *op)
{
	AlkManager *m = op->api->manager;

	while (op->next < op->plan.steps->len) {
		Step *s = &g_array_index(op->plan.steps, Step, op->next);
		JsonObject *o = result_of(op, s);

		if (o != NULL)
			json_object_set_boolean_member(o, "ok", TRUE);
		switch (s->kind) {
		case S_EVENTS:
			op->waiting = TRUE;
			alk_manager_input_async(m, op->id, s->ev, s->n, input_done, op);
			return;
		case S_PAUSE:
			op->timer = g_timeout_add(s->ms, pause_done, op);
			return;
		case S_SCREENSHOT:
			op->waiting = TRUE;
			alk_manager_screenshot_async(m, op->id, &s->area, shot_done, op);
			return;
		case S_CURSOR:
			add_cursor(op, s);
			op->next++;
			break;
		}
	}
	/* actions without steps (a wait of 0) still get their result */
	for (guint i = 0; i < op->reads->len; i++) {
		Step any = {.action = i};
		json_object_set_boolean_member(result_of(op, &any), "ok", TRUE);
	}
	finish(op, NULL);
}

/* the screen's size is known: plan everything, or refuse it all */
static void sized(GObject *src, GAsyncResult *res, gpointer data)
{
	Op *op = data;
	GError *error = NULL;
	g_autoptr(AlkScreenshot) shot = alk_manager_screenshot_finish(NULL, res, &error);

	op->waiting = FALSE;
	if (op->cancelled) {
		g_clear_error(&error);
		op_free(op);
		return;
	}
	if (shot == NULL || !make_plan(op, shot->screen_width, shot->screen_height, &error)) {
		finish(op, error);
		return;
	}
	run(op);
}

static gboolean early_done(gpointer data)
{
	Op *op = data;

	op->idle = 0;
	op->ending = TRUE;
	op->done(NULL, op->early, op->data);
	op_free(op);
	return G_SOURCE_REMOVE;
}

AlkApiComputerRun *alk_api_computer_run(AlkApi *api, const char *sandbox_id, JsonObject *batch,
                                        const char *actor, AlkApiComputerDone done, gpointer data)
{
	return alk_api_computer_run_tool(api, sandbox_id, batch, actor, NULL, done, data);
}

AlkApiComputerRun *alk_api_computer_run_tool(AlkApi *api, const char *sandbox_id, JsonObject *batch,
                                             const char *actor, const char *tool,
                                             AlkApiComputerDone done, gpointer data)
{
	Op *op = g_new0(Op, 1);

	op->api = api;
	op->tool = g_strdup(tool);
	op->done = done;
	op->data = data;
	op->id = g_strdup(sandbox_id);
	op->caller = g_strdup(actor);
	op->reads = g_ptr_array_new_with_free_func((GDestroyNotify)read_free);
	op->results = json_array_new();
	op->start_us = g_get_monotonic_time();
	if (alk_manager_lookup(api->manager, sandbox_id, &op->early) == NULL ||
	    !read_body(op, batch, &op->early)) {
		/* refused before anything ran, and not audited here: the
		 * caller's refusal is; told from the main loop, never from
		 * within this call */
		op->idle = g_idle_add(early_done, op);
		return op;
	}
	op->waiting = TRUE;
	/* the real screen's size first: everything is checked against it */
	alk_manager_screenshot_async(api->manager, op->id, NULL, sized, op);
	return op;
}

void alk_api_computer_run_cancel(AlkApiComputerRun *op)
{
	g_autoptr(GError) error = NULL;

	if (op == NULL || op->ending || op->cancelled)
		return;
	if (op->idle != 0) {
		op_free(op);
		return;
	}
	error = g_error_new(ALK_ERROR, ALK_ERROR_UNAVAILABLE,
	                    "cancelled: the caller left or airlockd is stopping");
	audit(op, error);
	op->cancelled = TRUE;
	op->api = NULL;
	if (!op->waiting)
		op_free(op); /* a pause's timer, or nothing, was all it had */
}

/* ---- POST /v1/sandboxes/{id}/computer ------------------------------------------------------ */

static void post_done(JsonObject *result, const GError *error, gpointer data)
{
	AlkApiReq *req = data;
	g_autoptr(JsonNode) node = NULL;

	alk_api_req_detach(req);
	if (error != NULL) {
		alk_api_reply_error(req, error);
		return;
	}
	node = json_node_init_object(json_node_alloc(), result);
	alk_api_reply_json(req, SOUP_STATUS_OK, node);
}

static void on_abort(AlkApiReq *req, gpointer data)
{
	g_autoptr(GError) error =
	    g_error_new(ALK_ERROR, ALK_ERROR_UNAVAILABLE, "%s",
	                req->aborted ? "the client left" : "airlockd is stopping");

	alk_api_req_detach(req);
	alk_api_computer_run_cancel(data);
	if (req->aborted)
		alk_api_req_release(req);
	else
		alk_api_reply_error(req, error);
}

static const AlkApiReqHooks computer_hooks = {.abort = on_abort};

void alk_api_computer_post(AlkApiReq *req)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) obj = alk_api_req_json(req, &error);
	AlkApiComputerRun *run;

	if (obj == NULL) {
		alk_api_reply_error(req, error);
		return;
	}
	alk_api_req_hold(req);
	run = alk_api_computer_run(req->api, req->id, obj,
	                           req->caller != NULL ? req->caller : req->conn->peer, post_done,
	                           req);
	alk_api_req_attach(req, run, NULL, &computer_hooks);
}
