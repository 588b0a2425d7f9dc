/* SPDX-License-Identifier: MIT */
/*
 * The fd store never loses a held socket: a socket transferred again while
 * brokerd holds it (a replace, a re-transfer read before the hand-back's
 * ack, an instance that dies unacknowledged), crashes between the steps of
 * such a transfer, what a brokerd crash does to exec apps, and a seeded
 * randomized run of kill -9s and restarts while apps cycle sockets.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sdtest.h"
#include "testutil.h"

static void expect_context(const char *app, const char *id, const char *ctx)
{
	broker_info **list = sd_list();
	broker_info *in = sd_find(list, app, id);
	ck_assert_msg(in != NULL, "%s/%s is not held", app, id);
	ck_assert_uint_eq(in->context_len, strlen(ctx));
	ck_assert(memcmp(in->context, ctx, in->context_len) == 0);
	unsigned n = 0;
	for (broker_info **i = list; *i; i++)
		n++;
	ck_assert_uint_eq(n, 1);
	broker_info_list_free(list);
}

/* Claim app/id back from brokerd: the fd is the caller's. */
static int claim(const char *app, const char *id)
{
	broker *b = NULL;
	ck_assert_int_eq(broker_open(NULL, &b), 0);
	ck_assert_int_eq(broker_register(b, app), 0);
	int fd = broker_claim(b, id, NULL);
	ck_assert_int_ge(fd, 0);
	broker_close(b);
	return fd;
}

/* Data through the held socket reaches the app, which answers. */
static void round_trip(int peer, const char *app, const char *id, const char *ctx, unsigned seed)
{
	char payload[700];
	fill(payload, sizeof(payload), seed);
	sd_send_payload(peer, payload, sizeof(payload), 2);
	sd_expect_answer(peer, app, id, "socket-activity", ctx, strlen(ctx), payload, sizeof(payload), NULL);
	sd_wait_watching(app, id, 0);
}

/* The repro: the same socket transferred twice as APP/x, then kill -9. */
START_TEST(replace_same)
{
	const char *app = "org.test.f1";
	sd_setup(&(struct brokerd_opts){ 0 });
	sd_wake_app("f1", app, NULL);
	pid_t bpid = sd_start_brokerd();
	int sv[2];
	sd_tcp_pair(sv);
	ck_assert_int_eq(sd_transfer(app, "x", dup(sv[0]), "one", 3, 0), 0);
	expect_store_holds(1);
	ck_assert_int_eq(sd_transfer(app, "x", dup(sv[0]), "two", 3, 0), 0);
	expect_store_holds(1);   /* the registry and the one socket's bucket */
	expect_context(app, "x", "two");

	/* The same socket under another id: refused, the fd still ours. */
	int d = dup(sv[0]);
	ck_assert_int_eq(sd_transfer(app, "y", d, NULL, 0, 0), -EEXIST);
	ck_assert_int_ge(fcntl(d, F_GETFD), 0);
	close(d);
	close(sv[0]);   /* brokerd's copy is the only one now */
	sd_expect_store_whole();

	bpid = sd_kill_brokerd(bpid);
	expect_store_holds(1);
	expect_context(app, "x", "two");
	round_trip(sv[1], app, "x", "two", 1);

	/* brokerd dies between the two records of a replace of the same
	 * socket (the new entry is written, the old one's removal is torn):
	 * the later entry has the socket. */
	int f = claim(app, "x");
	bpid = sd_restart_torn(bpid, "remove");
	unsigned long long restarts = sd_prop_num("brokerd.service", "NRestarts");
	ck_assert_int_eq(sd_transfer(app, "x", dup(f), "three-a", 7, 0), 0);
	d = dup(f);
	ck_assert_int_lt(sd_transfer(app, "x", d, "three", 5, 0), 0);
	close(d);
	bpid = sd_wait_crash_restart(bpid, restarts);
	expect_store_holds(1);
	expect_context(app, "x", "three");

	/* ... or in the new entry's record: the old entry keeps the socket. */
	bpid = sd_restart_torn(bpid, "put");
	restarts = sd_prop_num("brokerd.service", "NRestarts");
	d = dup(f);
	ck_assert_int_lt(sd_transfer(app, "x", d, "four", 4, 0), 0);
	close(d);
	bpid = sd_wait_crash_restart(bpid, restarts);
	expect_store_holds(1);
	expect_context(app, "x", "three");

	close(f);
	bpid = sd_kill_brokerd(bpid);
	expect_context(app, "x", "three");
	round_trip(sv[1], app, "x", "three", 2);
	close(sv[1]);
	sd_case_done();
}
END_TEST

/* The app's transfer back reaches brokerd after its ack, before it, or with
 * no ack at all (the instance exits): every socket stays stored. */
START_TEST(orders)
{
	static const char *const modes[] = { "ack-first", "transfer-first", "transfer-exit" };
	char app[3][32], args[64];
	int peer[3];
	sd_setup(&(struct brokerd_opts){ 0 });
	for (int i = 0; i < 3; i++) {
		char inst[8];
		snprintf(inst, sizeof(inst), "o%d", i);
		snprintf(app[i], sizeof(app[i]), "org.test.o%d", i);
		snprintf(args, sizeof(args), "--order %s", modes[i]);
		sd_wake_app(inst, app[i], args);
	}
	pid_t bpid = sd_start_brokerd();
	for (int i = 0; i < 3; i++) {
		int sv[2];
		sd_tcp_pair(sv);
		ck_assert_int_eq(sd_transfer(app[i], "c", sv[0], "ctx", 3, 0), 0);
		peer[i] = sv[1];
	}
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 3; i++)
			round_trip(peer[i], app[i], "c", "ctx", (unsigned)(round * 3 + i));
		sd_wait_all_watching(3);
		sd_expect_store_whole();
		bpid = sd_kill_brokerd(bpid);
		sd_wait_all_watching(3);
		sd_expect_store_whole();
	}
	for (int i = 0; i < 3; i++)
		close(peer[i]);
	sd_case_done();
}
END_TEST

static bool pid_gone(void *ud)
{
	return kill(*(pid_t *)ud, 0) < 0 && errno == ESRCH;
}

static pid_t app_pid(const char *app)
{
	broker_app **list;
	const broker_app *a = sd_app_entry(app, &list);
	pid_t pid = a ? a->pid : 0;
	broker_app_list_free(list);
	return pid;
}

static bool app_started(void *ud)
{
	pid_t *pid = ud;
	*pid = app_pid("org.test.e1");
	return *pid > 0;
}

/* The documented behaviour (docs/systemd.md): an exec app's instance runs
 * in brokerd's service, so a crash of brokerd stops it.  A socket the
 * instance had acknowledged goes with it, like any crash of the app; one
 * still held stays held and stored. */
START_TEST(exec_killmode)
{
	const char *app = "org.test.e1";
	char extra[512];
	sd_setup(&(struct brokerd_opts){ 0 });
	snprintf(extra, sizeof(extra), "command = %s --order hold --idle-exit 600", getenv("SDTEST_APP"));
	sd_manifest(app, NULL, "method = exec", extra);
	pid_t bpid = sd_start_brokerd();
	int a[2], b[2];
	sd_tcp_pair(a);
	sd_tcp_pair(b);
	ck_assert_int_eq(sd_transfer(app, "a", a[0], NULL, 0, 0), 0);
	ck_assert_int_eq(sd_transfer(app, "b", b[0], NULL, 0, 0), 0);
	ck_assert_int_eq(write(a[1], "x", 1), 1);
	pid_t pid = 0;
	ck_assert(sd_wait(app_started, &pid, 10000));
	sd_wait_all_watching(1);   /* a is the instance's now */
	bpid = sd_kill_brokerd(bpid);
	ck_assert_msg(sd_wait(pid_gone, &pid, 10000), "the exec instance %d outlived brokerd", (int)pid);
	struct pollfd p = { .fd = a[1], .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 10000), 1);
	char c;   /* went with the instance: closed with "x" unread, so reset */
	ssize_t got = read(a[1], &c, 1);
	ck_assert_msg(got == 0 || (got < 0 && errno == ECONNRESET), "read %zd (%m): the socket is still open", got);
	sd_wait_all_watching(1);
	broker_info **list = sd_list();
	ck_assert_ptr_nonnull(sd_find(list, app, "b"));
	broker_info_list_free(list);
	close(a[1]);
	close(b[1]);
	sd_case_done();
}
END_TEST

/* The randomized run: seeded (SDTEST_CHAOS_SEED, else the time; printed),
 * SDTEST_CHAOS_SOCKETS sockets (200) in 4 apps that accept, ack and
 * transfer back in random order (and now and then exit unacknowledged),
 * SDTEST_CHAOS_KILLS kill -9s of brokerd (30; at least 10 within the
 * time), a restart every fourth
 * round, a reload every fifth, a kill -9 of an app instance mid-cycle
 * every sixth, a burst to every socket every seventh; bounded by
 * SDTEST_CHAOS_SECONDS (100).  The oracle: every payload sent is answered
 * once with its exact bytes, unless the app it went to was killed holding
 * it (then its peer sees the end, and the socket is counted lost by the
 * app); every other socket is held at the end with its context. */
#define CHAOS_APPS 4
#define CHAOS_MAX 1000

struct csock {
	char app[32], id[16], ctx[32];
	int peer;
	bool lost;                   /* its app was killed holding it */
};

static unsigned env_num(const char *name, unsigned dflt)
{
	const char *v = getenv(name);
	return v && *v ? (unsigned)strtoul(v, NULL, 10) : dflt;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Nothing more arrived on any peer: no answer twice, no stray bytes. */
static void expect_quiet(struct csock *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (s[i].lost)
			continue;
		struct pollfd p = { .fd = s[i].peer, .events = POLLIN };
		ck_assert_msg(poll(&p, 1, 0) == 0, "%s/%s: more arrived than one answer per payload", s[i].app, s[i].id);
	}
}

START_TEST(chaos)
{
	unsigned seed = env_num("SDTEST_CHAOS_SEED", (unsigned)time(NULL));
	unsigned n = env_num("SDTEST_CHAOS_SOCKETS", 200), kills_wanted = env_num("SDTEST_CHAOS_KILLS", 30);
	double budget = env_num("SDTEST_CHAOS_SECONDS", 100);
	if (n > CHAOS_MAX)
		n = CHAOS_MAX;
	signal(SIGPIPE, SIG_IGN);   /* a lost socket fails a check, not the process */
	fprintf(stderr, "# chaos: seed %u (SDTEST_CHAOS_SEED=%u repeats it), %u sockets\n", seed, seed, n);
	unsigned rng = seed;
	static struct csock s[CHAOS_MAX];
	static char payload[CHAOS_MAX][3000];
	static size_t len[CHAOS_MAX];

	sd_setup(&(struct brokerd_opts){ 0 });
	for (int a = 0; a < CHAOS_APPS; a++) {
		char inst[8], args[96];
		snprintf(inst, sizeof(inst), "c%d", a);
		snprintf(args, sizeof(args), "--order random --seed %u --idle-exit 600", seed + (unsigned)a);
		snprintf(s[a].app, sizeof(s[a].app), "org.test.c%d", a);
		sd_wake_app(inst, s[a].app, args);
	}
	pid_t bpid = sd_start_brokerd();
	for (unsigned i = 0; i < n; i++) {
		snprintf(s[i].app, sizeof(s[i].app), "org.test.c%u", i % CHAOS_APPS);
		snprintf(s[i].id, sizeof(s[i].id), "s%03u", i);
		snprintf(s[i].ctx, sizeof(s[i].ctx), "ctx of s%03u", i);
		int sv[2];
		sd_tcp_pair(sv);
		ck_assert_int_eq(sd_transfer(s[i].app, s[i].id, sv[0], s[i].ctx, strlen(s[i].ctx), 0), 0);
		s[i].peer = sv[1];
	}
	sd_wait_all_watching(n);

	unsigned kills = 0, restarts = 0, reloads = 0, app_kills = 0, bursts = 0, payloads = 0, lost = 0;
	unsigned long long bytes = 0;
	double start = now_s();
	static bool chosen[CHAOS_MAX];
	for (unsigned round = 0; kills < kills_wanted && now_s() - start < budget; round++) {
		bool burst = round % 7 == 6;
		unsigned k = burst ? n : 10 + (unsigned)rand_r(&rng) % 20;
		bursts += burst;
		memset(chosen, 0, sizeof(chosen));
		for (unsigned j = 0; j < k; j++) {
			unsigned i = burst ? j : (unsigned)rand_r(&rng) % n;
			if (chosen[i] || s[i].lost)
				continue;
			chosen[i] = true;
			len[i] = 1 + (size_t)rand_r(&rng) % sizeof(payload[0]);
			fill(payload[i], len[i], seed + round * 1000 + i);
			sd_send_payload(s[i].peer, payload[i], len[i], 1 + (unsigned)rand_r(&rng) % 3);
		}
		/* The faults land somewhere in the middle of the apps' cycles. */
		nanosleep(&(struct timespec){ 0, (long)(rand_r(&rng) % 300) * 1000000L }, NULL);
		int killed_app = -1;
		if (round % 6 == 5) {
			killed_app = (int)((unsigned)rand_r(&rng) % CHAOS_APPS);
			SD_OK("systemctl --user kill -s KILL sdtest-app@c%d.service", killed_app);
			app_kills++;
		}
		if (round % 5 == 4) {
			SD_OK("systemctl --user reload brokerd.service");
			reloads++;
		}
		if (round % 4 == 3) {
			SD_OK("systemctl --user restart brokerd.service");
			bpid = sd_wait_brokerd(bpid);
			restarts++;
		} else {
			bpid = sd_kill_brokerd(bpid);
			kills++;
		}
		for (unsigned i = 0; i < n; i++) {
			if (!chosen[i])
				continue;
			char line[512], want[512];
			int w = sd_answer_prefix(want, sizeof(want), s[i].app, s[i].id, "socket-activity", s[i].ctx,
						 strlen(s[i].ctx), payload[i], len[i]);
			int r = sd_read_answer(s[i].peer, line, sizeof(line), 30000);
			if (r == 0 && (int)(i % CHAOS_APPS) == killed_app) {
				s[i].lost = true;   /* the instance died with it in its hands */
				lost++;
				continue;
			}
			ck_assert_msg(r == 1, "%s/%s: %s (seed %u, round %u)", s[i].app, s[i].id,
				      r == 0 ? "the peer saw the connection end" : "no answer", seed, round);
			ck_assert_msg(strncmp(line, want, (size_t)w) == 0, "answer '%s', expected '%s...' (seed %u)", line,
				      want, seed);
			payloads++;
			bytes += len[i];
		}
		/* Others the killed instance had in its hands end too. */
		for (unsigned i = 0; killed_app >= 0 && i < n; i++) {
			if (s[i].lost || (int)(i % CHAOS_APPS) != killed_app)
				continue;
			struct pollfd p = { .fd = s[i].peer, .events = POLLIN | POLLRDHUP };
			char c;
			if (poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP)) && read(s[i].peer, &c, 1) <= 0) {
				s[i].lost = true;
				lost++;
			}
		}
	}
	/* The budget may cut the run short on a slow machine (sanitizers, load),
	 * but never below 10 kills. */
	unsigned kills_min = kills_wanted < 10 ? kills_wanted : 10;
	ck_assert_msg(kills >= kills_min, "only %u kill(s) within %.0f s", kills, budget);

	/* Every socket not lost with a killed app: held, with its context,
	 * and alive end to end. */
	sd_wait_all_watching(n - lost);
	broker_info **list = sd_list();
	for (unsigned i = 0; i < n; i++) {
		broker_info *in = sd_find(list, s[i].app, s[i].id);
		if (s[i].lost) {
			ck_assert_msg(in == NULL, "%s/%s: its app died with it, yet brokerd holds it", s[i].app, s[i].id);
			continue;
		}
		ck_assert_msg(in != NULL, "%s/%s was lost (seed %u)", s[i].app, s[i].id, seed);
		ck_assert_uint_eq(in->context_len, strlen(s[i].ctx));
		ck_assert(memcmp(in->context, s[i].ctx, in->context_len) == 0);
	}
	broker_info_list_free(list);
	sd_expect_store_whole();
	bpid = sd_kill_brokerd(bpid);
	kills++;
	for (unsigned i = 0; i < n; i++) {
		if (s[i].lost)
			continue;
		len[i] = 64;
		fill(payload[i], len[i], seed + i);
		sd_send_payload(s[i].peer, payload[i], len[i], 1);
	}
	for (unsigned i = 0; i < n; i++) {
		if (s[i].lost)
			continue;
		sd_expect_answer(s[i].peer, s[i].app, s[i].id, "socket-activity", s[i].ctx, strlen(s[i].ctx),
				 payload[i], len[i], NULL);
		payloads++;
		bytes += len[i];
	}
	sd_wait_all_watching(n - lost);
	expect_quiet(s, n);
	fprintf(stderr, "# chaos: seed %u: %u kill -9 of brokerd, %u restarts, %u reloads, %u kill -9 of an app "
		"instance (%u socket(s) went with them), %d app exit(s) without an ack, %u bursts to every socket; "
		"%u payloads (%llu bytes) checked, %u sockets checked, 0 lost by brokerd, %d hand-back(s) "
		"delivered twice, %.1f s\n", seed, kills, restarts, reloads, app_kills, lost,
		journal_count("exiting without an ack"), bursts, payloads, bytes, n,
		journal_count("delivered again, nothing to read"), now_s() - start);
	for (unsigned i = 0; i < n; i++)
		close(s[i].peer);
	sd_case_done();
}
END_TEST

/* The manager does not answer the audit for 3 s (stopped, as a manager
 * busy for that long would be): brokerd asks again a second later instead
 * of giving the audit up, and the audit that gets through finds the store
 * whole. */
START_TEST(audit_asks_again)
{
	const char *app = "org.test.f4";
	sd_setup(&(struct brokerd_opts){ 0 });
	sd_wake_app("f4", app, NULL);
	pid_t bpid = sd_start_brokerd();
	static struct tsock t[2];
	t[0].id = "a";
	t[1].id = "b";
	hold(app, t, 1);
	sd_expect_store_whole();
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)bpid);
	FILE *f = fopen(path, "re");
	pid_t manager = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "PPid: %d", &manager) == 1)
			break;
	if (f)
		fclose(f);
	ck_assert_int_gt(manager, 1);
	ck_assert_int_eq(kill(manager, SIGSTOP), 0);
	hold(app, &t[1], 1);   /* a store operation: its audit comes 200 ms later */
	usleep(3000 * 1000);
	ck_assert_int_eq(kill(manager, SIGCONT), 0);
	ck_assert_int_eq(check_held(app, t, 2), 2);
	sd_expect_store_whole();   /* and no "cannot ask the service manager" */
	for (int i = 0; i < 2; i++)
		close(t[i].peer);
	sd_case_done();
}
END_TEST

void sd_fdstore_cases(Suite *s)
{
	sd_add_case(s, "replace_same", replace_same);
	sd_add_case(s, "orders", orders);
	sd_add_case(s, "exec_killmode", exec_killmode);
	sd_add_case_timeout(s, "chaos", chaos, 280);
	sd_add_case(s, "audit_asks_again", audit_asks_again);
}
