/* SPDX-License-Identifier: MIT */
/* Isolation and admin rights, with a real second user (uid 65534): an app
 * sees, claims and replaces only its own sockets; another user's app looks
 * like no app at all; admin verbs need root or the admin group. */
#include <check.h>
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sec.h"
#include "send-fds.h"
#include "wire.h"

#define ROOT_APP "com.example.root"
#define NOBODY_APP "com.example.nobody"
#define NOBODY 65534

static void begin(struct hb *b, const char *extra)
{
	sec_setup(b, extra);
	sec_app_simple(b, SEC_GOOD_APP, 0, "localSocket");
	sec_app_simple(b, ROOT_APP, 0, "localSocket");
	sec_app_simple(b, NOBODY_APP, NOBODY, "localSocket");
	hb_start(b);
	sec_good_client(b, SEC_GOOD_APP);
}

/* Root hands a socket to app as id with context ctx; returns the peer end. */
static int root_holds(const struct hb *b, const char *app, const char *id, const char *ctx)
{
	broker *c;
	ck_assert_int_eq(broker_open(b->socket, &c), 0);
	ck_assert_int_eq(broker_register(c, app), 0);
	int sv[2];
	sec_pair(SOCK_STREAM, sv);
	ck_assert_int_eq(broker_transfer(c, id, sv[1], ctx, strlen(ctx), 0), 0);
	broker_close(c);
	return sv[0];
}

static broker *open_checked(const struct hb *b)
{
	broker *c;
	int r = broker_open(b->socket, &c);
	ck_assert_msg(r == 0, "open as uid %u: %s", (unsigned)getuid(), broker_strerror(r));
	return c;
}

/* As a user at the kernel's per-user in-flight limit (its own fds queued
 * in a socketpair, with a low RLIMIT_NOFILE): a transfer fails, and says
 * which limit it met. */
static void at_in_flight_limit(const struct hb *b, void *arg)
{
	(void)arg;
	broker *c;
	ck_assert_int_eq(broker_open_app(b->socket, NOBODY_APP, 5000, &c), 0);
	struct rlimit rl = { 64, 64 };
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	int q[2], sv[2];
	sec_pair(SOCK_DGRAM, q);
	sec_pair(SOCK_STREAM, sv);
	int fds[8] = { sv[1], sv[1], sv[1], sv[1], sv[1], sv[1], sv[1], sv[1] };
	while (send_with_fds(q[0], "x", 1, fds, 8, MSG_DONTWAIT) == 1)
		;
	ck_assert_int_eq(errno, ETOOMANYREFS);   /* sent: fewer than 64 if others of this uid have some in flight */
	ck_assert_int_eq(broker_transfer(c, "over", sv[1], NULL, 0, 0), -ETOOMANYREFS);
	ck_assert_str_eq(broker_last_message(c), "the kernel refused to pass the fd: this user already has as many "
			 "fds in flight in AF_UNIX sockets as RLIMIT_NOFILE (64) allows, the per-user in-flight "
			 "limit (under a user instance, the sockets brokerd holds count too)");
	ck_assert(fcntl(sv[1], F_GETFD) >= 0);   /* still the caller's */
	close(q[1]);   /* what was in flight is closed with it */
	close(q[0]);
	int r;
	for (int i = 0; (r = broker_transfer(c, "over", sv[1], NULL, 0, 0)) == -ETOOMANYREFS && i < 100; i++)
		usleep(50000);   /* another test's fds in flight as this uid, for a moment */
	ck_assert_int_eq(r, 0);
	int fd = broker_claim(c, "over", NULL);
	ck_assert_int_ge(fd, 0);
	close(fd);
	broker_close(c);
	close(sv[0]);
}

START_TEST(in_flight_limit_named)
{
	struct hb b;
	begin(&b, NULL);
	ck_assert_int_eq(sec_as_user(NOBODY, NOBODY, at_in_flight_limit, &b, NULL), 0);
	sec_end(&b);
}
END_TEST

static void stranger(const struct hb *b, void *arg)
{
	(void)arg;
	broker *c = open_checked(b);
	ck_assert(!broker_is_admin(c));
	ck_assert_uint_eq(broker_peer_uid(c), NOBODY);

	/* not registered: verbs that act as an app refuse */
	int sv[2];
	sec_pair(SOCK_STREAM, sv);
	broker_info **list;
	broker_info *info;
	ck_assert_int_eq(broker_transfer(c, "x", sv[1], NULL, 0, 0), -EDESTADDRREQ);
	ck_assert_int_eq(broker_claim(c, "secret", NULL), -EDESTADDRREQ);
	broker_activation *act = (broker_activation *)c;
	ck_assert_int_eq(broker_attach(c, &act), -EDESTADDRREQ);   /* nor attach as one */
	ck_assert_ptr_eq(act, (broker_activation *)c);
	ck_assert_int_eq(broker_list(c, NULL, &list), -EDESTADDRREQ);
	ck_assert_int_eq(broker_show(c, NULL, "secret", &info), -EDESTADDRREQ);

	/* someone else's app and no app at all get the same answer */
	ck_assert_int_eq(broker_list(c, ROOT_APP, &list), -ENOENT);
	ck_assert_str_eq(broker_last_message(c), "no app " ROOT_APP " that uid 65534 may see");
	ck_assert_int_eq(broker_list(c, "com.example.none", &list), -ENOENT);
	ck_assert_str_eq(broker_last_message(c), "no app com.example.none that uid 65534 may see");
	ck_assert_int_eq(broker_show(c, ROOT_APP, "secret", &info), -ENOENT);
	ck_assert_str_eq(broker_last_message(c), "no app " ROOT_APP " that uid 65534 may see");
	ck_assert_int_eq(broker_show(c, ROOT_APP, "no-such-id", &info), -ENOENT);
	ck_assert_str_eq(broker_last_message(c), "no app " ROOT_APP " that uid 65534 may see");
	ck_assert_int_eq(broker_register(c, ROOT_APP), -ENOENT);
	ck_assert_str_eq(broker_last_message(c),
			 "no manifest declares an app " ROOT_APP " that uid 65534 may act as");
	ck_assert_int_eq(broker_register(c, "com.example.none"), -ENOENT);
	ck_assert_str_eq(broker_last_message(c),
			 "no manifest declares an app com.example.none that uid 65534 may act as");

	/* the app id in the hello: the same check, the same answer, no handle */
	broker *h = (broker *)c;
	ck_assert_int_eq(broker_open_app(b->socket, ROOT_APP, 5000, &h), -ENOENT);
	ck_assert_ptr_eq(h, c);
	ck_assert_str_eq(broker_last_message(NULL),
			 "no manifest declares an app " ROOT_APP " that uid 65534 may act as");
	ck_assert_int_eq(broker_open_app(b->socket, "com.example.none", 5000, &h), -ENOENT);
	ck_assert_int_eq(broker_open_app(b->socket, "", 5000, &h), -EINVAL);
	ck_assert_ptr_eq(h, c);
	ck_assert_int_eq(broker_open_app(b->socket, NOBODY_APP, 5000, &h), 0);
	ck_assert_str_eq(broker_last_message(NULL), "");
	ck_assert_int_eq(broker_register(h, NOBODY_APP), 0);
	ck_assert_int_eq(broker_register(h, ROOT_APP), -ENOENT);
	ck_assert_int_eq(broker_list(h, NULL, &list), 0);   /* registered by the hello */
	broker_info_list_free(list);
	broker_close(h);

	/* every app's sockets, or admin verbs: root only here */
	int raw = sec_raw_hello(b);
	struct bp_list l = { .flags = BP_LIST_ALL };
	struct bp_field f = { "", 0 };
	sec_raw_msg(raw, BP_LIST, 7, &l, sizeof(l), &f, 1, NULL, 0);
	ck_assert_str_eq(sec_expect_error(raw, 7, -EPERM),
			 "listing every app's sockets needs root (no admin group is configured)");
	close(raw);
	ck_assert_int_eq(broker_trigger(c, ROOT_APP, "secret"), -EPERM);
	ck_assert_str_eq(broker_last_message(c), "trigger needs root (no admin group is configured)");
	ck_assert_int_eq(broker_drop(c, ROOT_APP, "secret"), -EPERM);
	ck_assert_int_eq(broker_drop(c, ROOT_APP, "no-such-id"), -EPERM);
	ck_assert_int_eq(broker_reload(c), -EPERM);
	ck_assert_str_eq(broker_last_message(c), "reload needs root (no admin group is configured)");

	/* apps and status: only what is its own */
	broker_app **apps;
	ck_assert_int_eq(broker_list_apps(c, &apps), 1);
	ck_assert_str_eq(apps[0]->id, NOBODY_APP);
	broker_app_list_free(apps);
	broker_status st;
	ck_assert_int_eq(broker_get_status(c, &st), 0);
	ck_assert_uint_eq(st.apps, 1);
	ck_assert_uint_eq(st.held, 0);
	ck_assert_uint_eq(st.clients, 1);
	ck_assert(st.triggers_total == 0 && st.activations_total == 0 && st.handbacks_total == 0);

	/* its own app: a socket of the same id as root's is a different socket */
	ck_assert_int_eq(broker_register(c, NOBODY_APP), 0);
	ck_assert_int_eq(broker_claim(c, "secret", NULL), -ENOENT);
	ck_assert_str_eq(broker_last_message(c), "app " NOBODY_APP " holds no socket secret");
	ck_assert_int_eq(broker_transfer(c, "secret", sv[1], "mine", 4, 0), 0);
	ck_assert_int_eq(broker_list(c, NULL, &list), 1);
	ck_assert_str_eq(list[0]->app_id, NOBODY_APP);
	ck_assert_mem_eq(list[0]->context, "mine", 4);
	ck_assert_uint_eq(list[0]->owner_uid, NOBODY);
	broker_info_list_free(list);
	ck_assert_int_eq(broker_get_status(c, &st), 0);
	ck_assert_uint_eq(st.held, 1);
	int fd = broker_claim(c, "secret", NULL);
	ck_assert_int_ge(fd, 0);
	close(fd);
	close(sv[0]);
	/* and on this connection it stays that app */
	ck_assert_int_eq(broker_register(c, ROOT_APP), -ENOENT);
	broker_close(c);
}

START_TEST(another_users_app)
{
	struct hb b;
	begin(&b, NULL);
	int peer = root_holds(&b, ROOT_APP, "secret", "root-secret");
	ck_assert_int_eq(sec_as_user(NOBODY, NOBODY, stranger, &b, NULL), 0);

	/* root's socket is untouched */
	broker *c = open_checked(&b);
	broker_info *info;
	ck_assert_int_eq(broker_show(c, ROOT_APP, "secret", &info), 0);
	ck_assert_mem_eq(info->context, "root-secret", 11);
	ck_assert_uint_eq(info->owner_uid, 0);
	broker_info_free(info);
	ck_assert_int_eq(broker_drop(c, ROOT_APP, "secret"), 0);
	broker_close(c);
	ck_assert(sec_peer_closed(peer));
	close(peer);
	sec_end(&b);
}
END_TEST

/* A monitor of uid 65534 sees its own app's events and nothing of root's. */
static void watcher(const struct hb *b, void *arg, int sync)
{
	(void)arg;
	broker *m = open_checked(b);
	ck_assert_int_eq(broker_monitor(m), 0);
	sec_signal(sync, 'R');
	sec_await(sync, 'D');   /* root has transferred, claimed and reloaded */

	broker *c = open_checked(b);
	ck_assert_int_eq(broker_register(c, NOBODY_APP), 0);
	int sv[2];
	sec_pair(SOCK_STREAM, sv);
	ck_assert_int_eq(broker_transfer(c, "mine", sv[1], NULL, 0, 0), 0);
	broker_close(c);
	close(sv[0]);

	broker_event *ev;
	for (;;) {
		ck_assert_int_eq(broker_next_event(m, 5000, &ev), 1);
		ck_assert_msg(strcmp(ev->app_id, NOBODY_APP) == 0, "saw a %s event of app '%s'",
			      broker_event_name(ev->type), ev->app_id);
		bool done = ev->type == BROKER_EVENT_TRANSFER;
		broker_event_free(ev);
		if (done)
			break;
	}
	broker_close(m);
}

START_TEST(monitor_sees_only_own_apps)
{
	struct hb b;
	begin(&b, NULL);
	int sync;
	pid_t pid = sec_user_start(NOBODY, NOBODY, watcher, &b, NULL, &sync);
	sec_await(sync, 'R');
	int peer = root_holds(&b, ROOT_APP, "hidden", "x");
	broker *c = open_checked(&b);
	ck_assert_int_eq(broker_drop(c, ROOT_APP, "hidden"), 0);
	ck_assert_int_eq(broker_reload(c), 0);
	broker_close(c);
	close(peer);
	sec_signal(sync, 'D');
	ck_assert_int_eq(sec_user_wait(pid, sync), 0);
	c = open_checked(&b);
	ck_assert_int_eq(broker_drop(c, NOBODY_APP, "mine"), 0);
	broker_close(c);
	sec_end(&b);
}
END_TEST

/* A member of the admin group sees and administers every app, but acts as none. */
static void admin_member(const struct hb *b, void *arg)
{
	(void)arg;
	broker *c = open_checked(b);
	ck_assert(broker_is_admin(c));
	broker_info **list;
	ck_assert_int_eq(broker_list(c, NULL, &list), 2);
	broker_info_list_free(list);
	broker_info *info;
	ck_assert_int_eq(broker_show(c, ROOT_APP, "secret", &info), 0);
	ck_assert_mem_eq(info->context, "root-secret", 11);
	broker_info_free(info);
	broker_app **apps;
	ck_assert_int_eq(broker_list_apps(c, &apps), 3);
	broker_app_list_free(apps);
	ck_assert_int_eq(broker_register(c, ROOT_APP), -EPERM);
	ck_assert_str_eq(broker_last_message(c), "uid 65534 may not act as " ROOT_APP " (its manifest names user 0)");
	broker *h = NULL;
	ck_assert_int_eq(broker_open_app(b->socket, ROOT_APP, 5000, &h), -EPERM);
	ck_assert_ptr_null(h);
	ck_assert_str_eq(broker_last_message(NULL), "uid 65534 may not act as " ROOT_APP " (its manifest names user 0)");
	ck_assert_int_eq(broker_claim(c, "secret", NULL), -EDESTADDRREQ);
	ck_assert_int_eq(broker_trigger(c, ROOT_APP, "secret"), 0);
	ck_assert_int_eq(broker_drop(c, ROOT_APP, "dropme"), 0);
	ck_assert_int_eq(broker_reload(c), 0);
	broker_status st;
	ck_assert_int_eq(broker_get_status(c, &st), 0);
	ck_assert_uint_eq(st.held, 1);
	ck_assert_uint_ge(st.triggers_total, 1);
	broker_close(c);
}

START_TEST(admin_group)
{
	struct hb b;
	begin(&b, "[broker]\nadmin-group = nogroup\n");
	int secret = root_holds(&b, ROOT_APP, "secret", "root-secret");
	int dropme = root_holds(&b, ROOT_APP, "dropme", "x");
	/* primary group nogroup */
	ck_assert_int_eq(sec_as_user(NOBODY, NOBODY, admin_member, &b, NULL), 0);
	ck_assert(sec_peer_closed(dropme));
	close(dropme);

	/* nogroup as a supplementary group only (SO_PEERGROUPS) */
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		gid_t groups[1] = { NOBODY };
		if (setgroups(1, groups) < 0 || setresgid(65533, 65533, 65533) < 0 ||
		    setresuid(NOBODY, NOBODY, NOBODY) < 0)
			_exit(126);
		broker *c;
		_exit(broker_open(b.socket, &c) == 0 && broker_is_admin(c) ? 0 : 1);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(WEXITSTATUS(status), 0);

	broker *c = open_checked(&b);
	ck_assert_int_eq(broker_drop(c, ROOT_APP, "secret"), 0);
	broker_close(c);
	close(secret);
	sec_end(&b);
}
END_TEST

/* The manifest changes hands while its app's client is connected. */
static void loses_app(const struct hb *b, void *arg, int sync)
{
	(void)arg;
	broker *c = open_checked(b);
	ck_assert_int_eq(broker_register(c, NOBODY_APP), 0);
	int sv[2];
	sec_pair(SOCK_STREAM, sv);
	ck_assert_int_eq(broker_transfer(c, "a", sv[1], NULL, 0, 0), 0);
	sec_signal(sync, 'T');
	sec_await(sync, 'R');
	int sv2[2];
	sec_pair(SOCK_STREAM, sv2);
	ck_assert_int_eq(broker_transfer(c, "b", sv2[1], NULL, 0, 0), -EPERM);
	ck_assert_str_eq(broker_last_message(c),
			 "uid 65534 may no longer act as " NOBODY_APP ": its manifest changed or went away");
	ck_assert_int_eq(broker_claim(c, "a", NULL), -EPERM);
	broker_info **list;
	ck_assert_int_eq(broker_list(c, NULL, &list), -EPERM);
	broker_close(c);
	close(sv[0]);
}

START_TEST(manifest_changes_hands)
{
	struct hb b;
	begin(&b, NULL);
	int sync;
	pid_t pid = sec_user_start(NOBODY, NOBODY, loses_app, &b, NULL, &sync);
	sec_await(sync, 'T');
	sec_app_simple(&b, NOBODY_APP, 65533, "localSocket");
	broker *c = open_checked(&b);
	ck_assert_int_eq(broker_reload(c), 0);
	sec_signal(sync, 'R');
	ck_assert_int_eq(sec_user_wait(pid, sync), 0);
	ck_assert_int_eq(broker_drop(c, NOBODY_APP, "a"), 0);
	broker_close(c);
	sec_end(&b);
}
END_TEST

/* A root client registered as ROOT_APP that holds id; *peer is its other end. */
static broker *root_registered_holding(const struct hb *b, const char *id, int *peer)
{
	broker *c = open_checked(b);
	ck_assert_int_eq(broker_register(c, ROOT_APP), 0);
	int sv[2];
	sec_pair(SOCK_STREAM, sv);
	ck_assert_int_eq(broker_transfer(c, id, sv[1], NULL, 0, 0), 0);
	*peer = sv[0];
	return c;
}

/* Root keeps acting as an app whose manifest a reload took away: it may
 * claim what the app holds, but hand over nothing new. */
START_TEST(root_after_the_manifest_is_gone)
{
	struct hb b;
	begin(&b, NULL);
	int peer;
	broker *c = root_registered_holding(&b, "kept", &peer);
	ck_assert_int_eq(unlink(hb_path(&b, "apps.d/" ROOT_APP ".conf")), 0);
	ck_assert_int_eq(broker_reload(c), 0);
	int sv2[2];
	sec_pair(SOCK_STREAM, sv2);
	ck_assert_int_eq(broker_transfer(c, "new", sv2[1], NULL, 0, 0), -ENOENT);
	ck_assert_str_eq(broker_last_message(c), "app " ROOT_APP " has no manifest any more");
	close(sv2[0]);
	close(sv2[1]);
	int fd = broker_claim(c, "kept", NULL);
	ck_assert_int_ge(fd, 0);
	close(fd);
	close(peer);
	broker_close(c);
	sec_end(&b);
}
END_TEST

/* A reload that binds the app to a unit takes the right away from a
 * registered client outside it (root included). */
START_TEST(manifest_gains_a_unit)
{
	struct hb b;
	begin(&b, NULL);
	int peer;
	broker *c = root_registered_holding(&b, "a", &peer);
	sec_app(&b, ROOT_APP ".conf", "[app]\nid = " ROOT_APP "\nuser = 0\nunit = only-this.service\n"
		"capabilities = localSocket\n[activation]\ncommand = /bin/true\n");
	ck_assert_int_eq(broker_reload(c), 0);
	ck_assert_int_eq(broker_claim(c, "a", NULL), -EPERM);
	ck_assert_msg(strstr(broker_last_message(c), "may no longer act as " ROOT_APP
			     ": its manifest now names unit only-this.service"), "%s", broker_last_message(c));
	ck_assert_int_eq(broker_drop(c, ROOT_APP, "a"), 0);   /* an admin still may */
	close(peer);
	broker_close(c);
	sec_end(&b);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("isolation");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, another_users_app);
	tcase_add_test(tc, in_flight_limit_named);
	tcase_add_test(tc, monitor_sees_only_own_apps);
	tcase_add_test(tc, admin_group);
	tcase_add_test(tc, manifest_changes_hands);
	tcase_add_test(tc, root_after_the_manifest_is_gone);
	tcase_add_test(tc, manifest_gains_a_unit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return hb_run_suite(suite());
}
