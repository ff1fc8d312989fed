/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-nft.h"

#include <string.h>

#include "alk-allow.h"
#include "alk-error.h"
#include "alk-json.h"

static gboolean mask_is_v6(GInetAddressMask *mask)
{
	return g_inet_address_mask_get_family(mask) == G_SOCKET_FAMILY_IPV6;
}

/* outer admits everything inner does */
static gboolean entry_subsumes(const AlkAllowEntry *outer, const AlkAllowEntry *inner)
{
	GInetAddressMask *o = outer->mask, *i = inner->mask;

	return g_inet_address_mask_get_length(i) >= g_inet_address_mask_get_length(o) &&
	       g_inet_address_mask_matches(o, g_inet_address_mask_get_address(i)) &&
	       (outer->port == 0 || outer->port == inner->port);
}

/* nft refuses overlapping elements in a concatenated interval set, so an entry
 * another one admits already is left out (equal ones: the first stays). */
static gboolean entry_redundant(GPtrArray *allow, guint idx)
{
	const AlkAllowEntry *e = g_ptr_array_index(allow, idx);

	for (guint j = 0; j < allow->len; j++) {
		const AlkAllowEntry *f = g_ptr_array_index(allow, j);

		if (j == idx || f->kind != ALK_ALLOW_NET || !entry_subsumes(f, e))
			continue;
		if (!entry_subsumes(e, f) || j < idx)
			return TRUE;
	}
	return FALSE;
}

/* Elements of one allow set: v6 family, with_port: entries with a port. */
static char *allow_elements(GPtrArray *allow, gboolean v6, gboolean with_port)
{
	g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; allow != NULL && i < allow->len; i++) {
		const AlkAllowEntry *e = g_ptr_array_index(allow, i);
		g_autofree char *net = NULL;

		if (e->kind != ALK_ALLOW_NET || mask_is_v6(e->mask) != v6 ||
		    (e->port != 0) != with_port || entry_redundant(allow, i))
			continue;
		net = g_inet_address_mask_to_string(e->mask);
		g_ptr_array_add(items, with_port ? g_strdup_printf("%s . %u", net, e->port)
		                                 : g_steal_pointer(&net));
	}
	g_ptr_array_add(items, NULL);
	return g_strjoinv(", ", (char **)items->pdata);
}

static gboolean pin_check(const AlkNftPin *pin, gboolean ipv6, GPtrArray *extra_denied,
                          GError **error)
{
	g_autofree char *addr = g_inet_address_to_string(pin->address);

	if (alk_allow_address_is_denied(pin->address, extra_denied)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "pin %s: always denied", addr);
		return FALSE;
	}
	if (!ipv6 && g_inet_address_get_family(pin->address) == G_SOCKET_FAMILY_IPV6) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "pin %s: IPv6 is off", addr);
		return FALSE;
	}
	return TRUE;
}

static char *pin_key(const AlkNftPin *pin)
{
	g_autofree char *addr = g_inet_address_to_string(pin->address);

	return pin->port != 0 ? g_strdup_printf("%s . %u", addr, pin->port)
	                      : g_steal_pointer(&addr);
}

static const char *pin_set(const AlkNftPin *pin)
{
	gboolean v6 = g_inet_address_get_family(pin->address) == G_SOCKET_FAMILY_IPV6;

	if (pin->port != 0)
		return v6 ? "pin6" : "pin4";
	return v6 ? "pin6any" : "pin4any";
}

/* One element per (set, key): a repeated pin keeps its longest timeout. */
static GHashTable *pins_fold(GPtrArray *pins, gboolean ipv6, GPtrArray *extra_denied,
                             GError **error)
{
	g_autoptr(GHashTable) fold = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	for (guint i = 0; pins != NULL && i < pins->len; i++) {
		const AlkNftPin *pin = g_ptr_array_index(pins, i);
		g_autofree char *key = NULL;
		g_autofree char *k = NULL;
		guint t = CLAMP(pin->timeout_s, 1, ALK_NFT_PIN_TIMEOUT_MAX);

		if (!pin_check(pin, ipv6, extra_denied, error))
			return NULL;
		k = pin_key(pin);
		key = g_strdup_printf("%s\t%s", pin_set(pin), k);
		t = MAX(t, GPOINTER_TO_UINT(g_hash_table_lookup(fold, key)));
		g_hash_table_insert(fold, g_steal_pointer(&key), GUINT_TO_POINTER(t));
	}
	return g_steal_pointer(&fold);
}

static gint cmp_str(gconstpointer a, gconstpointer b, gpointer data)
{
	return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

/* "add element" lines, sorted so the text is stable */
static char *pins_commands(GHashTable *fold)
{
	g_autofree const char **keys = (const char **)g_hash_table_get_keys_as_array(fold, NULL);
	g_autoptr(GString) out = g_string_new(NULL);

	g_qsort_with_data(keys, (gint)g_hash_table_size(fold), sizeof(char *), cmp_str, NULL);
	for (guint i = 0; keys[i] != NULL; i++) {
		g_auto(GStrv) parts = g_strsplit(keys[i], "\t", 2);

		g_string_append_printf(out, "add element inet %s %s { %s timeout %us }\n",
		                       ALK_NFT_TABLE, parts[0], parts[1],
		                       GPOINTER_TO_UINT(g_hash_table_lookup(fold, keys[i])));
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

char *alk_nft_render_pins(GPtrArray *pins, gboolean ipv6, GPtrArray *extra_denied, GError **error)
{
	g_autoptr(GHashTable) fold = pins_fold(pins, ipv6, extra_denied, error);

	return fold != NULL ? pins_commands(fold) : NULL;
}

static void set_decl(GString *out, const char *name, const char *type, const char *flags,
                     const char *elements)
{
	g_string_append_printf(out, "\tset %s {\n\t\ttype %s\n\t\tflags %s\n", name, type, flags);
	if (elements != NULL && *elements != '\0')
		g_string_append_printf(out, "\t\telements = { %s }\n", elements);
	g_string_append(out, "\t}\n");
}

static void allow_sets(GString *out, GPtrArray *allow)
{
	static const char *const names[] = {"allow4", "allow4any", "allow6", "allow6any"};

	for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
		gboolean v6 = i >= 2, any = i % 2 == 1;
		g_autofree char *els = allow_elements(allow, v6, !any);
		g_autofree char *type = g_strdup_printf("%s%s", v6 ? "ipv6_addr" : "ipv4_addr",
		                                        any ? "" : " . inet_service");

		set_decl(out, names[i], type, any ? "interval\n\t\tauto-merge" : "interval", els);
	}
}

static void pin_sets(GString *out)
{
	set_decl(out, "pin4", "ipv4_addr . inet_service", "timeout", NULL);
	set_decl(out, "pin4any", "ipv4_addr", "timeout", NULL);
	set_decl(out, "pin6", "ipv6_addr . inet_service", "timeout", NULL);
	set_decl(out, "pin6any", "ipv6_addr", "timeout", NULL);
}

static void append_item(GString *list, const char *item)
{
	g_string_append_printf(list, "%s%s", list->len > 0 ? ", " : "", item);
}

static void deny_sets(GString *out, GPtrArray *extra_denied)
{
	g_autoptr(GString) d4 = g_string_new(NULL);
	g_autoptr(GString) d6 = g_string_new(NULL);
	const char *const *fixed = alk_allow_denied_ranges();

	for (guint i = 0; fixed[i] != NULL; i++)
		append_item(strchr(fixed[i], ':') != NULL ? d6 : d4, fixed[i]);
	for (guint i = 0; extra_denied != NULL && i < extra_denied->len; i++) {
		GInetAddressMask *m = g_ptr_array_index(extra_denied, i);
		g_autofree char *txt = g_inet_address_mask_to_string(m);

		append_item(mask_is_v6(m) ? d6 : d4, txt);
	}
	set_decl(out, "deny4", "ipv4_addr", "interval\n\t\tauto-merge", d4->str);
	set_decl(out, "deny6", "ipv6_addr", "interval\n\t\tauto-merge", d6->str);
}

static void dns_rules(GString *out, GInetAddress *resolver)
{
	g_autofree char *addr = NULL;
	const char *fam;

	if (resolver == NULL)
		return;
	addr = g_inet_address_to_string(resolver);
	fam = g_inet_address_get_family(resolver) == G_SOCKET_FAMILY_IPV6 ? "ip6" : "ip";
	g_string_append_printf(
	    out, "\t\t%s daddr %s meta l4proto { tcp, udp } th dport 53 accept\n", fam, addr);
}

/* IPv6 needs neighbour discovery on the link to work at all. */
static void nd_rules(GString *out, gboolean ipv6)
{
	if (ipv6)
		g_string_append(out, "\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, "
		                     "nd-router-solicit } accept\n");
}

static void chain_head(GString *out, const char *hook)
{
	g_string_append_printf(
	    out,
	    "\tchain %s {\n\t\ttype filter hook %s priority filter; policy drop;\n"
	    "\t\tct state established,related accept\n"
	    "\t\tct state invalid counter name denied drop\n",
	    hook, hook);
}

/* tcp/udp whose address (and port) an allow or pin set holds, marked with
 * the generation. dir "d": what the guest sends out (counted), "s": what
 * comes back through the uplink for a connection of an older generation,
 * checked from the other side. */
static void allow_rules(GString *out, const char *head, char dir, guint generation)
{
	static const char *const sets[] = {"allow", "allow", "pin", "pin"};

	for (guint i = 0; i < 2; i++) {
		const char *fam = i == 0 ? "ip" : "ip6";

		for (guint j = 0; j < G_N_ELEMENTS(sets); j++) {
			/* even: address . port sets; odd: address-only ("any") sets */
			g_autofree char *port =
			    j % 2 == 0 ? g_strdup_printf(" . th %cport", dir) : g_strdup("");

			g_string_append_printf(
			    out,
			    "\t\t%smeta l4proto { tcp, udp } %s %caddr%s @%s%c%s ct "
			    "mark set %u %saccept\n",
			    head, fam, dir, port, sets[j], i == 0 ? '4' : '6',
			    j % 2 == 1 ? "any" : "", generation,
			    dir == 'd' ? "counter name allowed " : "");
		}
	}
}

static void forward_chain(GString *out, const AlkNftPolicy *policy, gboolean ipv6)
{
	g_string_append_printf(
	    out,
	    "\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n"
	    "\t\tct state established,related ct mark %u accept\n"
	    "\t\tct state invalid counter name denied drop\n",
	    policy->generation);
	if (policy->uplink != NULL) {
		/* a reply of an older generation's connection: its far end must
		 * still be admitted (else the guest, waiting for data, would never
		 * send the packet that re-marks it); nothing new comes in */
		g_autofree char *head =
		    g_strdup_printf("iifname \"%s\" ct state established,related ", policy->uplink);

		allow_rules(out, head, 's', policy->generation);
		g_string_append_printf(out, "\t\tiifname \"%s\" counter name denied drop\n",
		                       policy->uplink);
	}
	g_string_append(out, "\t\tip daddr @deny4 counter name denied drop\n"
	                     "\t\tip6 daddr @deny6 counter name denied drop\n");
	if (!ipv6)
		g_string_append(out, "\t\tmeta nfproto ipv6 counter name denied drop\n");
	allow_rules(out, "", 'd', policy->generation);
	g_string_append(out, "\t\tcounter name denied drop\n\t}\n");
}

/* The namespace itself serves nothing but DNS at the resolver. */
static void local_chain(GString *out, const char *hook, const AlkNftPolicy *policy, gboolean ipv6)
{
	chain_head(out, hook);
	g_string_append_printf(out, "\t\t%s lo accept\n",
	                       g_str_equal(hook, "input") ? "iif" : "oif");
	if (g_str_equal(hook, "input"))
		dns_rules(out, policy->resolver);
	nd_rules(out, ipv6);
	g_string_append(out, "\t\tcounter name denied drop\n\t}\n");
}

static void nat_chain(GString *out, const char *uplink)
{
	if (uplink != NULL)
		g_string_append_printf(out,
		                       "\tchain postrouting {\n\t\ttype nat hook postrouting "
		                       "priority srcnat; policy accept;\n"
		                       "\t\toifname \"%s\" masquerade\n\t}\n",
		                       uplink);
}

static gboolean table_name_ok(const char *table)
{
	gsize len = table != NULL ? strlen(table) : 0;

	if (len == 0 || len > 64 || !g_ascii_isalpha(table[0]))
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_isalnum(table[i]) && table[i] != '_')
			return FALSE;
	}
	return TRUE;
}

char *alk_nft_egress_table(const char *instance)
{
	g_autofree char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, instance, -1);

	return g_strdup_printf(ALK_NFT_EGRESS_PREFIX "%.8s", sum);
}

char *alk_nft_render_egress(const char *table, const char *pool)
{
	g_return_val_if_fail(table_name_ok(table), NULL);
	return g_strdup_printf(
	    "table ip %s\ndelete table ip %s\n"
	    "table ip %s {\n"
	    "\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n"
	    "\t\tiifname \"al*\" drop\n\t}\n"
	    "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n"
	    "\t\tiifname \"al*\" oifname \"al*\" drop\n\t}\n"
	    "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy "
	    "accept;\n"
	    "\t\tip saddr %s oifname != \"al*\" masquerade\n\t}\n"
	    "}\n",
	    table, table, table, pool);
}

char *alk_nft_render_egress_delete(const char *table)
{
	g_return_val_if_fail(table_name_ok(table), NULL);
	/* create-if-absent first: deleting a table that is not there fails */
	return g_strdup_printf("table ip %s\ndelete table ip %s\n", table, table);
}

AlkNftPin *alk_nft_pin_new(GInetAddress *address, guint16 port, guint timeout_s)
{
	AlkNftPin *pin = g_new0(AlkNftPin, 1);

	pin->address = g_object_ref(address);
	pin->port = port;
	pin->timeout_s = timeout_s;
	return pin;
}

void alk_nft_pin_free(AlkNftPin *pin)
{
	if (pin == NULL)
		return;
	g_object_unref(pin->address);
	g_free(pin);
}

GPtrArray *alk_nft_pins_new(void)
{
	return g_ptr_array_new_with_free_func((GDestroyNotify)alk_nft_pin_free);
}

char *alk_nft_render(const AlkNftPolicy *policy, GError **error)
{
	gboolean ipv6 = alk_allow_list_has_ipv6(policy->allow);
	g_autofree char *pins =
	    alk_nft_render_pins(policy->pins, ipv6, policy->extra_denied, error);
	g_autoptr(GString) out = g_string_new(NULL);

	if (pins == NULL)
		return NULL;
	/* create-if-absent, delete, define: one atomic replacement */
	g_string_append_printf(out, "table inet %s\ndelete table inet %s\ntable inet %s {\n",
	                       ALK_NFT_TABLE, ALK_NFT_TABLE, ALK_NFT_TABLE);
	g_string_append(out, "\tcounter allowed {\n\t}\n\tcounter denied {\n\t}\n");
	deny_sets(out, policy->extra_denied);
	allow_sets(out, policy->allow);
	pin_sets(out);
	local_chain(out, "input", policy, ipv6);
	forward_chain(out, policy, ipv6);
	local_chain(out, "output", policy, ipv6);
	nat_chain(out, policy->uplink);
	g_string_append(out, "}\n");
	g_string_append(out, pins);
	return g_string_free(g_steal_pointer(&out), FALSE);
}

/* `nft -j list counters table inet airlock`: {"nftables": [{"counter":
 * {"table": ..., "name": ..., "packets": N, ...}}, ...]}; anything else
 * counts nothing. */
void alk_nft_parse_counters(const char *json, guint64 *allowed, guint64 *denied)
{
	g_autoptr(JsonNode) root = NULL;
	JsonArray *items = NULL;

	*allowed = *denied = 0;
	if (json != NULL)
		root =
		    alk_json_parse(json, strlen(json), ALK_JSON_MAX_SIZE, ALK_JSON_MAX_DEPTH, NULL);
	if (root != NULL && JSON_NODE_HOLDS_OBJECT(root)) {
		JsonNode *n = json_object_get_member(json_node_get_object(root), "nftables");

		items = n != NULL && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
	}
	for (guint i = 0; items != NULL && i < json_array_get_length(items); i++) {
		JsonNode *item = json_array_get_element(items, i);
		JsonNode *cn = JSON_NODE_HOLDS_OBJECT(item)
		                   ? json_object_get_member(json_node_get_object(item), "counter")
		                   : NULL;
		JsonObject *c =
		    cn != NULL && JSON_NODE_HOLDS_OBJECT(cn) ? json_node_get_object(cn) : NULL;
		const char *name;
		gint64 packets;

		if (c == NULL ||
		    g_strcmp0(json_object_get_string_member_with_default(c, "table", ""),
		              ALK_NFT_TABLE) != 0)
			continue;
		name = json_object_get_string_member_with_default(c, "name", "");
		packets = json_object_get_int_member_with_default(c, "packets", 0);
		if (g_str_equal(name, "allowed"))
			*allowed = (guint64)MAX(packets, 0);
		else if (g_str_equal(name, "denied"))
			*denied = (guint64)MAX(packets, 0);
	}
}
