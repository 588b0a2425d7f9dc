/* SPDX-License-Identifier: MIT */
/* libFuzzer: bp_decode() on any bytes, with any fd count.  Whatever it
 * accepts must encode back to exactly the same bytes, and every field it
 * hands out must lie inside the packet (ASan checks the reads). */
#include <errno.h>
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned nfds = data[0] % 3;   /* the fds the kernel says arrived */
	data++, size--;
	/* exactly size bytes on the heap, so that ASan sees a read past them */
	uint8_t *packet = malloc(size ? size : 1);
	if (!packet)
		return 0;
	memcpy(packet, data, size);
	struct bp_msg m;
	if (bp_decode(packet, size, nfds, &m) == 0)
		round_trip(packet, size, &m, nfds);
	free(packet);
	return 0;
}
