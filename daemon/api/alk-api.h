/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The REST server (DESIGN.md "REST API"): libsoup 3 on a unix socket
 * (callers identified by SO_PEERCRED) and optionally TCP (bearer tokens).
 * libsoup 3.2 has no limits of its own, so this layer accepts connections
 * itself: it counts them, times out slow request heads and bodies, caps
 * bodies before they are read whole, and watches the peer of a paused
 * response. One request per connection: every response says
 * "Connection: close". */
#pragma once

#include <gio/gio.h>

#include "alk-audit.h"
#include "alk-config.h"
#include "alk-manager.h"
#include "alk-metrics.h"

typedef struct _AlkApi AlkApi;

/* The API borrows all four; they must outlive it. audit may be NULL (no
 * audit log), metrics may be NULL. */
AlkApi *alk_api_new(AlkConfig *config, AlkManager *manager, AlkAudit *audit, AlkMetrics *metrics);
void alk_api_free(AlkApi *api);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkApi, alk_api_free)

/* (Re)reads api.tokens_file. A missing file means no tokens: every TCP
 * request is then refused. On error the tokens loaded before stay. */
gboolean alk_api_load_tokens(AlkApi *api, GError **error);

/* Listens on api.socket (or on activated, a listening unix socket passed
 * by systemd) and on api.listen when set. */
gboolean alk_api_listen(AlkApi *api, GSocket *activated, GError **error);

/* The daemon is about to stop: on a node of a cluster, its last audit
 * anchor goes to etcd; done(data) runs when it is there or could not be
 * (within a few seconds), at once on any other node. */
void alk_api_finish_cluster(AlkApi *api, void (*done)(gpointer), gpointer data);

/* Stops accepting connections; requests in flight go on. */
void alk_api_stop_accepting(AlkApi *api);

/* The daemon stops: every request still waiting is answered (503) or ended,
 * every exec in flight killed. */
void alk_api_abort(AlkApi *api);

/* Requests received and not yet answered (or streaming). */
guint alk_api_count_busy(AlkApi *api);

/* The manager's watch: audits a sandbox's end, keeps the metrics in step. */
void alk_api_sandbox_changed(AlkApi *api, const AlkSandbox *sb);

/* The routing table, one "METHOD PATTERN SCOPE" line per route, as
 * `airlockd --print-routes` prints it (docs/openapi.yaml must match). */
char *alk_api_describe_routes(void);
