/* SPDX-License-Identifier: MIT */
/*
 * testapp: a scriptable broker app for the end-to-end tests.  Links only
 * libbroker.  brokerd starts it (exec activation, libbroker hand-off) as
 *
 *   testapp --report FILE [OPTION...]
 *
 * and it appends to FILE (format: report.h):
 *   start      when it starts: pid, BROKER_REASON, BROKER_APP_ID, LISTEN_* seen
 *   handback   per handed-back socket, after reading: id, kind, reason, context,
 *              serial, keep-alive, and the exact bytes it read
 *   retransfer after handing a socket to brokerd again, with the result
 *   received   with --ack-after, when a handback arrived (before acknowledging)
 *   crash / noack / stall / hang   just before misbehaving as asked
 *   error      when a libbroker call fails
 *   exit       after closing its activation
 *   env        with --env, after start: one line per variable asked for,
 *              name=NAME set=0|1 value=VALUE (escaped; "" when unset)
 *
 * Options (no blanks inside values: a manifest's command is split on blanks):
 *   --delay-ms N        sleep N ms before opening the activation (slow start)
 *   --wait-file F       wait (up to 20 s) for F to exist before opening it
 *   --wait-start N:F    the same, but only in the N-th start (1-based, counted
 *                       by the start lines already in the report)
 *   --read-min N        read until N bytes (stream) or N records (datagram,
 *                       seqpacket) arrived, up to 5 s, then what else is there
 *   --answer TEXT       send TEXT on the socket (datagram: to the last sender)
 *   --answer-line TEXT  --answer with TEXT and a newline (for line-based peers)
 *   --answer-starts N   answer only in the first N starts (against an echo server)
 *   --accept            listener: accept one connection and read/answer on it
 *   --retransfer        hand the socket to brokerd again (same id, context and
 *                       keep-alive) unless it reached end of stream or an error
 *   --stay-until F      keep receiving handbacks until F exists (up to 20 s)
 *   --receive-ms N      wait up to N ms for brokerd's batch (default 5000)
 *   --crash-once M      if M does not exist: create it, take the first
 *                       handback and abort() before acknowledging
 *   --noack-once M      same, but _exit(0) without acknowledging
 *   --stall-once M      same, but sleep without acknowledging until killed
 *   --ack-after F       wait (up to 20 s) for F to exist before acknowledging
 *   --hang-once M       same, but never open the activation (sleep until killed)
 *   --exit-after N      exit after N handbacks, without reading what else
 *                       brokerd sent (its batch end): the connection resets
 *   --die-after-once N:M  if M does not exist: create it, and after N
 *                       handbacks _exit(0) without closing the activation
 *                       (with sockets still queued in libbroker)
 *   --many              take the sockets brokerd sends together together:
 *                       broker_activation_receive_many() and
 *                       broker_handback_accept_many() (not with the
 *                       -once misbehaviours or --ack-after)
 *   --env NAME[,NAME...] report these variables of its environment
 *   --daemonize         first fork, setsid and fork again, as a daemon does:
 *                       the grandchild carries on (reports "carrier")
 *   --fork-worker       fork once: the child carries on, the parent exits
 *   --no-read           read nothing from a handed-back socket (with
 *                       --retransfer: hand it straight back, still readable)
 *   --leave-worker F    at the end, fork a worker that lives on, without
 *                       the activation, until F exists (up to 20 s)
 * Forked processes report "forked" with their pid.
 *   --attach            attach to brokerd ($BROKER_SOCKET, as $BROKER_APP_ID)
 *                       with broker_attach(): at once when not started by
 *                       brokerd, else after its first batch; reports
 *                       "attach pid=... result=..."
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <socket-broker/broker.h>
#include "report.h"

#define LIFETIME_MS 20000
#define READ_MS 5000

static struct {
	const char *report, *wait_file, *answer, *stay_until;
	const char *wait_start;   /* "N:F" */
	const char *crash_once, *noack_once, *stall_once, *hang_once, *ack_after;
	const char *die_after_once;   /* "N:M" */
	const char *env;          /* --env: names to report */
	const char *leave_worker;
	unsigned delay_ms, read_min, receive_ms, exit_after, answer_starts;
	unsigned nth;             /* this start, 1-based */
	bool accept, retransfer, daemonize, fork_worker, no_read, attach, many;
} opt;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
	char line[65536];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	int fd = open(opt.report, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, line, (size_t)n) != n)
		perror("testapp: report");
	close(fd);
}

/* One env line per name in the comma-separated list. */
static void report_env(const char *names)
{
	char list[1024];
	snprintf(list, sizeof(list), "%s", names ? names : "");
	char *save = NULL;
	for (char *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		const char *value = getenv(name);
		char esc[4096];
		report_escape(value ? value : "", value ? strlen(value) : 0, esc, sizeof(esc));
		report("env name=%s set=%d value=%s", name, value != NULL, esc);
	}
}

static bool exists(const char *path)
{
	return path && access(path, F_OK) == 0;
}

/* True the first time for marker M: the "once" misbehaviours. */
static bool first_time(const char *marker)
{
	if (!marker)
		return false;
	int fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* Until brokerd kills us (or our lifetime is up). */
static _Noreturn void sleep_forever(void)
{
	for (long long end = now_ms() + LIFETIME_MS; now_ms() < end;)
		sleep_ms(100);
	_exit(1);
}

/* Instances run one at a time, so the report orders their starts. */
static unsigned count_starts(void)
{
	FILE *f = fopen(opt.report, "re");
	unsigned n = 0;
	char line[256];
	bool at_start = true;
	while (f && fgets(line, sizeof(line), f)) {
		n += at_start && strncmp(line, "start ", 6) == 0;
		at_start = strchr(line, '\n') != NULL;
	}
	if (f)
		fclose(f);
	return n;
}

static void wait_for(const char *path)
{
	long long end = now_ms() + LIFETIME_MS;
	while (!exists(path) && now_ms() < end)
		sleep_ms(5);
}

struct data {
	char text[32768];          /* escaped */
	size_t len;
	bool eof;
	int err;
	struct sockaddr_storage from;
	socklen_t fromlen;
};

static void append(struct data *d, const char *s)
{
	size_t n = strlen(s);
	if (d->len + n < sizeof(d->text)) {
		memcpy(d->text + d->len, s, n + 1);
		d->len += n;
	}
}

/* Read what the socket has, waiting for opt.read_min bytes or records. */
static void read_data(int fd, struct data *d)
{
	int type = 0;
	socklen_t tl = sizeof(type);
	getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl);
	bool records = type != SOCK_STREAM;
	unsigned got = 0;
	long long end = now_ms() + READ_MS;
	char buf[8192], esc[sizeof(buf) * 4 + 3];

	for (;;) {
		bool need = got < opt.read_min;
		long long left = end - now_ms();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, need && left > 0 ? (int)left : 0) <= 0)
			return;
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0) {
			d->err = errno;
			return;
		}
		if (n == 0 && type != SOCK_DGRAM) {
			d->eof = true;
			return;
		}
		if (type == SOCK_DGRAM && fl > 0) {
			d->from = from;
			d->fromlen = fl;
		}
		report_escape(buf, (size_t)n, esc + 1, sizeof(esc) - 2);
		if (records) {
			esc[0] = '[';
			strcat(esc, "]");
			append(d, esc);
			got++;
		} else {
			append(d, esc + 1);
			got += (unsigned)n;
		}
	}
}

static int accept_one(int listener)
{
	struct pollfd p = { .fd = listener, .events = POLLIN };
	if (poll(&p, 1, READ_MS) <= 0)
		return -1;
	return accept4(listener, NULL, NULL, SOCK_CLOEXEC);
}

static void retransfer(const broker_handback *h, int fd)
{
	broker *b = NULL;
	int r = broker_open(NULL, &b);
	if (r == 0)
		r = broker_register(b, getenv("BROKER_APP_ID"));
	if (r == 0)
		r = broker_transfer(b, h->id, fd, h->context, h->context_len, h->keepalive_sec);
	report("retransfer pid=%d id=%s result=%d", (int)getpid(), h->id, r);
	if (r < 0)
		close(fd);   /* still ours on failure */
	broker_close(b);
}

static void serve(const broker_handback *h, int fd);

static void handle(broker_activation *a, broker_handback *h)
{
	if (first_time(opt.crash_once)) {
		report("crash pid=%d id=%s", (int)getpid(), h->id);
		struct rlimit none = { 0, 0 };
		setrlimit(RLIMIT_CORE, &none);
		abort();
	}
	if (first_time(opt.noack_once)) {
		report("noack pid=%d id=%s", (int)getpid(), h->id);
		_exit(0);
	}
	if (first_time(opt.stall_once)) {
		report("stall pid=%d id=%s", (int)getpid(), h->id);
		sleep_forever();
	}
	if (opt.ack_after) {
		report("received pid=%d id=%s serial=%llu", (int)getpid(), h->id, (unsigned long long)h->serial);
		wait_for(opt.ack_after);
	}
	int fd = broker_handback_accept(a, h);
	if (fd < 0) {
		report("error pid=%d id=%s accept=%d", (int)getpid(), h->id, fd);
		return;
	}
	serve(h, fd);
}

/* Read, report, answer and close or hand back the accepted socket fd. */
static void serve(const broker_handback *h, int fd)
{
	char ctx[BROKER_CONTEXT_MAX * 4 + 1];
	report_escape(h->context, h->context_len, ctx, sizeof(ctx));
	int io = fd;
	if (opt.accept && h->kind == BROKER_KIND_LISTENER)
		io = accept_one(fd);

	static struct data d;
	memset(&d, 0, sizeof(d));
	if (io >= 0 && !opt.no_read)
		read_data(io, &d);
	report("handback pid=%d app=%s id=%s kind=%s reason=%s ctx=%s ctxlen=%zu serial=%llu keepalive=%u "
	       "data=%s eof=%d err=%d conn=%d", (int)getpid(), h->app_id, h->id, broker_kind_name(h->kind),
	       broker_reason_name(h->reason), ctx, h->context_len, (unsigned long long)h->serial,
	       h->keepalive_sec, d.len ? d.text : "", d.eof, d.err, io >= 0);

	if (opt.answer && io >= 0 && !d.eof && (!opt.answer_starts || opt.nth <= opt.answer_starts)) {
		/* an unconnected datagram socket answers whoever spoke last */
		struct sockaddr_storage peer;
		socklen_t pl = sizeof(peer);
		bool to_last = d.fromlen && getpeername(io, (struct sockaddr *)&peer, &pl) < 0;
		size_t n = strlen(opt.answer);
		ssize_t w = to_last ? sendto(io, opt.answer, n, MSG_NOSIGNAL, (struct sockaddr *)&d.from, d.fromlen)
				    : send(io, opt.answer, n, MSG_NOSIGNAL);
		if (w != (ssize_t)n)
			report("error pid=%d id=%s answer=%d", (int)getpid(), h->id, -errno);
	}
	/* A stream at its end is not worth holding (it would trigger at once). */
	bool finished = io == fd && (d.eof || d.err);
	if (io >= 0 && io != fd)
		close(io);
	if (opt.retransfer && !finished)
		retransfer(h, fd);
	else
		close(fd);
}

/* Fork; the parent exits at once (0) unless keep_parent.  In the child,
 * once the parent is gone, the subreaper it came back to (brokerd) is its
 * parent: die with it. */
static pid_t fork_off(bool keep_parent)
{
	pid_t parent = getpid(), pid = fork();
	if (pid < 0) {
		report("error call=fork result=%d", -errno);
		_exit(1);
	}
	if (pid > 0) {
		if (!keep_parent)
			_exit(0);
		return pid;
	}
	if (!keep_parent) {
		while (getppid() == parent)
			sleep_ms(1);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	}
	report("forked pid=%d", (int)getpid());
	return 0;
}

/* The process that carries on is the activation's now (sd_listen_fds). */
static void carry_on(void)
{
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("LISTEN_PID", pid, 1);
	report("carrier pid=%d", (int)getpid());
}

static void leave_worker(void)
{
	pid_t parent = getpid();
	if (!opt.leave_worker || fork_off(true) > 0)
		return;
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	while (getppid() == parent)
		sleep_ms(1);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	wait_for(opt.leave_worker);
	report("worker-exit pid=%d", (int)getpid());
	_exit(0);
}

/* Become the app's running instance: *a is the attached activation. */
static int attach(broker_activation **a)
{
	broker *b = NULL;
	int r = broker_open(NULL, &b);
	if (r == 0)
		r = broker_register(b, getenv("BROKER_APP_ID"));
	if (r == 0)
		r = broker_attach(b, a);
	char why[4 * 512 + 1];
	report_escape(b ? broker_last_message(b) : "", b ? strlen(broker_last_message(b)) : 0, why, sizeof(why));
	report("attach pid=%d result=%d why=%s", (int)getpid(), r, why);
	broker_close(b);
	return r;
}

/* --many: the sockets of a message, accepted in one acknowledgement,
 * then handed out one at a time (as accepted: fd in place). */
#define BATCH 253
static broker_handback *many[BATCH];
static int many_fd[BATCH], many_fd_now;
static size_t many_n, many_next;

static int receive(broker_activation *a, int timeout_ms, broker_handback **ret)
{
	if (!opt.many)
		return broker_activation_receive(a, timeout_ms, ret);
	if (many_next == many_n) {
		int n = broker_activation_receive_many(a, timeout_ms, many, BATCH);
		if (n <= 0)
			return n;
		int ok = broker_handback_accept_many(a, many, (size_t)n, many_fd);
		report("accepted pid=%d count=%d of=%d", (int)getpid(), ok, n);
		many_n = (size_t)n;
		many_next = 0;
	}
	*ret = many[many_next];
	many_fd_now = many_fd[many_next++];
	return 1;
}

static int run(void)
{
	broker_activation *a;
	int r = broker_activation_open(&a);
	bool attached = r == -ENOENT && opt.attach;
	if (attached)
		r = attach(&a);
	if (r < 0) {
		report("error pid=%d open=%d", (int)getpid(), r);
		return 1;
	}
	long long end = now_ms() + LIFETIME_MS;
	unsigned handled = 0;
	for (;;) {
		broker_handback *h;
		r = receive(a, opt.stay_until ? 20 : (int)opt.receive_ms, &h);
		if (r == 1) {
			if (!opt.many)
				handle(a, h);
			else if (many_fd_now >= 0)
				serve(h, many_fd_now);
			else
				report("error pid=%d id=%s accept=%d", (int)getpid(), h->id, many_fd_now);
			broker_handback_free(h);
			handled++;
			if (opt.exit_after && handled >= opt.exit_after)
				break;
			const char *marker = opt.die_after_once ? strchr(opt.die_after_once, ':') : NULL;
			if (marker && handled >= strtoul(opt.die_after_once, NULL, 10) && first_time(marker + 1)) {
				report("die pid=%d handled=%u", (int)getpid(), handled);
				_exit(0);
			}
			continue;
		}
		if (r == 0 && opt.attach && !attached) {
			/* Started by brokerd: its first batch is served; stay as
			 * the attached instance. */
			broker_activation_close(a);
			attached = true;
			if (attach(&a) < 0)
				return 1;
			continue;
		}
		if (r < 0 || !opt.stay_until || exists(opt.stay_until) || now_ms() > end)
			break;
	}
	broker_activation_close(a);
	report("exit pid=%d handled=%u last=%d", (int)getpid(), handled, r);
	leave_worker();
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "report", required_argument, NULL, 'r' },
		{ "delay-ms", required_argument, NULL, 'd' },
		{ "wait-file", required_argument, NULL, 'w' },
		{ "wait-start", required_argument, NULL, 'W' },
		{ "read-min", required_argument, NULL, 'm' },
		{ "answer", required_argument, NULL, 'a' },
		{ "accept", no_argument, NULL, 'A' },
		{ "retransfer", no_argument, NULL, 't' },
		{ "stay-until", required_argument, NULL, 's' },
		{ "receive-ms", required_argument, NULL, 'R' },
		{ "crash-once", required_argument, NULL, 'C' },
		{ "noack-once", required_argument, NULL, 'N' },
		{ "stall-once", required_argument, NULL, 'S' },
		{ "ack-after", required_argument, NULL, 'K' },
		{ "hang-once", required_argument, NULL, 'H' },
		{ "exit-after", required_argument, NULL, 'X' },
		{ "die-after-once", required_argument, NULL, 'G' },
		{ "many", no_argument, NULL, 'M' },
		{ "answer-starts", required_argument, NULL, 'Z' },
		{ "answer-line", required_argument, NULL, 'Y' },
		{ "env", required_argument, NULL, 'E' },
		{ "daemonize", no_argument, NULL, 'D' },
		{ "fork-worker", no_argument, NULL, 'F' },
		{ "leave-worker", required_argument, NULL, 'L' },
		{ "no-read", no_argument, NULL, 'n' },
		{ "attach", no_argument, NULL, 'T' },
		{ 0 },
	};
	opt.receive_ms = READ_MS;
	int c;
	char *answer_line = NULL;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': opt.report = optarg; break;
		case 'd': opt.delay_ms = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'w': opt.wait_file = optarg; break;
		case 'W': opt.wait_start = optarg; break;
		case 'm': opt.read_min = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'a': opt.answer = optarg; break;
		case 'A': opt.accept = true; break;
		case 't': opt.retransfer = true; break;
		case 's': opt.stay_until = optarg; break;
		case 'R': opt.receive_ms = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'C': opt.crash_once = optarg; break;
		case 'N': opt.noack_once = optarg; break;
		case 'S': opt.stall_once = optarg; break;
		case 'K': opt.ack_after = optarg; break;
		case 'H': opt.hang_once = optarg; break;
		case 'X': opt.exit_after = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'G': opt.die_after_once = optarg; break;
		case 'M': opt.many = true; break;
		case 'Y':
			if (asprintf(&answer_line, "%s\n", optarg) < 0)
				return 1;
			opt.answer = answer_line;
			break;
		case 'Z': opt.answer_starts = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'E': opt.env = optarg; break;
		case 'D': opt.daemonize = true; break;
		case 'F': opt.fork_worker = true; break;
		case 'L': opt.leave_worker = optarg; break;
		case 'n': opt.no_read = true; break;
		case 'T': opt.attach = true; break;
		default: return 2;
		}
	}
	if (!opt.report || optind < argc) {
		fprintf(stderr, "usage: testapp --report FILE [OPTION...]\n");
		return 2;
	}
	/* Never outlive brokerd, even when a test dies half-way. */
	pid_t parent = getppid();
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		return 1;

	unsigned nth = opt.nth = count_starts() + 1;
	const char *pid = getenv("LISTEN_PID");
	report("start n=%u pid=%d reason=%s app=%s fds=%s names=%s pid_ok=%d", nth, (int)getpid(),
	       getenv("BROKER_REASON") ? getenv("BROKER_REASON") : "-",
	       getenv("BROKER_APP_ID") ? getenv("BROKER_APP_ID") : "-",
	       getenv("LISTEN_FDS") ? getenv("LISTEN_FDS") : "-",
	       getenv("LISTEN_FDNAMES") ? getenv("LISTEN_FDNAMES") : "-",
	       pid && atoi(pid) == (int)getpid());
	report_env(opt.env);
	if (opt.daemonize) {
		fork_off(false);
		setsid();
		fork_off(false);
		carry_on();
	} else if (opt.fork_worker) {
		fork_off(false);
		carry_on();
	}
	if (first_time(opt.hang_once)) {
		report("hang pid=%d", (int)getpid());
		sleep_forever();
	}
	if (opt.delay_ms)
		sleep_ms(opt.delay_ms);
	if (opt.wait_file)
		wait_for(opt.wait_file);
	char *colon = opt.wait_start ? strchr(opt.wait_start, ':') : NULL;
	if (colon && strtoul(opt.wait_start, NULL, 10) == nth)
		wait_for(colon + 1);
	return run();
}
