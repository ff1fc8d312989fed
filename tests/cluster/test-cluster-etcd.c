/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The etcd client against a fake etcd (a SoupServer in this process) that
 * answers what each test sets: failover between endpoints, and garbage of
 * every kind answered as a clear error, never passed on. */
#include <check.h>
#include <libsoup/soup.h>
#include <string.h>

#include "alk-cluster.h"
#include "alk-error.h"
#include "alk-json.h"

typedef struct {
	SoupServer *server;
	guint16 port;
	guint status;
	char *body; /* answered to every POST */
	gsize len;
	guint hits;
	char *last_path;
	char *last_body;
} Fake;

static void on_request(SoupServer *server, SoupServerMessage *msg, const char *path,
                       GHashTable *query, gpointer data)
{
	Fake *f = data;
	SoupMessageBody *req = soup_server_message_get_request_body(msg);
	g_autoptr(GBytes) got = soup_message_body_flatten(req);

	(void)server;
	(void)query;
	f->hits++;
	g_free(f->last_path);
	f->last_path = g_strdup(path);
	g_free(f->last_body);
	f->last_body = g_strndup(g_bytes_get_data(got, NULL), g_bytes_get_size(got));
	soup_server_message_set_status(msg, f->status, NULL);
	soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, f->body,
	                                 f->len);
}

static Fake *fake_new(void)
{
	Fake *f = g_new0(Fake, 1);
	g_autoptr(GError) error = NULL;
	GSList *uris;

	f->server = soup_server_new(NULL, NULL);
	soup_server_add_handler(f->server, NULL, on_request, f, NULL);
	ck_assert_msg(soup_server_listen_local(f->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error),
	              "%s", error ? error->message : "");
	uris = soup_server_get_uris(f->server);
	f->port = g_uri_get_port(uris->data);
	g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
	f->status = 200;
	return f;
}

static void fake_answer(Fake *f, guint status, const char *body, gssize len)
{
	g_free(f->body);
	f->len = len < 0 ? strlen(body) : (gsize)len;
	f->body = g_memdup2(body, f->len);
	f->status = status;
}

static void fake_free(Fake *f)
{
	soup_server_disconnect(f->server);
	g_object_unref(f->server);
	g_free(f->body);
	g_free(f->last_path);
	g_free(f->last_body);
	g_free(f);
}

typedef struct {
	gboolean done;
	JsonObject *answer;
	GError *error;
} Result;

static void on_answer(JsonObject *answer, const GError *error, gpointer data)
{
	Result *r = data;

	r->done = TRUE;
	r->answer = answer != NULL ? json_object_ref(answer) : NULL;
	r->error = error != NULL ? g_error_copy(error) : NULL;
}

static gboolean on_deadline(gpointer data)
{
	*(gboolean *)data = TRUE;
	return G_SOURCE_REMOVE;
}

/* One call to endpoints; the loop runs until it is answered (within a
 * generous deadline: the machine is shared). */
static Result call_at(AlkEtcd *e, const char *path)
{
	Result r = {0};
	gboolean late = FALSE;
	guint timer = g_timeout_add_seconds(60, on_deadline, &late);
	g_autoptr(JsonNode) body = json_from_string("{\"key\":\"YQ==\"}", NULL);

	alk_etcd_call(e, path, body, NULL, on_answer, &r);
	ck_assert(!r.done); /* never before it returns */
	while (!r.done && !late)
		g_main_context_iteration(NULL, TRUE);
	ck_assert_msg(r.done, "no answer within 60 s");
	g_source_remove(timer);
	return r;
}

static void result_clear(Result *r)
{
	g_clear_pointer(&r->answer, json_object_unref);
	g_clear_error(&r->error);
}

static guint16 closed_port(void)
{
	/* a port nothing listens on: a socket bound and closed */
	g_autoptr(GSocket) s =
	    g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
	g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) a = g_inet_socket_address_new(lo, 0);
	g_autoptr(GSocketAddress) bound = NULL;

	ck_assert(g_socket_bind(s, a, FALSE, NULL));
	bound = g_socket_get_local_address(s, NULL);
	return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}

static AlkEtcd *etcd_for(guint16 a, guint16 b)
{
	g_autofree char *urls =
	    b != 0 ? g_strdup_printf("http://127.0.0.1:%u, http://127.0.0.1:%u/", a, b)
	           : g_strdup_printf("http://127.0.0.1:%u", a);
	g_autoptr(GError) error = NULL;
	AlkEtcd *e = alk_etcd_new(urls, 10, &error);

	ck_assert_msg(e != NULL, "%s", error ? error->message : "");
	return e;
}

START_TEST(test_failover)
{
	Fake *f = fake_new();
	guint16 dead = closed_port();
	g_autoptr(AlkEtcd) e = etcd_for(dead, f->port);
	Result r;

	fake_answer(f, 200, "{\"ID\":\"42\",\"TTL\":\"10\"}", -1);
	r = call_at(e, "/v3/lease/grant");
	ck_assert_msg(r.answer != NULL, "%s", r.error ? r.error->message : "");
	ck_assert_str_eq(f->last_path, "/v3/lease/grant");
	ck_assert_str_eq(f->last_body, "{\"key\":\"YQ==\"}");
	gint64 id = 0;
	ck_assert(alk_etcd_answer_int(r.answer, "ID", 0, &id, NULL));
	ck_assert_int_eq(id, 42);
	result_clear(&r);
	/* the endpoint that answered is tried first: one hit per call */
	r = call_at(e, "/v3/kv/put");
	ck_assert(r.answer != NULL);
	ck_assert_int_eq(f->hits, 2);
	result_clear(&r);
	/* a 5xx fails over too, and when every endpoint fails the error says so */
	fake_answer(f, 503, "{\"error\":\"etcdserver: no leader\",\"code\":14}", -1);
	r = call_at(e, "/v3/kv/range");
	ck_assert(r.answer == NULL);
	ck_assert(g_error_matches(r.error, ALK_ERROR, ALK_ERROR_UNAVAILABLE));
	ck_assert_msg(strstr(r.error->message, "none of the 2") != NULL, "%s", r.error->message);
	result_clear(&r);
	fake_free(f);
}
END_TEST

START_TEST(test_all_dead)
{
	g_autoptr(AlkEtcd) e = etcd_for(closed_port(), 0);
	Result r = call_at(e, "/v3/kv/range");

	ck_assert(g_error_matches(r.error, ALK_ERROR, ALK_ERROR_UNAVAILABLE));
	result_clear(&r);
}
END_TEST

START_TEST(test_bad_endpoints)
{
	g_autoptr(GError) error = NULL;
	GString *many = g_string_new("");

	ck_assert(alk_etcd_new(" , ", 1, &error) == NULL);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	g_clear_error(&error);
	for (guint i = 0; i < ALK_ETCD_MAX_ENDPOINTS + 1; i++)
		g_string_append_printf(many, "http://127.0.0.1:%u,", 1000 + i);
	ck_assert(alk_etcd_new(many->str, 1, &error) == NULL);
	g_string_free(many, TRUE);
}
END_TEST

/* Garbage answered 200: each a PROTOCOL error naming what is wrong. */
START_TEST(test_garbage_answers)
{
	Fake *f = fake_new();
	g_autoptr(AlkEtcd) e = etcd_for(f->port, 0);
	const char *bodies[] = {"",        "not json",           "[1,2]", "\"a string\"",
	                        "{\"a\":", "{\"x\":\"\\u0000\"", NULL};
	Result r;

	for (guint i = 0; bodies[i] != NULL; i++) {
		fake_answer(f, 200, bodies[i], -1);
		r = call_at(e, "/v3/kv/range");
		ck_assert_msg(r.answer == NULL, "answer %u taken", i);
		ck_assert_msg(g_error_matches(r.error, ALK_ERROR, ALK_ERROR_PROTOCOL), "%u: %s", i,
		              r.error->message);
		result_clear(&r);
	}
	/* nested deeper than any answer is: refused before json-glib sees it */
	GString *deep = g_string_new("");
	for (guint i = 0; i < 100000; i++)
		g_string_append_c(deep, '[');
	fake_answer(f, 200, deep->str, deep->len);
	g_string_free(deep, TRUE);
	r = call_at(e, "/v3/kv/range");
	ck_assert(g_error_matches(r.error, ALK_ERROR, ALK_ERROR_PROTOCOL));
	result_clear(&r);
	/* longer than ALK_ETCD_MAX_ANSWER */
	gsize big = ALK_ETCD_MAX_ANSWER + 100;
	char *huge = g_malloc(big);
	memset(huge, ' ', big);
	huge[0] = '{';
	huge[big - 1] = '}';
	fake_answer(f, 200, huge, big);
	g_free(huge);
	r = call_at(e, "/v3/kv/range");
	ck_assert(g_error_matches(r.error, ALK_ERROR, ALK_ERROR_PROTOCOL));
	ck_assert_msg(strstr(r.error->message, "over") != NULL, "%s", r.error->message);
	result_clear(&r);
	fake_free(f);
}
END_TEST

/* A refusal (4xx) is etcd's word, not a dead endpoint: no failover, and its
 * message is shown escaped and cut, never raw. */
START_TEST(test_refusal_message)
{
	Fake *f = fake_new();
	g_autoptr(AlkEtcd) e = etcd_for(f->port, 0);
	g_autofree char *long_msg = g_strnfill(5000, 'x');
	g_autofree char *body =
	    g_strdup_printf("{\"error\":\"lease not found\\u001b[31m\\n%s\",\"code\":5}", long_msg);
	Result r;

	fake_answer(f, 404, body, -1);
	r = call_at(e, "/v3/lease/keepalive");
	ck_assert(g_error_matches(r.error, ALK_ERROR, ALK_ERROR_FAILED));
	ck_assert_int_eq(f->hits, 1);
	ck_assert(strchr(r.error->message, '\033') == NULL);
	ck_assert(strchr(r.error->message, '\n') == NULL);
	ck_assert_msg(strlen(r.error->message) < 400, "%s", r.error->message);
	result_clear(&r);
	fake_free(f);
}
END_TEST

static GPtrArray *kvs_of(const char *json, GError **error)
{
	g_autoptr(JsonObject) o = alk_json_parse_object(json, strlen(json), 1 << 20, 32, NULL);

	ck_assert(o != NULL);
	return alk_etcd_answer_kvs(o, error);
}

START_TEST(test_kvs)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) kvs = NULL;
	const AlkEtcdKv *kv;
	/* key "/a/b", value "{}" */
	kvs = kvs_of("{\"kvs\":[{\"key\":\"L2EvYg==\",\"value\":\"e30=\",\"lease\":\"7\"}],"
	             "\"count\":\"1\"}",
	             &error);
	ck_assert_msg(kvs != NULL, "%s", error ? error->message : "");
	ck_assert_int_eq(kvs->len, 1);
	kv = g_ptr_array_index(kvs, 0);
	ck_assert_str_eq(kv->key, "/a/b");
	ck_assert_int_eq(g_bytes_get_size(kv->value), 2);
	ck_assert_int_eq(kv->lease, 7);
	g_clear_pointer(&kvs, g_ptr_array_unref);
	/* no kvs: an empty range */
	kvs = kvs_of("{\"header\":{}}", &error);
	ck_assert(kvs != NULL && kvs->len == 0);
	g_clear_pointer(&kvs, g_ptr_array_unref);

	const char *bad[] = {
	    "{\"kvs\":{}}",                                     /* not an array */
	    "{\"kvs\":[1]}",                                    /* not an object */
	    "{\"kvs\":[{\"key\":\"%%%\"}]}",                    /* not base64 */
	    "{\"kvs\":[{\"key\":5}]}",                          /* not a string */
	    "{\"kvs\":[{}]}",                                   /* no key */
	    "{\"kvs\":[{\"key\":\"YQBi\"}]}",                   /* a NUL in the key */
	    "{\"kvs\":[{\"key\":\"/w==\"}]}",                   /* not UTF-8 */
	    "{\"kvs\":[{\"key\":\"YQ==\",\"value\":true}]}",    /* value not a string */
	    "{\"kvs\":[{\"key\":\"YQ==\",\"lease\":\"1e9\"}]}", /* lease not an int64 */
	    "{\"kvs\":[{\"key\":\"YQ==\",\"lease\":\"99999999999999999999\"}]}", /* too big */
	    NULL,
	};
	for (guint i = 0; bad[i] != NULL; i++) {
		kvs = kvs_of(bad[i], &error);
		ck_assert_msg(kvs == NULL, "bad %u taken", i);
		ck_assert_msg(g_error_matches(error, ALK_ERROR, ALK_ERROR_PROTOCOL), "%u", i);
		g_clear_error(&error);
	}
	/* a value over ALK_ETCD_MAX_VALUE */
	g_autofree char *raw = g_strnfill(ALK_ETCD_MAX_VALUE + 1, 'v');
	g_autofree char *b64 = g_base64_encode((const guchar *)raw, strlen(raw));
	g_autofree char *json =
	    g_strdup_printf("{\"kvs\":[{\"key\":\"YQ==\",\"value\":\"%s\"}]}", b64);
	kvs = kvs_of(json, &error);
	ck_assert(kvs == NULL);
	g_clear_error(&error);
}
END_TEST

START_TEST(test_prefix_end)
{
	g_autofree char *end = alk_etcd_prefix_end("/airlock/v1/nodes/");

	ck_assert_str_eq(end, "/airlock/v1/nodes0");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cluster-etcd");
	TCase *tc = tcase_create("client");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_failover);
	tcase_add_test(tc, test_all_dead);
	tcase_add_test(tc, test_bad_endpoints);
	tcase_add_test(tc, test_garbage_answers);
	tcase_add_test(tc, test_refusal_message);
	tcase_add_test(tc, test_kvs);
	tcase_add_test(tc, test_prefix_end);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
