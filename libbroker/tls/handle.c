/* SPDX-License-Identifier: MIT */
/* The handle: creation, settings, credentials, and what it reports. */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tls.h"
#include "../proto.h"
#include "../util.h"

int broker_tls_new(enum broker_tls_level level, broker_tls **ret)
{
	if (!ret || (level != BROKER_TLS_LEVEL_PLAIN && level != BROKER_TLS_LEVEL_TLS &&
		     level != BROKER_TLS_LEVEL_TLS13))
		return -EINVAL;
	broker_tls *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->level = level;
	t->fd = -1;
	t->keeper_fd = -1;
	t->connect_ms = 30000;
	t->io_ms = -1;
	*ret = t;
	return 0;
}

broker_tls *broker_tls_free(broker_tls *t)
{
	if (!t)
		return NULL;
	if (t->session_active && t->established && t->fd >= 0)
		gnutls_bye(t->session, GNUTLS_SHUT_WR);   /* non-blocking socket: one try */
	bt_resolver_cancel(t);
	bt_session_end(t);
	bt_close_socket(t);
	bt_keeper_free(t);
	if (t->session)
		gnutls_deinit(t->session);
	if (t->cred)
		gnutls_certificate_free_credentials(t->cred);
	if (t->addrs)
		freeaddrinfo(t->addrs);
	free(t->verify_name);
	free(t->ca_file);
	free(t->peer_subject);
	free(t->description);
	free(t);
	return NULL;
}

static int settable(const broker_tls *t)
{
	return !t ? -EINVAL : t->phase != BT_IDLE ? -EBUSY : 0;
}

static void set_detail(broker_tls *t, const char *what, const char *why)
{
	snprintf(t->detail, sizeof(t->detail), "%s: %s", what, why);
}

int broker_tls_set_ca_file(broker_tls *t, const char *path)
{
	int r = settable(t);
	if (r < 0)
		return r;
	if (path) {
		if (access(path, R_OK) < 0)
			return -errno;
		/* Load it once now, so a file without certificates is reported here. */
		gnutls_certificate_credentials_t probe;
		if (gnutls_certificate_allocate_credentials(&probe) < 0)
			return -ENOMEM;
		int n = gnutls_certificate_set_x509_trust_file(probe, path, GNUTLS_X509_FMT_PEM);
		gnutls_certificate_free_credentials(probe);
		if (n <= 0) {
			set_detail(t, path, n < 0 ? gnutls_strerror(n) : "no certificate in it");
			return -EBADMSG;
		}
	}
	char *copy = path ? strdup(path) : NULL;
	if (path && !copy)
		return -ENOMEM;
	free(t->ca_file);
	t->ca_file = copy;
	return 0;
}

int bt_credentials(broker_tls *t)
{
	if (!t->cred && gnutls_certificate_allocate_credentials(&t->cred) < 0)
		return -ENOMEM;
	return 0;
}

/* "pkcs11:...", "tpmkey:...": a scheme before any '/'. */
static bool is_uri(const char *s)
{
	const char *p = s;
	while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
		p++;
	return p != s && *p == ':';
}

static int check_source(broker_tls *t, const char *what)
{
	if (is_uri(what)) {
		if (!gnutls_url_is_supported(what)) {
			set_detail(t, what, "GnuTLS supports no such URI here");
			return -EOPNOTSUPP;
		}
		return 0;
	}
	return access(what, R_OK) < 0 ? -errno : 0;
}

static int key_error(int gerr)
{
	switch (gerr) {
	case GNUTLS_E_FILE_ERROR:
		return -ENOENT;
	case GNUTLS_E_PKCS11_REQUESTED_OBJECT_NOT_AVAILBLE:
	case GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE:
	case GNUTLS_E_PKCS11_ERROR:
	case GNUTLS_E_PKCS11_LOAD_ERROR:
	case GNUTLS_E_PKCS11_TOKEN_ERROR:
	case GNUTLS_E_PKCS11_SLOT_ERROR:
	case GNUTLS_E_PKCS11_PIN_ERROR:
	case GNUTLS_E_PKCS11_USER_ERROR:
	case GNUTLS_E_CERTIFICATE_KEY_MISMATCH:
		return -ENOKEY;
	case GNUTLS_E_PARSING_ERROR:
	case GNUTLS_E_INVALID_REQUEST:
		return -EINVAL;
	case GNUTLS_E_MEMORY_ERROR:
		return -ENOMEM;
	default:
		return -EBADMSG;
	}
}

int broker_tls_set_client_cert(broker_tls *t, const char *cert, const char *key)
{
	int r = settable(t);
	if (r < 0)
		return r;
	if (!cert || !*cert)
		return -EINVAL;
	if (t->client_cert_set)
		return -EALREADY;
	key = key && *key ? key : cert;
	if ((r = check_source(t, cert)) < 0 || (r = check_source(t, key)) < 0 || (r = bt_credentials(t)) < 0)
		return r;
	int g = gnutls_certificate_set_x509_key_file2(t->cred, cert, key, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (g < 0) {
		set_detail(t, cert, gnutls_strerror(g));
		return key_error(g);
	}
	/* As given, for a holdable connection's keeper, which loads them again. */
	t->client_cert = is_uri(cert) ? strdup(cert) : realpath(cert, NULL);
	t->client_key = is_uri(key) ? strdup(key) : realpath(key, NULL);
	if (!t->client_cert || !t->client_key)
		return -ENOMEM;
	t->client_cert_set = true;
	return 0;
}

int broker_tls_set_ignorable(broker_tls *t, unsigned problems)
{
	int r = settable(t);
	if (r < 0)
		return r;
	if (problems & ~(unsigned)(BROKER_TLS_PROBLEM_UNTRUSTED | BROKER_TLS_PROBLEM_EXPIRED |
				   BROKER_TLS_PROBLEM_HOSTNAME))
		return -EINVAL;
	t->ignorable = problems;
	return 0;
}

int broker_tls_set_timeouts(broker_tls *t, int connect_ms, int io_ms)
{
	int r = settable(t);
	if (r < 0)
		return r;
	t->connect_ms = connect_ms < 0 ? -1 : connect_ms;
	t->io_ms = io_ms < 0 ? -1 : io_ms;
	return 0;
}

int broker_tls_set_nonblocking(broker_tls *t, bool nonblocking)
{
	if (!t)
		return -EINVAL;
	t->nonblocking = nonblocking;
	return 0;
}

int broker_tls_get_fd(const broker_tls *t)
{
	if (!t)
		return -EINVAL;
	if (t->phase == BT_RESOLVING && t->resolver)
		return bt_resolver_fd(t->resolver);
	if (t->phase == BT_KEEPER)
		return t->keeper_fd;
	return t->fd >= 0 ? t->fd : -ENOTCONN;
}

int broker_tls_get_events(const broker_tls *t)
{
	if (!t)
		return -EINVAL;
	switch (t->phase) {
	case BT_CONNECTING:
		return POLLOUT;
	case BT_HANDSHAKE:
		return gnutls_record_get_direction(t->session) ? POLLOUT : POLLIN;
	case BT_OPEN:
		return t->io_events ? t->io_events : POLLIN;
	default:
		return POLLIN;
	}
}

int broker_tls_get_timeout(const broker_tls *t)
{
	if (!t || !t->deadline_usec)
		return -1;
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	return now >= t->deadline_usec ? 0 : (int)((t->deadline_usec - now + 999) / 1000);
}

enum broker_tls_status broker_tls_get_status(const broker_tls *t)
{
	return t ? t->status : BROKER_TLS_UNKNOWN;
}

const char *broker_tls_get_detail(const broker_tls *t)
{
	return t ? t->detail : "";
}

int broker_tls_get_info(const broker_tls *t, broker_tls_info *ret)
{
	if (!t || !ret)
		return -EINVAL;
	broker_tls_info info = {
		.level = t->level,
		.encrypted = t->established,
		.protocol = "none",
		.cipher = "none",
		.description = t->description ? t->description : "",
		.peer_verified = t->established && t->verify_ran && t->cert_problems == 0,
		.cert_problems = t->cert_problems,
		.peer_subject = t->peer_subject ? t->peer_subject : "",
		.verify_name = t->verify_name && t->level != BROKER_TLS_LEVEL_PLAIN ? t->verify_name : "",
		.addresses_tried = t->addresses_tried,
		.peer_address = t->peer_address,
	};
	if (t->relayed || t->holdable) {
		/* What the keeper negotiated, from its reply. */
		info.version = t->k_version;
		info.protocol = t->k_protocol && *t->k_protocol ? t->k_protocol : "none";
		info.cipher = t->k_cipher && *t->k_cipher && t->established ? t->k_cipher : "none";
		info.encrypted = t->established && (t->k_flags & BP_KEEPER_ENCRYPTED);
		info.peer_verified = info.encrypted && (t->k_flags & BP_KEEPER_VERIFIED);
		info.client_cert_requested = t->k_flags & BP_KEEPER_CERT_REQUESTED;
		info.client_cert_sent = t->k_flags & BP_KEEPER_CERT_SENT;
		*ret = info;
		return 0;
	}
	/* The version is known once the certificate has been seen. */
	if (t->session && (t->established || t->verify_ran)) {
		gnutls_protocol_t v = gnutls_protocol_get_version(t->session);
		info.version = v == GNUTLS_TLS1_3 ? 0x0304 : v == GNUTLS_TLS1_2 ? 0x0303 : 0;
		if (info.version)
			info.protocol = gnutls_protocol_get_name(v);
	}
	if (t->established)
		info.cipher = gnutls_cipher_get_name(gnutls_cipher_get(t->session));
	if (t->session) {
		info.client_cert_requested = gnutls_certificate_client_get_request_status(t->session) != 0;
		info.client_cert_sent = gnutls_certificate_get_ours(t->session) != NULL;
	}
	*ret = info;
	return 0;
}
