/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Prometheus registry: exact exposition text, escaping, histograms,
 * misuse, and a line-by-line check of the format. */
#include <check.h>
#include <glib.h>
#include <math.h>
#include <string.h>

#include "alk-error.h"
#include "alk-metrics.h"

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Every line is a HELP, a TYPE or a sample in the text format 0.0.4 */
static void assert_exposition_valid(const char *text)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	const char *sample = "^[a-zA-Z_:][a-zA-Z0-9_:]*"
	                     "(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\\n]|\\\\[\\\\\"n])*\""
	                     "(,[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\\n]|\\\\[\\\\\"n])*\")*\\})?"
	                     " (NaN|[+-]Inf|-?[0-9]+(\\.[0-9]+)?(e[+-]?[0-9]+)?)$";
	guint n = g_strv_length(lines);

	ck_assert(g_str_has_suffix(text, "\n"));
	ck_assert(g_utf8_validate(text, -1, NULL));
	for (guint i = 0; i + 1 < n; i++) {
		const char *l = lines[i];
		gboolean ok =
		    g_regex_match_simple("^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$", l, 0, 0) ||
		    g_regex_match_simple("^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* "
		                         "(counter|gauge|histogram)$",
		                         l, 0, 0) ||
		    g_regex_match_simple(sample, l, 0, 0);
		ck_assert_msg(ok, "bad exposition line: %s", l);
	}
}

START_TEST(test_airlock_families)
{
	g_autoptr(AlkMetrics) m = alk_metrics_new_airlock();
	g_autofree char *text = alk_metrics_render(m);
	const char *const want[] = {
	    "# TYPE airlock_sandboxes gauge\nairlock_sandboxes{state=\"creating\"} 0\n",
	    "airlock_sandboxes{state=\"failed\"} 0\n",
	    "# TYPE airlock_sandbox_creates_total counter\nairlock_sandbox_creates_total 0\n",
	    "# TYPE airlock_sandbox_failures_total counter\n",
	    "# TYPE airlock_exec_duration_seconds histogram\n",
	    "airlock_exec_duration_seconds_bucket{le=\"0.01\"} 0\n",
	    "airlock_exec_duration_seconds_bucket{le=\"+Inf\"} 0\n"
	    "airlock_exec_duration_seconds_sum 0\nairlock_exec_duration_seconds_count 0\n",
	    "# TYPE airlock_http_requests_total counter\n",
	    "# HELP airlock_libvirt_up ",
	    "# TYPE airlock_libvirt_up gauge\nairlock_libvirt_up 0\n",
	};

	for (guint i = 0; i < G_N_ELEMENTS(want); i++)
		ck_assert_msg(strstr(text, want[i]) != NULL, "missing %s in\n%s", want[i], text);
	assert_exposition_valid(text);
}
END_TEST

START_TEST(test_counter_gauge_exact)
{
	g_autoptr(AlkMetrics) m = alk_metrics_new();
	g_autofree char *text = NULL;

	ck_assert(alk_metrics_register(m, "x_total", ALK_METRIC_COUNTER, "Things.", NULL, 0, NULL));
	ck_assert(alk_metrics_register(m, "g", ALK_METRIC_GAUGE, "A \\ gauge\nwith \"help\".", NULL,
	                               0, NULL));
	ck_assert(alk_metrics_add(m, "x_total", L("code", "200"), 1, NULL));
	ck_assert(alk_metrics_add(m, "x_total", L("code", "200"), 2, NULL));
	ck_assert(alk_metrics_add(m, "x_total", L("code", "503"), 0.5, NULL));
	ck_assert(alk_metrics_set(m, "g", NULL, 7, NULL));
	ck_assert(alk_metrics_add(m, "g", NULL, -9.25, NULL));
	text = alk_metrics_render(m);
	ck_assert_str_eq(text, "# HELP x_total Things.\n"
	                       "# TYPE x_total counter\n"
	                       "x_total{code=\"200\"} 3\n"
	                       "x_total{code=\"503\"} 0.5\n"
	                       "# HELP g A \\\\ gauge\\nwith \"help\".\n"
	                       "# TYPE g gauge\n"
	                       "g -2.25\n");
	assert_exposition_valid(text);
}
END_TEST

START_TEST(test_label_escaping)
{
	g_autoptr(AlkMetrics) m = alk_metrics_new_airlock();
	g_autofree char *text = NULL;
	g_autofree char *long_value = g_strnfill(10000, 'v');

	ck_assert(alk_metrics_add(m, ALK_METRIC_FAILURES,
	                          L("reason", "boot \"deadline\"\nC:\\path\\"), 1, NULL));
	ck_assert(
	    alk_metrics_add(m, ALK_METRIC_FAILURES, L("reason", "bad \xff\xfe utf8"), 1, NULL));
	ck_assert(alk_metrics_add(m, ALK_METRIC_FAILURES, L("reason", long_value), 1, NULL));
	ck_assert(alk_metrics_add(m, ALK_METRIC_FAILURES, L("reason", ""), 1, NULL));
	text = alk_metrics_render(m);
	ck_assert_ptr_nonnull(strstr(text, "airlock_sandbox_failures_total{reason=\"boot "
	                                   "\\\"deadline\\\"\\nC:\\\\path\\\\\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "{reason=\"bad \xef\xbf\xbd\xef\xbf\xbd utf8\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "{reason=\"\"} 1\n"));
	/* long values are cut, so a client cannot grow the registry much */
	ck_assert_ptr_null(strstr(text, long_value));
	assert_exposition_valid(text);
}
END_TEST

START_TEST(test_label_sets)
{
	g_autoptr(AlkMetrics) m = alk_metrics_new();
	g_autofree char *text = NULL;

	ck_assert(alk_metrics_register(m, "r", ALK_METRIC_COUNTER, "h", NULL, 0, NULL));
	/* one label set, whatever order its labels come in */
	ck_assert(alk_metrics_add(m, "r", L("b", "2", "a", "1"), 1, NULL));
	ck_assert(alk_metrics_add(m, "r", L("a", "1", "b", "2"), 1, NULL));
	text = alk_metrics_render(m);
	ck_assert_ptr_nonnull(strstr(text, "\nr{a=\"1\",b=\"2\"} 2\n"));
	assert_exposition_valid(text);
}
END_TEST

START_TEST(test_histogram_exact)
{
	g_autoptr(AlkMetrics) m = alk_metrics_new();
	g_autofree char *text = NULL;
	const double bounds[] = {0.1, 1, 10};

	ck_assert(
	    alk_metrics_register(m, "d_seconds", ALK_METRIC_HISTOGRAM, "D.", bounds, 3, NULL));
	ck_assert(alk_metrics_observe(m, "d_seconds", L("op", "exec"), 0.05, NULL));
	ck_assert(alk_metrics_observe(m, "d_seconds", L("op", "exec"), 0.1, NULL));
	ck_assert(alk_metrics_observe(m, "d_seconds", L("op", "exec"), 5, NULL));
	ck_assert(alk_metrics_observe(m, "d_seconds", L("op", "exec"), 1000, NULL));
	ck_assert(alk_metrics_observe(m, "d_seconds", L("op", "exec"), -1, NULL));
	text = alk_metrics_render(m);
	ck_assert_str_eq(text, "# HELP d_seconds D.\n"
	                       "# TYPE d_seconds histogram\n"
	                       "d_seconds_bucket{op=\"exec\",le=\"0.1\"} 3\n"
	                       "d_seconds_bucket{op=\"exec\",le=\"1\"} 3\n"
	                       "d_seconds_bucket{op=\"exec\",le=\"10\"} 4\n"
	                       "d_seconds_bucket{op=\"exec\",le=\"+Inf\"} 5\n"
	                       "d_seconds_sum{op=\"exec\"} 1004.15\n"
	                       "d_seconds_count{op=\"exec\"} 5\n");
	assert_exposition_valid(text);
}
END_TEST

START_TEST(test_exec_histogram)
{
	g_autoptr(AlkMetrics) m = alk_metrics_new_airlock();
	g_autofree char *text = NULL;

	ck_assert(alk_metrics_observe(m, ALK_METRIC_EXEC_DURATION, NULL, 0.3, NULL));
	ck_assert(alk_metrics_observe(m, ALK_METRIC_EXEC_DURATION, NULL, 7200, NULL));
	ck_assert(alk_metrics_add(m, ALK_METRIC_HTTP_REQUESTS, L("code", "201"), 1, NULL));
	ck_assert(alk_metrics_set(m, ALK_METRIC_SANDBOXES, L("state", "ready"), 3, NULL));
	text = alk_metrics_render(m);
	ck_assert_ptr_nonnull(strstr(text, "airlock_exec_duration_seconds_bucket{le=\"0.25\"} 0\n"
	                                   "airlock_exec_duration_seconds_bucket{le=\"0.5\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text,
	                             "airlock_exec_duration_seconds_bucket{le=\"3600\"} 1\n"
	                             "airlock_exec_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(text, "airlock_http_requests_total{code=\"201\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "airlock_sandboxes{state=\"ready\"} 3\n"));
	assert_exposition_valid(text);
}
END_TEST

/* error is read after the call: arguments have no evaluation order */
static void assert_fails(gboolean ok, GError **error, AlkError code)
{
	ck_assert(!ok);
	ck_assert_msg(g_error_matches(*error, ALK_ERROR, code), "%s",
	              *error != NULL ? (*error)->message : "no error");
	g_clear_error(error);
}

START_TEST(test_misuse)
{
	g_autoptr(AlkMetrics) m = alk_metrics_new_airlock();
	g_autofree char *before = alk_metrics_render(m);
	g_autofree char *after = NULL;
	GError *e = NULL;

	assert_fails(alk_metrics_add(m, "nope", NULL, 1, &e), &e, ALK_ERROR_NOT_FOUND);
	assert_fails(alk_metrics_add(m, NULL, NULL, 1, &e), &e, ALK_ERROR_NOT_FOUND);
	assert_fails(alk_metrics_add(m, ALK_METRIC_CREATES, NULL, -1, &e), &e, ALK_ERROR_INVALID);
	assert_fails(alk_metrics_add(m, ALK_METRIC_CREATES, NULL, NAN, &e), &e, ALK_ERROR_INVALID);
	assert_fails(alk_metrics_set(m, ALK_METRIC_LIBVIRT_UP, NULL, INFINITY, &e), &e,
	             ALK_ERROR_INVALID);
	assert_fails(alk_metrics_set(m, ALK_METRIC_CREATES, NULL, 5, &e), &e, ALK_ERROR_INVALID);
	assert_fails(alk_metrics_add(m, ALK_METRIC_EXEC_DURATION, NULL, 1, &e), &e,
	             ALK_ERROR_INVALID);
	assert_fails(alk_metrics_observe(m, ALK_METRIC_CREATES, NULL, 1, &e), &e,
	             ALK_ERROR_INVALID);
	assert_fails(alk_metrics_observe(m, ALK_METRIC_EXEC_DURATION, NULL, NAN, &e), &e,
	             ALK_ERROR_INVALID);
	assert_fails(alk_metrics_observe(m, ALK_METRIC_EXEC_DURATION, L("le", "1"), 1, &e), &e,
	             ALK_ERROR_INVALID);
	assert_fails(
	    alk_metrics_add(m, ALK_METRIC_FAILURES, (const char *const[]){"reason", NULL}, 1, &e),
	    &e, ALK_ERROR_INVALID);
	assert_fails(alk_metrics_add(m, ALK_METRIC_FAILURES, L("a", "1", "a", "2"), 1, &e), &e,
	             ALK_ERROR_INVALID);
	assert_fails(alk_metrics_add(m, ALK_METRIC_FAILURES, L("bad-name", "1"), 1, &e), &e,
	             ALK_ERROR_INVALID);
	assert_fails(alk_metrics_add(m, ALK_METRIC_FAILURES, L("__reserved", "1"), 1, &e), &e,
	             ALK_ERROR_INVALID);
	assert_fails(alk_metrics_add(m, ALK_METRIC_FAILURES, L("9lives", "1"), 1, &e), &e,
	             ALK_ERROR_INVALID);
	assert_fails(alk_metrics_add(m, ALK_METRIC_FAILURES, L("", "1"), 1, &e), &e,
	             ALK_ERROR_INVALID);
	after = alk_metrics_render(m);
	ck_assert_str_eq(before, after);
}
END_TEST

START_TEST(test_register_rejects)
{
	g_autoptr(AlkMetrics) m = alk_metrics_new();
	const double good[] = {1, 2};
	const double unsorted[] = {2, 1};
	const double dup[] = {1, 1};
	const double inf[] = {1, INFINITY};
	GError *e = NULL;

	assert_fails(alk_metrics_register(m, "bad-name", ALK_METRIC_COUNTER, "h", NULL, 0, &e), &e,
	             ALK_ERROR_INVALID);
	assert_fails(alk_metrics_register(m, "1x", ALK_METRIC_COUNTER, "h", NULL, 0, &e), &e,
	             ALK_ERROR_INVALID);
	assert_fails(alk_metrics_register(m, "", ALK_METRIC_COUNTER, "h", NULL, 0, &e), &e,
	             ALK_ERROR_INVALID);
	assert_fails(alk_metrics_register(m, "x", ALK_METRIC_COUNTER, NULL, NULL, 0, &e), &e,
	             ALK_ERROR_INVALID);
	assert_fails(alk_metrics_register(m, "x", ALK_METRIC_COUNTER, "h", good, 2, &e), &e,
	             ALK_ERROR_INVALID);
	assert_fails(alk_metrics_register(m, "x", 7, "h", NULL, 0, &e), &e, ALK_ERROR_INVALID);
	assert_fails(alk_metrics_register(m, "h", ALK_METRIC_HISTOGRAM, "h", NULL, 0, &e), &e,
	             ALK_ERROR_INVALID);
	assert_fails(alk_metrics_register(m, "h", ALK_METRIC_HISTOGRAM, "h", unsorted, 2, &e), &e,
	             ALK_ERROR_INVALID);
	assert_fails(alk_metrics_register(m, "h", ALK_METRIC_HISTOGRAM, "h", dup, 2, &e), &e,
	             ALK_ERROR_INVALID);
	assert_fails(alk_metrics_register(m, "h", ALK_METRIC_HISTOGRAM, "h", inf, 2, &e), &e,
	             ALK_ERROR_INVALID);
	ck_assert(alk_metrics_register(m, "ns:x_total", ALK_METRIC_COUNTER, "h", NULL, 0, NULL));
	assert_fails(alk_metrics_register(m, "ns:x_total", ALK_METRIC_GAUGE, "h", NULL, 0, &e), &e,
	             ALK_ERROR_CONFLICT);
	alk_metrics_free(NULL);
}
END_TEST

START_TEST(test_series_cap)
{
	g_autoptr(AlkMetrics) m = alk_metrics_new_airlock();
	g_autofree char *text = NULL;
	GError *e = NULL;

	for (guint i = 0; i < ALK_METRICS_MAX_SERIES; i++) {
		g_autofree char *reason = g_strdup_printf("r%u", i);
		ck_assert(alk_metrics_add(m, ALK_METRIC_FAILURES, L("reason", reason), 1, NULL));
	}
	assert_fails(alk_metrics_add(m, ALK_METRIC_FAILURES, L("reason", "one-more"), 1, &e), &e,
	             ALK_ERROR_LIMIT);
	/* existing label sets still count */
	ck_assert(alk_metrics_add(m, ALK_METRIC_FAILURES, L("reason", "r0"), 1, NULL));
	text = alk_metrics_render(m);
	ck_assert_ptr_nonnull(strstr(text, "airlock_sandbox_failures_total{reason=\"r0\"} 2\n"));
	assert_exposition_valid(text);
}
END_TEST

static gpointer hammer(gpointer data)
{
	AlkMetrics *m = data;

	for (guint i = 0; i < 10000; i++) {
		alk_metrics_add(m, ALK_METRIC_CREATES, NULL, 1, NULL);
		alk_metrics_observe(m, ALK_METRIC_EXEC_DURATION, NULL, 0.02, NULL);
		if (i % 1000 == 0)
			g_free(alk_metrics_render(m));
	}
	return NULL;
}

START_TEST(test_threads)
{
	g_autoptr(AlkMetrics) m = alk_metrics_new_airlock();
	GThread *threads[4];
	g_autofree char *text = NULL;

	for (guint i = 0; i < G_N_ELEMENTS(threads); i++)
		threads[i] = g_thread_new("hammer", hammer, m);
	for (guint i = 0; i < G_N_ELEMENTS(threads); i++)
		g_thread_join(threads[i]);
	text = alk_metrics_render(m);
	ck_assert_ptr_nonnull(strstr(text, "airlock_sandbox_creates_total 40000\n"));
	ck_assert_ptr_nonnull(strstr(text, "airlock_exec_duration_seconds_count 40000\n"));
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("registry");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_airlock_families);
	tcase_add_test(tc, test_counter_gauge_exact);
	tcase_add_test(tc, test_label_escaping);
	tcase_add_test(tc, test_label_sets);
	tcase_add_test(tc, test_histogram_exact);
	tcase_add_test(tc, test_exec_histogram);
	tcase_add_test(tc, test_misuse);
	tcase_add_test(tc, test_register_rejects);
	tcase_add_test(tc, test_series_cap);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
