/* SPDX-License-Identifier: MIT */
/* Wake-socket activation, its failures, and brokerctl's view of units. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sdtest.h"
#include "testutil.h"

static bool status_shows(void *ud)
{
	char text[512];
	sd_prop("brokerd.service", "StatusText", text, sizeof(text));
	return strstr(text, (const char *)ud) != NULL;
}

START_TEST(wake)
{
	sd_setup(&(struct brokerd_opts){ 0 });
	sd_wake_app("w1", "org.test.w1", NULL);
	pid_t bpid = sd_start_brokerd();
	int base = idle_fds(bpid);
	char state[64];

	int sv[2];
	sd_tcp_pair(sv);
	static const char ctx[] = "context of w1/conn-1";
	ck_assert_int_eq(sd_transfer("org.test.w1", "conn-1", sv[0], ctx, sizeof(ctx) - 1, 0), 0);
	uint64_t serial = sd_wait_watching("org.test.w1", "conn-1", 0);
	expect_fds(bpid, base + 1 + store_fds(1));
	expect_store_holds(1);   /* the registry and the socket's bucket */
	sd_prop("sdtest-app@w1.service", "ActiveState", state, sizeof(state));
	ck_assert_str_eq(state, "inactive");   /* started only by its wake socket */

	static char payload[3000], payload2[70000];
	fill(payload, sizeof(payload), 1);
	sd_send_payload(sv[1], payload, sizeof(payload), 3);
	pid_t app;
	sd_expect_answer(sv[1], "org.test.w1", "conn-1", "socket-activity", ctx, sizeof(ctx) - 1,
			 payload, sizeof(payload), &app);
	ck_assert_int_eq((pid_t)sd_prop_num("sdtest-app@w1.service", "MainPID"), app);
	serial = sd_wait_watching("org.test.w1", "conn-1", serial);   /* transferred again */

	/* A second trigger goes to the instance that is already running. */
	fill(payload2, sizeof(payload2), 2);
	sd_send_payload(sv[1], payload2, sizeof(payload2), 7);
	pid_t again;
	sd_expect_answer(sv[1], "org.test.w1", "conn-1", "socket-activity", ctx, sizeof(ctx) - 1,
			 payload2, sizeof(payload2), &again);
	ck_assert_int_eq(again, app);
	sd_wait_watching("org.test.w1", "conn-1", serial);
	ck_assert_uint_eq(sd_prop_num("sdtest-app@w1.service", "NRestarts"), 0);

	expect_fds(bpid, base + 1 + store_fds(1) + 1);   /* the socket, and the running app's activation */
	expect_store_holds(1);
	ck_assert_msg(sd_wait(status_shows, "1 socket(s) held, 0 triggered, 0 handing back; 1 app(s), 1 running", 5000),
		      "STATUS= does not show the counts");
	expect_journal("APP_ID=org.test.w1 SOCKET_ID=conn-1 REASON=socket-activity", "triggered");
	expect_journal("APP_ID=org.test.w1 SOCKET_ID=conn-1", "handed back and acknowledged");
	close(sv[1]);
	sd_case_done();
}
END_TEST

struct app_wait {
	const char *app;
	unsigned failures;
};

static bool app_failing(void *ud)
{
	struct app_wait *w = ud;
	broker_app **list;
	const broker_app *a = sd_app_entry(w->app, &list);
	bool ok = a && a->failures >= w->failures && a->held == 1;
	broker_app_list_free(list);
	return ok;
}

/* Missing wake socket, an app that fails to start, an app that never
 * acknowledges: each is retried with back-off, says why in one line, and
 * its socket stays held; once the app works, the data gets through. */
START_TEST(wake_failures)
{
	sd_setup(&(struct brokerd_opts){ 0 });
	char extra[512];
	snprintf(extra, sizeof(extra), "socket = %s\ntimeout-ms = 3000", sd_wake_path("late"));
	sd_manifest("org.test.missing", NULL, "method = wake-socket", extra);
	sd_wake_app("fail", "org.test.fail", "--fail");
	sd_wake_app("noack", "org.test.noack", "--no-ack");
	sd_start_brokerd();

	static const char *const apps[] = { "org.test.missing", "org.test.fail", "org.test.noack" };
	int peers[3];
	static char payload[500];
	fill(payload, sizeof(payload), 3);
	for (int i = 0; i < 3; i++) {
		int sv[2];
		sd_tcp_pair(sv);
		ck_assert_int_eq(sd_transfer(apps[i], "s", sv[0], "c", 1, 0), 0);
		sd_send_payload(sv[1], payload, sizeof(payload), 1);
		peers[i] = sv[1];
	}
	for (int i = 0; i < 3; i++) {
		struct app_wait w = { apps[i], 2 };
		ck_assert_msg(sd_wait(app_failing, &w, 30000), "%s: no retries, or its socket is gone", apps[i]);
	}
	expect_journal("APP_ID=org.test.missing", "activation failed: cannot connect to wake socket");
	expect_journal("APP_ID=org.test.missing", "socket(s) stay held, retry 2 in");
	expect_journal("APP_ID=org.test.fail", "activation failed: nothing accepted on wake socket");
	expect_journal("APP_ID=org.test.noack", "activation failed: the app did not acknowledge 1 handed-back socket(s)");

	/* Killed while all three are pending: they come back pending, and
	 * their apps are activated (and fail) again. */
	pid_t bpid = (pid_t)sd_prop_num("brokerd.service", "MainPID");
	SD_OK("systemctl --user kill --signal=SIGKILL brokerd.service");
	sd_wait_brokerd(bpid);
	expect_journal("", "restored 3 held socket(s) from the fd store, 3 of them triggered and pending");
	for (int i = 0; i < 3; i++) {
		struct app_wait w = { apps[i], 1 };
		ck_assert_msg(sd_wait(app_failing, &w, 30000), "%s: not retried after the restart", apps[i]);
	}

	/* The wake socket appears: the next retry wakes the app, data intact. */
	SD_OK("echo SDTEST_APP_ARGS= >%s/app-late.env", getenv("SDTEST_DIR"));
	SD_OK("systemctl --user start sdtest-app@late.socket");
	sd_expect_answer(peers[0], "org.test.missing", "s", "socket-activity", "c", 1, payload, sizeof(payload), NULL);
	sd_wait_watching("org.test.missing", "s", 0);
	for (int i = 0; i < 3; i++)
		close(peers[i]);
	sd_case_done();
}
END_TEST

/* The unit_state of app in `brokerctl apps --json` (NULL for null), run
 * with extra environment settings env ("" for none). */
static char *unit_state_of(const char *env, const char *app)
{
	char out[16384];
	ck_assert_int_eq(sd_sh(out, sizeof(out), "%s %s apps --json 2>/dev/null", env, getenv("SDTEST_BROKERCTL")), 0);
	json_object *all = json_tokener_parse(out);
	ck_assert_msg(all && json_object_is_type(all, json_type_array), "not a JSON array: %s", out);
	char *state = NULL;
	bool found = false;
	for (size_t i = 0; i < json_object_array_length(all); i++) {
		json_object *a = json_object_array_get_idx(all, i), *id, *st;
		if (!json_object_object_get_ex(a, "id", &id) || strcmp(json_object_get_string(id), app) != 0)
			continue;
		found = true;
		if (json_object_object_get_ex(a, "unit_state", &st) && st)
			state = strdup(json_object_get_string(st));
	}
	json_object_put(all);
	ck_assert_msg(found, "%s is not in brokerctl apps", app);
	return state;
}

static bool app_unit_active(void *ud)
{
	char *s = unit_state_of("", ud);
	bool ok = s && strcmp(s, "active") == 0;
	free(s);
	return ok;
}

/* brokerctl apps shows each app's unit and what the manager says of it,
 * and says so when no manager is reachable. */
START_TEST(ctl)
{
	sd_setup(&(struct brokerd_opts){ 0 });
	char extra[512];
	snprintf(extra, sizeof(extra), "socket = %s", sd_wake_path("c1"));
	sd_wake_app("c1", "org.test.c1", NULL);
	sd_manifest("org.test.c1", "sdtest-app@c1.service", "method = wake-socket", extra);
	sd_manifest("org.test.c2", "sdtest-missing.service", "method = exec", "command = /bin/true");
	sd_manifest("org.test.c3", NULL, "method = exec", "command = /bin/true");
	sd_start_brokerd();

	char *s = unit_state_of("", "org.test.c1");
	ck_assert_str_eq(s, "inactive");   /* only its wake socket is up */
	free(s);
	s = unit_state_of("", "org.test.c2");
	ck_assert_str_eq(s, "not-found");
	free(s);
	ck_assert_ptr_null(unit_state_of("", "org.test.c3"));   /* no unit at all */

	/* Its service runs (the unit binds registration, so the test could not
	 * hand it a socket: it starts the service itself). */
	SD_OK("systemctl --user start sdtest-app@c1.service");
	ck_assert(sd_wait(app_unit_active, "org.test.c1", 10000));
	char table[8192];
	ck_assert_int_eq(sd_sh(table, sizeof(table), "%s apps", getenv("SDTEST_BROKERCTL")), 0);
	char *line = strstr(table, "org.test.c1 ");
	ck_assert(strstr(table, "UNIT-STATE") && line);
	*strchrnul(line, '\n') = 0;
	ck_assert_msg(strstr(line, " sdtest-app@c1.service ") && strcmp(line + strlen(line) - 7, " active") == 0,
		      "apps table line: %s", line);

	/* No manager to ask: the states are unknown, and brokerctl says why. */
	char env[1024], err[1024];
	const char *dir = getenv("SDTEST_DIR");
	snprintf(env, sizeof(env), "mkdir -p %s/elsewhere/socket-broker && ln -sf %s/socket-broker/control "
		 "%s/elsewhere/socket-broker/control && env -u DBUS_SESSION_BUS_ADDRESS XDG_RUNTIME_DIR=%s/elsewhere "
		 "BROKER_SOCKET=%s/elsewhere/socket-broker/control", dir, getenv("XDG_RUNTIME_DIR"), dir, dir, dir);
	ck_assert_ptr_null(unit_state_of(env, "org.test.c1"));
	sd_sh(err, sizeof(err), "%s %s apps 2>&1 >/dev/null", env, getenv("SDTEST_BROKERCTL"));
	ck_assert_msg(strstr(err, "unit states unknown: no user service manager is reachable"), "stderr: %s", err);
	sd_case_done();
}
END_TEST

void sd_wake_cases(Suite *s)
{
	sd_add_case(s, "wake", wake);
	sd_add_case(s, "wake_failures", wake_failures);
	sd_add_case(s, "ctl", ctl);
}
