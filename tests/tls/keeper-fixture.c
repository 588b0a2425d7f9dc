/* SPDX-License-Identifier: MIT */
/* The keeper suites' fixture (keeper-fixture.h). */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <socket-broker/broker.h>
#include "harness.h"
#include "peer.h"

#include "keeper-fixture.h"

pid_t keeper_pid;

static int unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	close(fd);
	return -1;
}

/* The reason of the last handback in the report, "" if none. */
const char *last_reason(const char *rep)
{
	static char reason[64];
	char line[HB_LINE_MAX];
	int n = hb_report_count(rep, "handback");
	reason[0] = 0;
	if (n > 0 && hb_report_wait(rep, "handback", n - 1, line) && hb_field(line, "reason"))
		snprintf(reason, sizeof(reason), "%s", hb_field(line, "reason"));
	return reason;
}

const char *keeper_conf(void)
{
	static char conf[512];
	snprintf(conf, sizeof(conf), "[broker]\ntls-keeper = %s\n", getenv("BROKER_TLS_KEEPER"));
	return conf;
}

/* brokerd's socket and the keeper's, for this process and what it starts. */
void keeper_env(const struct hb *b)
{
	setenv("BROKER_SOCKET", b->socket, 1);
	setenv("BROKER_TLS_KEEPER_SOCKET", hb_path(b, "keeper"), 1);
}

/* The keeper, started by the test (it dies with the test), telling the
 * brokerd at broker_socket. */
void keeper_start_with(const struct hb *b, const char *broker_socket)
{
	keeper_env(b);
	setenv("BROKER_SOCKET", broker_socket, 1);
	const char *exe = getenv("BROKER_TLS_KEEPER"), *path = hb_path(b, "keeper");
	pid_t parent = getpid();
	keeper_pid = fork();
	ck_assert_int_ge(keeper_pid, 0);
	if (keeper_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		execl(exe, exe, "--listen", path, "--idle-exit", "0", (char *)NULL);
		_exit(127);
	}
	int fd = -1;
	ck_assert(HB_WAIT((fd = unix_connect(path)) >= 0, HB_WAIT_MS));
	close(fd);
	setenv("BROKER_SOCKET", b->socket, 1);
}

void keeper_start(const struct hb *b)
{
	keeper_start_with(b, b->socket);
}

/* Gone, and its connection to brokerd with it. */
void keeper_kill(void)
{
	kill(keeper_pid, SIGKILL);
	waitpid(keeper_pid, NULL, 0);
}

broker_tls *held_dial(const char *host, int port, unsigned ignorable)
{
	broker_tls *t = tls_handle(BROKER_TLS_LEVEL_TLS, pki("ca.pem"));
	ck_assert_int_eq(broker_tls_set_holdable(t, true), 0);
	ck_assert_int_eq(broker_tls_set_ignorable(t, ignorable), 0);
	int r = broker_tls_connect(t, host, service(port));
	ck_assert_msg(r == 0, "%s: %s", broker_tls_status_name(broker_tls_get_status(t)), broker_tls_get_detail(t));
	return t;
}

/* The held connection's fd: a local stream, which brokerd takes. */
int take_stream(broker_tls *t)
{
	int fd = broker_tls_take_fd(t);
	ck_assert_int_ge(fd, 0);
	int type = 0;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(type), slen = sizeof(ss);
	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len), 0);
	ck_assert_int_eq(type, SOCK_STREAM);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&ss, &slen), 0);
	ck_assert_int_eq(ss.ss_family, AF_UNIX);
	return fd;
}

/* Count of text in the file at path. */
int occurrences(const char *path, const char *text)
{
	char buf[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	int count = 0;
	buf[n > 0 ? n : 0] = 0;
	for (const char *p = buf; (p = strstr(p, text)); p += strlen(text))
		count++;
	return count;
}

int keeper_run_suite(const char *name, const TTest *const *tests, size_t n)
{
	Suite *s = suite_create(name);
	TCase *tc = tcase_create("keeper");
	tcase_set_timeout(tc, 120);
	for (size_t i = 0; i < n; i++)
		tcase_add_test(tc, tests[i]);
	suite_add_tcase(s, tc);
	pki_setup();
	int r = hb_run_suite(s);
	pki_cleanup();
	return r;
}
