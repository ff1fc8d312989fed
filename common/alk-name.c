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
