/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Keyboard and pointer input for a sandbox's display, as QEMU's
 * input-send-event takes it: key names (xdotool's keysyms, case-insensitive,
 * and a few aliases) and chords ("ctrl+shift+t") to QKeyCodes, text to key
 * strokes through a US-layout table, coordinates of a scaled screenshot
 * back to the real screen and on to the tablet's absolute axis. Pure: no
 * I/O, every rule unit-tested. */
#pragma once

#include <glib.h>

/* QEMU's absolute axes run 0..0x7fff whatever the screen's size. */
#define ALK_INPUT_ABS_MAX 0x7fff
/* keys held at once in one chord */
#define ALK_INPUT_CHORD_MAX 8

typedef enum {
	ALK_INPUT_KEY, /* qcode, down */
	ALK_INPUT_BTN, /* button: left, middle, right, wheel-up, wheel-down, ... */
	ALK_INPUT_ABS, /* x and y, 0..ALK_INPUT_ABS_MAX */
} AlkInputKind;

typedef struct {
	AlkInputKind kind;
	gboolean down;
	const char *name; /* a QKeyCode or an InputButton: static strings */
	guint x, y;       /* ABS: on the axis */
	guint px, py;     /* ABS: the screen pixel that is */
} AlkInputEvent;

/* The QKeyCode of a key name ("Return", "ctrl", "KP_0", "a", "F5"); NULL
 * when unknown. A printable character needing shift is not a key here:
 * alk_input_char gives it. */
const char *alk_input_key(const char *name);

/* A character of the US layout: its key and whether shift is held. FALSE
 * for anything else (the caller names it). */
gboolean alk_input_char(gunichar c, const char **qcode, gboolean *shift);

/* A chord, "ctrl+shift+t", "Return", "ctrl+plus", "KP_0", "A" (shift+a):
 * its keys in press order (n at most ALK_INPUT_CHORD_MAX). A name that is
 * no key is ALK_ERROR_INVALID naming it. */
gboolean alk_input_chord(const char *chord, const char **keys, guint *n, GError **error);

/* A coordinate of a space of size scaled (a scaled screenshot; 0: the real
 * screen) on a screen of size real: its pixel, or FALSE when off-screen. */
gboolean alk_input_scale(gint64 v, guint scaled, guint real, guint *out);

/* A screen pixel on the tablet's axis (0..ALK_INPUT_ABS_MAX). */
guint alk_input_abs(guint pixel, guint real);

/* QMP's input-send-event with these events, as JSON text. */
char *alk_input_qmp(const AlkInputEvent *events, guint n);
