/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The resolver's answers and the pins they give: loaded into nftables
 * before the guest sees an answer, kept (in memory and in the sandbox's state
 * dir, by net's AlkAnswers) to rebuild the ruleset when the allowlist changes. */
#include "alk-error.h"
#include "alk-manager-net-private.h"
#include "alk-nft.h"

#define ANSWERS_FILE "dns-answers"

GPtrArray *alk_slot_net_pins(AlkSlot *slot, GPtrArray *allow)
{
	return alk_answers_pins(slot->net->answers, allow, g_get_real_time());
}

typedef struct {
	void (*done)(gpointer done_data, gboolean ok);
	gpointer done_data;
} PinWait;

static void pins_loaded(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autofree PinWait *w = data;
	g_autoptr(GError) error = NULL;
	gboolean ok = alk_net_ops_finish(res, &error);

	if (!ok)
		g_warning("pinning resolver answers: %s", error->message);
	w->done(w->done_data, ok);
}

/* In the sandbox's state dir (the daemon's, not QEMU's), so a restarted
 * daemon rebuilds the same pins on the next change of the allowlist. */
static char *answers_path(AlkSlot *slot)
{
	return g_build_filename(slot->sb->state_dir, ANSWERS_FILE, NULL);
}

void alk_slot_net_answers_load(AlkSlot *slot)
{
	g_autofree char *path = answers_path(slot);

	alk_answers_load(slot->net->answers, path, g_get_real_time());
}

static void remember(AlkSlot *slot, const char *name, GPtrArray *pins)
{
	g_autofree char *path = NULL;
	g_autoptr(GError) error = NULL;

	if (!alk_answers_remember(slot->net->answers, name, pins, g_get_real_time()))
		return;
	path = answers_path(slot);
	if (!alk_answers_save(slot->net->answers, path, &error))
		g_warning("sandbox %s: saving its resolver's answers: %s", slot->sb->id,
		          error->message);
}

/* The resolver's: load an answer's pins before the guest sees it. */
void alk_slot_net_on_pins(const char *name, GPtrArray *pins,
                          void (*done)(gpointer done_data, gboolean ok), gpointer done_data,
                          gpointer user_data)
{
	AlkSlotRef *ref = user_data;
	AlkSlot *slot = alk_net_ref_slot(ref);
	g_autoptr(GError) error = NULL;
	AlkNetPlan *plan = NULL;
	PinWait *w;

	if (slot != NULL)
		plan = alk_net_plan_pins(slot->net->layout, pins, slot->net->extra_denied, &error);
	if (plan == NULL) {
		if (error != NULL)
			g_warning("sandbox %s: %s", ref->id, error->message);
		done(done_data, FALSE);
		return;
	}
	remember(slot, name, pins);
	w = g_new0(PinWait, 1);
	w->done = done;
	w->done_data = done_data;
	alk_net_run(slot->m, plan, pins_loaded, w);
}
