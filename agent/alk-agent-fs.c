/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * FS_CONFIG: the guest's filesystem layout, once per boot, before the host
 * calls the sandbox ready (docs/protocol.md, 7.7). In this order, so that
 * every mount point can still be made on a writable root:
 *   1. the workspace disk (found by its virtio serial) at /workspace, its
 *      root directory given to the owner;
 *   2. /tmp, /var/tmp and /run as tmpfs of a capped size (an existing
 *      tmpfs there is resized, keeping what it holds);
 *   3. the named volumes (by serial), read-only ones ro,noload;
 *   4. each read-only path bound onto itself and remounted read-only;
 *   5. / remounted read-only.
 * A failure stops there and is answered with ERROR: the host fails the
 * create, so a half-applied layout is never used.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "alk-agent.h"

#define TMPFS_MAGIC_NUMBER 0x01021994

typedef struct {
	const char *path;
	mode_t mode;
} FsTmp;

static const FsTmp fs_tmps[] = {
    {"/tmp", 01777},
    {"/var/tmp", 01777},
    {"/run", 0755},
};

typedef struct {
	char what[512]; /* what failed, for the ERROR's message */
	int errnum;
} FsFail;

static int fs_fail(FsFail *f, int errnum, const char *fmt, const char *arg)
{
	snprintf(f->what, sizeof(f->what), fmt, arg);
	f->errnum = errnum;
	return -1;
}

/* /sys/block/vdX/serial names the disk the host gave that serial. */
static int fs_find_disk(const char *serial, char *dev, size_t n)
{
	DIR *d = opendir("/sys/block");
	struct dirent *e;
	int found = -1;

	if (d == NULL)
		return -1;
	while (found < 0 && (e = readdir(d)) != NULL) {
		char path[300], got[64];

		if (strncmp(e->d_name, "vd", 2) != 0 || strlen(e->d_name) + 6 > n)
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/serial", e->d_name);
		if (alk_read_line(path, got, sizeof(got)) && strcmp(got, serial) == 0) {
			snprintf(dev, n, "/dev/%s", e->d_name);
			found = 0;
		}
	}
	closedir(d);
	return found;
}

static int fs_mkdirs(const char *path, mode_t mode)
{
	char buf[ALK_FS_PATH_MAX + 1];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, mode) < 0 && errno != EEXIST ? -1 : 0;
}

static int fs_owner(const char *owner, uid_t *uid, gid_t *gid, FsFail *f)
{
	static AlkMsgExec m; /* only its user is read */
	static AlkCreds c;
	char err[200];

	*uid = 0;
	*gid = 0;
	if (owner == NULL)
		return 0;
	memset(&m, 0, sizeof(m));
	m.user = owner;
	if (alk_creds_resolve(&m, &c, err, sizeof(err)) < 0)
		return fs_fail(f, 0, "workspace owner: %s", err);
	*uid = c.uid;
	*gid = c.gid;
	return 0;
}

static int fs_workspace(const AlkMsgFsConfig *c, FsFail *f)
{
	char dev[300];
	uid_t uid;
	gid_t gid;

	if (fs_owner(c->owner, &uid, &gid, f) < 0)
		return -1;
	if (fs_find_disk(ALK_FS_WORKSPACE_SERIAL, dev, sizeof(dev)) < 0)
		return fs_fail(f, ENODEV, "no disk with serial %s", ALK_FS_WORKSPACE_SERIAL);
	if (fs_mkdirs(ALK_FS_WORKSPACE_PATH, 0755) < 0)
		return fs_fail(f, errno, "mkdir %s", ALK_FS_WORKSPACE_PATH);
	if (mount(dev, ALK_FS_WORKSPACE_PATH, "ext4", MS_NOSUID | MS_NODEV, NULL) < 0)
		return fs_fail(f, errno, "mounting the workspace %s", dev);
	if (chown(ALK_FS_WORKSPACE_PATH, uid, gid) < 0 || chmod(ALK_FS_WORKSPACE_PATH, 0755) < 0)
		return fs_fail(f, errno, "chown %s", ALK_FS_WORKSPACE_PATH);
	return 0;
}

static int fs_is_tmpfs_mount(const char *path)
{
	struct stat st, up;
	struct statfs sf;
	char parent[ALK_FS_PATH_MAX + 4];

	snprintf(parent, sizeof(parent), "%s/..", path);
	return stat(path, &st) == 0 && stat(parent, &up) == 0 && st.st_dev != up.st_dev &&
	       statfs(path, &sf) == 0 && sf.f_type == TMPFS_MAGIC_NUMBER;
}

static int fs_tmpfs(const FsTmp *t, uint32_t mib, FsFail *f)
{
	char data[64];

	if (fs_mkdirs(t->path, t->mode) < 0)
		return fs_fail(f, errno, "mkdir %s", t->path);
	if (fs_is_tmpfs_mount(t->path)) {
		snprintf(data, sizeof(data), "size=%um", (unsigned)mib);
		if (mount(NULL, t->path, NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV, data) < 0)
			return fs_fail(f, errno, "resizing the tmpfs on %s", t->path);
		return 0;
	}
	snprintf(data, sizeof(data), "size=%um,mode=%o", (unsigned)mib, (unsigned)t->mode);
	if (mount("tmpfs", t->path, "tmpfs", MS_NOSUID | MS_NODEV, data) < 0)
		return fs_fail(f, errno, "mounting a tmpfs on %s", t->path);
	return 0;
}

/* A read-only one with noload: ext4 replays no journal, so not a byte is
 * written; the disk is read-only for QEMU too. A writable one is given to
 * the owner, as the workspace is. */
static int fs_volume(const AlkMsgFsConfig *c, uint32_t i, FsFail *f)
{
	char dev[300], serial[32];
	int ro = (c->volumes_readonly >> i) & 1;
	uid_t uid;
	gid_t gid;

	snprintf(serial, sizeof(serial), ALK_FS_VOLUME_SERIAL, (unsigned)i);
	if (fs_find_disk(serial, dev, sizeof(dev)) < 0)
		return fs_fail(f, ENODEV, "no disk with serial %s", serial);
	if (fs_mkdirs(c->volumes[i], 0755) < 0)
		return fs_fail(f, errno, "mkdir %s", c->volumes[i]);
	if (mount(dev, c->volumes[i], "ext4", MS_NOSUID | MS_NODEV | (ro ? MS_RDONLY : 0),
	          ro ? "noload" : NULL) < 0)
		return fs_fail(f, errno, "mounting a volume on %s", c->volumes[i]);
	if (ro)
		return 0;
	if (fs_owner(c->owner, &uid, &gid, f) < 0)
		return -1;
	if (chown(c->volumes[i], uid, gid) < 0)
		return fs_fail(f, errno, "chown %s", c->volumes[i]);
	return 0;
}

/* mount(2) follows links: a path that is one is bound where it leads. */
static int fs_readonly(const char *path, FsFail *f)
{
	if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
		return fs_fail(f, errno, "binding %s", path);
	if (mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
		return fs_fail(f, errno, "remounting %s read-only", path);
	return 0;
}

static int fs_apply(const AlkMsgFsConfig *c, FsFail *f)
{
	if (c->workspace && fs_workspace(c, f) < 0)
		return -1;
	for (size_t i = 0; c->tmpfs_mib != 0 && i < sizeof(fs_tmps) / sizeof(fs_tmps[0]); i++)
		if (fs_tmpfs(&fs_tmps[i], c->tmpfs_mib, f) < 0)
			return -1;
	for (uint32_t i = 0; i < c->nvolumes; i++)
		if (fs_volume(c, i, f) < 0)
			return -1;
	for (uint32_t i = 0; i < c->nreadonly_paths; i++)
		if (fs_readonly(c->readonly_paths[i], f) < 0)
			return -1;
	/* the one writer of / left is the agent itself, which writes nothing */
	sync();
	if (c->root_readonly && mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0)
		return fs_fail(f, errno, "remounting %s read-only", "/");
	return 0;
}

/* Once per boot: the layout cannot be undone, so a second one (from a
 * host that lost track) is refused rather than half-applied over the first. */
void alk_fs_config(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m)
{
	FsFail f = {{0}, 0};

	if (!alk_msg_claim_id(a, h))
		return;
	if (a->fs_configured) {
		alk_send_error(a, h->id, ALK_ERR_BAD_REQUEST, 0,
		               "the filesystem is already set up for this boot");
		return;
	}
	a->fs_configured = true;
	/* --port or --fd: a test on a host, whose mounts are not ours to change */
	if (a->port.mode != ALK_PORT_DISCOVER) {
		alk_log("FS_CONFIG: not on a guest's virtio port: nothing mounted");
		alk_send_ack(a, ALK_MSG_OK, h->id, 0);
		return;
	}
	if (fs_apply(&m->fs, &f) < 0) {
		alk_log("FS_CONFIG: %s: %s", f.what, f.errnum ? strerror(f.errnum) : "failed");
		if (f.errnum != 0)
			alk_send_errno(a, h->id, f.errnum, f.what);
		else
			alk_send_error(a, h->id, ALK_ERR_BAD_REQUEST, 0, "%s", f.what);
		return;
	}
	alk_send_ack(a, ALK_MSG_OK, h->id, 0);
}
