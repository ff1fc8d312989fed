/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one error domain of airlockd. Every layer reports failures as
 * ALK_ERROR codes; the REST layer maps them to HTTP statuses in one table. */
#pragma once

#include <glib.h>

#define ALK_ERROR (alk_error_quark())
GQuark alk_error_quark(void);

typedef enum {
	ALK_ERROR_FAILED,      /* internal error */
	ALK_ERROR_INVALID,     /* bad input from a client, config or template */
	ALK_ERROR_NOT_FOUND,   /* no such sandbox, image, file */
	ALK_ERROR_CONFLICT,    /* wrong state for the request */
	ALK_ERROR_LIMIT,       /* a limit or quota would be exceeded */
	ALK_ERROR_UNAVAILABLE, /* libvirt or the agent cannot be reached */
	ALK_ERROR_TIMEOUT,     /* a deadline passed */
	ALK_ERROR_PROTOCOL,    /* the guest spoke garbage */
	ALK_ERROR_IO,          /* host file system or socket failure */
	ALK_ERROR_GUEST,       /* the agent reported an error */
	ALK_ERROR_ENDED,       /* the sandbox ended while the task ran */
	ALK_ERROR_FULL,        /* no room for another sandbox here (max_sandboxes) */
} AlkError;
