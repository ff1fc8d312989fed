/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Who an exec runs as (EXEC's user, no_new_privs, drop_caps). The name is
 * resolved in the agent, from the guest's /etc/passwd and /etc/group,
 * before the vfork: getpwnam allocates and reads files, which the child,
 * sharing the agent's memory, must not do. The child then only makes raw
 * system calls (libc's setuid() would run its all-threads machinery in
 * memory it shares with the agent).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "alk-agent.h"

/* capset(2)'s structures (musl ships no kernel headers): version 3, two
 * 32-bit words per set */
#define CAPS_VERSION_3 0x20080522
typedef struct {
	uint32_t version;
	int pid;
} CapsHeader;
typedef struct {
	uint32_t effective, permitted, inheritable;
} CapsData;
/* capability numbers go up to 40 today; the kernel says EINVAL past its last */
#define CAPS_MAX 64

#define ROOT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define USER_PATH "PATH=/usr/local/bin:/usr/bin:/bin"

static int parse_id(const char *s, size_t n, unsigned long *out)
{
	char buf[16];
	char *end;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	*out = strtoul(buf, &end, 10);
	return errno == 0 && *end == '\0' && *out < 0xffffffffUL ? 0 : -1;
}

/* The environment: HOME, USER, LOGNAME and PATH for the user, then the
 * request's entries, a key of the request replacing ours. */
static void creds_env(AlkCreds *c, const AlkMsgExec *m, const char *home, const char *name)
{
	uint32_t n = 0;
	const char *path = c->uid == 0 ? ROOT_PATH : USER_PATH;

	snprintf(c->env_home, sizeof(c->env_home), "HOME=%s", home);
	snprintf(c->env_user, sizeof(c->env_user), "USER=%s", name);
	snprintf(c->env_logname, sizeof(c->env_logname), "LOGNAME=%s", name);
	const char *ours[] = {c->env_home, c->env_user, c->env_logname, path};
	for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++) {
		size_t klen = strchr(ours[i], '=') - ours[i] + 1;
		int given = 0;
		for (uint32_t j = 0; j < m->envc && !given; j++)
			given = strncmp(m->env[j], ours[i], klen) == 0;
		if (!given)
			c->envp[n++] = ours[i];
	}
	for (uint32_t j = 0; j < m->envc; j++)
		c->envp[n++] = m->env[j];
	c->envp[n] = NULL;
}

int alk_creds_resolve(const AlkMsgExec *m, AlkCreds *c, char *err, size_t errlen)
{
	const char *user = m->user;
	const struct passwd *pw = NULL;
	unsigned long uid = 0, gid = 0;
	char name[ALK_PROTO_USER_MAX + 1];
	const char *home;

	memset(c, 0, sizeof(*c));
	c->no_new_privs = m->no_new_privs;
	c->drop_caps = m->drop_caps;
	if (user == NULL && m->forbid_root) {
		snprintf(err, errlen, "no user given, and root is not allowed");
		return -1;
	}
	if (user == NULL) {
		/* root, as ever: its environment and cwd as before */
		c->envp_given = 0;
		return 0;
	}
	c->set_ids = 1;
	const char *colon = strchr(user, ':');
	if (user[0] >= '0' && user[0] <= '9') {
		if (parse_id(user, colon ? (size_t)(colon - user) : strlen(user), &uid) < 0 ||
		    (colon && parse_id(colon + 1, strlen(colon + 1), &gid) < 0)) {
			snprintf(err, errlen, "user %s: not a uid[:gid]", user);
			return -1;
		}
		pw = getpwuid((uid_t)uid);
		if (!colon)
			gid = pw ? pw->pw_gid : uid;
	} else {
		pw = getpwnam(user);
		if (pw == NULL) {
			snprintf(err, errlen, "user %s: no such user in the guest's /etc/passwd",
			         user);
			return -1;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	c->uid = (uid_t)uid;
	c->gid = (gid_t)gid;
	/* a name the guest maps to uid 0 is root all the same */
	if (m->forbid_root && c->uid == 0) {
		snprintf(err, errlen,
		         "user %s is root (uid 0) in the guest, and root is not allowed", user);
		return -1;
	}
	snprintf(name, sizeof(name), "%s", pw ? pw->pw_name : user);
	if (pw == NULL && colon)
		name[colon - user] = '\0'; /* "1000:1000" has no name: USER=1000 */
	/* a home that is not there (Debian's nobody: /nonexistent) is /, as su does */
	home = pw && pw->pw_dir && pw->pw_dir[0] == '/' && access(pw->pw_dir, F_OK) == 0
	           ? pw->pw_dir
	           : "/";
	snprintf(c->home, sizeof(c->home), "%s", home);
	/* its groups: the primary one and those /etc/group lists it in */
	c->ngroups = ALK_CREDS_MAX_GROUPS;
	if (pw == NULL || getgrouplist(pw->pw_name, c->gid, c->groups, &c->ngroups) < 0) {
		c->groups[0] = c->gid;
		c->ngroups = 1;
	}
	creds_env(c, m, c->home, name);
	c->envp_given = 1;
	return 0;
}

/* In the child: raw calls only (see above). Returns -1 with errno set. */
int alk_creds_apply(const AlkCreds *c)
{
	/* non-root execs lose the bounding set too: nothing they start may
	 * gain a capability back */
	if (c->drop_caps || (c->set_ids && c->uid != 0)) {
		for (int cap = 0; cap < CAPS_MAX; cap++)
			if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
				return -1;
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
			return -1;
	}
	if (c->set_ids) {
		if (syscall(SYS_setgroups, (long)c->ngroups, c->groups) < 0 ||
		    syscall(SYS_setresgid, (long)c->gid, (long)c->gid, (long)c->gid) < 0 ||
		    syscall(SYS_setresuid, (long)c->uid, (long)c->uid, (long)c->uid) < 0)
			return -1;
	}
	if (c->drop_caps) {
		CapsHeader h = {.version = CAPS_VERSION_3};
		CapsData d[2];
		memset(d, 0, sizeof(d));
		if (syscall(SYS_capset, &h, d) < 0)
			return -1;
	}
	if (c->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	return 0;
}
