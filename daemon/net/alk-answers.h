/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The resolver's answers to one sandbox, kept so that a new allowlist
 * keeps the pins of the names it still admits: (name, address, expiry),
 * at most ALK_ANSWERS_MAX (the oldest go first). Saved as text, one line
 * each, "EXPIRES NAME ADDRESS" (unix seconds), so a restarted daemon
 * rebuilds the same pins. Times are unix µs (g_get_real_time()). */
#pragma once

#include <gio/gio.h>
#include <glib.h>

#define ALK_ANSWERS_MAX 1024

typedef struct AlkAnswers AlkAnswers;

AlkAnswers *alk_answers_new(void);
/* NULL is fine. */
void alk_answers_free(AlkAnswers *answers);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkAnswers, alk_answers_free)

guint alk_answers_count(AlkAnswers *answers);

/* Keeps each pin's address (AlkNftPin *) for name, once, with its latest
 * expiry (now + its timeout). TRUE if one was new (worth saving). */
gboolean alk_answers_remember(AlkAnswers *answers, const char *name, GPtrArray *pins, gint64 now);

/* The pins (AlkNftPin *, owned) the answers not expired at now give under
 * allow (AlkAllowEntry *): one per HOST entry admitting the name, with its
 * port, timing out when the answer does. Expired answers are dropped. */
GPtrArray *alk_answers_pins(AlkAnswers *answers, GPtrArray *allow, gint64 now);

/* The text form, and back: lines that do not parse, with bad names or
 * expired at now are skipped, and so is all of a text over the size bound. */
char *alk_answers_to_text(AlkAnswers *answers);
void alk_answers_add_text(AlkAnswers *answers, const char *text, gsize len, gint64 now);

/* The text form in a file (mode 0600, replaced atomically), and back; a
 * missing or unreadable file adds nothing. */
gboolean alk_answers_save(AlkAnswers *answers, const char *path, GError **error);
void alk_answers_load(AlkAnswers *answers, const char *path, gint64 now);
