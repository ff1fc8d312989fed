/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-input.h"

#include <string.h>

#include "alk-error.h"

/* Key names, matched case-insensitively: xdotool's keysym names first,
 * then the aliases models use (OpenAI's ENTER, CTRL, ARROWLEFT, CMD ...). */
static const struct {
	const char *name;
	const char *qcode;
} keys[] = {
    {"Return", "ret"},
    {"Enter", "ret"},
    {"Tab", "tab"},
    {"Escape", "esc"},
    {"Esc", "esc"},
    {"BackSpace", "backspace"},
    {"Delete", "delete"},
    {"Del", "delete"},
    {"Insert", "insert"},
    {"Home", "home"},
    {"End", "end"},
    {"Prior", "pgup"},
    {"Page_Up", "pgup"},
    {"PageUp", "pgup"},
    {"Next", "pgdn"},
    {"Page_Down", "pgdn"},
    {"PageDown", "pgdn"},
    {"Up", "up"},
    {"Down", "down"},
    {"Left", "left"},
    {"Right", "right"},
    {"ArrowUp", "up"},
    {"ArrowDown", "down"},
    {"ArrowLeft", "left"},
    {"ArrowRight", "right"},
    {"space", "spc"},
    {"ctrl", "ctrl"},
    {"Control", "ctrl"},
    {"Control_L", "ctrl"},
    {"Control_R", "ctrl_r"},
    {"shift", "shift"},
    {"Shift_L", "shift"},
    {"Shift_R", "shift_r"},
    {"alt", "alt"},
    {"Alt_L", "alt"},
    {"Alt_R", "alt_r"},
    {"option", "alt"},
    {"super", "meta_l"},
    {"Super_L", "meta_l"},
    {"Super_R", "meta_r"},
    {"meta", "meta_l"},
    {"Meta_L", "meta_l"},
    {"Meta_R", "meta_r"},
    {"cmd", "meta_l"},
    {"win", "meta_l"},
    {"Menu", "menu"},
    {"Caps_Lock", "caps_lock"},
    {"CapsLock", "caps_lock"},
    {"Num_Lock", "num_lock"},
    {"Scroll_Lock", "scroll_lock"},
    {"Print", "print"},
    {"Pause", "pause"},
    {"minus", "minus"},
    {"equal", "equal"},
    {"bracketleft", "bracket_left"},
    {"bracketright", "bracket_right"},
    {"backslash", "backslash"},
    {"semicolon", "semicolon"},
    {"apostrophe", "apostrophe"},
    {"grave", "grave_accent"},
    {"comma", "comma"},
    {"period", "dot"},
    {"slash", "slash"},
    {"KP_Enter", "kp_enter"},
    {"KP_Add", "kp_add"},
    {"KP_Subtract", "kp_subtract"},
    {"KP_Multiply", "kp_multiply"},
    {"KP_Divide", "kp_divide"},
    {"KP_Decimal", "kp_decimal"},
    {"KP_0", "kp_0"},
    {"KP_1", "kp_1"},
    {"KP_2", "kp_2"},
    {"KP_3", "kp_3"},
    {"KP_4", "kp_4"},
    {"KP_5", "kp_5"},
    {"KP_6", "kp_6"},
    {"KP_7", "kp_7"},
    {"KP_8", "kp_8"},
    {"KP_9", "kp_9"},
};

static const char *const fkeys[] = {"f1", "f2", "f3", "f4",  "f5",  "f6",
                                    "f7", "f8", "f9", "f10", "f11", "f12"};

/* The US layout's printable characters: unshifted, then shifted, on the
 * same key. Letters and digits are their own QKeyCodes. */
static const struct {
	char plain;
	char shifted;
	const char *qcode;
} symbols[] = {
    {'1', '!', "1"},
    {'2', '@', "2"},
    {'3', '#', "3"},
    {'4', '$', "4"},
    {'5', '%', "5"},
    {'6', '^', "6"},
    {'7', '&', "7"},
    {'8', '*', "8"},
    {'9', '(', "9"},
    {'0', ')', "0"},
    {'-', '_', "minus"},
    {'=', '+', "equal"},
    {'[', '{', "bracket_left"},
    {']', '}', "bracket_right"},
    {'\\', '|', "backslash"},
    {';', ':', "semicolon"},
    {'\'', '"', "apostrophe"},
    {'`', '~', "grave_accent"},
    {',', '<', "comma"},
    {'.', '>', "dot"},
    {'/', '?', "slash"},
    {' ', 0, "spc"},
    {'\n', 0, "ret"},
    {'\t', 0, "tab"},
};

/* QKeyCodes of letters: static strings to point at */
static const char *const letters[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i",
                                      "j", "k", "l", "m", "n", "o", "p", "q", "r",
                                      "s", "t", "u", "v", "w", "x", "y", "z"};

gboolean alk_input_char(gunichar c, const char **qcode, gboolean *shift)
{
	if (c >= 'a' && c <= 'z') {
		*qcode = letters[c - 'a'];
		*shift = FALSE;
		return TRUE;
	}
	if (c >= 'A' && c <= 'Z') {
		*qcode = letters[c - 'A'];
		*shift = TRUE;
		return TRUE;
	}
	for (guint i = 0; c != 0 && i < G_N_ELEMENTS(symbols); i++) {
		if (c == (guchar)symbols[i].plain || c == (guchar)symbols[i].shifted) {
			*qcode = symbols[i].qcode;
			*shift = c == (guchar)symbols[i].shifted;
			return TRUE;
		}
	}
	return FALSE;
}

const char *alk_input_key(const char *name)
{
	for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
		if (g_ascii_strcasecmp(name, keys[i].name) == 0)
			return keys[i].qcode;
	}
	if ((name[0] == 'F' || name[0] == 'f') && g_ascii_isdigit(name[1])) {
		guint64 n = 0;
		if (g_ascii_string_to_unsigned(name + 1, 10, 1, G_N_ELEMENTS(fkeys), &n, NULL))
			return fkeys[n - 1];
		return NULL;
	}
	if (name[0] != '\0' && name[1] == '\0') {
		const char *qcode = NULL;
		gboolean shift = FALSE;
		/* a character on its own key, unshifted: "a", "1", "-" */
		if (alk_input_char((guchar)name[0], &qcode, &shift) && !shift)
			return qcode;
	}
	return NULL;
}

static gboolean add_key(const char *name, const char **out, guint *n, GError **error)
{
	const char *qcode = alk_input_key(name);
	gboolean shift = FALSE;

	/* a shifted character ("+", "A" in a chord of its own) holds shift */
	if (qcode == NULL && name[0] != '\0' && name[1] == '\0' &&
	    alk_input_char((guchar)name[0], &qcode, &shift) && shift) {
		if (*n + 2 > ALK_INPUT_CHORD_MAX)
			goto too_many;
		out[(*n)++] = "shift";
	}
	if (qcode == NULL) {
		gboolean printable = g_utf8_validate(name, -1, NULL) && strlen(name) <= 32;
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "unknown key '%s'",
		            printable ? name : "…");
		return FALSE;
	}
	if (*n + 1 > ALK_INPUT_CHORD_MAX)
		goto too_many;
	out[(*n)++] = qcode;
	return TRUE;
too_many:
	g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "a chord of more than %d keys",
	            ALK_INPUT_CHORD_MAX);
	return FALSE;
}

gboolean alk_input_chord(const char *chord, const char **out, guint *n, GError **error)
{
	g_autofree char *copy = NULL;
	gsize len = strlen(chord);
	char *p;

	*n = 0;
	if (len == 0 || len > 128) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "a key chord of 1..128 bytes");
		return FALSE;
	}
	copy = g_strdup(chord);
	/* "ctrl++" and "+": the last key is plus itself */
	if (len >= 1 && copy[len - 1] == '+' && (len == 1 || copy[len - 2] == '+')) {
		copy[len - 1] = '\0';
		if (len >= 2)
			copy[len - 2] = '\0';
		if (copy[0] != '\0' && !alk_input_chord(copy, out, n, error))
			return FALSE;
		return add_key("+", out, n, error);
	}
	p = copy;
	for (;;) {
		char *plus = strchr(p, '+');
		if (plus != NULL)
			*plus = '\0';
		if (!add_key(p, out, n, error))
			return FALSE;
		if (plus == NULL)
			return TRUE;
		p = plus + 1;
	}
}

gboolean alk_input_scale(gint64 v, guint scaled, guint real, guint *out)
{
	guint space = scaled != 0 ? scaled : real;

	if (v < 0 || real == 0 || (guint64)v >= space)
		return FALSE;
	/* the pixel the scaled one was drawn from */
	*out = (guint)((guint64)v * real / space);
	return TRUE;
}

guint alk_input_abs(guint pixel, guint real)
{
	if (real <= 1)
		return 0;
	return (guint)(((guint64)MIN(pixel, real - 1) * ALK_INPUT_ABS_MAX + (real - 1) / 2) /
	               (real - 1));
}

char *alk_input_qmp(const AlkInputEvent *ev, guint n)
{
	GString *s = g_string_new("{\"execute\":\"input-send-event\",\"arguments\":{\"events\":[");

	for (guint i = 0; i < n; i++) {
		if (i > 0)
			g_string_append_c(s, ',');
		switch (ev[i].kind) {
		case ALK_INPUT_KEY:
			g_string_append_printf(s,
			                       "{\"type\":\"key\",\"data\":{\"down\":%s,\"key\":"
			                       "{\"type\":\"qcode\",\"data\":\"%s\"}}}",
			                       ev[i].down ? "true" : "false", ev[i].name);
			break;
		case ALK_INPUT_BTN:
			g_string_append_printf(s,
			                       "{\"type\":\"btn\",\"data\":{\"down\":%s,\"button\":"
			                       "\"%s\"}}",
			                       ev[i].down ? "true" : "false", ev[i].name);
			break;
		case ALK_INPUT_ABS:
			g_string_append_printf(
			    s,
			    "{\"type\":\"abs\",\"data\":{\"axis\":\"x\",\"value\":%u}},"
			    "{\"type\":\"abs\",\"data\":{\"axis\":\"y\",\"value\":%u}}",
			    MIN(ev[i].x, ALK_INPUT_ABS_MAX), MIN(ev[i].y, ALK_INPUT_ABS_MAX));
			break;
		}
	}
	g_string_append(s, "]}}");
	return g_string_free(s, FALSE);
}
