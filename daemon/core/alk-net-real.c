/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The network backend of alk-net-ops.h over daemon/net/: plans run with
 * GSubprocess, namespaces as /run/netns has them. */
#include <string.h>

#include "alk-net-ops.h"
#include "alk-net-recipe.h"
#include "alk-netns.h"

static void real_run(gpointer ctx, AlkNetPlan *plan, GAsyncReadyCallback cb, gpointer user_data)
{
	/* alk_net_plan_finish() is g_task_propagate_boolean() too */
	alk_net_plan_run_async(plan, NULL, cb, user_data);
}

static gboolean real_run_sync(gpointer ctx, AlkNetPlan *plan, GError **error)
{
	return alk_net_plan_run(plan, error);
}

static void real_counters(gpointer ctx, const char *ns, GAsyncReadyCallback cb, gpointer user_data)
{
	alk_netns_counters_async(ns, NULL, cb, user_data);
}

static gboolean real_counters_finish(gpointer ctx, GAsyncResult *res, guint64 *allowed,
                                     guint64 *denied, GError **error)
{
	return alk_netns_counters_finish(res, allowed, denied, error);
}

static gboolean real_exists(gpointer ctx, const char *ns)
{
	g_autofree char *path = g_build_filename(ALK_NETNS_DIR, ns, NULL);

	return g_file_test(path, G_FILE_TEST_EXISTS);
}

static GPtrArray *real_list(gpointer ctx, GError **error)
{
	return alk_netns_list(error);
}

static GSocket *real_resolver_socket(gpointer ctx, const char *ns, GError **error)
{
	g_autoptr(GInetAddress) gw = g_inet_address_new_from_string(ALK_NET_GATEWAY);
	g_autoptr(GSocketAddress) at = g_inet_socket_address_new(gw, 53);
	g_autoptr(GSocket) sock =
	    alk_netns_socket(ns, G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, error);

	if (sock == NULL || !g_socket_bind(sock, at, FALSE, error))
		return NULL;
	return g_steal_pointer(&sock);
}

const AlkNetOps alk_net_real_ops = {
    .run = real_run,
    .run_sync = real_run_sync,
    .counters = real_counters,
    .counters_finish = real_counters_finish,
    .exists = real_exists,
    .list = real_list,
    .resolver_socket = real_resolver_socket,
    .free = NULL,
};
