/* SPDX-License-Identifier: MIT */
/*
 * Idle cost: what brokerd does over a window while it holds 15k idle
 * sockets.  Without keep-alives it should do nothing at all: no syscalls,
 * no wakeups, no CPU time (counted twice: once from /proc alone, once with
 * strace -c attached).  With keep-alives that all fall due inside the
 * window, the timers that fall due together should fire together: the
 * number of wakeups (epoll_wait calls) against the number of keep-alive
 * triggers.  The keep-alive app's wake socket does not exist and its
 * back-off is an hour, so nothing but the timers happens.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

struct strace_counts {
	long calls, wakeups;
};

static pid_t strace_start(pid_t pid, const char *file)
{
	char p[16];
	snprintf(p, sizeof(p), "%d", (int)pid);
	pid_t parent = getpid();
	pid_t s = fork();
	if (s == 0) {
		prctl(PR_SET_PDEATHSIG, SIGINT);
		if (getppid() != parent)
			_exit(1);
		freopen("/dev/null", "w", stderr);
		execlp("strace", "strace", "-c", "-f", "-p", p, "-o", file, (char *)NULL);
		_exit(127);
	}
	sleep_ms(300);   /* attached */
	return s;
}

/* Stop strace and read its table: every row's calls, and epoll_wait's. */
static struct strace_counts strace_stop(pid_t s, const char *file)
{
	kill(s, SIGINT);
	int status;
	waitpid(s, &status, 0);
	struct strace_counts n = { 0, 0 };
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		note("strace did not run; idle syscalls unknown");
		return (struct strace_counts){ -1, -1 };
	}
	FILE *f = fopen(file, "re");
	if (!f)
		return n;   /* no table at all: not one syscall */
	char line[256];
	while (fgets(line, sizeof(line), f)) {
		char *tok[8];
		int k = 0;
		for (char *t = strtok(line, " \t\n"); t && k < 8; t = strtok(NULL, " \t\n"))
			tok[k++] = t;
		/* % seconds usecs/call calls [errors] syscall */
		if (k < 5 || strcmp(tok[k - 1], "total") == 0 || tok[0][0] == '%' || tok[0][0] == '-')
			continue;
		long calls = strtol(tok[3], NULL, 10);
		n.calls += calls;
		if (strncmp(tok[k - 1], "epoll_wait", 10) == 0 || strcmp(tok[k - 1], "epoll_pwait") == 0)
			n.wakeups += calls;
	}
	fclose(f);
	return n;
}

/* brokerd holding n sockets for one app. */
struct idle {
	struct bd d;
	broker *b;
	struct held_set set;
};

static void idle_start(struct idle *t, const char *limits, const char *app_id, const char *activation)
{
	bd_init(&t->d, limits);
	bd_app(&t->d, app_id, activation);
	bd_start(&t->d, NULL, 10000);
	t->b = bd_connect(&t->d, app_id);
}

static void idle_end(struct idle *t)
{
	held_set_close(&t->set);
	broker_close(t->b);
	bd_cleanup(&t->d);
}

static void quiet(unsigned n, unsigned window_s)
{
	struct idle t;
	idle_start(&t, NULL, "bench.idle", "method = exec\ncommand = /bin/false");
	held_set_init(&t.set, n);
	held_set_add(&t.set, t.b, "i", n, 0);
	sleep_ms(500);
	struct bd *d = &t.d;

	long v0 = proc_status(d->pid, "voluntary_ctxt_switches");
	long i0 = proc_status(d->pid, "nonvoluntary_ctxt_switches");
	long c0 = proc_cpu_ticks(d->pid);
	sleep_ms(window_s * 1000);
	long v1 = proc_status(d->pid, "voluntary_ctxt_switches");
	long i1 = proc_status(d->pid, "nonvoluntary_ctxt_switches");
	long c1 = proc_cpu_ticks(d->pid);

	pid_t s = strace_start(d->pid, out_path("idle-strace.txt"));
	sleep_ms(window_s * 1000);
	struct strace_counts sc = strace_stop(s, out_path("idle-strace.txt"));

	/* A socket claimed back is the app's: its traffic is none of
	 * brokerd's business and must not wake it. */
	int claimed = broker_claim(t.b, "i00005", NULL);
	if (claimed < 0)
		die("claim: %s", broker_strerror(claimed));
	s = strace_start(d->pid, out_path("idle-claimed-strace.txt"));
	if (write(t.set.clients[5], "x", 1) != 1)
		die("write: %m");
	sleep_ms(3000);   /* strace slows a rebuild of the epoll set down a lot */
	struct strace_counts cl = strace_stop(s, out_path("idle-claimed-strace.txt"));
	close(claimed);

	char subject[64];
	snprintf(subject, sizeof(subject), "%u held, no keep-alive", n);
	result("idle", subject, "wakeups (ctxt switches)", (double)(v1 - v0 + i1 - i0), "count", "== 0");
	result("idle", subject, "CPU time", (double)(c1 - c0) * 1000.0 / (double)sysconf(_SC_CLK_TCK), "ms", "== 0");
	if (sc.calls >= 0) {
		result("idle", subject, "syscalls (strace)", (double)sc.calls, "count", "== 0");
		result("idle", subject, "epoll_wait (strace)", (double)sc.wakeups, "count", "== 0");
		result("idle", subject, "syscalls on a claimed socket's data", (double)cl.calls, "count", "== 0");
	}
	idle_end(&t);
}

static void keepalive(unsigned n, unsigned window_s, unsigned keepalive_s)
{
	struct idle t;
	idle_start(&t, "backoff-initial-ms = 3600000\nbackoff-max-ms = 3600000", "bench.ka",
		   "method = wake-socket\nsocket = /nonexistent/broker-bench-absent.sock");
	held_set_init(&t.set, n);
	uint64_t t0 = mono_ns();
	held_set_add(&t.set, t.b, "k", n, keepalive_s);
	double spread = (double)(mono_ns() - t0) / 1e9;

	broker_status st0, st1;
	broker_get_status(t.b, &st0);
	pid_t s = strace_start(t.d.pid, out_path("idle-keepalive-strace.txt"));
	sleep_ms(window_s * 1000);
	struct strace_counts sc = strace_stop(s, out_path("idle-keepalive-strace.txt"));
	broker_get_status(t.b, &st1);

	char subject[64];
	snprintf(subject, sizeof(subject), "%u held, keep-alive %u s", n, keepalive_s);
	if (st0.triggers_total)
		note("%llu keep-alives fell due before the window", (unsigned long long)st0.triggers_total);
	result("idle", subject, "transfers spread over", spread, "s", NULL);
	result("idle", subject, "keep-alive triggers", (double)(st1.triggers_total - st0.triggers_total),
	       "count", NULL);
	if (sc.calls >= 0) {
		result("idle", subject, "syscalls (strace)", (double)sc.calls, "count", NULL);
		result("idle", subject, "wakeups (epoll_wait)", (double)sc.wakeups, "count", NULL);
		/* batching: how many keep-alives one wakeup serves */
		result("idle", subject, "triggers per wakeup",
		       (double)(st1.triggers_total - st0.triggers_total) / (sc.wakeups ? sc.wakeups : 1),
		       "count", ">= 100");
	}
	idle_end(&t);
}

void run_idle(void)
{
	unsigned n = B.quick ? 5000 : 15000, window = B.quick ? 3 : 10;
	note("idle: %u held sockets, %u s windows", n, window);
	quiet(n, window);
	keepalive(n, window, B.quick ? 2 : 5);
}
