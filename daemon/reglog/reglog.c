/* SPDX-License-Identifier: MIT */
/*
 * The registry log's format (host byte order: it never leaves the machine).
 *
 *   offset 0, 64   two header slots; the valid one with the higher gen is
 *                  in force.  A slot names the current log's epoch and start.
 *   start ...      the current log: records of that epoch with sequence
 *                  numbers 1, 2, 3, ...; the first is BEGIN, then the
 *                  snapshot's PUTs, then PUT/UPDATE/REMOVE as they happen.
 *
 * Every record carries a CRC-32C.  Replay stops at the first record that
 * is short, fails its checksum or has the wrong epoch or sequence number:
 * that is the torn tail of a write a crash interrupted (or stale bytes of
 * an older log), and nothing after it was ever acknowledged.
 *
 * Compaction writes BEGIN and one PUT per live entry after everything in
 * the file, under a new epoch, then writes the other header slot.  A crash
 * before that write leaves the old log in force; the slot's own checksum
 * covers a crash during it.  The old log's pages are then punched out.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "reglog-format.h"
#include "util.h"

static const char *const write_names[] = {
	[REGLOG_WRITE_PUT] = "put", [REGLOG_WRITE_UPDATE] = "update", [REGLOG_WRITE_REMOVE] = "remove",
	[REGLOG_WRITE_SNAPSHOT] = "snapshot", [REGLOG_WRITE_HEADER] = "header",
};

int reglog_write_from_name(const char *name)
{
	for (size_t i = 1; i < ARRAY_SIZE(write_names); i++)
		if (strcmp(name, write_names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

static enum reglog_write tear;

void reglog_tear(enum reglog_write what)
{
	tear = what;
}

size_t reglog_put_size(size_t app_len, size_t id_len, size_t ctx_len)
{
	return align8(sizeof(struct rec_head) + sizeof(struct rec_put) + app_len + id_len + ctx_len);
}

/* pwrite all of it.  The test hook tears exactly one write of one kind. */
static int write_at(struct reglog *l, const void *p, size_t len, uint64_t off, enum reglog_write what)
{
	if (tear && tear == what) {
		(void)!pwrite(l->fd, p, len / 2, (off_t)off);
		raise(SIGKILL);
	}
	const uint8_t *b = p;
	while (len) {
		ssize_t n = pwrite(l->fd, b, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int reserve(struct reglog *l, size_t size)
{
	if (size <= l->buf_size)
		return 0;
	size_t want = l->buf_size ? l->buf_size : 4096;
	while (want < size)
		want *= 2;
	uint8_t *b = realloc(l->buf, want);
	if (!b)
		return -ENOMEM;
	l->buf = b;
	l->buf_size = want;
	return 0;
}

/* Encode one record at p (room for size bytes is the caller's business). */
static void encode(struct reglog *l, uint8_t *p, size_t size, uint8_t type, uint64_t serial,
		   const void *body, size_t body_len, const struct reglog_entry *e)
{
	struct rec_head h = {
		.magic = RECORD_MAGIC, .size = (uint32_t)size, .type = type,
		.epoch = l->epoch, .seq = l->seq++, .serial = serial,
	};
	memset(p, 0, size);
	if (body_len)
		memcpy(p + sizeof(h), body, body_len);
	if (e) {
		uint8_t *q = p + sizeof(h) + body_len;
		memcpy(q, e->app_id, e->app_len);
		memcpy(q + e->app_len, e->id, e->id_len);
		if (e->ctx_len)
			memcpy(q + e->app_len + e->id_len, e->ctx, e->ctx_len);
	}
	memcpy(p, &h, sizeof(h));
	h.crc = crc32c(0, p + offsetof(struct rec_head, size), size - offsetof(struct rec_head, size));
	memcpy(p, &h, sizeof(h));
}

static size_t encode_put(struct reglog *l, uint8_t *p, const struct reglog_entry *e)
{
	struct rec_put b = {
		.held_since = e->held_since, .last_trigger = e->last_trigger, .deadline = e->deadline,
		.keepalive_sec = e->keepalive_sec, .owner = e->owner, .ctx_len = e->ctx_len,
		.family = e->family, .app_len = e->app_len, .id_len = e->id_len,
		.kind = e->kind, .state = e->state, .reason = e->reason, .sotype = e->sotype,
		.stored_as = e->stored_as,
	};
	size_t size = reglog_put_size(e->app_len, e->id_len, e->ctx_len);
	encode(l, p, size, REC_PUT, e->serial, &b, sizeof(b), e);
	return size;
}

/* Append one record to the current log. */
static int append(struct reglog *l, size_t size, enum reglog_write what)
{
	int r = write_at(l, l->buf, size, l->tail, what);
	if (r < 0) {
		l->seq--;   /* the next record takes this one's place */
		return r;
	}
	l->tail += size;
	return 0;
}

int reglog_put(struct reglog *l, const struct reglog_entry *e)
{
	size_t size = reglog_put_size(e->app_len, e->id_len, e->ctx_len);
	int r = reserve(l, size);
	if (r < 0)
		return r;
	encode_put(l, l->buf, e);
	r = append(l, size, REGLOG_WRITE_PUT);
	if (r == 0)
		l->live += size;
	return r;
}

int reglog_update(struct reglog *l, uint64_t serial, uint8_t state, uint8_t reason,
		  uint64_t deadline, uint64_t last_trigger)
{
	struct rec_update b = { .deadline = deadline, .last_trigger = last_trigger, .state = state, .reason = reason };
	size_t size = sizeof(struct rec_head) + sizeof(b);
	int r = reserve(l, size);
	if (r < 0)
		return r;
	encode(l, l->buf, size, REC_UPDATE, serial, &b, sizeof(b), NULL);
	return append(l, size, REGLOG_WRITE_UPDATE);
}

int reglog_remove(struct reglog *l, uint64_t serial, size_t put_size)
{
	size_t size = sizeof(struct rec_head);
	int r = reserve(l, size);
	if (r < 0)
		return r;
	encode(l, l->buf, size, REC_REMOVE, serial, NULL, 0, NULL);
	r = append(l, size, REGLOG_WRITE_REMOVE);
	if (r == 0)
		l->live -= put_size < l->live ? put_size : l->live;
	return r;
}

bool reglog_wants_compaction(const struct reglog *l)
{
	/* The log may grow to the snapshot's size again plus a margin: each
	 * compaction copies what the appends since the last one paid for. */
	return l->tail - l->start > 2 * l->live + (1u << 20);
}

static int write_header(struct reglog *l, uint64_t gen, uint64_t epoch, uint64_t start)
{
	struct header h = {
		.magic = HEADER_MAGIC, .version = FORMAT_VERSION, .gen = gen, .epoch = epoch, .start = start,
	};
	h.crc = crc32c(0, &h, offsetof(struct header, crc));
	return write_at(l, &h, sizeof(h), (gen % 2) * sizeof(h), REGLOG_WRITE_HEADER);
}

int reglog_compact(struct reglog *l, uint64_t next_serial,
		   int (*each)(void *ud, struct reglog_entry *e), void *ud)
{
	struct stat st;
	if (fstat(l->fd, &st) < 0)
		return -errno;
	/* After everything in the file: the old log, and any torn tail past it. */
	uint64_t start = align8((uint64_t)st.st_size > LOG_FIRST ? (uint64_t)st.st_size : LOG_FIRST);
	uint64_t saved_epoch = l->epoch, saved_seq = l->seq;
	l->epoch++;
	l->seq = 1;
	int r = reserve(l, BATCH);
	if (r < 0)
		goto fail;
	size_t used = sizeof(struct rec_head);
	encode(l, l->buf, used, REC_BEGIN, next_serial, NULL, 0, NULL);
	uint64_t off = start, live = used;
	for (;;) {
		struct reglog_entry e;
		r = each ? each(ud, &e) : 0;
		if (r < 0)
			goto fail;
		size_t size = r ? reglog_put_size(e.app_len, e.id_len, e.ctx_len) : 0;
		if (!r || used + size > l->buf_size) {
			r = write_at(l, l->buf, used, off, REGLOG_WRITE_SNAPSHOT);
			if (r < 0)
				goto fail;
			off += used;
			used = 0;
			if (!size)
				break;
			if ((r = reserve(l, size)) < 0)
				goto fail;
		}
		encode_put(l, l->buf + used, &e);
		used += size;
		live += size;
	}
	r = write_header(l, l->gen + 1, l->epoch, start);
	if (r < 0)
		goto fail;
	/* The old log is dead: give its memory back (the file keeps its size). */
	if (start > LOG_FIRST)
		(void)fallocate(l->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, LOG_FIRST,
				(off_t)(start - LOG_FIRST));
	l->gen++;
	l->start = start;
	l->tail = off;
	l->live = live;
	return 0;
fail:
	l->epoch = saved_epoch;
	l->seq = saved_seq;
	return r;
}

int reglog_create(struct reglog *l)
{
	*l = (struct reglog){ .fd = -1 };
	int fd = memfd_create("brokerd-registry", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	l->fd = fd;
	int r = reglog_compact(l, 1, NULL, NULL);
	if (r < 0) {
		close(fd);
		l->fd = -1;
		return r;
	}
	return 0;
}

void reglog_close(struct reglog *l)
{
	if (l->fd >= 0)
		close(l->fd);
	free(l->buf);
	*l = (struct reglog){ .fd = -1 };
}
