/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A node of a cluster (docs/cluster.md): etcd through its JSON gateway
 * (etcd 3.4, /v3/...), with libsoup and json-glib. Private to the API layer.
 *
 * AlkEtcd is the client: every call is a POST of one JSON object, answered
 * by one JSON object. An endpoint that cannot be reached, times out or
 * answers 5xx makes the call go to the next one (each endpoint at most once
 * per call); the one that answered is tried first next time. Answers are
 * hostile input: at most ALK_ETCD_MAX_ANSWER bytes and ALK_JSON_MAX_DEPTH
 * deep, every member's type checked where it is read.
 *
 * AlkCluster is the node: its key under a lease (claimed only while no
 * other node holds the tag), kept alive; a record per sandbox, written in
 * the background; the audit head as an anchor every ALK_CLUSTER_ANCHOR_S. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "alk-audit.h"
#include "alk-config.h"
#include "alk-manager.h"

#define ALK_ETCD_MAX_ANSWER (8 * 1024 * 1024)
#define ALK_ETCD_MAX_ENDPOINTS 16
/* a range read returns at most this many keys */
#define ALK_ETCD_RANGE_LIMIT 20000
/* one record (a sandbox's, a node's) is at most this long */
#define ALK_ETCD_MAX_VALUE (64 * 1024)
#define ALK_CLUSTER_ANCHOR_S 10

#define ALK_CLUSTER_PREFIX "/airlock/v1/"

typedef struct _AlkEtcd AlkEtcd;

/* endpoints: "http://host:port,..." as cluster.etcd holds it. timeout_s:
 * of one try on one endpoint. */
AlkEtcd *alk_etcd_new(const char *endpoints, guint timeout_s, GError **error);
void alk_etcd_free(AlkEtcd *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkEtcd, alk_etcd_free)

/* answer: the object etcd answered 200 with (borrowed), or NULL and error
 * (ALK_ERROR_UNAVAILABLE: no endpoint answered; ALK_ERROR_PROTOCOL: it
 * answered garbage; ALK_ERROR_FAILED: etcd refused the request). Runs on
 * the thread-default main context of the call, never before it returns. */
typedef void (*AlkEtcdFunc)(JsonObject *answer, const GError *error, gpointer data);
void alk_etcd_call(AlkEtcd *e, const char *path, JsonNode *body, GCancellable *cancel,
                   AlkEtcdFunc func, gpointer data);

/* One key/value of a range read: key and value decoded. */
typedef struct {
	char *key;
	GBytes *value;
	gint64 lease;
} AlkEtcdKv;
void alk_etcd_kv_free(AlkEtcdKv *kv);

/* The kvs of a range answer (an empty array when it has none). Errors:
 * PROTOCOL, naming what is wrong. */
GPtrArray *alk_etcd_answer_kvs(JsonObject *answer, GError **error);
/* An int64 member, which the gateway writes as a decimal string (or a
 * number). Absent: def. Errors: PROTOCOL. */
gboolean alk_etcd_answer_int(JsonObject *o, const char *member, gint64 def, gint64 *out,
                             GError **error);
/* Adds member: base64 of len bytes of data. */
void alk_etcd_add_b64(JsonBuilder *b, const char *member, const void *data, gsize len);
/* The end of a prefix's range: prefix with its last byte plus one. */
char *alk_etcd_prefix_end(const char *prefix);

typedef struct _AlkCluster AlkCluster;

/* Borrows all three (audit may be NULL); nothing is sent before start. */
AlkCluster *alk_cluster_new(AlkConfig *config, AlkManager *manager, AlkAudit *audit,
                            GError **error);
void alk_cluster_start(AlkCluster *c);
void alk_cluster_free(AlkCluster *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkCluster, alk_cluster_free)
AlkEtcd *alk_cluster_etcd(AlkCluster *c);
/* The record of sb changed (record: the Sandbox JSON, NULL: it is gone):
 * written in the background, merged with any not yet written. */
void alk_cluster_publish(AlkCluster *c, const char *id, JsonNode *record);
/* The daemon stops: the audit anchor is written now, and done(data) runs
 * once it is (or could not be) in etcd, within ALK_CLUSTER_FINAL_S. */
#define ALK_CLUSTER_FINAL_S 3
void alk_cluster_final_anchor(AlkCluster *c, void (*done)(gpointer), gpointer data);
/* Whether the node holds its tag under a live lease (as far as it knows). */
gboolean alk_cluster_registered(AlkCluster *c);
/* sha256 hex of the tokens file as it is now ("" when there is none). */
char *alk_cluster_tokens_hash(const char *path);
