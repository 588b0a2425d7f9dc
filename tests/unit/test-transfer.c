/* SPDX-License-Identifier: MIT */
/* Transfer (cycle, no control): transfer_socket() with an identity, on real
 * sockets: every refusal with its errno and sentence, the fd consumed
 * whatever happens, nothing held after a refusal; a transfer held, watched,
 * owned by who and announced once; a replace of the same socket. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "daemon-fixture.h"
#include "transfer.h"

static char why[512];
static struct event last;
static unsigned transfers;
static struct identity who;   /* the apps' own user, pid 99 */

static void on_transfer(struct daemon *dd, const struct event *ev)
{
	(void)dd;
	last = *ev;
	transfers++;
}

static void setup(void)
{
	daemon_setup();
	transfers = 0;
	who = (struct identity){ .uid = getuid(), .pid = 99 };
	ck_assert_int_eq(event_subscribe(&d, on_transfer, EVENT_BIT(EVENT_TRANSFER)), 0);
}

static struct app *app_caps(const char *id, const char *caps, const char *limits)
{
	char text[512];
	snprintf(text, sizeof(text), "capabilities = %s\n[activation]\ncommand = /bin/true\n%s", caps, limits);
	return app_with_manifest(id, text);
}

/* transfer_socket(fd) refused with err; fd closed, nothing held. */
static void expect_refused(struct app *a, int fd, const struct transfer *t, int err, const char *text)
{
	int before = count_fds();
	unsigned held = d.nheld;
	why[0] = 0;
	ck_assert_int_eq(transfer_socket(&d, a, &who, fd, t, why, sizeof(why)), err);
	ck_assert_int_eq(count_fds(), before - 1);
	ck_assert(!fd_is_open(fd));
	ck_assert_uint_eq(d.nheld, held);
	if (text)
		ck_assert_msg(strstr(why, text), "\"%s\" has no \"%s\"", why, text);
	ck_assert_uint_eq(transfers, 0);
}

START_TEST(refusals)
{
	struct app *a = app_caps("app.t", "localSocket", "[limits]\nmax-context = 8\n");
	int sv[2];
	struct transfer t = { .id = "ok" };

	pair(sv);
	close(sv[1]);
	t.id = ".bad";
	expect_refused(a, sv[0], &t, -EINVAL, "id must be");
	t.id = "ok";

	pair(sv);
	close(sv[1]);
	t.ctx = "123456789";
	t.ctx_len = 9;
	expect_refused(a, sv[0], &t, -E2BIG, "context of 9 bytes is over the limit of 8");
	t.ctx_len = 8;

	pair(sv);
	close(sv[1]);
	t.flags = 1;
	expect_refused(a, sv[0], &t, -EINVAL, NULL);
	t.flags = 0;

	pair(sv);
	close(sv[1]);
	t.keepalive_sec = d.cfg.max_keepalive_sec + 1;
	expect_refused(a, sv[0], &t, -EINVAL, "keep-alive of");
	t.keepalive_sec = 0;

	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	close(p[1]);
	expect_refused(a, p[0], &t, -ENOTSOCK, "is a pipe, not a socket");

	/* the socket decides the capability: TCP on loopback needs another */
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	expect_refused(a, s, &t, -EACCES, "app app.t: missing capability privateNetworkClientServer");

	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sun, sizeof(sa_family_t)), 0);   /* autobind */
	ck_assert_int_eq(listen(l, 1), 0);
	t.keepalive_sec = 5;
	expect_refused(a, l, &t, -EINVAL, "listeners take no keep-alive");
	t.keepalive_sec = 0;

	/* no manifest any more (a reload took it) */
	a->m = manifest_free(a->m);
	pair(sv);
	close(sv[1]);
	expect_refused(a, sv[0], &t, -ENOENT, "has no manifest any more");
}
END_TEST

START_TEST(held_as_who)
{
	struct app *a = app_caps("app.t", "localSocket", "");
	int sv[2];
	pair(sv);
	const struct transfer t = { .id = "conn", .ctx = "abc", .ctx_len = 3, .keepalive_sec = 30 };
	ck_assert_int_eq(transfer_socket(&d, a, &who, sv[0], &t, why, sizeof(why)), 0);
	struct held *h = held_find(a, "conn");
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(held_fd(h), sv[0]);
	ck_assert_uint_eq(h->owner, getuid());
	ck_assert_uint_eq(h->kind, BROKER_KIND_STREAM);
	ck_assert_uint_eq(h->keepalive_sec, 30);
	ck_assert_mem_eq(held_ctx(h), "abc", 3);
	ck_assert(held_watched(h));
	ck_assert_uint_eq(transfers, 1);
	ck_assert_ptr_eq(last.held, h);
	ck_assert_int_eq(last.pid, 99);
	ck_assert_int_eq(last.prev, 0);
	close(sv[1]);
}
END_TEST

/* The same socket again under its id replaces the entry; under another id
 * (or for another app) it is refused, saying where it is held to whoever
 * may see that. */
START_TEST(same_socket)
{
	struct app *a = app_caps("app.t", "localSocket", ""), *b = app_caps("app.u", "localSocket", "");
	int sv[2];
	pair(sv);
	const struct transfer t = { .id = "conn" }, other = { .id = "other" };
	ck_assert_int_eq(transfer_socket(&d, a, &who, dup(sv[0]), &t, why, sizeof(why)), 0);
	uint64_t first = held_find(a, "conn")->serial;
	int before = count_fds();
	ck_assert_int_eq(transfer_socket(&d, a, &who, dup(sv[0]), &t, why, sizeof(why)), 0);
	ck_assert_int_eq(count_fds(), before);   /* the new copy held, the old one closed */
	ck_assert_uint_gt(held_find(a, "conn")->serial, first);
	ck_assert_uint_eq(a->nheld, 1);
	ck_assert_uint_eq(d.nheld, 1);
	ck_assert_int_eq(last.prev, 1);   /* a replace */
	transfers = 0;
	expect_refused(a, dup(sv[0]), &other, -EEXIST, "held already, as app.t/conn");
	const struct identity stranger = { .uid = getuid() + 1 };
	why[0] = 0;
	ck_assert_int_eq(transfer_socket(&d, b, &stranger, dup(sv[0]), &t, why, sizeof(why)), -EEXIST);
	ck_assert_str_eq(why, "this socket is held already, for another app");
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(limits)
{
	struct app *a = app_caps("app.t", "localSocket", "[limits]\nmax-sockets = 1\n");
	int sv[2], s2[2], s3[2];
	pair(sv);
	const struct transfer t = { .id = "one" }, t2 = { .id = "two" };
	ck_assert_int_eq(transfer_socket(&d, a, &who, sv[0], &t, why, sizeof(why)), 0);
	transfers = 0;
	pair(s2);
	expect_refused(a, s2[0], &t2, -EDQUOT, "holds 1 sockets, its limit");
	d.cfg.max_held = 1;
	struct app *b = app_caps("app.u", "localSocket", "");
	pair(s3);
	expect_refused(b, s3[0], &t2, -ENOSPC, "brokerd holds 1 sockets, its limit");
	close(sv[1]);
	close(s2[1]);
	close(s3[1]);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("transfer");
	TCase *tc = tcase_create("transfer");
	tcase_add_checked_fixture(tc, setup, daemon_teardown);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, held_as_who);
	tcase_add_test(tc, same_socket);
	tcase_add_test(tc, limits);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(suite());
}
