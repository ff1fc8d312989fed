/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* virt_type=auto: /dev/kvm existing is no proof that KVM guests run (nested
 * setups hang), so boot the default image under KVM once, bounded, and use
 * KVM only when its agent answers. */
#include <errno.h>
#include <unistd.h>

#include "alk-domain-xml.h"
#include "alk-error.h"
#include "alk-manager-private.h"

typedef struct {
	GMainLoop *loop;
	gboolean ready;
	GError *error;
} Probe;

static void on_probe_channel(AlkChannel *ch, AlkChannelState state, const GError *error,
                             gpointer data)
{
	Probe *p = data;
	p->ready = state == ALK_CHANNEL_READY;
	if (!p->ready && error != NULL && p->error == NULL)
		p->error = g_error_copy(error);
	g_main_loop_quit(p->loop);
}

static gboolean make_overlay(const AlkImage *image, const char *path, GError **error)
{
	g_autofree char *size =
	    g_strdup_printf("%" G_GUINT64_FORMAT "M", image->rootfs_virtual_mib);
	const char *argv[] = {"qemu-img", "create", "-q",          "-u", "-f", "qcow2", "-F",
	                      "qcow2",    "-b",     image->rootfs, path, size, NULL};
	int status;
	return g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
	                    &status, error) &&
	       g_spawn_check_wait_status(status, error);
}

static gboolean boot_and_wait(AlkManager *m, AlkSlot *slot, const AlkImage *image, guint timeout_s,
                              GError **error)
{
	AlkSandbox *sb = slot->sb;
	AlkDomainSpec spec = {
	    .name = sb->domain,
	    .virt_type = "kvm",
	    .vcpus = 1,
	    .memory_mib = 256,
	    .kernel = image->kernel,
	    .initrd = image->initrd,
	    .cmdline = image->cmdline,
	    .overlay = sb->overlay,
	    .base = image->rootfs,
	    .console_log = sb->console_log,
	    .agent_socket = sb->agent_socket,
	    .record = "{}",
	    .qemu_uid = m->qemu_uid,
	    .qemu_gid = m->qemu_gid,
	};
	g_autofree char *xml = alk_domain_xml_render(m->config->template_dir, &spec, error);
	g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
	Probe p = {.loop = loop};
	g_autoptr(AlkChannel) ch = NULL;

	if (xml == NULL || !make_overlay(image, sb->overlay, error))
		return FALSE;
	if (chown(sb->overlay, m->qemu_uid, m->qemu_gid) < 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "chown: %s", g_strerror(errno));
		return FALSE;
	}
	if (!alk_virt_create_sync(m->virt, xml, error))
		return FALSE;
	ch = alk_channel_new(sb->agent_socket, on_probe_channel, &p);
	alk_channel_open(ch, g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC);
	g_main_loop_run(loop);
	if (!p.ready) {
		g_propagate_prefixed_error(
		    error,
		    p.error ? p.error
		            : g_error_new_literal(ALK_ERROR, ALK_ERROR_TIMEOUT, "no answer"),
		    "KVM guest did not boot: ");
		return FALSE;
	}
	return TRUE;
}

gboolean alk_manager_probe_kvm(AlkManager *m, guint timeout_s, GError **error)
{
	g_autoptr(AlkImage) image = NULL;
	g_autofree char *id = g_strdup_printf("probe%d", getpid());
	AlkSandbox *sb = alk_sandbox_new(id, m->config->state_dir, m->config->run_dir);
	AlkSlot slot = {.m = m, .sb = sb};
	gboolean ok;

	g_free(sb->domain);
	sb->domain = g_strdup_printf(ALK_PROBE_DOMAIN "%d", getpid());
	if (access("/dev/kvm", R_OK | W_OK) < 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_UNAVAILABLE, "no usable /dev/kvm");
		alk_sandbox_free(sb);
		return FALSE;
	}
	image = alk_image_load(m->config->image_dir, m->config->default_image, error);
	ok = image != NULL && alk_slot_prepare_dirs(&slot, error) &&
	     boot_and_wait(m, &slot, image, timeout_s, error);
	alk_virt_destroy_sync(m->virt, sb->domain, NULL);
	alk_slot_remove_files(m, id);
	alk_sandbox_free(sb);
	return ok;
}
