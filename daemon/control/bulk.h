/* SPDX-License-Identifier: MIT */
/* The bulk verbs' messages, for a server that hands over all its
 * connections and claims them back after an upgrade: the items of
 * TRANSFER_MANY and CLAIM_MANY, checked and walked, and RESULTS, put
 * together one message (BP_MSG_MAX bytes, BP_FDS_MAX fds) at a time.  The
 * verbs themselves are in verbs.c (TRANSFER_MANY) and records.c
 * (CLAIM_MANY, a reply stream). */
#pragma once

#include "client.h"
#include "transfer.h"

/* Check a whole TRANSFER_MANY: its flags, every item well-formed, as many
 * items as the count and the fds say.  0, or -EINVAL/-EBADMSG with why. */
int bulk_check_transfer(const struct bp_msg *m, char *why, size_t len);

/* The item at *off of a checked TRANSFER_MANY (ret's pointers into m);
 * advances *off. */
void bulk_next_transfer(const struct bp_msg *m, size_t *off, struct transfer *ret);

/* Check a CLAIM_MANY's flags and ids.  0, or -EINVAL/-EBADMSG with why. */
int bulk_check_claim(const struct bp_msg *m, char *why, size_t len);

/* The id at *off of a checked list of ids (NUL-terminated, in place), or
 * NULL at its end; advances *off. */
const char *bulk_next_id(const struct bp_field *ids, size_t *off);

/* Start a new RESULTS message. */
void bulk_begin(void);

/* Add a result: error, the socket's id, and for a socket that goes with
 * it (held is not NULL) its info, context and fd (brokerd's copy: the
 * message only lends it to the kernel); message says why on error.
 * 0, or -EMSGSIZE when the message has no room for it (nothing added). */
int bulk_add(int error, const char *id, struct held *held, const struct bp_info *info, const char *message);

/* Whether held goes with the message being put together already (a
 * CLAIM_MANY that names it twice). */
bool bulk_has(const struct held *held);

/* The RESULTS message as it stands: its fixed part (flags: BP_RESULTS_MORE
 * if more), its items field, its fds and the sockets they are. */
struct bulk_msg {
	struct bp_many many;
	struct bp_field items;
	const int *fds;
	struct held *const *held;
	unsigned nfds;
};
void bulk_msg(bool more, struct bulk_msg *ret);
