/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-netns.h"

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <sched.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alk-error.h"
#include "alk-name.h"
#include "alk-nft.h"

#define IFNAME_MAX 15

gboolean alk_netns_name_valid(const char *name)
{
	return name != NULL && strlen(name) == ALK_NETNS_NAME_LEN &&
	       g_str_has_prefix(name, ALK_NETNS_PREFIX) && alk_sandbox_id_valid(name + 2);
}

char *alk_netns_name_for_id(const char *id, GError **error)
{
	g_autofree char *name = g_strconcat(ALK_NETNS_PREFIX, id != NULL ? id : "", NULL);

	if (!alk_netns_name_valid(name)) {
		g_set_error_literal(error, ALK_ERROR, ALK_ERROR_INVALID,
		                    "sandbox id must be 12 lowercase hex digits");
		return NULL;
	}
	return g_steal_pointer(&name);
}

/* an interface name `ip` cannot mistake for an option or a keyword path */
const char *alk_netns_id_of(const char *name)
{
	return alk_netns_name_valid(name) ? name + strlen(ALK_NETNS_PREFIX) : NULL;
}

gboolean alk_netns_ifname_valid(const char *link)
{
	gsize len = link != NULL ? strlen(link) : 0;

	if (len == 0 || len > IFNAME_MAX || link[0] == '-' || g_str_equal(link, ".") ||
	    g_str_equal(link, ".."))
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_isalnum(link[i]) && strchr("_.-", link[i]) == NULL)
			return FALSE;
	}
	return TRUE;
}

static gint cmp_name(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

GPtrArray *alk_netns_list(GError **error)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GDir) dir = NULL;
	g_autoptr(GError) local = NULL;
	const char *entry;

	dir = g_dir_open(ALK_NETNS_DIR, 0, &local);
	if (dir == NULL) {
		if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return g_steal_pointer(&names); /* no namespace ever made */
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "listing %s: %s", ALK_NETNS_DIR,
		            local->message);
		return NULL;
	}
	while ((entry = g_dir_read_name(dir)) != NULL) {
		if (alk_netns_name_valid(entry))
			g_ptr_array_add(names, g_strdup(entry));
	}
	g_ptr_array_sort(names, cmp_name);
	return g_steal_pointer(&names);
}

/* ---- work inside a namespace ------------------------------------------------------------------
 */

typedef struct {
	const char *ns;
	AlkNetnsFunc func;
	gpointer data;
	GError *error;
	gboolean ok;
} InNs;

/* setns() moves only the calling thread: a short-lived thread enters, works
 * and ends, so no other code of the daemon ever runs in the namespace. */
static gpointer in_ns_thread(gpointer p)
{
	InNs *w = p;
	g_autofree char *path = g_build_filename(ALK_NETNS_DIR, w->ns, NULL);
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
		int err = errno;

		g_set_error(&w->error, ALK_ERROR, ALK_ERROR_FAILED, "entering namespace %s: %s",
		            w->ns, g_strerror(err));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	close(fd);
	w->ok = w->func(w->data, &w->error);
	return NULL;
}

gboolean alk_netns_run_in(const char *ns, AlkNetnsFunc func, gpointer data, GError **error)
{
	InNs w = {.ns = ns, .func = func, .data = data};

	if (ns == NULL)
		return func(data, error);
	if (!alk_netns_ifname_valid(ns)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "bad namespace name '%s'", ns);
		return FALSE;
	}
	g_thread_join(g_thread_new("alk-netns", in_ns_thread, &w));
	if (!w.ok)
		g_propagate_error(error, w.error);
	return w.ok;
}

typedef struct {
	GSocketFamily family;
	GSocketType type;
	GSocket *socket;
} NewSocket;

static gboolean new_socket(gpointer data, GError **error)
{
	NewSocket *n = data;

	n->socket = g_socket_new(n->family, n->type, G_SOCKET_PROTOCOL_DEFAULT, error);
	return n->socket != NULL;
}

GSocket *alk_netns_socket(const char *ns, GSocketFamily family, GSocketType type, GError **error)
{
	NewSocket n = {.family = family, .type = type};

	return alk_netns_run_in(ns, new_socket, &n, error) ? n.socket : NULL;
}

static gboolean list_addresses(gpointer data, GError **error)
{
	GPtrArray *out = data;
	struct ifaddrs *all = NULL;

	if (getifaddrs(&all) != 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_FAILED, "getifaddrs: %s",
		            g_strerror(errno));
		return FALSE;
	}
	for (struct ifaddrs *i = all; i != NULL; i = i->ifa_next) {
		g_autoptr(GSocketAddress) sa = NULL;
		GInetAddress *a;

		if (i->ifa_addr == NULL ||
		    (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
			continue;
		sa = g_socket_address_new_from_native(
		    i->ifa_addr, i->ifa_addr->sa_family == AF_INET ? sizeof(struct sockaddr_in)
		                                                   : sizeof(struct sockaddr_in6));
		if (sa == NULL)
			continue;
		a = g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(sa));
		g_ptr_array_add(
		    out, g_inet_address_mask_new(a, g_inet_address_get_native_size(a) * 8, NULL));
	}
	freeifaddrs(all);
	return TRUE;
}

GPtrArray *alk_netns_addresses(const char *ns, GError **error)
{
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_object_unref);

	return alk_netns_run_in(ns, list_addresses, out, error) ? g_steal_pointer(&out) : NULL;
}

/* ---- counters ------------------------------------------------------------------------------- */

static void counters_done(GObject *source, GAsyncResult *res, gpointer data)
{
	g_autoptr(GTask) task = data;
	GSubprocess *proc = G_SUBPROCESS(source);
	g_autofree char *out = NULL;
	g_autoptr(GError) error = NULL;
	guint64 *counts = g_new0(guint64, 2);

	if (!g_subprocess_communicate_utf8_finish(proc, res, &out, NULL, &error) ||
	    !g_subprocess_get_successful(proc)) {
		g_free(counts);
		if (error == NULL)
			g_set_error_literal(&error, ALK_ERROR, ALK_ERROR_FAILED,
			                    "nft list counters");
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	alk_nft_parse_counters(out, &counts[0], &counts[1]);
	g_task_return_pointer(task, counts, g_free);
}

void alk_netns_counters_async(const char *ns, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
	GTask *task = g_task_new(NULL, cancellable, callback, user_data);
	g_autoptr(GError) error = NULL;
	g_autoptr(GSubprocess) proc = NULL;

	g_task_set_source_tag(task, alk_netns_counters_async);
	if (!alk_netns_name_valid(ns)) {
		g_task_return_new_error(task, ALK_ERROR, ALK_ERROR_INVALID, "bad namespace name");
		g_object_unref(task);
		return;
	}
	proc = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
	                        &error, "ip", "netns", "exec", ns, "nft", "-j", "list", "counters",
	                        "table", "inet", ALK_NFT_TABLE, NULL);
	if (proc == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		g_object_unref(task);
		return;
	}
	g_subprocess_communicate_utf8_async(proc, NULL, cancellable, counters_done, task);
}

gboolean alk_netns_counters_finish(GAsyncResult *result, guint64 *allowed, guint64 *denied,
                                   GError **error)
{
	g_autofree guint64 *counts = g_task_propagate_pointer(G_TASK(result), error);

	if (counts == NULL)
		return FALSE;
	*allowed = counts[0];
	*denied = counts[1];
	return TRUE;
}
