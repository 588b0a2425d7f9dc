/* SPDX-License-Identifier: MIT */
/*
 * Broker.transfer_many() and claim_many(): broker_transfer_many() and
 * broker_claim_many().  The arguments are read into C arrays with the
 * GIL held, from a tuple this file keeps until the call is over, so
 * nothing they point into can change while the call runs without it.
 * The results come back as dicts, one key per field of broker_result.
 */
#include <string.h>
#include <unistd.h>

#include "pybroker.h"

/* broker_transfer_many()'s items, pointing into the tuple keep. */
struct items {
	PyObject *keep;
	broker_transfer_item *items;
	Py_buffer *contexts;
	size_t n, held_buffers;
};

static void items_release(struct items *t)
{
	for (size_t i = 0; i < t->held_buffers; i++)
		PyBuffer_Release(&t->contexts[i]);
	PyMem_Free(t->items);
	PyMem_Free(t->contexts);
	Py_XDECREF(t->keep);
}

/* From a sequence of (id, fd, context, keepalive) tuples: 0, or -1 with
 * an exception set and nothing held. */
static int items_init(struct items *t, PyObject *seq)
{
	*t = (struct items){ .keep = PySequence_Tuple(seq) };
	if (!t->keep)
		return -1;
	t->n = (size_t)PyTuple_GET_SIZE(t->keep);
	t->items = PyMem_Calloc(t->n ? t->n : 1, sizeof(*t->items));
	t->contexts = PyMem_Calloc(t->n ? t->n : 1, sizeof(*t->contexts));
	if (!t->items || !t->contexts) {
		PyErr_NoMemory();
		goto fail;
	}
	for (size_t i = 0; i < t->n; i++) {
		PyObject *item = PyTuple_GET_ITEM(t->keep, (Py_ssize_t)i);
		broker_transfer_item *it = &t->items[i];
		unsigned int keepalive;
		if (!PyTuple_Check(item)) {
			PyErr_Format(PyExc_TypeError, "transfer_many: item %zu is not an (id, fd, context, keepalive) tuple", i);
			goto fail;
		}
		if (!PyArg_ParseTuple(item, "siy*I:transfer_many", &it->id, &it->fd, &t->contexts[i], &keepalive))
			goto fail;
		t->held_buffers++;
		it->context = t->contexts[i].buf;
		it->context_len = (size_t)t->contexts[i].len;
		it->keepalive_sec = keepalive;
	}
	return 0;
fail:
	items_release(t);
	return -1;
}

/* broker_claim_many()'s ids, pointing into the tuple keep; ids NULL: all. */
struct ids {
	PyObject *keep;
	const char **ids;
	size_t n;
};

static void ids_release(struct ids *l)
{
	PyMem_Free(l->ids);
	Py_XDECREF(l->keep);
}

/* From None (all) or a sequence of str: 0, or -1 with an exception set. */
static int ids_init(struct ids *l, PyObject *seq)
{
	*l = (struct ids){ 0 };
	if (seq == Py_None)
		return 0;
	if (PyUnicode_Check(seq)) {   /* a sequence too, of one-letter ids */
		PyErr_SetString(PyExc_TypeError, "claim_many: ids must be a sequence of str, not a str");
		return -1;
	}
	if (!(l->keep = PySequence_Tuple(seq)))
		return -1;
	l->n = (size_t)PyTuple_GET_SIZE(l->keep);
	/* never NULL, even for no ids: NULL would claim them all */
	if (!(l->ids = PyMem_Calloc(l->n ? l->n : 1, sizeof(*l->ids)))) {
		PyErr_NoMemory();
		goto fail;
	}
	for (size_t i = 0; i < l->n; i++) {
		PyObject *id = PyTuple_GET_ITEM(l->keep, (Py_ssize_t)i);
		Py_ssize_t len;
		if (!PyUnicode_Check(id)) {
			PyErr_Format(PyExc_TypeError, "claim_many: id %zu is not a str", i);
			goto fail;
		}
		if (!(l->ids[i] = PyUnicode_AsUTF8AndSize(id, &len)))
			goto fail;
		if (strlen(l->ids[i]) != (size_t)len) {
			PyErr_Format(PyExc_ValueError, "claim_many: id %zu has a NUL in it", i);
			goto fail;
		}
	}
	return 0;
fail:
	ids_release(l);
	return -1;
}

/* After a bulk call that returned r: its n results as a list of dicts,
 * or NULL with the error raised.  If the list cannot be made, the
 * results' sockets are closed: nobody else could take them. */
static PyObject *results(pyclient *self, int r, broker_result *res, size_t n)
{
	PyObject *l = pyclient_end(self, r) < 0 ? NULL : PyList_New((Py_ssize_t)n);
	for (size_t i = 0; l && i < n; i++) {
		PyObject *d = pyrecords_result(&res[i]);
		if (!d)
			Py_CLEAR(l);
		else
			PyList_SET_ITEM(l, (Py_ssize_t)i, d);
	}
	for (size_t i = 0; r >= 0 && !l && i < n; i++)
		if (res[i].fd >= 0)
			close(res[i].fd);
	broker_results_free(res, r < 0 ? 0 : n);
	return l;
}

/* broker_transfer_many() of t, or else broker_claim_many() of ids. */
static PyObject *call(pyclient *self, const struct items *t, const struct ids *ids)
{
	broker *b = pyclient_begin(self);
	if (!b)
		return NULL;
	broker_result *res = NULL;
	int r;
	if (t)
		BLOCKING(r, broker_transfer_many(b, t->items, t->n, &res));
	else
		BLOCKING(r, broker_claim_many(b, ids->ids, ids->n, &res));
	return results(self, r, res, t ? t->n : (size_t)r);
}

/* items: (id, fd, context, keepalive) tuples; the fds follow the C rule. */
PyObject *pybulk_transfer_many(pyclient *self, PyObject *items)
{
	struct items t;
	if (items_init(&t, items) < 0)
		return NULL;
	PyObject *l = call(self, &t, NULL);
	items_release(&t);
	return l;
}

/* claim_many(ids=None): a list of str, or None for every held socket. */
PyObject *pybulk_claim_many(pyclient *self, PyObject *args)
{
	PyObject *seq = Py_None;
	struct ids ids;
	if (!PyArg_ParseTuple(args, "|O:claim_many", &seq) || ids_init(&ids, seq) < 0)
		return NULL;
	PyObject *l = call(self, NULL, &ids);
	ids_release(&ids);
	return l;
}
