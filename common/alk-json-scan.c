/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The strict RFC 8259 scanner that every JSON text passes before json-glib
 * sees it (see alk-json.h for the json-glib traps it closes). */
#include "alk-json.h"

#include <math.h>
#include <string.h>

#include "alk-error.h"

/* One open container. Keys are remembered per object because json-glib keeps
 * only the last of duplicate keys, so duplicates must be caught before it. */
typedef struct {
	gboolean is_object;
	GHashTable *keys; /* decoded key -> itself; created with the first key */
} AlkJsonLevel;

typedef struct {
	const char *start;
	const char *p;
	const char *end;
	guint max_depth;
	GArray *stack; /* AlkJsonLevel */
	GString *key;  /* the key being decoded */
} AlkJsonScan;

static void level_clear(gpointer data)
{
	AlkJsonLevel *level = data;
	g_clear_pointer(&level->keys, g_hash_table_unref);
}

static char peek(const AlkJsonScan *s)
{
	return s->p < s->end ? *s->p : '\0';
}

static gboolean scan_fail(const AlkJsonScan *s, GError **error, const char *what)
{
	g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "invalid JSON at byte %td: %s",
	            s->p - s->start, what);
	return FALSE;
}

static void skip_ws(AlkJsonScan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static gboolean scan_hex4(AlkJsonScan *s, gunichar *out)
{
	gunichar v = 0;

	if (s->end - s->p < 5 || s->p[0] != 'u')
		return FALSE;
	for (guint i = 1; i <= 4; i++) {
		gint d = g_ascii_xdigit_value(s->p[i]);
		if (d < 0)
			return FALSE;
		v = v * 16 + (gunichar)d;
	}
	s->p += 5;
	*out = v;
	return TRUE;
}

/* At the 'u' of "\uXXXX". json-glib truncates at U+0000 and cannot store a
 * lone surrogate as UTF-8, so both are refused. */
static gboolean scan_unicode(AlkJsonScan *s, gunichar *out, GError **error)
{
	gunichar hi = 0;
	gunichar lo = 0;

	if (!scan_hex4(s, &hi))
		return scan_fail(s, error, "invalid \\u escape");
	if (hi == 0)
		return scan_fail(s, error, "\\u0000 is not allowed in a string");
	if (hi >= 0xDC00 && hi <= 0xDFFF)
		return scan_fail(s, error, "unpaired UTF-16 surrogate");
	if (hi < 0xD800 || hi > 0xDBFF) {
		*out = hi;
		return TRUE;
	}
	if (peek(s) != '\\')
		return scan_fail(s, error, "unpaired UTF-16 surrogate");
	s->p++;
	if (!scan_hex4(s, &lo) || lo < 0xDC00 || lo > 0xDFFF)
		return scan_fail(s, error, "unpaired UTF-16 surrogate");
	*out = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
	return TRUE;
}

/* At the backslash; appends the decoded character to out when out is set. */
static gboolean scan_escape(AlkJsonScan *s, GString *out, GError **error)
{
	static const char from[] = "\"\\/bfnrt";
	static const char to[] = "\"\\/\b\f\n\r\t";
	gunichar u = 0;

	s->p++;
	const char *hit = peek(s) != '\0' ? strchr(from, peek(s)) : NULL;
	if (hit != NULL) {
		if (out != NULL)
			g_string_append_c(out, to[hit - from]);
		s->p++;
		return TRUE;
	}
	if (peek(s) != 'u')
		return scan_fail(s, error, "invalid escape in a string");
	if (!scan_unicode(s, &u, error))
		return FALSE;
	if (out != NULL)
		g_string_append_unichar(out, u);
	return TRUE;
}

/* At the opening quote. Decodes into out only when out is set (keys). */
static gboolean scan_string(AlkJsonScan *s, GString *out, GError **error)
{
	if (out != NULL)
		g_string_truncate(out, 0);
	s->p++;
	for (;;) {
		const char *run = s->p;
		while (s->p < s->end && *s->p != '"' && *s->p != '\\' && (guchar)*s->p >= 0x20)
			s->p++;
		if (out != NULL)
			g_string_append_len(out, run, s->p - run);
		if (peek(s) == '"') {
			s->p++;
			return TRUE;
		}
		if (peek(s) != '\\')
			return scan_fail(s, error,
			                 s->p == s->end ? "unterminated string"
			                                : "control character in a string");
		if (!scan_escape(s, out, error))
			return FALSE;
	}
}

static void skip_digits(AlkJsonScan *s)
{
	while (g_ascii_isdigit(peek(s)))
		s->p++;
}

/* json-glib wraps integers beyond 64 bits and turns 1e400 into inf. */
static gboolean check_number(AlkJsonScan *s, const char *begin, gboolean is_int, GError **error)
{
	g_autofree char *text = g_strndup(begin, s->p - begin);

	if (is_int && !g_ascii_string_to_signed(text, 10, G_MININT64, G_MAXINT64, NULL, NULL)) {
		s->p = begin;
		return scan_fail(s, error, "integer out of the 64-bit range");
	}
	if (!is_int && !isfinite(g_ascii_strtod(text, NULL))) {
		s->p = begin;
		return scan_fail(s, error, "number out of range");
	}
	return TRUE;
}

static gboolean scan_number(AlkJsonScan *s, GError **error)
{
	const char *begin = s->p;
	gboolean is_int = TRUE;

	if (peek(s) == '-')
		s->p++;
	if (peek(s) == '0')
		s->p++;
	else if (g_ascii_isdigit(peek(s)))
		skip_digits(s);
	else
		return scan_fail(s, error, "invalid number");
	if (peek(s) == '.') {
		is_int = FALSE;
		s->p++;
		if (!g_ascii_isdigit(peek(s)))
			return scan_fail(s, error, "invalid number");
		skip_digits(s);
	}
	if (peek(s) == 'e' || peek(s) == 'E') {
		is_int = FALSE;
		s->p++;
		if (peek(s) == '+' || peek(s) == '-')
			s->p++;
		if (!g_ascii_isdigit(peek(s)))
			return scan_fail(s, error, "invalid number");
		skip_digits(s);
	}
	return check_number(s, begin, is_int, error);
}

static gboolean scan_literal(AlkJsonScan *s, GError **error)
{
	static const char *const words[] = {"true", "false", "null"};

	for (guint i = 0; i < G_N_ELEMENTS(words); i++) {
		gsize n = strlen(words[i]);
		if ((gsize)(s->end - s->p) >= n && memcmp(s->p, words[i], n) == 0) {
			s->p += n;
			return TRUE;
		}
	}
	return scan_fail(s, error, "expected a value");
}

static gboolean scan_scalar(AlkJsonScan *s, GError **error)
{
	char c = peek(s);

	if (c == '"')
		return scan_string(s, NULL, error);
	if (c == '-' || g_ascii_isdigit(c))
		return scan_number(s, error);
	return scan_literal(s, error);
}

/* At a key's quote inside the innermost object: decodes it, refuses a repeat,
 * and consumes the colon. */
static gboolean scan_key(AlkJsonScan *s, GError **error)
{
	AlkJsonLevel *level = &g_array_index(s->stack, AlkJsonLevel, s->stack->len - 1);
	const char *at = s->p;

	if (peek(s) != '"')
		return scan_fail(s, error, "expected a string key");
	if (!scan_string(s, s->key, error))
		return FALSE;
	if (level->keys == NULL)
		level->keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	if (g_hash_table_contains(level->keys, s->key->str)) {
		/* g_utf8_substring() must not be asked for more than the string holds */
		glong n = MIN(g_utf8_strlen(s->key->str, -1), 64);
		g_autofree char *shown = g_utf8_substring(s->key->str, 0, n);
		g_autofree char *what = g_strdup_printf("duplicate key '%s'", shown);
		s->p = at;
		return scan_fail(s, error, what);
	}
	g_hash_table_add(level->keys, g_strdup(s->key->str));
	skip_ws(s);
	if (peek(s) != ':')
		return scan_fail(s, error, "expected ':'");
	s->p++;
	return TRUE;
}

static gboolean scan_open(AlkJsonScan *s, gboolean is_object, GError **error)
{
	AlkJsonLevel level = {is_object, NULL};

	if (s->stack->len >= s->max_depth)
		return scan_fail(s, error, "nested too deeply");
	g_array_append_val(s->stack, level);
	s->p++;
	return TRUE;
}

static void scan_close(AlkJsonScan *s)
{
	g_array_set_size(s->stack, s->stack->len - 1);
	s->p++;
}

static char closer(const AlkJsonScan *s)
{
	return g_array_index(s->stack, AlkJsonLevel, s->stack->len - 1).is_object ? '}' : ']';
}

/* At a value; *want_value tells the caller whether another value follows at once
 * (the first member of a container just opened). */
static gboolean scan_value(AlkJsonScan *s, gboolean *want_value, GError **error)
{
	char c = peek(s);

	if (c != '{' && c != '[') {
		*want_value = FALSE;
		return scan_scalar(s, error);
	}
	if (!scan_open(s, c == '{', error))
		return FALSE;
	skip_ws(s);
	if (peek(s) == closer(s)) {
		scan_close(s);
		*want_value = FALSE;
		return TRUE;
	}
	*want_value = TRUE;
	return c == '[' || scan_key(s, error);
}

/* After a value inside a container: a comma (then a key in objects) or the close. */
static gboolean scan_after_value(AlkJsonScan *s, gboolean *want_value, GError **error)
{
	gboolean in_object = closer(s) == '}';

	if (peek(s) == closer(s)) {
		scan_close(s);
		*want_value = FALSE;
		return TRUE;
	}
	if (peek(s) != ',')
		return scan_fail(s, error,
		                 in_object ? "expected ',' or '}'" : "expected ',' or ']'");
	s->p++;
	*want_value = TRUE;
	if (!in_object)
		return TRUE;
	skip_ws(s);
	return scan_key(s, error);
}

/* Iterative, so nesting depth costs heap (bounded by max_depth), never stack. */
static gboolean scan_document(AlkJsonScan *s, GError **error)
{
	gboolean want_value = TRUE;

	for (;;) {
		skip_ws(s);
		if (want_value) {
			if (!scan_value(s, &want_value, error))
				return FALSE;
		} else if (s->stack->len == 0) {
			break;
		} else if (!scan_after_value(s, &want_value, error)) {
			return FALSE;
		}
	}
	if (s->p != s->end)
		return scan_fail(s, error, "trailing data after the value");
	return TRUE;
}

static gboolean check_text(const char *data, gsize len, gsize max_len, GError **error)
{
	if (len > max_len) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "JSON text of %" G_GSIZE_FORMAT
		            " bytes exceeds the limit of %" G_GSIZE_FORMAT " bytes",
		            len, max_len);
		return FALSE;
	}
	if (memchr(data, '\0', len) != NULL) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "JSON text contains a NUL byte");
		return FALSE;
	}
	if (!g_utf8_validate_len(data, len, NULL)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "JSON text is not valid UTF-8");
		return FALSE;
	}
	return TRUE;
}

gboolean alk_json_validate(const char *data, gsize len, gsize max_len, guint max_depth,
                           GError **error)
{
	g_autoptr(GArray) stack = g_array_new(FALSE, FALSE, sizeof(AlkJsonLevel));
	g_autoptr(GString) key = g_string_new(NULL);
	AlkJsonScan s = {data, data, data + len, max_depth, stack, key};

	if (!check_text(data, len, max_len, error))
		return FALSE;
	g_array_set_clear_func(stack, level_clear);
	return scan_document(&s, error);
}
