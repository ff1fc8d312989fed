/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the REST API tests: one real daemon per test case (started in
 * an unchecked fixture, so it is stopped and cleaned up even when the test
 * crashes), and assertions on its answers. */
#pragma once

#include <check.h>
#include <libsoup/soup.h>

#include "alk-test-daemon.h"
#include "alk-test-http.h"

extern AlkTestDaemon *alk_test_api_daemon;

/* Adds a test case of its own (own daemon, started with extra config). */
void alk_test_api_add(Suite *s, const char *name, const TTest *test, void (*setup)(void),
                      void (*teardown)(void));
void alk_test_api_setup(void);
void alk_test_api_teardown(void);
/* The daemon, asserting it started. */
AlkTestDaemon *alk_test_api_d(void);

/* A request on the unix socket whose answer must come; json may be NULL. */
AlkTestResponse *alk_test_api_call(const char *method, const char *path, const char *json);
/* The same, asserting the status; returns the body as an object (or NULL). */
JsonObject *alk_test_api_expect(const char *method, const char *path, const char *json,
                                guint status);
/* Asserts r's status and the error code of its JSON body. */
void alk_test_api_assert_error(AlkTestResponse *r, guint status, const char *code);

/* POST /v1/sandboxes?wait=ready; the id. */
char *alk_test_api_create(const char *json);
/* {"argv":["/bin/sh","-c",cmd]} as JSON text, with stdin (NULL: none). */
char *alk_test_api_sh_body(const char *cmd, const char *stdin_text);
/* Runs sh -c cmd; returns the answer (200 asserted). */
JsonObject *alk_test_api_sh(const char *id, const char *cmd);

/* An exec of sh -c cmd streamed as NDJSON on the unix socket: the reader,
 * after the 200 head was asserted; *fd the connection. */
AlkTestReader *alk_test_api_stream_exec(const char *id, const char *cmd, int *fd);
/* One NDJSON line as an object (asserting it is one). */
JsonObject *alk_test_api_parse_line(const char *line);
/* Its data_b64, decoded. */
char *alk_test_api_line_data(JsonObject *line);

/* A WebSocket exec session on the unix socket. */
typedef struct {
	SoupWebsocketConnection *ws;
	GError *error; /* the handshake's */
	GString *out;  /* stdout */
	char *exit;    /* the last text message */
	gboolean closed;
	gushort code;
	char *reason; /* the close frame's */
} AlkTestWs;
/* Connects to /v1/sandboxes/QUERY (e.g. "ID/exec/ws?argv=..."); FALSE with
 * w->error when the handshake is refused. */
gboolean alk_test_api_ws_connect(const char *query, AlkTestWs *w);
void alk_test_api_ws_clear(AlkTestWs *w);
/* Runs the default main context until *flag or seconds passed. */
void alk_test_iterate_until(gboolean *flag, guint seconds);
