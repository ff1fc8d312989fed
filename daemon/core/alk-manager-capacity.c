/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What this daemon can still take, as a proxy placing creates sees it
 * (docs/cluster.md): a share of free slots, bounded by free memory. */
#include <string.h>

#include "alk-manager-private.h"

/* MemAvailable and MemTotal from /proc/meminfo, in kB; FALSE if unreadable. */
static gboolean meminfo(guint64 *available, guint64 *total)
{
	g_autofree char *text = NULL;
	const char *a, *t;

	if (!g_file_get_contents("/proc/meminfo", &text, NULL, NULL) ||
	    (a = strstr(text, "MemAvailable:")) == NULL || (t = strstr(text, "MemTotal:")) == NULL)
		return FALSE;
	*available = g_ascii_strtoull(a + strlen("MemAvailable:"), NULL, 10);
	*total = g_ascii_strtoull(t + strlen("MemTotal:"), NULL, 10);
	return *total > 0;
}

guint alk_manager_capacity_pct(AlkManager *m)
{
	guint max = m->config->max_sandboxes;
	guint live = alk_manager_count_live(m);
	guint ready = 0, members = 0;
	g_autoptr(GArray) pool = alk_manager_pool_status(m);
	guint64 available = 0, total = 0;
	guint pct;

	if (!m->virt_ops->is_connected(m->virt_ctx))
		return 0;
	for (guint i = 0; i < pool->len; i++) {
		const AlkPoolStatus *st = &g_array_index(pool, AlkPoolStatus, i);
		ready += st->ready;
		members += st->ready + st->starting;
	}
	/* a create takes a ready member or the room of one */
	if (live >= max && ready == 0 && members == 0)
		return 0;
	pct = (guint)(100 * (guint64)MIN(max, max - MIN(live, max) + ready) / max);
	if (pool->len > 0 && ready == 0)
		pct /= 2;
	if (meminfo(&available, &total))
		pct = MIN(pct, (guint)(100 * available / total));
	return pct;
}
