/* SPDX-License-Identifier: MIT */
/* libbroker-tls against real peers on loopback: gnutls-serv and
 * openssl s_server with the certificates make-pki.sh created for this run. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "peer.h"

#define SUBJECT "CN=localhost,O=socket-broker tests"
#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })

static char cert_arg[200], key_arg[200], ca_arg[200];

/* gnutls-serv --echo with certificate NAME.pem; it asks for a client
 * certificate unless told "-a", and insists with "-r". */
static void gnutls_serv(struct peer *p, const char *name, const char *priority, const char *client_mode)
{
	char file[64];
	snprintf(file, sizeof(file), "%s.pem", name);
	snprintf(cert_arg, sizeof(cert_arg), "--x509certfile=%s", pki(file));
	snprintf(file, sizeof(file), "%s.key", name);
	snprintf(key_arg, sizeof(key_arg), "--x509keyfile=%s", pki(file));
	snprintf(ca_arg, sizeof(ca_arg), "--x509cafile=%s", pki("ca.pem"));
	peer_start(p, ARGV("gnutls-serv", "--echo", "--port=@PORT@", cert_arg, key_arg, ca_arg,
			   priority ? priority : "--priority=NORMAL", client_mode ? client_mode : "--quiet"));
}

/* openssl s_server -rev (answers each line reversed) with certificate
 * NAME.pem; version "-tls1_2", "-tls1_3" or NULL; verify "-Verify" to
 * require a client certificate. */
static void openssl_server(struct peer *p, const char *name, const char *version, const char *verify)
{
	char cert[64], key[64];
	snprintf(cert, sizeof(cert), "%s.pem", name);
	snprintf(key, sizeof(key), "%s.key", name);
	const char *v = version ? version : "-no_ssl3";
	if (verify)
		peer_start(p, ARGV("openssl", "s_server", "-accept", "@PORT@", "-cert", pki(cert), "-key", pki(key),
				   "-quiet", "-rev", v, verify, "1", "-CAfile", pki("ca.pem")));
	else
		peer_start(p, ARGV("openssl", "s_server", "-accept", "@PORT@", "-cert", pki(cert), "-key", pki(key),
				   "-quiet", "-rev", v));
}

START_TEST(tls_good_gnutls_serv)
{
	int fds = fd_count(), r;
	struct peer p;
	gnutls_serv(&p, "server", NULL, NULL);
	broker_tls *t = dial(BROKER_TLS_LEVEL_TLS, "localhost", p.port, pki("ca.pem"), NULL, &r);
	ck_assert_msg(r == 0, "%s", broker_tls_get_detail(t));
	expect_tls(t, 0x0304, SUBJECT);
	broker_tls_info i;
	broker_tls_get_info(t, &i);
	ck_assert_int_eq(i.level, BROKER_TLS_LEVEL_TLS);
	ck_assert_str_eq(i.verify_name, "localhost");
	ck_assert(i.client_cert_requested);   /* gnutls-serv asks by default ... */
	ck_assert(!i.client_cert_sent);       /* ... and we have none */
	ck_assert_uint_eq(i.addresses_tried, 1);
	char addr[32];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", p.port);
	ck_assert_str_eq(i.peer_address, addr);
	exchange(t, "ping over TLS\n", "ping over TLS\n");
	ck_assert_int_eq(broker_tls_shutdown(t), 0);
	broker_tls_free(t);
	peer_stop(&p);
	ck_assert_int_eq(fd_count(), fds);
}
END_TEST

START_TEST(tls_good_openssl_tls12)
{
	int fds = fd_count(), r;
	struct peer p;
	openssl_server(&p, "server", "-tls1_2", NULL);
	broker_tls *t = dial(BROKER_TLS_LEVEL_TLS, "localhost", p.port, pki("ca.pem"), NULL, &r);
	ck_assert_msg(r == 0, "%s", broker_tls_get_detail(t));
	expect_tls(t, 0x0303, SUBJECT);
	exchange(t, "ping\n", "gnip\n");
	broker_tls_free(t);
	peer_stop(&p);
	ck_assert_int_eq(fd_count(), fds);
}
END_TEST

START_TEST(tls13_good_openssl)
{
	int fds = fd_count(), r;
	struct peer p;
	openssl_server(&p, "server", NULL, NULL);
	/* Numeric address: checked against the certificate's IP address. */
	broker_tls *t = dial(BROKER_TLS_LEVEL_TLS13, "127.0.0.1", p.port, pki("ca.pem"), NULL, &r);
	ck_assert_msg(r == 0, "%s", broker_tls_get_detail(t));
	expect_tls(t, 0x0304, SUBJECT);
	broker_tls_info i;
	broker_tls_get_info(t, &i);
	ck_assert_int_eq(i.level, BROKER_TLS_LEVEL_TLS13);
	ck_assert_str_eq(i.verify_name, "127.0.0.1");
	ck_assert(!i.client_cert_requested);
	exchange(t, "abc\n", "cba\n");
	broker_tls_free(t);
	peer_stop(&p);
	ck_assert_int_eq(fd_count(), fds);
}
END_TEST

/* The certificate problems, each against the peer that shows it. */
static void expect_cert_failure(const char *name, bool use_openssl, const char *ca,
				enum broker_tls_status status, unsigned problems, const char *subject)
{
	int fds = fd_count(), r;
	struct peer p;
	if (use_openssl)
		openssl_server(&p, name, NULL, NULL);
	else
		gnutls_serv(&p, name, NULL, "-a");
	broker_tls *t = dial(BROKER_TLS_LEVEL_TLS, "localhost", p.port, ca, NULL, &r);
	expect_failure(t, r, status);
	broker_tls_info i;
	broker_tls_get_info(t, &i);
	ck_assert_uint_eq(i.version, 0x0304);   /* negotiated before the certificate was refused */
	ck_assert_uint_eq(i.cert_problems, problems);
	ck_assert_str_eq(i.peer_subject, subject);
	broker_tls_free(t);
	peer_stop(&p);
	ck_assert_int_eq(fd_count(), fds);
}

START_TEST(wrong_host_name)
{
	expect_cert_failure("wrong", false, pki("ca.pem"), BROKER_TLS_HOSTNAME_MISMATCH,
			    BROKER_TLS_PROBLEM_HOSTNAME, "CN=wrong.example,O=socket-broker tests");
}
END_TEST

START_TEST(expired_certificate)
{
	expect_cert_failure("expired", true, pki("ca.pem"), BROKER_TLS_CERTIFICATE_EXPIRED,
			    BROKER_TLS_PROBLEM_EXPIRED, SUBJECT);
}
END_TEST

START_TEST(self_signed_untrusted)
{
	expect_cert_failure("selfsigned", false, pki("ca.pem"), BROKER_TLS_CERTIFICATE_UNTRUSTED,
			    BROKER_TLS_PROBLEM_UNTRUSTED, "CN=localhost,O=nobody trusts me");
}
END_TEST

START_TEST(system_store_does_not_know_our_ca)
{
	expect_cert_failure("server", true, NULL, BROKER_TLS_CERTIFICATE_UNTRUSTED,
			    BROKER_TLS_PROBLEM_UNTRUSTED, SUBJECT);
}
END_TEST

START_TEST(ignorable_problems)
{
	int fds = fd_count();
	struct peer p;
	gnutls_serv(&p, "selfsigned", NULL, "-a");

	/* Tolerating the wrong problem changes nothing. */
	broker_tls *t = tls_handle(BROKER_TLS_LEVEL_TLS, pki("ca.pem"));
	ck_assert_int_eq(broker_tls_set_ignorable(t, BROKER_TLS_PROBLEM_EXPIRED | BROKER_TLS_PROBLEM_HOSTNAME), 0);
	expect_failure(t, broker_tls_connect(t, "localhost", service(p.port)), BROKER_TLS_CERTIFICATE_UNTRUSTED);
	broker_tls_free(t);

	/* Tolerating it: encrypted, but not verified, and the info says so. */
	t = tls_handle(BROKER_TLS_LEVEL_TLS, pki("ca.pem"));
	ck_assert_int_eq(broker_tls_set_ignorable(t, BROKER_TLS_PROBLEM_UNTRUSTED), 0);
	ck_assert_int_eq(broker_tls_connect(t, "localhost", service(p.port)), 0);
	broker_tls_info i;
	ck_assert_int_eq(broker_tls_get_info(t, &i), 0);
	ck_assert(i.encrypted);
	ck_assert(!i.peer_verified);
	ck_assert_uint_eq(i.cert_problems, BROKER_TLS_PROBLEM_UNTRUSTED);
	ck_assert_uint_eq(i.version, 0x0304);
	ck_assert_str_ne(i.cipher, "NULL");
	ck_assert_str_eq(i.peer_subject, "CN=localhost,O=nobody trusts me");
	exchange(t, "still encrypted\n", "still encrypted\n");
	broker_tls_free(t);
	peer_stop(&p);
	ck_assert_int_eq(fd_count(), fds);
}
END_TEST

START_TEST(tls13_against_tls12_server)
{
	int fds = fd_count(), r;
	struct peer p;
	openssl_server(&p, "server", "-tls1_2", NULL);
	broker_tls *t = dial(BROKER_TLS_LEVEL_TLS13, "localhost", p.port, pki("ca.pem"), NULL, &r);
	expect_failure(t, r, BROKER_TLS_PROTOCOL_NEGOTIATION_FAILED);
	broker_tls_free(t);
	peer_stop(&p);

	gnutls_serv(&p, "server", "--priority=NORMAL:-VERS-ALL:+VERS-TLS1.2", "-a");
	t = dial(BROKER_TLS_LEVEL_TLS13, "localhost", p.port, pki("ca.pem"), NULL, &r);
	expect_failure(t, r, BROKER_TLS_PROTOCOL_NEGOTIATION_FAILED);
	broker_tls_free(t);
	peer_stop(&p);
	ck_assert_int_eq(fd_count(), fds);
}
END_TEST

/* A server that offers nothing but the NULL cipher gets no connection. */
START_TEST(null_cipher_never_accepted)
{
	int fds = fd_count(), r;
	struct peer p;
	gnutls_serv(&p, "server", "--priority=NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+NULL:+SHA1", "-a");
	broker_tls *t = dial(BROKER_TLS_LEVEL_TLS, "localhost", p.port, pki("ca.pem"), NULL, &r);
	expect_failure(t, r, BROKER_TLS_PROTOCOL_NEGOTIATION_FAILED);
	broker_tls_free(t);
	peer_stop(&p);
	ck_assert_int_eq(fd_count(), fds);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tls-peers");
	TCase *tc = tcase_create("peers");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, tls_good_gnutls_serv);
	tcase_add_test(tc, tls_good_openssl_tls12);
	tcase_add_test(tc, tls13_good_openssl);
	tcase_add_test(tc, wrong_host_name);
	tcase_add_test(tc, expired_certificate);
	tcase_add_test(tc, self_signed_untrusted);
	tcase_add_test(tc, system_store_does_not_know_our_ca);
	tcase_add_test(tc, ignorable_problems);
	tcase_add_test(tc, tls13_against_tls12_server);
	tcase_add_test(tc, null_cipher_never_accepted);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(suite());
}
