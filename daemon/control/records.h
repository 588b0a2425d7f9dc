/* SPDX-License-Identifier: MIT */
/* The verbs that answer with records: LIST and APPS as reply streams that
 * go on when the client can take more, SHOW, and CLAIM, whose record
 * carries the socket itself, and CLAIM_MANY, a stream of RESULTS that
 * carry theirs.  Each returns 0 when it replied (or c is
 * broken), or a negative errno to send, with why. */
#pragma once

#include "client.h"

int records_list(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len);
int records_show(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len);
int records_apps(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len);
int records_claim(struct daemon *d, struct client *c, uint32_t seq, const char *id, char *why, size_t len);
/* CLAIM_MANY: the named sockets, or all the app holds, with a result
 * each, in as many RESULTS as they need, as the client reads them. */
int records_claim_many(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len);
/* What brokerd tells of h in INFO and RESULTS. */
void records_info(const struct held *h, struct bp_info *ret);
/* Go on with c->resume; -EAGAIN if the client still cannot take more, or
 * another negative errno if it must go. */
int records_resume(struct daemon *d, struct client *c);
