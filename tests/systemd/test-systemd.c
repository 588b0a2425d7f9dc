/* SPDX-License-Identifier: MIT */
/*
 * brokerd under a real systemd user manager (tests/systemd/ns-run.sh):
 * wake-socket activation, its failures, restart and SIGKILL with the fd
 * store, torn metadata writes, the watchdog, identity by unit.  Each test
 * case runs in a namespace of its own (meson selects it with CK_RUN_CASE).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sdtest.h"

struct fd_wait {
	pid_t pid;
	int want, got;
};

static bool fds_are(void *ud)
{
	struct fd_wait *w = ud;
	w->got = sd_count_fds(w->pid);
	return w->got == w->want;
}

/* brokerd's fd count settles (clients it has not seen close yet) at want. */
static void expect_fds(pid_t pid, int want)
{
	struct fd_wait w = { pid, want, 0 };
	ck_assert_msg(sd_wait(fds_are, &w, 10000), "brokerd has %d fds open, expected %d", w.got, want);
}

/* brokerd's fds when it is idle: no notification or client in flight. */
static int idle_fds(pid_t pid)
{
	int prev = -1;
	for (int i = 0; i < 100; i++) {
		int n = sd_count_fds(pid);
		if (n == prev)
			return n;
		prev = n;
		nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
	}
	ck_abort_msg("brokerd's fd count does not settle");
}

static void expect_stored(unsigned long long n)
{
	ck_assert_uint_eq(sd_prop_num("brokerd.service", "NFileDescriptorStore"), n);
}

static void fill(void *p, size_t n, unsigned seed)
{
	unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)((i * 31 + seed * 7) ^ (i >> 5));
}

static bool status_shows_one(void *ud)
{
	char text[512];
	sd_prop("brokerd.service", "StatusText", text, sizeof(text));
	return strstr(text, (const char *)ud) != NULL;
}

struct journal_wait {
	const char *matches, *text;
};

static bool journal_shows(void *ud)
{
	struct journal_wait *w = ud;
	return sd_journal_has(w->matches, w->text);
}

static void expect_journal(const char *matches, const char *text)
{
	struct journal_wait w = { matches, text };
	ck_assert_msg(sd_wait(journal_shows, &w, 10000), "no '%s' in the journal for '%s'", text, matches);
}

START_TEST(wake)
{
	sd_setup(&(struct brokerd_opts){ 0 });
	sd_wake_app("w1", "org.test.w1", NULL);
	pid_t bpid = sd_start_brokerd();
	int base = idle_fds(bpid);
	char state[64];

	int sv[2];
	sd_tcp_pair(sv);
	static const char ctx[] = "context of w1/conn-1";
	ck_assert_int_eq(sd_transfer("org.test.w1", "conn-1", sv[0], ctx, sizeof(ctx) - 1, 0), 0);
	uint64_t serial = sd_wait_watching("org.test.w1", "conn-1", 0);
	expect_fds(bpid, base + 1);
	expect_stored(2);   /* the socket and the registry */
	sd_prop("sdtest-app@w1.service", "ActiveState", state, sizeof(state));
	ck_assert_str_eq(state, "inactive");   /* started only by its wake socket */

	static char payload[3000], payload2[70000];
	fill(payload, sizeof(payload), 1);
	sd_send_payload(sv[1], payload, sizeof(payload), 3);
	pid_t app;
	sd_expect_answer(sv[1], "org.test.w1", "conn-1", "socket-activity", ctx, sizeof(ctx) - 1,
			 payload, sizeof(payload), &app);
	ck_assert_int_eq((pid_t)sd_prop_num("sdtest-app@w1.service", "MainPID"), app);
	serial = sd_wait_watching("org.test.w1", "conn-1", serial);   /* transferred again */

	/* A second trigger goes to the instance that is already running. */
	fill(payload2, sizeof(payload2), 2);
	sd_send_payload(sv[1], payload2, sizeof(payload2), 7);
	pid_t again;
	sd_expect_answer(sv[1], "org.test.w1", "conn-1", "socket-activity", ctx, sizeof(ctx) - 1,
			 payload2, sizeof(payload2), &again);
	ck_assert_int_eq(again, app);
	sd_wait_watching("org.test.w1", "conn-1", serial);
	ck_assert_uint_eq(sd_prop_num("sdtest-app@w1.service", "NRestarts"), 0);

	expect_fds(bpid, base + 1 + 1);   /* the socket, and the running app's activation */
	expect_stored(2);
	ck_assert_msg(sd_wait(status_shows_one, "1 socket(s) held, 0 triggered, 0 handing back; 1 app(s), 1 running", 5000),
		      "STATUS= does not show the counts");
	expect_journal("APP_ID=org.test.w1 SOCKET_ID=conn-1 REASON=socket-activity", "triggered");
	expect_journal("APP_ID=org.test.w1 SOCKET_ID=conn-1", "handed back and acknowledged");
	close(sv[1]);
	sd_no_sanitizer_reports();
}
END_TEST

struct app_wait {
	const char *app;
	unsigned failures;
};

static bool app_failing(void *ud)
{
	struct app_wait *w = ud;
	broker *b = NULL;
	broker_app **apps;
	bool ok = false;
	ck_assert_int_eq(broker_open(NULL, &b), 0);
	ck_assert_int_ge(broker_list_apps(b, &apps), 0);
	for (broker_app **a = apps; *a; a++)
		if (strcmp((*a)->id, w->app) == 0)
			ok = (*a)->failures >= w->failures && (*a)->held == 1;
	broker_app_list_free(apps);
	broker_close(b);
	return ok;
}

/* Missing wake socket, an app that fails to start, an app that never
 * acknowledges: each is retried with back-off, says why in one line, and
 * its socket stays held; once the app works, the data gets through. */
START_TEST(wake_failures)
{
	sd_setup(&(struct brokerd_opts){ 0 });
	char extra[512];
	snprintf(extra, sizeof(extra), "socket = %s\ntimeout-ms = 3000", sd_wake_path("late"));
	sd_manifest("org.test.missing", NULL, "method = wake-socket", extra);
	sd_wake_app("fail", "org.test.fail", "--fail");
	sd_wake_app("noack", "org.test.noack", "--no-ack");
	sd_start_brokerd();

	static const char *const apps[] = { "org.test.missing", "org.test.fail", "org.test.noack" };
	int peers[3];
	static char payload[500];
	fill(payload, sizeof(payload), 3);
	for (int i = 0; i < 3; i++) {
		int sv[2];
		sd_tcp_pair(sv);
		ck_assert_int_eq(sd_transfer(apps[i], "s", sv[0], "c", 1, 0), 0);
		sd_send_payload(sv[1], payload, sizeof(payload), 1);
		peers[i] = sv[1];
	}
	for (int i = 0; i < 3; i++) {
		struct app_wait w = { apps[i], 2 };
		ck_assert_msg(sd_wait(app_failing, &w, 30000), "%s: no retries, or its socket is gone", apps[i]);
	}
	expect_journal("APP_ID=org.test.missing", "activation failed: cannot connect to wake socket");
	expect_journal("APP_ID=org.test.missing", "socket(s) stay held, retry 2 in");
	expect_journal("APP_ID=org.test.fail", "activation failed: nothing accepted on wake socket");
	expect_journal("APP_ID=org.test.noack", "activation failed: the app did not acknowledge 1 handed-back socket(s)");

	/* The wake socket appears: the next retry wakes the app, data intact. */
	SD_OK("echo SDTEST_APP_ARGS= >%s/app-late.env", getenv("SDTEST_DIR"));
	SD_OK("systemctl --user start sdtest-app@late.socket");
	sd_expect_answer(peers[0], "org.test.missing", "s", "socket-activity", "c", 1, payload, sizeof(payload), NULL);
	sd_wait_watching("org.test.missing", "s", 0);
	for (int i = 0; i < 3; i++)
		close(peers[i]);
	sd_no_sanitizer_reports();
}
END_TEST

#define NAPPS 5
#define PER_APP 4

struct held_sock {
	char app[32], id[16];
	char ctx[4096];
	size_t ctx_len;
	int peer;
	uint64_t serial;
};

static struct held_sock socks[NAPPS * PER_APP];

static void hold_twenty(void)
{
	for (int a = 0; a < NAPPS; a++) {
		char inst[8];
		snprintf(inst, sizeof(inst), "r%d", a + 1);
		snprintf(socks[a * PER_APP].app, sizeof(socks[0].app), "org.test.r%d", a + 1);
		sd_wake_app(inst, socks[a * PER_APP].app, NULL);
	}
	for (int i = 0; i < NAPPS * PER_APP; i++) {
		struct held_sock *s = &socks[i];
		snprintf(s->app, sizeof(s->app), "org.test.r%d", i / PER_APP + 1);
		snprintf(s->id, sizeof(s->id), "conn-%d", i % PER_APP);
		/* contexts from empty to the 4 KiB maximum, binary */
		s->ctx_len = (size_t)(i * 4096 / (NAPPS * PER_APP - 1));
		fill(s->ctx, s->ctx_len, (unsigned)i + 100);
		int sv[2];
		sd_tcp_pair(sv);
		ck_assert_int_eq(sd_transfer(s->app, s->id, sv[0], s->ctx, s->ctx_len, 0), 0);
		s->peer = sv[1];
	}
}

/* Every socket held, watched, with its context; returns how many kept the
 * serial they had (were not transferred again). */
static int check_twenty(bool record)
{
	sd_wait_all_watching(NAPPS * PER_APP);
	broker_info **list = sd_list();
	int same = 0;
	for (int i = 0; i < NAPPS * PER_APP; i++) {
		struct held_sock *s = &socks[i];
		broker_info *in = sd_find(list, s->app, s->id);
		ck_assert_msg(in != NULL, "%s/%s is not held", s->app, s->id);
		ck_assert_uint_eq(in->context_len, s->ctx_len);
		ck_assert(s->ctx_len == 0 || memcmp(in->context, s->ctx, s->ctx_len) == 0);
		ck_assert_int_eq(in->kind, BROKER_KIND_STREAM);
		same += in->serial == s->serial;
		if (record)
			s->serial = in->serial;
	}
	broker_info_list_free(list);
	return same;
}

/* Write to one socket of each of the given apps while brokerd is down. */
static void data_for(int first_app, int napps, char payloads[][2000])
{
	for (int a = first_app; a < first_app + napps; a++) {
		fill(payloads[a], 2000, (unsigned)a + 7);
		sd_send_payload(socks[a * PER_APP].peer, payloads[a], 2000, 4);
	}
}

static uint64_t max_serial(void)
{
	uint64_t m = 0;
	for (int i = 0; i < NAPPS * PER_APP; i++)
		m = socks[i].serial > m ? socks[i].serial : m;
	return m;
}

static bool held_back_in_prestart(void *ud)
{
	(void)ud;
	char state[64], sub[64];
	sd_prop("brokerd.service", "ActiveState", state, sizeof(state));
	sd_prop("brokerd.service", "SubState", sub, sizeof(sub));
	return strcmp(state, "activating") == 0 && strcmp(sub, "start-pre") == 0;
}

START_TEST(restart)
{
	sd_setup(&(struct brokerd_opts){ .gate = true });
	pid_t bpid = sd_start_brokerd();
	int base = idle_fds(bpid);
	hold_twenty();
	check_twenty(true);
	expect_fds(bpid, base + 20);
	expect_stored(21);
	static char payloads[NAPPS][2000];

	/* 1. systemctl restart; data for r1 and r2 arrives while brokerd is down. */
	sd_close_gate();
	SD_OK("systemctl --user restart --no-block brokerd.service");
	ck_assert(sd_wait(held_back_in_prestart, NULL, 30000));
	data_for(0, 2, payloads);
	uint64_t before = max_serial();
	sd_open_gate();
	bpid = sd_wait_brokerd(bpid);
	for (int a = 0; a < 2; a++)
		sd_expect_answer(socks[a * PER_APP].peer, socks[a * PER_APP].app, "conn-0", "socket-activity",
				 socks[a * PER_APP].ctx, socks[a * PER_APP].ctx_len, payloads[a], 2000, NULL);
	ck_assert_int_eq(check_twenty(true), 18);   /* all but the two handed back and transferred again */
	ck_assert_uint_gt(max_serial(), before);   /* serials go on above the restored ones */
	expect_fds(bpid, base + 20 + 2);           /* the two woken apps' activations */
	expect_stored(21);

	/* 2. SIGKILL; data for r3, r4 and r5 arrives before systemd restarts it. */
	sd_close_gate();
	unsigned long long restarts = sd_prop_num("brokerd.service", "NRestarts");
	SD_OK("systemctl --user kill --signal=SIGKILL brokerd.service");
	ck_assert(sd_wait(held_back_in_prestart, NULL, 30000));
	data_for(2, 3, payloads);
	sd_open_gate();
	bpid = sd_wait_brokerd(bpid);
	ck_assert_uint_eq(sd_prop_num("brokerd.service", "NRestarts"), restarts + 1);
	for (int a = 2; a < 5; a++)
		sd_expect_answer(socks[a * PER_APP].peer, socks[a * PER_APP].app, "conn-0", "socket-activity",
				 socks[a * PER_APP].ctx, socks[a * PER_APP].ctx_len, payloads[a], 2000, NULL);
	ck_assert_int_eq(check_twenty(true), 17);
	expect_fds(bpid, base + 20 + 3);   /* r1 and r2 lost their activation with the old brokerd */
	expect_stored(21);
	expect_journal("", "restored 20 held socket(s) from the fd store, 0 of them triggered and pending");
	sd_no_sanitizer_reports();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("systemd");
	const struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{ "wake", wake }, { "wake_failures", wake_failures }, { "restart", restart },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_set_timeout(tc, 150);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
