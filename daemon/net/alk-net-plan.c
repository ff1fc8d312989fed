/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-net-plan.h"

#include <errno.h>
#include <fcntl.h>
#include <nftables/libnftables.h>
#include <string.h>
#include <unistd.h>

#include "alk-error.h"
#include "alk-net-link.h"
#include "alk-netns.h"

/* what an error message keeps of a command's stderr */
#define STDERR_MAX 200

/* How a step runs: a command, or in-process in its namespace (argv is
 * still the command it stands for, for the rendered plan and errors). */
typedef enum {
	STEP_COMMAND,
	STEP_NFT,    /* input through libnftables */
	STEP_SYSCTL, /* key=value written to /proc/sys */
	STEP_LINK,   /* rtnetlink (alk-net-link.c) */
} StepKind;

typedef struct {
	char **argv;
	char *input;       /* its stdin; NULL: none */
	gboolean may_fail; /* e.g. removing what may already be gone */
	char *if_exists;   /* run only if this path exists then; NULL: always */
	StepKind kind;
	char *ns;        /* STEP_NFT, STEP_SYSCTL: its namespace; NULL: the daemon's */
	char *key;       /* STEP_SYSCTL */
	char *value;     /* STEP_SYSCTL */
	AlkNetLink link; /* STEP_LINK: its strings are the step's */
} Step;

struct AlkNetPlan {
	GPtrArray *steps; /* Step * */
	GError *error;    /* the first bad argument: the plan fails as a whole */
};

typedef struct {
	AlkNetPlan *plan;
	guint next;
} Run;

static void step_free(Step *step)
{
	g_strfreev(step->argv);
	g_free(step->input);
	g_free(step->if_exists);
	g_free(step->ns);
	g_free(step->key);
	g_free(step->value);
	g_free((char *)step->link.ifname);
	g_free((char *)step->link.arg);
	g_free((char *)step->link.peer_ns);
	g_free(step);
}

AlkNetPlan *alk_net_plan_new(void)
{
	AlkNetPlan *plan = g_new0(AlkNetPlan, 1);

	plan->steps = g_ptr_array_new_with_free_func((GDestroyNotify)step_free);
	return plan;
}

void alk_net_plan_free(AlkNetPlan *plan)
{
	if (plan == NULL)
		return;
	g_ptr_array_unref(plan->steps);
	g_clear_error(&plan->error);
	g_free(plan);
}

static void run_free(Run *run)
{
	alk_net_plan_free(run->plan);
	g_free(run);
}

/* ---- building ---- */

static gboolean plan_ns_ok(AlkNetPlan *plan, const char *ns)
{
	if (ns == NULL || alk_netns_ifname_valid(ns))
		return TRUE;
	if (plan->error == NULL)
		g_set_error(&plan->error, ALK_ERROR, ALK_ERROR_INVALID, "bad namespace name '%s'",
		            ns);
	return FALSE;
}

static Step *plan_add(AlkNetPlan *plan, GStrvBuilder *b, const char *input, gboolean may_fail)
{
	Step *step = g_new0(Step, 1);

	step->argv = g_strv_builder_end(b);
	step->input = g_strdup(input);
	step->may_fail = may_fail;
	g_ptr_array_add(plan->steps, step);
	return step;
}

/* `ip netns exec NS` in front of a command, or nothing for the daemon's own */
static GStrvBuilder *in_ns(const char *ns)
{
	GStrvBuilder *b = g_strv_builder_new();

	if (ns != NULL)
		g_strv_builder_addv(b, (const char *[]){"ip", "netns", "exec", ns, NULL});
	return b;
}

static Step *plan_ip_va(AlkNetPlan *plan, const char *ns, gboolean may_fail, va_list ap)
{
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();
	const char *arg;

	if (!plan_ns_ok(plan, ns))
		return NULL;
	g_strv_builder_add(b, "ip");
	if (ns != NULL)
		g_strv_builder_addv(b, (const char *[]){"-n", ns, NULL});
	while ((arg = va_arg(ap, const char *)) != NULL)
		g_strv_builder_add(b, arg);
	return plan_add(plan, b, NULL, may_fail);
}

void alk_net_plan_ip(AlkNetPlan *plan, const char *ns, gboolean may_fail, ...)
{
	va_list ap;

	va_start(ap, may_fail);
	plan_ip_va(plan, ns, may_fail, ap);
	va_end(ap);
}

void alk_net_plan_ip_link(AlkNetPlan *plan, const char *ns, gboolean may_fail,
                          const AlkNetLink *link, ...)
{
	Step *step;
	va_list ap;

	va_start(ap, link);
	step = plan_ip_va(plan, ns, may_fail, ap);
	va_end(ap);
	if (step == NULL)
		return;
	if (link->peer_ns != NULL && !plan_ns_ok(plan, link->peer_ns))
		return;
	step->kind = STEP_LINK;
	step->ns = g_strdup(ns);
	step->link = (AlkNetLink){.op = link->op,
	                          .ifname = g_strdup(link->ifname),
	                          .arg = g_strdup(link->arg),
	                          .peer_ns = g_strdup(link->peer_ns)};
}

void alk_net_plan_netns_del(AlkNetPlan *plan, const char *name)
{
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();
	Step *step;

	if (!plan_ns_ok(plan, name) || name == NULL)
		return;
	g_strv_builder_addv(b, (const char *[]){"ip", "netns", "del", name, NULL});
	step = plan_add(plan, b, NULL, FALSE);
	step->if_exists = g_build_filename(ALK_NETNS_DIR, name, NULL);
}

void alk_net_plan_nft(AlkNetPlan *plan, const char *ns, const char *text)
{
	g_autoptr(GStrvBuilder) b = NULL;
	Step *step;

	if (!plan_ns_ok(plan, ns))
		return;
	b = in_ns(ns);
	g_strv_builder_addv(b, (const char *[]){"nft", "-f", "-", NULL});
	step = plan_add(plan, b, text, FALSE);
	step->kind = STEP_NFT;
	step->ns = g_strdup(ns);
}

void alk_net_plan_sysctl(AlkNetPlan *plan, const char *ns, const char *key, const char *value)
{
	g_autoptr(GStrvBuilder) b = NULL;
	g_autofree char *kv = g_strdup_printf("%s=%s", key, value);
	Step *step;

	if (!plan_ns_ok(plan, ns))
		return;
	/* a key names a file under /proc/sys: dots and plain names only */
	if (key[0] == '.' || strstr(key, "..") != NULL ||
	    strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789_.") != strlen(key) ||
	    strspn(value, "0123456789") != strlen(value) || value[0] == '\0') {
		if (plan->error == NULL)
			g_set_error(&plan->error, ALK_ERROR, ALK_ERROR_INVALID, "bad sysctl %s",
			            kv);
		return;
	}
	b = in_ns(ns);
	g_strv_builder_addv(b, (const char *[]){"sysctl", "-q", "-w", kv, NULL});
	step = plan_add(plan, b, NULL, FALSE);
	step->kind = STEP_SYSCTL;
	step->ns = g_strdup(ns);
	step->key = g_strdup(key);
	step->value = g_strdup(value);
}

/* ---- rendering ---- */

static void append_step(GString *out, const Step *step)
{
	if (step->if_exists != NULL)
		g_string_append_printf(out, "[ -e %s ] && ", step->if_exists);
	for (guint i = 0; step->argv[i] != NULL; i++) {
		g_autofree char *q = g_shell_quote(step->argv[i]);
		gboolean plain = strspn(step->argv[i], "abcdefghijklmnopqrstuvwxyz"
		                                       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
		                                       "-_./:=@*") == strlen(step->argv[i]) &&
		                 step->argv[i][0] != '\0';

		g_string_append_printf(out, "%s%s", i > 0 ? " " : "", plain ? step->argv[i] : q);
	}
	if (step->may_fail)
		g_string_append(out, " || true");
	if (step->input != NULL)
		g_string_append_printf(out, " <<'EOF'\n%s%sEOF", step->input,
		                       g_str_has_suffix(step->input, "\n") ? "" : "\n");
	g_string_append_c(out, '\n');
}

char *alk_net_plan_to_string(const AlkNetPlan *plan)
{
	g_autoptr(GString) out = g_string_new(NULL);

	if (plan->error != NULL)
		g_string_append_printf(out, "# invalid: %s\n", plan->error->message);
	for (guint i = 0; i < plan->steps->len; i++)
		append_step(out, g_ptr_array_index(plan->steps, i));
	return g_string_free(g_steal_pointer(&out), FALSE);
}

/* ---- running ---- */

static void run_next(GTask *task);

/* A daemon in a mount namespace of its own (systemd's ProtectSystem= and
 * friends) would pin namespaces under a /run/netns only it sees, and lose
 * them when it stops: `ip netns add/del` then run in PID 1's mount
 * namespace, from where the bind mount propagates to everyone. */
static gboolean private_mounts(void)
{
	static gsize once;
	static gboolean differ;

	if (g_once_init_enter(&once)) {
		g_autofree char *self = g_file_read_link("/proc/self/ns/mnt", NULL);
		g_autofree char *init = g_file_read_link("/proc/1/ns/mnt", NULL);

		/* unreadable: no ptrace access to PID 1 (the unit grants it; some
		 * containers refuse it even to root), so nothing to go by */
		differ = self != NULL && init != NULL && !g_str_equal(self, init);
		if (init == NULL)
			g_message("cannot read /proc/1/ns/mnt: network namespaces are pinned in "
			          "airlockd's own mount namespace");
		g_once_init_leave(&once, 1);
	}
	return differ;
}

static char **step_argv(const Step *step)
{
	char **a = step->argv;
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();

	if (g_strv_length(a) >= 3 && g_str_equal(a[0], "ip") && g_str_equal(a[1], "netns") &&
	    (g_str_equal(a[2], "add") || g_str_equal(a[2], "del")) && private_mounts())
		g_strv_builder_addv(
		    b, (const char *[]){"nsenter", "--mount=/proc/1/ns/mnt", "--", NULL});
	g_strv_builder_addv(b, (const char **)a);
	return g_strv_builder_end(b);
}

static gboolean step_result(Step *step, GSubprocess *proc, const char *err, GError **error)
{
	g_autofree char *cmd = NULL;
	g_autofree char *msg = NULL;

	if (g_subprocess_get_if_exited(proc) && g_subprocess_get_exit_status(proc) == 0)
		return TRUE;
	if (step->may_fail)
		return TRUE;
	cmd = g_strjoinv(" ", step->argv);
	msg = g_strndup(err != NULL ? g_strstrip((char *)err) : "", STDERR_MAX);
	g_set_error(error, ALK_ERROR, ALK_ERROR_FAILED, "%s: %s", cmd,
	            *msg != '\0' ? msg : "failed");
	return FALSE;
}

static void step_done(GObject *source, GAsyncResult *res, gpointer data)
{
	g_autoptr(GTask) task = data;
	GSubprocess *proc = G_SUBPROCESS(source);
	Run *run = g_task_get_task_data(task);
	g_autofree char *err = NULL;
	g_autoptr(GError) error = NULL;

	if (!g_subprocess_communicate_utf8_finish(proc, res, NULL, &err, &error) ||
	    !step_result(g_ptr_array_index(run->plan->steps, run->next - 1), proc, err, &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	run_next(g_steal_pointer(&task));
}

/* ---- in-process steps: fewer processes per networked create ---- */

/* The ruleset through libnftables, as `nft -f -` would load it (one
 * transaction). Runs in the step's namespace. */
static gboolean load_nft(gpointer data, GError **error)
{
	const Step *step = data;
	struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
	int rc;

	if (nft == NULL) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_FAILED, "nft: cannot start libnftables");
		return FALSE;
	}
	nft_ctx_buffer_output(nft);
	nft_ctx_buffer_error(nft);
	rc = nft_run_cmd_from_buffer(nft, step->input);
	if (rc != 0) {
		g_autofree char *msg = g_strndup(nft_ctx_get_error_buffer(nft), STDERR_MAX);
		g_set_error(error, ALK_ERROR, ALK_ERROR_FAILED, "nft -f -%s%s: %s",
		            step->ns != NULL ? " in " : "", step->ns != NULL ? step->ns : "",
		            *g_strstrip(msg) != '\0' ? msg : "failed");
	}
	nft_ctx_free(nft);
	return rc == 0;
}

/* /proc/sys/KEY (dots as slashes) of the namespace the thread is in. */
static gboolean write_sysctl(gpointer data, GError **error)
{
	const Step *step = data;
	g_autofree char *rel = g_strdup(step->key);
	g_autofree char *path = NULL;
	gsize len = strlen(step->value);
	int fd;
	gboolean ok;

	g_strdelimit(rel, ".", '/');
	path = g_build_filename("/proc/sys", rel, NULL);
	fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	ok = fd >= 0 && write(fd, step->value, len) == (ssize_t)len;
	if (!ok)
		g_set_error(error, ALK_ERROR, ALK_ERROR_FAILED, "sysctl %s=%s: %s", step->key,
		            step->value, g_strerror(errno));
	if (fd >= 0)
		close(fd);
	return ok;
}

static gboolean apply_link(gpointer data, GError **error)
{
	const Step *step = data;

	return alk_net_link_apply(&step->link, error);
}

static void in_process_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
	Step *step = data;
	GError *error = NULL;
	AlkNetnsFunc func = step->kind == STEP_NFT      ? load_nft
	                    : step->kind == STEP_SYSCTL ? write_sysctl
	                                                : apply_link;

	if (alk_netns_run_in(step->ns, func, step, &error))
		g_task_return_boolean(task, TRUE);
	else
		g_task_return_error(task, error);
}

static void in_process_done(GObject *source, GAsyncResult *res, gpointer data)
{
	g_autoptr(GTask) task = data;
	Run *run = g_task_get_task_data(task);
	Step *step = g_ptr_array_index(run->plan->steps, run->next - 1);
	g_autoptr(GError) error = NULL;

	if (!g_task_propagate_boolean(G_TASK(res), &error) && !step->may_fail) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	run_next(g_steal_pointer(&task));
}

/* The next step that is to run, or NULL at the end. */
static Step *next_step(Run *run)
{
	while (run->next < run->plan->steps->len) {
		Step *step = g_ptr_array_index(run->plan->steps, run->next++);

		if (step->if_exists == NULL || g_file_test(step->if_exists, G_FILE_TEST_EXISTS))
			return step;
	}
	return NULL;
}

/* Takes the reference of task. */
static void run_next(GTask *task)
{
	Run *run = g_task_get_task_data(task);
	Step *step = next_step(run);
	g_auto(GStrv) argv = NULL;
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GError) error = NULL;

	if (step == NULL) {
		g_task_return_boolean(task, TRUE);
		g_object_unref(task);
		return;
	}
	if (step->kind != STEP_COMMAND) {
		/* the step stays the plan's until the plan is freed, after this */
		GTask *sub = g_task_new(NULL, g_task_get_cancellable(task), in_process_done, task);

		g_task_set_task_data(sub, step, NULL);
		g_task_run_in_thread(sub, in_process_thread);
		g_object_unref(sub);
		return;
	}
	argv = step_argv(step);
	proc =
	    g_subprocess_newv((const char *const *)argv,
	                      G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE |
	                          (step->input != NULL ? G_SUBPROCESS_FLAGS_STDIN_PIPE : 0),
	                      &error);
	if (proc == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		g_object_unref(task);
		return;
	}
	g_subprocess_communicate_utf8_async(proc, step->input, g_task_get_cancellable(task),
	                                    step_done, task);
}

void alk_net_plan_run_async(AlkNetPlan *plan, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
	GTask *task = g_task_new(NULL, cancellable, callback, user_data);
	Run *run;

	g_task_set_source_tag(task, alk_net_plan_run_async);
	if (plan->error != NULL) {
		g_task_return_error(task, g_steal_pointer(&plan->error));
		g_object_unref(task);
		alk_net_plan_free(plan);
		return;
	}
	run = g_new0(Run, 1);
	run->plan = plan;
	g_task_set_task_data(task, run, (GDestroyNotify)run_free);
	run_next(task);
}

gboolean alk_net_plan_finish(GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, NULL), FALSE);
	return g_task_propagate_boolean(G_TASK(result), error);
}

static void sync_done(GObject *source, GAsyncResult *res, gpointer data)
{
	*(GAsyncResult **)data = g_object_ref(res);
}

/* The async form on a private main context, so no other source runs meanwhile. */
gboolean alk_net_plan_run(AlkNetPlan *plan, GError **error)
{
	g_autoptr(GMainContext) ctx = g_main_context_new();
	g_autoptr(GAsyncResult) res = NULL;

	g_main_context_push_thread_default(ctx);
	alk_net_plan_run_async(plan, NULL, sync_done, &res);
	while (res == NULL)
		g_main_context_iteration(ctx, TRUE);
	g_main_context_pop_thread_default(ctx);
	return alk_net_plan_finish(res, error);
}
