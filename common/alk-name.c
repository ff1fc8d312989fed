/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-name.h"

#include <string.h>

gboolean alk_name_is_valid(const char *name, gsize max)
{
	gsize len = name != NULL ? strlen(name) : 0;

	if (len == 0 || len > max)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		char c = name[i];
		if (!g_ascii_islower(c) && !g_ascii_isdigit(c) && c != '_' && c != '-')
			return FALSE;
	}
	return TRUE;
}

gboolean alk_volume_name_is_valid(const char *name)
{
	return alk_name_is_valid(name, ALK_VOLUME_NAME_MAX);
}

gboolean alk_label_key_is_valid(const char *key)
{
	gsize len = strlen(key);

	if (len == 0 || len > ALK_LABEL_KEY_MAX)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		char c = key[i];
		if (!g_ascii_islower(c) && !g_ascii_isdigit(c) && c != '_' && c != '.' && c != '-')
			return FALSE;
	}
	return TRUE;
}

/* Stops at the first byte that is not [0-9a-f], so a shorter string's NUL
 * ends it too. */
gboolean alk_sandbox_id_is_prefix(const char *s)
{
	if (s == NULL)
		return FALSE;
	for (int i = 0; i < ALK_SANDBOX_ID_LEN; i++) {
		if (!g_ascii_isdigit(s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return FALSE;
	}
	return TRUE;
}

gboolean alk_sandbox_id_valid(const char *s)
{
	return alk_sandbox_id_is_prefix(s) && s[ALK_SANDBOX_ID_LEN] == '\0';
}
