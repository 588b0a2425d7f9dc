/* SPDX-License-Identifier: MIT */
/* Instances tracked whole, from /proc (instance.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "app.h"
#include "instance.h"
#include "util.h"

/* How deep below an instance's first process the tree is followed. */
#define DEPTH_MAX 64
/* How much of an orphan's environment is read for BROKER_APP_ID. */
#define ENVIRON_MAX (64 * 1024)

int instance_init(void)
{
	return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0 ? -errno : 0;
}

static bool seen_has(const struct instance *in, pid_t id)
{
	for (unsigned i = 0; i < in->nseen && i < INSTANCE_SEEN_MAX; i++)
		if (in->seen[i] == id)
			return true;
	return false;
}

static void seen_add(struct instance *in, pid_t id)
{
	if (id > 0 && !seen_has(in, id))
		in->seen[in->nseen++ % INSTANCE_SEEN_MAX] = id;
}

void instance_begin(struct instance *in, pid_t main)
{
	*in = (struct instance){ .kind = INSTANCE_EXEC, .main = main, .nprocs = 1, .procs = { main } };
	seen_add(in, main);
}

void instance_end(struct instance *in)
{
	*in = (struct instance){ .kind = INSTANCE_NONE };
}

struct proc_stat {
	pid_t ppid, pgid, sid;
};

/* A live process's parent, group and session; false if it is gone or a zombie. */
static bool proc_stat(pid_t pid, struct proc_stat *st)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = 0;
	const char *p = strrchr(buf, ')');
	char state;
	return p && sscanf(p + 1, " %c %d %d %d", &state, &st->ppid, &st->pgid, &st->sid) == 4 &&
	       state != 'Z' && state != 'X';
}

/* Call fn for each child of pid, of every one of its threads. */
static void each_child(pid_t pid, void (*fn)(void *ctx, pid_t child), void *ctx)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *dir = opendir(path);
	if (!dir)
		return;
	struct dirent *e;
	while ((e = readdir(dir))) {
		if (e->d_name[0] == '.')
			continue;
		char file[sizeof(path) + sizeof(e->d_name) + 16];
		snprintf(file, sizeof(file), "%s/%s/children", path, e->d_name);
		FILE *f = fopen(file, "re");
		int child;
		while (f && fscanf(f, "%d", &child) == 1)
			fn(ctx, child);
		if (f)
			fclose(f);
	}
	closedir(dir);
}

/* The app an orphan's environment names, if it has an instance. */
static struct app *environ_app(struct daemon *d, pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *env = fd < 0 ? NULL : malloc(ENVIRON_MAX + 1);
	ssize_t n = env ? read(fd, env, ENVIRON_MAX) : -1;
	if (n <= 0)
		return NULL;
	env[n] = 0;
	static const char key[] = "BROKER_APP_ID=";
	for (char *p = env; p < env + n; p += strlen(p) + 1)
		if (strncmp(p, key, sizeof(key) - 1) == 0) {
			struct app *a = app_find(d, p + sizeof(key) - 1);
			return a && instance_alive(&a->inst) ? a : NULL;
		}
	return NULL;
}

/* Whose is brokerd's child pid: the instance that started it or listed
 * it, the one whose session or group it is in, the app it names. */
static struct app *owner(struct daemon *d, pid_t pid)
{
	struct proc_stat st;
	struct app *a;
	if (!proc_stat(pid, &st))
		return NULL;
	TAILQ_FOREACH(a, &d->apps, link) {
		const struct instance *in = &a->inst;
		if (!instance_alive(in))
			continue;
		if (in->main == pid)
			return a;
		for (unsigned i = 0; i < in->nprocs && i < INSTANCE_PROCS_MAX; i++)
			if (in->procs[i] == pid)
				return a;
	}
	TAILQ_FOREACH(a, &d->apps, link)
		if (instance_alive(&a->inst) && (seen_has(&a->inst, st.pgid) || seen_has(&a->inst, st.sid)))
			return a;
	return environ_app(d, pid);
}

struct walk {
	struct instance *in;
	int sig;                     /* sent to every process met, 0: none */
	unsigned depth;
	unsigned hit;
};

static void walk(void *ctx, pid_t pid)
{
	struct walk *w = ctx;
	struct proc_stat st;
	if (!proc_stat(pid, &st))
		return;
	struct instance *in = w->in;
	if (in->nprocs < INSTANCE_PROCS_MAX)
		in->procs[in->nprocs] = pid;
	in->nprocs++;
	seen_add(in, st.pgid);
	seen_add(in, st.sid);
	if (w->depth < DEPTH_MAX) {
		w->depth++;
		each_child(pid, walk, w);
		w->depth--;
	}
	/* After its children are listed: a parent killed first would
	 * hand them on before they were seen. */
	if (w->sig && kill(pid, w->sig) == 0)
		w->hit++;
}

struct roots {
	pid_t pid[256];
	unsigned n;
};

static void add_root(void *ctx, pid_t pid)
{
	struct roots *r = ctx;
	if (r->n < ARRAY_SIZE(r->pid))
		r->pid[r->n++] = pid;
}

/* Scan every instance; send sig to the processes of target, if any. */
static unsigned scan(struct daemon *d, struct instance *target, int sig)
{
	struct roots roots = { .n = 0 };
	struct app *owners[ARRAY_SIZE(roots.pid)], *a;
	each_child(getpid(), add_root, &roots);
	for (unsigned i = 0; i < roots.n; i++)
		owners[i] = owner(d, roots.pid[i]);
	TAILQ_FOREACH(a, &d->apps, link)
		a->inst.nprocs = 0;
	unsigned hit = 0;
	for (unsigned i = 0; i < roots.n; i++) {
		if (!owners[i])
			continue;
		struct walk w = { .in = &owners[i]->inst, .sig = &owners[i]->inst == target ? sig : 0 };
		walk(&w, roots.pid[i]);
		hit += w.hit;
	}
	return hit;
}

void instance_scan(struct daemon *d)
{
	struct app *a;
	TAILQ_FOREACH(a, &d->apps, link)
		if (instance_alive(&a->inst)) {
			scan(d, NULL, 0);
			return;
		}
}

void instance_main_reaped(struct daemon *d, struct instance *in, int status)
{
	in->main = 0;
	in->main_status = status;
	scan(d, NULL, 0);
}

unsigned instance_kill(struct daemon *d, struct instance *in, int sig)
{
	if (!instance_alive(in))
		return 0;
	return scan(d, in, sig);
}

void instance_comm(pid_t pid, char comm[16])
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, comm, 15);
	if (n <= 0) {
		strcpy(comm, "?");
		return;
	}
	comm[n] = 0;
	comm[strcspn(comm, "\n")] = 0;
}
