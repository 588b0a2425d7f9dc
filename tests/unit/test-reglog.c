/* SPDX-License-Identifier: MIT */
/* The registry log: replay gives back exactly what was written, a write
 * torn at any byte loses only itself, compaction keeps the state and
 * bounds the memory, and fd store names round-trip. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "reglog-format.h"
#include "reglog.h"
#include "store.h"
#include "testutil.h"

/* ---- the state a log holds, as text, to compare ---- */

struct text {
	char *buf;
	size_t len;
	FILE *f;
};

static int t_put(void *ud, const struct reglog_entry *e)
{
	struct text *t = ud;
	fprintf(t->f, "P %llu %.*s %.*s k%u s%u r%u t%u f%u ka%u o%u hs%llu lt%llu dl%llu ctx=",
		(unsigned long long)e->serial, e->app_len, e->app_id, e->id_len, e->id, e->kind, e->state,
		e->reason, e->sotype, e->family, e->keepalive_sec, e->owner,
		(unsigned long long)e->held_since, (unsigned long long)e->last_trigger,
		(unsigned long long)e->deadline);
	for (uint32_t i = 0; i < e->ctx_len; i++)
		fprintf(t->f, "%02x", ((const unsigned char *)e->ctx)[i]);
	fputc('\n', t->f);
	return 0;
}

static int t_update(void *ud, uint64_t serial, uint8_t state, uint8_t reason, uint64_t deadline,
		    uint64_t last_trigger)
{
	fprintf(((struct text *)ud)->f, "U %llu s%u r%u dl%llu lt%llu\n", (unsigned long long)serial, state,
		reason, (unsigned long long)deadline, (unsigned long long)last_trigger);
	return 0;
}

static int t_remove(void *ud, uint64_t serial)
{
	fprintf(((struct text *)ud)->f, "R %llu\n", (unsigned long long)serial);
	return 0;
}

static const struct reglog_replay text_cb = { t_put, t_update, t_remove };

/* Replay fd (not consumed) into text: the records since the last snapshot.
 * Returns NULL if the log does not load. */
static char *replay_text(int fd, uint64_t *ret_next_serial)
{
	struct text t = { 0 };
	t.f = open_memstream(&t.buf, &t.len);
	struct reglog l;
	int r = reglog_load(&l, dup(fd), &text_cb, &t);
	fclose(t.f);
	if (r < 0) {
		free(t.buf);
		return NULL;
	}
	if (ret_next_serial)
		*ret_next_serial = l.next_serial;
	reglog_close(&l);
	return t.buf;
}

/* ---- a small model of the registry, to compact from ---- */

#define MAX_E 64
static struct reglog_entry model[MAX_E];
static char ctxs[MAX_E][200];
static int nmodel;

static struct reglog_entry entry(uint64_t serial, const char *id, size_t ctx_len)
{
	int slot = (int)(serial % MAX_E);
	for (size_t i = 0; i < ctx_len; i++)
		ctxs[slot][i] = (char)(serial * 7 + i);
	return (struct reglog_entry){
		.serial = serial, .held_since = 1000 + serial, .deadline = serial * 3, .keepalive_sec = 5,
		.owner = 1000, .kind = 1, .state = 1, .sotype = 1, .family = 2,
		.app_id = "org.example.app", .app_len = 15, .id = id, .id_len = (uint16_t)strlen(id),
		.ctx = ctxs[slot], .ctx_len = (uint32_t)ctx_len,
	};
}

static int each_model(void *ud, struct reglog_entry *e)
{
	int *i = ud;
	if (*i >= nmodel)
		return 0;
	*e = model[(*i)++];
	return 1;
}

static int memfd_with(const void *p, size_t len)
{
	int fd = memfd_create("copy", MFD_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, p, len, 0), (ssize_t)len);
	return fd;
}

static void *contents(int fd, size_t *ret_len)
{
	struct stat st;
	ck_assert_int_eq(fstat(fd, &st), 0);
	void *p = malloc((size_t)st.st_size + 1);
	ck_assert_int_eq(pread(fd, p, (size_t)st.st_size, 0), st.st_size);
	*ret_len = (size_t)st.st_size;
	return p;
}

START_TEST(round_trip)
{
	struct reglog l;
	ck_assert_int_eq(reglog_create(&l), 0);
	struct reglog_entry a = entry(1, "a", 0), b = entry(2, "bb", 17), c = entry(7, "c", 200);
	ck_assert_int_eq(reglog_put(&l, &a), 0);
	ck_assert_int_eq(reglog_put(&l, &b), 0);
	ck_assert_int_eq(reglog_update(&l, 1, 2, 3, 0, 99), 0);
	ck_assert_int_eq(reglog_put(&l, &c), 0);
	ck_assert_int_eq(reglog_remove(&l, 2, reglog_put_size(15, 2, 17)), 0);
	uint64_t next = 0;
	char *got = replay_text(l.fd, &next);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(next, 8);   /* above every serial mentioned */
	ck_assert_int_eq(strncmp(got, "P 1 org.example.app a k1 s1 r0 t1 f2 ka5 o1000 hs1001 lt0 dl3 ctx=\n"
				 "P 2 org.example.app bb ", 89), 0);
	ck_assert_ptr_nonnull(strstr(got, "U 1 s2 r3 dl0 lt99\nP 7 org.example.app c "));
	ck_assert_ptr_nonnull(strstr(got, "\nR 2\n"));
	free(got);
	reglog_close(&l);
}
END_TEST

/* Cut the last record at every length: replay must give exactly the state
 * before it (or after it, once it is whole), and say it dropped bytes. */
START_TEST(torn_record_at_every_byte)
{
	struct reglog l;
	ck_assert_int_eq(reglog_create(&l), 0);
	struct reglog_entry a = entry(1, "one", 40);
	ck_assert_int_eq(reglog_put(&l, &a), 0);
	size_t before_len;
	char *before = replay_text(l.fd, NULL);
	void *c0 = contents(l.fd, &before_len);

	for (int op = 0; op < 3; op++) {
		struct reglog m;
		int fd = memfd_with(c0, before_len);
		char *base = replay_text(fd, NULL);
		struct text sink = { .f = fopen("/dev/null", "we") };
		/* reglog_load leaves the writer at the log's tail, in its epoch */
		ck_assert_int_eq(reglog_load(&m, fd, &text_cb, &sink), 0);
		fclose(sink.f);
		struct reglog_entry b = entry(2, "two", 150);
		if (op == 0)
			ck_assert_int_eq(reglog_put(&m, &b), 0);
		else if (op == 1)
			ck_assert_int_eq(reglog_update(&m, 1, 2, 1, 0, 5), 0);
		else
			ck_assert_int_eq(reglog_remove(&m, 1, 0), 0);
		size_t after_len;
		unsigned char *c1 = contents(m.fd, &after_len);
		char *after = replay_text(m.fd, NULL);
		ck_assert_uint_gt(after_len, before_len);
		for (size_t k = 0; k <= after_len - before_len; k++) {
			int torn = memfd_with(c1, before_len + k);
			char *got = replay_text(torn, NULL);
			ck_assert_ptr_nonnull(got);
			ck_assert_str_eq(got, k == after_len - before_len ? after : base);
			free(got);
			close(torn);
		}
		free(c1);
		free(after);
		free(base);
		reglog_close(&m);
	}
	free(c0);
	free(before);
	reglog_close(&l);
}
END_TEST

START_TEST(compaction_keeps_state_and_bounds_memory)
{
	struct reglog l;
	ck_assert_int_eq(reglog_create(&l), 0);
	nmodel = 0;
	/* 40 sockets, each replaced 200 times: 8000 puts and removes */
	uint64_t serial = 0;
	int compactions = 0;
	for (int round = 0; round < 200; round++)
		for (int i = 0; i < 40; i++) {
			char id[16];
			snprintf(id, sizeof(id), "s%d", i);
			if (round) {
				ck_assert_int_eq(reglog_remove(&l, model[i].serial,
							       reglog_put_size(15, model[i].id_len, 200)), 0);
				free((char *)model[i].id);
			}
			model[i] = entry(++serial, strdup(id), 200);
			ck_assert_int_eq(reglog_put(&l, &model[i]), 0);
			nmodel = 40;
			if (reglog_wants_compaction(&l)) {
				int it = 0;
				ck_assert_int_eq(reglog_compact(&l, serial + 1, each_model, &it), 0);
				compactions++;
			}
		}
	ck_assert_int_ge(compactions, 1);
	int it = 0;
	ck_assert_int_eq(reglog_compact(&l, serial + 1, each_model, &it), 0);
	uint64_t next;
	char *got = replay_text(l.fd, &next);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(next, serial + 1);
	/* exactly the 40 live entries, nothing else */
	int lines = 0;
	for (char *p = got; (p = strchr(p, '\n')); p++)
		lines++;
	ck_assert_int_eq(lines, 40);
	ck_assert_ptr_null(strstr(got, "\nR "));
	/* the pages of old logs were given back */
	struct stat st;
	ck_assert_int_eq(fstat(l.fd, &st), 0);
	ck_assert_int_lt((long long)st.st_blocks * 512, 4 * 1024 * 1024);
	ck_assert_int_gt(st.st_size, (long long)st.st_blocks * 512);
	free(got);
	for (int i = 0; i < 40; i++)
		free((char *)model[i].id);
	reglog_close(&l);
}
END_TEST

/* A crash during a compaction, in the snapshot or in the header write,
 * leaves a log with the same state. */
START_TEST(torn_compaction)
{
	struct reglog l;
	ck_assert_int_eq(reglog_create(&l), 0);
	nmodel = 3;
	model[0] = entry(4, "x", 10);
	model[1] = entry(5, "y", 0);
	model[2] = entry(9, "z", 100);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(reglog_put(&l, &model[i]), 0);
	ck_assert_int_eq(reglog_update(&l, 5, 2, 1, 0, 77), 0);
	model[1].state = 2;
	model[1].reason = 1;
	model[1].last_trigger = 77;
	size_t len0;
	unsigned char *c0 = contents(l.fd, &len0);
	int it = 0;
	ck_assert_int_eq(reglog_compact(&l, 10, each_model, &it), 0);
	size_t len1;
	unsigned char *c1 = contents(l.fd, &len1);
	char *want = replay_text(l.fd, NULL);   /* the snapshot: three puts */

	/* torn snapshot: the old header is in force, the old log replays */
	char *old = NULL;
	{
		int fd = memfd_with(c0, len0);
		old = replay_text(fd, NULL);
		close(fd);
	}
	for (size_t k = len0; k < len1; k += 7) {
		/* the old log is whole until the header switches */
		unsigned char *p = malloc(len1);
		memcpy(p, c0, len0);
		memcpy(p + len0, c1 + len0, len1 - len0);
		int fd = memfd_with(p, k);
		char *got = replay_text(fd, NULL);
		ck_assert_ptr_nonnull(got);
		ck_assert_str_eq(got, old);
		free(got);
		close(fd);
		free(p);
	}
	/* torn header: every prefix of the new slot over the old bytes */
	for (size_t k = 0; k <= 64; k++) {
		unsigned char *p = malloc(len1);
		memcpy(p, c0, len0);
		memcpy(p + len0, c1 + len0, len1 - len0);
		size_t slot = memcmp(c0, c1, 64) ? 0 : 64;   /* the slot that changed */
		memcpy(p + slot, c1 + slot, 64);
		memcpy(p + slot + k, c0 + slot + k, 64 - k);
		int fd = memfd_with(p, len1);
		char *got = replay_text(fd, NULL);
		ck_assert_ptr_nonnull(got);
		ck_assert_str_eq(got, k == 64 ? want : old);
		free(got);
		close(fd);
		free(p);
	}
	free(old);
	free(want);
	free(c0);
	free(c1);
	reglog_close(&l);
}
END_TEST

START_TEST(garbage_is_not_a_log)
{
	struct reglog l;
	static const char junk[8192] = "not a registry";
	int fd = memfd_with(junk, sizeof(junk));
	ck_assert_int_eq(reglog_load(&l, fd, &text_cb, NULL), -EBADMSG);   /* fd consumed */
	int sock[2];
	ck_assert_int_eq(pipe(sock), 0);
	ck_assert_int_eq(reglog_load(&l, sock[0], &text_cb, NULL), -EBADMSG);
	close(sock[1]);
}
END_TEST

START_TEST(fdnames)
{
	static const uint64_t serials[] = { 1, 63, 64, 4095, 4096, 123456789, UINT64_MAX };
	for (size_t i = 0; i < sizeof(serials) / sizeof(serials[0]); i++) {
		char name[12];
		uint64_t back = 0;
		store_fdname(serials[i], name);
		ck_assert_uint_le(strlen(name), 11);
		ck_assert_ptr_null(strchr(name, ':'));
		ck_assert_int_eq(store_serial_from_fdname(name, &back), 0);
		ck_assert_uint_eq(back, serials[i]);
		ck_assert(store_owns_name(name));
	}
	char name[12];
	store_fdname(16777215, name);
	ck_assert_str_eq(name, "____");   /* 2^24 - 1: four characters */
	uint64_t sentinel = 42;
	ck_assert_int_eq(store_serial_from_fdname("control", &sentinel), 0);   /* a valid, huge serial */
	sentinel = 42;
	ck_assert_int_eq(store_serial_from_fdname("", &sentinel), -EINVAL);
	ck_assert_int_eq(store_serial_from_fdname("0A", &sentinel), -EINVAL);
	ck_assert_int_eq(store_serial_from_fdname("a.b", &sentinel), -EINVAL);
	ck_assert_int_eq(store_serial_from_fdname("G____________", &sentinel), -EINVAL);
	ck_assert_int_eq(store_serial_from_fdname("G__________", &sentinel), -EINVAL);   /* over 64 bits */
	ck_assert_uint_eq(sentinel, 42);
	ck_assert(store_owns_name(STORE_REGISTRY_NAME));
	ck_assert(!store_owns_name("brokerd.socket"));
}
END_TEST

static uint64_t stored_as_of[16];

static int sa_put(void *ud, const struct reglog_entry *e)
{
	(void)ud;
	if (e->serial < 16)
		stored_as_of[e->serial] = e->stored_as;
	return 0;
}

static int sa_update(void *ud, uint64_t serial, uint8_t state, uint8_t reason, uint64_t deadline,
		     uint64_t last_trigger)
{
	return 0;
}

static int sa_remove(void *ud, uint64_t serial)
{
	return 0;
}

static const struct reglog_replay sa_cb = { sa_put, sa_update, sa_remove };

/* Which serial's fd store name holds the socket: written and read back; a
 * version 1 log (which had no such field) reads as the entry's own serial. */
START_TEST(stored_as_and_version_1)
{
	struct reglog l, m;
	ck_assert_int_eq(reglog_create(&l), 0);
	struct reglog_entry a = entry(3, "a", 5), b = entry(9, "a", 0);
	a.stored_as = 3;
	b.stored_as = 3;   /* a replace of the same socket */
	ck_assert_int_eq(reglog_put(&l, &a), 0);
	ck_assert_int_eq(reglog_put(&l, &b), 0);
	memset(stored_as_of, 0, sizeof(stored_as_of));
	ck_assert_int_eq(reglog_load(&m, dup(l.fd), &sa_cb, NULL), 0);
	ck_assert_uint_eq(m.version, FORMAT_VERSION);
	reglog_close(&m);
	ck_assert_uint_eq(stored_as_of[3], 3);
	ck_assert_uint_eq(stored_as_of[9], 3);

	size_t len;
	uint8_t *p = contents(l.fd, &len);
	for (int i = 0; i < 2; i++) {
		struct header h;
		memcpy(&h, p + i * sizeof(h), sizeof(h));
		if (h.magic != HEADER_MAGIC)
			continue;
		h.version = 1;
		h.crc = crc32c(0, &h, offsetof(struct header, crc));
		memcpy(p + i * sizeof(h), &h, sizeof(h));
	}
	memset(stored_as_of, 0, sizeof(stored_as_of));
	ck_assert_int_eq(reglog_load(&m, memfd_with(p, len), &sa_cb, NULL), 0);
	ck_assert_uint_eq(m.version, 1);
	ck_assert_uint_eq(stored_as_of[3], 3);
	ck_assert_uint_eq(stored_as_of[9], 9);
	reglog_close(&m);
	free(p);
	reglog_close(&l);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("reglog");
	TCase *tc = tcase_create("reglog");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, torn_record_at_every_byte);
	tcase_add_test(tc, compaction_keeps_state_and_bounds_memory);
	tcase_add_test(tc, torn_compaction);
	tcase_add_test(tc, garbage_is_not_a_log);
	tcase_add_test(tc, fdnames);
	tcase_add_test(tc, stored_as_and_version_1);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
