/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The REST server: its sockets, its libsoup server, its tokens, the
 * sandbox watch that audits ends and keeps the metrics in step, and the
 * resources' hooks into its own end. */
#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alk-api-mcp.h"
#include "alk-api-tools-anthropic.h"
#include "alk-error.h"
#include "alk-json.h"

#define LISTEN_BACKLOG 128

/* The resources with hooks into the API's own life (alk-api-private.h). */
static const AlkApiResource *const resources[] = {
    &alk_api_call_resource,
    &alk_api_mcp_resource,
    &alk_api_tools_resource,
    &alk_api_watch_resource,
};

GPtrArray *alk_api_values(GHashTable *table)
{
	GPtrArray *out = g_ptr_array_new();
	GHashTableIter it;
	gpointer value;

	g_hash_table_iter_init(&it, table);
	while (g_hash_table_iter_next(&it, NULL, &value))
		g_ptr_array_add(out, value);
	return out;
}

static gid_t lookup_group(const char *name)
{
	struct group gr, *found = NULL;
	char buf[4096];

	if (getgrnam_r(name, &gr, buf, sizeof(buf), &found) != 0 || found == NULL)
		return (gid_t)-1;
	return gr.gr_gid;
}

AlkApi *alk_api_new(AlkConfig *config, AlkManager *manager, AlkAudit *audit, AlkMetrics *metrics)
{
	AlkApi *api = g_new0(AlkApi, 1);

	api->config = config;
	api->manager = manager;
	api->audit = audit;
	api->metrics = metrics;
	api->group = lookup_group(config->api.socket_group);
	if (api->group == (gid_t)-1)
		g_warning("group %s does not exist: only root may use the API socket",
		          config->api.socket_group);
	/* raw paths: routing decodes segment by segment (alk-api-route.c) */
	api->server =
	    soup_server_new("server-header", "airlockd/" ALK_VERSION, "raw-paths", TRUE, NULL);
	api->conns = g_hash_table_new_full(NULL, NULL, (GDestroyNotify)alk_api_conn_unref, NULL);
	api->peers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	api->reqs = g_hash_table_new(NULL, NULL);
	api->states = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	api->routes = alk_api_routes(&api->n_routes);
	if (audit != NULL)
		alk_audit_set_node(audit, config->cluster.node);
	if (config->cluster.etcd[0] != '\0') {
		g_autoptr(GError) error = NULL;
		/* the config was checked: only a bad endpoint count is left */
		api->cluster = alk_cluster_new(config, manager, audit, &error);
		if (api->cluster == NULL)
			g_warning("%s: this node stays out of etcd", error->message);
	}
	alk_api_req_setup(api);
	return api;
}

gboolean alk_api_load_tokens(AlkApi *api, GError **error)
{
	g_autoptr(GError) local = NULL;
	AlkTokens *tokens = alk_tokens_load(api->config->api.tokens_file, 0, &local);

	if (tokens == NULL && !g_error_matches(local, ALK_ERROR, ALK_ERROR_NOT_FOUND)) {
		g_propagate_prefixed_error(error, g_steal_pointer(&local), "api.tokens_file: ");
		return FALSE;
	}
	g_clear_pointer(&api->tokens, alk_tokens_free);
	api->tokens = tokens;
	if (tokens == NULL && api->config->api.listen[0] != '\0')
		g_warning("%s does not exist: every TCP request will be refused",
		          api->config->api.tokens_file);
	return TRUE;
}

/* ---- sockets ---- */

static gboolean on_incoming(GSocketService *service, GSocketConnection *sockconn, GObject *source,
                            gpointer data)
{
	GSocket *sock = g_socket_connection_get_socket(sockconn);
	alk_api_conn_accept(data, sockconn, g_socket_get_family(sock) != G_SOCKET_FAMILY_UNIX);
	return TRUE;
}

/* A socket file left by a daemon that died is removed; one somebody
 * listens on is not. */
static gboolean clear_stale(const char *path, GError **error)
{
	struct stat st;
	g_autoptr(GSocket) probe = NULL;
	g_autoptr(GSocketAddress) addr = NULL;

	if (lstat(path, &st) < 0)
		return TRUE;
	if (!S_ISSOCK(st.st_mode)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "%s exists and is not a socket", path);
		return FALSE;
	}
	probe = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, 0, NULL);
	addr = g_unix_socket_address_new(path);
	if (probe != NULL && g_socket_connect(probe, addr, NULL, NULL)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "%s: another airlockd listens there",
		            path);
		return FALSE;
	}
	if (g_unlink(path) < 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "removing %s: %s", path,
		            g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

static gboolean set_socket_access(AlkApi *api, const char *path, GError **error)
{
	gboolean group = api->group != (gid_t)-1;

	if (chmod(path, group ? 0660 : 0600) < 0 || (group && chown(path, 0, api->group) < 0)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "%s: %s", path, g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

static GSocket *bind_unix(AlkApi *api, GError **error)
{
	const char *path = api->config->api.socket;
	g_autofree char *dir = g_path_get_dirname(path);
	g_autoptr(GSocket) sock = NULL;
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
	gboolean ok;
	mode_t old;

	if (g_mkdir_with_parents(dir, 0755) < 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "creating %s: %s", dir,
		            g_strerror(errno));
		return NULL;
	}
	if (!clear_stale(path, error))
		return NULL;
	sock = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, 0, error);
	if (sock == NULL)
		return NULL;
	/* nobody but root between bind and chmod */
	old = umask(0177);
	ok = g_socket_bind(sock, addr, FALSE, error);
	umask(old);
	if (!ok)
		return NULL;
	api->socket_path = g_strdup(path);
	if (!set_socket_access(api, path, error))
		return NULL;
	g_socket_set_listen_backlog(sock, LISTEN_BACKLOG);
	return g_socket_listen(sock, error) ? g_steal_pointer(&sock) : NULL;
}

/* A TCP listener on listen ("ADDRESS:PORT", the config key's value). */
static GSocket *bind_tcp(const char *listen, GError **error)
{
	g_autofree char *host = NULL;
	guint16 port = 0;
	g_autoptr(GInetAddress) inet = NULL;
	g_autoptr(GSocketAddress) addr = NULL;
	g_autoptr(GSocket) sock = NULL;

	if (!alk_config_parse_listen(listen, &host, &port, error))
		return NULL;
	inet = g_inet_address_new_from_string(host);
	addr = g_inet_socket_address_new(inet, port);
	sock = g_socket_new(g_inet_address_get_family(inet), G_SOCKET_TYPE_STREAM,
	                    G_SOCKET_PROTOCOL_TCP, error);
	if (sock == NULL || !g_socket_bind(sock, addr, TRUE, error))
		return NULL;
	g_socket_set_listen_backlog(sock, LISTEN_BACKLOG);
	if (!g_socket_listen(sock, error))
		return NULL;
	return g_steal_pointer(&sock);
}

/* HAProxy's agent-check: one line, the share of capacity left ("37%"),
 * then the connection closes. Nothing is read: the proxy sends nothing. */
static gboolean on_agent_check(GSocketService *service, GSocketConnection *conn, GObject *src,
                               gpointer data)
{
	AlkApi *api = data;
	g_autofree char *line = g_strdup_printf("%u%%\n", alk_manager_capacity_pct(api->manager));
	GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(conn));

	/* a few bytes into a new socket's empty buffer: this does not block */
	g_output_stream_write_all(out, line, strlen(line), NULL, NULL, NULL);
	g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
	return TRUE;
}

static gboolean listen_agent_check(AlkApi *api, GError **error)
{
	g_autoptr(GSocket) sock = NULL;

	if (api->config->cluster.agent_listen[0] == '\0')
		return TRUE;
	sock = bind_tcp(api->config->cluster.agent_listen, error);
	api->agent_service = g_socket_service_new();
	if (sock == NULL || !g_socket_listener_add_socket(G_SOCKET_LISTENER(api->agent_service),
	                                                  sock, NULL, error)) {
		g_prefix_error(error,
		               "cluster.agent_listen %s: ", api->config->cluster.agent_listen);
		return FALSE;
	}
	g_signal_connect(api->agent_service, "incoming", G_CALLBACK(on_agent_check), api);
	return TRUE;
}

/* daemon.tls_cert, tls_key, tls_client_ca, read once at start (a new
 * certificate takes a restart). */
static gboolean load_tls(AlkApi *api, GError **error)
{
	const AlkConfig *c = api->config;

	if (c->tls_cert[0] == '\0')
		return TRUE;
	if (!g_tls_backend_supports_tls(g_tls_backend_get_default())) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_FAILED,
		            "daemon.tls_cert: GLib has no TLS backend (install glib-networking)");
		return FALSE;
	}
	api->tls = g_tls_certificate_new_from_files(c->tls_cert, c->tls_key, error);
	if (api->tls == NULL) {
		g_prefix_error(error, "daemon.tls_cert %s, tls_key %s: ", c->tls_cert, c->tls_key);
		return FALSE;
	}
	if (c->tls_client_ca[0] != '\0' &&
	    (api->tls_clients = g_tls_file_database_new(c->tls_client_ca, error)) == NULL) {
		g_prefix_error(error, "daemon.tls_client_ca %s: ", c->tls_client_ca);
		return FALSE;
	}
	return TRUE;
}

gboolean alk_api_listen(AlkApi *api, GSocket *activated, GError **error)
{
	g_autoptr(GSocket) local =
	    activated != NULL ? g_object_ref(activated) : bind_unix(api, error);
	g_autoptr(GSocket) tcp = NULL;

	if (local == NULL)
		return FALSE;
	/* inactive until every socket is in: adding one to an accepting service
	 * cancels its accept, and a connection already pending (socket
	 * activation) would be accepted and dropped */
	api->service = g_object_new(G_TYPE_SOCKET_SERVICE, "active", FALSE, NULL);
	g_signal_connect(api->service, "incoming", G_CALLBACK(on_incoming), api);
	if (!g_socket_listener_add_socket(G_SOCKET_LISTENER(api->service), local, NULL, error))
		return FALSE;
	if (!load_tls(api, error))
		return FALSE;
	if (api->config->api.listen[0] != '\0') {
		tcp = bind_tcp(api->config->api.listen, error);
		if (tcp == NULL || !g_socket_listener_add_socket(G_SOCKET_LISTENER(api->service),
		                                                 tcp, NULL, error)) {
			g_prefix_error(error, "api.listen %s: ", api->config->api.listen);
			return FALSE;
		}
		if (!alk_config_listen_is_loopback(api->config->api.listen) && api->tls == NULL)
			g_warning("api.listen %s is not a loopback address: bearer tokens and data "
			          "cross the network unencrypted",
			          api->config->api.listen);
	}
	if (!listen_agent_check(api, error))
		return FALSE;
	if (api->cluster != NULL) {
		g_autoptr(GPtrArray) all = alk_manager_list(api->manager);
		for (guint i = 0; i < all->len; i++)
			alk_api_sandbox_changed(api, g_ptr_array_index(all, i));
		alk_cluster_start(api->cluster);
	}
	g_socket_service_start(api->service);
	return TRUE;
}

void alk_api_stop_accepting(AlkApi *api)
{
	if (api->service != NULL) {
		g_socket_service_stop(api->service);
		g_socket_listener_close(G_SOCKET_LISTENER(api->service));
	}
	if (api->agent_service != NULL) {
		g_socket_service_stop(api->agent_service);
		g_socket_listener_close(G_SOCKET_LISTENER(api->agent_service));
	}
	if (api->socket_path != NULL)
		g_unlink(api->socket_path);
	g_clear_pointer(&api->socket_path, g_free);
}

void alk_api_abort(AlkApi *api)
{
	alk_api_req_abort_all(api);
}

guint alk_api_count_busy(AlkApi *api)
{
	return g_hash_table_size(api->reqs);
}

/* ---- the sandbox watch ---- */

static void count_states(AlkApi *api, const AlkSandbox *changed)
{
	static const AlkSandboxState counted[] = {ALK_SANDBOX_CREATING, ALK_SANDBOX_BOOTING,
	                                          ALK_SANDBOX_READY,    ALK_SANDBOX_PAUSED,
	                                          ALK_SANDBOX_STOPPING, ALK_SANDBOX_FAILED};
	g_autoptr(GPtrArray) all = alk_manager_list(api->manager);
	guint n[ALK_SANDBOX_N_STATES] = {0};

	g_autoptr(GArray) pool = alk_manager_pool_status(api->manager);

	for (guint i = 0; i < all->len; i++) {
		const AlkSandbox *sb = g_ptr_array_index(all, i);
		if (sb->pool == NULL && sb->state < ALK_SANDBOX_N_STATES &&
		    sb->state != ALK_SANDBOX_DESTROYED)
			n[sb->state]++;
	}
	for (guint i = 0; i < G_N_ELEMENTS(counted); i++)
		alk_metrics_set(
		    api->metrics, ALK_METRIC_SANDBOXES,
		    (const char *const[]){"state", alk_sandbox_state_name(counted[i]), NULL},
		    n[counted[i]], NULL);
	for (guint i = 0; i < pool->len; i++) {
		const AlkPoolStatus *st = &g_array_index(pool, AlkPoolStatus, i);
		alk_metrics_set(api->metrics, ALK_METRIC_POOL,
		                (const char *const[]){"key", st->key, "state", "ready", NULL},
		                st->ready, NULL);
		alk_metrics_set(api->metrics, ALK_METRIC_POOL,
		                (const char *const[]){"key", st->key, "state", "starting", NULL},
		                st->starting, NULL);
	}
}

/* The state last seen, so that an end is counted and audited once. */
static void remember_state(AlkApi *api, const AlkSandbox *sb)
{
	if (alk_sandbox_is_live(sb) || sb->state == ALK_SANDBOX_FAILED)
		g_hash_table_insert(api->states, g_strdup(sb->id), GINT_TO_POINTER(sb->state + 1));
	else
		g_hash_table_remove(api->states, sb->id);
	/* failed ones are forgotten without a word: keep the set small */
	if (g_hash_table_size(api->states) > 4 * api->config->max_sandboxes + 128)
		g_hash_table_remove_all(api->states);
}

/* Once per sandbox: its end, with why and, for a networked one, what its
 * network did (the counters as the manager last read them). */
static void audit_end(AlkApi *api, const AlkSandbox *sb)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) result = NULL;

	json_builder_begin_object(b);
	alk_json_add_string(b, "state", alk_sandbox_state_name(sb->state));
	alk_json_add_string(b, "reason", sb->end_reason);
	alk_json_add_string(b, "error", sb->error != NULL ? sb->error->message : NULL);
	if (sb->limits.network != ALK_NET_NONE)
		alk_api_json_add_network(b, sb);
	/* the attachments it lets go (released once its domain is gone) */
	if (sb->nvolumes != 0)
		alk_sandbox_add_volumes_json(b, sb);
	json_builder_end_object(b);
	result = json_builder_get_root(b);
	alk_api_audit(api, "airlockd", "sandbox.end", sb->id, NULL, result);
}

/* The sandbox's record in etcd: the API's Sandbox and its node; gone
 * once destroyed. */
static void publish(AlkApi *api, const AlkSandbox *sb)
{
	g_autoptr(JsonNode) record = NULL;

	if (sb->state != ALK_SANDBOX_DESTROYED) {
		record = alk_api_json_sandbox_node(sb, NULL);
		json_object_set_string_member(json_node_get_object(record), "node",
		                              api->config->cluster.node);
	}
	alk_cluster_publish(api->cluster, sb->id, record);
}

typedef struct {
	void (*done)(gpointer);
	gpointer data;
} Finish;

static gboolean finish_idle(gpointer p)
{
	Finish *f = p;
	f->done(f->data);
	g_free(f);
	return G_SOURCE_REMOVE;
}

void alk_api_finish_cluster(AlkApi *api, void (*done)(gpointer), gpointer data)
{
	Finish *f;

	if (api->cluster != NULL) {
		alk_cluster_final_anchor(api->cluster, done, data);
		return;
	}
	f = g_new0(Finish, 1);
	f->done = done;
	f->data = data;
	g_idle_add(finish_idle, f);
}

void alk_api_sandbox_changed(AlkApi *api, const AlkSandbox *sb)
{
	gpointer seen = g_hash_table_lookup(api->states, sb->id);
	/* a failed one is kept (and may be notified again) until forgotten */
	gboolean failed =
	    sb->state == ALK_SANDBOX_FAILED && GPOINTER_TO_INT(seen) != ALK_SANDBOX_FAILED + 1;

	if (failed || sb->state == ALK_SANDBOX_DESTROYED) {
		audit_end(api, sb);
		for (guint i = 0; i < G_N_ELEMENTS(resources); i++)
			if (resources[i]->sandbox_ended != NULL)
				resources[i]->sandbox_ended(api, sb);
	}
	remember_state(api, sb);
	if (api->cluster != NULL && sb->pool == NULL)
		publish(api, sb);
	if (api->metrics != NULL) {
		if (failed)
			alk_metrics_add(
			    api->metrics, ALK_METRIC_FAILURES,
			    (const char *const[]){"reason", alk_api_error_code(sb->error), NULL}, 1,
			    NULL);
		count_states(api, sb);
		alk_metrics_set(api->metrics, ALK_METRIC_LIBVIRT_UP, NULL,
		                alk_manager_libvirt_up(api->manager), NULL);
	}
}

/* Sessions still open are not ours to finish any more. */
static void forget_requests(AlkApi *api)
{
	g_autoptr(GPtrArray) left = alk_api_values(api->reqs);
	for (guint i = 0; i < left->len; i++)
		((AlkApiReq *)g_ptr_array_index(left, i))->done = TRUE;
}

void alk_api_free(AlkApi *api)
{
	if (api == NULL)
		return;
	alk_api_stop_accepting(api);
	/* answers still waiting for their audit lines' sync go out now, while
	 * their requests exist */
	if (api->audit != NULL)
		alk_audit_flush(api->audit, NULL);
	for (guint i = 0; i < G_N_ELEMENTS(resources); i++) {
		if (resources[i]->api_free != NULL)
			resources[i]->api_free(api);
	}
	/* ends libsoup's connections: their requests end (and are audited) now */
	soup_server_disconnect(api->server);
	alk_api_conn_close_all(api);
	forget_requests(api);
	g_clear_object(&api->service);
	g_clear_object(&api->agent_service);
	g_clear_pointer(&api->cluster, alk_cluster_free);
	g_clear_object(&api->tls);
	g_clear_object(&api->tls_clients);
	g_clear_object(&api->server);
	g_hash_table_destroy(api->conns);
	g_hash_table_destroy(api->peers);
	g_hash_table_destroy(api->reqs);
	g_hash_table_destroy(api->states);
	g_clear_handle_id(&api->refusals_timer, g_source_remove);
	alk_api_audit_flush_refusals(api, TRUE);
	alk_audit_throttle_free(api->refusals);
	alk_tokens_free(api->tokens);
	g_free(api);
}
