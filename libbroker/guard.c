/* SPDX-License-Identifier: MIT */
/* fds that must not be handed to brokerd (userspace TLS sessions). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "client.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int *guarded;
static size_t nguarded, capacity;

int broker_fd_guard(int fd, const char *why)
{
	int r = 0;
	if (fd < 0)
		return -EBADF;
	pthread_mutex_lock(&lock);
	size_t i;
	for (i = 0; i < nguarded && guarded[i] != fd; i++)
		;
	if (why && i == nguarded) {
		if (nguarded == capacity) {
			size_t cap = capacity ? capacity * 2 : 16;
			int *grown = realloc(guarded, cap * sizeof(*grown));
			if (!grown) {
				r = -ENOMEM;
				goto out;
			}
			guarded = grown;
			capacity = cap;
		}
		guarded[nguarded++] = fd;
	} else if (!why && i < nguarded) {
		guarded[i] = guarded[--nguarded];
	}
out:
	pthread_mutex_unlock(&lock);
	return r;
}

bool bg_is_guarded(int fd)
{
	bool found = false;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nguarded && !found; i++)
		found = guarded[i] == fd;
	pthread_mutex_unlock(&lock);
	return found;
}
