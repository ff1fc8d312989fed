/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-net-link.h"

#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alk-error.h"
#include "alk-netns.h"

static const char *const op_names[] = {
    [ALK_NET_LINK_UP] = "link up",     [ALK_NET_LINK_ADDR] = "address",
    [ALK_NET_LINK_ROUTE] = "route",    [ALK_NET_LINK_VETH] = "veth",
    [ALK_NET_LINK_MOVE] = "link move", [ALK_NET_LINK_DELETE] = "link delete",
};

static gboolean nl_failed(const AlkNetLink *l, int err, GError **error)
{
	g_set_error(error, ALK_ERROR, ALK_ERROR_FAILED, "netlink %s %s%s%s: %s", op_names[l->op],
	            l->ifname != NULL ? l->ifname : "", l->arg != NULL ? " " : "",
	            l->arg != NULL ? l->arg : "", nl_geterror(err));
	return FALSE;
}

/* /run/netns/NAME, opened to name that namespace to the kernel */
static int open_ns(const AlkNetLink *l, GError **error)
{
	g_autofree char *path = NULL;
	int fd;

	if (l->peer_ns == NULL || !alk_netns_ifname_valid(l->peer_ns)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "netlink %s: bad namespace name",
		            op_names[l->op]);
		return -1;
	}
	path = g_build_filename(ALK_NETNS_DIR, l->peer_ns, NULL);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		g_set_error(error, ALK_ERROR, ALK_ERROR_FAILED, "netlink %s: %s: %s",
		            op_names[l->op], path, g_strerror(errno));
	return fd;
}

static gboolean parse_v4(const AlkNetLink *l, const char *text, struct nl_addr **out,
                         GError **error)
{
	int err = text != NULL ? nl_addr_parse(text, AF_INET, out) : -NLE_INVAL;

	if (err < 0)
		return nl_failed(l, err, error);
	return TRUE;
}

/* ifname's link as the kernel has it now */
static int get_link(struct nl_sock *sk, const AlkNetLink *l, struct rtnl_link **out)
{
	if (l->ifname == NULL || strlen(l->ifname) >= IFNAMSIZ)
		return -NLE_INVAL;
	return rtnl_link_get_kernel(sk, 0, l->ifname, out);
}

static int link_change(struct nl_sock *sk, const AlkNetLink *l, int ns_fd)
{
	struct rtnl_link *link = NULL, *change = rtnl_link_alloc();
	int err = change != NULL ? get_link(sk, l, &link) : -NLE_NOMEM;

	if (err >= 0) {
		if (ns_fd >= 0)
			rtnl_link_set_ns_fd(change, ns_fd);
		else
			rtnl_link_set_flags(change, IFF_UP);
		err = rtnl_link_change(sk, link, change, 0);
	}
	rtnl_link_put(link);
	rtnl_link_put(change);
	return err;
}

static int add_address(struct nl_sock *sk, const AlkNetLink *l, struct nl_addr *local)
{
	struct rtnl_link *link = NULL;
	struct rtnl_addr *addr = rtnl_addr_alloc();
	int err = addr != NULL ? get_link(sk, l, &link) : -NLE_NOMEM;

	if (err >= 0) {
		rtnl_addr_set_ifindex(addr, rtnl_link_get_ifindex(link));
		err = rtnl_addr_set_local(addr, local);
	}
	if (err >= 0)
		err = rtnl_addr_add(sk, addr, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_link_put(link);
	rtnl_addr_put(addr);
	return err;
}

static int add_default_route(struct nl_sock *sk, struct nl_addr *via)
{
	struct rtnl_route *route = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	struct nl_addr *dst = NULL;
	int err =
	    route != NULL && nh != NULL ? nl_addr_parse("0.0.0.0/0", AF_INET, &dst) : -NLE_NOMEM;

	if (err >= 0) {
		/* as `ip route add default via VIA` makes it */
		rtnl_route_set_family(route, AF_INET);
		rtnl_route_set_table(route, RT_TABLE_MAIN);
		rtnl_route_set_protocol(route, RTPROT_BOOT);
		rtnl_route_set_scope(route, RT_SCOPE_UNIVERSE);
		rtnl_route_set_type(route, RTN_UNICAST);
		err = rtnl_route_set_dst(route, dst);
	}
	if (err >= 0) {
		rtnl_route_nh_set_gateway(nh, via);
		rtnl_route_add_nexthop(route, g_steal_pointer(&nh)); /* the route's now */
		err = rtnl_route_add(sk, route, NLM_F_CREATE | NLM_F_EXCL);
	}
	if (nh != NULL)
		rtnl_route_nh_free(nh);
	nl_addr_put(dst);
	rtnl_route_put(route);
	return err;
}

static int add_veth(struct nl_sock *sk, const AlkNetLink *l, int ns_fd)
{
	struct rtnl_link *veth = rtnl_link_veth_alloc();
	struct rtnl_link *peer;
	int err;

	if (veth == NULL)
		return -NLE_NOMEM;
	if (l->ifname == NULL || strlen(l->ifname) >= IFNAMSIZ || l->arg == NULL ||
	    strlen(l->arg) >= IFNAMSIZ) {
		rtnl_link_put(veth);
		return -NLE_INVAL;
	}
	rtnl_link_set_name(veth, l->ifname);
	peer = rtnl_link_veth_get_peer(veth);
	rtnl_link_set_name(peer, l->arg);
	rtnl_link_set_ns_fd(peer, ns_fd);
	rtnl_link_put(peer);
	err = rtnl_link_add(sk, veth, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_link_put(veth);
	return err;
}

static int delete_link(struct nl_sock *sk, const AlkNetLink *l)
{
	struct rtnl_link *link = NULL;
	int err = get_link(sk, l, &link);

	if (err >= 0)
		err = rtnl_link_delete(sk, link);
	rtnl_link_put(link);
	return err;
}

gboolean alk_net_link_apply(const AlkNetLink *l, GError **error)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct nl_addr *addr = NULL;
	int ns_fd = -1, err;

	if (sk == NULL)
		return nl_failed(l, -NLE_NOMEM, error);
	if ((l->op == ALK_NET_LINK_ADDR || l->op == ALK_NET_LINK_ROUTE) &&
	    !parse_v4(l, l->arg, &addr, error)) {
		nl_socket_free(sk);
		return FALSE;
	}
	if ((l->op == ALK_NET_LINK_VETH || l->op == ALK_NET_LINK_MOVE) &&
	    (ns_fd = open_ns(l, error)) < 0) {
		nl_socket_free(sk);
		return FALSE;
	}
	/* connected here, in the thread's namespace, and its own for good */
	err = nl_connect(sk, NETLINK_ROUTE);
	if (err >= 0) {
		switch (l->op) {
		case ALK_NET_LINK_UP:
			err = link_change(sk, l, -1);
			break;
		case ALK_NET_LINK_ADDR:
			err = add_address(sk, l, addr);
			break;
		case ALK_NET_LINK_ROUTE:
			err = add_default_route(sk, addr);
			break;
		case ALK_NET_LINK_VETH:
			err = add_veth(sk, l, ns_fd);
			break;
		case ALK_NET_LINK_MOVE:
			err = link_change(sk, l, ns_fd);
			break;
		case ALK_NET_LINK_DELETE:
			err = delete_link(sk, l);
			break;
		}
	}
	if (ns_fd >= 0)
		close(ns_fd);
	nl_addr_put(addr);
	nl_socket_free(sk);
	return err >= 0 ? TRUE : nl_failed(l, err, error);
}
