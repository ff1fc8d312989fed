/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Boot once, restore many, end to end: a real airlockd with restore = true,
 * real guests (TCG). What is asserted comes from inside the guests (their
 * random bytes, clocks, files) and from the files on the host (the frozen
 * layer's bytes and mode, each overlay's backing file), never from the
 * daemon's own opinion of itself. */
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "alk-test-api.h"
#include "alk-test-inet.h"

#define RESTORE_EXTRA "[daemon]\nrestore = true\n[api]\nrequest_timeout_s = 4\n"
/* a template boots beside the first create: generous on a loaded host */
#define TEMPLATE_WAIT_S 300
/* the guest clock against the host's */
#define CLOCK_SLACK_S 5

static void restore_setup(void)
{
	g_autoptr(GError) error = NULL;

	alk_test_api_daemon = alk_test_daemon_start(RESTORE_EXTRA, &error);
	if (alk_test_api_daemon == NULL)
		g_printerr("airlockd did not start: %s\n", error->message);
}

static AlkTestInet *inet;

/* A daemon whose egress is the test's own "internet" (alk-test-inet.h). */
static void inet_setup(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *extra = NULL;

	inet = alk_test_inet_new(&error);
	if (inet == NULL) {
		g_printerr("test internet: %s\n", error->message);
		return;
	}
	extra = g_strdup_printf("[daemon]\nrestore = true\n[api]\nrequest_timeout_s = 30\n"
	                        "[network]\negress_netns = %s\ndns_upstream = %s\n",
	                        alk_test_inet_router(inet), ALK_TEST_INET_DNS_ADDR);
	alk_test_api_daemon = alk_test_daemon_start(extra, &error);
	if (alk_test_api_daemon == NULL)
		g_printerr("airlockd did not start: %s\n", error->message);
}

static void inet_teardown(void)
{
	alk_test_api_teardown();
	g_clear_pointer(&inet, alk_test_inet_free);
}

/* The one template's frozen layer (NULL while there is none). */
static char *frozen_path(void)
{
	g_autofree char *root = g_build_filename(alk_test_api_d()->state_dir, "templates", NULL);
	g_autoptr(GDir) d = g_dir_open(root, 0, NULL);
	const char *name;

	while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
		char *frozen = g_build_filename(root, name, "frozen.qcow2", NULL);
		g_autofree char *save = g_build_filename(root, name, "memory.save", NULL);
		/* the layer is frozen once the memory is saved: both are there */
		if (g_file_test(frozen, G_FILE_TEST_EXISTS) &&
		    g_file_test(save, G_FILE_TEST_EXISTS))
			return frozen;
		g_free(frozen);
	}
	return NULL;
}

static gboolean tick(gpointer data)
{
	*(gboolean *)data = TRUE;
	return G_SOURCE_REMOVE;
}

/* Waits (the main loop turning) until the template is saved and frozen. */
static char *wait_template(void)
{
	gint64 end = g_get_monotonic_time() + TEMPLATE_WAIT_S * G_USEC_PER_SEC;
	char *frozen;

	while ((frozen = frozen_path()) == NULL && g_get_monotonic_time() < end) {
		gboolean fired = FALSE;
		g_timeout_add(200, tick, &fired);
		alk_test_iterate_until(&fired, 1);
	}
	ck_assert_msg(frozen != NULL, "no restore template after %d s", TEMPLATE_WAIT_S);
	return frozen;
}

static char *file_sum(const char *path)
{
	g_autofree char *data = NULL;
	gsize len = 0;

	ck_assert(g_file_get_contents(path, &data, &len, NULL));
	return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)data, len);
}

/* The backing file of the sandbox's overlay, as qemu-img reads it. */
static char *overlay_backing(const char *id)
{
	g_autofree char *overlay =
	    g_build_filename(alk_test_api_d()->state_dir, "sandboxes", id, "overlay.qcow2", NULL);
	const char *argv[] = {"qemu-img", "info", "-U", "--output=json", overlay, NULL};
	g_autofree char *out = NULL;
	g_autoptr(JsonParser) p = json_parser_new();
	int status = 0;

	ck_assert(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
	                       NULL, &status, NULL));
	ck_assert_msg(json_parser_load_from_data(p, out, -1, NULL), "%s", out);
	return g_strdup(json_object_get_string_member(json_node_get_object(json_parser_get_root(p)),
	                                              "backing-filename"));
}

/* stdout of sh -c cmd in id, asserting it exited 0. */
static char *sh_out(const char *id, const char *cmd)
{
	g_autoptr(JsonObject) r = alk_test_api_sh(id, cmd);

	ck_assert_msg(
	    json_object_get_int_member(r, "exit_code") == 0, "%s: %s", cmd,
	    json_object_has_member(r, "stderr") ? json_object_get_string_member(r, "stderr") : "?");
	return g_strdup(json_object_get_string_member(r, "stdout"));
}

/* The nonce the agent logged when it renewed (its console), or NULL. */
static char *renewed_nonce(const char *id)
{
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s/console", id);
	g_autoptr(AlkTestResponse) r = alk_test_api_call("GET", path, NULL);
	g_autofree char *text = g_strndup((const char *)r->body->data, r->body->len);
	const char *p = strstr(text, "renewed: clock set, pool reseeded: nonce ");

	ck_assert_uint_eq(r->status, 200);
	return p != NULL ? g_strndup(p + strlen("renewed: clock set, pool reseeded: nonce "), 16)
	                 : NULL;
}

static void assert_clock(const char *id)
{
	g_autofree char *out = sh_out(id, "date +%s");
	gint64 guest = g_ascii_strtoll(out, NULL, 10);
	gint64 host = g_get_real_time() / G_USEC_PER_SEC;

	ck_assert_msg(guest >= host - CLOCK_SLACK_S && guest <= host + CLOCK_SLACK_S,
	              "sandbox %s: guest clock %" G_GINT64_FORMAT ", host %" G_GINT64_FORMAT, id,
	              guest, host);
}

static void delete_sandbox(const char *id)
{
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s?wait=destroyed", id);
	g_autoptr(JsonObject) r = alk_test_api_expect("DELETE", path, NULL, 200);
}

START_TEST(test_clones)
{
	g_autofree char *cold = alk_test_api_create("{}");
	g_autofree char *frozen = wait_template();
	g_autofree char *sum = file_sum(frozen);
	g_autofree char *a = alk_test_api_create("{}");
	g_autofree char *b = alk_test_api_create("{}");
	g_autofree char *ba = overlay_backing(a);
	g_autofree char *bb = overlay_backing(b);
	g_autofree char *na = renewed_nonce(a);
	g_autofree char *nb = renewed_nonce(b);
	g_autofree char *ra = sh_out(a, "head -c 32 /dev/urandom | od -An -tx1");
	g_autofree char *rb = sh_out(b, "head -c 32 /dev/urandom | od -An -tx1");
	struct stat st;

	/* both are clones: their overlays are on the frozen layer */
	ck_assert_str_eq(ba, frozen);
	ck_assert_str_eq(bb, frozen);
	ck_assert(g_stat(frozen, &st) == 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0444);
	ck_assert_uint_eq(st.st_uid, 0);
	/* each renewed its identity: nonces and random bytes of their own */
	ck_assert_msg(na != NULL && nb != NULL, "a clone did not renew");
	ck_assert_str_ne(na, nb);
	ck_assert_str_ne(ra, rb);
	assert_clock(a);
	assert_clock(b);
	/* what one clone writes, no other sees */
	g_free(sh_out(a, "echo mine > /root/clone-a && sync"));
	{
		g_autoptr(JsonObject) r = alk_test_api_sh(b, "test -e /root/clone-a");
		ck_assert_int_ne(json_object_get_int_member(r, "exit_code"), 0);
	}
	{
		g_autofree char *c = alk_test_api_create("{}");
		g_autofree char *bc = overlay_backing(c);
		g_autoptr(JsonObject) r = alk_test_api_sh(c, "test -e /root/clone-a");
		ck_assert_str_eq(bc, frozen);
		ck_assert_int_ne(json_object_get_int_member(r, "exit_code"), 0);
		delete_sandbox(c);
	}
	delete_sandbox(a);
	delete_sandbox(b);
	/* the frozen layer was never written */
	{
		g_autofree char *after = file_sum(frozen);
		ck_assert_str_eq(sum, after);
	}
	/* a restore that fails (its memory cut short) boots cold, on the base */
	{
		g_autofree char *dir = g_path_get_dirname(frozen);
		g_autofree char *save = g_build_filename(dir, "memory.save", NULL);
		g_autofree char *d = NULL;
		g_autofree char *bd = NULL;
		g_autoptr(JsonObject) r = NULL;

		ck_assert_int_eq(truncate(save, 4096), 0);
		d = alk_test_api_create("{}");
		bd = overlay_backing(d);
		ck_assert_msg(g_str_has_suffix(bd, "/rootfs.qcow2"), "%s", bd);
		r = alk_test_api_sh(d, "true");
		ck_assert_int_eq(json_object_get_int_member(r, "exit_code"), 0);
		delete_sandbox(d);
	}
	delete_sandbox(cold);
}
END_TEST

/* A networked clone: restored paused, its tap moved into its own namespace,
 * then its address configured as after a cold boot (the NIC is the
 * template's; the address, namespace and rules are the clone's). */
START_TEST(test_networked_clone)
{
	const char *body = "{\"network\":{\"mode\":\"isolated\"}}";
	g_autofree char *cold = alk_test_api_create(body);
	g_autofree char *frozen = wait_template();
	g_autofree char *a = alk_test_api_create(body);
	g_autofree char *b = alk_test_api_create(body);
	g_autofree char *ba = overlay_backing(a);
	g_autofree char *bb = overlay_backing(b);
	g_autofree char *na = renewed_nonce(a);
	g_autofree char *nb = renewed_nonce(b);

	ck_assert_str_eq(ba, frozen);
	ck_assert_str_eq(bb, frozen);
	ck_assert_msg(na != NULL && nb != NULL, "a clone did not renew");
	ck_assert_str_ne(na, nb);
	for (guint i = 0; i < 2; i++) {
		const char *id = i == 0 ? a : b;
		g_autofree char *addr = sh_out(id, "ip -o -4 addr show");
		ck_assert_msg(strstr(addr, "10.254.254.2/30") != NULL, "%s: %s", id, addr);
		/* isolated: nothing answers, not even the host's side of the link */
		g_autoptr(JsonObject) r = alk_test_api_sh(id, "ping -c 1 -W 2 10.254.254.1");
		ck_assert_int_ne(json_object_get_int_member(r, "exit_code"), 0);
	}
	delete_sandbox(a);
	delete_sandbox(b);
	delete_sandbox(cold);
}
END_TEST

/* An allowlist clone: its own rules and resolver, as a cold boot's. */
START_TEST(test_allowlist_clone)
{
	const char *body = "{\"network\":{\"mode\":\"allowlist\",\"allow\":[\"allowed.test:80\"]}}";
	g_autofree char *cold = alk_test_api_create(body);
	g_autofree char *frozen = wait_template();
	g_autofree char *a = alk_test_api_create(body);
	g_autofree char *ba = overlay_backing(a);
	g_autofree char *ok = NULL;
	g_autoptr(JsonObject) denied = NULL;

	ck_assert_msg(inet != NULL, "no test internet (see above)");
	ck_assert_str_eq(ba, frozen);
	ok = sh_out(a, "timeout 5 wget -q -O - http://allowed.test/");
	ck_assert_msg(strstr(ok, "allowed-80") != NULL, "%s", ok);
	denied = alk_test_api_sh(a, "timeout 5 wget -q -O - http://denied.test/");
	ck_assert_int_ne(json_object_get_int_member(denied, "exit_code"), 0);
	delete_sandbox(a);
	delete_sandbox(cold);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("restore");
	SRunner *sr;
	int failed;

	alk_test_api_add(s, "clones", test_clones, restore_setup, NULL);
	alk_test_api_add(s, "networked", test_networked_clone, restore_setup, NULL);
	alk_test_api_add(s, "allowlist", test_allowlist_clone, inet_setup, inet_teardown);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
