/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A request's life around what a resource attached to it
 * (alk_api_req_attach): the real REST server on a socket of the test's,
 * routing to the test's own handlers, and a raw client. The attached data
 * is freed exactly once whether the request is answered, the daemon stops
 * under it or the client leaves; the abort hook runs at most once and
 * never after the answer; a second attach is refused. */
#include <check.h>
#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "alk-api-private.h"
#include "alk-error.h"

#define DEADLINE_S 10

/* What the handlers and hooks saw. */
static struct {
	guint handled;
	guint frees;
	guint aborts;
	gboolean aborted; /* req->aborted when the abort hook ran */
	guint criticals;
	guint drains;
	AlkApiReq *req; /* the request a handler left held */
} seen;

static void count_free(gpointer data)
{
	seen.frees++;
	g_free(data);
}

/* The client left (let the request go) or the daemon stops (answer). */
static void on_abort(AlkApiReq *req, gpointer data)
{
	g_autoptr(GError) error = NULL;

	ck_assert_ptr_eq(data, alk_api_req_data(req));
	seen.aborts++;
	seen.aborted = req->aborted;
	if (req->aborted) {
		alk_api_req_release(req);
		return;
	}
	error = g_error_new(ALK_ERROR, ALK_ERROR_UNAVAILABLE, "stopping");
	alk_api_reply_error(req, error);
}

static const AlkApiReqHooks hooks = {.abort = on_abort};

static void reply_ok(AlkApiReq *req)
{
	alk_api_reply_text(req, SOUP_STATUS_OK, "text/plain", g_strdup("ok"), 2);
}

/* Attaches and answers at once. */
static void handle_answer(AlkApiReq *req)
{
	seen.handled++;
	alk_api_req_attach(req, g_new0(int, 1), count_free, &hooks);
	reply_ok(req);
}

static void count_critical(const char *domain, GLogLevelFlags level, const char *message,
                           gpointer data)
{
	seen.criticals++;
}

/* Attaches twice (refused), then again after a detach (allowed). */
static void handle_twice(AlkApiReq *req)
{
	int *first = g_new0(int, 1);
	int *second = g_new0(int, 1);
	guint handler = g_log_set_handler(NULL, G_LOG_LEVEL_CRITICAL, count_critical, NULL);

	seen.handled++;
	alk_api_req_attach(req, first, count_free, &hooks);
	alk_api_req_attach(req, second, count_free, NULL);
	g_log_remove_handler(NULL, handler);
	ck_assert_uint_eq(seen.criticals, 1);
	ck_assert_ptr_eq(alk_api_req_data(req), first);
	g_free(second);
	ck_assert_ptr_eq(alk_api_req_detach(req), first);
	ck_assert_ptr_null(alk_api_req_data(req));
	ck_assert_ptr_null(alk_api_req_detach(req));
	alk_api_req_attach(req, first, count_free, &hooks);
	ck_assert_ptr_eq(alk_api_req_data(req), first);
	reply_ok(req);
}

/* Attaches and holds: the test answers, stops or leaves. */
static void handle_hold(AlkApiReq *req)
{
	seen.handled++;
	alk_api_req_hold(req);
	alk_api_req_attach(req, g_new0(int, 1), count_free, &hooks);
	seen.req = req;
}

/* The stream, held above the high water mark, goes on: here it ends. */
static void on_drained(AlkApiReq *req, gpointer data)
{
	ck_assert_ptr_eq(data, alk_api_req_data(req));
	seen.drains++;
	alk_api_req_stream_end(req);
}

static const AlkApiReqHooks stream_hooks = {.abort = on_abort, .drained = on_drained};

/* Streams more than ALK_API_STREAM_HIGH_WATER; end: ends it at once. */
static void stream(AlkApiReq *req, gboolean end)
{
	g_autofree char *block = g_malloc0(64 * 1024);

	seen.handled++;
	alk_api_req_hold(req);
	alk_api_req_attach(req, g_new0(int, 1), count_free, &stream_hooks);
	alk_api_req_stream_begin(req, SOUP_STATUS_OK, "application/octet-stream", -1);
	while (req->unsent <= ALK_API_STREAM_HIGH_WATER)
		alk_api_req_stream_write(req, block, 64 * 1024);
	if (end)
		alk_api_req_stream_end(req);
}

static void handle_stream(AlkApiReq *req)
{
	stream(req, FALSE);
}

static void handle_stream_end(AlkApiReq *req)
{
	stream(req, TRUE);
}

static const AlkApiRoute test_routes[] = {
    {.method = "GET", .pattern = "/t/answer", .scope = ALK_SCOPE_READ, .handle = handle_answer},
    {.method = "GET", .pattern = "/t/twice", .scope = ALK_SCOPE_READ, .handle = handle_twice},
    {.method = "GET", .pattern = "/t/hold", .scope = ALK_SCOPE_READ, .handle = handle_hold},
    {.method = "GET", .pattern = "/t/stream", .scope = ALK_SCOPE_READ, .handle = handle_stream},
    {.method = "GET",
     .pattern = "/t/stream-end",
     .scope = ALK_SCOPE_READ,
     .handle = handle_stream_end},
};

typedef struct {
	char *dir;
	char *path;
	AlkConfig *config;
	AlkApi *api;
} Server;

/* The API on a listening socket of ours (as systemd would pass it: no
 * chown to the socket group, so the test runs as anyone), its group the
 * test's own, so the test may write. */
static void server_start(Server *s)
{
	g_autoptr(GError) error = NULL;
	struct group *gr = getgrgid(getgid());
	g_autofree char *text = NULL;
	g_autoptr(GSocket) sock = NULL;
	g_autoptr(GSocketAddress) addr = NULL;

	memset(&seen, 0, sizeof(seen));
	s->dir = g_dir_make_tmp("alk-api-req-XXXXXX", &error);
	ck_assert_msg(s->dir != NULL, "%s", error != NULL ? error->message : "");
	s->path = g_build_filename(s->dir, "api.sock", NULL);
	text = g_strdup_printf("[api]\nsocket = %s\nsocket_group = %s\n", s->path,
	                       gr != NULL ? gr->gr_name : "root");
	s->config = alk_config_load_data(text, -1, &error);
	ck_assert_msg(s->config != NULL, "%s", error != NULL ? error->message : "");
	s->api = alk_api_new(s->config, NULL, NULL, NULL);
	s->api->routes = test_routes;
	s->api->n_routes = G_N_ELEMENTS(test_routes);
	sock = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, 0, &error);
	addr = g_unix_socket_address_new(s->path);
	ck_assert(sock != NULL && g_socket_bind(sock, addr, FALSE, &error) &&
	          g_socket_listen(sock, &error));
	ck_assert_msg(alk_api_listen(s->api, sock, &error), "%s",
	              error != NULL ? error->message : "");
}

/* Frees the API: every request it had is over, and with it what was
 * attached. */
static void server_stop(Server *s)
{
	alk_api_free(s->api);
	alk_config_free(s->config);
	g_unlink(s->path);
	g_rmdir(s->dir);
	g_free(s->path);
	g_free(s->dir);
}

static gboolean on_beat(gpointer data)
{
	return G_SOURCE_CONTINUE;
}

/* Runs the main loop until done(data) or the deadline. */
static gboolean spin_until(gboolean (*done)(gpointer data), gpointer data)
{
	gint64 deadline = g_get_monotonic_time() + DEADLINE_S * G_USEC_PER_SEC;
	guint beat = g_timeout_add(5, on_beat, NULL);
	gboolean ok;

	while (!(ok = done(data)) && g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, TRUE);
	g_source_remove(beat);
	return ok;
}

static int client_send(Server *s, const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	g_autofree char *head = g_strdup_printf("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	g_strlcpy(sun.sun_path, s->path, sizeof(sun.sun_path));
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	/* a short head: the socket takes it at once */
	ck_assert_int_eq(send(fd, head, strlen(head), MSG_NOSIGNAL), (ssize_t)strlen(head));
	return fd;
}

typedef struct {
	int fd;
	GString *in;
} Reading;

/* The server closes after its one response. */
static gboolean read_to_eof(gpointer data)
{
	Reading *r = data;
	char buf[4096];
	ssize_t n;

	while ((n = recv(r->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		g_string_append_len(r->in, buf, n);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
}

/* The status of the whole response on fd, which it closes. */
static guint client_status(int fd)
{
	Reading r = {fd, g_string_new(NULL)};
	guint status = 0;

	ck_assert_msg(spin_until(read_to_eof, &r), "no end of response: %s", r.in->str);
	close(fd);
	ck_assert_msg(sscanf(r.in->str, "HTTP/1.1 %u ", &status) == 1, "%s", r.in->str);
	g_string_free(r.in, TRUE);
	return status;
}

static gboolean handled(gpointer data)
{
	return seen.handled > 0;
}

static gboolean freed(gpointer data)
{
	return seen.frees > 0;
}

static gboolean aborted(gpointer data)
{
	return seen.aborts > 0;
}

/* The response on fd is want; then the server goes, and whatever it had:
 * the request's data was freed once. */
static void finish(Server *s, int fd, guint want)
{
	ck_assert_uint_eq(client_status(fd), want);
	ck_assert(spin_until(freed, NULL));
	server_stop(s);
	ck_assert_uint_eq(seen.handled, 1);
	ck_assert_uint_eq(seen.frees, 1);
}

/* One request, answered at once. */
static void exchange(const char *path, guint want)
{
	Server s = {0};

	server_start(&s);
	finish(&s, client_send(&s, path), want);
}

/* A request sent to /t/hold and held there: its client's socket. */
static int held(Server *s)
{
	int fd;

	server_start(s);
	fd = client_send(s, "/t/hold");
	ck_assert(spin_until(handled, NULL));
	ck_assert_uint_eq(seen.frees, 0);
	return fd;
}

START_TEST(free_on_answer)
{
	exchange("/t/answer", 200);
	ck_assert_uint_eq(seen.aborts, 0);
}
END_TEST

/* The refused data was not the request's to free: one free only. */
START_TEST(attach_twice_refused)
{
	exchange("/t/twice", 200);
	ck_assert_uint_eq(seen.criticals, 1);
}
END_TEST

/* Answered later: the abort hook is disarmed by the answer, so a stop
 * that comes before the response is out does not reach it. */
START_TEST(free_on_later_answer)
{
	Server s = {0};
	int fd = held(&s);

	reply_ok(seen.req);
	alk_api_abort(s.api);
	ck_assert_uint_eq(seen.aborts, 0);
	finish(&s, fd, 200);
	ck_assert_uint_eq(seen.aborts, 0);
}
END_TEST

/* The daemon stops: the hook runs once (not aborted: it answers 503). */
START_TEST(free_on_stop)
{
	Server s = {0};
	int fd = held(&s);

	alk_api_abort(s.api);
	ck_assert_uint_eq(seen.aborts, 1);
	ck_assert(!seen.aborted);
	alk_api_abort(s.api);
	ck_assert_uint_eq(seen.aborts, 1);
	finish(&s, fd, 503);
	ck_assert_uint_eq(seen.aborts, 1);
}
END_TEST

/* The client hangs up while its answer is pending: the hook runs once,
 * aborted, and the data goes with the request. */
START_TEST(free_on_disconnect)
{
	Server s = {0};

	close(held(&s));
	ck_assert(spin_until(aborted, NULL));
	ck_assert(seen.aborted);
	ck_assert(spin_until(freed, NULL));
	alk_api_abort(s.api);
	server_stop(&s);
	ck_assert_uint_eq(seen.frees, 1);
	ck_assert_uint_eq(seen.aborts, 1);
}
END_TEST

/* A stream held above the high water mark is told once it drains. */
START_TEST(drained_while_streaming)
{
	exchange("/t/stream", 200);
	ck_assert_uint_eq(seen.drains, 1);
	ck_assert_uint_eq(seen.aborts, 0);
}
END_TEST

/* Nor after its end, however much of it is still unsent. */
START_TEST(no_drained_after_end)
{
	exchange("/t/stream-end", 200);
	ck_assert_uint_eq(seen.drains, 0);
	ck_assert_uint_eq(seen.aborts, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api-req");
	TCase *tc = tcase_create("attach");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 4 * DEADLINE_S);
	tcase_add_test(tc, free_on_answer);
	tcase_add_test(tc, attach_twice_refused);
	tcase_add_test(tc, free_on_later_answer);
	tcase_add_test(tc, free_on_stop);
	tcase_add_test(tc, free_on_disconnect);
	tcase_add_test(tc, drained_while_streaming);
	tcase_add_test(tc, no_drained_after_end);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
