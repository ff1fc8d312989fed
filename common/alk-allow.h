/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Egress allowlist entries of a sandbox (network issue): parsing, validation and
 * canonical form. Pure: nothing is resolved, no I/O.
 *
 * Grammar of one entry (ASCII, no spaces, at most ALK_ALLOW_ENTRY_MAX bytes):
 *   HOST[:PORT]        RFC 1123 name, labels 1..63 bytes of [a-z0-9-] not starting
 *                      or ending with '-', total <= 253, no trailing dot, at least
 *                      two labels, top label not all digits; lowercased.
 *   *.HOST[:PORT]      any name with one or more labels in front of HOST (which
 *                      needs two labels itself); never HOST itself.
 *   IPV4[/LEN][:PORT]  dotted quad (no leading zeros, no short forms).
 *   [IPV6[/LEN]][:PORT], IPV6[/LEN] (a bare IPv6 literal takes no port).
 *   PORT               1..65535, decimal, no leading zero; absent: any port.
 * A CIDR must have no bits set beyond its prefix length.
 *
 * Always denied: loopback, unspecified / "this network", link-local (incl.
 * 169.254.169.254), multicast, 240.0.0.0/4 and broadcast, IPv4-mapped IPv6, and
 * the caller's extra ranges (the host's own addresses, other sandboxes). An entry
 * lying inside one of them is refused; a wider CIDR (say 0.0.0.0/0) is accepted,
 * and the ruleset (alk-nft) drops the denied ranges before any allow rule. */
#pragma once

#include <gio/gio.h>
#include <glib.h>

/* a DNS name (253), a wildcard "*." and ":65535" */
#define ALK_ALLOW_ENTRY_MAX 261
/* entries in one sandbox's allowlist */
#define ALK_ALLOW_MAX 64

typedef enum {
	ALK_ALLOW_HOST, /* a DNS name, resolved by airlock's resolver */
	ALK_ALLOW_NET,  /* an address or CIDR */
} AlkAllowKind;

typedef struct {
	AlkAllowKind kind;
	char *host;             /* HOST: lowercase name, without any "*." */
	gboolean wildcard;      /* HOST: "*.host" */
	GInetAddressMask *mask; /* NET: address and prefix (32/128 for one address) */
	guint16 port;           /* 0: any port */
} AlkAllowEntry;

void alk_allow_entry_free(AlkAllowEntry *entry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkAllowEntry, alk_allow_entry_free)

/* Parses one entry's syntax. Errors: ALK_ERROR_INVALID naming the entry. */
AlkAllowEntry *alk_allow_entry_parse(const char *text, GError **error);

/* Canonical text: "host:443", "*.host", "192.0.2.0/24:80", "[2001:db8::1/128]:443".
 * Equal entries have equal text. */
char *alk_allow_entry_to_string(const AlkAllowEntry *entry);

/* Fails (ALK_ERROR_INVALID, naming the entry and the range) if a NET entry lies
 * inside an always-denied range or one of extra_denied (GInetAddressMask *, may
 * be NULL). HOST entries pass: their addresses are checked when resolved. */
gboolean alk_allow_entry_check_denied(const AlkAllowEntry *entry, GPtrArray *extra_denied,
                                      GError **error);

/* TRUE if address (resolved or dialled) lies in an always-denied range or in
 * one of extra_denied; the resolver checks every answer with this. */
gboolean alk_allow_address_is_denied(GInetAddress *address, GPtrArray *extra_denied);

/* TRUE if a HOST entry admits name (lowercase, no trailing dot). */
gboolean alk_allow_entry_matches_name(const AlkAllowEntry *entry, const char *name);

/* Parses, checks and folds a whole list: at most ALK_ALLOW_MAX entries (counted
 * before folding, ALK_ERROR_LIMIT beyond), duplicates (equal canonical text)
 * kept once in first-seen order. Returns AlkAllowEntry *, owned, or NULL. */
GPtrArray *alk_allow_list_parse(const char *const *entries, GPtrArray *extra_denied,
                                GError **error);

/* The always-denied ranges as CIDR text, NULL-terminated (for alk-nft too). */
const char *const *alk_allow_denied_ranges(void);

/* TRUE if any NET entry is IPv6: IPv6 stays dropped otherwise. */
gboolean alk_allow_list_has_ipv6(GPtrArray *list);

/* alk_allow_list_parse() for a sandbox's egress, which has no IPv6: an IPv6
 * entry would admit nothing, so it is refused (ALK_ERROR_INVALID). The one
 * rule for a list given at create and for a list that replaces it. */
GPtrArray *alk_allow_list_parse_egress(const char *const *entries, GPtrArray *extra_denied,
                                       GError **error);
