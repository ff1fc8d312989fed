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
/* each daemon instance's table in the egress namespace: this and 8 hex digits */
#define ALK_NFT_EGRESS_PREFIX "airlock_egress_"
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
 * configured one), one table per daemon instance (alk_nft_egress_table()),
 * so two daemons sharing an egress namespace never touch each other's: it
 * masquerades the instance's uplink pool out of any interface but the
 * sandboxes' uplinks (`al*`), and drops what sandboxes send to the egress
 * namespace itself or to each other. Replaced atomically, idempotent.
 * pool: IPv4 CIDR text. */
char *alk_nft_render_egress(const char *table, const char *pool);
/* Removes that table if it is there; touches nothing else. */
char *alk_nft_render_egress_delete(const char *table);
/* "airlock_egress_" and 8 hex digits of the SHA-256 of instance (the
 * daemon's state_dir): one name per instance, stable across restarts. */
char *alk_nft_egress_table(const char *instance);

/* `add element` commands for pins into a loaded table, same checks. */
char *alk_nft_render_pins(GPtrArray *pins, gboolean ipv6, GPtrArray *extra_denied, GError **error);

AlkNftPin *alk_nft_pin_new(GInetAddress *address, guint16 port, guint timeout_s);
/* NULL is fine. */
void alk_nft_pin_free(AlkNftPin *pin);
/* An empty GPtrArray of AlkNftPin * that frees them. */
GPtrArray *alk_nft_pins_new(void);

/* The packets of the `allowed` and `denied` counters of table inet airlock in
 * the output of `nft -j list counters table inet airlock`; what is not there
 * (or not JSON) counts 0. */
void alk_nft_parse_counters(const char *json, guint64 *allowed, guint64 *denied);
