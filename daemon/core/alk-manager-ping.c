/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The agent's pulse: a READY sandbox's agent is pinged on a schedule. A
 * root process in the guest can freeze the agent (ptrace it) while the
 * domain runs on; without this the sandbox would stay "ready" with no one
 * answering. A missed ping makes it unhealthy (shown with the sandbox),
 * MISSED_MAX in a row fail and end it. */
#include "alk-error.h"
#include "alk-manager-private.h"

#define PING_INTERVAL_S 5
#define PING_DEADLINE_S 5
#define MISSED_MAX 3

static void on_pong(AlkChannel *ch, const GError *error, gpointer data)
{
	AlkSlot *slot = data;
	AlkSandbox *sb = slot->sb;
	guint missed = sb->missed_pings;

	slot->ping_out = FALSE;
	/* a lost connection is the channel's to report and retry */
	if (error != NULL && !g_error_matches(error, ALK_ERROR, ALK_ERROR_TIMEOUT))
		return;
	sb->missed_pings = error == NULL ? 0 : missed + 1;
	if (sb->missed_pings >= MISSED_MAX) {
		alk_slot_fail(slot, g_error_new(ALK_ERROR, ALK_ERROR_UNAVAILABLE,
		                                "the guest agent stopped answering (%u pings in a "
		                                "row went unanswered for %u s each)",
		                                sb->missed_pings, PING_DEADLINE_S));
		return;
	}
	if ((missed == 0) != (sb->missed_pings == 0))
		alk_slot_notify(slot);
}

static gboolean on_ping_timer(gpointer data)
{
	AlkSlot *slot = data;

	/* one at a time: a ping waits as long as a held download keeps the
	 * channel from reading */
	if (!slot->ping_out && slot->sb->state == ALK_SANDBOX_READY && slot->channel != NULL &&
	    alk_channel_get_state(slot->channel) == ALK_CHANNEL_READY) {
		slot->ping_out = TRUE;
		alk_channel_ping(slot->channel,
		                 g_get_monotonic_time() + PING_DEADLINE_S * G_USEC_PER_SEC, on_pong,
		                 slot);
	}
	return G_SOURCE_CONTINUE;
}

void alk_slot_start_pings(AlkSlot *slot)
{
	if (slot->ping_timer == 0)
		slot->ping_timer = g_timeout_add_seconds(PING_INTERVAL_S, on_ping_timer, slot);
}

void alk_slot_stop_pings(AlkSlot *slot)
{
	g_clear_handle_id(&slot->ping_timer, g_source_remove);
	slot->ping_out = FALSE;
}
