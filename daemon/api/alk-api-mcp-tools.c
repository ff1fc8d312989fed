/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The MCP tools: one row each, with the field table that both reads a
 * call's arguments (alk_json_read_object: types, ranges, no unknown
 * member) and becomes the inputSchema clients are shown, so the two cannot
 * disagree. Each tool calls the core functions the REST handlers call. */
#include <signal.h>
#include <string.h>

#include "alk-allow.h"
#include "alk-api-mcp.h"
#include "alk-error.h"

#define ID_LEN ALK_SANDBOX_ID_LEN
#define PATH_MAX_BYTES 4096
#define ARG_MAX_BYTES (64 * 1024)
#define TIMEOUT_MAX_S 604800

/* What a field table cannot say: a description, and for strings the
 * values allowed. Parallel to the table. */
typedef struct {
	const char *description;
	const char *const *values;
} Doc;

struct AlkMcpTool {
	const char *name;
	const char *title;
	const char *description;
	AlkScope scope;
	gboolean read_only;
	gboolean destructive;
	const AlkJsonField *fields;
	const Doc *docs;
	gsize size; /* of the arguments struct */
	/* checks beyond the table's (one of two members, say) */
	gboolean (*check)(gpointer args, GError **error);
	void (*run)(AlkMcpCall *call, gpointer args);
};

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

#define SANDBOX_FIELD(T)                                                                           \
	{                                                                                          \
		"sandbox", ALK_JSON_STRING, G_STRUCT_OFFSET(T, sandbox), TRUE, ID_LEN, ID_LEN, 0   \
	}
#define SANDBOX_DOC                                                                                \
	{                                                                                          \
		"the sandbox's id (12 lowercase hex characters)", NULL                             \
	}
#define END                                                                                        \
	{                                                                                          \
		NULL, 0, 0, FALSE, 0, 0, 0                                                         \
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
    END,
};
#undef C
static const char *const net_modes[] = {"none", "isolated", "allowlist", NULL};
static const Doc create_docs[] = {
    {"image name (default: the daemon's default image)", NULL},
    {"profile name: development, staging, production (default: the daemon's)", NULL},
    {"network mode: none (no NIC, the default), isolated, allowlist", net_modes},
    {"allowlist entries, HOST[:PORT] (network allowlist)", NULL},
    {"time to live in seconds (default: the profile's)", NULL},
    {"vCPUs (within the profile)", NULL},
    {"memory in MiB (within the profile)", NULL},
    {"root disk size in MiB (within the profile)", NULL},
    {"labels, KEY: VALUE", NULL},
};

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
	if (a->labels != NULL) {
		JsonObject *labels = json_object_new();
		GHashTableIter it;
		gpointer k, v;
		g_hash_table_iter_init(&it, a->labels);
		while (g_hash_table_iter_next(&it, &k, &v))
			json_object_set_string_member(labels, k, v);
		json_object_set_object_member(o, "labels", labels);
	}
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
static const AlkJsonField id_fields[] = {SANDBOX_FIELD(IdArgs), END};
static const Doc id_docs[] = {SANDBOX_DOC};
static const AlkJsonField no_fields[] = {END};

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
    SANDBOX_FIELD(AllowArgs),
    {"allow", ALK_JSON_STRING_ARRAY, G_STRUCT_OFFSET(AllowArgs, allow), TRUE, 0, ALK_ALLOW_MAX,
     ALK_ALLOW_ENTRY_MAX},
    END,
};
static const Doc allow_docs[] = {
    SANDBOX_DOC,
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

/* ---- exec ---- */

typedef struct {
	char *sandbox;
	char **argv;
	char *command;
	guint64 timeout_s;
	char *stdin_text;
	GHashTable *env;
	char *cwd;
} ExecArgs;
#define X(m) G_STRUCT_OFFSET(ExecArgs, m)
static const AlkJsonField exec_fields[] = {
    SANDBOX_FIELD(ExecArgs),
    {"argv", ALK_JSON_STRING_ARRAY, X(argv), FALSE, 1, ALK_PROTO_MAX_ARGS, ARG_MAX_BYTES},
    {"command", ALK_JSON_STRING, X(command), FALSE, 1, ARG_MAX_BYTES, 0},
    {"timeout_s", ALK_JSON_UINT, X(timeout_s), FALSE, 1, TIMEOUT_MAX_S, 0},
    {"stdin", ALK_JSON_STRING, X(stdin_text), FALSE, 0, 0, 0},
    {"env", ALK_JSON_STRING_MAP, X(env), FALSE, 0, ALK_PROTO_MAX_ENV, ARG_MAX_BYTES},
    {"cwd", ALK_JSON_STRING, X(cwd), FALSE, 1, PATH_MAX_BYTES, 0},
    END,
};
#undef X
static const Doc exec_docs[] = {
    SANDBOX_DOC,
    {"the program and its arguments, run directly (give argv or command)", NULL},
    {"a shell command line, run with /bin/sh -c (give argv or command)", NULL},
    {"seconds before the process group is killed (default: the profile's)", NULL},
    {"text given on standard input (default: none)", NULL},
    {"environment variables, NAME: VALUE", NULL},
    {"working directory, an absolute path", NULL},
};

static gboolean exec_check(gpointer data, GError **error)
{
	ExecArgs *a = data;

	if ((a->argv == NULL) == (a->command == NULL))
		return invalid(error, "give exactly one of argv and command");
	return TRUE;
}

typedef struct {
	AlkMcpCall *call;
	AlkApi *api;
	AlkTask *task;
	AlkApiExecBody body; /* borrowed from the arguments: never cleared */
	GBytes *stdin_data;
	gsize stdin_off;
	GByteArray *out[2];
	gboolean cut;
	AlkApiExecTally tally;
} Exec;

static void exec_free(Exec *x)
{
	g_clear_pointer(&x->stdin_data, g_bytes_unref);
	g_clear_pointer(&x->body.env_strings, g_ptr_array_unref);
	g_strfreev(x->body.argv);
	for (guint i = 0; i < 2; i++) {
		alk_api_output_drop(x->api, x->out[i]);
		g_byte_array_unref(x->out[i]);
	}
	alk_api_exec_tally_clear(&x->tally);
	g_free(x);
}

static void exec_output(AlkTask *task, int stream, const guint8 *d, gsize len, gpointer data)
{
	Exec *x = data;
	guint i = alk_api_exec_tally_add(&x->tally, stream, d, len);

	if (!alk_api_output_keep(x->api, x->out[i], d, len))
		x->cut = TRUE;
}

static void exec_writable(AlkTask *task, gpointer data)
{
	Exec *x = data;
	alk_api_task_feed(x->task, &x->stdin_data, &x->stdin_off);
}

static void exec_done(AlkTask *task, const AlkTaskResult *result, gpointer data)
{
	Exec *x = data;
	g_autoptr(JsonBuilder) b = json_builder_new();
	AlkMcpCall *call = x->call;

	x->task = NULL;
	json_builder_begin_object(b);
	alk_api_json_add_exit(b, result, FALSE);
	alk_api_json_add_output(b, "stdout", x->out[0]->data, x->out[0]->len);
	alk_api_json_add_output(b, "stderr", x->out[1]->data, x->out[1]->len);
	alk_json_add_bool(b, "truncated", result->truncated || x->cut);
	alk_json_add_int(b, "duration_ms", (gint64)result->exit->duration_ms);
	json_builder_end_object(b);
	alk_api_exec_observe(x->api, &x->tally);
	alk_mcp_call_reply(call, NULL, json_builder_get_root(b),
	                   alk_api_exec_audit_result(&x->tally, result, NULL));
	exec_free(x);
}

static void exec_failed(AlkTask *task, const GError *error, gpointer data)
{
	Exec *x = data;

	x->task = NULL;
	alk_mcp_call_fail(x->call, error);
	exec_free(x);
}

static const AlkTaskCallbacks exec_callbacks = {
    .output = exec_output,
    .writable = exec_writable,
    .done = exec_done,
    .failed = exec_failed,
};

/* The request was aborted: the process is killed, no callback follows. */
static void exec_cancel(gpointer data)
{
	Exec *x = data;

	g_clear_pointer(&x->task, alk_task_cancel);
	exec_free(x);
}

static void exec_run(AlkMcpCall *call, gpointer data)
{
	ExecArgs *a = data;
	Exec *x = g_new0(Exec, 1);
	g_autoptr(GError) error = NULL;
	AlkMsgExec msg;

	x->call = call;
	x->api = alk_mcp_call_api(call);
	for (guint i = 0; i < 2; i++)
		x->out[i] = g_byte_array_new();
	alk_api_exec_tally_init(&x->tally);
	if (a->command != NULL) {
		const char *sh[] = {"/bin/sh", "-c", a->command, NULL};
		x->body.argv = g_strdupv((char **)sh);
	} else {
		x->body.argv = g_strdupv(a->argv);
	}
	x->body.env = a->env;
	x->body.cwd = a->cwd;
	x->body.timeout_s = a->timeout_s;
	alk_mcp_call_set_sandbox(call, a->sandbox);
	if (alk_api_exec_message(&x->body, &msg, &error) && a->stdin_text != NULL) {
		x->stdin_data = g_bytes_new(a->stdin_text, strlen(a->stdin_text));
		msg.stdin_mode = ALK_STDIN_PIPE;
	}
	if (error == NULL)
		x->task =
		    alk_manager_exec(x->api->manager, a->sandbox, &msg, &exec_callbacks, x, &error);
	if (x->task == NULL) {
		alk_mcp_call_fail(call, error);
		exec_free(x);
		return;
	}
	alk_mcp_call_hold(call, exec_cancel, x);
	alk_api_task_feed(x->task, &x->stdin_data, &x->stdin_off);
}

/* ---- file_read, file_write ---- */

typedef struct {
	char *sandbox;
	char *path;
	char *content;
	char *content_b64;
	guint64 mode;
} FileArgs;
#define F(m) G_STRUCT_OFFSET(FileArgs, m)
static const AlkJsonField read_fields[] = {
    SANDBOX_FIELD(FileArgs),
    {"path", ALK_JSON_STRING, F(path), TRUE, 1, PATH_MAX_BYTES, 0},
    END,
};
static const AlkJsonField write_fields[] = {
    SANDBOX_FIELD(FileArgs),
    {"path", ALK_JSON_STRING, F(path), TRUE, 1, PATH_MAX_BYTES, 0},
    {"content", ALK_JSON_STRING, F(content), FALSE, 0, 0, 0},
    {"content_b64", ALK_JSON_STRING, F(content_b64), FALSE, 0, 0, 0},
    {"mode", ALK_JSON_UINT, F(mode), FALSE, 0, 07777, 0},
    END,
};
#undef F
static const Doc read_docs[] = {
    SANDBOX_DOC,
    {"absolute path of the file in the sandbox", NULL},
};
static const Doc write_docs[] = {
    SANDBOX_DOC,
    {"absolute path of the file in the sandbox (created or replaced)", NULL},
    {"the file's text (give content or content_b64)", NULL},
    {"the file's bytes, base64 (give content or content_b64)", NULL},
    {"permission bits as a number (default 420, that is 0644)", NULL},
};

static gboolean path_check(const char *path, GError **error)
{
	g_auto(GStrv) segs = g_strsplit(path, "/", -1);

	if (path[0] != '/')
		return invalid(error, "path: must be absolute");
	for (guint i = 1; segs[i] != NULL; i++) {
		if (segs[i][0] == '\0' || g_str_equal(segs[i], ".") || g_str_equal(segs[i], ".."))
			return invalid(error, "path: empty, \".\" or \"..\" segment");
	}
	return TRUE;
}

static gboolean read_check(gpointer data, GError **error)
{
	return path_check(((FileArgs *)data)->path, error);
}

static gboolean write_check(gpointer data, GError **error)
{
	FileArgs *a = data;

	if (!path_check(a->path, error))
		return FALSE;
	if ((a->content == NULL) == (a->content_b64 == NULL))
		return invalid(error, "give exactly one of content and content_b64");
	return TRUE;
}

typedef struct {
	AlkMcpCall *call;
	AlkApi *api;
	AlkTask *task;
	GByteArray *data;
	GBytes *pending;
	gsize off;
	GChecksum *sum;
	char *path;
	gboolean cut; /* the daemon's budget for kept output was spent */
} File;

static void file_free(File *f)
{
	alk_api_output_drop(f->api, f->data);
	g_byte_array_unref(f->data);
	g_clear_pointer(&f->pending, g_bytes_unref);
	g_checksum_free(f->sum);
	g_free(f->path);
	g_free(f);
}

static File *file_new(AlkMcpCall *call, FileArgs *a)
{
	File *f = g_new0(File, 1);

	alk_mcp_call_set_sandbox(call, a->sandbox);
	f->path = g_strdup(a->path);
	f->call = call;
	f->api = alk_mcp_call_api(call);
	f->data = g_byte_array_new();
	f->sum = g_checksum_new(G_CHECKSUM_SHA256);
	return f;
}

static void file_cancel(gpointer data)
{
	File *f = data;

	g_clear_pointer(&f->task, alk_task_cancel);
	file_free(f);
}

static JsonNode *file_audit(File *f, const char *path, guint64 bytes)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	alk_json_add_string(b, "path", path);
	alk_json_add_int(b, "bytes", (gint64)bytes);
	alk_json_add_string(b, "sha256", g_checksum_get_string(f->sum));
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

static void read_output(AlkTask *task, int stream, const guint8 *d, gsize len, gpointer data)
{
	File *f = data;

	g_checksum_update(f->sum, d, len);
	if (!alk_api_output_keep(f->api, f->data, d, len))
		f->cut = TRUE;
}

static void read_done(AlkTask *task, const AlkTaskResult *result, gpointer data)
{
	File *f = data;
	g_autoptr(JsonBuilder) b = json_builder_new();
	gboolean text = alk_api_output_is_text(f->data->data, f->data->len);
	g_autofree char *content = NULL;

	f->task = NULL;
	if (f->cut) {
		g_autoptr(GError) error = g_error_new(
		    ALK_ERROR, ALK_ERROR_LIMIT,
		    "the daemon's budget for kept output (api.max_buffered_output_bytes) is spent");
		alk_mcp_call_fail(f->call, error);
		file_free(f);
		return;
	}
	json_builder_begin_object(b);
	alk_json_add_int(b, "bytes", (gint64)f->data->len);
	alk_json_add_string(b, "sha256", g_checksum_get_string(f->sum));
	if (text) {
		content = g_strndup((const char *)f->data->data, f->data->len);
		alk_json_add_string(b, "content", content);
	} else {
		content = g_base64_encode(f->data->data, f->data->len);
		alk_json_add_string(b, "content_b64", content);
	}
	json_builder_end_object(b);
	alk_mcp_call_reply(f->call, NULL, json_builder_get_root(b),
	                   file_audit(f, f->path, f->data->len));
	file_free(f);
}

static void file_failed(AlkTask *task, const GError *error, gpointer data)
{
	File *f = data;

	f->task = NULL;
	alk_mcp_call_fail(f->call, error);
	file_free(f);
}

static const AlkTaskCallbacks read_callbacks = {
    .output = read_output,
    .done = read_done,
    .failed = file_failed,
};

static void read_run(AlkMcpCall *call, gpointer data)
{
	FileArgs *a = data;
	File *f = file_new(call, a);
	g_autoptr(GError) error = NULL;

	/* the answer is JSON: a file at most a request body's size */
	f->task = alk_manager_get(f->api->manager, a->sandbox, a->path,
	                          f->api->config->api.max_body_bytes, &read_callbacks, f, &error);
	if (f->task == NULL) {
		alk_mcp_call_fail(call, error);
		file_free(f);
		return;
	}
	alk_mcp_call_hold(call, file_cancel, f);
}

static void write_writable(AlkTask *task, gpointer data)
{
	File *f = data;
	alk_api_task_feed(f->task, &f->pending, &f->off);
}

static void write_done(AlkTask *task, const AlkTaskResult *result, gpointer data)
{
	File *f = data;
	g_autoptr(JsonBuilder) b = json_builder_new();

	f->task = NULL;
	json_builder_begin_object(b);
	alk_json_add_int(b, "bytes", (gint64)result->bytes);
	alk_json_add_string(b, "sha256", g_checksum_get_string(f->sum));
	json_builder_end_object(b);
	alk_mcp_call_reply(f->call, NULL, json_builder_get_root(b),
	                   file_audit(f, f->path, result->bytes));
	file_free(f);
}

static const AlkTaskCallbacks write_callbacks = {
    .writable = write_writable,
    .done = write_done,
    .failed = file_failed,
};

static GBytes *write_content(FileArgs *a, GError **error)
{
	gsize len = 0;
	guchar *d;

	if (a->content != NULL)
		return g_bytes_new(a->content, strlen(a->content));
	if (!alk_api_base64_valid(a->content_b64)) {
		invalid(error, "content_b64: not base64");
		return NULL;
	}
	d = g_base64_decode(a->content_b64, &len);
	return g_bytes_new_take(d, len);
}

static void write_run(AlkMcpCall *call, gpointer data)
{
	FileArgs *a = data;
	File *f = file_new(call, a);
	g_autoptr(GError) error = NULL;
	gsize len = 0;
	const guint8 *d;

	f->pending = write_content(a, &error);
	if (f->pending != NULL) {
		d = g_bytes_get_data(f->pending, &len);
		g_checksum_update(f->sum, d != NULL ? d : (const guint8 *)"", len);
		f->task = alk_manager_put(f->api->manager, a->sandbox, a->path,
		                          a->mode != 0 ? (guint32)a->mode : 0644, len,
		                          &write_callbacks, f, &error);
	}
	if (f->task == NULL) {
		alk_mcp_call_fail(call, error);
		file_free(f);
		return;
	}
	alk_mcp_call_hold(call, file_cancel, f);
	alk_api_task_feed(f->task, &f->pending, &f->off);
}

/* ---- the table ---- */

#define READ ALK_SCOPE_READ
#define WRITE ALK_SCOPE_WRITE
static const AlkMcpTool tools[] = {
    {"sandbox_create", "Create a sandbox",
     "Creates a disposable virtual machine and waits until it is ready; answers with the "
     "sandbox (its id is what the other tools take). Everything in it is thrown away when it "
     "is destroyed or its time to live runs out.",
     WRITE, FALSE, FALSE, create_fields, create_docs, sizeof(CreateArgs), create_check, create_run},
    {"sandbox_list", "List sandboxes", "Lists the sandboxes and their states.", READ, TRUE, FALSE,
     no_fields, NULL, sizeof(IdArgs), NULL, list_run},
    {"sandbox_inspect", "Inspect a sandbox",
     "A sandbox's state, image, profile, limits, network and deadline.", READ, TRUE, FALSE,
     id_fields, id_docs, sizeof(IdArgs), NULL, inspect_run},
    {"sandbox_destroy", "Destroy a sandbox",
     "Destroys a sandbox and discards everything in it; waits until it is gone.", WRITE, FALSE,
     TRUE, id_fields, id_docs, sizeof(IdArgs), NULL, destroy_run},
    {"sandbox_pause", "Pause a sandbox",
     "Stops a ready sandbox's vCPUs (its memory stays; its time to live runs on).", WRITE, FALSE,
     FALSE, id_fields, id_docs, sizeof(IdArgs), NULL, pause_run},
    {"sandbox_resume", "Resume a sandbox", "Starts a paused sandbox's vCPUs again.", WRITE, FALSE,
     FALSE, id_fields, id_docs, sizeof(IdArgs), NULL, resume_run},
    {"exec", "Run a command",
     "Runs a process in a ready sandbox and waits for it: argv runs a program directly, "
     "command a shell command line with /bin/sh -c. Answers with exit_code (null when killed "
     "by a signal), signal, timed_out, stdout and stderr (stdout_b64, stderr_b64 when not "
     "UTF-8 text), truncated (output cut at the sandbox's cap) and duration_ms.",
     WRITE, FALSE, FALSE, exec_fields, exec_docs, sizeof(ExecArgs), exec_check, exec_run},
    {"file_read", "Read a file",
     "Reads a file from a sandbox: content when it is UTF-8 text, else content_b64; at most "
     "the daemon's request body size (api.max_body_bytes).",
     READ, TRUE, FALSE, read_fields, read_docs, sizeof(FileArgs), read_check, read_run},
    {"file_write", "Write a file",
     "Writes a file into a sandbox, from text (content) or base64 (content_b64); parent "
     "directories must exist.",
     WRITE, FALSE, FALSE, write_fields, write_docs, sizeof(FileArgs), write_check, write_run},
    {"set_allowlist", "Change the allowlist",
     "Replaces the network allowlist of a sandbox in network mode allowlist; connections to "
     "destinations no longer allowed are cut.",
     WRITE, FALSE, FALSE, allow_fields, allow_docs, sizeof(AllowArgs), NULL, allow_run},
};
#undef READ
#undef WRITE

const AlkMcpTool *alk_mcp_tool_find(const char *name)
{
	for (guint i = 0; i < G_N_ELEMENTS(tools); i++) {
		if (g_strcmp0(tools[i].name, name) == 0)
			return &tools[i];
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
static void add_property(JsonBuilder *b, const AlkJsonField *f, const Doc *doc)
{
	static const char *const types[] = {
	    [ALK_JSON_STRING] = "string",      [ALK_JSON_INT] = "integer",
	    [ALK_JSON_UINT] = "integer",       [ALK_JSON_BOOL] = "boolean",
	    [ALK_JSON_STRING_ARRAY] = "array", [ALK_JSON_STRING_MAP] = "object",
	    [ALK_JSON_OBJECT] = "object",
	};

	json_builder_set_member_name(b, f->name);
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
	else if (f->type == ALK_JSON_STRING_ARRAY)
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
		add_property(b, &tool->fields[i], tool->docs != NULL ? &tool->docs[i] : NULL);
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
		const AlkMcpTool *t = &tools[i];
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
