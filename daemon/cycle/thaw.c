/* SPDX-License-Identifier: MIT */
/* Thaw a suspended instance before a delivery (thaw.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "bus.h"
#include "handback.h"
#include "lifecycle.h"
#include "thaw.h"
#include "util.h"

/* A small file's text (what fits in len - 1 bytes); -errno. */
static int read_text(const char *path, char *buf, size_t len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

/* Its first line, without the newline. */
static int read_line(const char *path, char *buf, size_t len)
{
	int r = read_text(path, buf, len);
	if (r == 0)
		buf[strcspn(buf, "\n")] = 0;
	return r;
}

/* Stopped by a signal: state T in /proc/PID/stat (t, traced, is a
 * debugger's and left alone). */
static bool proc_stopped(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_line(path, buf, sizeof(buf)) < 0)
		return false;
	const char *p = strrchr(buf, ')');   /* the name may hold anything */
	return p && p[1] == ' ' && p[2] == 'T';
}

/* Where this namespace mounts the cgroup v2 tree (plain or hybrid layout). */
static const char *cgroup2_root(void)
{
	static const char *const roots[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
	struct statfs fs;
	for (size_t i = 0; i < ARRAY_SIZE(roots); i++)
		if (statfs(roots[i], &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC)
			return roots[i];
	return NULL;
}

/* The cgroup of pid, or its nearest ancestor, whose cgroup.freeze is 1
 * (the freezer works down the tree): its directory in ret.  false if none. */
static bool cgroup_frozen(pid_t pid, char *ret, size_t len)
{
	char path[PATH_MAX + 16], buf[PATH_MAX];
	const char *root = cgroup2_root();
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if (!root || read_text(path, buf, sizeof(buf)) < 0)
		return false;
	/* The unified line; v1 hierarchies (hybrid hosts) have lines of their own. */
	char *rel = strncmp(buf, "0::/", 4) == 0 ? buf : strstr(buf, "\n0::/");
	if (!rel)
		return false;
	rel += rel == buf ? 3 : 4;
	rel[strcspn(rel, "\n")] = 0;
	for (;;) {
		char value[8];
		int n = snprintf(ret, len, "%s%s", root, rel);
		if (n < 0 || (size_t)n >= len)
			return false;
		if (snprintf(path, sizeof(path), "%s/cgroup.freeze", ret) < (int)sizeof(path) &&
		    read_line(path, value, sizeof(value)) == 0 && strcmp(value, "1") == 0)
			return true;
		char *slash = strrchr(rel, '/');
		if (!slash || slash == rel)
			return false;   /* the root cgroup cannot be frozen */
		*slash = 0;
	}
}

/* pid's unit, if the service manager says it is frozen or freezing: thaw
 * it (Unit.Thaw, systemd >= 246; it answers once the unit runs).  Returns
 * 1 thawed, 0 not a frozen unit (or no manager to ask), or -errno with
 * why (the manager's refusal: polkit for the system instance). */
static int unit_thaw(struct daemon *d, pid_t pid, char *how, size_t len, char *why, size_t wlen)
{
	sd_bus *bus = bus_get(d);
	if (!bus)
		return 0;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	const char *path;
	_cleanup_free_ char *id = NULL, *state = NULL;
	int r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
				   "org.freedesktop.systemd1.Manager", "GetUnitByPID", &e, &reply, "u", (uint32_t)pid);
	if (r >= 0)
		r = sd_bus_message_read(reply, "o", &path);
	if (r >= 0)
		r = sd_bus_get_property_string(bus, "org.freedesktop.systemd1", path,
					       "org.freedesktop.systemd1.Unit", "FreezerState", &e, &state);
	if (r >= 0)
		r = sd_bus_get_property_string(bus, "org.freedesktop.systemd1", path,
					       "org.freedesktop.systemd1.Unit", "Id", &e, &id);
	if (r >= 0 && strcmp(state, "frozen") != 0 && strcmp(state, "freezing") != 0)
		r = -ENOENT;
	if (r >= 0) {
		snprintf(how, len, "unit %s (pid %d) was %s", id, (int)pid, state);
		sd_bus_error_free(&e);
		r = sd_bus_call_method(bus, "org.freedesktop.systemd1", path, "org.freedesktop.systemd1.Unit",
				       "Thaw", &e, NULL, "");
		if (r < 0)
			snprintf(why, wlen, "the service manager refused to thaw %s: %s", id,
				 e.message ? e.message : strerror(-r));
	}
	bus_check(d, r);
	sd_bus_message_unref(reply);
	sd_bus_error_free(&e);
	if (r < 0 && !*why)
		return 0;   /* not a frozen unit, or no manager that knows pid */
	return r < 0 ? r : 1;
}

static int cgroup_thaw(const char *dir, char *why, size_t len)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/cgroup.freeze", dir);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "0", 1) != 1) {
		int r = -errno;
		snprintf(why, len, "brokerd may not write %s: %s", path, strerror(-r));
		return r;
	}
	return 0;
}

int thaw_instance(struct daemon *d, struct app *a, pid_t pid)
{
	char dir[PATH_MAX], how[PATH_MAX + 64] = "", why[PATH_MAX + 64] = "";
	if (pid <= 0)
		return 0;
	bool frozen = cgroup_frozen(pid, dir, sizeof(dir)), stopped = proc_stopped(pid);
	if (!frozen && !stopped) {
		lifecycle_app_runs(a);
		return 0;
	}
	if (frozen)
		snprintf(how, sizeof(how), "pid %d's cgroup %s is frozen", (int)pid, dir);
	else
		snprintf(how, sizeof(how), "pid %d is stopped by a signal", (int)pid);
	if (!a->m || !a->m->thaw) {
		char text[sizeof(how) + 160];
		snprintf(text, sizeof(text), "%s; the manifest does not say thaw = yes ([activation]), so brokerd "
			 "leaves it as its shell left it", how);
		lifecycle_app_thaw(d, a, pid, -EPERM, text);
		return -EAGAIN;
	}
	int r = 0;
	if (frozen) {
		r = unit_thaw(d, pid, how, sizeof(how), why, sizeof(why));
		if (r == 0)
			r = cgroup_thaw(dir, why, sizeof(why));
		r = r < 0 ? r : 0;
	}
	if (r == 0 && stopped) {
		if (kill(pid, SIGCONT) < 0) {
			r = -errno;
			snprintf(why, sizeof(why), "brokerd may not signal pid %d: %s", (int)pid, strerror(errno));
		} else if (!frozen) {
			snprintf(how, sizeof(how), "pid %d was stopped; sent SIGCONT", (int)pid);
		}
	}
	if (r < 0) {
		char text[sizeof(how) + sizeof(why) + 2];
		snprintf(text, sizeof(text), "%s; %s", how, why);
		lifecycle_app_thaw(d, a, pid, r, text);
		return -EAGAIN;
	}
	lifecycle_app_thaw(d, a, pid, 0, how);
	return 1;
}

pid_t thaw_instance_pid(const struct app *a)
{
	if (a->attached || a->pid)
		return a->attached ? a->attached : a->pid;
	pid_t pid = a->conn ? a->conn->pid : 0;
	char path[32];
	struct stat st;
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	return pid > 0 && a->m && stat(path, &st) == 0 && st.st_uid == a->m->uid ? pid : 0;
}
