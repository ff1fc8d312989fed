/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-test-fake-net.h"

#include <string.h>

#include "alk-error.h"
#include "alk-net-plan.h"

struct AlkTestFakeNet {
	GPtrArray *plans; /* char * */
	GHashTable *ns;   /* names that exist */
	gboolean hold;
	GPtrArray *held; /* GTask * */
	char *fail_next;
};

AlkTestFakeNet *alk_test_fake_net_new(void)
{
	AlkTestFakeNet *f = g_new0(AlkTestFakeNet, 1);

	f->plans = g_ptr_array_new_with_free_func(g_free);
	f->ns = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	f->held = g_ptr_array_new();
	return f;
}

void alk_test_fake_net_free(AlkTestFakeNet *f)
{
	if (f == NULL)
		return;
	g_assert(f->held->len == 0); /* a held plan's callback would never run */
	g_ptr_array_unref(f->held);
	g_ptr_array_unref(f->plans);
	g_hash_table_unref(f->ns);
	g_free(f->fail_next);
	g_free(f);
}

/* What a plan does to the namespaces, read off its text. */
static void apply(AlkTestFakeNet *f, const char *text)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

	for (guint i = 0; lines[i] != NULL; i++) {
		const char *add = strstr(lines[i], "ip netns add ");
		const char *del = strstr(lines[i], "ip netns del ");

		if (g_str_has_prefix(lines[i], "ip netns add "))
			g_hash_table_add(f->ns, g_strdup(add + strlen("ip netns add ")));
		else if (del != NULL)
			g_hash_table_remove(f->ns, del + strlen("ip netns del "));
	}
}

static void complete(AlkTestFakeNet *f, GTask *task)
{
	const char *text = g_task_get_task_data(task);

	if (f->fail_next != NULL) {
		g_task_return_new_error(task, ALK_ERROR, ALK_ERROR_FAILED, "%s", f->fail_next);
		g_clear_pointer(&f->fail_next, g_free);
	} else {
		apply(f, text);
		g_task_return_boolean(task, TRUE);
	}
	g_object_unref(task);
}

void alk_test_fake_net_hold(AlkTestFakeNet *f, gboolean hold)
{
	f->hold = hold;
	while (!hold && f->held->len > 0)
		complete(f, g_ptr_array_steal_index(f->held, 0));
}

guint alk_test_fake_net_held(AlkTestFakeNet *f)
{
	return f->held->len;
}

void alk_test_fake_net_fail_next(AlkTestFakeNet *f, const char *message)
{
	g_free(f->fail_next);
	f->fail_next = g_strdup(message);
}

GPtrArray *alk_test_fake_net_plans(AlkTestFakeNet *f)
{
	return f->plans;
}

gint alk_test_fake_net_find(AlkTestFakeNet *f, guint from, const char *line)
{
	for (guint i = from; i < f->plans->len; i++) {
		if (strstr(g_ptr_array_index(f->plans, i), line) != NULL)
			return (gint)i;
	}
	return -1;
}

gboolean alk_test_fake_net_has(AlkTestFakeNet *f, const char *ns)
{
	return g_hash_table_contains(f->ns, ns);
}

/* ---- the table ---- */

/* GTask calls back on a later iteration of the loop when it returns in
 * the one it was made in: completing at once is completing on the loop. */
static void fake_run(gpointer ctx, AlkNetPlan *plan, GAsyncReadyCallback cb, gpointer user_data)
{
	AlkTestFakeNet *f = ctx;
	GTask *task = g_task_new(NULL, NULL, cb, user_data);
	char *text = alk_net_plan_to_string(plan);

	alk_net_plan_free(plan);
	g_ptr_array_add(f->plans, g_strdup(text));
	g_task_set_task_data(task, text, g_free);
	if (f->hold)
		g_ptr_array_add(f->held, task);
	else
		complete(f, task);
}

static gboolean fake_run_sync(gpointer ctx, AlkNetPlan *plan, GError **error)
{
	AlkTestFakeNet *f = ctx;
	g_autofree char *text = alk_net_plan_to_string(plan);

	alk_net_plan_free(plan);
	g_ptr_array_add(f->plans, g_strdup(text));
	apply(f, text);
	return TRUE;
}

#define FAKE_ALLOWED 5
#define FAKE_DENIED 2

static void fake_counters(gpointer ctx, const char *ns, GAsyncReadyCallback cb, gpointer user_data)
{
	GTask *task = g_task_new(NULL, NULL, cb, user_data);

	g_task_return_boolean(task, alk_test_fake_net_has(ctx, ns));
	g_object_unref(task);
}

static gboolean fake_counters_finish(gpointer ctx, GAsyncResult *res, guint64 *allowed,
                                     guint64 *denied, GError **error)
{
	if (!g_task_propagate_boolean(G_TASK(res), error)) {
		if (error != NULL && *error == NULL)
			g_set_error(error, ALK_ERROR, ALK_ERROR_NOT_FOUND, "fake: no namespace");
		return FALSE;
	}
	*allowed = FAKE_ALLOWED;
	*denied = FAKE_DENIED;
	return TRUE;
}

static gboolean fake_exists(gpointer ctx, const char *ns)
{
	return alk_test_fake_net_has(ctx, ns);
}

static GPtrArray *fake_list(gpointer ctx, GError **error)
{
	AlkTestFakeNet *f = ctx;
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	GHashTableIter it;
	gpointer key;

	g_hash_table_iter_init(&it, f->ns);
	while (g_hash_table_iter_next(&it, &key, NULL))
		g_ptr_array_add(out, g_strdup(key));
	return out;
}

/* On loopback, any port: the resolver listens, nothing asks it. */
static GSocket *fake_resolver_socket(gpointer ctx, const char *ns, GError **error)
{
	g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) at = g_inet_socket_address_new(lo, 0);
	g_autoptr(GSocket) sock = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
	                                       G_SOCKET_PROTOCOL_UDP, error);

	if (sock == NULL || !g_socket_bind(sock, at, FALSE, error))
		return NULL;
	return g_steal_pointer(&sock);
}

const AlkNetOps alk_test_fake_net_ops = {
    .run = fake_run,
    .run_sync = fake_run_sync,
    .counters = fake_counters,
    .counters_finish = fake_counters_finish,
    .exists = fake_exists,
    .list = fake_list,
    .resolver_socket = fake_resolver_socket,
    .free = NULL, /* the test's */
};
