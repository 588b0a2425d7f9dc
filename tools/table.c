/* SPDX-License-Identifier: MIT */
/* Records as plain text tables (a header line, then one line per record,
 * columns padded to their widest cell, two spaces apart) or as JSON. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "brokerctl.h"

struct table {
	unsigned ncols;
	size_t nrows, cap;
	char **cells;           /* nrows * ncols, row-major; row 0 is the header */
	size_t width[];
};

static struct table *table_free(struct table *t)
{
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
	return NULL;
}

static int table_add_row(struct table *t, char **cells);

static struct table *table_new(unsigned ncols, const char *const *headers)
{
	struct table *t = calloc(1, sizeof(*t) + ncols * sizeof(t->width[0]));
	if (!t)
		return NULL;
	t->ncols = ncols;
	if (table_add_row(t, (char **)headers) < 0)
		return table_free(t);
	return t;
}

static int table_add_row(struct table *t, char **cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **grown = realloc(t->cells, cap * t->ncols * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		t->cells = grown;
		t->cap = cap;
	}
	char **row = t->cells + t->nrows * t->ncols;
	for (unsigned i = 0; i < t->ncols; i++) {
		row[i] = strdup(cells[i] && *cells[i] ? cells[i] : "-");
		if (!row[i]) {
			while (i--)
				free(row[i]);
			return -ENOMEM;
		}
	}
	for (unsigned i = 0; i < t->ncols; i++)
		if (strlen(row[i]) > t->width[i])
			t->width[i] = strlen(row[i]);
	t->nrows++;
	return 0;
}

static void table_print(const struct table *t)
{
	for (size_t r = 0; r < t->nrows; r++) {
		char **row = t->cells + r * t->ncols;
		for (unsigned i = 0; i < t->ncols; i++) {
			bool last = i + 1 == t->ncols;
			printf("%-*s%s", last ? 0 : (int)t->width[i], row[i], last ? "\n" : "  ");
		}
	}
}

#define COLUMNS_MAX 24

static int records_table(void *const *list, const struct column *cols, unsigned ncols)
{
	if (ncols > COLUMNS_MAX)
		return -E2BIG;
	const char *headers[COLUMNS_MAX];
	for (unsigned i = 0; i < ncols; i++)
		headers[i] = cols[i].header;
	struct table *t = table_new(ncols, headers);
	uint64_t now = realtime_usec();
	char cells[COLUMNS_MAX][512], *row[COLUMNS_MAX];
	for (void *const *rec = list; t && *rec; rec++) {
		for (unsigned i = 0; i < ncols; i++) {
			cols[i].cell(*rec, now, cells[i], sizeof(cells[i]));
			row[i] = cells[i];
		}
		if (table_add_row(t, row) < 0)
			t = table_free(t);
	}
	if (!t)
		return -ENOMEM;
	table_print(t);
	table_free(t);
	return 0;
}

int records_print(const struct ctl *c, void *const *list, const struct column *cols, unsigned ncols,
		  json_object *(*to_json)(const void *rec), const char *none)
{
	if (c->json) {
		json_object *arr = json_object_new_array();
		for (void *const *rec = list; *rec; rec++)
			json_object_array_add(arr, to_json(*rec));
		return json_print(arr, false);
	}
	if (!*list)
		return printf("%s\n", none) < 0 ? -EIO : 0;
	return records_table(list, cols, ncols);
}
