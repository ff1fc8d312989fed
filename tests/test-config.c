/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "alk-config.h"
#include "alk-error.h"

static AlkConfig *load(const char *text)
{
	g_autoptr(GError) error = NULL;
	AlkConfig *c = alk_config_load_data(text, -1, &error);

	ck_assert_msg(c != NULL, "refused: %s", error != NULL ? error->message : "");
	return c;
}

/* Asserts text is refused with ALK_ERROR_INVALID and a message containing want. */
static void assert_config_error(const char *text, const char *want)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkConfig) c = alk_config_load_data(text, -1, &error);

	ck_assert_msg(c == NULL, "accepted: %s", text);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	ck_assert_msg(strstr(error->message, want) != NULL, "'%s' lacks '%s'", error->message,
	              want);
}

static guint profile_count(const AlkConfig *c)
{
	return c->profiles->len;
}

static const AlkProfile *nth_profile(const AlkConfig *c, guint i)
{
	return g_ptr_array_index(c->profiles, i);
}

START_TEST(defaults)
{
	g_autoptr(AlkConfig) c = load("");

	ck_assert_str_eq(c->libvirt_uri, "qemu:///system");
	ck_assert_int_eq(c->virt_type, ALK_VIRT_AUTO);
	ck_assert_int_eq(c->max_sandboxes, 16);
	ck_assert_str_eq(c->state_dir, "/var/lib/airlock");
	ck_assert_str_eq(c->run_dir, "/run/airlock");
	ck_assert_str_eq(c->image_dir, "/var/lib/airlock/images");
	ck_assert(g_str_has_suffix(c->template_dir, "/airlock/xml-templates"));
	ck_assert_int_eq(c->boot_timeout_s, 120);
	ck_assert_str_eq(c->default_profile, "development");
	ck_assert_str_eq(c->default_image, "minimal");
	ck_assert_int_eq(profile_count(c), 3);
	ck_assert_str_eq(nth_profile(c, 0)->name, "development");
	ck_assert_str_eq(nth_profile(c, 1)->name, "staging");
	ck_assert_str_eq(nth_profile(c, 2)->name, "production");
	ck_assert_ptr_null(alk_config_profile(c, "nope"));
}
END_TEST

START_TEST(builtin_profiles)
{
	g_autoptr(AlkConfig) c = load("# only a comment\n");
	const AlkProfile *dev = alk_config_profile(c, "development");
	const AlkProfile *prod = alk_config_profile(c, "production");
	const AlkProfile *stg = alk_config_profile(c, "staging");

	ck_assert(dev->cpus == 1 && dev->max_cpus == 4);
	ck_assert(dev->memory_mib == 512 && dev->max_memory_mib == 4096);
	ck_assert(dev->disk_mib == 2048 && dev->max_disk_mib == 16384);
	ck_assert(dev->ttl_s == 3600 && dev->max_ttl_s == 86400);
	ck_assert(dev->exec_timeout_s == 600 && dev->max_exec_timeout_s == 3600);
	ck_assert(dev->cpu_quota_pct == 100 && dev->io_bytes_sec == 0 && dev->io_iops == 0);
	ck_assert(dev->output_cap_bytes == 64 * 1024 * 1024 && dev->max_execs == 16);
	ck_assert_uint_eq(dev->network_modes, ALK_NET_FLAG(ALK_NET_NONE) |
	                                          ALK_NET_FLAG(ALK_NET_ISOLATED) |
	                                          ALK_NET_FLAG(ALK_NET_ALLOWLIST));
	ck_assert(prod->cpus == 1 && prod->max_cpus == 2);
	ck_assert(prod->memory_mib == 512 && prod->max_memory_mib == 2048);
	ck_assert(prod->disk_mib == 1024 && prod->max_disk_mib == 4096);
	ck_assert(prod->ttl_s == 900 && prod->max_ttl_s == 3600);
	ck_assert(prod->exec_timeout_s == 300 && prod->max_exec_timeout_s == 900);
	ck_assert(prod->cpu_quota_pct == 50 && prod->io_bytes_sec > 0 && prod->io_iops > 0);
	ck_assert(prod->max_execs == 8);
	ck_assert_uint_eq(prod->network_modes, ALK_NET_FLAG(ALK_NET_NONE));
	ck_assert(dev->display && stg->display && !prod->display);
	ck_assert(dev->max_display_width == 1920 && dev->max_display_height == 1200);
	/* staging sits between the two */
	ck_assert(stg->max_cpus <= dev->max_cpus && stg->max_cpus >= prod->max_cpus);
	ck_assert(stg->max_ttl_s < dev->max_ttl_s && stg->max_ttl_s > prod->max_ttl_s);
	ck_assert(stg->cpu_quota_pct < dev->cpu_quota_pct);
	ck_assert(stg->cpu_quota_pct > prod->cpu_quota_pct);
}
END_TEST

START_TEST(overrides)
{
	g_autoptr(AlkConfig) c = load("[daemon]\n"
	                              "libvirt_uri = qemu+unix:///system?socket=/x\n"
	                              "virt_type = qemu\n"
	                              "max_sandboxes =  64  \n"
	                              "run_dir = /run/al\n"
	                              "boot_timeout_s=5\n"
	                              "default_profile = production\n"
	                              "[profile:production]\n"
	                              "cpus = 2\n"
	                              "network_modes = none; allowlist;\n"
	                              "io_iops = 0\n"
	                              "display = true\n"
	                              "max_display_width = 1024\n");
	const AlkProfile *prod = alk_config_profile(c, "production");

	ck_assert(prod->display);
	ck_assert_int_eq(prod->max_display_width, 1024);
	ck_assert_int_eq(prod->max_display_height, 800);

	ck_assert_str_eq(c->libvirt_uri, "qemu+unix:///system?socket=/x");
	ck_assert_int_eq(c->virt_type, ALK_VIRT_QEMU);
	ck_assert_int_eq(c->max_sandboxes, 64);
	ck_assert_str_eq(c->run_dir, "/run/al");
	ck_assert_int_eq(c->boot_timeout_s, 5);
	ck_assert_str_eq(c->default_profile, "production");
	ck_assert_int_eq(prod->cpus, 2);
	ck_assert_int_eq(prod->max_cpus, 2);
	ck_assert_int_eq(prod->io_iops, 0);
	ck_assert_int_eq(prod->ttl_s, 900);
	ck_assert_uint_eq(prod->network_modes,
	                  ALK_NET_FLAG(ALK_NET_NONE) | ALK_NET_FLAG(ALK_NET_ALLOWLIST));
}
END_TEST

START_TEST(custom_profiles)
{
	g_autoptr(AlkConfig) c = load("[profile:zz-ci]\nmax_cpus = 1\ncpus = 1\n"
	                              "[profile:a_1]\nmax_ttl_s = 60\nttl_s = 60\n"
	                              "[daemon]\ndefault_profile = a_1\n");
	const AlkProfile *prod = alk_config_profile(c, "production");
	const AlkProfile *ci = alk_config_profile(c, "zz-ci");

	ck_assert_int_eq(profile_count(c), 5);
	ck_assert_str_eq(nth_profile(c, 2)->name, "production");
	ck_assert_str_eq(nth_profile(c, 3)->name, "a_1");
	ck_assert_str_eq(nth_profile(c, 4)->name, "zz-ci");
	/* a custom profile starts from the strictest tier */
	ck_assert_int_eq(ci->max_cpus, 1);
	ck_assert_int_eq(ci->max_memory_mib, prod->max_memory_mib);
	ck_assert_uint_eq(ci->network_modes, prod->network_modes);
	ck_assert(!ci->display);
	ck_assert_int_eq(ci->cpu_quota_pct, prod->cpu_quota_pct);
	ck_assert_int_eq(alk_config_profile(c, "a_1")->max_ttl_s, 60);
}
END_TEST

START_TEST(unknown_groups_and_keys)
{
	assert_config_error("[daemon]\nmax_sandbox = 3\n", "daemon.max_sandbox: unknown key");
	assert_config_error("[profile:development]\ncpu = 3\n",
	                    "profile:development.cpu: unknown key");
	assert_config_error("[profile:staging]\ncpus[de] = 1\n", "profile:staging.cpus[de]");
	assert_config_error("[demon]\nmax_sandboxes = 3\n", "[demon]: unknown group");
	assert_config_error("[profiles:x]\n", "[profiles:x]: unknown group");
	assert_config_error("[profile:Dev]\n", "[profile:Dev]: profile names");
	assert_config_error("[profile:]\n", "[profile:]");
	assert_config_error("[profile:abcdefghijabcdefghijabcdefghijabc]\n", "profile names");
	assert_config_error("[daemon]\nmax_sandboxes = 3\nmax_sandboxes = 4\n",
	                    "daemon.max_sandboxes: set more than once");
	assert_config_error("[daemon]\nmax_sandboxes = 3\n[daemon]\nmax_sandboxes = 4\n",
	                    "daemon.max_sandboxes: set more than once");
	assert_config_error("max_sandboxes = 3\n", "");
	assert_config_error("[daemon\n", "");
}
END_TEST

START_TEST(bad_numbers)
{
	assert_config_error("[daemon]\nmax_sandboxes = abc\n",
	                    "daemon.max_sandboxes: 'abc' is not a whole number, allowed 1..1024");
	assert_config_error("[daemon]\nmax_sandboxes = -1\n", "daemon.max_sandboxes: '-1'");
	assert_config_error("[daemon]\nmax_sandboxes = 1.5\n", "not a whole number");
	assert_config_error("[daemon]\nmax_sandboxes = 0x10\n", "not a whole number");
	assert_config_error("[daemon]\nmax_sandboxes = 12abc\n", "not a whole number");
	assert_config_error("[daemon]\nmax_sandboxes =\n", "not a whole number");
	assert_config_error("[daemon]\nmax_sandboxes = 0\n",
	                    "daemon.max_sandboxes: '0' is out of range, allowed 1..1024");
	assert_config_error("[daemon]\nmax_sandboxes = 1025\n", "out of range, allowed 1..1024");
	assert_config_error("[api]\nbash_timeout_s = 0\n",
	                    "api.bash_timeout_s: '0' is out of range");
	assert_config_error("[daemon]\nboot_timeout_s = 4\n", "daemon.boot_timeout_s");
	assert_config_error("[daemon]\nboot_timeout_s = 3601\n", "allowed 5..3600");
	assert_config_error("[profile:staging]\nmemory_mib = 18446744073709551616\n",
	                    "profile:staging.memory_mib");
	assert_config_error("[profile:staging]\ncpu_quota_pct = 101\n",
	                    "profile:staging.cpu_quota_pct: '101' is out of range, allowed 1..100");
	assert_config_error("[profile:staging]\ncpu_quota_pct = 0\n", "allowed 1..100");
	assert_config_error("[profile:staging]\nmax_cpus = 65\n", "max_cpus");
	assert_config_error("[profile:staging]\nmax_execs = 0\n", "max_execs");
	assert_config_error("[profile:staging]\noutput_cap_bytes = 1\n", "output_cap_bytes");
	assert_config_error("[profile:staging]\nttl_s = true\n", "ttl_s");
}
END_TEST

START_TEST(bad_strings)
{
	assert_config_error("[daemon]\nvirt_type = xen\n",
	                    "daemon.virt_type: 'xen' is not one of auto, kvm, qemu");
	assert_config_error("[daemon]\nvirt_type = KVM\n", "daemon.virt_type");
	assert_config_error("[daemon]\nlibvirt_uri =\n", "daemon.libvirt_uri");
	assert_config_error("[daemon]\nstate_dir = var/lib\n",
	                    "daemon.state_dir: 'var/lib' is not an absolute path");
	assert_config_error(
	    "[daemon]\nrun_dir = /run/"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	    "daemon.run_dir");
	assert_config_error("[daemon]\nimage_dir = /a\\nb\n", "control character");
	assert_config_error("[daemon]\nimage_dir = /\xff\n", "daemon.image_dir");
	assert_config_error("[daemon]\ndefault_profile = ../x\n", "daemon.default_profile");
	assert_config_error("[daemon]\ndefault_image = a/b\n", "daemon.default_image");
	assert_config_error("[profile:staging]\nnetwork_modes = none;bridge\n",
	                    "profile:staging.network_modes: 'bridge' is not one of");
	assert_config_error("[profile:staging]\nnetwork_modes =\n",
	                    "profile:staging.network_modes: needs at least one");
	assert_config_error("[profile:staging]\ndisplay = yes\n",
	                    "profile:staging.display: 'yes' is not true or false");
	assert_config_error("[profile:staging]\nmax_display_width = 8000\n",
	                    "profile:staging.max_display_width: '8000' is out of range");
	assert_config_error("[profile:staging]\nmax_display_height = 100\n", "max_display_height");
	assert_config_error("[daemon]\nrestore = on\n",
	                    "daemon.restore: 'on' is not true or false");
}
END_TEST

START_TEST(fs_keys)
{
	g_autoptr(AlkConfig) c = alk_config_load_data("[profile:ws]\nroot = writable\n"
	                                              "workspace_mib = 32\ntmpfs_mib = 8\n",
	                                              -1, NULL);
	const AlkProfile *p;

	ck_assert_ptr_nonnull(c);
	p = alk_config_profile(c, "ws");
	ck_assert(!p->root_readonly && p->workspace_mib == 32 && p->tmpfs_mib == 8);
	/* the rest from production: a ceiling of 4096 */
	ck_assert_uint_eq(p->max_workspace_mib, 4096);
	p = alk_config_profile(c, "production");
	ck_assert(p->root_readonly && p->workspace_mib == 1024);
	p = alk_config_profile(c, "development");
	ck_assert(!p->root_readonly && p->workspace_mib == 0);
	assert_config_error("[profile:x]\nroot = ro\n",
	                    "profile:x.root: 'ro' is not writable or readonly");
	assert_config_error(
	    "[profile:x]\nworkspace_mib = 5000\n",
	    "profile:x.workspace_mib: default 5000 is above max_workspace_mib 4096");
	assert_config_error("[profile:x]\ntmpfs_mib = 0\n", "profile:x.tmpfs_mib");
	ck_assert_int_eq(alk_config_profile(c, "development")->volumes, ALK_VOLUMES_WRITABLE);
	ck_assert_int_eq(alk_config_profile(c, "production")->volumes, ALK_VOLUMES_READONLY);
	assert_config_error("[profile:x]\nvolumes = rw\n",
	                    "profile:x.volumes: 'rw' is not one of none, readonly, writable");
	assert_config_error("[profile:x]\ntmpfs_mib = 65537\n", "profile:x.tmpfs_mib");
}
END_TEST

START_TEST(pool_keys)
{
	g_autoptr(AlkConfig) none = load("[daemon]\n");
	g_autoptr(AlkConfig) c =
	    load("[daemon]\nmax_sandboxes = 8\npool = minimal/development:2, debian/staging:3\n");
	const AlkPoolKey *k;

	ck_assert_uint_eq(none->pool->len, 0);
	ck_assert_uint_eq(c->pool->len, 2);
	k = &g_array_index(c->pool, AlkPoolKey, 1);
	ck_assert_str_eq(k->image, "debian");
	ck_assert_str_eq(k->profile, "staging");
	ck_assert_uint_eq(k->n, 3);
	assert_config_error("[daemon]\npool = minimal:2\n", "is not IMAGE/PROFILE:N");
	assert_config_error("[daemon]\npool = minimal/development\n", "is not IMAGE/PROFILE:N");
	assert_config_error("[daemon]\npool = ../x/development:1\n", "invalid image or profile");
	assert_config_error("[daemon]\npool = minimal/nosuch:1\n", "names no profile");
	assert_config_error("[daemon]\npool = minimal/development:0\n", "between 1 and");
	assert_config_error("[daemon]\npool = minimal/development:-1\n", "between 1 and");
	assert_config_error("[daemon]\npool = minimal/development:1x\n", "between 1 and");
	assert_config_error("[daemon]\nmax_sandboxes = 4\npool = minimal/development:5\n",
	                    "between 1 and");
	assert_config_error("[daemon]\nmax_sandboxes = 4\n"
	                    "pool = minimal/development:3,minimal/staging:2\n",
	                    "5 pooled sandboxes, more than max_sandboxes (4)");
	assert_config_error("[daemon]\npool = minimal/development:1,minimal/development:1\n",
	                    "repeats a key");
	assert_config_error("[daemon]\npool = minimal/development:1,,\n", "is not IMAGE");
}
END_TEST

START_TEST(root_and_privileges)
{
	g_autoptr(AlkConfig) c = load("[profile:staging]\nallow_root = false\n"
	                              "[profile:ci]\nno_new_privs = true\n");
	const AlkProfile *dev = alk_config_profile(c, "development");
	const AlkProfile *prod = alk_config_profile(c, "production");
	const AlkProfile *staging = alk_config_profile(c, "staging");
	const AlkProfile *ci = alk_config_profile(c, "ci");

	ck_assert(dev->allow_root && !dev->no_new_privs);
	ck_assert(!prod->allow_root && prod->no_new_privs); /* production: neither */
	ck_assert(!staging->allow_root);
	ck_assert(ci != NULL && ci->no_new_privs);
	assert_config_error("[profile:staging]\nallow_root = yes\n",
	                    "profile:staging.allow_root: 'yes' is not true or false");
	assert_config_error("[profile:staging]\nno_new_privs = 1\n", "no_new_privs");
}
END_TEST

START_TEST(cluster_group)
{
	g_autoptr(AlkConfig) none = load("");
	g_autoptr(AlkConfig) c = load("[cluster]\nnode = 0a\nagent_listen = 127.0.0.1:8421\n");

	ck_assert_str_eq(none->cluster.node, "");
	ck_assert_str_eq(c->cluster.node, "0a");
	ck_assert_str_eq(c->cluster.agent_listen, "127.0.0.1:8421");
	assert_config_error("[cluster]\nnode = 00\n", "cluster.node: '00' is not two lowercase");
	assert_config_error("[cluster]\nnode = 0A\n", "cluster.node");
	assert_config_error("[cluster]\nnode = 7\n", "cluster.node");
	assert_config_error("[cluster]\nnode = zz\n", "cluster.node");
	assert_config_error("[cluster]\nnode = 0a1\n", "cluster.node");
	assert_config_error("[cluster]\nagent_listen = nowhere\n", "cluster.agent_listen");
	assert_config_error("[cluster]\netcd = x\n", "cluster");
	/* etcd: every endpoint http(s)://HOST[:PORT], and only with a tag */
	g_autoptr(AlkConfig) e = load("[cluster]\nnode = 0a\netcd = http://127.0.0.1:2379, "
	                              "https://10.0.0.2:2379/\nlease_ttl_s = 5\n");
	ck_assert_str_eq(e->cluster.etcd, "http://127.0.0.1:2379, https://10.0.0.2:2379/");
	ck_assert_uint_eq(e->cluster.lease_ttl_s, 5);
	ck_assert_uint_eq(none->cluster.lease_ttl_s, 10);
	assert_config_error("[cluster]\netcd = http://127.0.0.1:2379\n", "needs cluster.node");
	assert_config_error("[cluster]\nnode = 0a\netcd = ftp://h:1\n", "cluster.etcd");
	assert_config_error("[cluster]\nnode = 0a\netcd = http://h:1/v3\n", "cluster.etcd");
	assert_config_error("[cluster]\nnode = 0a\netcd = http://u@h:1\n", "cluster.etcd");
	assert_config_error("[cluster]\nnode = 0a\netcd = http://h:1?x\n", "cluster.etcd");
	assert_config_error("[cluster]\nnode = 0a\netcd = http://h:1,\x01\n", "cluster.etcd");
	assert_config_error("[cluster]\nnode = 0a\nlease_ttl_s = 2\n", "lease_ttl_s");
	/* TLS: cert and key together, a client CA only with them, only for api.listen */
	assert_config_error("[daemon]\ntls_cert = /c.pem\n[api]\nlisten = 127.0.0.1:1\n",
	                    "go together");
	assert_config_error("[daemon]\ntls_client_ca = /ca.pem\n", "go together");
	assert_config_error("[daemon]\ntls_cert = /c.pem\ntls_key = /k.pem\n", "api.listen");
	g_autoptr(AlkConfig) t = load("[daemon]\ntls_cert = /c.pem\ntls_key = /k.pem\n"
	                              "tls_client_ca = /ca.pem\n[api]\nlisten = 127.0.0.1:1\n");
	ck_assert_str_eq(t->tls_client_ca, "/ca.pem");
}
END_TEST

START_TEST(network_group)
{
	g_autoptr(AlkConfig) d = load("");
	g_autoptr(AlkConfig) c =
	    load("[network]\negress_netns = edge-1\nuplink_cidr = 10.9.0.0/20\n"
	         "dns_upstream = 192.0.2.53\ndeny = 192.168.0.0/16, 10.0.0.0/8\n");

	ck_assert_str_eq(d->net.egress_netns, "");
	ck_assert_str_eq(d->net.uplink_cidr, "10.253.0.0/16");
	ck_assert_str_eq(d->net.dns_upstream, "");
	ck_assert_str_eq(c->net.egress_netns, "edge-1");
	ck_assert_str_eq(c->net.uplink_cidr, "10.9.0.0/20");
	ck_assert_str_eq(c->net.dns_upstream, "192.0.2.53");
	ck_assert_str_eq(c->net.deny, "192.168.0.0/16, 10.0.0.0/8");
	assert_config_error("[network]\negress_netns = ../x\n", "network.egress_netns: '../x'");
	assert_config_error("[network]\negress_netns = -n\n", "network.egress_netns");
	assert_config_error("[network]\negress_netns = al0123456789ab\n", "reserved");
	assert_config_error("[network]\nuplink_cidr = 10.0.0.0/30\n", "network.uplink_cidr");
	assert_config_error("[network]\nuplink_cidr = 10.0.0.1/16\n", "network.uplink_cidr");
	assert_config_error("[network]\nuplink_cidr = fd00::/64\n", "network.uplink_cidr");
	assert_config_error("[network]\ndns_upstream = ::1\n", "network.dns_upstream");
	assert_config_error("[network]\ndns_upstream = example.com\n", "network.dns_upstream");
	assert_config_error("[network]\ndeny = 10.0.0.0/8,nope\n", "network.deny: 'nope'");
	assert_config_error("[network]\nbridge = br0\n", "network.bridge: unknown key");
}
END_TEST

START_TEST(default_above_ceiling)
{
	assert_config_error("[profile:development]\ncpus = 8\n",
	                    "profile:development.cpus: default 8 is above max_cpus 4");
	assert_config_error("[profile:production]\nmax_ttl_s = 600\n",
	                    "profile:production.ttl_s: default 900 is above max_ttl_s 600");
	assert_config_error("[profile:staging]\nmemory_mib = 4096\n",
	                    "profile:staging.memory_mib: default 4096 is above max_memory_mib");
	assert_config_error("[profile:staging]\nmax_disk_mib = 100\n", "staging.disk_mib");
	assert_config_error("[profile:staging]\nexec_timeout_s = 9999\n",
	                    "staging.exec_timeout_s: default 9999 is above max_exec_timeout_s");
	assert_config_error("[profile:x]\ncpus = 3\n", "profile:x.cpus: default 3 is above");
	g_autoptr(AlkConfig) c = load("[profile:development]\ncpus = 4\n");
	ck_assert_int_eq(alk_config_profile(c, "development")->cpus, 4);
}
END_TEST

START_TEST(missing_default_profile)
{
	assert_config_error("[daemon]\ndefault_profile = nope\n",
	                    "daemon.default_profile: no profile 'nope'");
}
END_TEST

START_TEST(api_group)
{
	g_autoptr(AlkConfig) d = load("");
	ck_assert_str_eq(d->api.socket, "/run/airlock/api.sock");
	ck_assert_str_eq(d->api.socket_group, "airlock");
	ck_assert_str_eq(d->api.listen, "");
	ck_assert_str_eq(d->api.tokens_file, "/etc/airlock/tokens");
	ck_assert_uint_eq(d->api.max_body_bytes, 8 * 1024 * 1024);
	ck_assert_uint_eq(d->api.max_file_bytes, 1024 * 1024 * 1024);
	ck_assert_uint_eq(d->api.max_connections, 64);
	ck_assert_uint_eq(d->api.request_timeout_s, 30);
	ck_assert_uint_eq(d->api.bash_timeout_s, 120);
	ck_assert_str_eq(d->api.audit_log, "/var/lib/airlock/audit.jsonl");
	ck_assert_str_eq(d->api.audit_head, "/var/lib/airlock/audit.head");

	g_autoptr(AlkConfig) c =
	    load("[api]\nsocket = /tmp/a.sock\nsocket_group = wheel\n"
	         "listen = 127.0.0.1:8420\ntokens_file = /tmp/tok\n"
	         "max_body_bytes = 1024\nmax_file_bytes = 5\n"
	         "max_connections = 2\nrequest_timeout_s = 3\nbash_timeout_s = 7\n"
	         "audit_log = /tmp/a.jsonl\naudit_head = /tmp/a.head\n");
	ck_assert_str_eq(c->api.socket, "/tmp/a.sock");
	ck_assert_str_eq(c->api.socket_group, "wheel");
	ck_assert_str_eq(c->api.listen, "127.0.0.1:8420");
	ck_assert_uint_eq(c->api.max_body_bytes, 1024);
	ck_assert_uint_eq(c->api.max_file_bytes, 5);
	ck_assert_uint_eq(c->api.max_connections, 2);
	ck_assert_uint_eq(c->api.request_timeout_s, 3);
	ck_assert_uint_eq(c->api.bash_timeout_s, 7);
	ck_assert_str_eq(c->api.audit_head, "/tmp/a.head");
	g_autoptr(AlkConfig) v6 = load("[api]\nlisten = [::1]:1\n");
	ck_assert_str_eq(v6->api.listen, "[::1]:1");
	g_autoptr(AlkConfig) any = load("[api]\nlisten = 0.0.0.0:65535\n");
	ck_assert_str_eq(any->api.listen, "0.0.0.0:65535");
	g_autoptr(AlkConfig) none = load("[api]\nlisten =\n");
	ck_assert_str_eq(none->api.listen, "");

	assert_config_error("[api]\nport = 1\n", "api.port: unknown key");
	assert_config_error("[api]\nlisten = localhost:8420\n",
	                    "api.listen: 'localhost:8420' is not");
	assert_config_error("[api]\nlisten = 127.0.0.1\n", "api.listen");
	assert_config_error("[api]\nlisten = 127.0.0.1:0\n", "port 1..65535");
	assert_config_error("[api]\nlisten = 127.0.0.1:65536\n", "api.listen");
	assert_config_error("[api]\nlisten = ::1:80\n", "api.listen");
	assert_config_error("[api]\nlisten = [::1]:x\n", "api.listen");
	assert_config_error("[api]\nsocket = api.sock\n",
	                    "api.socket: 'api.sock' is not an absolute");
	assert_config_error(
	    "[api]\nsocket = /run/"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	    "api.socket: value has 111 bytes, allowed 1..107");
	assert_config_error("[api]\nsocket_group = Airlock\n", "api.socket_group");
	assert_config_error("[api]\nsocket_group = a b\n", "api.socket_group");
	assert_config_error("[api]\nsocket_group =\n", "api.socket_group");
	assert_config_error("[api]\nmax_body_bytes = 1023\n", "api.max_body_bytes");
	assert_config_error("[api]\nmax_file_bytes = 0\n", "api.max_file_bytes");
	assert_config_error("[api]\nmax_connections = 0\n", "api.max_connections");
	assert_config_error("[api]\nrequest_timeout_s = 3601\n", "allowed 1..3600");
	assert_config_error("[api]\naudit_log = audit\n", "api.audit_log");
	assert_config_error("[api]\ntokens_file =\n", "api.tokens_file");
}
END_TEST

START_TEST(files)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp("alk-config-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "airlockd.conf", NULL);
	g_autofree char *missing = g_build_filename(dir, "missing.conf", NULL);
	g_autoptr(AlkConfig) fallback = alk_config_load(missing, &error);

	ck_assert_ptr_nonnull(fallback);
	ck_assert_int_eq(fallback->max_sandboxes, 16);
	ck_assert(g_file_set_contents(path, "[daemon]\nmax_sandboxes = 2\n", -1, NULL));
	g_autoptr(AlkConfig) c = alk_config_load(path, &error);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(c->max_sandboxes, 2);
	ck_assert(g_file_set_contents(path, "[daemon]\nmax_sandboxes = x\n", -1, NULL));
	ck_assert_ptr_null(alk_config_load(path, &error));
	ck_assert(g_str_has_prefix(error->message, path));
	ck_assert_ptr_nonnull(strstr(error->message, "daemon.max_sandboxes"));
	g_clear_error(&error);
	ck_assert_ptr_null(alk_config_load(dir, &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_IO));
	g_unlink(path);
	g_rmdir(dir);
}
END_TEST

START_TEST(names_and_modes)
{
	AlkNetMode mode = ALK_NET_NONE;

	ck_assert(alk_config_name_is_valid("a"));
	ck_assert(alk_config_name_is_valid("dev_2-x"));
	ck_assert(alk_config_name_is_valid("abcdefghijabcdefghijabcdefghijab"));
	ck_assert(!alk_config_name_is_valid("abcdefghijabcdefghijabcdefghijabc"));
	ck_assert(!alk_config_name_is_valid(""));
	ck_assert(!alk_config_name_is_valid(NULL));
	ck_assert(!alk_config_name_is_valid("A"));
	ck_assert(!alk_config_name_is_valid("a.b"));
	ck_assert(!alk_config_name_is_valid("a/b"));
	ck_assert(alk_net_mode_from_string("allowlist", &mode));
	ck_assert_int_eq(mode, ALK_NET_ALLOWLIST);
	ck_assert(!alk_net_mode_from_string("None", &mode));
	ck_assert(!alk_net_mode_from_string(NULL, &mode));
	ck_assert_int_eq(mode, ALK_NET_ALLOWLIST);
	ck_assert_str_eq(alk_net_mode_to_string(ALK_NET_ISOLATED), "isolated");
	ck_assert_str_eq(alk_net_mode_to_string((AlkNetMode)9), "unknown");
	ck_assert_str_eq(alk_virt_type_to_string(ALK_VIRT_KVM), "kvm");
	alk_config_free(NULL);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_test(tc, defaults);
	tcase_add_test(tc, builtin_profiles);
	tcase_add_test(tc, overrides);
	tcase_add_test(tc, custom_profiles);
	tcase_add_test(tc, unknown_groups_and_keys);
	tcase_add_test(tc, bad_numbers);
	tcase_add_test(tc, bad_strings);
	tcase_add_test(tc, default_above_ceiling);
	tcase_add_test(tc, missing_default_profile);
	tcase_add_test(tc, api_group);
	tcase_add_test(tc, files);
	tcase_add_test(tc, names_and_modes);
	tcase_add_test(tc, network_group);
	tcase_add_test(tc, pool_keys);
	tcase_add_test(tc, fs_keys);
	tcase_add_test(tc, cluster_group);
	tcase_add_test(tc, root_and_privileges);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(config_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? 0 : 1;
}
