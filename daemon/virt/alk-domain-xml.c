/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-domain-xml.h"

#include <string.h>

#include "alk-error.h"

char *alk_template_fill(const char *tmpl, GHashTable *vars, GError **error)
{
	g_autoptr(GString) out = g_string_sized_new(strlen(tmpl) + 1024);
	const char *p = tmpl;

	while (*p != '\0') {
		const char *open = strstr(p, "{{");
		if (open == NULL) {
			g_string_append(out, p);
			break;
		}
		g_string_append_len(out, p, open - p);
		const char *close = strstr(open + 2, "}}");
		if (close == NULL) {
			g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
			            "template: unterminated placeholder at offset %td",
			            open - tmpl);
			return NULL;
		}
		g_autofree char *key = g_strndup(open + 2, close - open - 2);
		const char *value = g_hash_table_lookup(vars, key);
		if (value == NULL) {
			g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
			            "template: no value for placeholder '%s'", key);
			return NULL;
		}
		if (g_str_has_prefix(key, "xml:")) {
			/* a fragment rendered from a template, already escaped */
			g_string_append(out, value);
		} else {
			g_autofree char *escaped = g_markup_escape_text(value, -1);
			g_string_append(out, escaped);
		}
		p = close + 2;
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

static gboolean check_path(const char *what, const char *path, GError **error)
{
	if (path == NULL || path[0] != '/' || strlen(path) >= 4096 ||
	    !g_utf8_validate(path, -1, NULL)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "domain: %s must be an absolute UTF-8 path", what);
		return FALSE;
	}
	return TRUE;
}

/* a tap name (1..15 of [a-z0-9]) and a unicast MAC in libvirt's 52:54:00 range */
static gboolean check_nic(const AlkDomainSpec *s, GError **error)
{
	gsize len = s->tap != NULL ? strlen(s->tap) : 0;
	gboolean ok = len >= 1 && len <= 15 && s->mac != NULL && strlen(s->mac) == 17 &&
	              g_str_has_prefix(s->mac, "52:54:00:");

	for (gsize i = 0; ok && i < len; i++)
		ok = g_ascii_isdigit(s->tap[i]) || g_ascii_islower(s->tap[i]);
	for (gsize i = 0; ok && i < 17; i++)
		ok = i % 3 == 2 ? s->mac[i] == ':' : g_ascii_isxdigit(s->mac[i]);
	if (!ok)
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "domain: bad tap name or MAC");
	return ok;
}

/* both 0 (no display) or a mode a virtual GPU offers */
static gboolean check_display(const AlkDomainSpec *s, GError **error)
{
	gboolean none = s->display_width == 0 && s->display_height == 0;

	if (none || (s->display_width >= 320 && s->display_width <= 3840 &&
	             s->display_height >= 200 && s->display_height <= 2160))
		return TRUE;
	g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "domain: display size out of range");
	return FALSE;
}

static gboolean check_volumes(const AlkDomainSpec *s, GError **error)
{
	if (s->nvolumes > ALK_DOMAIN_VOLUMES_MAX) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "domain: too many volumes");
		return FALSE;
	}
	for (guint i = 0; i < s->nvolumes; i++)
		if (!check_path("volume", s->volumes[i], error))
			return FALSE;
	return TRUE;
}

static gboolean check_spec(const AlkDomainSpec *s, GError **error)
{
	if ((s->tap != NULL && !check_nic(s, error)) || !check_display(s, error))
		return FALSE;
	if (s->name == NULL || !g_str_has_prefix(s->name, "airlock-") || strlen(s->name) > 64) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "domain: bad name");
		return FALSE;
	}
	if (g_strcmp0(s->virt_type, "qemu") != 0 && g_strcmp0(s->virt_type, "kvm") != 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "domain: virt_type must be qemu or kvm");
		return FALSE;
	}
	if (s->vcpus < 1 || s->vcpus > 64 || s->memory_mib < 16 || s->memory_mib > 1048576 ||
	    (s->hard_limit_mib != 0 && s->hard_limit_mib < s->memory_mib) ||
	    s->cpu_quota_pct > 100) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "domain: vcpus, memory or cpu quota out of range");
		return FALSE;
	}
	if (s->qemu_uid == 0 || s->qemu_gid == 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "domain: QEMU must not run as root");
		return FALSE;
	}
	return check_path("kernel", s->kernel, error) && check_path("initrd", s->initrd, error) &&
	       check_path("overlay", s->overlay, error) && check_path("base", s->base, error) &&
	       (s->frozen == NULL || check_path("frozen layer", s->frozen, error)) &&
	       check_path("console log", s->console_log, error) &&
	       check_path("agent socket", s->agent_socket, error) &&
	       (s->workspace == NULL || (check_path("workspace", s->workspace, error) &&
	                                 check_path("workspace base", s->workspace_base, error))) &&
	       check_volumes(s, error);
}

static void set_u64(GHashTable *vars, const char *key, guint64 v)
{
	g_hash_table_insert(vars, g_strdup(key), g_strdup_printf("%" G_GUINT64_FORMAT, v));
}

static void set_str(GHashTable *vars, const char *key, const char *v)
{
	g_hash_table_insert(vars, g_strdup(key), g_strdup(v != NULL ? v : ""));
}

static GHashTable *spec_vars(const AlkDomainSpec *s)
{
	GHashTable *vars = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	/* libvirt applies <quota> to each vcpu thread per period; -1: none */
	gint64 quota =
	    s->cpu_quota_pct == 0 ? -1 : (gint64)ALK_CPU_PERIOD_US * s->cpu_quota_pct / 100;

	set_str(vars, "name", s->name);
	set_str(vars, "virt_type", s->virt_type);
	set_u64(vars, "vcpus", s->vcpus);
	set_u64(vars, "memory_mib", s->memory_mib);
	set_u64(vars, "hard_limit_mib", s->hard_limit_mib);
	set_u64(vars, "cpu_period", ALK_CPU_PERIOD_US);
	g_hash_table_insert(vars, g_strdup("cpu_quota"),
	                    g_strdup_printf("%" G_GINT64_FORMAT, quota));
	set_u64(vars, "io_bytes_sec", s->io_bytes_sec);
	set_u64(vars, "io_iops", s->io_iops);
	set_str(vars, "kernel", s->kernel);
	set_str(vars, "initrd", s->initrd);
	set_str(vars, "cmdline", s->cmdline);
	set_str(vars, "overlay", s->overlay);
	set_str(vars, "base", s->base);
	/* the overlay's own backing file: the base, or a clone's frozen layer on it */
	set_str(vars, "backing", s->frozen != NULL ? s->frozen : s->base);
	set_str(vars, "console_log", s->console_log);
	set_str(vars, "agent_socket", s->agent_socket);
	set_str(vars, "record", s->record);
	set_u64(vars, "qemu_uid", s->qemu_uid);
	set_u64(vars, "qemu_gid", s->qemu_gid);
	if (s->tap != NULL) {
		set_str(vars, "tap", s->tap);
		set_str(vars, "mac", s->mac);
	}
	set_u64(vars, "display_width", s->display_width);
	set_u64(vars, "display_height", s->display_height);
	if (s->workspace != NULL) {
		set_str(vars, "workspace", s->workspace);
		set_str(vars, "workspace_base", s->workspace_base);
	}
	return vars;
}

static char *render_file(const char *template_dir, const char *file, GHashTable *vars,
                         GError **error)
{
	g_autofree char *path = g_build_filename(template_dir, file, NULL);
	g_autofree char *tmpl = NULL;

	if (!g_file_get_contents(path, &tmpl, NULL, error)) {
		g_prefix_error(error, "domain template: ");
		return NULL;
	}
	return alk_template_fill(tmpl, vars, error);
}

/* Renders an optional fragment into vars as "xml:NAME" ("" when off). */
static gboolean add_fragment(const char *template_dir, GHashTable *vars, const char *name,
                             gboolean on, GError **error)
{
	g_autofree char *file = g_strconcat(name, ".xml", NULL);
	char *xml = on ? render_file(template_dir, file, vars, error) : g_strdup("");
	if (xml == NULL)
		return FALSE;
	g_hash_table_insert(vars, g_strconcat("xml:", name, NULL), xml);
	return TRUE;
}

/* One volume.xml per attachment, into vars as "xml:volumes". */
static gboolean add_volumes(const char *template_dir, GHashTable *vars, const AlkDomainSpec *s,
                            GError **error)
{
	g_autoptr(GString) all = g_string_new(NULL);

	for (guint i = 0; i < s->nvolumes; i++) {
		g_autofree char *xml = NULL;

		set_str(vars, "volume_path", s->volumes[i]);
		g_hash_table_insert(vars, g_strdup("volume_dev"), g_strdup_printf("vd%c", 'c' + i));
		g_hash_table_insert(vars, g_strdup("volume_serial"),
		                    g_strdup_printf("alk-vol%u", i));
		if (!add_fragment(template_dir, vars, "readonly", s->volume_readonly[i], error) ||
		    (xml = render_file(template_dir, "volume.xml", vars, error)) == NULL)
			return FALSE;
		g_string_append(all, xml);
	}
	g_hash_table_insert(vars, g_strdup("xml:volumes"),
	                    g_string_free(g_steal_pointer(&all), FALSE));
	return TRUE;
}

char *alk_domain_xml_render(const char *template_dir, const AlkDomainSpec *spec, GError **error)
{
	g_autoptr(GHashTable) vars = NULL;

	if (!check_spec(spec, error))
		return NULL;
	vars = spec_vars(spec);
	if (!add_fragment(template_dir, vars, "memtune", spec->hard_limit_mib != 0, error) ||
	    !add_fragment(template_dir, vars, "interface", spec->tap != NULL, error) ||
	    /* KVM has no translation cache; TCG's is capped (tcg.xml) */
	    !add_fragment(template_dir, vars, "tcg", strcmp(spec->virt_type, "qemu") == 0, error) ||
	    !add_fragment(template_dir, vars, "display", spec->display_width != 0, error) ||
	    !add_fragment(template_dir, vars, "workspace", spec->workspace != NULL, error) ||
	    !add_volumes(template_dir, vars, spec, error) ||
	    !add_fragment(template_dir, vars, "frozen", spec->frozen != NULL, error))
		return NULL;
	if (spec->frozen == NULL)
		g_hash_table_insert(vars, g_strdup("xml:frozen"), g_strdup("<backingStore/>"));
	return render_file(template_dir, "domain.xml", vars, error);
}
