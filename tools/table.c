/* SPDX-License-Identifier: MIT */
/* Records as tables (libsmartcols: a header line, then one line per record,
 * columns as wide as their widest cell in characters, cut where they must
 * be to fit the terminal) or as JSON. */
#include <errno.h>
#include <libsmartcols.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <wchar.h>

#include "brokerctl.h"

#define COLUMNS_MAX 24

unsigned table_width(const struct ctl *c)
{
	if (c->full)
		return 0;
	/* as systemctl: $COLUMNS first, so that a script may ask for a width */
	const char *e = getenv("COLUMNS");
	uint32_t n;
	if (e && parse_u32(e, &n) == 0 && n > 0)
		return n;
	struct winsize ws;
	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 0;
}

/* Columns on the screen a cell takes (a character that cannot be shown: one). */
static size_t text_width(const char *s)
{
	size_t n = mbstowcs(NULL, s, 0);
	if (n == (size_t)-1)
		return strlen(s);
	wchar_t *w = calloc(n + 1, sizeof(*w));
	int cols = w && mbstowcs(w, s, n + 1) != (size_t)-1 ? wcswidth(w, n) : -1;
	free(w);
	return cols < 0 ? n : (size_t)cols;
}

/* A cut cell still worth showing has this many characters, or its header's. */
#define SQUEEZE_MIN 12

/* On a terminal too narrow for the table with its cut columns still worth
 * reading (SQUEEZE_MIN), leave columns out, the highest drop first. */
static void table_choose(const struct column *cols, unsigned ncols, char **cells, size_t nrows,
			 unsigned width, bool *shown)
{
	size_t need[COLUMNS_MAX], total = 0;
	for (unsigned i = 0; i < ncols; i++) {
		shown[i] = true;
		size_t widest = 0, header = text_width(cols[i].header);
		for (size_t r = 0; r < nrows; r++) {
			size_t w = text_width(cells[r * ncols + i]);
			widest = w > widest ? w : widest;
		}
		if (cols[i].squeeze && widest > SQUEEZE_MIN)
			widest = SQUEEZE_MIN;
		need[i] = widest > header ? widest : header;
		total += need[i] + (i ? 2 : 0);
	}
	while (width && total > width) {
		unsigned worst = ncols;
		for (unsigned i = 0; i < ncols; i++)
			if (shown[i] && cols[i].drop && (worst == ncols || cols[i].drop > cols[worst].drop))
				worst = i;
		if (worst == ncols)
			return;
		shown[worst] = false;
		total -= need[worst] + 2;
	}
}

static int table_fill(struct libscols_table *tb, const struct column *cols, unsigned ncols, char **cells,
		      size_t nrows, unsigned width)
{
	bool shown[COLUMNS_MAX];
	table_choose(cols, ncols, cells, nrows, width, shown);
	for (unsigned i = 0; i < ncols; i++)
		if (shown[i] && !scols_table_new_column(tb, cols[i].header, cols[i].width,
							cols[i].squeeze ? SCOLS_FL_TRUNC : 0))
			return -ENOMEM;
	for (size_t r = 0; r < nrows; r++) {
		struct libscols_line *ln = scols_table_new_line(tb, NULL);
		if (!ln)
			return -ENOMEM;
		for (unsigned i = 0, n = 0; i < ncols; i++)
			if (shown[i] && scols_line_set_data(ln, n++, cells[r * ncols + i]) < 0)
				return -ENOMEM;
	}
	return 0;
}

static char **cells_free(char **cells, size_t n)
{
	for (size_t i = 0; cells && i < n; i++)
		free(cells[i]);
	free(cells);
	return NULL;
}

/* Every cell of the table, row by row ("-" for ""); NULL if out of memory. */
static char **table_cells(void *const *list, size_t nrows, const struct column *cols, unsigned ncols)
{
	char **cells = calloc(nrows * ncols, sizeof(*cells));
	uint64_t now = realtime_usec();
	char cell[512];
	for (size_t r = 0; cells && r < nrows; r++)
		for (unsigned i = 0; i < ncols; i++) {
			cols[i].cell(list[r], now, cell, sizeof(cell));
			if (!(cells[r * ncols + i] = strdup(*cell ? cell : "-")))
				return cells_free(cells, nrows * ncols);
		}
	return cells;
}

static int records_table(const struct ctl *c, unsigned width, void *const *list, const struct column *cols,
			 unsigned ncols)
{
	size_t nrows = 0;
	while (list[nrows])
		nrows++;
	if (ncols > COLUMNS_MAX)
		return -E2BIG;
	char **cells = table_cells(list, nrows, cols, ncols);
	struct libscols_table *tb = cells ? scols_new_table() : NULL;
	if (!tb) {
		cells_free(cells, nrows * ncols);
		return -ENOMEM;
	}
	/* two spaces, so that headers of two words ("HELD SINCE") stay apart */
	int r = scols_table_set_column_separator(tb, "  ");
	scols_table_enable_noheadings(tb, c->no_legend);
	if (width) {
		scols_table_set_termforce(tb, SCOLS_TERMFORCE_ALWAYS);
		scols_table_set_termwidth(tb, width);
	} else {
		scols_table_set_termforce(tb, SCOLS_TERMFORCE_NEVER);
	}
	if (r == 0)
		r = table_fill(tb, cols, ncols, cells, nrows, width);
	if (r == 0)
		r = scols_print_table(tb) < 0 ? -EIO : 0;
	scols_unref_table(tb);
	cells_free(cells, nrows * ncols);
	return r;
}

int records_print(const struct ctl *c, void *const *list, const struct column *cols, unsigned ncols,
		  json_object *(*to_json)(const void *rec), const char *none)
{
	unsigned width = table_width(c);   /* the terminal's, before the pager takes stdout */
	pager_open(c);
	if (c->json) {
		json_object *arr = json_object_new_array();
		for (void *const *rec = list; *rec; rec++)
			json_object_array_add(arr, to_json(*rec));
		return json_print(arr, false);
	}
	if (!*list)
		return c->quiet || c->no_legend || printf("%s\n", none) >= 0 ? 0 : -EIO;
	return records_table(c, width, list, cols, ncols);
}
