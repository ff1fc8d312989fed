/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A plan: the commands (`ip`, `sysctl`, `nft -f -`) that make or remove a
 * piece of a sandbox's network, as data. Built by alk-net-recipe.c from what
 * it is given, rendered as text for tests (alk_net_plan_to_string()), run in
 * order, stopping at the first failure: nft, sysctl and link steps in-process
 * (libnftables, /proc/sys, rtnetlink), the rest with GSubprocess.
 *
 * ns NULL in a step: the daemon's own namespace. A bad namespace name makes
 * the whole plan fail when run, before any command. */
#pragma once

#include <gio/gio.h>
#include <glib.h>

#include "alk-net-link.h"

typedef struct AlkNetPlan AlkNetPlan;

AlkNetPlan *alk_net_plan_new(void);
/* NULL is fine. */
void alk_net_plan_free(AlkNetPlan *plan);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkNetPlan, alk_net_plan_free)

/* `ip [-n NS] ARGS...` (NULL-terminated); may_fail: its failure is ignored */
void alk_net_plan_ip(AlkNetPlan *plan, const char *ns, gboolean may_fail,
                     ...) G_GNUC_NULL_TERMINATED;
/* The same, done in-process through rtnetlink as link says (alk-net-link.h)
 * in NS: the `ip` arguments are what the step stands for in the rendered
 * plan and in its errors. */
void alk_net_plan_ip_link(AlkNetPlan *plan, const char *ns, gboolean may_fail,
                          const AlkNetLink *link, ...) G_GNUC_NULL_TERMINATED;
/* `ip netns del NAME`, skipped when /run/netns/NAME is not there when the
 * step runs (so removing may be asked blindly, yet a failure still shows) */
void alk_net_plan_netns_del(AlkNetPlan *plan, const char *name);
/* `nft -f -` in NS, fed text */
void alk_net_plan_nft(AlkNetPlan *plan, const char *ns, const char *text);
/* `sysctl -w KEY=VALUE` in NS */
void alk_net_plan_sysctl(AlkNetPlan *plan, const char *ns, const char *key, const char *value);

/* The plan as a shell would read it, one command a line: `|| true` after
 * one that may fail, `[ -e PATH ] &&` before a conditional one, an nft
 * step's input as a here-document. What golden tests compare. */
char *alk_net_plan_to_string(const AlkNetPlan *plan);

/* Runs and frees the plan; finish with alk_net_plan_finish(). */
void alk_net_plan_run_async(AlkNetPlan *plan, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data);
gboolean alk_net_plan_finish(GAsyncResult *result, GError **error);

/* The same on a private main context, waiting (start-up and tests). Frees the plan. */
gboolean alk_net_plan_run(AlkNetPlan *plan, GError **error);
