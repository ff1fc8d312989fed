/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-allow.h"

#include <string.h>

#include "alk-error.h"

#define HOST_MAX 253
#define LABEL_MAX 63
/* how much of a hostile entry an error message quotes */
#define QUOTE_MAX 64

static const char *const denied_ranges[] = {
    "0.0.0.0/8",      /* unspecified, "this network" */
    "127.0.0.0/8",    /* loopback */
    "169.254.0.0/16", /* link-local, cloud metadata 169.254.169.254 */
    "224.0.0.0/4",    /* multicast */
    "240.0.0.0/4",    /* reserved, broadcast 255.255.255.255 */
    "::/128",         /* unspecified */
    "::1/128",        /* loopback */
    "fe80::/10",      /* link-local */
    "ff00::/8",       /* multicast */
    "::ffff:0:0/96",  /* IPv4-mapped: the IPv4 rules must not be bypassed */
    NULL,
};

const char *const *alk_allow_denied_ranges(void)
{
	return denied_ranges;
}

void alk_allow_entry_free(AlkAllowEntry *entry)
{
	if (entry == NULL)
		return;
	g_free(entry->host);
	g_clear_object(&entry->mask);
	g_free(entry);
}

/* Hostile text is quoted escaped and cut short. */
static void set_invalid(GError **error, const char *text, const char *why)
{
	g_autofree char *cut = g_strndup(text, QUOTE_MAX);
	g_autofree char *quoted = g_strescape(cut, NULL);

	g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "allowlist entry '%s%s': %s", quoted,
	            strlen(text) > QUOTE_MAX ? "..." : "", why);
}

static gboolean all_digits(const char *s, gsize len)
{
	if (len == 0)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_isdigit(s[i]))
			return FALSE;
	}
	return TRUE;
}

/* decimal, no sign, no leading zero, lo..hi */
static gboolean parse_number(const char *s, guint lo, guint hi, guint *out)
{
	gsize len = strlen(s);
	guint v = 0;

	if (!all_digits(s, len) || len > 5 || (s[0] == '0' && len > 1))
		return FALSE;
	for (gsize i = 0; i < len; i++)
		v = v * 10 + (guint)(s[i] - '0');
	if (v < lo || v > hi)
		return FALSE;
	*out = v;
	return TRUE;
}

static gboolean chars_ok(const char *text)
{
	for (const char *p = text; *p != '\0'; p++) {
		if (!g_ascii_isalnum(*p) && strchr(".-:/[]*", *p) == NULL)
			return FALSE;
	}
	return TRUE;
}

static gboolean label_ok(const char *s, gsize len)
{
	if (len == 0 || len > LABEL_MAX || s[0] == '-' || s[len - 1] == '-')
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_isalnum(s[i]) && s[i] != '-')
			return FALSE;
	}
	return TRUE;
}

/* RFC 1123 with two labels or more; the top label all digits is an IPv4 attempt. */
static gboolean host_ok(const char *name)
{
	g_auto(GStrv) labels = NULL;
	guint n;

	if (strlen(name) > HOST_MAX)
		return FALSE;
	labels = g_strsplit(name, ".", -1);
	n = g_strv_length(labels);
	if (n < 2 || all_digits(labels[n - 1], strlen(labels[n - 1])))
		return FALSE;
	for (guint i = 0; i < n; i++) {
		if (!label_ok(labels[i], strlen(labels[i])))
			return FALSE;
	}
	return TRUE;
}

static AlkAllowEntry *parse_host(const char *text, const char *host, GError **error)
{
	g_autoptr(AlkAllowEntry) entry = g_new0(AlkAllowEntry, 1);
	gboolean wildcard = g_str_has_prefix(host, "*.");
	const char *name = wildcard ? host + 2 : host;

	if (strchr(name, '*') != NULL) {
		set_invalid(error, text, "'*' only as a whole first label, as in *.example.com");
		return NULL;
	}
	if (strlen(host) > HOST_MAX || !host_ok(name)) {
		set_invalid(error, text, "not an IP address nor a DNS name of two labels or more");
		return NULL;
	}
	entry->kind = ALK_ALLOW_HOST;
	entry->wildcard = wildcard;
	entry->host = g_ascii_strdown(name, -1);
	return g_steal_pointer(&entry);
}

static gboolean parse_prefix(const char *text, const char *len_text, guint bits, guint *len,
                             GError **error)
{
	if (len_text == NULL) {
		*len = bits;
		return TRUE;
	}
	if (!parse_number(len_text, 0, bits, len)) {
		set_invalid(error, text, "bad prefix length");
		return FALSE;
	}
	return TRUE;
}

static AlkAllowEntry *parse_net(const char *text, const char *net, gboolean v6, GError **error)
{
	g_autoptr(AlkAllowEntry) entry = g_new0(AlkAllowEntry, 1);
	g_auto(GStrv) parts = g_strsplit(net, "/", 2);
	g_autoptr(GInetAddress) addr = NULL;
	g_autoptr(GError) mask_error = NULL;
	GSocketFamily family = v6 ? G_SOCKET_FAMILY_IPV6 : G_SOCKET_FAMILY_IPV4;
	guint len;

	addr = g_inet_address_new_from_string(parts[0]);
	if (addr == NULL || g_inet_address_get_family(addr) != family) {
		set_invalid(error, text, v6 ? "not an IPv6 address" : "not an IPv4 address");
		return NULL;
	}
	if (!parse_prefix(text, parts[1], v6 ? 128 : 32, &len, error))
		return NULL;
	entry->mask = g_inet_address_mask_new(addr, len, &mask_error);
	if (entry->mask == NULL) {
		set_invalid(error, text, "address has bits set beyond the prefix length");
		return NULL;
	}
	entry->kind = ALK_ALLOW_NET;
	return g_steal_pointer(&entry);
}

/* Splits off ":PORT"; *bracketed: the address was in [...] (IPv6 only). */
static gboolean split_port(const char *text, char **addr, guint *port, gboolean *bracketed,
                           GError **error)
{
	const char *colon = strchr(text, ':');
	const char *end;

	*port = 0;
	*bracketed = text[0] == '[';
	if (*bracketed) {
		end = strchr(text, ']');
		if (end == NULL || end == text + 1 || (end[1] != '\0' && end[1] != ':')) {
			set_invalid(error, text, "expected [IPV6] or [IPV6]:PORT");
			return FALSE;
		}
		colon = end[1] == ':' ? end + 1 : NULL;
		*addr = g_strndup(text + 1, (gsize)(end - text - 1));
	} else if (colon != NULL && strchr(colon + 1, ':') != NULL) {
		colon = NULL; /* a bare IPv6 literal: no port, or it would be ambiguous */
		*addr = g_strdup(text);
	} else {
		end = colon != NULL ? colon : text + strlen(text);
		*addr = g_strndup(text, (gsize)(end - text));
	}
	if (colon != NULL && !parse_number(colon + 1, 1, G_MAXUINT16, port)) {
		g_clear_pointer(addr, g_free);
		set_invalid(error, text, "port must be 1..65535");
		return FALSE;
	}
	return TRUE;
}

static gboolean looks_ipv4(const char *addr)
{
	const char *dot = strrchr(addr, '.');
	const char *top = dot != NULL ? dot + 1 : addr;

	return strchr(addr, '/') != NULL || all_digits(top, strlen(top));
}

static AlkAllowEntry *parse_addr(const char *text, const char *addr, gboolean bracketed,
                                 GError **error)
{
	if (*addr == '\0') {
		set_invalid(error, text, "no host or address");
		return NULL;
	}
	if (strchr(addr, '[') != NULL || strchr(addr, ']') != NULL) {
		set_invalid(error, text, "misplaced bracket");
		return NULL;
	}
	if (bracketed || strchr(addr, ':') != NULL)
		return parse_net(text, addr, TRUE, error);
	if (looks_ipv4(addr))
		return parse_net(text, addr, FALSE, error);
	return parse_host(text, addr, error);
}

AlkAllowEntry *alk_allow_entry_parse(const char *text, GError **error)
{
	g_autofree char *addr = NULL;
	AlkAllowEntry *entry;
	gboolean bracketed;
	guint port;

	if (text == NULL || *text == '\0' || strlen(text) > ALK_ALLOW_ENTRY_MAX) {
		set_invalid(error, text != NULL ? text : "", "empty or too long");
		return NULL;
	}
	if (!chars_ok(text)) {
		set_invalid(error, text, "only letters, digits and . - : / [ ] * are allowed");
		return NULL;
	}
	if (!split_port(text, &addr, &port, &bracketed, error))
		return NULL;
	entry = parse_addr(text, addr, bracketed, error);
	if (entry != NULL)
		entry->port = (guint16)port;
	return entry;
}

char *alk_allow_entry_to_string(const AlkAllowEntry *entry)
{
	g_autofree char *base = NULL;
	gboolean v6 = FALSE;

	if (entry->kind == ALK_ALLOW_HOST) {
		base = g_strconcat(entry->wildcard ? "*." : "", entry->host, NULL);
	} else {
		base = g_inet_address_mask_to_string(entry->mask);
		v6 = g_inet_address_mask_get_family(entry->mask) == G_SOCKET_FAMILY_IPV6;
	}
	if (entry->port == 0)
		return g_steal_pointer(&base);
	return v6 ? g_strdup_printf("[%s]:%u", base, entry->port)
	          : g_strdup_printf("%s:%u", base, entry->port);
}

/* inner lies inside outer */
static gboolean mask_within(GInetAddressMask *inner, GInetAddressMask *outer)
{
	return g_inet_address_mask_get_length(inner) >= g_inet_address_mask_get_length(outer) &&
	       g_inet_address_mask_matches(outer, g_inet_address_mask_get_address(inner));
}

/* The denied range containing mask, as text, or NULL. */
static char *denied_range_of(GInetAddressMask *mask, GPtrArray *extra_denied)
{
	for (guint i = 0; denied_ranges[i] != NULL; i++) {
		g_autoptr(GInetAddressMask) d =
		    g_inet_address_mask_new_from_string(denied_ranges[i], NULL);

		if (mask_within(mask, d))
			return g_strdup(denied_ranges[i]);
	}
	for (guint i = 0; extra_denied != NULL && i < extra_denied->len; i++) {
		GInetAddressMask *d = g_ptr_array_index(extra_denied, i);

		if (mask_within(mask, d))
			return g_inet_address_mask_to_string(d);
	}
	return NULL;
}

gboolean alk_allow_address_is_denied(GInetAddress *address, GPtrArray *extra_denied)
{
	g_autoptr(GInetAddressMask) one = g_inet_address_mask_new(
	    address, (guint)g_inet_address_get_native_size(address) * 8, NULL);
	g_autofree char *range = denied_range_of(one, extra_denied);

	return range != NULL;
}

static gboolean host_is_local(const AlkAllowEntry *entry)
{
	return g_str_equal(entry->host, "localhost") || g_str_has_suffix(entry->host, ".localhost");
}

gboolean alk_allow_entry_check_denied(const AlkAllowEntry *entry, GPtrArray *extra_denied,
                                      GError **error)
{
	g_autofree char *text = alk_allow_entry_to_string(entry);
	g_autofree char *range = NULL;
	g_autofree char *why = NULL;

	if (entry->kind == ALK_ALLOW_HOST) {
		if (host_is_local(entry)) {
			set_invalid(error, text, "localhost names are always denied");
			return FALSE;
		}
		return TRUE;
	}
	range = denied_range_of(entry->mask, extra_denied);
	if (range == NULL)
		return TRUE;
	why = g_strdup_printf("inside %s, which is always denied", range);
	set_invalid(error, text, why);
	return FALSE;
}

gboolean alk_allow_entry_matches_name(const AlkAllowEntry *entry, const char *name)
{
	gsize nlen, hlen;

	if (entry->kind != ALK_ALLOW_HOST || name == NULL)
		return FALSE;
	if (!entry->wildcard)
		return g_str_equal(entry->host, name);
	nlen = strlen(name);
	hlen = strlen(entry->host);
	return nlen > hlen + 1 && name[nlen - hlen - 1] == '.' &&
	       g_str_equal(name + nlen - hlen, entry->host) && name[0] != '.';
}

static gboolean list_add(GPtrArray *list, GHashTable *seen, const char *text,
                         GPtrArray *extra_denied, GError **error)
{
	g_autoptr(AlkAllowEntry) entry = alk_allow_entry_parse(text, error);
	char *canon;

	if (entry == NULL || !alk_allow_entry_check_denied(entry, extra_denied, error))
		return FALSE;
	canon = alk_allow_entry_to_string(entry);
	if (!g_hash_table_add(seen, canon))
		return TRUE; /* a duplicate: folded */
	g_ptr_array_add(list, g_steal_pointer(&entry));
	return TRUE;
}

GPtrArray *alk_allow_list_parse(const char *const *entries, GPtrArray *extra_denied, GError **error)
{
	g_autoptr(GPtrArray) list =
	    g_ptr_array_new_with_free_func((GDestroyNotify)alk_allow_entry_free);
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	guint n = entries != NULL ? g_strv_length((char **)entries) : 0;

	if (n > ALK_ALLOW_MAX) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_LIMIT, "%u allowlist entries, at most %d",
		            n, ALK_ALLOW_MAX);
		return NULL;
	}
	for (guint i = 0; i < n; i++) {
		if (!list_add(list, seen, entries[i], extra_denied, error))
			return NULL;
	}
	return g_steal_pointer(&list);
}

gboolean alk_allow_list_has_ipv6(GPtrArray *list)
{
	for (guint i = 0; list != NULL && i < list->len; i++) {
		AlkAllowEntry *e = g_ptr_array_index(list, i);

		if (e->kind == ALK_ALLOW_NET &&
		    g_inet_address_mask_get_family(e->mask) == G_SOCKET_FAMILY_IPV6)
			return TRUE;
	}
	return FALSE;
}

GPtrArray *alk_allow_list_parse_egress(const char *const *entries, GPtrArray *extra_denied,
                                       GError **error)
{
	g_autoptr(GPtrArray) list = alk_allow_list_parse(entries, extra_denied, error);

	if (list == NULL)
		return NULL;
	if (alk_allow_list_has_ipv6(list)) {
		g_set_error_literal(
		    error, ALK_ERROR, ALK_ERROR_INVALID,
		    "IPv6 entries are not supported: sandboxes have no IPv6 egress");
		return NULL;
	}
	return g_steal_pointer(&list);
}
