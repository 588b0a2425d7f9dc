/* SPDX-License-Identifier: MIT */
/*
 * Instances tracked whole under the user manager, in brokerd's sandbox:
 * lighttpd without -D (it daemonizes) as an exec listen-fds app.  Two
 * requests, one lighttpd, listed by `brokerctl apps --json`, inside
 * brokerd's service; a drop of its listener stops it, and nothing of it
 * is left.
 */
#include <errno.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sdtest.h"

#define APP "org.test.l1"

/* One GET / on the listener's port; the answer's body (after a 200). */
static void http_get(uint16_t port, char *body, size_t size)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	ck_assert_int_eq(write(fd, req, sizeof(req) - 1), (ssize_t)(sizeof(req) - 1));
	char buf[2048];
	size_t n = 0;
	ssize_t k;
	while (n < sizeof(buf) - 1 && (k = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)k;
	buf[n] = 0;
	close(fd);
	const char *p = strstr(buf, "\r\n\r\n");
	ck_assert_msg(strncmp(buf, "HTTP/1.0 200 OK", 15) == 0 && p, "lighttpd answered '%s'", buf);
	snprintf(body, size, "%s", p + 4);
}

/* The pids brokerctl apps --json lists for APP (up to 8); how many. */
static int listed_pids(pid_t *pids, const char *want_comm)
{
	char out[16384];
	ck_assert_int_eq(sd_sh(out, sizeof(out), "%s apps --json", getenv("SDTEST_BROKERCTL")), 0);
	json_object *all = json_tokener_parse(out), *procs = NULL;
	ck_assert_ptr_nonnull(all);
	for (size_t i = 0; i < json_object_array_length(all); i++) {
		json_object *a = json_object_array_get_idx(all, i), *id;
		if (json_object_object_get_ex(a, "id", &id) && strcmp(json_object_get_string(id), APP) == 0)
			json_object_object_get_ex(a, "processes", &procs);
	}
	ck_assert_ptr_nonnull(procs);
	int n = (int)json_object_array_length(procs);
	for (int i = 0; i < n && i < 8; i++) {
		json_object *p = json_object_array_get_idx(procs, (size_t)i), *pid, *comm;
		ck_assert(json_object_object_get_ex(p, "pid", &pid) && json_object_object_get_ex(p, "comm", &comm));
		pids[i] = (pid_t)json_object_get_int(pid);
		ck_assert_str_eq(json_object_get_string(comm), want_comm);
	}
	json_object_put(all);
	return n;
}

static bool one_daemon(void *ud)
{
	pid_t pids[8];
	if (listed_pids(pids, "lighttpd") != 1)
		return false;
	*(pid_t *)ud = pids[0];
	return true;
}

static bool none_listed(void *ud)
{
	(void)ud;
	pid_t pids[8];
	return listed_pids(pids, "lighttpd") == 0;
}

static bool pid_gone(void *ud)
{
	return kill(*(pid_t *)ud, 0) < 0 && errno == ESRCH;
}

START_TEST(exec_daemon)
{
	const char *dir = getenv("SDTEST_DIR");
	sd_setup(&(struct brokerd_opts){ 0 });
	char conf[256], extra[512], body[256];
	SD_OK("mkdir -p %s/www && echo 'hello from lighttpd' >%s/www/index.html", dir, dir);
	snprintf(conf, sizeof(conf), "%s/lighttpd.conf", dir);
	FILE *f = fopen(conf, "we");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "server.document-root = \"%s/www\"\nserver.systemd-socket-activation = \"enable\"\n"
		"server.port = 1\nindex-file.names = ( \"index.html\" )\n", dir);
	fclose(f);
	snprintf(extra, sizeof(extra), "handoff = listen-fds\ncommand = /usr/sbin/lighttpd -f %s", conf);
	sd_manifest(APP, NULL, "method = exec", extra);
	sd_start_brokerd();
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(l, 16), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&sin, &len), 0);
	uint16_t port = ntohs(sin.sin_port);
	ck_assert_int_eq(sd_transfer(APP, "http", l, NULL, 0, 0), 0);

	http_get(port, body, sizeof(body));
	ck_assert_str_eq(body, "hello from lighttpd\n");
	pid_t daemon = 0;
	ck_assert_msg(sd_wait(one_daemon, &daemon, 10000), "not one lighttpd listed");
	http_get(port, body, sizeof(body));
	ck_assert_str_eq(body, "hello from lighttpd\n");
	ck_assert(one_daemon(&daemon));
	/* it is in brokerd's service */
	SD_OK("grep -q '/brokerd.service$' /proc/%d/cgroup", (int)daemon);
	SD_OK("%s drop %s/http", getenv("SDTEST_BROKERCTL"), APP);
	ck_assert_msg(sd_wait(pid_gone, &daemon, 10000), "lighttpd %d outlived the drop", (int)daemon);
	ck_assert(sd_wait(none_listed, NULL, 10000));
	expect_journal("", "stopping its instance: 1 process(es) sent SIGTERM");
	sd_case_done();
}
END_TEST

void sd_instance_cases(Suite *s)
{
	sd_add_case(s, "exec_daemon", exec_daemon);
}
