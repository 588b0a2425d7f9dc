/* SPDX-License-Identifier: MIT */
/*
 * Hand-off: transfer + claim of one TCP socket through brokerd and
 * libbroker, against the raw SCM_RIGHTS floor (two round trips) and
 * s6-fdholder (store + retrieve-and-delete through libs6).  Each holder is
 * measured two ways: over one open connection, and with a connection per
 * operation, the way an app that hands its socket over and exits uses
 * brokerd, and the way s6-fdholder's clients (s6-fdholder-store,
 * s6-fdholder-retrieve) use s6-fdholderd.  All run on one CPU.  Rounds of n operations
 * alternate between the variants so that a noisy neighbour hits them
 * alike; each figure is the median of the rounds.
 */
#include <errno.h>
#include <sched.h>
#include <unistd.h>

#include "bench.h"
#include "floor.h"

enum { V_FLOOR, V_BROKERD, V_S6, V_BROKERD_CONN, V_S6_CONN, V_BROKERD_CONN_REGISTER, NV };
static const char *const names[NV] = {
	"floor (2 round trips)", "brokerd", "s6-fdholder",
	"brokerd, conn per op", "s6-fdholder, conn per op",
	"brokerd, conn per op, HELLO+REGISTER",
};

double handoff_round(broker *b, const char *id, int *fdp, unsigned n)
{
	int fd = *fdp;
	uint64_t t0 = mono_ns();
	for (unsigned i = 0; i < n; i++) {
		int r = broker_transfer(b, id, fd, NULL, 0, 0);
		if (r < 0)
			die("transfer: %s (%s)", broker_strerror(r), broker_last_message(b));
		fd = broker_claim(b, id, NULL);
		if (fd < 0)
			die("claim: %s", broker_strerror(fd));
	}
	*fdp = fd;
	return (double)(mono_ns() - t0) / 1e3 / n;
}

/* As an app that connects, hands over and exits, then connects and claims:
 * the hello registers (in_hello), so each is two round trips; or, as in
 * protocol 2, HELLO then REGISTER, three. */
static double brokerd_conn_round(const char *sock, bool in_hello, int *fdp, unsigned n)
{
	int fd = *fdp;
	uint64_t t0 = mono_ns();
	for (unsigned i = 0; i < n; i++) {
		broker *b;
		int r = bd_open(sock, "bench.handoff", in_hello, &b);
		if (r == 0)
			r = broker_transfer(b, "bench", fd, NULL, 0, 0);
		if (r < 0)
			die("transfer on a new connection: %s", broker_strerror(r));
		broker_close(b);
		r = bd_open(sock, "bench.handoff", in_hello, &b);
		if (r == 0)
			r = fd = broker_claim(b, "bench", NULL);
		if (r < 0)
			die("claim on a new connection: %s", broker_strerror(r));
		broker_close(b);
	}
	*fdp = fd;
	return (double)(mono_ns() - t0) / 1e3 / n;
}

static double floor_round(struct floor *f, int *fdp, unsigned n)
{
	int fd = *fdp;
	uint64_t t0 = mono_ns();
	for (unsigned i = 0; i < n; i++) {
		fd = floor_handoff(f, fd);
		if (fd < 0)
			die("floor hand-off: %s", broker_strerror(fd));
	}
	*fdp = fd;
	return (double)(mono_ns() - t0) / 1e3 / n;
}

void run_handoff(void)
{
	/* Many short rounds: on a shared machine a neighbour's burst then
	 * spoils a few rounds of every variant, not a whole variant. */
	unsigned rounds = B.quick ? 20 : 100, n = 100;
	note("hand-off: %u rounds of %u operations", rounds, n);
	/* Everyone on one CPU (the holders inherit it): a round trip is then
	 * two context switches, not a cross-CPU wakeup whose cost depends on
	 * where the scheduler happened to put each process. */
	cpu_set_t all, one;
	sched_getaffinity(0, sizeof(all), &all);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	sched_setaffinity(0, sizeof(one), &one);

	struct bd d;
	bd_init(&d, NULL);
	bd_app(&d, "bench.handoff", "method = exec\ncommand = /bin/false");
	bd_start(&d, NULL, 10000);
	broker *b = bd_connect(&d, "bench.handoff");

	struct floor f;
	if (floor_start(&f) < 0)
		die("floor holder: %m");
	struct s6peer *s6 = NULL;
	int r = s6_peer_start(&s6);
	if (r < 0)
		note("s6-fdholder peer not available (%s): skipped", broker_strerror(r));

	uint16_t port;
	int listener = tcp_listener(&port);
	int peer, fd;
	tcp_pair(listener, port, &peer, &fd);

	struct samples s[NV] = { 0 };
	for (unsigned round = 0; round <= rounds; round++) {
		for (unsigned k = 0; k < NV; k++) {
			unsigned v = (round + k) % NV;
			double us;
			if (v == V_FLOOR)
				us = floor_round(&f, &fd, n);
			else if (v == V_BROKERD)
				us = handoff_round(b, "bench", &fd, n);
			else if (v == V_BROKERD_CONN || v == V_BROKERD_CONN_REGISTER)
				us = brokerd_conn_round(d.sock, v == V_BROKERD_CONN, &fd, n);
			else if (s6)
				us = s6_peer_round(s6, &fd, n, v == V_S6_CONN);
			else
				continue;
			if (round > 0)   /* round 0 warms up */
				samples_add(&s[v], us);
		}
	}

	double med[NV];
	for (unsigned v = 0; v < NV; v++) {
		med[v] = samples_quantile(&s[v], 0.5);
		if (!s[v].n)
			continue;
		result("handoff", names[v], "us/op", med[v], "us", NULL);
		result("handoff", names[v], "ops/s", 1e6 / med[v], "ops/s", NULL);
	}
	result("handoff", "brokerd / floor", "time ratio", med[V_BROKERD] / med[V_FLOOR], "x", "<= 1.15");
	result("handoff", "conn per op: app id in HELLO / HELLO+REGISTER", "time ratio",
	       med[V_BROKERD_CONN] / med[V_BROKERD_CONN_REGISTER], "x", "< 1");
	if (s[V_S6].n) {
		/* s6-fdholder as its own tools use it, against an app's
		 * hand-off over its connection (the comparison);
		 * then like for like, both ways. */
		result("handoff", "s6 (conn per op) / brokerd", "speed-up",
		       med[V_S6_CONN] / med[V_BROKERD], "x", ">= 1.5");
		result("handoff", "s6 / brokerd, one conn each", "speed-up", med[V_S6] / med[V_BROKERD], "x", ">= 1.3");
		result("handoff", "s6 / brokerd, conn per op", "speed-up",
		       med[V_S6_CONN] / med[V_BROKERD_CONN], "x", ">= 1");
	}

	for (unsigned v = 0; v < NV; v++)
		samples_free(&s[v]);
	close(fd);
	close(peer);
	close(listener);
	s6_peer_stop(s6);
	floor_stop(&f);
	broker_close(b);
	bd_cleanup(&d);
	sched_setaffinity(0, sizeof(all), &all);
}
