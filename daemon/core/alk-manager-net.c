/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Networked sandboxes (isolated, allowlist): each gets a namespace al<id>
 * holding its tap (moved in while the domain is paused) and, for allowlist,
 * an uplink veth to the egress namespace, nftables fed by a resolver that
 * answers only allowlisted names and pins their addresses. What the network
 * is made of (names, addresses, commands, rules) is net's recipe
 * (alk-net-recipe.h); here it is asked for, run and tied to the sandbox. */
#include <stdio.h>
#include <string.h>

#include "alk-allow.h"
#include "alk-error.h"
#include "alk-manager-net-private.h"
#include "alk-resolver.h"

/* The networked slot ref names, or NULL when the manager let go of it. */
AlkSlot *alk_net_ref_slot(const AlkSlotRef *ref)
{
	AlkSlot *slot = alk_slot_ref_get(ref);

	return slot != NULL && slot->net != NULL ? slot : NULL;
}

void alk_slot_net_free(AlkSlot *slot)
{
	AlkSlotNet *n = slot->net;

	if (n == NULL)
		return;
	g_clear_pointer(&n->resolver, alk_resolver_free);
	g_clear_pointer(&n->allow, g_ptr_array_unref);
	g_clear_pointer(&n->extra_denied, g_ptr_array_unref);
	g_clear_pointer(&n->answers, alk_answers_free);
	g_clear_pointer(&n->layout, alk_net_layout_free);
	g_free(n);
	slot->net = NULL;
}

static const char *egress(AlkManager *m)
{
	return m->config->net.egress_netns[0] != '\0' ? m->config->net.egress_netns : NULL;
}

gboolean alk_slot_net_allowlist(AlkSlot *slot)
{
	return slot->sb->limits.network == ALK_NET_ALLOWLIST;
}

gboolean alk_slot_net_wanted(AlkSlot *slot)
{
	return slot->sb->limits.network != ALK_NET_NONE;
}

const char *alk_slot_net_tap(AlkSlot *slot)
{
	return slot->net != NULL && slot->net->layout != NULL ? slot->net->layout->tap : NULL;
}

const char *alk_slot_net_mac(AlkSlot *slot)
{
	return slot->net != NULL && slot->net->layout != NULL ? slot->net->layout->mac : NULL;
}

void alk_slot_net_use_mac(AlkSlot *slot, const char *mac)
{
	AlkNetLayout *l = slot->net != NULL ? slot->net->layout : NULL;
	guint v[6];

	if (l == NULL ||
	    sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return;
	g_strlcpy(l->mac, mac, sizeof(l->mac));
	for (guint i = 0; i < 6; i++)
		l->mac_bytes[i] = (guint8)v[i];
}

/* ---- addresses and policy ---- */

/* The lowest /30 no sandbox holds. */
static gboolean uplink_allocate(AlkManager *m, AlkSandbox *sb, GError **error)
{
	g_autoptr(GHashTable) used = g_hash_table_new(NULL, NULL);
	guint capacity = alk_net_uplink_capacity(m->config->net.uplink_cidr);
	GHashTableIter it;
	gpointer value;

	g_hash_table_iter_init(&it, m->slots);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		AlkSandbox *other = ((AlkSlot *)value)->sb;

		if (other != sb && other->net.uplink >= 0)
			g_hash_table_add(used, GINT_TO_POINTER(other->net.uplink + 1));
	}
	for (guint i = 0; i < capacity; i++) {
		if (!g_hash_table_contains(used, GINT_TO_POINTER(i + 1))) {
			sb->net.uplink = (gint)i;
			return TRUE;
		}
	}
	g_set_error(error, ALK_ERROR, ALK_ERROR_LIMIT, "network.uplink_cidr %s is used up",
	            m->config->net.uplink_cidr);
	return FALSE;
}

GPtrArray *alk_manager_net_denied(AlkManager *m, GError **error)
{
	return alk_net_denied(egress(m), m->config->net.uplink_cidr, m->config->net.deny, error);
}

gboolean alk_manager_net_check(AlkManager *m, const char *const *allow, GError **error)
{
	g_autoptr(GPtrArray) denied = alk_manager_net_denied(m, error);
	g_autoptr(GPtrArray) list =
	    denied != NULL ? alk_allow_list_parse_egress(allow, denied, error) : NULL;

	return list != NULL;
}

char **alk_net_allow_strv(GPtrArray *allow)
{
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();

	for (guint i = 0; allow != NULL && i < allow->len; i++) {
		g_autofree char *text = alk_allow_entry_to_string(g_ptr_array_index(allow, i));

		g_strv_builder_add(b, text);
	}
	return g_strv_builder_end(b);
}

/* A slot's network state, still without its layout. */
static AlkSlotNet *net_new(AlkSlot *slot)
{
	AlkSlotNet *n = g_new0(AlkSlotNet, 1);

	n->answers = alk_answers_new();
	slot->net = n;
	return n;
}

/* Its names and addresses, from net's recipe; uplink: its /30, -1: none. */
static gboolean net_layout(AlkSlot *slot, gint uplink, GError **error)
{
	AlkManager *m = slot->m;
	AlkSandbox *sb = slot->sb;
	AlkNetLayout *l = alk_net_layout_new(sb->id, m->config->state_dir, egress(m),
	                                     m->config->net.uplink_cidr, uplink, error);

	if (l == NULL)
		return FALSE;
	alk_net_layout_free(slot->net->layout);
	slot->net->layout = l;
	g_free(sb->net.address);
	sb->net.address = g_strdup(l->guest);
	return TRUE;
}

/* What it may reach: isolated reaches nothing at all, so there is no
 * egress to ask about. */
static gboolean net_policy(AlkSlot *slot, GError **error)
{
	AlkSlotNet *n = slot->net;

	n->extra_denied = alk_slot_net_allowlist(slot)
	                      ? alk_manager_net_denied(slot->m, error)
	                      : g_ptr_array_new_with_free_func(g_object_unref);
	if (n->extra_denied == NULL)
		return FALSE;
	n->allow = alk_allow_list_parse_egress((const char *const *)slot->sb->net.allow,
	                                       n->extra_denied, error);
	return n->allow != NULL;
}

/* ---- steps ---- */

/* The namespace exists, whole or in part, and is deleted at the end. */
static void prepared(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autofree AlkSlotRef *ref = data;
	GError *error = NULL;
	gboolean ok = alk_net_ops_finish(res, &error);
	AlkSlot *slot = alk_net_ref_slot(ref);

	if (slot == NULL || alk_slot_settled(slot, ALK_RES_NETWORK, TRUE)) {
		g_clear_error(&error);
		return;
	}
	if (!ok)
		g_prefix_error(&error, "network: ");
	ref->next(slot, error);
}

static AlkNetPlan *setup_plan(AlkSlot *slot, GError **error)
{
	AlkSlotNet *n = slot->net;
	AlkSandbox *sb = slot->sb;
	g_autoptr(GPtrArray) pins = NULL;
	AlkNetRules rules = {0};

	if (!net_policy(slot, error) ||
	    (alk_slot_net_allowlist(slot) && !uplink_allocate(slot->m, sb, error)) ||
	    !net_layout(slot, alk_slot_net_allowlist(slot) ? sb->net.uplink : -1, error))
		return NULL;
	pins = alk_slot_net_pins(slot, n->allow);
	rules = (AlkNetRules){.allow = n->allow,
	                      .generation = sb->net.generation,
	                      .pins = pins,
	                      .extra_denied = n->extra_denied};
	return alk_net_plan_setup(n->layout, &rules, error);
}

/* Namespace, uplink and rules, before the domain exists. */
void alk_slot_net_prepare(AlkSlot *slot, AlkSlotNext next)
{
	AlkSandbox *sb = slot->sb;
	GError *error = NULL;
	AlkNetPlan *plan;

	net_new(slot);
	plan = setup_plan(slot, &error);
	if (plan == NULL) {
		next(slot, error);
		return;
	}
	g_strfreev(sb->net.allow);
	sb->net.allow = alk_net_allow_strv(slot->net->allow);
	slot->res[ALK_RES_NETWORK] = ALK_HOLD_MAKING;
	alk_net_run(slot->m, plan, prepared, alk_slot_ref(slot, next));
}

static GInetSocketAddress *upstream_address(AlkManager *m, GError **error)
{
	return alk_resolver_upstream(m->config->net.dns_upstream, NULL, error);
}

void alk_manager_net_check_config(AlkManager *m)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GInetSocketAddress) upstream = upstream_address(m, &error);
	gboolean wanted = FALSE;

	for (guint i = 0; i < m->config->profiles->len; i++) {
		const AlkProfile *p = g_ptr_array_index(m->config->profiles, i);

		wanted |= (p->network_modes & ALK_NET_FLAG(ALK_NET_ALLOWLIST)) != 0;
	}
	if (!wanted)
		return;
	if (upstream == NULL)
		g_warning("allowlist sandboxes will fail to start: %s", error->message);
	if (egress(m) == NULL)
		return;
	if (!alk_net_exists(m, egress(m)))
		g_warning("network.egress_netns: no namespace %s (yet): allowlist sandboxes fail "
		          "until it exists",
		          egress(m));
}

/* The resolver: a socket on the guest's gateway inside the namespace; its
 * queries go out from sockets of the egress namespace. */
static gboolean start_resolver(AlkSlot *slot, GError **error)
{
	AlkSlotNet *n = slot->net;
	g_autoptr(GInetSocketAddress) upstream = upstream_address(slot->m, error);
	g_autoptr(GSocket) listen = NULL;

	if (upstream == NULL)
		return FALSE;
	listen = slot->m->net_ops->resolver_socket(slot->m->net_ctx, n->layout->ns, error);
	if (listen == NULL)
		return FALSE;
	n->resolver = alk_resolver_new(listen, egress(slot->m), upstream, alk_slot_net_on_pins,
	                               alk_slot_ref(slot, NULL), g_free);
	alk_resolver_set_policy(n->resolver, n->allow, n->extra_denied);
	return TRUE;
}

static void resumed(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autofree AlkSlotRef *ref = data;
	GError *error = NULL;
	gboolean ok = alk_virt_ops_finish(res, &error);
	AlkSlot *slot = alk_net_ref_slot(ref);

	if (slot == NULL) {
		g_clear_error(&error);
		return;
	}
	ref->next(slot, ok ? NULL : error);
}

/* Its tap is in the namespace: the resolver starts, the guest runs. */
static void tap_moved(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autofree AlkSlotRef *ref = data;
	GError *error = NULL;
	gboolean ok = alk_net_ops_finish(res, &error);
	AlkSlot *slot = alk_net_ref_slot(ref);

	if (slot == NULL) {
		g_clear_error(&error);
		return;
	}
	if (!ok)
		g_prefix_error(&error, "network: ");
	else if (alk_slot_net_allowlist(slot))
		start_resolver(slot, &error);
	if (error != NULL || slot->end != ALK_END_NONE) {
		ref->next(slot, error);
		return;
	}
	slot->m->virt_ops->resume(slot->m->virt_ctx, slot->sb->domain, resumed,
	                          g_steal_pointer(&ref));
}

/* The domain exists, paused: its tap goes into the namespace, the resolver
 * starts, then the guest runs; next(slot, error) in every case. */
void alk_slot_net_attach(AlkSlot *slot, AlkSlotNext next)
{
	alk_net_run(slot->m, alk_net_plan_attach(slot->net->layout), tap_moved,
	            alk_slot_ref(slot, next));
}

static void parse_ipv4(const char *text, guint8 out[4])
{
	g_autoptr(GInetAddress) a = g_inet_address_new_from_string(text);

	memcpy(out, g_inet_address_to_bytes(a), 4);
}

static void configured(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autofree AlkSlotRef *ref = data;
	GError *error = NULL;
	AlkSlot *slot = alk_net_ref_slot(ref);
	gboolean ok;

	if (slot == NULL || slot->channel == NULL)
		return;
	ok = alk_channel_net_config_finish(slot->channel, res, &error);
	if (!ok)
		g_prefix_error(&error, "configuring the guest's network: ");
	ref->next(slot, error);
}

/* The agent answers: it gives the guest its address, route and resolver. */
void alk_slot_net_configure(AlkSlot *slot, AlkSlotNext next)
{
	AlkMsgNetConfig cfg = {.prefix_len = ALK_NET_GUEST_PREFIX, .mtu = ALK_NET_GUEST_MTU};

	memcpy(cfg.mac, slot->net->layout->mac_bytes, sizeof(cfg.mac));
	parse_ipv4(ALK_NET_GUEST_ADDRESS, cfg.address);
	parse_ipv4(ALK_NET_GATEWAY, cfg.gateway);
	if (alk_slot_net_allowlist(slot))
		parse_ipv4(ALK_NET_GATEWAY, cfg.dns);
	alk_channel_net_config_async(slot->channel, &cfg, NULL, configured,
	                             alk_slot_ref(slot, next));
}

/* ---- adoption and the end ---- */

gboolean alk_slot_net_adopt(AlkSlot *slot, GError **error)
{
	net_new(slot);
	slot->res[ALK_RES_NETWORK] = ALK_HOLD_HELD;
	if (!net_layout(slot, alk_slot_net_allowlist(slot) ? slot->sb->net.uplink : -1, error))
		return FALSE;
	alk_slot_net_answers_load(slot);
	if (!alk_net_exists(slot->m, slot->net->layout->ns)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_FAILED, "its namespace %s is gone",
		            slot->net->layout->ns);
		return FALSE;
	}
	if (!net_policy(slot, error))
		return FALSE;
	/* its rules and pins are still loaded; only the resolver died with us */
	return !alk_slot_net_allowlist(slot) || start_resolver(slot, error);
}

static void net_deleted(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autofree AlkSlotRef *ref = data;
	GError *error = NULL;
	AlkSlot *slot = alk_slot_ref_get(ref);

	if (!alk_net_ops_finish(res, &error))
		g_warning("sandbox %s: removing its network: %s", ref->id, error->message);
	g_clear_error(&error);
	if (slot == NULL)
		return;
	alk_slot_net_free(slot);
	ref->next(slot, NULL);
}

/* A layout only to name what to remove: the uplink plays no part. */
static AlkNetLayout *teardown_layout(AlkManager *m, const char *id)
{
	g_autoptr(GError) error = NULL;
	AlkNetLayout *l = alk_net_layout_new(id, m->config->state_dir, egress(m),
	                                     m->config->net.uplink_cidr, -1, &error);

	if (l == NULL)
		g_warning("sandbox %s: %s", id, error->message);
	return l;
}

static void last_count(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autofree AlkSlotRef *ref = data;
	AlkSlot *slot = alk_slot_ref_get(ref);
	guint64 allowed = 0, denied = 0;

	if (alk_net_counters_finish(ref->m, res, &allowed, &denied, NULL) && slot != NULL) {
		slot->sb->net.allowed = MAX(slot->sb->net.allowed, allowed);
		slot->sb->net.denied = MAX(slot->sb->net.denied, denied);
	}
	if (slot == NULL)
		return;
	if (slot->net == NULL) { /* let go of meanwhile: nothing left to name */
		ref->next(slot, NULL);
		return;
	}
	alk_net_run(slot->m, alk_net_plan_teardown(slot->net->layout), net_deleted,
	            alk_slot_ref(slot, ref->next));
}

/* The domain is gone: the counters are read a last time (for the audit
 * log), the resolver stops, the namespace and all in it go. */
void alk_slot_net_teardown(AlkSlot *slot, AlkSlotNext next)
{
	AlkSlotNet *n = slot->net;

	if (n == NULL)
		n = net_new(slot); /* freed once deleted */
	if (n->resolver != NULL)
		alk_resolver_get_counts(n->resolver, &slot->sb->net.dns_queries,
		                        &slot->sb->net.dns_refused);
	g_clear_pointer(&n->resolver, alk_resolver_free);
	if (n->layout == NULL)
		n->layout = teardown_layout(slot->m, slot->sb->id);
	if (n->layout == NULL) { /* nothing can be named, so nothing removed */
		alk_slot_net_free(slot);
		next(slot, NULL);
		return;
	}
	alk_net_counters(slot->m, n->layout->ns, last_count, alk_slot_ref(slot, next));
}

static gboolean allowlist_wanted(AlkManager *m)
{
	for (guint i = 0; i < m->config->profiles->len; i++) {
		const AlkProfile *p = g_ptr_array_index(m->config->profiles, i);

		if ((p->network_modes & ALK_NET_FLAG(ALK_NET_ALLOWLIST)) != 0)
			return TRUE;
	}
	return FALSE;
}

/* With no allowlist sandbox of ours left, our egress table goes too (the
 * next one loads it again); another instance's is never touched. */
static void sweep_egress(AlkManager *m)
{
	g_autoptr(GError) error = NULL;
	GHashTableIter it;
	gpointer value;

	g_hash_table_iter_init(&it, m->slots);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		if (alk_slot_net_allowlist(value))
			return;
	}
	if (!allowlist_wanted(m))
		return;
	if (egress(m) != NULL && !alk_net_exists(m, egress(m)))
		return;
	if (!m->net_ops->run_sync(
	        m->net_ctx, alk_net_plan_egress_remove(egress(m), m->config->state_dir), &error))
		g_message("reconcile: removing the egress table: %s", error->message);
}

/* Start-up: namespaces of our sandboxes nobody adopted are deleted. */
void alk_manager_net_sweep(AlkManager *m)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) names = m->net_ops->list(m->net_ctx, &error);

	if (names == NULL) {
		g_warning("reconcile: %s", error->message);
		return;
	}
	for (guint i = 0; i < names->len; i++) {
		const char *ns = g_ptr_array_index(names, i);
		const char *id = alk_netns_id_of(ns);
		g_autofree char *state =
		    g_build_filename(m->config->state_dir, "sandboxes", id, NULL);
		g_autofree char *run = g_build_filename(m->config->run_dir, "sandboxes", id, NULL);
		g_autoptr(AlkNetLayout) l = NULL;

		/* ours only: another airlockd's sandboxes have their dirs elsewhere
		 * (a namespace always goes before its sandbox's dirs) */
		if (alk_slot_lookup(m, id) != NULL || (!g_file_test(state, G_FILE_TEST_IS_DIR) &&
		                                       !g_file_test(run, G_FILE_TEST_IS_DIR)))
			continue;
		g_message("reconcile: deleting orphaned network namespace %s", ns);
		l = teardown_layout(m, id);
		if (l != NULL &&
		    !m->net_ops->run_sync(m->net_ctx, alk_net_plan_teardown(l), &error)) {
			g_warning("reconcile: %s", error->message);
			g_clear_error(&error);
		}
	}
	sweep_egress(m);
}
