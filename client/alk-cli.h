/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One invocation of the airlock CLI: where the daemon is, the HTTP client
 * that talks to it (libsoup 3, over the unix socket or TCP), and the
 * helpers every verb uses. Everything slow runs on the default main
 * context, so Ctrl-C (and a deadline) cancel any wait cleanly. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "alk-cli-args.h"

#define ALK_CLI_DEFAULT_SOCKET "/run/airlock/api.sock"
#define ALK_CLI_CALL_TIMEOUT_S 120           /* requests that answer at once */
#define ALK_CLI_JSON_MAX (512 * 1024 * 1024) /* a buffered exec carries two output caps */
#define ALK_CLI_ERROR_BODY_MAX (64 * 1024)   /* an error answer read for its message */

/* Exit statuses (docs/cli.md). exec and run keep 0..255 for the command and
 * report their own failures as 125, as timeout(1) and docker run do. */
#define ALK_EXIT_OK 0
#define ALK_EXIT_FAILURE 1
#define ALK_EXIT_USAGE 2
#define ALK_EXIT_TIMED_OUT 124
#define ALK_EXIT_EXEC_FAILURE 125
#define ALK_EXIT_INTERRUPTED 130
#define ALK_EXIT_PIPE 141

typedef struct {
	char *socket_path; /* NULL over TCP */
	char *base_url;    /* "http://localhost" over the socket */
	char *token;       /* sent over TCP only */
	char *cacert;      /* --cacert: the CA an https daemon's certificate must chain to */
	gboolean json;
	const char *verb;  /* for messages */
	const char *usage; /* of the verb, for --help and usage errors */
	SoupSession *session;
	GCancellable *cancel; /* cancelled by a signal or the deadline */
	guint interrupts;     /* signals received */
	gboolean shield;      /* a signal only counts (once) instead of cancelling */
	gboolean timed_out;
	guint deadline_id;
	guint signal_ids[3];
} AlkCli;

/* Installs the SIGINT/SIGTERM/SIGHUP handlers (and ignores SIGPIPE). */
AlkCli *alk_cli_new(void);
/* Reads the global options (argv[0] is the program) and the environment;
 * leaves argc and argv at the verb, argc 0 when there is none. */
gboolean alk_cli_parse_global(AlkCli *cli, int *argc, char ***argv, GError **error);
void alk_cli_free(AlkCli *cli);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkCli, alk_cli_free)

/* Prints the error the way the CLI does ("airlock: …", the usage for
 * usage errors, nothing for a closed pipe) and returns the exit status;
 * failure is the status for plain failures (1, or 125 for exec and run). */
int alk_cli_fail(AlkCli *cli, const GError *error, int failure);
/* "airlock: MSG\n" with every control character replaced and every line
 * after the first indented, so no text can forge a line of its own. */
char *alk_cli_error_text(const char *msg);

/* ---- waiting on the main context ------------------------------------------------------------ */

/* A GAsyncReadyCallback storing a reference to the result in *slot. */
void alk_cli_async_done(GObject *source, GAsyncResult *res, gpointer slot);
/* Iterates the default context until *slot is set. */
void alk_cli_await(AlkCli *cli, GAsyncResult **slot);
/* Cancels what is in flight after seconds (0: disarm). */
void alk_cli_arm_deadline(AlkCli *cli, guint seconds);
/* A fresh cancellable after an interrupt, for cleanup; FALSE after a
 * second interrupt (the user insists). */
gboolean alk_cli_renew_cancellable(AlkCli *cli);
/* Waits ms on the main context; FALSE (interrupted) if cancelled. */
gboolean alk_cli_sleep(AlkCli *cli, guint ms, GError **error);
/* Turns a G_IO_ERROR_CANCELLED into why it was cancelled. */
void alk_cli_explain_cancel(AlkCli *cli, GError **error);

/* ---- HTTP ----------------------------------------------------------------------------------- */

/* The HTTP session to the daemon (made on first use), for requests that
 * run side by side. */
SoupSession *alk_cli_session(AlkCli *cli);
/* A request to path (starting "/v1/…", already escaped). */
SoupMessage *alk_cli_message(AlkCli *cli, const char *method, const char *path, GError **error);
void alk_cli_set_json_body(SoupMessage *msg, const char *json);
/* Sends; returns the body stream of a 2xx answer. Any other status is an
 * ALK_CLI_HTTP_ERROR carrying the daemon's message; a daemon that cannot
 * be reached is ALK_CLI_ERROR_UNREACHABLE with advice on starting it. */
GInputStream *alk_cli_send(AlkCli *cli, SoupMessage *msg, GError **error);
/* Opens a WebSocket with the GET request msg (alk_cli_message). A refused
 * handshake is ALK_CLI_HTTP_ERROR with its status. */
SoupWebsocketConnection *alk_cli_websocket(AlkCli *cli, SoupMessage *msg, GError **error);
/* The same, whatever the status: the caller reads the answer (errors only
 * when the daemon cannot be reached or the request is cancelled). */
GInputStream *alk_cli_send_any(AlkCli *cli, SoupMessage *msg, GError **error);
/* The ALK_CLI_HTTP_ERROR of a non-2xx answer and its body (the daemon's
 * message, else the status line). */
void alk_cli_http_error(SoupMessage *msg, GBytes *body, GError **error);
/* Reads the whole stream, at most cap bytes. */
GBytes *alk_cli_read_all(AlkCli *cli, GInputStream *in, gsize cap, GError **error);
/* A whole request with ALK_CLI_CALL_TIMEOUT_S: method path [json body]. */
GBytes *alk_cli_call(AlkCli *cli, const char *method, const char *path, const char *json,
                     GError **error);
/* Parses a JSON object the daemon sent. */
JsonObject *alk_cli_parse_object(GBytes *body, GError **error);
/* "/v1/sandboxes/ID/files/<escaped path>" */
char *alk_cli_files_path(const char *id, const char *guest_path);

/* ---- output --------------------------------------------------------------------------------- */

/* write(2) until done; EPIPE is ALK_CLI_ERROR_PIPE. */
gboolean alk_cli_write_all(int fd, const void *data, gsize len, GError **error);
/* The daemon's JSON, verbatim, ending with a newline. */
gboolean alk_cli_print_json(GBytes *body, GError **error);
gboolean alk_cli_print(const char *text, GError **error);
/* Text a verb prints for the sandbox the daemon answered with (owned). */
typedef char *(*AlkCliDescribe)(JsonObject *sandbox, gpointer data);
/* A verb that changes one sandbox: method path [json body], then the daemon's
 * JSON verbatim with --json, else describe(answer) printed. An exit code. */
int alk_cli_change(AlkCli *cli, const char *method, const char *path, const char *json,
                   AlkCliDescribe describe, gpointer data);

/* ---- progress line on stderr ---------------------------------------------------------------- */

typedef struct AlkCliProgress AlkCliProgress;

/* On a tty: "label… 3.2s", redrawn in place every 100 ms. Elsewhere: the
 * label as one plain line if announce, else nothing. */
AlkCliProgress *alk_cli_progress_new(const char *label, gboolean announce);
void alk_cli_progress_set_label(AlkCliProgress *p, const char *label);
/* Shows done (read at each redraw) of total bytes; total 0: unknown. */
void alk_cli_progress_set_bytes(AlkCliProgress *p, const guint64 *done, guint64 total);
/* Erases the line on a tty. */
void alk_cli_progress_free(AlkCliProgress *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkCliProgress, alk_cli_progress_free)
/* The text of one redraw (pure). have_bytes: show done/total. */
char *alk_cli_progress_text(const char *label, gint64 elapsed_us, gboolean have_bytes, guint64 done,
                            guint64 total);
