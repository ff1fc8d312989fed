/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The CLI's HTTP client: libsoup 3 over the daemon's unix socket
 * ("remote-connectable") or TCP with a bearer token. */
#include "alk-cli.h"

#include <sys/stat.h>
#include <unistd.h>

#include "alk-cli-table.h"
#include "alk-json.h"

#define READ_CHUNK (64 * 1024)

static SoupSession *session(AlkCli *cli)
{
	if (cli->session != NULL)
		return cli->session;
	/* timeout 0: exec streams and boots may be silent for long; every
	 * wait has its own deadline instead. */
	if (cli->socket_path != NULL) {
		g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(cli->socket_path);
		cli->session = soup_session_new_with_options("remote-connectable", addr, "timeout",
		                                             0, "idle-timeout", 0, "user-agent",
		                                             "airlock/" ALK_VERSION, NULL);
	} else {
		cli->session = soup_session_new_with_options(
		    "timeout", 0, "idle-timeout", 0, "user-agent", "airlock/" ALK_VERSION, NULL);
		if (cli->cacert != NULL) {
			g_autoptr(GError) error = NULL;
			/* GTlsFileDatabase takes absolute paths only */
			g_autofree char *path = g_canonicalize_filename(cli->cacert, NULL);
			g_autoptr(GTlsDatabase) db = g_tls_file_database_new(path, &error);
			/* an unreadable CA: no certificate verifies, so https fails
			 * clearly at the first request; the reason is told once here */
			if (db == NULL)
				g_printerr("airlock: --cacert %s: %s\n", cli->cacert,
				           error->message);
			else
				soup_session_set_tls_database(cli->session, db);
		}
	}
	return cli->session;
}

SoupSession *alk_cli_session(AlkCli *cli)
{
	return session(cli);
}

SoupMessage *alk_cli_message(AlkCli *cli, const char *method, const char *path, GError **error)
{
	g_autofree char *uri = g_strconcat(cli->base_url, path, NULL);
	SoupMessage *msg = soup_message_new(method, uri);
	SoupMessageHeaders *h = NULL;

	if (msg == NULL) {
		g_set_error(error, ALK_CLI_ERROR, ALK_CLI_ERROR_USAGE,
		            "cannot build a request to %s", uri);
		return NULL;
	}
	h = soup_message_get_request_headers(msg);
	soup_message_headers_replace(h, "Accept", "application/json");
	if (cli->socket_path == NULL && cli->token != NULL) {
		g_autofree char *auth = g_strconcat("Bearer ", cli->token, NULL);
		soup_message_headers_replace(h, "Authorization", auth);
	}
	return msg;
}

void alk_cli_set_json_body(SoupMessage *msg, const char *json)
{
	g_autoptr(GBytes) body = g_bytes_new(json, strlen(json));

	soup_message_set_request_body_from_bytes(msg, "application/json", body);
}

char *alk_cli_files_path(const char *id, const char *guest_path)
{
	g_autofree char *escaped = g_uri_escape_string(guest_path + 1, "/", FALSE);

	return g_strdup_printf("/v1/sandboxes/%s/files/%s", id, escaped);
}

/* ---- errors --------------------------------------------------------------------------------- */

static const char *start_advice =
    "  Start the daemon with `systemctl start airlockd`, or `./scripts/quickstart` from a "
    "source tree,\n  or as root `airlockd &`.";

static void socket_advice(AlkCli *cli, const GError *cause, GString *msg)
{
	struct stat st;

	if (stat(cli->socket_path, &st) != 0) {
		g_string_append_printf(msg,
		                       "  %s does not exist: airlockd is not running, or "
		                       "listens elsewhere (--socket, AIRLOCK_SOCKET).\n%s",
		                       cli->socket_path, start_advice);
	} else if (!S_ISSOCK(st.st_mode)) {
		g_string_append_printf(msg, "  %s exists but is not a socket.", cli->socket_path);
	} else if (g_error_matches(cause, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED)) {
		g_string_append(msg, "  The socket exists but you may not use it: run as root, or "
		                     "join the group 'airlock'\n  (usermod -aG airlock $USER, then "
		                     "log in again).");
	} else {
		g_string_append_printf(msg,
		                       "  The socket exists but nobody answers: airlockd has "
		                       "stopped.\n%s",
		                       start_advice);
	}
}

static gboolean is_connect_error(const GError *e)
{
	static const int codes[] = {G_IO_ERROR_NOT_FOUND,         G_IO_ERROR_CONNECTION_REFUSED,
	                            G_IO_ERROR_PERMISSION_DENIED, G_IO_ERROR_HOST_NOT_FOUND,
	                            G_IO_ERROR_HOST_UNREACHABLE,  G_IO_ERROR_NETWORK_UNREACHABLE,
	                            G_IO_ERROR_TIMED_OUT,         G_IO_ERROR_NOT_DIRECTORY,
	                            G_IO_ERROR_INVALID_ARGUMENT};

	if (e->domain == G_RESOLVER_ERROR)
		return TRUE;
	for (guint i = 0; e->domain == G_IO_ERROR && i < G_N_ELEMENTS(codes); i++) {
		if (e->code == codes[i])
			return TRUE;
	}
	return FALSE;
}

static void send_error(AlkCli *cli, GError *cause, GError **error)
{
	g_autoptr(GString) msg = g_string_new(NULL);
	const char *where = cli->socket_path != NULL ? cli->socket_path : cli->base_url;

	if (g_error_matches(cause, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		g_propagate_error(error, g_error_copy(cause));
		alk_cli_explain_cancel(cli, error);
		return;
	}
	if (!is_connect_error(cause)) {
		g_set_error(error, ALK_CLI_ERROR, ALK_CLI_ERROR_PROTOCOL,
		            "talking to airlockd at %s: %s", where, cause->message);
		return;
	}
	g_string_append_printf(msg, "cannot reach airlockd at %s: %s\n", where, cause->message);
	if (cli->socket_path != NULL)
		socket_advice(cli, cause, msg);
	else
		g_string_append_printf(msg,
		                       "  Is airlockd running with `listen = HOST:PORT` in [api] "
		                       "of /etc/airlock/airlockd.conf?\n%s",
		                       start_advice);
	g_set_error_literal(error, ALK_CLI_ERROR, ALK_CLI_ERROR_UNREACHABLE, msg->str);
}

/* The daemon's {"error":{"code","message"}}, else the status line. */
static char *error_message(SoupMessage *msg, GBytes *body)
{
	g_autoptr(GError) ignored = NULL;
	g_autoptr(JsonObject) obj = body != NULL ? alk_cli_parse_object(body, &ignored) : NULL;
	JsonObject *err = alk_cli_json_object(obj, "error");
	const char *message = alk_cli_json_string(err, "message");
	guint status = soup_message_get_status(msg);

	if (message != NULL && message[0] != '\0')
		return g_strdup(message);
	return g_strdup_printf("airlockd answered HTTP %u %s", status,
	                       soup_status_get_phrase(status));
}

static void http_error(AlkCli *cli, SoupMessage *msg, GInputStream *in, GError **error)
{
	g_autoptr(GError) ignored = NULL;
	g_autoptr(GBytes) body = alk_cli_read_all(cli, in, ALK_CLI_ERROR_BODY_MAX, &ignored);

	alk_cli_http_error(msg, body, error);
}

void alk_cli_http_error(SoupMessage *msg, GBytes *body, GError **error)
{
	g_autofree char *message = error_message(msg, body);
	guint status = soup_message_get_status(msg);

	if (status == SOUP_STATUS_UNAUTHORIZED)
		g_set_error(error, ALK_CLI_HTTP_ERROR, (int)status,
		            "%s\n  (give a token with --token or AIRLOCK_TOKEN)", message);
	else
		g_set_error_literal(error, ALK_CLI_HTTP_ERROR, (int)status, message);
}

/* ---- sending -------------------------------------------------------------------------------- */

GInputStream *alk_cli_send_any(AlkCli *cli, SoupMessage *msg, GError **error)
{
	g_autoptr(GAsyncResult) res = NULL;
	g_autoptr(GError) local = NULL;
	GInputStream *in;

	soup_session_send_async(session(cli), msg, G_PRIORITY_DEFAULT, cli->cancel,
	                        alk_cli_async_done, &res);
	alk_cli_await(cli, &res);
	in = soup_session_send_finish(cli->session, res, &local);
	if (in == NULL)
		send_error(cli, local, error);
	return in;
}

GInputStream *alk_cli_send(AlkCli *cli, SoupMessage *msg, GError **error)
{
	g_autoptr(GInputStream) in = alk_cli_send_any(cli, msg, error);

	if (in == NULL)
		return NULL;
	if (SOUP_STATUS_IS_SUCCESSFUL(soup_message_get_status(msg)))
		return g_steal_pointer(&in);
	http_error(cli, msg, in, error);
	return NULL;
}

SoupWebsocketConnection *alk_cli_websocket(AlkCli *cli, SoupMessage *msg, GError **error)
{
	g_autoptr(GAsyncResult) res = NULL;
	g_autoptr(GError) local = NULL;
	SoupWebsocketConnection *ws;
	guint status;

	soup_session_websocket_connect_async(session(cli), msg, NULL, NULL, G_PRIORITY_DEFAULT,
	                                     cli->cancel, alk_cli_async_done, &res);
	alk_cli_await(cli, &res);
	ws = soup_session_websocket_connect_finish(cli->session, res, &local);
	if (ws != NULL)
		return ws;
	status = soup_message_get_status(msg);
	/* libsoup keeps no body of a refused handshake: the status tells */
	if (status >= 400)
		g_set_error(error, ALK_CLI_HTTP_ERROR, (int)status, "airlockd answered HTTP %u %s",
		            status, soup_status_get_phrase(status));
	else
		send_error(cli, local, error);
	return NULL;
}

GBytes *alk_cli_read_all(AlkCli *cli, GInputStream *in, gsize cap, GError **error)
{
	g_autoptr(GByteArray) out = g_byte_array_new();

	for (;;) {
		g_autoptr(GAsyncResult) res = NULL;
		g_autoptr(GBytes) chunk = NULL;
		g_input_stream_read_bytes_async(in, READ_CHUNK, G_PRIORITY_DEFAULT, cli->cancel,
		                                alk_cli_async_done, &res);
		alk_cli_await(cli, &res);
		chunk = g_input_stream_read_bytes_finish(in, res, error);
		if (chunk == NULL) {
			alk_cli_explain_cancel(cli, error);
			return NULL;
		}
		if (g_bytes_get_size(chunk) == 0)
			break;
		if (out->len + g_bytes_get_size(chunk) > cap) {
			g_set_error(error, ALK_CLI_ERROR, ALK_CLI_ERROR_PROTOCOL,
			            "the daemon's answer exceeds %" G_GSIZE_FORMAT " bytes", cap);
			return NULL;
		}
		g_byte_array_append(out, g_bytes_get_data(chunk, NULL), g_bytes_get_size(chunk));
	}
	return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}

GBytes *alk_cli_call(AlkCli *cli, const char *method, const char *path, const char *json,
                     GError **error)
{
	g_autoptr(SoupMessage) msg = alk_cli_message(cli, method, path, error);
	g_autoptr(GInputStream) in = NULL;
	GBytes *body = NULL;

	if (msg == NULL)
		return NULL;
	if (json != NULL)
		alk_cli_set_json_body(msg, json);
	/* an earlier call's deadline must not fail this one */
	if (cli->timed_out && cli->interrupts == 0)
		alk_cli_renew_cancellable(cli);
	alk_cli_arm_deadline(cli, ALK_CLI_CALL_TIMEOUT_S);
	in = alk_cli_send(cli, msg, error);
	if (in != NULL)
		body = alk_cli_read_all(cli, in, ALK_CLI_JSON_MAX, error);
	alk_cli_arm_deadline(cli, 0);
	return body;
}

JsonObject *alk_cli_parse_object(GBytes *body, GError **error)
{
	gsize len = 0;
	const char *data = g_bytes_get_data(body, &len);
	g_autoptr(GError) local = NULL;
	JsonObject *obj = alk_json_parse_object(data != NULL ? data : "", len, ALK_CLI_JSON_MAX,
	                                        ALK_JSON_MAX_DEPTH, &local);

	if (obj == NULL)
		g_set_error(error, ALK_CLI_ERROR, ALK_CLI_ERROR_PROTOCOL,
		            "the daemon sent malformed JSON: %s", local->message);
	return obj;
}
