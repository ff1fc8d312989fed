/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-test-http.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "alk-error.h"

#define HEAD_MAX (256 * 1024)

gint64 alk_test_deadline(guint seconds)
{
	return g_get_monotonic_time() + (gint64)seconds * G_USEC_PER_SEC;
}

static gboolean fail(GError **error, const char *what)
{
	g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "%s", what);
	return FALSE;
}

void alk_test_response_free(AlkTestResponse *r)
{
	if (r == NULL)
		return;
	g_clear_pointer(&r->headers, g_hash_table_unref);
	g_clear_pointer(&r->body, g_byte_array_unref);
	g_free(r);
}

JsonObject *alk_test_response_json(AlkTestResponse *r)
{
	g_autoptr(JsonParser) p = json_parser_new();
	JsonNode *root;

	if (r->body == NULL || r->body->len == 0 ||
	    !json_parser_load_from_data(p, (const char *)r->body->data, r->body->len, NULL))
		return NULL;
	root = json_parser_get_root(p);
	return root != NULL && JSON_NODE_HOLDS_OBJECT(root)
	           ? json_object_ref(json_node_get_object(root))
	           : NULL;
}

const char *alk_test_response_header(AlkTestResponse *r, const char *name)
{
	g_autofree char *lower = g_ascii_strdown(name, -1);
	return r->headers != NULL ? g_hash_table_lookup(r->headers, lower) : NULL;
}

int alk_test_http_connect(const AlkTestDaemon *d, gboolean tcp, GError **error)
{
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	struct sockaddr_in in = {.sin_family = AF_INET,
	                         .sin_port = htons(d->port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int rc;

	g_strlcpy(un.sun_path, d->socket_path, sizeof(un.sun_path));
	rc = tcp ? connect(fd, (struct sockaddr *)&in, sizeof(in))
	         : connect(fd, (struct sockaddr *)&un, sizeof(un));
	if (fd < 0 || rc < 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "connect: %s", g_strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static gboolean wait_fd(int fd, short events, gint64 deadline_us)
{
	struct pollfd p = {.fd = fd, .events = events};
	gint64 left = deadline_us - g_get_monotonic_time();
	return left > 0 && poll(&p, 1, (int)MAX(left / 1000, 1)) > 0;
}

gboolean alk_test_http_send(int fd, const void *data, gsize len, gint64 deadline_us, GError **error)
{
	gsize off = 0;

	while (off < len) {
		ssize_t n;
		if (!wait_fd(fd, POLLOUT, deadline_us))
			return fail(error, "send: timed out");
		n = send(fd, (const char *)data + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0) {
			g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "send: %s", g_strerror(errno));
			return FALSE;
		}
		off += n;
	}
	return TRUE;
}

char *alk_test_http_head(const char *method, const char *path, const char *token, gssize len,
                         const char *extra)
{
	GString *h = g_string_new(NULL);

	g_string_append_printf(h, "%s %s HTTP/1.1\r\nHost: airlock\r\n", method, path);
	if (token != NULL)
		g_string_append_printf(h, "Authorization: Bearer %s\r\n", token);
	if (len >= 0)
		g_string_append_printf(h, "Content-Length: %" G_GSSIZE_FORMAT "\r\n", len);
	if (extra != NULL)
		g_string_append(h, extra);
	g_string_append(h, "\r\n");
	return g_string_free(h, FALSE);
}

/* ---- the reader ---- */

struct AlkTestReader {
	int fd;
	GByteArray *buf;
	gboolean eof;
	gboolean chunked;
	gint64 left; /* of the body (content length) or of the chunk; -1: to EOF */
	gboolean in_chunk;
	gboolean done;
	GString *line;
};

AlkTestReader *alk_test_reader_new(int fd)
{
	AlkTestReader *r = g_new0(AlkTestReader, 1);
	r->fd = fd;
	r->buf = g_byte_array_new();
	r->line = g_string_new(NULL);
	return r;
}

void alk_test_reader_free(AlkTestReader *r)
{
	if (r == NULL)
		return;
	g_byte_array_unref(r->buf);
	g_string_free(r->line, TRUE);
	g_free(r);
}

/* More raw bytes; FALSE on timeout or error (EOF sets eof, TRUE). */
static gboolean fill(AlkTestReader *r, gint64 deadline_us, GError **error)
{
	guint8 tmp[65536];
	ssize_t n;

	if (r->eof)
		return TRUE;
	if (!wait_fd(r->fd, POLLIN, deadline_us))
		return fail(error, "read: timed out");
	n = recv(r->fd, tmp, sizeof(tmp), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return TRUE;
	if (n < 0 && errno != ECONNRESET) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "read: %s", g_strerror(errno));
		return FALSE;
	}
	if (n <= 0)
		r->eof = TRUE;
	else
		g_byte_array_append(r->buf, tmp, n);
	return TRUE;
}

/* Index just past "\r\n" (or "\r\n\r\n" when blank) in buf, or -1. */
static gssize find(GByteArray *buf, const char *needle)
{
	gsize n = strlen(needle);
	for (gsize i = 0; i + n <= buf->len; i++) {
		if (memcmp(buf->data + i, needle, n) == 0)
			return (gssize)(i + n);
	}
	return -1;
}

static void parse_head(AlkTestReader *r, AlkTestResponse *out, gsize end)
{
	g_autofree char *text = g_strndup((const char *)r->buf->data, end);
	g_auto(GStrv) lines = g_strsplit(text, "\r\n", -1);
	const char *te, *cl;

	out->status = (guint)g_ascii_strtoull(lines[0] + MIN(strlen(lines[0]), 9), NULL, 10);
	out->headers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	for (guint i = 1; lines[i] != NULL && lines[i][0] != '\0'; i++) {
		char *colon = strchr(lines[i], ':');
		if (colon == NULL)
			continue;
		*colon = '\0';
		g_hash_table_insert(out->headers, g_ascii_strdown(lines[i], -1),
		                    g_strdup(g_strstrip(colon + 1)));
	}
	g_byte_array_remove_range(r->buf, 0, end);
	te = g_hash_table_lookup(out->headers, "transfer-encoding");
	cl = g_hash_table_lookup(out->headers, "content-length");
	r->chunked = te != NULL && g_ascii_strcasecmp(te, "chunked") == 0;
	r->left = r->chunked ? 0 : cl != NULL ? (gint64)g_ascii_strtoull(cl, NULL, 10) : -1;
	r->done = !r->chunked && r->left == 0;
}

gboolean alk_test_reader_head(AlkTestReader *r, AlkTestResponse *out, gint64 deadline_us,
                              GError **error)
{
	gssize end;

	for (;;) {
		end = find(r->buf, "\r\n\r\n");
		/* a 100 Continue first: skip it */
		if (end >= 0 && r->buf->len >= 12 && memcmp(r->buf->data + 9, "100", 3) == 0) {
			g_byte_array_remove_range(r->buf, 0, end);
			continue;
		}
		if (end >= 0)
			break;
		if (r->eof || r->buf->len > HEAD_MAX)
			return fail(error, "no response head");
		if (!fill(r, deadline_us, error))
			return FALSE;
	}
	parse_head(r, out, end);
	return TRUE;
}

/* Moves to the data of the next chunk; FALSE when it needs more bytes. */
static gboolean next_chunk(AlkTestReader *r)
{
	gssize end = find(r->buf, "\r\n");

	if (end == 2 && r->buf->data[0] == '\r') {
		/* the CRLF after the previous chunk's data */
		g_byte_array_remove_range(r->buf, 0, 2);
		end = find(r->buf, "\r\n");
	}
	if (end < 0)
		return FALSE;
	r->left = (gint64)g_ascii_strtoull((const char *)r->buf->data, NULL, 16);
	g_byte_array_remove_range(r->buf, 0, end);
	r->in_chunk = r->left > 0;
	r->done = r->left == 0;
	return TRUE;
}

gssize alk_test_reader_body(AlkTestReader *r, void *buf, gsize len, gint64 deadline_us,
                            GError **error)
{
	gsize n;

	for (;;) {
		if (r->done)
			return 0;
		if (r->chunked && !r->in_chunk) {
			if (next_chunk(r))
				continue;
		} else if (r->buf->len > 0) {
			break;
		} else if (r->eof && r->left < 0) {
			r->done = TRUE;
			return 0;
		} else if (r->eof) {
			fail(error, "connection closed before the end of the body");
			return -1;
		}
		if (r->eof) {
			fail(error, "connection closed inside the chunked framing");
			return -1;
		}
		if (!fill(r, deadline_us, error))
			return -1;
	}
	n = MIN(len, r->buf->len);
	if (r->left >= 0)
		n = MIN(n, (gsize)r->left);
	memcpy(buf, r->buf->data, n);
	g_byte_array_remove_range(r->buf, 0, n);
	if (r->left >= 0) {
		r->left -= n;
		if (r->left == 0 && r->chunked)
			r->in_chunk = FALSE;
		else if (r->left == 0)
			r->done = TRUE;
	}
	return (gssize)n;
}

char *alk_test_reader_line(AlkTestReader *r, gint64 deadline_us, GError **error)
{
	for (;;) {
		char *nl = memchr(r->line->str, '\n', r->line->len);
		char buf[4096];
		gssize n;

		if (nl != NULL) {
			char *line = g_strndup(r->line->str, nl - r->line->str);
			g_string_erase(r->line, 0, nl - r->line->str + 1);
			return line;
		}
		n = alk_test_reader_body(r, buf, sizeof(buf), deadline_us, error);
		if (n <= 0)
			return NULL;
		g_string_append_len(r->line, buf, n);
	}
}

AlkTestResponse *alk_test_http_read(int fd, gint64 deadline_us, GError **error)
{
	g_autoptr(AlkTestReader) r = alk_test_reader_new(fd);
	g_autoptr(AlkTestResponse) out = g_new0(AlkTestResponse, 1);
	guint8 buf[65536];
	gssize n;

	out->body = g_byte_array_new();
	if (!alk_test_reader_head(r, out, deadline_us, error))
		return NULL;
	while ((n = alk_test_reader_body(r, buf, sizeof(buf), deadline_us, error)) > 0)
		g_byte_array_append(out->body, buf, n);
	return n < 0 ? NULL : g_steal_pointer(&out);
}

AlkTestResponse *alk_test_http_request(const AlkTestDaemon *d, gboolean tcp, const char *token,
                                       const char *method, const char *path,
                                       const char *content_type, const void *body, gsize len,
                                       guint timeout_s, GError **error)
{
	gint64 deadline = alk_test_deadline(timeout_s);
	g_autofree char *extra =
	    content_type != NULL ? g_strdup_printf("Content-Type: %s\r\n", content_type) : NULL;
	g_autofree char *head =
	    alk_test_http_head(method, path, token, body != NULL ? (gssize)len : -1, extra);
	AlkTestResponse *out = NULL;
	int fd = alk_test_http_connect(d, tcp, error);

	if (fd < 0)
		return NULL;
	if (alk_test_http_send(fd, head, strlen(head), deadline, error) &&
	    (body == NULL || alk_test_http_send(fd, body, len, deadline, error)))
		out = alk_test_http_read(fd, deadline, error);
	close(fd);
	return out;
}

AlkTestResponse *alk_test_http_json(const AlkTestDaemon *d, const char *method, const char *path,
                                    const char *json, GError **error)
{
	return alk_test_http_request(d, FALSE, NULL, method, path,
	                             json != NULL ? "application/json" : NULL, json,
	                             json != NULL ? strlen(json) : 0, 300, error);
}
