/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A small HTTP/1.1 client over raw sockets for tests of airlockd: it can
 * send what a real client would not (half a head, a chunked 100 MB body,
 * raw ".." segments) and read responses incrementally with deadlines
 * (chunked or not). No main loop needed: it works in a test's parent
 * process as in its child. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "alk-test-daemon.h"

typedef struct {
	guint status;
	GHashTable *headers; /* lower-case name -> value */
	GByteArray *body;
} AlkTestResponse;

void alk_test_response_free(AlkTestResponse *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkTestResponse, alk_test_response_free)

/* The body as a JSON object, or NULL. */
JsonObject *alk_test_response_json(AlkTestResponse *r);
const char *alk_test_response_header(AlkTestResponse *r, const char *name);

/* A connected socket: the daemon's unix socket, or its TCP port. */
int alk_test_http_connect(const AlkTestDaemon *d, gboolean tcp, GError **error);

/* Writes all of data before deadline_us (monotonic). */
gboolean alk_test_http_send(int fd, const void *data, gsize len, gint64 deadline_us,
                            GError **error);

/* The head of a request: "METHOD PATH HTTP/1.1", Host, the bearer token
 * (NULL: none), Content-Length (len >= 0) and extra header lines
 * ("Name: value\r\n..."), then the blank line. */
char *alk_test_http_head(const char *method, const char *path, const char *token, gssize len,
                         const char *extra);

/* One whole exchange: connect, send head and body, read the whole
 * response. content_type may be NULL. */
AlkTestResponse *alk_test_http_request(const AlkTestDaemon *d, gboolean tcp, const char *token,
                                       const char *method, const char *path,
                                       const char *content_type, const void *body, gsize len,
                                       guint timeout_s, GError **error);

/* The same on the unix socket with a JSON body (NULL: none), 300 s. */
AlkTestResponse *alk_test_http_json(const AlkTestDaemon *d, const char *method, const char *path,
                                    const char *json, GError **error);

/* ---- reading a response bit by bit ---- */

typedef struct AlkTestReader AlkTestReader;

AlkTestReader *alk_test_reader_new(int fd);
void alk_test_reader_free(AlkTestReader *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkTestReader, alk_test_reader_free)

/* Reads the status line and headers; FALSE on timeout, EOF or garbage. */
gboolean alk_test_reader_head(AlkTestReader *r, AlkTestResponse *out, gint64 deadline_us,
                              GError **error);
/* Up to len bytes of the (de-chunked) body: > 0 bytes, 0 at its end, -1 on
 * error or timeout. */
gssize alk_test_reader_body(AlkTestReader *r, void *buf, gsize len, gint64 deadline_us,
                            GError **error);
/* The next line of the body without its newline, NULL at the end or on
 * error. */
char *alk_test_reader_line(AlkTestReader *r, gint64 deadline_us, GError **error);
/* The whole response (head and body). */
AlkTestResponse *alk_test_http_read(int fd, gint64 deadline_us, GError **error);

gint64 alk_test_deadline(guint seconds);
