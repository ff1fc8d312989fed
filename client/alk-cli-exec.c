/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Running a command in a sandbox, for exec and run: the request body, the
 * NDJSON output stream written to our stdout and stderr as it arrives, and
 * the exit status. With -i or -t the command runs over the WebSocket
 * endpoint instead (the streamed POST cannot take a request body and
 * answer at the same time, libsoup 3.2): stdin streamed within the
 * daemon's window, a pseudo-terminal with -t. Only -i with --json still
 * reads stdin whole, up to ALK_CLI_STDIN_MAX, and sends it as stdin_b64. */
#include "alk-cmd.h"

#include <gio/gunixinputstream.h>
#include <string.h>
#include <unistd.h>

#include "alk-cli-table.h"
#include "alk-json.h"

#define READ_CHUNK (64 * 1024)
#define LINE_MAX_BYTES (16 * 1024 * 1024)

/* ---- options -------------------------------------------------------------------------------- */

#define O(owner) ((AlkExecOpts *)(owner))

static gboolean set_timeout(gpointer owner, const char *value, GError **error)
{
	if (O(owner)->timeout_s != 0)
		return alk_cli_usage_error(error, "given twice");
	return alk_cli_parse_uint("the timeout (seconds)", value, 1, ALK_CLI_TIMEOUT_MAX,
	                          &O(owner)->timeout_s, error);
}

static gboolean set_env(gpointer owner, const char *value, GError **error)
{
	AlkExecOpts *o = owner;
	g_autofree char *key = NULL;
	g_autofree char *val = NULL;

	if (!alk_cli_split_kv(value, &key, &val, error) || !alk_cli_check_env(key, val, error))
		return FALSE;
	if (o->env == NULL)
		o->env = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	if (g_hash_table_contains(o->env, key))
		return alk_cli_usage_error(error, "%s given twice", key);
	if (g_hash_table_size(o->env) >= ALK_CLI_ENV_MAX)
		return alk_cli_usage_error(error, "at most %d variables", ALK_CLI_ENV_MAX);
	g_hash_table_insert(o->env, g_steal_pointer(&key), g_steal_pointer(&val));
	return TRUE;
}

static gboolean set_cwd(gpointer owner, const char *value, GError **error)
{
	if (O(owner)->cwd != NULL)
		return alk_cli_usage_error(error, "given twice");
	if (!alk_cli_check_guest_path(value, TRUE, error))
		return FALSE;
	O(owner)->cwd = g_strdup(value);
	return TRUE;
}

/* The exact form is the daemon's to check; here only what keeps the
 * request sane. */
static gboolean set_user(gpointer owner, const char *value, GError **error)
{
	if (O(owner)->user != NULL)
		return alk_cli_usage_error(error, "given twice");
	if (value[0] == '\0' || strlen(value) > 32 ||
	    strspn(value, "abcdefghijklmnopqrstuvwxyz"
	                  "0123456789_-:") != strlen(value))
		return alk_cli_usage_error(error, "--user: a user name or UID[:GID]");
	O(owner)->user = g_strdup(value);
	return TRUE;
}

static gboolean set_interactive(gpointer owner, const char *value, GError **error)
{
	O(owner)->interactive = TRUE;
	return TRUE;
}

static gboolean set_tty(gpointer owner, const char *value, GError **error)
{
	O(owner)->tty = TRUE;
	return TRUE;
}

const AlkCliOption alk_exec_options[] = {
    {"timeout", 0, TRUE, set_timeout},
    {"env", 'e', TRUE, set_env},
    {"cwd", 'w', TRUE, set_cwd},
    {"interactive", 'i', FALSE, set_interactive},
    {"tty", 't', FALSE, set_tty},
    {"user", 'u', TRUE, set_user},
    {NULL, 0, FALSE, NULL},
};

/* shell: always -it */
const AlkCliOption alk_shell_options[] = {
    {"timeout", 0, TRUE, set_timeout}, {"env", 'e', TRUE, set_env}, {"cwd", 'w', TRUE, set_cwd},
    {"user", 'u', TRUE, set_user},     {NULL, 0, FALSE, NULL},
};

void alk_exec_opts_clear(AlkExecOpts *o)
{
	g_clear_pointer(&o->env, g_hash_table_unref);
	g_clear_pointer(&o->cwd, g_free);
	g_clear_pointer(&o->user, g_free);
	o->timeout_s = 0;
	o->interactive = FALSE;
	o->tty = FALSE;
}

char *alk_exec_body(const AlkExecOpts *o, char **argv, int argc, GBytes *stdin_data)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	g_auto(GStrv) args = g_new0(char *, argc + 1);

	for (int i = 0; i < argc; i++)
		args[i] = g_strdup(argv[i]);
	json_builder_begin_object(b);
	alk_json_add_strv(b, "argv", (const char *const *)args);
	if (o->env != NULL)
		alk_json_add_map(b, "env", o->env);
	if (o->cwd != NULL)
		alk_json_add_string(b, "cwd", o->cwd);
	if (o->user != NULL)
		alk_json_add_string(b, "user", o->user);
	if (o->timeout_s != 0)
		alk_json_add_int(b, "timeout_s", (gint64)o->timeout_s);
	if (stdin_data != NULL) {
		gsize len = 0;
		const guchar *data = g_bytes_get_data(stdin_data, &len);
		g_autofree char *b64 = g_base64_encode(data, len);
		alk_json_add_string(b, "stdin_b64", b64);
	}
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	return alk_json_to_string(root);
}

/* ---- results -------------------------------------------------------------------------------- */

gboolean alk_exec_result_read(JsonObject *obj, AlkExecResult *out, GError **error)
{
	AlkExecResult r = {0};
	gboolean has_signal = alk_cli_json_int(obj, "signal", &r.signo);

	r.has_exit_code = alk_cli_json_int(obj, "exit_code", &r.exit_code);
	alk_cli_json_bool(obj, "timed_out", &r.timed_out);
	alk_cli_json_bool(obj, "truncated", &r.truncated);
	if (!r.has_exit_code && !has_signal && !r.timed_out) {
		g_set_error_literal(error, ALK_CLI_ERROR, ALK_CLI_ERROR_PROTOCOL,
		                    "the daemon's result has neither an exit code nor a signal");
		return FALSE;
	}
	if (!has_signal)
		r.signo = 0;
	*out = r;
	return TRUE;
}

int alk_exec_result_status(const AlkExecResult *r)
{
	if (r->truncated)
		g_printerr("airlock: output was cut at the sandbox's output cap\n");
	if (r->timed_out)
		g_printerr("airlock: the command timed out\n");
	return alk_cli_exit_status(r->has_exit_code, r->exit_code, r->signo, r->timed_out);
}

/* ---- stdin ---------------------------------------------------------------------------------- */

GBytes *alk_cli_read_stdin(AlkCli *cli, gsize cap, GError **error)
{
	g_autoptr(GInputStream) in = g_unix_input_stream_new(STDIN_FILENO, FALSE);
	g_autoptr(GError) local = NULL;
	GBytes *data = alk_cli_read_all(cli, in, cap, &local);

	if (data != NULL)
		return data;
	if (g_error_matches(local, ALK_CLI_ERROR, ALK_CLI_ERROR_PROTOCOL))
		g_set_error(error, ALK_CLI_ERROR, ALK_CLI_ERROR_USAGE,
		            "stdin exceeds %" G_GSIZE_FORMAT " MiB; copy big inputs in with "
		            "'airlock cp' instead",
		            cap / (1024 * 1024));
	else
		g_propagate_prefixed_error(error, g_steal_pointer(&local), "reading stdin: ");
	return NULL;
}

/* ---- the NDJSON stream ---------------------------------------------------------------------- */

typedef struct {
	GByteArray *line;
	AlkExecResult *result;
	gboolean ended;
} Stream;

static gboolean write_chunk(JsonObject *obj, int fd, GError **error)
{
	const char *b64 = alk_cli_json_string(obj, "data_b64");
	gsize len = 0;
	g_autofree guchar *data = NULL;

	if (b64 == NULL) {
		g_set_error_literal(error, ALK_CLI_ERROR, ALK_CLI_ERROR_PROTOCOL,
		                    "an output line without data_b64");
		return FALSE;
	}
	data = g_base64_decode(b64, &len);
	return alk_cli_write_all(fd, data, len, error);
}

static gboolean stream_error(JsonObject *obj, GError **error)
{
	JsonObject *err = alk_cli_json_object(obj, "error");
	const char *message = alk_cli_json_string(err, "message");

	g_set_error_literal(error, ALK_CLI_ERROR, ALK_CLI_ERROR_FAILED,
	                    message != NULL ? message : "the command failed to run");
	return FALSE;
}

static gboolean handle_line(Stream *s, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(JsonObject) obj = alk_json_parse_object(
	    (const char *)s->line->data, s->line->len, LINE_MAX_BYTES, ALK_JSON_MAX_DEPTH, &local);
	const char *stream = alk_cli_json_string(obj, "stream");

	if (obj == NULL) {
		g_set_error(error, ALK_CLI_ERROR, ALK_CLI_ERROR_PROTOCOL,
		            "the daemon sent a malformed output line: %s", local->message);
		return FALSE;
	}
	if (g_strcmp0(stream, "stdout") == 0)
		return write_chunk(obj, STDOUT_FILENO, error);
	if (g_strcmp0(stream, "stderr") == 0)
		return write_chunk(obj, STDERR_FILENO, error);
	if (g_strcmp0(stream, "exit") == 0) {
		s->ended = TRUE;
		return alk_exec_result_read(obj, s->result, error);
	}
	if (g_strcmp0(stream, "error") == 0) {
		s->ended = TRUE;
		return stream_error(obj, error);
	}
	return TRUE; /* a kind of line from a newer daemon */
}

static gboolean feed(Stream *s, const guint8 *data, gsize len, GError **error)
{
	while (len > 0 && !s->ended) {
		const guint8 *nl = memchr(data, '\n', len);
		gsize take = nl != NULL ? (gsize)(nl - data) : len;
		if (s->line->len + take > LINE_MAX_BYTES) {
			g_set_error(error, ALK_CLI_ERROR, ALK_CLI_ERROR_PROTOCOL,
			            "an output line exceeds %d bytes", LINE_MAX_BYTES);
			return FALSE;
		}
		g_byte_array_append(s->line, data, take);
		if (nl == NULL)
			break;
		if (s->line->len > 0 && !handle_line(s, error))
			return FALSE;
		g_byte_array_set_size(s->line, 0);
		data += take + 1;
		len -= take + 1;
	}
	return TRUE;
}

static gboolean read_stream(AlkCli *cli, GInputStream *in, Stream *s, GError **error)
{
	while (!s->ended) {
		g_autoptr(GAsyncResult) res = NULL;
		g_autoptr(GBytes) chunk = NULL;
		gsize len = 0;
		g_input_stream_read_bytes_async(in, READ_CHUNK, G_PRIORITY_DEFAULT, cli->cancel,
		                                alk_cli_async_done, &res);
		alk_cli_await(cli, &res);
		chunk = g_input_stream_read_bytes_finish(in, res, error);
		if (chunk == NULL) {
			alk_cli_explain_cancel(cli, error);
			return FALSE;
		}
		const guint8 *data = g_bytes_get_data(chunk, &len);
		if (len == 0)
			break;
		if (!feed(s, data, len, error))
			return FALSE;
	}
	if (!s->ended && s->line->len > 0 && !handle_line(s, error))
		return FALSE;
	if (!s->ended) {
		g_set_error_literal(error, ALK_CLI_ERROR, ALK_CLI_ERROR_PROTOCOL,
		                    "airlockd ended the output before the command finished");
		return FALSE;
	}
	return TRUE;
}

/* ---- whole results (--json, or a daemon that does not stream) ------------------------------- */

static gboolean write_whole(JsonObject *obj, const char *name, int fd, GError **error)
{
	g_autofree char *b64_name = g_strconcat(name, "_b64", NULL);
	const char *text = alk_cli_json_string(obj, name);
	const char *b64 = alk_cli_json_string(obj, b64_name);
	gsize len = 0;
	g_autofree guchar *data = NULL;

	if (text != NULL)
		return alk_cli_write_all(fd, text, strlen(text), error);
	if (b64 == NULL)
		return TRUE;
	data = g_base64_decode(b64, &len);
	return alk_cli_write_all(fd, data, len, error);
}

static gboolean whole_result(AlkCli *cli, GInputStream *in, gboolean print_json,
                             AlkExecResult *result, GError **error)
{
	g_autoptr(GBytes) body = alk_cli_read_all(cli, in, ALK_CLI_JSON_MAX, error);
	g_autoptr(JsonObject) obj = body != NULL ? alk_cli_parse_object(body, error) : NULL;

	if (obj == NULL)
		return FALSE;
	if (print_json)
		return alk_cli_print_json(body, error) && alk_exec_result_read(obj, result, error);
	return write_whole(obj, "stdout", STDOUT_FILENO, error) &&
	       write_whole(obj, "stderr", STDERR_FILENO, error) &&
	       alk_exec_result_read(obj, result, error);
}

gboolean alk_cli_exec(AlkCli *cli, const char *id, const char *body, AlkExecResult *result,
                      GError **error)
{
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s/exec", id);
	g_autoptr(SoupMessage) msg = alk_cli_message(cli, "POST", path, error);
	g_autoptr(GInputStream) in = NULL;
	g_autoptr(GByteArray) line = g_byte_array_new();
	Stream s = {line, result, FALSE};
	const char *type = NULL;

	if (msg == NULL)
		return FALSE;
	alk_cli_set_json_body(msg, body);
	if (!cli->json)
		soup_message_headers_replace(soup_message_get_request_headers(msg), "Accept",
		                             "application/x-ndjson");
	in = alk_cli_send(cli, msg, error);
	if (in == NULL)
		return FALSE;
	type = soup_message_headers_get_content_type(soup_message_get_response_headers(msg), NULL);
	if (cli->json || g_strcmp0(type, "application/x-ndjson") != 0)
		return whole_result(cli, in, cli->json, result, error);
	return read_stream(cli, in, &s, error);
}

gboolean alk_cli_exec_command(AlkCli *cli, const char *id, const AlkExecOpts *o, char **argv,
                              int argc, AlkExecResult *result, GError **error)
{
	g_autoptr(GBytes) input = NULL;
	g_autofree char *body = NULL;

	if (o->tty || (o->interactive && !cli->json))
		return alk_cli_exec_ws(cli, id, o, argv, argc, result, error);
	if (o->interactive) {
		input = alk_cli_read_stdin(cli, ALK_CLI_STDIN_MAX, error);
		if (input == NULL)
			return FALSE;
	}
	body = alk_exec_body(o, argv, argc, input);
	return alk_cli_exec(cli, id, body, result, error);
}
