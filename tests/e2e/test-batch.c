/* SPDX-License-Identifier: MIT */
/*
 * Batched hand-backs (protocol 4) with a real app: brokerd sends a woken
 * app its sockets up to 253 a message.  600 sockets reach one start, each
 * with its own bytes and context, each answered on the very socket, the
 * app accepting them one by one or (broker_handback_accept_many()) a
 * message's at once; and an app that dies with sockets still queued in
 * libbroker, not accepted, loses none of them: brokerd, which kept its
 * copies, hands them to the next start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define APP "org.test.batch"
#define N 600   /* three HANDBACK_MANYs: 253, 253, 94 */

/* How many of app's sockets are in state (one LIST). */
static unsigned count_in_state(const struct hb *b, enum broker_state state)
{
	broker *c = hb_open(b, APP);
	broker_info **list;
	int n = broker_list(c, NULL, &list);
	ck_assert_int_ge(n, 0);
	unsigned k = 0;
	for (int i = 0; i < n; i++)
		k += list[i]->state == state;
	broker_info_list_free(list);
	broker_close(c);
	return k;
}

/* Lines of path that hold both a and b. */
static unsigned count_lines(const char *path, const char *a, const char *b)
{
	FILE *f = fopen(path, "re");
	ck_assert_ptr_nonnull(f);
	static char line[4096];
	unsigned n = 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, a) && strstr(line, b);
	fclose(f);
	return n;
}

static int held[N], peer[N];
static char ids[N][16], ctx[N][16], data[N][16];

/* N sockets handed over in one call, and bytes sent on each. */
static void hand_over(struct hb *b)
{
	broker_transfer_item items[N];
	for (unsigned i = 0; i < N; i++) {
		hb_tcp_pair(&held[i], &peer[i]);
		snprintf(ids[i], sizeof(ids[i]), "s%u", i);
		snprintf(ctx[i], sizeof(ctx[i]), "ctx%u", i);
		items[i] = (broker_transfer_item){ ids[i], held[i], ctx[i], strlen(ctx[i]), 0 };
	}
	broker *c = hb_open(b, APP);
	broker_result *res;
	ck_assert_int_eq(broker_transfer_many(c, items, N, &res), N);
	broker_results_free(res, N);
	broker_close(c);
	for (unsigned i = 0; i < N; i++) {
		snprintf(data[i], sizeof(data[i]), "m%u", i);
		hb_send(peer[i], data[i], strlen(data[i]));
	}
}

/* The index of the socket a handback line names. */
static unsigned index_of(const char *line)
{
	const char *id = hb_field(line, "id");
	ck_assert(id[0] == 's');
	unsigned i = (unsigned)strtoul(id + 1, NULL, 10);
	ck_assert_uint_lt(i, N);
	return i;
}

/* How the app takes them: one by one, or a message's at once. */
static const char *const modes[] = { "", "--many" };

START_TEST(many_in_one_start)
{
	bool together = _i == 1;
	hb_raise_nofile(4 * N);
	struct hb b;
	hb_init(&b, together ? "batch-many-together" : "batch-many", "[limits]\nmax-held-per-app = 1000\n");
	hb_testapp(&b, APP, "--wait-file go --read-min 1 --answer ok %s", modes[_i]);
	hb_start(&b);
	const char *rep = hb_report(&b, APP);
	char line[HB_LINE_MAX];
	/* counters, not a monitor: one would fall behind 2 400 events */
	broker *st = hb_open(&b, NULL);
	broker_status s0, s;
	ck_assert_int_eq(broker_get_status(st, &s0), 0);

	hand_over(&b);
	hb_report_get(rep, "start", 0, line);
	ck_assert(HB_WAIT(count_in_state(&b, BROKER_STATE_TRIGGERED) == N, HB_WAIT_MS));
	hb_touch(hb_path(&b, "go"));

	static bool seen[N];
	hb_report_get(rep, "exit", 0, line);
	hb_expect(line, "handled", "600");
	for (unsigned k = 0; k < N; k++) {
		hb_report_get(rep, "handback", (int)k, line);
		unsigned i = index_of(line);
		ck_assert_msg(!seen[i], "%s handed back twice", ids[i]);
		seen[i] = true;
		hb_expect(line, "ctx", ctx[i]);
		hb_expect(line, "data", data[i]);
		hb_expect(line, "reason", "socket-activity");
	}
	for (unsigned i = 0; i < N; i++) {
		hb_expect_recv(peer[i], "ok");   /* answered on its own socket */
		close(peer[i]);
	}

	ck_assert(HB_WAIT(broker_get_status(st, &s) == 0 && s.held == 0 && s.running == 0, HB_WAIT_MS));
	ck_assert_uint_eq(s.handbacks_total - s0.handbacks_total, N);
	ck_assert_uint_eq(s.activations_total - s0.activations_total, 1);
	broker_app **apps;
	ck_assert_uint_eq(hb_app_entry(&b, APP, &apps)->failures, 0);
	broker_app_list_free(apps);
	ck_assert(!hb_file_contains(b.log, "activation failed"));
	if (together) {
		/* a message's sockets in one acknowledgement, and one line for them */
		ck_assert_int_eq(hb_report_count(rep, "accepted"), 3);
		hb_report_get(rep, "accepted", 0, line);
		hb_expect(line, "count", "253");
		hb_report_get(rep, "accepted", 2, line);
		hb_expect(line, "count", "94");
		hb_expect(line, "of", "94");
		ck_assert(hb_file_contains(b.log, "info: " APP ": 253 socket(s) handed back and acknowledged"));
		ck_assert(hb_file_contains(b.log, "info: " APP ": 94 socket(s) handed back and acknowledged"));
		ck_assert(hb_file_contains(b.log, "debug: " APP "/s0: handed back and acknowledged"));
		ck_assert(!hb_file_contains(b.log, "info: " APP "/s0: handed back and acknowledged"));
	} else {
		/* one by one: a line each */
		ck_assert(hb_file_contains(b.log, "info: " APP "/s0: handed back and acknowledged"));
		ck_assert(hb_file_contains(b.log, "info: " APP "/s599: handed back and acknowledged"));
		ck_assert(!hb_file_contains(b.log, "socket(s) handed back and acknowledged"));
	}
	ck_assert_int_eq(hb_report_count(rep, "start"), 1);
	ck_assert_int_eq(hb_report_count(rep, "error"), 0);
	/* ten trigger lines a second at info, the rest at debug (the test's
	 * brokerd runs --verbose): one line each all the same */
	unsigned info = count_lines(b.log, "info: " APP "/s", ": triggered");
	ck_assert_uint_ge(info, 10);
	ck_assert_uint_le(info, N / 2);
	ck_assert_uint_eq(info + count_lines(b.log, "debug: " APP "/s", ": triggered"), N);
	ck_assert(hb_file_contains(b.log, ": triggered (this app's further triggers this second are logged at debug)"));
	broker_close(st);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

#define FEW 5

/* The app takes two of five sockets brokerd sent in one message and dies:
 * the two are its (acknowledged, read, closed: their peers see the end);
 * the three still queued in libbroker were not acknowledged, and the next
 * start gets them with all their bytes. */
START_TEST(queued_not_lost_with_the_app)
{
	struct hb b;
	hb_init(&b, "batch-die", "[limits]\nbackoff-initial-ms = 100\n");
	hb_testapp(&b, APP, "--wait-file go --wait-start 2:go2 --read-min 1 --die-after-once 2:died");
	hb_start(&b);
	const char *rep = hb_report(&b, APP);
	char line[HB_LINE_MAX];
	broker *mon = hb_monitor(&b);

	char id[FEW][8];
	int h[FEW], p[FEW];
	for (int i = 0; i < FEW; i++) {
		hb_unix_pair(SOCK_STREAM, &h[i], &p[i]);
		snprintf(id[i], sizeof(id[i]), "u%d", i);
		hb_transfer(&b, APP, id[i], h[i], NULL, 0, 0);
		hb_send(p[i], "a", 1);
	}
	hb_report_get(rep, "start", 0, line);
	for (int i = 0; i < FEW; i++)
		ck_assert(HB_WAIT(hb_held_state(&b, APP, id[i]) == BROKER_STATE_TRIGGERED, HB_WAIT_MS));
	hb_touch(hb_path(&b, "go"));

	hb_report_get(rep, "die", 0, line);
	hb_expect(line, "handled", "2");
	bool first[FEW] = { false };
	for (int k = 0; k < 2; k++) {
		hb_report_get(rep, "handback", k, line);
		hb_expect(line, "data", "a");
		for (int i = 0; i < FEW; i++)
			first[i] |= strcmp(hb_field(line, "id"), id[i]) == 0;
	}
	unsigned n[HB_EVENT_TYPES] = { 0 };
	ck_assert(hb_events_until(mon, BROKER_EVENT_ACK, 2, n));
	ck_assert(hb_events_until(mon, BROKER_EVENT_EXIT, 1, n));
	for (int i = 0; i < FEW; i++) {
		if (first[i]) {
			ck_assert(HB_WAIT(hb_gone(&b, APP, id[i]), HB_WAIT_MS));
			char c;
			ck_assert_int_eq(recv(p[i], &c, 1, 0), 0);   /* the app closed it */
			continue;
		}
		/* held still, its peer's connection open, more bytes for it */
		ck_assert(HB_WAIT(hb_held_state(&b, APP, id[i]) == BROKER_STATE_TRIGGERED, HB_WAIT_MS));
		char c;
		ck_assert_int_eq(recv(p[i], &c, 1, MSG_DONTWAIT), -1);
		hb_send(p[i], "b", 1);
	}

	hb_report_get(rep, "start", 1, line);
	char pid[32];
	snprintf(pid, sizeof(pid), "%s", hb_field(line, "pid"));
	hb_touch(hb_path(&b, "go2"));
	hb_report_get(rep, "exit", 0, line);
	hb_expect(line, "handled", "3");
	for (int k = 2; k < FEW; k++) {
		hb_report_get(rep, "handback", k, line);
		hb_expect(line, "pid", pid);
		int i = -1;
		for (int j = 0; j < FEW; j++)
			if (strcmp(hb_field(line, "id"), id[j]) == 0)
				i = j;
		ck_assert_int_ge(i, 0);
		ck_assert(!first[i]);
		hb_expect(line, "data", "ab");
	}
	ck_assert(hb_events_until(mon, BROKER_EVENT_ACK, FEW, n));
	ck_assert_uint_eq(n[BROKER_EVENT_ACTIVATE], 2);
	ck_assert_int_eq(hb_report_count(rep, "handback"), FEW);
	for (int i = 0; i < FEW; i++) {
		ck_assert(HB_WAIT(hb_gone(&b, APP, id[i]), HB_WAIT_MS));
		close(p[i]);
	}
	broker_close(mon);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("e2e-batch");
	TCase *tc = tcase_create("batch");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, many_in_one_start, 0, 2);
	tcase_add_test(tc, queued_not_lost_with_the_app);
	suite_add_tcase(s, tc);
	return hb_run_suite(s);
}
