/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers for tests on the desktop image (images/desktop): a sandbox whose X
 * session is up, where its xterm is, and what a screenshot shows. Kept apart
 * from test-desktop.c so that tests of the models' tool endpoints can replay
 * their sessions against the same desktop. */
#pragma once
#include <glib.h>

#define ALK_TEST_DESKTOP_DISPLAY "{\"width\":1024,\"height\":768}"

/* Creates a sandbox of the "desktop" image with a 1024x768 display and
 * waits (polling with a deadline) until X answers and the xterm is mapped;
 * the id. */
char *alk_test_desktop_create(void);
/* sh -c cmd as the default user with DISPLAY=:0; its stdout, exit 0 asserted. */
char *alk_test_desktop_sh(const char *id, const char *cmd);
/* The xterm window's centre, in screen pixels. */
void alk_test_desktop_xterm_centre(const char *id, int *x, int *y);
/* The centre of the window titled name, in screen pixels. */
void alk_test_desktop_window_centre(const char *id, const char *name, int *x, int *y);
/* GET /screen: PNG bytes (asserted 200 and image/png). */
GBytes *alk_test_desktop_screenshot(const char *id);
/* How many distinct colours the PNG has (0 if it does not decode), up to max. */
guint alk_test_png_colours(GBytes *png, guint max);
