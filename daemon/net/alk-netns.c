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
#include "alk-nft.h"

/* what an error message keeps of `ip`'s stderr */
#define STDERR_MAX 200
#define IFNAME_MAX 15

typedef struct {
	char **argv;
	char *input;       /* its stdin; NULL: none */
	gboolean may_fail; /* e.g. removing what may already be gone */
} Step;

typedef struct {
	GPtrArray *steps; /* Step * */
	guint next;
} Run;

static void step_free(Step *step)
{
	g_strfreev(step->argv);
	g_free(step->input);
	g_free(step);
}

static void run_free(Run *run)
{
	g_ptr_array_unref(run->steps);
	g_free(run);
}

static GPtrArray *steps_new(void)
{
	return g_ptr_array_new_with_free_func((GDestroyNotify)step_free);
}

/* Appends `ip ARGS...` (NULL-terminated). */
static void steps_add(GPtrArray *steps, gboolean may_fail, ...)
{
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();
	Step *step = g_new0(Step, 1);
	const char *arg;
	va_list ap;

	g_strv_builder_add(b, "ip");
	va_start(ap, may_fail);
	while ((arg = va_arg(ap, const char *)) != NULL)
		g_strv_builder_add(b, arg);
	va_end(ap);
	step->argv = g_strv_builder_end(b);
	step->may_fail = may_fail;
	g_ptr_array_add(steps, step);
}

static gboolean is_lower_hex(const char *s, gsize len)
{
	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_isxdigit(s[i]) || g_ascii_isupper(s[i]))
			return FALSE;
	}
	return TRUE;
}

gboolean alk_netns_name_valid(const char *name)
{
	return name != NULL && strlen(name) == ALK_NETNS_NAME_LEN &&
	       g_str_has_prefix(name, ALK_NETNS_PREFIX) && is_lower_hex(name + 2, ALK_NETNS_ID_LEN);
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
static gboolean ifname_valid(const char *link)
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

static gboolean check_name(const char *name, GError **error)
{
	if (alk_netns_name_valid(name))
		return TRUE;
	g_set_error_literal(error, ALK_ERROR, ALK_ERROR_INVALID,
	                    "not an airlock namespace name (al + 12 lowercase hex)");
	return FALSE;
}

static void run_next(GTask *task);

/* A daemon in a mount namespace of its own (systemd's ProtectSystem= and
 * friends) would pin namespaces under a /run/netns only it sees, and lose
 * them when it stops: `ip netns add/del` then run in PID 1's mount
 * namespace, from where the bind mount propagates to everyone. */
static gboolean private_mounts(void)
{
	static gsize once;
	static gboolean differ;

	if (g_once_init_enter(&once)) {
		g_autofree char *self = g_file_read_link("/proc/self/ns/mnt", NULL);
		g_autofree char *init = g_file_read_link("/proc/1/ns/mnt", NULL);

		/* unreadable: no ptrace access to PID 1 (the unit grants it; some
		 * containers refuse it even to root), so nothing to go by */
		differ = self != NULL && init != NULL && !g_str_equal(self, init);
		if (init == NULL)
			g_message("cannot read /proc/1/ns/mnt: network namespaces are pinned in "
			          "airlockd's own mount namespace");
		g_once_init_leave(&once, 1);
	}
	return differ;
}

static char **step_argv(const Step *step)
{
	char **a = step->argv;
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();

	if (g_strv_length(a) >= 3 && g_str_equal(a[0], "ip") && g_str_equal(a[1], "netns") &&
	    (g_str_equal(a[2], "add") || g_str_equal(a[2], "del")) && private_mounts())
		g_strv_builder_addv(
		    b, (const char *[]){"nsenter", "--mount=/proc/1/ns/mnt", "--", NULL});
	g_strv_builder_addv(b, (const char **)a);
	return g_strv_builder_end(b);
}

static gboolean step_result(Step *step, GSubprocess *proc, const char *err, GError **error)
{
	g_autofree char *cmd = NULL;
	g_autofree char *msg = NULL;

	if (g_subprocess_get_if_exited(proc) && g_subprocess_get_exit_status(proc) == 0)
		return TRUE;
	if (step->may_fail)
		return TRUE;
	cmd = g_strjoinv(" ", step->argv);
	msg = g_strndup(err != NULL ? g_strstrip((char *)err) : "", STDERR_MAX);
	g_set_error(error, ALK_ERROR, ALK_ERROR_FAILED, "%s: %s", cmd,
	            *msg != '\0' ? msg : "failed");
	return FALSE;
}

static void step_done(GObject *source, GAsyncResult *res, gpointer data)
{
	g_autoptr(GTask) task = data;
	GSubprocess *proc = G_SUBPROCESS(source);
	Run *run = g_task_get_task_data(task);
	g_autofree char *err = NULL;
	g_autoptr(GError) error = NULL;

	if (!g_subprocess_communicate_utf8_finish(proc, res, NULL, &err, &error) ||
	    !step_result(g_ptr_array_index(run->steps, run->next - 1), proc, err, &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	run_next(g_steal_pointer(&task));
}

/* Takes the reference of task. */
static void run_next(GTask *task)
{
	Run *run = g_task_get_task_data(task);
	Step *step;
	g_auto(GStrv) argv = NULL;
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GError) error = NULL;

	if (run->next >= run->steps->len) {
		g_task_return_boolean(task, TRUE);
		g_object_unref(task);
		return;
	}
	step = g_ptr_array_index(run->steps, run->next++);
	argv = step_argv(step);
	proc =
	    g_subprocess_newv((const char *const *)argv,
	                      G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE |
	                          (step->input != NULL ? G_SUBPROCESS_FLAGS_STDIN_PIPE : 0),
	                      &error);
	if (proc == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		g_object_unref(task);
		return;
	}
	g_subprocess_communicate_utf8_async(proc, step->input, g_task_get_cancellable(task),
	                                    step_done, task);
}

/* Runs steps in order, stopping at the first failure. Takes steps; NULL steps:
 * reports error. */
static void steps_run_async(GPtrArray *steps, GError *error, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
	GTask *task = g_task_new(NULL, cancellable, callback, user_data);
	Run *run = g_new0(Run, 1);

	g_task_set_source_tag(task, steps_run_async);
	if (steps == NULL) {
		g_task_return_error(task, error);
		g_object_unref(task);
		g_free(run);
		return;
	}
	run->steps = steps;
	g_task_set_task_data(task, run, (GDestroyNotify)run_free);
	run_next(task);
}

gboolean alk_netns_finish(GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, NULL), FALSE);
	return g_task_propagate_boolean(G_TASK(result), error);
}

static GPtrArray *create_steps(const char *name, GError **error)
{
	GPtrArray *steps;

	if (!check_name(name, error))
		return NULL;
	steps = steps_new();
	steps_add(steps, FALSE, "netns", "add", name, NULL);
	steps_add(steps, FALSE, "-n", name, "link", "set", "lo", "up", NULL);
	return steps;
}

static GPtrArray *veth_steps(const char *name, GError **error)
{
	GPtrArray *steps;

	if (!check_name(name, error))
		return NULL;
	steps = steps_new();
	steps_add(steps, FALSE, "link", "add", name, "type", "veth", "peer", "name",
	          ALK_NETNS_UPLINK, "netns", name, NULL);
	steps_add(steps, FALSE, "-n", name, "link", "set", ALK_NETNS_UPLINK, "up", NULL);
	steps_add(steps, FALSE, "link", "set", name, "up", NULL);
	return steps;
}

static GPtrArray *move_steps(const char *name, const char *link, GError **error)
{
	GPtrArray *steps;

	if (!check_name(name, error))
		return NULL;
	if (!ifname_valid(link)) {
		g_set_error_literal(error, ALK_ERROR, ALK_ERROR_INVALID, "bad link name");
		return NULL;
	}
	steps = steps_new();
	steps_add(steps, FALSE, "link", "set", "dev", link, "netns", name, NULL);
	steps_add(steps, FALSE, "-n", name, "link", "set", "dev", link, "up", NULL);
	return steps;
}

static GPtrArray *delete_steps(const char *name, GError **error)
{
	g_autofree char *path = NULL;
	GPtrArray *steps;

	if (!check_name(name, error))
		return NULL;
	path = g_build_filename(ALK_NETNS_DIR, name, NULL);
	steps = steps_new();
	/* the host end goes first: a dying namespace frees its peer only later */
	steps_add(steps, TRUE, "link", "del", "dev", name, NULL);
	if (g_file_test(path, G_FILE_TEST_EXISTS))
		steps_add(steps, FALSE, "netns", "del", name, NULL);
	return steps;
}

#define ASYNC_BODY(build)                                                                          \
	GError *error = NULL;                                                                      \
	GPtrArray *steps = build;                                                                  \
	steps_run_async(steps, error, cancellable, callback, user_data)

void alk_netns_create_async(const char *name, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
	ASYNC_BODY(create_steps(name, &error));
}

void alk_netns_add_veth_async(const char *name, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
	ASYNC_BODY(veth_steps(name, &error));
}

void alk_netns_move_link_async(const char *name, const char *link, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
	ASYNC_BODY(move_steps(name, link, &error));
}

void alk_netns_delete_async(const char *name, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
	ASYNC_BODY(delete_steps(name, &error));
}

static void sync_done(GObject *source, GAsyncResult *res, gpointer data)
{
	*(GAsyncResult **)data = g_object_ref(res);
}

/* The async form on a private main context, so no other source runs meanwhile. */
static gboolean steps_run_sync(GPtrArray *steps, GError *build_error, GError **error)
{
	g_autoptr(GMainContext) ctx = g_main_context_new();
	g_autoptr(GAsyncResult) res = NULL;

	g_main_context_push_thread_default(ctx);
	steps_run_async(steps, build_error, NULL, sync_done, &res);
	while (res == NULL)
		g_main_context_iteration(ctx, TRUE);
	g_main_context_pop_thread_default(ctx);
	return alk_netns_finish(res, error);
}

#define SYNC_BODY(build)                                                                           \
	GError *build_error = NULL;                                                                \
	GPtrArray *steps = build;                                                                  \
	return steps_run_sync(steps, build_error, error)

gboolean alk_netns_create(const char *name, GError **error)
{
	SYNC_BODY(create_steps(name, &build_error));
}

gboolean alk_netns_add_veth(const char *name, GError **error)
{
	SYNC_BODY(veth_steps(name, &build_error));
}

gboolean alk_netns_move_link(const char *name, const char *link, GError **error)
{
	SYNC_BODY(move_steps(name, link, &build_error));
}

gboolean alk_netns_delete(const char *name, GError **error)
{
	SYNC_BODY(delete_steps(name, &build_error));
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

/* ---- plans ---------------------------------------------------------------------------------- */

struct AlkNetPlan {
	GPtrArray *steps; /* Step * */
	GError *error;    /* the first bad argument: the plan fails as a whole */
};

AlkNetPlan *alk_net_plan_new(void)
{
	AlkNetPlan *plan = g_new0(AlkNetPlan, 1);

	plan->steps = steps_new();
	return plan;
}

void alk_net_plan_free(AlkNetPlan *plan)
{
	if (plan == NULL)
		return;
	g_ptr_array_unref(plan->steps);
	g_clear_error(&plan->error);
	g_free(plan);
}

static gboolean plan_ns_ok(AlkNetPlan *plan, const char *ns)
{
	if (ns == NULL || ifname_valid(ns))
		return TRUE;
	if (plan->error == NULL)
		g_set_error(&plan->error, ALK_ERROR, ALK_ERROR_INVALID, "bad namespace name '%s'",
		            ns);
	return FALSE;
}

static void plan_add(AlkNetPlan *plan, GStrvBuilder *b, const char *input, gboolean may_fail)
{
	Step *step = g_new0(Step, 1);

	step->argv = g_strv_builder_end(b);
	step->input = g_strdup(input);
	step->may_fail = may_fail;
	g_ptr_array_add(plan->steps, step);
}

/* `ip netns exec NS` in front of a command, or nothing for the daemon's own */
static GStrvBuilder *in_ns(const char *ns)
{
	GStrvBuilder *b = g_strv_builder_new();

	if (ns != NULL)
		g_strv_builder_addv(b, (const char *[]){"ip", "netns", "exec", ns, NULL});
	return b;
}

void alk_net_plan_ip(AlkNetPlan *plan, const char *ns, gboolean may_fail, ...)
{
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();
	const char *arg;
	va_list ap;

	if (!plan_ns_ok(plan, ns))
		return;
	g_strv_builder_add(b, "ip");
	if (ns != NULL)
		g_strv_builder_addv(b, (const char *[]){"-n", ns, NULL});
	va_start(ap, may_fail);
	while ((arg = va_arg(ap, const char *)) != NULL)
		g_strv_builder_add(b, arg);
	va_end(ap);
	plan_add(plan, b, NULL, may_fail);
}

void alk_net_plan_nft(AlkNetPlan *plan, const char *ns, const char *text)
{
	g_autoptr(GStrvBuilder) b = NULL;

	if (!plan_ns_ok(plan, ns))
		return;
	b = in_ns(ns);
	g_strv_builder_addv(b, (const char *[]){"nft", "-f", "-", NULL});
	plan_add(plan, b, text, FALSE);
}

void alk_net_plan_sysctl(AlkNetPlan *plan, const char *ns, const char *key, const char *value)
{
	g_autoptr(GStrvBuilder) b = NULL;
	g_autofree char *kv = g_strdup_printf("%s=%s", key, value);

	if (!plan_ns_ok(plan, ns))
		return;
	b = in_ns(ns);
	g_strv_builder_addv(b, (const char *[]){"sysctl", "-q", "-w", kv, NULL});
	plan_add(plan, b, NULL, FALSE);
}

void alk_net_plan_run_async(AlkNetPlan *plan, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
	GPtrArray *steps = plan->error == NULL ? g_ptr_array_ref(plan->steps) : NULL;

	steps_run_async(steps, g_steal_pointer(&plan->error), cancellable, callback, user_data);
	alk_net_plan_free(plan);
}

gboolean alk_net_plan_run(AlkNetPlan *plan, GError **error)
{
	GPtrArray *steps = plan->error == NULL ? g_ptr_array_ref(plan->steps) : NULL;
	GError *build_error = g_steal_pointer(&plan->error);

	alk_net_plan_free(plan);
	return steps_run_sync(steps, build_error, error);
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
	if (!ifname_valid(ns)) {
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
