/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Anthropic bash tool ({command, restart}): one persistent /bin/sh
 * per sandbox, an exec of core's (so it runs as the image's default user
 * under the profile's rules) whose stdin stays open. Its working
 * directory, variables and background jobs carry over from one command to
 * the next. Each command is written to the shell as
 *
 *   if /bin/sh -n -c 'CMD' 2>&1; then eval 'CMD' </dev/null 2>&1;
 *   else (exit 2); fi; printf '\n%s:%d\n' __alk_RANDOM "$?"
 *
 * The syntax check comes first because a non-interactive shell exits on a
 * syntax error in eval; stdin is /dev/null so a command cannot eat the
 * next one; the random marker (new for every command, never in the
 * command's reach) ends the output and carries the status. A command runs
 * at most api.bash_timeout_s: then the shell is killed and the next call
 * starts a new one. Output is kept to ALK_TOOL_OUTPUT_MAX (and the last
 * bytes before the marker), the rest counted in a note. One command at a
 * time per sandbox: a call while another runs is refused (is_error), not
 * queued. The shell lives at most the profile's max_exec_timeout_s and
 * ends with its sandbox; its output of all commands counts against the
 * sandbox's output cap, so it is replaced before a command could reach
 * that, and one that does ends with it. */
#include <string.h>

#include "alk-api-tools-anthropic.h"
#include "alk-error.h"
#include "alk-json.h"

#define TAIL_KEEP 4096        /* bytes before the marker kept past the cut */
#define STRAY_MAX (64 * 1024) /* output of background jobs between commands */
#define MARKER_HEX 32

typedef struct _Run Run;

struct _AlkToolShell {
	AlkApi *api;
	AlkToolState *state;
	AlkTask *task;
	GByteArray *pending; /* stdin the task has not taken yet */
	guint64 seen;        /* output of its life, against the sandbox's output cap */
	guint64 cap;
	GByteArray *stray; /* output while no command ran */
	Run *run;
	guint capped; /* its output reached the cap: it goes, from the loop */
};

struct _Run {
	AlkToolCall *call;
	AlkToolShell *sh;
	char needle[64]; /* "\n__alk_HEX:" */
	gsize needle_len;
	GByteArray *out;
	gsize scanned; /* out holds no needle before this */
	guint64 cut;
	guint timer;
	GString *notes; /* said before the output */
};

typedef struct {
	char *command;
	gboolean restart;
} BashInput;

#define I(m) G_STRUCT_OFFSET(BashInput, m)
static const AlkJsonField input_fields[] = {
    {"command", ALK_JSON_STRING, I(command), FALSE, 0, ALK_TOOL_COMMAND_MAX, 0},
    {"restart", ALK_JSON_BOOL, I(restart), FALSE, 0, 0, 0},
    {NULL, 0, 0, 0, 0, 0, 0},
};
#undef I

static void run_free(Run *r)
{
	g_clear_handle_id(&r->timer, g_source_remove);
	g_byte_array_unref(r->out);
	g_string_free(r->notes, TRUE);
	g_free(r);
}

static void run_end(Run *r, gboolean is_error, const char *why);

/* The shell goes (its task stopped if it still runs); its state forgets it.
 * A command still in it (the API ends) ends with it. */
void alk_tool_bash_free(AlkToolShell *sh)
{
	Run *r;

	if (sh == NULL)
		return;
	r = sh->run;
	sh->run = NULL;
	g_clear_handle_id(&sh->capped, g_source_remove);
	g_clear_pointer(&sh->task, alk_task_cancel);
	if (sh->state != NULL && sh->state->shell == sh)
		sh->state->shell = NULL;
	g_byte_array_unref(sh->pending);
	g_byte_array_unref(sh->stray);
	g_free(sh);
	if (r != NULL)
		run_end(r, TRUE, "bash: airlockd is stopping");
}

/* ---- the end of a command ---- */

static void run_end(Run *r, gboolean is_error, const char *why)
{
	AlkToolCall *call = r->call;
	g_autoptr(GString) text = g_string_new(r->notes->str);
	g_autofree char *out = alk_tool_text(r->out->data, r->out->len);

	/* the caller took it from its shell: a run ends once */

	g_string_append(text, out);
	if (why != NULL)
		g_string_append_printf(text, "%s%s", text->len > 0 ? "\n" : "", why);
	run_free(r);
	alk_tool_call_text(call, text->str);
	alk_tool_call_done(call, is_error);
}

/* The shell cannot go on: it goes, and so does the command in it. */
static void shell_lost(AlkToolShell *sh, const char *why)
{
	Run *r = sh->run;

	sh->run = NULL;
	alk_tool_bash_free(sh);
	if (r != NULL)
		run_end(r, TRUE, why);
}

static gboolean on_timeout(gpointer data)
{
	AlkToolShell *sh = data;
	g_autofree char *why = NULL;

	sh->run->timer = 0;
	why = g_strdup_printf("bash: the command timed out after %u s; the shell was restarted "
	                      "(its directory, variables and background jobs are gone)",
	                      sh->api->config->api.bash_timeout_s);
	shell_lost(sh, why);
	return G_SOURCE_REMOVE;
}

/* The marker line in out: the output before it and the status. */
static gboolean run_parse(Run *r, int *status)
{
	const guint8 *d = r->out->data;
	gsize len = r->out->len;
	const guint8 *at = memmem(d + r->scanned, len - r->scanned, r->needle, r->needle_len);
	const guint8 *nl;
	g_autofree char *num = NULL;

	if (at == NULL) {
		r->scanned = len >= r->needle_len ? len - r->needle_len + 1 : 0;
		return FALSE;
	}
	nl = memchr(at + r->needle_len, '\n', len - (gsize)(at - d) - r->needle_len);
	if (nl == NULL)
		return FALSE;
	num = g_strndup((const char *)at + r->needle_len, (gsize)(nl - at) - r->needle_len);
	*status = (int)g_ascii_strtoll(num, NULL, 10);
	g_byte_array_set_size(r->out, (guint)(at - d));
	return TRUE;
}

/* Keeps the head and the last TAIL_KEEP bytes, so the marker is still found. */
static void run_trim(Run *r)
{
	gsize len = r->out->len;
	gsize drop;

	if (len <= ALK_TOOL_OUTPUT_MAX + 2 * TAIL_KEEP)
		return;
	drop = len - ALK_TOOL_OUTPUT_MAX - TAIL_KEEP;
	g_byte_array_remove_range(r->out, ALK_TOOL_OUTPUT_MAX, (guint)drop);
	r->cut += drop;
	r->scanned =
	    r->scanned > ALK_TOOL_OUTPUT_MAX + drop ? r->scanned - drop : ALK_TOOL_OUTPUT_MAX;
}

static void run_finish(Run *r, int status)
{
	g_autofree char *why = NULL;

	if (r->cut > 0) {
		/* the cut is in the middle: say where */
		g_autofree char *note = g_strdup_printf(
		    "\n[… %" G_GUINT64_FORMAT " bytes of output cut here: at most %u are kept …]\n",
		    r->cut, ALK_TOOL_OUTPUT_MAX);
		GByteArray *all = g_byte_array_sized_new(r->out->len + (guint)strlen(note));

		g_byte_array_append(all, r->out->data, ALK_TOOL_OUTPUT_MAX);
		g_byte_array_append(all, (const guint8 *)note, (guint)strlen(note));
		g_byte_array_append(all, r->out->data + ALK_TOOL_OUTPUT_MAX,
		                    r->out->len - ALK_TOOL_OUTPUT_MAX);
		g_byte_array_unref(r->out);
		r->out = all;
	}
	if (status != 0)
		why = g_strdup_printf("[exit status %d]", status);
	r->sh->run = NULL;
	run_end(r, status != 0, why);
}

/* ---- the shell's task ---- */

static gboolean on_capped(gpointer data)
{
	AlkToolShell *sh = data;
	g_autofree char *why =
	    g_strdup_printf("bash: the shell's output reached the sandbox's output cap "
	                    "(output_cap_bytes, %" G_GUINT64_FORMAT " bytes); the shell was "
	                    "restarted (its directory, variables and background jobs are gone)",
	                    sh->cap);

	sh->capped = 0;
	shell_lost(sh, why);
	return G_SOURCE_REMOVE;
}

static void shell_output(AlkTask *task, int stream, const guint8 *d, gsize len, gpointer data)
{
	AlkToolShell *sh = data;
	Run *r = sh->run;
	int status = 0;

	sh->seen += len;
	/* the agent forwards nothing past the cap: no marker would come */
	if (sh->cap > 0 && sh->seen >= sh->cap && sh->capped == 0)
		sh->capped = g_idle_add(on_capped, sh);
	if (r == NULL) {
		gsize room = STRAY_MAX - MIN(sh->stray->len, STRAY_MAX);
		g_byte_array_append(sh->stray, d, (guint)MIN(len, room));
		return;
	}
	g_byte_array_append(r->out, d, (guint)len);
	if (run_parse(r, &status)) {
		run_finish(r, status);
		return;
	}
	run_trim(r);
}

static void shell_feed(AlkToolShell *sh)
{
	gsize n;

	if (sh->task == NULL || sh->pending->len == 0)
		return;
	n = alk_task_write(sh->task, sh->pending->data, sh->pending->len);
	g_byte_array_remove_range(sh->pending, 0, (guint)n);
}

static void shell_writable(AlkTask *task, gpointer data)
{
	shell_feed(data);
}

static void shell_done(AlkTask *task, const AlkTaskResult *result, gpointer data)
{
	AlkToolShell *sh = data;
	g_autofree char *why = NULL;

	sh->task = NULL;
	if (result->exit->signo != 0)
		why = g_strdup_printf(
		    "bash: the shell was killed by signal %u%s; the next command "
		    "starts a new one",
		    result->exit->signo,
		    result->exit->timed_out ? " (the profile's max_exec_timeout_s)" : "");
	else
		why = g_strdup_printf("bash: the shell exited with status %d; the next command "
		                      "starts a new one",
		                      result->exit->exit_code);
	shell_lost(sh, why);
}

static void shell_failed(AlkTask *task, const GError *error, gpointer data)
{
	AlkToolShell *sh = data;
	g_autofree char *why = g_strdup_printf("bash: the shell ended: %s", error->message);

	sh->task = NULL;
	shell_lost(sh, why);
}

static const AlkTaskCallbacks shell_callbacks = {
    .output = shell_output,
    .writable = shell_writable,
    .done = shell_done,
    .failed = shell_failed,
};

static AlkToolShell *shell_start(AlkToolCall *call, AlkToolState *st, GError **error)
{
	const AlkSandbox *sb = alk_manager_lookup(call->api->manager, call->sandbox, error);
	AlkToolShell *sh;
	AlkMsgExec msg;

	if (sb == NULL)
		return NULL;
	memset(&msg, 0, sizeof(msg));
	msg.argv[0] = "/bin/sh";
	msg.argc = 1;
	msg.stdin_mode = ALK_STDIN_PIPE;
	msg.timeout_ms = (guint32)MIN(sb->limits.max_exec_timeout_s * 1000, G_MAXUINT32);
	sh = g_new0(AlkToolShell, 1);
	sh->api = call->api;
	sh->cap = sb->limits.output_cap_bytes;
	sh->pending = g_byte_array_new();
	sh->stray = g_byte_array_new();
	sh->task =
	    alk_manager_exec(call->api->manager, call->sandbox, &msg, &shell_callbacks, sh, error);
	if (sh->task == NULL) {
		alk_tool_bash_free(sh);
		return NULL;
	}
	sh->state = st;
	st->shell = sh;
	return sh;
}

/* ---- a command ---- */

static void shell_quote(GString *s, const char *text)
{
	g_string_append_c(s, '\'');
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '\'')
			g_string_append(s, "'\\''");
		else
			g_string_append_c(s, *p);
	}
	g_string_append_c(s, '\'');
}

static void run_write(Run *r, const char *command)
{
	g_autoptr(GString) line = g_string_new("if /bin/sh -n -c ");
	guint8 raw[MARKER_HEX / 2];
	g_autofree char *hex = NULL;

	for (guint i = 0; i < sizeof(raw); i++)
		raw[i] = (guint8)g_random_int_range(0, 256);
	hex = g_compute_checksum_for_data(G_CHECKSUM_SHA256, raw, sizeof(raw));
	hex[MARKER_HEX] = '\0';
	r->needle_len = (gsize)g_snprintf(r->needle, sizeof(r->needle), "\n__alk_%s:", hex);
	shell_quote(line, command);
	g_string_append(line, " 2>&1; then eval ");
	shell_quote(line, command);
	g_string_append_printf(line,
	                       " </dev/null 2>&1; else (exit 2); fi; printf '\\n%%s:%%d\\n' "
	                       "'__alk_%s' \"$?\"\n",
	                       hex);
	g_byte_array_append(r->sh->pending, (const guint8 *)line->str, (guint)line->len);
	shell_feed(r->sh);
}

/* The request went: the command cannot be followed any more, so its
 * shell goes with it. */
static void run_cancel(gpointer data)
{
	Run *r = data;
	AlkToolShell *sh = r->sh;

	sh->run = NULL;
	run_free(r);
	alk_tool_bash_free(sh);
}

static gboolean restart(AlkToolCall *call, AlkToolState *st, gboolean asked, GString *notes)
{
	AlkToolShell *sh = st->shell;

	if (sh != NULL && !asked && sh->cap > 0 &&
	    sh->seen + 2 * ALK_TOOL_OUTPUT_MAX + 2 * TAIL_KEEP > sh->cap) {
		g_string_append(notes, "[a new shell: the old one's output reached the sandbox's "
		                       "output cap (output_cap_bytes)]\n");
		asked = TRUE;
	}
	if (!asked || sh == NULL)
		return asked;
	alk_tool_bash_free(sh);
	return TRUE;
}

static void bash_go(AlkToolCall *call, BashInput *in)
{
	AlkToolState *st = alk_tool_state(call->api, call->sandbox);
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) notes = g_string_new(NULL);
	gboolean restarted;
	Run *r;

	if (st->shell != NULL && st->shell->run != NULL) {
		alk_tool_call_fail(call,
		                   "bash: the shell of this sandbox is busy with another "
		                   "command; calls are not queued: send the next when it ended");
		return;
	}
	restarted = restart(call, st, in->restart, notes);
	if (in->command == NULL || in->command[0] == '\0') {
		if (in->restart) {
			alk_tool_call_text(call, "tool has been restarted.");
			alk_tool_call_done(call, FALSE);
		} else {
			alk_tool_call_fail(call, "bash: give a command (or restart: true)");
		}
		return;
	}
	if (restarted && in->restart)
		g_string_append(notes, "[the shell was restarted]\n");
	if (st->shell == NULL && shell_start(call, st, &error) == NULL) {
		alk_tool_call_fail(call, "bash: cannot start a shell: %s", error->message);
		return;
	}
	if (st->shell->stray->len > 0) {
		g_autofree char *stray =
		    alk_tool_text(st->shell->stray->data, st->shell->stray->len);
		g_string_append_printf(
		    notes, "[output since the last command]\n%s\n[this command]\n", stray);
		g_byte_array_set_size(st->shell->stray, 0);
	}
	r = g_new0(Run, 1);
	r->call = call;
	r->sh = st->shell;
	r->out = g_byte_array_new();
	r->notes = g_steal_pointer(&notes);
	st->shell->run = r;
	alk_tool_call_hold(call, run_cancel, r);
	r->timer =
	    g_timeout_add_seconds(call->api->config->api.bash_timeout_s, on_timeout, st->shell);
	run_write(r, in->command);
}

void alk_tool_bash_run(AlkToolCall *call)
{
	BashInput in = {0};

	if (!alk_tool_call_input(call, input_fields, &in))
		return;
	if (in.restart)
		alk_json_add_bool(call->audit, "restart", TRUE);
	alk_tool_call_audit_text(call, "command", in.command);
	bash_go(call, &in);
	alk_json_fields_clear(input_fields, &in);
}
