/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "peer.h"

static char pki_dir[64];

void pki_setup(void)
{
	const char *script = getenv("TLS_MAKE_PKI");
	snprintf(pki_dir, sizeof(pki_dir), "/tmp/broker-tls-test.XXXXXX");
	if (!script || !mkdtemp(pki_dir)) {
		fprintf(stderr, "pki_setup: need $TLS_MAKE_PKI and a temporary directory\n");
		exit(1);
	}
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "sh '%s' '%s'", script, pki_dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "pki_setup: %s failed\n", cmd);
		exit(1);
	}
}

void pki_cleanup(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pki_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "pki_cleanup: %s failed\n", cmd);
}

const char *pki(const char *file)
{
	static char paths[8][160];
	static unsigned next;
	char *p = paths[next++ % 8];
	snprintf(p, sizeof(paths[0]), "%s/%s", pki_dir, file);
	return p;
}

int tcp_socket(int listen_backlog, int *ret_port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	if (listen_backlog >= 0)
		ck_assert_int_eq(listen(fd, listen_backlog), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*ret_port = ntohs(sin.sin_port);
	return fd;
}

static bool listening_in(const char *table, int port)
{
	FILE *f = fopen(table, "re");
	if (!f)
		return false;
	char line[512];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned local_port, state;
		/* "  0: 0100007F:1F90 00000000:0000 0A ..." */
		char *colon = strchr(line, ':');
		if (colon && (colon = strchr(colon + 1, ':')) &&
		    sscanf(colon + 1, "%x %*s %x", &local_port, &state) == 2)
			found = (int)local_port == port && state == 0x0A;
	}
	fclose(f);
	return found;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static pid_t spawn(const char *const *argv, const char *port, int in, int out)
{
	char *args[32];
	size_t n;
	for (n = 0; argv[n] && n < 31; n++) {
		const char *at = strstr(argv[n], "@PORT@");
		char buf[256];
		if (at)
			snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - argv[n]), argv[n], port, at + 6);
		args[n] = strdup(at ? buf : argv[n]);
	}
	args[n] = NULL;
	pid_t parent = getpid(), pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		dup2(in >= 0 ? in : null, 0);
		dup2(out >= 0 ? out : null, 1);   /* stdout is our TAP stream; the peers' chatter goes nowhere */
		execvp(args[0], args);
		_exit(127);
	}
	for (size_t i = 0; i < n; i++)
		free(args[i]);
	return pid;
}

void peer_start(struct peer *p, const char *const *argv)
{
	peer_start_io(p, argv, -1, -1);
}

void peer_start_io(struct peer *p, const char *const *argv, int in, int out)
{
	for (int attempt = 0; attempt < 5; attempt++) {
		int port;
		close(tcp_socket(-1, &port));   /* a port that was free a moment ago */
		snprintf(p->port_text, sizeof(p->port_text), "%d", port);
		p->port = port;
		p->pid = spawn(argv, p->port_text, in, out);
		for (int waited = 0; waited < 10000; waited += 5) {
			if (listening_in("/proc/net/tcp", port) || listening_in("/proc/net/tcp6", port))
				return;
			if (waitpid(p->pid, NULL, WNOHANG) == p->pid)
				break;   /* could not bind, most likely: try another port */
			sleep_ms(5);
		}
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
	}
	ck_abort_msg("%s did not start listening", argv[0]);
}

void peer_stop(struct peer *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
	}
	p->pid = 0;
}

int fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;   /* the DIR's own fd */
}

int run_suite(Suite *s)
{
	pki_setup();
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	pki_cleanup();
	return failed ? 1 : 0;
}

broker_tls *tls_handle(enum broker_tls_level level, const char *ca)
{
	broker_tls *t;
	ck_assert_int_eq(broker_tls_new(level, &t), 0);
	ck_assert_int_eq(broker_tls_set_timeouts(t, 10000, 10000), 0);
	if (ca)
		ck_assert_int_eq(broker_tls_set_ca_file(t, ca), 0);
	return t;
}

const char *service(int port)
{
	static char text[3][8];
	static unsigned next;
	char *p = text[next++ % 3];
	snprintf(p, sizeof(text[0]), "%d", port);
	return p;
}

int step_until_done(broker_tls *t, int r)
{
	while (r == -EAGAIN) {
		struct pollfd p = { .fd = broker_tls_get_fd(t), .events = (short)broker_tls_get_events(t) };
		ck_assert_int_ge(p.fd, 0);
		ck_assert(p.events == POLLIN || p.events == POLLOUT);
		int timeout = broker_tls_get_timeout(t);
		ck_assert_int_gt(timeout, 0);
		ck_assert_int_eq(poll(&p, 1, timeout), 1);
		r = broker_tls_step(t);
	}
	return r;
}

broker_tls *dial(enum broker_tls_level level, const char *host, int port, const char *ca,
		 const char *client, int *ret)
{
	broker_tls *t = tls_handle(level, ca);
	if (client) {
		char cert[64], key[64];
		snprintf(cert, sizeof(cert), "%s.pem", client);
		snprintf(key, sizeof(key), "%s.key", client);
		ck_assert_int_eq(broker_tls_set_client_cert(t, pki(cert), pki(key)), 0);
	}
	*ret = broker_tls_connect(t, host, service(port));
	return t;
}

void expect_failure(broker_tls *t, int r, enum broker_tls_status status)
{
	ck_assert_msg(broker_tls_get_status(t) == status, "status %s, expected %s (%s)",
		      broker_tls_status_name(broker_tls_get_status(t)), broker_tls_status_name(status),
		      broker_tls_get_detail(t));
	ck_assert_int_eq(r, broker_tls_status_errno(status));
	ck_assert_int_eq(broker_tls_get_fd(t), -ENOTCONN);   /* the socket is gone */
	broker_tls_info i;
	ck_assert_int_eq(broker_tls_get_info(t, &i), 0);
	ck_assert(!i.encrypted);
	ck_assert(!i.peer_verified);
	ck_assert_str_eq(i.cipher, "none");
	char buf[4];
	ck_assert_int_eq(broker_tls_read(t, buf, sizeof(buf)), r);
}

void expect_tls(broker_tls *t, unsigned version, const char *subject)
{
	broker_tls_info i;
	ck_assert_int_eq(broker_tls_get_status(t), BROKER_TLS_OK);
	ck_assert_int_eq(broker_tls_get_info(t, &i), 0);
	ck_assert(i.encrypted);
	ck_assert_uint_eq(i.version, version);
	ck_assert_str_eq(i.protocol, version == 0x0304 ? "TLS1.3" : "TLS1.2");
	/* A real cipher, and the one GnuTLS reports in its summary. */
	ck_assert_str_ne(i.cipher, "NULL");
	ck_assert_str_ne(i.cipher, "none");
	ck_assert_ptr_nonnull(strstr(i.description, i.cipher));
	ck_assert_ptr_nonnull(strstr(i.description, i.protocol));
	ck_assert(i.peer_verified);
	ck_assert_uint_eq(i.cert_problems, 0);
	ck_assert_str_eq(i.peer_subject, subject);
}

void exchange(broker_tls *t, const char *line, const char *expect)
{
	size_t len = strlen(line), want = strlen(expect), got = 0;
	ck_assert_int_eq(broker_tls_write(t, line, len), (ssize_t)len);
	char buf[256];
	while (got < want) {
		ssize_t n = broker_tls_read(t, buf + got, want - got);
		ck_assert_msg(n > 0, "read: %zd (%s)", n, broker_tls_get_detail(t));
		got += (size_t)n;
	}
	ck_assert_mem_eq(buf, expect, want);
}
