/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The MCP tools: one row each, with the field table that both reads a
 * call's arguments (alk_json_read_object: types, ranges, no unknown
 * member) and becomes the inputSchema clients are shown, so the two cannot
 * disagree. Each tool calls the core functions the REST handlers call.
 * Here the sandbox tools, the table and the schemas; the tools that run
 * tasks in a sandbox (exec, files) are in alk-api-mcp-tasks.c. */
#include <string.h>

#include "alk-allow.h"
#include "alk-api-computer.h"
#include "alk-api-mcp.h"
#include "alk-error.h"

static gboolean invalid(GError **error, const char *what)
{
	g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "%s", what);
	return FALSE;
}

static JsonNode *sandbox_node(const AlkSandbox *sb)
{
	return alk_api_json_sandbox_node(sb, NULL);
}

static JsonNode *audit_id(const char *key, const char *value)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	alk_json_add_string(b, key, value);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

/* A call on a sandbox named by its "sandbox" argument: looked up first. */
static const AlkSandbox *lookup(AlkMcpCall *call, const char *id)
{
	g_autoptr(GError) error = NULL;
	const AlkSandbox *sb;

	alk_mcp_call_set_sandbox(call, id);
	sb = alk_manager_lookup(alk_mcp_call_api(call)->manager, id, &error);
	if (sb == NULL)
		alk_mcp_call_fail(call, error);
	return sb;
}

/* ---- waiting for a sandbox to settle (create, destroy) ---- */

typedef struct {
	AlkMcpCall *call;
	AlkManagerWait *wait;
} Wait;

static void wait_cancel(gpointer data)
{
	Wait *w = data;
	alk_manager_wait_cancel(w->wait);
	g_free(w);
}

static void wait_settled(const AlkSandbox *sb, const GError *error, gpointer data)
{
	Wait *w = data;
	AlkMcpCall *call = w->call;

	g_free(w);
	if (error != NULL)
		alk_mcp_call_fail(call, error);
	else
		alk_mcp_call_reply(call, NULL, sandbox_node(sb),
		                   audit_id("state", alk_sandbox_state_name(sb->state)));
}

static void wait_for(AlkMcpCall *call, const char *id, AlkSandboxState until)
{
	Wait *w = g_new0(Wait, 1);
	g_autoptr(GError) error = NULL;

	w->call = call;
	alk_mcp_call_hold(call, wait_cancel, w);
	if (!alk_manager_wait(alk_mcp_call_api(call)->manager, id, until, wait_settled, w, &w->wait,
	                      &error)) {
		g_free(w);
		alk_mcp_call_fail(call, error);
	}
	/* wait NULL: settled already, w freed by wait_settled */
}

/* ---- sandbox_create ---- */

typedef struct {
	char *image, *profile, *network;
	char **allow;
	guint64 ttl_s, cpus, memory_mib, disk_mib;
	GHashTable *labels;
	JsonObject *display; /* borrowed: read when the tool starts */
	char *root;
	char **readonly_paths;
	guint64 workspace_mib; /* G_MAXUINT64 while absent (0: none) */
	JsonArray *volumes;    /* borrowed, checked by POST /v1/sandboxes' reader */
} CreateArgs;

#define C(m) G_STRUCT_OFFSET(CreateArgs, m)
static const AlkJsonField create_fields[] = {
    {"image", ALK_JSON_STRING, C(image), FALSE, 1, ALK_IMAGE_NAME_MAX, 0},
    {"profile", ALK_JSON_STRING, C(profile), FALSE, 1, ALK_PROFILE_NAME_MAX, 0},
    {"network", ALK_JSON_STRING, C(network), FALSE, 1, 16, 0},
    {"allow", ALK_JSON_STRING_ARRAY, C(allow), FALSE, 0, ALK_ALLOW_MAX, ALK_ALLOW_ENTRY_MAX},
    {"ttl_s", ALK_JSON_UINT, C(ttl_s), FALSE, 1, 31536000, 0},
    {"cpus", ALK_JSON_UINT, C(cpus), FALSE, 1, 64, 0},
    {"memory_mib", ALK_JSON_UINT, C(memory_mib), FALSE, ALK_MEMORY_MIB_MIN, 1048576, 0},
    {"disk_mib", ALK_JSON_UINT, C(disk_mib), FALSE, 1, 16777216, 0},
    {"labels", ALK_JSON_STRING_MAP, C(labels), FALSE, 0, ALK_LABELS_MAX, ALK_LABEL_VALUE_MAX},
    {"display", ALK_JSON_OBJECT, C(display), FALSE, 0, 0, 0},
    {"root", ALK_JSON_STRING, C(root), FALSE, 1, 16, 0},
    {"readonly_paths", ALK_JSON_STRING_ARRAY, C(readonly_paths), FALSE, 0, ALK_FS_RO_PATHS_MAX,
     ALK_FS_PATH_MAX},
    {"workspace_mib", ALK_JSON_UINT, C(workspace_mib), FALSE, 0, 16777216, 0},
    {"volumes", ALK_JSON_OBJECT_ARRAY, C(volumes), FALSE, 0, ALK_VOLUMES_PER_SANDBOX, 0},
    ALK_MCP_FIELDS_END,
};
#undef C
static const char *const root_modes[] = {"writable", "readonly", NULL};
static const char *const net_modes[] = {"none", "isolated", "allowlist", NULL};
static const AlkMcpDoc create_docs[] = {
    {"image name (default: the daemon's default image)", NULL},
    {"profile name: development, staging, production (default: the daemon's)", NULL},
    {"network mode: none (no NIC, the default), isolated, allowlist", net_modes},
    {"allowlist entries, HOST[:PORT] (network allowlist)", NULL},
    {"time to live in seconds (default: the profile's)", NULL},
    {"vCPUs (within the profile)", NULL},
    {"memory in MiB (within the profile)", NULL},
    {"root disk size in MiB (within the profile)", NULL},
    {"labels, KEY: VALUE", NULL},
    {"a virtual screen, keyboard and mouse of this mode (within the profile), for the "
     "screenshot and computer tools",
     NULL},
    {"writable or readonly (a read-only root, /tmp, /var/tmp, /run on capped tmpfs; default: "
     "the profile's)",
     root_modes},
    {"absolute paths bound read-only in the guest (for non-root users)", NULL},
    {"a disk of this many MiB on /workspace, owned by the default user (0: none; default: "
     "the profile's)",
     NULL},
    {"named volumes to attach (made with `airlock volume create` or POST /v1/volumes); "
     "read-only unless readonly is false and the profile allows it",
     NULL},
};

/* volumes: [{name, path, readonly}], as docs/openapi.yaml's VolumeAttachment */
static JsonNode *volumes_schema(void)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autofree char *name = g_strdup_printf("^[a-z0-9_-]{1,%d}$", ALK_VOLUME_NAME_MAX);

	json_builder_begin_object(b);
	alk_json_add_string(b, "type", "array");
	alk_json_add_int(b, "maxItems", ALK_VOLUMES_PER_SANDBOX);
	json_builder_set_member_name(b, "items");
	json_builder_begin_object(b);
	alk_json_add_string(b, "type", "object");
	json_builder_set_member_name(b, "properties");
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "name");
	json_builder_begin_object(b);
	alk_json_add_string(b, "type", "string");
	alk_json_add_string(b, "pattern", name);
	json_builder_end_object(b);
	json_builder_set_member_name(b, "path");
	json_builder_begin_object(b);
	alk_json_add_string(b, "type", "string");
	alk_json_add_string(b, "description", "absolute path in the guest to mount it on");
	alk_json_add_int(b, "minLength", 2);
	alk_json_add_int(b, "maxLength", ALK_FS_PATH_MAX);
	json_builder_end_object(b);
	json_builder_set_member_name(b, "readonly");
	json_builder_begin_object(b);
	alk_json_add_string(b, "type", "boolean");
	alk_json_add_bool(b, "default", TRUE);
	json_builder_end_object(b);
	json_builder_end_object(b);
	alk_json_add_strv(b, "required", (const char *const[]){"name", "path", NULL});
	alk_json_add_bool(b, "additionalProperties", FALSE);
	json_builder_end_object(b);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

static JsonNode *create_schema(const char *field)
{
	/* display: {width, height}, as POST /v1/sandboxes takes it (the profile
	 * caps the size when the sandbox is made): the same shape as a computer
	 * batch's scale_to, the runner's schema */
	if (strcmp(field, "display") == 0)
		return alk_api_computer_scale_schema();
	return strcmp(field, "volumes") == 0 ? volumes_schema() : NULL;
}

static void create_init(gpointer data)
{
	((CreateArgs *)data)->workspace_mib = G_MAXUINT64;
}

static gboolean create_check(gpointer data, GError **error)
{
	CreateArgs *a = data;

	if (a->network != NULL && !g_strv_contains(net_modes, a->network))
		return invalid(error, "network: none, isolated or allowlist");
	if (a->allow != NULL && g_strcmp0(a->network, "allowlist") != 0)
		return invalid(error, "allow: only with network \"allowlist\"");
	return TRUE;
}

static void set_uint(JsonObject *o, const char *key, guint64 v)
{
	if (v != 0)
		json_object_set_int_member(o, key, (gint64)v);
}

static JsonArray *strv_array(char **strv)
{
	JsonArray *a = json_array_new();
	for (guint i = 0; strv != NULL && strv[i] != NULL; i++)
		json_array_add_string_element(a, strv[i]);
	return a;
}

/* The REST body {image, profile, network:{mode, allow}, …} of the
 * arguments, read by the same function as POST /v1/sandboxes. */
static JsonObject *create_body(CreateArgs *a)
{
	JsonObject *o = json_object_new();

	if (a->image != NULL)
		json_object_set_string_member(o, "image", a->image);
	if (a->profile != NULL)
		json_object_set_string_member(o, "profile", a->profile);
	set_uint(o, "ttl_s", a->ttl_s);
	set_uint(o, "cpus", a->cpus);
	set_uint(o, "memory_mib", a->memory_mib);
	set_uint(o, "disk_mib", a->disk_mib);
	if (a->network != NULL) {
		JsonObject *net = json_object_new();
		json_object_set_string_member(net, "mode", a->network);
		json_object_set_array_member(net, "allow", strv_array(a->allow));
		json_object_set_object_member(o, "network", net);
	}
	if (a->root != NULL)
		json_object_set_string_member(o, "root", a->root);
	if (a->readonly_paths != NULL)
		json_object_set_array_member(o, "readonly_paths", strv_array(a->readonly_paths));
	if (a->labels != NULL) {
		JsonObject *labels = json_object_new();
		GHashTableIter it;
		gpointer k, v;
		g_hash_table_iter_init(&it, a->labels);
		while (g_hash_table_iter_next(&it, &k, &v))
			json_object_set_string_member(labels, k, v);
		json_object_set_object_member(o, "labels", labels);
	}
	if (a->display != NULL)
		json_object_set_object_member(o, "display", json_object_ref(a->display));
	if (a->workspace_mib != G_MAXUINT64)
		json_object_set_int_member(o, "workspace_mib", (gint64)a->workspace_mib);
	if (a->volumes != NULL)
		json_object_set_array_member(o, "volumes", json_array_ref(a->volumes));
	return o;
}

static void create_run(AlkMcpCall *call, gpointer data)
{
	g_autoptr(JsonObject) body = create_body(data);
	g_autoptr(GError) error = NULL;
	const AlkSandbox *sb = alk_api_sandboxes_make(alk_mcp_call_api(call), body, &error);

	if (sb == NULL) {
		alk_mcp_call_fail(call, error);
		return;
	}
	alk_mcp_call_set_sandbox(call, sb->id);
	wait_for(call, sb->id, ALK_SANDBOX_READY);
}

/* ---- sandbox_list, _inspect, _destroy, _pause, _resume ---- */

typedef struct {
	char *sandbox;
} IdArgs;
static const AlkJsonField id_fields[] = {ALK_MCP_SANDBOX_FIELD(IdArgs), ALK_MCP_FIELDS_END};
static const AlkMcpDoc id_docs[] = {ALK_MCP_SANDBOX_DOC};
static const AlkJsonField no_fields[] = {ALK_MCP_FIELDS_END};

static void list_run(AlkMcpCall *call, gpointer data)
{
	g_autoptr(GPtrArray) all = alk_manager_list(alk_mcp_call_api(call)->manager);
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "sandboxes");
	json_builder_begin_array(b);
	for (guint i = 0; i < all->len; i++) {
		const AlkSandbox *sb = g_ptr_array_index(all, i);
		/* warm pool members are nobody's until handed out */
		if (sb->pool == NULL)
			alk_api_json_sandbox(b, sb, NULL);
	}
	json_builder_end_array(b);
	json_builder_end_object(b);
	alk_mcp_call_reply(call, NULL, json_builder_get_root(b), NULL);
}

static void inspect_run(AlkMcpCall *call, gpointer data)
{
	IdArgs *a = data;
	const AlkSandbox *sb = lookup(call, a->sandbox);

	if (sb != NULL)
		alk_mcp_call_reply(call, NULL, sandbox_node(sb), NULL);
}

static void destroy_run(AlkMcpCall *call, gpointer data)
{
	IdArgs *a = data;
	AlkManager *m = alk_mcp_call_api(call)->manager;
	g_autoptr(GError) error = NULL;
	const AlkSandbox *sb = lookup(call, a->sandbox);
	g_autoptr(JsonNode) gone = NULL;

	if (sb == NULL)
		return;
	gone = alk_api_json_sandbox_node(sb, "destroyed");
	if (!alk_manager_destroy(m, a->sandbox, &error)) {
		alk_mcp_call_fail(call, error);
		return;
	}
	sb = alk_manager_lookup(m, a->sandbox, NULL);
	if (sb == NULL)
		alk_mcp_call_reply(call, NULL, g_steal_pointer(&gone),
		                   audit_id("state", "destroyed"));
	else
		wait_for(call, a->sandbox, ALK_SANDBOX_DESTROYED);
}

static void audit_manager_call(AlkApiCall *apicall, const AlkSandbox *sb, const GError *error)
{
	AlkMcpCall *call = alk_api_call_data(apicall);
	g_autoptr(JsonNode) args = alk_mcp_call_audit_args(call);
	g_autoptr(JsonBuilder) r = json_builder_new();
	g_autoptr(JsonNode) result = NULL;

	json_builder_begin_object(r);
	if (error != NULL) {
		alk_json_add_string(r, "error", error->message);
	} else {
		alk_json_add_string(r, "state", alk_sandbox_state_name(sb->state));
		alk_json_add_strv(r, "allow", (const char *const *)sb->net.allow);
	}
	alk_json_add_int(r, "elapsed_ms", alk_api_call_elapsed_ms(apicall));
	json_builder_end_object(r);
	result = json_builder_get_root(r);
	alk_api_call_audit(apicall, alk_mcp_call_action(call), args, result);
}

static const AlkApiCallClass pause_call = {
    .finish = alk_manager_pause_finish,
    .audit = audit_manager_call,
    .reply = alk_mcp_call_answer_sandbox,
};
static const AlkApiCallClass network_call = {
    .finish = alk_manager_set_network_finish,
    .audit = audit_manager_call,
    .reply = alk_mcp_call_answer_sandbox,
};

static void pause_or_resume(AlkMcpCall *call, IdArgs *a, gboolean pause)
{
	AlkApiCall *apicall;

	if (lookup(call, a->sandbox) == NULL)
		return;
	apicall = alk_mcp_call_manager(call, &pause_call);
	alk_manager_pause_async(alk_mcp_call_api(call)->manager, a->sandbox, pause,
	                        alk_api_call_done, apicall);
}

static void pause_run(AlkMcpCall *call, gpointer data)
{
	pause_or_resume(call, data, TRUE);
}

static void resume_run(AlkMcpCall *call, gpointer data)
{
	pause_or_resume(call, data, FALSE);
}

/* ---- set_allowlist ---- */

typedef struct {
	char *sandbox;
	char **allow;
} AllowArgs;
static const AlkJsonField allow_fields[] = {
    ALK_MCP_SANDBOX_FIELD(AllowArgs),
    {"allow", ALK_JSON_STRING_ARRAY, G_STRUCT_OFFSET(AllowArgs, allow), TRUE, 0, ALK_ALLOW_MAX,
     ALK_ALLOW_ENTRY_MAX},
    ALK_MCP_FIELDS_END,
};
static const AlkMcpDoc allow_docs[] = {
    ALK_MCP_SANDBOX_DOC,
    {"the new allowlist, HOST[:PORT] entries (empty: allow nothing)", NULL},
};

static void allow_run(AlkMcpCall *call, gpointer data)
{
	AllowArgs *a = data;
	AlkApiCall *apicall;

	if (lookup(call, a->sandbox) == NULL)
		return;
	apicall = alk_mcp_call_manager(call, &network_call);
	/* the arguments live as long as the call, its data */
	alk_manager_set_network_async(alk_mcp_call_api(call)->manager, a->sandbox,
	                              (const char *const *)a->allow, alk_api_call_done, apicall);
}

/* ---- the table ---- */

#define READ ALK_SCOPE_READ
#define WRITE ALK_SCOPE_WRITE
static const AlkMcpTool tool_sandbox_create = {
    .name = "sandbox_create",
    .title = "Create a sandbox",
    .description =
        "Creates a disposable virtual machine and waits until it is ready; answers with the "
        "sandbox (its id is what the other tools take). Everything in it is thrown away when it "
        "is destroyed or its time to live runs out.",
    .scope = WRITE,
    .fields = create_fields,
    .docs = create_docs,
    .size = sizeof(CreateArgs),
    .init = create_init,
    .check = create_check,
    .run = create_run,
    .field_schema = create_schema,
};

static const AlkMcpTool tool_sandbox_list = {
    .name = "sandbox_list",
    .title = "List sandboxes",
    .description = "Lists the sandboxes and their states.",
    .scope = READ,
    .read_only = TRUE,
    .fields = no_fields,
    .size = sizeof(IdArgs),
    .run = list_run,
};

static const AlkMcpTool tool_sandbox_inspect = {
    .name = "sandbox_inspect",
    .title = "Inspect a sandbox",
    .description = "A sandbox's state, image, profile, limits, network and deadline.",
    .scope = READ,
    .read_only = TRUE,
    .fields = id_fields,
    .docs = id_docs,
    .size = sizeof(IdArgs),
    .run = inspect_run,
};

static const AlkMcpTool tool_sandbox_destroy = {
    .name = "sandbox_destroy",
    .title = "Destroy a sandbox",
    .description = "Destroys a sandbox and discards everything in it; waits until it is gone.",
    .scope = WRITE,
    .destructive = TRUE,
    .fields = id_fields,
    .docs = id_docs,
    .size = sizeof(IdArgs),
    .run = destroy_run,
};

static const AlkMcpTool tool_sandbox_pause = {
    .name = "sandbox_pause",
    .title = "Pause a sandbox",
    .description = "Stops a ready sandbox's vCPUs (its memory stays; its time to live runs on).",
    .scope = WRITE,
    .fields = id_fields,
    .docs = id_docs,
    .size = sizeof(IdArgs),
    .run = pause_run,
};

static const AlkMcpTool tool_sandbox_resume = {
    .name = "sandbox_resume",
    .title = "Resume a sandbox",
    .description = "Starts a paused sandbox's vCPUs again.",
    .scope = WRITE,
    .fields = id_fields,
    .docs = id_docs,
    .size = sizeof(IdArgs),
    .run = resume_run,
};

static const AlkMcpTool tool_set_allowlist = {
    .name = "set_allowlist",
    .title = "Change the allowlist",
    .description =
        "Replaces the network allowlist of a sandbox in network mode allowlist; connections to "
        "destinations no longer allowed are cut.",
    .scope = WRITE,
    .fields = allow_fields,
    .docs = allow_docs,
    .size = sizeof(AllowArgs),
    .run = allow_run,
};

static const AlkMcpTool *const tools[] = {
    &tool_sandbox_create,  &tool_sandbox_list,       &tool_sandbox_inspect,
    &tool_sandbox_destroy, &tool_sandbox_pause,      &tool_sandbox_resume,
    &alk_mcp_tool_exec,    &alk_mcp_tool_file_read,  &alk_mcp_tool_file_write,
    &tool_set_allowlist,   &alk_mcp_tool_screenshot, &alk_mcp_tool_computer,
};
#undef READ
#undef WRITE

const AlkMcpTool *alk_mcp_tool_find(const char *name)
{
	for (guint i = 0; i < G_N_ELEMENTS(tools); i++) {
		if (g_strcmp0(tools[i]->name, name) == 0)
			return tools[i];
	}
	return NULL;
}

const char *alk_mcp_tool_name(const AlkMcpTool *tool)
{
	return tool->name;
}

AlkScope alk_mcp_tool_scope(const AlkMcpTool *tool)
{
	return tool->scope;
}

static void add_range(JsonBuilder *b, const char *lo, const char *hi, const AlkJsonField *f)
{
	if (f->min > 0) {
		json_builder_set_member_name(b, lo);
		json_builder_add_int_value(b, f->min);
	}
	if (f->max > 0) {
		json_builder_set_member_name(b, hi);
		json_builder_add_int_value(b, f->max);
	}
}

static void add_string_schema(JsonBuilder *b, gsize max)
{
	json_builder_begin_object(b);
	alk_json_add_string(b, "type", "string");
	if (max > 0)
		alk_json_add_int(b, "maxLength", (gint64)max);
	json_builder_end_object(b);
}

/* One property's schema, from its field row. */
static void add_property(JsonBuilder *b, const AlkMcpTool *tool, const AlkJsonField *f,
                         const AlkMcpDoc *doc)
{
	static const char *const types[] = {
	    [ALK_JSON_STRING] = "string",      [ALK_JSON_INT] = "integer",
	    [ALK_JSON_UINT] = "integer",       [ALK_JSON_BOOL] = "boolean",
	    [ALK_JSON_STRING_ARRAY] = "array", [ALK_JSON_STRING_MAP] = "object",
	    [ALK_JSON_OBJECT] = "object",      [ALK_JSON_ARRAY] = "array",
	};
	JsonNode *own = tool->field_schema != NULL ? tool->field_schema(f->name) : NULL;

	json_builder_set_member_name(b, f->name);
	if (own != NULL) {
		/* its owner's schema, with the description */
		if (doc != NULL && doc->description != NULL)
			json_object_set_string_member(json_node_get_object(own), "description",
			                              doc->description);
		json_builder_add_value(b, own);
		return;
	}
	json_builder_begin_object(b);
	alk_json_add_string(b, "type", types[f->type]);
	if (doc != NULL && doc->description != NULL)
		alk_json_add_string(b, "description", doc->description);
	if (doc != NULL && doc->values != NULL)
		alk_json_add_strv(b, "enum", doc->values);
	if (f->type == ALK_JSON_STRING)
		add_range(b, "minLength", "maxLength", f);
	else if (f->type == ALK_JSON_INT || f->type == ALK_JSON_UINT)
		add_range(b, "minimum", "maximum", f);
	else if (f->type == ALK_JSON_STRING_ARRAY || f->type == ALK_JSON_ARRAY)
		add_range(b, "minItems", "maxItems", f);
	else if (f->type == ALK_JSON_STRING_MAP)
		add_range(b, "minProperties", "maxProperties", f);
	if (f->type == ALK_JSON_STRING_ARRAY) {
		json_builder_set_member_name(b, "items");
		add_string_schema(b, f->item_max);
	} else if (f->type == ALK_JSON_STRING_MAP) {
		json_builder_set_member_name(b, "additionalProperties");
		add_string_schema(b, f->item_max);
	}
	json_builder_end_object(b);
}

JsonNode *alk_mcp_tool_schema(const AlkMcpTool *tool)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(GPtrArray) required = g_ptr_array_new();

	json_builder_begin_object(b);
	alk_json_add_string(b, "type", "object");
	json_builder_set_member_name(b, "properties");
	json_builder_begin_object(b);
	for (guint i = 0; tool->fields[i].name != NULL; i++) {
		add_property(b, tool, &tool->fields[i], tool->docs != NULL ? &tool->docs[i] : NULL);
		if (tool->fields[i].required)
			g_ptr_array_add(required, (gpointer)tool->fields[i].name);
	}
	json_builder_end_object(b);
	g_ptr_array_add(required, NULL);
	alk_json_add_strv(b, "required", (const char *const *)required->pdata);
	alk_json_add_bool(b, "additionalProperties", FALSE);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

JsonNode *alk_mcp_tools_list(void)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "tools");
	json_builder_begin_array(b);
	for (guint i = 0; i < G_N_ELEMENTS(tools); i++) {
		const AlkMcpTool *t = tools[i];
		json_builder_begin_object(b);
		alk_json_add_string(b, "name", t->name);
		alk_json_add_string(b, "title", t->title);
		alk_json_add_string(b, "description", t->description);
		json_builder_set_member_name(b, "inputSchema");
		json_builder_add_value(b, alk_mcp_tool_schema(t));
		json_builder_set_member_name(b, "annotations");
		json_builder_begin_object(b);
		alk_json_add_bool(b, "readOnlyHint", t->read_only);
		alk_json_add_bool(b, "destructiveHint", t->destructive);
		alk_json_add_bool(b, "openWorldHint", FALSE);
		json_builder_end_object(b);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

gpointer alk_mcp_tool_args(const AlkMcpTool *tool, JsonObject *arguments, GError **error)
{
	gpointer args = g_malloc0(tool->size);

	if (tool->init != NULL)
		tool->init(args);
	if (!alk_json_read_object(arguments, tool->fields, args, error) ||
	    (tool->check != NULL && !tool->check(args, error))) {
		alk_mcp_tool_args_free(tool, args);
		return NULL;
	}
	return args;
}

void alk_mcp_tool_args_free(const AlkMcpTool *tool, gpointer args)
{
	if (args == NULL)
		return;
	alk_json_fields_clear(tool->fields, args);
	g_free(args);
}

void alk_mcp_tool_run(const AlkMcpTool *tool, AlkMcpCall *call, gpointer args)
{
	tool->run(call, args);
}
