/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* POST /v1/sandboxes/{id}/tools/anthropic: one Anthropic tool_use block
 * or a list of them, answered with their tool_result blocks in order (an
 * object for an object, a list for a list). The envelope is read whole
 * before anything runs: not JSON, not a block or a list of blocks, a
 * block without its id, name or input, or more than ALK_TOOL_BLOCKS_MAX
 * blocks is a 400. A tool that cannot do what a block asks (an unknown
 * tool, bad input, a failed command, a missing file) answers that block
 * with is_error true, and the next block runs. Each block is one audit
 * line, sandbox.tool.
 *
 * GET …/tools/anthropic/definitions: the tools to declare to the model. */
#include <string.h>

#include "alk-api-tools-anthropic.h"
#include "alk-api-tools.h"
#include "alk-error.h"
#include "alk-json.h"

#define ID_MAX 256
#define TOOL_NAME_MAX 64

typedef struct {
	char *type;
	char *id;
	char *name;
	JsonObject *input;
	JsonObject *cache_control;
	JsonObject *caller;
} Block;

#define B(m) G_STRUCT_OFFSET(Block, m)
static const AlkJsonField block_fields[] = {
    {"type", ALK_JSON_STRING, B(type), TRUE, 1, 32, 0},
    {"id", ALK_JSON_STRING, B(id), TRUE, 1, ID_MAX, 0},
    {"name", ALK_JSON_STRING, B(name), TRUE, 1, TOOL_NAME_MAX, 0},
    {"input", ALK_JSON_OBJECT, B(input), TRUE, 0, 0, 0},
    /* what a model's response may carry along: ignored */
    {"cache_control", ALK_JSON_OBJECT, B(cache_control), FALSE, 0, 0, 0},
    {"caller", ALK_JSON_OBJECT, B(caller), FALSE, 0, 0, 0},
    {NULL, 0, 0, 0, 0, 0, 0},
};
#undef B

typedef struct {
	AlkApiReq *req; /* NULL once it went */
	AlkApi *api;
	char *sandbox;
	char *caller;
	JsonNode *root; /* the body: the blocks' inputs point into it */
	GArray *blocks; /* Block */
	gboolean single;
	guint next;
	GPtrArray *results; /* JsonNode * */
	AlkToolCall *call;  /* the block running */
	gboolean dispatching;
	guint idle; /* a block ended: the batch goes on from the loop */
} Batch;

/* ---- the per-sandbox state of the tools ---- */

static void state_free(gpointer data)
{
	AlkToolState *st = data;

	g_clear_pointer(&st->shell, alk_tool_bash_free);
	g_clear_pointer(&st->history, alk_tool_history_free);
	g_free(st->sandbox);
	g_free(st);
}

/* States of sandboxes that are gone (their shell ended with them) */
static void sweep(AlkApi *api)
{
	GHashTableIter it;
	AlkToolState *st;

	g_hash_table_iter_init(&it, api->tools);
	while (g_hash_table_iter_next(&it, NULL, (gpointer *)&st)) {
		if (st->shell == NULL &&
		    alk_manager_lookup(api->manager, st->sandbox, NULL) == NULL)
			g_hash_table_iter_remove(&it);
	}
}

AlkToolState *alk_tool_state(AlkApi *api, const char *sandbox)
{
	AlkToolState *st;

	if (api->tools == NULL)
		api->tools = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, state_free);
	st = g_hash_table_lookup(api->tools, sandbox);
	if (st != NULL)
		return st;
	sweep(api);
	st = g_new0(AlkToolState, 1);
	st->sandbox = g_strdup(sandbox);
	g_hash_table_insert(api->tools, st->sandbox, st);
	return st;
}

static void forget_states(AlkApi *api)
{
	g_clear_pointer(&api->tools, g_hash_table_destroy);
}

const AlkApiResource alk_api_tools_resource = {
    .name = "anthropic tools",
    .api_free = forget_states,
};

/* ---- a call ---- */

void alk_tool_call_hold(AlkToolCall *call, void (*cancel)(gpointer op), gpointer op)
{
	call->cancel = cancel;
	call->op = op;
}

char *alk_tool_text(const guint8 *data, gsize len)
{
	g_autoptr(GString) s = g_string_sized_new(len);

	/* a NUL would end the JSON string: U+FFFD, as for other invalid bytes */
	for (const guint8 *p = data, *end = data + len; p < end;) {
		const guint8 *nul = memchr(p, '\0', (gsize)(end - p));
		const guint8 *stop = nul != NULL ? nul : end;
		g_autofree char *valid =
		    stop > p ? g_utf8_make_valid((const char *)p, stop - p) : g_strdup("");

		g_string_append(s, valid);
		if (nul != NULL)
			g_string_append(s, "\xef\xbf\xbd");
		p = stop + (nul != NULL);
	}
	return g_string_free(g_steal_pointer(&s), FALSE);
}

void alk_tool_call_text(AlkToolCall *call, const char *text)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	alk_json_add_string(b, "type", "text");
	alk_json_add_string(b, "text", text);
	json_builder_end_object(b);
	g_ptr_array_add(call->content, json_builder_get_root(b));
}

void alk_tool_call_done(AlkToolCall *call, gboolean is_error)
{
	gboolean held = call->cancel != NULL;

	g_return_if_fail(!call->ended);
	call->ended = TRUE;
	call->is_error = is_error;
	call->cancel = NULL;
	call->op = NULL;
	if (held)
		call->finished(call, call->finished_data);
}

void alk_tool_call_fail(AlkToolCall *call, const char *format, ...)
{
	g_autofree char *text = NULL;
	va_list ap;

	va_start(ap, format);
	text = g_strdup_vprintf(format, ap);
	va_end(ap);
	alk_tool_call_text(call, text);
	alk_tool_call_done(call, TRUE);
}

gboolean alk_tool_call_input(AlkToolCall *call, const AlkJsonField *fields, gpointer out)
{
	g_autoptr(GError) error = NULL;

	if (alk_json_read_object(call->input, fields, out, &error))
		return TRUE;
	alk_tool_call_fail(call, "%s: bad input: %s", call->name, error->message);
	return FALSE;
}

void alk_tool_call_audit_text(AlkToolCall *call, const char *key, const char *value)
{
	if (value != NULL)
		alk_api_audit_add_field(call->audit, key, value, TRUE);
}

void alk_tool_call_audit_secret(AlkToolCall *call, const char *key, const char *data, gsize len)
{
	g_autofree char *sum =
	    g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)(data ?: ""), len);
	g_autofree char *k_bytes = g_strdup_printf("%s_bytes", key);
	g_autofree char *k_sum = g_strdup_printf("%s_sha256", key);

	if (data == NULL)
		return;
	sum[16] = '\0';
	alk_json_add_int(call->audit, k_bytes, (gint64)len);
	alk_json_add_string(call->audit, k_sum, sum);
}

static AlkToolCall *call_new(Batch *b, const Block *blk)
{
	AlkToolCall *call = g_new0(AlkToolCall, 1);

	call->api = b->api;
	call->sandbox = b->sandbox;
	call->caller = b->caller;
	call->name = blk->name;
	call->input = blk->input;
	call->content = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
	call->audit = json_builder_new();
	json_builder_begin_object(call->audit);
	alk_json_add_string(call->audit, "tool", blk->name);
	alk_json_add_string(call->audit, "tool_use_id", blk->id);
	return call;
}

static void call_free(AlkToolCall *call)
{
	g_ptr_array_unref(call->content);
	g_object_unref(call->audit);
	g_free(call);
}

static gsize content_bytes(AlkToolCall *call)
{
	gsize n = 0;

	for (guint i = 0; i < call->content->len; i++) {
		JsonObject *o = json_node_get_object(g_ptr_array_index(call->content, i));
		const char *t = json_object_get_string_member_with_default(o, "text", "");
		n += strlen(t);
	}
	return n;
}

/* Its audit line; aborted: the request went while it ran. */
static void call_audit(Batch *b, AlkToolCall *call, gboolean aborted)
{
	g_autoptr(JsonBuilder) r = json_builder_new();
	g_autoptr(JsonNode) args = NULL;
	g_autoptr(JsonNode) result = NULL;

	json_builder_end_object(call->audit);
	args = json_builder_get_root(call->audit);
	json_builder_begin_object(r);
	if (aborted) {
		alk_json_add_string(r, "aborted", "the request ended before the tool did");
	} else {
		alk_json_add_bool(r, "is_error", call->is_error);
		alk_json_add_int(r, "text_bytes", (gint64)content_bytes(call));
	}
	json_builder_end_object(r);
	result = json_builder_get_root(r);
	alk_api_audit(b->api, b->caller, "sandbox.tool", b->sandbox, args, result);
}

static JsonNode *call_result(AlkToolCall *call, const char *id)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	alk_json_add_string(b, "type", "tool_result");
	alk_json_add_string(b, "tool_use_id", id);
	json_builder_set_member_name(b, "content");
	json_builder_begin_array(b);
	for (guint i = 0; i < call->content->len; i++)
		json_builder_add_value(b, json_node_copy(g_ptr_array_index(call->content, i)));
	json_builder_end_array(b);
	alk_json_add_bool(b, "is_error", call->is_error);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

/* ---- the tools by name ---- */

static void run_editor_new(AlkToolCall *call)
{
	alk_tool_editor_run(call, FALSE);
}

static void run_editor_old(AlkToolCall *call)
{
	alk_tool_editor_run(call, TRUE);
}

/* computer: helper "computer"'s runner (alk-api-tools.h), which audits
 * the input it injects as sandbox.computer lines of its own */
static void computer_done(JsonArray *content, gboolean is_error, gpointer data)
{
	AlkToolCall *call = data;

	for (guint i = 0; i < json_array_get_length(content); i++)
		g_ptr_array_add(call->content, json_node_copy(json_array_get_element(content, i)));
	alk_tool_call_done(call, is_error);
}

static void computer_cancel(gpointer op)
{
	alk_api_tool_call_cancel(op);
}

static void run_computer(AlkToolCall *call)
{
	JsonNode *action = json_object_get_member(call->input, "action");
	JsonNode *text = json_object_get_member(call->input, "text");
	AlkApiToolCall *tc;

	if (action != NULL && JSON_NODE_HOLDS_VALUE(action) &&
	    json_node_get_value_type(action) == G_TYPE_STRING)
		alk_tool_call_audit_text(call, "action", json_node_get_string(action));
	if (text != NULL && JSON_NODE_HOLDS_VALUE(text) &&
	    json_node_get_value_type(text) == G_TYPE_STRING)
		alk_tool_call_audit_secret(call, "text", json_node_get_string(text),
		                           strlen(json_node_get_string(text)));
	tc = alk_api_tool_anthropic_computer(call->api, call->sandbox, call->input, call->caller,
	                                     computer_done, call);
	alk_tool_call_hold(call, computer_cancel, tc);
}

static const struct {
	const char *name;
	void (*run)(AlkToolCall *call);
} tools[] = {
    {"bash", alk_tool_bash_run},
    {"str_replace_based_edit_tool", run_editor_new},
    {"str_replace_editor", run_editor_old},
    {"computer", run_computer},
};

static void dispatch(AlkToolCall *call)
{
	for (guint i = 0; i < G_N_ELEMENTS(tools); i++) {
		if (g_str_equal(tools[i].name, call->name)) {
			tools[i].run(call);
			return;
		}
	}
	alk_tool_call_fail(call,
	                   "unknown tool '%s': the tools are bash, str_replace_based_edit_tool, "
	                   "str_replace_editor and (for a sandbox with a display) computer",
	                   call->name);
}

/* ---- the batch ---- */

static void batch_free(Batch *b)
{
	for (guint i = 0; b->blocks != NULL && i < b->blocks->len; i++)
		alk_json_fields_clear(block_fields, &g_array_index(b->blocks, Block, i));
	g_clear_pointer(&b->blocks, g_array_unref);
	g_clear_pointer(&b->results, g_ptr_array_unref);
	g_clear_pointer(&b->root, json_node_unref);
	g_free(b->sandbox);
	g_free(b->caller);
	g_free(b);
}

static void batch_reply(Batch *b)
{
	AlkApiReq *req = b->req;
	g_autoptr(JsonNode) node = NULL;

	if (b->single) {
		node = json_node_ref(g_ptr_array_index(b->results, 0));
	} else {
		JsonArray *a = json_array_sized_new(b->results->len);
		for (guint i = 0; i < b->results->len; i++)
			json_array_add_element(a, json_node_ref(g_ptr_array_index(b->results, i)));
		node = json_node_init_array(json_node_alloc(), a);
		json_array_unref(a);
	}
	if (req != NULL) {
		alk_api_req_detach(req);
		alk_api_reply_json(req, SOUP_STATUS_OK, node);
	}
	batch_free(b);
}

static void batch_collect(Batch *b)
{
	AlkToolCall *call = b->call;
	const Block *blk = &g_array_index(b->blocks, Block, b->next);

	call_audit(b, call, FALSE);
	g_ptr_array_add(b->results, call_result(call, blk->id));
	call_free(call);
	b->call = NULL;
	b->next++;
}

static void batch_run(Batch *b);

static gboolean on_idle(gpointer data)
{
	Batch *b = data;

	b->idle = 0;
	batch_collect(b);
	batch_run(b);
	return G_SOURCE_REMOVE;
}

/* A tool ends inside its task's callbacks: the next block, which may use
 * the same task, starts from the loop. */
static void on_finished(AlkToolCall *call, gpointer data)
{
	Batch *b = data;

	if (b->dispatching)
		return; /* batch_run goes on */
	b->idle = g_idle_add(on_idle, b);
}

static void batch_run(Batch *b)
{
	while (b->next < b->blocks->len) {
		b->call = call_new(b, &g_array_index(b->blocks, Block, b->next));
		b->call->finished = on_finished;
		b->call->finished_data = b;
		b->dispatching = TRUE;
		dispatch(b->call);
		b->dispatching = FALSE;
		if (!b->call->ended)
			return; /* on_finished goes on */
		batch_collect(b);
	}
	batch_reply(b);
}

static void on_abort(AlkApiReq *req, gpointer data)
{
	Batch *b = data;
	g_autoptr(GError) error = NULL;

	alk_api_req_detach(req);
	b->req = NULL;
	g_clear_handle_id(&b->idle, g_source_remove);
	if (b->call != NULL) {
		if (b->call->cancel != NULL)
			b->call->cancel(b->call->op);
		call_audit(b, b->call, !b->call->ended);
		call_free(b->call);
	}
	batch_free(b);
	if (req->aborted) {
		alk_api_req_release(req);
		return;
	}
	error = g_error_new(ALK_ERROR, ALK_ERROR_UNAVAILABLE, "airlockd is stopping");
	alk_api_reply_error(req, error);
}

static const AlkApiReqHooks batch_hooks = {.abort = on_abort};

/* The envelope, whole: every block read before any runs. */
static gboolean batch_read(Batch *b, GError **error)
{
	JsonArray *list = NULL;
	guint n = 1;

	if (JSON_NODE_HOLDS_ARRAY(b->root)) {
		list = json_node_get_array(b->root);
		n = json_array_get_length(list);
		if (n == 0 || n > ALK_TOOL_BLOCKS_MAX) {
			g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
			            "give 1 to %u tool_use blocks (%u given)", ALK_TOOL_BLOCKS_MAX,
			            n);
			return FALSE;
		}
	} else if (!JSON_NODE_HOLDS_OBJECT(b->root)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "the body must be a tool_use block or a list of them");
		return FALSE;
	}
	b->single = list == NULL;
	g_array_set_size(b->blocks, n);
	for (guint i = 0; i < n; i++) {
		JsonNode *node = list != NULL ? json_array_get_element(list, i) : b->root;
		Block *blk = &g_array_index(b->blocks, Block, i);
		g_autoptr(GError) e = NULL;

		const char *why = NULL;

		if (!JSON_NODE_HOLDS_OBJECT(node))
			why = "not an object";
		else if (!alk_json_read_object(json_node_get_object(node), block_fields, blk, &e))
			why = e->message;
		else if (!g_str_equal(blk->type, "tool_use"))
			why = "type must be \"tool_use\"";
		if (why != NULL) {
			g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "block %u: %s", i, why);
			return FALSE;
		}
	}
	return TRUE;
}

void alk_api_tools_anthropic_post(AlkApiReq *req)
{
	g_autoptr(GError) error = NULL;
	Batch *b;

	if (alk_api_req_sandbox(req, &error) == NULL) {
		alk_api_reply_error(req, error);
		return;
	}
	b = g_new0(Batch, 1);
	b->api = req->api;
	b->sandbox = g_strdup(req->id);
	b->caller = g_strdup(req->caller);
	b->blocks = g_array_new(FALSE, TRUE, sizeof(Block));
	b->results = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
	if (req->body == NULL || req->body->len == 0)
		g_set_error(&error, ALK_ERROR, ALK_ERROR_INVALID, "the body is empty");
	else
		b->root = alk_json_parse((const char *)req->body->data, req->body->len,
		                         req->api->config->api.max_body_bytes, ALK_JSON_MAX_DEPTH,
		                         &error);
	if (b->root == NULL || !batch_read(b, &error)) {
		alk_api_reply_error(req, error);
		batch_free(b);
		return;
	}
	b->req = req;
	alk_api_req_hold(req);
	alk_api_req_attach(req, b, NULL, &batch_hooks);
	batch_run(b);
}

/* ---- the definitions ---- */

static void add_tool(JsonBuilder *b, const char *type, const char *name)
{
	json_builder_begin_object(b);
	alk_json_add_string(b, "type", type);
	alk_json_add_string(b, "name", name);
	json_builder_end_object(b);
}

void alk_api_tools_anthropic_definitions(AlkApiReq *req)
{
	const char *editor = alk_api_query(req, "editor");
	const char *computer = alk_api_query(req, "computer");
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) screen = NULL;
	const AlkSandbox *sb;

	if (editor == NULL)
		editor = "20250728";
	if (computer == NULL)
		computer = "computer_20250124";
	if (!g_str_equal(editor, "20250728") && !g_str_equal(editor, "20250124"))
		error = g_error_new(ALK_ERROR, ALK_ERROR_INVALID,
		                    "editor: 20250728 (str_replace_based_edit_tool) or 20250124 "
		                    "(str_replace_editor)");
	else if (!g_str_equal(computer, "computer_20250124") &&
	         !g_str_equal(computer, "computer_20251124"))
		error = g_error_new(ALK_ERROR, ALK_ERROR_INVALID,
		                    "computer: computer_20250124 or computer_20251124");
	if (error != NULL || (sb = alk_api_req_sandbox(req, &error)) == NULL ||
	    (sb->limits.display_width > 0 && (screen = alk_api_tool_anthropic_computer_definition(
	                                          req->api, req->id, computer, &error)) == NULL)) {
		alk_api_reply_error(req, error);
		return;
	}
	json_builder_begin_array(b);
	add_tool(b, "bash_20250124", "bash");
	if (g_str_equal(editor, "20250728"))
		add_tool(b, "text_editor_20250728", "str_replace_based_edit_tool");
	else
		add_tool(b, "text_editor_20250124", "str_replace_editor");
	if (screen != NULL) {
		JsonNode *node = json_node_init_object(json_node_alloc(), screen);
		json_builder_add_value(b, node);
	}
	json_builder_end_array(b);
	alk_api_reply_builder(req, SOUP_STATUS_OK, b);
}
