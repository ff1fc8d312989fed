/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-net-layout.h"

#include "alk-error.h"
#include "alk-nft.h"

void alk_net_layout_free(AlkNetLayout *layout)
{
	if (layout == NULL)
		return;
	g_free(layout->egress_ns);
	g_free(layout->pool);
	g_free(layout->egress_table);
	g_free(layout);
}

static GInetAddressMask *pool_mask(const char *uplink_cidr)
{
	g_autoptr(GInetAddressMask) pool =
	    uplink_cidr != NULL ? g_inet_address_mask_new_from_string(uplink_cidr, NULL) : NULL;

	if (pool == NULL || g_inet_address_mask_get_family(pool) != G_SOCKET_FAMILY_IPV4 ||
	    g_inet_address_mask_get_length(pool) > 30)
		return NULL;
	return g_steal_pointer(&pool);
}

guint alk_net_uplink_capacity(const char *uplink_cidr)
{
	g_autoptr(GInetAddressMask) pool = pool_mask(uplink_cidr);

	return pool != NULL ? 1u << (30 - g_inet_address_mask_get_length(pool)) : 0;
}

/* Address `host` (1 or 2) of /30 number index of the pool, with or without "/30". */
static void uplink_address(char *out, GInetAddressMask *pool, guint index, guint host,
                           gboolean prefix)
{
	const guint8 *b = g_inet_address_to_bytes(g_inet_address_mask_get_address(pool));
	guint32 base = (guint32)b[0] << 24 | (guint32)b[1] << 16 | (guint32)b[2] << 8 | b[3];
	guint32 a = base + index * 4 + host;

	g_snprintf(out, ALK_NET_CIDR_LEN + 1, "%u.%u.%u.%u%s", a >> 24, (a >> 16) & 255,
	           (a >> 8) & 255, a & 255, prefix ? "/30" : "");
}

static gboolean uplink_fill(AlkNetLayout *l, const char *uplink_cidr, gint uplink, GError **error)
{
	g_autoptr(GInetAddressMask) pool = pool_mask(uplink_cidr);

	if (pool == NULL) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "network.uplink_cidr '%s' is no IPv4 CIDR of /30 or wider",
		            uplink_cidr != NULL ? uplink_cidr : "");
		return FALSE;
	}
	l->uplink = uplink;
	if (uplink < 0)
		return TRUE;
	if ((guint)uplink >= alk_net_uplink_capacity(uplink_cidr)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "uplink %d lies outside network.uplink_cidr %s", uplink, uplink_cidr);
		return FALSE;
	}
	uplink_address(l->uplink_outer, pool, (guint)uplink, 1, TRUE);
	uplink_address(l->uplink_inner, pool, (guint)uplink, 2, TRUE);
	uplink_address(l->uplink_via, pool, (guint)uplink, 1, FALSE);
	return TRUE;
}

AlkNetLayout *alk_net_layout_new(const char *id, const char *instance, const char *egress_ns,
                                 const char *uplink_cidr, gint uplink, GError **error)
{
	g_autoptr(AlkNetLayout) l = g_new0(AlkNetLayout, 1);
	g_autofree char *ns = alk_netns_name_for_id(id, error);

	if (ns == NULL || !uplink_fill(l, uplink_cidr, uplink, error))
		return NULL;
	g_strlcpy(l->id, id, sizeof(l->id));
	g_strlcpy(l->ns, ns, sizeof(l->ns));
	g_snprintf(l->tap, sizeof(l->tap), "at%s", id);
	l->mac_bytes[0] = 0x52;
	l->mac_bytes[1] = 0x54;
	l->mac_bytes[2] = 0x00;
	for (guint i = 0; i < 3; i++)
		l->mac_bytes[3 + i] = (guint8)(g_ascii_xdigit_value(id[2 * i]) << 4 |
		                               g_ascii_xdigit_value(id[2 * i + 1]));
	g_snprintf(l->mac, sizeof(l->mac), "52:54:00:%.2s:%.2s:%.2s", id, id + 2, id + 4);
	g_snprintf(l->guest, sizeof(l->guest), "%s/%d", ALK_NET_GUEST_ADDRESS,
	           ALK_NET_GUEST_PREFIX);
	g_snprintf(l->gateway, sizeof(l->gateway), "%s/%d", ALK_NET_GATEWAY, ALK_NET_GUEST_PREFIX);
	l->egress_ns = egress_ns != NULL && egress_ns[0] != '\0' ? g_strdup(egress_ns) : NULL;
	l->pool = g_strdup(uplink_cidr);
	l->egress_table = alk_nft_egress_table(instance != NULL ? instance : "");
	return g_steal_pointer(&l);
}
