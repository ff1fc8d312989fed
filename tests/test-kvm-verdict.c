/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The KVM probe's remembered verdict: valid only for the host it was made
 * on; anything else (garbage, another key) is ignored. */
#include <check.h>
#include <glib.h>
#include <string.h>

#include "alk-error.h"
#include "alk-kvm-verdict.h"

static const AlkKvmHost host = {
    .kernel = "6.1.0-18-cloud-amd64",
    .cpu = "Intel(R) Xeon(R) Processor",
    .qemu = "7.2.0",
    .libvirt = "9.0.0",
};

static void assert_refused(const char *text, const char *want)
{
	g_autoptr(GError) error = NULL;
	gboolean usable = TRUE;
	char *reason = NULL;

	ck_assert_msg(!alk_kvm_verdict_parse(text, &host, &usable, &reason, &error), "accepted: %s",
	              text ? text : "(null)");
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	ck_assert_msg(strstr(error->message, want) != NULL, "'%s' lacks '%s'", error->message,
	              want);
	ck_assert(usable); /* untouched */
	ck_assert_ptr_null(reason);
}

START_TEST(round_trip)
{
	g_autofree char *yes = alk_kvm_verdict_format(&host, TRUE, "ignored");
	g_autofree char *no = alk_kvm_verdict_format(&host, FALSE, "KVM guest did not boot");
	g_autofree char *reason = NULL;
	gboolean usable = FALSE;

	ck_assert(alk_kvm_verdict_parse(yes, &host, &usable, &reason, NULL));
	ck_assert(usable);
	ck_assert_ptr_null(reason);
	ck_assert(alk_kvm_verdict_parse(no, &host, &usable, &reason, NULL));
	ck_assert(!usable);
	ck_assert_str_eq(reason, "KVM guest did not boot");
}
END_TEST

START_TEST(garbage)
{
	g_autofree char *huge = g_strnfill(8192, 'x');
	assert_refused(NULL, "not a verdict");
	assert_refused("", "another kernel");
	assert_refused("garbage\n\x01\x02", "not a verdict");
	assert_refused(huge, "not a verdict");
	assert_refused("[kvm-probe]\nkernel=", "another kernel");
	assert_refused("[other]\nverdict=kvm\n", "another kernel");
}
END_TEST

/* A change in any part of the key probes again. */
START_TEST(other_keys)
{
	const char *fields[] = {"kernel", "cpu", "qemu", "libvirt"};

	for (guint i = 0; i < G_N_ELEMENTS(fields); i++) {
		AlkKvmHost other = host;
		g_autofree char *text = NULL;
		g_autofree char *want = g_strdup_printf("another %s", fields[i]);
		char **field[] = {&other.kernel, &other.cpu, &other.qemu, &other.libvirt};

		*field[i] = "changed";
		text = alk_kvm_verdict_format(&other, TRUE, NULL);
		assert_refused(text, want);
	}
}
END_TEST

START_TEST(bad_verdict)
{
	g_autofree char *text = alk_kvm_verdict_format(&host, TRUE, NULL);
	g_autoptr(GString) s = g_string_new(text);

	g_string_replace(s, "verdict=kvm", "verdict=maybe", 1);
	assert_refused(s->str, "no verdict");
	g_string_replace(s, "verdict=maybe\n", "", 1);
	assert_refused(s->str, "no verdict");
}
END_TEST

START_TEST(cpu_model)
{
	g_autofree char *a = alk_kvm_cpu_model("processor\t: 0\nvendor_id\t: GenuineIntel\n"
	                                       "model name\t: Intel(R) Xeon(R) Processor\n"
	                                       "processor\t: 1\nmodel name\t: Other\n");
	g_autofree char *b = alk_kvm_cpu_model("processor : 0\n");
	g_autofree char *c = alk_kvm_cpu_model(NULL);

	ck_assert_str_eq(a, "Intel(R) Xeon(R) Processor");
	ck_assert_str_eq(b, "unknown");
	ck_assert_str_eq(c, "unknown");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kvm-verdict");
	TCase *tc = tcase_create("verdict");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, garbage);
	tcase_add_test(tc, other_keys);
	tcase_add_test(tc, bad_verdict);
	tcase_add_test(tc, cpu_model);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
