/* SPDX-License-Identifier: MIT */
/* The GnuTLS session: priorities, transport, certificate verification,
 * the handshake, and how GnuTLS errors become statuses. */
#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/x509.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "tls.h"
#include "../util.h"

/* GnuTLS's NORMAL set with the versions each level allows; "-NULL" removes
 * the NULL cipher even if NORMAL ever included it (checked again after the
 * handshake). */
static const char *priorities(enum broker_tls_level level)
{
	return level == BROKER_TLS_LEVEL_TLS13 ? "NORMAL:-VERS-ALL:+VERS-TLS1.3:-NULL"
					       : "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-NULL";
}

/* Our own transport functions, so that the errno behind a push or pull
 * error is kept, and so that sending never raises SIGPIPE. */
static ssize_t pull(gnutls_transport_ptr_t ptr, void *buf, size_t len)
{
	broker_tls *t = ptr;
	ssize_t n;
	do
		n = recv(t->fd, buf, len, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		t->transport_errno = errno;
		gnutls_transport_set_errno(t->session, errno);
	} else if (n == 0) {
		t->transport_eof = true;
	}
	return n;
}

static ssize_t vec_push(gnutls_transport_ptr_t ptr, const giovec_t *iov, int iovcnt)
{
	broker_tls *t = ptr;
	/* giovec_t has struct iovec's layout. */
	struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
	ssize_t n;
	do
		n = sendmsg(t->fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		t->transport_errno = errno;
		gnutls_transport_set_errno(t->session, errno);
	}
	return n;
}

static int pull_timeout(gnutls_transport_ptr_t ptr, unsigned ms)
{
	broker_tls *t = ptr;
	struct pollfd p = { .fd = t->fd, .events = POLLIN };
	int n = poll(&p, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
	if (n < 0)
		gnutls_transport_set_errno(t->session, errno);
	return n;
}

static void record_subject(broker_tls *t)
{
	unsigned n = 0;
	const gnutls_datum_t *certs = gnutls_certificate_get_peers(t->session, &n);
	gnutls_x509_crt_t crt;
	if (!certs || n == 0 || gnutls_x509_crt_init(&crt) < 0)
		return;
	gnutls_datum_t dn = { 0 };
	if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) >= 0 &&
	    gnutls_x509_crt_get_dn3(crt, &dn, 0) >= 0) {
		free(t->peer_subject);
		t->peer_subject = strndup((const char *)dn.data, dn.size);
		gnutls_free(dn.data);
	}
	gnutls_x509_crt_deinit(crt);
}

/* Called by GnuTLS once the server's certificate has arrived; a non-zero
 * return ends the handshake with GNUTLS_E_CERTIFICATE_ERROR. */
static int verify_peer(gnutls_session_t session)
{
	broker_tls *t = gnutls_session_get_ptr(session);
	t->verify_ran = true;
	record_subject(t);

	unsigned status = 0;
	int r = gnutls_certificate_verify_peers3(session, t->verify_name, &status);
	if (r < 0) {
		t->cert_problems = BROKER_TLS_PROBLEM_UNTRUSTED;
		snprintf(t->verify_text, sizeof(t->verify_text), "%s", gnutls_strerror(r));
		return r;
	}
	unsigned problems = 0;
	if (status & (GNUTLS_CERT_EXPIRED | GNUTLS_CERT_NOT_ACTIVATED))
		problems |= BROKER_TLS_PROBLEM_EXPIRED;
	if (status & GNUTLS_CERT_UNEXPECTED_OWNER)
		problems |= BROKER_TLS_PROBLEM_HOSTNAME;
	unsigned other = status & ~(unsigned)(GNUTLS_CERT_INVALID | GNUTLS_CERT_EXPIRED |
					      GNUTLS_CERT_NOT_ACTIVATED | GNUTLS_CERT_UNEXPECTED_OWNER);
	if (other || ((status & GNUTLS_CERT_INVALID) && !problems))
		problems |= BROKER_TLS_PROBLEM_UNTRUSTED;
	t->cert_problems = problems;

	gnutls_datum_t text = { 0 };
	if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) >= 0) {
		snprintf(t->verify_text, sizeof(t->verify_text), "%.*s", (int)text.size, (const char *)text.data);
		gnutls_free(text.data);
	}
	return (problems & ~t->ignorable) ? GNUTLS_E_CERTIFICATE_ERROR : 0;
}

static bool is_ip_address(const char *name)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

/* The CA file if one was given, else the system trust store.  With no
 * trusted certificate at all every server is CERTIFICATE_UNTRUSTED, which
 * is the truth, so that is not an error here. */
static int load_trust(broker_tls *t)
{
	int r = bt_credentials(t);
	if (r < 0)
		return r;
	int n = t->ca_file ? gnutls_certificate_set_x509_trust_file(t->cred, t->ca_file, GNUTLS_X509_FMT_PEM)
			   : gnutls_certificate_set_x509_system_trust(t->cred);
	return n == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : 0;
}

int bt_session_start(broker_tls *t)
{
	int r = load_trust(t);
	if (r < 0)
		return bt_fail(t, BROKER_TLS_UNKNOWN, "cannot set up credentials: %s", strerror(-r));
	const char *where = NULL;
	r = gnutls_init(&t->session, GNUTLS_CLIENT);
	if (r >= 0)
		r = gnutls_priority_set_direct(t->session, priorities(t->level), &where);
	if (r >= 0)
		r = gnutls_credentials_set(t->session, GNUTLS_CRD_CERTIFICATE, t->cred);
	/* SNI carries names only, never addresses (RFC 6066). */
	if (r >= 0 && !is_ip_address(t->verify_name))
		r = gnutls_server_name_set(t->session, GNUTLS_NAME_DNS, t->verify_name, strlen(t->verify_name));
	if (r < 0)
		return bt_fail(t, BROKER_TLS_UNKNOWN, "cannot set up the TLS session: %s", gnutls_strerror(r));
	gnutls_session_set_ptr(t->session, t);
	gnutls_session_set_verify_function(t->session, verify_peer);
	gnutls_transport_set_ptr(t->session, t);
	gnutls_transport_set_pull_function(t->session, pull);
	gnutls_transport_set_vec_push_function(t->session, vec_push);
	gnutls_transport_set_pull_timeout_function(t->session, pull_timeout);
	/* Our own deadline bounds the handshake; GnuTLS must never wait in
	 * pull_timeout on its own account. */
	gnutls_handshake_set_timeout(t->session, 0);

	/* From the first handshake byte on, the stream's state is in this
	 * process: the fd must not be handed to brokerd. */
	r = broker_fd_guard(t->fd, "userspace TLS session");
	if (r < 0)
		return bt_fail(t, BROKER_TLS_UNKNOWN, "cannot mark the socket as TLS: %s", strerror(-r));
	t->guarded = true;
	t->session_active = true;
	t->phase = BT_HANDSHAKE;
	return 0;
}

void bt_session_end(broker_tls *t)
{
	t->session_active = false;
	if (t->guarded && t->fd >= 0)
		broker_fd_guard(t->fd, NULL);
	t->guarded = false;
}

int bt_handshake_step(broker_tls *t)
{
	int r;
	do
		r = gnutls_handshake(t->session);
	while (r < 0 && r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED && !gnutls_error_is_fatal(r));
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
		return -EAGAIN;
	if (r < 0)
		return bt_fail_gnutls(t, r, true);

	gnutls_cipher_algorithm_t cipher = gnutls_cipher_get(t->session);
	if (cipher == GNUTLS_CIPHER_NULL || cipher == GNUTLS_CIPHER_UNKNOWN)
		return bt_fail(t, BROKER_TLS_PROTOCOL_NEGOTIATION_FAILED, "the server chose no encryption (NULL cipher)");
	gnutls_protocol_t version = gnutls_protocol_get_version(t->session);
	if (version != GNUTLS_TLS1_3 && (version != GNUTLS_TLS1_2 || t->level == BROKER_TLS_LEVEL_TLS13))
		return bt_fail(t, BROKER_TLS_PROTOCOL_NEGOTIATION_FAILED, "the server chose %s",
			       gnutls_protocol_get_name(version));
	if (!t->verify_ran)
		return bt_fail(t, BROKER_TLS_CERTIFICATE_UNTRUSTED, "the server presented no certificate");

	char *desc = gnutls_session_get_desc(t->session);
	free(t->description);
	t->description = desc ? strdup(desc) : NULL;
	gnutls_free(desc);
	t->established = true;
	return bt_opened(t);
}

static enum broker_tls_status from_problems(unsigned problems)
{
	if (problems & BROKER_TLS_PROBLEM_UNTRUSTED)
		return BROKER_TLS_CERTIFICATE_UNTRUSTED;
	if (problems & BROKER_TLS_PROBLEM_EXPIRED)
		return BROKER_TLS_CERTIFICATE_EXPIRED;
	if (problems & BROKER_TLS_PROBLEM_HOSTNAME)
		return BROKER_TLS_HOSTNAME_MISMATCH;
	return BROKER_TLS_CERTIFICATE_UNTRUSTED;
}

static enum broker_tls_status from_alert(broker_tls *t, gnutls_alert_description_t alert)
{
	switch (alert) {
	case GNUTLS_A_CERTIFICATE_REQUIRED:
		return BROKER_TLS_CLIENT_CERTIFICATE_REQUIRED;
	case GNUTLS_A_PROTOCOL_VERSION:
	case GNUTLS_A_INSUFFICIENT_SECURITY:
	case GNUTLS_A_NO_APPLICATION_PROTOCOL:
		return BROKER_TLS_PROTOCOL_NEGOTIATION_FAILED;
	default:
		break;
	}
	/* Once the server has asked for our certificate, version and cipher
	 * are settled: what it objects to is what we sent (servers differ in
	 * the alert: GnuTLS says "decode error" for a missing one, OpenSSL
	 * "handshake failure", others "bad certificate" or "unknown CA"). */
	if (gnutls_certificate_client_get_request_status(t->session))
		return BROKER_TLS_CLIENT_CERTIFICATE_REQUIRED;
	switch (alert) {
	case GNUTLS_A_HANDSHAKE_FAILURE:
	case GNUTLS_A_ILLEGAL_PARAMETER:
		return BROKER_TLS_PROTOCOL_NEGOTIATION_FAILED;
	default:
		return BROKER_TLS_UNKNOWN;
	}
}

int bt_fail_gnutls(broker_tls *t, int gerr, bool handshake)
{
	switch (gerr) {
	case GNUTLS_E_PUSH_ERROR:
	case GNUTLS_E_PULL_ERROR:
		return bt_fail(t, bt_status_from_errno(t->transport_errno), "%s: %s", gnutls_strerror(gerr),
			       strerror(t->transport_errno));
	case GNUTLS_E_CERTIFICATE_ERROR:
	case GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR:
		return bt_fail(t, from_problems(t->cert_problems & ~t->ignorable), "certificate of %s: %s",
			       t->verify_name, t->verify_text);
	case GNUTLS_E_CERTIFICATE_REQUIRED:
		return bt_fail(t, BROKER_TLS_CLIENT_CERTIFICATE_REQUIRED, "%s", gnutls_strerror(gerr));
	case GNUTLS_E_FATAL_ALERT_RECEIVED: {
		gnutls_alert_description_t alert = gnutls_alert_get(t->session);
		return bt_fail(t, from_alert(t, alert), "the server sent the alert \"%s\"",
			       gnutls_alert_get_name(alert));
	}
	default:
		break;
	}
	if (t->transport_eof || gerr == GNUTLS_E_PREMATURE_TERMINATION)
		return bt_fail(t, BROKER_TLS_CONNECTION_RESET, "the peer closed the connection %s",
			       handshake ? "during the TLS handshake" : "without TLS close_notify");
	switch (gerr) {
	case GNUTLS_E_UNSUPPORTED_VERSION_PACKET:
	case GNUTLS_E_NO_CIPHER_SUITES:
	case GNUTLS_E_UNKNOWN_CIPHER_SUITE:
	case GNUTLS_E_INSUFFICIENT_SECURITY:
	case GNUTLS_E_NO_COMMON_KEY_SHARE:
	case GNUTLS_E_ECC_NO_SUPPORTED_CURVES:
	case GNUTLS_E_NO_PRIORITIES_WERE_SET:
	case GNUTLS_E_UNWANTED_ALGORITHM:
	case GNUTLS_E_UNEXPECTED_PACKET:
	case GNUTLS_E_UNEXPECTED_PACKET_LENGTH:
	case GNUTLS_E_UNEXPECTED_HANDSHAKE_PACKET:
	case GNUTLS_E_RECEIVED_ILLEGAL_PARAMETER:
		/* During the handshake these mean the two sides never agreed
		 * (or the peer does not speak TLS); later they are corruption. */
		if (handshake)
			return bt_fail(t, BROKER_TLS_PROTOCOL_NEGOTIATION_FAILED, "%s", gnutls_strerror(gerr));
		break;
	default:
		break;
	}
	return bt_fail(t, BROKER_TLS_UNKNOWN, "%s", gnutls_strerror(gerr));
}
