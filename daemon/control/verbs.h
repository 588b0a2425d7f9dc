/* SPDX-License-Identifier: MIT */
/* The control verbs, dispatched through one table. */
#pragma once

#include "client.h"

/* Handle one decoded request from c (owns m's fds: every fd no handler
 * takes is closed).  Replies, or sends the error; frees c if it cannot be
 * written to. */
void verb_dispatch(struct daemon *d, struct client *c, struct bp_msg *m);

