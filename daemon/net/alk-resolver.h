/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The DNS resolver of one sandbox in allowlist mode: answers the guest's
 * queries on a socket in its network namespace, for allowlisted names only.
 *
 * A name no HOST entry admits is REFUSED and never leaves the host. An A query
 * for an admitted name is forwarded upstream from a socket of its own (a fresh
 * random source port) under a fresh random id; the reply counts only if it
 * reaches that socket from the upstream address and port and carries that id
 * and our question. Of the reply only A records owned by the name
 * or by its CNAME chain are used, each address checked against the denied
 * ranges; the guest gets them as A records of the name it asked for, but only
 * after they are pinned into nftables, so it can reach exactly what it was
 * told and nothing else. AAAA gets an empty NOERROR (no IPv6 egress); other
 * types and classes are REFUSED. Malformed queries get FORMERR if their header
 * is readable, else nothing. Every datagram from the guest takes a token from a
 * bucket first; without one it is dropped unanswered, so a flood neither reaches
 * the upstream nor gets answers back. The guest and the upstream are both
 * distrusted.
 *
 * Everything runs on the thread-default main context of alk_resolver_new(). */
#pragma once

#include <gio/gio.h>
#include <glib.h>

#define ALK_RESOLVER_TIMEOUT_MS 3000 /* upstream reply, then pinning */
#define ALK_RESOLVER_INFLIGHT_MAX 64 /* more at once: SERVFAIL, counted refused */
#define ALK_RESOLVER_PIN_MIN_S 60
#define ALK_RESOLVER_PIN_MAX_S 3600
/* Queries from the guest: ALK_RESOLVER_BURST at once, then ALK_RESOLVER_RATE a
 * second. A program resolving its hosts stays far below; a guest flooding the
 * upstream through us is held to this. Over it: dropped unanswered, refused. */
#define ALK_RESOLVER_RATE 100
#define ALK_RESOLVER_BURST 200
/* where the upstream comes from when none is configured */
#define ALK_RESOLVER_RESOLV_CONF "/etc/resolv.conf"

typedef struct AlkResolver AlkResolver;

/* Called with the name asked for and the pins of its answer (AlkNftPin *, from
 * alk-nft.h; name, array and pins valid during the call only). The callee loads them and calls
 * done(done_data, ok) exactly once, from within the call or later on the
 * resolver's main context; the answer goes to the guest only after ok (not
 * ok: SERVFAIL). done stays safe to call after alk_resolver_free(). The
 * callee must not free the resolver from within the call. */
typedef void (*AlkResolverPinFunc)(const char *name, GPtrArray *pins,
                                   void (*done)(gpointer done_data, gboolean ok),
                                   gpointer done_data, gpointer user_data);

/* listen: a bound UDP socket (in the sandbox's namespace) the guest queries;
 * made non-blocking, the resolver takes a reference and closes it in
 * alk_resolver_free(). Each query forwarded to upstream_address goes from a
 * UDP socket of its own, made in namespace upstream_ns (the egress one;
 * NULL: the caller's) and connected to the upstream, so from a fresh random
 * port, under a fresh random id; it closes with the query's answer.
 * pin(..., user_data) is required; user_data_free (may be NULL) is called on
 * user_data by alk_resolver_free(). No policy is set: every name is refused
 * until alk_resolver_set_policy(). */
AlkResolver *alk_resolver_new(GSocket *listen, const char *upstream_ns,
                              GInetSocketAddress *upstream_address, AlkResolverPinFunc pin,
                              gpointer user_data, GDestroyNotify user_data_free);

/* Replaces the policy: allow = AlkAllowEntry * (alk_allow_list_parse), may be
 * NULL (nothing admitted); extra_denied = GInetAddressMask *, may be NULL.
 * Both are ref'd. Queries already forwarded are judged by the policy in force
 * when their reply arrives. */
void alk_resolver_set_policy(AlkResolver *r, GPtrArray *allow, GPtrArray *extra_denied);

/* queries: every datagram received from the guest; refused: those answered
 * REFUSED, FORMERR or not at all because of the policy, the limits or their
 * form (denied names, other types, all addresses denied, over the rate, too
 * many in flight, malformed). Either pointer may be NULL. */
void alk_resolver_get_counts(AlkResolver *r, guint64 *queries, guint64 *refused);

/* The deadline for the upstream reply, and again for pinning; for tests.
 * Applies to queries forwarded afterwards. */
void alk_resolver_set_timeout_ms(AlkResolver *r, guint timeout_ms);

/* Replaces ALK_RESOLVER_RATE and ALK_RESOLVER_BURST (both > 0) and fills the
 * bucket; for tests. */
void alk_resolver_set_rate(AlkResolver *r, guint per_s, guint burst);

/* Stops, drops pending queries (unanswered), closes every socket, frees
 * user_data. NULL is fine. A done() still outstanding becomes a no-op. */
void alk_resolver_free(AlkResolver *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkResolver, alk_resolver_free)

/* The upstream server, port 53: configured (an IPv4 address) unless it is
 * NULL or "", else the first IPv4 `nameserver` line of resolv_conf (the
 * text of a resolv.conf). ALK_ERROR_FAILED if there is none. */
GInetSocketAddress *alk_resolver_upstream_parse(const char *configured, const char *resolv_conf,
                                                GError **error);
/* The same, reading the file resolv_conf_path (NULL: ALK_RESOLVER_RESOLV_CONF)
 * when it is needed. */
GInetSocketAddress *alk_resolver_upstream(const char *configured, const char *resolv_conf_path,
                                          GError **error);
