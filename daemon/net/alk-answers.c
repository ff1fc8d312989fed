/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-answers.h"

#include <string.h>

#include "alk-allow.h"
#include "alk-nft.h"

#define TEXT_MAX (ALK_ANSWERS_MAX * 300)
#define NAME_MAX_LEN 253

typedef struct {
	char *name;
	GInetAddress *address;
	gint64 expires; /* unix µs */
} Answer;

struct AlkAnswers {
	GPtrArray *list; /* Answer *, oldest first */
};

static void answer_free(Answer *a)
{
	g_free(a->name);
	g_object_unref(a->address);
	g_free(a);
}

AlkAnswers *alk_answers_new(void)
{
	AlkAnswers *answers = g_new0(AlkAnswers, 1);

	answers->list = g_ptr_array_new_with_free_func((GDestroyNotify)answer_free);
	return answers;
}

void alk_answers_free(AlkAnswers *answers)
{
	if (answers == NULL)
		return;
	g_ptr_array_unref(answers->list);
	g_free(answers);
}

guint alk_answers_count(AlkAnswers *answers)
{
	return answers->list->len;
}

static Answer *find(AlkAnswers *answers, const char *name, GInetAddress *address)
{
	for (guint i = 0; i < answers->list->len; i++) {
		Answer *a = g_ptr_array_index(answers->list, i);

		if (g_str_equal(a->name, name) && g_inet_address_equal(a->address, address))
			return a;
	}
	return NULL;
}

static void add(AlkAnswers *answers, const char *name, GInetAddress *address, gint64 expires)
{
	Answer *a = g_new0(Answer, 1);

	if (answers->list->len >= ALK_ANSWERS_MAX)
		g_ptr_array_remove_index(answers->list, 0);
	a->name = g_strdup(name);
	a->address = g_object_ref(address);
	a->expires = expires;
	g_ptr_array_add(answers->list, a);
}

gboolean alk_answers_remember(AlkAnswers *answers, const char *name, GPtrArray *pins, gint64 now)
{
	gboolean added = FALSE;

	for (guint i = 0; i < pins->len; i++) {
		const AlkNftPin *pin = g_ptr_array_index(pins, i);
		gint64 expires = now + (gint64)pin->timeout_s * G_USEC_PER_SEC;
		Answer *a = find(answers, name, pin->address);

		if (a != NULL) {
			a->expires = MAX(a->expires, expires);
			continue;
		}
		add(answers, name, pin->address, expires);
		added = TRUE;
	}
	return added;
}

GPtrArray *alk_answers_pins(AlkAnswers *answers, GPtrArray *allow, gint64 now)
{
	GPtrArray *pins = alk_nft_pins_new();

	for (guint i = answers->list->len; i-- > 0;) {
		Answer *a = g_ptr_array_index(answers->list, i);
		guint timeout_s = (guint)MAX((a->expires - now) / G_USEC_PER_SEC, 1);

		if (a->expires <= now) {
			g_ptr_array_remove_index(answers->list, i);
			continue;
		}
		for (guint j = 0; allow != NULL && j < allow->len; j++) {
			const AlkAllowEntry *e = g_ptr_array_index(allow, j);

			if (e->kind == ALK_ALLOW_HOST && alk_allow_entry_matches_name(e, a->name))
				g_ptr_array_add(pins,
				                alk_nft_pin_new(a->address, e->port, timeout_s));
		}
	}
	return pins;
}

char *alk_answers_to_text(AlkAnswers *answers)
{
	g_autoptr(GString) out = g_string_new(NULL);

	for (guint i = 0; i < answers->list->len; i++) {
		Answer *a = g_ptr_array_index(answers->list, i);
		g_autofree char *addr = g_inet_address_to_string(a->address);

		g_string_append_printf(out, "%" G_GINT64_FORMAT " %s %s\n",
		                       a->expires / G_USEC_PER_SEC, a->name, addr);
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

static gboolean name_ok(const char *name)
{
	gsize len = strlen(name);

	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_islower(name[i]) && !g_ascii_isdigit(name[i]) &&
		    strchr(".-", name[i]) == NULL)
			return FALSE;
	}
	return len > 0 && len <= NAME_MAX_LEN;
}

static void add_line(AlkAnswers *answers, const char *line, gint64 now)
{
	g_auto(GStrv) f = g_strsplit(line, " ", 4);
	g_autoptr(GInetAddress) addr = NULL;
	gint64 expires = 0;

	if (g_strv_length(f) != 3 || !name_ok(f[1]) ||
	    !g_ascii_string_to_signed(f[0], 10, 0, G_MAXINT64 / G_USEC_PER_SEC, &expires, NULL) ||
	    expires * G_USEC_PER_SEC <= now ||
	    (addr = g_inet_address_new_from_string(f[2])) == NULL)
		return;
	add(answers, f[1], addr, expires * G_USEC_PER_SEC);
}

void alk_answers_add_text(AlkAnswers *answers, const char *text, gsize len, gint64 now)
{
	g_autofree char *copy = NULL;
	g_auto(GStrv) lines = NULL;

	if (text == NULL || len > TEXT_MAX)
		return;
	copy = g_strndup(text, len);
	lines = g_strsplit(copy, "\n", ALK_ANSWERS_MAX + 1);
	for (guint i = 0; lines[i] != NULL && i < ALK_ANSWERS_MAX; i++)
		add_line(answers, lines[i], now);
}

gboolean alk_answers_save(AlkAnswers *answers, const char *path, GError **error)
{
	g_autofree char *text = alk_answers_to_text(answers);

	return g_file_set_contents_full(path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
	                                error);
}

void alk_answers_load(AlkAnswers *answers, const char *path, gint64 now)
{
	g_autofree char *text = NULL;
	gsize len = 0;

	if (g_file_get_contents(path, &text, &len, NULL))
		alk_answers_add_text(answers, text, len, now);
}
