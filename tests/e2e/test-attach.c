/* SPDX-License-Identifier: MIT */
/*
 * Attach: an app that runs already (started by hand here) attaches itself
 * with broker_attach() and gets its triggers in place, with the same
 * acknowledged hand-back as a started instance, and no second instance
 * beside it.  Refusals (a second attach, no registration, a compatibility
 * hand-off), a crash in the middle of a hand-back (the socket goes to a
 * normal start, data intact), and a stopped instance (SIGSTOP): thawed
 * with SIGCONT when the manifest says thaw = yes, else held, said once.
 * And LISTEN_PIDFDID, which lets an instance prove who it is to others.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "proc-state.h"

#define APP "org.test.attach"
#define OTHER "org.test.attach-compat"

/* The test app started by hand (not by brokerd), as APP, with options. */
static pid_t run_by_hand(const struct hb *b, const char *options)
{
	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "exec %s --report %s.report %s", getenv("TESTAPP"), APP, options);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (chdir(b->dir) < 0)
			_exit(126);
		setenv("BROKER_SOCKET", b->socket, 1);
		setenv("BROKER_APP_ID", APP, 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void append_thaw(const struct hb *b)
{
	FILE *f = fopen(hb_path(b, "apps.d/" APP ".conf"), "a");
	ck_assert_ptr_nonnull(f);
	fputs("thaw = yes\n", f);
	fclose(f);
}

/* Start brokerd with APP; the hand-started instance attached; returns its pid. */
static pid_t begin(struct hb *b, const char *name, bool thaw, const char *options)
{
	hb_init(b, name, NULL);
	hb_testapp(b, APP, "--read-min 1 --answer pong");
	if (thaw)
		append_thaw(b);
	hb_start(b);
	pid_t pid = run_by_hand(b, options);
	char line[HB_LINE_MAX];
	hb_report_get(hb_report(b, APP), "attach", 0, line);
	hb_expect(line, "result", "0");
	broker_app **list;
	broker_app *a = hb_app_entry(b, APP, &list);
	ck_assert_int_eq(a->state, BROKER_APP_ATTACHED);
	ck_assert_int_eq(a->pid, pid);
	broker_app_list_free(list);
	return pid;
}

static void reap(pid_t pid, int want_signal)
{
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	if (want_signal)
		ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == want_signal, "status %#x", status);
	else
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
}

/* A loopback TCP connection held for APP as "conn"; returns the peer. */
static int hold_conn(const struct hb *b)
{
	int held, peer;
	hb_tcp_pair(&held, &peer);
	hb_transfer(b, APP, "conn", held, NULL, 0, 0);
	return peer;
}

/* The hand-started instance is told to go and exits cleanly; nothing leaked. */
static void finish(struct hb *b, pid_t pid, int peer)
{
	hb_touch(hb_path(b, "done"));
	reap(pid, 0);
	if (peer >= 0)
		close(peer);
	hb_assert_fds(b, b->base_fds);
	hb_finish(b);
}

static bool app_state_is(const struct hb *b, int state)
{
	broker_app **list;
	broker_app *a = hb_app_entry(b, APP, &list);
	bool is = (int)a->state == state;
	broker_app_list_free(list);
	return is;
}

START_TEST(three_triggers_in_place)
{
	struct hb b;
	pid_t pid = begin(&b, "in-place", false, "--attach --stay-until done --read-min 1 --answer pong --retransfer");
	const char *rep = hb_report(&b, APP);
	char line[HB_LINE_MAX], want[32];
	broker *mon = hb_monitor(&b);
	int held, peer;
	hb_tcp_pair(&held, &peer);
	hb_transfer(&b, APP, "conn", held, "ctx", 3, 0);

	for (int i = 0; i < 3; i++) {
		snprintf(want, sizeof(want), "ping%d", i);
		hb_send(peer, want, strlen(want));
		hb_report_get(rep, "handback", i, line);
		ck_assert_int_eq(atoi(hb_field(line, "pid")), pid);
		hb_expect(line, "data", want);
		hb_expect(line, "ctx", "ctx");
		hb_expect_recv(peer, "pong");
		hb_report_get(rep, "retransfer", i, line);
		hb_expect(line, "result", "0");
	}
	ck_assert_int_eq(hb_report_count(rep, "start"), 1);   /* no second instance */

	unsigned n[HB_EVENT_TYPES] = { 0 };
	ck_assert(hb_events_until(mon, BROKER_EVENT_ACK, 3, n));
	ck_assert_uint_eq(n[BROKER_EVENT_ACTIVATE], 0);

	/* It exits: the next trigger starts the app normally. */
	hb_touch(hb_path(&b, "done"));
	reap(pid, 0);
	ck_assert(HB_WAIT(app_state_is(&b, BROKER_APP_IDLE), HB_WAIT_MS));
	ck_assert(HB_WAIT(hb_held_state(&b, APP, "conn") == BROKER_STATE_WATCHING, HB_WAIT_MS));
	hb_send(peer, "after", 5);
	hb_report_get(rep, "start", 1, line);
	hb_expect(line, "reason", "socket-activity");
	ck_assert_int_ne(atoi(hb_field(line, "pid")), pid);
	hb_report_get(rep, "handback", 3, line);
	hb_expect(line, "data", "after");
	hb_expect_recv(peer, "pong");
	ck_assert(hb_events_until(mon, BROKER_EVENT_ACTIVATE, 1, n));
	close(peer);
	broker_close(mon);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

START_TEST(refusals)
{
	struct hb b;
	pid_t pid = begin(&b, "refusals", false, "--attach --stay-until done");
	hb_app(&b, OTHER, "listen-fds", "/bin/true");
	broker *r = hb_open(&b, NULL);
	ck_assert_int_eq(broker_reload(r), 0);
	broker_close(r);

	broker_activation *sentinel = (broker_activation *)&b, *act = sentinel;
	broker *c = hb_open(&b, APP);
	ck_assert_int_eq(broker_attach(c, &act), -EBUSY);
	ck_assert_ptr_eq(act, sentinel);
	char want[96];
	snprintf(want, sizeof(want), "pid %d is attached as " APP " already", (int)pid);
	ck_assert_str_eq(broker_last_message(c), want);
	broker_close(c);

	c = hb_open(&b, NULL);
	ck_assert_int_eq(broker_attach(c, &act), -EDESTADDRREQ);
	broker_close(c);

	c = hb_open(&b, OTHER);
	ck_assert_int_eq(broker_attach(c, &act), -EOPNOTSUPP);
	ck_assert_str_eq(broker_last_message(c), OTHER "'s hand-off is listen-fds: only an app with the libbroker "
			 "hand-off attaches");
	ck_assert_ptr_eq(act, sentinel);
	broker_close(c);

	/* The first attachment is untouched by all that. */
	ck_assert(app_state_is(&b, BROKER_APP_ATTACHED));
	hb_touch(hb_path(&b, "done"));
	reap(pid, 0);
	ck_assert(HB_WAIT(app_state_is(&b, BROKER_APP_IDLE), HB_WAIT_MS));
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

START_TEST(crash_mid_handback)
{
	struct hb b;
	pid_t pid = begin(&b, "attach-crash", false, "--attach --stay-until done --crash-once crashed");
	const char *rep = hb_report(&b, APP);
	char line[HB_LINE_MAX];
	int peer = hold_conn(&b);
	hb_send(peer, "data1", 5);
	hb_report_get(rep, "crash", 0, line);
	reap(pid, SIGABRT);

	/* Never acknowledged: held, and a normal start gets it, data intact. */
	hb_report_get(rep, "start", 1, line);
	ck_assert_int_ne(atoi(hb_field(line, "pid")), pid);
	hb_report_get(rep, "handback", 0, line);
	hb_expect(line, "data", "data1");
	hb_expect_recv(peer, "pong");
	ck_assert(HB_WAIT(hb_held_state(&b, APP, "conn") == 0, HB_WAIT_MS));
	close(peer);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

static unsigned count_in_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "r");
	char line[8192];
	unsigned n = 0;
	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, text) != NULL;
	if (f)
		fclose(f);
	return n;
}

START_TEST(sigstop_thawed)
{
	struct hb b;
	pid_t pid = begin(&b, "sigstop-thaw", true, "--attach --stay-until done --read-min 1 --answer pong");
	const char *rep = hb_report(&b, APP);
	char line[HB_LINE_MAX];
	broker *mon = hb_monitor(&b);
	int peer = hold_conn(&b);
	kill(pid, SIGSTOP);
	ck_assert(HB_WAIT(proc_stopped(pid), HB_WAIT_MS));
	hb_send(peer, "wake", 4);

	hb_report_get(rep, "handback", 0, line);
	ck_assert_int_eq(atoi(hb_field(line, "pid")), pid);
	hb_expect(line, "data", "wake");
	hb_expect_recv(peer, "pong");
	unsigned n[HB_EVENT_TYPES] = { 0 };
	ck_assert(hb_events_until(mon, BROKER_EVENT_THAW, 1, n));
	ck_assert(hb_events_until(mon, BROKER_EVENT_ACK, 1, n));
	ck_assert_int_eq(hb_report_count(rep, "start"), 1);
	broker *c = hb_open(&b, NULL);
	broker_status st;
	ck_assert_int_eq(broker_get_status(c, &st), 0);
	ck_assert_uint_eq(st.thaws_total, 1);
	ck_assert_uint_eq(st.thaws_held, 0);
	ck_assert_uint_eq(st.attached, 1);
	broker_close(c);
	ck_assert(hb_file_contains(b.log, "was stopped; sent SIGCONT"));

	broker_close(mon);
	finish(&b, pid, peer);
}
END_TEST

START_TEST(sigstop_held)
{
	struct hb b;
	pid_t pid = begin(&b, "sigstop-held", false, "--attach --stay-until done --read-min 1 --answer pong");
	const char *rep = hb_report(&b, APP);
	char line[HB_LINE_MAX];
	int peer = hold_conn(&b);
	kill(pid, SIGSTOP);
	ck_assert(HB_WAIT(proc_stopped(pid), HB_WAIT_MS));
	hb_send(peer, "held", 4);

	/* Held, said once however often brokerd looks again (once a second). */
	ck_assert(HB_WAIT(hb_file_contains(b.log, "not thawed"), HB_WAIT_MS));
	ck_assert_int_eq(hb_held_state(&b, APP, "conn"), BROKER_STATE_TRIGGERED);
	usleep(2500 * 1000);
	ck_assert_uint_eq(count_in_file(b.log, "not thawed"), 1);
	ck_assert(hb_file_contains(b.log, "the manifest does not say thaw = yes"));
	ck_assert_int_eq(hb_held_state(&b, APP, "conn"), BROKER_STATE_TRIGGERED);
	ck_assert(proc_stopped(pid));
	ck_assert_int_eq(hb_report_count(rep, "start"), 1);
	ck_assert_int_eq(hb_report_count(rep, "handback"), 0);
	broker *c = hb_open(&b, NULL);
	broker_status st;
	ck_assert_int_eq(broker_get_status(c, &st), 0);
	ck_assert_uint_eq(st.thaws_held, 1);
	ck_assert_uint_eq(st.thaws_total, 0);
	broker_close(c);

	/* Its shell lets it run again: the data was waiting for it. */
	kill(pid, SIGCONT);
	hb_report_get(rep, "handback", 0, line);
	ck_assert_int_eq(atoi(hb_field(line, "pid")), pid);
	hb_expect(line, "data", "held");
	hb_expect_recv(peer, "pong");
	finish(&b, pid, peer);
}
END_TEST

/* Stopped with a hand-back in flight: at the ack deadline brokerd finds it
 * suspended, not hung, and waits with it (no failure, no second start);
 * running again, it acknowledges. */
START_TEST(stopped_with_a_handback_in_flight)
{
	struct hb b;
	pid_t pid = begin(&b, "stopped-in-flight", false, "--attach --stay-until done --ack-after ack --read-min 1");
	const char *rep = hb_report(&b, APP);
	char line[HB_LINE_MAX];
	broker *mon = hb_monitor(&b);
	int peer = hold_conn(&b);
	hb_send(peer, "late", 4);
	hb_report_get(rep, "received", 0, line);
	kill(pid, SIGSTOP);
	ck_assert(HB_WAIT(proc_stopped(pid), HB_WAIT_MS));
	unsigned n[HB_EVENT_TYPES] = { 0 };
	ck_assert(hb_events_until(mon, BROKER_EVENT_THAW, 1, n));   /* at the deadline (5 s) */
	ck_assert(hb_file_contains(b.log, "not thawed: pid"));
	ck_assert_int_eq(hb_held_state(&b, APP, "conn"), BROKER_STATE_HANDING_BACK);

	kill(pid, SIGCONT);
	hb_touch(hb_path(&b, "ack"));
	hb_report_get(rep, "handback", 0, line);
	hb_expect(line, "data", "late");
	ck_assert(hb_events_until(mon, BROKER_EVENT_ACK, 1, n));
	ck_assert_uint_eq(n[BROKER_EVENT_FAILURE], 0);
	ck_assert_uint_eq(n[BROKER_EVENT_ACTIVATE], 0);
	ck_assert_int_eq(hb_report_count(rep, "start"), 1);
	broker_close(mon);
	finish(&b, pid, peer);
}
END_TEST

/* An exec instance finds its pidfd's inode number in LISTEN_PIDFDID
 * (pidfs, Linux 6.9), as systemd v259 gives it; brokerd's own is dropped. */
START_TEST(listen_pidfdid)
{
	struct hb b;
	hb_init(&b, "pidfdid", NULL);
	hb_testapp(&b, APP, "--wait-file go --env LISTEN_PIDFDID");
	setenv("LISTEN_PIDFDID", "1", 1);   /* brokerd inherits it; the app must not */
	hb_start(&b);
	unsetenv("LISTEN_PIDFDID");
	const char *rep = hb_report(&b, APP);
	char line[HB_LINE_MAX];
	int held, peer;
	hb_unix_pair(SOCK_STREAM, &held, &peer);
	hb_transfer(&b, APP, "conn", held, NULL, 0, 0);
	hb_send(peer, "x", 1);
	hb_report_get(rep, "start", 0, line);
	pid_t pid = atoi(hb_field(line, "pid"));
	hb_report_get(rep, "env", 0, line);

	/* The same number from outside, while it waits for "go". */
	int fd = pidfd_open(pid, 0);
	ck_assert_int_ge(fd, 0);
	struct statfs fs;
	struct stat st;
	ck_assert_int_eq(fstatfs(fd, &fs), 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	close(fd);
	const char *vg = getenv("BROKER_TEST_VALGRIND");
	if (vg && *vg && strcmp(hb_field(line, "set"), "0") == 0) {
		/* valgrind does not know pidfd_open: the child finds no id */
		hb_diag("under valgrind: LISTEN_PIDFDID unset");
	} else if (fs.f_type == 0x50494446) {   /* PID_FS_MAGIC */
		char want[32];
		snprintf(want, sizeof(want), "%llu", (unsigned long long)st.st_ino);
		hb_expect(line, "set", "1");
		hb_expect(line, "value", want);
	} else {
		hb_diag("pidfds are not in pidfs here: LISTEN_PIDFDID must be unset");
		hb_expect(line, "set", "0");
	}
	hb_touch(hb_path(&b, "go"));
	hb_report_get(rep, "handback", 0, line);
	hb_expect(line, "data", "x");
	hb_report_get(rep, "exit", 0, line);
	close(peer);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("e2e-attach");
	TCase *tc = tcase_create("attach");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, three_triggers_in_place);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, crash_mid_handback);
	tcase_add_test(tc, sigstop_thawed);
	tcase_add_test(tc, sigstop_held);
	tcase_add_test(tc, stopped_with_a_handback_in_flight);
	tcase_add_test(tc, listen_pidfdid);
	suite_add_tcase(s, tc);
	return hb_run_suite(s);
}
