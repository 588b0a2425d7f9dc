/* SPDX-License-Identifier: MIT */
/*
 * core/instance.c: an instance's processes from /proc, with this test as
 * the subreaper brokerd would be.  Real process trees: a descendant, an
 * orphan in the main process's session, a daemon (fork, setsid, fork)
 * known only by BROKER_APP_ID, a stray child that is nobody's, and a kill
 * of a whole instance.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon-fixture.h"
#include "instance.h"

static struct app *a;

static void setup(void)
{
	daemon_setup();
	ck_assert_int_eq(instance_init(), 0);
	a = app_get(&d, "org.test.inst");
	ck_assert_ptr_nonnull(a);
}

static void teardown(void)
{
	instance_end(&a->inst);
	daemon_teardown();
}

/* Exec sleep, with BROKER_APP_ID in its environment if app_id is set. */
static _Noreturn void exec_sleep(const char *app_id)
{
	char var[128];
	snprintf(var, sizeof(var), "BROKER_APP_ID=%s", app_id ? app_id : "");
	char *env[] = { app_id ? var : NULL, NULL };
	execle("/bin/sleep", "sleep", "30", (char *)NULL, env);
	_exit(127);
}

/* Reap pid as brokerd's reaper would, and tell the instances. */
static void reap(pid_t pid)
{
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	if (pid == a->inst.main)
		instance_main_reaped(&d, &a->inst, status);
	else
		instance_scan(&d);
}

static bool listed(pid_t pid)
{
	for (unsigned i = 0; i < a->inst.nprocs && i < INSTANCE_PROCS_MAX; i++)
		if (a->inst.procs[i] == pid)
			return true;
	return false;
}

/* Has pid exec'd sleep yet? */
static bool is_sleep(pid_t pid)
{
	char comm[16];
	instance_comm(pid, comm);
	return strcmp(comm, "sleep") == 0;
}

/* Fork a child that execs sleep (BROKER_APP_ID=app_id if set); return
 * once it has. */
static pid_t fork_sleep(const char *app_id)
{
	pid_t pid = fork();
	if (pid == 0)
		exec_sleep(app_id);
	while (!is_sleep(pid))
		usleep(1000);
	return pid;
}

/* A main process in a session of its own with a child sleeping: the
 * main process then exits with status, or (status < 0) sleeps too. */
static pid_t fork_main_with_child(int status)
{
	pid_t main = fork();
	if (main == 0) {
		setsid();
		fork_sleep(NULL);
		if (status < 0)
			exec_sleep(NULL);
		_exit(status);
	}
	return main;
}

START_TEST(descendant)
{
	int go[2];
	ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
	pid_t main = fork();
	if (main == 0) {
		close(go[1]);
		setsid();
		pid_t k = fork();
		if (k == 0)
			exec_sleep(NULL);
		char c;
		ck_assert_int_eq(read(go[0], &c, 1), 0);   /* until the test closes it */
		kill(k, SIGKILL);
		_exit(0);
	}
	close(go[0]);
	instance_begin(&a->inst, main);
	ck_assert(instance_alive(&a->inst));
	instance_scan(&d);
	for (int i = 0; i < 5000 && a->inst.nprocs < 2; i++, usleep(1000))
		instance_scan(&d);
	ck_assert_uint_eq(a->inst.nprocs, 2);
	ck_assert_int_eq(a->inst.procs[0], main);
	close(go[1]);
	reap(main);
	/* its child, killed as it went, came back to us */
	while (waitpid(-1, NULL, 0) > 0)
		instance_scan(&d);
	ck_assert(instance_over(&a->inst));
}
END_TEST

/* The main process forks and exits: the child comes back to us, and its
 * session (the main process's) says whose it is. */
START_TEST(orphan_by_session)
{
	pid_t main = fork_main_with_child(3);
	instance_begin(&a->inst, main);
	reap(main);
	ck_assert_int_eq(a->inst.main, 0);
	ck_assert(WIFEXITED(a->inst.main_status) && WEXITSTATUS(a->inst.main_status) == 3);
	ck_assert_uint_eq(a->inst.nprocs, 1);
	ck_assert(!instance_over(&a->inst));
	pid_t orphan = a->inst.procs[0];
	ck_assert(is_sleep(orphan));
	ck_assert_int_eq(kill(orphan, SIGKILL), 0);
	reap(orphan);
	ck_assert(instance_over(&a->inst));
}
END_TEST

/* A daemon: fork, setsid, fork, and both parents gone before anything
 * looked; BROKER_APP_ID says whose the grandchild is.  A stray child
 * without it is nobody's. */
START_TEST(daemon_by_environment)
{
	pid_t main = fork();
	if (main == 0) {
		setsid();
		pid_t mid = fork();
		if (mid == 0) {
			setsid();
			fork_sleep("org.test.inst");
			_exit(0);
		}
		waitpid(mid, NULL, 0);
		_exit(0);
	}
	pid_t stray = fork_sleep(NULL);
	instance_begin(&a->inst, main);
	reap(main);
	ck_assert_uint_eq(a->inst.nprocs, 1);
	pid_t daemon = a->inst.procs[0];
	ck_assert_int_ne(daemon, stray);
	ck_assert(is_sleep(daemon));
	ck_assert(!listed(stray));
	ck_assert_uint_eq(instance_kill(&d, &a->inst, SIGKILL), 1);
	reap(daemon);
	ck_assert(instance_over(&a->inst));
	kill(stray, SIGKILL);
	waitpid(stray, NULL, 0);
}
END_TEST

/* A kill reaches every process, children before parents. */
START_TEST(kill_whole)
{
	pid_t main = fork_main_with_child(-1);
	instance_begin(&a->inst, main);
	while (!is_sleep(main))
		usleep(1000);
	ck_assert_uint_eq(instance_kill(&d, &a->inst, SIGKILL), 2);
	reap(main);
	/* the child, killed too, came back to us (it may not be dead yet) */
	while (waitpid(-1, NULL, 0) > 0)
		instance_scan(&d);
	ck_assert_int_eq(errno, ECHILD);
	ck_assert(instance_over(&a->inst));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("instance");
	TCase *tc = tcase_create("instance");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, descendant);
	tcase_add_test(tc, orphan_by_session);
	tcase_add_test(tc, daemon_by_environment);
	tcase_add_test(tc, kill_whole);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
