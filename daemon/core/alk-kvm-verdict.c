/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-kvm-verdict.h"

#include <string.h>

#include "alk-error.h"

#define GROUP "kvm-probe"
/* bounds what a file someone else wrote can make us read */
#define VERDICT_MAX_BYTES 4096

void alk_kvm_host_clear(AlkKvmHost *host)
{
	g_clear_pointer(&host->kernel, g_free);
	g_clear_pointer(&host->cpu, g_free);
	g_clear_pointer(&host->qemu, g_free);
	g_clear_pointer(&host->libvirt, g_free);
}

char *alk_kvm_cpu_model(const char *cpuinfo)
{
	g_auto(GStrv) lines = g_strsplit(cpuinfo != NULL ? cpuinfo : "", "\n", -1);

	for (guint i = 0; lines[i] != NULL; i++) {
		const char *colon = strchr(lines[i], ':');
		g_autofree char *key = NULL;
		if (colon == NULL)
			continue;
		key = g_strstrip(g_strndup(lines[i], colon - lines[i]));
		if (strcmp(key, "model name") == 0)
			return g_strstrip(g_strdup(colon + 1));
	}
	return g_strdup("unknown");
}

/* The key's fields with their names, in file order. */
static void host_fields(const AlkKvmHost *host, const char *names[4], const char *values[4])
{
	names[0] = "kernel", values[0] = host->kernel;
	names[1] = "cpu", values[1] = host->cpu;
	names[2] = "qemu", values[2] = host->qemu;
	names[3] = "libvirt", values[3] = host->libvirt;
}

char *alk_kvm_verdict_format(const AlkKvmHost *host, gboolean usable, const char *reason)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	const char *names[4], *values[4];

	host_fields(host, names, values);
	for (guint i = 0; i < G_N_ELEMENTS(names); i++)
		g_key_file_set_string(kf, GROUP, names[i], values[i] != NULL ? values[i] : "");
	g_key_file_set_string(kf, GROUP, "verdict", usable ? "kvm" : "qemu");
	if (!usable && reason != NULL)
		g_key_file_set_string(kf, GROUP, "reason", reason);
	g_key_file_set_comment(kf, NULL, NULL,
	                       " airlockd's KVM probe verdict for this host (virt_type = auto);"
	                       "\n delete it to probe again",
	                       NULL);
	return g_key_file_to_data(kf, NULL, NULL);
}

static gboolean matches_host(GKeyFile *kf, const AlkKvmHost *host, GError **error)
{
	const char *names[4], *values[4];

	host_fields(host, names, values);
	for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
		g_autofree char *v = g_key_file_get_string(kf, GROUP, names[i], NULL);
		if (g_strcmp0(v, values[i] != NULL ? values[i] : "") != 0) {
			g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
			            "made for another %s (%s, now %s)", names[i], v ? v : "none",
			            values[i] ? values[i] : "");
			return FALSE;
		}
	}
	return TRUE;
}

gboolean alk_kvm_verdict_parse(const char *text, const AlkKvmHost *host, gboolean *usable,
                               char **reason, GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autofree char *verdict = NULL;

	if (text == NULL || strlen(text) > VERDICT_MAX_BYTES ||
	    !g_key_file_load_from_data(kf, text, -1, G_KEY_FILE_NONE, NULL)) {
		g_set_error_literal(error, ALK_ERROR, ALK_ERROR_INVALID, "not a verdict file");
		return FALSE;
	}
	if (!matches_host(kf, host, error))
		return FALSE;
	verdict = g_key_file_get_string(kf, GROUP, "verdict", NULL);
	if (g_strcmp0(verdict, "kvm") != 0 && g_strcmp0(verdict, "qemu") != 0) {
		g_set_error_literal(error, ALK_ERROR, ALK_ERROR_INVALID, "no verdict kvm or qemu");
		return FALSE;
	}
	*usable = strcmp(verdict, "kvm") == 0;
	if (reason != NULL)
		*reason = *usable ? NULL : g_key_file_get_string(kf, GROUP, "reason", NULL);
	return TRUE;
}
