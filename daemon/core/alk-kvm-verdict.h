/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the KVM probe found on this host, remembered across restarts: a
 * small key file under the state dir, valid only for the exact host it was
 * made on (kernel release, CPU model, QEMU and libvirt versions). Pure: the
 * caller reads and writes the file. */
#pragma once

#include <glib.h>

/* The file's name under the state dir. */
#define ALK_KVM_VERDICT_FILE "kvm-probe"

typedef struct {
	char *kernel;  /* uname -r */
	char *cpu;     /* /proc/cpuinfo "model name" */
	char *qemu;    /* libvirt's hypervisor version (QEMU's) */
	char *libvirt; /* libvirt's library version */
} AlkKvmHost;

void alk_kvm_host_clear(AlkKvmHost *host);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AlkKvmHost, alk_kvm_host_clear)

/* The CPU's model name out of /proc/cpuinfo's text ("unknown" if none). */
char *alk_kvm_cpu_model(const char *cpuinfo);

/* The file's text for this host: usable is whether KVM guests boot here,
 * reason says why not (NULL when usable). */
char *alk_kvm_verdict_format(const AlkKvmHost *host, gboolean usable, const char *reason);

/* TRUE and *usable set (and *reason, when not usable and asked for) when
 * text is a verdict for exactly this host; FALSE for anything else (garbage,
 * another host, another version of anything in the key), with error saying
 * which. */
gboolean alk_kvm_verdict_parse(const char *text, const AlkKvmHost *host, gboolean *usable,
                               char **reason, GError **error);
