/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Watching a screen live (alk-api-watch.c, alk-api-watch-ws.c). */
#pragma once
#include "alk-api-private.h"

#define ALK_WATCH_TICKET_TTL_S 60
#define ALK_WATCH_TICKETS_MAX 64
#define ALK_WATCH_VIEWERS_PER_SANDBOX 4
#define ALK_WATCH_VIEWERS_MAX 32
#define ALK_WATCH_FPS_DEFAULT 4
#define ALK_WATCH_FPS_MAX 10

/* Shared by tickets and viewer sessions; a session keeps a ref, so it may
 * end after the API. */
struct _AlkWatch {
	GHashTable *tickets; /* SHA-256 hex of the secret -> Ticket */
	GHashTable *viewers; /* sandbox id -> GUINT count of open streams */
	guint n_viewers;
};

AlkWatch *alk_api_watch_of(AlkApi *api);
AlkWatch *alk_api_watch_ref(AlkWatch *w);
void alk_api_watch_unref(AlkWatch *w);

/* the viewer page (alk-api-watch-html.c) */
extern const char alk_api_watch_html[];
