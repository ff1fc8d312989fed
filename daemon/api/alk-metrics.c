/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-metrics.h"

#include <math.h>
#include <string.h>

#include "alk-error.h"

#define LABEL_VALUE_MAX 256

typedef struct {
	char *labels;     /* rendered pairs without braces, sorted by name; "" if none */
	double value;     /* counters and gauges; a histogram's sum */
	guint64 count;    /* histograms: observations */
	guint64 *buckets; /* histograms: observations per bound, not cumulative */
} Series;

typedef struct {
	char *name;
	char *help;
	AlkMetricType type;
	double *bounds;
	guint n_bounds;
	GPtrArray *series;     /* of Series, in creation order: stable output */
	GHashTable *by_labels; /* labels text -> Series */
} Family;

struct _AlkMetrics {
	GMutex lock;
	GPtrArray *families; /* registration order */
	GHashTable *by_name;
};

static void series_free(gpointer data)
{
	Series *s = data;
	g_free(s->labels);
	g_free(s->buckets);
	g_free(s);
}

static void family_free(gpointer data)
{
	Family *f = data;
	g_free(f->name);
	g_free(f->help);
	g_free(f->bounds);
	g_ptr_array_unref(f->series);
	g_hash_table_unref(f->by_labels);
	g_free(f);
}

AlkMetrics *alk_metrics_new(void)
{
	AlkMetrics *self = g_new0(AlkMetrics, 1);

	g_mutex_init(&self->lock);
	self->families = g_ptr_array_new_with_free_func(family_free);
	self->by_name = g_hash_table_new(g_str_hash, g_str_equal);
	return self;
}

void alk_metrics_free(AlkMetrics *self)
{
	if (self == NULL)
		return;
	g_hash_table_unref(self->by_name);
	g_ptr_array_unref(self->families);
	g_mutex_clear(&self->lock);
	g_free(self);
}

static gboolean name_valid(const char *name, gboolean colon_ok)
{
	if (name == NULL || name[0] == '\0' || g_ascii_isdigit(name[0]))
		return FALSE;
	for (const char *p = name; *p != '\0'; p++) {
		if (!g_ascii_isalnum(*p) && *p != '_' && !(colon_ok && *p == ':'))
			return FALSE;
	}
	return TRUE;
}

static gboolean bounds_valid(AlkMetricType type, const double *bounds, guint n)
{
	if (type != ALK_METRIC_HISTOGRAM)
		return bounds == NULL && n == 0;
	if (bounds == NULL || n == 0)
		return FALSE;
	for (guint i = 0; i < n; i++) {
		if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
			return FALSE;
	}
	return TRUE;
}

gboolean alk_metrics_register(AlkMetrics *self, const char *name, AlkMetricType type,
                              const char *help, const double *bounds, guint n_bounds,
                              GError **error)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&self->lock);
	Family *f;

	if (!name_valid(name, TRUE) || help == NULL || type > ALK_METRIC_HISTOGRAM ||
	    !bounds_valid(type, bounds, n_bounds)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "metrics: bad definition of %s",
		            name != NULL ? name : "(null)");
		return FALSE;
	}
	if (g_hash_table_contains(self->by_name, name)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_CONFLICT, "metrics: %s exists", name);
		return FALSE;
	}
	f = g_new0(Family, 1);
	f->name = g_strdup(name);
	f->help = g_utf8_make_valid(help, -1);
	f->type = type;
	f->bounds = n_bounds > 0 ? g_memdup2(bounds, n_bounds * sizeof(double)) : NULL;
	f->n_bounds = n_bounds;
	f->series = g_ptr_array_new_with_free_func(series_free);
	f->by_labels = g_hash_table_new(g_str_hash, g_str_equal);
	g_ptr_array_add(self->families, f);
	g_hash_table_insert(self->by_name, f->name, f);
	return TRUE;
}

/* Label values escape backslash, double quote and newline; HELP text
 * escapes only backslash and newline (quote = FALSE). */
static void append_escaped(GString *out, const char *s, gboolean quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			g_string_append(out, "\\\\");
		else if (*s == '\n')
			g_string_append(out, "\\n");
		else if (quote && *s == '"')
			g_string_append(out, "\\\"");
		else
			g_string_append_c(out, *s);
	}
}

static gint compare_pair(gconstpointer a, gconstpointer b)
{
	const char *const *pa = a;
	const char *const *pb = b;
	return strcmp(pa[0], pb[0]);
}

static gboolean label_name_valid(const char *name, AlkMetricType type)
{
	return name_valid(name, FALSE) && !g_str_has_prefix(name, "__") &&
	       !(type == ALK_METRIC_HISTOGRAM && strcmp(name, "le") == 0);
}

/* Sorts the pairs by name, so one label set has one text whatever the
 * order it was given in. NULL with an error for a bad list. */
static char *labels_text(const char *const *labels, AlkMetricType type, GError **error)
{
	g_autoptr(GString) out = g_string_new(NULL);
	g_autofree const char **pairs = NULL;
	guint n = 0;

	while (labels != NULL && labels[n] != NULL)
		n++;
	if (n % 2 != 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "metrics: odd label list");
		return NULL;
	}
	if (n == 0)
		return g_strdup("");
	pairs = g_memdup2(labels, n * sizeof(char *));
	qsort(pairs, n / 2, 2 * sizeof(char *), compare_pair);
	for (guint i = 0; i < n; i += 2) {
		g_autofree char *value = NULL;
		if (!label_name_valid(pairs[i], type) ||
		    (i > 0 && strcmp(pairs[i], pairs[i - 2]) == 0)) {
			g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "metrics: bad label name");
			return NULL;
		}
		value = g_utf8_make_valid(pairs[i + 1], MIN(strlen(pairs[i + 1]), LABEL_VALUE_MAX));
		g_string_append_printf(out, "%s%s=\"", i > 0 ? "," : "", pairs[i]);
		append_escaped(out, value, TRUE);
		g_string_append_c(out, '"');
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

static Family *lookup(AlkMetrics *self, const char *name, AlkMetricType type, GError **error)
{
	Family *f = name != NULL ? g_hash_table_lookup(self->by_name, name) : NULL;

	if (f == NULL) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_NOT_FOUND, "metrics: no metric %s",
		            name != NULL ? name : "(null)");
		return NULL;
	}
	if (f->type != type) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "metrics: %s has another type",
		            name);
		return NULL;
	}
	return f;
}

static Series *get_series(Family *f, const char *const *labels, GError **error)
{
	g_autofree char *text = labels_text(labels, f->type, error);
	Series *s;

	if (text == NULL)
		return NULL;
	s = g_hash_table_lookup(f->by_labels, text);
	if (s != NULL)
		return s;
	if (f->series->len >= ALK_METRICS_MAX_SERIES) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_LIMIT,
		            "metrics: %s has too many label sets", f->name);
		return NULL;
	}
	s = g_new0(Series, 1);
	s->labels = g_steal_pointer(&text);
	if (f->type == ALK_METRIC_HISTOGRAM)
		s->buckets = g_new0(guint64, f->n_bounds);
	g_ptr_array_add(f->series, s);
	g_hash_table_insert(f->by_labels, s->labels, s);
	return s;
}

/* lookup + get_series; the caller holds the lock */
static Series *find(AlkMetrics *self, const char *name, AlkMetricType type,
                    const char *const *labels, GError **error)
{
	Family *f = lookup(self, name, type, error);
	return f != NULL ? get_series(f, labels, error) : NULL;
}

static gboolean check_value(double v, gboolean nonneg, GError **error)
{
	if (!isfinite(v) || (nonneg && v < 0)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "metrics: bad value");
		return FALSE;
	}
	return TRUE;
}

gboolean alk_metrics_add(AlkMetrics *self, const char *name, const char *const *labels, double v,
                         GError **error)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&self->lock);
	Family *f = name != NULL ? g_hash_table_lookup(self->by_name, name) : NULL;
	AlkMetricType type =
	    f != NULL && f->type == ALK_METRIC_GAUGE ? ALK_METRIC_GAUGE : ALK_METRIC_COUNTER;
	Series *s;

	if (!check_value(v, type == ALK_METRIC_COUNTER, error))
		return FALSE;
	s = find(self, name, type, labels, error);
	if (s == NULL)
		return FALSE;
	s->value += v;
	return TRUE;
}

gboolean alk_metrics_set(AlkMetrics *self, const char *name, const char *const *labels, double v,
                         GError **error)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&self->lock);
	Series *s;

	if (!check_value(v, FALSE, error))
		return FALSE;
	s = find(self, name, ALK_METRIC_GAUGE, labels, error);
	if (s == NULL)
		return FALSE;
	s->value = v;
	return TRUE;
}

gboolean alk_metrics_observe(AlkMetrics *self, const char *name, const char *const *labels,
                             double v, GError **error)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&self->lock);
	Family *f;
	Series *s;

	if (!check_value(v, FALSE, error))
		return FALSE;
	f = lookup(self, name, ALK_METRIC_HISTOGRAM, error);
	s = f != NULL ? get_series(f, labels, error) : NULL;
	if (s == NULL)
		return FALSE;
	for (guint i = 0; i < f->n_bounds; i++) {
		if (v <= f->bounds[i]) {
			s->buckets[i]++;
			break;
		}
	}
	s->count++;
	s->value += v;
	return TRUE;
}

/* The shortest text that reads back as v: le="0.1", not 0.10000000000000001
 * as g_ascii_dtostr's %.17g would print. */
static void append_number(GString *out, double v)
{
	static const char *const formats[] = {"%.15g", "%.16g", "%.17g"};
	char buf[G_ASCII_DTOSTR_BUF_SIZE];

	if (isnan(v)) {
		g_string_append(out, "NaN");
		return;
	}
	if (isinf(v)) {
		g_string_append(out, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (guint i = 0; i < G_N_ELEMENTS(formats); i++) {
		g_ascii_formatd(buf, sizeof(buf), formats[i], v);
		if (g_ascii_strtod(buf, NULL) == v)
			break;
	}
	g_string_append(out, buf);
}

/* name{labels,extra} value */
static void append_sample(GString *out, const char *name, const char *suffix, const char *labels,
                          const char *extra, double v)
{
	gboolean braces = labels[0] != '\0' || extra != NULL;

	g_string_append_printf(out, "%s%s%s%s", name, suffix, braces ? "{" : "", labels);
	if (extra != NULL)
		g_string_append_printf(out, "%s%s", labels[0] != '\0' ? "," : "", extra);
	g_string_append(out, braces ? "} " : " ");
	append_number(out, v);
	g_string_append_c(out, '\n');
}

static void render_histogram(GString *out, const Family *f, const Series *s)
{
	guint64 cumulative = 0;

	for (guint i = 0; i < f->n_bounds; i++) {
		g_autoptr(GString) le = g_string_new("le=\"");
		cumulative += s->buckets[i];
		append_number(le, f->bounds[i]);
		g_string_append_c(le, '"');
		append_sample(out, f->name, "_bucket", s->labels, le->str, (double)cumulative);
	}
	append_sample(out, f->name, "_bucket", s->labels, "le=\"+Inf\"", (double)s->count);
	append_sample(out, f->name, "_sum", s->labels, NULL, s->value);
	append_sample(out, f->name, "_count", s->labels, NULL, (double)s->count);
}

static void render_family(GString *out, const Family *f)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};

	g_string_append_printf(out, "# HELP %s ", f->name);
	append_escaped(out, f->help, FALSE);
	g_string_append_printf(out, "\n# TYPE %s %s\n", f->name, types[f->type]);
	for (guint i = 0; i < f->series->len; i++) {
		const Series *s = g_ptr_array_index(f->series, i);
		if (f->type == ALK_METRIC_HISTOGRAM)
			render_histogram(out, f, s);
		else
			append_sample(out, f->name, "", s->labels, NULL, s->value);
	}
}

char *alk_metrics_render(AlkMetrics *self)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&self->lock);
	GString *out = g_string_new(NULL);

	for (guint i = 0; i < self->families->len; i++)
		render_family(out, g_ptr_array_index(self->families, i));
	return g_string_free(out, FALSE);
}

gboolean alk_metrics_render_samples(GString *out, const char *name, AlkMetricType type,
                                    const char *help, const AlkMetricSample *samples, guint n,
                                    GError **error)
{
	g_autoptr(GString) text = g_string_new(NULL);
	g_autofree char *safe_help = NULL;

	if (!name_valid(name, TRUE) || help == NULL || type >= ALK_METRIC_HISTOGRAM) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "metrics: bad definition of %s",
		            name != NULL ? name : "(null)");
		return FALSE;
	}
	safe_help = g_utf8_make_valid(help, -1);
	g_string_append_printf(text, "# HELP %s ", name);
	append_escaped(text, safe_help, FALSE);
	g_string_append_printf(text, "\n# TYPE %s %s\n", name,
	                       type == ALK_METRIC_COUNTER ? "counter" : "gauge");
	for (guint i = 0; i < n; i++) {
		g_autofree char *labels = labels_text(samples[i].labels, type, error);
		if (labels == NULL ||
		    !check_value(samples[i].value, type == ALK_METRIC_COUNTER, error))
			return FALSE;
		append_sample(text, name, "", labels, NULL, samples[i].value);
	}
	g_string_append_len(out, text->str, text->len);
	return TRUE;
}

static const double exec_bounds[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1,   2.5,
                                     5,    10,   30,  60,   300, 900, 3600};

/* Starts every family that has a known label set at zero, so that rates
 * and alerts work before the first event. */
static void airlock_zeroes(AlkMetrics *self)
{
	static const char *const states[] = {"creating", "booting",  "ready",
	                                     "paused",   "stopping", "failed"};

	for (guint i = 0; i < G_N_ELEMENTS(states); i++)
		alk_metrics_set(self, ALK_METRIC_SANDBOXES,
		                (const char *const[]){"state", states[i], NULL}, 0, NULL);
	alk_metrics_add(self, ALK_METRIC_CREATES, NULL, 0, NULL);
	alk_metrics_set(self, ALK_METRIC_LIBVIRT_UP, NULL, 0, NULL);
	get_series(g_hash_table_lookup(self->by_name, ALK_METRIC_EXEC_DURATION), NULL, NULL);
}

AlkMetrics *alk_metrics_new_airlock(void)
{
	AlkMetrics *self = alk_metrics_new();

	/* fixed definitions: these cannot fail */
	alk_metrics_register(self, ALK_METRIC_SANDBOXES, ALK_METRIC_GAUGE,
	                     "Sandboxes by lifecycle state.", NULL, 0, NULL);
	alk_metrics_register(self, ALK_METRIC_POOL, ALK_METRIC_GAUGE,
	                     "Warm pool members by key and state (ready, starting); not in "
	                     "airlock_sandboxes until handed out.",
	                     NULL, 0, NULL);
	alk_metrics_register(self, ALK_METRIC_CREATES, ALK_METRIC_COUNTER,
	                     "Sandbox create requests accepted.", NULL, 0, NULL);
	alk_metrics_register(self, ALK_METRIC_FAILURES, ALK_METRIC_COUNTER,
	                     "Sandboxes that failed, by reason.", NULL, 0, NULL);
	alk_metrics_register(self, ALK_METRIC_EXEC_DURATION, ALK_METRIC_HISTOGRAM,
	                     "Duration of exec tasks, from request to exit.", exec_bounds,
	                     G_N_ELEMENTS(exec_bounds), NULL);
	alk_metrics_register(self, ALK_METRIC_HTTP_REQUESTS, ALK_METRIC_COUNTER,
	                     "REST API requests answered, by HTTP status code.", NULL, 0, NULL);
	alk_metrics_register(self, ALK_METRIC_LIBVIRT_UP, ALK_METRIC_GAUGE,
	                     "1 when the libvirt connection is up, else 0.", NULL, 0, NULL);
	airlock_zeroes(self);
	return self;
}
