/* SPDX-License-Identifier: MIT */
/*
 * Waking a suspended app in place against starting it cold: a peer sends
 * one byte to a held socket and waits for the answer, with the same app
 * (bench-app) either way:
 *   cold    brokerd starts it by exec and hands the socket back (as in
 *           the activation scenario);
 *   frozen  it runs already, attached (broker_attach()), and is stopped
 *           with SIGSTOP before each sample; its manifest says thaw = yes,
 *           so brokerd sends SIGCONT and hands the socket back over the
 *           attached connection.
 * SIGSTOP rather than the cgroup freezer: the freezer needs a manager
 * that sees cgroup v2 only, which the systemd suite sets up but a plain
 * benchmark run does not have (tests/systemd/cases-freeze.c tests it).
 * Samples alternate; each instance has exited, or is stopped again, before
 * the next sample starts.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "proc-state.h"

#define COLD_ID "bench.cold"
#define FROZEN_ID "bench.frozen"

/* bench-app, started here, attached as FROZEN_ID. */
static pid_t start_attached(const struct bd *d, broker *b)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %m");
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		setenv("BROKER_SOCKET", d->sock, 1);
		execl(bench_app, bench_app, "--attach-as", FROZEN_ID, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 10000; i++) {
		broker_app **list;
		bool attached = false;
		if (broker_list_apps(b, &list) >= 0) {
			for (broker_app **a = list; *a; a++)
				attached |= strcmp((*a)->id, FROZEN_ID) == 0 && (*a)->state == BROKER_APP_ATTACHED;
			broker_app_list_free(list);
		}
		if (attached)
			return pid;
		sleep_ms(1);
	}
	die("bench-app did not attach");
}

static double once_frozen(broker *b, pid_t app, int listener, uint16_t port)
{
	kill(app, SIGSTOP);
	while (!proc_stopped(app))
		sleep_ms(1);
	int c;
	double us = bd_exchange(b, listener, port, "frozen", &c);
	expect_close(c, __func__);
	return us;
}

static double once_cold(broker *b, int listener, uint16_t port)
{
	int c;
	double us = bd_exchange(b, listener, port, "cold", &c);
	expect_close(c, __func__);
	bd_wait_idle(b, COLD_ID, 10000);
	return us;
}

void run_frozen(void)
{
	unsigned n = B.quick ? 30 : 300, warm = 5;
	note("frozen: %u samples each", n);

	struct bd d;
	/* Back to back cold starts are what the trigger limit is for. */
	bd_init(&d, "trigger-limit-interval-ms = 0");
	char act[512];
	snprintf(act, sizeof(act), "method = exec\ncommand = %s", bench_app);
	bd_app(&d, COLD_ID, act);
	snprintf(act, sizeof(act), "method = exec\ncommand = %s\nthaw = yes", bench_app);
	bd_app(&d, FROZEN_ID, act);
	bd_start(&d, NULL, 10000);
	broker *cold = bd_connect(&d, COLD_ID), *frozen = bd_connect(&d, FROZEN_ID);
	pid_t app = start_attached(&d, frozen);
	uint16_t port;
	int listener = tcp_listener(&port);

	struct samples s[2] = { 0 };
	for (unsigned i = 0; i < n + warm; i++)
		for (unsigned k = 0; k < 2; k++) {
			unsigned v = (i + k) % 2;
			double us = v ? once_frozen(frozen, app, listener, port) : once_cold(cold, listener, port);
			if (i >= warm)
				samples_add(&s[v], us);
		}

	static const char *const names[2] = { "cold start (exec)", "wake of a stopped app" };
	static const char *const files[2] = { "frozen-cold.dat", "frozen-wake.dat" };
	samples_report_pair_ms(s, "frozen", names, files, "wake / cold start", NULL);

	kill(app, SIGCONT);
	kill(app, SIGTERM);
	waitpid(app, NULL, 0);
	close(listener);
	broker_close(cold);
	broker_close(frozen);
	bd_cleanup(&d);
}
