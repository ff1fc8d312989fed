/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* /v1/sandboxes and /v1/sandboxes/{id}: create (optionally waiting until
 * ready), list, inspect, destroy (optionally waiting until gone). Waiting
 * requests are the manager's waits (alk_manager_wait). */
#include <string.h>

#include "alk-api-private.h"
#include "alk-error.h"
#include "alk-json.h"

static void reply_sandbox(AlkApiReq *req, guint status, const AlkSandbox *sb, const char *state)
{
	g_autoptr(JsonNode) node = alk_api_json_sandbox_node(sb, state);
	alk_api_reply_json(req, status, node);
}

/* ---- waiting: the manager's waits, answered here ---- */

static void wait_settled(const AlkSandbox *sb, const GError *error, gpointer data)
{
	AlkApiReq *req = data;

	alk_api_req_detach(req);
	if (error != NULL)
		alk_api_reply_error(req, error);
	else
		reply_sandbox(req,
		              sb->state == ALK_SANDBOX_READY ? SOUP_STATUS_CREATED : SOUP_STATUS_OK,
		              sb, NULL);
}

static void wait_abort(AlkApiReq *req, gpointer data)
{
	g_autoptr(GError) error = NULL;

	alk_api_req_detach(req);
	alk_manager_wait_cancel(data);
	if (req->aborted) {
		alk_api_req_release(req);
		return;
	}
	error = g_error_new(ALK_ERROR, ALK_ERROR_UNAVAILABLE, "airlockd is stopping");
	alk_api_reply_error(req, error);
}

/* The wait is the manager's: cancelled on abort, ended by wait_settled. */
static const AlkApiReqHooks wait_hooks = {.abort = wait_abort};

static void add_wait(AlkApiReq *req, const char *id, AlkSandboxState until)
{
	AlkManagerWait *wait = NULL;
	g_autoptr(GError) error = NULL;

	alk_api_req_hold(req);
	if (!alk_manager_wait(req->api->manager, id, until, wait_settled, req, &wait, &error)) {
		alk_api_reply_error(req, error);
		return;
	}
	if (wait == NULL)
		return; /* answered already */
	alk_api_req_attach(req, wait, NULL, &wait_hooks);
}

/* ---- the resources ---- */

/* What a create made: the sandbox as resolved (image, profile, limits,
 * network mode and allowlist, labels, deadline); the request line names it
 * too. */
static void audit_create(AlkApiReq *req, const AlkSandbox *sb)
{
	g_autoptr(JsonNode) node = alk_api_json_sandbox_node(sb, NULL);

	g_free(req->id);
	req->id = g_strdup(sb->id);
	alk_api_audit(req->api, req->caller, "sandbox.create", sb->id, NULL, node);
}

/* A create this node cannot admit and another might: no room, no such
 * image here, libvirt away. Refused before any side effect. */
static gboolean not_admitted(const GError *error)
{
	return g_error_matches(error, ALK_ERROR, ALK_ERROR_FULL) ||
	       g_error_matches(error, ALK_ERROR, ALK_ERROR_NOT_FOUND) ||
	       g_error_matches(error, ALK_ERROR, ALK_ERROR_UNAVAILABLE);
}

const AlkSandbox *alk_api_sandboxes_make(AlkApi *api, JsonObject *obj, GError **error)
{
	g_auto(AlkSandboxRequest) body = {0};
	const AlkSandbox *sb;

	if (!alk_request_from_json(obj, &body, error) ||
	    (sb = alk_manager_create(api->manager, &body, error)) == NULL)
		return NULL;
	if (api->metrics != NULL)
		alk_metrics_add(api->metrics, ALK_METRIC_CREATES, NULL, 1, NULL);
	return sb;
}

void alk_api_sandboxes_create(AlkApiReq *req)
{
	const char *wait = alk_api_query(req, "wait");
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) obj = NULL;
	g_autofree char *location = NULL;
	const AlkSandbox *sb;

	if (wait != NULL && g_strcmp0(wait, "ready") != 0) {
		error = g_error_new(ALK_ERROR, ALK_ERROR_INVALID, "wait must be \"ready\"");
	} else if ((obj = alk_api_req_json(req, &error)) != NULL &&
	           (sb = alk_api_sandboxes_make(req->api, obj, &error)) != NULL) {
		audit_create(req, sb);
		location = g_strconcat("/v1/sandboxes/", sb->id, NULL);
		soup_message_headers_replace(soup_server_message_get_response_headers(req->msg),
		                             "Location", location);
		if (wait != NULL)
			add_wait(req, sb->id, ALK_SANDBOX_READY);
		else
			reply_sandbox(req, SOUP_STATUS_CREATED, sb, NULL);
		return;
	}
	if (req->api->config->cluster.node[0] != '\0' && not_admitted(error)) {
		/* nothing was made: the proxy may try another node (it says 429
		 * when none can) */
		soup_message_headers_replace(soup_server_message_get_response_headers(req->msg),
		                             "X-Airlock-Full", "1");
		alk_api_reply_error_status(req, SOUP_STATUS_SERVICE_UNAVAILABLE, error);
		return;
	}
	alk_api_reply_error(req, error);
}

static gboolean label_matches(const AlkSandbox *sb, const char *filter)
{
	const char *eq = strchr(filter, '=');
	g_autofree char *key = g_strndup(filter, eq - filter);
	return g_strcmp0(g_hash_table_lookup(sb->labels, key), eq + 1) == 0;
}

static gboolean matches(AlkApiReq *req, const AlkSandbox *sb)
{
	/* warm pool members are nobody's until handed out */
	if (sb->pool != NULL)
		return FALSE;
	for (guint i = 0; i + 1 < req->query->len; i += 2) {
		if (g_strcmp0(g_ptr_array_index(req->query, i), "label") == 0 &&
		    !label_matches(sb, g_ptr_array_index(req->query, i + 1)))
			return FALSE;
	}
	return TRUE;
}

gboolean alk_api_labels_match(AlkApiReq *req, JsonObject *labels)
{
	for (guint i = 0; i + 1 < req->query->len; i += 2) {
		const char *filter = g_ptr_array_index(req->query, i + 1);
		const char *eq = strchr(filter, '=');
		g_autofree char *key = NULL;
		JsonNode *v;

		if (g_strcmp0(g_ptr_array_index(req->query, i), "label") != 0)
			continue;
		key = g_strndup(filter, eq - filter);
		v = labels != NULL ? json_object_get_member(labels, key) : NULL;
		if (v == NULL || !JSON_NODE_HOLDS_VALUE(v) ||
		    json_node_get_value_type(v) != G_TYPE_STRING ||
		    g_strcmp0(json_node_get_string(v), eq + 1) != 0)
			return FALSE;
	}
	return TRUE;
}

void alk_api_sandboxes_list(AlkApiReq *req)
{
	g_autoptr(GPtrArray) all = alk_manager_list(req->api->manager);
	g_autoptr(JsonBuilder) b = json_builder_new();
	const char *scope = alk_api_query(req, "scope");

	/* the route allows only "label" and "scope" */
	for (guint i = 0; i + 1 < req->query->len; i += 2) {
		if (g_strcmp0(g_ptr_array_index(req->query, i), "label") == 0 &&
		    strchr(g_ptr_array_index(req->query, i + 1), '=') == NULL) {
			g_autoptr(GError) error = g_error_new(ALK_ERROR, ALK_ERROR_INVALID,
			                                      "label filters are KEY=VALUE");
			alk_api_reply_error(req, error);
			return;
		}
	}
	if (scope != NULL && g_strcmp0(scope, "node") != 0 && g_strcmp0(scope, "cluster") != 0) {
		g_autoptr(GError) error = g_error_new(ALK_ERROR, ALK_ERROR_INVALID,
		                                      "scope must be \"node\" or \"cluster\"");
		alk_api_reply_error(req, error);
		return;
	}
	if (g_strcmp0(scope, "node") != 0 && req->api->cluster != NULL) {
		alk_api_cluster_list(req);
		return;
	}
	if (g_strcmp0(scope, "cluster") == 0) {
		g_autoptr(GError) error =
		    g_error_new(ALK_ERROR, ALK_ERROR_INVALID,
		                "this node is not in a cluster (no cluster.etcd)");
		alk_api_reply_error(req, error);
		return;
	}
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "sandboxes");
	json_builder_begin_array(b);
	for (guint i = 0; i < all->len; i++) {
		const AlkSandbox *sb = g_ptr_array_index(all, i);
		if (matches(req, sb))
			alk_api_json_sandbox(b, sb, NULL);
	}
	json_builder_end_array(b);
	json_builder_end_object(b);
	alk_api_reply_builder(req, SOUP_STATUS_OK, b);
}

void alk_api_sandboxes_get(AlkApiReq *req)
{
	g_autoptr(GError) error = NULL;
	const AlkSandbox *sb = alk_api_req_sandbox(req, &error);

	if (sb == NULL)
		alk_api_reply_error(req, error);
	else
		reply_sandbox(req, SOUP_STATUS_OK, sb, NULL);
}

void alk_api_sandboxes_delete(AlkApiReq *req)
{
	const char *wait = alk_api_query(req, "wait");
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) gone = NULL;
	const AlkSandbox *sb;

	if (wait != NULL && g_strcmp0(wait, "destroyed") != 0)
		error = g_error_new(ALK_ERROR, ALK_ERROR_INVALID, "wait must be \"destroyed\"");
	else if ((sb = alk_api_req_sandbox(req, &error)) != NULL)
		/* a failed sandbox is simply forgotten: answer with what it was */
		gone = alk_api_json_sandbox_node(sb, "destroyed");
	if (gone == NULL || !alk_manager_destroy(req->api->manager, req->id, &error)) {
		alk_api_reply_error(req, error);
		return;
	}
	sb = alk_manager_lookup(req->api->manager, req->id, NULL);
	if (sb == NULL)
		alk_api_reply_json(req, SOUP_STATUS_OK, gone);
	else if (!alk_sandbox_is_live(sb))
		reply_sandbox(req, SOUP_STATUS_OK, sb, NULL);
	else if (wait == NULL)
		reply_sandbox(req, SOUP_STATUS_ACCEPTED, sb, NULL);
	else
		add_wait(req, sb->id, ALK_SANDBOX_DESTROYED);
}
