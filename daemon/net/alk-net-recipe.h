/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The recipe of a networked sandbox's network: from its layout
 * (alk-net-layout.h) and its policy, the plans (alk-net-plan.h) that make,
 * change and remove it and the nftables ruleset they load. Pure: builds data,
 * runs nothing; the caller runs the plans.
 *
 * A layout with an uplink (allowlist) gets the veth to the egress namespace,
 * forwarding, the instance's egress table and the resolver's DNS rule; one
 * without (isolated) only its namespace, lo and the tap. */
#pragma once

#include <gio/gio.h>
#include <glib.h>

#include "alk-net-layout.h"
#include "alk-net-plan.h"

typedef struct {
	GPtrArray *allow;        /* AlkAllowEntry *, from alk_allow_list_parse(); NULL: nothing */
	guint generation;        /* of the allowlist: marks the connections it lets out */
	GPtrArray *pins;         /* AlkNftPin *, the resolver's answers; may be NULL */
	GPtrArray *extra_denied; /* GInetAddressMask *, alk_net_denied(); may be NULL */
} AlkNetRules;

/* The namespace's whole ruleset (alk_nft_render()) for the layout and rules. */
char *alk_net_ruleset(const AlkNetLayout *l, const AlkNetRules *rules, GError **error);

/* Before the domain exists: the namespace with lo up and IPv6 off; with an
 * uplink, forwarding and the egress table in the egress namespace, the veth
 * and its addresses and the default route; then the ruleset. */
AlkNetPlan *alk_net_plan_setup(const AlkNetLayout *l, const AlkNetRules *rules, GError **error);
/* The domain exists, paused: its tap into the namespace, addressed, up. */
AlkNetPlan *alk_net_plan_attach(const AlkNetLayout *l);
/* A new allowlist or generation: the ruleset replaced in one transaction. */
AlkNetPlan *alk_net_plan_rules(const AlkNetLayout *l, const AlkNetRules *rules, GError **error);
/* The resolver's answer: its pins added to the loaded sets. */
AlkNetPlan *alk_net_plan_pins(const AlkNetLayout *l, GPtrArray *pins, GPtrArray *extra_denied,
                              GError **error);
/* The end: the uplink's host end if any, then the namespace if it is there
 * (with everything in it); nothing to remove is success. */
AlkNetPlan *alk_net_plan_teardown(const AlkNetLayout *l);
/* This instance's egress table removed from egress_ns (NULL: the daemon's
 * own) if it is there; no other instance's is touched. */
AlkNetPlan *alk_net_plan_egress_remove(const char *egress_ns, const char *instance);

/* What a sandbox never reaches besides the fixed ranges: host (the daemon's
 * namespace's addresses), egress (the egress namespace's; may be NULL), the
 * uplink pool, the guest link and deny (the operator's comma-separated
 * CIDRs). Loopback, link-local and IPv6 ones are left out: always denied. */
GPtrArray *alk_net_denied_from(GPtrArray *host, GPtrArray *egress, const char *uplink_cidr,
                               const char *deny);
/* The same, reading the addresses of the daemon's and egress_ns's
 * interfaces (egress_ns NULL or "": the daemon's own). */
GPtrArray *alk_net_denied(const char *egress_ns, const char *uplink_cidr, const char *deny,
                          GError **error);
