/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Who is calling and what they may do. On the unix socket the kernel says
 * who (SO_PEERCRED): root is admin, members of api.socket_group may write,
 * anyone else is refused. On TCP a bearer token from the tokens file says
 * who, and its scope what. */
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alk-api-private.h"
#include "alk-error.h"

static gboolean in_group(uid_t uid, gid_t gid, gid_t group)
{
	struct passwd pw, *found = NULL;
	char buf[4096];
	int n = 64;
	g_autofree gid_t *groups = g_new(gid_t, n);

	if (gid == group)
		return TRUE;
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) != 0 || found == NULL)
		return FALSE;
	if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0) {
		/* n now says how many there are */
		groups = g_renew(gid_t, groups, n);
		if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
			return FALSE;
	}
	for (int i = 0; i < n; i++) {
		if (groups[i] == group)
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
	else if (api->group != (gid_t)-1 && in_group(uc->uid, uc->gid, api->group))
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
