/* SPDX-License-Identifier: MIT */
/*
 * broker-bench: brokerd measured against a floor or a peer in the same run.
 *
 * Every scenario writes rows to DIR/results.csv (scenario, subject, metric,
 * value, unit, target) and raw samples to DIR/<name>.dat for the plots;
 * `broker-bench report` turns the CSV into the terminal table and
 * DIR/summary.md.  Nothing here asserts on time: a missed target is
 * reported, never fatal.  Setup failures (brokerd does not start, a socket
 * cannot be made) end the scenario with a message.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <socket-broker/broker.h>

struct bench {
	const char *out;        /* results directory */
	bool quick;             /* fewer rounds and samples: a smoke run */
	FILE *csv;
};
extern struct bench B;

/* Progress and fatal errors, on stderr. */
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One CSV row.  target: "<= 1.25", ">= 1.5", "== 10", or NULL for none. */
void result(const char *scenario, const char *subject, const char *metric,
	    double value, const char *unit, const char *target);

uint64_t mono_ns(void);
void sleep_ms(unsigned ms);

/* A growing array of samples. */
struct samples {
	double *v;
	size_t n, cap;
};
void samples_add(struct samples *s, double v);
/* Quantile q in [0, 1] (sorts the samples). */
double samples_quantile(struct samples *s, double q);
/* Write the sorted samples with their cumulative fraction to DIR/name.dat. */
void samples_write(struct samples *s, const char *name);
void samples_free(struct samples *s);
/* Samples of a time in microseconds: their median and p99 in ms as results
 * (scenario, subject), into med and p99; the samples written to file and
 * freed. */
void samples_report_ms(struct samples *s, const char *scenario, const char *subject, const char *file,
		       double *med, double *p99);
/* Two such sets, a baseline s[0] and s[1] measured in turns with it: each
 * reported as above, then s[1]'s median and p99 over s[0]'s as ratios
 * (subject ratio, against target). */
void samples_report_pair_ms(struct samples s[2], const char *scenario, const char *const names[2],
			    const char *const files[2], const char *ratio, const char *target);

/* A path under the results directory (rotating static buffers). */
const char *out_path(const char *name);

/* ---- processes and the machine -------------------------------------- */

/* Soft RLIMIT_NOFILE up to the hard limit; returns the new soft limit. */
unsigned long raise_nofile(void);
/* A number from /proc/PID/status ("VmRSS", "voluntary_ctxt_switches"), in
 * the file's unit; -1 if absent. */
long proc_status(pid_t pid, const char *key);
/* utime + stime of pid in clock ticks, -1 on error. */
long proc_cpu_ticks(pid_t pid);
/* A /proc/meminfo value in kB, -1 if absent. */
long meminfo_kb(const char *key);
/* Remove dir and everything under it. */
void rm_tree(const char *dir);
/* Run argv (NULL-terminated) and wait; returns its exit status or -1. */
int run_wait(char *const argv[]);

/* ---- loopback TCP ---------------------------------------------------- */

/* A listening TCP socket on 127.0.0.1, port chosen by the kernel. */
int tcp_listener(uint16_t *ret_port);
/* A connected pair through listener: *client (bench side), *server (the
 * end that gets handed on).  Both blocking, CLOEXEC. */
void tcp_pair(int listener, uint16_t port, int *client, int *server);
/* A free TCP port on 127.0.0.1 right now (for programs that want a number). */
uint16_t free_port(void);
/* Block until fd is readable or timeout_ms passes; false on timeout. */
bool wait_readable(int fd, int timeout_ms);
/* A new connection to 127.0.0.1:port (TCP_NODELAY), or -1 if refused. */
int tcp_connect(uint16_t port);
/* The app's one-byte answer 'A' on c, then its close; dies otherwise
 * (who: for the message). */
void expect_answer(int c, const char *who);
void expect_close(int c, const char *who);

/* ---- one brokerd ----------------------------------------------------- */

struct bd {
	char dir[64];           /* its own temporary directory */
	char sock[108];         /* control socket */
	char conf[192];
	char log[192];          /* brokerd's stderr */
	pid_t pid;
};

/* Make the directory and brokerd.conf; limits_extra goes verbatim into the
 * [limits] section (NULL for none). */
void bd_init(struct bd *d, const char *limits_extra);
/* apps.d/<id>.conf for this uid with every capability; activation is the
 * [activation] section's lines ("method = exec\ncommand = ..."). */
void bd_app(struct bd *d, const char *id, const char *activation);
/* Start brokerd (prefix: e.g. valgrind's argv, or NULL) and wait until it
 * answers; timeout_ms for slow starts under valgrind. */
void bd_start(struct bd *d, const char *const *prefix, int timeout_ms);
/* SIGTERM and wait; the directory stays until bd_cleanup(). */
void bd_stop(struct bd *d);
void bd_cleanup(struct bd *d);
/* A libbroker connection, registered as app_id unless NULL. */
broker *bd_connect(struct bd *d, const char *app_id);
/* Open a connection to sock as app_id (NULL: none): in_hello, the way an
 * app does now (broker_open_app(): the hello registers); else open, then
 * register, the two round trips of protocol 2, for the comparison. */
int bd_open(const char *sock, const char *app_id, bool in_hello, broker **ret);
/* Wait until app_id is idle with no instance running; dies on timeout. */
void bd_wait_idle(broker *b, const char *app_id, int timeout_ms);
/* Wait until app_id has no instance running (in any state); false on timeout. */
bool bd_wait_exited(broker *b, const char *app_id, int timeout_ms);
/* Hold a new loopback connection for b's app as id, then time a byte sent
 * by the peer until the app's answer (microseconds); the peer's end, for
 * what comes after, in *ret_peer. */
double bd_exchange(broker *b, int listener, uint16_t port, const char *id, int *ret_peer);

/* Loopback TCP sockets held in brokerd, their client ends kept here. */
struct held_set {
	int listener;
	uint16_t port;
	int *clients;           /* one per socket held, in order */
	unsigned n;
};
void held_set_init(struct held_set *s, unsigned cap);
/* n more, for b's app, ids prefix%05u numbered on from s->n. */
void held_set_add(struct held_set *s, broker *b, const char *prefix, unsigned n, uint32_t keepalive_sec);
void held_set_close(struct held_set *s);   /* the client ends and the listener */

/* Paths of the programs under test. */
extern const char *bench_brokerd, *bench_app;

/* ---- the TLS keeper (keeper.c), also for wss.c ----------------------- */

/* brokerd in d with app_id started as app_command, the run's PKI
 * (tests/tls/make-pki.sh) and a keeper that brokerd believes, listening;
 * $BROKER_SOCKET and $BROKER_TLS_KEEPER_SOCKET name them.  Returns the
 * keeper's pid. */
pid_t keeper_setup(struct bd *d, const char *app_id, const char *app_command);
/* A file of the PKI keeper_setup() made (rotating static buffers). */
const char *keeper_pki_file(const char *name);
/* A child running argv with stdout (and stderr unless
 * $BENCH_KEEPER_STDERR) on /dev/null; it dies with this process. */
pid_t keeper_child(char *const argv[]);

/* ---- scenarios (one file each) -------------------------------------- */
void run_handoff(void);
/* n transfers + claims of *fdp (then the socket as it came back) under id
 * over b; mean microseconds per pair. */
double handoff_round(broker *b, const char *id, int *fdp, unsigned n);
void run_activation(void);
void run_frozen(void);
void run_keeper(void);
void run_memory(void);
void run_idle(void);
void run_storm(void);
void run_upgrade(void);
void run_callgrind(void);
void run_sd_activation(int argc, char **argv);
void run_sd_handoff(void);
void run_wss(void);
int run_report(void);

/* s6.c: the s6-fdholder peer of the hand-off scenario.  s6_peer_start()
 * returns -EOPNOTSUPP when built without libs6.  s6_peer_round() does n
 * store + retrieve-and-delete pairs of *fd (which then names the socket
 * as it came back), over one connection or a new one per operation, and
 * returns the mean microseconds per pair. */
struct s6peer;
int s6_peer_start(struct s6peer **ret);
double s6_peer_round(struct s6peer *p, int *fd, unsigned n, bool conn_per_op);
void s6_peer_stop(struct s6peer *p);
