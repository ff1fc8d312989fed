/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What can be created from: core's view of the images virt finds, so that
 * the REST layer lists them without reaching into virt. */
#pragma once

#include <glib.h>

typedef struct {
	char *name;
	char *error; /* why the image is unusable; then only name is set */
	char *kernel_version;
	char *agent_version;
	guint64 rootfs_virtual_mib;
	guint64 rootfs_bytes; /* the base's size on disk */
	char *built_at;
	char *build_id;
	char *default_user; /* NULL: root */
	char *source_kind;  /* minimal, debian, oci */
	char *source_suite;
	char **source_packages;
	char *source_flavour; /* debian: "desktop", or NULL */
	char *source_reference;
	char *source_digest;
	char **exec_env; /* recorded exec defaults (OCI); NULL when absent */
	char *exec_cwd;
	char *exec_user;
	char **exec_argv;
} AlkImageInfo;

void alk_image_info_free(AlkImageInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkImageInfo, alk_image_info_free)

/* Every image under image_dir (alk_image_scan()), sorted by name, each an
 * AlkImageInfo *; a broken one has only name and error. A missing image_dir
 * gives an empty array; other failures to list it an error. */
GPtrArray *alk_image_list(const char *image_dir, GError **error);
