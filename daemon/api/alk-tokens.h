/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* API bearer tokens. The tokens file holds one token per line,
 *   NAME SCOPE SHA256HEX
 * NAME: [A-Za-z0-9_.-]{1,64}; SCOPE: read, write or admin; the SHA-256 of
 * the token, never the token. '#' starts a comment line; blank lines are
 * allowed. The file must be a regular file owned by the expected user and
 * neither group- nor other-accessible, at most 1 MiB, lines at most 1 KiB. */
#pragma once

#include <glib.h>
#include <sys/types.h>

#define ALK_TOKENS_PATH "/etc/airlock/tokens"
#define ALK_TOKENS_MAX_FILE (1024 * 1024)
#define ALK_TOKENS_MAX_LINE 1024
#define ALK_TOKEN_NAME_MAX 64

/* Ordered: each scope allows everything the ones before it allow */
typedef enum {
	ALK_SCOPE_READ = 1,
	ALK_SCOPE_WRITE,
	ALK_SCOPE_ADMIN,
} AlkScope;

typedef struct {
	char name[ALK_TOKEN_NAME_MAX + 1];
	AlkScope scope;
	guint8 sha256[32];
} AlkToken;

typedef struct _AlkTokens AlkTokens;

/* Reads and parses the tokens file; owner is the uid it must belong to (0
 * for the daemon). ALK_ERROR_NOT_FOUND when absent, ALK_ERROR_INVALID for
 * a file that is unsafe or malformed (the message names the line). */
AlkTokens *alk_tokens_load(const char *path, uid_t owner, GError **error);

/* Parses the file's contents; no checks on where they came from. */
AlkTokens *alk_tokens_parse(const char *data, gsize len, GError **error);

guint alk_tokens_get_size(const AlkTokens *self);

/* Finds the entry whose hash is the SHA-256 of presented. Every entry is
 * compared, each in constant time, so the time taken does not depend on
 * which entry (if any) matched or on how much of a hash matched. out is set
 * only on a match. */
gboolean alk_tokens_check(const AlkTokens *self, const char *presented, const AlkToken **out);

void alk_tokens_free(AlkTokens *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkTokens, alk_tokens_free)

/* read < write < admin: TRUE when have is at least needed */
gboolean alk_scope_allows(AlkScope have, AlkScope needed);
gboolean alk_scope_from_string(const char *s, AlkScope *out);
const char *alk_scope_to_string(AlkScope scope);

/* TRUE when name may name a token */
gboolean alk_token_name_valid(const char *name);

/* Makes a new token from 32 bytes of getrandom(2): "alk_" + 43 base64url
 * characters, and the tokens file line (with newline) that admits it. */
gboolean alk_tokens_generate(const char *name, AlkScope scope, char **token, char **line,
                             GError **error);
