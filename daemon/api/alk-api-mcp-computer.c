/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The MCP tools of a sandbox's display: screenshot (MCP image content,
 * the hypervisor's picture) and computer (the batch POST /computer runs,
 * through the same runner, alk-api-computer.h). A sandbox without a
 * display is a tool error saying so. Their rows join the table in
 * alk-api-mcp-tools.c. */
#include <string.h>

#include "alk-api-computer.h"
#include "alk-api-mcp.h"
#include "alk-error.h"

static JsonObject *image_item(GBytes *png)
{
	gsize len = 0;
	const guchar *data = g_bytes_get_data(png, &len);
	JsonObject *o = json_object_new();
	g_autofree char *b64 = g_base64_encode(data, len);

	json_object_set_string_member(o, "type", "image");
	json_object_set_string_member(o, "data", b64);
	json_object_set_string_member(o, "mimeType", "image/png");
	return o;
}

static JsonObject *text_item(char *text)
{
	JsonObject *o = json_object_new();

	json_object_set_string_member(o, "type", "text");
	json_object_set_string_member(o, "text", text);
	g_free(text);
	return o;
}

/* ---- screenshot ---- */

typedef struct {
	char *sandbox;
	guint64 width, height;
} ShotArgs;
#define S(m) G_STRUCT_OFFSET(ShotArgs, m)
static const AlkJsonField shot_fields[] = {
    ALK_MCP_SANDBOX_FIELD(ShotArgs),
    {"width", ALK_JSON_UINT, S(width), FALSE, 1, ALK_SCREEN_MAX_SIDE, 0},
    {"height", ALK_JSON_UINT, S(height), FALSE, 1, ALK_SCREEN_MAX_SIDE, 0},
    ALK_MCP_FIELDS_END,
};
#undef S
static const AlkMcpDoc shot_docs[] = {
    ALK_MCP_SANDBOX_DOC,
    {"scale the picture to this width (alone: the height follows the aspect ratio)", NULL},
    {"scale the picture to this height (alone: the width follows the aspect ratio)", NULL},
};

typedef struct {
	AlkMcpCall *call; /* NULL once cancelled */
} Shot;

static void shot_cancel(gpointer data)
{
	((Shot *)data)->call = NULL; /* freed when the manager answers */
}

static void shot_taken(GObject *src, GAsyncResult *res, gpointer data)
{
	Shot *op = data;
	AlkMcpCall *call = op->call;
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkScreenshot) shot = alk_manager_screenshot_finish(NULL, res, &error);
	g_autoptr(JsonBuilder) b = NULL;
	g_autoptr(JsonBuilder) a = NULL;
	g_autofree char *sum = NULL;
	JsonArray *content;
	gsize len = 0;
	const guchar *png;

	g_free(op);
	if (call == NULL)
		return;
	if (shot == NULL) {
		alk_mcp_call_fail(call, error);
		return;
	}
	png = g_bytes_get_data(shot->png, &len);
	sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, png, len);
	content = json_array_new();
	json_array_add_object_element(content, image_item(shot->png));
	json_array_add_object_element(
	    content, text_item(g_strdup_printf(
	                 "screenshot %ux%u of the %ux%u screen (coordinates of the computer tool "
	                 "are the real screen's unless it is given scale_to)",
	                 shot->width, shot->height, shot->screen_width, shot->screen_height)));
	b = json_builder_new();
	json_builder_begin_object(b);
	alk_json_add_int(b, "width", shot->width);
	alk_json_add_int(b, "height", shot->height);
	json_builder_set_member_name(b, "screen");
	json_builder_begin_object(b);
	alk_json_add_int(b, "width", shot->screen_width);
	alk_json_add_int(b, "height", shot->screen_height);
	json_builder_end_object(b);
	alk_json_add_string(b, "sha256", sum);
	json_builder_end_object(b);
	a = json_builder_new();
	json_builder_begin_object(a);
	alk_json_add_int(a, "width", shot->width);
	alk_json_add_int(a, "height", shot->height);
	alk_json_add_string(a, "screenshot_sha256", sum);
	json_builder_end_object(a);
	alk_mcp_call_reply_content(call, content, json_builder_get_root(b), FALSE,
	                           json_builder_get_root(a));
}

static void shot_run(AlkMcpCall *call, gpointer data)
{
	ShotArgs *args = data;
	AlkScreenshotArea area = {.width = (guint)args->width, .height = (guint)args->height};
	g_autoptr(GError) error = NULL;
	Shot *op;

	alk_mcp_call_set_sandbox(call, args->sandbox);
	if (alk_manager_lookup(alk_mcp_call_api(call)->manager, args->sandbox, &error) == NULL) {
		alk_mcp_call_fail(call, error);
		return;
	}
	op = g_new0(Shot, 1);
	op->call = call;
	alk_mcp_call_hold(call, shot_cancel, op);
	alk_manager_screenshot_async(alk_mcp_call_api(call)->manager, args->sandbox, &area,
	                             shot_taken, op);
}

const AlkMcpTool alk_mcp_tool_screenshot = {
    .name = "screenshot",
    .title = "Take a screenshot",
    .description =
        "The screen of a sandbox created with a display, as a PNG taken by the hypervisor "
        "(nothing in the guest is involved), optionally scaled; the text item gives the "
        "picture's size and the real screen's.",
    .scope = ALK_SCOPE_READ,
    .read_only = TRUE,
    .fields = shot_fields,
    .docs = shot_docs,
    .size = sizeof(ShotArgs),
    .run = shot_run,
};

/* ---- computer ---- */

typedef struct {
	char *sandbox;
	JsonArray *actions; /* borrowed: read when the tool starts */
	gboolean screenshot;
	JsonObject *scale_to; /* borrowed likewise */
} ComputerArgs;
#define C(m) G_STRUCT_OFFSET(ComputerArgs, m)
static const AlkJsonField computer_fields[] = {
    ALK_MCP_SANDBOX_FIELD(ComputerArgs),
    {"actions", ALK_JSON_ARRAY, C(actions), FALSE, 0, 0, 0},
    {"screenshot", ALK_JSON_BOOL, C(screenshot), FALSE, 0, 0, 0},
    {"scale_to", ALK_JSON_OBJECT, C(scale_to), FALSE, 0, 0, 0},
    ALK_MCP_FIELDS_END,
};
#undef C
static const AlkMcpDoc computer_docs[] = {
    ALK_MCP_SANDBOX_DOC,
    {"the actions, run in order: move, click, button_down, button_up, drag, scroll, key "
     "(xdotool-style chords such as ctrl+shift+t or Return), key_down, key_up, type, wait, "
     "screenshot, cursor_position. The whole batch is checked first: a malformed action, "
     "unknown key, off-screen point or untypable character fails it with nothing sent",
     NULL},
    {"take a screenshot after the last action", NULL},
    {"the size of the screenshots the coordinates refer to: they are mapped back to the real "
     "screen, and screenshots are scaled to it (default: the real screen)",
     NULL},
};

static JsonNode *computer_schema(const char *field)
{
	if (strcmp(field, "actions") == 0)
		return alk_api_computer_actions_schema();
	if (strcmp(field, "scale_to") == 0)
		return alk_api_computer_scale_schema();
	return NULL;
}

typedef struct {
	AlkMcpCall *call;
	AlkApiComputerRun *run;
} Computer;

static void computer_cancel(gpointer data)
{
	Computer *op = data;

	alk_api_computer_run_cancel(op->run);
	g_free(op);
}

/* a screenshot object {width, height, png_b64} of the result: its PNG
 * becomes an image item, the object keeps {width, height, image: N} */
static void take_image(JsonObject *shot, JsonArray *content)
{
	const char *b64 = json_object_get_string_member_with_default(shot, "png_b64", NULL);
	JsonObject *item;

	if (b64 == NULL)
		return;
	item = json_object_new();
	json_object_set_string_member(item, "type", "image");
	json_object_set_string_member(item, "data", b64);
	json_object_set_string_member(item, "mimeType", "image/png");
	json_object_remove_member(shot, "png_b64");
	json_object_set_int_member(shot, "image", json_array_get_length(content));
	json_array_add_object_element(content, item);
}

static void computer_done(JsonObject *result, const GError *error, gpointer data)
{
	Computer *op = data;
	AlkMcpCall *call = op->call;
	g_autoptr(JsonNode) wrap = NULL;
	g_autoptr(JsonNode) copy = NULL;
	g_autofree char *text = NULL;
	JsonObject *o;
	JsonArray *results;
	JsonArray *images;
	JsonArray *content;
	JsonNode *final;
	g_autoptr(JsonBuilder) a = json_builder_new();

	g_free(op);
	if (error != NULL) {
		alk_mcp_call_fail(call, error);
		return;
	}
	/* a deep copy (json_node_copy shares the objects): the PNGs leave it */
	wrap = json_node_init_object(json_node_alloc(), result);
	text = alk_json_to_string(wrap);
	copy = json_from_string(text, NULL);
	o = json_node_get_object(copy);
	images = json_array_new();
	results = json_object_get_array_member(o, "results");
	for (guint i = 0; i < json_array_get_length(results); i++) {
		JsonObject *r = json_array_get_object_element(results, i);
		if (json_object_has_member(r, "screenshot"))
			take_image(json_object_get_object_member(r, "screenshot"), images);
	}
	final = json_object_get_member(o, "screenshot");
	if (final != NULL && JSON_NODE_HOLDS_OBJECT(final))
		take_image(json_node_get_object(final), images);
	content = json_array_new();
	json_array_add_object_element(content, text_item(alk_json_to_string(copy)));
	for (guint i = 0; i < json_array_get_length(images); i++)
		json_array_add_element(content, json_node_copy(json_array_get_element(images, i)));
	json_array_unref(images);
	json_builder_begin_object(a);
	alk_json_add_int(a, "actions", json_array_get_length(results));
	alk_json_add_int(a, "screenshots", json_array_get_length(content) - 1);
	json_builder_end_object(a);
	alk_mcp_call_reply_content(call, content, g_steal_pointer(&copy), FALSE,
	                           json_builder_get_root(a));
}

static void computer_run(AlkMcpCall *call, gpointer data)
{
	ComputerArgs *args = data;
	g_autoptr(JsonObject) batch = json_object_new();
	Computer *op = g_new0(Computer, 1);

	alk_mcp_call_set_sandbox(call, args->sandbox);
	if (args->actions != NULL)
		json_object_set_array_member(batch, "actions", json_array_ref(args->actions));
	json_object_set_boolean_member(batch, "screenshot", args->screenshot);
	if (args->scale_to != NULL)
		json_object_set_object_member(batch, "scale_to", json_object_ref(args->scale_to));
	op->call = call;
	alk_mcp_call_hold(call, computer_cancel, op);
	/* the runner reads the batch now; done comes from the main loop */
	op->run = alk_api_computer_run(alk_mcp_call_api(call), args->sandbox, batch,
	                               alk_mcp_call_caller(call), computer_done, op);
}

const AlkMcpTool alk_mcp_tool_computer = {
    .name = "computer",
    .title = "Use the screen, keyboard and mouse",
    .description =
        "Runs a batch of keyboard and mouse actions on the display of a sandbox created with "
        "one, injected by the hypervisor, as POST /v1/sandboxes/{id}/computer does; answers "
        "with each action's result (JSON text) and the screenshots taken as images.",
    .scope = ALK_SCOPE_WRITE,
    .fields = computer_fields,
    .docs = computer_docs,
    .size = sizeof(ComputerArgs),
    .run = computer_run,
    .field_schema = computer_schema,
};
