/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <glib.h>
#include <string.h>

#define ck_assert_no_error(e) ck_assert_msg((e) == NULL, "%s", (e) ? (e)->message : "")

#include "alk-allow.h"
#include "alk-error.h"

static char *canon(const char *text)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkAllowEntry) e = alk_allow_entry_parse(text, &error);

	ck_assert_msg(e != NULL, "refused '%s': %s", text, error ? error->message : "");
	ck_assert_no_error(error);
	ck_assert(alk_allow_entry_check_denied(e, NULL, NULL));
	return alk_allow_entry_to_string(e);
}

static void assert_canon(const char *text, const char *want)
{
	g_autofree char *got = canon(text);

	ck_assert_str_eq(got, want);
}

static void assert_bad(const char *text, const char *want)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkAllowEntry) e = alk_allow_entry_parse(text, &error);

	ck_assert_msg(e == NULL, "accepted '%s'", text);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	ck_assert_msg(strstr(error->message, want) != NULL, "'%s' lacks '%s'", error->message,
	              want);
}

static GPtrArray *masks(const char *const *texts)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(g_object_unref);

	for (guint i = 0; texts[i] != NULL; i++)
		g_ptr_array_add(out, g_inet_address_mask_new_from_string(texts[i], NULL));
	return out;
}

static void assert_denied(const char *text, GPtrArray *extra, const char *range)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkAllowEntry) e = alk_allow_entry_parse(text, NULL);

	ck_assert_msg(e != NULL, "'%s' did not parse", text);
	ck_assert_msg(!alk_allow_entry_check_denied(e, extra, &error), "'%s' allowed", text);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	ck_assert_msg(strstr(error->message, range) != NULL, "'%s' lacks '%s'", error->message,
	              range);
	ck_assert_msg(strstr(error->message, "allowlist entry '") != NULL, "%s", error->message);
}

START_TEST(hosts)
{
	assert_canon("Example.COM", "example.com");
	assert_canon("api.example.com:443", "api.example.com:443");
	assert_canon("a-b.c0.example:65535", "a-b.c0.example:65535");
	assert_canon("*.Example.com:80", "*.example.com:80");
	assert_canon("1x.example.com", "1x.example.com");
	assert_canon("example.c0m", "example.c0m");
}
END_TEST

START_TEST(host_lengths)
{
	g_autofree char *l63 = g_strnfill(63, 'a');
	g_autofree char *l64 = g_strnfill(64, 'a');
	g_autofree char *ok = g_strdup_printf("%s.%s.%s.", l63, l63, l63);
	g_autofree char *n253 = NULL;
	g_autofree char *n254 = NULL;
	g_autofree char *e63 = g_strconcat(l63, ".com", NULL);
	g_autofree char *e64 = g_strconcat(l64, ".com", NULL);
	g_autofree char *c = NULL;
	g_autofree char *l61 = g_strnfill(61, 'b');

	n253 = g_strdup_printf("%s.%s.%s.%s", l63, l63, l63, l61); /* 63*3+3+61 = 253 */
	n254 = g_strdup_printf("%s.%s.%s.%sb", l63, l63, l63, l61);
	ck_assert_int_eq(strlen(n253), 253);
	c = canon(n253);
	ck_assert_str_eq(c, n253);
	assert_bad(n254, "DNS name");
	assert_bad(ok, "DNS name"); /* empty last label */
	g_free(canon(e63));
	assert_bad(e64, "DNS name");
}
END_TEST

START_TEST(host_hostile)
{
	static const char *const bad[] = {"example.com.",
	                                  "example..com",
	                                  ".example.com",
	                                  "-a.example.com",
	                                  "a-.example.com",
	                                  "localhostonly",
	                                  "exa_mple.com",
	                                  "example.123",
	                                  "*",
	                                  "*.com",
	                                  "a.*.example.com",
	                                  "*example.com",
	                                  "**.example.com",
	                                  "ex*.example.com",
	                                  "*.*.example.com",
	                                  "1.2.3",
	                                  "1.2.3.4.5",
	                                  "256.1.1.1",
	                                  "01.2.3.4",
	                                  "0x7f.0.0.1",
	                                  "127.1",
	                                  "1.2.3.4/33",
	                                  "1.2.3.4/08",
	                                  "1.2.3.4/-1",
	                                  "1.2.3.4/ 8",
	                                  "10.0.0.1/8",
	                                  "example.com/24",
	                                  "example.com:0",
	                                  "example.com:65536",
	                                  "example.com:080",
	                                  "example.com:",
	                                  ":80",
	                                  "example.com:+80",
	                                  "example.com:8o",
	                                  "example.com:99999999999999999999",
	                                  "example.com:80:80",
	                                  "[::1",
	                                  "::1]",
	                                  "[]:80",
	                                  "[::1]80",
	                                  "[::1]:",
	                                  "[1.2.3.4]:80",
	                                  "[example.com]:80",
	                                  "[[::1]]:80",
	                                  "[::1]:0",
	                                  "fe80::1%eth0",
	                                  "::g",
	                                  "1:2:3:4:5:6:7:8:9",
	                                  "2001:db8::/129",
	                                  "[2001:db8::1]:65536",
	                                  "a b.com",
	                                  "a\tb.com",
	                                  "ex\xc3\xa9.com",
	                                  "\xff",
	                                  "example.com\n",
	                                  "",
	                                  NULL};

	for (guint i = 0; bad[i] != NULL; i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(AlkAllowEntry) e = alk_allow_entry_parse(bad[i], &error);

		ck_assert_msg(e == NULL, "accepted '%s'", bad[i]);
		ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
		ck_assert(g_utf8_validate(error->message, -1, NULL));
		ck_assert(strchr(error->message, '\n') == NULL);
	}
	assert_bad(NULL, "empty");
	assert_bad("example.com:0", "port");
	assert_bad("a*.example.com", "'*' only");
}
END_TEST

START_TEST(too_long)
{
	g_autofree char *huge = g_strnfill(100000, 'a');

	assert_bad(huge, "too long");
	{
		g_autoptr(GError) error = NULL;

		ck_assert_ptr_null(alk_allow_entry_parse(huge, &error));
		ck_assert_int_lt(strlen(error->message), 200); /* quoted text is cut */
	}
}
END_TEST

START_TEST(addresses)
{
	assert_canon("192.0.2.1", "192.0.2.1");
	assert_canon("192.0.2.1/32:80", "192.0.2.1:80");
	assert_canon("10.0.0.0/8", "10.0.0.0/8");
	assert_canon("0.0.0.0/0:443", "0.0.0.0/0:443");
	assert_canon("[2001:DB8::1]:443", "[2001:db8::1]:443");
	assert_canon("2001:db8::1", "2001:db8::1");
	assert_canon("2001:db8:0:0::/32", "2001:db8::/32");
	assert_canon("[2001:db8::/32]:53", "[2001:db8::/32]:53");
	assert_canon("[2001:db8::1]", "2001:db8::1");
	assert_canon("2001:db8::1:443", "2001:db8::1:443"); /* bare IPv6 takes no port */
}
END_TEST

START_TEST(denied)
{
	const char *const extra_text[] = {"198.51.100.7/32", "2001:db8:ffff::1/128",
	                                  "10.213.0.0/16", NULL};
	g_autoptr(GPtrArray) extra = masks(extra_text);

	assert_denied("169.254.169.254:80", NULL, "169.254.0.0/16");
	assert_denied("169.254.0.0/16", NULL, "169.254.0.0/16");
	assert_denied("127.0.0.1", NULL, "127.0.0.0/8");
	assert_denied("127.0.0.0/8:22", NULL, "127.0.0.0/8");
	assert_denied("0.0.0.0", NULL, "0.0.0.0/8");
	assert_denied("224.0.0.1", NULL, "224.0.0.0/4");
	assert_denied("239.255.255.250:1900", NULL, "224.0.0.0/4");
	assert_denied("255.255.255.255", NULL, "240.0.0.0/4");
	assert_denied("[::1]:22", NULL, "::1/128");
	assert_denied("::", NULL, "::/128");
	assert_denied("fe80::1", NULL, "fe80::/10");
	assert_denied("[febf::/16]:80", NULL, "fe80::/10");
	assert_denied("ff02::1", NULL, "ff00::/8");
	assert_denied("::ffff:169.254.169.254", NULL, "::ffff:0:0/96");
	assert_denied("::ffff:8.8.8.8", NULL, "::ffff:0:0/96");
	assert_denied("198.51.100.7:443", extra, "198.51.100.7");
	assert_denied("[2001:db8:ffff::1]:443", extra, "2001:db8:ffff::1");
	assert_denied("10.213.4.0/24", extra, "10.213.0.0/16");
	assert_denied("localhost.localhost", NULL, "localhost");
	assert_denied("a.b.localhost:80", NULL, "localhost");
}
END_TEST

START_TEST(denied_address)
{
	const char *const extra_text[] = {"198.51.100.7/32", NULL};
	g_autoptr(GPtrArray) extra = masks(extra_text);
	const char *const bad[] = {"169.254.169.254", "127.0.0.53", "::1",
	                           "fe80::2",         "ff02::fb",   "::ffff:127.0.0.1",
	                           "198.51.100.7",    "0.0.0.0",    NULL};
	const char *const good[] = {"192.0.2.1", "2001:db8::1", "8.8.8.8", "198.51.100.8", NULL};

	for (guint i = 0; bad[i] != NULL; i++) {
		g_autoptr(GInetAddress) a = g_inet_address_new_from_string(bad[i]);

		ck_assert_msg(alk_allow_address_is_denied(a, extra), "%s not denied", bad[i]);
	}
	for (guint i = 0; good[i] != NULL; i++) {
		g_autoptr(GInetAddress) a = g_inet_address_new_from_string(good[i]);

		ck_assert_msg(!alk_allow_address_is_denied(a, extra), "%s denied", good[i]);
	}
}
END_TEST

START_TEST(wide_cidr_accepted)
{
	const char *const extra_text[] = {"198.51.100.7/32", NULL};
	g_autoptr(GPtrArray) extra = masks(extra_text);
	g_autoptr(AlkAllowEntry) e = alk_allow_entry_parse("198.51.100.0/24", NULL);

	/* carved out by the ruleset's deny sets, not refused */
	ck_assert(alk_allow_entry_check_denied(e, extra, NULL));
}
END_TEST

START_TEST(wildcard_match)
{
	g_autoptr(AlkAllowEntry) w = alk_allow_entry_parse("*.example.com", NULL);
	g_autoptr(AlkAllowEntry) h = alk_allow_entry_parse("example.com:443", NULL);
	g_autoptr(AlkAllowEntry) n = alk_allow_entry_parse("10.0.0.0/8", NULL);

	ck_assert(alk_allow_entry_matches_name(w, "a.example.com"));
	ck_assert(alk_allow_entry_matches_name(w, "a.b.example.com"));
	ck_assert(!alk_allow_entry_matches_name(w, "example.com"));
	ck_assert(!alk_allow_entry_matches_name(w, "badexample.com"));
	ck_assert(!alk_allow_entry_matches_name(w, ".example.com"));
	ck_assert(!alk_allow_entry_matches_name(w, "example.com.evil"));
	ck_assert(alk_allow_entry_matches_name(h, "example.com"));
	ck_assert(!alk_allow_entry_matches_name(h, "a.example.com"));
	ck_assert(!alk_allow_entry_matches_name(h, NULL));
	ck_assert(!alk_allow_entry_matches_name(n, "example.com"));
}
END_TEST

START_TEST(list_fold)
{
	const char *const in[] = {
	    "Example.com:443",   "example.com:443",     "192.0.2.1",   "192.0.2.1/32",
	    "[2001:db8::1]:443", "[2001:DB8:0::1]:443", "example.com", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) list = alk_allow_list_parse(in, NULL, &error);
	const char *const want[] = {"example.com:443", "192.0.2.1", "[2001:db8::1]:443",
	                            "example.com"};

	ck_assert_no_error(error);
	ck_assert_uint_eq(list->len, G_N_ELEMENTS(want));
	for (guint i = 0; i < list->len; i++) {
		g_autofree char *s = alk_allow_entry_to_string(g_ptr_array_index(list, i));

		ck_assert_str_eq(s, want[i]);
	}
	ck_assert(alk_allow_list_has_ipv6(list));
}
END_TEST

START_TEST(list_limits)
{
	g_autoptr(GPtrArray) many = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) list = NULL;
	const char *const v4[] = {"192.0.2.1", "example.com", NULL};
	const char *const bad[] = {"192.0.2.1", "169.254.169.254", NULL};
	g_autoptr(GPtrArray) l4 = alk_allow_list_parse(v4, NULL, NULL);
	g_autoptr(GPtrArray) empty = alk_allow_list_parse(NULL, NULL, NULL);

	for (guint i = 0; i <= ALK_ALLOW_MAX; i++)
		g_ptr_array_add(many, g_strdup("example.com")); /* counted before folding */
	g_ptr_array_add(many, NULL);
	list = alk_allow_list_parse((const char *const *)many->pdata, NULL, &error);
	ck_assert_ptr_null(list);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_LIMIT));
	g_clear_error(&error);
	g_ptr_array_remove_index(many, 0);
	list = alk_allow_list_parse((const char *const *)many->pdata, NULL, &error);
	ck_assert_no_error(error);
	ck_assert_uint_eq(list->len, 1);
	ck_assert(!alk_allow_list_has_ipv6(l4));
	ck_assert_uint_eq(empty->len, 0);
	g_clear_error(&error);
	ck_assert_ptr_null(alk_allow_list_parse(bad, NULL, &error));
	ck_assert(strstr(error->message, "169.254.169.254") != NULL);
}
END_TEST

/* The one rule for create and for a change: no IPv6 entry. */
START_TEST(egress_refuses_ipv6)
{
	const char *const v6[] = {"example.com", "[2001:db8::1]:443", NULL};
	const char *const cidr6[] = {"2001:db8::/32", NULL};
	const char *const v4[] = {"192.0.2.0/24:80", "example.com", NULL};
	const char *const metadata[] = {"169.254.169.254:80", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) ok = alk_allow_list_parse_egress(v4, NULL, &error);

	ck_assert_no_error(error);
	ck_assert_uint_eq(ok->len, 2);
	ck_assert_ptr_null(alk_allow_list_parse_egress(v6, NULL, &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	ck_assert(strstr(error->message, "IPv6 entries are not supported") != NULL);
	g_clear_error(&error);
	ck_assert_ptr_null(alk_allow_list_parse_egress(cidr6, NULL, &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	g_clear_error(&error);
	/* the grammar's own errors come first, unchanged */
	ck_assert_ptr_null(alk_allow_list_parse_egress(metadata, NULL, &error));
	ck_assert(strstr(error->message, "169.254.169.254") != NULL);
}
END_TEST

static Suite *allow_suite(void)
{
	Suite *s = suite_create("net-allow");
	TCase *tc = tcase_create("allow");

	tcase_add_test(tc, hosts);
	tcase_add_test(tc, host_lengths);
	tcase_add_test(tc, host_hostile);
	tcase_add_test(tc, too_long);
	tcase_add_test(tc, addresses);
	tcase_add_test(tc, denied);
	tcase_add_test(tc, denied_address);
	tcase_add_test(tc, wide_cidr_accepted);
	tcase_add_test(tc, wildcard_match);
	tcase_add_test(tc, list_fold);
	tcase_add_test(tc, list_limits);
	tcase_add_test(tc, egress_refuses_ipv6);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(allow_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
