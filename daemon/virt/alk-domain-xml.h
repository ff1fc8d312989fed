/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Renders a sandbox's libvirt domain XML from xml-templates/domain.xml.
 * Pure: no libvirt calls, no I/O but reading the template. */
#pragma once

#include <glib.h>

#define ALK_DOMAIN_VOLUMES_MAX 8

typedef struct {
	const char *name;       /* airlock-<id> */
	const char *virt_type;  /* "qemu" or "kvm" */
	guint vcpus;            /* 1..64 */
	guint64 memory_mib;     /* 16..1048576 */
	guint64 hard_limit_mib; /* memtune hard_limit, >= memory_mib; 0: none */
	guint cpu_quota_pct;    /* share of a host CPU each vcpu may use, 1..100; 0: none */
	guint64 io_bytes_sec;   /* 0: unlimited */
	guint64 io_iops;        /* 0: unlimited */
	const char *kernel;     /* absolute paths */
	const char *initrd;
	const char *cmdline;
	const char *overlay;
	const char *base;
	const char *frozen; /* a restored clone: its template's frozen layer, on base; else NULL */
	const char *console_log;
	const char *agent_socket;
	const char *record; /* the sandbox record (JSON text) for <metadata> */
	guint qemu_uid;     /* QEMU runs as this user and group: never root */
	guint qemu_gid;
	const char *tap;     /* the NIC's tap device; NULL: no NIC at all */
	const char *mac;     /* its MAC, "52:54:00:xx:xx:xx" */
	guint display_width; /* a GPU with this mode, a tablet and a keyboard; 0: none */
	guint display_height;
	const char *workspace;      /* a second disk, this overlay; NULL: none */
	const char *workspace_base; /* its base */
	/* named volumes: vdc, vdd, …, serial alk-vol<i> (ALK_FS_VOLUME_SERIAL) */
	const char *volumes[ALK_DOMAIN_VOLUMES_MAX];
	gboolean volume_readonly[ALK_DOMAIN_VOLUMES_MAX];
	guint nvolumes;
} AlkDomainSpec;

#define ALK_CPU_PERIOD_US 100000

/* Checks the spec, then fills the template. The template path is read from
 * template_dir/domain.xml. Returns the XML or NULL with ALK_ERROR_INVALID. */
char *alk_domain_xml_render(const char *template_dir, const AlkDomainSpec *spec, GError **error);

/* Fills {{key}} placeholders of tmpl from vars (key -> raw value); every
 * value is XML-escaped, but for keys starting with "xml:", which hold
 * fragments rendered from other templates. An unknown or unterminated
 * placeholder is an error. */
char *alk_template_fill(const char *tmpl, GHashTable *vars, GError **error);
