/* SPDX-License-Identifier: MIT */
/*
 * Activation: triggers coalesced into one start, at most one instance (a
 * running app gets later triggers over its activation), and apps that fail
 * (crash or exit before acknowledging, never open the activation): the
 * socket stays held with its data, and activation is retried after a
 * back-off until it succeeds.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define APP "org.test.activation"

START_TEST(three_triggers_one_start)
{
	struct hb b;
	hb_init(&b, "coalesce", NULL);
	hb_testapp(&b, APP, "--wait-file go --read-min 1 --answer ok");
	hb_start(&b);
	const char *rep = hb_report(&b, APP);
	char line[HB_LINE_MAX];
	broker *mon = hb_monitor(&b);

	/* Three kinds of socket, one app. */
	int held[3], peer[3];
	const char *ids[3] = { "tcp", "udp", "seqpacket" };
	hb_tcp_pair(&held[0], &peer[0]);
	hb_udp_pair(&held[1], &peer[1]);
	hb_unix_pair(SOCK_SEQPACKET, &held[2], &peer[2]);
	for (int i = 0; i < 3; i++)
		hb_transfer(&b, APP, ids[i], held[i], ids[i], strlen(ids[i]), 0);
	for (int i = 0; i < 3; i++)
		hb_send(peer[i], "x", 1);

	/* The app is starting; all three triggered before it opens the activation. */
	hb_report_get(rep, "start", 0, line);
	for (int i = 0; i < 3; i++)
		ck_assert(HB_WAIT(hb_held_state(&b, APP, ids[i]) == BROKER_STATE_TRIGGERED, HB_WAIT_MS));
	hb_touch(hb_path(&b, "go"));

	unsigned seen = 0;
	for (int i = 0; i < 3; i++) {
		hb_report_get(rep, "handback", i, line);
		hb_expect(line, "reason", "socket-activity");
		hb_expect(line, "ctx", hb_field(line, "id"));
		hb_expect(line, "data", strcmp(hb_field(line, "id"), "tcp") ? hb_rec("x", 1) : "x");
		for (int k = 0; k < 3; k++)
			seen |= (strcmp(hb_field(line, "id"), ids[k]) == 0) << k;
	}
	ck_assert_uint_eq(seen, 7);
	for (int i = 0; i < 3; i++) {
		hb_expect_recv(peer[i], "ok");
		close(peer[i]);
	}

	unsigned n[HB_EVENT_TYPES] = { 0 };
	ck_assert(hb_events_until(mon, BROKER_EVENT_ACK, 3, n));
	ck_assert(hb_events_until(mon, BROKER_EVENT_EXIT, 1, n));
	ck_assert_uint_eq(n[BROKER_EVENT_TRIGGER], 3);
	ck_assert_uint_eq(n[BROKER_EVENT_ACTIVATE], 1);
	ck_assert_uint_eq(n[BROKER_EVENT_HANDBACK], 3);
	ck_assert_uint_eq(n[BROKER_EVENT_ACK], 3);
	ck_assert_int_eq(hb_report_count(rep, "start"), 1);
	broker_close(mon);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

START_TEST(running_instance_gets_later_triggers)
{
	struct hb b;
	hb_init(&b, "one-instance", NULL);
	hb_testapp(&b, APP, "--stay-until done --read-min 1 --answer ok");
	hb_start(&b);
	const char *rep = hb_report(&b, APP);
	char line[HB_LINE_MAX];

	int held[2], peer[2];
	const char *ids[2] = { "first", "second" };
	for (int i = 0; i < 2; i++) {
		hb_unix_pair(SOCK_STREAM, &held[i], &peer[i]);
		hb_transfer(&b, APP, ids[i], held[i], NULL, 0, 0);
	}
	hb_send(peer[0], "1", 1);
	hb_report_get(rep, "handback", 0, line);
	hb_expect(line, "id", "first");
	const char *pid = hb_field(line, "pid");
	hb_expect_recv(peer[0], "ok");

	broker_app **apps;
	broker_app *a = hb_app_entry(&b, APP, &apps);
	ck_assert_int_eq(a->pid, atoi(pid));
	ck_assert_int_eq(a->state, BROKER_APP_RUNNING);
	broker_app_list_free(apps);

	/* The app still runs: the next trigger reaches it, no second start. */
	hb_send(peer[1], "2", 1);
	hb_report_get(rep, "handback", 1, line);
	hb_expect(line, "id", "second");
	hb_expect(line, "pid", pid);
	hb_expect(line, "data", "2");
	hb_expect_recv(peer[1], "ok");

	hb_touch(hb_path(&b, "done"));
	hb_report_get(rep, "exit", 0, line);
	hb_expect(line, "handled", "2");
	ck_assert_int_eq(hb_report_count(rep, "start"), 1);
	for (int i = 0; i < 2; i++)
		close(peer[i]);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

/* The ways a first attempt can fail, each retried after the back-off. */
struct failure_case {
	const char *name;
	const char *option;     /* testapp option that misbehaves once */
	const char *line;       /* the report line it writes first */
	const char *conf;
	bool gate;              /* the second start waits for "go": look meanwhile */
	const char *log;        /* what brokerd's one log line says */
};

static const struct failure_case failures[] = {
	{ "crash", "--crash-once crashed", "crash", NULL, true,
	  "activation failed: the app closed its activation without acknowledging" },
	{ "noack", "--noack-once noacked", "noack", NULL, true,
	  "activation failed: the app closed its activation without acknowledging" },
	/* the timeout applies to every start: no waiting in these */
	{ "hang", "--hang-once hung", "hang", "[limits]\nactivation-timeout-ms = 1000\n", false,
	  "activation failed: the app did not open its activation within 1000 ms" },
	{ "stall", "--stall-once stalled", "stall", "[limits]\nactivation-timeout-ms = 1000\n", false,
	  "activation failed: the app did not acknowledge 1 handed-back socket(s) within 1000 ms" },
};

/* While the second attempt waits: the socket is still held, unchanged,
 * and brokerd counts the failure. */
static void look_between_attempts(const struct hb *b)
{
	broker *c = hb_open(b, APP);
	broker_info **list;
	ck_assert_int_eq(broker_list(c, NULL, &list), 1);
	broker_info *i = list[0];
	ck_assert_str_eq(i->id, "conn");
	ck_assert_int_eq(i->state, BROKER_STATE_TRIGGERED);
	ck_assert_int_eq(i->last_reason, BROKER_REASON_SOCKET_ACTIVITY);
	ck_assert_uint_eq(i->context_len, 7);
	ck_assert_mem_eq(i->context, "keep me", 7);
	broker_info_list_free(list);
	broker_close(c);
	broker_app **apps;
	broker_app *a = hb_app_entry(b, APP, &apps);
	ck_assert_uint_eq(a->failures, 1);
	ck_assert_int_eq(a->state, BROKER_APP_STARTING);
	broker_app_list_free(apps);
}

START_TEST(failed_activation_is_retried)
{
	const struct failure_case *f = &failures[_i];
	struct hb b;
	hb_init(&b, f->name, f->conf);
	hb_testapp(&b, APP, "%s %s --read-min 9 --answer ok", f->option, f->gate ? "--wait-start 2:go" : "");
	hb_start(&b);
	const char *rep = hb_report(&b, APP);
	char line[HB_LINE_MAX];
	broker *mon = hb_monitor(&b);

	int held, peer;
	hb_tcp_pair(&held, &peer);
	hb_transfer(&b, APP, "conn", held, "keep me", 7, 0);
	hb_send(peer, "data one", 8);
	hb_report_get(rep, f->line, 0, line);
	unsigned n[HB_EVENT_TYPES] = { 0 };
	ck_assert(hb_events_until(mon, BROKER_EVENT_FAILURE, 1, n));
	ck_assert_msg(hb_file_contains(b.log, f->log), "brokerd did not log \"%s\"", f->log);
	if (f->gate) {
		hb_report_get(rep, "start", 1, line);
		hb_expect(line, "reason", "socket-activity");
		look_between_attempts(&b);
	}
	/* More bytes after the failure; nothing was consumed on the way. */
	hb_send(peer, "+", 1);
	if (f->gate)
		hb_touch(hb_path(&b, "go"));

	hb_report_get(rep, "start", 1, line);
	char pid[32];
	snprintf(pid, sizeof(pid), "%s", hb_field(line, "pid"));
	hb_report_get(rep, "handback", 0, line);
	hb_expect(line, "pid", pid);
	hb_expect(line, "reason", "socket-activity");
	hb_expect(line, "ctx", hb_esc("keep me", 7));
	hb_expect(line, "data", hb_esc("data one+", 9));
	hb_expect_recv(peer, "ok");
	ck_assert(hb_events_until(mon, BROKER_EVENT_ACK, 1, n));
	ck_assert_uint_eq(n[BROKER_EVENT_FAILURE], 1);
	ck_assert_uint_eq(n[BROKER_EVENT_ACTIVATE], 2);
	ck_assert_int_eq(hb_report_count(rep, "start"), 2);

	broker_app **apps;
	broker_app *a = hb_app_entry(&b, APP, &apps);
	ck_assert_uint_eq(a->failures, 0);
	broker_app_list_free(apps);
	ck_assert_ptr_null(hb_show(&b, APP, "conn"));
	hb_report_get(rep, "exit", 0, line);
	close(peer);
	broker_close(mon);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

/* A program that exits without ever opening its activation fails every
 * time; the socket stays held with its data until someone claims it. */
START_TEST(app_that_never_opens_its_activation)
{
	struct hb b;
	hb_init(&b, "no-activation", NULL);
	hb_app(&b, APP, "libbroker", "/bin/true");
	hb_start(&b);
	broker *mon = hb_monitor(&b);

	int held, peer;
	hb_unix_pair(SOCK_STREAM, &held, &peer);
	hb_transfer(&b, APP, "conn", held, NULL, 0, 0);
	hb_send(peer, "still here", 10);
	unsigned n[HB_EVENT_TYPES] = { 0 };
	ck_assert(hb_events_until(mon, BROKER_EVENT_FAILURE, 2, n));
	ck_assert_uint_ge(n[BROKER_EVENT_ACTIVATE], 2);
	ck_assert(hb_file_contains(b.log, "exited before opening its activation"));

	broker *c = hb_open(&b, APP);
	int fd = broker_claim(c, "conn", NULL);
	ck_assert_int_ge(fd, 0);
	hb_expect_recv(fd, "still here");
	close(fd);
	close(peer);
	broker_close(c);
	broker_close(mon);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

/* The socket that woke the app is claimed back while the app starts: when
 * it opens its activation brokerd says at once that nothing is pending. */
START_TEST(nothing_pending_when_the_app_opens)
{
	struct hb b;
	hb_init(&b, "nothing-pending", NULL);
	hb_testapp(&b, APP, "--wait-file go --receive-ms 60000");
	hb_start(&b);
	const char *rep = hb_report(&b, APP);
	char line[HB_LINE_MAX];

	int held, peer;
	hb_unix_pair(SOCK_STREAM, &held, &peer);
	hb_transfer(&b, APP, "conn", held, NULL, 0, 0);
	hb_send(peer, "x", 1);
	hb_report_get(rep, "start", 0, line);
	broker *c = hb_open(&b, APP);
	int fd = broker_claim(c, "conn", NULL);
	ck_assert_int_ge(fd, 0);
	broker_close(c);
	hb_touch(hb_path(&b, "go"));
	hb_report_get(rep, "exit", 0, line);
	hb_expect(line, "handled", "0");
	hb_expect(line, "last", "0");
	close(fd);
	close(peer);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

/* A manifest's environment= reaches the started app: its variables are
 * added to brokerd's, replace brokerd's own of the same name, and leave
 * the rest of brokerd's environment and the activation's variables alone. */
START_TEST(manifest_environment_reaches_the_app)
{
	struct hb b;
	hb_init(&b, "environment", NULL);
	char rel[300];
	snprintf(rel, sizeof(rel), "apps.d/%s.conf", APP);
	hb_write(hb_path(&b, rel),
		 "[app]\nid = %s\nuser = %u\ncapabilities = localSocket\n"
		 "[activation]\nmethod = exec\n"
		 "command = %s --report %s.report --env SBT_GIVEN,SBT_EMPTY,SBT_OVERRIDDEN,SBT_INHERITED,SBT_NONE\n"
		 "environment = SBT_GIVEN=a=b:/c\n"
		 "environment = SBT_EMPTY= SBT_OVERRIDDEN=from-the-manifest\n",
		 APP, (unsigned)getuid(), getenv("TESTAPP"), APP);
	/* brokerd inherits these from the test */
	setenv("SBT_INHERITED", "from-brokerd", 1);
	setenv("SBT_OVERRIDDEN", "from-brokerd", 1);
	unsetenv("SBT_NONE");
	hb_start(&b);
	unsetenv("SBT_INHERITED");
	unsetenv("SBT_OVERRIDDEN");
	const char *rep = hb_report(&b, APP);
	char line[HB_LINE_MAX];

	int held, peer;
	hb_unix_pair(SOCK_STREAM, &held, &peer);
	hb_transfer(&b, APP, "conn", held, NULL, 0, 0);
	hb_send(peer, "x", 1);
	hb_report_get(rep, "start", 0, line);
	hb_expect(line, "reason", "socket-activity");
	hb_expect(line, "app", APP);
	hb_expect(line, "names", "socket-broker");
	hb_expect(line, "pid_ok", "1");
	static const char *const want[][3] = {
		{ "SBT_GIVEN", "1", "a=b:/c" },
		{ "SBT_EMPTY", "1", "" },
		{ "SBT_OVERRIDDEN", "1", "from-the-manifest" },
		{ "SBT_INHERITED", "1", "from-brokerd" },
		{ "SBT_NONE", "0", "" },
	};
	for (int i = 0; i < 5; i++) {
		hb_report_get(rep, "env", i, line);
		hb_expect(line, "name", want[i][0]);
		hb_expect(line, "set", want[i][1]);
		hb_expect(line, "value", want[i][2]);
	}
	hb_report_get(rep, "handback", 0, line);
	hb_expect(line, "data", "x");
	hb_report_get(rep, "exit", 0, line);
	close(peer);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

/* An app that takes its sockets and exits without reading the batch end
 * resets its activation connection.  The reset reaches brokerd before the
 * acks the app sent ahead of it (brokerd is stopped meanwhile so that they
 * queue up): they still count, nothing is handed back twice, nothing
 * failed. */
static int app_state(const struct hb *b)
{
	broker_app **apps;
	int state = hb_app_entry(b, APP, &apps)->state;
	broker_app_list_free(apps);
	return state;
}

START_TEST(acks_queued_before_a_reset_count)
{
	struct hb b;
	hb_init(&b, "reset-after-acks", NULL);
	hb_testapp(&b, APP, "--wait-file go --ack-after acks --read-min 1 --exit-after 2");
	hb_start(&b);
	const char *rep = hb_report(&b, APP);
	char line[HB_LINE_MAX];
	broker *mon = hb_monitor(&b);

	int held[2], peer[2];
	const char *ids[2] = { "one", "two" };
	for (int i = 0; i < 2; i++) {
		hb_unix_pair(SOCK_STREAM, &held[i], &peer[i]);
		hb_transfer(&b, APP, ids[i], held[i], NULL, 0, 0);
		hb_send(peer[i], "x", 1);
	}
	hb_report_get(rep, "start", 0, line);
	for (int i = 0; i < 2; i++)
		ck_assert(HB_WAIT(hb_held_state(&b, APP, ids[i]) == BROKER_STATE_TRIGGERED, HB_WAIT_MS));
	hb_touch(hb_path(&b, "go"));
	/* Both handbacks and the batch end go out in one flush; when brokerd
	 * runs slowly (under valgrind) the app may report the first before
	 * the second has gone: wait for brokerd to log both. */
	hb_report_get(rep, "received", 0, line);
	ck_assert(HB_WAIT(hb_file_contains(b.log, APP "/two: handed back"), HB_WAIT_MS));
	ck_assert_int_eq(kill(b.pid, SIGSTOP), 0);
	hb_touch(hb_path(&b, "acks"));
	hb_report_get(rep, "exit", 0, line);
	hb_expect(line, "handled", "2");
	ck_assert_int_eq(kill(b.pid, SIGCONT), 0);

	unsigned n[HB_EVENT_TYPES] = { 0 };
	ck_assert(hb_events_until(mon, BROKER_EVENT_ACK, 2, n));
	ck_assert(hb_events_until(mon, BROKER_EVENT_EXIT, 1, n));
	ck_assert(HB_WAIT(hb_held_state(&b, APP, "one") == 0 && hb_held_state(&b, APP, "two") == 0, HB_WAIT_MS));
	ck_assert(HB_WAIT(app_state(&b) == BROKER_APP_IDLE, HB_WAIT_MS));
	broker_app **apps;
	ck_assert_uint_eq(hb_app_entry(&b, APP, &apps)->failures, 0);
	broker_app_list_free(apps);
	ck_assert_uint_eq(n[BROKER_EVENT_FAILURE], 0);
	ck_assert_uint_eq(n[BROKER_EVENT_ACTIVATE], 1);
	ck_assert_int_eq(hb_report_count(rep, "start"), 1);
	ck_assert_int_eq(hb_report_count(rep, "handback"), 2);
	ck_assert(!hb_file_contains(b.log, "activation failed"));
	for (int i = 0; i < 2; i++)
		close(peer[i]);
	broker_close(mon);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("e2e-activation");
	TCase *tc = tcase_create("activation");
	tcase_add_test(tc, three_triggers_one_start);
	tcase_add_test(tc, running_instance_gets_later_triggers);
	tcase_add_loop_test(tc, failed_activation_is_retried, 0, sizeof(failures) / sizeof(failures[0]));
	tcase_add_test(tc, app_that_never_opens_its_activation);
	tcase_add_test(tc, nothing_pending_when_the_app_opens);
	tcase_add_test(tc, acks_queued_before_a_reset_count);
	tcase_add_test(tc, manifest_environment_reaches_the_app);
	suite_add_tcase(s, tc);
	return hb_run_suite(s);
}
