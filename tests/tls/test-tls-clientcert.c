/* SPDX-License-Identifier: MIT */
/* Client certificates: sent only when the server asks, required by servers
 * at TLS 1.3 and 1.2, refused when from an unknown CA; PEM files and
 * PKCS#11 URIs. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peer.h"

#define SUBJECT "CN=localhost,O=socket-broker tests"
#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* openssl s_server -rev that insists on a client certificate from our CA. */
static void openssl_requiring(struct peer *p, const char *version)
{
	peer_start(p, ARGV("openssl", "s_server", "-accept", "@PORT@", "-cert", pki("server.pem"),
			   "-key", pki("server.key"), "-quiet", "-rev", version, "-Verify", "1",
			   "-CAfile", pki("ca.pem")));
}

static void gnutls_serv(struct peer *p, const char *priority, const char *client_mode)
{
	char cert[200], key[200], ca[200];
	snprintf(cert, sizeof(cert), "--x509certfile=%s", pki("server.pem"));
	snprintf(key, sizeof(key), "--x509keyfile=%s", pki("server.key"));
	snprintf(ca, sizeof(ca), "--x509cafile=%s", pki("ca.pem"));
	peer_start(p, ARGV("gnutls-serv", "--echo", "--port=@PORT@", cert, key, ca, priority, client_mode));
}

static void expect_client_cert(broker_tls *t, bool requested, bool sent)
{
	broker_tls_info i;
	ck_assert_int_eq(broker_tls_get_info(t, &i), 0);
	ck_assert(i.client_cert_requested == requested);
	ck_assert(i.client_cert_sent == sent);
}

START_TEST(required_tls13_with_certificate)
{
	int fds = fd_count(), r;
	struct peer p;
	openssl_requiring(&p, "-tls1_3");
	broker_tls *t = dial(BROKER_TLS_LEVEL_TLS13, "localhost", p.port, pki("ca.pem"), "client", &r);
	ck_assert_msg(r == 0, "%s", broker_tls_get_detail(t));
	expect_tls(t, 0x0304, SUBJECT);
	expect_client_cert(t, true, true);
	exchange(t, "certified\n", "deifitrec\n");   /* the server took it */
	broker_tls_free(t);
	peer_stop(&p);
	ck_assert_int_eq(fd_count(), fds);
}
END_TEST

/* TLS 1.3: the client's handshake ends before the server has judged the
 * (empty) certificate, so connect succeeds and the first read carries the
 * server's verdict. */
START_TEST(required_tls13_without_certificate)
{
	int fds = fd_count(), r;
	struct peer p;
	openssl_requiring(&p, "-tls1_3");
	broker_tls *t = dial(BROKER_TLS_LEVEL_TLS, "localhost", p.port, pki("ca.pem"), NULL, &r);
	ck_assert_msg(r == 0, "%s", broker_tls_get_detail(t));
	expect_tls(t, 0x0304, SUBJECT);
	expect_client_cert(t, true, false);   /* the warning sign apps can check */
	char buf[16];
	ssize_t n = broker_tls_read(t, buf, sizeof(buf));
	ck_assert_msg(broker_tls_get_status(t) == BROKER_TLS_CLIENT_CERTIFICATE_REQUIRED, "%s: %s",
		      broker_tls_status_name(broker_tls_get_status(t)), broker_tls_get_detail(t));
	ck_assert_int_eq(n, -ENOKEY);
	ck_assert_int_eq(broker_tls_get_fd(t), -ENOTCONN);
	broker_tls_free(t);
	peer_stop(&p);
	ck_assert_int_eq(fd_count(), fds);
}
END_TEST

/* TLS 1.2: the server refuses within the handshake. */
START_TEST(required_tls12_without_certificate)
{
	int fds = fd_count(), r;
	struct peer p;
	gnutls_serv(&p, "--priority=NORMAL:-VERS-ALL:+VERS-TLS1.2", "--require-client-cert");
	broker_tls *t = dial(BROKER_TLS_LEVEL_TLS, "localhost", p.port, pki("ca.pem"), NULL, &r);
	expect_failure(t, r, BROKER_TLS_CLIENT_CERTIFICATE_REQUIRED);
	expect_client_cert(t, true, false);
	broker_tls_free(t);
	peer_stop(&p);

	openssl_requiring(&p, "-tls1_2");
	t = dial(BROKER_TLS_LEVEL_TLS, "localhost", p.port, pki("ca.pem"), NULL, &r);
	expect_failure(t, r, BROKER_TLS_CLIENT_CERTIFICATE_REQUIRED);
	broker_tls_free(t);
	peer_stop(&p);
	ck_assert_int_eq(fd_count(), fds);
}
END_TEST

START_TEST(required_tls12_with_certificate)
{
	int fds = fd_count(), r;
	struct peer p;
	gnutls_serv(&p, "--priority=NORMAL:-VERS-ALL:+VERS-TLS1.2", "--require-client-cert");
	broker_tls *t = dial(BROKER_TLS_LEVEL_TLS, "localhost", p.port, pki("ca.pem"), "client", &r);
	ck_assert_msg(r == 0, "%s", broker_tls_get_detail(t));
	expect_tls(t, 0x0303, SUBJECT);
	expect_client_cert(t, true, true);
	exchange(t, "echo me\n", "echo me\n");
	broker_tls_free(t);
	peer_stop(&p);
	ck_assert_int_eq(fd_count(), fds);
}
END_TEST

/* A certificate from a CA the server does not trust.  GnuTLS does not even
 * send it: the server's request lists the CAs it accepts. */
START_TEST(certificate_refused_by_server)
{
	int fds = fd_count(), r;
	struct peer p;
	openssl_requiring(&p, "-tls1_2");
	broker_tls *t = dial(BROKER_TLS_LEVEL_TLS, "localhost", p.port, pki("ca.pem"), "stranger", &r);
	expect_failure(t, r, BROKER_TLS_CLIENT_CERTIFICATE_REQUIRED);
	expect_client_cert(t, true, false);
	broker_tls_free(t);
	peer_stop(&p);
	ck_assert_int_eq(fd_count(), fds);
}
END_TEST

/* Set before the handshake, used only if the server asks. */
START_TEST(not_sent_unless_asked)
{
	int fds = fd_count(), r;
	struct peer p;
	gnutls_serv(&p, "--priority=NORMAL", "--disable-client-cert");
	broker_tls *t = dial(BROKER_TLS_LEVEL_TLS, "localhost", p.port, pki("ca.pem"), "client", &r);
	ck_assert_msg(r == 0, "%s", broker_tls_get_detail(t));
	expect_tls(t, 0x0304, SUBJECT);
	expect_client_cert(t, false, false);
	exchange(t, "x\n", "x\n");
	broker_tls_free(t);
	peer_stop(&p);
	ck_assert_int_eq(fd_count(), fds);
}
END_TEST

START_TEST(bad_certificate_sources)
{
	int fds = fd_count();
	broker_tls *t;
	ck_assert_int_eq(broker_tls_new(BROKER_TLS_LEVEL_TLS, &t), 0);
	ck_assert_int_eq(broker_tls_set_client_cert(t, "/nonexistent/client.pem", NULL), -ENOENT);
	/* A CA file is not a certificate with its key. */
	ck_assert_int_eq(broker_tls_set_client_cert(t, pki("ca.pem"), pki("client.key")), -ENOKEY);
	ck_assert_int_eq(broker_tls_set_client_cert(t, pki("ca.tmpl"), pki("client.key")), -EBADMSG);
	ck_assert_int_eq(broker_tls_set_client_cert(t, "nosuchscheme:object=x", NULL), -EOPNOTSUPP);
	ck_assert_int_eq(broker_tls_set_ca_file(t, pki("ca.tmpl")), -EBADMSG);
	ck_assert_int_eq(broker_tls_set_ca_file(t, "/nonexistent/ca.pem"), -ENOENT);
	/* The failures left nothing half set: a good one still goes in, once. */
	ck_assert_int_eq(broker_tls_set_client_cert(t, pki("client.pem"), pki("client.key")), 0);
	ck_assert_int_eq(broker_tls_set_client_cert(t, pki("client.pem"), pki("client.key")), -EALREADY);
	broker_tls_free(t);
	ck_assert_int_eq(fd_count(), fds);
}
END_TEST

/* A PKCS#11 URI is understood (GnuTLS is built with p11-kit), and one that
 * no installed module provides is refused at once with -ENOKEY. */
START_TEST(pkcs11_uri_without_token)
{
	broker_tls *t;
	ck_assert_int_eq(broker_tls_new(BROKER_TLS_LEVEL_TLS, &t), 0);
	int r = broker_tls_set_client_cert(t, "pkcs11:token=no-such-token;object=client;type=cert",
					   "pkcs11:token=no-such-token;object=client;type=private");
	ck_assert_msg(r == -ENOKEY, "%d: %s", r, broker_tls_get_detail(t));
	ck_assert_ptr_nonnull(strstr(broker_tls_get_detail(t), "pkcs11:token=no-such-token"));
	broker_tls_free(t);
}
END_TEST

/* A real PKCS#11 token: SoftHSM through p11-kit, holding the client
 * certificate and key; the PIN rides in the URI. */
START_TEST(pkcs11_token)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "sh '%s' '%s'", getenv("TLS_MAKE_TOKEN"), pki(""));
	ck_assert_msg(system(cmd) == 0, "%s failed (is softhsm2 installed?)", cmd);
	ck_assert_int_eq(setenv("SOFTHSM2_CONF", pki("softhsm2.conf"), 1), 0);
	int r;
	struct peer p;
	openssl_requiring(&p, "-tls1_3");
	broker_tls *t = tls_handle(BROKER_TLS_LEVEL_TLS13, pki("ca.pem"));
	r = broker_tls_set_client_cert(t, "pkcs11:token=broker-test;object=client;type=cert",
				       "pkcs11:token=broker-test;object=client;type=private;pin-value=1234");
	ck_assert_msg(r == 0, "%d: %s", r, broker_tls_get_detail(t));
	r = broker_tls_connect(t, "localhost", service(p.port));
	ck_assert_msg(r == 0, "%s", broker_tls_get_detail(t));
	expect_tls(t, 0x0304, SUBJECT);
	expect_client_cert(t, true, true);
	exchange(t, "from a token\n", "nekot a morf\n");   /* the server verified it */
	broker_tls_free(t);
	peer_stop(&p);
	int fds = fd_count();   /* p11-kit keeps the module's files open from here on */

	/* The wrong PIN: the token will not sign, which shows at set time. */
	t = tls_handle(BROKER_TLS_LEVEL_TLS13, NULL);
	r = broker_tls_set_client_cert(t, "pkcs11:token=broker-test;object=client;type=cert",
				       "pkcs11:token=broker-test;object=client;type=private;pin-value=0000");
	ck_assert_msg(r == -ENOKEY, "%d: %s", r, broker_tls_get_detail(t));
	broker_tls_free(t);
	ck_assert_int_eq(fd_count(), fds);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tls-clientcert");
	TCase *tc = tcase_create("clientcert");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, required_tls13_with_certificate);
	tcase_add_test(tc, required_tls13_without_certificate);
	tcase_add_test(tc, required_tls12_without_certificate);
	tcase_add_test(tc, required_tls12_with_certificate);
	tcase_add_test(tc, certificate_refused_by_server);
	tcase_add_test(tc, not_sent_unless_asked);
	tcase_add_test(tc, bad_certificate_sources);
	tcase_add_test(tc, pkcs11_uri_without_token);
	tcase_add_test(tc, pkcs11_token);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(suite());
}
