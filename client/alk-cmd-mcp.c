/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlock mcp: MCP's stdio transport (one JSON-RPC message per line on
 * stdin and stdout) bridged to the daemon's /mcp over the CLI's usual
 * connection, so a local host (Claude Desktop or Code, an IDE) can start
 * it as its server. Messages go side by side, each answered when done; the session id
 * the daemon gives at initialize is carried on every later message, and
 * the session ended (DELETE) when stdin closes. stdout carries nothing but
 * messages; what goes wrong is said on stderr. */
#include "alk-cmd.h"

#include <gio/gunixinputstream.h>
#include <string.h>
#include <unistd.h>

#include "alk-cli-table.h"
#include "alk-json.h"

#define LINE_MAX_BYTES (ALK_JSON_MAX_SIZE + 1024)

typedef struct {
	AlkCli *cli;
	GDataInputStream *in;
	char *session;  /* Mcp-Session-Id, once initialized */
	char *revision; /* the negotiated protocol revision */
	guint in_flight;
	gboolean initializing; /* an initialize is out: lines wait in waiting */
	GQueue *waiting;       /* char *, owned */
	gboolean eof;          /* stdin ended (or failed: read_error) */
	GError *read_error;
	GError *error; /* stdout failed: the end */
} Bridge;

/* The id of a line, as JSON text: "null" when it is not a JSON object
 * (JSON-RPC answers that with a null id), NULL for a notification (no
 * answer at all). */
static char *line_id(const char *line)
{
	g_autoptr(JsonNode) root =
	    alk_json_parse(line, strlen(line), LINE_MAX_BYTES, ALK_JSON_MAX_DEPTH, NULL);
	JsonNode *id = NULL;

	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
		return g_strdup("null");
	id = json_object_get_member(json_node_get_object(root), "id");
	return id != NULL ? alk_json_to_string(id) : NULL;
}

static gboolean emit(const char *json, GError **error)
{
	g_autofree char *line = g_strconcat(json, "\n", NULL);
	return alk_cli_write_all(STDOUT_FILENO, line, strlen(line), error);
}

/* A failure of the bridge or of HTTP (the daemon unreachable, 401, 413…)
 * answered to a request as a JSON-RPC error; notifications get nothing. */
static gboolean emit_error(const char *line, const GError *failure, GError **error)
{
	g_autofree char *id = line_id(line);
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) node = NULL;
	g_autofree char *text = NULL;

	g_printerr("airlock mcp: %s\n", failure->message);
	if (id == NULL)
		return TRUE;
	json_builder_begin_object(b);
	alk_json_add_string(b, "jsonrpc", "2.0");
	json_builder_set_member_name(b, "id");
	json_builder_add_value(b, json_from_string(id, NULL));
	json_builder_set_member_name(b, "error");
	json_builder_begin_object(b);
	alk_json_add_int(b, "code", -32603);
	alk_json_add_string(b, "message", failure->message);
	json_builder_end_object(b);
	json_builder_end_object(b);
	node = json_builder_get_root(b);
	text = alk_json_to_string(node);
	return emit(text, error);
}

/* initialize's answer: the session id, and the revision later messages
 * name in MCP-Protocol-Version. */
static void note_session(Bridge *br, SoupMessage *msg, GBytes *body)
{
	const char *id =
	    soup_message_headers_get_one(soup_message_get_response_headers(msg), "Mcp-Session-Id");
	g_autoptr(JsonObject) o =
	    alk_json_parse_object(g_bytes_get_data(body, NULL), g_bytes_get_size(body),
	                          ALK_CLI_JSON_MAX, ALK_JSON_MAX_DEPTH, NULL);

	if (id == NULL)
		return;
	g_free(br->session);
	br->session = g_strdup(id);
	g_free(br->revision);
	br->revision =
	    g_strdup(alk_cli_json_string(alk_cli_json_object(o, "result"), "protocolVersion"));
}

static SoupMessage *mcp_message(Bridge *br, const char *method, GError **error)
{
	SoupMessage *msg = alk_cli_message(br->cli, method, "/mcp", error);
	SoupMessageHeaders *h;

	if (msg == NULL)
		return NULL;
	h = soup_message_get_request_headers(msg);
	soup_message_headers_replace(h, "Accept", "application/json, text/event-stream");
	if (br->session != NULL)
		soup_message_headers_replace(h, "Mcp-Session-Id", br->session);
	if (br->revision != NULL)
		soup_message_headers_replace(h, "MCP-Protocol-Version", br->revision);
	return msg;
}

static gboolean is_notification(const char *line)
{
	g_autofree char *id = line_id(line);
	return id == NULL;
}

/* Whether body is a JSON-RPC message (the daemon's answers, its errors
 * with a 400 or 404 included) rather than a REST error. */
static gboolean is_rpc(GBytes *body)
{
	g_autoptr(JsonObject) o =
	    alk_json_parse_object(g_bytes_get_data(body, NULL), g_bytes_get_size(body),
	                          ALK_CLI_JSON_MAX, ALK_JSON_MAX_DEPTH, NULL);
	return o != NULL && json_object_has_member(o, "jsonrpc");
}

/* What the daemon answered to line (body, or failure when it could not
 * be asked), written out. FALSE when stdout failed. */
static gboolean answer(Bridge *br, const char *line, SoupMessage *msg, GBytes *body,
                       GError *failure, GError **error)
{
	g_autoptr(GError) refusal = NULL;
	g_autofree char *text = NULL;
	guint status = msg != NULL ? soup_message_get_status(msg) : 0;

	if (body == NULL)
		return emit_error(line, failure, error);
	if (is_notification(line) && !SOUP_STATUS_IS_SUCCESSFUL(status)) {
		/* a notification is never answered: the refusal goes to stderr */
		alk_cli_http_error(msg, body, &refusal);
		g_printerr("airlock mcp: a notification was refused: %s\n", refusal->message);
		return TRUE;
	}
	if (!is_rpc(body)) {
		/* 202 (a notification or response went in): nothing to answer */
		if (SOUP_STATUS_IS_SUCCESSFUL(status))
			return TRUE;
		alk_cli_http_error(msg, body, &refusal);
		return emit_error(line, refusal, error);
	}
	if (SOUP_STATUS_IS_SUCCESSFUL(status))
		note_session(br, msg, body);
	text = g_strndup(g_bytes_get_data(body, NULL), g_bytes_get_size(body));
	/* the daemon's JSON is compact: one line */
	g_strdelimit(text, "\r\n", ' ');
	return emit(text, error);
}

/* ---- messages side by side ----
 * A host may have several requests out at once (parallel tool calls, a
 * ping during a long exec): each goes as its own HTTP request and is
 * answered when it is done. Only initialize waits for nothing and holds
 * everything after it until its answer gives the session. */

typedef struct {
	Bridge *br;
	SoupMessage *msg;
	char *line;
	gboolean initialize;
} Pending;

static void send_line(Bridge *br, char *line);

static gboolean is_initialize(const char *line)
{
	g_autoptr(JsonObject) o =
	    alk_json_parse_object(line, strlen(line), LINE_MAX_BYTES, ALK_JSON_MAX_DEPTH, NULL);
	return g_strcmp0(alk_cli_json_string(o, "method"), "initialize") == 0;
}

static void on_answer(GObject *source, GAsyncResult *res, gpointer data)
{
	Pending *p = data;
	Bridge *br = p->br;
	g_autoptr(GError) failure = NULL;
	g_autoptr(GBytes) body =
	    soup_session_send_and_read_finish(SOUP_SESSION(source), res, &failure);

	if (body != NULL && g_bytes_get_size(body) > ALK_CLI_JSON_MAX) {
		g_clear_pointer(&body, g_bytes_unref);
		g_set_error(&failure, ALK_CLI_ERROR, ALK_CLI_ERROR_PROTOCOL,
		            "the daemon's answer exceeds %u bytes", ALK_CLI_JSON_MAX);
	} else if (body == NULL) {
		g_prefix_error(&failure, "talking to airlockd: ");
	}
	if (br->error == NULL)
		answer(br, p->line, p->msg, body, failure, &br->error);
	br->in_flight--;
	if (p->initialize) {
		br->initializing = FALSE;
		while (!br->initializing && !g_queue_is_empty(br->waiting))
			send_line(br, g_queue_pop_head(br->waiting));
	}
	g_object_unref(p->msg);
	g_free(p->line);
	g_free(p);
}

/* Takes line. */
static void send_line(Bridge *br, char *line)
{
	g_autoptr(GError) failure = NULL;
	Pending *p;

	if (br->initializing) {
		g_queue_push_tail(br->waiting, line);
		return;
	}
	p = g_new0(Pending, 1);
	p->br = br;
	p->line = line;
	p->initialize = is_initialize(line);
	p->msg = mcp_message(br, "POST", &failure);
	if (p->msg == NULL) {
		if (br->error == NULL)
			answer(br, line, NULL, NULL, failure, &br->error);
		g_free(line);
		g_free(p);
		return;
	}
	br->initializing = p->initialize;
	alk_cli_set_json_body(p->msg, line);
	br->in_flight++;
	soup_session_send_and_read_async(alk_cli_session(br->cli), p->msg, G_PRIORITY_DEFAULT,
	                                 br->cli->cancel, on_answer, p);
}

static void read_next(Bridge *br);

static void on_line(GObject *source, GAsyncResult *res, gpointer data)
{
	Bridge *br = data;
	gsize len = 0;
	char *line = g_data_input_stream_read_line_finish_utf8(G_DATA_INPUT_STREAM(source), res,
	                                                       &len, &br->read_error);

	if (line == NULL) {
		br->eof = TRUE;
		return;
	}
	if (len > LINE_MAX_BYTES) {
		g_free(line);
		g_set_error(&br->read_error, ALK_CLI_ERROR, ALK_CLI_ERROR_PROTOCOL,
		            "a message on stdin is over %u bytes", LINE_MAX_BYTES);
		br->eof = TRUE;
		return;
	}
	g_strchomp(line);
	if (line[0] != '\0')
		send_line(br, line);
	else
		g_free(line);
	read_next(br);
}

static void read_next(Bridge *br)
{
	g_data_input_stream_read_line_async(br->in, G_PRIORITY_DEFAULT, br->cli->cancel, on_line,
	                                    br);
}

static void end_session(Bridge *br)
{
	g_autoptr(SoupMessage) msg = br->session != NULL ? mcp_message(br, "DELETE", NULL) : NULL;
	g_autoptr(GInputStream) in = NULL;

	if (msg != NULL) {
		alk_cli_arm_deadline(br->cli, 10);
		in = alk_cli_send(br->cli, msg, NULL);
	}
}

int alk_cmd_mcp(AlkCli *cli, int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GInputStream) raw = g_unix_input_stream_new(STDIN_FILENO, FALSE);
	g_autoptr(GDataInputStream) in = g_data_input_stream_new(raw);
	Bridge br = {.cli = cli, .in = in, .waiting = g_queue_new()};
	int status = ALK_EXIT_OK;

	if (!alk_cmd_parse_plain(cli, argc, argv, 0, NULL, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_USAGE);
	g_data_input_stream_set_newline_type(in, G_DATA_STREAM_NEWLINE_TYPE_LF);
	read_next(&br);
	/* until stdin ends and every answer is out, stdout fails, or a signal */
	while ((!br.eof || br.in_flight > 0 || !g_queue_is_empty(br.waiting)) && br.error == NULL &&
	       !g_cancellable_is_cancelled(cli->cancel))
		g_main_context_iteration(NULL, TRUE);
	/* what is still out ends cancelled: its callbacks need br */
	g_cancellable_cancel(cli->cancel);
	while (br.in_flight > 0 || !br.eof)
		g_main_context_iteration(NULL, TRUE);
	if (br.error != NULL) {
		error = g_steal_pointer(&br.error);
	} else {
		error = g_steal_pointer(&br.read_error);
	}
	if (error == NULL && cli->interrupts > 0)
		error = g_error_new(G_IO_ERROR, G_IO_ERROR_CANCELLED, "interrupted");
	if (error != NULL) {
		alk_cli_explain_cancel(cli, &error);
		status = alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	}
	if (alk_cli_renew_cancellable(cli))
		end_session(&br);
	g_queue_free_full(br.waiting, g_free);
	g_clear_error(&br.read_error);
	g_free(br.session);
	g_free(br.revision);
	return status;
}
