/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The cluster-wide views of a clustered node (docs/cluster.md), each one
 * etcd range read: GET /v1/sandboxes (every node's sandboxes, as of their
 * last state change) and GET /v1/cluster (the nodes, their capacity, the
 * tokens file's hash and image digests). What etcd answers is checked as
 * hostile input: a record that is not a sandbox (or node) object of the
 * right shape is left out and counted, never passed on raw. */
#include <string.h>

#include "alk-api-private.h"
#include "alk-error.h"
#include "alk-json.h"

typedef struct {
	AlkApiReq *req; /* NULL once nobody waits */
	GCancellable *cancel;
	gboolean nodes; /* GET /v1/cluster, else the list */
} Read;

static void read_free(Read *r)
{
	g_object_unref(r->cancel);
	g_free(r);
}

static void on_abort(AlkApiReq *req, gpointer data)
{
	Read *r = data;
	g_autoptr(GError) error = NULL;

	alk_api_req_detach(req);
	r->req = NULL;
	g_cancellable_cancel(r->cancel);
	if (req->aborted) {
		alk_api_req_release(req);
		return;
	}
	error = g_error_new(ALK_ERROR, ALK_ERROR_UNAVAILABLE, "airlockd is stopping");
	alk_api_reply_error(req, error);
}

static const AlkApiReqHooks read_hooks = {.abort = on_abort};

/* A record's value as a JSON object, or NULL. */
static JsonObject *value_object(const AlkEtcdKv *kv)
{
	gsize len = 0;
	const char *data = g_bytes_get_data(kv->value, &len);

	return alk_json_parse_object(data, len, ALK_ETCD_MAX_VALUE, ALK_JSON_MAX_DEPTH, NULL);
}

static gboolean is_string(JsonObject *o, const char *member)
{
	JsonNode *n = json_object_get_member(o, member);
	return n != NULL && JSON_NODE_HOLDS_VALUE(n) &&
	       json_node_get_value_type(n) == G_TYPE_STRING;
}

/* The shape of a Sandbox the list may pass on: its key names its id, the id
 * is 12 hex starting with its node's tag, and the fields the list sorts and
 * filters on have their types. */
static gboolean sandbox_ok(const char *key, JsonObject *o)
{
	const char *id = key + strlen(ALK_CLUSTER_PREFIX "sandboxes/");
	JsonNode *labels = json_object_get_member(o, "labels");
	const char *node;

	if (!is_string(o, "id") || !is_string(o, "node") || !is_string(o, "created_at") ||
	    !is_string(o, "state") || g_strcmp0(json_object_get_string_member(o, "id"), id) != 0)
		return FALSE;
	if (strlen(id) != ALK_SANDBOX_ID_LEN || strspn(id, "0123456789abcdef") != strlen(id))
		return FALSE;
	node = json_object_get_string_member(o, "node");
	if (strlen(node) != 2 || strncmp(node, id, 2) != 0)
		return FALSE;
	if (labels != NULL && !JSON_NODE_HOLDS_OBJECT(labels))
		return FALSE;
	return TRUE;
}

static gint by_created(gconstpointer a, gconstpointer b)
{
	JsonObject *x = *(JsonObject *const *)a;
	JsonObject *y = *(JsonObject *const *)b;
	gint d = g_strcmp0(json_object_get_string_member(x, "created_at"),
	                   json_object_get_string_member(y, "created_at"));
	return d != 0 ? d
	              : g_strcmp0(json_object_get_string_member(x, "id"),
	                          json_object_get_string_member(y, "id"));
}

static void reply_list(AlkApiReq *req, GPtrArray *kvs)
{
	g_autoptr(GPtrArray) items =
	    g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);
	g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
	JsonObject *top = json_object_new();
	JsonArray *list = json_array_new();
	guint bad = 0;

	for (guint i = 0; i < kvs->len; i++) {
		const AlkEtcdKv *kv = g_ptr_array_index(kvs, i);
		JsonObject *o = value_object(kv);

		if (o == NULL || !sandbox_ok(kv->key, o)) {
			bad++;
			g_clear_pointer(&o, json_object_unref);
			continue;
		}
		JsonNode *labels = json_object_get_member(o, "labels");
		if (!alk_api_labels_match(req,
		                          labels != NULL ? json_node_get_object(labels) : NULL)) {
			json_object_unref(o);
			continue;
		}
		g_ptr_array_add(items, o);
	}
	if (bad > 0)
		g_warning("cluster: %u records in etcd are not sandboxes: left out of the list",
		          bad);
	g_ptr_array_sort(items, by_created);
	for (guint i = 0; i < items->len; i++)
		json_array_add_object_element(list, json_object_ref(g_ptr_array_index(items, i)));
	json_object_set_array_member(top, "sandboxes", list);
	json_node_take_object(root, top);
	alk_api_reply_json(req, SOUP_STATUS_OK, root);
}

/* The node records, with whether each one's tokens file matches this
 * node's ("drift" lists those that do not). */
static void reply_nodes(AlkApiReq *req, GPtrArray *kvs)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autofree char *mine = alk_cluster_tokens_hash(req->api->config->api.tokens_file);
	g_autoptr(GPtrArray) drift = g_ptr_array_new_with_free_func(g_free);
	guint bad = 0;

	json_builder_begin_object(b);
	alk_json_add_string(b, "node", req->api->config->cluster.node);
	alk_json_add_bool(b, "registered", alk_cluster_registered(req->api->cluster));
	alk_json_add_string(b, "tokens_sha256", mine);
	json_builder_set_member_name(b, "nodes");
	json_builder_begin_array(b);
	for (guint i = 0; i < kvs->len; i++) {
		const AlkEtcdKv *kv = g_ptr_array_index(kvs, i);
		const char *tag = kv->key + strlen(ALK_CLUSTER_PREFIX "nodes/");
		g_autoptr(JsonObject) o = value_object(kv);
		JsonNode *images;

		if (o == NULL || !is_string(o, "node") ||
		    g_strcmp0(json_object_get_string_member(o, "node"), tag) != 0 ||
		    !is_string(o, "tokens_sha256")) {
			bad++;
			continue;
		}
		images = json_object_get_member(o, "images");
		if (images != NULL && !JSON_NODE_HOLDS_OBJECT(images)) {
			bad++;
			continue;
		}
		if (g_strcmp0(json_object_get_string_member(o, "tokens_sha256"), mine) != 0)
			g_ptr_array_add(drift, g_strdup(tag));
		json_object_set_boolean_member(
		    o, "tokens_match",
		    g_strcmp0(json_object_get_string_member(o, "tokens_sha256"), mine) == 0);
		g_autoptr(JsonNode) n = json_node_new(JSON_NODE_OBJECT);
		json_node_set_object(n, o);
		json_builder_add_value(b, g_steal_pointer(&n));
	}
	json_builder_end_array(b);
	g_ptr_array_add(drift, NULL);
	alk_json_add_strv(b, "tokens_drift", (const char *const *)drift->pdata);
	alk_json_add_int(b, "bad_records", bad);
	json_builder_end_object(b);
	alk_api_reply_builder(req, SOUP_STATUS_OK, b);
}

static void on_range(JsonObject *answer, const GError *error, gpointer data)
{
	Read *r = data;
	AlkApiReq *req = r->req;
	g_autoptr(GError) local = NULL;
	g_autoptr(GPtrArray) kvs = NULL;

	if (req == NULL) {
		read_free(r);
		return;
	}
	alk_api_req_detach(req);
	if (answer != NULL)
		kvs = alk_etcd_answer_kvs(answer, &local);
	if (kvs == NULL) {
		g_autoptr(GError) unavailable = g_error_new(
		    ALK_API_ERROR, ALK_API_ERROR_CLUSTER,
		    "the cluster's %s cannot be read from etcd: %s%s", r->nodes ? "nodes" : "list",
		    error != NULL ? error->message : local->message,
		    r->nodes ? "" : " (this node's own: ?scope=node)");
		alk_api_reply_error(req, unavailable);
	} else if (r->nodes) {
		reply_nodes(req, kvs);
	} else {
		reply_list(req, kvs);
	}
	read_free(r);
}

static void range(AlkApiReq *req, const char *prefix, gboolean nodes)
{
	Read *r = g_new0(Read, 1);
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) body = NULL;
	g_autofree char *end = alk_etcd_prefix_end(prefix);

	r->req = req;
	r->cancel = g_cancellable_new();
	r->nodes = nodes;
	json_builder_begin_object(b);
	alk_etcd_add_b64(b, "key", prefix, strlen(prefix));
	alk_etcd_add_b64(b, "range_end", end, strlen(end));
	alk_json_add_int(b, "limit", ALK_ETCD_RANGE_LIMIT);
	json_builder_end_object(b);
	body = json_builder_get_root(b);
	alk_api_req_hold(req);
	alk_api_req_attach(req, r, NULL, &read_hooks);
	alk_etcd_call(alk_cluster_etcd(req->api->cluster), "/v3/kv/range", body, r->cancel,
	              on_range, r);
}

void alk_api_cluster_list(AlkApiReq *req)
{
	range(req, ALK_CLUSTER_PREFIX "sandboxes/", FALSE);
}

void alk_api_cluster_get(AlkApiReq *req)
{
	g_autoptr(GError) error = NULL;

	if (req->api->cluster == NULL) {
		error = g_error_new(ALK_ERROR, ALK_ERROR_NOT_FOUND,
		                    "this node is not in a cluster (no cluster.etcd)");
		alk_api_reply_error(req, error);
		return;
	}
	range(req, ALK_CLUSTER_PREFIX "nodes/", TRUE);
}
