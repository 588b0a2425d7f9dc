/* SPDX-License-Identifier: MIT */
/*
 * Activation latency without systemd: a peer sends one byte to a held
 * socket; an app is started, gets the socket, reads the byte and answers;
 * the peer gets the answer.  Time from send to answer, three ways, with
 * the same app (bench-app) each time:
 *   floor    this process holds the socket, sees it readable and
 *            posix_spawns the app with the socket as fd 3;
 *   brokerd  brokerd holds it and starts the app by exec (libbroker
 *            hand-back over the activation socket);
 *   ssa      systemd-socket-activate --accept forks and execs the app per
 *            connection (the peer's clock starts before connect()).
 * Samples alternate between the three; every instance has exited before
 * the next sample starts.
 */
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

extern char **environ;

enum { A_FLOOR, A_BROKERD, A_SSA, NA };
static const char *const names[NA] = { "posix_spawn floor", "brokerd exec",
				       "systemd-socket-activate" };
static const char *const files[NA] = { "activation-floor.dat", "activation-brokerd.dat",
				       "activation-ssa.dat" };

#define APP_ID "bench.act"

static double once_floor(int listener, uint16_t port)
{
	int c, s;
	tcp_pair(listener, port, &c, &s);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, s, 3);
	char *argv[] = { (char *)bench_app, "fd3", NULL };
	pid_t pid;

	uint64_t t0 = mono_ns();
	if (write(c, "x", 1) != 1)
		die("write: %m");
	wait_readable(s, 10000);
	if (posix_spawn(&pid, bench_app, &fa, NULL, argv, environ) != 0)
		die("posix_spawn %s: %m", bench_app);
	expect_answer(c, __func__);
	uint64_t t1 = mono_ns();

	close(s);
	posix_spawn_file_actions_destroy(&fa);
	waitpid(pid, NULL, 0);
	expect_close(c, __func__);
	return (double)(t1 - t0) / 1e3;
}

static double once_brokerd(broker *b, int listener, uint16_t port)
{
	int c;
	double us = bd_exchange(b, listener, port, "act", &c);
	expect_close(c, __func__);
	bd_wait_idle(b, APP_ID, 10000);
	return us;
}

static double once_ssa(uint16_t port)
{
	uint64_t t0 = mono_ns();
	int c = tcp_connect(port);
	if (c < 0)
		return -1;
	if (write(c, "x", 1) != 1)
		die("write: %m");
	expect_answer(c, __func__);
	uint64_t t1 = mono_ns();
	expect_close(c, __func__);
	return (double)(t1 - t0) / 1e3;
}

static pid_t start_ssa(uint16_t port)
{
	char listen[64];
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		freopen("/dev/null", "w", stderr);
		execlp("systemd-socket-activate", "systemd-socket-activate", "--accept", "-l", listen,
		       bench_app, "fd3", (char *)NULL);
		_exit(127);
	}
	/* Up when a whole exchange works. */
	for (int i = 0; i < 2000; i++) {
		if (once_ssa(port) >= 0)
			return pid;
		sleep_ms(5);
	}
	die("systemd-socket-activate did not come up on %s", listen);
}

void run_activation(void)
{
	unsigned n = B.quick ? 30 : 300, warm = 5;
	note("activation: %u samples each", n);

	struct bd d;
	/* Back to back starts are what the trigger limit is for: without
	 * this, every 21st start waits out the limit's window. */
	bd_init(&d, "trigger-limit-interval-ms = 0");
	char act[512];
	snprintf(act, sizeof(act), "method = exec\ncommand = %s", bench_app);
	bd_app(&d, APP_ID, act);
	bd_start(&d, NULL, 10000);
	broker *b = bd_connect(&d, APP_ID);

	uint16_t port, ssa_port = free_port();
	int listener = tcp_listener(&port);
	pid_t ssa = start_ssa(ssa_port);

	struct samples s[NA] = { 0 };
	for (unsigned i = 0; i < n + warm; i++)
		for (unsigned k = 0; k < NA; k++) {
			unsigned v = (i + k) % NA;
			double us = v == A_FLOOR ? once_floor(listener, port)
				  : v == A_BROKERD ? once_brokerd(b, listener, port)
				  : once_ssa(ssa_port);
			if (us < 0)
				die("%s: sample failed", names[v]);
			if (i >= warm)
				samples_add(&s[v], us);
		}

	double med[NA], p99[NA];
	for (unsigned v = 0; v < NA; v++)
		samples_report_ms(&s[v], "activation", names[v], files[v], &med[v], &p99[v]);
	result("activation", "brokerd / floor", "median ratio", med[A_BROKERD] / med[A_FLOOR], "x", "<= 1.3");
	result("activation", "brokerd / floor", "p99 ratio", p99[A_BROKERD] / p99[A_FLOOR], "x", "<= 1.3");
	result("activation", "brokerd / ssa", "median ratio", med[A_BROKERD] / med[A_SSA], "x", "< 1");
	result("activation", "brokerd / ssa", "p99 ratio", p99[A_BROKERD] / p99[A_SSA], "x", "< 1");

	kill(ssa, SIGTERM);
	waitpid(ssa, NULL, 0);
	close(listener);
	broker_close(b);
	bd_cleanup(&d);
}
