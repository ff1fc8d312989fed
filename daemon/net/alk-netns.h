/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The host side of a networked sandbox: its network namespace `al<id>` (id: 12
 * lowercase hex, so the name fits IFNAMSIZ and also names its host devices),
 * with lo up, an optional veth uplink (`al<id>` on the host, `eth0` inside)
 * and the guest's tap moved in. Driven through iproute2 (`ip`) with
 * GSubprocess; the async calls finish with alk_netns_finish(). The sync forms
 * run their own main context and are meant for tests and tools.
 *
 * Namespaces are bind mounts under /run/netns, so they outlive a daemon crash;
 * alk_netns_list() finds them again for reconcile. */
#pragma once

#include <gio/gio.h>
#include <glib.h>

#define ALK_NETNS_PREFIX "al"
#define ALK_NETNS_ID_LEN 12
#define ALK_NETNS_NAME_LEN (2 + ALK_NETNS_ID_LEN)
#define ALK_NETNS_DIR "/run/netns"
/* the uplink's end inside the namespace */
#define ALK_NETNS_UPLINK "eth0"

/* TRUE for "al" and 12 lowercase hex digits. */
gboolean alk_netns_name_valid(const char *name);

/* "al<id>" for a sandbox id; ALK_ERROR_INVALID unless id is 12 lowercase hex. */
char *alk_netns_name_for_id(const char *id, GError **error);

/* Creates the namespace and brings its lo up. */
void alk_netns_create_async(const char *name, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data);
/* A veth pair: `name` in the host namespace, ALK_NETNS_UPLINK inside, both up. */
void alk_netns_add_veth_async(const char *name, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data);
/* Moves the host link `link` (the guest's tap) into the namespace and sets it up. */
void alk_netns_move_link_async(const char *name, const char *link, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data);
/* Removes the host-side veth if any, then the namespace (and all inside it);
 * nothing to remove is success, so reconcile may call it blindly. */
void alk_netns_delete_async(const char *name, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data);
gboolean alk_netns_finish(GAsyncResult *result, GError **error);

gboolean alk_netns_create(const char *name, GError **error);
gboolean alk_netns_add_veth(const char *name, GError **error);
gboolean alk_netns_move_link(const char *name, const char *link, GError **error);
gboolean alk_netns_delete(const char *name, GError **error);

/* Names of airlock's namespaces now present (sorted), from ALK_NETNS_DIR. */
GPtrArray *alk_netns_list(GError **error);

/* ---- plans: a list of commands run in order, stopping at the first failure ----
 * ns NULL: the daemon's own namespace. Finish with alk_netns_finish(). */
typedef struct AlkNetPlan AlkNetPlan;

AlkNetPlan *alk_net_plan_new(void);
void alk_net_plan_free(AlkNetPlan *plan);
/* `ip [-n NS] ARGS...` (NULL-terminated); may_fail: its failure is ignored */
void alk_net_plan_ip(AlkNetPlan *plan, const char *ns, gboolean may_fail,
                     ...) G_GNUC_NULL_TERMINATED;
/* `nft -f -` in NS, fed text */
void alk_net_plan_nft(AlkNetPlan *plan, const char *ns, const char *text);
/* `sysctl -w KEY=VALUE` in NS */
void alk_net_plan_sysctl(AlkNetPlan *plan, const char *ns, const char *key, const char *value);
/* Runs and frees the plan. */
void alk_net_plan_run_async(AlkNetPlan *plan, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data);

/* The same on a private main context, waiting (start-up and tests). */
gboolean alk_net_plan_run(AlkNetPlan *plan, GError **error);

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
