/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-netns.h"

#include <string.h>

#include "alk-error.h"

/* what an error message keeps of `ip`'s stderr */
#define STDERR_MAX 200
#define IFNAME_MAX 15

typedef struct {
	char **argv;
	gboolean may_fail; /* e.g. removing what may already be gone */
} Step;

typedef struct {
	GPtrArray *steps; /* Step * */
	guint next;
} Run;

static void step_free(Step *step)
{
	g_strfreev(step->argv);
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
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GError) error = NULL;

	if (run->next >= run->steps->len) {
		g_task_return_boolean(task, TRUE);
		g_object_unref(task);
		return;
	}
	step = g_ptr_array_index(run->steps, run->next++);
	proc = g_subprocess_newv((const char *const *)step->argv,
	                         G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
	                         &error);
	if (proc == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		g_object_unref(task);
		return;
	}
	g_subprocess_communicate_utf8_async(proc, NULL, g_task_get_cancellable(task), step_done,
	                                    task);
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
