/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Networked sandboxes (isolated, allowlist): each gets a namespace al<id>
 * holding its tap (moved in while the domain is paused) and, for allowlist,
 * an uplink veth to the egress namespace, nftables fed by a resolver that
 * answers only allowlisted names and pins their addresses. */
#include <string.h>

#include "alk-allow.h"
#include "alk-error.h"
#include "alk-manager-net-private.h"
#include "alk-netns.h"
#include "alk-nft.h"
#include "alk-resolver.h"

NetRef *alk_net_ref(AlkSlot *slot, AlkSlotNext next)
{
	NetRef *ref = g_new0(NetRef, 1);

	ref->m = slot->m;
	g_strlcpy(ref->id, slot->sb->id, sizeof(ref->id));
	ref->next = next;
	return ref;
}

/* The slot a callback is for, or NULL when the manager let go of it. */
AlkSlot *alk_net_ref_slot(NetRef *ref)
{
	AlkSlot *slot = alk_slot_lookup(ref->m, ref->id);

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
	g_clear_pointer(&n->answers, g_ptr_array_unref);
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
	return slot->net != NULL ? slot->net->tap : NULL;
}

const char *alk_slot_net_mac(AlkSlot *slot)
{
	return slot->net != NULL ? slot->net->mac : NULL;
}

/* ---- addresses ---- */

static GInetAddressMask *mask(const char *text)
{
	return g_inet_address_mask_new_from_string(text, NULL);
}

/* The uplink /30 number index of the pool: [0] egress side, [1] sandbox side. */
static char *uplink_address(AlkManager *m, gint index, guint which)
{
	g_autoptr(GInetAddressMask) pool = mask(m->config->net.uplink_cidr);
	const guint8 *b = g_inet_address_to_bytes(g_inet_address_mask_get_address(pool));
	guint32 base = (guint32)b[0] << 24 | (guint32)b[1] << 16 | (guint32)b[2] << 8 | b[3];
	guint32 a = base + (guint32)index * 4 + 1 + which;

	return g_strdup_printf("%u.%u.%u.%u/30", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

static gint uplink_capacity(AlkManager *m)
{
	g_autoptr(GInetAddressMask) pool = mask(m->config->net.uplink_cidr);

	return 1 << (32 - g_inet_address_mask_get_length(pool) - 2);
}

/* The lowest /30 no sandbox holds. */
static gboolean uplink_allocate(AlkManager *m, AlkSandbox *sb, GError **error)
{
	g_autoptr(GHashTable) used = g_hash_table_new(NULL, NULL);
	GHashTableIter it;
	gpointer value;

	g_hash_table_iter_init(&it, m->slots);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		AlkSandbox *other = ((AlkSlot *)value)->sb;

		if (other != sb && other->net.uplink >= 0)
			g_hash_table_add(used, GINT_TO_POINTER(other->net.uplink + 1));
	}
	for (gint i = 0; i < uplink_capacity(m); i++) {
		if (!g_hash_table_contains(used, GINT_TO_POINTER(i + 1))) {
			sb->net.uplink = i;
			return TRUE;
		}
	}
	g_set_error(error, ALK_ERROR, ALK_ERROR_LIMIT, "network.uplink_cidr %s is used up",
	            m->config->net.uplink_cidr);
	return FALSE;
}

static void add_masks(GPtrArray *out, GPtrArray *from)
{
	for (guint i = 0; from != NULL && i < from->len; i++)
		g_ptr_array_add(out, g_object_ref(g_ptr_array_index(from, i)));
}

/* What a sandbox never reaches besides the fixed ranges: the host's and the
 * egress namespace's own addresses, every sandbox's uplink and link, and the
 * operator's `deny` list. */
GPtrArray *alk_manager_net_denied(AlkManager *m, GError **error)
{
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_object_unref);
	g_autoptr(GPtrArray) host = alk_netns_addresses(NULL, error);
	g_autoptr(GPtrArray) edge = NULL;
	g_auto(GStrv) deny = g_strsplit(m->config->net.deny, ",", -1);

	if (host == NULL)
		return NULL;
	add_masks(out, host);
	if (egress(m) != NULL) {
		edge = alk_netns_addresses(egress(m), error);
		if (edge == NULL) {
			g_prefix_error(error, "network.egress_netns: ");
			return NULL;
		}
		add_masks(out, edge);
	}
	g_ptr_array_add(out, mask(m->config->net.uplink_cidr));
	g_ptr_array_add(out, mask(GUEST_NET));
	for (guint i = 0; deny[i] != NULL; i++) {
		g_strstrip(deny[i]);
		if (deny[i][0] != '\0')
			g_ptr_array_add(out, mask(deny[i]));
	}
	/* the host's loopback and link-local ones are denied anyway */
	for (guint i = out->len; i-- > 0;) {
		GInetAddress *a = g_inet_address_mask_get_address(g_ptr_array_index(out, i));

		if (g_inet_address_get_is_loopback(a) || g_inet_address_get_is_link_local(a) ||
		    g_inet_address_get_family(a) == G_SOCKET_FAMILY_IPV6)
			g_ptr_array_remove_index(out, i);
	}
	return g_steal_pointer(&out);
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

/* A slot's network state: names derived from its id, its guest's address. */
static AlkSlotNet *net_new(AlkSlot *slot)
{
	AlkSandbox *sb = slot->sb;
	AlkSlotNet *n = g_new0(AlkSlotNet, 1);

	g_snprintf(n->ns, sizeof(n->ns), "%s%s", ALK_NETNS_PREFIX, sb->id);
	g_snprintf(n->tap, sizeof(n->tap), "at%s", sb->id);
	g_snprintf(n->mac, sizeof(n->mac), "52:54:00:%.2s:%.2s:%.2s", sb->id, sb->id + 2,
	           sb->id + 4);
	n->answers = alk_net_answers_new();
	g_free(sb->net.address);
	sb->net.address = g_strdup_printf("%s/%d", GUEST_ADDR, GUEST_PREFIX);
	slot->net = n;
	return n;
}

/* ---- steps ---- */

static void step_done(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autofree NetRef *ref = data;
	GError *error = NULL;
	gboolean ok = alk_netns_finish(res, &error);
	AlkSlot *slot = alk_net_ref_slot(ref);

	if (slot == NULL) {
		g_clear_error(&error);
		return;
	}
	if (!ok)
		g_prefix_error(&error, "network: ");
	ref->next(slot, error);
}

/* Namespace, uplink and rules, before the domain exists. */
void alk_slot_net_prepare(AlkSlot *slot, AlkSlotNext next)
{
	AlkManager *m = slot->m;
	AlkSandbox *sb = slot->sb;
	const char *eg = egress(m);
	GError *error = NULL;
	g_autofree char *rules = NULL;
	g_autofree char *egress_rules = NULL;
	g_autofree char *table = NULL;
	g_autofree char *outer = NULL;
	g_autofree char *inner = NULL;
	g_autofree char *gw = NULL;
	AlkSlotNet *n = net_new(slot);
	AlkNetPlan *plan;

	/* isolated reaches nothing at all: no egress to ask about */
	n->extra_denied = alk_slot_net_allowlist(slot)
	                      ? alk_manager_net_denied(m, &error)
	                      : g_ptr_array_new_with_free_func(g_object_unref);
	if (n->extra_denied != NULL)
		n->allow = alk_allow_list_parse_egress((const char *const *)sb->net.allow,
		                                       n->extra_denied, &error);
	if (n->allow == NULL || (alk_slot_net_allowlist(slot) && !uplink_allocate(m, sb, &error)) ||
	    (rules = alk_slot_net_ruleset(slot, &error)) == NULL) {
		next(slot, error);
		return;
	}
	g_strfreev(sb->net.allow);
	sb->net.allow = alk_net_allow_strv(n->allow);
	slot->net_maybe = TRUE;

	plan = alk_net_plan_new();
	alk_net_plan_ip(plan, NULL, FALSE, "netns", "add", n->ns, NULL);
	alk_net_plan_ip(plan, n->ns, FALSE, "link", "set", "lo", "up", NULL);
	alk_net_plan_sysctl(plan, n->ns, "net.ipv6.conf.all.disable_ipv6", "1");
	alk_net_plan_sysctl(plan, n->ns, "net.ipv6.conf.default.disable_ipv6", "1");
	if (alk_slot_net_allowlist(slot)) {
		outer = uplink_address(m, sb->net.uplink, 0);
		inner = uplink_address(m, sb->net.uplink, 1);
		gw = g_strndup(outer, strcspn(outer, "/"));
		table = alk_nft_egress_table(m->config->state_dir);
		egress_rules = alk_nft_render_egress(table, m->config->net.uplink_cidr);
		alk_net_plan_sysctl(plan, eg, "net.ipv4.ip_forward", "1");
		alk_net_plan_nft(plan, eg, egress_rules);
		alk_net_plan_sysctl(plan, n->ns, "net.ipv4.ip_forward", "1");
		alk_net_plan_ip(plan, eg, FALSE, "link", "add", n->ns, "type", "veth", "peer",
		                "name", ALK_NETNS_UPLINK, "netns", n->ns, NULL);
		alk_net_plan_ip(plan, eg, FALSE, "addr", "add", outer, "dev", n->ns, NULL);
		alk_net_plan_ip(plan, eg, FALSE, "link", "set", n->ns, "up", NULL);
		alk_net_plan_ip(plan, n->ns, FALSE, "addr", "add", inner, "dev", ALK_NETNS_UPLINK,
		                NULL);
		alk_net_plan_ip(plan, n->ns, FALSE, "link", "set", ALK_NETNS_UPLINK, "up", NULL);
		alk_net_plan_ip(plan, n->ns, FALSE, "route", "add", "default", "via", gw, NULL);
	}
	alk_net_plan_nft(plan, n->ns, rules);
	alk_net_plan_run_async(plan, NULL, step_done, alk_net_ref(slot, next));
}

static GInetSocketAddress *upstream_address(AlkManager *m, GError **error)
{
	return alk_resolver_upstream(m->config->net.dns_upstream, NULL, error);
}

void alk_manager_net_check_config(AlkManager *m)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GInetSocketAddress) upstream = upstream_address(m, &error);
	g_autofree char *path = NULL;
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
	path = g_build_filename(ALK_NETNS_DIR, egress(m), NULL);
	if (!g_file_test(path, G_FILE_TEST_EXISTS))
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
	g_autoptr(GInetAddress) gw = g_inet_address_new_from_string(GUEST_GW);
	g_autoptr(GSocketAddress) at = g_inet_socket_address_new(gw, 53);

	if (upstream == NULL)
		return FALSE;
	listen = alk_netns_socket(n->ns, G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, error);
	if (listen == NULL || !g_socket_bind(listen, at, FALSE, error))
		return FALSE;
	n->resolver = alk_resolver_new(listen, egress(slot->m), upstream, alk_slot_net_on_pins,
	                               alk_net_ref(slot, NULL), g_free);
	alk_resolver_set_policy(n->resolver, n->allow, n->extra_denied);
	return TRUE;
}

static void resumed(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autofree NetRef *ref = data;
	GError *error = NULL;
	gboolean ok = alk_virt_resume_finish(ref->m->virt, res, &error);
	AlkSlot *slot = alk_net_ref_slot(ref);

	if (slot == NULL) {
		g_clear_error(&error);
		return;
	}
	ref->next(slot, ok ? NULL : error);
}

static void tap_moved(AlkSlot *slot, GError *error)
{
	NetRef *ref;

	if (error == NULL && alk_slot_net_allowlist(slot))
		start_resolver(slot, &error);
	if (error != NULL || slot->sb->state != ALK_SANDBOX_CREATING) {
		AlkSlotNext next = slot->net_next;

		slot->net_next = NULL;
		next(slot, error);
		return;
	}
	ref = alk_net_ref(slot, slot->net_next);
	slot->net_next = NULL;
	alk_virt_resume_async(slot->m->virt, slot->sb->domain, resumed, ref);
}

/* The domain exists, paused: its tap goes into the namespace, the resolver
 * starts, then the guest runs. */
void alk_slot_net_attach(AlkSlot *slot, AlkSlotNext next)
{
	AlkSlotNet *n = slot->net;
	g_autofree char *gw = g_strdup_printf("%s/%d", GUEST_GW, GUEST_PREFIX);
	AlkNetPlan *plan = alk_net_plan_new();

	slot->net_next = next;
	alk_net_plan_ip(plan, NULL, FALSE, "link", "set", "dev", n->tap, "netns", n->ns, NULL);
	alk_net_plan_ip(plan, n->ns, FALSE, "addr", "add", gw, "dev", n->tap, NULL);
	alk_net_plan_ip(plan, n->ns, FALSE, "link", "set", "dev", n->tap, "up", NULL);
	alk_net_plan_run_async(plan, NULL, step_done, alk_net_ref(slot, tap_moved));
}

static void parse_ipv4(const char *text, guint8 out[4])
{
	g_autoptr(GInetAddress) a = g_inet_address_new_from_string(text);

	memcpy(out, g_inet_address_to_bytes(a), 4);
}

static void configured(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autofree NetRef *ref = data;
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
	AlkMsgNetConfig cfg = {.prefix_len = GUEST_PREFIX, .mtu = GUEST_MTU};

	for (guint i = 0; i < 6; i++)
		cfg.mac[i] = (guint8)g_ascii_strtoull(slot->net->mac + 3 * i, NULL, 16);
	parse_ipv4(GUEST_ADDR, cfg.address);
	parse_ipv4(GUEST_GW, cfg.gateway);
	if (alk_slot_net_allowlist(slot))
		parse_ipv4(GUEST_GW, cfg.dns);
	alk_channel_net_config_async(slot->channel, &cfg, NULL, configured,
	                             alk_net_ref(slot, next));
}

/* ---- adoption and the end ---- */

gboolean alk_slot_net_adopt(AlkSlot *slot, GError **error)
{
	AlkSandbox *sb = slot->sb;
	AlkSlotNet *n = net_new(slot);
	g_autofree char *path = NULL;

	slot->net_maybe = TRUE;
	alk_slot_net_answers_load(slot);
	path = g_build_filename(ALK_NETNS_DIR, n->ns, NULL);
	if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_FAILED, "its namespace %s is gone", n->ns);
		return FALSE;
	}
	n->extra_denied = alk_slot_net_allowlist(slot)
	                      ? alk_manager_net_denied(slot->m, error)
	                      : g_ptr_array_new_with_free_func(g_object_unref);
	if (n->extra_denied == NULL)
		return FALSE;
	n->allow =
	    alk_allow_list_parse_egress((const char *const *)sb->net.allow, n->extra_denied, error);
	if (n->allow == NULL)
		return FALSE;
	/* its rules and pins are still loaded; only the resolver died with us */
	return !alk_slot_net_allowlist(slot) || start_resolver(slot, error);
}

static void net_deleted(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autofree NetRef *ref = data;
	GError *error = NULL;
	AlkSlot *slot = alk_slot_lookup(ref->m, ref->id);

	if (!alk_netns_finish(res, &error))
		g_warning("sandbox %s: removing its network: %s", ref->id, error->message);
	g_clear_error(&error);
	if (slot == NULL)
		return;
	alk_slot_net_free(slot);
	slot->net_maybe = FALSE;
	ref->next(slot, NULL);
}

static void delete_plan(AlkNetPlan *plan, const char *eg, const char *ns)
{
	g_autofree char *path = g_build_filename(ALK_NETNS_DIR, ns, NULL);

	alk_net_plan_ip(plan, eg, TRUE, "link", "del", "dev", ns, NULL);
	if (g_file_test(path, G_FILE_TEST_EXISTS))
		alk_net_plan_ip(plan, NULL, FALSE, "netns", "del", ns, NULL);
}

static void delete_ns(AlkSlot *slot, AlkSlotNext next)
{
	AlkNetPlan *plan = alk_net_plan_new();
	char ns[ALK_NETNS_NAME_LEN + 1];

	g_snprintf(ns, sizeof(ns), "%s%s", ALK_NETNS_PREFIX, slot->sb->id);
	delete_plan(plan, egress(slot->m), ns);
	alk_net_plan_run_async(plan, NULL, net_deleted, alk_net_ref(slot, next));
}

static void last_count(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autofree NetRef *ref = data;
	AlkSlot *slot = alk_slot_lookup(ref->m, ref->id);
	guint64 allowed = 0, denied = 0;

	if (alk_netns_counters_finish(res, &allowed, &denied, NULL) && slot != NULL) {
		slot->sb->net.allowed = MAX(slot->sb->net.allowed, allowed);
		slot->sb->net.denied = MAX(slot->sb->net.denied, denied);
	}
	if (slot != NULL)
		delete_ns(slot, ref->next);
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
	alk_netns_counters_async(n->ns, NULL, last_count, alk_net_ref(slot, next));
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
	g_autofree char *path = NULL;
	g_autofree char *table = NULL;
	g_autofree char *text = NULL;
	AlkNetPlan *plan;
	GHashTableIter it;
	gpointer value;

	g_hash_table_iter_init(&it, m->slots);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		if (alk_slot_net_allowlist(value))
			return;
	}
	if (!allowlist_wanted(m))
		return;
	path = egress(m) != NULL ? g_build_filename(ALK_NETNS_DIR, egress(m), NULL) : NULL;
	if (path != NULL && !g_file_test(path, G_FILE_TEST_EXISTS))
		return;
	table = alk_nft_egress_table(m->config->state_dir);
	text = alk_nft_render_egress_delete(table);
	plan = alk_net_plan_new();
	alk_net_plan_nft(plan, egress(m), text);
	if (!alk_net_plan_run(plan, &error))
		g_message("reconcile: removing the egress table: %s", error->message);
}

/* Start-up: namespaces of our sandboxes nobody adopted are deleted. */
void alk_manager_net_sweep(AlkManager *m)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) names = alk_netns_list(&error);

	if (names == NULL) {
		g_warning("reconcile: %s", error->message);
		return;
	}
	for (guint i = 0; i < names->len; i++) {
		const char *ns = g_ptr_array_index(names, i);
		AlkNetPlan *plan;

		const char *id = ns + strlen(ALK_NETNS_PREFIX);
		g_autofree char *state =
		    g_build_filename(m->config->state_dir, "sandboxes", id, NULL);
		g_autofree char *run = g_build_filename(m->config->run_dir, "sandboxes", id, NULL);

		/* ours only: another airlockd's sandboxes have their dirs elsewhere
		 * (a namespace always goes before its sandbox's dirs) */
		if (alk_slot_lookup(m, id) != NULL || (!g_file_test(state, G_FILE_TEST_IS_DIR) &&
		                                       !g_file_test(run, G_FILE_TEST_IS_DIR)))
			continue;
		g_message("reconcile: deleting orphaned network namespace %s", ns);
		plan = alk_net_plan_new();
		delete_plan(plan, egress(m), ns);
		if (!alk_net_plan_run(plan, &error)) {
			g_warning("reconcile: %s", error->message);
			g_clear_error(&error);
		}
	}
	sweep_egress(m);
}
