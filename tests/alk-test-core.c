/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-test-core.h"

#include <libvirt/libvirt.h>
#include <string.h>
#include <unistd.h>

#include "alk-error.h"
#include "alk-test-guest.h"

static pid_t owner(void)
{
	const char *env = g_getenv("ALK_TEST_OWNER");
	return env != NULL ? (pid_t)g_ascii_strtoll(env, NULL, 10) : getpid();
}

static void on_watch(AlkManager *m, const AlkSandbox *sb, gpointer data)
{
	AlkTestCore *t = data;
	g_hash_table_insert(t->seen, g_strdup(sb->id), GINT_TO_POINTER(sb->state + 1));
}

gboolean alk_test_core_restart(AlkTestCore *t, GError **error)
{
	if (t->manager != NULL) {
		alk_manager_detach(t->manager);
		g_clear_pointer(&t->manager, alk_manager_free);
	}
	t->manager = alk_manager_new(t->config);
	alk_manager_set_watch(t->manager, on_watch, t);
	return alk_manager_start(t->manager, error);
}

AlkTestCore *alk_test_core_new(const char *extra, GError **error)
{
	return alk_test_core_new_at(NULL, extra, error);
}

AlkTestCore *alk_test_core_new_at(const char *state_dir, const char *extra, GError **error)
{
	AlkTestCore *t = g_new0(AlkTestCore, 1);
	g_autofree char *data = NULL;

	t->seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	t->state_dir = state_dir != NULL
	                   ? g_strdup(state_dir)
	                   : g_strdup_printf("/var/lib/airlock-test/core-%d", owner());
	t->run_dir = g_strdup_printf("/run/airlock-test/core-%d", owner());
	t->template_dir = g_strdup(g_getenv("ALK_TEMPLATE_DIR") ?: ALK_SOURCE_DIR "/xml-templates");
	/* TCG unless the test chooses: KVM guests hang on the development machines */
	data = g_strdup_printf(
	    "[daemon]\n%sstate_dir = %s\nrun_dir = %s\n"
	    "image_dir = %s\ntemplate_dir = %s\nboot_timeout_s = 120\n%s",
	    extra != NULL && strstr(extra, "virt_type") ? "" : "virt_type = qemu\n", t->state_dir,
	    t->run_dir, alk_test_image_dir(), t->template_dir, extra != NULL ? extra : "");
	t->config = alk_config_load_data(data, -1, error);
	if (t->config == NULL || !alk_test_core_restart(t, error)) {
		alk_test_core_free(t);
		return NULL;
	}
	return t;
}

static gboolean none_live(gpointer data)
{
	AlkTestCore *t = data;
	g_autoptr(GPtrArray) all = alk_manager_list(t->manager);
	for (guint i = 0; i < all->len; i++)
		if (alk_sandbox_is_live(g_ptr_array_index(all, i)))
			return FALSE;
	return TRUE;
}

void alk_test_core_free(AlkTestCore *t)
{
	if (t == NULL)
		return;
	if (t->manager != NULL) {
		g_autoptr(GPtrArray) all = alk_manager_list(t->manager);
		for (guint i = 0; i < all->len; i++) {
			const AlkSandbox *sb = g_ptr_array_index(all, i);
			alk_manager_destroy(t->manager, sb->id, NULL);
		}
		alk_test_loop_until(none_live, t, 120);
		alk_manager_free(t->manager);
	}
	alk_config_free(t->config);
	if (t->state_dir != NULL) {
		const char *argv[] = {"rm",         "-rf",      "--one-file-system",
		                      t->state_dir, t->run_dir, NULL};
		g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
		             NULL, NULL);
	}
	if (t->conn != NULL)
		virConnectClose(t->conn);
	g_hash_table_unref(t->seen);
	g_free(t->state_dir);
	g_free(t->run_dir);
	g_free(t->template_dir);
	g_free(t);
}

static gboolean wake(gpointer data)
{
	return G_SOURCE_CONTINUE;
}

gboolean alk_test_loop_until(gboolean (*func)(gpointer), gpointer data, guint timeout_s)
{
	gint64 end = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
	guint tick = g_timeout_add(100, wake, NULL);
	gboolean ok;
	while (!(ok = func(data)) && g_get_monotonic_time() < end)
		g_main_context_iteration(NULL, TRUE);
	g_source_remove(tick);
	return ok;
}

typedef struct {
	gboolean done;
	gboolean ok;
	GError *error;
} Wait;

static void ready_cb(const AlkSandbox *sb, const GError *error, gpointer data)
{
	Wait *w = data;
	w->ok = error == NULL;
	w->error = error != NULL ? g_error_copy(error) : NULL;
	w->done = TRUE;
}

static gboolean wait_done(gpointer data)
{
	return ((Wait *)data)->done;
}

char *alk_test_core_boot(AlkTestCore *t, const AlkSandboxRequest *req, GError **error)
{
	const AlkSandbox *sb = alk_manager_create(t->manager, req, error);
	Wait w = {0};
	g_autofree char *id = NULL;
	AlkManagerWait *wait = NULL;

	if (sb == NULL)
		return NULL;
	id = g_strdup(sb->id);
	if (!alk_manager_wait(t->manager, id, ALK_SANDBOX_READY, ready_cb, &w, &wait, error))
		return NULL;
	if (!alk_test_loop_until(wait_done, &w, 300)) {
		alk_manager_wait_cancel(wait);
		g_set_error(error, ALK_ERROR, ALK_ERROR_TIMEOUT, "sandbox %s not ready", id);
		return NULL;
	}
	if (!w.ok) {
		g_propagate_error(error, w.error);
		return NULL;
	}
	return g_steal_pointer(&id);
}

AlkSandboxState alk_test_core_seen(AlkTestCore *t, const char *id)
{
	gpointer v = g_hash_table_lookup(t->seen, id);
	return v != NULL ? (AlkSandboxState)(GPOINTER_TO_INT(v) - 1) : ALK_SANDBOX_CREATING;
}

typedef struct {
	AlkTestCore *t;
	const char *id;
	AlkSandboxState state;
} StateWait;

static gboolean state_reached(gpointer data)
{
	StateWait *w = data;
	return alk_test_core_seen(w->t, w->id) == w->state;
}

gboolean alk_test_core_wait_state(AlkTestCore *t, const char *id, AlkSandboxState state,
                                  guint timeout_s)
{
	StateWait w = {t, id, state};
	return alk_test_loop_until(state_reached, &w, timeout_s);
}

static void run_output(AlkTask *task, int stream, const guint8 *d, gsize len, gpointer data)
{
	AlkTestRun *r = data;
	g_string_append_len(stream == ALK_MSG_STDOUT ? r->out : r->err, (const char *)d, len);
}

static void run_done(AlkTask *task, const AlkTaskResult *result, gpointer data)
{
	AlkTestRun *r = data;
	const AlkMsgExit *exit = result->exit;
	r->exit_code = exit->exit_code;
	r->signo = exit->signo;
	r->timed_out = exit->timed_out;
	r->done = TRUE;
}

static void run_failed(AlkTask *task, const GError *error, gpointer data)
{
	AlkTestRun *r = data;
	r->error = g_error_copy(error);
	r->done = TRUE;
}

static gboolean run_finished(gpointer data)
{
	return ((AlkTestRun *)data)->done;
}

gboolean alk_test_core_sh(AlkTestCore *t, const char *id, const char *cmd, AlkTestRun *r)
{
	static const AlkTaskCallbacks cb = {
	    .output = run_output, .done = run_done, .failed = run_failed};
	AlkMsgExec msg = {.argc = 3, .argv = {"/bin/sh", "-c", cmd}};

	memset(r, 0, sizeof(*r));
	r->out = g_string_new(NULL);
	r->err = g_string_new(NULL);
	if (alk_manager_exec(t->manager, id, &msg, &cb, r, &r->error) == NULL)
		return FALSE;
	if (!alk_test_loop_until(run_finished, r, 300)) {
		r->error = g_error_new(ALK_ERROR, ALK_ERROR_TIMEOUT, "exec did not end");
		return FALSE;
	}
	return r->error == NULL;
}

void alk_test_run_clear(AlkTestRun *r)
{
	if (r->out != NULL)
		g_string_free(r->out, TRUE);
	if (r->err != NULL)
		g_string_free(r->err, TRUE);
	g_clear_error(&r->error);
	r->out = r->err = NULL;
}

gboolean alk_test_core_gone(AlkTestCore *t, const char *id)
{
	g_autofree char *state = g_build_filename(t->state_dir, "sandboxes", id, NULL);
	g_autofree char *run = g_build_filename(t->run_dir, "sandboxes", id, NULL);
	g_autofree char *name = g_strconcat("airlock-", id, NULL);
	virDomainPtr dom;
	gboolean gone;

	/* one connection for the test's life: opening one per poll would churn
	 * libvirt's handles in the very main loop the manager runs on */
	if (t->conn == NULL)
		t->conn = virConnectOpen(t->config->libvirt_uri);
	dom = t->conn != NULL ? virDomainLookupByName(t->conn, name) : NULL;
	gone = t->conn != NULL && dom == NULL && !g_file_test(state, G_FILE_TEST_EXISTS) &&
	       !g_file_test(run, G_FILE_TEST_EXISTS);
	if (dom != NULL)
		virDomainFree(dom);
	return gone;
}
