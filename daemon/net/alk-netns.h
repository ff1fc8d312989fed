/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Network namespaces of sandboxes: their names (`al<id>`, id: 12 lowercase
 * hex, so the name fits IFNAMSIZ and also names its host devices), finding
 * them again, and work inside one without leaving the daemon's own. They are
 * made and removed by plans (alk-net-plan.h, alk-net-recipe.h).
 *
 * Namespaces are bind mounts under /run/netns, so they outlive a daemon crash;
 * alk_netns_list() finds them again for reconcile. */
#pragma once

#include <gio/gio.h>
#include <glib.h>

#include "alk-name.h"

#define ALK_NETNS_PREFIX "al"
#define ALK_NETNS_ID_LEN ALK_SANDBOX_ID_LEN
#define ALK_NETNS_NAME_LEN (2 + ALK_NETNS_ID_LEN)
#define ALK_NETNS_DIR "/run/netns"
/* the uplink's end inside the namespace */
#define ALK_NETNS_UPLINK "eth0"

/* TRUE for "al" and 12 lowercase hex digits. */
gboolean alk_netns_name_valid(const char *name);

/* "al<id>" for a sandbox id; ALK_ERROR_INVALID unless id is 12 lowercase hex. */
char *alk_netns_name_for_id(const char *id, GError **error);
/* The sandbox id in a valid name (a pointer into it), or NULL. */
const char *alk_netns_id_of(const char *name);

/* TRUE for a name `ip` cannot mistake for an option or a keyword path:
 * 1..15 bytes of [A-Za-z0-9_.-], not starting with '-', not "." or "..". */
gboolean alk_netns_ifname_valid(const char *name);

/* Names of airlock's namespaces now present (sorted), from ALK_NETNS_DIR. */
GPtrArray *alk_netns_list(GError **error);

/* ---- inside a namespace, without leaving the daemon's ----
 * func runs on a short-lived thread that entered namespace ns (/run/netns/NS;
 * NULL: the caller's own, on the caller's thread); the caller waits. */
typedef gboolean (*AlkNetnsFunc)(gpointer data, GError **error);
gboolean alk_netns_run_in(const char *ns, AlkNetnsFunc func, gpointer data, GError **error);
/* A socket of namespace ns: it keeps working there whatever thread uses it. */
GSocket *alk_netns_socket(const char *ns, GSocketFamily family, GSocketType type, GError **error);
/* Every address of ns's interfaces, as single-address GInetAddressMask *. */
GPtrArray *alk_netns_addresses(const char *ns, GError **error);

/* The packets of the `allowed` and `denied` counters of table inet airlock in
 * sandbox namespace ns. */
void alk_netns_counters_async(const char *ns, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data);
gboolean alk_netns_counters_finish(GAsyncResult *result, guint64 *allowed, guint64 *denied,
                                   GError **error);
