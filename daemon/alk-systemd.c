/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-systemd.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "alk-error.h"

#define LISTEN_FDS_START 3

gboolean alk_systemd_notify(const char *state, GError **error)
{
	const char *path = g_getenv("NOTIFY_SOCKET");
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	gsize len = path != NULL ? strlen(path) : 0;
	int fd;
	gboolean ok;

	if (path == NULL)
		return TRUE;
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(addr.sun_path)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "NOTIFY_SOCKET=%s: unusable",
		            path);
		return FALSE;
	}
	memcpy(addr.sun_path, path, len);
	if (path[0] == '@')
		addr.sun_path[0] = '\0'; /* abstract namespace */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ok = fd >= 0 && sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr,
	                       offsetof(struct sockaddr_un, sun_path) + len) >= 0;
	if (!ok)
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "notifying systemd (%s): %s", state,
		            g_strerror(errno));
	if (fd >= 0)
		close(fd);
	return ok;
}

static gboolean passed_to_us(guint64 *n)
{
	const char *pid = g_getenv("LISTEN_PID");
	const char *fds = g_getenv("LISTEN_FDS");
	guint64 v = 0;

	if (pid == NULL || fds == NULL ||
	    !g_ascii_string_to_unsigned(pid, 10, 1, G_MAXINT32, &v, NULL) || v != (guint64)getpid())
		return FALSE;
	return g_ascii_string_to_unsigned(fds, 10, 0, 64, n, NULL) && *n > 0;
}

GSocket *alk_systemd_listen_socket(GError **error)
{
	guint64 n = 0;
	gboolean ours = passed_to_us(&n);
	g_autoptr(GSocket) sock = NULL;

	g_unsetenv("LISTEN_PID");
	g_unsetenv("LISTEN_FDS");
	g_unsetenv("LISTEN_FDNAMES");
	if (!ours)
		return NULL;
	for (int fd = LISTEN_FDS_START; fd < LISTEN_FDS_START + (int)n; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (n > 1)
		g_warning("systemd passed %" G_GUINT64_FORMAT " sockets: using the first", n);
	sock = g_socket_new_from_fd(LISTEN_FDS_START, error);
	if (sock == NULL)
		return NULL;
	if (g_socket_get_family(sock) != G_SOCKET_FAMILY_UNIX ||
	    g_socket_get_socket_type(sock) != G_SOCKET_TYPE_STREAM) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "the socket systemd passed is not a unix stream socket");
		return NULL;
	}
	return g_steal_pointer(&sock);
}
