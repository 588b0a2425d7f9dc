/* SPDX-License-Identifier: MIT */
/* apps.d: which manifest files brokerd trusts, and which app ids they may
 * claim between them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <ini.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "manifest.h"
#include "util.h"

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
			  void (*report)(void *ud, const char *path, const char *message), void *ud)
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
				report(ud, list[k]->path, err);
		}
		for (; i < j; i++)
			manifest_free(list[i]);
	}
	list[kept] = NULL;
	return kept;
}

int manifests_load_dir(const char *dir, bool lookup_user,
		       void (*report)(void *ud, const char *path, const char *message), void *ud,
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
				report(ud, dir, err);
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
				report(ud, path, err);
			continue;
		}
		list[count++] = m;
	}
	free(names);
	*ret = list;
	return drop_conflicts(list, count, report, ud);
}


/* May uid (with gid and, if the user has a name, its groups) execute path?
 * In a child with those ids when we are root, so that every directory on
 * the way counts; as ourselves otherwise. */
static int may_execute(const char *path, uid_t uid, gid_t gid)
{
	if (geteuid() != 0 || uid == 0)
		return access(path, X_OK) < 0 ? -errno : 0;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		struct passwd *pw = getpwuid(uid);
		if ((pw ? initgroups(pw->pw_name, gid) : setgroups(0, NULL)) < 0 || setgid(gid) < 0 ||
		    setuid(uid) < 0)
			_exit(125);
		_exit(access(path, X_OK) < 0 ? (errno & 0x7f) : 0);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (!WIFEXITED(status) || WEXITSTATUS(status) == 125)
		return -EPERM;
	return -WEXITSTATUS(status);
}

int manifest_check_runnable(const struct manifest *m, char *err, size_t errlen)
{
	if (m->activation != ACTIVATION_EXEC || !m->argv)
		return 0;
	const char *prog = m->argv[0];
	struct stat st;
	if (stat(prog, &st) < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: [activation] command: %s: %s", m->path, prog, strerror(e));
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: [activation] command: %s is not a regular file", m->path, prog);
		return -EACCES;
	}
	int r = may_execute(prog, m->uid, m->gid);
	if (r < 0)
		snprintf(err, errlen, "%s: [activation] command: user %s may not run %s: %s", m->path, m->user,
			 prog, strerror(-r));
	return r;
}

static unsigned check_problems;

static void check_report(void *ud, const char *path, const char *message)
{
	(void)ud;
	(void)path;
	fprintf(stderr, "%s\n", message);
	check_problems++;
}

int manifests_check_dir(const char *dir)
{
	struct manifest **list;
	check_problems = 0;
	int n = manifests_load_dir(dir, true, check_report, NULL, &list);
	if (n < 0) {
		fprintf(stderr, "%s: %s\n", dir, strerror(-n));
		return n;
	}
	for (int i = 0; i < n; i++) {
		char err[4400];
		if (manifest_check_runnable(list[i], err, sizeof(err)) < 0) {
			check_report(NULL, list[i]->path, err);
			continue;
		}
		printf("%s: %s (%s, %s)\n", list[i]->path, list[i]->id, manifest_activation_name(list[i]->activation),
		       manifest_handoff_name(list[i]->handoff));
	}
	manifests_free(list);
	if (check_problems)
		fprintf(stderr, "%u problem(s) in %s: the apps concerned would not be served\n", check_problems, dir);
	return (int)check_problems;
}

struct peek {
	char *id;
	size_t idlen;
	uid_t uid;
};

static int peek_handler(void *user, const char *section, const char *name, const char *value)
{
	struct peek *p = user;
	if (strcasecmp(section, "app") != 0)
		return 1;
	if (strcasecmp(name, "id") == 0 && !p->id[0])
		snprintf(p->id, p->idlen, "%s", value);
	else if (strcasecmp(name, "user") == 0 && p->uid == (uid_t)-1) {
		unsigned num;
		struct passwd *pw;
		if (config_parse_uint(value, 0, 0xfffffffe, &num) == 0)
			p->uid = num;
		else if ((pw = getpwnam(value)))
			p->uid = pw->pw_uid;
	}
	return 1;   /* read on past errors: only these two keys matter */
}

void manifest_peek(const char *path, char *id, size_t idlen, uid_t *ret_uid)
{
	struct peek p = { id, idlen, (uid_t)-1 };
	id[0] = 0;
	/* A regular file only: a FIFO would block, /dev/zero never end. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	FILE *f = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? fdopen(fd, "re") : NULL;
	if (f) {
		(void)ini_parse_file(f, peek_handler, &p);
		fclose(f);
	} else if (fd >= 0) {
		close(fd);
	}
	if (bp_check_id(id, 255) < 0)
		id[0] = 0;
	*ret_uid = p.uid;
}
