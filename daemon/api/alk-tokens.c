/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-tokens.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alk-error.h"

#define TOKEN_PREFIX "alk_"
#define TOKEN_RANDOM_BYTES 32

struct _AlkTokens {
	GArray *entries; /* of AlkToken */
};

static const char *const scope_names[] = {
    [ALK_SCOPE_READ] = "read",
    [ALK_SCOPE_WRITE] = "write",
    [ALK_SCOPE_ADMIN] = "admin",
};

gboolean alk_scope_allows(AlkScope have, AlkScope needed)
{
	return have >= ALK_SCOPE_READ && have <= ALK_SCOPE_ADMIN && have >= needed;
}

gboolean alk_scope_from_string(const char *s, AlkScope *out)
{
	for (guint i = ALK_SCOPE_READ; i <= ALK_SCOPE_ADMIN; i++) {
		if (g_strcmp0(s, scope_names[i]) == 0) {
			*out = (AlkScope)i;
			return TRUE;
		}
	}
	return FALSE;
}

const char *alk_scope_to_string(AlkScope scope)
{
	if (scope < ALK_SCOPE_READ || scope > ALK_SCOPE_ADMIN)
		return NULL;
	return scope_names[scope];
}

gboolean alk_token_name_valid(const char *name)
{
	gsize len = name != NULL ? strlen(name) : 0;

	if (len == 0 || len > ALK_TOKEN_NAME_MAX)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		char c = name[i];
		if (!g_ascii_isalnum(c) && c != '_' && c != '.' && c != '-')
			return FALSE;
	}
	return TRUE;
}

static gboolean parse_hash(const char *hex, guint8 out[32])
{
	if (strlen(hex) != 64)
		return FALSE;
	for (guint i = 0; i < 32; i++) {
		int hi = g_ascii_xdigit_value(hex[2 * i]);
		int lo = g_ascii_xdigit_value(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return FALSE;
		out[i] = (guint8)(hi << 4 | lo);
	}
	return TRUE;
}

static gboolean G_GNUC_PRINTF(3, 4) line_error(GError **error, guint lineno, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "tokens line %u: %s", lineno, msg);
	return FALSE;
}

static gboolean is_duplicate(const AlkTokens *self, const AlkToken *t, guint lineno, GError **error)
{
	for (guint i = 0; i < self->entries->len; i++) {
		const AlkToken *o = &g_array_index(self->entries, AlkToken, i);
		if (strcmp(o->name, t->name) == 0)
			return !line_error(error, lineno, "duplicate name '%s'", t->name);
		/* two names for one token would make the caller ambiguous */
		if (memcmp(o->sha256, t->sha256, 32) == 0)
			return !line_error(error, lineno, "same hash as '%s'", o->name);
	}
	return FALSE;
}

/* fields: the line split on blanks; the line is neither blank nor a comment */
static gboolean parse_fields(AlkTokens *self, char *const *fields, guint n_fields, guint lineno,
                             GError **error)
{
	AlkToken t = {0};

	if (n_fields != 3)
		return line_error(error, lineno, "expected NAME SCOPE SHA256HEX");
	if (!alk_token_name_valid(fields[0]))
		return line_error(error, lineno, "bad name (want [A-Za-z0-9_.-], 1 to %d)",
		                  ALK_TOKEN_NAME_MAX);
	if (!alk_scope_from_string(fields[1], &t.scope))
		return line_error(error, lineno, "bad scope (want read, write or admin)");
	if (!parse_hash(fields[2], t.sha256))
		return line_error(error, lineno, "bad hash (want 64 hex digits)");
	g_strlcpy(t.name, fields[0], sizeof(t.name));
	if (is_duplicate(self, &t, lineno, error))
		return FALSE;
	g_array_append_val(self->entries, t);
	return TRUE;
}

static gboolean parse_line(AlkTokens *self, const char *line, gsize len, guint lineno,
                           GError **error)
{
	g_autofree char *text = NULL;
	char *fields[4];
	guint n = 0;
	char *save = NULL;

	if (len > ALK_TOKENS_MAX_LINE)
		return line_error(error, lineno, "longer than %d bytes", ALK_TOKENS_MAX_LINE);
	if (memchr(line, '\0', len) != NULL)
		return line_error(error, lineno, "NUL byte");
	text = g_strndup(line, len);
	/* one field more than allowed is enough to reject the line */
	for (char *f = strtok_r(text, " \t\r", &save); f != NULL && n < G_N_ELEMENTS(fields);
	     f = strtok_r(NULL, " \t\r", &save))
		fields[n++] = f;
	if (n == 0 || fields[0][0] == '#')
		return TRUE;
	return parse_fields(self, fields, n, lineno, error);
}

AlkTokens *alk_tokens_parse(const char *data, gsize len, GError **error)
{
	g_autoptr(AlkTokens) self = g_new0(AlkTokens, 1);
	const char *p = data;
	const char *end = data + len;

	self->entries = g_array_new(FALSE, TRUE, sizeof(AlkToken));
	if (len > ALK_TOKENS_MAX_FILE) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "tokens: file over %d bytes",
		            ALK_TOKENS_MAX_FILE);
		return NULL;
	}
	for (guint lineno = 1; p < end; lineno++) {
		const char *nl = memchr(p, '\n', end - p);
		gsize n = nl != NULL ? (gsize)(nl - p) : (gsize)(end - p);
		if (!parse_line(self, p, n, lineno, error))
			return NULL;
		p += n + 1;
	}
	return g_steal_pointer(&self);
}

/* The file must be ours alone: a token hash others can read is an offline
 * guessing target, one others can write is a way in. */
static gboolean check_file(int fd, const char *path, uid_t owner, GError **error)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "tokens %s: %s", path,
		            g_strerror(errno));
		return FALSE;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != owner || (st.st_mode & 077) != 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "tokens %s: must be a regular file owned by uid %u with no group or "
		            "other access (chmod 600)",
		            path, (guint)owner);
		return FALSE;
	}
	if (st.st_size > ALK_TOKENS_MAX_FILE) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "tokens %s: over %d bytes", path,
		            ALK_TOKENS_MAX_FILE);
		return FALSE;
	}
	return TRUE;
}

/* Reads at most max + 1 bytes, whatever the file claims its size is */
static char *read_capped(int fd, gsize max, gsize *len, GError **error)
{
	g_autofree char *buf = g_malloc(max + 1);
	gsize got = 0;

	while (got <= max) {
		ssize_t n = read(fd, buf + got, max + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "tokens: read: %s",
			            g_strerror(errno));
			return NULL;
		}
		if (n == 0)
			break;
		got += (gsize)n;
	}
	*len = got;
	return g_steal_pointer(&buf);
}

AlkTokens *alk_tokens_load(const char *path, uid_t owner, GError **error)
{
	g_autofree char *data = NULL;
	gsize len = 0;
	AlkTokens *self;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);

	if (fd < 0) {
		int saved = errno;
		g_set_error(error, ALK_ERROR, saved == ENOENT ? ALK_ERROR_NOT_FOUND : ALK_ERROR_IO,
		            "tokens %s: %s", path, g_strerror(saved));
		return NULL;
	}
	if (check_file(fd, path, owner, error))
		data = read_capped(fd, ALK_TOKENS_MAX_FILE, &len, error);
	close(fd);
	if (data == NULL)
		return NULL;
	self = alk_tokens_parse(data, len, error);
	if (self == NULL)
		g_prefix_error(error, "%s: ", path);
	return self;
}

guint alk_tokens_get_size(const AlkTokens *self)
{
	return self->entries->len;
}

/* 0 when equal; the time taken depends only on the length */
static guint8 ct_diff(const guint8 *a, const guint8 *b, gsize len)
{
	volatile guint8 acc = 0;

	for (gsize i = 0; i < len; i++)
		acc |= a[i] ^ b[i];
	return acc;
}

static void sha256(const char *s, guint8 out[32])
{
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
	gsize len = 32;

	g_checksum_update(sum, (const guchar *)s, strlen(s));
	g_checksum_get_digest(sum, out, &len);
}

gboolean alk_tokens_check(const AlkTokens *self, const char *presented, const AlkToken **out)
{
	guint8 digest[32];
	guint32 found = 0;
	guint32 index = 0;

	if (self == NULL || presented == NULL || presented[0] == '\0')
		return FALSE;
	sha256(presented, digest);
	/* no early exit and no branch on the comparison: the match is picked
	 * with masks (hashes are unique, so at most one entry matches) */
	for (guint i = 0; i < self->entries->len; i++) {
		const AlkToken *t = &g_array_index(self->entries, AlkToken, i);
		guint32 eq = ((guint32)ct_diff(digest, t->sha256, 32) - 1) >> 31;
		guint32 mask = -eq;
		index = (index & ~mask) | (i & mask);
		found |= eq;
	}
	if (!found)
		return FALSE;
	if (out != NULL)
		*out = &g_array_index(self->entries, AlkToken, index);
	return TRUE;
}

void alk_tokens_free(AlkTokens *self)
{
	if (self == NULL)
		return;
	if (self->entries != NULL)
		g_array_unref(self->entries);
	g_free(self);
}

static gboolean random_bytes(guint8 *buf, gsize len, GError **error)
{
	gsize got = 0;

	while (got < len) {
		ssize_t n = getrandom(buf + got, len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			g_set_error(error, ALK_ERROR, ALK_ERROR_FAILED, "getrandom: %s",
			            g_strerror(errno));
			return FALSE;
		}
		got += (gsize)n;
	}
	return TRUE;
}

/* base64url (RFC 4648 section 5) without padding */
static char *base64url(const guint8 *data, gsize len)
{
	g_autofree char *b64 = g_base64_encode(data, len);
	char *eq = strchr(b64, '=');

	if (eq != NULL)
		*eq = '\0';
	g_strdelimit(b64, "+", '-');
	g_strdelimit(b64, "/", '_');
	return g_steal_pointer(&b64);
}

gboolean alk_tokens_generate(const char *name, AlkScope scope, char **token, char **line,
                             GError **error)
{
	guint8 raw[TOKEN_RANDOM_BYTES];
	g_autofree char *encoded = NULL;
	g_autofree char *tok = NULL;
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);

	if (!alk_token_name_valid(name) || alk_scope_to_string(scope) == NULL) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "tokens: bad name or scope");
		return FALSE;
	}
	if (!random_bytes(raw, sizeof(raw), error))
		return FALSE;
	encoded = base64url(raw, sizeof(raw));
	explicit_bzero(raw, sizeof(raw));
	tok = g_strconcat(TOKEN_PREFIX, encoded, NULL);
	explicit_bzero(encoded, strlen(encoded));
	g_checksum_update(sum, (const guchar *)tok, strlen(tok));
	*line = g_strdup_printf("%s %s %s\n", name, alk_scope_to_string(scope),
	                        g_checksum_get_string(sum));
	*token = g_steal_pointer(&tok);
	return TRUE;
}
