/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The resolver's answers and the pins they give: loaded into nftables
 * before the guest sees an answer, kept (in memory and in the sandbox's state
 * dir) to rebuild the ruleset when the allowlist changes. */
#include <string.h>

#include "alk-allow.h"
#include "alk-error.h"
#include "alk-manager-net-private.h"
#include "alk-nft.h"

#define ANSWERS_MAX 1024
#define ANSWERS_FILE "dns-answers"
#define ANSWERS_FILE_MAX (ANSWERS_MAX * 300)

static void answer_free(Answer *a)
{
	g_free(a->name);
	g_object_unref(a->address);
	g_free(a);
}

GPtrArray *alk_net_answers_new(void)
{
	return g_ptr_array_new_with_free_func((GDestroyNotify)answer_free);
}

static void pin_free(AlkNftPin *pin)
{
	g_object_unref(pin->address);
	g_free(pin);
}

/* The pins the kept answers give under the current allowlist. */
static GPtrArray *current_pins(AlkSlotNet *n)
{
	GPtrArray *pins = g_ptr_array_new_with_free_func((GDestroyNotify)pin_free);
	gint64 now = g_get_real_time();

	for (guint i = n->answers->len; i-- > 0;) {
		Answer *a = g_ptr_array_index(n->answers, i);

		if (a->expires <= now) {
			g_ptr_array_remove_index_fast(n->answers, i);
			continue;
		}
		for (guint j = 0; n->allow != NULL && j < n->allow->len; j++) {
			const AlkAllowEntry *e = g_ptr_array_index(n->allow, j);
			AlkNftPin *pin;

			if (e->kind != ALK_ALLOW_HOST || !alk_allow_entry_matches_name(e, a->name))
				continue;
			pin = g_new0(AlkNftPin, 1);
			pin->address = g_object_ref(a->address);
			pin->port = e->port;
			pin->timeout_s = (guint)MAX((a->expires - now) / G_USEC_PER_SEC, 1);
			g_ptr_array_add(pins, pin);
		}
	}
	return pins;
}

typedef struct {
	void (*done)(gpointer done_data, gboolean ok);
	gpointer done_data;
} PinWait;

static void pins_loaded(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autofree PinWait *w = data;
	g_autoptr(GError) error = NULL;
	gboolean ok = alk_netns_finish(res, &error);

	if (!ok)
		g_warning("pinning resolver answers: %s", error->message);
	w->done(w->done_data, ok);
}

/* The answers are kept in the sandbox's state dir (the daemon's, not
 * QEMU's), so a restarted daemon rebuilds the same pins on the next change
 * of the allowlist. One line each: "EXPIRES NAME ADDRESS" (unix seconds). */
static char *answers_path(AlkSlot *slot)
{
	return g_build_filename(slot->sb->state_dir, ANSWERS_FILE, NULL);
}

static void answers_save(AlkSlot *slot)
{
	g_autofree char *path = answers_path(slot);
	g_autoptr(GString) out = g_string_new(NULL);
	g_autoptr(GError) error = NULL;

	for (guint i = 0; i < slot->net->answers->len; i++) {
		Answer *a = g_ptr_array_index(slot->net->answers, i);
		g_autofree char *addr = g_inet_address_to_string(a->address);

		g_string_append_printf(out, "%" G_GINT64_FORMAT " %s %s\n",
		                       a->expires / G_USEC_PER_SEC, a->name, addr);
	}
	if (!g_file_set_contents_full(path, out->str, (gssize)out->len,
	                              G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error))
		g_warning("sandbox %s: saving its resolver's answers: %s", slot->sb->id,
		          error->message);
}

static gboolean name_ok(const char *name)
{
	gsize len = strlen(name);

	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_islower(name[i]) && !g_ascii_isdigit(name[i]) &&
		    strchr(".-", name[i]) == NULL)
			return FALSE;
	}
	return len > 0 && len <= 253;
}

void alk_slot_net_answers_load(AlkSlot *slot)
{
	g_autofree char *path = answers_path(slot);
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;
	gint64 now = g_get_real_time();
	gsize len = 0;

	if (!g_file_get_contents(path, &text, &len, NULL) || len > ANSWERS_FILE_MAX)
		return;
	lines = g_strsplit(text, "\n", ANSWERS_MAX + 1);
	for (guint i = 0; lines[i] != NULL && i < ANSWERS_MAX; i++) {
		g_auto(GStrv) f = g_strsplit(lines[i], " ", 4);
		g_autoptr(GInetAddress) addr = NULL;
		gint64 expires = 0;
		Answer *a;

		if (g_strv_length(f) != 3 || !name_ok(f[1]) ||
		    !g_ascii_string_to_signed(f[0], 10, 0, G_MAXINT64 / G_USEC_PER_SEC, &expires,
		                              NULL) ||
		    expires * G_USEC_PER_SEC <= now ||
		    (addr = g_inet_address_new_from_string(f[2])) == NULL)
			continue;
		a = g_new0(Answer, 1);
		a->name = g_strdup(f[1]);
		a->address = g_steal_pointer(&addr);
		a->expires = expires * G_USEC_PER_SEC;
		g_ptr_array_add(slot->net->answers, a);
	}
}

/* Keeps (name, address) once, with its latest expiry, at most ANSWERS_MAX
 * (the oldest go first); written out when a new one comes. */
static void remember(AlkSlot *slot, const char *name, GPtrArray *pins)
{
	GPtrArray *answers = slot->net->answers;
	gboolean added = FALSE;

	for (guint i = 0; i < pins->len; i++) {
		const AlkNftPin *pin = g_ptr_array_index(pins, i);
		gint64 expires = g_get_real_time() + (gint64)pin->timeout_s * G_USEC_PER_SEC;
		Answer *a = NULL;

		for (guint j = 0; a == NULL && j < answers->len; j++) {
			Answer *b = g_ptr_array_index(answers, j);

			if (g_str_equal(b->name, name) &&
			    g_inet_address_equal(b->address, pin->address))
				a = b;
		}
		if (a != NULL) {
			a->expires = MAX(a->expires, expires);
			continue;
		}
		if (answers->len >= ANSWERS_MAX)
			g_ptr_array_remove_index(answers, 0);
		a = g_new0(Answer, 1);
		a->name = g_strdup(name);
		a->address = g_object_ref(pin->address);
		a->expires = expires;
		g_ptr_array_add(answers, a);
		added = TRUE;
	}
	if (added)
		answers_save(slot);
}

/* The resolver's: load an answer's pins before the guest sees it. */
void alk_slot_net_on_pins(const char *name, GPtrArray *pins,
                          void (*done)(gpointer done_data, gboolean ok), gpointer done_data,
                          gpointer user_data)
{
	NetRef *ref = user_data;
	AlkSlot *slot = alk_net_ref_slot(ref);
	g_autoptr(GError) error = NULL;
	g_autofree char *text = NULL;
	AlkNetPlan *plan;
	PinWait *w;

	if (slot != NULL)
		text = alk_nft_render_pins(pins, FALSE, slot->net->extra_denied, &error);
	if (text == NULL) {
		if (error != NULL)
			g_warning("sandbox %s: %s", ref->id, error->message);
		done(done_data, FALSE);
		return;
	}
	remember(slot, name, pins);
	w = g_new0(PinWait, 1);
	w->done = done;
	w->done_data = done_data;
	plan = alk_net_plan_new();
	alk_net_plan_nft(plan, slot->net->ns, text);
	alk_net_plan_run_async(plan, NULL, pins_loaded, w);
}

char *alk_slot_net_ruleset(AlkSlot *slot, GError **error)
{
	AlkSlotNet *n = slot->net;
	g_autoptr(GPtrArray) pins = current_pins(n);
	g_autoptr(GInetAddress) gw = g_inet_address_new_from_string(GUEST_GW);
	AlkNftPolicy policy = {
	    .allow = n->allow,
	    .uplink = alk_slot_net_allowlist(slot) ? ALK_NETNS_UPLINK : NULL,
	    .generation = slot->sb->net.generation,
	    .pins = pins,
	    .resolver = alk_slot_net_allowlist(slot) ? gw : NULL,
	    .extra_denied = n->extra_denied,
	};

	return alk_nft_render(&policy, error);
}
