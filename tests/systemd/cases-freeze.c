/* SPDX-License-Identifier: MIT */
/*
 * Suspended apps under the real user manager, with the freezer working
 * (ns-run.sh with SDTEST_FREEZER=1): an app started through its wake
 * socket attaches itself and is frozen with `systemctl --user freeze`;
 * with thaw = yes brokerd thaws it and delivers to the same process, without
 * it the socket stays held, data intact, and brokerd says why once.  A
 * SIGSTOPped exec app, attached, is woken with SIGCONT.  An app the user
 * started attaches and gets three triggers in a row, no second instance;
 * after it exits the next trigger starts the app normally.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sdtest.h"
#include "testutil.h"

/* The bound: a frozen app answers within 2 s of the peer's write. */
#define WAKE_MS 2000

struct attached_wait {
	const char *app;
	pid_t pid;           /* 0: any */
	int state;
};

static bool app_in_state(void *ud)
{
	struct attached_wait *w = ud;
	broker_app **list;
	const broker_app *a = sd_app_entry(w->app, &list);
	bool ok = a && (int)a->state == w->state && (!w->pid || a->pid == w->pid);
	broker_app_list_free(list);
	return ok;
}

static void wait_state(const char *app, pid_t pid, int state)
{
	struct attached_wait w = { app, pid, state };
	ck_assert_msg(sd_wait(app_in_state, &w, 30000), "%s never %s (pid %d)", app, broker_app_state_name(state),
		      (int)pid);
}

static int held_state(const char *app, const char *id)
{
	broker_info **list = sd_list();
	broker_info *i = sd_find(list, app, id);
	int state = i ? (int)i->state : 0;
	broker_info_list_free(list);
	return state;
}

static void freezer_state(const char *unit, const char *want)
{
	char state[64];
	sd_prop(unit, "FreezerState", state, sizeof(state));
	ck_assert_msg(strcmp(state, want) == 0, "%s: FreezerState=%s, expected %s", unit, state, want);
}

/* A wake app that transfers its TCP socket back and attaches; the socket
 * watched again, the app attached.  Returns the app's pid; sv[1] is the peer. */
static pid_t wake_and_attach(const char *inst, const char *app, bool thaw, int sv[2], uint64_t *serial)
{
	sd_setup(&(struct brokerd_opts){ 0 });
	sd_wake_app_extra(inst, app, "--attach --idle-exit 600", thaw ? "thaw = yes" : NULL);
	sd_start_brokerd();
	sd_tcp_pair(sv);
	ck_assert_int_eq(sd_transfer(app, "conn", sv[0], "c", 1, 0), 0);
	*serial = sd_wait_watching(app, "conn", 0);
	static char payload[700];
	fill(payload, sizeof(payload), 11);
	sd_send_payload(sv[1], payload, sizeof(payload), 1);
	pid_t pid;
	sd_expect_answer(sv[1], app, "conn", "socket-activity", "c", 1, payload, sizeof(payload), &pid);
	*serial = sd_wait_watching(app, "conn", *serial);
	wait_state(app, pid, BROKER_APP_ATTACHED);
	return pid;
}

START_TEST(freeze_thaw)
{
	int sv[2];
	uint64_t serial;
	const char *unit = "sdtest-app@fz.service";
	pid_t pid = wake_and_attach("fz", "org.test.fz", true, sv, &serial);
	ck_assert_int_eq((pid_t)sd_prop_num(unit, "MainPID"), pid);
	SD_OK("systemctl --user freeze %s", unit);
	freezer_state(unit, "frozen");

	static char payload[1500];
	fill(payload, sizeof(payload), 12);
	sd_send_payload(sv[1], payload, sizeof(payload), 1);
	pid_t again;
	sd_expect_answer_within(WAKE_MS, sv[1], "org.test.fz", "conn", "socket-activity", "c", 1, payload,
				sizeof(payload), &again);
	ck_assert_int_eq(again, pid);   /* the same process, thawed */
	ck_assert_int_eq((pid_t)sd_prop_num(unit, "MainPID"), pid);
	ck_assert_uint_eq(sd_prop_num(unit, "NRestarts"), 0);
	freezer_state(unit, "running");
	sd_wait_watching("org.test.fz", "conn", serial);
	expect_journal("APP_ID=org.test.fz", "thawed: unit sdtest-app@fz.service");
	close(sv[1]);
	sd_case_done();
}
END_TEST

START_TEST(freeze_held)
{
	int sv[2];
	uint64_t serial;
	const char *unit = "sdtest-app@fh.service";
	pid_t pid = wake_and_attach("fh", "org.test.fh", false, sv, &serial);
	SD_OK("systemctl --user freeze %s", unit);
	freezer_state(unit, "frozen");

	static char payload[900];
	fill(payload, sizeof(payload), 13);
	sd_send_payload(sv[1], payload, sizeof(payload), 1);
	expect_journal("APP_ID=org.test.fh", "not thawed: ");
	/* brokerd looks again every second; it says so once, leaves the unit
	 * frozen, starts nothing, and keeps the socket with its data. */
	sleep(3);
	ck_assert_int_eq(journal_count("not thawed: "), 1);
	ck_assert_int_eq(journal_count("the manifest does not say thaw = yes"), 1);
	freezer_state(unit, "frozen");
	ck_assert_int_eq(held_state("org.test.fh", "conn"), BROKER_STATE_TRIGGERED);
	ck_assert_int_eq((pid_t)sd_prop_num(unit, "MainPID"), pid);
	char line[512];
	ck_assert_int_eq(sd_read_answer(sv[1], line, sizeof(line), 100), -1);

	/* Its shell thaws it: the held data was waiting for it. */
	SD_OK("systemctl --user thaw %s", unit);
	pid_t again;
	sd_expect_answer(sv[1], "org.test.fh", "conn", "socket-activity", "c", 1, payload, sizeof(payload), &again);
	ck_assert_int_eq(again, pid);
	ck_assert_uint_eq(sd_prop_num(unit, "NRestarts"), 0);
	sd_wait_watching("org.test.fh", "conn", serial);
	close(sv[1]);
	sd_case_done();
}
END_TEST

static bool stopped(void *ud)
{
	char path[64], out[8];
	snprintf(path, sizeof(path), "/proc/%d/stat", *(pid_t *)ud);
	sd_sh(out, sizeof(out), "sed 's/.*) //' %s | cut -c1", path);
	return strcmp(out, "T") == 0;
}

/* An exec app that brokerd started attaches after its first batch, and
 * is SIGSTOPped: brokerd sends SIGCONT and delivers to it. */
START_TEST(sigstop_exec)
{
	sd_setup(&(struct brokerd_opts){ 0 });
	char extra[512];
	snprintf(extra, sizeof(extra), "command = %s --attach --idle-exit 600\nthaw = yes", getenv("SDTEST_APP"));
	sd_manifest("org.test.stop", NULL, "method = exec", extra);
	sd_start_brokerd();
	int sv[2];
	sd_tcp_pair(sv);
	ck_assert_int_eq(sd_transfer("org.test.stop", "conn", sv[0], "c", 1, 0), 0);
	uint64_t serial = sd_wait_watching("org.test.stop", "conn", 0);
	static char payload[300], payload2[400];
	fill(payload, sizeof(payload), 14);
	sd_send_payload(sv[1], payload, sizeof(payload), 1);
	pid_t pid;
	sd_expect_answer(sv[1], "org.test.stop", "conn", "socket-activity", "c", 1, payload, sizeof(payload), &pid);
	serial = sd_wait_watching("org.test.stop", "conn", serial);
	wait_state("org.test.stop", pid, BROKER_APP_ATTACHED);

	ck_assert_int_eq(kill(pid, SIGSTOP), 0);
	ck_assert(sd_wait(stopped, &pid, 10000));
	fill(payload2, sizeof(payload2), 15);
	sd_send_payload(sv[1], payload2, sizeof(payload2), 1);
	pid_t again;
	sd_expect_answer_within(WAKE_MS, sv[1], "org.test.stop", "conn", "socket-activity", "c", 1, payload2,
				sizeof(payload2), &again);
	ck_assert_int_eq(again, pid);
	sd_wait_watching("org.test.stop", "conn", serial);
	expect_journal("APP_ID=org.test.stop", "was stopped; sent SIGCONT");
	close(sv[1]);
	sd_case_done();
}
END_TEST

/* An app the user started attaches: three triggers in a row reach it,
 * its wake socket's service is never started; once it exits, the next
 * trigger starts the app normally. */
START_TEST(attach_by_hand)
{
	sd_setup(&(struct brokerd_opts){ 0 });
	sd_wake_app("hand", "org.test.hand", NULL);
	sd_start_brokerd();
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		execl(getenv("SDTEST_APP"), "sdtest-app", "--attach-as", "org.test.hand", "--idle-exit", "600",
		      (char *)NULL);
		_exit(127);
	}
	wait_state("org.test.hand", pid, BROKER_APP_ATTACHED);

	int sv[2];
	sd_tcp_pair(sv);
	ck_assert_int_eq(sd_transfer("org.test.hand", "conn", sv[0], "c", 1, 0), 0);
	uint64_t serial = sd_wait_watching("org.test.hand", "conn", 0);
	static char payload[3][600];
	for (unsigned i = 0; i < 3; i++) {
		fill(payload[i], sizeof(payload[i]), 20 + i);
		sd_send_payload(sv[1], payload[i], sizeof(payload[i]), 2);
		pid_t who;
		sd_expect_answer(sv[1], "org.test.hand", "conn", "socket-activity", "c", 1, payload[i],
				 sizeof(payload[i]), &who);
		ck_assert_int_eq(who, pid);
		serial = sd_wait_watching("org.test.hand", "conn", serial);
	}
	char state[64];
	sd_prop("sdtest-app@hand.service", "ActiveState", state, sizeof(state));
	ck_assert_str_eq(state, "inactive");   /* never a second instance */
	ck_assert_uint_eq(sd_prop_num("sdtest-app@hand.service", "NRestarts"), 0);

	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	wait_state("org.test.hand", 0, BROKER_APP_IDLE);
	fill(payload[0], sizeof(payload[0]), 30);
	sd_send_payload(sv[1], payload[0], sizeof(payload[0]), 1);
	pid_t started;
	sd_expect_answer(sv[1], "org.test.hand", "conn", "socket-activity", "c", 1, payload[0], sizeof(payload[0]),
			 &started);
	ck_assert_int_ne(started, pid);
	ck_assert_int_eq((pid_t)sd_prop_num("sdtest-app@hand.service", "MainPID"), started);
	sd_wait_watching("org.test.hand", "conn", serial);
	close(sv[1]);
	sd_case_done();
}
END_TEST

void sd_freeze_cases(Suite *s)
{
	sd_add_case(s, "freeze_thaw", freeze_thaw);
	sd_add_case(s, "freeze_held", freeze_held);
	sd_add_case(s, "sigstop_exec", sigstop_exec);
	sd_add_case(s, "attach_by_hand", attach_by_hand);
}
