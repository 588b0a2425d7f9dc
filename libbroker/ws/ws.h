/* SPDX-License-Identifier: MIT */
/* libbroker-ws internals shared by its source files (not installed). */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <wslay/wslay.h>

#include <socket-broker/broker-ws.h>

/* ---- parse.c: the HTTP/1.x response head, strict and bounded. ---------- */

#define WS_MAX_HEAD 8192
#define WS_MAX_HEADERS 64

struct ws_field {
	const char *name, *value;   /* into the head, not NUL-terminated */
	size_t name_len, value_len; /* value without surrounding blanks */
};

struct ws_response {
	int minor;                  /* HTTP/1.minor */
	int status;                 /* 100..599 */
	size_t n_fields;
	struct ws_field fields[WS_MAX_HEADERS];
};

/* Length of the head (through the empty line) at the start of buf[0..len),
 * 0 if it is not complete yet, -EMSGSIZE if it is longer than WS_MAX_HEAD. */
ssize_t ws_head_length(const char *buf, size_t len);
/* Parse a whole head (ws_head_length() bytes).  0, or -EPROTO with a
 * reason in *ret_why. */
int ws_parse_response(const char *head, size_t len, struct ws_response *ret, const char **ret_why);
/* The fields named name (case-insensitive): how many, and the first. */
size_t ws_field_count(const struct ws_response *r, const char *name, const struct ws_field **ret_first);
/* Whether the comma-separated value holds token (case-insensitive). */
bool ws_value_has_token(const struct ws_field *f, const char *token);
/* Whether s is a non-empty HTTP token (RFC 9110 tchar). */
bool ws_is_token(const char *s);

/* ---- handshake.c ------------------------------------------------------- */

#define WS_KEY_LEN 24      /* base64 of 16 bytes */
#define WS_ACCEPT_LEN 28   /* base64 of a SHA-1 */

/* What checking a handshake answer found. */
struct ws_verdict {
	int err;                    /* 0, -EPROTONOSUPPORT, -EACCES, -EPROTO */
	const char *why;            /* for the detail */
	int http_status;
	char protocol[128];         /* chosen */
	char server_protocol[128];  /* named by the server on a refusal */
};

/* base64(SHA-1(key GUID)) into accept[WS_ACCEPT_LEN + 1]. */
void ws_accept_for(const char *key, char *accept);
/* Check the server's answer to our upgrade with key, offering protocols. */
void ws_check_upgrade(const struct ws_response *r, const char *key, char *const *protocols,
		      size_t n_protocols, struct ws_verdict *ret);
/* "Basic " base64(user ":" password), malloc'd; NULL on -ENOMEM. */
char *ws_basic_auth(const char *user, const char *password);

/* ---- the handle -------------------------------------------------------- */

struct ws_inmsg {
	struct ws_inmsg *next;
	uint8_t type;
	size_t len, off;
	uint8_t data[];
};

struct ws_tls;   /* tls.c: libbroker-tls, loaded on demand */

struct broker_ws {
	enum broker_ws_mode mode;
	bool used, nonblocking, holdable;
	int connect_ms, io_ms;
	uint64_t deadline_usec;          /* of the connect; 0: none */
	char **protocols;
	size_t n_protocols;
	char *user, *password;
	unsigned cred_flags;
	char *proxy_host, *proxy_service, *proxy_user, *proxy_password;
	char *ca_file;

	int fd;                          /* the stream (TCP, the keeper's, or under TLS); -1 */
	struct ws_tls *tls;              /* TLS in this process, or NULL */
	wslay_event_context_ptr ctx;

	/* Exact reading (frames.c): how much of the current frame is left. */
	unsigned rphase;                 /* 0 header, 1 extended length and mask, 2 payload */
	uint8_t hdr[14];
	size_t hdr_have, hdr_need;
	uint64_t payload_left;
	bool in_message;                 /* a fragmented data message is partly read */
	bool would_block, eof, ended;
	int io_error;
	struct ws_inmsg *in_head, **in_tail;
	short events;
	/* A frame's pieces (wslay sends header and payload apart) go out in one
	 * write, or Nagle holds the second behind the first's ACK. */
	uint8_t obuf[4096];
	size_t olen;

	broker_ws_info info;
	char protocol[128], server_protocol[128];

	enum broker_tls_status status;
	char detail[256];
};

/* handle.c: record a failure (status, detail; the socket is closed) and
 * return err; record success. */
int ws_fail(broker_ws *w, enum broker_tls_status status, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void ws_close_transport(broker_ws *w);
enum broker_tls_status ws_status_from_errno(int err);
/* The connect deadline (0: none), and what is left of it in ms (-1: none). */
int ws_ms_left(const broker_ws *w, uint64_t deadline);
uint64_t ws_deadline(int ms);

/* io.c: the transport.  read/write do not wait; wait waits for events. */
ssize_t ws_io_read(broker_ws *w, void *buf, size_t len);
ssize_t ws_io_write(broker_ws *w, const void *buf, size_t len);
int ws_io_wait(broker_ws *w, short events, uint64_t deadline);
int ws_io_write_all(broker_ws *w, const void *buf, size_t len, uint64_t deadline);
/* Read an HTTP head byte by byte (never past its end) into buf[WS_MAX_HEAD]. */
ssize_t ws_io_read_head(broker_ws *w, char *buf, uint64_t deadline);
/* A TCP connection to host:service within deadline: the fd, or ws_fail(). */
int ws_tcp_connect(broker_ws *w, const char *host, const char *service, uint64_t deadline);

/* proxy.c: CONNECT host:port through the handle's proxy on fd. */
int ws_proxy_connect(broker_ws *w, int fd, const char *host, const char *port, uint64_t deadline);

/* tls.c */
int ws_tls_start(broker_ws *w, const char *host, const char *port, int proxied_fd);
ssize_t ws_tls_read(struct ws_tls *t, void *buf, size_t len);
ssize_t ws_tls_write(struct ws_tls *t, const void *buf, size_t len);
int ws_tls_fd(const struct ws_tls *t);
short ws_tls_events(const struct ws_tls *t);
void ws_tls_free(struct ws_tls *t);

/* frames.c */
int ws_frames_start(broker_ws *w);
void ws_frames_free(broker_ws *w);
