/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The network backend as the manager sees it: a small table of functions
 * over an opaque context, as alk-virt-ops.h is for libvirt. The real one
 * (alk-net-real.c) runs net's plans with ip, sysctl and nft and looks in
 * /run/netns; tests give the manager a fake that records the plans it is
 * asked to run and holds or fails them on demand. What a network is made of
 * stays net's recipe (alk-net-recipe.h): only running it is behind here.
 *
 * Async operations complete once, on the main loop, with a GTask: a
 * boolean for run (alk_net_ops_finish), counters read with counters_finish. */
#pragma once

#include <gio/gio.h>

#include "alk-manager.h"

/* net's (alk-net-plan.h): only passed through here */
typedef struct AlkNetPlan AlkNetPlan;

typedef struct {
	/* Runs and frees plan. */
	void (*run)(gpointer ctx, AlkNetPlan *plan, GAsyncReadyCallback cb, gpointer user_data);
	/* The same, waiting: start-up's sweep only. Frees plan. */
	gboolean (*run_sync)(gpointer ctx, AlkNetPlan *plan, GError **error);
	/* The allowed and denied packet counters of the sandbox namespace ns. */
	void (*counters)(gpointer ctx, const char *ns, GAsyncReadyCallback cb, gpointer user_data);
	gboolean (*counters_finish)(gpointer ctx, GAsyncResult *res, guint64 *allowed,
	                            guint64 *denied, GError **error);
	/* Whether namespace ns exists now. */
	gboolean (*exists)(gpointer ctx, const char *ns);
	/* The sandbox namespaces there are (names, owned). */
	GPtrArray *(*list)(gpointer ctx, GError **error);
	/* A datagram socket in ns bound to the guests' gateway, port 53: where
	 * an allowlist sandbox's resolver listens. */
	GSocket *(*resolver_socket)(gpointer ctx, const char *ns, GError **error);
	/* Frees ctx when the manager goes; NULL: ctx is not the manager's. */
	void (*free)(gpointer ctx);
} AlkNetOps;

static inline gboolean alk_net_ops_finish(GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}

/* The real backend (ctx NULL). */
extern const AlkNetOps alk_net_real_ops;

/* Before alk_manager_start(): the manager's network goes through ops; the
 * default is alk_net_real_ops. */
void alk_manager_set_net_backend(AlkManager *m, const AlkNetOps *ops, gpointer ctx);
