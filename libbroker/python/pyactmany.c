/* SPDX-License-Identifier: MIT */
/*
 * Activation.receive_many() and accept_many():
 * broker_activation_receive_many() and broker_handback_accept_many(),
 * without the GIL.  accept_many() keeps a tuple of the Handbacks until
 * the call is over, and marks each one it hands to libbroker busy, so
 * that no other thread frees one while the call runs.
 */
#include <errno.h>
#include <unistd.h>

#include "pybroker.h"

/* More than one message ever carries (253): receive_many()'s max is cut
 * to it, so that a huge max does not allocate a huge array. */
#define RECEIVE_MAX 1024

/* receive_many(timeout_ms=-1, max=253): the handbacks of one message. */
PyObject *pyactmany_receive_many(pyactivation *self, PyObject *args)
{
	int timeout_ms = -1;
	Py_ssize_t max = 253;
	if (!PyArg_ParseTuple(args, "|in:receive_many", &timeout_ms, &max))
		return NULL;
	if (max < 1) {
		PyErr_SetString(PyExc_ValueError, "receive_many: max must be at least 1");
		return NULL;
	}
	size_t cap = max > RECEIVE_MAX ? RECEIVE_MAX : (size_t)max;
	broker_handback **hs = PyMem_Calloc(cap, sizeof(*hs));
	if (!hs)
		return PyErr_NoMemory();
	broker_activation *a = pyactivation_begin(self);
	if (!a) {
		PyMem_Free(hs);
		return NULL;
	}
	int r;
	BLOCKING(r, broker_activation_receive_many(a, timeout_ms, hs, cap));
	self->busy = 0;
	PyObject *l = r < 0 ? pymodule_raise(r, NULL) : PyList_New(r);
	for (int i = 0; i < r; i++) {
		if (!l) {
			broker_handback_free(hs[i]);   /* not acknowledged: brokerd hands it back again */
			continue;
		}
		PyObject *o = pyactivation_handback_new(self, hs[i]);
		if (!o)
			Py_CLEAR(l);
		else
			PyList_SET_ITEM(l, i, o);
	}
	PyMem_Free(hs);
	return l;
}

/* The Handbacks of keep that go to libbroker, in hs[0..n); res[i] is
 * 0 for those, else keep[i]'s own error. */
struct accept {
	PyObject *keep;
	broker_handback **hs;
	pyhandback **sent;
	int *res, *fds;
	size_t total, n;
};

static void accept_release(struct accept *t)
{
	for (size_t i = 0; i < t->n; i++)
		t->sent[i]->busy = 0;
	PyMem_Free(t->hs);
	PyMem_Free(t->sent);
	PyMem_Free(t->res);
	PyMem_Free(t->fds);
	Py_XDECREF(t->keep);
}

/* One Handback's part: sent, or its error (that of its own accept():
 * EPIPE once its Activation is closed; EINVAL if it has no fd to give,
 * accepted already or earlier in the list).  -1 with an exception set
 * for what is not a Handback of self's. */
static int accept_one(struct accept *t, pyactivation *self, size_t i)
{
	PyObject *o = PyTuple_GET_ITEM(t->keep, (Py_ssize_t)i);
	if (!PyObject_TypeCheck(o, &pyactivation_handback_type)) {
		PyErr_Format(PyExc_TypeError, "accept_many: item %zu is not a Handback", i);
		return -1;
	}
	pyhandback *hb = (pyhandback *)o;
	if (!hb->owner->a) {
		t->res[i] = -EPIPE;
		return 0;
	}
	if (hb->owner != self) {
		PyErr_Format(PyExc_ValueError, "accept_many: handback %zu came on another Activation", i);
		return -1;
	}
	if (!hb->h || hb->h->fd < 0 || hb->busy) {
		t->res[i] = -EINVAL;
		return 0;
	}
	hb->busy = 1;
	t->sent[t->n] = hb;
	t->hs[t->n++] = hb->h;
	return 0;
}

/* From a sequence of Handbacks: 0, or -1 with an exception set and none
 * of them marked. */
static int accept_init(struct accept *t, pyactivation *self, PyObject *seq)
{
	*t = (struct accept){ .keep = PySequence_Tuple(seq) };
	if (!t->keep)
		return -1;
	t->total = (size_t)PyTuple_GET_SIZE(t->keep);
	size_t room = t->total ? t->total : 1;
	t->hs = PyMem_Calloc(room, sizeof(*t->hs));
	t->sent = PyMem_Calloc(room, sizeof(*t->sent));
	t->res = PyMem_Calloc(room, sizeof(*t->res));
	t->fds = PyMem_Calloc(room, sizeof(*t->fds));
	if (!t->hs || !t->sent || !t->res || !t->fds) {
		PyErr_NoMemory();
		goto fail;
	}
	for (size_t i = 0; i < t->total; i++)
		if (accept_one(t, self, i) < 0)
			goto fail;
	return 0;
fail:
	accept_release(t);
	return -1;
}

/* accept_many(handbacks): a list with, for each handback in order, its
 * fd (now the caller's; the Handback holds none any more) or a negative
 * errno (that one still holds its fd, and brokerd its copy). */
PyObject *pyactmany_accept_many(pyactivation *self, PyObject *seq)
{
	struct accept t;
	if (accept_init(&t, self, seq) < 0)
		return NULL;
	int r = 0;
	if (t.n) {
		broker_activation *a = pyactivation_begin(self);
		if (!a) {
			accept_release(&t);
			return NULL;
		}
		BLOCKING(r, broker_handback_accept_many(a, t.hs, t.n, t.fds));
		self->busy = 0;
	}
	PyObject *l = r < 0 ? pymodule_raise(r, NULL) : PyList_New((Py_ssize_t)t.total);
	for (size_t i = 0, j = 0; l && i < t.total; i++) {
		PyObject *v = PyLong_FromLong(t.res[i] ? t.res[i] : t.fds[j++]);
		if (!v)
			Py_CLEAR(l);
		else
			PyList_SET_ITEM(l, (Py_ssize_t)i, v);
	}
	for (size_t j = 0; r >= 0 && !l && j < t.n; j++)
		if (t.fds[j] >= 0)
			close(t.fds[j]);   /* nobody else could take them */
	accept_release(&t);
	return l;
}
