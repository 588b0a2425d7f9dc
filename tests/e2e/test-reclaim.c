/* SPDX-License-Identifier: MIT */
/*
 * The app and the admin talking to brokerd through libbroker: list shows
 * what is held, claim gives back the very same socket, a transfer under a
 * held id replaces it, admin trigger and drop; and brokerd shuts down
 * cleanly on SIGTERM and SIGINT with sockets held and an app starting.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define APP "org.test.reclaim"

static uint64_t realtime_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static const char *addr_text(int fd, bool peer)
{
	static char text[2][64];
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	ck_assert_int_eq((peer ? getpeername : getsockname)(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(text[peer], sizeof(text[peer]), "127.0.0.1:%u", ntohs(sa.sin_port));
	return text[peer];
}

START_TEST(list_and_claim)
{
	struct hb b;
	hb_init(&b, "list-claim", NULL);
	hb_testapp(&b, APP, "%s", "");
	hb_start(&b);

	int held, peer, dg, dg_peer;
	hb_tcp_pair(&held, &peer);
	hb_unix_pair(SOCK_DGRAM, &dg, &dg_peer);
	char local[64], remote[64];
	snprintf(local, sizeof(local), "%s", addr_text(held, false));
	snprintf(remote, sizeof(remote), "%s", addr_text(held, true));
	uint64_t t0 = realtime_us();
	hb_transfer(&b, APP, "conn", held, "ctx\0bytes", 9, 30);
	hb_transfer(&b, APP, "dgram", dg, NULL, 0, 0);
	uint64_t t1 = realtime_us();
	hb_assert_fds(&b, b.base_fds + 2);

	broker *c = hb_open(&b, APP);
	broker_info **list = NULL;
	ck_assert_int_eq(broker_list(c, NULL, &list), 2);
	broker_info *conn = strcmp(list[0]->id, "conn") == 0 ? list[0] : list[1];
	broker_info *d = conn == list[0] ? list[1] : list[0];
	ck_assert_str_eq(conn->app_id, APP);
	ck_assert_str_eq(conn->id, "conn");
	ck_assert_int_eq(conn->kind, BROKER_KIND_STREAM);
	ck_assert_int_eq(conn->state, BROKER_STATE_WATCHING);
	ck_assert_int_eq(conn->last_reason, BROKER_REASON_NONE);
	ck_assert_uint_eq(conn->keepalive_sec, 30);
	ck_assert_uint_eq(conn->owner_uid, getuid());
	ck_assert_int_eq(conn->family, AF_INET);
	ck_assert_int_eq(conn->sotype, SOCK_STREAM);
	ck_assert(conn->held_since_usec >= t0 && conn->held_since_usec <= t1);
	ck_assert_uint_eq(conn->last_trigger_usec, 0);
	ck_assert_uint_eq(conn->context_len, 9);
	ck_assert_mem_eq(conn->context, "ctx\0bytes", 9);
	ck_assert_str_eq(conn->local, local);
	ck_assert_str_eq(conn->peer, remote);
	ck_assert_str_eq(d->id, "dgram");
	ck_assert_int_eq(d->kind, BROKER_KIND_DATAGRAM);
	ck_assert_int_eq(d->family, AF_UNIX);
	ck_assert_int_eq(d->sotype, SOCK_DGRAM);
	ck_assert_uint_eq(d->context_len, 0);
	ck_assert_str_eq(d->local, "");
	ck_assert_str_eq(d->peer, "");
	ck_assert_uint_gt(d->serial, conn->serial);
	broker_info_list_free(list);

	/* Claim: the same socket comes back, and brokerd forgets it. */
	broker_info *info = NULL;
	int fd = broker_claim(c, "conn", &info);
	ck_assert_int_ge(fd, 0);
	ck_assert_str_eq(info->id, "conn");
	ck_assert_mem_eq(info->context, "ctx\0bytes", 9);
	broker_info_free(info);
	ck_assert_str_eq(addr_text(fd, false), local);
	ck_assert_str_eq(addr_text(fd, true), remote);
	hb_send(peer, "to app", 6);
	hb_expect_recv(fd, "to app");
	hb_send(fd, "to peer", 7);
	hb_expect_recv(peer, "to peer");
	/* brokerd logs the claim just after it sent the socket */
	ck_assert(HB_WAIT(hb_file_contains(b.log, APP "/conn: claimed back"), HB_WAIT_MS));
	ck_assert_int_eq(broker_claim(c, "conn", NULL), -ENOENT);
	ck_assert_int_eq(broker_list(c, NULL, &list), 1);
	ck_assert_str_eq(list[0]->id, "dgram");
	broker_info_list_free(list);

	fd = broker_claim(c, "dgram", NULL);
	ck_assert_int_ge(fd, 0);
	hb_send(dg_peer, "d", 1);
	hb_expect_recv(fd, "d");
	close(fd);
	ck_assert_int_eq(broker_list(c, NULL, &list), 0);
	broker_info_list_free(list);
	broker_close(c);
	close(peer);
	close(dg_peer);
	ck_assert_int_eq(hb_report_count(hb_report(&b, APP), "start"), 0);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

START_TEST(replace_trigger_drop)
{
	struct hb b;
	hb_init(&b, "replace", NULL);
	hb_testapp(&b, APP, "%s", "");
	hb_start(&b);
	const char *rep = hb_report(&b, APP);
	char line[HB_LINE_MAX];

	int old_held, old_peer, new_held, new_peer;
	hb_tcp_pair(&old_held, &old_peer);
	hb_tcp_pair(&new_held, &new_peer);
	char new_remote[64];
	snprintf(new_remote, sizeof(new_remote), "%s", addr_text(new_held, true));
	hb_transfer(&b, APP, "s", old_held, "old", 3, 0);
	broker_info *i = hb_show(&b, APP, "s");
	uint64_t old_serial = i->serial;
	broker_info_free(i);

	/* Same id again: the new socket replaces the old, which brokerd closes. */
	int keep = dup(new_held);
	hb_transfer(&b, APP, "s", new_held, "new", 3, 0);
	ck_assert(hb_eof(old_peer, HB_WAIT_MS));
	close(old_peer);
	i = hb_show(&b, APP, "s");
	ck_assert_uint_gt(i->serial, old_serial);
	ck_assert_mem_eq(i->context, "new", 3);
	ck_assert_str_eq(i->peer, new_remote);
	broker_info_free(i);
	hb_assert_fds(&b, b.base_fds + 1);

	/* The same socket again under "s": replaced (new context), still one
	 * copy in brokerd.  Under another id: refused, the fd still ours. */
	int again = dup(keep);
	hb_transfer(&b, APP, "s", again, "again", 5, 0);
	i = hb_show(&b, APP, "s");
	ck_assert_mem_eq(i->context, "again", 5);
	uint64_t again_serial = i->serial;
	broker_info_free(i);
	hb_assert_fds(&b, b.base_fds + 1);
	broker *c = hb_open(&b, APP);
	int other = dup(keep);
	ck_assert_int_eq(broker_transfer(c, "t", other, NULL, 0, 0), -EEXIST);
	ck_assert_str_eq(broker_last_message(c), "this socket is held already, as " APP "/s");
	ck_assert_int_ge(fcntl(other, F_GETFD), 0);
	close(other);
	broker_close(c);
	i = hb_show(&b, APP, "s");
	ck_assert_uint_eq(i->serial, again_serial);
	broker_info_free(i);
	ck_assert_ptr_null(hb_show(&b, APP, "t"));
	hb_assert_fds(&b, b.base_fds + 1);
	close(keep);

	/* An admin wakes the app for a quiet socket. */
	hb_trigger(&b, APP, "s");
	hb_report_get(rep, "handback", 0, line);
	hb_expect(line, "reason", "admin-trigger");
	hb_expect(line, "ctx", "again");
	hb_expect(line, "data", "");
	ck_assert(hb_eof(new_peer, HB_WAIT_MS));   /* the app closed it, brokerd let go */
	close(new_peer);
	hb_report_get(rep, "exit", 0, line);

	/* An admin drops a held socket: brokerd closes it. */
	int held, peer;
	hb_unix_pair(SOCK_STREAM, &held, &peer);
	hb_transfer(&b, APP, "gone", held, NULL, 0, 0);
	hb_drop(&b, APP, "gone");
	ck_assert(hb_eof(peer, HB_WAIT_MS));
	close(peer);
	ck_assert_ptr_null(hb_show(&b, APP, "gone"));
	ck_assert_int_eq(hb_report_count(rep, "start"), 1);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

/* While a socket is handed back and not yet acknowledged, brokerd still
 * holds it, shows it, and refuses to let anyone claim it. */
START_TEST(claim_while_handing_back)
{
	struct hb b;
	hb_init(&b, "claim-busy", NULL);
	hb_testapp(&b, APP, "--ack-after ack --read-min 1 --answer ok");
	hb_start(&b);
	const char *rep = hb_report(&b, APP);
	char line[HB_LINE_MAX];

	int held, peer;
	hb_tcp_pair(&held, &peer);
	hb_transfer(&b, APP, "conn", held, NULL, 0, 0);
	hb_send(peer, "x", 1);
	hb_report_get(rep, "received", 0, line);
	ck_assert_int_eq(hb_held_state(&b, APP, "conn"), BROKER_STATE_HANDING_BACK);
	broker *c = hb_open(&b, APP);
	ck_assert_int_eq(broker_claim(c, "conn", NULL), -EBUSY);
	broker_close(c);

	hb_touch(hb_path(&b, "ack"));
	hb_report_get(rep, "handback", 0, line);
	hb_expect(line, "data", "x");
	hb_expect_recv(peer, "ok");
	ck_assert_int_eq(hb_held_state(&b, APP, "conn"), 0);
	hb_report_get(rep, "exit", 0, line);
	close(peer);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

/* Reload: an app whose manifest went away keeps its sockets (triggers wait);
 * when the manifest is back, the next reload starts it for them. */
START_TEST(reload_keeps_sockets)
{
	struct hb b;
	hb_init(&b, "reload", NULL);
	hb_testapp(&b, APP, "--read-min 1");
	hb_start(&b);
	const char *rep = hb_report(&b, APP);
	char manifest[PATH_MAX], moved[PATH_MAX], line[HB_LINE_MAX];
	snprintf(manifest, sizeof(manifest), "%s", hb_path(&b, "apps.d/" APP ".conf"));
	snprintf(moved, sizeof(moved), "%s", hb_path(&b, "manifest.away"));

	int held, peer;
	hb_unix_pair(SOCK_SEQPACKET, &held, &peer);
	hb_transfer(&b, APP, "s", held, "c", 1, 0);
	broker *admin = hb_open(&b, NULL);
	ck_assert_int_eq(rename(manifest, moved), 0);
	ck_assert_int_eq(broker_reload(admin), 0);
	hb_send(peer, "while away", 10);
	ck_assert(HB_WAIT(hb_held_state(&b, APP, "s") == BROKER_STATE_TRIGGERED, HB_WAIT_MS));
	ck_assert(HB_WAIT(hb_file_contains(b.log, "the app has no manifest"), HB_WAIT_MS));
	ck_assert_int_eq(hb_report_count(rep, "start"), 0);

	ck_assert_int_eq(rename(moved, manifest), 0);
	ck_assert_int_eq(broker_reload(admin), 0);
	hb_report_get(rep, "handback", 0, line);
	hb_expect(line, "reason", "socket-activity");
	hb_expect(line, "ctx", "c");
	hb_expect(line, "data", hb_rec("while away", 10));
	hb_report_get(rep, "exit", 0, line);
	broker_close(admin);
	close(peer);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

/* Stop brokerd with sockets watching, triggered (the app is starting)
 * and a listener held, with a monitor and an idle client connected. */
START_TEST(clean_shutdown)
{
	static const int sigs[] = { SIGTERM, SIGINT };
	struct hb b;
	hb_init(&b, _i ? "sigint" : "sigterm", NULL);
	hb_testapp(&b, APP, "--wait-file go");
	hb_start(&b);
	const char *rep = hb_report(&b, APP);
	char line[HB_LINE_MAX];

	int held[2], peer[2];
	for (int k = 0; k < 2; k++) {
		hb_unix_pair(SOCK_STREAM, &held[k], &peer[k]);
		hb_transfer(&b, APP, k ? "busy" : "quiet", held[k], "c", 1, 5);
	}
	hb_transfer(&b, APP, "listener", hb_tcp_listener(NULL), NULL, 0, 0);
	broker *mon = hb_monitor(&b);
	broker *idle = hb_open(&b, APP);
	hb_send(peer[1], "x", 1);
	hb_report_get(rep, "start", 0, line);

	hb_stop(&b, sigs[_i]);
	ck_assert(hb_file_contains(b.log, "stopped"));
	/* brokerd's copies are closed; no one else holds them */
	for (int k = 0; k < 2; k++) {
		ck_assert(hb_eof(peer[k], HB_WAIT_MS));
		close(peer[k]);
	}
	/* the monitor gets what happened, then the end */
	broker_event *ev = NULL;
	int r;
	while ((r = broker_next_event(mon, HB_WAIT_MS, &ev)) == 1)
		ev = broker_event_free(ev);
	ck_assert_int_eq(r, -EPIPE);
	broker_close(mon);
	broker_close(idle);
	hb_finish(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("e2e-reclaim");
	TCase *tc = tcase_create("reclaim");
	tcase_add_test(tc, list_and_claim);
	tcase_add_test(tc, replace_trigger_drop);
	tcase_add_test(tc, claim_while_handing_back);
	tcase_add_test(tc, reload_keeps_sockets);
	tcase_add_loop_test(tc, clean_shutdown, 0, 2);
	suite_add_tcase(s, tc);
	return hb_run_suite(s);
}
