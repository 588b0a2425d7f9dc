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
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

struct tsock {
	const char *id;
	char ctx[64];
	int peer;
	uint64_t serial;
};

static void hold(const char *app, struct tsock *t, int n)
{
	for (int i = 0; i < n; i++) {
		int sv[2];
		sd_tcp_pair(sv);
		snprintf(t[i].ctx, sizeof(t[i].ctx), "context of %s", t[i].id);
		ck_assert_int_eq(sd_transfer(app, t[i].id, sv[0], t[i].ctx, strlen(t[i].ctx), 0), 0);
		t[i].peer = sv[1];
		t[i].serial = sd_wait_watching(app, t[i].id, 0);
	}
}

/* Exactly these held, watched, contexts intact; returns how many kept their serial. */
static int check_held(const char *app, struct tsock *t, int n)
{
	sd_wait_all_watching((unsigned)n);
	broker_info **list = sd_list();
	int same = 0;
	for (int i = 0; i < n; i++) {
		broker_info *in = sd_find(list, app, t[i].id);
		ck_assert_msg(in != NULL, "%s/%s is not held", app, t[i].id);
		ck_assert_uint_eq(in->context_len, strlen(t[i].ctx));
		ck_assert(memcmp(in->context, t[i].ctx, in->context_len) == 0);
		same += in->serial == t[i].serial;
		t[i].serial = in->serial;
	}
	broker_info_list_free(list);
	return same;
}

static int journal_count(const char *text)
{
	char out[32];
	sd_sh(out, sizeof(out), "journalctl --no-pager -o cat | grep -cF -- '%s'", text);
	return atoi(out);
}

/* brokerd restarts with BROKER_TEST_TEAR armed; returns its new pid. */
static pid_t restart_torn(pid_t bpid, const char *what)
{
	sd_arm_tear(what);
	SD_OK("systemctl --user restart brokerd.service");
	return sd_wait_brokerd(bpid);
}

static pid_t wait_crash_restart(pid_t bpid, unsigned long long restarts)
{
	pid_t now = sd_wait_brokerd(bpid);
	ck_assert_uint_eq(sd_prop_num("brokerd.service", "NRestarts"), restarts + 1);
	return now;
}

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
	bpid = restart_torn(bpid, "update");
	unsigned long long restarts = sd_prop_num("brokerd.service", "NRestarts");
	sd_send_payload(t[0].peer, payload, sizeof(payload), 2);
	bpid = wait_crash_restart(bpid, restarts);
	sd_expect_answer(t[0].peer, "org.test.t1", "a", "socket-activity", t[0].ctx, strlen(t[0].ctx),
			 payload, sizeof(payload), NULL);
	ck_assert_int_eq(check_held("org.test.t1", t, 3), 2);   /* b and c untouched; a transferred again */
	expect_journal("", "byte(s) of an interrupted write after the last complete record ignored");

	/* 2. A transfer whose record is half written fails, and the socket is
	 * still the test's: no stray copy in brokerd or in the fd store. */
	bpid = restart_torn(bpid, "put");
	restarts = sd_prop_num("brokerd.service", "NRestarts");
	int sv[2];
	sd_tcp_pair(sv);
	ck_assert_int_lt(sd_transfer("org.test.t1", "d", sv[0], "x", 1, 0), 0);
	ck_assert_int_ge(fcntl(sv[0], F_GETFD), 0);
	bpid = wait_crash_restart(bpid, restarts);
	ck_assert_int_eq(check_held("org.test.t1", t, 3), 3);
	expect_fds(bpid, base + 3);
	expect_stored(4);
	snprintf(t[3].ctx, sizeof(t[3].ctx), "context of d");
	ck_assert_int_eq(sd_transfer("org.test.t1", "d", sv[0], t[3].ctx, strlen(t[3].ctx), 0), 0);
	t[3].peer = sv[1];
	check_held("org.test.t1", t, 4);

	/* 3. The removal of "b" after its hand-back is half written: the app
	 * has it (once), and transfers it again. */
	bpid = restart_torn(bpid, "remove");
	restarts = sd_prop_num("brokerd.service", "NRestarts");
	sd_send_payload(t[1].peer, payload, sizeof(payload), 1);
	sd_expect_answer(t[1].peer, "org.test.t1", "b", "socket-activity", t[1].ctx, strlen(t[1].ctx),
			 payload, sizeof(payload), NULL);
	bpid = wait_crash_restart(bpid, restarts);
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
	expect_fds(bpid, base + 4);
	expect_stored(5);
	for (int i = 0; i < 4; i++)
		close(t[i].peer);
	sd_no_sanitizer_reports();
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
	sd_no_sanitizer_reports();
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
	ck_assert_int_eq(unit_verdict("sdtest-nobody.service"), 77);  /* the right unit, the wrong uid */
	expect_journal("APP_ID=org.test.ident", "runs in unit sdtest-other.service; only sdtest-ident.service may act");
	sd_no_sanitizer_reports();
}
END_TEST

static bool seconds_since(void *ud)
{
	struct timespec *t0 = ud, now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec - t0->tv_sec > 2 || (now.tv_sec - t0->tv_sec == 2 && now.tv_nsec >= t0->tv_nsec);
}

/* A keep-alive deadline survives a restart and a SIGKILL. */
START_TEST(keepalive)
{
	sd_setup(&(struct brokerd_opts){ 0 });
	sd_wake_app("k1", "org.test.k1", NULL);
	pid_t bpid = sd_start_brokerd();
	int sv[2];
	sd_tcp_pair(sv);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(sd_transfer("org.test.k1", "ka", sv[0], "k", 1, 2), 0);
	uint64_t serial = sd_wait_watching("org.test.k1", "ka", 0);
	SD_OK("systemctl --user restart brokerd.service");
	bpid = sd_wait_brokerd(bpid);
	sd_expect_answer(sv[1], "org.test.k1", "ka", "keepalive-timer-expired", "k", 1, NULL, 0, NULL);
	ck_assert(seconds_since(&t0));   /* not before its deadline */
	serial = sd_wait_watching("org.test.k1", "ka", serial);   /* transferred again, keep-alive 2 s */

	clock_gettime(CLOCK_MONOTONIC, &t0);
	SD_OK("systemctl --user kill --signal=SIGKILL brokerd.service");
	sd_wait_brokerd(bpid);
	sd_expect_answer(sv[1], "org.test.k1", "ka", "keepalive-timer-expired", "k", 1, NULL, 0, NULL);
	sd_wait_watching("org.test.k1", "ka", serial);
	close(sv[1]);
	sd_no_sanitizer_reports();
}
END_TEST

static double mono_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Many held sockets through a SIGKILL: all back, contexts intact, nothing
 * extra in brokerd or in the fd store.  2 000 by default (systemd 252 makes
 * each transfer cost time proportional to the fd store: units/README.md);
 * SDTEST_SCALE=10000 for the figures there. */
START_TEST(scale)
{
	unsigned n = getenv("SDTEST_SCALE") ? (unsigned)atoi(getenv("SDTEST_SCALE")) : 2000;
	sd_setup(&(struct brokerd_opts){ .extra_conf = "max-held = 16000\nmax-held-per-app = 16000" });
	sd_manifest("org.test.scale", NULL, "method = exec", "command = /bin/true");
	pid_t bpid = sd_start_brokerd();
	int base = idle_fds(bpid);
	int *peers = calloc(n, sizeof(int));
	broker *b = NULL;
	ck_assert_int_eq(broker_open(NULL, &b), 0);
	ck_assert_int_eq(broker_register(b, "org.test.scale"), 0);
	double t0 = mono_sec();
	for (unsigned i = 0; i < n; i++) {
		int sv[2];
		char id[16], ctx[64];
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		snprintf(id, sizeof(id), "s%u", i);
		int len = snprintf(ctx, sizeof(ctx), "context %u of the scale test", i);
		ck_assert_int_eq(broker_transfer(b, id, sv[0], ctx, (size_t)len, 0), 0);
		peers[i] = sv[1];
	}
	double t1 = mono_sec();
	broker_close(b);
	expect_fds(bpid, base + (int)n);
	expect_stored(n + 1);

	SD_OK("systemctl --user kill --signal=SIGKILL brokerd.service");
	double t2 = mono_sec();
	bpid = sd_wait_brokerd(bpid);
	double t3 = mono_sec();
	broker_info **list = sd_list();
	unsigned count = 0;
	for (broker_info **i = list; *i; i++, count++) {
		unsigned k = (unsigned)atoi((*i)->id + 1);
		char ctx[64];
		int len = snprintf(ctx, sizeof(ctx), "context %u of the scale test", k);
		ck_assert_uint_eq((*i)->context_len, (size_t)len);
		ck_assert(memcmp((*i)->context, ctx, (size_t)len) == 0);
		ck_assert_int_eq((*i)->state, BROKER_STATE_WATCHING);
	}
	broker_info_list_free(list);
	ck_assert_uint_eq(count, n);
	expect_fds(bpid, base + (int)n);
	expect_stored(n + 1);
	fprintf(stderr, "# %u transfers in %.2f s; SIGKILL to ready again with all of them: %.2f s\n", n, t1 - t0,
		t3 - t2);
	for (unsigned i = 0; i < n; i++)
		close(peers[i]);
	free(peers);
	sd_no_sanitizer_reports();
}
END_TEST

/* Fds in the store that no metadata describes are logged, closed and
 * removed from the store: never silently kept. */
START_TEST(stray)
{
	sd_setup(&(struct brokerd_opts){ 0 });
	sd_wake_app("s1", "org.test.s1", NULL);
	pid_t bpid = sd_start_brokerd();
	int base = idle_fds(bpid);
	struct tsock t[2] = { { .id = "p" }, { .id = "q" } };
	hold("org.test.s1", t, 2);
	/* Before the next start, something else stores two fds in brokerd's
	 * store: one under a name brokerd could have given, one not. */
	SD_OK("printf '[Service]\\nNotifyAccess=all\\nExecStartPre=+%s --store AAAA\\nExecStartPre=+%s --store junk.name\\n' "
	      ">%s/brokerd.service.d/stray.conf && systemctl --user daemon-reload",
	      getenv("SDTEST_APP"), getenv("SDTEST_APP"), getenv("SDTEST_UNITS"));
	SD_OK("systemctl --user restart brokerd.service");
	bpid = sd_wait_brokerd(bpid);
	expect_journal("", "stored fd AAAA: no metadata; closed and removed from the fd store");
	expect_journal("", "stored fd junk.name: not a name brokerd gives; closed and removed from the fd store");
	ck_assert_int_eq(check_held("org.test.s1", t, 2), 2);
	expect_fds(bpid, base + 2);
	expect_stored(3);
	for (int i = 0; i < 2; i++)
		close(t[i].peer);
	sd_no_sanitizer_reports();
}
END_TEST

/* The unit_state of app in `brokerctl apps --json` (NULL for null), run
 * with extra environment settings env ("" for none). */
static char *unit_state_of(const char *env, const char *app)
{
	char out[16384];
	ck_assert_int_eq(sd_sh(out, sizeof(out), "%s %s apps --json 2>/dev/null", env, getenv("SDTEST_BROKERCTL")), 0);
	json_object *all = json_tokener_parse(out);
	ck_assert_msg(all && json_object_is_type(all, json_type_array), "not a JSON array: %s", out);
	char *state = NULL;
	bool found = false;
	for (size_t i = 0; i < json_object_array_length(all); i++) {
		json_object *a = json_object_array_get_idx(all, i), *id, *st;
		if (!json_object_object_get_ex(a, "id", &id) || strcmp(json_object_get_string(id), app) != 0)
			continue;
		found = true;
		if (json_object_object_get_ex(a, "unit_state", &st) && st)
			state = strdup(json_object_get_string(st));
	}
	json_object_put(all);
	ck_assert_msg(found, "%s is not in brokerctl apps", app);
	return state;
}

static bool app_unit_active(void *ud)
{
	char *s = unit_state_of("", ud);
	bool ok = s && strcmp(s, "active") == 0;
	free(s);
	return ok;
}

/* brokerctl apps shows each app's unit and what the manager says of it,
 * and says so when no manager is reachable. */
START_TEST(ctl)
{
	sd_setup(&(struct brokerd_opts){ 0 });
	char extra[512];
	snprintf(extra, sizeof(extra), "socket = %s", sd_wake_path("c1"));
	sd_wake_app("c1", "org.test.c1", NULL);
	sd_manifest("org.test.c1", "sdtest-app@c1.service", "method = wake-socket", extra);
	sd_manifest("org.test.c2", "sdtest-missing.service", "method = exec", "command = /bin/true");
	sd_manifest("org.test.c3", NULL, "method = exec", "command = /bin/true");
	sd_start_brokerd();

	char *s = unit_state_of("", "org.test.c1");
	ck_assert_str_eq(s, "inactive");   /* only its wake socket is up */
	free(s);
	s = unit_state_of("", "org.test.c2");
	ck_assert_str_eq(s, "not-found");
	free(s);
	ck_assert_ptr_null(unit_state_of("", "org.test.c3"));   /* no unit at all */

	/* Its service runs (the unit binds registration, so the test could not
	 * hand it a socket: it starts the service itself). */
	SD_OK("systemctl --user start sdtest-app@c1.service");
	ck_assert(sd_wait(app_unit_active, "org.test.c1", 10000));
	char table[8192];
	ck_assert_int_eq(sd_sh(table, sizeof(table), "%s apps", getenv("SDTEST_BROKERCTL")), 0);
	char *line = strstr(table, "org.test.c1 ");
	ck_assert(strstr(table, "UNIT-STATE") && line);
	*strchrnul(line, '\n') = 0;
	ck_assert_msg(strstr(line, " sdtest-app@c1.service ") && strcmp(line + strlen(line) - 7, " active") == 0,
		      "apps table line: %s", line);

	/* No manager to ask: the states are unknown, and brokerctl says why. */
	char env[1024], err[1024];
	snprintf(env, sizeof(env), "mkdir -p /run/elsewhere/socket-broker && ln -sf %s/socket-broker/control "
		 "/run/elsewhere/socket-broker/control && env -u DBUS_SESSION_BUS_ADDRESS XDG_RUNTIME_DIR=/run/elsewhere "
		 "BROKER_SOCKET=/run/elsewhere/socket-broker/control", getenv("XDG_RUNTIME_DIR"));
	ck_assert_ptr_null(unit_state_of(env, "org.test.c1"));
	sd_sh(err, sizeof(err), "%s %s apps 2>&1 >/dev/null", env, getenv("SDTEST_BROKERCTL"));
	ck_assert_msg(strstr(err, "unit states unknown: no user service manager is reachable"), "stderr: %s", err);
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
		{ "torn", torn }, { "watchdog", watchdog }, { "identity", identity },
		{ "keepalive", keepalive }, { "scale", scale }, { "stray", stray },
		{ "ctl", ctl },
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
