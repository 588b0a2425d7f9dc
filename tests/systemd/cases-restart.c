/* SPDX-License-Identifier: MIT */
/* Restarts and kills of brokerd: held sockets, keep-alives and stray fds through them. */
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

START_TEST(restart)
{
	sd_setup(&(struct brokerd_opts){ .gate = true });
	pid_t bpid = sd_start_brokerd();
	int base = idle_fds(bpid);
	hold_twenty();
	check_twenty(true);
	expect_fds(bpid, base + 20 + store_fds(20));
	expect_store_holds(20);
	static char payloads[NAPPS][2000];

	/* 1. systemctl restart; data for r1 and r2 arrives while brokerd is down. */
	sd_close_gate();
	SD_OK("systemctl --user restart --no-block brokerd.service");
	sd_expect_prestart(30000);
	data_for(0, 2, payloads);
	uint64_t before = max_serial();
	sd_open_gate();
	bpid = sd_wait_brokerd(bpid);
	for (int a = 0; a < 2; a++)
		sd_expect_answer(socks[a * PER_APP].peer, socks[a * PER_APP].app, "conn-0", "socket-activity",
				 socks[a * PER_APP].ctx, socks[a * PER_APP].ctx_len, payloads[a], 2000, NULL);
	ck_assert_int_eq(check_twenty(true), 18);   /* all but the two handed back and transferred again */
	ck_assert_uint_gt(max_serial(), before);   /* serials go on above the restored ones */
	expect_fds(bpid, base + 20 + store_fds(20) + 2);           /* the two woken apps' activations */
	expect_store_holds(20);

	/* 2. SIGKILL; data for r3, r4 and r5 arrives before systemd restarts it. */
	sd_close_gate();
	unsigned long long restarts = sd_prop_num("brokerd.service", "NRestarts");
	SD_OK("systemctl --user kill --signal=SIGKILL brokerd.service");
	sd_expect_prestart(30000);
	data_for(2, 3, payloads);
	sd_open_gate();
	bpid = sd_wait_brokerd(bpid);
	ck_assert_uint_eq(sd_prop_num("brokerd.service", "NRestarts"), restarts + 1);
	for (int a = 2; a < 5; a++)
		sd_expect_answer(socks[a * PER_APP].peer, socks[a * PER_APP].app, "conn-0", "socket-activity",
				 socks[a * PER_APP].ctx, socks[a * PER_APP].ctx_len, payloads[a], 2000, NULL);
	ck_assert_int_eq(check_twenty(true), 17);
	expect_fds(bpid, base + 20 + store_fds(20) + 3);   /* r1 and r2 lost their activation with the old brokerd */
	expect_store_holds(20);
	expect_journal("", "restored 20 held socket(s) from the fd store, 0 of them triggered and pending");
	sd_case_done();
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
	sd_case_done();
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
	/* Each bucket's two ends; after the restart, the buckets' receiving
	 * ends, and the one that takes appends again has its sending end. */
	int buckets = (int)((n + 252) / 253);
	expect_fds(bpid, base + (int)n + 2 * buckets);
	expect_store_holds(n);

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
	expect_fds(bpid, base + (int)n + buckets + (n % 253 != 0));
	expect_store_holds(n);
	fprintf(stderr, "# %u transfers in %.2f s; SIGKILL to ready again with all of them: %.2f s\n", n, t1 - t0,
		t3 - t2);
	for (unsigned i = 0; i < n; i++)
		close(peers[i]);
	free(peers);
	sd_case_done();
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
	expect_fds(bpid, base + 2 + store_fds(2));
	expect_store_holds(2);
	for (int i = 0; i < 2; i++)
		close(t[i].peer);
	sd_case_done();
}
END_TEST

void sd_restart_cases(Suite *s)
{
	sd_add_case(s, "restart", restart);
	sd_add_case(s, "keepalive", keepalive);
	sd_add_case(s, "scale", scale);
	sd_add_case(s, "stray", stray);
}
