/* SPDX-License-Identifier: MIT */
/* brokerctl transfer and listen: hand a socket to brokerd from a script. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "brokerctl.h"
#include "util.h"

/* brokerd's own ceiling decides; this only stops us reading without end. */
#define CONTEXT_FILE_MAX (64u * 1024u)

static int read_context(const char *path, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = strcmp(path, "-") == 0 ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	_cleanup_free_ char *buf = malloc(CONTEXT_FILE_MAX + 1);
	if (!buf)
		return -ENOMEM;
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, CONTEXT_FILE_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CONTEXT_FILE_MAX)
			return -E2BIG;
	}
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

/* Register as app and hand fd over.  On success fd is closed. */
static int hand_over(struct ctl *c, const char *app, const char *id, int fd,
		     const void *context, size_t context_len, uint32_t keepalive)
{
	int r = ctl_connect(c);
	if (r != EXIT_OK)
		return r;
	r = broker_register(c->b, app);
	if (r < 0)
		return ctl_fail(c, r, app);
	r = broker_transfer(c->b, id, fd, context, context_len, keepalive);
	if (r < 0) {
		char what[2 * BROKER_ID_MAX + 2];
		snprintf(what, sizeof(what), "%s/%s", app, id);
		return ctl_fail(c, r, what);
	}
	return EXIT_OK;
}

const struct option transfer_options[] = {
	VERB_COMMON_OPTIONS,
	{ "context", required_argument, NULL, 'C' },
	{ "context-file", required_argument, NULL, 'F' },
	{ "keepalive", required_argument, NULL, 'k' },
	{ 0 },
};

int verb_transfer(struct ctl *c, int argc, char **argv)
{
	const char *context = NULL, *context_file = NULL;
	uint32_t keepalive = 0, fd;
	int o;
	while ((o = verb_getopt(c, argc, argv, VERB_COMMON_SHORT "k:", transfer_options)) != -1) {
		switch (o) {
		case 'C': context = optarg; break;
		case 'F': context_file = optarg; break;
		case 'k':
			if (parse_u32(optarg, &keepalive) < 0)
				return ctl_usage(c, "--keepalive wants seconds, not '%s'", optarg);
			break;
		default: return EXIT_USAGE;
		}
	}
	if (context && context_file)
		return ctl_usage(c, "give --context or --context-file, not both");
	if (argc - optind != 3)
		return ctl_usage(c, "give APP ID FD");
	const char *app = argv[optind], *id = argv[optind + 1];
	if (parse_u32(argv[optind + 2], &fd) < 0 || fd > INT_MAX)
		return ctl_usage(c, "'%s' is not a file descriptor number", argv[optind + 2]);

	/* Before brokerctl opens anything, or a closed FD could name our own. */
	char what[32];
	snprintf(what, sizeof(what), "fd %u", fd);
	if (fcntl((int)fd, F_GETFD) < 0)
		return ctl_fail(c, -EBADF, what);

	_cleanup_free_ char *file_context = NULL;
	size_t context_len = context ? strlen(context) : 0;
	if (context_file) {
		int r = read_context(context_file, &file_context, &context_len);
		if (r < 0)
			return ctl_fail(c, r, context_file);
		context = file_context;
	}
	int r = hand_over(c, app, id, (int)fd, context, context_len, keepalive);
	/* Keep stdin/stdout/stderr open, so nothing later writes into a reused fd. */
	if (r == EXIT_OK && fd <= STDERR_FILENO) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0 && null != (int)fd) {
			dup2(null, (int)fd);
			close(null);
		}
	}
	return r;
}

static int print_listening(struct ctl *c, const char *bound, int port, const char *app, const char *id)
{
	if (!c->json)
		return printf("%s\n", bound) < 0 ? -EIO : 0;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "app", json_text(app));
	json_object_object_add(o, "id", json_text(id));
	json_object_object_add(o, "address", json_text(bound));
	json_object_object_add(o, "port", port >= 0 ? json_object_new_int(port) : NULL);
	return json_print(o, false);
}

const struct option listen_options[] = {
	VERB_COMMON_OPTIONS,
	{ "backlog", required_argument, NULL, 'b' },
	{ 0 },
};

int verb_listen(struct ctl *c, int argc, char **argv)
{
	uint32_t backlog = SOMAXCONN;
	int o;
	while ((o = verb_getopt(c, argc, argv, VERB_COMMON_SHORT, listen_options)) != -1) {
		if (o != 'b')
			return EXIT_USAGE;
		if (parse_u32(optarg, &backlog) < 0 || backlog > INT_MAX)
			return ctl_usage(c, "--backlog wants a number, not '%s'", optarg);
	}
	if (argc - optind != 3)
		return ctl_usage(c, "give ADDR APP ID");
	const char *text = argv[optind], *app = argv[optind + 1], *id = argv[optind + 2];
	struct listen_addr a;
	int r = addr_parse(text, &a);
	if (r == -ERANGE)
		return ctl_usage(c, "'%s': a port is a number from 0 to 65535 (or a service name)", text);
	if (r < 0)
		return ctl_usage(c, "'%s' is not an address like tcp:HOST:PORT, udp:HOST:PORT or unix:/path", text);

	char err[256];
	_cleanup_close_ int fd = addr_bind(&a, (int)backlog, err, sizeof(err));
	if (fd < 0) {
		fprintf(stderr, "brokerctl: listen: %s: %s\n", text, err[0] ? err : strerror(-fd));
		return EXIT_FAILURE_RUNTIME;
	}
	char bound[sizeof(a.un.sun_path) + 300];
	r = addr_format(fd, &a, bound, sizeof(bound));
	if (r < 0)
		return ctl_fail(c, r, text);
	int port = addr_port(fd);
	r = hand_over(c, app, id, fd, NULL, 0, 0);
	if (r != EXIT_OK) {
		if (a.family == AF_UNIX && a.un.sun_path[0])
			unlink(a.un.sun_path);   /* we made it, and nobody holds it */
		return r;
	}
	fd = -1;   /* brokerd's now; printed only now, so a script may rely on it */
	r = print_listening(c, bound, port, app, id);
	return r < 0 ? ctl_fail(c, r, NULL) : EXIT_OK;
}
