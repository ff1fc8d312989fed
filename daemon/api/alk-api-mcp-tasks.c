/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The MCP tools that run tasks in a sandbox: exec (argv or a shell
 * line, stdin, its output kept within the daemon's budget), file_read and
 * file_write (text or base64). Each holds its request while the task runs
 * and stops the task when the request is aborted or cancelled. Their rows
 * join the table in alk-api-mcp-tools.c. */
#include <string.h>

#include "alk-api-mcp.h"
#include "alk-error.h"

#define PATH_MAX_BYTES 4096
#define ARG_MAX_BYTES (64 * 1024)
#define TIMEOUT_MAX_S 604800

static gboolean invalid(GError **error, const char *what)
{
	g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "%s", what);
	return FALSE;
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
	char *user;
} ExecArgs;
#define X(m) G_STRUCT_OFFSET(ExecArgs, m)
static const AlkJsonField exec_fields[] = {
    ALK_MCP_SANDBOX_FIELD(ExecArgs),
    {"argv", ALK_JSON_STRING_ARRAY, X(argv), FALSE, 1, ALK_PROTO_MAX_ARGS, ARG_MAX_BYTES},
    {"command", ALK_JSON_STRING, X(command), FALSE, 1, ARG_MAX_BYTES, 0},
    {"timeout_s", ALK_JSON_UINT, X(timeout_s), FALSE, 1, TIMEOUT_MAX_S, 0},
    {"stdin", ALK_JSON_STRING, X(stdin_text), FALSE, 0, 0, 0},
    {"env", ALK_JSON_STRING_MAP, X(env), FALSE, 0, ALK_PROTO_MAX_ENV, ARG_MAX_BYTES},
    {"cwd", ALK_JSON_STRING, X(cwd), FALSE, 1, PATH_MAX_BYTES, 0},
    {"user", ALK_JSON_STRING, X(user), FALSE, 1, ALK_PROTO_USER_MAX, 0},
    ALK_MCP_FIELDS_END,
};
#undef X
static const AlkMcpDoc exec_docs[] = {
    ALK_MCP_SANDBOX_DOC,
    {"the program and its arguments, run directly (give argv or command)", NULL},
    {"a shell command line, run with /bin/sh -c (give argv or command)", NULL},
    {"seconds before the process group is killed (default: the profile's)", NULL},
    {"text given on standard input (default: none)", NULL},
    {"environment variables, NAME: VALUE", NULL},
    {"working directory, an absolute path", NULL},
    {"who it runs as: a user name or UID[:GID] (default: the image's default user)", NULL},
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
	x->body.user = a->user;
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
    ALK_MCP_SANDBOX_FIELD(FileArgs),
    {"path", ALK_JSON_STRING, F(path), TRUE, 1, PATH_MAX_BYTES, 0},
    ALK_MCP_FIELDS_END,
};
static const AlkJsonField write_fields[] = {
    ALK_MCP_SANDBOX_FIELD(FileArgs),
    {"path", ALK_JSON_STRING, F(path), TRUE, 1, PATH_MAX_BYTES, 0},
    {"content", ALK_JSON_STRING, F(content), FALSE, 0, 0, 0},
    {"content_b64", ALK_JSON_STRING, F(content_b64), FALSE, 0, 0, 0},
    {"mode", ALK_JSON_UINT, F(mode), FALSE, 0, 07777, 0},
    ALK_MCP_FIELDS_END,
};
#undef F
static const AlkMcpDoc read_docs[] = {
    ALK_MCP_SANDBOX_DOC,
    {"absolute path of the file in the sandbox", NULL},
};
static const AlkMcpDoc write_docs[] = {
    ALK_MCP_SANDBOX_DOC,
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

/* ---- the rows ---- */

#define READ ALK_SCOPE_READ
#define WRITE ALK_SCOPE_WRITE
const AlkMcpTool alk_mcp_tool_exec = {
    .name = "exec",
    .title = "Run a command",
    .description =
        "Runs a process in a ready sandbox and waits for it: argv runs a program directly, "
        "command a shell command line with /bin/sh -c. Answers with exit_code (null when killed "
        "by a signal), signal, timed_out, stdout and stderr (stdout_b64, stderr_b64 when not "
        "UTF-8 text), truncated (output cut at the sandbox's cap) and duration_ms.",
    .scope = WRITE,
    .fields = exec_fields,
    .docs = exec_docs,
    .size = sizeof(ExecArgs),
    .check = exec_check,
    .run = exec_run,
};
const AlkMcpTool alk_mcp_tool_file_read = {
    .name = "file_read",
    .title = "Read a file",
    .description =
        "Reads a file from a sandbox: content when it is UTF-8 text, else content_b64; at most "
        "the daemon's request body size (api.max_body_bytes).",
    .scope = READ,
    .read_only = TRUE,
    .fields = read_fields,
    .docs = read_docs,
    .size = sizeof(FileArgs),
    .check = read_check,
    .run = read_run,
};
const AlkMcpTool alk_mcp_tool_file_write = {
    .name = "file_write",
    .title = "Write a file",
    .description =
        "Writes a file into a sandbox, from text (content) or base64 (content_b64); parent "
        "directories must exist.",
    .scope = WRITE,
    .fields = write_fields,
    .docs = write_docs,
    .size = sizeof(FileArgs),
    .check = write_check,
    .run = write_run,
};
#undef READ
#undef WRITE
