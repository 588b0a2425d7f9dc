/* SPDX-License-Identifier: MIT */
/* libFuzzer: bp_decode() on any bytes, with any fd count (0-2, or 238-253
 * for the types that carry many).  Whatever it accepts must encode back to
 * exactly the same bytes, and every field it hands out, and every item of
 * a many-socket type, must lie inside the packet (ASan checks the reads). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(const uint8_t *packet, size_t size, const struct bp_msg *m, unsigned nfds)
{
	static uint8_t again[BP_MSG_MAX];
	size_t sum = 0;
	for (unsigned i = 0; i < m->nfields; i++) {
		sum += strlen(bp_msg_str(m, i));
		for (uint32_t k = 0; k < m->field[i].len; k++)
			sum += ((const uint8_t *)m->field[i].ptr)[k];
	}
	/* The encoder takes only its type's fixed size: find it. */
	for (size_t fixed = 0; fixed <= sizeof(m->u.raw); fixed += 8) {
		int n = bp_encode(again, sizeof(again), m->type, m->seq, m->u.raw, fixed, m->field, m->nfields, nfds);
		if (n == -EINVAL)
			continue;
		if (n != (int)size || memcmp(again, packet, size) != 0)
			__builtin_trap();
		return;
	}
	__builtin_trap();   /* decoded, but no fixed size encodes it */
	(void)sum;
}

/* Walk the items of TRANSFER_MANY, CLAIM_MANY, RESULTS and HANDBACK_MANY
 * as brokerd and libbroker do. */
static void walk_items(const struct bp_msg *m)
{
	static const uint8_t transfer[] = { BP_ITEM_STR, BP_ITEM_BYTES };
	static const uint8_t claim[] = { BP_ITEM_STR };
	static const uint8_t result[] = { BP_ITEM_STR, BP_ITEM_BYTES, BP_ITEM_STR };
	union { struct bp_transfer t; struct bp_result r; struct bp_handback h; } head;
	struct bp_field f[3];
	bool hb = m->type == BP_HANDBACK_MANY;
	const uint8_t *kind = m->type == BP_TRANSFER_MANY || hb ? transfer : m->type == BP_CLAIM_MANY ? claim : result;
	unsigned n = m->type == BP_TRANSFER_MANY || hb ? 2 : m->type == BP_CLAIM_MANY ? 1 : 3;
	size_t head_size = m->type == BP_TRANSFER_MANY ? sizeof(head.t) : hb ? sizeof(head.h) :
			   m->type == BP_CLAIM_MANY ? 0 : sizeof(head.r);
	const struct bp_field *list = &m->field[hb ? 1 : 0];
	size_t off = 0, sum = 0;
	int r;
	while ((r = bp_item_get(list, &off, &head, head_size, f, kind, n)) == 0)
		for (unsigned i = 0; i < n; i++)
			for (uint32_t k = 0; k < f[i].len + (kind[i] == BP_ITEM_STR); k++)
				sum += ((const uint8_t *)f[i].ptr)[k];
	if (r == 1 && off != list->len)
		__builtin_trap();
	(void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	/* the fds the kernel says arrived */
	unsigned nfds = data[0] < 0xf0 ? data[0] % 3u : 238u + (data[0] & 0x0fu);
	data++, size--;
	/* exactly size bytes on the heap, so that ASan sees a read past them */
	uint8_t *packet = malloc(size ? size : 1);
	if (!packet)
		return 0;
	memcpy(packet, data, size);
	struct bp_msg m;
	if (bp_decode(packet, size, nfds, &m) == 0) {
		round_trip(packet, size, &m, nfds);
		if (m.type == BP_TRANSFER_MANY || m.type == BP_CLAIM_MANY || m.type == BP_RESULTS ||
		    m.type == BP_HANDBACK_MANY)
			walk_items(&m);
	}
	free(packet);
	return 0;
}
