/* SPDX-License-Identifier: MIT */
/* Crashes in the middle of registry writes, a hung brokerd, identity by unit. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sdtest.h"
#include "testutil.h"

/* brokerd dies halfway through each kind of registry write; nothing is lost. */
START_TEST(torn)
{
	sd_setup(&(struct brokerd_opts){ 0 });
	sd_wake_app("t1", "org.test.t1", NULL);
	pid_t bpid = sd_start_brokerd();
	int base = idle_fds(bpid);
	struct tsock t[4] = { { .id = "a" }, { .id = "b" }, { .id = "c" }, { .id = "d" } };
	hold("org.test.t1", t, 3);
	static char payload[1500];
	fill(payload, sizeof(payload), 9);

	/* 1. The trigger of "a" is half written: restored as watching, it
	 * triggers again, and the app reads every byte. */
	bpid = sd_restart_torn(bpid, "update");
	unsigned long long restarts = sd_prop_num("brokerd.service", "NRestarts");
	sd_send_payload(t[0].peer, payload, sizeof(payload), 2);
	bpid = sd_wait_crash_restart(bpid, restarts);
	sd_expect_answer(t[0].peer, "org.test.t1", "a", "socket-activity", t[0].ctx, strlen(t[0].ctx),
			 payload, sizeof(payload), NULL);
	ck_assert_int_eq(check_held("org.test.t1", t, 3), 2);   /* b and c untouched; a transferred again */
	expect_journal("", "byte(s) of an interrupted write after the last complete record ignored");

	/* 2. A transfer whose record is half written fails, and the socket is
	 * still the test's: no stray copy in brokerd or in the fd store. */
	bpid = sd_restart_torn(bpid, "put");
	restarts = sd_prop_num("brokerd.service", "NRestarts");
	int sv[2];
	sd_tcp_pair(sv);
	ck_assert_int_lt(sd_transfer("org.test.t1", "d", sv[0], "x", 1, 0), 0);
	ck_assert_int_ge(fcntl(sv[0], F_GETFD), 0);
	bpid = sd_wait_crash_restart(bpid, restarts);
	ck_assert_int_eq(check_held("org.test.t1", t, 3), 3);
	expect_fds(bpid, base + 3 + store_fds(3));
	expect_store_holds(3);
	snprintf(t[3].ctx, sizeof(t[3].ctx), "context of d");
	ck_assert_int_eq(sd_transfer("org.test.t1", "d", sv[0], t[3].ctx, strlen(t[3].ctx), 0), 0);
	t[3].peer = sv[1];
	check_held("org.test.t1", t, 4);

	/* 3. The removal of "b" after its hand-back is half written: the app
	 * has it (once), and transfers it again. */
	bpid = sd_restart_torn(bpid, "remove");
	restarts = sd_prop_num("brokerd.service", "NRestarts");
	sd_send_payload(t[1].peer, payload, sizeof(payload), 1);
	sd_expect_answer(t[1].peer, "org.test.t1", "b", "socket-activity", t[1].ctx, strlen(t[1].ctx),
			 payload, sizeof(payload), NULL);
	bpid = sd_wait_crash_restart(bpid, restarts);
	expect_journal("APP_ID=org.test.t1 SOCKET_ID=b", "metadata without a socket in the fd store");
	ck_assert_int_eq(check_held("org.test.t1", t, 4), 3);

	/* 4. The compaction at start dies in its snapshot, then in its header
	 * write: the old log stays in force. */
	static const char *const kinds[] = { "snapshot", "header" };
	int torn_before = journal_count("of an interrupted write after the last complete record ignored");
	for (int k = 0; k < 2; k++) {
		char armed[128];
		snprintf(armed, sizeof(armed), "the next %s write to the registry log is torn", kinds[k]);
		sd_arm_tear(kinds[k]);
		SD_OK("systemctl --user restart --no-block brokerd.service");
		/* the torn start never gets ready; the one after it does */
		expect_journal("", armed);
		bpid = sd_wait_brokerd(bpid);
		ck_assert_int_eq(journal_count("of an interrupted write after the last complete record ignored"),
				 torn_before + k + 1);
		ck_assert_int_eq(check_held("org.test.t1", t, 4), 4);
	}
	expect_fds(bpid, base + 4 + store_fds(4));
	expect_store_holds(4);
	for (int i = 0; i < 4; i++)
		close(t[i].peer);
	sd_case_done();
}
END_TEST

static bool watchdog_periods_passed(void *ud)
{
	/* the unit's start, plus a few watchdog periods */
	unsigned long long since = *(unsigned long long *)ud;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000 > since + 3500000;
}

START_TEST(watchdog)
{
	sd_setup(&(struct brokerd_opts){ .watchdog = "1s" });
	sd_wake_app("d1", "org.test.d1", NULL);
	pid_t bpid = sd_start_brokerd();
	struct tsock t[2] = { { .id = "x" }, { .id = "y" } };
	hold("org.test.d1", t, 2);
	/* Several periods go by: a brokerd whose loop turns pings in time.
	 * (Waiting for time itself is the point here.) */
	unsigned long long since = sd_prop_num("brokerd.service", "ActiveEnterTimestampMonotonic");
	ck_assert(sd_wait(watchdog_periods_passed, &since, 10000));
	ck_assert_uint_eq(sd_prop_num("brokerd.service", "NRestarts"), 0);
	ck_assert_int_eq((pid_t)sd_prop_num("brokerd.service", "MainPID"), bpid);

	/* Test hook: SIGUSR2 blocks the loop; systemd must notice and restart. */
	ck_assert_int_eq(kill(bpid, SIGUSR2), 0);
	pid_t now = sd_wait_brokerd(bpid);
	ck_assert_int_ne(now, bpid);
	ck_assert_uint_eq(sd_prop_num("brokerd.service", "NRestarts"), 1);
	expect_journal("", "brokerd.service: Watchdog timeout");
	ck_assert_int_eq(check_held("org.test.d1", t, 2), 2);
	for (int i = 0; i < 2; i++)
		close(t[i].peer);
	sd_case_done();
}
END_TEST

static void register_unit(const char *unit, const char *user, const char *app)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", getenv("SDTEST_UNITS"), unit);
	FILE *f = fopen(path, "we");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "[Unit]\nDefaultDependencies=no\n[Service]\nType=oneshot\n%s%s%s"
		"Environment=BROKER_SOCKET=%%t/socket-broker/control\nExecStart=%s --register %s\n",
		user ? "User=" : "", user ? user : "", user ? "\n" : "", getenv("SDTEST_APP"), app);
	ck_assert_int_eq(fclose(f), 0);
}

static int unit_verdict(const char *unit)
{
	sd_sh(NULL, 0, "systemctl --user start %s", unit);   /* fails when the unit exits 77 */
	return (int)sd_prop_num(unit, "ExecMainStatus");
}

START_TEST(identity)
{
	sd_setup(&(struct brokerd_opts){ 0 });
	sd_manifest("org.test.ident", "sdtest-ident.service", "method = exec", "command = /bin/true");
	sd_manifest("org.test.nobody", "sdtest-nobody.service", "method = exec", "command = /bin/true");
	register_unit("sdtest-ident.service", NULL, "org.test.ident");
	register_unit("sdtest-other.service", NULL, "org.test.ident");
	register_unit("sdtest-nobody.service", "nobody", "org.test.nobody");
	SD_OK("systemctl --user daemon-reload && chmod 0711 %s", getenv("XDG_RUNTIME_DIR"));
	sd_start_brokerd();

	/* The test: root, and in no unit at all. */
	broker *b = NULL;
	ck_assert_int_eq(broker_open(NULL, &b), 0);
	ck_assert_int_eq(broker_register(b, "org.test.ident"), -EPERM);
	ck_assert_ptr_nonnull(strstr(broker_last_message(b), "only sdtest-ident.service may act as this app"));
	broker_close(b);

	ck_assert_int_eq(unit_verdict("sdtest-ident.service"), 0);    /* the app's unit */
	ck_assert_int_eq(unit_verdict("sdtest-other.service"), 77);   /* root, another unit */
	/* An unprivileged manager cannot run a unit as another user. */
	if (getuid() == 0)
		ck_assert_int_eq(unit_verdict("sdtest-nobody.service"), 77);  /* the right unit, the wrong uid (ENOENT) */
	expect_journal("APP_ID=org.test.ident", "runs in unit sdtest-other.service; only sdtest-ident.service may act");
	sd_case_done();
}
END_TEST

void sd_crash_cases(Suite *s)
{
	sd_add_case(s, "torn", torn);
	sd_add_case(s, "watchdog", watchdog);
	sd_add_case(s, "identity", identity);
}
