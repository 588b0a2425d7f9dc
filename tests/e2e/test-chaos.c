/* SPDX-License-Identifier: MIT */
/*
 * The randomized fault run without systemd: four exec apps (a daemonizing
 * one that now and then crashes before its ack, one that forks a worker
 * and exits and takes its sockets a message at a time (accept-many), one
 * that leaves an orphan behind, one that now and then exits without an
 * ack) hold CHAOS_SOCKETS TCP sockets.  Each round sends random
 * payloads to some of them (to all, every fifth round) and then injects
 * faults: kill -9 of a random process of a random instance, re-armed
 * crashes and unacknowledged exits, orphans kept through the faults
 * (their app's triggers wait for them), reloads.
 *
 * The oracle: every byte sent on a socket is read by the app once and in
 * order (the apps report what they read), unless an instance was killed
 * holding the socket: then its peer sees the end, and what was read is a
 * prefix of what was sent.  Every other socket is held at the end.
 * Seeded (HB_CHAOS_SEED, else the time; printed), bounded by
 * HB_CHAOS_ROUNDS (30) and HB_CHAOS_SECONDS (60).
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define CHAOS_APPS 4
#define CHAOS_SOCKETS 24
#define SENT_MAX 16384

static const char *const app_options[CHAOS_APPS] = {
	"--retransfer --daemonize --crash-once crash",
	"--retransfer --fork-worker --many",
	"--retransfer --leave-worker linger",
	"--retransfer --noack-once noack",
};

struct csock {
	char app[32], id[8];
	int peer;
	char sent[SENT_MAX];
	size_t nsent;
	bool lost;
};

static unsigned env_num(const char *name, unsigned dflt)
{
	const char *v = getenv(name);
	return v && *v ? (unsigned)strtoul(v, NULL, 10) : dflt;
}

/* What the app reported reading from s, in order, into got (SENT_MAX). */
static size_t reported(const struct hb *b, const struct csock *s, char *got)
{
	FILE *f = fopen(hb_report(b, s->app), "re");
	size_t n = 0;
	static char line[HB_LINE_MAX];
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "handback ", 9) != 0)
			continue;
		line[strcspn(line, "\n")] = 0;
		const char *id = hb_field(line, "id"), *data = hb_field(line, "data");
		if (!id || strcmp(id, s->id) != 0 || !data)
			continue;
		size_t k = strlen(data);
		ck_assert_uint_le(n + k, SENT_MAX);
		memcpy(got + n, data, k);
		n += k;
	}
	if (f)
		fclose(f);
	return n;
}

static bool peer_ended(const struct csock *s)
{
	struct pollfd p = { .fd = s->peer, .events = POLLRDHUP };
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Read all that was sent, or lost with a killed instance (a prefix read)? */
static bool settled(const struct hb *b, struct csock *s)
{
	static char got[SENT_MAX];
	size_t n = reported(b, s, got);
	ck_assert_msg(n <= s->nsent && memcmp(got, s->sent, n) == 0,
		      "%s/%s: the app read what was not sent, or out of order", s->app, s->id);
	if (n == s->nsent)
		return true;
	if (peer_ended(s))
		s->lost = true;
	return s->lost;
}

static unsigned app_nprocs(const struct hb *b, const char *app)
{
	broker_app **list;
	unsigned n = hb_app_entry(b, app, &list)->nprocs;
	broker_app_list_free(list);
	return n;
}

/* Has the test app reported pid as one of its own (start, forked,
 * carrier)?  A sanitizer's helper process is not one to kill. */
static bool app_process(const struct hb *b, const char *app, pid_t pid)
{
	static const char *const kinds[] = { "start", "forked", "carrier" };
	char line[HB_LINE_MAX];
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		for (int i = hb_report_count(hb_report(b, app), kinds[k]) - 1; i >= 0; i--)
			if (hb_report_wait(hb_report(b, app), kinds[k], i, line) && atoi(hb_field(line, "pid")) == pid)
				return true;
	return false;
}

/* kill -9 of a random process of the first instance that has one, from
 * a random app on. */
static unsigned kill_one(const struct hb *b, unsigned *rng)
{
	unsigned first = (unsigned)rand_r(rng) % CHAOS_APPS, hit = 0;
	for (unsigned k = 0; k < CHAOS_APPS && !hit; k++) {
		char app[32];
		snprintf(app, sizeof(app), "org.test.chaos%u", (first + k) % CHAOS_APPS);
		broker_app **list;
		broker_app *a = hb_app_entry(b, app, &list);
		pid_t pid = a->nprocs ? a->procs[(unsigned)rand_r(rng) % a->nprocs].pid : 0;
		broker_app_list_free(list);
		if (pid > 0 && app_process(b, app, pid))
			hit = kill(pid, SIGKILL) == 0;
	}
	return hit;
}

START_TEST(chaos)
{
	unsigned seed = env_num("HB_CHAOS_SEED", (unsigned)time(NULL)), rng = seed;
	unsigned rounds = env_num("HB_CHAOS_ROUNDS", 30), budget = env_num("HB_CHAOS_SECONDS", 60);
	hb_diag("chaos: seed %u (HB_CHAOS_SEED=%u repeats it)", seed, seed);
	static struct csock s[CHAOS_SOCKETS];
	struct hb b;
	hb_init(&b, "chaos", NULL);
	for (int a = 0; a < CHAOS_APPS; a++) {
		char id[32];
		snprintf(id, sizeof(id), "org.test.chaos%d", a);
		hb_testapp(&b, id, "%s", app_options[a]);
	}
	hb_start(&b);
	for (unsigned i = 0; i < CHAOS_SOCKETS; i++) {
		memset(&s[i], 0, sizeof(s[i]));
		snprintf(s[i].app, sizeof(s[i].app), "org.test.chaos%u", i % CHAOS_APPS);
		snprintf(s[i].id, sizeof(s[i].id), "s%02u", i);
		int held;
		hb_tcp_pair(&held, &s[i].peer);
		hb_transfer(&b, s[i].app, s[i].id, held, NULL, 0, 0);
	}
	unsigned kills = 0, rearmed = 0, reloads = 0, lingers = 0, bursts = 0, round;
	unsigned long long bytes = 0;
	uint64_t start = hb_now_ms();
	for (round = 0; round < rounds && hb_now_ms() - start < budget * 1000ull; round++) {
		bool burst = round % 5 == 4, chosen[CHAOS_SOCKETS] = { false };
		bursts += burst;
		/* Orphans stay through this round's faults, or leave at once. */
		if (rand_r(&rng) % 2) {
			unlink(hb_path(&b, "linger"));
			lingers++;
		} else {
			hb_touch(hb_path(&b, "linger"));
		}
		for (unsigned j = 0; j < (burst ? CHAOS_SOCKETS : 6u); j++) {
			unsigned i = burst ? j : (unsigned)rand_r(&rng) % CHAOS_SOCKETS;
			if (s[i].lost || chosen[i])
				continue;
			chosen[i] = true;
			char buf[200];
			size_t len = 1 + (size_t)rand_r(&rng) % sizeof(buf);
			for (size_t k = 0; k < len; k++)
				buf[k] = (char)('a' + rand_r(&rng) % 26);
			ck_assert_uint_le(s[i].nsent + len, SENT_MAX);
			hb_send(s[i].peer, buf, len);
			memcpy(s[i].sent + s[i].nsent, buf, len);
			s[i].nsent += len;
		}
		/* The faults land in the middle of the instances' cycles. */
		nanosleep(&(struct timespec){ 0, (long)(rand_r(&rng) % 20) * 1000000L }, NULL);
		if (rand_r(&rng) % 2 == 0)
			kills += kill_one(&b, &rng);
		if (rand_r(&rng) % 4 == 0) {
			unlink(hb_path(&b, rand_r(&rng) % 2 ? "crash" : "noack"));
			rearmed++;
		}
		if (round % 7 == 6) {
			ck_assert_int_eq(kill(b.pid, SIGHUP), 0);
			reloads++;
		}
		/* The orphans leave: what triggered for their app waited for them. */
		hb_touch(hb_path(&b, "linger"));
		for (unsigned i = 0; i < CHAOS_SOCKETS; i++)
			ck_assert_msg(HB_WAIT(settled(&b, &s[i]), 30000), "%s/%s: %zu byte(s) sent were never read "
				      "(seed %u, round %u)", s[i].app, s[i].id, s[i].nsent, seed, round);
	}
	hb_touch(hb_path(&b, "linger"));
	unsigned lost = 0;
	for (unsigned i = 0; i < CHAOS_SOCKETS; i++) {
		ck_assert(HB_WAIT(settled(&b, &s[i]), 30000));
		/* Held again, or the instance that had read it all was killed
		 * before it handed it over again (then its peer sees the end). */
		broker_info *in = NULL;
		ck_assert_msg(HB_WAIT(s[i].lost || (in = hb_show(&b, s[i].app, s[i].id)) != NULL ||
				      (s[i].lost = peer_ended(&s[i])), HB_WAIT_MS),
			      "%s/%s was lost by brokerd (seed %u)", s[i].app, s[i].id, seed);
		broker_info_free(in);
		lost += s[i].lost;
		bytes += s[i].nsent;
	}
	for (int a = 0; a < CHAOS_APPS; a++) {
		char id[32];
		snprintf(id, sizeof(id), "org.test.chaos%d", a);
		ck_assert_msg(HB_WAIT(app_nprocs(&b, id) == 0, 30000), "%s: its instance did not end", id);
	}
	hb_diag("chaos: seed %u: %u rounds, %u bursts; faults: %u kill -9 of an instance's process, %u crash or "
		"exit without an ack re-armed, %u reloads, %u rounds with orphans kept; %llu bytes checked, "
		"%u sockets checked (%u went with a killed instance), %.1f s", seed, round, bursts, kills,
		rearmed, reloads, lingers, bytes, CHAOS_SOCKETS, lost, (double)(hb_now_ms() - start) / 1000.);
	hb_assert_fds(&b, b.base_fds + CHAOS_SOCKETS - (int)lost);
	for (unsigned i = 0; i < CHAOS_SOCKETS; i++)
		close(s[i].peer);
	hb_finish(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("chaos");
	TCase *tc = tcase_create("chaos");
	tcase_set_timeout(tc, 170);
	tcase_add_test(tc, chaos);
	suite_add_tcase(s, tc);
	return hb_run_suite(s);
}
