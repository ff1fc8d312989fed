/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-test-cli.h"

#include <gio/gio.h>
#include <string.h>
#include <sys/wait.h>

static char *socket_path;

void alk_test_cli_clear(AlkTestCli *r)
{
	g_clear_pointer(&r->out, g_bytes_unref);
	g_clear_pointer(&r->err, g_bytes_unref);
	g_clear_pointer(&r->out_text, g_free);
	g_clear_pointer(&r->err_text, g_free);
}

const char *alk_test_cli_bin(void)
{
	const char *env = g_getenv("ALK_CLI_BIN");

	return env != NULL && env[0] != '\0' ? env : ALK_CLI_BIN;
}

void alk_test_cli_set_socket(const char *path)
{
	g_free(socket_path);
	socket_path = g_strdup(path);
}

typedef struct {
	GAsyncResult *res;
	gboolean expired;
} Wait;

static void done(GObject *source, GAsyncResult *res, gpointer data)
{
	((Wait *)data)->res = g_object_ref(res);
}

static gboolean expire(gpointer data)
{
	((Wait *)data)->expired = TRUE;
	return G_SOURCE_REMOVE;
}

static GSubprocess *spawn(const char *const *args, GSubprocessFlags flags, GError **error)
{
	g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(flags);
	g_autoptr(GPtrArray) argv = g_ptr_array_new();

	g_ptr_array_add(argv, (gpointer)alk_test_cli_bin());
	for (guint i = 0; args[i] != NULL; i++)
		g_ptr_array_add(argv, (gpointer)args[i]);
	g_ptr_array_add(argv, NULL);
	if (socket_path != NULL)
		g_subprocess_launcher_setenv(l, "AIRLOCK_SOCKET", socket_path, TRUE);
	g_subprocess_launcher_unsetenv(l, "AIRLOCK_URL");
	return g_subprocess_launcher_spawnv(l, (const char *const *)argv->pdata, error);
}

static int exit_status(GSubprocess *p)
{
	if (g_subprocess_get_if_exited(p))
		return g_subprocess_get_exit_status(p);
	return 128 + g_subprocess_get_term_sig(p);
}

static char *text_of(GBytes *b)
{
	gsize len = 0;
	const char *data = b != NULL ? g_bytes_get_data(b, &len) : NULL;

	return g_strndup(data != NULL ? data : "", len);
}

void alk_test_cli_run(const char *const *args, GBytes *input, guint timeout_s, AlkTestCli *r)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GSubprocess) p =
	    spawn(args,
	          G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
	              G_SUBPROCESS_FLAGS_STDERR_PIPE,
	          &error);
	g_autoptr(GMainContext) ctx = g_main_context_new();
	g_autoptr(GSource) timer = g_timeout_source_new_seconds(timeout_s);
	g_autoptr(GBytes) none = g_bytes_new_static("", 0);
	Wait w = {NULL, FALSE};

	memset(r, 0, sizeof *r);
	g_assert_no_error(error);
	g_main_context_push_thread_default(ctx);
	g_source_set_callback(timer, expire, &w, NULL);
	g_source_attach(timer, ctx);
	g_subprocess_communicate_async(p, input != NULL ? input : none, NULL, done, &w);
	while (w.res == NULL && !w.expired)
		g_main_context_iteration(ctx, TRUE);
	if (w.res == NULL) {
		g_subprocess_force_exit(p);
		while (w.res == NULL)
			g_main_context_iteration(ctx, TRUE);
	}
	g_subprocess_communicate_finish(p, w.res, &r->out, &r->err, NULL);
	g_object_unref(w.res);
	g_source_destroy(timer);
	g_main_context_pop_thread_default(ctx);
	r->status = w.expired ? -1 : exit_status(p);
	r->out_text = text_of(r->out);
	r->err_text = text_of(r->err);
}

GSubprocess *alk_test_cli_spawn(const char *const *args, GError **error)
{
	return spawn(args, G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
	             error);
}

int alk_test_cli_wait(GSubprocess *p, guint timeout_s)
{
	g_autoptr(GMainContext) ctx = g_main_context_new();
	g_autoptr(GSource) timer = g_timeout_source_new_seconds(timeout_s);
	Wait w = {NULL, FALSE};

	g_main_context_push_thread_default(ctx);
	g_source_set_callback(timer, expire, &w, NULL);
	g_source_attach(timer, ctx);
	g_subprocess_wait_async(p, NULL, done, &w);
	while (w.res == NULL && !w.expired)
		g_main_context_iteration(ctx, TRUE);
	if (w.res == NULL) {
		/* the wait stays pending; killing it ends it */
		g_subprocess_force_exit(p);
		while (w.res == NULL)
			g_main_context_iteration(ctx, TRUE);
	}
	g_object_unref(w.res);
	g_source_destroy(timer);
	g_main_context_pop_thread_default(ctx);
	return w.expired ? -1 : exit_status(p);
}

void alk_test_cli_runf(AlkTestCli *r, guint timeout_s, const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	g_autofree char *line = g_strdup_vprintf(format, ap);
	va_end(ap);
	g_auto(GStrv) args = g_strsplit(line, " ", -1);
	alk_test_cli_run((const char *const *)args, NULL, timeout_s, r);
}

char *alk_test_cli_last_line(const AlkTestCli *r)
{
	g_autofree char *copy = g_strstrip(g_strdup(r->out_text));
	const char *nl = strrchr(copy, '\n');

	return g_strdup(nl != NULL ? nl + 1 : copy);
}
