/* SPDX-License-Identifier: MIT */
/*
 * Storm: 10 apps hold 1000 sockets each; one byte arrives on all 10k at
 * once (the bench sends them, one send() each, as fast as it can).  The
 * time from the first byte sent until brokerd has every socket handed back
 * and acknowledged, the number of activations it took (one per app is the
 * target), and the ratio against the pipelined floor: the same number of
 * fds streamed over one SOCK_SEQPACKET connection, each acknowledged.
 * Run twice: apps that keep their sockets until they close the activation,
 * and apps that close each at once (whose teardown of the connections then
 * falls in brokerd's close of its copy).
 */
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "floor.h"

#define NAPPS 10

struct storm {
	double sent_ms, storm_ms;   /* from the first byte: all sent; all handed back+acked */
	unsigned activations;
};

/* One storm over fresh apps started as `bench-app --expect per how`. */
static void storm_once(const char *how, unsigned per, struct storm *ret, int *listener, uint16_t *port)
{
	unsigned total = per * NAPPS;
	struct bd d;
	bd_init(&d, NULL);
	char id[NAPPS][32], act[512];
	snprintf(act, sizeof(act), "method = exec\ncommand = %s --expect %u %s", bench_app, per, how);
	for (unsigned i = 0; i < NAPPS; i++) {
		snprintf(id[i], sizeof(id[i]), "bench.storm%u", i);
		bd_app(&d, id[i], act);
	}
	bd_start(&d, NULL, 10000);
	struct held_set set;
	held_set_init(&set, total);
	for (unsigned i = 0; i < NAPPS; i++) {
		broker *b = bd_connect(&d, id[i]);
		held_set_add(&set, b, "s", per, 0);
		broker_close(b);
	}
	int *clients = set.clients;
	broker *st = bd_connect(&d, NULL);
	broker_status s0, s;
	if (broker_get_status(st, &s0) < 0)
		die("status");

	uint64_t t0 = mono_ns();
	for (unsigned i = 0; i < total; i++)
		if (send(clients[i], "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1)
			die("send: %m");
	ret->sent_ms = (double)(mono_ns() - t0) / 1e6;
	for (;;) {
		if (broker_get_status(st, &s) < 0)
			die("status");
		if (s.handbacks_total - s0.handbacks_total >= total && s.held == 0)
			break;
		if (mono_ns() - t0 > 120000000000ull)
			die("storm: %llu of %u handed back after 120 s",
			    (unsigned long long)(s.handbacks_total - s0.handbacks_total), total);
		sleep_ms(1);
	}
	ret->storm_ms = (double)(mono_ns() - t0) / 1e6;
	ret->activations = (unsigned)(s.activations_total - s0.activations_total);
	for (unsigned i = 0; i < NAPPS; i++)
		if (!bd_wait_exited(st, id[i], 30000))
			note("storm: %s still running 30 s after the storm", id[i]);
	/* the floor streams one of these connections' fds */
	*listener = dup(set.listener);
	*port = set.port;
	held_set_close(&set);
	broker_close(st);
	bd_cleanup(&d);
}

void run_storm(void)
{
	unsigned per = B.quick ? 200 : 1000, total = per * NAPPS;
	note("storm: %u apps x %u sockets", NAPPS, per);
	struct storm keep, close_each;
	int listener;
	uint16_t port;
	storm_once("--no-serve --many", per, &close_each, &listener, &port);
	close(listener);
	storm_once("--keep --many", per, &keep, &listener, &port);
	double floor_ms = floor_pipelined_median(listener, port, total);
	close(listener);

	char subject[64];
	snprintf(subject, sizeof(subject), "%u sockets, %u apps", total, NAPPS);
	result("storm", subject, "sending the bytes", keep.sent_ms, "ms", NULL);
	result("storm", subject, "all handed back+acked", keep.storm_ms, "ms", NULL);
	result("storm", subject, "after the last byte sent", keep.storm_ms - keep.sent_ms, "ms", NULL);
	result("storm", subject, "activations", keep.activations, "count", "== 10");
	result("storm", "pipelined floor", "all acked", floor_ms, "ms", NULL);
	result("storm", "brokerd / pipelined floor", "time ratio", keep.storm_ms / floor_ms, "x", "<= 2");
	result("storm", "brokerd / pipelined floor", "after the last byte", (keep.storm_ms - keep.sent_ms) / floor_ms,
	       "x", NULL);
	/* what the time from the first byte cannot go below: the bench's own
	 * 10k sends, one syscall and one loopback delivery each */
	result("storm", "sending alone / pipelined floor", "time ratio", keep.sent_ms / floor_ms, "x", NULL);
	/* the app closes each socket at once: the connections' teardown falls
	 * in brokerd's close of its copy, when the ack comes after */
	result("storm", "apps closing each at once", "all handed back+acked", close_each.storm_ms, "ms", NULL);
	result("storm", "apps closing each at once", "activations", close_each.activations, "count", "== 10");
	result("storm", "apps closing each / floor", "time ratio", close_each.storm_ms / floor_ms, "x", NULL);
}
