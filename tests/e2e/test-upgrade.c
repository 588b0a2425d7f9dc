/* SPDX-License-Identifier: MIT */
/*
 * examples/upgrade-echo upgraded twice under load: a few hundred loopback
 * connections keep sending while the server hands them all to brokerd and
 * execs its next version, which claims them back.  Every byte sent on
 * every connection comes back, in order, exactly once; no connection
 * drops; the listener keeps accepting; the server has exactly the fds it
 * had before (no leaked copy), brokerd too, and brokerd never started an
 * instance of the app (the attachment went on across the exec).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define APP "org.test.upgrade"
#define N 300

static int conn[N];
static unsigned long long sent[N];

static pid_t start_server(struct hb *b)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (chdir(b->dir) < 0)
			_exit(126);
		int out = open("echo.out", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (out < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
			_exit(126);
		const char *exe = getenv("UPGRADE_ECHO");
		execl(exe, exe, "--app", APP, "--control", b->socket, "--port-file", "port", (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int fds_of(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *dir = opendir(path);
	ck_assert_ptr_nonnull(dir);
	int n = 0;
	for (struct dirent *e; (e = readdir(dir));)
		n += e->d_name[0] != '.';
	closedir(dir);
	return n;
}

/* Round r on every connection: a record that names it, sent at once. */
static void send_round(unsigned r)
{
	for (unsigned i = 0; i < N; i++) {
		char msg[64];
		int n = snprintf(msg, sizeof(msg), "[%u:%u:%llu]", i, r, sent[i]);
		hb_send(conn[i], msg, (size_t)n);
		sent[i] += (unsigned)n;
	}
}

/* Read back rounds from..to on every connection: exactly those bytes. */
static void expect_rounds(unsigned from, unsigned to, const unsigned long long *before)
{
	for (unsigned i = 0; i < N; i++) {
		char want[1024] = "", got[1024];
		size_t len = 0;
		unsigned long long at = before[i];
		for (unsigned r = from; r <= to; r++) {
			int n = snprintf(want + len, sizeof(want) - len, "[%u:%u:%llu]", i, r, at);
			len += (size_t)n;
			at += (unsigned)n;
		}
		ck_assert_msg(hb_recv_exact(conn[i], got, len, HB_WAIT_MS), "connection %u: no echo of rounds %u-%u", i,
			      from, to);
		ck_assert_msg(memcmp(got, want, len) == 0, "connection %u: %.*s, expected %s", i, (int)len, got, want);
	}
}

static void upgrade_once(struct hb *b, pid_t pid, unsigned generation, unsigned *round)
{
	unsigned long long before[N];
	memcpy(before, sent, sizeof(before));
	send_round((*round)++);
	ck_assert_int_eq(kill(pid, SIGHUP), 0);
	send_round((*round)++);      /* in flight while the server hands over and execs */
	send_round((*round)++);
	char ready[64];
	snprintf(ready, sizeof(ready), "ready generation=%u", generation);
	ck_assert_msg(HB_WAIT(hb_file_contains(hb_path(b, "echo.out"), ready), HB_WAIT_MS),
		      "no \"%s\" from the server", ready);
	expect_rounds(*round - 3, *round - 1, before);
}

START_TEST(upgrade_under_load)
{
	hb_raise_nofile(0);

	struct hb b;
	hb_init(&b, "upgrade", NULL);
	hb_app(&b, APP, "libbroker", "/bin/false");   /* brokerd must never need to start it */
	hb_start(&b);
	pid_t pid = start_server(&b);
	ck_assert_msg(HB_WAIT(hb_file_contains(hb_path(&b, "echo.out"), "ready generation=1"), HB_WAIT_MS),
		      "the server did not start");
	FILE *f = fopen(hb_path(&b, "port"), "re");
	unsigned port = 0;
	ck_assert(f && fscanf(f, "%u", &port) == 1);
	fclose(f);
	for (unsigned i = 0; i < N; i++)
		conn[i] = hb_tcp_connect((uint16_t)port);
	unsigned round = 0;
	unsigned long long before[N];
	memcpy(before, sent, sizeof(before));
	send_round(round++);
	expect_rounds(0, 0, before);
	int server_fds = fds_of(pid), broker_fds = hb_fds(&b);
	ck_assert_int_eq(broker_fds, b.base_fds + 2);   /* its control and its activation connection */

	upgrade_once(&b, pid, 2, &round);
	upgrade_once(&b, pid, 3, &round);

	/* the same process, the same fds, brokerd holding nothing */
	ck_assert_int_eq(kill(pid, 0), 0);
	ck_assert_int_eq(fds_of(pid), server_fds);
	hb_assert_fds(&b, broker_fds);
	broker_status st;
	broker *c = hb_open(&b, NULL);
	ck_assert_int_eq(broker_get_status(c, &st), 0);
	ck_assert_uint_eq(st.held, 0);
	ck_assert_uint_eq(st.activations_total, 0);
	broker_close(c);
	/* and the listener it got back still accepts */
	int late = hb_tcp_connect((uint16_t)port);
	hb_send(late, "late", 4);
	ck_assert(hb_recv_is(late, "late", 4));
	close(late);

	for (unsigned i = 0; i < N; i++)
		close(conn[i]);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("upgrade");
	TCase *tc = tcase_create("upgrade");
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, upgrade_under_load);
	suite_add_tcase(s, tc);
	return hb_run_suite(s);
}
