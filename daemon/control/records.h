/* SPDX-License-Identifier: MIT */
/* The verbs that answer with records: LIST and APPS as reply streams that
 * go on when the client can take more, SHOW, and CLAIM, whose record
 * carries the socket itself.  Each returns 0 when it replied (or c is
 * broken), or a negative errno to send, with why. */
#pragma once

#include "client.h"

int records_list(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len);
int records_show(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len);
int records_apps(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len);
int records_claim(struct daemon *d, struct client *c, uint32_t seq, const char *id, char *why, size_t len);
/* Go on with c->resume; -EAGAIN if the client still cannot take more, or
 * another negative errno if it must go. */
int records_resume(struct daemon *d, struct client *c);
