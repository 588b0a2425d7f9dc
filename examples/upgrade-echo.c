/* SPDX-License-Identifier: MIT */
/*
 * upgrade-echo: an echo server that upgrades itself without dropping a
 * connection or a byte.
 *
 *   upgrade-echo --app ID [--control PATH] [--port-file FILE] [--next PROGRAM] [PORT]
 *
 * It listens on 127.0.0.1:PORT (none or 0: a port the kernel picks, written
 * to --port-file), echoes what each connection sends, and attaches itself
 * to brokerd as the app's running instance.  On SIGHUP it upgrades: it
 * hands its listener and every connection to brokerd in one
 * broker_transfer_many(), each with its context (the bytes echoed so far,
 * the next connection number), and execs its next version (--next, by
 * default itself), which claims them all back with broker_claim_many() and
 * goes on.  Bytes that arrive meanwhile wait in the sockets themselves.
 *
 * The process, and with it the attachment, stays the same across the exec:
 * a socket that has data while brokerd holds it is handed back over the
 * attachment (its claim says -EBUSY), never to another instance.
 *
 * Each generation prints "ready generation=N connections=C port=P" when it
 * serves.  Writes block: an example, not a server for peers that do not read.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <socket-broker/broker.h>

#define ENV_ACTIVATION "UPGRADE_ECHO_ACTIVATION"
#define ENV_GENERATION "UPGRADE_ECHO_GENERATION"

struct conn {
	int fd;
	char id[32];
	unsigned long long echoed;
};

static struct {
	broker *b;
	broker_activation *act;
	int listener;
	unsigned next_id;            /* the number of the next connection accepted */
	struct conn *conns;
	size_t n, cap;
} S = { .listener = -1 };

static volatile sig_atomic_t upgrade_asked;

static void on_hup(int sig)
{
	(void)sig;
	upgrade_asked = 1;
}

static void die(const char *what, int r)
{
	fprintf(stderr, "upgrade-echo: %s: %s\n", what, broker_strerror(r));
	exit(1);
}

static void add_conn(int fd, const char *id, unsigned long long echoed)
{
	if (S.n == S.cap) {
		S.cap = S.cap ? 2 * S.cap : 64;
		S.conns = realloc(S.conns, S.cap * sizeof(*S.conns));
		if (!S.conns)
			die("realloc", -ENOMEM);
	}
	struct conn *c = &S.conns[S.n++];
	c->fd = fd;
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->echoed = echoed;
}

/* A socket back from brokerd, with the context this program gave it. */
static void adopt(const char *id, int fd, const void *ctx, size_t len)
{
	char text[64] = "";
	if (len < sizeof(text))
		memcpy(text, ctx, len);
	if (strcmp(id, "listener") == 0) {
		S.listener = fd;
		sscanf(text, "next=%u", &S.next_id);
	} else {
		unsigned long long echoed = 0;
		sscanf(text, "echoed=%llu", &echoed);
		add_conn(fd, id, echoed);
	}
}

static void on_handback(broker_activation *a, broker_handback *h, void *userdata)
{
	(void)userdata;
	int fd = broker_handback_accept(a, h);
	if (fd >= 0)
		adopt(h->id, fd, h->context, h->context_len);
	broker_handback_free(h);
}

/* Take back everything brokerd holds for the app.  Sockets it is handing
 * back right now (-EBUSY) come over the attachment instead. */
static void claim_all(void)
{
	broker_result *res;
	int n = broker_claim_many(S.b, NULL, 0, &res);
	if (n < 0)
		die("claim", n);
	for (int i = 0; i < n; i++) {
		if (res[i].error == 0)
			adopt(res[i].id, res[i].fd, res[i].info ? res[i].info->context : NULL,
			      res[i].info ? res[i].info->context_len : 0);
		else if (res[i].error != -EBUSY)
			fprintf(stderr, "upgrade-echo: %s: %s\n", res[i].id, res[i].message);
	}
	broker_results_free(res, (size_t)n);
}

/* Hand everything over and exec the next version; back here only if that
 * failed, with everything claimed back. */
static void upgrade(char **argv, const char *next, unsigned generation)
{
	size_t n = S.n + 1;
	broker_transfer_item *items = calloc(n, sizeof(*items));
	char (*ctx)[32] = calloc(n, sizeof(*ctx));
	if (!items || !ctx)
		die("calloc", -ENOMEM);
	snprintf(ctx[0], sizeof(ctx[0]), "next=%u", S.next_id);
	items[0] = (broker_transfer_item){ "listener", S.listener, ctx[0], strlen(ctx[0]), 0 };
	for (size_t i = 0; i < S.n; i++) {
		snprintf(ctx[i + 1], sizeof(ctx[i + 1]), "echoed=%llu", S.conns[i].echoed);
		items[i + 1] = (broker_transfer_item){ S.conns[i].id, S.conns[i].fd, ctx[i + 1],
						       strlen(ctx[i + 1]), 0 };
	}
	broker_result *res;
	int held = broker_transfer_many(S.b, items, n, &res);
	if (held < 0)
		die("transfer", held);
	/* What brokerd refused is still ours: keep serving it. */
	size_t kept = 0;
	for (size_t i = 1; i < n; i++)
		if (res[i].error)
			S.conns[kept++] = S.conns[i - 1];
	if (res[0].error)
		fprintf(stderr, "upgrade-echo: listener: %s\n", res[0].message);
	else
		S.listener = -1;
	S.n = kept;
	broker_results_free(res, n);
	free(items);
	free(ctx);
	int afd = (size_t)held == n ? broker_activation_take_fd(S.act) : -1;
	if (afd >= 0) {
		char fd[16], gen[16];
		snprintf(fd, sizeof(fd), "%d", afd);
		snprintf(gen, sizeof(gen), "%u", generation + 1);
		fcntl(afd, F_SETFD, 0);   /* the attachment goes on in the next version */
		setenv(ENV_ACTIVATION, fd, 1);
		setenv(ENV_GENERATION, gen, 1);
		execv(next, argv);
		fprintf(stderr, "upgrade-echo: exec %s: %m\n", next);
		fcntl(afd, F_SETFD, FD_CLOEXEC);
		int r = broker_activation_open_fd(afd, &S.act);
		if (r < 0)
			die("activation", r);
	}
	claim_all();   /* not upgraded: carry on with everything */
}

static void serve_conn(size_t i)
{
	char buf[4096];
	struct conn *c = &S.conns[i];
	ssize_t r = read(c->fd, buf, sizeof(buf));
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	for (ssize_t off = 0; r > 0 && off < r;) {
		ssize_t w = write(c->fd, buf + off, (size_t)(r - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			r = -1;
			break;
		}
		off += w;
	}
	if (r <= 0) {   /* the peer is gone */
		close(c->fd);
		S.conns[i] = S.conns[--S.n];
		return;
	}
	c->echoed += (unsigned long long)r;
}

static int listen_on(unsigned port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1024) < 0)
		die("listen", -errno);
	return fd;
}

static unsigned port_of(int fd)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	return getsockname(fd, (struct sockaddr *)&sa, &len) == 0 ? ntohs(sa.sin_port) : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "app", required_argument, NULL, 'a' }, { "control", required_argument, NULL, 'c' },
		{ "port-file", required_argument, NULL, 'p' }, { "next", required_argument, NULL, 'n' },
		{ 0 },
	};
	const char *app = NULL, *control = NULL, *port_file = NULL, *next = "/proc/self/exe";
	for (int o; (o = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		switch (o) {
		case 'a': app = optarg; break;
		case 'c': control = optarg; break;
		case 'p': port_file = optarg; break;
		case 'n': next = optarg; break;
		default: return 2;
		}
	}
	if (!app) {
		fprintf(stderr, "usage: upgrade-echo --app ID [--control PATH] [--port-file FILE] [--next PROGRAM] [PORT]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_hup };   /* no SA_RESTART: poll() returns */
	sigaction(SIGHUP, &sa, NULL);

	int r = broker_open(control, &S.b);
	if (r == 0)
		r = broker_register(S.b, app);
	if (r < 0)
		die("brokerd", r);
	const char *inherited = getenv(ENV_ACTIVATION), *gen_env = getenv(ENV_GENERATION);
	unsigned generation = gen_env ? (unsigned)atoi(gen_env) : 1;
	if (inherited) {   /* the next version: take everything back */
		r = broker_activation_open_fd(atoi(inherited), &S.act);
		if (r < 0)
			die("activation", r);
		unsetenv(ENV_ACTIVATION);
		claim_all();
	} else {
		S.listener = listen_on(optind < argc ? (unsigned)atoi(argv[optind]) : 0);
		r = broker_attach(S.b, &S.act);
		if (r < 0)
			die("attach", r);
	}
	if (port_file) {
		FILE *f = fopen(port_file, "we");
		if (f) {
			fprintf(f, "%u\n", port_of(S.listener));
			fclose(f);
		}
	}
	printf("ready generation=%u connections=%zu port=%u\n", generation, S.n, port_of(S.listener));
	fflush(stdout);

	for (;;) {
		if (upgrade_asked) {
			upgrade_asked = 0;
			upgrade(argv, next, generation);
		}
		size_t np = S.n + 2;
		struct pollfd *p = calloc(np, sizeof(*p));
		if (!p)
			die("calloc", -ENOMEM);
		p[0] = (struct pollfd){ .fd = S.listener, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = S.act ? broker_activation_get_fd(S.act) : -1, .events = POLLIN };
		for (size_t i = 0; i < S.n; i++)
			p[i + 2] = (struct pollfd){ .fd = S.conns[i].fd, .events = POLLIN };
		if (poll(p, np, -1) < 0 && errno != EINTR)
			die("poll", -errno);
		/* backwards: serve_conn() moves the last connection into a closed one's place */
		for (size_t i = S.n; i-- > 0;)
			if (p[i + 2].revents)
				serve_conn(i);
		if (p[1].revents && broker_activation_dispatch(S.act, on_handback, NULL) < 0)
			S.act = broker_activation_close(S.act);   /* brokerd went away */
		if (p[0].revents & POLLIN) {
			int fd = accept4(S.listener, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0) {
				char id[32];
				snprintf(id, sizeof(id), "conn-%u", S.next_id++);
				add_conn(fd, id, 0);
			}
		}
		free(p);
	}
}
