/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-test-inet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alk-error.h"

#define NETNS_DIR "/run/netns"
#define PYTHON "/usr/bin/python3"
#define SCRIPT_DIR ALK_SOURCE_DIR "/tests/net"
#define READY_TIMEOUT_S 10
#define STOP_TIMEOUT_S 5
#define IP_TIMEOUT_S 10
#define DNS_TIMEOUT_S 5
#define OUTPUT_LIMIT (16 * 1024 * 1024)
#define NAME_SIZE 16 /* IFNAMSIZ, and short enough for any netns name */

typedef struct {
	const char *ns_prefix; /* which namespace: router or internet */
	const char *addr;
	guint16 port; /* 0: the DNS server */
	const char *body;
} ServerSpec;

static const ServerSpec servers[] = {
    {ALK_TEST_INET_INTERNET_PREFIX, ALK_TEST_INET_ALLOWED_ADDR, 80, "allowed-80"},
    {ALK_TEST_INET_INTERNET_PREFIX, ALK_TEST_INET_ALLOWED_ADDR, 8080, "allowed-8080"},
    {ALK_TEST_INET_INTERNET_PREFIX, ALK_TEST_INET_DENIED_ADDR, 80, "denied-80"},
    {ALK_TEST_INET_ROUTER_PREFIX, ALK_TEST_INET_ROUTER_ADDR, 80, "router"},
    {ALK_TEST_INET_INTERNET_PREFIX, ALK_TEST_INET_DNS_ADDR, 0, NULL},
};

struct AlkTestInet {
	pid_t owner;
	char router[NAME_SIZE];
	char internet[NAME_SIZE];
	char *dir; /* servers' logs and the query log */
	char *dns_log;
	GPid pids[G_N_ELEMENTS(servers)]; /* 0: not started or reaped */
};

/* The process owning a live instance: one per process, since names are
 * derived from the pid. */
static pid_t live_owner;

static gint64 deadline_in(guint seconds)
{
	return g_get_monotonic_time() + (gint64)seconds * G_USEC_PER_SEC;
}

static int remaining_ms(gint64 deadline)
{
	gint64 left = deadline - g_get_monotonic_time();

	return left <= 0 ? 0 : (int)MIN(left / 1000 + 1, G_MAXINT);
}

/* ---- running commands, every wait bounded ---- */

static void own_group(gpointer data)
{
	setpgid(0, 0);
}

static void own_session(gpointer data)
{
	setsid();
}

/* Waits for pid until the deadline; TRUE and its status once reaped. */
static gboolean reap_until(GPid pid, gint64 deadline, int *status)
{
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid || (r < 0 && errno != EINTR))
			return r == pid;
		if (g_get_monotonic_time() >= deadline)
			return FALSE;
		g_usleep(10000);
	}
}

static void kill_and_reap(GPid pid)
{
	int status;

	kill(-pid, SIGKILL);
	if (!reap_until(pid, deadline_in(STOP_TIMEOUT_S), &status))
		g_printerr("test internet: process %d survives SIGKILL\n", (int)pid);
}

/* g_clear_fd() is GLib 2.76 */
static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Reads what fd has ready into buf; closes it at its end. */
static gboolean drain_one(int *fd, GString *buf, GError **error)
{
	char chunk[4096];
	ssize_t r = read(*fd, chunk, sizeof chunk);

	if (r > 0)
		g_string_append_len(buf, chunk, r);
	else if (r == 0 || (errno != EAGAIN && errno != EINTR))
		close_fd(fd);
	if (buf->len <= OUTPUT_LIMIT)
		return TRUE;
	g_set_error(error, ALK_ERROR, ALK_ERROR_LIMIT, "more than %d bytes of output",
	            OUTPUT_LIMIT);
	return FALSE;
}

/* Reads the pipes until both are closed; FALSE on timeout or overflow. */
static gboolean drain(int fds[2], GString *bufs[2], gint64 deadline, GError **error)
{
	while (fds[0] >= 0 || fds[1] >= 0) {
		struct pollfd p[2] = {{.fd = fds[0], .events = POLLIN},
		                      {.fd = fds[1], .events = POLLIN}}; /* -1: ignored */
		int timeout = remaining_ms(deadline);
		int ready = timeout > 0 ? poll(p, 2, timeout) : 0;

		if (ready == 0 || (ready < 0 && errno != EINTR)) {
			g_set_error(error, ALK_ERROR, ALK_ERROR_TIMEOUT, "no end in time");
			return FALSE;
		}
		for (guint i = 0; ready > 0 && i < 2; i++) {
			if (p[i].revents != 0 && !drain_one(&fds[i], bufs[i], error))
				return FALSE;
		}
	}
	return TRUE;
}

/* Runs argv in a process group of its own; its exit code (128 + signal).
 * err: capture stderr too, else it goes to ours. */
static int spawn_wait(const char *const *argv, guint timeout_s, char **out, char **err,
                      GError **error)
{
	gint64 deadline = deadline_in(timeout_s);
	GString *bufs[2] = {g_string_new(NULL), g_string_new(NULL)};
	int fds[2] = {-1, -1};
	GPid pid;
	int status = 0;
	gboolean ok;

	if (!g_spawn_async_with_pipes_and_fds(NULL, argv, NULL,
	                                      G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH |
	                                          G_SPAWN_STDIN_FROM_DEV_NULL,
	                                      own_group, NULL, -1, -1, -1, NULL, NULL, 0, &pid,
	                                      NULL, &fds[0], err != NULL ? &fds[1] : NULL, error)) {
		g_string_free(bufs[0], TRUE);
		g_string_free(bufs[1], TRUE);
		return -1;
	}
	ok = drain(fds, bufs, deadline, error) && reap_until(pid, deadline, &status);
	if (!ok) {
		kill_and_reap(pid);
		if (error != NULL && *error == NULL)
			g_set_error(error, ALK_ERROR, ALK_ERROR_TIMEOUT, "no exit in time");
		g_prefix_error(error, "%s: ", argv[0]);
	}
	close_fd(&fds[0]);
	close_fd(&fds[1]);
	g_spawn_close_pid(pid);
	if (ok && out != NULL)
		*out = g_string_free(g_steal_pointer(&bufs[0]), FALSE);
	if (ok && err != NULL)
		*err = g_string_free(g_steal_pointer(&bufs[1]), FALSE);
	if (bufs[0] != NULL)
		g_string_free(bufs[0], TRUE);
	if (bufs[1] != NULL)
		g_string_free(bufs[1], TRUE);
	if (!ok)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* `ip ARGS…`, NULL-terminated; its stderr becomes the error. */
static gboolean ip(GError **error, ...)
{
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();
	g_auto(GStrv) argv = NULL;
	g_autofree char *err = NULL;
	const char *arg;
	va_list ap;
	int code;

	g_strv_builder_add(b, "ip");
	va_start(ap, error);
	while ((arg = va_arg(ap, const char *)) != NULL)
		g_strv_builder_add(b, arg);
	va_end(ap);
	argv = g_strv_builder_end(b);
	code = spawn_wait((const char *const *)argv, IP_TIMEOUT_S, NULL, &err, error);
	if (code == 0)
		return TRUE;
	if (code > 0) {
		g_autofree char *line = g_strjoinv(" ", argv);
		g_set_error(error, ALK_ERROR, ALK_ERROR_FAILED, "%s: exit %d: %s", line, code,
		            g_strstrip(err));
	}
	return FALSE;
}

/* ---- leftovers: ours and crashed runs' ---- */

/* Kills whatever still runs inside ns (not our children: not reaped). */
static void kill_inside(const char *ns)
{
	const char *argv[] = {"ip", "netns", "pids", ns, NULL};
	g_autofree char *out = NULL;
	g_auto(GStrv) pids = NULL;

	if (spawn_wait(argv, IP_TIMEOUT_S, &out, NULL, NULL) != 0)
		return;
	pids = g_strsplit(out, "\n", -1);
	for (guint i = 0; pids[i] != NULL; i++) {
		guint64 pid;

		if (g_ascii_string_to_unsigned(pids[i], 10, 2, G_MAXINT, &pid, NULL))
			kill((pid_t)pid, SIGKILL);
	}
}

static void remove_ns(const char *ns)
{
	g_autofree char *path = g_build_filename(NETNS_DIR, ns, NULL);

	if (!g_file_test(path, G_FILE_TEST_EXISTS))
		return;
	kill_inside(ns);
	ip(NULL, "netns", "del", ns, NULL);
}

static void remove_tree(const char *path)
{
	const char *argv[] = {"rm", "-rf", "--one-file-system", path, NULL};

	if (path != NULL)
		spawn_wait(argv, IP_TIMEOUT_S, NULL, NULL, NULL);
}

/* The pid in "<prefix><decimal pid>", 0 if name is not like that. */
static pid_t name_pid(const char *name, const char *prefix)
{
	guint64 pid;

	if (!g_str_has_prefix(name, prefix) ||
	    !g_ascii_string_to_unsigned(name + strlen(prefix), 10, 1, G_MAXINT, &pid, NULL))
		return 0;
	return (pid_t)pid;
}

static gboolean pid_gone(pid_t pid)
{
	return pid == getpid() || (kill(pid, 0) < 0 && errno == ESRCH);
}

/* Namespaces and temp dirs of runs whose process is gone (or is this one:
 * a reused pid; the caller made sure it has no live instance). */
static void sweep_namespaces(void)
{
	const char *const prefixes[] = {ALK_TEST_INET_ROUTER_PREFIX, ALK_TEST_INET_INTERNET_PREFIX};
	g_autoptr(GDir) d = g_dir_open(NETNS_DIR, 0, NULL);
	const char *name;

	while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
		for (guint i = 0; i < G_N_ELEMENTS(prefixes); i++) {
			pid_t pid = name_pid(name, prefixes[i]);

			if (pid != 0 && pid_gone(pid))
				remove_ns(name);
		}
	}
}

/* temp dirs: alk-inet-<pid>-XXXXXX */
static void sweep_tmp(void)
{
	g_autoptr(GDir) d = g_dir_open(g_get_tmp_dir(), 0, NULL);
	const char *name;

	while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
		const char *dash = strrchr(name, '-');
		g_autofree char *stem = dash != NULL ? g_strndup(name, dash - name) : NULL;
		g_autofree char *path = g_build_filename(g_get_tmp_dir(), name, NULL);
		pid_t pid = stem != NULL ? name_pid(stem, "alk-inet-") : 0;

		if (pid != 0 && pid_gone(pid))
			remove_tree(path);
	}
}

/* ---- sockets inside a namespace ---- */

typedef struct {
	const char *path;
	int type;
	int fd;
	int err;
} NsSocket;

/* A socket belongs to the namespace of the thread that made it: this thread
 * enters ns, makes it, and ends; the caller's thread never moves. */
static gpointer ns_socket_thread(gpointer data)
{
	NsSocket *s = data;
	int nsfd = open(s->path, O_RDONLY | O_CLOEXEC);

	if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0)
		s->err = errno;
	else if ((s->fd = socket(AF_INET, s->type | SOCK_CLOEXEC, 0)) < 0)
		s->err = errno;
	if (nsfd >= 0)
		close(nsfd);
	return NULL;
}

static gboolean own_ns(AlkTestInet *n, const char *ns, GError **error)
{
	if (ns != NULL && (g_str_equal(ns, n->router) || g_str_equal(ns, n->internet)))
		return TRUE;
	g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "%s is not one of %s and %s",
	            ns != NULL ? ns : "(null)", n->router, n->internet);
	return FALSE;
}

int alk_test_inet_socket(AlkTestInet *n, const char *ns, int type, GError **error)
{
	g_autofree char *path = NULL;
	NsSocket s = {.type = type, .fd = -1};
	GThread *t;

	if (!own_ns(n, ns, error))
		return -1;
	path = g_build_filename(NETNS_DIR, ns, NULL);
	s.path = path;
	t = g_thread_try_new("alk-inet-socket", ns_socket_thread, &s, error);
	if (t == NULL)
		return -1;
	g_thread_join(t);
	if (s.fd < 0)
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "socket in %s: %s", ns,
		            g_strerror(s.err));
	return s.fd;
}

/* ---- probes ---- */

static gboolean sockaddr_of(const char *addr, guint16 port, struct sockaddr_in *sa, GError **error)
{
	*sa = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(port)};
	if (inet_pton(AF_INET, addr, &sa->sin_addr) == 1)
		return TRUE;
	g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "not an IPv4 address: %s", addr);
	return FALSE;
}

/* TRUE once a TCP connection to addr:port from inside ns is accepted. */
static gboolean tcp_answers(AlkTestInet *n, const char *ns, const char *addr, guint16 port,
                            int timeout_ms)
{
	struct sockaddr_in sa;
	struct pollfd p = {.events = POLLOUT};
	int soerr = 0;
	socklen_t len = sizeof soerr;
	gboolean ok = FALSE;

	if (!sockaddr_of(addr, port, &sa, NULL) ||
	    (p.fd = alk_test_inet_socket(n, ns, SOCK_STREAM, NULL)) < 0)
		return FALSE;
	if (g_unix_set_fd_nonblocking(p.fd, TRUE, NULL)) {
		if (connect(p.fd, (struct sockaddr *)&sa, sizeof sa) == 0)
			ok = TRUE;
		else if (errno == EINPROGRESS && poll(&p, 1, timeout_ms) == 1)
			ok =
			    getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0;
	}
	close(p.fd);
	return ok;
}

/* ---- a small DNS client: one A question, the answer section as text ---- */

static gboolean dns_encode(const char *name, guint16 id, GByteArray *q, GError **error)
{
	const guint8 header[12] = {id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
	const guint8 tail[5] = {0, 0, 1, 0, 1}; /* root, type A, class IN */
	g_auto(GStrv) labels = g_strsplit(name, ".", -1);

	g_byte_array_append(q, header, sizeof header);
	for (guint i = 0; labels[i] != NULL; i++) {
		gsize len = strlen(labels[i]);

		if (len == 0 && labels[i + 1] == NULL)
			break; /* a final dot */
		if (len == 0 || len > 63 || q->len + len > 12 + 254) {
			g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "bad name: %s", name);
			return FALSE;
		}
		g_byte_array_append(q, (guint8[]){(guint8)len}, 1);
		g_byte_array_append(q, (const guint8 *)labels[i], len);
	}
	g_byte_array_append(q, tail, sizeof tail);
	return TRUE;
}

/* The name at *pos (compression followed), *pos moved past it; NULL if
 * malformed. */
static char *dns_name(const guint8 *p, gsize len, gsize *pos)
{
	g_autoptr(GString) s = g_string_new(NULL);
	gsize at = *pos;
	gboolean jumped = FALSE;

	for (guint hops = 0; hops < 64; hops++) {
		guint8 l;

		if (at >= len)
			return NULL;
		l = p[at];
		if ((l & 0xc0) == 0xc0) {
			if (at + 1 >= len)
				return NULL;
			if (!jumped)
				*pos = at + 2;
			jumped = TRUE;
			at = ((l & 0x3f) << 8) | p[at + 1];
			continue;
		}
		if (l == 0) {
			if (!jumped)
				*pos = at + 1;
			return g_string_free(g_steal_pointer(&s), FALSE);
		}
		if (l > 63 || at + 1 + l > len)
			return NULL;
		if (s->len > 0)
			g_string_append_c(s, '.');
		g_string_append_len(s, (const char *)p + at + 1, l);
		at += 1 + l;
	}
	return NULL;
}

static const char *rcode_name(guint rcode)
{
	static const char *const names[] = {"NOERROR",  "FORMERR", "SERVFAIL",
	                                    "NXDOMAIN", "NOTIMP",  "REFUSED"};

	return rcode < G_N_ELEMENTS(names) ? names[rcode] : "RCODE?";
}

/* One resource record at *pos rendered onto text. */
static gboolean dns_record(const guint8 *p, gsize len, gsize *pos, GString *text)
{
	g_autofree char *owner = dns_name(p, len, pos);
	guint type, ttl, rdlen;
	gsize at = *pos;

	if (owner == NULL || at + 10 > len)
		return FALSE;
	type = (p[at] << 8) | p[at + 1];
	ttl = ((guint)p[at + 4] << 24) | (p[at + 5] << 16) | (p[at + 6] << 8) | p[at + 7];
	rdlen = (p[at + 8] << 8) | p[at + 9];
	at += 10;
	if (at + rdlen > len)
		return FALSE;
	g_string_append_printf(text, "%s %u ", owner, ttl);
	if (type == 1 && rdlen == 4) {
		char buf[INET_ADDRSTRLEN];
		g_string_append_printf(text, "A %s\n", inet_ntop(AF_INET, p + at, buf, sizeof buf));
	} else if (type == 5) {
		gsize rpos = at;
		g_autofree char *target = dns_name(p, len, &rpos);
		if (target == NULL)
			return FALSE;
		g_string_append_printf(text, "CNAME %s\n", target);
	} else {
		g_string_append_printf(text, "TYPE%u -\n", type);
	}
	*pos = at + rdlen;
	return TRUE;
}

/* The reply as text; NULL if it is not a well-formed answer to id. */
static char *dns_decode(const guint8 *p, gsize len, guint16 id)
{
	g_autoptr(GString) text = NULL;
	guint qd, an;
	gsize pos = 12;

	if (len < 12 || ((p[0] << 8) | p[1]) != id || !(p[2] & 0x80))
		return NULL;
	qd = (p[4] << 8) | p[5];
	an = (p[6] << 8) | p[7];
	text = g_string_new(rcode_name(p[3] & 0x0f));
	g_string_append_c(text, '\n');
	for (guint i = 0; i < qd; i++) {
		g_autofree char *q = dns_name(p, len, &pos);
		if (q == NULL || (pos += 4) > len)
			return NULL;
	}
	for (guint i = 0; i < an; i++) {
		if (!dns_record(p, len, &pos, text))
			return NULL;
	}
	return g_string_free(g_steal_pointer(&text), FALSE);
}

/* Sends the question every second until a reply comes or timeout_ms passes. */
static char *dns_exchange(int fd, const struct sockaddr_in *sa, const char *name, int timeout_ms,
                          GError **error)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	guint16 id = (guint16)g_random_int();
	g_autoptr(GByteArray) q = g_byte_array_new();
	struct pollfd p = {.fd = fd, .events = POLLIN};

	if (!dns_encode(name, id, q, error))
		return NULL;
	while (remaining_ms(deadline) > 0) {
		gint64 resend = MIN(deadline, g_get_monotonic_time() + G_USEC_PER_SEC);

		sendto(fd, q->data, q->len, 0, (const struct sockaddr *)sa, sizeof *sa);
		while (poll(&p, 1, remaining_ms(resend)) == 1) {
			guint8 buf[4096];
			ssize_t r = recv(fd, buf, sizeof buf, 0);
			char *text = r > 0 ? dns_decode(buf, r, id) : NULL;

			if (text != NULL)
				return text; /* else: stale, foreign or refused: wait on */
		}
	}
	g_set_error(error, ALK_ERROR, ALK_ERROR_TIMEOUT, "no DNS answer for %s in %d ms", name,
	            timeout_ms);
	return NULL;
}

static char *dns_query(AlkTestInet *n, const char *ns, const char *server, guint16 port,
                       const char *name, int timeout_ms, GError **error)
{
	struct sockaddr_in sa;
	int fd;
	char *text;

	if (!sockaddr_of(server, port != 0 ? port : 53, &sa, error) ||
	    (fd = alk_test_inet_socket(n, ns, SOCK_DGRAM, error)) < 0)
		return NULL;
	text = dns_exchange(fd, &sa, name, timeout_ms, error);
	close(fd);
	return text;
}

char *alk_test_inet_dns_query(AlkTestInet *n, const char *ns, const char *server, guint16 port,
                              const char *name, GError **error)
{
	return dns_query(n, ns, server, port, name, DNS_TIMEOUT_S * 1000, error);
}

/* ---- setting up ---- */

static gboolean make_namespaces(AlkTestInet *n, GError **error)
{
	const char *r = n->router, *i = n->internet;
	const char *extra[] = {ALK_TEST_INET_ALLOWED_ADDR "/32", ALK_TEST_INET_DENIED_ADDR "/32",
	                       ALK_TEST_INET_DNS_ADDR "/32"};
	const char *fwd[] = {"ip", "netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1",
	                     NULL};
	g_autofree char *err = NULL;

	/* the veth is made inside the router: no device ever in the host's namespace */
	if (!ip(error, "netns", "add", r, NULL) || !ip(error, "netns", "add", i, NULL) ||
	    !ip(error, "-n", r, "link", "set", "lo", "up", NULL) ||
	    !ip(error, "-n", i, "link", "set", "lo", "up", NULL) ||
	    !ip(error, "-n", r, "link", "add", ALK_TEST_INET_ROUTER_LINK, "type", "veth", "peer",
	        "name", ALK_TEST_INET_INTERNET_LINK, "netns", i, NULL) ||
	    !ip(error, "-n", r, "addr", "add", ALK_TEST_INET_ROUTER_ADDR "/24", "dev",
	        ALK_TEST_INET_ROUTER_LINK, NULL) ||
	    !ip(error, "-n", i, "addr", "add", ALK_TEST_INET_INTERNET_ADDR "/24", "dev",
	        ALK_TEST_INET_INTERNET_LINK, NULL) ||
	    !ip(error, "-n", r, "link", "set", ALK_TEST_INET_ROUTER_LINK, "up", NULL) ||
	    !ip(error, "-n", i, "link", "set", ALK_TEST_INET_INTERNET_LINK, "up", NULL))
		return FALSE;
	for (guint k = 0; k < G_N_ELEMENTS(extra); k++) {
		if (!ip(error, "-n", i, "addr", "add", extra[k], "dev", "lo", NULL))
			return FALSE;
	}
	if (!ip(error, "-n", r, "route", "add", "198.18.1.0/24", "via", ALK_TEST_INET_INTERNET_ADDR,
	        NULL) ||
	    !ip(error, "-n", i, "route", "add", "default", "via", ALK_TEST_INET_ROUTER_ADDR, NULL))
		return FALSE;
	if (spawn_wait(fwd, IP_TIMEOUT_S, NULL, &err, error) != 0) {
		if (error != NULL && *error == NULL)
			g_set_error(error, ALK_ERROR, ALK_ERROR_FAILED, "ip_forward: %s", err);
		return FALSE;
	}
	return TRUE;
}

static const char *spec_ns(AlkTestInet *n, const ServerSpec *s)
{
	return g_str_equal(s->ns_prefix, ALK_TEST_INET_ROUTER_PREFIX) ? n->router : n->internet;
}

static char *server_log(AlkTestInet *n, guint k)
{
	g_autofree char *name = g_strdup_printf("server-%u.log", k);

	return g_build_filename(n->dir, name, NULL);
}

static gboolean start_server(AlkTestInet *n, guint k, GError **error)
{
	const ServerSpec *s = &servers[k];
	g_autofree char *port = g_strdup_printf("%u", s->port != 0 ? s->port : 53);
	g_autofree char *log_path = server_log(n, k);
	const char *argv[] = {"ip",
	                      "netns",
	                      "exec",
	                      spec_ns(n, s),
	                      PYTHON,
	                      "-u",
	                      s->port != 0 ? SCRIPT_DIR "/http-server.py"
	                                   : SCRIPT_DIR "/dns-server.py",
	                      s->addr,
	                      port,
	                      s->port != 0 ? s->body : n->dns_log,
	                      NULL};
	int log = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	gboolean ok;

	if (log < 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "%s: %s", log_path, g_strerror(errno));
		return FALSE;
	}
	/* a session of its own: a ^C to the test does not reach it first, and
	 * the whole group goes at teardown */
	ok = g_spawn_async_with_pipes_and_fds(
	    NULL, argv, NULL,
	    G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH | G_SPAWN_STDIN_FROM_DEV_NULL,
	    own_session, NULL, -1, log, log, NULL, NULL, 0, &n->pids[k], NULL, NULL, NULL, error);
	close(log);
	return ok;
}

static void stop_server(AlkTestInet *n, guint k)
{
	int status;

	if (n->pids[k] <= 0)
		return;
	kill(-n->pids[k], SIGTERM);
	if (!reap_until(n->pids[k], deadline_in(STOP_TIMEOUT_S), &status))
		kill_and_reap(n->pids[k]);
	g_spawn_close_pid(n->pids[k]);
	n->pids[k] = 0;
}

static gboolean server_ready(AlkTestInet *n, guint k)
{
	const ServerSpec *s = &servers[k];
	g_autofree char *text = NULL;

	if (s->port != 0)
		return tcp_answers(n, n->router, s->addr, s->port, 200);
	text = dns_query(n, n->router, s->addr, 53, "allowed.test", 200, NULL);
	return text != NULL;
}

/* Fails with the server's log if it exited already. */
static gboolean server_alive(AlkTestInet *n, guint k, GError **error)
{
	g_autofree char *log_path = server_log(n, k);
	g_autofree char *log = NULL;
	int status;

	if (n->pids[k] <= 0 || waitpid(n->pids[k], &status, WNOHANG) != n->pids[k])
		return TRUE;
	g_spawn_close_pid(n->pids[k]);
	n->pids[k] = 0;
	g_file_get_contents(log_path, &log, NULL, NULL);
	g_set_error(error, ALK_ERROR, ALK_ERROR_FAILED, "server %s:%u exited: %s", servers[k].addr,
	            servers[k].port != 0 ? servers[k].port : 53, log != NULL ? log : "(no log)");
	return FALSE;
}

static gboolean wait_ready(AlkTestInet *n, GError **error)
{
	gint64 deadline = deadline_in(READY_TIMEOUT_S);
	gboolean ready[G_N_ELEMENTS(servers)] = {FALSE};
	guint left = G_N_ELEMENTS(servers);

	while (left > 0) {
		for (guint k = 0; k < G_N_ELEMENTS(servers); k++) {
			if (ready[k])
				continue;
			if (!server_alive(n, k, error))
				return FALSE;
			if (server_ready(n, k)) {
				ready[k] = TRUE;
				left--;
			} else if (g_get_monotonic_time() >= deadline) {
				g_set_error(error, ALK_ERROR, ALK_ERROR_TIMEOUT,
				            "server %s:%u did not answer in %d s", servers[k].addr,
				            servers[k].port != 0 ? servers[k].port : 53,
				            READY_TIMEOUT_S);
				return FALSE;
			}
		}
		if (left > 0)
			g_usleep(20000);
	}
	/* the probe's own query: not the test's business */
	return g_file_set_contents(n->dns_log, "", 0, error);
}

static gboolean set_up(AlkTestInet *n, GError **error)
{
	g_autofree char *tmpl = g_strdup_printf("alk-inet-%d-XXXXXX", (int)n->owner);

	n->dir = g_dir_make_tmp(tmpl, error);
	if (n->dir == NULL)
		return FALSE;
	n->dns_log = g_build_filename(n->dir, "dns-queries.log", NULL);
	if (!g_file_set_contents(n->dns_log, "", 0, error) || !make_namespaces(n, error))
		return FALSE;
	for (guint k = 0; k < G_N_ELEMENTS(servers); k++) {
		if (!start_server(n, k, error))
			return FALSE;
	}
	return wait_ready(n, error);
}

AlkTestInet *alk_test_inet_new(GError **error)
{
	AlkTestInet *n;

	if (live_owner == getpid()) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_CONFLICT,
		            "this process has a test internet already");
		return NULL;
	}
	sweep_namespaces();
	sweep_tmp();
	n = g_new0(AlkTestInet, 1);
	n->owner = getpid();
	g_snprintf(n->router, sizeof n->router, ALK_TEST_INET_ROUTER_PREFIX "%d", (int)n->owner);
	g_snprintf(n->internet, sizeof n->internet, ALK_TEST_INET_INTERNET_PREFIX "%d",
	           (int)n->owner);
	live_owner = n->owner;
	if (!set_up(n, error)) {
		g_prefix_error(error, "test internet: ");
		alk_test_inet_free(n);
		return NULL;
	}
	return n;
}

const char *alk_test_inet_router(AlkTestInet *n)
{
	return n->router;
}

const char *alk_test_inet_internet(AlkTestInet *n)
{
	return n->internet;
}

const char *alk_test_inet_dns_log(AlkTestInet *n)
{
	return n->dns_log;
}

GStrv alk_test_inet_dns_queries(AlkTestInet *n)
{
	g_autofree char *text = NULL;

	if (!g_file_get_contents(n->dns_log, &text, NULL, NULL) || text[0] == '\0')
		return g_new0(char *, 1);
	g_strchomp(text);
	return g_strsplit(text, "\n", -1);
}

int alk_test_inet_run(AlkTestInet *n, const char *ns, const char *const *argv, char **out,
                      GError **error)
{
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();
	g_auto(GStrv) full = NULL;

	if (!own_ns(n, ns, error))
		return -1;
	if (argv == NULL || argv[0] == NULL) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "no command");
		return -1;
	}
	g_strv_builder_add_many(b, "ip", "netns", "exec", ns, NULL);
	g_strv_builder_addv(b, (const char **)argv);
	full = g_strv_builder_end(b);
	return spawn_wait((const char *const *)full, ALK_TEST_INET_RUN_TIMEOUT_S, out, NULL, error);
}

void alk_test_inet_free(AlkTestInet *n)
{
	if (n == NULL)
		return;
	if (n->owner == getpid()) {
		for (guint k = 0; k < G_N_ELEMENTS(servers); k++)
			stop_server(n, k);
		remove_ns(n->router);
		remove_ns(n->internet);
		remove_tree(n->dir);
		live_owner = 0;
	}
	g_free(n->dir);
	g_free(n->dns_log);
	g_free(n);
}
