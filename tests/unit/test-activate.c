/* SPDX-License-Identifier: MIT */
/* Activation and back-off (cycle, no control): a trigger starts the app
 * (exec of a real program, or a connection to a real wake socket), a
 * start that never says hello is a failure, the back-off doubles up to its
 * cap and ends in a retry, and at most max-pending-activations apps start
 * at once. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "activate.h"
#include "backoff.h"
#include "daemon-fixture.h"
#include "handback.h"

static char dir[] = "/tmp/broker-test-activate-XXXXXX";

static void setup(void)
{
	daemon_setup();
	ck_assert_int_eq(activate_init(&d), 0);
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	struct app *a;
	TAILQ_FOREACH(a, &d.apps, link)
		if (a->pid > 0)
			kill(a->pid, SIGKILL);
	activate_shutdown(&d);
	daemon_teardown();
	char path[128];
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/wake%d", dir, i);
		unlink(path);
	}
	rmdir(dir);
	strcpy(dir, "/tmp/broker-test-activate-XXXXXX");
}

static struct held *trigger_one(struct app *a, int *peer)
{
	int sv[2];
	pair(sv);
	struct held *h = add(a, "s", sv[0], NULL, 0);
	lifecycle_trigger(&d, h, BROKER_REASON_SOCKET_ACTIVITY);
	*peer = sv[1];
	return h;
}

static bool app_in(struct app *a, enum broker_app_state s)
{
	return a->state == s && a->pid == 0;
}

static void run_until_state(struct app *a, enum broker_app_state s)
{
	for (int i = 0; i < 20000 && !app_in(a, s); i++)
		ev_run(d.loop, EVRUN_ONCE);
	ck_assert_msg(app_in(a, s), "app state %d, pid %d", a->state, (int)a->pid);
}

/* A real program that exits without opening its activation: a failure;
 * the socket stays held and pending for the retry. */
START_TEST(exec_without_hello_fails)
{
	struct app *a = app_with_manifest("app.exec", "[activation]\ncommand = /bin/true\n");
	int peer;
	struct held *h = trigger_one(a, &peer);
	run_until_state(a, BROKER_APP_BACKOFF);   /* the kick, the start, the exit */
	ck_assert_uint_eq(d.activations_total, 1);
	ck_assert_ptr_null(a->conn);
	ck_assert_uint_eq(a->failures, 1);
	ck_assert_uint_eq(a->backoff_ms, d.cfg.backoff_initial_ms);
	ck_assert_uint_eq(h->state, BROKER_STATE_TRIGGERED);
	ck_assert_uint_eq(a->npending, 1);
	ck_assert_uint_eq(d.nstarting, 0);
	ck_assert(!peer_sees_eof(peer));
	close(peer);
}
END_TEST

/* Each failure doubles the wait, up to backoff-max; its end is a retry. */
START_TEST(backoff_doubles_to_cap)
{
	d.cfg.backoff_initial_ms = 100;
	d.cfg.backoff_max_ms = 250;
	struct app *a = app_with_manifest("app.backoff", "[activation]\ncommand = /bin/true\n");
	static const uint64_t want[] = { 100, 200, 250, 250 };
	for (unsigned i = 0; i < 4; i++) {
		backoff_fail(&d, a, -ETIMEDOUT, "test");
		ck_assert_uint_eq(a->state, BROKER_APP_BACKOFF);
		ck_assert_uint_eq(a->failures, i + 1);
		ck_assert_uint_eq(a->backoff_ms, want[i]);
		ck_assert(ev_is_active(&a->timer));
	}
	ck_assert_uint_gt(a->retry_at, 0);
	run_until_state(a, BROKER_APP_IDLE);   /* the back-off ends: idle, nothing pending */
	ck_assert_uint_eq(a->retry_at, 0);
	ck_assert_uint_eq(d.activations_total, 0);
}
END_TEST

/* A listening wake socket at dir/wakeN, as a .socket unit would have. */
static int wake_listener(int n, char *path, size_t size)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/wake%d", dir, n);
	snprintf(path, size, "%s", sa.sun_path);
	int l = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(l, 4), 0);
	return l;
}

/* With one start slot, a second app waits until the first is no longer
 * starting, then goes by itself. */
START_TEST(start_slots)
{
	d.cfg.max_pending_activations = 1;
	char path[2][128], line[200];
	int l0 = wake_listener(0, path[0], sizeof(path[0])), l1 = wake_listener(1, path[1], sizeof(path[1]));
	snprintf(line, sizeof(line), "[activation]\nmethod = wake-socket\nsocket = %s\n", path[0]);
	struct app *a = app_with_manifest("app.one", line);
	snprintf(line, sizeof(line), "[activation]\nmethod = wake-socket\nsocket = %s\n", path[1]);
	struct app *b = app_with_manifest("app.two", line);
	int pa, pb;
	trigger_one(a, &pa);
	trigger_one(b, &pb);
	spin();
	ck_assert_uint_eq(d.nstarting, 1);
	ck_assert_uint_eq(a->state, BROKER_APP_STARTING);
	ck_assert_uint_eq(b->state, BROKER_APP_IDLE);
	ck_assert_uint_eq(d.activations_total, 1);

	/* a's service takes the connection and closes it: a's start failed,
	 * its slot is free, and b starts */
	int c = accept4(l0, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(c, 0);
	close(c);
	run_until_state(a, BROKER_APP_BACKOFF);
	spin();
	ck_assert_uint_eq(b->state, BROKER_APP_STARTING);
	ck_assert_uint_eq(d.nstarting, 1);
	ck_assert_uint_eq(d.activations_total, 2);
	c = accept4(l1, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(c, 0);
	close(c);
	run_until_state(b, BROKER_APP_BACKOFF);
	ck_assert_uint_eq(d.nstarting, 0);
	close(l0);
	close(l1);
	close(pa);
	close(pb);
}
END_TEST

/* Nothing listens on the wake socket: a failure at once, with the path. */
START_TEST(wake_socket_missing)
{
	char line[200];
	snprintf(line, sizeof(line), "[activation]\nmethod = wake-socket\nsocket = %s/wake2\n", dir);
	struct app *a = app_with_manifest("app.gone", line);
	int peer;
	trigger_one(a, &peer);
	spin();
	ck_assert_uint_eq(a->state, BROKER_APP_BACKOFF);
	ck_assert_uint_eq(a->failures, 1);
	ck_assert_uint_eq(d.activations_total, 0);
	ck_assert_uint_eq(d.nstarting, 0);
	close(peer);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("activate");
	TCase *tc = tcase_create("activate");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, exec_without_hello_fails);
	tcase_add_test(tc, backoff_doubles_to_cap);
	tcase_add_test(tc, start_slots);
	tcase_add_test(tc, wake_socket_missing);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(suite());
}
