/* SPDX-License-Identifier: MIT */
/*
 * The socket-broker wire protocol: the one place that defines it.
 *
 * Two kinds of connection carry it, both AF_UNIX SOCK_SEQPACKET, so every
 * message is one packet:
 *   - the control connection (client -> brokerd): HELLO first, then verbs;
 *     every request gets exactly one reply (or a reply stream ended by END);
 *   - the activation connection (brokerd -> app): the app sends ACT_HELLO,
 *     brokerd sends HANDBACKs (from version 4, HANDBACK_MANYs of up to 253
 *     sockets) and a BATCH_END, the app acknowledges each socket with
 *     HANDBACK_ACK (from version 4, many at a time with ACK_MANY).
 *
 * Message layout, little-endian host order (both ends are on one machine):
 *   struct bp_header | fixed part (per type, 8-byte multiple) | fields
 * Each field is a uint32_t length followed by that many bytes.  A string
 * field carries its terminating NUL in the length and may hold no other NUL;
 * a bytes field is opaque.  Every type has exactly the number of fields its
 * descriptor says; header.size must equal the packet size; header.nfds must
 * equal the number of fds that arrived with SCM_RIGHTS.  Only HELLO has an
 * optional field (its last); the decoder's nfields says how many came.
 *
 * Errors travel as negative errno values in BP_ERROR; docs/protocol.md lists
 * which verb returns which value and why.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 2: ATTACH, the thaw counters in STATUS_REPLY.
 * 3: HELLO's optional second field, the app id: register in the hello;
 *    the bulk verbs (TRANSFER_MANY, CLAIM_MANY, RESULTS), up to 253 fds a
 *    message.  brokerd still serves version-2 clients (HELLO with one
 *    field, then REGISTER), which never send the new verbs; see
 *    docs/protocol.md.
 * 4: on the activation connection, HANDBACK_MANY and ACK_MANY: an app
 *    whose ACT_HELLO says 4 gets its sockets up to 253 a message and may
 *    acknowledge many in one.  Nothing changed on the control connection.
 *    brokerd serves versions 2 to 4 on both connections. */
#define BP_VERSION 4
#define BP_VERSION_MIN 2    /* the oldest client version brokerd serves */

#define BP_MSG_MAX   (64u * 1024u)  /* hard ceiling; brokerd may configure less */
#define BP_FIELDS_MAX 10
#define BP_FDS_MAX   253            /* SCM_MAX_FD: the kernel's limit per message; each type has its own */

struct bp_header {
	uint16_t type;
	uint16_t nfds;     /* fds attached with SCM_RIGHTS: exactly this many */
	uint32_t size;     /* whole packet, header included */
	uint32_t seq;      /* request number; a reply echoes its request's */
	uint32_t reserved; /* zero */
};

enum bp_type {
	/* client -> brokerd */
	BP_HELLO = 1,        /* fixed bp_hello; fields: client name, app id (optional, from version 3) */
	BP_REGISTER,         /* fields: app id */
	BP_TRANSFER,         /* fixed bp_transfer; fields: id, context; fd: the socket */
	BP_LIST,             /* fixed bp_list; fields: app id ("" = own app) -> INFO*, END */
	BP_SHOW,             /* fields: app id ("" = own app), id -> INFO */
	BP_CLAIM,            /* fields: id -> INFO carrying the fd */
	BP_STATUS,           /* -> STATUS_REPLY */
	BP_APPS,             /* -> APP_INFO*, END */
	BP_MONITOR,          /* -> OK, then EVENTs until the connection closes */
	BP_TRIGGER,          /* fields: app id, id (admin) -> OK */
	BP_DROP,             /* fields: app id, id (admin) -> OK */
	BP_RELOAD,           /* (admin) -> OK */
	BP_ATTACH,           /* fd: the app's end of a new activation connection -> OK */
	BP_TRANSFER_MANY,    /* fixed bp_many; fields: items (bytes: bp_transfer + id, context each);
	                        fds: one socket per item, 1..253 -> RESULTS */
	BP_CLAIM_MANY,       /* fixed bp_claim_many; fields: ids (bytes: one string field each) -> RESULTS */

	/* brokerd -> client */
	BP_OK = 64,          /* fixed bp_ok */
	BP_ERROR,            /* fixed bp_error; fields: message */
	BP_HELLO_REPLY,      /* fixed bp_hello_reply; fields: server version */
	BP_INFO,             /* fixed bp_info; fields: app, id, context, local, peer; fd: 0 or 1 (CLAIM) */
	BP_END,              /* fixed bp_end */
	BP_STATUS_REPLY,     /* fixed bp_status; fields: server version, control socket path */
	BP_APP_INFO,         /* fixed bp_app_info; fields: id, user, unit, activation, handoff, target, capabilities,
	                        processes (bytes: bp_app_proc[]) */
	BP_EVENT,            /* fixed bp_event; fields: app, id, detail */
	BP_RESULTS,          /* fixed bp_many; fields: items (bytes: bp_result + id, context, message
	                        each); fds: one per item whose bp_result.nfds is 1 (CLAIM_MANY) */

	/* activation connection */
	BP_ACT_HELLO = 96,   /* app -> brokerd; fixed bp_act_hello */
	BP_HANDBACK,         /* brokerd -> app; fixed bp_handback; fields: app, id, context; fd: the socket */
	BP_BATCH_END,        /* brokerd -> app; fixed bp_end: nothing more is pending now */
	BP_HANDBACK_ACK,     /* app -> brokerd; fixed bp_handback_ack */
	BP_HANDBACK_MANY,    /* brokerd -> app (version 4); fixed bp_many; fields: app, items (bytes:
	                        bp_handback + id, context each); fds: one per item, in order */
	BP_ACK_MANY,         /* app -> brokerd (version 4); fixed bp_many; fields: serials (bytes:
	                        count uint64_t) */

	/* the TLS keeper (libbroker/tls/keeper/) -> brokerd, on a control
	 * connection after HELLO: where a relayed stream really goes */
	BP_KEEPER = 112,     /* fixed bp_keeper; fd: the real TCP socket (register) or none (forget) -> OK */

	/* keeper connection: libbroker-tls -> the TLS keeper and back, one
	 * request and one reply per connection */
	BP_KEEPER_CONNECT = 120, /* fixed bp_keeper_connect; fields: host, service, CA file, client
	                          * cert, client key, verify name; fd: 0, or 1 (STARTTLS: the stream) */
	BP_KEEPER_REPLY,     /* fixed bp_keeper_reply; fields: detail, protocol, cipher, description,
	                      * subject, verify name, peer address; fd: the app's end of the relayed
	                      * stream on success, none on failure */
};

struct bp_hello {
	uint32_t version;
	uint32_t flags;
};

#define BP_HELLO_ADMIN 1u   /* reply flag: the peer may use admin verbs */

struct bp_hello_reply {
	uint32_t version;
	uint32_t uid;       /* the uid brokerd saw with SO_PEERCRED */
	uint32_t flags;
	uint32_t reserved;
};

struct bp_transfer {
	uint32_t keepalive_sec; /* 0 = none; listeners must use 0 */
	uint32_t flags;         /* zero */
};

#define BP_LIST_ALL 1u      /* admin: every app's sockets */

struct bp_list {
	uint32_t flags;
	uint32_t reserved;
};

struct bp_ok {
	uint32_t value;
	uint32_t reserved;
};

struct bp_error {
	int32_t error;      /* negative errno */
	uint32_t reserved;
};

struct bp_info {
	uint32_t kind;          /* enum broker_kind */
	uint32_t state;         /* enum broker_state */
	uint32_t last_reason;   /* enum broker_reason */
	uint32_t keepalive_sec;
	uint32_t owner_uid;
	int32_t family;
	int32_t sotype;
	uint32_t reserved;
	uint64_t held_since_usec;    /* CLOCK_REALTIME */
	uint64_t last_trigger_usec;  /* CLOCK_REALTIME, 0 = never */
	uint64_t serial;
};

struct bp_end {
	uint32_t count;
	uint32_t reserved;
};

struct bp_status {
	uint32_t apps;
	uint32_t held;
	uint32_t watching;
	uint32_t triggered;
	uint32_t handing_back;
	uint32_t clients;
	uint32_t running;        /* apps with a live activation */
	uint32_t pid;
	uint32_t max_held;
	uint32_t max_held_per_app;
	uint64_t uptime_usec;
	uint64_t triggers_total;
	uint64_t activations_total;
	uint64_t handbacks_total;
	uint32_t stored;         /* held sockets in the fd store; UINT32_MAX: no fd store */
	uint32_t store_lost;     /* fds the service manager was found to have dropped */
	uint32_t attached;       /* apps with an attached instance */
	uint32_t reserved;
	uint64_t thaws_total;    /* suspended instances thawed before a delivery */
	uint64_t thaws_held;     /* deliveries held because brokerd might not or may not thaw */
};

struct bp_app_info {
	uint32_t uid;
	uint32_t held;
	uint32_t max_sockets;
	uint32_t pid;          /* broker-started or attached instance, 0 = none */
	uint32_t state;        /* enum broker_app_state */
	uint32_t failures;     /* consecutive failed activations */
	uint64_t retry_usec;   /* CLOCK_REALTIME of the next retry, 0 = none */
};

/* One process of an app's instance, in APP_INFO's processes field. */
#define BP_APP_PROCS_MAX 64
struct bp_app_proc {
	uint32_t pid;
	char comm[16];         /* NUL-padded; its last byte is NUL */
};

struct bp_event {
	uint32_t event;         /* enum broker_event_type */
	uint32_t reason;        /* enum broker_reason, where it applies */
	uint32_t kind;          /* enum broker_kind, where it applies */
	int32_t error;          /* negative errno, where it applies */
	uint64_t time_usec;     /* CLOCK_REALTIME */
	uint32_t pid;
	uint32_t reserved;
};

/* TRANSFER_MANY, RESULTS, HANDBACK_MANY, ACK_MANY: how many items (or
 * serials) the list field holds. */
#define BP_RESULTS_MORE 1u  /* RESULTS: another RESULTS for this request follows */

struct bp_many {
	uint32_t count;
	uint32_t flags;         /* RESULTS: BP_RESULTS_MORE; the others: zero */
};

#define BP_CLAIM_ALL 1u     /* CLAIM_MANY: every socket the app holds; ids must be empty */

struct bp_claim_many {
	uint32_t flags;
	uint32_t reserved;
};

/* One socket's outcome in RESULTS, in the order of the request's items
 * (CLAIM_ALL: in the order brokerd took them). */
struct bp_result {
	int32_t error;          /* 0 or this socket's negative errno */
	uint32_t nfds;          /* 1: its socket is the next fd of the message */
	struct bp_info info;    /* CLAIM_MANY with error 0: what brokerd knew */
};

struct bp_act_hello {
	uint32_t version;
	uint32_t pid;
};

struct bp_handback {
	uint32_t kind;
	uint32_t reason;
	uint32_t keepalive_sec;
	uint32_t reserved;
	uint64_t held_since_usec;
	uint64_t serial;        /* echoed by HANDBACK_ACK */
};

struct bp_handback_ack {
	uint64_t serial;
};

/* ACK_MANY: at most this many serials a message. */
#define BP_ACKS_MAX 1024

/* BP_KEEPER: the keeper created the AF_UNIX stream whose app end has inode
 * ino (an end of a socketpair it made, so that end's SO_PEERCRED names the
 * keeper); with the fd, brokerd notes the facts of the TCP socket that the
 * keeper relays it to; without, it forgets the stream. */
struct bp_keeper {
	uint64_t ino;
};

#define BP_KEEPER_UPGRADE 1u     /* bp_keeper_connect: STARTTLS on the fd that came with it */

struct bp_keeper_connect {
	uint32_t level;          /* enum broker_tls_level, never plain */
	uint32_t flags;          /* BP_KEEPER_UPGRADE */
	int32_t connect_ms;      /* < 0: no limit */
	uint32_t ignorable;      /* BROKER_TLS_PROBLEM_* */
};

#define BP_KEEPER_ENCRYPTED 1u
#define BP_KEEPER_VERIFIED 2u
#define BP_KEEPER_CERT_REQUESTED 4u
#define BP_KEEPER_CERT_SENT 8u

struct bp_keeper_reply {
	int32_t error;           /* 0, or the status's negative errno (or an argument error) */
	uint32_t status;         /* enum broker_tls_status */
	uint32_t version;        /* 0x0303, 0x0304, 0 */
	uint32_t flags;          /* BP_KEEPER_ENCRYPTED, ... */
	uint32_t cert_problems;
	uint32_t addresses_tried;
};

/* A field as the encoder takes it and the decoder gives it.  For strings the
 * decoder's len excludes the NUL and ptr is NUL-terminated in place. */
struct bp_field {
	const void *ptr;
	uint32_t len;
};

/* A decoded message.  Pointers in field[] point into the receive buffer. */
struct bp_msg {
	uint16_t type;
	uint32_t seq;
	union {
		struct bp_hello hello;
		struct bp_hello_reply hello_reply;
		struct bp_transfer transfer;
		struct bp_list list;
		struct bp_ok ok;
		struct bp_error error;
		struct bp_info info;
		struct bp_end end;
		struct bp_status status;
		struct bp_app_info app_info;
		struct bp_event event;
		struct bp_act_hello act_hello;
		struct bp_handback handback;
		struct bp_handback_ack handback_ack;
		struct bp_keeper keeper;
		struct bp_keeper_connect keeper_connect;
		struct bp_keeper_reply keeper_reply;
		struct bp_many many;
		struct bp_claim_many claim_many;
		uint8_t raw[128];
	} u;
	unsigned nfields;
	struct bp_field field[BP_FIELDS_MAX];
	unsigned nfds;
	int fds[BP_FDS_MAX];   /* owned by whoever holds the bp_msg; see bp_msg_close_fds() */
};

/* Name of a message type, or NULL for an unknown one. */
const char *bp_type_name(unsigned type);

/* Encode a message into buf.  fields[i].len for a string excludes the NUL,
 * which the encoder adds; nfields is the type's count, or less by at most
 * its optional fields (HELLO's app id).  Returns the packet size, -EMSGSIZE
 * if it does not fit in cap, -EINVAL if type, fixed size, field count or
 * nfds does not match the type's descriptor (a bug in the caller). */
int bp_encode(void *buf, size_t cap, unsigned type, uint32_t seq,
	      const void *fixed, size_t fixed_size,
	      const struct bp_field *fields, unsigned nfields, unsigned nfds);

/* Decode and validate a packet of len bytes that arrived with nfds fds (the
 * fds are not touched; the caller copies them into ret->fds after success).
 * Returns 0, -EBADMSG for anything malformed (short, size mismatch, bad
 * field lengths, unterminated or embedded-NUL strings, non-zero reserved
 * header), -EOPNOTSUPP for an unknown type, -ETOOMANYREFS when nfds is not
 * what the header and the type allow.  *ret is written only on success;
 * ret->nfields says how many fields came, and only those are set. */
int bp_decode(const void *buf, size_t len, unsigned nfds, struct bp_msg *ret);

/* Items: TRANSFER_MANY, CLAIM_MANY and RESULTS carry a list of items in
 * one bytes field.  An item is a fixed head (head_size bytes, the type's
 * struct) then nfields fields encoded as in a message, kind[i] saying
 * whether field i is a string (BP_ITEM_STR) or bytes (BP_ITEM_BYTES).
 * bp_item_put() appends one at *off of buf (cap bytes): 0, or -EMSGSIZE
 * (nothing written, *off untouched) or -EINVAL (a string with a NUL).
 * bp_item_get() reads the item at *off of the list (as decoded): 0 with
 * head and f[] filled (strings NUL-terminated in place, len without it)
 * and *off advanced, 1 at the end of the list, or -EBADMSG. */
enum { BP_ITEM_STR = 1, BP_ITEM_BYTES = 2 };
int bp_item_put(void *buf, size_t cap, size_t *off, const void *head, size_t head_size,
		const struct bp_field *f, const uint8_t *kind, unsigned nfields);
int bp_item_get(const struct bp_field *list, size_t *off, void *head, size_t head_size,
		struct bp_field *f, const uint8_t *kind, unsigned nfields);

/* Close and forget every fd the message still holds. */
void bp_msg_close_fds(struct bp_msg *m);

/* Take the message's first fd (ownership passes to the caller), or -1. */
int bp_msg_take_fd(struct bp_msg *m);

/* String field i, or "" if it is not a string field. */
const char *bp_msg_str(const struct bp_msg *m, unsigned i);
