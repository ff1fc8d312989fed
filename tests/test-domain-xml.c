/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alk-domain-xml.h"
#include "alk-error.h"

static AlkDomainSpec spec(void)
{
	AlkDomainSpec s = {
	    .name = "airlock-0123456789ab",
	    .virt_type = "qemu",
	    .vcpus = 2,
	    .memory_mib = 512,
	    .hard_limit_mib = 1024,
	    .cpu_quota_pct = 50,
	    .io_bytes_sec = 10485760,
	    .io_iops = 1000,
	    .kernel = "/var/lib/airlock/images/minimal/vmlinuz",
	    .initrd = "/var/lib/airlock/images/minimal/initrd.img",
	    .cmdline = "console=ttyS0 panic=-1",
	    .overlay = "/var/lib/airlock/sandboxes/0123456789ab/overlay.qcow2",
	    .base = "/var/lib/airlock/images/minimal/rootfs.qcow2",
	    .console_log = "/run/airlock/sandboxes/0123456789ab/console.log",
	    .agent_socket = "/run/airlock/sandboxes/0123456789ab/agent.sock",
	    .record = "{\"id\":\"0123456789ab\"}",
	    .qemu_uid = 64055,
	    .qemu_gid = 64055,
	};
	return s;
}

static char *render(const AlkDomainSpec *s, GError **error)
{
	return alk_domain_xml_render(ALK_SOURCE_DIR "/xml-templates", s, error);
}

/* virt-xml-validate checks the rendered XML against libvirt's schema. */
static gboolean validates(const char *xml)
{
	g_autofree char *path = NULL;
	g_autofree char *err = NULL;
	int fd = g_file_open_tmp("domain-XXXXXX.xml", &path, NULL);
	int status = -1;
	const char *argv[] = {"virt-xml-validate", NULL, "domain", NULL};

	ck_assert_int_ge(fd, 0);
	ck_assert(g_file_set_contents(path, xml, -1, NULL));
	close(fd);
	argv[1] = path;
	ck_assert(g_spawn_sync(NULL, (char **)argv, NULL,
	                       G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
	                       &err, &status, NULL));
	unlink(path);
	if (status != 0)
		fprintf(stderr, "virt-xml-validate: %s\n%s\n", err, xml);
	return status == 0;
}

START_TEST(test_render_validates)
{
	AlkDomainSpec s = spec();
	g_autoptr(GError) error = NULL;
	g_autofree char *xml = render(&s, &error);

	ck_assert_msg(xml != NULL, "%s", error ? error->message : "?");
	ck_assert(validates(xml));
	ck_assert(strstr(xml, "<quota>50000</quota>") != NULL);
	ck_assert(strstr(xml, "<vcpu placement='static'>2</vcpu>") != NULL);
	ck_assert(strstr(xml, "<hard_limit unit='MiB'>1024</hard_limit>") != NULL);
	ck_assert(strstr(xml, "<interface") == NULL);
	ck_assert(strstr(xml, "<graphics") == NULL);
	ck_assert(strstr(xml, "<memballoon model='none'/>") != NULL);
	ck_assert(strstr(xml, "<panic model='isa'/>") != NULL);
	ck_assert(strstr(xml, "{{") == NULL);
	ck_assert(strstr(xml, "relabel='no'") != NULL);
	ck_assert(strstr(xml, "<label>+64055:+64055</label>") != NULL);
}
END_TEST

/* TCG's translation cache is capped; KVM has none: no <tcg> there */
START_TEST(test_tcg_tb_cache)
{
	AlkDomainSpec s = spec();
	g_autoptr(GError) error = NULL;
	g_autofree char *tcg = render(&s, &error);
	g_autofree char *kvm = NULL;
	const char *features;

	ck_assert_msg(tcg != NULL, "%s", error ? error->message : "?");
	features = strstr(tcg, "<features>");
	ck_assert_ptr_nonnull(features);
	ck_assert_ptr_nonnull(strstr(features, "<tb-cache unit='MiB'>"));
	ck_assert(strstr(features, "<tcg>") < strstr(features, "</features>"));
	ck_assert(validates(tcg));
	s.virt_type = "kvm";
	kvm = render(&s, &error);
	ck_assert_msg(kvm != NULL, "%s", error ? error->message : "?");
	ck_assert(strstr(kvm, "<tcg>") == NULL && strstr(kvm, "tb-cache") == NULL);
	ck_assert(validates(kvm));
}
END_TEST

START_TEST(test_memtune_optional)
{
	AlkDomainSpec s = spec();
	g_autoptr(GError) error = NULL;
	g_autofree char *xml = NULL;

	s.hard_limit_mib = 0;
	xml = render(&s, &error);
	ck_assert_msg(xml != NULL, "%s", error ? error->message : "?");
	ck_assert(strstr(xml, "<memtune>") == NULL);
	ck_assert(validates(xml));
}
END_TEST

START_TEST(test_interface)
{
	AlkDomainSpec s = spec();
	g_autoptr(GError) error = NULL;
	g_autofree char *none = render(&s, &error);
	g_autofree char *xml = NULL;

	ck_assert_msg(none != NULL, "%s", error ? error->message : "?");
	ck_assert(strstr(none, "<interface") == NULL); /* network none: no NIC at all */
	s.tap = "at0123456789ab";
	s.mac = "52:54:00:12:34:56";
	xml = render(&s, &error);
	ck_assert_msg(xml != NULL, "%s", error ? error->message : "?");
	ck_assert(strstr(xml, "<interface type='ethernet'>") != NULL);
	ck_assert(strstr(xml, "<target dev='at0123456789ab' managed='yes'/>") != NULL);
	ck_assert(strstr(xml, "<mac address='52:54:00:12:34:56'/>") != NULL);
	ck_assert(validates(xml));
	/* names ip(8) could misread, and MACs outside 52:54:00 */
	static const char *const taps[] = {"", "-x", "a b", "at0123456789abcd", "AT0"};
	static const char *const macs[] = {"52:54:00:12:34", "00:11:22:33:44:55",
	                                   "52:54:00:12:34:5g", "52-54-00-12-34-56"};
	for (guint i = 0; i < G_N_ELEMENTS(taps); i++) {
		g_autofree char *bad = NULL;
		s.tap = taps[i];
		s.mac = "52:54:00:12:34:56";
		bad = render(&s, NULL);
		ck_assert_msg(bad == NULL, "tap %s accepted", taps[i]);
	}
	for (guint i = 0; i < G_N_ELEMENTS(macs); i++) {
		g_autofree char *bad = NULL;
		s.tap = "at0";
		s.mac = macs[i];
		bad = render(&s, NULL);
		ck_assert_msg(bad == NULL, "mac %s accepted", macs[i]);
	}
}
END_TEST

START_TEST(test_display)
{
	AlkDomainSpec s = spec();
	g_autoptr(GError) error = NULL;
	g_autofree char *none = render(&s, &error);
	g_autofree char *xml = NULL;

	ck_assert(strstr(none, "<video>") == NULL && strstr(none, "<input") == NULL);
	s.display_width = 1024;
	s.display_height = 768;
	xml = render(&s, &error);
	ck_assert_msg(xml != NULL, "%s", error ? error->message : "?");
	ck_assert(strstr(xml, "<resolution x='1024' y='768'/>") != NULL);
	ck_assert(strstr(xml, "<input type='tablet' bus='virtio'/>") != NULL);
	ck_assert(strstr(xml, "<input type='keyboard' bus='virtio'/>") != NULL);
	/* no listener of any kind: screenshots and input need none */
	ck_assert(strstr(xml, "<graphics") == NULL);
	ck_assert(validates(xml));
	static const guint bad[][2] = {{1024, 0}, {0, 768}, {100, 768}, {1024, 100}, {8000, 768}};
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree char *refused = NULL;
		s.display_width = bad[i][0];
		s.display_height = bad[i][1];
		refused = render(&s, NULL);
		ck_assert_msg(refused == NULL, "%ux%u accepted", bad[i][0], bad[i][1]);
	}
}
END_TEST

START_TEST(test_workspace)
{
	AlkDomainSpec s = spec();
	g_autoptr(GError) error = NULL;
	g_autofree char *none = render(&s, &error);
	g_autofree char *xml = NULL;
	g_autofree char *relative = NULL;

	ck_assert(strstr(none, "vdb") == NULL && strstr(none, "<serial>") == NULL);
	s.workspace = "/var/lib/airlock/sandboxes/0123456789ab/workspace.qcow2";
	s.workspace_base = "/var/lib/airlock/disk-bases/ext4-64M.qcow2";
	xml = render(&s, &error);
	ck_assert_msg(xml != NULL, "%s", error ? error->message : "?");
	ck_assert(strstr(xml, "<target dev='vdb' bus='virtio'/>") != NULL);
	ck_assert(strstr(xml, "<serial>alk-workspace</serial>") != NULL);
	ck_assert(strstr(xml, "<source file='/var/lib/airlock/disk-bases/ext4-64M.qcow2'/>") !=
	          NULL);
	ck_assert(validates(xml));
	s.workspace_base = "disk-bases/ext4-64M.qcow2";
	relative = render(&s, NULL);
	ck_assert(relative == NULL);
	/* named volumes: the read-only one read-only for QEMU */
	g_autofree char *vols = NULL;
	s.workspace = NULL;
	s.volumes[0] = "/var/lib/airlock/volumes/data.qcow2";
	s.volumes[1] = "/var/lib/airlock/volumes/ref.qcow2";
	s.volume_readonly[1] = TRUE;
	s.nvolumes = 2;
	vols = render(&s, &error);
	ck_assert_msg(vols != NULL, "%s", error ? error->message : "?");
	const char *v0 = strstr(vols, "<serial>alk-vol0</serial>");
	const char *v1 = strstr(vols, "<serial>alk-vol1</serial>");
	ck_assert(v0 != NULL && v1 != NULL && v0 < v1);
	/* the only <readonly/> is the second volume's */
	ck_assert(strstr(vols, "<readonly/>") > v1 &&
	          strstr(vols, "<readonly/>") < strstr(v1, "</disk>"));
	ck_assert(strstr(vols, "<target dev='vdd' bus='virtio'/>") != NULL);
	ck_assert(validates(vols));
	s.nvolumes = ALK_DOMAIN_VOLUMES_MAX + 1;
	ck_assert(render(&s, NULL) == NULL);
}
END_TEST

START_TEST(test_values_are_escaped)
{
	AlkDomainSpec s = spec();
	g_autoptr(GError) error = NULL;
	g_autofree char *xml = NULL;

	s.cmdline = "quiet'/><devices><disk file='/etc/shadow'/></devices><x a='";
	s.record = "</airlock:sandbox><evil/>&";
	xml = render(&s, &error);
	ck_assert_msg(xml != NULL, "%s", error ? error->message : "?");
	ck_assert(strstr(xml, "<evil/>") == NULL);
	ck_assert(strstr(xml, "/etc/shadow'/>") == NULL);
	ck_assert(strstr(xml, "&lt;evil/&gt;&amp;") != NULL);
	ck_assert(validates(xml));
}
END_TEST

START_TEST(test_bad_specs_refused)
{
	AlkDomainSpec s;
	g_autoptr(GError) error = NULL;

	s = spec();
	s.name = "not-ours";
	ck_assert(render(&s, &error) == NULL);
	g_clear_error(&error);
	s = spec();
	s.virt_type = "xen";
	ck_assert(render(&s, &error) == NULL);
	g_clear_error(&error);
	s = spec();
	s.vcpus = 0;
	ck_assert(render(&s, &error) == NULL);
	g_clear_error(&error);
	s = spec();
	s.hard_limit_mib = 100;
	ck_assert(render(&s, &error) == NULL);
	g_clear_error(&error);
	s = spec();
	s.cpu_quota_pct = 101;
	ck_assert(render(&s, &error) == NULL);
	g_clear_error(&error);
	s = spec();
	s.qemu_uid = 0;
	ck_assert(render(&s, &error) == NULL);
	g_clear_error(&error);
	s = spec();
	s.overlay = "relative/overlay.qcow2";
	ck_assert(render(&s, &error) == NULL);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	ck_assert(strstr(error->message, "overlay") != NULL);
}
END_TEST

START_TEST(test_template_fill)
{
	g_autoptr(GHashTable) vars = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GError) error = NULL;
	g_autofree char *ok = NULL;

	g_hash_table_insert(vars, "a", "<&>");
	ok = alk_template_fill("x{{a}}y", vars, &error);
	ck_assert_str_eq(ok, "x&lt;&amp;&gt;y");
	ck_assert(alk_template_fill("x{{b}}y", vars, &error) == NULL);
	ck_assert(strstr(error->message, "'b'") != NULL);
	g_clear_error(&error);
	ck_assert(alk_template_fill("x{{a", vars, &error) == NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("domain-xml");
	TCase *tc = tcase_create("render");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_render_validates);
	tcase_add_test(tc, test_workspace);
	tcase_add_test(tc, test_memtune_optional);
	tcase_add_test(tc, test_tcg_tb_cache);
	tcase_add_test(tc, test_interface);
	tcase_add_test(tc, test_display);
	tcase_add_test(tc, test_values_are_escaped);
	tcase_add_test(tc, test_bad_specs_refused);
	tcase_add_test(tc, test_template_fill);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
