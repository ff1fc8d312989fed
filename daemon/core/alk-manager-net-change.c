/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What changes while a networked sandbox runs: its counters, read from
 * nftables and the resolver, and its allowlist. */
#include "alk-allow.h"
#include "alk-error.h"
#include "alk-manager-net-private.h"

#define COUNTERS_EVERY_S 2

/* ---- counters ---- */

static void counted(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autofree AlkSlotRef *ref = data;
	AlkSlot *slot = alk_net_ref_slot(ref);
	guint64 allowed = 0, denied = 0;
	gboolean ok = alk_net_counters_finish(ref->m, res, &allowed, &denied, NULL);

	if (slot == NULL)
		return;
	slot->net->counting = FALSE;
	if (ok) {
		slot->sb->net.allowed = allowed;
		slot->sb->net.denied = denied;
	}
}

static gboolean on_count(gpointer data)
{
	AlkManager *m = data;
	GHashTableIter it;
	gpointer value;

	g_hash_table_iter_init(&it, m->slots);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		AlkSlot *slot = value;
		AlkSlotNet *n = slot->net;

		if (n == NULL || n->layout == NULL || slot->res[ALK_RES_NETWORK] != ALK_HOLD_HELD ||
		    n->counting ||
		    (slot->sb->state != ALK_SANDBOX_READY &&
		     slot->sb->state != ALK_SANDBOX_BOOTING))
			continue;
		if (n->resolver != NULL)
			alk_resolver_get_counts(n->resolver, &slot->sb->net.dns_queries,
			                        &slot->sb->net.dns_refused);
		n->counting = TRUE;
		alk_net_counters(slot->m, n->layout->ns, counted, alk_slot_ref(slot, NULL));
	}
	return G_SOURCE_CONTINUE;
}

void alk_manager_net_start(AlkManager *m)
{
	m->net_timer = g_timeout_add_seconds(COUNTERS_EVERY_S, on_count, m);
}

/* ---- a new allowlist ---- */

static void record_saved(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autofree AlkSlotRef *ref = data;
	g_autoptr(GError) error = NULL;

	if (!alk_virt_ops_finish(res, &error))
		g_warning("sandbox %s: saving its allowlist: %s", ref->id, error->message);
}

typedef struct {
	GPtrArray *allow;
	guint generation;
} Change;

static void change_free(Change *c)
{
	g_ptr_array_unref(c->allow);
	g_free(c);
}

static void reloaded(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(GTask) task = data;
	AlkSlotRef *ref = g_task_get_task_data(task);
	Change *c = g_object_get_data(G_OBJECT(task), "change");
	GError *error = NULL;
	AlkSlot *slot = NULL;
	g_autofree char *record = NULL;

	gboolean ok = alk_net_ops_finish(res, &error);

	slot = alk_net_ref_slot(ref);
	if (slot == NULL) {
		g_clear_error(&error);
		g_task_return_new_error(task, ALK_ERROR, ALK_ERROR_NOT_FOUND, "no sandbox %s",
		                        ref->id);
		return;
	}
	if (slot->end != ALK_END_NONE) {
		/* it ended while the rules loaded: its end goes on from here
		 * (and may free the slot) */
		GError *ended = alk_slot_ended_error(slot);

		g_clear_error(&error);
		alk_slot_settled(slot, ALK_RES_NETWORK, TRUE);
		g_task_return_error(task, ended);
		return;
	}
	slot->res[ALK_RES_NETWORK] = ALK_HOLD_HELD;
	if (!ok) {
		/* the old rules stay loaded: so does the resolver's old policy */
		if (slot->net->resolver != NULL)
			alk_resolver_set_policy(slot->net->resolver, slot->net->allow,
			                        slot->net->extra_denied);
		g_prefix_error(&error, "loading the new rules: ");
		g_task_return_error(task, error);
		return;
	}
	g_ptr_array_unref(slot->net->allow);
	slot->net->allow = g_ptr_array_ref(c->allow);
	slot->sb->net.generation = c->generation;
	g_strfreev(slot->sb->net.allow);
	slot->sb->net.allow = alk_net_allow_strv(c->allow);
	record = alk_sandbox_record_to_json(slot->sb);
	slot->m->virt_ops->set_record(slot->m->virt_ctx, slot->sb->domain, record, record_saved,
	                              alk_slot_ref(slot, NULL));
	alk_slot_notify(slot);
	g_task_return_boolean(task, TRUE);
}

void alk_manager_set_network_async(AlkManager *m, const char *id, const char *const *allow,
                                   GAsyncReadyCallback cb, gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, NULL, cb, user_data);
	AlkSlot *slot = alk_slot_lookup(m, id);
	GError *error = NULL;
	g_autoptr(GPtrArray) list = NULL;
	g_autoptr(GPtrArray) pins = NULL;
	AlkNetRules rules = {0};
	Change *c;
	AlkNetPlan *plan;

	g_task_set_source_tag(task, alk_manager_set_network_async);
	if (slot == NULL) {
		g_task_return_new_error(task, ALK_ERROR, ALK_ERROR_NOT_FOUND, "no sandbox %s",
		                        alk_sandbox_id_valid(id) ? id : "with that id");
		return;
	}
	if (!alk_slot_net_allowlist(slot) || slot->net == NULL ||
	    slot->sb->state != ALK_SANDBOX_READY) {
		g_task_return_new_error(task, ALK_ERROR, ALK_ERROR_CONFLICT,
		                        !alk_slot_net_allowlist(slot)
		                            ? "sandbox %s is not in network mode allowlist"
		                            : "sandbox %s is not ready",
		                        id);
		return;
	}
	if (slot->res[ALK_RES_NETWORK] == ALK_HOLD_MAKING) {
		g_task_return_new_error(task, ALK_ERROR, ALK_ERROR_CONFLICT,
		                        "sandbox %s: its allowlist is being changed already", id);
		return;
	}
	list = alk_allow_list_parse_egress(allow, slot->net->extra_denied, &error);
	if (list == NULL) {
		g_task_return_error(task, error);
		return;
	}
	/* rendered with the new list and generation; kept only once loaded */
	pins = alk_slot_net_pins(slot, list);
	rules = (AlkNetRules){.allow = list,
	                      .generation = slot->sb->net.generation + 1,
	                      .pins = pins,
	                      .extra_denied = slot->net->extra_denied};
	plan = alk_net_plan_rules(slot->net->layout, &rules, &error);
	if (plan == NULL) {
		g_task_return_error(task, error);
		return;
	}
	c = g_new0(Change, 1);
	c->allow = g_ptr_array_ref(list);
	c->generation = rules.generation;
	/* names the new list no longer admits are refused from now on, so no
	 * answer pins them into the new rules while they load */
	if (slot->net->resolver != NULL)
		alk_resolver_set_policy(slot->net->resolver, list, slot->net->extra_denied);
	slot->res[ALK_RES_NETWORK] = ALK_HOLD_MAKING; /* its end waits for the rules */
	g_object_set_data_full(G_OBJECT(task), "change", c, (GDestroyNotify)change_free);
	g_task_set_task_data(task, alk_slot_ref(slot, NULL), g_free);
	alk_net_run(slot->m, plan, reloaded, g_steal_pointer(&task));
}

gboolean alk_manager_set_network_finish(AlkManager *m, GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}
