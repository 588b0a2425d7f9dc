/* SPDX-License-Identifier: MIT */
/* apps.d: which manifest files brokerd trusts, and which app ids they may
 * claim between them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manifest.h"

int manifest_check_trust(const struct stat *st, const char *what, char *err, size_t errlen)
{
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		snprintf(err, errlen, "%s is owned by uid %u, neither root nor brokerd's user", what, st->st_uid);
		return -EPERM;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen, "%s is writable by %s", what, st->st_mode & S_IWOTH ? "everyone" : "its group");
		return -EPERM;
	}
	return 0;
}

/* Open and parse one file of apps.d, if brokerd can trust it.  fstat on
 * the open file: what is checked is what is read. */
static int parse_trusted(const char *path, bool lookup_user, struct manifest **ret, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	int r = fstat(fd, &st) < 0 ? -errno : 0;
	if (r == 0 && !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		r = -EINVAL;
	}
	if (r == 0)
		r = manifest_check_trust(&st, path, err, errlen);
	FILE *f = r == 0 ? fdopen(fd, "re") : NULL;
	if (!f) {
		if (r == 0) {
			r = -errno;
			snprintf(err, errlen, "%s: %s", path, strerror(-r));
		}
		close(fd);
		return r;
	}
	return manifest_parse_stream(f, path, lookup_user, ret, err, errlen);
}

static int conf_filter(const struct dirent *e)
{
	size_t n = strlen(e->d_name);
	return e->d_name[0] != '.' && n > 5 && strcmp(e->d_name + n - 5, ".conf") == 0;
}

static int id_cmp(const void *a, const void *b)
{
	const struct manifest *const *x = a, *const *y = b;
	int r = strcmp((*x)->id, (*y)->id);
	return r ? r : strcmp((*x)->path, (*y)->path);
}

/* Two files that claim one id: neither wins, so that a file sorted first
 * cannot take an app over.  The list is sorted by id on return. */
static int drop_conflicts(struct manifest **list, int count,
			  void (*report)(const char *path, const char *message))
{
	qsort(list, (size_t)count, sizeof(*list), id_cmp);
	int kept = 0;
	for (int i = 0; i < count;) {
		int j = i + 1;
		while (j < count && strcmp(list[j]->id, list[i]->id) == 0)
			j++;
		if (j - i == 1) {
			list[kept++] = list[i++];
			continue;
		}
		for (int k = i; k < j; k++) {
			char err[512];
			snprintf(err, sizeof(err), "app %s is declared by %d files (%s and %s); none of them is used",
				 list[k]->id, j - i, list[i]->path, list[i + 1]->path);
			if (report)
				report(list[k]->path, err);
		}
		for (; i < j; i++)
			manifest_free(list[i]);
	}
	list[kept] = NULL;
	return kept;
}

int manifests_load_dir(const char *dir, bool lookup_user,
		       void (*report)(const char *path, const char *message),
		       struct manifest ***ret)
{
	struct stat st;
	if (stat(dir, &st) < 0) {
		if (errno != ENOENT)
			return -errno;
	} else {
		/* Whoever may write to apps.d may declare apps. */
		char err[512];
		int r = manifest_check_trust(&st, dir, err, sizeof(err));
		if (r < 0) {
			if (report)
				report(dir, err);
			return r;
		}
	}
	struct dirent **names = NULL;
	int n = scandir(dir, &names, conf_filter, alphasort);
	if (n < 0) {
		if (errno != ENOENT)
			return -errno;
		n = 0;   /* no apps.d at all: no apps */
	}
	struct manifest **list = calloc((size_t)n + 1, sizeof(*list));
	if (!list) {
		for (int i = 0; i < n; i++)
			free(names[i]);
		free(names);
		return -ENOMEM;
	}
	int count = 0;
	for (int i = 0; i < n; i++) {
		char path[4096], err[sizeof(path) + 256];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		free(names[i]);
		struct manifest *m;
		if (parse_trusted(path, lookup_user, &m, err, sizeof(err)) < 0) {
			if (report)
				report(path, err);
			continue;
		}
		list[count++] = m;
	}
	free(names);
	*ret = list;
	return drop_conflicts(list, count, report);
}

