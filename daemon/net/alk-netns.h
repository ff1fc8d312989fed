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
