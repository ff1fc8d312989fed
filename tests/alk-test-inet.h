/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A test's own "internet" (root): two network namespaces made for one test
 * process and nothing outside them.
 *
 *   router   `altr<pid>`  lo up, net.ipv4.ip_forward=1, `inet0` 198.18.0.1/24,
 *                         198.18.1.0/24 via 198.18.0.2, no default route.
 *                         Give it to airlockd as `egress_netns`: the daemon
 *                         adds the sandbox uplinks, forwarding rules and
 *                         masquerade itself.
 *   internet `alti<pid>`  lo up, `rtr0` 198.18.0.2/24, default via 198.18.0.1,
 *                         198.18.1.10, .20 and .53 (/32) on lo.
 *
 * Servers (python3 scripts in tests/net/, children of the creating process,
 * each in its own process group):
 *   http://198.18.1.10/      "allowed-80\n"     the allowed host
 *   http://198.18.1.10:8080/ "allowed-8080\n"
 *   http://198.18.1.20/      "denied-80\n"      the denied host
 *   http://198.18.0.1/       "router\n"         stands for "the host"
 *   udp 198.18.1.53:53       the upstream DNS (zone in tests/net/dns-server.py:
 *                            allowed.test, denied.test, cname.allowed.test,
 *                            meta.allowed.test, loop.allowed.test,
 *                            inject.allowed.test; the rest NXDOMAIN); it
 *                            appends every query name it receives to the log
 *                            alk_test_inet_dns_log() names, one a line.
 *
 * alk_test_inet_new() returns once every server answered from inside the
 * router (10 s at most), with the query log emptied again. It first removes
 * what crashed earlier runs left: namespaces `altr<pid>`/`alti<pid>` whose
 * pid no longer exists, the processes still inside them, their temp dirs.
 *
 * One instance per process at a time. With check, make it in an unchecked
 * fixture (check's parent) and free it in the unchecked teardown, so it goes
 * away even when a test crashes; forked tests may use it but not free it. */
#pragma once

#include <glib.h>

#define ALK_TEST_INET_ROUTER_PREFIX "altr"
#define ALK_TEST_INET_INTERNET_PREFIX "alti"
/* interfaces of the link between the two */
#define ALK_TEST_INET_ROUTER_LINK "inet0"
#define ALK_TEST_INET_INTERNET_LINK "rtr0"

#define ALK_TEST_INET_ROUTER_ADDR "198.18.0.1"
#define ALK_TEST_INET_INTERNET_ADDR "198.18.0.2"
#define ALK_TEST_INET_ALLOWED_ADDR "198.18.1.10"
#define ALK_TEST_INET_DENIED_ADDR "198.18.1.20"
#define ALK_TEST_INET_DNS_ADDR "198.18.1.53"

/* alk_test_inet_run() kills what runs longer (its whole process group). */
#define ALK_TEST_INET_RUN_TIMEOUT_S 30

typedef struct AlkTestInet AlkTestInet;

/* Sets everything up; NULL and an ALK_ERROR if it cannot (nothing is left
 * behind then). ALK_ERROR_CONFLICT if this process has one already. */
AlkTestInet *alk_test_inet_new(GError **error);

const char *alk_test_inet_router(AlkTestInet *n);   /* router namespace name */
const char *alk_test_inet_internet(AlkTestInet *n); /* internet namespace name */
const char *alk_test_inet_dns_log(AlkTestInet *n);  /* the upstream's query log */

/* The query names the upstream received so far (as sent, without the final
 * dot), oldest first. Never NULL. */
GStrv alk_test_inet_dns_queries(AlkTestInet *n);

/* Runs argv (searched in PATH) inside ns, which must be one of n's two
 * namespaces, with stdin from /dev/null and stderr passed through. Returns
 * its exit code (128 + signal number if a signal ended it) and, if out is
 * not NULL, its stdout (at most 16 MiB). -1 and an error if it could not run
 * or passed ALK_TEST_INET_RUN_TIMEOUT_S. */
int alk_test_inet_run(AlkTestInet *n, const char *ns, const char *const *argv, char **out,
                      GError **error);

/* An AF_INET socket (SOCK_CLOEXEC | type) living in ns, one of n's two
 * namespaces, usable from this thread; -1 and an error if not. */
int alk_test_inet_socket(AlkTestInet *n, const char *ns, int type, GError **error);

/* Asks server:port (port 0: 53) from inside ns for name's A records, with
 * RD set, retrying for 5 s at most. The answer as text, one line each:
 *   "NOERROR\ncname.allowed.test 300 CNAME allowed.test\n"
 *   "allowed.test 300 A 198.18.1.10\n"
 * then "NXDOMAIN\n" and the like for other codes (only the answer section
 * is rendered; types other than A and CNAME as "TYPE<n> -"). */
char *alk_test_inet_dns_query(AlkTestInet *n, const char *ns, const char *server, guint16 port,
                              const char *name, GError **error);

/* Kills the servers (process group, SIGTERM then SIGKILL) and whatever else
 * still runs in the namespaces, deletes both namespaces and the temp dir.
 * NULL-safe; from another process (a forked test) it only frees memory. */
void alk_test_inet_free(AlkTestInet *n);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkTestInet, alk_test_inet_free)
