/* SPDX-License-Identifier: MIT */
/* Plain text tables: a header line, then one line per row, columns padded
 * to their widest cell and separated by two spaces. */
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

struct table *table_free(struct table *t)
{
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
	return NULL;
}

struct table *table_new(unsigned ncols, const char *const *headers)
{
	struct table *t = calloc(1, sizeof(*t) + ncols * sizeof(t->width[0]));
	if (!t)
		return NULL;
	t->ncols = ncols;
	if (table_add_row(t, (char **)headers) < 0)
		return table_free(t);
	return t;
}

int table_add_row(struct table *t, char **cells)
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

void table_print(const struct table *t)
{
	for (size_t r = 0; r < t->nrows; r++) {
		char **row = t->cells + r * t->ncols;
		for (unsigned i = 0; i < t->ncols; i++) {
			bool last = i + 1 == t->ncols;
			printf("%-*s%s", last ? 0 : (int)t->width[i], row[i], last ? "\n" : "  ");
		}
	}
}
