/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Every name and address of one networked sandbox, derived in one place
 * from its id, the daemon instance it belongs to and the [network]
 * settings. Pure: nothing is looked up or made.
 *
 *   namespace  al<id>       (also the uplink's end in the egress namespace)
 *   tap        at<id>       (the guest's NIC, moved into the namespace)
 *   MAC        52:54:00 and the id's first six hex digits
 *   guest link 10.254.254.0/30 in every namespace: the guest .2, the
 *              namespace's end (its gateway and resolver) .1
 *   uplink     the sandbox's /30 of uplink_cidr (index `uplink`): .1 the
 *              egress side, .2 the namespace's `eth0`, whose default route
 *              goes via .1
 *   egress     the instance's table in the egress namespace (alk-nft.h) */
#pragma once

#include <gio/gio.h>
#include <glib.h>

#include "alk-netns.h"

#define ALK_NET_GUEST_LINK "10.254.254.0/30"
#define ALK_NET_GUEST_ADDRESS "10.254.254.2"
#define ALK_NET_GATEWAY "10.254.254.1"
#define ALK_NET_GUEST_PREFIX 30
#define ALK_NET_GUEST_MTU 1500
/* "255.255.255.255/32" */
#define ALK_NET_CIDR_LEN 19

typedef struct {
	char id[ALK_NETNS_ID_LEN + 1];
	char ns[ALK_NETNS_NAME_LEN + 1];
	char tap[ALK_NETNS_NAME_LEN + 1];
	char mac[18]; /* "52:54:00:xx:xx:xx" */
	guint8 mac_bytes[6];
	char guest[ALK_NET_CIDR_LEN + 1];   /* the guest's address/prefix */
	char gateway[ALK_NET_CIDR_LEN + 1]; /* the namespace's end of the guest link, /prefix */
	gint uplink;                        /* index of its /30 in the pool; -1: none */
	char uplink_outer[ALK_NET_CIDR_LEN + 1]; /* egress side, address/30 */
	char uplink_inner[ALK_NET_CIDR_LEN + 1]; /* namespace side, address/30 */
	char uplink_via[ALK_NET_CIDR_LEN + 1];   /* the default route's gateway */
	char *egress_ns;                         /* NULL: the daemon's own namespace */
	char *pool;                              /* uplink_cidr */
	char *egress_table;                      /* the instance's, alk_nft_egress_table() */
} AlkNetLayout;

/* id: 12 lowercase hex; instance: the daemon's state_dir; egress_ns: NULL
 * or "" for the daemon's own; uplink_cidr: an IPv4 pool of /30s (/30 or
 * wider); uplink: the sandbox's /30 in it, -1 for none (isolated). Fails
 * with ALK_ERROR_INVALID on a bad id, pool or index. */
AlkNetLayout *alk_net_layout_new(const char *id, const char *instance, const char *egress_ns,
                                 const char *uplink_cidr, gint uplink, GError **error);
/* NULL is fine. */
void alk_net_layout_free(AlkNetLayout *layout);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkNetLayout, alk_net_layout_free)

/* How many /30s uplink_cidr holds; 0 if it is no IPv4 CIDR of /30 or wider. */
guint alk_net_uplink_capacity(const char *uplink_cidr);
