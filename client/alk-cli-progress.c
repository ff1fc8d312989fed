/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The progress line on stderr: redrawn in place on a terminal, one plain
 * line (or nothing) when stderr is a file or a pipe. */
#include "alk-cli.h"

#include <unistd.h>

#define REDRAW_MS 100

struct AlkCliProgress {
	char *label;
	gint64 started_us;
	const guint64 *done;
	guint64 total;
	gboolean tty;
	guint timer_id;
};

static char *format_bytes(guint64 n)
{
	if (n < 1024 * 1024)
		return g_strdup_printf("%.1f KiB", n / 1024.0);
	if (n < 1024ull * 1024 * 1024)
		return g_strdup_printf("%.1f MiB", n / (1024.0 * 1024));
	return g_strdup_printf("%.2f GiB", n / (1024.0 * 1024 * 1024));
}

char *alk_cli_progress_text(const char *label, gint64 elapsed_us, gboolean have_bytes, guint64 done,
                            guint64 total)
{
	double seconds = MAX(elapsed_us, 0) / (double)G_USEC_PER_SEC;
	g_autofree char *d = NULL;
	g_autofree char *t = NULL;

	if (!have_bytes)
		return g_strdup_printf("%s… %.1fs", label, seconds);
	d = format_bytes(done);
	if (total == 0)
		return g_strdup_printf("%s %s %.1fs", label, d, seconds);
	t = format_bytes(total);
	return g_strdup_printf("%s %s / %s (%u%%) %.1fs", label, d, t,
	                       (guint)(done >= total ? 100 : done * 100 / total), seconds);
}

static void redraw(AlkCliProgress *p)
{
	g_autofree char *text =
	    alk_cli_progress_text(p->label, g_get_monotonic_time() - p->started_us, p->done != NULL,
	                          p->done != NULL ? *p->done : 0, p->total);

	/* \r and erase-to-end: the line is rewritten in place */
	g_printerr("\r%s\033[K", text);
}

static gboolean on_redraw(gpointer data)
{
	redraw(data);
	return G_SOURCE_CONTINUE;
}

AlkCliProgress *alk_cli_progress_new(const char *label, gboolean announce)
{
	AlkCliProgress *p = g_new0(AlkCliProgress, 1);

	p->label = g_strdup(label);
	p->started_us = g_get_monotonic_time();
	p->tty = isatty(STDERR_FILENO);
	if (p->tty) {
		redraw(p);
		p->timer_id = g_timeout_add(REDRAW_MS, on_redraw, p);
	} else if (announce) {
		g_printerr("%s…\n", label);
	}
	return p;
}

void alk_cli_progress_set_label(AlkCliProgress *p, const char *label)
{
	g_free(p->label);
	p->label = g_strdup(label);
	if (p->tty)
		redraw(p);
}

void alk_cli_progress_set_bytes(AlkCliProgress *p, const guint64 *done, guint64 total)
{
	p->done = done;
	p->total = total;
	if (p->tty)
		redraw(p);
}

void alk_cli_progress_free(AlkCliProgress *p)
{
	if (p == NULL)
		return;
	g_clear_handle_id(&p->timer_id, g_source_remove);
	if (p->tty)
		g_printerr("\r\033[K");
	g_free(p->label);
	g_free(p);
}
