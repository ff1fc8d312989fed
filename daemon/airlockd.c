/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlockd: loads the configuration, starts the sandbox manager (which
 * adopts what a previous run left running, and goes on reconciling and
 * probing KVM on the loop) and the REST server at once, and on
 * SIGTERM/SIGINT stops accepting, lets requests in flight finish for a
 * moment and exits with the sandboxes still running, to be adopted by the
 * next start. SIGHUP re-reads the tokens file. */
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>

#include "alk-api.h"
#include "alk-audit.h"
#include "alk-config.h"
#include "alk-manager.h"
#include "alk-metrics.h"
#include "alk-systemd.h"

/* How long requests in flight get to finish on SIGTERM, then how long
 * their refusals get to go out. */
#define DRAIN_S 5
#define ABORT_S 2

typedef struct {
	GMainLoop *loop;
	AlkConfig *config;
	AlkAudit *audit;
	AlkMetrics *metrics;
	AlkManager *manager;
	AlkApi *api;
	int signo;
	gboolean stopping; /* SIGTERM seen: the final anchor is being written */
} AlkDaemon;

static void on_sandbox(AlkManager *m, const AlkSandbox *sb, gpointer data)
{
	AlkDaemon *d = data;
	if (d->api != NULL)
		alk_api_sandbox_changed(d->api, sb);
}

static void quit(gpointer data)
{
	g_main_loop_quit(((AlkDaemon *)data)->loop);
}

static gboolean on_stop(gpointer data)
{
	AlkDaemon *d = data;

	if (d->stopping) {
		/* a second signal does not wait for the final anchor */
		quit(d);
		return G_SOURCE_CONTINUE;
	}
	d->stopping = TRUE;
	g_message("stopping: sandboxes keep running and are adopted on the next start");
	if (d->api != NULL)
		alk_api_finish_cluster(d->api, quit, d); /* the last audit anchor first */
	else
		quit(d);
	return G_SOURCE_CONTINUE;
}

static gboolean on_hup(gpointer data)
{
	AlkDaemon *d = data;
	g_autoptr(GError) error = NULL;

	if (!alk_api_load_tokens(d->api, &error))
		g_warning("keeping the tokens loaded before: %s", error->message);
	else
		g_message("tokens file re-read");
	return G_SOURCE_CONTINUE;
}

static void notify(const char *state)
{
	g_autoptr(GError) error = NULL;
	if (!alk_systemd_notify(state, &error))
		g_warning("%s", error->message);
}

static gboolean open_audit(AlkDaemon *d, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(d->config->api.audit_log);
	g_autofree char *head_dir = g_path_get_dirname(d->config->api.audit_head);
	g_autoptr(GBytes) key = NULL;

	if (d->config->api.audit_key != NULL &&
	    (key = alk_audit_key_load(d->config->api.audit_key, error)) == NULL) {
		g_prefix_error(error, "audit log: ");
		return FALSE;
	}
	g_mkdir_with_parents(dir, 0711);
	g_mkdir_with_parents(head_dir, 0711);
	d->audit = alk_audit_open_keyed(d->config->api.audit_log, d->config->api.audit_head, TRUE,
	                                key, error);
	if (d->audit == NULL) {
		g_prefix_error(error, "audit log: ");
		return FALSE;
	}
	if (alk_audit_get_chain_break(d->audit) != NULL)
		g_warning("audit log %s: %s", d->config->api.audit_log,
		          alk_audit_get_chain_break(d->audit));
	return TRUE;
}

static gboolean start(AlkDaemon *d, GSocket *activated, GError **error)
{
	if (!open_audit(d, error))
		return FALSE;
	d->metrics = alk_metrics_new_airlock();
	d->manager = alk_manager_new(d->config);
	d->api = alk_api_new(d->config, d->manager, d->audit, d->metrics);
	alk_manager_set_watch(d->manager, on_sandbox, d);
	if (!alk_api_load_tokens(d->api, error))
		return FALSE;
	if (!alk_manager_start(d->manager, error)) {
		g_prefix_error(error, "starting the sandbox manager: ");
		return FALSE;
	}
	return alk_api_listen(d->api, activated, error);
}

static gboolean time_up(gpointer data)
{
	*(gboolean *)data = TRUE;
	return G_SOURCE_REMOVE;
}

/* Runs the loop until no request is in flight or seconds pass. */
static void drain(AlkDaemon *d, guint seconds)
{
	gboolean up = FALSE;
	guint timer = g_timeout_add_seconds(seconds, time_up, &up);

	while (!up && alk_api_count_busy(d->api) > 0)
		g_main_context_iteration(NULL, TRUE);
	if (!up)
		g_source_remove(timer);
}

static void stop(AlkDaemon *d)
{
	if (d->api != NULL) {
		alk_api_stop_accepting(d->api);
		drain(d, DRAIN_S);
		alk_api_abort(d->api);
		drain(d, ABORT_S);
	}
	/* the sandboxes live on: the next start adopts them */
	if (d->manager != NULL)
		alk_manager_detach(d->manager);
	g_clear_pointer(&d->api, alk_api_free);
	g_clear_pointer(&d->manager, alk_manager_free);
	g_clear_pointer(&d->metrics, alk_metrics_free);
	g_clear_pointer(&d->audit, alk_audit_free);
	g_clear_pointer(&d->config, alk_config_free);
	g_clear_pointer(&d->loop, g_main_loop_unref);
}

static gboolean parse_args(int *argc, char ***argv, char **config, int *exit_code)
{
	gboolean version = FALSE, routes = FALSE;
	GOptionEntry entries[] = {
	    {"config", 'c', 0, G_OPTION_ARG_FILENAME, config,
	     "Configuration file (default " ALK_CONFIG_DEFAULT_PATH ")", "PATH"},
	    {"version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL},
	    {"print-routes", 0, 0, G_OPTION_ARG_NONE, &routes, "Print the REST routes and exit",
	     NULL},
	    {NULL, 0, 0, 0, NULL, NULL, NULL},
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("- the airlock sandbox daemon");
	g_autoptr(GError) error = NULL;

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, argc, argv, &error)) {
		g_printerr("airlockd: %s\n", error->message);
		*exit_code = 2;
		return FALSE;
	}
	if (version || routes) {
		g_autofree char *text = routes ? alk_api_describe_routes() : NULL;
		if (version)
			printf("airlockd %s\n", ALK_VERSION);
		else
			printf("%s", text);
		*exit_code = 0;
		return FALSE;
	}
	return TRUE;
}

int main(int argc, char **argv)
{
	AlkDaemon d = {0};
	g_autofree char *config_path = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocket) activated = NULL;
	int exit_code = 0;

	setlocale(LC_ALL, "");
	if (!parse_args(&argc, &argv, &config_path, &exit_code))
		return exit_code;
	signal(SIGPIPE, SIG_IGN);
	/* first, while there is one thread: it unsets LISTEN_* */
	activated = alk_systemd_listen_socket(&error);
	if (error != NULL) {
		g_printerr("airlockd: %s\n", error->message);
		return 1;
	}
	d.config = alk_config_load(config_path, &error);
	if (d.config == NULL) {
		g_printerr("airlockd: %s\n", error->message);
		return 1;
	}
	d.loop = g_main_loop_new(NULL, FALSE);
	g_unix_signal_add(SIGTERM, on_stop, &d);
	g_unix_signal_add(SIGINT, on_stop, &d);
	if (!start(&d, activated, &error)) {
		g_printerr("airlockd: %s\n", error->message);
		stop(&d);
		return 1;
	}
	g_unix_signal_add(SIGHUP, on_hup, &d);
	notify("READY=1");
	g_message("airlockd %s ready on %s%s%s (virt type %s%s)", ALK_VERSION,
	          activated != NULL ? "the socket systemd passed" : d.config->api.socket,
	          d.config->api.listen[0] != '\0' ? " and " : "", d.config->api.listen,
	          alk_manager_virt_type(d.manager),
	          alk_manager_kvm_probe(d.manager) == ALK_KVM_PROBE_RUNNING
	              ? ": the KVM probe runs, creates wait for it"
	              : "");
	g_main_loop_run(d.loop);
	notify("STOPPING=1");
	stop(&d);
	return 0;
}
