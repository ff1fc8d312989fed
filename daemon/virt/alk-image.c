/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alk-error.h"
#include "alk-name.h"
#include "alk-json.h"

#define QCOW2_MAGIC "QFI\xfb"
#define QCOW2_V2_LEN 72
#define QCOW2_V3_LEN 104
/* qcow2 v3 incompatible feature bits QEMU honours and we refuse. */
#define QCOW2_INCOMPAT_CORRUPT (G_GUINT64_CONSTANT(1) << 1)
#define QCOW2_INCOMPAT_DATA_FILE (G_GUINT64_CONSTANT(1) << 2)

static void fd_cleanup(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
#define AUTO_FD __attribute__((cleanup(fd_cleanup))) int

/* image.json as airlock-image writes it. */
typedef struct {
	char *kind;
	char *suite;
	char **packages;
	char *flavour;
	char *reference;
	char *digest;
} AlkSourceJson;

typedef struct {
	char **env;
	char *cwd;
	char *user;
	char **argv;
} AlkExecJson;

typedef struct {
	gint64 format_version;
	char *name;
	char *arch;
	char *kernel;
	char *initrd;
	char *rootfs;
	guint64 rootfs_virtual_mib;
	char *cmdline;
	char *kernel_version;
	char *agent_version;
	char *agent_sha256;
	char *built_at;
	char *build_stamp;
	char *build_id;
	char *default_user;
	JsonObject *source; /* borrowed */
	JsonObject *exec;   /* borrowed */
	AlkSourceJson src;  /* read from source and exec */
	AlkExecJson ex;
} AlkImageJson;

#define J(member) G_STRUCT_OFFSET(AlkImageJson, member)
static const AlkJsonField image_fields[] = {
    {"format_version", ALK_JSON_INT, J(format_version), TRUE, 2, 2, 0},
    {"name", ALK_JSON_STRING, J(name), TRUE, 1, ALK_IMAGE_NAME_MAX, 0},
    {"arch", ALK_JSON_STRING, J(arch), TRUE, 1, 32, 0},
    {"kernel", ALK_JSON_STRING, J(kernel), TRUE, 1, 255, 0},
    {"initrd", ALK_JSON_STRING, J(initrd), TRUE, 1, 255, 0},
    {"rootfs", ALK_JSON_STRING, J(rootfs), TRUE, 1, 255, 0},
    {"rootfs_virtual_mib", ALK_JSON_UINT, J(rootfs_virtual_mib), TRUE, 1, 16777216, 0},
    /* x86 COMMAND_LINE_SIZE is 2048 with its NUL. */
    {"cmdline", ALK_JSON_STRING, J(cmdline), TRUE, 0, 2047, 0},
    {"kernel_version", ALK_JSON_STRING, J(kernel_version), TRUE, 1, 128, 0},
    {"agent_version", ALK_JSON_STRING, J(agent_version), TRUE, 1, 64, 0},
    {"agent_sha256", ALK_JSON_STRING, J(agent_sha256), TRUE, 64, 64, 0},
    {"built_at", ALK_JSON_STRING, J(built_at), TRUE, 1, 64, 0},
    {"build_stamp", ALK_JSON_STRING, J(build_stamp), FALSE, 1, 128, 0},
    {"build_id", ALK_JSON_STRING, J(build_id), TRUE, 1, 64, 0},
    {"default_user", ALK_JSON_STRING, J(default_user), FALSE, 1, 32, 0},
    {"source", ALK_JSON_OBJECT, J(source), TRUE, 0, 0, 0},
    {"exec", ALK_JSON_OBJECT, J(exec), FALSE, 0, 0, 0},
    {NULL, 0, 0, FALSE, 0, 0, 0},
};
#undef J

#define S(member) G_STRUCT_OFFSET(AlkSourceJson, member)
static const AlkJsonField source_fields[] = {
    {"kind", ALK_JSON_STRING, S(kind), TRUE, 1, 16, 0},
    {"suite", ALK_JSON_STRING, S(suite), FALSE, 1, 64, 0},
    {"packages", ALK_JSON_STRING_ARRAY, S(packages), FALSE, 0, 1024, 128},
    {"flavour", ALK_JSON_STRING, S(flavour), FALSE, 1, 32, 0},
    {"reference", ALK_JSON_STRING, S(reference), FALSE, 1, 4096, 0},
    {"digest", ALK_JSON_STRING, S(digest), FALSE, 71, 71, 0},
    {NULL, 0, 0, FALSE, 0, 0, 0},
};
#undef S

#define E(member) G_STRUCT_OFFSET(AlkExecJson, member)
static const AlkJsonField exec_fields[] = {
    {"env", ALK_JSON_STRING_ARRAY, E(env), FALSE, 0, 1024, 32768},
    {"cwd", ALK_JSON_STRING, E(cwd), FALSE, 1, 4096, 0},
    {"user", ALK_JSON_STRING, E(user), FALSE, 1, 256, 0},
    {"argv", ALK_JSON_STRING_ARRAY, E(argv), FALSE, 0, 1024, 32768},
    {NULL, 0, 0, FALSE, 0, 0, 0},
};
#undef E

void alk_image_free(AlkImage *image)
{
	if (image == NULL)
		return;
	g_free(image->name);
	g_free(image->error);
	g_free(image->dir);
	g_free(image->kernel);
	g_free(image->initrd);
	g_free(image->rootfs);
	g_free(image->arch);
	g_free(image->cmdline);
	g_free(image->kernel_version);
	g_free(image->agent_version);
	g_free(image->agent_sha256);
	g_free(image->built_at);
	g_free(image->build_stamp);
	g_free(image->build_id);
	g_free(image->default_user);
	g_free(image->source_kind);
	g_free(image->source_suite);
	g_free(image->source_flavour);
	g_strfreev(image->source_packages);
	g_free(image->source_reference);
	g_free(image->source_digest);
	g_strfreev(image->exec_env);
	g_free(image->exec_cwd);
	g_free(image->exec_user);
	g_strfreev(image->exec_argv);
	if (image->rootfs_fd >= 0)
		close(image->rootfs_fd);
	g_free(image);
}

gboolean alk_image_name_is_valid(const char *name)
{
	return alk_name_is_valid(name, ALK_IMAGE_NAME_MAX);
}

gboolean alk_image_build_id_is_valid(const char *id)
{
	/* D: a digit, H: a lowercase hex digit, anything else: itself */
	static const char shape[] = "DDDDDDDDTDDDDDDZ-HHHHHHHH";

	if (id == NULL || strlen(id) != sizeof shape - 1)
		return FALSE;
	for (gsize i = 0; shape[i] != '\0'; i++) {
		char c = id[i];
		gboolean ok = shape[i] == 'D'   ? g_ascii_isdigit(c)
		              : shape[i] == 'H' ? g_ascii_isdigit(c) || (c >= 'a' && c <= 'f')
		                                : c == shape[i];
		if (!ok)
			return FALSE;
	}
	return TRUE;
}

G_GNUC_PRINTF(5, 6)
static gboolean image_error(GError **error, gint code, const char *name, const char *file,
                            const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	g_autofree char *msg = g_strdup_vprintf(fmt, args);
	va_end(args);
	if (file != NULL)
		g_set_error(error, ALK_ERROR, code, "image '%s': %s: %s", name, file, msg);
	else
		g_set_error(error, ALK_ERROR, code, "image '%s': %s", name, msg);
	return FALSE;
}

/* ---- files ---------------------------------------------------------------------------------- */

/* Regular, owned by owner, no write bit of those in forbidden. */
static gboolean check_stat(const struct stat *st, const char *name, const char *file, uid_t owner,
                           mode_t forbidden, GError **error)
{
	if (!S_ISREG(st->st_mode))
		return image_error(error, ALK_ERROR_INVALID, name, file, "not a regular file");
	if (st->st_uid != owner)
		return image_error(error, ALK_ERROR_INVALID, name, file,
		                   "owned by uid %u, must be owned by uid %u", (guint)st->st_uid,
		                   (guint)owner);
	if ((st->st_mode & forbidden) != 0)
		return image_error(error, ALK_ERROR_INVALID, name, file,
		                   "mode %04o is writable by %s", (guint)(st->st_mode & 07777),
		                   forbidden == 0222 ? "someone (the base must be read-only, 0444)"
		                                     : "group or others");
	return TRUE;
}

/* Opens file inside the image directory without following a symlink. O_NONBLOCK
 * so that a FIFO planted there cannot hang the daemon before fstat rejects it. */
static int open_checked(int dfd, const char *name, const char *file, uid_t owner, mode_t forbidden,
                        GError **error)
{
	AUTO_FD fd = openat(dfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;

	if (fd < 0) {
		int saved = errno;
		gboolean bad = saved == ENOENT || saved == ELOOP;
		image_error(error, bad ? ALK_ERROR_INVALID : ALK_ERROR_IO, name, file, "%s",
		            saved == ELOOP ? "is a symlink" : g_strerror(saved));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		image_error(error, ALK_ERROR_IO, name, file, "%s", g_strerror(errno));
		return -1;
	}
	if (!check_stat(&st, name, file, owner, forbidden, error))
		return -1;
	int out = fd;
	fd = -1;
	return out;
}

static gboolean read_all(int fd, guint8 *buf, gsize len, gsize *got)
{
	gsize done = 0;

	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return FALSE;
		if (n == 0)
			break;
		done += (gsize)n;
	}
	*got = done;
	return TRUE;
}

static gboolean check_plain_file(int dfd, const char *name, const char *file, uid_t owner,
                                 GError **error)
{
	AUTO_FD fd = open_checked(dfd, name, file, owner, 022, error);

	return fd >= 0;
}

/* ---- qcow2 base ----------------------------------------------------------------------------- */

static gboolean check_qcow2_header(const guint8 *h, gsize len, const char *name, const char *file,
                                   guint64 virtual_mib, GError **error)
{
	guint32 version = 0;
	guint64 backing = 0;
	guint64 size = 0;

	if (len < QCOW2_V2_LEN || memcmp(h, QCOW2_MAGIC, 4) != 0)
		return image_error(error, ALK_ERROR_INVALID, name, file, "not a qcow2 image");
	memcpy(&version, h + 4, 4);
	memcpy(&backing, h + 8, 8);
	memcpy(&size, h + 24, 8);
	version = GUINT32_FROM_BE(version);
	if (version != 2 && version != 3)
		return image_error(error, ALK_ERROR_INVALID, name, file,
		                   "unsupported qcow2 version %u", version);
	if (GUINT64_FROM_BE(backing) != 0)
		return image_error(error, ALK_ERROR_INVALID, name, file,
		                   "has a backing file of its own; a base must stand alone");
	if (GUINT64_FROM_BE(size) != virtual_mib * 1024 * 1024)
		return image_error(error, ALK_ERROR_INVALID, name, file,
		                   "virtual size %" G_GUINT64_FORMAT
		                   " bytes does not match rootfs_virtual_mib %" G_GUINT64_FORMAT,
		                   GUINT64_FROM_BE(size), virtual_mib);
	return TRUE;
}

/* v3 only: an external data file would make QEMU open a second, unchecked path. */
static gboolean check_qcow2_features(const guint8 *h, gsize len, const char *name, const char *file,
                                     GError **error)
{
	guint32 version = 0;
	guint64 incompat = 0;

	memcpy(&version, h + 4, 4);
	if (GUINT32_FROM_BE(version) < 3)
		return TRUE;
	if (len < QCOW2_V3_LEN)
		return image_error(error, ALK_ERROR_INVALID, name, file,
		                   "truncated qcow2 v3 header");
	memcpy(&incompat, h + 72, 8);
	incompat = GUINT64_FROM_BE(incompat);
	if ((incompat & QCOW2_INCOMPAT_DATA_FILE) != 0)
		return image_error(error, ALK_ERROR_INVALID, name, file,
		                   "uses an external data file; a base must stand alone");
	if ((incompat & QCOW2_INCOMPAT_CORRUPT) != 0)
		return image_error(error, ALK_ERROR_INVALID, name, file, "is marked corrupt");
	return TRUE;
}

/* The checked base, open (its descriptor is the caller's), or -1. */
static int open_rootfs(int dfd, const char *name, const char *file, uid_t owner,
                       guint64 virtual_mib, GError **error)
{
	AUTO_FD fd = open_checked(dfd, name, file, owner, 0222, error);
	guint8 header[QCOW2_V3_LEN];
	gsize got = 0;

	if (fd < 0)
		return -1;
	if (!read_all(fd, header, sizeof header, &got)) {
		image_error(error, ALK_ERROR_IO, name, file, "%s", g_strerror(errno));
		return -1;
	}
	if (!check_qcow2_header(header, got, name, file, virtual_mib, error) ||
	    !check_qcow2_features(header, got, name, file, error))
		return -1;
	int out = fd;
	fd = -1;
	return out;
}

/* ---- image.json ----------------------------------------------------------------------------- */

static JsonObject *read_json(int dfd, const char *name, uid_t owner, GError **error)
{
	AUTO_FD fd = open_checked(dfd, name, "image.json", owner, 022, error);
	g_autofree guint8 *buf = g_malloc(ALK_IMAGE_JSON_MAX + 1);
	gsize got = 0;

	if (fd < 0)
		return NULL;
	if (!read_all(fd, buf, ALK_IMAGE_JSON_MAX + 1, &got)) {
		image_error(error, ALK_ERROR_IO, name, "image.json", "%s", g_strerror(errno));
		return NULL;
	}
	JsonObject *obj =
	    alk_json_parse_object((const char *)buf, got, ALK_IMAGE_JSON_MAX, 8, error);
	if (obj == NULL)
		g_prefix_error(error, "image '%s': image.json: ", name);
	return obj;
}

/* A file named in image.json must be a plain name inside the image directory. */
static gboolean check_file_name(const char *name, const char *field, const char *file,
                                GError **error)
{
	if (strchr(file, '/') != NULL || g_strcmp0(file, ".") == 0 || g_strcmp0(file, "..") == 0 ||
	    g_strcmp0(file, "image.json") == 0)
		return image_error(error, ALK_ERROR_INVALID, name, "image.json",
		                   "field '%s' must be a plain file name in the image directory",
		                   field);
	for (const char *p = file; *p != '\0'; p++) {
		if ((guchar)*p < 0x20)
			return image_error(error, ALK_ERROR_INVALID, name, "image.json",
			                   "field '%s' contains a control character", field);
	}
	return TRUE;
}

static gboolean is_hex_sha256(const char *s)
{
	for (gsize i = 0; i < 64; i++) {
		if (!g_ascii_isdigit(s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return FALSE;
	}
	return s[64] == '\0';
}

static gboolean check_source(const AlkSourceJson *src, const char *name, GError **error)
{
	const char *kind = src->kind;

	if (g_strcmp0(kind, "minimal") != 0 && g_strcmp0(kind, "debian") != 0 &&
	    g_strcmp0(kind, "oci") != 0)
		return image_error(error, ALK_ERROR_INVALID, name, "image.json",
		                   "field 'source.kind' must be minimal, debian or oci");
	if (g_strcmp0(kind, "debian") == 0 && src->suite == NULL)
		return image_error(error, ALK_ERROR_INVALID, name, "image.json",
		                   "a debian source needs 'source.suite'");
	if (g_strcmp0(kind, "oci") == 0 &&
	    (src->reference == NULL || src->digest == NULL ||
	     !g_str_has_prefix(src->digest, "sha256:") || !is_hex_sha256(src->digest + 7)))
		return image_error(error, ALK_ERROR_INVALID, name, "image.json",
		                   "an oci source needs 'source.reference' and a "
		                   "'source.digest' sha256:<64 hex>");
	return TRUE;
}

static gboolean check_json(const AlkImageJson *j, const char *name, const char *build_id,
                           GError **error)
{
	if (g_strcmp0(j->name, name) != 0)
		return image_error(error, ALK_ERROR_INVALID, name, "image.json",
		                   "field 'name' does not match the directory name");
	if (g_strcmp0(j->build_id, build_id) != 0)
		return image_error(error, ALK_ERROR_INVALID, name, "image.json",
		                   "field 'build_id' does not match the build directory");
	if (j->default_user != NULL && !alk_name_is_valid(j->default_user, 32))
		return image_error(error, ALK_ERROR_INVALID, name, "image.json",
		                   "field 'default_user' must be [a-z0-9_-]{1,32}");
	if (!check_source(&j->src, name, error))
		return FALSE;
	if (g_strcmp0(j->arch, "x86_64") != 0)
		return image_error(error, ALK_ERROR_INVALID, name, "image.json",
		                   "field 'arch': only x86_64 is supported");
	if (!is_hex_sha256(j->agent_sha256))
		return image_error(error, ALK_ERROR_INVALID, name, "image.json",
		                   "field 'agent_sha256' must be 64 lowercase hex digits");
	for (const char *p = j->cmdline; *p != '\0'; p++) {
		if ((guchar)*p < 0x20 || *p == 0x7f)
			return image_error(error, ALK_ERROR_INVALID, name, "image.json",
			                   "field 'cmdline' contains a control character");
	}
	return check_file_name(name, "kernel", j->kernel, error) &&
	       check_file_name(name, "initrd", j->initrd, error) &&
	       check_file_name(name, "rootfs", j->rootfs, error);
}

static void image_json_clear(AlkImageJson *j)
{
	alk_json_fields_clear(source_fields, &j->src);
	alk_json_fields_clear(exec_fields, &j->ex);
	alk_json_fields_clear(image_fields, j);
}

/* The nested objects are borrowed from obj: read them while it lives. */
static gboolean read_fields(JsonObject *obj, AlkImageJson *j, GError **error)
{
	if (!alk_json_read_object(obj, image_fields, j, error))
		return FALSE;
	if (!alk_json_read_object(j->source, source_fields, &j->src, error)) {
		g_prefix_error(error, "source: ");
		return FALSE;
	}
	if (j->exec != NULL && !alk_json_read_object(j->exec, exec_fields, &j->ex, error)) {
		g_prefix_error(error, "exec: ");
		return FALSE;
	}
	j->source = NULL;
	j->exec = NULL;
	return TRUE;
}

static gboolean read_image_json(int dfd, const char *name, const char *build_id, uid_t owner,
                                AlkImageJson *out, GError **error)
{
	g_autoptr(JsonObject) obj = read_json(dfd, name, owner, error);
	AlkImageJson j;

	memset(&j, 0, sizeof j);
	if (obj == NULL)
		return FALSE;
	if (!read_fields(obj, &j, error)) {
		image_json_clear(&j);
		g_prefix_error(error, "image '%s': image.json: ", name);
		return FALSE;
	}
	if (!check_json(&j, name, build_id, error)) {
		image_json_clear(&j);
		return FALSE;
	}
	*out = j;
	return TRUE;
}

/* ---- loading -------------------------------------------------------------------------------- */

/* dir (shown in errors) opened as path relative to at, never through a symlink.
 * Only a missing image (at AT_FDCWD) is NOT_FOUND: a missing part of one is INVALID. */
static int open_dir_checked(int at, const char *path, const char *dir, const char *name,
                            uid_t owner, GError **error)
{
	AUTO_FD fd = openat(at, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;

	if (fd < 0 && errno == ENOENT && at == AT_FDCWD) {
		image_error(error, ALK_ERROR_NOT_FOUND, name, NULL, "no such image in %s", dir);
		return -1;
	}
	if (fd < 0 && errno == ENOENT) {
		image_error(error, ALK_ERROR_INVALID, name, NULL, "%s: %s", dir, g_strerror(errno));
		return -1;
	}
	if (fd < 0 && (errno == ENOTDIR || errno == ELOOP)) {
		image_error(error, ALK_ERROR_INVALID, name, NULL,
		            "%s is not a directory (symlinks are not followed)", dir);
		return -1;
	}
	if (fd < 0) {
		image_error(error, ALK_ERROR_IO, name, NULL, "%s: %s", dir, g_strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || st.st_uid != owner || (st.st_mode & 022) != 0) {
		image_error(error, ALK_ERROR_INVALID, name, NULL,
		            "%s must be owned by uid %u and not writable by group or others", dir,
		            (guint)owner);
		return -1;
	}
	int out = fd;
	fd = -1;
	return out;
}

static AlkImage *image_new(const char *dir, const char *name, AlkImageJson *j)
{
	AlkImage *image = g_new0(AlkImage, 1);

	image->rootfs_fd = -1;
	image->name = g_strdup(name);
	image->dir = g_strdup(dir);
	image->kernel = g_build_filename(dir, j->kernel, NULL);
	image->initrd = g_build_filename(dir, j->initrd, NULL);
	image->rootfs = g_build_filename(dir, j->rootfs, NULL);
	image->rootfs_virtual_mib = j->rootfs_virtual_mib;
	image->arch = g_steal_pointer(&j->arch);
	image->cmdline = g_steal_pointer(&j->cmdline);
	image->kernel_version = g_steal_pointer(&j->kernel_version);
	image->agent_version = g_steal_pointer(&j->agent_version);
	image->agent_sha256 = g_steal_pointer(&j->agent_sha256);
	image->built_at = g_steal_pointer(&j->built_at);
	image->build_stamp = g_steal_pointer(&j->build_stamp);
	image->build_id = g_steal_pointer(&j->build_id);
	image->default_user = g_steal_pointer(&j->default_user);
	image->source_kind = g_steal_pointer(&j->src.kind);
	image->source_suite = g_steal_pointer(&j->src.suite);
	image->source_packages = g_steal_pointer(&j->src.packages);
	image->source_flavour = g_steal_pointer(&j->src.flavour);
	image->source_reference = g_steal_pointer(&j->src.reference);
	image->source_digest = g_steal_pointer(&j->src.digest);
	image->exec_env = g_steal_pointer(&j->ex.env);
	image->exec_cwd = g_steal_pointer(&j->ex.cwd);
	image->exec_user = g_steal_pointer(&j->ex.user);
	image->exec_argv = g_steal_pointer(&j->ex.argv);
	return image;
}

static AlkImage *load_from_dir(int dfd, const char *dir, const char *name, const char *build_id,
                               uid_t owner, GError **error)
{
	AlkImageJson j;
	AlkImage *image = NULL;
	AUTO_FD rootfs = -1;

	memset(&j, 0, sizeof j);
	if (!read_image_json(dfd, name, build_id, owner, &j, error))
		return NULL;
	if (check_plain_file(dfd, name, j.kernel, owner, error) &&
	    check_plain_file(dfd, name, j.initrd, owner, error) &&
	    (rootfs = open_rootfs(dfd, name, j.rootfs, owner, j.rootfs_virtual_mib, error)) >= 0) {
		image = image_new(dir, name, &j);
		image->rootfs_fd = rootfs;
		rootfs = -1;
	}
	image_json_clear(&j);
	return image;
}

/* The build `current` names: its text must be exactly "builds/<build id>". */
static char *read_current(int dfd, const char *name, GError **error)
{
	char link[128];
	ssize_t n = readlinkat(dfd, "current", link, sizeof link - 1);

	if (n < 0 && errno == ENOENT) {
		image_error(error, ALK_ERROR_INVALID, name, "current",
		            "missing: the image has no finished build");
		return NULL;
	}
	if (n < 0) {
		image_error(error, errno == EINVAL ? ALK_ERROR_INVALID : ALK_ERROR_IO, name,
		            "current", "%s", errno == EINVAL ? "not a symlink" : g_strerror(errno));
		return NULL;
	}
	link[n] = '\0';
	if (!g_str_has_prefix(link, "builds/") ||
	    !alk_image_build_id_is_valid(link + strlen("builds/"))) {
		image_error(error, ALK_ERROR_INVALID, name, "current",
		            "must point to builds/<build id>");
		return NULL;
	}
	return g_strdup(link + strlen("builds/"));
}

/* A collector of old builds (airlock-image, alk_image_builds_sweep()) holds
 * .gc.lock exclusively while it decides; between reading `current` and opening
 * the base we hold it shared, so the build we resolve cannot go meanwhile. The
 * collector holds it for milliseconds: wait a little, then go on without. */
static int lock_shared(int dfd)
{
	int fd = openat(dfd, ".gc.lock", O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	gint64 deadline = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;

	if (fd < 0)
		return -1;
	while (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK &&
	       g_get_monotonic_time() < deadline)
		g_usleep(5000);
	return fd;
}

AlkImage *alk_image_load_owned(const char *image_dir, const char *name, uid_t owner, GError **error)
{
	g_autofree char *dir = NULL;
	g_autofree char *builds = NULL;
	g_autofree char *id = NULL;
	g_autofree char *build = NULL;

	if (!alk_image_name_is_valid(name)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "image name must be [a-z0-9_-]{1,%d}", ALK_IMAGE_NAME_MAX);
		return NULL;
	}
	dir = g_build_filename(image_dir, name, NULL);
	AUTO_FD dfd = open_dir_checked(AT_FDCWD, dir, dir, name, owner, error);
	if (dfd < 0)
		return NULL;
	AUTO_FD lock = lock_shared(dfd);
	id = read_current(dfd, name, error);
	if (id == NULL)
		return NULL;
	builds = g_build_filename(dir, "builds", NULL);
	AUTO_FD bfd = open_dir_checked(dfd, "builds", builds, name, owner, error);
	if (bfd < 0)
		return NULL;
	build = g_build_filename(builds, id, NULL);
	AUTO_FD idfd = open_dir_checked(bfd, id, build, name, owner, error);
	if (idfd < 0)
		return NULL;
	return load_from_dir(idfd, build, name, id, owner, error);
}

AlkImage *alk_image_load(const char *image_dir, const char *name, GError **error)
{
	return alk_image_load_owned(image_dir, name, 0, error);
}

/* ---- scanning ------------------------------------------------------------------------------- */

static AlkImage *broken_image(const char *name, const char *why)
{
	AlkImage *image = g_new0(AlkImage, 1);

	image->rootfs_fd = -1;
	image->name = g_utf8_make_valid(name, -1);
	image->error = g_strdup(why);
	return image;
}

static gint compare_names(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static GPtrArray *list_entries(const char *image_dir, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(GDir) d = g_dir_open(image_dir, 0, &local);
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
	const char *entry = NULL;

	if (d == NULL && !g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "listing images: %s", local->message);
		g_ptr_array_unref(names);
		return NULL;
	}
	while (d != NULL && (entry = g_dir_read_name(d)) != NULL) {
		if (entry[0] != '.')
			g_ptr_array_add(names, g_strdup(entry));
	}
	g_ptr_array_sort(names, compare_names);
	return names;
}

GPtrArray *alk_image_scan_owned(const char *image_dir, uid_t owner, GError **error)
{
	g_autoptr(GPtrArray) names = list_entries(image_dir, error);
	GPtrArray *images = NULL;

	if (names == NULL)
		return NULL;
	images = g_ptr_array_new_with_free_func((GDestroyNotify)alk_image_free);
	for (guint i = 0; i < names->len; i++) {
		const char *name = g_ptr_array_index(names, i);
		g_autoptr(GError) why = NULL;
		AlkImage *image = alk_image_load_owned(image_dir, name, owner, &why);
		g_ptr_array_add(images, image != NULL ? image : broken_image(name, why->message));
	}
	return images;
}

GPtrArray *alk_image_scan(const char *image_dir, GError **error)
{
	return alk_image_scan_owned(image_dir, 0, error);
}
