/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the alk-manager-net*.c files only. */
#pragma once

#include "alk-answers.h"
#include "alk-manager-private.h"
#include "alk-net-recipe.h"
#include "alk-netns.h"
#include "alk-resolver.h"

struct AlkSlotNet {
	AlkNetLayout *layout;    /* its names and addresses */
	GPtrArray *allow;        /* AlkAllowEntry * */
	GPtrArray *extra_denied; /* GInetAddressMask * */
	AlkResolver *resolver;
	AlkAnswers *answers; /* the resolver's, to rebuild the pins */
	gboolean counting;   /* a counters read is running */
};

/* The backend's calls, shorter (alk-net-ops.h). */
static inline void alk_net_run(AlkManager *m, AlkNetPlan *plan, GAsyncReadyCallback cb,
                               gpointer user_data)
{
	m->net_ops->run(m->net_ctx, plan, cb, user_data);
}

static inline void alk_net_counters(AlkManager *m, const char *ns, GAsyncReadyCallback cb,
                                    gpointer user_data)
{
	m->net_ops->counters(m->net_ctx, ns, cb, user_data);
}

static inline gboolean alk_net_counters_finish(AlkManager *m, GAsyncResult *res, guint64 *allowed,
                                               guint64 *denied, GError **error)
{
	return m->net_ops->counters_finish(m->net_ctx, res, allowed, denied, error);
}

static inline gboolean alk_net_exists(AlkManager *m, const char *ns)
{
	return m->net_ops->exists(m->net_ctx, ns);
}

/* The networked slot ref names, or NULL when the manager let go of it. */
AlkSlot *alk_net_ref_slot(const AlkSlotRef *ref);
gboolean alk_slot_net_allowlist(AlkSlot *slot);
char **alk_net_allow_strv(GPtrArray *allow);

/* alk-manager-net-pins.c */
/* The pins the kept answers give under allow (AlkNftPin *, owned). */
GPtrArray *alk_slot_net_pins(AlkSlot *slot, GPtrArray *allow);
/* The answers kept in the sandbox's state dir, after a restart. */
void alk_slot_net_answers_load(AlkSlot *slot);
/* The resolver's AlkResolverPinFunc (user_data: an AlkSlotRef). */
void alk_slot_net_on_pins(const char *name, GPtrArray *pins,
                          void (*done)(gpointer done_data, gboolean ok), gpointer done_data,
                          gpointer user_data);
