/* SPDX-License-Identifier: MIT */
/* The bulk verbs' messages (bulk.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bulk.h"
#include "held.h"
#include "util.h"

/* RESULTS' header, fixed part and the items field's length take the rest. */
#define RESULTS_ROOM (BP_MSG_MAX - sizeof(struct bp_header) - sizeof(struct bp_many) - sizeof(uint32_t))

static const uint8_t transfer_kind[] = { BP_ITEM_STR, BP_ITEM_BYTES };
static const uint8_t claim_kind[] = { BP_ITEM_STR };
static const uint8_t result_kind[] = { BP_ITEM_STR, BP_ITEM_BYTES, BP_ITEM_STR };

/* One RESULTS message being put together.  brokerd has one loop, so one
 * will do. */
static struct {
	uint8_t items[RESULTS_ROOM];
	size_t off;
	unsigned count;
	unsigned nfds;
	int fds[BP_FDS_MAX];
	struct held *held[BP_FDS_MAX];
} R;

int bulk_check_transfer(const struct bp_msg *m, char *why, size_t len)
{
	if (m->u.many.flags) {
		snprintf(why, len, "TRANSFER_MANY takes no flags");
		return -EINVAL;
	}
	struct bp_transfer t;
	struct bp_field f[2];
	size_t off = 0;
	unsigned n = 0;
	int r;
	while ((r = bp_item_get(&m->field[0], &off, &t, sizeof(t), f, transfer_kind, 2)) == 0)
		n++;
	if (r < 0 || n != m->u.many.count || n != m->nfds) {
		snprintf(why, len, "TRANSFER_MANY: %u well-formed items%s, a count of %u, %u fds", n,
			 r < 0 ? " before a malformed one" : "", m->u.many.count, m->nfds);
		return -EBADMSG;
	}
	return 0;
}

void bulk_next_transfer(const struct bp_msg *m, size_t *off, struct transfer *ret)
{
	struct bp_transfer t;
	struct bp_field f[2];
	bp_item_get(&m->field[0], off, &t, sizeof(t), f, transfer_kind, 2);
	*ret = (struct transfer){
		.id = f[0].ptr, .ctx = f[1].ptr, .ctx_len = f[1].len,
		.keepalive_sec = t.keepalive_sec, .flags = t.flags,
	};
}

int bulk_check_claim(const struct bp_msg *m, char *why, size_t len)
{
	const struct bp_field *ids = &m->field[0];
	uint32_t flags = m->u.claim_many.flags;
	if ((flags & ~BP_CLAIM_ALL) || m->u.claim_many.reserved || ((flags & BP_CLAIM_ALL) && ids->len)) {
		snprintf(why, len, "CLAIM_MANY: unknown flags, or ids with BP_CLAIM_ALL");
		return -EINVAL;
	}
	struct bp_field f;
	size_t off = 0;
	int r;
	while ((r = bp_item_get(ids, &off, NULL, 0, &f, claim_kind, 1)) == 0)
		;
	if (r < 0) {
		snprintf(why, len, "CLAIM_MANY: the id at byte %zu of the list is malformed", off);
		return -EBADMSG;
	}
	return 0;
}

const char *bulk_next_id(const struct bp_field *ids, size_t *off)
{
	struct bp_field f;
	return bp_item_get(ids, off, NULL, 0, &f, claim_kind, 1) == 0 ? f.ptr : NULL;
}

void bulk_begin(void)
{
	R.off = R.count = R.nfds = 0;
}

int bulk_add(int error, const char *id, struct held *held, const struct bp_info *info, const char *message)
{
	struct bp_result head = { .error = error, .nfds = held != NULL };
	if (held)
		head.info = *info;
	struct bp_field f[3] = {
		{ id, (uint32_t)strlen(id) },
		{ held ? held_ctx(held) : NULL, held ? held->ctx_len : 0 },
		{ message, (uint32_t)strlen(message) },
	};
	if (held && R.nfds == BP_FDS_MAX)
		return -EMSGSIZE;
	int r = bp_item_put(R.items, sizeof(R.items), &R.off, &head, sizeof(head), f, result_kind, 3);
	if (r < 0)
		return -EMSGSIZE;
	R.count++;
	if (held) {
		R.held[R.nfds] = held;
		R.fds[R.nfds++] = held_fd(held);
	}
	return 0;
}

bool bulk_has(const struct held *held)
{
	for (unsigned i = 0; i < R.nfds; i++)
		if (R.held[i] == held)
			return true;
	return false;
}

void bulk_msg(bool more, struct bulk_msg *ret)
{
	*ret = (struct bulk_msg){
		.many = { .count = R.count, .flags = more ? BP_RESULTS_MORE : 0 },
		.items = { R.items, (uint32_t)R.off },
		.fds = R.fds, .held = R.held, .nfds = R.nfds,
	};
}
