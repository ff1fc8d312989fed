/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The resolver's answer cache (alk-answers.h): what it keeps, the pins it
 * gives under an allowlist, its text form. Times are fixed, never the clock. */
#include <check.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "alk-allow.h"
#include "alk-answers.h"
#include "alk-nft.h"

#define NOW ((gint64)1700000000 * G_USEC_PER_SEC)
#define S G_USEC_PER_SEC

static GPtrArray *pins_of(const char *addr, guint timeout_s)
{
	GPtrArray *pins = alk_nft_pins_new();
	g_autoptr(GInetAddress) a = g_inet_address_new_from_string(addr);

	g_ptr_array_add(pins, alk_nft_pin_new(a, 0, timeout_s));
	return pins;
}

static gint cmp_str(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

/* "address:port/timeout" of each pin, sorted */
static char *pins_text(GPtrArray *pins)
{
	g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; i < pins->len; i++) {
		const AlkNftPin *p = g_ptr_array_index(pins, i);
		g_autofree char *a = g_inet_address_to_string(p->address);

		g_ptr_array_add(items, g_strdup_printf("%s:%u/%u", a, p->port, p->timeout_s));
	}
	g_ptr_array_sort(items, cmp_str);
	g_ptr_array_add(items, NULL);
	return g_strjoinv(" ", (char **)items->pdata);
}

static GPtrArray *allow(const char *const *entries)
{
	return alk_allow_list_parse_egress(entries, NULL, NULL);
}

START_TEST(remember_and_pin)
{
	const char *const entries[] = {"api.test:443", "api.test:8443", "*.cdn.test", NULL};
	const char *const narrower[] = {"api.test:443", NULL};
	g_autoptr(AlkAnswers) a = alk_answers_new();
	g_autoptr(GPtrArray) p1 = pins_of("192.0.2.1", 300);
	g_autoptr(GPtrArray) p2 = pins_of("192.0.2.2", 60);
	g_autoptr(GPtrArray) shorter = pins_of("192.0.2.1", 10);
	g_autoptr(GPtrArray) list = allow(entries);
	g_autoptr(GPtrArray) small = allow(narrower);
	g_autoptr(GPtrArray) pins = NULL;
	g_autofree char *text = NULL;

	ck_assert(alk_answers_remember(a, "api.test", p1, NOW));
	ck_assert(alk_answers_remember(a, "x.cdn.test", p2, NOW));
	ck_assert(!alk_answers_remember(a, "api.test", shorter, NOW)); /* known: keeps 300 s */
	ck_assert_uint_eq(alk_answers_count(a), 2);
	pins = alk_answers_pins(a, list, NOW + 10 * S);
	text = pins_text(pins);
	ck_assert_str_eq(text, "192.0.2.1:443/290 192.0.2.1:8443/290 192.0.2.2:0/50");
	g_clear_pointer(&pins, g_ptr_array_unref);
	g_clear_pointer(&text, g_free);
	/* a narrower list keeps only what it admits; expired answers go */
	pins = alk_answers_pins(a, small, NOW + 100 * S);
	text = pins_text(pins);
	ck_assert_str_eq(text, "192.0.2.1:443/200");
	ck_assert_uint_eq(alk_answers_count(a), 1);
	g_clear_pointer(&pins, g_ptr_array_unref);
	pins = alk_answers_pins(a, NULL, NOW);
	ck_assert_uint_eq(pins->len, 0);
}
END_TEST

START_TEST(text_round_trip)
{
	g_autoptr(AlkAnswers) a = alk_answers_new();
	g_autoptr(AlkAnswers) b = alk_answers_new();
	g_autoptr(GPtrArray) p = pins_of("192.0.2.9", 120);
	g_autofree char *text = NULL;
	g_autofree char *again = NULL;
	const char *hostile = "1700000500 api.test 192.0.2.3\n"
	                      "1700000500 API.test 192.0.2.4\n"    /* not lowercase */
	                      "1700000500 a;b.test 192.0.2.5\n"    /* bad name */
	                      "1699999999 old.test 192.0.2.6\n"    /* expired */
	                      "x api.test 192.0.2.7\n"             /* bad time */
	                      "1700000500 api.test nonsense\n"     /* bad address */
	                      "1700000500 api.test 192.0.2.8 x\n"; /* extra field */

	alk_answers_remember(a, "api.test", p, NOW);
	text = alk_answers_to_text(a);
	ck_assert_str_eq(text, "1700000120 api.test 192.0.2.9\n");
	alk_answers_add_text(b, text, strlen(text), NOW);
	again = alk_answers_to_text(b);
	ck_assert_str_eq(again, text);
	alk_answers_add_text(b, hostile, strlen(hostile), NOW);
	ck_assert_uint_eq(alk_answers_count(b), 2);
}
END_TEST

START_TEST(bounded)
{
	g_autoptr(AlkAnswers) a = alk_answers_new();
	g_autofree char *path = NULL;
	g_autoptr(AlkAnswers) loaded = alk_answers_new();
	gint fd;

	for (guint i = 0; i < ALK_ANSWERS_MAX + 5; i++) {
		g_autofree char *addr = g_strdup_printf("10.%u.%u.1", i / 256, i % 256);
		g_autoptr(GPtrArray) p = pins_of(addr, 60);

		ck_assert(alk_answers_remember(a, "api.test", p, NOW));
	}
	ck_assert_uint_eq(alk_answers_count(a), ALK_ANSWERS_MAX); /* the oldest went */
	fd = g_file_open_tmp("alk-answers-XXXXXX", &path, NULL);
	ck_assert_int_ge(fd, 0);
	g_close(fd, NULL);
	ck_assert(alk_answers_save(a, path, NULL));
	alk_answers_load(loaded, path, NOW);
	ck_assert_uint_eq(alk_answers_count(loaded), ALK_ANSWERS_MAX);
	g_unlink(path);
	alk_answers_load(loaded, "/nonexistent/answers", NOW); /* adds nothing */
	ck_assert_uint_eq(alk_answers_count(loaded), ALK_ANSWERS_MAX);
}
END_TEST

static Suite *answers_suite(void)
{
	Suite *s = suite_create("net-answers");
	TCase *tc = tcase_create("answers");

	tcase_add_test(tc, remember_and_pin);
	tcase_add_test(tc, text_round_trip);
	tcase_add_test(tc, bounded);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(answers_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
