/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* This node in etcd (alk-cluster.h): a lease, the node key claimed only
 * while absent, the sandbox records and the audit anchors, all written in
 * the background, one write at a time. etcd being away never stops the
 * node: what could not be written waits, and a lost lease is taken anew
 * and every key rewritten. */
#include <glib/gstdio.h>
#include <string.h>

#include "alk-cluster.h"
#include "alk-error.h"
#include "alk-image-list.h"
#include "alk-json.h"

/* how long one try on one endpoint may take */
#define ETCD_TIMEOUT_S 3
#define RETRY_MS 1000
/* the tokens file is read for its hash up to this size */
#define TOKENS_MAX (16 * 1024 * 1024)

struct _AlkCluster {
	AlkConfig *config;
	AlkManager *manager;
	AlkAudit *audit;
	AlkEtcd *etcd;
	GCancellable *cancel;
	char *node_key;    /* /airlock/v1/nodes/<tag> */
	char *audit_key;   /* /airlock/v1/audit/<tag> */
	gint64 lease;      /* 0: none (yet) */
	gboolean granting; /* a grant or claim is under way */
	gboolean registered;
	gboolean writing;        /* one write under way */
	gboolean writing_anchor; /* and it is the anchor's */
	gboolean node_dirty;     /* the node key is to be rewritten */
	gboolean anchor_dirty;
	GHashTable *records; /* id -> JsonNode *: what the live sandboxes' records hold */
	GHashTable *pending; /* id -> TRUE: its record (or its deletion) is not written */
	char *writing_id;    /* the sandbox whose write is under way */
	guint64 anchored_seq;
	guint keepalive_timer;
	guint tick_timer;
	guint retry_timer;
	gint64 last_warning_us;
};

static void flush(AlkCluster *c);
static void grant(AlkCluster *c);

/* etcd away is told once in a while, not on every try */
static void warn(AlkCluster *c, const char *what, const GError *error)
{
	gint64 now = g_get_monotonic_time();

	if (now - c->last_warning_us < 30 * G_USEC_PER_SEC)
		return;
	c->last_warning_us = now;
	g_warning("cluster: %s: %s", what, error->message);
}

char *alk_cluster_tokens_hash(const char *path)
{
	g_autofree char *text = NULL;
	gsize len = 0;
	GStatBuf st;

	if (path == NULL || g_stat(path, &st) != 0 || st.st_size > TOKENS_MAX ||
	    !g_file_get_contents(path, &text, &len, NULL))
		return g_strdup("");
	return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)text, len);
}

AlkCluster *alk_cluster_new(AlkConfig *config, AlkManager *manager, AlkAudit *audit, GError **error)
{
	g_autoptr(AlkCluster) c = g_new0(AlkCluster, 1);

	c->config = config;
	c->manager = manager;
	c->audit = audit;
	c->cancel = g_cancellable_new();
	c->records =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)json_node_unref);
	c->pending = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	c->node_key = g_strconcat(ALK_CLUSTER_PREFIX "nodes/", config->cluster.node, NULL);
	c->audit_key = g_strconcat(ALK_CLUSTER_PREFIX "audit/", config->cluster.node, NULL);
	c->etcd = alk_etcd_new(config->cluster.etcd, ETCD_TIMEOUT_S, error);
	if (c->etcd == NULL)
		return NULL;
	return g_steal_pointer(&c);
}

void alk_cluster_free(AlkCluster *c)
{
	if (c == NULL)
		return;
	g_cancellable_cancel(c->cancel);
	g_clear_handle_id(&c->keepalive_timer, g_source_remove);
	g_clear_handle_id(&c->tick_timer, g_source_remove);
	g_clear_handle_id(&c->retry_timer, g_source_remove);
	/* calls under way end with the cancel; their callbacks see it and
	 * touch nothing: they hold no pointer to c but through Op below */
	alk_etcd_free(c->etcd);
	if (c->records != NULL)
		g_hash_table_destroy(c->records);
	if (c->pending != NULL)
		g_hash_table_destroy(c->pending);
	g_free(c->node_key);
	g_free(c->audit_key);
	g_free(c->writing_id);
	g_clear_object(&c->cancel);
	g_free(c);
}

AlkEtcd *alk_cluster_etcd(AlkCluster *c)
{
	return c->etcd;
}

gboolean alk_cluster_registered(AlkCluster *c)
{
	return c->registered;
}

/* A callback of a call made for c runs after c is freed only with
 * cancel cancelled: each call carries the cancellable, not c alone. */
typedef struct {
	AlkCluster *c;
	GCancellable *cancel;
} Op;

static Op *op_new(AlkCluster *c)
{
	Op *op = g_new0(Op, 1);

	op->c = c;
	op->cancel = g_object_ref(c->cancel);
	return op;
}

/* c, or NULL when it is gone (op freed then) */
static AlkCluster *op_end(Op *op)
{
	AlkCluster *c = g_cancellable_is_cancelled(op->cancel) ? NULL : op->c;

	g_object_unref(op->cancel);
	g_free(op);
	return c;
}

static void call(AlkCluster *c, const char *path, JsonBuilder *b, AlkEtcdFunc func)
{
	g_autoptr(JsonNode) body = json_builder_get_root(b);

	alk_etcd_call(c->etcd, path, body, c->cancel, func, op_new(c));
}

static gboolean retry_fire(gpointer data)
{
	AlkCluster *c = data;

	c->retry_timer = 0;
	if (c->lease == 0)
		grant(c);
	else if (!c->registered)
		grant(c); /* claims with the lease it has */
	else
		flush(c);
	return G_SOURCE_REMOVE;
}

static void retry_later(AlkCluster *c)
{
	if (c->retry_timer == 0)
		c->retry_timer = g_timeout_add(RETRY_MS, retry_fire, c);
}

/* ---- the node's record ---- */

static JsonNode *node_value(AlkCluster *c)
{
	const AlkConfig *cfg = c->config;
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autofree char *tokens = alk_cluster_tokens_hash(cfg->api.tokens_file);
	g_autoptr(GPtrArray) images = alk_image_list(cfg->image_dir, NULL);
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree char *at = g_date_time_format_iso8601(now);

	json_builder_begin_object(b);
	alk_json_add_string(b, "node", cfg->cluster.node);
	alk_json_add_string(b, "address",
	                    cfg->cluster.advertise[0] != '\0' ? cfg->cluster.advertise
	                                                      : cfg->api.listen);
	alk_json_add_string(b, "agent", cfg->cluster.agent_listen);
	alk_json_add_int(b, "capacity_pct", alk_manager_capacity_pct(c->manager));
	alk_json_add_int(b, "max_sandboxes", cfg->max_sandboxes);
	alk_json_add_int(b, "live", alk_manager_count_live(c->manager));
	alk_json_add_string(b, "tokens_sha256", tokens);
	json_builder_set_member_name(b, "images");
	json_builder_begin_object(b);
	for (guint i = 0; images != NULL && i < images->len; i++) {
		const AlkImageInfo *img = g_ptr_array_index(images, i);
		json_builder_set_member_name(b, img->name);
		if (img->error != NULL || img->build_id == NULL)
			json_builder_add_null_value(b);
		else
			json_builder_add_string_value(b, img->build_id);
	}
	json_builder_end_object(b);
	alk_json_add_string(b, "updated_at", at);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

static void add_put(JsonBuilder *b, const char *key, JsonNode *value, gint64 lease)
{
	g_autofree char *text = alk_json_to_string(value);

	json_builder_begin_object(b);
	alk_etcd_add_b64(b, "key", key, strlen(key));
	alk_etcd_add_b64(b, "value", text, strlen(text));
	if (lease != 0) {
		g_autofree char *l = g_strdup_printf("%" G_GINT64_FORMAT, lease);
		alk_json_add_string(b, "lease", l);
	}
	json_builder_end_object(b);
}

/* ---- lease and claim ---- */

static void on_claimed(JsonObject *answer, const GError *error, gpointer data)
{
	AlkCluster *c = op_end(data);
	JsonNode *ok;

	if (c == NULL)
		return;
	c->granting = FALSE;
	if (answer == NULL) {
		warn(c, "claiming the node key", error);
		retry_later(c);
		return;
	}
	ok = json_object_get_member(answer, "succeeded");
	if (ok == NULL || !JSON_NODE_HOLDS_VALUE(ok) ||
	    json_node_get_value_type(ok) != G_TYPE_BOOLEAN || !json_node_get_boolean(ok)) {
		g_autoptr(GError) held =
		    g_error_new(ALK_ERROR, ALK_ERROR_CONFLICT,
		                "%s is held under another lease (another node with tag %s, or this "
		                "one's before a restart, until its lease expires)",
		                c->node_key, c->config->cluster.node);
		warn(c, "claiming the node key", held);
		retry_later(c);
		return;
	}
	g_message("cluster: node %s registered in etcd (lease %" G_GINT64_FORMAT ")",
	          c->config->cluster.node, c->lease);
	c->registered = TRUE;
	c->last_warning_us = 0;
	/* every record is rewritten under the new lease */
	GHashTableIter it;
	gpointer id;
	g_hash_table_iter_init(&it, c->records);
	while (g_hash_table_iter_next(&it, &id, NULL))
		g_hash_table_add(c->pending, g_strdup(id));
	c->anchor_dirty = TRUE;
	flush(c);
}

/* The node key, in a transaction that succeeds only when no key of that
 * name exists (create_revision 0): no two nodes share a tag. */
static void claim(AlkCluster *c)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) value = node_value(c);

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "compare");
	json_builder_begin_array(b);
	json_builder_begin_object(b);
	alk_json_add_string(b, "result", "EQUAL");
	alk_json_add_string(b, "target", "CREATE");
	alk_etcd_add_b64(b, "key", c->node_key, strlen(c->node_key));
	alk_json_add_string(b, "create_revision", "0");
	json_builder_end_object(b);
	json_builder_end_array(b);
	json_builder_set_member_name(b, "success");
	json_builder_begin_array(b);
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "request_put");
	add_put(b, c->node_key, value, c->lease);
	json_builder_end_object(b);
	json_builder_end_array(b);
	json_builder_end_object(b);
	call(c, "/v3/kv/txn", b, on_claimed);
}

static void on_granted(JsonObject *answer, const GError *error, gpointer data)
{
	AlkCluster *c = op_end(data);
	g_autoptr(GError) local = NULL;
	gint64 id = 0, ttl = 0;

	if (c == NULL)
		return;
	if (answer == NULL) {
		c->granting = FALSE;
		warn(c, "taking a lease", error);
		retry_later(c);
		return;
	}
	if (!alk_etcd_answer_int(answer, "ID", 0, &id, &local) ||
	    !alk_etcd_answer_int(answer, "TTL", 0, &ttl, &local) || id <= 0 || ttl <= 0) {
		if (local == NULL)
			local = g_error_new(ALK_ERROR, ALK_ERROR_PROTOCOL,
			                    "etcd granted no lease (ID %" G_GINT64_FORMAT
			                    ", TTL %" G_GINT64_FORMAT ")",
			                    id, ttl);
		c->granting = FALSE;
		warn(c, "taking a lease", local);
		retry_later(c);
		return;
	}
	c->lease = id;
	claim(c);
}

static void grant(AlkCluster *c)
{
	g_autoptr(JsonBuilder) b = NULL;

	if (c->granting)
		return;
	c->granting = TRUE;
	if (c->lease != 0) {
		claim(c);
		return;
	}
	b = json_builder_new();
	json_builder_begin_object(b);
	alk_json_add_int(b, "TTL", c->config->cluster.lease_ttl_s);
	json_builder_end_object(b);
	call(c, "/v3/lease/grant", b, on_granted);
}

/* The lease is gone (expired while etcd was away, or revoked): so are the
 * node key and the records under it. */
static void lease_lost(AlkCluster *c, const char *why)
{
	g_warning("cluster: lease %" G_GINT64_FORMAT " lost (%s): taking a new one", c->lease, why);
	c->lease = 0;
	c->registered = FALSE;
	grant(c);
}

static void on_kept(JsonObject *answer, const GError *error, gpointer data)
{
	AlkCluster *c = op_end(data);
	g_autoptr(GError) local = NULL;
	JsonNode *result;
	gint64 ttl = 0;

	if (c == NULL)
		return;
	if (answer == NULL) {
		/* not known to be lost: the next keepalive tells */
		warn(c, "keeping the lease alive", error);
		return;
	}
	/* the gateway streams: one message, {"result": {...}} or {"error": {...}} */
	result = json_object_get_member(answer, "result");
	if (result == NULL || !JSON_NODE_HOLDS_OBJECT(result)) {
		lease_lost(c, "etcd answered the keepalive with no result");
		return;
	}
	if (!alk_etcd_answer_int(json_node_get_object(result), "TTL", 0, &ttl, &local)) {
		warn(c, "keeping the lease alive", local);
		return;
	}
	if (ttl <= 0)
		lease_lost(c, "etcd says it expired");
}

static gboolean keepalive(gpointer data)
{
	AlkCluster *c = data;
	g_autoptr(JsonBuilder) b = NULL;
	g_autofree char *id = NULL;

	if (c->lease == 0 || c->granting)
		return G_SOURCE_CONTINUE;
	b = json_builder_new();
	id = g_strdup_printf("%" G_GINT64_FORMAT, c->lease);
	json_builder_begin_object(b);
	alk_json_add_string(b, "ID", id);
	json_builder_end_object(b);
	call(c, "/v3/lease/keepalive", b, on_kept);
	return G_SOURCE_CONTINUE;
}

/* ---- writes, one at a time ---- */

static void on_written(JsonObject *answer, const GError *error, gpointer data)
{
	AlkCluster *c = op_end(data);

	if (c == NULL)
		return;
	c->writing = FALSE;
	if (answer == NULL) {
		/* written again later, unless something newer is pending anyway */
		if (c->writing_id != NULL)
			g_hash_table_add(c->pending, g_steal_pointer(&c->writing_id));
		else if (c->writing_anchor)
			c->anchor_dirty = TRUE;
		else
			c->node_dirty = TRUE;
		warn(c, "writing a record", error);
		g_clear_pointer(&c->writing_id, g_free);
		retry_later(c);
		return;
	}
	g_clear_pointer(&c->writing_id, g_free);
	flush(c);
}

static void write_anchor(AlkCluster *c)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonBuilder) v = json_builder_new();
	g_autoptr(JsonNode) value = NULL;
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree char *at = g_date_time_format_iso8601(now);
	char hash[65];
	guint64 seq = alk_audit_get_head(c->audit, hash);

	json_builder_begin_object(v);
	alk_json_add_string(v, "node", c->config->cluster.node);
	alk_json_add_int(v, "seq", (gint64)seq);
	alk_json_add_string(v, "hash", hash);
	alk_json_add_string(v, "time", at);
	json_builder_end_object(v);
	value = json_builder_get_root(v);
	c->anchored_seq = seq;
	/* no lease: an anchor outlives the node */
	add_put(b, c->audit_key, value, 0);
	c->writing = TRUE;
	c->writing_anchor = TRUE;
	call(c, "/v3/kv/put", b, on_written);
}

static void write_node(AlkCluster *c)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) value = node_value(c);

	add_put(b, c->node_key, value, c->lease);
	c->writing = TRUE;
	c->writing_anchor = FALSE;
	call(c, "/v3/kv/put", b, on_written);
}

static void write_record(AlkCluster *c, const char *id)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autofree char *key = g_strconcat(ALK_CLUSTER_PREFIX "sandboxes/", id, NULL);
	JsonNode *record = g_hash_table_lookup(c->records, id);

	c->writing = TRUE;
	c->writing_anchor = FALSE;
	c->writing_id = g_strdup(id);
	if (record == NULL) {
		json_builder_begin_object(b);
		alk_etcd_add_b64(b, "key", key, strlen(key));
		json_builder_end_object(b);
		call(c, "/v3/kv/deleterange", b, on_written);
		return;
	}
	add_put(b, key, record, c->lease);
	call(c, "/v3/kv/put", b, on_written);
}

static void flush(AlkCluster *c)
{
	GHashTableIter it;
	gpointer id;

	if (c->writing || !c->registered)
		return;
	if (c->node_dirty) {
		c->node_dirty = FALSE;
		write_node(c);
		return;
	}
	g_hash_table_iter_init(&it, c->pending);
	if (g_hash_table_iter_next(&it, &id, NULL)) {
		g_autofree char *one = g_strdup(id);
		g_hash_table_iter_remove(&it);
		write_record(c, one);
		return;
	}
	if (c->anchor_dirty && c->audit != NULL) {
		c->anchor_dirty = FALSE;
		write_anchor(c);
	}
}

void alk_cluster_publish(AlkCluster *c, const char *id, JsonNode *record)
{
	if (record != NULL)
		g_hash_table_replace(c->records, g_strdup(id), json_node_ref(record));
	else if (!g_hash_table_remove(c->records, id))
		return; /* never published: nothing to delete */
	g_hash_table_add(c->pending, g_strdup(id));
	flush(c);
}

/* Every ALK_CLUSTER_ANCHOR_S: the node key (capacity, tokens, images) and
 * the audit anchor when the chain grew. */
static gboolean tick(gpointer data)
{
	AlkCluster *c = data;
	char hash[65];

	g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func(g_free);
	GHashTableIter it;
	gpointer id;

	/* a failed sandbox is forgotten without a word (deleted, or pruned):
	 * its record goes with it */
	g_hash_table_iter_init(&it, c->records);
	while (g_hash_table_iter_next(&it, &id, NULL)) {
		if (alk_manager_lookup(c->manager, id, NULL) == NULL)
			g_ptr_array_add(gone, g_strdup(id));
	}
	for (guint i = 0; i < gone->len; i++)
		alk_cluster_publish(c, g_ptr_array_index(gone, i), NULL);
	c->node_dirty = TRUE;
	if (c->audit != NULL && alk_audit_get_head(c->audit, hash) != c->anchored_seq)
		c->anchor_dirty = TRUE;
	flush(c);
	return G_SOURCE_CONTINUE;
}

typedef struct {
	void (*done)(gpointer);
	gpointer data;
	guint timer;
	gint refs; /* the timer's and the write's */
} Final;

/* One of its two holders (the timer, the write) lets go; the first ends
 * the wait, and a timer still pending goes with its reference. */
static void final_end(Final *f)
{
	if (f->done != NULL) {
		void (*done)(gpointer) = f->done;
		f->done = NULL;
		if (f->timer != 0) {
			g_clear_handle_id(&f->timer, g_source_remove);
			f->refs--;
		}
		done(f->data);
	}
	if (--f->refs == 0)
		g_free(f);
}

static gboolean final_timeout(gpointer data)
{
	Final *f = data;

	f->timer = 0;
	g_message("cluster: the final audit anchor is not in etcd after %u s: stopping without",
	          ALK_CLUSTER_FINAL_S);
	final_end(f);
	return G_SOURCE_REMOVE;
}

static void on_final(JsonObject *answer, const GError *error, gpointer data)
{
	Final *f = data;

	if (answer == NULL && f->done != NULL)
		g_message("cluster: the final audit anchor: %s", error->message);
	final_end(f);
}

void alk_cluster_final_anchor(AlkCluster *c, void (*done)(gpointer), gpointer data)
{
	Final *f = g_new0(Final, 1);
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonBuilder) v = json_builder_new();
	g_autoptr(JsonNode) value = NULL;
	g_autoptr(JsonNode) body = NULL;
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree char *at = g_date_time_format_iso8601(now);
	char hash[65];
	guint64 seq;

	f->done = done;
	f->data = data;
	f->refs = 2;
	f->timer = g_timeout_add_seconds(ALK_CLUSTER_FINAL_S, final_timeout, f);
	if (c->audit == NULL || !c->registered) {
		final_end(f); /* the write's: there is none */
		return;
	}
	seq = alk_audit_get_head(c->audit, hash);
	json_builder_begin_object(v);
	alk_json_add_string(v, "node", c->config->cluster.node);
	alk_json_add_int(v, "seq", (gint64)seq);
	alk_json_add_string(v, "hash", hash);
	alk_json_add_string(v, "time", at);
	json_builder_end_object(v);
	value = json_builder_get_root(v);
	add_put(b, c->audit_key, value, 0);
	body = json_builder_get_root(b);
	alk_etcd_call(c->etcd, "/v3/kv/put", body, NULL, on_final, f);
}

void alk_cluster_start(AlkCluster *c)
{
	guint every = MAX(1, c->config->cluster.lease_ttl_s / 3);

	c->keepalive_timer = g_timeout_add_seconds(every, keepalive, c);
	c->tick_timer = g_timeout_add_seconds(ALK_CLUSTER_ANCHOR_S, tick, c);
	grant(c);
}
