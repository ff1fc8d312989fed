/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Anthropic text editor, as str_replace_based_edit_tool
 * (text_editor_20250728: view, create, str_replace, insert) and as
 * str_replace_editor (text_editor_20250124: the same and undo_edit).
 *
 * Every file operation is a short exec of /bin/sh in the sandbox, as the
 * image's default user under the profile's rules, exactly like the bash
 * tool's commands: the editor can read and write only what the model's
 * own shell could, and files it creates belong to that user. (The agent's
 * file transfers run as root, so they are not used here.) A file is read
 * whole, edited here and written back with `cat > PATH`, which keeps its
 * owner and mode. Paths must be absolute; files over ALK_TOOL_FILE_MAX
 * bytes, and files that are not UTF-8 text, are refused. The undo history
 * keeps the text before each str_replace and insert: ALK_TOOL_UNDO_MAX
 * entries and ALK_TOOL_UNDO_BYTES per sandbox, the oldest dropped first. */
#include <string.h>

#include "alk-api-tools-anthropic.h"
#include "alk-error.h"
#include "alk-json.h"

#define EXEC_TIMEOUT_MS 60000
#define SNIPPET_LINES 4
#define STDERR_MAX 4096

/* $1 the path: "D" for a directory, else "F" and the file */
#define READ_SH                                                                                    \
	"p=$1\n"                                                                                   \
	"if [ -d \"$p\" ]; then printf D; exit 0; fi\n"                                            \
	"if [ ! -e \"$p\" ]; then echo \"the path $p does not exist\" >&2; exit 3; fi\n"           \
	"if [ ! -f \"$p\" ]; then echo \"$p is not a regular file\" >&2; exit 3; fi\n"             \
	"n=$(wc -c < \"$p\") || exit 3\n"                                                          \
	"if [ \"$n\" -gt \"$2\" ]; then\n"                                                         \
	"  echo \"$p has $n bytes: the editor takes files of at most $2 bytes\" >&2; exit 3\n"     \
	"fi\n"                                                                                     \
	"printf F; exec cat -- \"$p\"\n"
#define LIST_SH "find \"$1\" -mindepth 1 -maxdepth 2 -name '.*' -prune -o -print | sort\n"
#define WRITE_SH "cat > \"$1\"\n"
#define CREATE_SH                                                                                  \
	"if [ -e \"$1\" ] || [ -L \"$1\" ]; then\n"                                                \
	"  echo \"$1 exists already: create makes new files only\" >&2; exit 3\n"                  \
	"fi\n"                                                                                     \
	"mkdir -p -- \"$(dirname -- \"$1\")\" && cat > \"$1\"\n"

struct _AlkToolHistory {
	GQueue entries; /* Entry *, oldest first */
	gsize bytes;
};

typedef struct {
	char *path;
	GBytes *text;
} Entry;

typedef struct {
	char *command;
	char *path;
	char *file_text;
	char *old_str;
	char *new_str;
	gint64 insert_line;
	char *insert_text;
} EdInput;

#define E(m) G_STRUCT_OFFSET(EdInput, m)
static const AlkJsonField input_fields[] = {
    {"command", ALK_JSON_STRING, E(command), TRUE, 1, 32, 0},
    {"path", ALK_JSON_STRING, E(path), TRUE, 1, ALK_TOOL_PATH_MAX, 0},
    {"file_text", ALK_JSON_STRING, E(file_text), FALSE, 0, ALK_TOOL_FILE_MAX, 0},
    {"old_str", ALK_JSON_STRING, E(old_str), FALSE, 0, ALK_TOOL_FILE_MAX, 0},
    {"new_str", ALK_JSON_STRING, E(new_str), FALSE, 0, ALK_TOOL_FILE_MAX, 0},
    {"insert_line", ALK_JSON_INT, E(insert_line), FALSE, 0, G_MAXINT32, 0},
    {"insert_text", ALK_JSON_STRING, E(insert_text), FALSE, 0, ALK_TOOL_FILE_MAX, 0},
    {NULL, 0, 0, 0, 0, 0, 0},
};
#undef E

typedef struct _Ed Ed;
struct _Ed {
	AlkToolCall *call;
	EdInput in;
	gboolean old_name; /* str_replace_editor */
	gint64 range[2];   /* view_range; range[0] 0: none */
	AlkTask *task;
	GBytes *stdin_data;
	gsize stdin_off;
	GByteArray *out;
	GByteArray *err;
	gboolean cut;
	void (*next)(Ed *ed, int status);
	char *text;        /* the file as read */
	char *edited;      /* as it is written */
	guint first, last; /* the snippet of an edit, lines */
	gboolean has_line; /* insert_line was given */
};

/* ---- the undo history ---- */

static void entry_free(Entry *e)
{
	g_free(e->path);
	g_bytes_unref(e->text);
	g_free(e);
}

void alk_tool_history_free(AlkToolHistory *h)
{
	if (h == NULL)
		return;
	g_queue_clear_full(&h->entries, (GDestroyNotify)entry_free);
	g_free(h);
}

static void history_push(AlkToolCall *call, const char *path, const char *text)
{
	AlkToolState *st = alk_tool_state(call->api, call->sandbox);
	AlkToolHistory *h = st->history;
	Entry *e;

	if (h == NULL)
		h = st->history = g_new0(AlkToolHistory, 1);
	e = g_new0(Entry, 1);
	e->path = g_strdup(path);
	e->text = g_bytes_new(text, strlen(text));
	g_queue_push_tail(&h->entries, e);
	h->bytes += strlen(text);
	while (h->entries.length > ALK_TOOL_UNDO_MAX || h->bytes > ALK_TOOL_UNDO_BYTES) {
		Entry *old = g_queue_pop_head(&h->entries);
		h->bytes -= g_bytes_get_size(old->text);
		entry_free(old);
	}
}

/* The newest text kept of path, taken out of the history; NULL: none. */
static GBytes *history_pop(AlkToolCall *call, const char *path)
{
	AlkToolHistory *h = alk_tool_state(call->api, call->sandbox)->history;

	for (GList *l = h != NULL ? h->entries.tail : NULL; l != NULL; l = l->prev) {
		Entry *e = l->data;
		GBytes *text;

		if (!g_str_equal(e->path, path))
			continue;
		text = g_bytes_ref(e->text);
		h->bytes -= g_bytes_get_size(text);
		g_queue_delete_link(&h->entries, l);
		entry_free(e);
		return text;
	}
	return NULL;
}

/* ---- one exec of /bin/sh -c SCRIPT sh PATH [ARG] ---- */

static void ed_free(Ed *ed)
{
	g_clear_pointer(&ed->task, alk_task_cancel);
	g_clear_pointer(&ed->stdin_data, g_bytes_unref);
	g_clear_pointer(&ed->out, g_byte_array_unref);
	g_clear_pointer(&ed->err, g_byte_array_unref);
	alk_json_fields_clear(input_fields, &ed->in);
	g_free(ed->text);
	g_free(ed->edited);
	g_free(ed);
}

static void ed_fail(Ed *ed, const char *format, ...) G_GNUC_PRINTF(2, 3);
static void ed_fail(Ed *ed, const char *format, ...)
{
	AlkToolCall *call = ed->call;
	g_autofree char *text = NULL;
	va_list ap;

	va_start(ap, format);
	text = g_strdup_vprintf(format, ap);
	va_end(ap);
	ed_free(ed);
	alk_tool_call_fail(call, "%s", text);
}

static void ed_ok(Ed *ed, const char *text)
{
	AlkToolCall *call = ed->call;

	alk_tool_call_text(call, text);
	ed_free(ed);
	alk_tool_call_done(call, FALSE);
}

static void ed_output(AlkTask *task, int stream, const guint8 *d, gsize len, gpointer data)
{
	Ed *ed = data;
	GByteArray *to = stream == ALK_MSG_STDOUT ? ed->out : ed->err;
	gsize max = stream == ALK_MSG_STDOUT ? ALK_TOOL_FILE_MAX + 1 : STDERR_MAX;
	gsize room = max - MIN(to->len, max);

	if (len > room)
		ed->cut = stream == ALK_MSG_STDOUT;
	g_byte_array_append(to, d, (guint)MIN(len, room));
}

static void ed_writable(AlkTask *task, gpointer data)
{
	Ed *ed = data;
	alk_api_task_feed(ed->task, &ed->stdin_data, &ed->stdin_off);
}

static void ed_done(AlkTask *task, const AlkTaskResult *result, gpointer data)
{
	Ed *ed = data;

	ed->task = NULL;
	if (result->exit->signo != 0) {
		ed_fail(ed, "%s: the editor's helper was killed by signal %u%s", ed->call->name,
		        result->exit->signo, result->exit->timed_out ? " (timed out)" : "");
		return;
	}
	if (result->exit->exit_code != 0) {
		g_autofree char *err = alk_tool_text(ed->err->data, ed->err->len);
		g_strchomp(err);
		ed_fail(ed, "%s: %s", ed->call->name,
		        err[0] != '\0' ? err : "the sandbox refused the operation");
		return;
	}
	if (ed->cut || result->truncated) {
		ed_fail(ed, "%s: %s is larger than %u bytes", ed->call->name, ed->in.path,
		        ALK_TOOL_FILE_MAX);
		return;
	}
	ed->next(ed, 0);
}

static void ed_failed(AlkTask *task, const GError *error, gpointer data)
{
	Ed *ed = data;

	ed->task = NULL;
	ed_fail(ed, "%s: %s", ed->call->name, error->message);
}

static const AlkTaskCallbacks ed_callbacks = {
    .output = ed_output,
    .writable = ed_writable,
    .done = ed_done,
    .failed = ed_failed,
};

/* Runs script; next(ed, 0) once it exited 0, else the call fails with its
 * stderr. stdin: what it reads (NULL: nothing). */
static void ed_exec(Ed *ed, const char *script, const char *arg, const char *stdin_text,
                    gsize stdin_len, void (*next)(Ed *ed, int status))
{
	g_autoptr(GError) error = NULL;
	AlkMsgExec msg;

	memset(&msg, 0, sizeof(msg));
	msg.argv[0] = "/bin/sh";
	msg.argv[1] = "-c";
	msg.argv[2] = script;
	msg.argv[3] = "sh";
	msg.argv[4] = ed->in.path;
	msg.argv[5] = arg;
	msg.argc = arg != NULL ? 6 : 5;
	msg.timeout_ms = EXEC_TIMEOUT_MS;
	/* nothing to write: /dev/null, which cat copies as the empty file */
	msg.stdin_mode = stdin_len > 0 ? ALK_STDIN_PIPE : ALK_STDIN_NULL;
	g_byte_array_set_size(ed->out, 0);
	g_byte_array_set_size(ed->err, 0);
	ed->next = next;
	if (stdin_len > 0)
		ed->stdin_data = g_bytes_new(stdin_text, stdin_len);
	ed->task = alk_manager_exec(ed->call->api->manager, ed->call->sandbox, &msg, &ed_callbacks,
	                            ed, &error);
	if (ed->task == NULL) {
		ed_fail(ed, "%s: %s", ed->call->name, error->message);
		return;
	}
	alk_api_task_feed(ed->task, &ed->stdin_data, &ed->stdin_off);
}

/* The request went: the exec is stopped. */
static void ed_cancel(gpointer data)
{
	ed_free(data);
}

/* ---- text ---- */

/* The file's lines (without a last empty one after a final newline). */
static GStrv lines_of(const char *text)
{
	GStrv lines = g_strsplit(text, "\n", -1);
	guint n = g_strv_length(lines);

	if (n > 0 && lines[n - 1][0] == '\0') {
		g_free(lines[n - 1]);
		lines[n - 1] = NULL;
	}
	return lines;
}

static void add_numbered(GString *out, GStrv lines, guint first, guint last)
{
	for (guint i = first; i <= last && lines[i - 1] != NULL; i++)
		g_string_append_printf(out, "%6u\t%s\n", i, lines[i - 1]);
}

static guint line_at(const char *text, gsize offset)
{
	guint line = 1;

	for (gsize i = 0; i < offset; i++)
		line += text[i] == '\n';
	return line;
}

static guint newlines(const char *s)
{
	return line_at(s, strlen(s)) - 1;
}

/* The text read: UTF-8 text only (the exec printed "F" first). */
static gboolean take_text(Ed *ed)
{
	const char *d = (const char *)ed->out->data + 1;
	gsize len = ed->out->len - 1;

	if (!g_utf8_validate_len(d, len, NULL)) {
		ed_fail(ed, "%s: %s is not UTF-8 text (or holds NUL bytes): the editor edits text",
		        ed->call->name, ed->in.path);
		return FALSE;
	}
	ed->text = g_strndup(d, len);
	return TRUE;
}

static void ok_snippet(Ed *ed, const char *what)
{
	g_auto(GStrv) lines = lines_of(ed->edited);
	g_autoptr(GString) out = g_string_new(NULL);
	guint n = g_strv_length(lines);
	guint first = ed->first > SNIPPET_LINES ? ed->first - SNIPPET_LINES : 1;
	guint last = MIN(ed->last + SNIPPET_LINES, n);

	g_string_printf(out, "%s %s. Lines %u-%u of it now:\n", what, ed->in.path, first, last);
	add_numbered(out, lines, first, last);
	ed_ok(ed, out->str);
}

/* ---- view ---- */

static void view_listed(Ed *ed, int status)
{
	g_autoptr(GString) out = g_string_new(NULL);

	g_string_printf(out,
	                "The files and directories in %s, two levels deep, hidden ones left "
	                "out:\n",
	                ed->in.path);
	g_string_append_len(out, (const char *)ed->out->data, ed->out->len);
	ed_ok(ed, out->str);
}

static void view_read(Ed *ed, int status)
{
	g_autoptr(GString) out = g_string_new(NULL);
	g_auto(GStrv) lines = NULL;
	guint n, first = 1, last;

	if (ed->out->len > 0 && ed->out->data[0] == 'D') {
		if (ed->range[0] != 0) {
			ed_fail(ed, "%s: view_range is for files; %s is a directory",
			        ed->call->name, ed->in.path);
			return;
		}
		ed_exec(ed, LIST_SH, NULL, NULL, 0, view_listed);
		return;
	}
	if (!take_text(ed))
		return;
	lines = lines_of(ed->text);
	n = g_strv_length(lines);
	last = n;
	if (ed->range[0] != 0) {
		first = (guint)ed->range[0];
		last = ed->range[1] == -1 ? n : (guint)ed->range[1];
		if (ed->range[0] > n || (ed->range[1] != -1 && ed->range[1] > n)) {
			ed_fail(ed,
			        "%s: view_range [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
			        "] is outside %s's %u lines",
			        ed->call->name, ed->range[0], ed->range[1], ed->in.path, n);
			return;
		}
	}
	g_string_printf(out, "%s, lines %u-%u of %u, numbered:\n", ed->in.path, n > 0 ? first : 0,
	                last, n);
	add_numbered(out, lines, first, last);
	ed_ok(ed, out->str);
}

/* view_range: [first, last], last -1 for the end; FALSE: failed. */
static gboolean read_range(Ed *ed, JsonNode *node)
{
	JsonArray *a = JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
	gint64 v[2];

	for (guint i = 0; a != NULL && json_array_get_length(a) == 2 && i < 2; i++) {
		JsonNode *e = json_array_get_element(a, i);
		if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_INT64) {
			a = NULL;
			break;
		}
		v[i] = json_node_get_int(e);
	}
	if (a == NULL || json_array_get_length(a) != 2 || v[0] < 1 || v[0] > G_MAXINT32 ||
	    (v[1] != -1 && (v[1] < v[0] || v[1] > G_MAXINT32))) {
		ed_fail(ed,
		        "%s: view_range must be [first, last]: lines from 1, last >= first or -1 "
		        "for the end",
		        ed->call->name);
		return FALSE;
	}
	ed->range[0] = v[0];
	ed->range[1] = v[1];
	return TRUE;
}

/* ---- create ---- */

static void created(Ed *ed, int status)
{
	g_autofree char *text = g_strdup_printf("File created at %s.", ed->in.path);
	ed_ok(ed, text);
}

/* ---- str_replace ---- */

static void written(Ed *ed, int status)
{
	history_push(ed->call, ed->in.path, ed->text);
	ok_snippet(ed, "Edited");
}

static void replace_read(Ed *ed, int status)
{
	const char *old = ed->in.old_str;
	g_autoptr(GString) at_lines = g_string_new(NULL);
	const char *first = NULL;
	guint count = 0, shown = 0, last_line = 0;

	if (ed->out->len > 0 && ed->out->data[0] == 'D') {
		ed_fail(ed, "%s: %s is a directory", ed->call->name, ed->in.path);
		return;
	}
	if (!take_text(ed))
		return;
	for (const char *p = strstr(ed->text, old); p != NULL; p = strstr(p + strlen(old), old)) {
		guint line = line_at(ed->text, (gsize)(p - ed->text));

		if (first == NULL)
			first = p;
		if (line != last_line && shown++ < 20)
			g_string_append_printf(at_lines, "%s%u", count > 0 ? ", " : "", line);
		last_line = line;
		count++;
	}
	if (count == 0) {
		ed_fail(ed, "No replacement was made: old_str does not appear verbatim in %s.",
		        ed->in.path);
		return;
	}
	if (count > 1) {
		ed_fail(ed,
		        "No replacement was made: old_str appears %u times in %s (at lines %s%s); "
		        "it must appear exactly once: give more context.",
		        count, ed->in.path, at_lines->str, shown > 20 ? ", …" : "");
		return;
	}
	{
		gsize pre = (gsize)(first - ed->text);
		const char *new = ed->in.new_str != NULL ? ed->in.new_str : "";
		ed->edited =
		    g_strdup_printf("%.*s%s%s", (int)pre, ed->text, new, first + strlen(old));
		ed->first = line_at(ed->text, pre);
		ed->last = ed->first + newlines(new);
	}
	if (strlen(ed->edited) > ALK_TOOL_FILE_MAX) {
		ed_fail(ed, "%s: the edited file would be over %u bytes", ed->call->name,
		        ALK_TOOL_FILE_MAX);
		return;
	}
	ed_exec(ed, WRITE_SH, NULL, ed->edited, strlen(ed->edited), written);
}

/* ---- insert ---- */

static void insert_read(Ed *ed, int status)
{
	g_auto(GStrv) lines = NULL;
	g_autofree char *add = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	const char *text = ed->in.insert_text != NULL ? ed->in.insert_text : ed->in.new_str;
	guint n, at = (guint)ed->in.insert_line;

	if (ed->out->len > 0 && ed->out->data[0] == 'D') {
		ed_fail(ed, "%s: %s is a directory", ed->call->name, ed->in.path);
		return;
	}
	if (!take_text(ed))
		return;
	lines = lines_of(ed->text);
	n = g_strv_length(lines);
	if (at > n) {
		ed_fail(ed,
		        "%s: insert_line %u is past the end of %s (%u lines; 0 inserts at the top)",
		        ed->call->name, at, ed->in.path, n);
		return;
	}
	add = g_str_has_suffix(text, "\n") ? g_strndup(text, strlen(text) - 1) : g_strdup(text);
	for (guint i = 0; i < at; i++)
		g_string_append_printf(out, "%s\n", lines[i]);
	g_string_append_printf(out, "%s\n", add);
	for (guint i = at; i < n; i++)
		g_string_append_printf(out, "%s\n", lines[i]);
	/* a file that ended without a newline still does */
	if (n > 0 && !g_str_has_suffix(ed->text, "\n"))
		g_string_truncate(out, out->len - 1);
	if (out->len > ALK_TOOL_FILE_MAX) {
		ed_fail(ed, "%s: the edited file would be over %u bytes", ed->call->name,
		        ALK_TOOL_FILE_MAX);
		return;
	}
	ed->edited = g_string_free(g_steal_pointer(&out), FALSE);
	ed->first = at + 1;
	ed->last = at + 1 + newlines(add);
	ed_exec(ed, WRITE_SH, NULL, ed->edited, strlen(ed->edited), written);
}

/* ---- undo_edit ---- */

static void undone(Ed *ed, int status)
{
	g_autofree char *text = g_strdup_printf("The last edit of %s was undone.", ed->in.path);
	ed_ok(ed, text);
}

/* ---- the command ---- */

static void audit_input(AlkToolCall *call, const EdInput *in, const Ed *ed)
{
	alk_tool_call_audit_text(call, "command", in->command);
	alk_tool_call_audit_text(call, "path", in->path);
	alk_tool_call_audit_secret(call, "file_text", in->file_text,
	                           in->file_text ? strlen(in->file_text) : 0);
	alk_tool_call_audit_secret(call, "old_str", in->old_str,
	                           in->old_str ? strlen(in->old_str) : 0);
	alk_tool_call_audit_secret(call, "new_str", in->new_str,
	                           in->new_str ? strlen(in->new_str) : 0);
	alk_tool_call_audit_secret(call, "insert_text", in->insert_text,
	                           in->insert_text ? strlen(in->insert_text) : 0);
	if (g_strcmp0(in->command, "insert") == 0)
		alk_json_add_int(call->audit, "insert_line", in->insert_line);
	if (ed->range[0] != 0) {
		alk_json_add_int(call->audit, "view_first", ed->range[0]);
		alk_json_add_int(call->audit, "view_last", ed->range[1]);
	}
}

/* A check of the input; FALSE: failed. */
static gboolean need(Ed *ed, gboolean ok, const char *what)
{
	if (!ok)
		ed_fail(ed, "%s: %s %s", ed->call->name, ed->in.command, what);
	return ok;
}

static gboolean path_ok(Ed *ed)
{
	g_auto(GStrv) segs = g_strsplit(ed->in.path, "/", -1);

	if (ed->in.path[0] != '/') {
		ed_fail(ed, "%s: the path %s is not absolute: give a path that starts with /",
		        ed->call->name, ed->in.path);
		return FALSE;
	}
	for (guint i = 1; segs[i] != NULL; i++) {
		if (g_str_equal(segs[i], "..")) {
			ed_fail(ed, "%s: the path %s has a \"..\" segment", ed->call->name,
			        ed->in.path);
			return FALSE;
		}
	}
	return TRUE;
}

static void ed_go(Ed *ed)
{
	const char *c = ed->in.command;
	g_autofree char *max = g_strdup_printf("%u", ALK_TOOL_FILE_MAX);

	if (!path_ok(ed))
		return;
	if (g_str_equal(c, "view")) {
		ed_exec(ed, READ_SH, max, NULL, 0, view_read);
	} else if (g_str_equal(c, "create")) {
		if (need(ed, ed->in.file_text != NULL, "needs file_text"))
			ed_exec(ed, CREATE_SH, NULL, ed->in.file_text, strlen(ed->in.file_text),
			        created);
	} else if (g_str_equal(c, "str_replace")) {
		if (need(ed, ed->in.old_str != NULL && ed->in.old_str[0] != '\0',
		         "needs a non-empty old_str"))
			ed_exec(ed, READ_SH, max, NULL, 0, replace_read);
	} else if (g_str_equal(c, "insert")) {
		if (need(ed, ed->in.insert_text != NULL || ed->in.new_str != NULL,
		         ed->old_name ? "needs new_str" : "needs insert_text (or new_str)") &&
		    need(ed, ed->has_line, "needs insert_line"))
			ed_exec(ed, READ_SH, max, NULL, 0, insert_read);
	} else if (g_str_equal(c, "undo_edit") && ed->old_name) {
		g_autoptr(GBytes) text = history_pop(ed->call, ed->in.path);
		if (need(ed, text != NULL, "has no edit of this path to undo"))
			ed_exec(ed, WRITE_SH, NULL,
			        (const char *)g_bytes_get_data(text, NULL) ?: "",
			        g_bytes_get_size(text), undone);
	} else {
		ed_fail(ed, "%s: unknown command '%s' (%s)", ed->call->name, c,
		        ed->old_name ? "view, create, str_replace, insert, undo_edit"
		                     : "view, create, str_replace, insert; this version has no "
		                       "undo_edit");
	}
}

void alk_tool_editor_run(AlkToolCall *call, gboolean old_name)
{
	g_autoptr(JsonObject) fields = json_object_new();
	JsonObject *input = call->input;
	JsonNode *range = json_object_get_member(call->input, "view_range");
	g_autoptr(GList) names = json_object_get_members(call->input);
	Ed *ed = g_new0(Ed, 1);

	ed->call = call;
	ed->old_name = old_name;
	ed->out = g_byte_array_new();
	ed->err = g_byte_array_new();
	/* view_range is a list of numbers, which the field tables do not read */
	for (GList *l = names; l != NULL; l = l->next) {
		if (!g_str_equal(l->data, "view_range"))
			json_object_set_member(
			    fields, l->data,
			    json_node_copy(json_object_get_member(call->input, l->data)));
	}
	ed->has_line = json_object_has_member(fields, "insert_line");
	call->input = fields;
	if (!alk_tool_call_input(call, input_fields, &ed->in)) {
		call->input = input;
		ed_free(ed);
		return;
	}
	call->input = input;
	if (range != NULL && !JSON_NODE_HOLDS_NULL(range) && !read_range(ed, range))
		return;
	audit_input(call, &ed->in, ed);
	if (old_name && ed->in.insert_text != NULL) {
		ed_fail(ed,
		        "%s: insert_text is str_replace_based_edit_tool's; this tool takes new_str",
		        call->name);
		return;
	}
	alk_tool_call_hold(call, ed_cancel, ed);
	ed_go(ed);
}
