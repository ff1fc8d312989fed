/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* virt_type=auto: /dev/kvm existing is no proof that KVM guests run (nested
 * setups hang), so boot the default image under KVM once, bounded, and use
 * KVM only when its agent answers. The probe runs on the main loop while
 * the API already answers; its verdict is remembered for this host (see
 * alk-kvm-verdict.h) so that a restart does not probe again. */
#include <errno.h>
#include <glib/gstdio.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "alk-domain-xml.h"
#include "alk-error.h"
#include "alk-kvm-verdict.h"
#include "alk-manager-private.h"
#include "alk-overlay.h"

/* Instance tag in probe domain names: enough of SHA-256(state_dir) that two
 * daemons on one host never share it by chance. */
#define INSTANCE_TAG_LEN 12

struct AlkKvmProbe {
	AlkManager *m; /* NULL once the manager let go: finish quietly */
	AlkSandbox *sb;
	AlkImage *image;
	AlkChannel *ch;
	AlkKvmProbeDone done;
	AlkKvmHost host; /* the verdict's key, read before anything else runs */
	gboolean booted; /* the domain started: the verdict says something */
	gboolean usable;
	guint idle;    /* the channel's verdict, taken outside its callback */
	GError *error; /* why KVM is not usable */
};

char *alk_manager_probe_prefix(AlkManager *m)
{
	g_autofree char *sum =
	    g_compute_checksum_for_string(G_CHECKSUM_SHA256, m->config->state_dir, -1);
	return g_strdup_printf(ALK_PROBE_DOMAIN "%.*s-", INSTANCE_TAG_LEN, sum);
}

/* ---- the remembered verdict ---- */

static gboolean host_key(AlkManager *m, AlkKvmHost *host, GError **error)
{
	struct utsname u;
	g_autofree char *cpuinfo = NULL;

	if (!m->virt_ops->versions_sync(m->virt_ctx, &host->qemu, &host->libvirt, error))
		return FALSE;
	if (uname(&u) < 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "uname: %s", g_strerror(errno));
		return FALSE;
	}
	host->kernel = g_strdup(u.release);
	g_file_get_contents("/proc/cpuinfo", &cpuinfo, NULL, NULL);
	host->cpu = alk_kvm_cpu_model(cpuinfo);
	return TRUE;
}

static char *verdict_path(AlkManager *m)
{
	return g_build_filename(m->config->state_dir, ALK_KVM_VERDICT_FILE, NULL);
}

/* TRUE when a verdict for this very host is on file. */
static gboolean recall(AlkManager *m, const AlkKvmHost *host, gboolean *usable, char **reason)
{
	g_autofree char *path = verdict_path(m);
	g_autofree char *text = NULL;
	g_autoptr(GError) error = NULL;

	if (!g_file_get_contents(path, &text, NULL, &error) ||
	    !alk_kvm_verdict_parse(text, host, usable, reason, &error)) {
		if (!g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			g_message("KVM probe: ignoring %s: %s", path, error->message);
		return FALSE;
	}
	return TRUE;
}

static void remember(AlkManager *m, const AlkKvmHost *host, gboolean usable, const char *reason)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = verdict_path(m);
	g_autofree char *text = NULL;

	if (host->kernel == NULL)
		return; /* the key could not be read: nothing to file it under */
	text = alk_kvm_verdict_format(host, usable, reason);
	if (!g_file_set_contents_full(path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644, &error))
		g_warning("KVM probe: verdict not saved: %s", error->message);
}

/* ---- the probe boot ---- */

static void probe_free(AlkKvmProbe *p)
{
	g_clear_handle_id(&p->idle, g_source_remove);
	alk_channel_free(p->ch);
	alk_image_free(p->image);
	alk_sandbox_free(p->sb);
	alk_kvm_host_clear(&p->host);
	g_clear_error(&p->error);
	g_free(p);
}

static void finish(AlkKvmProbe *p)
{
	AlkManager *m = p->m;

	if (m != NULL) {
		alk_slot_remove_files(m, p->sb->id);
		m->probe = NULL;
		if (p->booted)
			remember(m, &p->host, p->usable, p->usable ? NULL : p->error->message);
		p->done(m, p->booted ? ALK_KVM_PROBE_PROBED : ALK_KVM_PROBE_SKIPPED, p->usable,
		        p->usable ? NULL : p->error->message);
	}
	probe_free(p);
}

static void destroyed(GObject *src, GAsyncResult *res, gpointer data)
{
	AlkKvmProbe *p = data;
	g_autoptr(GError) error = NULL;

	if (p->m != NULL && !alk_virt_ops_finish(res, &error))
		g_warning("KVM probe: %s (the next start's reconcile destroys it)", error->message);
	finish(p);
}

/* The verdict is in (error NULL: KVM works): the probe domain goes. */
static void conclude(AlkKvmProbe *p, GError *error)
{
	p->usable = error == NULL;
	if (error != NULL)
		g_propagate_prefixed_error(&p->error, error, "KVM guest did not boot: ");
	g_clear_pointer(&p->ch, alk_channel_free);
	if (p->m == NULL || !p->booted || !p->m->virt_ops->is_connected(p->m->virt_ctx)) {
		finish(p);
		return;
	}
	p->m->virt_ops->destroy(p->m->virt_ctx, p->sb->domain, destroyed, p);
}

static gboolean on_channel_idle(gpointer data)
{
	AlkKvmProbe *p = data;
	GError *error = g_steal_pointer(&p->error);
	p->idle = 0;
	conclude(p, error);
	return G_SOURCE_REMOVE;
}

static void on_channel(AlkChannel *ch, AlkChannelState state, const GError *error, gpointer data)
{
	AlkKvmProbe *p = data;
	/* the first READY or failed open decides; LOST comes only after READY */
	if (p->idle != 0 || (state != ALK_CHANNEL_READY && state != ALK_CHANNEL_CLOSED))
		return;
	if (state == ALK_CHANNEL_CLOSED)
		p->error = error != NULL
		               ? g_error_copy(error)
		               : g_error_new_literal(ALK_ERROR, ALK_ERROR_TIMEOUT, "no answer");
	/* not from inside the channel's own callback: it is freed next */
	p->idle = g_idle_add(on_channel_idle, p);
}

static void started(GObject *src, GAsyncResult *res, gpointer data)
{
	AlkKvmProbe *p = data;
	GError *error = NULL;
	guint timeout_s;

	if (p->m == NULL || !alk_virt_ops_finish(res, &error)) {
		conclude(p, error != NULL ? error
		                          : g_error_new_literal(ALK_ERROR, ALK_ERROR_UNAVAILABLE,
		                                                "the daemon stopped"));
		return;
	}
	p->booted = TRUE;
	timeout_s = p->m->config->kvm_probe_timeout_s;
	p->ch = alk_channel_new(p->sb->agent_socket, on_channel, p);
	alk_channel_open(p->ch, g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC);
}

static char *render(AlkKvmProbe *p, GError **error)
{
	AlkManager *m = p->m;
	AlkDomainSpec spec = {
	    .name = p->sb->domain,
	    .virt_type = "kvm",
	    .vcpus = 1,
	    .memory_mib = 256,
	    .kernel = p->image->kernel,
	    .initrd = p->image->initrd,
	    .cmdline = p->image->cmdline,
	    .overlay = p->sb->overlay,
	    .base = p->image->rootfs,
	    .console_log = p->sb->console_log,
	    .agent_socket = p->sb->agent_socket,
	    .record = "{}",
	    .qemu_uid = m->qemu_uid,
	    .qemu_gid = m->qemu_gid,
	};
	return alk_domain_xml_render(m->config->template_dir, &spec, error);
}

static void overlay_made(GObject *src, GAsyncResult *res, gpointer data)
{
	AlkKvmProbe *p = data;
	GError *error = NULL;
	g_autofree char *xml = NULL;

	if (!alk_overlay_create_finish(res, &error) || p->m == NULL) {
		conclude(p, error != NULL ? error
		                          : g_error_new_literal(ALK_ERROR, ALK_ERROR_UNAVAILABLE,
		                                                "the daemon stopped"));
		return;
	}
	if (chown(p->sb->overlay, p->m->qemu_uid, p->m->qemu_gid) < 0)
		g_set_error(&error, ALK_ERROR, ALK_ERROR_IO, "chown: %s", g_strerror(errno));
	else
		xml = render(p, &error);
	if (xml == NULL) {
		conclude(p, error);
		return;
	}
	p->m->virt_ops->create(p->m->virt_ctx, xml, FALSE, started, p);
}

static AlkKvmProbe *probe_new(AlkManager *m, AlkKvmProbeDone done)
{
	AlkKvmProbe *p = g_new0(AlkKvmProbe, 1);
	g_autofree char *id = g_strdup_printf("probe%d", getpid());
	g_autofree char *prefix = alk_manager_probe_prefix(m);

	p->m = m;
	p->done = done;
	p->sb = alk_sandbox_new(id, m->config->state_dir, m->config->run_dir);
	g_free(p->sb->domain);
	p->sb->domain = g_strdup_printf("%s%d", prefix, getpid());
	return p;
}

/* Boots the probe; FALSE (error set) when it cannot even start. */
static gboolean boot(AlkKvmProbe *p, GError **error)
{
	AlkManager *m = p->m;
	AlkSlot slot = {.m = m, .sb = p->sb};

	if (access("/dev/kvm", R_OK | W_OK) < 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_UNAVAILABLE, "no usable /dev/kvm");
		return FALSE;
	}
	p->image = alk_image_load(m->config->image_dir, m->config->default_image, error);
	if (p->image == NULL || !alk_slot_prepare_dirs(&slot, error))
		return FALSE;
	alk_overlay_create_async(p->image->rootfs, p->sb->overlay, p->image->rootfs_virtual_mib,
	                         NULL, overlay_made, p);
	return TRUE;
}

void alk_manager_probe_kvm_start(AlkManager *m, AlkKvmProbeDone done)
{
	g_auto(AlkKvmHost) host = {0};
	g_autoptr(GError) error = NULL;
	g_autofree char *reason = NULL;
	gboolean usable = FALSE;
	AlkKvmProbe *p;

	/* libvirt answers at once now; later a destroy may hold it for seconds */
	if (host_key(m, &host, &error) && recall(m, &host, &usable, &reason)) {
		done(m, ALK_KVM_PROBE_CACHED, usable, reason);
		return;
	}
	if (error != NULL) {
		g_message("KVM probe: cannot tell whether it ran before here: %s", error->message);
		alk_kvm_host_clear(&host);
	}
	g_clear_error(&error);
	p = probe_new(m, done);
	p->host = host;
	host = (AlkKvmHost){0};
	if (!boot(p, &error)) {
		alk_slot_remove_files(m, p->sb->id);
		done(m, ALK_KVM_PROBE_SKIPPED, FALSE, error->message);
		probe_free(p);
		return;
	}
	g_message("KVM probe: booting %s under KVM (up to %u s)", p->sb->domain,
	          m->config->kvm_probe_timeout_s);
	m->probe = p;
}

void alk_manager_probe_kvm_abandon(AlkManager *m)
{
	AlkKvmProbe *p = g_steal_pointer(&m->probe);

	if (p == NULL)
		return;
	/* a daemon stopping mid-probe: its domain goes now (the loop will not
	 * run again); p finishes quietly if a callback still comes */
	if (m->virt_ops->is_connected(m->virt_ctx))
		m->virt_ops->destroy_sync(m->virt_ctx, p->sb->domain, NULL);
	alk_slot_remove_files(m, p->sb->id);
	if (p->ch != NULL) {
		/* only the channel (and its idle) is pending: both go with p */
		probe_free(p);
		return;
	}
	p->m = NULL; /* a libvirt or qemu-img call is in flight: it frees p */
}
