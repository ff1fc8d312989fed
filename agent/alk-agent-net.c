/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * NET_CONFIG: the guest's one NIC gets the address the host chose. The
 * cloud kernel has no ip= autoconfiguration, so the agent does it with the
 * classic ioctls (no netlink: libc only, and musl-gcc has no linux/
 * headers).
 *
 * The NIC is found by its MAC, never by name, and nothing else is touched
 * but lo. virtio_net may still be probing when the request comes, so a
 * missing NIC is looked for again every ALK_NET_RETRY_MS from the poll
 * loop, for up to ALK_NET_WAIT_MS: other requests are served meanwhile.
 * Once configured, the OK waits the same way (at most ALK_NET_WAIT_MS) for
 * the link to run (IFF_RUNNING): the kernel's link watch reports a link
 * brought up only a moment later, and until then the NIC has no carrier.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alk-agent.h"

#define MAC_FMT "%02x:%02x:%02x:%02x:%02x:%02x"
#define MAC_ARGS(m) (m)[0], (m)[1], (m)[2], (m)[3], (m)[4], (m)[5]
#define IP_FMT "%d.%d.%d.%d"
#define IP_ARGS(a) (a)[0], (a)[1], (a)[2], (a)[3]

/* Why a step failed: errno and the words the host's error will carry. */
typedef struct {
	int err;
	char what[160];
} NetFail;

static int net_fail(NetFail *f, int err, const char *fmt, const char *ifname)
{
	f->err = err;
	snprintf(f->what, sizeof(f->what), fmt, ifname);
	return -1;
}

/* 1: ifname carries mac, 0: it does not, -1: cannot tell. */
static int net_has_mac(int sock, const char *ifname, const uint8_t *mac)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(sock, SIOCGIFHWADDR, &ifr) < 0)
		return -1;
	return ifr.ifr_hwaddr.sa_family == ARPHRD_ETHER &&
	       memcmp(ifr.ifr_hwaddr.sa_data, mac, ALK_PROTO_MAC_SIZE) == 0;
}

/* The number of interfaces carrying mac; the first one's name in name. */
static int net_find(int sock, const uint8_t *mac, char name[IFNAMSIZ])
{
	struct if_nameindex *list = if_nameindex();
	int found = 0;
	if (!list)
		return -1;
	for (struct if_nameindex *i = list; i->if_index != 0; i++) {
		if (net_has_mac(sock, i->if_name, mac) != 1)
			continue;
		if (found++ == 0)
			snprintf(name, IFNAMSIZ, "%s", i->if_name);
	}
	if_freenameindex(list);
	return found;
}

int alk_net_link_up(int sock, const char *ifname)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
		return errno;
	if (ifr.ifr_flags & IFF_UP)
		return 0;
	ifr.ifr_flags |= IFF_UP;
	return ioctl(sock, SIOCSIFFLAGS, &ifr) < 0 ? errno : 0;
}

/* The host drops IPv6 on the link anyway; without it the guest does not
 * wait on router solicitations or try AAAA first. A kernel without IPv6
 * has no such file. */
static int net_no_ipv6(const char *ifname, NetFail *f)
{
	char path[128];
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0 || write(fd, "1\n", 2) != 2) {
		net_fail(f, errno, "disabling IPv6 on %s", ifname);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static void net_sockaddr(struct sockaddr *sa, const uint8_t *ip)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	memcpy(&sin.sin_addr, ip, ALK_PROTO_IPV4_SIZE);
	memcpy(sa, &sin, sizeof(sin));
}

static int net_ioctl(int sock, unsigned long req, struct ifreq *ifr, NetFail *f, const char *what)
{
	return ioctl(sock, req, ifr) < 0 ? net_fail(f, errno, what, ifr->ifr_name) : 0;
}

/* SIOCSIFADDR replaces the primary address (with a classful mask), the
 * netmask then fixes mask, broadcast and the subnet route. */
static int net_address(int sock, const char *ifname, const AlkMsgNetConfig *c, NetFail *f)
{
	struct ifreq ifr;
	uint32_t mask = htonl(~(UINT32_MAX >> c->prefix_len));
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_mtu = (int)c->mtu;
	if (net_ioctl(sock, SIOCSIFMTU, &ifr, f, "setting the MTU of %s") < 0)
		return -1;
	net_sockaddr(&ifr.ifr_addr, c->address);
	if (net_ioctl(sock, SIOCSIFADDR, &ifr, f, "setting the address of %s") < 0)
		return -1;
	net_sockaddr(&ifr.ifr_netmask, (const uint8_t *)&mask);
	return net_ioctl(sock, SIOCSIFNETMASK, &ifr, f, "setting the netmask of %s");
}

/* EEXIST: an agent that restarted finds its own route still there. */
static int net_route(int sock, const char *ifname, const AlkMsgNetConfig *c, NetFail *f)
{
	static const uint8_t any[ALK_PROTO_IPV4_SIZE];
	struct rtentry rt;
	char dev[IFNAMSIZ];
	if (memcmp(c->gateway, any, sizeof(any)) == 0)
		return 0;
	memset(&rt, 0, sizeof(rt));
	snprintf(dev, sizeof(dev), "%s", ifname);
	net_sockaddr(&rt.rt_dst, any);
	net_sockaddr(&rt.rt_genmask, any);
	net_sockaddr(&rt.rt_gateway, c->gateway);
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	rt.rt_dev = dev;
	if (ioctl(sock, SIOCADDRT, &rt) < 0 && errno != EEXIST)
		return net_fail(f, errno, "adding the default route on %s", ifname);
	return 0;
}

/* Written whole into a temporary file and renamed over the old one, so a
 * resolver never reads half a file. */
static int net_resolv_conf(const char *path, const uint8_t *dns, NetFail *f)
{
	char tmp[4096], line[64];
	int n = snprintf(line, sizeof(line), "nameserver " IP_FMT "\n", IP_ARGS(dns));
	snprintf(tmp, sizeof(tmp), "%s.airlock-XXXXXX", path);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return net_fail(f, errno, "writing %s", path);
	bool ok = write(fd, line, (size_t)n) == n && fchmod(fd, 0644) == 0 && fsync(fd) == 0;
	int err = errno;
	ok = close(fd) == 0 && ok;
	if (ok && rename(tmp, path) == 0)
		return 0;
	err = ok ? errno : err;
	unlink(tmp);
	return net_fail(f, err, "writing %s", path);
}

static int net_apply(AlkAgent *a, int sock, const char *ifname, NetFail *f)
{
	static const uint8_t none[ALK_PROTO_IPV4_SIZE];
	const AlkMsgNetConfig *c = &a->net.want;
	int err = alk_net_link_up(sock, "lo");
	if (err)
		return net_fail(f, err, "bringing %s up", "lo");
	if (net_no_ipv6(ifname, f) < 0 || net_address(sock, ifname, c, f) < 0)
		return -1;
	err = alk_net_link_up(sock, ifname);
	if (err)
		return net_fail(f, err, "bringing %s up", ifname);
	if (net_route(sock, ifname, c, f) < 0)
		return -1;
	if (memcmp(c->dns, none, sizeof(none)) != 0 &&
	    net_resolv_conf(a->net.resolv_conf, c->dns, f) < 0)
		return -1;
	return 0;
}

/* The OK once the link runs, or once the wait is over (then with a word
 * in the log: the address is set all the same). */
static void net_link_check(AlkAgent *a, int sock, uint64_t now)
{
	struct ifreq ifr;
	bool running;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", a->net.ifname);
	running = ioctl(sock, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_RUNNING);
	if (!running && now < a->net.give_up_ms) {
		a->net.retry_ms = now + ALK_NET_RETRY_MS;
		return;
	}
	if (!running)
		alk_log("network: %s does not run after %u ms; answering anyway", a->net.ifname,
		        ALK_NET_WAIT_MS);
	a->net.pending = false;
	a->net.awaiting_link = false;
	alk_send_ack(a, ALK_MSG_OK, a->net.id, 0);
}

static void net_done(AlkAgent *a, const char *ifname, int sock, uint64_t now)
{
	NetFail f = {0};
	a->net.pending = false;
	if (net_apply(a, sock, ifname, &f) < 0) {
		alk_send_errno(a, a->net.id, f.err, f.what);
		return;
	}
	a->net.configured = true;
	a->net.applied = a->net.want;
	alk_log("network: %s is " IP_FMT "/%u", ifname, IP_ARGS(a->net.want.address),
	        a->net.want.prefix_len);
	a->net.pending = true;
	a->net.awaiting_link = true;
	snprintf(a->net.ifname, sizeof(a->net.ifname), "%s", ifname);
	a->net.give_up_ms = now + ALK_NET_WAIT_MS;
	net_link_check(a, sock, now);
}

/* One look for the NIC: configured, refused, or left pending. */
static void net_try(AlkAgent *a, uint64_t now)
{
	char ifname[IFNAMSIZ] = "";
	const uint8_t *mac = a->net.want.mac;
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int n;
	if (a->net.awaiting_link) {
		if (sock >= 0)
			net_link_check(a, sock, now);
		else
			a->net.retry_ms = now + ALK_NET_RETRY_MS;
		if (sock >= 0)
			close(sock);
		return;
	}
	n = sock < 0 ? -1 : net_find(sock, mac, ifname);
	if (n < 0) {
		a->net.pending = false;
		alk_send_errno(a, a->net.id, errno, "listing network interfaces");
	} else if (n == 1) {
		net_done(a, ifname, sock, now);
	} else if (n > 1) {
		a->net.pending = false;
		alk_send_error(a, a->net.id, ALK_ERR_BAD_REQUEST, 0,
		               "%d network interfaces have MAC " MAC_FMT, n, MAC_ARGS(mac));
	} else if (now >= a->net.give_up_ms) {
		a->net.pending = false;
		alk_send_error(a, a->net.id, ALK_ERR_NOT_FOUND, 0,
		               "no network interface with MAC " MAC_FMT, MAC_ARGS(mac));
	} else {
		a->net.retry_ms = now + ALK_NET_RETRY_MS;
	}
	if (sock >= 0)
		close(sock);
}

/* Field by field: the struct has padding. */
static bool net_same(const AlkMsgNetConfig *x, const AlkMsgNetConfig *y)
{
	return memcmp(x->mac, y->mac, sizeof(x->mac)) == 0 &&
	       memcmp(x->address, y->address, sizeof(x->address)) == 0 &&
	       x->prefix_len == y->prefix_len &&
	       memcmp(x->gateway, y->gateway, sizeof(x->gateway)) == 0 &&
	       memcmp(x->dns, y->dns, sizeof(x->dns)) == 0 && x->mtu == y->mtu;
}

/* Sent once per boot. The same request again (a daemon that restarted and
 * does not know whether it was applied) is answered OK; a different one is
 * refused: replacing addresses and routes live is not supported. */
void alk_net_config(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m)
{
	if (!alk_msg_claim_id(a, h))
		return;
	if (a->net.pending) {
		alk_send_error(a, h->id, ALK_ERR_BUSY, 0, "a NET_CONFIG is in progress");
		return;
	}
	if (a->net.configured) {
		if (net_same(&a->net.applied, &m->net))
			alk_send_ack(a, ALK_MSG_OK, h->id, 0);
		else
			alk_send_error(a, h->id, ALK_ERR_BAD_REQUEST, 0,
			               "the network is already configured");
		return;
	}
	a->net.pending = true;
	a->net.id = h->id;
	a->net.want = m->net;
	uint64_t now = alk_now_ms();
	a->net.give_up_ms = now + ALK_NET_WAIT_MS;
	net_try(a, now);
}

void alk_net_tick(AlkAgent *a, uint64_t now)
{
	if (a->net.pending && now >= a->net.retry_ms)
		net_try(a, now);
}

int alk_net_timeout(const AlkAgent *a, int cur, uint64_t now)
{
	return a->net.pending ? alk_timeout_min(cur, a->net.retry_ms, now) : cur;
}

void alk_net_abort(AlkAgent *a)
{
	a->net.pending = false;
	a->net.awaiting_link = false;
}
