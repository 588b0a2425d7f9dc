/* SPDX-License-Identifier: MIT */
/* The registry log's on-memfd layout, shared by its writer and its reader
 * (reglog.c describes it). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "reglog.h"

#define HEADER_MAGIC 0x47524253u   /* "SBRG" */
#define RECORD_MAGIC 0x52524253u   /* "SBRR" */
/* 3: the sockets are in fd store buckets, keyed by stored_as; 2: each
 * socket stored on its own, named by stored_as; 1: no stored_as (it was
 * the serial).  The records are the same in 2 and 3; a brokerd that reads
 * only 1 and 2 refuses a 3 rather than look for sockets by name. */
#define FORMAT_VERSION 3
#define LOG_FIRST 4096u            /* the first log starts on its own page */
#define RECORD_MAX (1u << 20)      /* far above any entry brokerd accepts */
#define BATCH 262144u              /* compaction writes this much at a time */

enum { REC_BEGIN = 1, REC_PUT, REC_UPDATE, REC_REMOVE };

struct header {
	uint32_t magic;
	uint32_t version;
	uint64_t gen;
	uint64_t epoch;
	uint64_t start;
	uint64_t reserved[3];
	uint32_t pad;
	uint32_t crc;              /* of everything before it */
};

struct rec_head {
	uint32_t magic;
	uint32_t crc;              /* of the record from size to its end */
	uint32_t size;             /* whole record, a multiple of 8 */
	uint8_t type;
	uint8_t reserved[3];
	uint64_t epoch;
	uint64_t seq;
	uint64_t serial;           /* BEGIN: the next serial to give out */
};

struct rec_put {
	uint64_t held_since, last_trigger, deadline;
	uint32_t keepalive_sec, owner, ctx_len;
	uint16_t family, app_len, id_len;
	uint8_t kind, state, reason, sotype;
	uint8_t pad[2];
	uint64_t stored_as;        /* version 2; version 1 wrote padding here */
};

struct rec_update {
	uint64_t deadline, last_trigger;
	uint8_t state, reason;
	uint8_t pad[6];
};

_Static_assert(sizeof(struct header) == 64, "header slot size");
_Static_assert(sizeof(struct rec_put) == 56, "a version 1 PUT has the same size");
_Static_assert(sizeof(struct rec_head) % 8 == 0 && sizeof(struct rec_put) % 8 == 0 &&
	       sizeof(struct rec_update) % 8 == 0, "record alignment");

static inline size_t align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}
