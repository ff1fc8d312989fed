/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Guest images, as airlock-image (images/) builds them:
 *
 *   image_dir/<name>/current            symlink, exactly "builds/<build id>"
 *   image_dir/<name>/builds/<build id>/ image.json, a kernel, an initramfs and
 *                                       a qcow2 base; never changed once there
 *
 * A build id is YYYYMMDDTHHMMSSZ-<8 hex>. Loading an image resolves `current`
 * once and hands out the build directory's own paths, so a sandbox keeps the
 * build it booted from when a new build replaces `current`.
 *
 * Every sandbox's overlay is backed by the base, so the base must be something
 * nobody but root can change and must not itself point at another file: a
 * backing file or an external data file in its header would make QEMU open a
 * path of the image author's choosing. Loading an image checks all of that, on
 * the open file descriptors (no check-then-use race, no symlinks). */
#pragma once

#include <glib.h>
#include <sys/types.h>

#define ALK_IMAGE_JSON_MAX (64 * 1024)

typedef struct {
	char *name;
	char *error; /* set only in alk_image_scan() results: why the image is unusable;
	              * then only name is reliable */
	char *dir;   /* absolute paths */
	char *kernel;
	char *initrd;
	char *rootfs;
	guint64 rootfs_virtual_mib;
	char *arch;
	char *cmdline;
	char *kernel_version;
	char *agent_version;
	char *agent_sha256;
	char *built_at;
	char *build_stamp; /* NULL if absent */
	char *build_id;
	char *default_user;     /* NULL: root */
	char *source_kind;      /* "minimal", "debian" or "oci" */
	char *source_suite;     /* debian */
	char **source_packages; /* debian: the extra packages asked for */
	char *source_flavour;   /* debian: the recipe built on it ("desktop"), or NULL */
	char *source_reference; /* oci: what was imported */
	char *source_digest;    /* oci: its manifest digest */
	char **exec_env;        /* exec defaults recorded from an OCI config ("K=V"); */
	char *exec_cwd;         /* NULL when the image has none. Recorded, not yet */
	char *exec_user;        /* applied to execs. */
	char **exec_argv;       /* Entrypoint + Cmd */
	int rootfs_fd;          /* alk_image_load(): the base, held open while the image lives so
	                         * that the build counts as in use (alk_image_build_holders()) */
} AlkImage;

void alk_image_free(AlkImage *image);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkImage, alk_image_free)

/* TRUE if name is an image name: [a-z0-9_-]{1,32}. */
gboolean alk_image_name_is_valid(const char *name);

/* TRUE if id is a build id: [0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}. */
gboolean alk_image_build_id_is_valid(const char *id);

/* Loads and checks image_dir/name (its current build). Errors name the image and the file:
 * ALK_ERROR_NOT_FOUND if there is no such image, ALK_ERROR_INVALID if it
 * is unsafe or malformed, ALK_ERROR_IO for other failures. */
AlkImage *alk_image_load(const char *image_dir, const char *name, GError **error);

/* alk_image_load() with the owner the files must have (tests run unprivileged
 * or fake a foreign owner); alk_image_load() requires root (0). */
AlkImage *alk_image_load_owned(const char *image_dir, const char *name, uid_t owner,
                               GError **error);

/* Every image under image_dir, sorted by name, each an AlkImage *; a broken one
 * is included with only name and error set, so GET /v1/images can say why.
 * Entries starting with '.' (the builder's work directories) are skipped. A
 * missing image_dir gives an empty array; other failures to list it an error. */
GPtrArray *alk_image_scan(const char *image_dir, GError **error);
GPtrArray *alk_image_scan_owned(const char *image_dir, uid_t owner, GError **error);
