/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <glib.h>
#include <string.h>

#include "alk-allow.h"
#include "alk-config.h"
#include "alk-error.h"
#include "alk-json.h"
#include "alk-request.h"

static AlkConfig *config;

static void setup(void)
{
	config =
	    alk_config_load_data("[profile:tiny]\nmax_cpus = 1\nmax_memory_mib = 512\n", -1, NULL);
	ck_assert_ptr_nonnull(config);
	/* the profiles' ceilings, whatever this machine has; resolve_host_cpus
	 * sets a small host */
	config->host_cpus = 64;
}

static void teardown(void)
{
	g_clear_pointer(&config, alk_config_free);
}

static gboolean from_json(const char *text, AlkSandboxRequest *out, GError **error)
{
	g_autoptr(JsonObject) obj =
	    alk_json_parse_object(text, strlen(text), ALK_JSON_MAX_SIZE, ALK_JSON_MAX_DEPTH, error);

	return obj != NULL && alk_request_from_json(obj, out, error);
}

static void assert_json_error(const char *text, const char *want)
{
	g_autoptr(GError) error = NULL;
	AlkSandboxRequest req = {.cpus = 99};

	ck_assert_msg(!from_json(text, &req, &error), "accepted %s", text);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	ck_assert_msg(strstr(error->message, want) != NULL, "'%s' lacks '%s'", error->message,
	              want);
	ck_assert(req.cpus == 99 && req.image == NULL && req.labels == NULL && req.allow == NULL);
}

static void assert_resolve_error(const AlkSandboxRequest *req, gint code, const char *want)
{
	g_autoptr(GError) error = NULL;
	AlkLimits limits = {.cpus = 99};

	ck_assert(!alk_request_resolve(config, req, &limits, &error));
	ck_assert_msg(g_error_matches(error, ALK_ERROR, code), "code %d, not %d: %s", error->code,
	              code, error->message);
	ck_assert_msg(strstr(error->message, want) != NULL, "'%s' lacks '%s'", error->message,
	              want);
	ck_assert_int_eq(limits.cpus, 99);
}

/* ---- JSON body ------------------------------------------------------------------------------ */

START_TEST(json_full)
{
	g_auto(AlkSandboxRequest) req = {0};
	g_autoptr(GError) error = NULL;

	ck_assert(from_json("{\"image\":\"minimal\",\"profile\":\"staging\",\"cpus\":2,"
	                    "\"memory_mib\":1024,\"disk_mib\":4096,\"ttl_s\":60,"
	                    "\"network\":{\"mode\":\"allowlist\",\"allow\":[\"example.org:443\"]},"
	                    "\"labels\":{\"team\":\"qa\",\"run.id\":\"42\"}}",
	                    &req, &error));
	ck_assert_str_eq(req.image, "minimal");
	ck_assert_str_eq(req.profile, "staging");
	ck_assert_int_eq(req.cpus, 2);
	ck_assert_int_eq(req.memory_mib, 1024);
	ck_assert_int_eq(req.disk_mib, 4096);
	ck_assert_int_eq(req.ttl_s, 60);
	ck_assert_int_eq(req.network, ALK_NET_ALLOWLIST);
	ck_assert_str_eq(req.allow[0], "example.org:443");
	ck_assert_str_eq(g_hash_table_lookup(req.labels, "run.id"), "42");
}
END_TEST

START_TEST(json_empty)
{
	g_auto(AlkSandboxRequest) req = {0};

	ck_assert(from_json("{}", &req, NULL));
	ck_assert(req.image == NULL && req.profile == NULL && req.cpus == 0 && req.ttl_s == 0);
	ck_assert(req.network == ALK_NET_NONE && req.labels == NULL && req.allow == NULL);
	ck_assert(from_json("{\"image\":null,\"network\":{\"mode\":\"none\"}}", &req, NULL));
	ck_assert(req.image == NULL && req.cpus == 0 && req.network == ALK_NET_NONE);
	/* no integer is nullable in the REST contract */
	ck_assert(!from_json("{\"cpus\":null}", &req, NULL));
}
END_TEST

START_TEST(json_hostile)
{
	assert_json_error("{\"cpu\":1}", "unknown field 'cpu'");
	assert_json_error("{\"cpus\":\"2\"}", "field 'cpus' must be an integer, not a string");
	assert_json_error("{\"cpus\":2.0}", "field 'cpus' must be an integer");
	assert_json_error("{\"cpus\":0}", "field 'cpus' is 0");
	assert_json_error("{\"cpus\":-1}", "field 'cpus' is -1");
	assert_json_error("{\"cpus\":18446744073709551616}", "64-bit range");
	assert_json_error("{\"memory_mib\":true}", "field 'memory_mib'");
	assert_json_error("{\"disk_mib\":[1]}", "field 'disk_mib'");
	assert_json_error("{\"ttl_s\":1e3}", "field 'ttl_s'");
	assert_json_error("{\"image\":5}", "field 'image' must be a string");
	assert_json_error("{\"image\":\"abcdefghijabcdefghijabcdefghijabc\"}", "field 'image'");
	assert_json_error("{\"image\":\"\"}", "field 'image'");
	assert_json_error("{\"image\":\"a\",\"image\":\"b\"}", "duplicate key");
	assert_json_error("{\"profile\":[]}", "field 'profile'");
	assert_json_error("{\"labels\":[]}", "field 'labels'");
	assert_json_error("{\"labels\":{\"a\":1}}", "field 'labels'");
	assert_json_error("{\"network\":\"none\"}", "field 'network' must be an object");
	assert_json_error("{\"network\":{}}", "network: missing required field 'mode'");
	assert_json_error("{\"network\":{\"mode\":\"bridge\"}}", "network: field 'mode'");
	assert_json_error("{\"network\":{\"mode\":\"none\",\"ports\":[]}}",
	                  "network: unknown field 'ports'");
	assert_json_error("{\"network\":{\"mode\":\"allowlist\",\"allow\":\"x\"}}",
	                  "network: field 'allow'");
	assert_json_error("{\"network\":{\"mode\":\"allowlist\",\"allow\":[1]}}",
	                  "network: field 'allow'");
	assert_json_error("{\"labels\":{\"a\":\"x\"},\"network\":{\"mode\":\"x\"}}", "mode");
}
END_TEST

START_TEST(json_counts)
{
	GString *labels = g_string_new("{\"labels\":{");
	GString *allow = g_string_new("{\"network\":{\"mode\":\"allowlist\",\"allow\":[");
	g_autofree char *long_value = g_strnfill(256, 'v');
	g_autofree char *long_label = g_strdup_printf("{\"labels\":{\"k\":\"%s\"}}", long_value);

	for (guint i = 0; i <= ALK_LABELS_MAX; i++)
		g_string_append_printf(labels, "%s\"k%u\":\"v\"", i > 0 ? "," : "", i);
	g_string_append(labels, "}}");
	for (guint i = 0; i <= ALK_ALLOW_MAX; i++)
		g_string_append_printf(allow, "%s\"h%u\"", i > 0 ? "," : "", i);
	g_string_append(allow, "]}}");
	assert_json_error(labels->str, "field 'labels' has 33 entries");
	assert_json_error(allow->str, "field 'allow' has 65 items");
	assert_json_error(long_label, "field 'labels'");
	g_string_free(labels, TRUE);
	g_string_free(allow, TRUE);
}
END_TEST

/* ---- resolving ------------------------------------------------------------------------------ */

START_TEST(resolve_defaults)
{
	AlkSandboxRequest req = {0};
	AlkLimits l;

	ck_assert(alk_request_resolve(config, &req, &l, NULL));
	ck_assert_str_eq(l.profile, "development");
	ck_assert_int_eq(l.cpus, 1);
	ck_assert_int_eq(l.memory_mib, 512);
	ck_assert_int_eq(l.hard_limit_mib, 512 + ALK_QEMU_OVERHEAD_MIB);
	ck_assert_int_eq(l.disk_mib, 2048);
	ck_assert_int_eq(l.ttl_s, 3600);
	ck_assert_int_eq(l.max_ttl_s, 86400);
	ck_assert_int_eq(l.exec_timeout_s, 600);
	ck_assert_int_eq(l.max_exec_timeout_s, 3600);
	ck_assert_int_eq(l.cpu_quota_pct, 100);
	ck_assert_int_eq(l.output_cap_bytes, 64 * 1024 * 1024);
	ck_assert_int_eq(l.max_execs, 16);
	ck_assert_int_eq(l.network, ALK_NET_NONE);
}
END_TEST

START_TEST(resolve_narrow)
{
	AlkSandboxRequest req = {.profile = (char *)"production",
	                         .cpus = 2,
	                         .memory_mib = 2048,
	                         .disk_mib = 64,
	                         .ttl_s = 1,
	                         .image = (char *)"minimal"};
	AlkLimits l;

	ck_assert(alk_request_resolve(config, &req, &l, NULL));
	ck_assert_str_eq(l.profile, "production");
	ck_assert_int_eq(l.cpus, 2);
	ck_assert_int_eq(l.memory_mib, 2048);
	ck_assert_int_eq(l.hard_limit_mib, 2048 + ALK_QEMU_OVERHEAD_MIB);
	ck_assert_int_eq(l.disk_mib, 64);
	ck_assert_int_eq(l.ttl_s, 1);
	ck_assert_int_eq(l.cpu_quota_pct, 50);
	ck_assert_int_eq(l.io_bytes_sec, 100 * 1024 * 1024);
	ck_assert_int_eq(l.io_iops, 2000);
	ck_assert_int_eq(l.max_execs, 8);
}
END_TEST

/* Every ceiling of every profile: the ceiling is granted, one more is refused
 * with ALK_ERROR_LIMIT naming the limit, the value, the profile and the ceiling. */
START_TEST(resolve_widen)
{
	for (guint i = 0; i < config->profiles->len; i++) {
		const AlkProfile *p = g_ptr_array_index(config->profiles, i);
		const struct {
			const char *name;
			guint64 ceiling;
		} limits[] = {
		    {"cpus", p->max_cpus},
		    {"memory_mib", p->max_memory_mib},
		    {"disk_mib", p->max_disk_mib},
		    {"ttl_s", p->max_ttl_s},
		};
		for (guint k = 0; k < G_N_ELEMENTS(limits); k++) {
			AlkSandboxRequest req = {.profile = p->name};
			guint64 *fields[] = {&req.cpus, &req.memory_mib, &req.disk_mib, &req.ttl_s};
			AlkLimits l;
			*fields[k] = limits[k].ceiling;
			ck_assert(alk_request_resolve(config, &req, &l, NULL));
			*fields[k] = limits[k].ceiling + 1;
			g_autofree char *want = g_strdup_printf(
			    "%s %" G_GUINT64_FORMAT
			    " exceeds the %s profile's limit of %" G_GUINT64_FORMAT,
			    limits[k].name, limits[k].ceiling + 1, p->name, limits[k].ceiling);
			assert_resolve_error(&req, ALK_ERROR_LIMIT, want);
			*fields[k] = G_MAXUINT64;
			assert_resolve_error(&req, ALK_ERROR_LIMIT, limits[k].name);
		}
	}
}
END_TEST

START_TEST(resolve_example_message)
{
	AlkSandboxRequest req = {.cpus = 8};

	assert_resolve_error(&req, ALK_ERROR_LIMIT,
	                     "cpus 8 exceeds the development profile's limit of 4");
	req.profile = (char *)"tiny";
	req.cpus = 2;
	assert_resolve_error(&req, ALK_ERROR_LIMIT, "cpus 2 exceeds the tiny profile's limit of 1");
}
END_TEST

START_TEST(resolve_profile_and_minimums)
{
	AlkSandboxRequest req = {.profile = (char *)"nope"};

	assert_resolve_error(&req, ALK_ERROR_NOT_FOUND, "no profile 'nope'");
	req.profile = NULL;
	req.memory_mib = 8;
	assert_resolve_error(&req, ALK_ERROR_INVALID, "memory_mib 8 is below the minimum of 64");
	req.memory_mib = 0;
	req.disk_mib = 1;
	assert_resolve_error(&req, ALK_ERROR_INVALID, "disk_mib 1 is below the minimum");
	req.disk_mib = 0;
	req.image = (char *)"../etc";
	assert_resolve_error(&req, ALK_ERROR_INVALID, "image name");
}
END_TEST

START_TEST(resolve_network)
{
	AlkSandboxRequest req = {.network = ALK_NET_ISOLATED};
	char *allow[] = {(char *)"example.org", NULL};

	AlkLimits limits;
	g_autoptr(GError) error = NULL;
	char *bad[] = {(char *)"example.org", (char *)"169.254.169.254:80", NULL};
	char *v6[] = {(char *)"[2001:db8::1]:443", NULL};
	char *junk[] = {(char *)"exa mple.org", NULL};

	ck_assert_msg(alk_request_resolve(config, &req, &limits, &error), "%s",
	              error ? error->message : "");
	ck_assert_int_eq(limits.network, ALK_NET_ISOLATED);
	req.network = ALK_NET_ALLOWLIST;
	req.allow = allow;
	ck_assert_msg(alk_request_resolve(config, &req, &limits, &error), "%s",
	              error ? error->message : "");
	req.allow = bad;
	assert_resolve_error(&req, ALK_ERROR_INVALID, "169.254.169.254");
	req.allow = v6;
	assert_resolve_error(&req, ALK_ERROR_INVALID, "IPv6 entries are not supported");
	req.allow = junk;
	assert_resolve_error(&req, ALK_ERROR_INVALID, "exa mple.org");
	req.allow = NULL;
	req.profile = (char *)"production";
	assert_resolve_error(&req, ALK_ERROR_LIMIT,
	                     "network mode 'allowlist' is not allowed by the production profile");
	req.network = ALK_NET_ISOLATED;
	assert_resolve_error(&req, ALK_ERROR_LIMIT, "'isolated' is not allowed by the production");
	req.network = ALK_NET_NONE;
	req.allow = allow;
	assert_resolve_error(&req, ALK_ERROR_INVALID,
	                     "network.allow needs network mode 'allowlist'");
	req.network = (AlkNetMode)7;
	req.allow = NULL;
	assert_resolve_error(&req, ALK_ERROR_INVALID, "unknown network mode");
}
END_TEST

START_TEST(resolve_display)
{
	AlkSandboxRequest req = {0};
	AlkLimits limits;
	g_autoptr(GError) error = NULL;

	ck_assert(from_json("{\"display\":{\"width\":1024,\"height\":768}}", &req, &error));
	ck_assert(req.display_width == 1024 && req.display_height == 768);
	ck_assert_msg(alk_request_resolve(config, &req, &limits, &error), "%s",
	              error ? error->message : "");
	ck_assert_int_eq(limits.display_width, 1024);
	ck_assert_int_eq(limits.display_height, 768);
	req.display_width = 1928;
	assert_resolve_error(&req, ALK_ERROR_LIMIT, "display width 1928 exceeds the development");
	req.display_width = 1024;
	req.display_height = 1300;
	assert_resolve_error(&req, ALK_ERROR_LIMIT, "display height 1300 exceeds");
	req.display_height = 100;
	assert_resolve_error(&req, ALK_ERROR_INVALID, "at least 320x200");
	req.display_width = 1023;
	req.display_height = 768;
	assert_resolve_error(&req, ALK_ERROR_INVALID, "a multiple of 8");
	req.display_width = 1024;
	req.profile = (char *)"production";
	assert_resolve_error(&req, ALK_ERROR_LIMIT,
	                     "a display is not allowed by the production profile");
	req.profile = (char *)"tiny"; /* custom profiles start from production */
	assert_resolve_error(&req, ALK_ERROR_LIMIT, "not allowed by the tiny profile");
	/* no display asked: none given */
	memset(&req, 0, sizeof req);
	ck_assert(alk_request_resolve(config, &req, &limits, &error));
	ck_assert_int_eq(limits.display_width, 0);
	assert_json_error("{\"display\":{\"width\":1024}}", "height");
	assert_json_error("{\"display\":{\"width\":1024,\"height\":768,\"depth\":8}}", "depth");
	assert_json_error("{\"display\":{\"width\":-1,\"height\":768}}", "width");
	assert_json_error("{\"display\":true}", "display");
}
END_TEST

START_TEST(resolve_fs)
{
	g_auto(AlkSandboxRequest) req = {0};
	AlkLimits limits;
	g_autoptr(GError) error = NULL;

	/* development (the default): writable, no workspace */
	ck_assert(alk_request_resolve(config, &req, &limits, &error));
	ck_assert(!limits.root_readonly && limits.workspace_mib == 0);
	/* production: read-only with a workspace, which 0 takes away */
	ck_assert(from_json("{\"profile\":\"production\"}", &req, &error));
	ck_assert(alk_request_resolve(config, &req, &limits, &error));
	ck_assert(limits.root_readonly && limits.workspace_mib == 1024 && limits.tmpfs_mib == 64);
	alk_request_clear(&req);
	ck_assert(from_json("{\"profile\":\"production\",\"workspace_mib\":0}", &req, &error));
	ck_assert(alk_request_resolve(config, &req, &limits, &error));
	ck_assert_uint_eq(limits.workspace_mib, 0);
	alk_request_clear(&req);
	ck_assert(from_json("{\"profile\":\"production\",\"root\":\"writable\"}", &req, &error));
	assert_resolve_error(&req, ALK_ERROR_LIMIT,
	                     "a writable root is not allowed by the production profile");
	alk_request_clear(&req);
	ck_assert(from_json("{\"profile\":\"production\",\"workspace_mib\":4097}", &req, &error));
	assert_resolve_error(&req, ALK_ERROR_LIMIT, "workspace_mib 4097 exceeds the production");
	alk_request_clear(&req);
	ck_assert(from_json("{\"workspace_mib\":8,\"root\":\"readonly\"}", &req, &error));
	assert_resolve_error(&req, ALK_ERROR_INVALID, "workspace_mib 8 is below the minimum");
	req.workspace_mib = 64;
	ck_assert(alk_request_resolve(config, &req, &limits, &error));
	ck_assert(limits.root_readonly && limits.workspace_mib == 64);
	g_free(req.root);
	req.root = g_strdup("rw");
	assert_resolve_error(&req, ALK_ERROR_INVALID, "root must be writable or readonly");
	alk_request_clear(&req);
	/* hostile paths: one rule (alk_proto_mount_path_valid), one message */
	static const char *const bad[] = {"../etc",    "etc",    "/",    "/proc",
	                                  "/proc/sys", "/sys/x", "/dev", "/a/../b",
	                                  "/a/./b",    "/a//b",  "/a/",  "/.."};
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		req.readonly_paths = g_new0(char *, 2);
		req.readonly_paths[0] = g_strdup(bad[i]);
		assert_resolve_error(&req, ALK_ERROR_INVALID, "readonly_paths: '");
		alk_request_clear(&req);
	}
	ck_assert(
	    from_json("{\"readonly_paths\":[\"/etc\",\"/usr/lib\",\"/devices\"]}", &req, &error));
	ck_assert(alk_request_resolve(config, &req, &limits, &error));
	alk_request_clear(&req);
	assert_json_error("{\"readonly_paths\":[\"/1\",\"/2\",\"/3\",\"/4\",\"/5\",\"/6\","
	                  "\"/7\",\"/8\",\"/9\",\"/10\",\"/11\",\"/12\",\"/13\",\"/14\","
	                  "\"/15\",\"/16\",\"/17\"]}",
	                  "readonly_paths");
	assert_json_error("{\"readonly_paths\":\"/etc\"}", "readonly_paths");
	assert_json_error("{\"readonly_paths\":[1]}", "readonly_paths");
	assert_json_error("{\"root\":true}", "root");
	assert_json_error("{\"workspace_mib\":-1}", "workspace_mib");
	assert_json_error("{\"workspace_mib\":\"1\"}", "workspace_mib");
}
END_TEST

START_TEST(resolve_volumes)
{
	g_auto(AlkSandboxRequest) req = {0};
	AlkLimits limits;
	g_autoptr(GError) error = NULL;

	ck_assert(from_json("{\"volumes\":[{\"name\":\"data\",\"path\":\"/data\"},"
	                    "{\"name\":\"ref\",\"path\":\"/srv/ref\",\"readonly\":false}]}",
	                    &req, &error));
	ck_assert_uint_eq(req.nvolumes, 2);
	ck_assert(req.volumes[0].readonly && !req.volumes[1].readonly); /* read-only by default */
	ck_assert_str_eq(req.volumes[1].path, "/srv/ref");
	ck_assert(alk_request_resolve(config, &req, &limits, &error));
	/* production: read-only ones only; tiny (custom, from production) too */
	req.profile = g_strdup("production");
	assert_resolve_error(&req, ALK_ERROR_LIMIT,
	                     "writable volumes are not allowed by the production profile");
	req.volumes[1].readonly = TRUE;
	ck_assert(alk_request_resolve(config, &req, &limits, &error));
	g_strlcpy(req.volumes[1].name, "data", sizeof req.volumes[1].name);
	assert_resolve_error(&req, ALK_ERROR_INVALID, "given twice");
	g_strlcpy(req.volumes[1].name, "ref", sizeof req.volumes[1].name);
	g_strlcpy(req.volumes[1].path, "/data", sizeof req.volumes[1].path);
	assert_resolve_error(&req, ALK_ERROR_INVALID, "given twice");
	static const char *const paths[] = {"data", "/", "/proc/x", "/a/../b", "/a/"};
	for (guint i = 0; i < G_N_ELEMENTS(paths); i++) {
		g_strlcpy(req.volumes[1].path, paths[i], sizeof req.volumes[1].path);
		assert_resolve_error(&req, ALK_ERROR_INVALID, "volumes[1]");
	}
	g_strlcpy(req.volumes[1].path, "/ref", sizeof req.volumes[1].path);
	g_strlcpy(req.volumes[1].name, "Ref", sizeof req.volumes[1].name);
	assert_resolve_error(&req, ALK_ERROR_INVALID, "volumes[1]: the name");
	alk_request_clear(&req);
	assert_json_error("{\"volumes\":{}}", "volumes");
	assert_json_error("{\"volumes\":[\"data\"]}", "item 0 must be an object");
	assert_json_error("{\"volumes\":[{\"name\":\"d\"}]}", "path");
	assert_json_error("{\"volumes\":[{\"name\":\"d\",\"path\":\"/d\",\"x\":1}]}", "x");
	assert_json_error("{\"volumes\":[{\"name\":\"d\",\"path\":\"/d\",\"readonly\":1}]}",
	                  "readonly");
	assert_json_error("{\"volumes\":[{\"name\":\"\",\"path\":\"/d\"}]}", "name");
	GString *many = g_string_new("{\"volumes\":[");
	for (int i = 0; i <= ALK_VOLUMES_PER_SANDBOX; i++)
		g_string_append_printf(many, "%s{\"name\":\"v%d\",\"path\":\"/v%d\"}", i ? "," : "",
		                       i, i);
	g_string_append(many, "]}");
	assert_json_error(many->str, "volumes");
	g_string_free(many, TRUE);
}
END_TEST

START_TEST(resolve_labels)
{
	g_autoptr(GHashTable) labels =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	AlkSandboxRequest req = {.labels = labels};
	g_autofree char *key63 = g_strnfill(63, 'k');
	g_autofree char *key64 = g_strnfill(64, 'k');
	g_autofree char *value255 = g_strnfill(255, 'v');
	g_autofree char *value256 = g_strnfill(256, 'v');
	AlkLimits l;

	g_hash_table_insert(labels, g_strdup("a.b_c-1"), g_strdup("ünïcode"));
	g_hash_table_insert(labels, g_strdup(key63), g_strdup(value255));
	ck_assert(alk_request_resolve(config, &req, &l, NULL));
	g_hash_table_insert(labels, g_strdup(key64), g_strdup("x"));
	assert_resolve_error(&req, ALK_ERROR_INVALID, "is not [a-z0-9_.-]{1,63}");
	g_hash_table_remove(labels, key64);
	g_hash_table_insert(labels, g_strdup("Team"), g_strdup("x"));
	assert_resolve_error(&req, ALK_ERROR_INVALID, "label key 'Team'");
	g_hash_table_remove(labels, "Team");
	g_hash_table_insert(labels, g_strdup(""), g_strdup("x"));
	assert_resolve_error(&req, ALK_ERROR_INVALID, "label key ''");
	g_hash_table_remove(labels, "");
	g_hash_table_insert(labels, g_strdup("a b"), g_strdup("x"));
	assert_resolve_error(&req, ALK_ERROR_INVALID, "label key 'a b'");
	g_hash_table_remove(labels, "a b");
	g_hash_table_insert(labels, g_strdup("long"), g_strdup(value256));
	assert_resolve_error(&req, ALK_ERROR_INVALID, "label 'long'");
	g_hash_table_insert(labels, g_strdup("long"), g_strdup("\xff"));
	assert_resolve_error(&req, ALK_ERROR_INVALID, "valid UTF-8");
	g_hash_table_remove(labels, "long");
	for (guint i = 0; g_hash_table_size(labels) <= ALK_LABELS_MAX; i++)
		g_hash_table_insert(labels, g_strdup_printf("l%u", i), g_strdup(""));
	assert_resolve_error(&req, ALK_ERROR_INVALID, "33 labels, at most 32");
}
END_TEST

START_TEST(limits_later)
{
	AlkSandboxRequest req = {.profile = (char *)"production"};
	g_autoptr(GError) error = NULL;
	AlkLimits l;
	guint64 timeout = 7;

	ck_assert(alk_request_resolve(config, &req, &l, NULL));
	ck_assert(alk_limits_check_ttl(&l, 3600, NULL));
	ck_assert(!alk_limits_check_ttl(&l, 3601, &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_LIMIT));
	ck_assert_str_eq(error->message,
	                 "ttl_s 3601 exceeds the production profile's limit of 3600");
	g_clear_error(&error);
	ck_assert(!alk_limits_check_ttl(&l, 0, &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	g_clear_error(&error);
	ck_assert(alk_limits_exec_timeout(&l, 0, &timeout, NULL));
	ck_assert_int_eq(timeout, 300);
	ck_assert(alk_limits_exec_timeout(&l, 900, &timeout, NULL));
	ck_assert_int_eq(timeout, 900);
	ck_assert(!alk_limits_exec_timeout(&l, 901, &timeout, &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_LIMIT));
	ck_assert_ptr_nonnull(strstr(error->message, "timeout_s 901 exceeds"));
	ck_assert_int_eq(timeout, 900);
}
END_TEST

/* JSON text to limits, the way POST /v1/sandboxes will do it. */
START_TEST(end_to_end)
{
	g_auto(AlkSandboxRequest) req = {0};
	g_autoptr(GError) error = NULL;
	AlkLimits l;

	ck_assert(from_json("{\"profile\":\"staging\",\"cpus\":3}", &req, &error));
	ck_assert(!alk_request_resolve(config, &req, &l, &error));
	ck_assert_str_eq(error->message, "cpus 3 exceeds the staging profile's limit of 2");
	alk_request_clear(&req);
	g_clear_error(&error);
	ck_assert(from_json("{\"profile\":\"staging\",\"cpus\":2,\"labels\":{\"Bad\":\"x\"}}", &req,
	                    &error));
	ck_assert(!alk_request_resolve(config, &req, &l, &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	alk_request_clear(NULL);
}
END_TEST

START_TEST(resolve_host_cpus)
{
	AlkSandboxRequest req = {.cpus = 3};
	g_autoptr(GError) error = NULL;
	AlkLimits l;

	/* development: max_cpus 4 at 100 % quota; a 2-CPU host */
	config->host_cpus = 2;
	ck_assert(!alk_request_resolve(config, &req, &l, &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_LIMIT));
	ck_assert_msg(strstr(error->message, "this host's 2 CPUs") != NULL, "%s", error->message);
	req.cpus = 2;
	ck_assert(alk_request_resolve(config, &req, &l, NULL));
	ck_assert_int_eq(l.cpus, 2);
}
END_TEST

static Suite *request_suite(void)
{
	Suite *s = suite_create("request");
	TCase *json = tcase_create("json");
	TCase *resolve = tcase_create("resolve");

	tcase_add_test(json, json_full);
	tcase_add_test(json, json_empty);
	tcase_add_test(json, json_hostile);
	tcase_add_test(json, json_counts);
	suite_add_tcase(s, json);
	tcase_add_checked_fixture(resolve, setup, teardown);
	tcase_add_test(resolve, resolve_defaults);
	tcase_add_test(resolve, resolve_narrow);
	tcase_add_test(resolve, resolve_widen);
	tcase_add_test(resolve, resolve_example_message);
	tcase_add_test(resolve, resolve_profile_and_minimums);
	tcase_add_test(resolve, resolve_network);
	tcase_add_test(resolve, resolve_labels);
	tcase_add_test(resolve, resolve_display);
	tcase_add_test(resolve, resolve_host_cpus);
	tcase_add_test(resolve, resolve_fs);
	tcase_add_test(resolve, resolve_volumes);
	tcase_add_test(resolve, limits_later);
	tcase_add_test(resolve, end_to_end);
	suite_add_tcase(s, resolve);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(request_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? 0 : 1;
}
