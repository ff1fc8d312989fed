/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Who is calling and what they may do. On the unix socket the kernel says
 * who (SO_PEERCRED, SO_PEERGROUPS): root is admin, processes with
 * api.socket_group as their group or one of their supplementary groups may write,
 * anyone else is refused. On TCP a bearer token from the tokens file says
 * who, and its scope what. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alk-api-private.h"
#include "alk-error.h"

/* The peer's supplementary groups as the kernel holds them, not as
 * /etc/group lists them for its user: a process may have been given a
 * group with setgroups(2), or may run as a uid without a passwd entry. */
static GArray *peer_groups(int fd)
{
	socklen_t len = 64 * sizeof(gid_t);
	g_autoptr(GArray) groups = g_array_sized_new(FALSE, TRUE, sizeof(gid_t), 64);

	g_array_set_size(groups, len / sizeof(gid_t));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups->data, &len) < 0) {
		/* len now says how much it takes */
		if (errno != ERANGE)
			return NULL;
		g_array_set_size(groups, len / sizeof(gid_t));
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups->data, &len) < 0)
			return NULL;
	}
	g_array_set_size(groups, len / sizeof(gid_t));
	return g_steal_pointer(&groups);
}

/* Before Linux 4.13: the "Groups:" line of the connecting process. It may
 * have exited since (then nothing is granted) or exec'd, which keeps its
 * groups. */
static GArray *proc_groups(pid_t pid)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
	g_autofree char *text = NULL;
	g_autofree char *list = NULL;
	g_auto(GStrv) words = NULL;
	GArray *groups;
	const char *line;

	if (pid <= 0 || !g_file_get_contents(path, &text, NULL, NULL) ||
	    (line = strstr(text, "\nGroups:")) == NULL)
		return NULL;
	line += strlen("\nGroups:");
	list = g_strndup(line, strcspn(line, "\n"));
	words = g_strsplit_set(list, " \t", -1);
	groups = g_array_new(FALSE, TRUE, sizeof(gid_t));
	for (guint i = 0; words[i] != NULL; i++) {
		guint64 value;
		gid_t gid;
		if (words[i][0] == '\0' ||
		    !g_ascii_string_to_unsigned(words[i], 10, 0, G_MAXUINT32 - 1, &value, NULL))
			continue;
		gid = (gid_t)value;
		g_array_append_val(groups, gid);
	}
	return groups;
}

static gboolean in_group(int fd, const struct ucred *uc, gid_t group)
{
	g_autoptr(GArray) groups = NULL;

	if (uc->gid == group)
		return TRUE;
	groups = peer_groups(fd);
	if (groups == NULL)
		groups = proc_groups(uc->pid);
	for (guint i = 0; groups != NULL && i < groups->len; i++) {
		if (g_array_index(groups, gid_t, i) == group)
			return TRUE;
	}
	return FALSE;
}

void alk_api_auth_unix(AlkApi *api, AlkApiConn *conn)
{
	g_autoptr(GCredentials) cred = g_socket_get_credentials(conn->socket, NULL);
	struct ucred *uc =
	    cred != NULL ? g_credentials_get_native(cred, G_CREDENTIALS_TYPE_LINUX_UCRED) : NULL;

	if (uc == NULL) {
		conn->peer = g_strdup("uid:unknown");
		return;
	}
	conn->peer = g_strdup_printf("uid:%u", (guint)uc->uid);
	if (uc->uid == 0)
		conn->scope = ALK_SCOPE_ADMIN;
	else if (api->group != (gid_t)-1 && in_group(g_socket_get_fd(conn->socket), uc, api->group))
		conn->scope = ALK_SCOPE_WRITE;
}

static gboolean unauthorized(GError **error, const char *why)
{
	g_set_error(error, ALK_API_ERROR, ALK_API_ERROR_UNAUTHORIZED, "%s", why);
	return FALSE;
}

static gboolean auth_token(AlkApiReq *req, GError **error)
{
	SoupMessageHeaders *h = soup_server_message_get_request_headers(req->msg);
	const char *value = soup_message_headers_get_one(h, "Authorization");
	const AlkToken *token = NULL;

	if (value == NULL || g_ascii_strncasecmp(value, "Bearer ", 7) != 0)
		return unauthorized(error,
		                    "a bearer token is required (Authorization: Bearer ...)");
	value += 7;
	while (*value == ' ')
		value++;
	if (req->api->tokens == NULL || !alk_tokens_check(req->api->tokens, value, &token))
		return unauthorized(error, "the bearer token is not valid");
	req->caller = g_strdup_printf("token:%s", token->name);
	req->scope = token->scope;
	req->authed = TRUE;
	alk_api_conn_authenticated(req->conn);
	return TRUE;
}

gboolean alk_api_auth(AlkApiReq *req, GError **error)
{
	AlkApiConn *conn = req->conn;

	if (conn->tcp)
		return auth_token(req, error);
	req->caller = g_strdup(conn->peer);
	req->scope = conn->scope;
	if (conn->scope == 0) {
		g_set_error(error, ALK_API_ERROR, ALK_API_ERROR_FORBIDDEN,
		            "%s is neither root nor a member of group %s", conn->peer,
		            req->api->config->api.socket_group);
		return FALSE;
	}
	req->authed = TRUE;
	return TRUE;
}

gboolean alk_api_auth_scope(AlkApiReq *req, GError **error)
{
	if (alk_scope_allows(req->scope, req->route->scope))
		return TRUE;
	g_set_error(error, ALK_API_ERROR, ALK_API_ERROR_FORBIDDEN,
	            "%s %s needs scope %s; %s has %s", req->route->method, req->route->pattern,
	            alk_scope_to_string(req->route->scope), req->caller,
	            alk_scope_to_string(req->scope));
	return FALSE;
}
