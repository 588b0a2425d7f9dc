/* SPDX-License-Identifier: MIT */
/* systemd's own rate limits on a wake socket's units (docs/systemd.md,
 * "systemd's rate limits on a wake socket"): past them the manager fails
 * the units for good; brokerd says which unit and why, resets it and starts
 * it again, and every byte still gets through.  Other failures it names
 * and leaves alone. */
#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sdtest.h"
#include "testutil.h"

/* Wakes one after another, each a start of its own; 3 starts allowed
 * within a minute, so the 4th and (after brokerd's reset) the 7th hit it. */
#define WAKES 8
#define BURST 3

static bool not_running(void *ud)
{
	char state[64];
	sd_prop(ud, "ActiveState", state, sizeof(state));
	return strcmp(state, "inactive") == 0 || strcmp(state, "failed") == 0;
}

START_TEST(wake_limits)
{
	sd_setup(&(struct brokerd_opts){ 0 });
	const char *units = getenv("SDTEST_UNITS");
	/* A service with a start limit, as one without the shipped template's
	 * StartLimitIntervalSec=0 has (systemd's default: 5 within 10 s). */
	SD_OK("mkdir -p %s/sdtest-app@lim.service.d && printf '[Unit]\\nStartLimitIntervalSec=60s\\n"
	      "StartLimitBurst=%d\\n' >%s/sdtest-app@lim.service.d/limit.conf && systemctl --user daemon-reload",
	      units, BURST, units);
	sd_wake_app("lim", "org.test.lim", "--idle-exit 1");
	pid_t bpid = sd_start_brokerd();
	int base = idle_fds(bpid);

	static const char *const ids[WAKES] = { "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7" };
	struct tsock t[WAKES];
	for (int i = 0; i < WAKES; i++)
		t[i].id = ids[i];
	hold("org.test.lim", t, WAKES);
	static char payload[WAKES][1500];
	for (int i = 0; i < WAKES; i++) {
		fill(payload[i], sizeof(payload[i]), 40 + (unsigned)i);
		sd_send_payload(t[i].peer, payload[i], sizeof(payload[i]), 2);
		/* within 30 s: a retry after a failure waits for the back-off */
		sd_expect_answer(t[i].peer, "org.test.lim", t[i].id, "socket-activity", t[i].ctx, strlen(t[i].ctx),
				 payload[i], sizeof(payload[i]), NULL);
		ck_assert_msg(sd_wait(not_running, "sdtest-app@lim.service", 30000), "the app did not exit");
	}

	/* Reported, naming the unit and systemd's reason, once per hit. */
	static const char said[] = "its unit sdtest-app@lim.socket was failed (service-start-limit-hit: "
				   "a systemd rate limit): brokerd reset it and started it again";
	expect_journal("APP_ID=org.test.lim MESSAGE_ID=" MSGID_ACTIVATION_FAILED, said);
	ck_assert_int_eq(journal_count(said), (WAKES - 1) / BURST);
	char state[64];
	sd_prop("sdtest-app@lim.socket", "ActiveState", state, sizeof(state));
	ck_assert_str_eq(state, "active");

	/* Every socket held again (the app transferred each back), context
	 * intact, nothing more on any peer, and no fd left over: the held
	 * sockets, the bucket, and brokerd's connection to the manager. */
	ck_assert_int_eq(check_held("org.test.lim", t, WAKES), 0);
	for (int i = 0; i < WAKES; i++) {
		struct pollfd p = { .fd = t[i].peer, .events = POLLIN };
		ck_assert_int_eq(poll(&p, 1, 0), 0);
	}
	expect_fds(bpid, base + WAKES + store_fds(WAKES) + 1);
	for (int i = 0; i < WAKES; i++)
		close(t[i].peer);
	sd_case_done();
}
END_TEST

/* A wake socket's unit failed for another reason than a rate limit: named,
 * left as it is, the socket held; once the admin mends it, the data gets
 * through. */
START_TEST(wake_unit_failed)
{
	sd_setup(&(struct brokerd_opts){ 0 });
	/* A directory where the unit would bind: Result=resources. */
	const char *path = sd_wake_path("bad");
	SD_OK("mkdir -p %s && echo SDTEST_APP_ARGS= >%s/app-bad.env", path, getenv("SDTEST_DIR"));
	char extra[512];
	snprintf(extra, sizeof(extra), "socket = %s\ntimeout-ms = 3000", path);
	sd_manifest("org.test.bad", NULL, "method = wake-socket", extra);
	ck_assert_int_ne(sd_sh(NULL, 0, "systemctl --user start sdtest-app@bad.socket 2>/dev/null"), 0);
	sd_start_brokerd();

	int sv[2];
	sd_tcp_pair(sv);
	ck_assert_int_eq(sd_transfer("org.test.bad", "s", sv[0], "c", 1, 0), 0);
	static char payload[700];
	fill(payload, sizeof(payload), 50);
	sd_send_payload(sv[1], payload, sizeof(payload), 1);
	expect_journal("APP_ID=org.test.bad MESSAGE_ID=" MSGID_ACTIVATION_FAILED,
		       "its unit sdtest-app@bad.socket is failed (resources), which brokerd leaves to the admin "
		       "(systemctl --user reset-failed sdtest-app@bad.socket)");
	char state[64];
	sd_prop("sdtest-app@bad.socket", "ActiveState", state, sizeof(state));
	ck_assert_str_eq(state, "failed");   /* not reset by brokerd */
	broker_info **list = sd_list();
	ck_assert_ptr_nonnull(sd_find(list, "org.test.bad", "s"));
	broker_info_list_free(list);

	SD_OK("rmdir %s && systemctl --user reset-failed sdtest-app@bad.socket && "
	      "systemctl --user start sdtest-app@bad.socket", path);
	sd_expect_answer(sv[1], "org.test.bad", "s", "socket-activity", "c", 1, payload, sizeof(payload), NULL);
	sd_wait_watching("org.test.bad", "s", 0);
	close(sv[1]);
	sd_case_done();
}
END_TEST

void sd_limit_cases(Suite *s)
{
	sd_add_case(s, "wake_limits", wake_limits);
	sd_add_case(s, "wake_unit_failed", wake_unit_failed);
}
