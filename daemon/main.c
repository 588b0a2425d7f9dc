/* SPDX-License-Identifier: MIT */
/* brokerd: hold sockets for apps, wake the apps when something happens. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "activate.h"
#include "client.h"
#include "control.h"
#include "daemon.h"
#include "log.h"
#include "monitor.h"
#include "notify.h"
#include "registry.h"
#include "store.h"
#include "testhook.h"
#include "util.h"

static void on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	log_info("signal %d: shutting down", w->signum);
	ev_break(loop, EVBREAK_ALL);
}

static void on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)w;
	(void)revents;
	log_info("SIGHUP: reloading manifests");
	registry_reload(ev_userdata(loop));
}

/* Sort what systemd passed: the control socket, and held sockets to restore. */
static int take_listen_fds(struct daemon *d)
{
	char **names = NULL;
	int n = sd_listen_fds_with_names(1, &names);
	if (n <= 0)
		return n;
	int *rest = calloc((size_t)n, sizeof(int));
	char **rest_names = calloc((size_t)n, sizeof(char *));
	int nrest = 0;
	if (!rest || !rest_names) {
		free(rest);
		free(rest_names);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		/* A held listener may be an AF_UNIX SEQPACKET one too: only a
		 * name the store does not give can be the control socket. */
		bool control = d->control_fd < 0 && (strcmp(names[i], "control") == 0 ||
			       (!store_owns_name(names[i]) && sd_is_socket_unix(fd, SOCK_SEQPACKET, 1, NULL, 0) > 0));
		if (control) {
			d->control_fd = fd;
			free(names[i]);
		} else {
			rest[nrest] = fd;
			rest_names[nrest++] = names[i];
		}
	}
	free(names);
	int r = store_restore(d, rest, rest_names, nrest);
	for (int i = 0; i < nrest; i++)
		free(rest_names[i]);
	free(rest);
	free(rest_names);
	return r;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: brokerd [OPTIONS]\n"
		"Hold sockets for apps and start the apps again when something happens.\n\n"
		"  --system             system instance (default for root)\n"
		"  --user               user instance (default for other users)\n"
		"  -c, --config FILE    brokerd.conf to read (a given file must exist)\n"
		"  -s, --socket PATH    control socket path\n"
		"  -a, --apps-dir DIR   directory of app manifests (*.conf)\n"
		"  -v, --verbose        log debug messages too\n"
		"      --check          read the configuration and manifests, report, exit\n"
		"  -h, --help           this text\n"
		"      --version        print the version\n\n"
		"See brokerd(8), brokerd.conf in brokerd(8), and socket-broker-manifest(5).\n");
}

struct options {
	int user;              /* -1 = by uid */
	const char *config, *socket, *apps_dir;
	bool verbose, check;
};

static int parse_args(int argc, char **argv, struct options *o)
{
	enum { OPT_SYSTEM = 256, OPT_USER, OPT_CHECK, OPT_VERSION };
	static const struct option opts[] = {
		{ "system", no_argument, NULL, OPT_SYSTEM },
		{ "user", no_argument, NULL, OPT_USER },
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "apps-dir", required_argument, NULL, 'a' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "check", no_argument, NULL, OPT_CHECK },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ 0 },
	};
	*o = (struct options){ .user = -1 };
	int c;
	while ((c = getopt_long(argc, argv, "c:s:a:vh", opts, NULL)) != -1) {
		switch (c) {
		case OPT_SYSTEM: o->user = 0; break;
		case OPT_USER: o->user = 1; break;
		case 'c': o->config = optarg; break;
		case 's': o->socket = optarg; break;
		case 'a': o->apps_dir = optarg; break;
		case 'v': o->verbose = true; break;
		case OPT_CHECK: o->check = true; break;
		case 'h': usage(stdout); exit(0);
		case OPT_VERSION: printf("brokerd %s\n", PACKAGE_VERSION); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "brokerd: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

static int setup_config(struct daemon *d, const struct options *o)
{
	char err[512];
	bool user = o->user >= 0 ? o->user : geteuid() != 0;
	int r = daemon_init(d, NULL, user);
	if (r < 0) {
		log_error("cannot work out default paths%s", user ? " (is XDG_RUNTIME_DIR set?)" : "");
		return r;
	}
	r = config_load(&d->cfg, o->config ? o->config : d->cfg.config_path, o->config != NULL, err, sizeof(err));
	if (r == 0 && o->socket && !(free(d->cfg.socket_path), d->cfg.socket_path = strdup(o->socket)))
		r = -ENOMEM;
	if (r == 0 && o->apps_dir && !(free(d->cfg.apps_dir), d->cfg.apps_dir = strdup(o->apps_dir)))
		r = -ENOMEM;
	if (r == 0)
		r = config_finish(&d->cfg, err, sizeof(err));
	if (r < 0)
		log_error("configuration: %s", err[0] ? err : strerror(-r));
	return r;
}

int main(int argc, char **argv)
{
	static struct daemon d;
	struct options o;
	if (parse_args(argc, argv, &o) < 0)
		return 2;
	log_setup(o.verbose);

	if (setup_config(&d, &o) < 0)
		return 2;

	if (o.check) {
		int n = manifests_check_dir(d.cfg.apps_dir);
		daemon_free(&d);
		return n < 0 ? 2 : n > 0 ? 1 : 0;
	}

	signal(SIGPIPE, SIG_IGN);
	d.loop = ev_default_loop(EVFLAG_AUTO);
	if (!d.loop) {
		log_error("cannot create the event loop");
		return 1;
	}
	ev_set_userdata(d.loop, &d);
	/* The layers above core subscribe to its events. */
	int r = activate_init(&d);
	if (r == 0)
		r = client_init(&d);
	if (r == 0)
		r = monitor_init(&d);
	if (r < 0) {
		log_error_errno(r, "cannot start: %m");
		return 1;
	}

	testhook_setup(&d);
	r = registry_reload(&d);
	if (r < 0) {
		log_error_errno(r, "cannot start: manifests in %s: %m", d.cfg.apps_dir);
		return 1;
	}
	r = take_listen_fds(&d);
	if (r < 0) {
		log_error_errno(r, "cannot start: restoring held sockets: %m");
		return 1;
	}
	r = control_open(&d);
	if (r < 0) {
		log_error_errno(r, "cannot start: control socket %s: %m", d.cfg.socket_path);
		return 1;
	}

	ev_signal_init(&d.sigterm, on_stop, SIGTERM);
	ev_signal_init(&d.sigint, on_stop, SIGINT);
	ev_signal_init(&d.sighup, on_hup, SIGHUP);
	ev_signal_start(d.loop, &d.sigterm);
	ev_signal_start(d.loop, &d.sigint);
	ev_signal_start(d.loop, &d.sighup);

	log_info("ready: control socket %s, %u app(s), limit %u held socket(s)",
		 d.cfg.socket_path, d.napps, d.cfg.max_held);
	notify_ready(&d);
	store_audit_now(&d);
	ev_run(d.loop, 0);

	notify_stopping(&d);
	control_close(&d);
	client_close_all(&d);
	activate_shutdown(&d);
	registry_shutdown(&d);
	daemon_free(&d);
	ev_loop_destroy(d.loop);
	log_info("stopped");
	return 0;
}
