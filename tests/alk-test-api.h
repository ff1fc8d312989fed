/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the REST API tests: one real daemon per test case (started in
 * an unchecked fixture, so it is stopped and cleaned up even when the test
 * crashes), and assertions on its answers. */
#pragma once

#include <check.h>

#include "alk-test-daemon.h"
#include "alk-test-http.h"

extern AlkTestDaemon *alk_test_api_daemon;

/* Adds a test case of its own (own daemon, started with extra config). */
void alk_test_api_add(Suite *s, const char *name, const TTest *test, void (*setup)(void),
                      void (*teardown)(void));
void alk_test_api_setup(void);
void alk_test_api_teardown(void);
/* The daemon, asserting it started. */
AlkTestDaemon *alk_test_api_d(void);

/* A request on the unix socket whose answer must come; json may be NULL. */
AlkTestResponse *alk_test_api_call(const char *method, const char *path, const char *json);
/* The same, asserting the status; returns the body as an object (or NULL). */
JsonObject *alk_test_api_expect(const char *method, const char *path, const char *json,
                                guint status);
/* Asserts r's status and the error code of its JSON body. */
void alk_test_api_assert_error(AlkTestResponse *r, guint status, const char *code);

/* POST /v1/sandboxes?wait=ready; the id. */
char *alk_test_api_create(const char *json);
/* {"argv":["/bin/sh","-c",cmd]} as JSON text, with stdin (NULL: none). */
char *alk_test_api_sh_body(const char *cmd, const char *stdin_text);
/* Runs sh -c cmd; returns the answer (200 asserted). */
JsonObject *alk_test_api_sh(const char *id, const char *cmd);
