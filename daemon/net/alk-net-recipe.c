/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-net-recipe.h"

#include "alk-error.h"
#include "alk-nft.h"

char *alk_net_ruleset(const AlkNetLayout *l, const AlkNetRules *rules, GError **error)
{
	gboolean uplink = l->uplink >= 0;
	g_autoptr(GInetAddress) gw = g_inet_address_new_from_string(ALK_NET_GATEWAY);
	AlkNftPolicy policy = {
	    .allow = rules->allow,
	    .uplink = uplink ? ALK_NETNS_UPLINK : NULL,
	    .generation = rules->generation,
	    .pins = rules->pins,
	    .resolver = uplink ? gw : NULL,
	    .extra_denied = rules->extra_denied,
	};

	return alk_nft_render(&policy, error);
}

/* The veth to the egress namespace: `al<id>` there, `eth0` inside. */
static void uplink_steps(AlkNetPlan *plan, const AlkNetLayout *l)
{
	const char *eg = l->egress_ns;
	g_autofree char *egress_rules = alk_nft_render_egress(l->egress_table, l->pool);

	alk_net_plan_sysctl(plan, eg, "net.ipv4.ip_forward", "1");
	alk_net_plan_nft(plan, eg, egress_rules);
	alk_net_plan_sysctl(plan, l->ns, "net.ipv4.ip_forward", "1");
	alk_net_plan_ip_link(plan, eg, FALSE,
	                     &(AlkNetLink){.op = ALK_NET_LINK_VETH,
	                                   .ifname = l->ns,
	                                   .arg = ALK_NETNS_UPLINK,
	                                   .peer_ns = l->ns},
	                     "link", "add", l->ns, "type", "veth", "peer", "name", ALK_NETNS_UPLINK,
	                     "netns", l->ns, NULL);
	alk_net_plan_ip_link(
	    plan, eg, FALSE,
	    &(AlkNetLink){.op = ALK_NET_LINK_ADDR, .ifname = l->ns, .arg = l->uplink_outer}, "addr",
	    "add", l->uplink_outer, "dev", l->ns, NULL);
	alk_net_plan_ip_link(plan, eg, FALSE, &(AlkNetLink){.op = ALK_NET_LINK_UP, .ifname = l->ns},
	                     "link", "set", l->ns, "up", NULL);
	alk_net_plan_ip_link(plan, l->ns, FALSE,
	                     &(AlkNetLink){.op = ALK_NET_LINK_ADDR,
	                                   .ifname = ALK_NETNS_UPLINK,
	                                   .arg = l->uplink_inner},
	                     "addr", "add", l->uplink_inner, "dev", ALK_NETNS_UPLINK, NULL);
	alk_net_plan_ip_link(plan, l->ns, FALSE,
	                     &(AlkNetLink){.op = ALK_NET_LINK_UP, .ifname = ALK_NETNS_UPLINK},
	                     "link", "set", ALK_NETNS_UPLINK, "up", NULL);
	alk_net_plan_ip_link(
	    plan, l->ns, FALSE,
	    &(AlkNetLink){.op = ALK_NET_LINK_ROUTE, .ifname = NULL, .arg = l->uplink_via}, "route",
	    "add", "default", "via", l->uplink_via, NULL);
}

AlkNetPlan *alk_net_plan_setup(const AlkNetLayout *l, const AlkNetRules *rules, GError **error)
{
	g_autofree char *ruleset = alk_net_ruleset(l, rules, error);
	AlkNetPlan *plan;

	if (ruleset == NULL)
		return NULL;
	plan = alk_net_plan_new();
	alk_net_plan_ip(plan, NULL, FALSE, "netns", "add", l->ns, NULL);
	alk_net_plan_ip_link(plan, l->ns, FALSE,
	                     &(AlkNetLink){.op = ALK_NET_LINK_UP, .ifname = "lo"}, "link", "set",
	                     "lo", "up", NULL);
	alk_net_plan_sysctl(plan, l->ns, "net.ipv6.conf.all.disable_ipv6", "1");
	alk_net_plan_sysctl(plan, l->ns, "net.ipv6.conf.default.disable_ipv6", "1");
	if (l->uplink >= 0)
		uplink_steps(plan, l);
	alk_net_plan_nft(plan, l->ns, ruleset);
	return plan;
}

AlkNetPlan *alk_net_plan_attach(const AlkNetLayout *l)
{
	AlkNetPlan *plan = alk_net_plan_new();

	alk_net_plan_ip_link(
	    plan, NULL, FALSE,
	    &(AlkNetLink){.op = ALK_NET_LINK_MOVE, .ifname = l->tap, .arg = NULL, .peer_ns = l->ns},
	    "link", "set", "dev", l->tap, "netns", l->ns, NULL);
	alk_net_plan_ip_link(
	    plan, l->ns, FALSE,
	    &(AlkNetLink){.op = ALK_NET_LINK_ADDR, .ifname = l->tap, .arg = l->gateway}, "addr",
	    "add", l->gateway, "dev", l->tap, NULL);
	alk_net_plan_ip_link(plan, l->ns, FALSE,
	                     &(AlkNetLink){.op = ALK_NET_LINK_UP, .ifname = l->tap}, "link", "set",
	                     "dev", l->tap, "up", NULL);
	return plan;
}

AlkNetPlan *alk_net_plan_rules(const AlkNetLayout *l, const AlkNetRules *rules, GError **error)
{
	g_autofree char *ruleset = alk_net_ruleset(l, rules, error);
	AlkNetPlan *plan;

	if (ruleset == NULL)
		return NULL;
	plan = alk_net_plan_new();
	alk_net_plan_nft(plan, l->ns, ruleset);
	return plan;
}

AlkNetPlan *alk_net_plan_pins(const AlkNetLayout *l, GPtrArray *pins, GPtrArray *extra_denied,
                              GError **error)
{
	/* IPv6 stays off: the resolver hands out A records only */
	g_autofree char *text = alk_nft_render_pins(pins, FALSE, extra_denied, error);
	AlkNetPlan *plan;

	if (text == NULL)
		return NULL;
	plan = alk_net_plan_new();
	alk_net_plan_nft(plan, l->ns, text);
	return plan;
}

AlkNetPlan *alk_net_plan_teardown(const AlkNetLayout *l)
{
	AlkNetPlan *plan = alk_net_plan_new();

	/* the host end goes first: a dying namespace frees its peer only later */
	alk_net_plan_ip_link(plan, l->egress_ns, TRUE,
	                     &(AlkNetLink){.op = ALK_NET_LINK_DELETE, .ifname = l->ns}, "link",
	                     "del", "dev", l->ns, NULL);
	alk_net_plan_netns_del(plan, l->ns);
	return plan;
}

AlkNetPlan *alk_net_plan_egress_remove(const char *egress_ns, const char *instance)
{
	g_autofree char *table = alk_nft_egress_table(instance);
	g_autofree char *text = alk_nft_render_egress_delete(table);
	AlkNetPlan *plan = alk_net_plan_new();

	alk_net_plan_nft(plan, egress_ns != NULL && egress_ns[0] != '\0' ? egress_ns : NULL, text);
	return plan;
}

static void add_masks(GPtrArray *out, GPtrArray *from)
{
	for (guint i = 0; from != NULL && i < from->len; i++)
		g_ptr_array_add(out, g_object_ref(g_ptr_array_index(from, i)));
}

static void add_cidr(GPtrArray *out, const char *text)
{
	GInetAddressMask *m = g_inet_address_mask_new_from_string(text, NULL);

	if (m != NULL)
		g_ptr_array_add(out, m);
}

GPtrArray *alk_net_denied_from(GPtrArray *host, GPtrArray *egress, const char *uplink_cidr,
                               const char *deny)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(g_object_unref);
	g_auto(GStrv) list = g_strsplit(deny != NULL ? deny : "", ",", -1);

	add_masks(out, host);
	add_masks(out, egress);
	add_cidr(out, uplink_cidr);
	add_cidr(out, ALK_NET_GUEST_LINK);
	for (guint i = 0; list[i] != NULL; i++) {
		g_strstrip(list[i]);
		if (list[i][0] != '\0')
			add_cidr(out, list[i]);
	}
	/* the host's loopback and link-local ones are denied anyway */
	for (guint i = out->len; i-- > 0;) {
		GInetAddress *a = g_inet_address_mask_get_address(g_ptr_array_index(out, i));

		if (g_inet_address_get_is_loopback(a) || g_inet_address_get_is_link_local(a) ||
		    g_inet_address_get_family(a) == G_SOCKET_FAMILY_IPV6)
			g_ptr_array_remove_index(out, i);
	}
	return out;
}

GPtrArray *alk_net_denied(const char *egress_ns, const char *uplink_cidr, const char *deny,
                          GError **error)
{
	g_autoptr(GPtrArray) host = alk_netns_addresses(NULL, error);
	g_autoptr(GPtrArray) edge = NULL;

	if (host == NULL)
		return NULL;
	if (egress_ns != NULL && egress_ns[0] != '\0') {
		edge = alk_netns_addresses(egress_ns, error);
		if (edge == NULL) {
			g_prefix_error(error, "network.egress_netns: ");
			return NULL;
		}
	}
	return alk_net_denied_from(host, edge, uplink_cidr, deny);
}
