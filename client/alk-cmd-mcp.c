/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlock mcp: MCP's stdio transport (one JSON-RPC message per line on
 * stdin and stdout) bridged to the daemon's /mcp over the CLI's usual
 * connection, so a local host (Claude Desktop or Code, an IDE) can start
 * it as its server. Messages go one at a time, in order; the session id
 * the daemon gives at initialize is carried on every later message, and
 * the session ended (DELETE) when stdin closes. stdout carries nothing but
 * messages; what goes wrong is said on stderr. */
#include "alk-cmd.h"

#include <gio/gunixinputstream.h>
#include <string.h>
#include <unistd.h>

#include "alk-json.h"

#define LINE_MAX_BYTES (ALK_JSON_MAX_SIZE + 1024)

typedef struct {
	AlkCli *cli;
	char *session;  /* Mcp-Session-Id, once initialized */
	char *revision; /* the negotiated protocol revision */
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
	JsonObject *result = NULL;

	if (id == NULL)
		return;
	g_free(br->session);
	br->session = g_strdup(id);
	if (o != NULL && json_object_has_member(o, "result") &&
	    JSON_NODE_HOLDS_OBJECT(json_object_get_member(o, "result")))
		result = json_object_get_object_member(o, "result");
	g_free(br->revision);
	br->revision = g_strdup(result != NULL ? json_object_get_string_member_with_default(
	                                             result, "protocolVersion", NULL)
	                                       : NULL);
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

static gboolean forward(Bridge *br, const char *line, GError **error)
{
	g_autoptr(GError) failure = NULL;
	g_autoptr(SoupMessage) msg = mcp_message(br, "POST", &failure);
	g_autoptr(GInputStream) in = NULL;
	g_autoptr(GBytes) body = NULL;
	g_autofree char *text = NULL;

	if (msg != NULL) {
		alk_cli_set_json_body(msg, line);
		in = alk_cli_send_any(br->cli, msg, &failure);
	}
	if (in != NULL)
		body = alk_cli_read_all(br->cli, in, ALK_CLI_JSON_MAX, &failure);
	if (body == NULL)
		return emit_error(line, failure, error);
	if (is_notification(line) && !SOUP_STATUS_IS_SUCCESSFUL(soup_message_get_status(msg))) {
		/* a notification is never answered: the refusal goes to stderr */
		alk_cli_http_error(msg, body, &failure);
		g_printerr("airlock mcp: a notification was refused: %s\n", failure->message);
		return TRUE;
	}
	if (!is_rpc(body)) {
		/* 202 (a notification or response went in): nothing to answer */
		if (SOUP_STATUS_IS_SUCCESSFUL(soup_message_get_status(msg)))
			return TRUE;
		alk_cli_http_error(msg, body, &failure);
		return emit_error(line, failure, error);
	}
	if (SOUP_STATUS_IS_SUCCESSFUL(soup_message_get_status(msg)))
		note_session(br, msg, body);
	text = g_strndup(g_bytes_get_data(body, NULL), g_bytes_get_size(body));
	/* the daemon's JSON is compact: one line */
	g_strdelimit(text, "\r\n", ' ');
	return emit(text, error);
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

static char *read_line(AlkCli *cli, GDataInputStream *in, GError **error)
{
	g_autoptr(GAsyncResult) res = NULL;
	gsize len = 0;
	char *line;

	g_data_input_stream_read_line_async(in, G_PRIORITY_DEFAULT, cli->cancel, alk_cli_async_done,
	                                    &res);
	alk_cli_await(cli, &res);
	line = g_data_input_stream_read_line_finish_utf8(in, res, &len, error);
	if (line != NULL && len > LINE_MAX_BYTES) {
		g_free(line);
		g_set_error(error, ALK_CLI_ERROR, ALK_CLI_ERROR_PROTOCOL,
		            "a message on stdin is over %u bytes", LINE_MAX_BYTES);
		return NULL;
	}
	return line;
}

int alk_cmd_mcp(AlkCli *cli, int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GInputStream) raw = g_unix_input_stream_new(STDIN_FILENO, FALSE);
	g_autoptr(GDataInputStream) in = g_data_input_stream_new(raw);
	Bridge br = {.cli = cli};
	int status = ALK_EXIT_OK;

	if (!alk_cmd_parse_plain(cli, argc, argv, 0, NULL, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_USAGE);
	g_data_input_stream_set_newline_type(in, G_DATA_STREAM_NEWLINE_TYPE_LF);
	for (;;) {
		g_autofree char *line = read_line(cli, in, &error);
		if (line == NULL)
			break;
		g_strchomp(line);
		if (line[0] == '\0')
			continue;
		if (!forward(&br, line, &error))
			break;
	}
	if (error != NULL) {
		alk_cli_explain_cancel(cli, &error);
		status = alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	}
	if (alk_cli_renew_cancellable(cli))
		end_session(&br);
	g_free(br.session);
	g_free(br.revision);
	return status;
}
