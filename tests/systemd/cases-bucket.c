/* SPDX-License-Identifier: MIT */
/* The fd store's buckets: many held sockets with data in flight through a
 * SIGKILL and a restart, a removed socket's close reaching its peer, and a
 * bucket rewrite torn at each step. */
#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sdtest.h"
#include "testutil.h"

#define APP "org.test.k1"
#define N 1100                     /* five buckets, the last one open */

static struct tsock t[N];
static char ids[N][8];

/* Claim t[i] as the app and close it: its peer must see the connection
 * end, so no copy of it stayed in a bucket. */
static void claim_and_close(int i)
{
	broker *b = NULL;
	ck_assert_int_eq(broker_open(NULL, &b), 0);
	ck_assert_int_eq(broker_register(b, APP), 0);
	int fd = broker_claim(b, t[i].id, NULL);
	ck_assert_int_ge(fd, 0);
	broker_close(b);
	close(fd);
	struct pollfd p = { .fd = t[i].peer, .events = POLLIN };
	ck_assert_msg(poll(&p, 1, 10000) == 1, "the peer of %s never saw it close", t[i].id);
	char c;
	ck_assert_int_eq(read(t[i].peer, &c, 1), 0);
	close(t[i].peer);
}

/* Payloads queued on t[from..from+3) as brokerd goes; the app reads
 * every byte from the brokerd after it. */
static void send_three(int from, char *payload, size_t len)
{
	for (int k = from; k < from + 3; k++) {
		fill(payload, len, (unsigned)k);
		sd_send_payload(t[k].peer, payload, len, 1);
	}
}

static void expect_three(int from, char *payload, size_t len)
{
	for (int k = from; k < from + 3; k++) {
		fill(payload, len, (unsigned)k);
		sd_expect_answer(t[k].peer, APP, t[k].id, "socket-activity", t[k].ctx, strlen(t[k].ctx), payload,
				 len, NULL);
	}
}

START_TEST(buckets)
{
	sd_setup(&(struct brokerd_opts){ .gate = true, .extra_conf = "max-held = 4000\nmax-held-per-app = 4000" });
	sd_wake_app("k1", APP, NULL);
	pid_t bpid = sd_start_brokerd();
	for (int i = 0; i < N; i++) {
		int sv[2];
		snprintf(ids[i], sizeof(ids[i]), "k%d", i);
		t[i].id = ids[i];
		snprintf(t[i].ctx, sizeof(t[i].ctx), "context of %s", t[i].id);
		sd_tcp_pair(sv);
		ck_assert_int_eq(sd_transfer(APP, t[i].id, sv[0], t[i].ctx, strlen(t[i].ctx), 0), 0);
		t[i].peer = sv[1];
	}
	int n = N;
	ck_assert_int_eq(check_held(APP, t, n), 0);
	expect_store_holds((unsigned)n);
	static char payload[3000];

	/* 1. kill -9, and data for three sockets arrives before systemd starts
	 * brokerd again; the app gets every byte (and transfers each socket
	 * back), nothing else moves.  2. The same through a clean restart. */
	static const char *const stops[] = { "kill --signal=SIGKILL", "restart --no-block" };
	for (int k = 0; k < 2; k++) {
		sd_close_gate();
		SD_OK("systemctl --user %s brokerd.service", stops[k]);
		sd_expect_prestart(30000);
		send_three(3 * k, payload, sizeof(payload));
		sd_open_gate();
		bpid = sd_wait_brokerd(bpid);
		expect_three(3 * k, payload, sizeof(payload));
		ck_assert_int_eq(check_held(APP, t, n), n - 3);
		expect_store_holds((unsigned)n);
	}

	/* 3. A socket taken out of a bucket is closed when its taker closes it,
	 * in a restored bucket and in the one brokerd opened again. */
	claim_and_close(--n);
	claim_and_close(10);
	t[10] = t[--n];
	ck_assert_int_eq(check_held(APP, t, n), n);
	expect_store_holds((unsigned)n);

	/* 4. The rewrite after a removal dies once the new bucket has the fds,
	 * and once it is stored too (the old one still stored): the claimed
	 * socket does not come back, every other one does, once. */
	static const char *const steps[] = { "bucket-sent", "bucket-stored" };
	for (int k = 0; k < 2; k++) {
		char armed[64];
		snprintf(armed, sizeof(armed), "the next bucket rewrite dies at %s", steps[k]);
		bpid = sd_restart_torn(bpid, steps[k]);
		expect_journal("", armed);
		unsigned long long restarts = sd_prop_num("brokerd.service", "NRestarts");
		claim_and_close(100 + k);
		t[100 + k] = t[--n];
		bpid = sd_wait_crash_restart(bpid, restarts);
		check_held(APP, t, n);
		expect_store_holds((unsigned)n);
	}
	for (int i = 0; i < n; i++)
		close(t[i].peer);
	sd_case_done();
}
END_TEST

void sd_bucket_cases(Suite *s)
{
	sd_add_case_timeout(s, "buckets", buckets, 240);
}
