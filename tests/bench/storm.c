/* SPDX-License-Identifier: MIT */
/*
 * Storm: 10 apps hold 1000 sockets each; one byte arrives on all 10k at
 * once.  The time from the first byte sent until brokerd has every socket
 * handed back and acknowledged, the number of activations it took (one per
 * app is the target), and the ratio against the pipelined floor: the same
 * number of fds streamed over one SOCK_SEQPACKET connection, each
 * acknowledged.
 */
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "floor.h"

#define NAPPS 10

void run_storm(void)
{
	unsigned per = B.quick ? 200 : 1000, total = per * NAPPS;
	note("storm: %u apps x %u sockets", NAPPS, per);

	struct bd d;
	bd_init(&d, NULL);
	char id[NAPPS][32], act[512];
	snprintf(act, sizeof(act), "method = exec\ncommand = %s --expect %u --no-serve", bench_app, per);
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
	double sent_ms = (double)(mono_ns() - t0) / 1e6;
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
	double storm_ms = (double)(mono_ns() - t0) / 1e6;
	unsigned activations = (unsigned)(s.activations_total - s0.activations_total);
	for (unsigned i = 0; i < NAPPS; i++)
		if (!bd_wait_exited(st, id[i], 30000))
			note("storm: %s still running 30 s after the storm", id[i]);

	double floor_ms = floor_pipelined_median(set.listener, set.port, total);

	char subject[64];
	snprintf(subject, sizeof(subject), "%u sockets, %u apps", total, NAPPS);
	result("storm", subject, "sending the bytes", sent_ms, "ms", NULL);
	result("storm", subject, "all handed back+acked", storm_ms, "ms", NULL);
	result("storm", subject, "activations", activations, "count", "== 10");
	result("storm", "pipelined floor", "all acked", floor_ms, "ms", NULL);
	result("storm", "brokerd / pipelined floor", "time ratio", storm_ms / floor_ms, "x", NULL);

	held_set_close(&set);
	broker_close(st);
	bd_cleanup(&d);
}
