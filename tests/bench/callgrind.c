/* SPDX-License-Identifier: MIT */
/*
 * Instructions inside brokerd, counted by valgrind's callgrind: brokerd runs
 * under callgrind twice with a different number of operations, and the
 * difference of the totals divided by the difference of the counts is the
 * cost of one operation, with start-up and shutdown cancelled out.  Unlike
 * times, these counts repeat closely from run to run and machine to
 * machine, so they show what a change to brokerd costs or saves.
 *   hand-off   transfer + claim of one TCP socket (libbroker, blocking);
 *   conn/op    the same with a connection for each, as an app that starts,
 *              hands over and exits does: the hello registers, and (for
 *              the comparison) HELLO then REGISTER, as in protocol 2;
 *   hand-back  per socket: transfer, data arrives, trigger, HANDBACK to a
 *              running app, acknowledgement (one socket at a time).
 * callgrind_annotate's inclusive profile of the larger run of each goes to
 * DIR/callgrind-*.txt.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define APP_ID "bench.cg"

static unsigned long long cg_total(const char *file)
{
	FILE *f = fopen(file, "re");
	if (!f)
		die("%s: %m", file);
	char line[512];
	unsigned long long total = 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "summary:", 8) == 0 || strncmp(line, "totals:", 7) == 0)
			total = strtoull(line + (line[0] == 's' ? 8 : 7), NULL, 10);
	fclose(f);
	if (!total)
		die("%s: no totals", file);
	return total;
}

static void annotate(const char *file, const char *to)
{
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			_exit(127);
		dup2(fd, STDOUT_FILENO);
		execlp("callgrind_annotate", "callgrind_annotate", "--inclusive=yes", "--threshold=99.5",
		       file, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, NULL, 0);
}

enum cg_kind { CG_HANDOFF, CG_CONN, CG_CONN_REGISTER, CG_HANDBACK };

/* A connection per operation: open, transfer, close; open, claim, close. */
static int conn_handoff(const char *sock, bool in_hello, int *fdp)
{
	broker *b;
	int r = bd_open(sock, APP_ID, in_hello, &b);
	if (r == 0) {
		r = broker_transfer(b, "cg", *fdp, NULL, 0, 0);
		broker_close(b);
	}
	if (r == 0 && (r = bd_open(sock, APP_ID, in_hello, &b)) == 0) {
		r = *fdp = broker_claim(b, "cg", NULL);
		broker_close(b);
	}
	return r < 0 ? r : 0;
}

/* brokerd under callgrind; n operations of the given kind; total Ir. */
static unsigned long long measure(enum cg_kind kind, unsigned n, const char *keep_profile)
{
	struct bd d;
	bd_init(&d, NULL);
	char act[512], out[256], opt[300];
	snprintf(act, sizeof(act), "method = exec\ncommand = %s --expect %u", bench_app, n);
	bd_app(&d, APP_ID, act);
	snprintf(out, sizeof(out), "%s/callgrind.out", d.dir);
	snprintf(opt, sizeof(opt), "--callgrind-out-file=%s", out);
	const char *prefix[] = { "valgrind", "--tool=callgrind", "--trace-children=no", opt, NULL };
	bd_start(&d, prefix, 120000);
	broker *b = bd_connect(&d, APP_ID);
	uint16_t port;
	int listener = tcp_listener(&port);

	if (kind != CG_HANDBACK) {
		int c, fd;
		tcp_pair(listener, port, &c, &fd);
		for (unsigned i = 0; i < n; i++) {
			if (kind == CG_CONN || kind == CG_CONN_REGISTER) {
				if (conn_handoff(d.sock, kind == CG_CONN, &fd) < 0)
					die("hand-off with a connection each under callgrind failed");
				continue;
			}
			int r = broker_transfer(b, "cg", fd, NULL, 0, 0);
			if (r < 0 || (fd = broker_claim(b, "cg", NULL)) < 0)
				die("hand-off under callgrind failed");
		}
		close(fd);
		close(c);
	} else {
		struct held_set set;
		held_set_init(&set, n);
		held_set_add(&set, b, "h", n, 0);
		for (unsigned i = 0; i < n; i++) {
			char ch;
			if (write(set.clients[i], "x", 1) != 1 || !wait_readable(set.clients[i], 60000) ||
			    read(set.clients[i], &ch, 1) != 1)
				die("hand-back %u under callgrind: no answer", i);
		}
		held_set_close(&set);
		bd_wait_idle(b, APP_ID, 60000);
	}
	close(listener);
	broker_close(b);
	bd_stop(&d);
	unsigned long long total = cg_total(out);
	if (keep_profile)
		annotate(out, out_path(keep_profile));
	bd_cleanup(&d);
	return total;
}

void run_callgrind(void)
{
	char *const probe[] = { "valgrind", "--version", NULL };
	if (run_wait(probe) != 0) {
		note("callgrind: valgrind not found: skipped");
		return;
	}
	unsigned lo = B.quick ? 50 : 200, hi = B.quick ? 250 : 1200;
	note("callgrind: %u and %u operations", lo, hi);

	unsigned long long a = measure(CG_HANDOFF, lo, NULL);
	unsigned long long z = measure(CG_HANDOFF, hi, "callgrind-handoff.txt");
	unsigned long long z2 = measure(CG_HANDOFF, hi, NULL);
	double per = (double)(z - a) / (hi - lo);
	result("callgrind", "brokerd transfer+claim", "instructions/op", per, "Ir", NULL);
	result("callgrind", "brokerd transfer+claim", "repeat difference",
	       ((double)z2 - (double)z) / (double)z * 100.0, "%", NULL);
	a = measure(CG_CONN, lo, NULL);
	z = measure(CG_CONN, hi, "callgrind-conn.txt");
	double in_hello = (double)(z - a) / (hi - lo);
	result("callgrind", "brokerd conn per op, app id in HELLO", "instructions/op", in_hello, "Ir", NULL);
	a = measure(CG_CONN_REGISTER, lo, NULL);
	z = measure(CG_CONN_REGISTER, hi, NULL);
	per = (double)(z - a) / (hi - lo);
	result("callgrind", "brokerd conn per op, HELLO+REGISTER", "instructions/op", per, "Ir", NULL);
	result("callgrind", "conn per op: in HELLO / +REGISTER", "ratio", in_hello / per, "x", "< 1");

	lo = B.quick ? 20 : 100;
	hi = B.quick ? 120 : 600;
	a = measure(CG_HANDBACK, lo, NULL);
	z = measure(CG_HANDBACK, hi, "callgrind-handback.txt");
	per = (double)(z - a) / (hi - lo);
	result("callgrind", "brokerd hold+wake+hand-back", "instructions/socket", per, "Ir", NULL);
}
