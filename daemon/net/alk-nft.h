/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The nftables ruleset of one sandbox's network namespace, as text for
 * `nft -f -`. Pure: renders, never runs nft.
 *
 * Table `inet airlock`, replaced atomically (the text creates, deletes and
 * redefines it in one transaction). Chains input/forward/output, policy drop:
 * established/related accepted (forward: only for connections marked with
 * the current generation; others are checked again and re-marked, so a
 * change of the allowlist cuts what it no longer admits); DNS (udp/tcp 53) to the namespace's
 * resolver accepted; the always-denied ranges (alk_allow_denied_ranges() plus the caller's) dropped
 * before any allow rule, so a wide CIDR never opens them; IPv6 dropped unless the allowlist has an
 * IPv6 entry; then tcp/udp to the allow sets, counted `allowed`; everything else counted `denied`
 * and dropped.
 *
 * Sets (the runtime adds pins to pin4/pin6/pin4any/pin6any with
 * alk_nft_render_pins()):
 *   allow4, allow6        address-or-CIDR . port, from NET entries with a port
 *   allow4any, allow6any  address-or-CIDR, from NET entries without a port
 *   pin4, pin6            address . port, resolver pins, with timeouts
 *   pin4any, pin6any      address, resolver pins for HOST entries without a port
 * Only tcp and udp are ever allowed out: no ICMP to allowed hosts. With an
 * uplink, nothing new enters through it, and what leaves is masqueraded
 * behind its address (every sandbox uses the same link addresses). */
#pragma once

#include <gio/gio.h>
#include <glib.h>

#define ALK_NFT_TABLE "airlock"
/* a pin outlives no DNS TTL beyond a day; 0 is raised to 1 s */
#define ALK_NFT_PIN_TIMEOUT_MAX (24 * 3600)

/* An address the resolver answered for an allowlisted name. */
typedef struct {
	GInetAddress *address;
	guint16 port; /* 0: any port */
	guint timeout_s;
} AlkNftPin;

typedef struct {
	GPtrArray *allow;        /* AlkAllowEntry *, from alk_allow_list_parse(); may be NULL */
	const char *uplink;      /* the uplink's name in the namespace; NULL: none (isolated) */
	guint generation;        /* of the allowlist: connections let out under another one are
	                          * checked again on their next packet (so removed entries cut
	                          * them); nothing comes in from the uplink unless it answers a
	                          * connection of this generation */
	GPtrArray *pins;         /* AlkNftPin *; may be NULL */
	GInetAddress *resolver;  /* the namespace's resolver; NULL: no DNS at all */
	GPtrArray *extra_denied; /* GInetAddressMask *: host addresses, other sandboxes */
} AlkNftPolicy;

/* The whole ruleset. Fails (ALK_ERROR_INVALID) on a pin inside a denied range
 * or an IPv6 pin while IPv6 is off. */
char *alk_nft_render(const AlkNftPolicy *policy, GError **error);

/* The egress side, loaded in the egress namespace (the host's or the
 * configured one): table `ip airlock_egress` masquerades the uplink pool
 * out of any interface but the sandboxes' uplinks (`al*`), and drops what
 * sandboxes send to the egress namespace itself or to each other. Replaced
 * atomically, idempotent. pool: IPv4 CIDR text. */
char *alk_nft_render_egress(const char *pool);

/* `add element` commands for pins into a loaded table, same checks. */
char *alk_nft_render_pins(GPtrArray *pins, gboolean ipv6, GPtrArray *extra_denied, GError **error);
