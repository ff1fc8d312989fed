/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A small Prometheus registry: counters, gauges and fixed-bucket histograms,
 * each with any number of label sets, rendered in the text exposition
 * format (version 0.0.4). Thread-safe. */
#pragma once

#include <glib.h>

/* Label sets per metric: label values may come from clients (an error
 * reason, a status code), so their number is bounded. */
#define ALK_METRICS_MAX_SERIES 256

/* The daemon's metrics, registered by alk_metrics_new_airlock() */
#define ALK_METRIC_SANDBOXES "airlock_sandboxes"                 /* gauge {state} */
#define ALK_METRIC_CREATES "airlock_sandbox_creates_total"       /* counter */
#define ALK_METRIC_FAILURES "airlock_sandbox_failures_total"     /* counter {reason} */
#define ALK_METRIC_EXEC_DURATION "airlock_exec_duration_seconds" /* histogram */
#define ALK_METRIC_HTTP_REQUESTS "airlock_http_requests_total"   /* counter {code} */
#define ALK_METRIC_LIBVIRT_UP "airlock_libvirt_up"               /* gauge */
#define ALK_METRIC_POOL "airlock_pool_sandboxes"                 /* gauge {key, state} */

/* Per-sandbox counters of networked sandboxes. They are not kept in the
 * registry: they are read from the live sandboxes at each scrape and
 * rendered with alk_metrics_render_samples(), so a sandbox's series end
 * with it and their number stays within max_sandboxes. */
#define ALK_METRIC_NET_PACKETS "airlock_sandbox_network_packets_total" /* {sandbox, verdict} */
#define ALK_METRIC_DNS_QUERIES "airlock_sandbox_dns_queries_total"     /* {sandbox, result} */

typedef enum {
	ALK_METRIC_COUNTER,
	ALK_METRIC_GAUGE,
	ALK_METRIC_HISTOGRAM,
} AlkMetricType;

typedef struct _AlkMetrics AlkMetrics;

AlkMetrics *alk_metrics_new(void);

/* A registry holding the ALK_METRIC_* families above */
AlkMetrics *alk_metrics_new_airlock(void);

void alk_metrics_free(AlkMetrics *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkMetrics, alk_metrics_free)

/* Registers a family. name: [a-zA-Z_:][a-zA-Z0-9_:]*; help: any text.
 * bounds: a histogram's bucket upper bounds, finite and strictly increasing
 * (+Inf is implied); NULL and 0 for the other types. */
gboolean alk_metrics_register(AlkMetrics *self, const char *name, AlkMetricType type,
                              const char *help, const double *bounds, guint n_bounds,
                              GError **error);

/* labels: NULL, or a NULL-terminated list of name, value, name, value...
 * Label names: [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__", not "le";
 * values: any text (invalid UTF-8 is replaced). A new label set counts
 * against ALK_METRICS_MAX_SERIES. */

/* Counters: v >= 0. Gauges: any finite v. */
gboolean alk_metrics_add(AlkMetrics *self, const char *name, const char *const *labels, double v,
                         GError **error);

/* Gauges only */
gboolean alk_metrics_set(AlkMetrics *self, const char *name, const char *const *labels, double v,
                         GError **error);

/* Histograms only; v finite */
gboolean alk_metrics_observe(AlkMetrics *self, const char *name, const char *const *labels,
                             double v, GError **error);

/* The text exposition of every family, in registration order */
char *alk_metrics_render(AlkMetrics *self);

/* One sample of a family rendered by alk_metrics_render_samples(). */
typedef struct {
	const char *const *labels; /* as for alk_metrics_add() */
	double value;
} AlkMetricSample;

/* Appends the text exposition of a counter or gauge family whose samples
 * the caller has just read (a collector: nothing is kept): HELP, TYPE and
 * the samples in the order given. Names, labels and values are checked as
 * for registered families; on error nothing is appended. */
gboolean alk_metrics_render_samples(GString *out, const char *name, AlkMetricType type,
                                    const char *help, const AlkMetricSample *samples, guint n,
                                    GError **error);
