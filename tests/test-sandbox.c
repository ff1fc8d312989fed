/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A sandbox's tables and record, without libvirt or root: the state
 * transitions, the order its end takes its resources in, and the record a
 * restarted daemon adopts it from (every field back, and what it refuses). */
#include <check.h>
#include <string.h>

#include "alk-error.h"
#include "alk-sandbox.h"
#include "alk-slot-end.h"

#define ID "0123456789ab"

/* ---- states ---- */

START_TEST(test_transitions)
{
	/* written out, not derived: each row is what the lifecycle allows */
	static const struct {
		AlkSandboxState from;
		const char *to; /* the states reachable from it, by initial */
	} rows[] = {
	    {ALK_SANDBOX_CREATING, "BSF"}, {ALK_SANDBOX_BOOTING, "RPSF"},
	    {ALK_SANDBOX_READY, "PSF"},    {ALK_SANDBOX_STOPPING, "DF"},
	    {ALK_SANDBOX_DESTROYED, ""},   {ALK_SANDBOX_FAILED, ""},
	    {ALK_SANDBOX_PAUSED, "RBSF"},
	};
	static const char initials[] = "CBRSDFP"; /* in enum order */

	ck_assert_uint_eq(G_N_ELEMENTS(rows), ALK_SANDBOX_N_STATES);
	ck_assert_uint_eq(strlen(initials), ALK_SANDBOX_N_STATES);

	for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
		for (AlkSandboxState to = ALK_SANDBOX_CREATING; to < ALK_SANDBOX_N_STATES; to++) {
			gboolean want = strchr(rows[i].to, initials[to]) != NULL;
			ck_assert_msg(alk_sandbox_state_allowed(rows[i].from, to) == want,
			              "%s -> %s", alk_sandbox_state_name(rows[i].from),
			              alk_sandbox_state_name(to));
		}
	}
	/* out of range either side is refused, not read past the table */
	ck_assert(!alk_sandbox_state_allowed(ALK_SANDBOX_N_STATES, ALK_SANDBOX_FAILED));
	ck_assert(!alk_sandbox_state_allowed(ALK_SANDBOX_CREATING, ALK_SANDBOX_N_STATES));
	ck_assert_str_eq(alk_sandbox_state_name(ALK_SANDBOX_N_STATES), "unknown");
	ck_assert_str_eq(alk_sandbox_state_name(ALK_SANDBOX_PAUSED), "paused");
}
END_TEST

START_TEST(test_set_state)
{
	AlkSandbox *sb = alk_sandbox_new(ID, "/s", "/r");

	ck_assert_int_eq(sb->state, ALK_SANDBOX_CREATING);
	ck_assert(!alk_sandbox_set_state(sb, ALK_SANDBOX_READY)); /* skips booting */
	ck_assert_int_eq(sb->state, ALK_SANDBOX_CREATING);
	ck_assert(alk_sandbox_set_state(sb, ALK_SANDBOX_BOOTING));
	ck_assert(alk_sandbox_set_state(sb, ALK_SANDBOX_READY));
	ck_assert(alk_sandbox_set_state(sb, ALK_SANDBOX_PAUSED));
	ck_assert(alk_sandbox_is_live(sb));
	ck_assert(alk_sandbox_set_state(sb, ALK_SANDBOX_READY));
	ck_assert(alk_sandbox_set_state(sb, ALK_SANDBOX_STOPPING));
	ck_assert(alk_sandbox_is_live(sb));
	ck_assert(alk_sandbox_set_state(sb, ALK_SANDBOX_DESTROYED));
	ck_assert(!alk_sandbox_is_live(sb));
	ck_assert(!alk_sandbox_set_state(sb, ALK_SANDBOX_CREATING)); /* no way back */
	alk_sandbox_free(sb);
}
END_TEST

/* ---- the end's steps ---- */

static const char *step_name(AlkEndStep s)
{
	static const char *const names[] = {
	    "wait",           "destroy_domain", "await_libvirt",    "release_volumes",
	    "delete_network", "remove_files",   "release_template", "finish"};
	return names[s];
}

START_TEST(test_end_rows)
{
	/* the rows a sandbox's end goes through, in order: domain, network, files */
	static const struct {
		AlkHold d, n, f;
		gboolean up;
		AlkEndStep want;
	} rows[] = {
	    /* a ready networked sandbox is deleted */
	    {ALK_HOLD_HELD, ALK_HOLD_HELD, ALK_HOLD_HELD, TRUE, ALK_END_STEP_DESTROY_DOMAIN},
	    {ALK_HOLD_FREEING, ALK_HOLD_HELD, ALK_HOLD_HELD, TRUE, ALK_END_STEP_WAIT},
	    {ALK_HOLD_NONE, ALK_HOLD_HELD, ALK_HOLD_HELD, TRUE, ALK_END_STEP_DELETE_NETWORK},
	    {ALK_HOLD_NONE, ALK_HOLD_FREEING, ALK_HOLD_HELD, TRUE, ALK_END_STEP_WAIT},
	    {ALK_HOLD_NONE, ALK_HOLD_NONE, ALK_HOLD_HELD, TRUE, ALK_END_STEP_REMOVE_FILES},
	    {ALK_HOLD_NONE, ALK_HOLD_NONE, ALK_HOLD_NONE, TRUE, ALK_END_STEP_FINISH},
	    /* libvirt is away: the domain waits for it, nothing after it goes */
	    {ALK_HOLD_HELD, ALK_HOLD_HELD, ALK_HOLD_HELD, FALSE, ALK_END_STEP_AWAIT_LIBVIRT},
	    {ALK_HOLD_HELD, ALK_HOLD_NONE, ALK_HOLD_NONE, FALSE, ALK_END_STEP_AWAIT_LIBVIRT},
	    /* without a domain libvirt does not matter */
	    {ALK_HOLD_NONE, ALK_HOLD_HELD, ALK_HOLD_HELD, FALSE, ALK_END_STEP_DELETE_NETWORK},
	    {ALK_HOLD_NONE, ALK_HOLD_NONE, ALK_HOLD_HELD, FALSE, ALK_END_STEP_REMOVE_FILES},
	    /* deleted while its overlay, domain or allowlist is being made */
	    {ALK_HOLD_NONE, ALK_HOLD_NONE, ALK_HOLD_MAKING, TRUE, ALK_END_STEP_WAIT},
	    {ALK_HOLD_MAKING, ALK_HOLD_HELD, ALK_HOLD_HELD, TRUE, ALK_END_STEP_WAIT},
	    {ALK_HOLD_HELD, ALK_HOLD_MAKING, ALK_HOLD_HELD, TRUE, ALK_END_STEP_WAIT},
	    {ALK_HOLD_HELD, ALK_HOLD_MAKING, ALK_HOLD_HELD, FALSE, ALK_END_STEP_WAIT},
	};
	/* with volumes: released once the domain is gone, before the rest */
	static const struct {
		AlkHold d, v, f;
		gboolean up;
		AlkEndStep want;
	} vrows[] = {
	    {ALK_HOLD_HELD, ALK_HOLD_HELD, ALK_HOLD_HELD, TRUE, ALK_END_STEP_DESTROY_DOMAIN},
	    {ALK_HOLD_FREEING, ALK_HOLD_HELD, ALK_HOLD_HELD, TRUE, ALK_END_STEP_WAIT},
	    {ALK_HOLD_HELD, ALK_HOLD_HELD, ALK_HOLD_HELD, FALSE, ALK_END_STEP_AWAIT_LIBVIRT},
	    {ALK_HOLD_NONE, ALK_HOLD_HELD, ALK_HOLD_HELD, TRUE, ALK_END_STEP_RELEASE_VOLUMES},
	    {ALK_HOLD_NONE, ALK_HOLD_HELD, ALK_HOLD_HELD, FALSE, ALK_END_STEP_RELEASE_VOLUMES},
	    {ALK_HOLD_NONE, ALK_HOLD_NONE, ALK_HOLD_HELD, TRUE, ALK_END_STEP_REMOVE_FILES},
	};

	for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
		AlkHold res[ALK_RES_N] = {[ALK_RES_DOMAIN] = rows[i].d,
		                          [ALK_RES_NETWORK] = rows[i].n,
		                          [ALK_RES_FILES] = rows[i].f};
		AlkEndStep got = alk_end_next_step(res, rows[i].up);
		ck_assert_msg(got == rows[i].want, "row %u: %s, want %s", i, step_name(got),
		              step_name(rows[i].want));
	}
	/* a clone: its template goes last, after the overlay it backs */
	static const struct {
		AlkHold d, f, t;
		gboolean up;
		AlkEndStep want;
	} trows[] = {
	    {ALK_HOLD_HELD, ALK_HOLD_HELD, ALK_HOLD_HELD, TRUE, ALK_END_STEP_DESTROY_DOMAIN},
	    {ALK_HOLD_NONE, ALK_HOLD_HELD, ALK_HOLD_HELD, TRUE, ALK_END_STEP_REMOVE_FILES},
	    {ALK_HOLD_NONE, ALK_HOLD_NONE, ALK_HOLD_HELD, FALSE, ALK_END_STEP_RELEASE_TEMPLATE},
	    {ALK_HOLD_NONE, ALK_HOLD_MAKING, ALK_HOLD_HELD, TRUE, ALK_END_STEP_WAIT},
	};
	for (guint i = 0; i < G_N_ELEMENTS(trows); i++) {
		AlkHold res[ALK_RES_N] = {[ALK_RES_DOMAIN] = trows[i].d,
		                          [ALK_RES_FILES] = trows[i].f,
		                          [ALK_RES_TEMPLATE] = trows[i].t};
		AlkEndStep got = alk_end_next_step(res, trows[i].up);
		ck_assert_msg(got == trows[i].want, "template row %u: %s, want %s", i,
		              step_name(got), step_name(trows[i].want));
	}
	for (guint i = 0; i < G_N_ELEMENTS(vrows); i++) {
		AlkHold res[ALK_RES_N] = {[ALK_RES_DOMAIN] = vrows[i].d,
		                          [ALK_RES_VOLUMES] = vrows[i].v,
		                          [ALK_RES_FILES] = vrows[i].f};
		AlkEndStep got = alk_end_next_step(res, vrows[i].up);
		ck_assert_msg(got == vrows[i].want, "volume row %u: %s, want %s", i, step_name(got),
		              step_name(vrows[i].want));
	}
}
END_TEST

/* Over every combination of holds: what the end may never do. */
START_TEST(test_end_never)
{
	G_STATIC_ASSERT(ALK_RES_N == 5);
	for (guint code = 0; code < 4 * 4 * 4 * 4 * 4 * 2; code++) {
		AlkHold res[ALK_RES_N] = {[ALK_RES_DOMAIN] = code % 4,
		                          [ALK_RES_VOLUMES] = code / 4 % 4,
		                          [ALK_RES_NETWORK] = code / 16 % 4,
		                          [ALK_RES_FILES] = code / 64 % 4,
		                          [ALK_RES_TEMPLATE] = code / 256 % 4};
		gboolean up = code / 1024;
		AlkEndStep got = alk_end_next_step(res, up);
		gboolean making = FALSE, held = FALSE;

		for (guint r = 0; r < ALK_RES_N; r++) {
			making |= res[r] == ALK_HOLD_MAKING;
			held |= res[r] != ALK_HOLD_NONE;
		}
		/* nothing goes while something is half made */
		ck_assert_msg(!making || got == ALK_END_STEP_WAIT, "code %u", code);
		/* it finishes exactly when nothing is held */
		ck_assert_msg((got == ALK_END_STEP_FINISH) == !held, "code %u", code);
		/* no destroy without libvirt, none of a domain not held */
		if (got == ALK_END_STEP_DESTROY_DOMAIN)
			ck_assert(up && res[ALK_RES_DOMAIN] == ALK_HOLD_HELD);
		if (got == ALK_END_STEP_AWAIT_LIBVIRT)
			ck_assert(!up && res[ALK_RES_DOMAIN] == ALK_HOLD_HELD);
		/* a volume is free for another sandbox only once its QEMU is gone */
		if (got == ALK_END_STEP_RELEASE_VOLUMES)
			ck_assert(res[ALK_RES_DOMAIN] == ALK_HOLD_NONE &&
			          res[ALK_RES_VOLUMES] == ALK_HOLD_HELD);
		/* the namespace outlives the domain (its tap), the files both */
		if (got == ALK_END_STEP_DELETE_NETWORK)
			ck_assert(res[ALK_RES_DOMAIN] == ALK_HOLD_NONE &&
			          res[ALK_RES_NETWORK] == ALK_HOLD_HELD);
		if (got == ALK_END_STEP_REMOVE_FILES)
			ck_assert(res[ALK_RES_DOMAIN] == ALK_HOLD_NONE &&
			          res[ALK_RES_NETWORK] == ALK_HOLD_NONE &&
			          res[ALK_RES_FILES] == ALK_HOLD_HELD);
		/* a frozen layer is let go only once no overlay on it is left */
		if (got == ALK_END_STEP_RELEASE_TEMPLATE)
			ck_assert(res[ALK_RES_DOMAIN] == ALK_HOLD_NONE &&
			          res[ALK_RES_NETWORK] == ALK_HOLD_NONE &&
			          res[ALK_RES_FILES] == ALK_HOLD_NONE &&
			          res[ALK_RES_TEMPLATE] == ALK_HOLD_HELD);
	}
	ck_assert_str_eq(alk_end_name(ALK_END_DONE), "done");
	ck_assert_str_eq(alk_hold_name(ALK_HOLD_FREEING), "freeing");
	ck_assert_str_eq(alk_end_name(ALK_END_DONE + 1), "unknown");
}
END_TEST

/* ---- the record ---- */

/* A sandbox with every recorded field away from its default. */
static AlkSandbox *full_sandbox(void)
{
	AlkSandbox *sb = alk_sandbox_new(ID, "/state", "/run");
	const char *allow[] = {"example.com:443", "192.0.2.0/24", NULL};

	sb->instance = g_strdup("/var/lib/airlock-b");
	sb->image = g_strdup("debian-py");
	sb->profile = g_strdup("staging");
	sb->created_at = 1764633600;
	sb->deadline = 1764637200;
	sb->limits = (AlkLimits){.cpus = 3,
	                         .memory_mib = 768,
	                         .hard_limit_mib = 1024,
	                         .disk_mib = 4096,
	                         .cpu_quota_pct = 50,
	                         .io_bytes_sec = 1 << 20,
	                         .io_iops = 300,
	                         .ttl_s = 3600,
	                         .max_ttl_s = 7200,
	                         .exec_timeout_s = 30,
	                         .max_exec_timeout_s = 600,
	                         .output_cap_bytes = 1 << 22,
	                         .max_execs = 5,
	                         .network = ALK_NET_ALLOWLIST,
	                         .display_width = 1280,
	                         .display_height = 800};
	g_strlcpy(sb->limits.profile, "staging", sizeof(sb->limits.profile));
	g_hash_table_insert(sb->labels, g_strdup("team"), g_strdup("infra"));
	g_hash_table_insert(sb->labels, g_strdup("run"), g_strdup("42"));
	sb->net.allow = g_strdupv((char **)allow);
	sb->net.generation = 7;
	sb->net.uplink = 12;
	sb->pool = g_strdup("debian-py/staging");
	sb->warm = TRUE;
	sb->build = g_strdup("20261202T031500Z-0a1b2c3d");
	sb->default_user = g_strdup("agent");
	return sb;
}

START_TEST(test_record_round_trip)
{
	g_autoptr(GError) error = NULL;
	AlkSandbox *a = full_sandbox();
	AlkSandbox *b = alk_sandbox_new(ID, "/state", "/run");
	g_autofree char *json = alk_sandbox_record_to_json(a);
	g_autofree char *again = NULL;

	ck_assert_msg(alk_sandbox_record_from_json(b, json, &error), "%s",
	              error ? error->message : "?");
	ck_assert_str_eq(b->instance, a->instance);
	ck_assert_str_eq(b->image, a->image);
	ck_assert_str_eq(b->profile, a->profile);
	ck_assert_int_eq(b->created_at, a->created_at);
	ck_assert_int_eq(b->deadline, a->deadline);
	ck_assert_str_eq(b->limits.profile, a->limits.profile);
	ck_assert_uint_eq(b->limits.cpus, a->limits.cpus);
	ck_assert_uint_eq(b->limits.memory_mib, a->limits.memory_mib);
	ck_assert_uint_eq(b->limits.hard_limit_mib, a->limits.hard_limit_mib);
	ck_assert_uint_eq(b->limits.disk_mib, a->limits.disk_mib);
	ck_assert_uint_eq(b->limits.cpu_quota_pct, a->limits.cpu_quota_pct);
	ck_assert_uint_eq(b->limits.io_bytes_sec, a->limits.io_bytes_sec);
	ck_assert_uint_eq(b->limits.io_iops, a->limits.io_iops);
	ck_assert_uint_eq(b->limits.ttl_s, a->limits.ttl_s);
	ck_assert_uint_eq(b->limits.max_ttl_s, a->limits.max_ttl_s);
	ck_assert_uint_eq(b->limits.exec_timeout_s, a->limits.exec_timeout_s);
	ck_assert_uint_eq(b->limits.max_exec_timeout_s, a->limits.max_exec_timeout_s);
	ck_assert_uint_eq(b->limits.output_cap_bytes, a->limits.output_cap_bytes);
	ck_assert_uint_eq(b->limits.max_execs, a->limits.max_execs);
	ck_assert_int_eq(b->limits.network, a->limits.network);
	ck_assert_uint_eq(b->limits.display_width, 1280);
	ck_assert_uint_eq(b->limits.display_height, 800);
	ck_assert_uint_eq(g_hash_table_size(b->labels), 2);
	ck_assert_str_eq(g_hash_table_lookup(b->labels, "team"), "infra");
	ck_assert_str_eq(g_hash_table_lookup(b->labels, "run"), "42");
	ck_assert(
	    g_strv_equal((const char *const *)b->net.allow, (const char *const *)a->net.allow));
	ck_assert_uint_eq(b->net.generation, a->net.generation);
	ck_assert_int_eq(b->net.uplink, a->net.uplink);
	ck_assert_str_eq(b->pool, a->pool);
	ck_assert(b->warm);
	ck_assert_str_eq(b->build, a->build);
	ck_assert_str_eq(b->default_user, a->default_user);
	/* and the same text again: nothing lost that the first pass kept */
	again = alk_sandbox_record_to_json(b);
	ck_assert_str_eq(again, json);
	alk_sandbox_free(a);
	alk_sandbox_free(b);
}
END_TEST

START_TEST(test_record_without_network)
{
	g_autoptr(GError) error = NULL;
	AlkSandbox *a = full_sandbox();
	AlkSandbox *b = alk_sandbox_new(ID, "/state", "/run");
	g_autofree char *json = NULL;

	a->limits.network = ALK_NET_NONE;
	json = alk_sandbox_record_to_json(a);
	ck_assert(strstr(json, "\"net\"") == NULL);
	ck_assert_msg(alk_sandbox_record_from_json(b, json, &error), "%s",
	              error ? error->message : "?");
	ck_assert_int_eq(b->limits.network, ALK_NET_NONE);
	ck_assert(b->net.allow == NULL);
	ck_assert_int_eq(b->net.uplink, -1);
	alk_sandbox_free(a);
	alk_sandbox_free(b);
}
END_TEST

/* json with the first `from` replaced by `to` (which must be there). */
static char *edit(const char *json, const char *from, const char *to)
{
	const char *at = strstr(json, from);
	ck_assert_msg(at != NULL, "no %s in %s", from, json);
	return g_strdup_printf("%.*s%s%s", (int)(at - json), json, to, at + strlen(from));
}

static void assert_refused(const char *json, const char *why)
{
	g_autoptr(GError) error = NULL;
	AlkSandbox *sb = alk_sandbox_new(ID, "/state", "/run");
	gboolean ok = alk_sandbox_record_from_json(sb, json, &error);

	ck_assert_msg(!ok, "%s: accepted", why);
	ck_assert_msg(error != NULL && g_str_has_prefix(error->message, "sandbox record: "),
	              "%s: %s", why, error ? error->message : "no error");
	/* a refused record leaves the sandbox as it was */
	ck_assert(sb->image == NULL && sb->instance == NULL && sb->net.allow == NULL);
	alk_sandbox_free(sb);
}

START_TEST(test_record_refused)
{
	AlkSandbox *a = full_sandbox();
	g_autofree char *json = alk_sandbox_record_to_json(a);
	static const struct {
		const char *from, *to, *why;
	} edits[] = {
	    {"\"v\":1", "\"v\":2", "a later version"},
	    {"\"v\":1", "\"v\":0", "an earlier version"},
	    {"\"v\":1", "\"v\":\"1\"", "a version as text"},
	    {"\"id\":\"" ID "\"", "\"id\":\"ba9876543210\"", "another sandbox's id"},
	    {"\"id\":\"" ID "\"", "\"id\":\"0123456789AB\"", "an id in capitals"},
	    {"\"image\":\"debian-py\",", "", "no image"},
	    {"\"cpus\":3", "\"cpus\":0", "no cpus"},
	    {"\"cpus\":3", "\"cpus\":65", "too many cpus"},
	    {"\"cpus\":3", "\"cpus\":-3", "negative cpus"},
	    {"\"cpus\":3", "\"cpus\":3.5", "fractional cpus"},
	    {"\"network\":\"allowlist\"", "\"network\":\"bridged\"", "an unknown network mode"},
	    {"\"uplink\":12", "\"uplink\":-2", "an uplink below -1"},
	    {"\"generation\":7", "\"generation\":null", "a null generation"},
	    {"\"allow\":[", "\"allow\":[17,", "an allow entry that is no string"},
	    {"\"limits\":{", "\"limits\":[],\"x\":{", "limits that are no object"},
	    {"\"team\":\"infra\"", "\"team\":{\"a\":1}", "a label that is no string"},
	    {"\"warm\":true", "\"warm\":1", "warm that is no boolean"},
	    {"\"default_user\":\"agent\"", "\"default_user\":\"Agent Smith\"",
	     "a bad default user"},
	    {"\"pool\":\"debian-py/staging\"", "\"pool\":\"\"", "an empty pool key"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(edits); i++) {
		g_autofree char *bad = edit(json, edits[i].from, edits[i].to);
		assert_refused(bad, edits[i].why);
	}
	alk_sandbox_free(a);
}
END_TEST

START_TEST(test_record_garbage)
{
	static const char *const garbage[] = {
	    "",
	    "not json",
	    "null",
	    "[]",
	    "\"a string\"",
	    "{}",
	    "{\"v\":1}",
	    "{\"v\":1,\"id\":\"" ID "\"", /* cut short */
	    "{\"v\":1,\"v\":1}",
	    "\xff\xfe{}",
	};
	g_autofree char *deep = NULL;
	g_autofree char *huge = NULL;
	GString *s = g_string_new(NULL);

	for (guint i = 0; i < G_N_ELEMENTS(garbage); i++)
		assert_refused(garbage[i], garbage[i]);
	/* nested past the depth the record has */
	for (guint i = 0; i < 64; i++)
		g_string_append(s, "{\"a\":");
	g_string_append(s, "1");
	for (guint i = 0; i < 64; i++)
		g_string_append_c(s, '}');
	deep = g_string_free(s, FALSE);
	assert_refused(deep, "deep nesting");
	/* over the record's size limit */
	huge = g_strdup_printf("{\"v\":1,\"pad\":\"%0*d\"}", 70 * 1024, 0);
	assert_refused(huge, "a record over the limit");
}
END_TEST

/* A boot's phases from its stamps: each host phase between its two
 * stamps; the guest's split only when its stamps are in order and fit the
 * host's view; nothing before ready. */
START_TEST(test_boot_phases)
{
	const gint64 T = 1000000000; /* an arbitrary monotonic origin */
	AlkSandboxBoot b = {
	    .start_us = T,
	    .domain_call_us = T + 40000,
	    .domain_us = T + 240000,
	    .running_us = T + 250000,
	    .hello_us = T + 4250000,
	    .ready_us = T + 4270000,
	    .guest_initramfs_ms = 1500,
	    .guest_root_ms = 2300,
	    .guest_grown_ms = 2400,
	    .guest_init_ms = 2500,
	    .guest_hello_ms = 3000,
	};
	AlkSandboxBoot c;
	AlkBootPhases p;

	ck_assert(alk_sandbox_boot_phases(&b, &p));
	ck_assert_int_eq(p.total, 4270);
	ck_assert_int_eq(p.prepare, 40);
	ck_assert_int_eq(p.libvirt, 200);
	ck_assert_int_eq(p.attach, 10);
	ck_assert_int_eq(p.guest, 4000);
	ck_assert_int_eq(p.handshake, 20);
	/* the kernel's clock started 3 s before HELLO: 1 s of firmware */
	ck_assert_int_eq(p.firmware, 1000);
	ck_assert_int_eq(p.kernel, 1500);
	ck_assert_int_eq(p.initramfs, 800);
	ck_assert_int_eq(p.grow, 100);
	ck_assert_int_eq(p.switch_root, 100);
	ck_assert_int_eq(p.agent, 500);
	ck_assert_int_eq(p.firmware + p.kernel + p.initramfs + p.grow + p.switch_root + p.agent,
	                 p.guest);

	/* a guest whose stamps are out of order, or claim more time than the
	 * host saw pass, keeps only the host's phases */
	c = b;
	c.guest_root_ms = 1000;
	ck_assert(alk_sandbox_boot_phases(&c, &p));
	ck_assert_int_eq(p.guest, 4000);
	ck_assert_int_eq(p.firmware, -1);
	ck_assert_int_eq(p.kernel, -1);
	ck_assert_int_eq(p.agent, -1);
	c = b;
	c.guest_hello_ms = G_MAXUINT32;
	ck_assert(alk_sandbox_boot_phases(&c, &p));
	ck_assert_int_eq(p.firmware, -1);
	/* an old agent: no stamps */
	c = b;
	c.guest_initramfs_ms = c.guest_root_ms = c.guest_grown_ms = c.guest_init_ms = 0;
	c.guest_hello_ms = 0;
	ck_assert(alk_sandbox_boot_phases(&c, &p));
	ck_assert_int_eq(p.kernel, -1);

	/* not ready yet, or adopted (no start): nothing */
	c = b;
	c.ready_us = 0;
	ck_assert(!alk_sandbox_boot_phases(&c, &p));
	c = b;
	c.start_us = 0;
	ck_assert(!alk_sandbox_boot_phases(&c, &p));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sandbox");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_transitions);
	tcase_add_test(tc, test_set_state);
	tcase_add_test(tc, test_end_rows);
	tcase_add_test(tc, test_end_never);
	tcase_add_test(tc, test_record_round_trip);
	tcase_add_test(tc, test_record_without_network);
	tcase_add_test(tc, test_record_refused);
	tcase_add_test(tc, test_record_garbage);
	tcase_add_test(tc, test_boot_phases);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
