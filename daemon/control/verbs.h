/* SPDX-License-Identifier: MIT */
/* Shared by the verb handlers (verbs.c) and the record replies (records.c). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "control.h"

/* A handler's result when the client cannot be written to and must go. */
#define SEND_FAILED 1

/* The registered app, for verbs that act as it, with the right checked
 * again (a reload may have changed the manifest). */
int verb_own_app(struct client *c, struct app **ret, char *why, size_t len);
/* The app a request names ("" = the registered one), if this client may see it. */
int verb_named_app(struct daemon *d, struct client *c, const char *name, struct app **ret,
		   char *why, size_t len);
/* Refuse an admin verb, in one sentence that says who may. */
int verb_need_admin(struct daemon *d, const char *what, char *why, size_t len);

/* records.c */
int verb_list(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len);
int verb_show(struct daemon *d, struct client *c, struct bp_msg *m, char *why, size_t len);
int verb_claim(struct daemon *d, struct client *c, uint32_t seq, const char *id, char *why, size_t len);
/* Start a reply stream (BP_LIST or BP_APPS) that goes on as the client reads. */
int verb_stream(struct daemon *d, struct client *c, unsigned type, uint32_t seq, struct app *a);
