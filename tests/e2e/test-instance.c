/* SPDX-License-Identifier: MIT */
/*
 * Instances tracked whole (brokerd is a child subreaper):
 *   - the test app daemonizing (fork, setsid, fork) or forking a worker and
 *     exiting: the process that carries on is the instance, listed in
 *     `apps`, and gets what triggers next; no second start;
 *   - the test app leaving a worker behind when it exits: nothing starts
 *     again until the worker is gone;
 *   - lighttpd without -D (it daemonizes): two triggers, one lighttpd; a
 *     drop of its listener stops it, and no lighttpd is left;
 *   - gunicorn's master SIGKILLed with its workers alive: the orphaned
 *     workers serve, no second master starts until they are gone, then
 *     the next request starts a fresh one.
 */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define APP "org.test.inst"

/* Processes on the machine whose command line contains needle. */
static int count_procs(const char *needle)
{
	DIR *dir = opendir("/proc");
	ck_assert_ptr_nonnull(dir);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(dir))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		char path[300], buf[4096];
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		size_t len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		for (size_t i = 0; i < len; i++)
			if (!buf[i])
				buf[i] = ' ';
		buf[len] = 0;
		n += len > 0 && strstr(buf, needle) != NULL;
	}
	closedir(dir);
	return n;
}

/* app's processes as brokerctl apps lists them: their count, and the
 * pids into pids (room for 16). */
static unsigned app_procs(const struct hb *b, const char *id, pid_t *pids, const char *want_comm)
{
	broker_app **list;
	broker_app *a = hb_app_entry(b, id, &list);
	unsigned n = a->nprocs;
	for (unsigned i = 0; i < n && i < 16; i++) {
		if (pids)
			pids[i] = a->procs[i].pid;
		if (want_comm)
			ck_assert_str_eq(a->procs[i].comm, want_comm);
	}
	broker_app_list_free(list);
	return n;
}

static pid_t report_pid(const char *rep, const char *kind, int index)
{
	char line[HB_LINE_MAX];
	hb_report_get(rep, kind, index, line);
	return (pid_t)atoi(hb_field(line, "pid"));
}

/* The process that carries on after the start (a daemon's grandchild, a
 * forked worker) is the instance: it is listed, it gets the next trigger
 * on the activation it inherited, and nothing starts a second time. */
static void carrier(const char *mode)
{
	struct hb b;
	hb_init(&b, mode + 2, NULL);
	hb_testapp(&b, APP, "%s --stay-until stop", mode);
	hb_start(&b);
	const char *rep = hb_report(&b, APP);
	int held[2], peer[2];
	for (int i = 0; i < 2; i++)
		hb_tcp_pair(&held[i], &peer[i]);
	hb_transfer(&b, APP, "s0", held[0], NULL, 0, 0);
	hb_transfer(&b, APP, "s1", held[1], NULL, 0, 0);
	hb_send(peer[0], "first", 5);
	char line[HB_LINE_MAX];
	hb_report_get(rep, "handback", 0, line);
	hb_expect(line, "id", "s0");
	hb_expect(line, "data", hb_esc("first", 5));
	pid_t main_pid = report_pid(rep, "start", 0), carrier_pid = report_pid(rep, "carrier", 0);
	ck_assert_int_ne(main_pid, carrier_pid);
	ck_assert_int_eq(atoi(hb_field(line, "pid")), carrier_pid);
	/* the main process is gone; the carrier is all the instance is */
	pid_t pids[16];
	ck_assert_msg(HB_WAIT(app_procs(&b, APP, pids, "testapp") == 1 && pids[0] == carrier_pid, HB_WAIT_MS),
		      "%u process(es) listed, not the carrier %d alone", app_procs(&b, APP, NULL, NULL), carrier_pid);
	hb_send(peer[1], "second", 6);
	hb_report_get(rep, "handback", 1, line);
	hb_expect(line, "id", "s1");
	hb_expect(line, "data", hb_esc("second", 6));
	ck_assert_int_eq(atoi(hb_field(line, "pid")), carrier_pid);
	ck_assert_int_eq(hb_report_count(rep, "start"), 1);
	ck_assert_uint_eq(hb_activations(&b), 1);
	hb_touch(hb_path(&b, "stop"));
	hb_report_get(rep, "exit", 0, line);
	ck_assert(HB_WAIT(app_procs(&b, APP, NULL, NULL) == 0, HB_WAIT_MS));
	ck_assert(HB_WAIT(hb_app_state(&b, APP) == BROKER_APP_IDLE, HB_WAIT_MS));
	for (int i = 0; i < 2; i++)
		close(peer[i]);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}

START_TEST(daemonizing_app)
{
	carrier("--daemonize");
}
END_TEST

START_TEST(forking_app)
{
	carrier("--fork-worker");
}
END_TEST

/* The app exits and leaves a worker behind: what triggers meanwhile waits
 * until the worker is gone, then starts the app again. */
START_TEST(orphaned_worker)
{
	struct hb b;
	hb_init(&b, "orphan", NULL);
	hb_testapp(&b, APP, "--retransfer --leave-worker go");
	hb_start(&b);
	const char *rep = hb_report(&b, APP);
	int held, peer;
	hb_tcp_pair(&held, &peer);
	hb_transfer(&b, APP, "s", held, "c", 1, 0);
	hb_send(peer, "one", 3);
	char line[HB_LINE_MAX];
	hb_report_get(rep, "exit", 0, line);
	pid_t worker = report_pid(rep, "forked", 0);
	pid_t pids[16];
	ck_assert(HB_WAIT(app_procs(&b, APP, pids, "testapp") == 1 && pids[0] == worker, HB_WAIT_MS));
	ck_assert(HB_WAIT(hb_held_state(&b, APP, "s") == BROKER_STATE_WATCHING, HB_WAIT_MS));
	hb_send(peer, "two", 3);
	ck_assert(HB_WAIT(hb_held_state(&b, APP, "s") == BROKER_STATE_TRIGGERED, HB_WAIT_MS));
	/* the instance is still there: no second one, however long we wait */
	for (uint64_t t0 = hb_now_ms(); hb_now_ms() - t0 < 1000;)
		hb_nap();
	ck_assert_int_eq(hb_report_count(rep, "start"), 1);
	ck_assert_int_eq(hb_held_state(&b, APP, "s"), BROKER_STATE_TRIGGERED);
	ck_assert_int_eq(app_procs(&b, APP, NULL, NULL), 1);
	hb_touch(hb_path(&b, "go"));
	hb_report_get(rep, "worker-exit", 0, line);
	hb_report_get(rep, "handback", 1, line);
	hb_expect(line, "data", hb_esc("two", 3));
	hb_report_get(rep, "start", 1, line);
	hb_expect(line, "n", "2");
	hb_report_get(rep, "exit", 1, line);
	hb_touch(hb_path(&b, "go"));   /* the second worker leaves at once */
	ck_assert(HB_WAIT(app_procs(&b, APP, NULL, NULL) == 0, HB_WAIT_MS));
	hb_drop(&b, APP, "s");
	close(peer);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

/* Connect to 127.0.0.1:port: 0, or -errno (-ECONNREFUSED: nobody listens). */
static int socket_connect_refused(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int r = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ? -errno : 0;
	close(fd);
	return r;
}

/* lighttpd without -D daemonizes: its first process exits at once.  Two
 * requests, one lighttpd; the drop of its listener stops it. */
START_TEST(lighttpd_daemonizing)
{
	struct hb b;
	hb_init(&b, "lighttpd-daemon", NULL);
	char conf[PATH_MAX];
	snprintf(conf, sizeof(conf), "%s", hb_lighttpd_app(&b, "org.test.lighttpd", true));
	hb_start(&b);
	uint16_t port;
	hb_transfer(&b, "org.test.lighttpd", "http", hb_tcp_listener(&port), NULL, 0, 0);
	char body[256];
	hb_http_get(port, body, sizeof(body));
	ck_assert_str_eq(body, "hello from lighttpd\n");
	pid_t pids[16];
	/* the first lighttpd has gone; the daemon it left is the instance */
	ck_assert_msg(HB_WAIT(app_procs(&b, "org.test.lighttpd", pids, "lighttpd") == 1 &&
				      count_procs(conf) == 1, HB_WAIT_MS),
		      "lighttpd: %u process(es) listed, %d running",
		      app_procs(&b, "org.test.lighttpd", NULL, NULL), count_procs(conf));
	pid_t daemon = pids[0];
	hb_http_get(port, body, sizeof(body));
	ck_assert_str_eq(body, "hello from lighttpd\n");
	ck_assert_uint_eq(hb_activations(&b), 1);
	ck_assert_int_eq(count_procs(conf), 1);
	ck_assert_int_eq(app_procs(&b, "org.test.lighttpd", pids, "lighttpd"), 1);
	ck_assert_int_eq(pids[0], daemon);
	ck_assert_int_eq(hb_held_state(&b, "org.test.lighttpd", "http"), BROKER_STATE_LENT);
	hb_drop(&b, "org.test.lighttpd", "http");
	ck_assert_msg(HB_WAIT(count_procs(conf) == 0, HB_WAIT_MS), "lighttpd still runs after the drop: %d",
		      count_procs(conf));
	ck_assert_msg(HB_WAIT(hb_app_state(&b, "org.test.lighttpd") == BROKER_APP_IDLE, HB_WAIT_MS),
		      "lighttpd's app is in state %d, not idle", hb_app_state(&b, "org.test.lighttpd"));
	ck_assert_int_eq(app_procs(&b, "org.test.lighttpd", NULL, NULL), 0);
	ck_assert(hb_file_contains(b.log, "stopping its instance: 1 process(es) sent SIGTERM"));
	ck_assert(!hb_file_contains(b.log, "activation failed"));
	/* nobody holds the listener any more */
	ck_assert_int_eq(socket_connect_refused(port), -ECONNREFUSED);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

/* Has the app's instance lost its master and kept a worker? */
static bool master_gone(const struct hb *b, const char *id, pid_t master)
{
	pid_t pids[16];
	unsigned n = app_procs(b, id, pids, NULL);
	for (unsigned i = 0; i < n && i < 16; i++)
		if (pids[i] == master)
			return false;
	return n > 0;
}

/* gunicorn's master SIGKILLed with its two workers alive: they serve on the
 * listener they were lent, and no second master starts while they run.
 * Once they notice their master is gone and leave, the next request
 * starts a fresh master. */
START_TEST(gunicorn_master_killed)
{
	struct hb b;
	hb_init(&b, "gunicorn", NULL);
	hb_write(hb_path(&b, "wsgi.py"),
		 "import os\n"
		 "def app(environ, start_response):\n"
		 "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
		 "    return [b'worker %%d\\n' %% os.getpid()]\n");
	char cmd[PATH_MAX + 128];
	/* --timeout 30: a worker looks for its master every 15 s (or when a
	 * connection wakes it), so at least one is still there for the
	 * request after the kill however slow the machine is. */
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 -m gunicorn --workers 2 --timeout 30 --chdir %s wsgi:app",
		 b.dir);
	hb_app(&b, "org.test.gunicorn", "listen-fds", cmd);
	hb_start(&b);
	uint16_t port;
	hb_transfer(&b, "org.test.gunicorn", "http", hb_tcp_listener(&port), NULL, 0, 0);
	char body[256];
	hb_http_get(port, body, sizeof(body));
	pid_t pids[16];
	/* a master and two workers */
	ck_assert_msg(HB_WAIT(app_procs(&b, "org.test.gunicorn", pids, NULL) == 3, 30000),
		      "gunicorn has %u process(es), not a master and two workers",
		      app_procs(&b, "org.test.gunicorn", NULL, NULL));
	pid_t master = hb_app_pid(&b, "org.test.gunicorn");
	ck_assert_int_eq(pids[0], master);
	pid_t workers[2] = { pids[1], pids[2] };
	ck_assert_int_eq(kill(master, SIGKILL), 0);
	/* A worker that is between requests leaves at once; one that waits
	 * for the next (5 s) serves it first. */
	ck_assert_msg(HB_WAIT(master_gone(&b, "org.test.gunicorn", master), HB_WAIT_MS),
		      "master %d still listed, or no worker left: %u process(es)", master,
		      app_procs(&b, "org.test.gunicorn", NULL, NULL));
	ck_assert_uint_eq(hb_activations(&b), 1);
	/* an orphaned worker answers; the listener is still theirs */
	hb_http_get(port, body, sizeof(body));
	int served = atoi(body + strlen("worker "));
	ck_assert_msg(served == workers[0] || served == workers[1], "answered by %d: %s", served, body);
	ck_assert_int_eq(hb_held_state(&b, "org.test.gunicorn", "http"), BROKER_STATE_LENT);
	ck_assert_uint_eq(hb_activations(&b), 1);
	/* they leave; then a request starts a new master */
	ck_assert_msg(HB_WAIT(app_procs(&b, "org.test.gunicorn", NULL, NULL) == 0, 40000),
		      "the orphaned workers stay: %u process(es)", app_procs(&b, "org.test.gunicorn", NULL, NULL));
	ck_assert_uint_eq(hb_activations(&b), 1);
	ck_assert(HB_WAIT(hb_held_state(&b, "org.test.gunicorn", "http") == BROKER_STATE_WATCHING, HB_WAIT_MS));
	hb_http_get(port, body, sizeof(body));
	served = atoi(body + strlen("worker "));
	ck_assert(served != workers[0] && served != workers[1]);
	ck_assert_uint_eq(hb_activations(&b), 2);
	pid_t fresh = hb_app_pid(&b, "org.test.gunicorn");
	ck_assert_int_gt(fresh, 0);
	ck_assert_int_ne(fresh, master);
	hb_drop(&b, "org.test.gunicorn", "http");
	ck_assert(HB_WAIT(app_procs(&b, "org.test.gunicorn", NULL, NULL) == 0, 30000));
	ck_assert(HB_WAIT(count_procs("wsgi:app") == 0, HB_WAIT_MS));
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("instance");
	TCase *tc = tcase_create("instance");
	tcase_set_timeout(tc, 150);
	tcase_add_test(tc, daemonizing_app);
	tcase_add_test(tc, forking_app);
	tcase_add_test(tc, orphaned_worker);
	tcase_add_test(tc, lighttpd_daemonizing);
	tcase_add_test(tc, gunicorn_master_killed);
	suite_add_tcase(s, tc);
	return hb_run_suite(s);
}
