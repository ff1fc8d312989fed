/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A small HTTP/1.1 load generator for airlockd's unix socket (wrk does not
 * speak unix sockets): C connections, each sending GET PATH, reading the
 * whole answer (Content-Length bodies only) and sending the next, for
 * SECONDS. An answer with "Connection: close" (airlockd serves one request
 * per connection) makes it connect again; the latency counts from the
 * connect, as a client sees it. Prints one line:
 *   requests=N errors=E rps=R p50_ms=X p99_ms=Y max_ms=Z
 *
 *   alk-load SOCKET PATH CONNECTIONS SECONDS */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define BUF_MAX (1024 * 1024)

typedef struct {
	int fd;
	gboolean close; /* the last answer said Connection: close */
	char *buf;
	gsize len;
	gint64 sent_us;
} Conn;

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static gboolean send_req(Conn *c, const char *req, gsize len)
{
	gsize off = 0;

	while (off < len) {
		ssize_t n = write(c->fd, req + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return FALSE;
		off += (gsize)n;
	}
	c->len = 0;
	return TRUE;
}

/* -1: malformed or failed, 0: incomplete, else the answer's status */
static int parse(const Conn *c)
{
	const char *end = g_strstr_len(c->buf, (gssize)c->len, "\r\n\r\n");
	const char *cl;
	gsize head;
	long body;
	int status;

	if (end == NULL)
		return c->len >= BUF_MAX ? -1 : 0;
	head = (gsize)(end - c->buf) + 4;
	if (sscanf(c->buf, "HTTP/1.1 %d", &status) != 1)
		return -1;
	((Conn *)c)->close = g_strstr_len(c->buf, (gssize)head, "Connection: close") != NULL;
	cl = g_strstr_len(c->buf, (gssize)head, "Content-Length: ");
	if (cl == NULL)
		return -1;
	body = strtol(cl + strlen("Content-Length: "), NULL, 10);
	if (body < 0 || head + (gsize)body > BUF_MAX)
		return -1;
	return c->len >= head + (gsize)body ? status : 0;
}

static gboolean conn_start(Conn *c, int ep, guint i, const char *sock, const char *req)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};

	c->sent_us = g_get_monotonic_time();
	c->fd = connect_unix(sock);
	return c->fd >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) == 0 &&
	       send_req(c, req, strlen(req));
}

static int cmp_i64(const void *a, const void *b)
{
	gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	g_autoptr(GArray) lat = g_array_new(FALSE, FALSE, sizeof(gint64));
	g_autofree char *req = NULL;
	g_autofree Conn *conns = NULL;
	guint n, errors = 0;
	gint64 start, end;
	int ep;

	if (argc != 5 || atoi(argv[3]) <= 0 || atoi(argv[4]) <= 0) {
		fprintf(stderr, "usage: alk-load SOCKET PATH CONNECTIONS SECONDS\n");
		return 2;
	}
	n = (guint)atoi(argv[3]);
	req = g_strdup_printf("GET %s HTTP/1.1\r\nHost: airlock\r\n\r\n", argv[2]);
	conns = g_new0(Conn, n);
	ep = epoll_create1(EPOLL_CLOEXEC);
	start = g_get_monotonic_time();
	end = start + (gint64)atoi(argv[4]) * G_USEC_PER_SEC;
	for (guint i = 0; i < n; i++) {
		conns[i].buf = g_malloc(BUF_MAX);
		if (!conn_start(&conns[i], ep, i, argv[1], req)) {
			fprintf(stderr, "alk-load: cannot connect to %s: %s\n", argv[1],
			        g_strerror(errno));
			return 1;
		}
	}
	while (g_get_monotonic_time() < end) {
		struct epoll_event evs[64];
		int k = epoll_wait(ep, evs, 64, 1000);

		for (int e = 0; e < k; e++) {
			Conn *c = &conns[evs[e].data.u32];
			ssize_t got = read(c->fd, c->buf + c->len, BUF_MAX - c->len);
			int status;

			if (got <= 0) {
				fprintf(stderr, "alk-load: the daemon closed a connection\n");
				return 1;
			}
			c->len += (gsize)got;
			status = parse(c);
			if (status == 0)
				continue;
			if (status != 200)
				errors++;
			g_array_append_val(lat, (gint64){g_get_monotonic_time() - c->sent_us});
			if (g_get_monotonic_time() >= end)
				continue;
			if (c->close) {
				close(c->fd);
				if (!conn_start(c, ep, evs[e].data.u32, argv[1], req)) {
					fprintf(stderr, "alk-load: cannot connect again: %s\n",
					        g_strerror(errno));
					return 1;
				}
			} else {
				c->sent_us = g_get_monotonic_time();
				if (!send_req(c, req, strlen(req))) {
					fprintf(stderr, "alk-load: write failed\n");
					return 1;
				}
			}
		}
	}
	if (lat->len == 0) {
		fprintf(stderr, "alk-load: no answer at all\n");
		return 1;
	}
	qsort(lat->data, lat->len, sizeof(gint64), cmp_i64);
	printf("requests=%u errors=%u rps=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n", lat->len,
	       errors, lat->len / ((g_get_monotonic_time() - start) / 1e6),
	       g_array_index(lat, gint64, lat->len / 2) / 1000.0,
	       g_array_index(lat, gint64, (lat->len * 99) / 100) / 1000.0,
	       g_array_index(lat, gint64, lat->len - 1) / 1000.0);
	for (guint i = 0; i < n; i++) {
		close(conns[i].fd);
		g_free(conns[i].buf);
	}
	close(ep);
	return errors == 0 ? 0 : 1;
}
