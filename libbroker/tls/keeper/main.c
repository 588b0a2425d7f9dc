/* SPDX-License-Identifier: MIT */
/* broker-tls-keeper(8): options, the listening socket (from systemd, or
 * bound here under a lock), the sandbox it puts itself in, and accept. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "keeper.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: broker-tls-keeper [--listen PATH] [--daemon] [--idle-exit SEC]\n"
		   "Holds the TLS sessions of this user's holdable connections (libbroker-tls).\n"
		   "  --listen PATH    bind PATH (default: from systemd, else broker_tls_keeper_socket())\n"
		   "  --daemon         go to the background once listening (how libbroker-tls starts it)\n"
		   "  --idle-exit SEC  exit after SEC seconds without a session (default 60, 0: never)\n");
}

/* Keys must not leave the process: no core dumps, no ptrace or /proc/PID/mem
 * by the same user, and no privileges to gain. */
static void sandbox(void)
{
	struct rlimit none = { 0, 0 };
	setrlimit(RLIMIT_CORE, &none);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

/* Bind path, holding path.lock so that keepers started at once by two apps
 * do not take the socket from each other.  0, 1 (another keeper has it),
 * or a negative errno. */
static int bind_locked(const char *path, int *ret_fd)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)], lock[sizeof(dir) + 8];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	snprintf(dir, sizeof(dir), "%s", path);
	mkdir(dirname(dir), 0700);
	snprintf(lock, sizeof(lock), "%s.lock", path);
	int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0)
		return -errno;
	if (flock(lfd, LOCK_EX | LOCK_NB) < 0) {
		close(lfd);
		return errno == EWOULDBLOCK ? 1 : -errno;
	}
	/* The lock stays held (lfd open) for the keeper's life. */
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);   /* a keeper that died left it: the lock says none runs */
	mode_t old = umask(0077);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || listen(fd, 64) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

void keeper_update_idle(struct keeper *k)
{
	if (k->idle_sec <= 0)
		return;
	if (k->nsessions)
		ev_timer_stop(k->loop, &k->idle);
	else if (!ev_is_active(&k->idle))
		ev_timer_again(k->loop, &k->idle);
}

static void on_idle(struct ev_loop *loop, ev_timer *w, int revents)
{
	ev_break(loop, EVBREAK_ALL);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	ev_break(loop, EVBREAK_ALL);
}

/* One user per keeper: anyone else is turned away at once. */
static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct keeper *k = w->data;
	for (;;) {
		int fd = accept4(k->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		struct ucred cred;
		socklen_t len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != geteuid()) {
			close(fd);
			continue;
		}
		session_accept(k, fd);
	}
}

static unsigned max_sessions(void)
{
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	getrlimit(RLIMIT_NOFILE, &nofile);
	/* Two fds a session (the TCP socket, the local stream), and some spare. */
	return nofile.rlim_cur > 64 ? (unsigned)((nofile.rlim_cur - 32) / 2) : 16;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "daemon", no_argument, NULL, 'd' },
		{ "idle-exit", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *path = NULL;
	bool daemonize = false;
	struct keeper k = { .listen_fd = -1, .idle_sec = 60 };
	for (int c; (c = getopt_long(argc, argv, "l:di:h", opts, NULL)) != -1;) {
		char *end;
		switch (c) {
		case 'l': path = optarg; break;
		case 'd': daemonize = true; break;
		case 'i':
			k.idle_sec = strtod(optarg, &end);
			if (*end || k.idle_sec < 0) {
				usage(stderr);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	sandbox();
	signal(SIGPIPE, SIG_IGN);

	int n = path ? 0 : sd_listen_fds(1);
	/* Started by an app: whatever it left open without O_CLOEXEC is not
	 * ours to keep alive. */
	close_range(n > 0 ? SD_LISTEN_FDS_START + (unsigned)n : 3, ~0u, 0);
	if (n == 1 && sd_is_socket(SD_LISTEN_FDS_START, AF_UNIX, SOCK_SEQPACKET, 1) > 0) {
		k.listen_fd = SD_LISTEN_FDS_START;
		fcntl(k.listen_fd, F_SETFL, fcntl(k.listen_fd, F_GETFL) | O_NONBLOCK);
	} else if (n != 0) {
		fprintf(stderr, "broker-tls-keeper: expected one listening SOCK_SEQPACKET socket from systemd\n");
		return 1;
	} else {
		if (!path && !(path = broker_tls_keeper_socket())) {
			fprintf(stderr, "broker-tls-keeper: no socket path: set XDG_RUNTIME_DIR or use --listen\n");
			return 1;
		}
		int r = bind_locked(path, &k.listen_fd);
		if (r == 1)
			return 0;   /* another keeper listens there */
		if (r < 0) {
			fprintf(stderr, "broker-tls-keeper: cannot listen on %s: %s\n", path, strerror(-r));
			return 1;
		}
	}
	if (daemonize) {
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid > 0)
			_exit(0);   /* the socket is there: libbroker-tls connects now */
		setsid();
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0)
			dup2(null, 2);
	}

	k.loop = ev_default_loop(EVFLAG_AUTO);
	k.max_sessions = max_sessions();
	LIST_INIT(&k.sessions);
	brokerd_init(&k);
	ev_io_init(&k.listen_w, on_accept, k.listen_fd, EV_READ);
	ev_init(&k.idle, on_idle);
	k.idle.repeat = k.idle_sec;
	ev_signal_init(&k.sigterm, on_signal, SIGTERM);
	ev_signal_init(&k.sigint, on_signal, SIGINT);
	k.listen_w.data = &k;
	ev_io_start(k.loop, &k.listen_w);
	ev_signal_start(k.loop, &k.sigterm);
	ev_signal_start(k.loop, &k.sigint);
	keeper_update_idle(&k);
	sd_notify(0, "READY=1");
	ev_run(k.loop, 0);

	while (!LIST_EMPTY(&k.sessions))
		session_end(LIST_FIRST(&k.sessions));
	brokerd_close(&k);
	ev_timer_stop(k.loop, &k.broker_retry);
	close(k.listen_fd);
	return 0;
}
