/* SPDX-License-Identifier: MIT */
/*
 * Upgrade: a server with 10 000 established connections hands them all to
 * brokerd (broker_transfer_many) and its next version, already started
 * and waiting, claims them all back (broker_claim_many of all), three
 * times in a chain of processes.  The time of one upgrade runs from the
 * first transfer to the last socket claimed; its ratio is against the
 * pipelined floor (the storm's: the same number of fds streamed over one
 * SOCK_SEQPACKET connection, each acknowledged), measured in the same run.
 * Every process holds at most one end of each connection, so the 20 000
 * fds of RLIMIT_NOFILE's hard limit are enough.
 */
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "floor.h"

#define APP "bench.upgrade"
#define ROUNDS 3

/* What one process of the chain measured (CLOCK_MONOTONIC ns). */
struct step {
	uint64_t claim_start, claim_end, transfer_start, transfer_end;
	int claimed, transferred;
};

static void read_all(int fd, void *buf, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t r = read(fd, (char *)buf + off, len - off);
		if (r <= 0)
			die("upgrade: a process of the chain died");
		off += (size_t)r;
	}
}

/* Process k of the chain: k == 0 accepts the connections; then, when its
 * turn comes (a byte on go), claims all (k > 0) and hands all over
 * (k < ROUNDS), says so on next and reports on out. */
static _Noreturn void chain_step(struct bd *d, unsigned k, unsigned total, int listener, int go, int next, int out)
{
	int *fds = calloc(total, sizeof(int));
	broker_transfer_item *items = calloc(total, sizeof(*items));
	char (*ids)[16] = calloc(total, sizeof(*ids));
	if (!fds || !items || !ids)
		die("upgrade: out of memory");
	unsigned n = 0;
	if (k == 0)
		for (; n < total; n++)
			if ((fds[n] = accept4(listener, NULL, NULL, SOCK_CLOEXEC)) < 0)
				die("upgrade: accept: %m");
	char c;
	read_all(go, &c, 1);
	broker *b = bd_connect(d, APP);
	struct step s = { .claim_start = mono_ns() };
	if (k > 0) {
		broker_result *res;
		int r = broker_claim_many(b, NULL, 0, &res);
		if (r < 0)
			die("upgrade: claim: %s", broker_strerror(r));
		for (int i = 0; i < r; i++)
			if (res[i].error == 0)
				fds[n++] = res[i].fd;
		broker_results_free(res, (size_t)r);
		s.claimed = (int)n;
	}
	s.claim_end = s.transfer_start = mono_ns();
	if (k < ROUNDS) {
		for (unsigned i = 0; i < n; i++) {
			snprintf(ids[i], sizeof(ids[i]), "c%05u", i);
			items[i] = (broker_transfer_item){ ids[i], fds[i], "ctx", 3, 0 };
		}
		s.transferred = broker_transfer_many(b, items, n, NULL);
		if (s.transferred < 0)
			die("upgrade: transfer: %s", broker_strerror(s.transferred));
	}
	s.transfer_end = mono_ns();
	broker_close(b);
	if (write(out, &s, sizeof(s)) != sizeof(s) || (next >= 0 && write(next, "g", 1) != 1))
		die("upgrade: pipe: %m");
	_exit(0);
}

void run_upgrade(void)
{
	unsigned total = B.quick ? 1000 : 10000;
	note("upgrade: %u connections, %u upgrades", total, ROUNDS);
	struct bd d;
	bd_init(&d, "max-held = 20000\nmax-held-per-app = 20000\n");
	bd_app(&d, APP, "method = exec\ncommand = /bin/false");
	bd_start(&d, NULL, 10000);
	uint16_t port;
	int listener = tcp_listener(&port);
	int go[ROUNDS + 2][2], out[2];
	if (pipe(out) < 0)
		die("pipe: %m");
	for (unsigned k = 0; k <= ROUNDS; k++)
		if (pipe(go[k]) < 0)
			die("pipe: %m");
	pid_t pid[ROUNDS + 1];
	for (unsigned k = 0; k <= ROUNDS; k++) {
		pid[k] = fork();
		if (pid[k] < 0)
			die("fork: %m");
		if (pid[k] == 0)
			chain_step(&d, k, total, listener, go[k][0], k < ROUNDS ? go[k + 1][1] : -1, out[1]);
	}
	int *clients = calloc(total, sizeof(int));
	if (!clients)
		die("upgrade: out of memory");
	for (unsigned i = 0; i < total; i++)
		if ((clients[i] = tcp_connect(port)) < 0)
			die("upgrade: connect: %m");
	if (write(go[0][1], "g", 1) != 1)
		die("pipe: %m");
	struct step s[ROUNDS + 1];
	for (unsigned k = 0; k <= ROUNDS; k++) {
		struct step one;
		read_all(out[0], &one, sizeof(one));
		s[k] = one;   /* in chain order: each step starts after the one before ends */
	}
	for (unsigned k = 0; k <= ROUNDS; k++)
		waitpid(pid[k], NULL, 0);

	struct samples up = { 0 }, tr = { 0 }, cl = { 0 };
	bool all = true;
	for (unsigned k = 0; k < ROUNDS; k++) {
		all &= s[k].transferred == (int)total && s[k + 1].claimed == (int)total;
		samples_add(&up, (double)(s[k + 1].claim_end - s[k].transfer_start) / 1e6);
		samples_add(&tr, (double)(s[k].transfer_end - s[k].transfer_start) / 1e6);
		samples_add(&cl, (double)(s[k + 1].claim_end - s[k + 1].claim_start) / 1e6);
	}
	if (!all)
		note("upgrade: not every connection made it through every upgrade");
	/* every connection still there, and the last process's copy gone */
	unsigned alive = 0;
	for (unsigned i = 0; i < total; i++) {
		char ch;
		struct pollfd p = { .fd = clients[i], .events = POLLIN };   /* its end may still be on the way */
		alive += poll(&p, 1, 2000) == 1 && recv(clients[i], &ch, 1, MSG_DONTWAIT) == 0;
	}

	double floor_ms = floor_pipelined_median(listener, port, total), up_ms = samples_quantile(&up, 0.5);
	char subject[64];
	snprintf(subject, sizeof(subject), "%u connections", total);
	result("upgrade", subject, "transfer-many", samples_quantile(&tr, 0.5), "ms", NULL);
	result("upgrade", subject, "claim-many (all)", samples_quantile(&cl, 0.5), "ms", NULL);
	result("upgrade", subject, "handed over and claimed back", up_ms, "ms", NULL);
	result("upgrade", subject, "closed by the peer at the end", alive, "count", NULL);
	result("upgrade", "pipelined floor", "all acked", floor_ms, "ms", NULL);
	result("upgrade", "brokerd / pipelined floor", "time ratio", up_ms / floor_ms, "x", "<= 2");
	samples_free(&up);
	samples_free(&tr);
	samples_free(&cl);
	for (unsigned i = 0; i < total; i++)
		close(clients[i]);
	free(clients);
	close(listener);
	bd_cleanup(&d);
}
