/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Links, addresses and routes through rtnetlink (libnl-route-3), in the
 * namespace of the calling thread (alk_netns_run_in()): what a sandbox's
 * network plan used `ip` processes for. Private to daemon/net. */
#pragma once

#include <glib.h>

typedef enum {
	ALK_NET_LINK_UP,     /* ifname up */
	ALK_NET_LINK_ADDR,   /* arg (an IPv4 CIDR) on ifname */
	ALK_NET_LINK_ROUTE,  /* the default route via arg (an IPv4 address) */
	ALK_NET_LINK_VETH,   /* a veth ifname, its peer arg in the namespace peer_ns */
	ALK_NET_LINK_MOVE,   /* ifname into the namespace peer_ns */
	ALK_NET_LINK_DELETE, /* ifname removed */
} AlkNetLinkOp;

typedef struct {
	AlkNetLinkOp op;
	const char *ifname;
	const char *arg;
	const char *peer_ns; /* a name under /run/netns */
} AlkNetLink;

/* Errors (ALK_ERROR_FAILED) say what was asked and what the kernel said. */
gboolean alk_net_link_apply(const AlkNetLink *l, GError **error);
