/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The two pieces of the systemd protocol airlockd speaks, without
 * libsystemd: sd_notify(3) datagrams and socket activation (sd_listen_fds(3)). */
#pragma once

#include <gio/gio.h>

/* Sends state ("READY=1", "STOPPING=1", ...) to $NOTIFY_SOCKET; does nothing
 * (TRUE) when that is unset. */
gboolean alk_systemd_notify(const char *state, GError **error);

/* The listening unix socket systemd passed (LISTEN_PID/LISTEN_FDS), or NULL
 * when none was; LISTEN_* are unset either way. An error when what was
 * passed is not a listening unix stream socket. */
GSocket *alk_systemd_listen_socket(GError **error);
