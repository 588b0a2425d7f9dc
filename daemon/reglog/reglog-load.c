/* SPDX-License-Identifier: MIT */
/* Replaying the registry log (format in reglog.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "reglog-format.h"

/* The header slot in force, or NULL. */
static const struct header *pick_header(const uint8_t *map, size_t size)
{
	const struct header *best = NULL;
	for (size_t i = 0; i < 2 && (i + 1) * sizeof(struct header) <= size; i++) {
		const struct header *h = (const struct header *)(map + i * sizeof(struct header));
		if (h->magic != HEADER_MAGIC || h->version < 1 || h->version > FORMAT_VERSION || h->gen % 2 != i ||
		    h->crc != crc32c(0, h, offsetof(struct header, crc)) || h->start < LOG_FIRST ||
		    h->start % 8 || h->start > size)
			continue;
		if (!best || h->gen > best->gen)
			best = h;
	}
	return best;
}

/* The record at off if it is whole and belongs to this log, else NULL. */
static const struct rec_head *record_at(const uint8_t *map, size_t size, uint64_t off,
					uint64_t epoch, uint64_t seq)
{
	if (off > size || size - off < sizeof(struct rec_head))
		return NULL;
	const struct rec_head *h = (const struct rec_head *)(map + off);
	if (h->magic != RECORD_MAGIC || h->epoch != epoch || h->seq != seq || h->size % 8 ||
	    h->size < sizeof(*h) || h->size > RECORD_MAX || h->size > size - off)
		return NULL;
	if (h->crc != crc32c(0, &h->size, h->size - offsetof(struct rec_head, size)))
		return NULL;
	return h;
}

static int decode_put(const struct reglog *l, const struct rec_head *h, struct reglog_entry *e)
{
	const struct rec_put *b = (const struct rec_put *)(h + 1);
	if (h->size < sizeof(*h) + sizeof(*b))
		return -EBADMSG;
	size_t strings = (size_t)b->app_len + b->id_len + b->ctx_len;
	if (reglog_put_size(b->app_len, b->id_len, b->ctx_len) != h->size ||
	    sizeof(*h) + sizeof(*b) + strings > h->size || !b->app_len || !b->id_len)
		return -EBADMSG;
	const char *s = (const char *)(b + 1);
	*e = (struct reglog_entry){
		.serial = h->serial, .stored_as = l->version >= 2 && b->stored_as ? b->stored_as : h->serial,
		.held_since = b->held_since, .last_trigger = b->last_trigger,
		.deadline = b->deadline, .keepalive_sec = b->keepalive_sec, .owner = b->owner,
		.kind = b->kind, .state = b->state, .reason = b->reason, .sotype = b->sotype,
		.family = b->family, .app_len = b->app_len, .id_len = b->id_len, .ctx_len = b->ctx_len,
		.app_id = s, .id = s + b->app_len, .ctx = s + b->app_len + b->id_len,
	};
	return 0;
}

static int dispatch(struct reglog *l, const struct rec_head *h, const struct reglog_replay *cb, void *ud)
{
	if (h->serial >= l->next_serial)
		l->next_serial = h->serial + (h->type != REC_BEGIN);
	switch (h->type) {
	case REC_PUT: {
		struct reglog_entry e;
		int r = decode_put(l, h, &e);
		if (r < 0)
			return r;
		return cb->put(ud, &e);
	}
	case REC_UPDATE: {
		if (h->size != sizeof(*h) + sizeof(struct rec_update))
			return -EBADMSG;
		const struct rec_update *u = (const struct rec_update *)(h + 1);
		return cb->update(ud, h->serial, u->state, u->reason, u->deadline, u->last_trigger);
	}
	case REC_REMOVE:
		return cb->remove(ud, h->serial);
	}
	return -EBADMSG;   /* a second BEGIN, or an unknown type */
}

int reglog_load(struct reglog *l, int fd, const struct reglog_replay *cb, void *ud)
{
	*l = (struct reglog){ .fd = -1 };
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EBADMSG;   /* not a memfd: not our registry */
	}
	size_t size = (size_t)st.st_size;
	const uint8_t *map = size ? mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
	if (map == MAP_FAILED) {
		close(fd);
		return -EBADMSG;
	}
	int r = -EBADMSG;
	const struct header *hd = pick_header(map, size);
	if (!hd)
		goto out;
	l->gen = hd->gen;
	l->version = hd->version;
	l->epoch = hd->epoch;
	l->start = hd->start;
	const struct rec_head *h = record_at(map, size, hd->start, hd->epoch, 1);
	if (!h || h->type != REC_BEGIN || h->size != sizeof(*h))
		goto out;
	l->next_serial = h->serial;
	uint64_t off = hd->start + h->size, seq = 2;
	r = 0;
	while (r == 0 && (h = record_at(map, size, off, hd->epoch, seq))) {
		r = dispatch(l, h, cb, ud);
		off += h->size;
		seq++;
		l->records++;
	}
	l->tail = off;
	l->seq = seq;
	/* What follows the last valid record and is not zero: a torn write. */
	for (uint64_t p = off; p < size && !l->dropped; p++)
		if (map[p])
			l->dropped = size - off;
out:
	munmap((void *)map, size);
	if (r < 0) {
		close(fd);
		return r;
	}
	l->fd = fd;
	return 0;
}
