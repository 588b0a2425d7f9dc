/* SPDX-License-Identifier: MIT */
/*
 * socketbroker._native.Activation (broker_activation *) and Handback
 * (broker_handback *).  A Handback keeps its Activation alive, since
 * accepting it answers on the activation's connection; once the
 * Activation is closed, accept() fails with EPIPE as libbroker's does
 * when that connection is gone.
 */
#include "pybroker.h"

static int pyactivation_init(pyactivation *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "fd", NULL };
	PyObject *fdobj = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:Activation", kwlist, &fdobj))
		return -1;
	if (self->a) {
		PyErr_SetString(PyExc_RuntimeError, "Activation is already open");
		return -1;
	}
	/* An int only: a socket object would close the fd the activation now owns. */
	if (fdobj != Py_None && !PyLong_Check(fdobj)) {
		PyErr_SetString(PyExc_TypeError, "fd must be an int (socket.detach() gives one)");
		return -1;
	}
	int fd = -1;
	if (fdobj != Py_None && (fd = PyObject_AsFileDescriptor(fdobj)) < 0)
		return -1;
	int r = fd < 0 ? broker_activation_open(&self->a) : broker_activation_open_fd(fd, &self->a);
	if (r < 0) {
		pymodule_raise(r, NULL);
		return -1;
	}
	return 0;
}

PyObject *pyactivation_wrap(broker_activation *a)
{
	pyactivation *self = (pyactivation *)pyactivation_type.tp_alloc(&pyactivation_type, 0);
	if (!self) {
		broker_activation_close(a);
		return NULL;
	}
	self->a = a;
	return (PyObject *)self;
}

static void pyactivation_dealloc(pyactivation *self)
{
	broker_activation_close(self->a);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

broker_activation *pyactivation_begin(pyactivation *self)
{
	if (!self->a) {
		PyErr_SetString(PyExc_ValueError, "the Activation is closed");
		return NULL;
	}
	return pymodule_enter(&self->busy) < 0 ? NULL : self->a;
}

static PyObject *pyactivation_close(pyactivation *self, PyObject *unused)
{
	if (pymodule_enter(&self->busy) < 0)
		return NULL;
	self->a = broker_activation_close(self->a);
	self->busy = 0;
	Py_RETURN_NONE;
}

static PyObject *pyactivation_fileno(pyactivation *self, PyObject *unused)
{
	if (!self->a) {
		PyErr_SetString(PyExc_ValueError, "the Activation is closed");
		return NULL;
	}
	return PyLong_FromLong(broker_activation_get_fd(self->a));
}

PyObject *pyactivation_handback_new(pyactivation *owner, broker_handback *h)
{
	pyhandback *self = PyObject_New(pyhandback, &pyactivation_handback_type);
	if (!self) {
		broker_handback_free(h);
		return NULL;
	}
	self->h = h;
	self->owner = (pyactivation *)Py_NewRef(owner);
	self->busy = 0;
	return (PyObject *)self;
}

static PyObject *pyactivation_receive(pyactivation *self, PyObject *args)
{
	int timeout_ms = -1;
	if (!PyArg_ParseTuple(args, "|i:receive", &timeout_ms))
		return NULL;
	broker_activation *a = pyactivation_begin(self);
	if (!a)
		return NULL;
	broker_handback *h = NULL;
	int r;
	Py_BEGIN_ALLOW_THREADS
	r = broker_activation_receive(a, timeout_ms, &h);
	Py_END_ALLOW_THREADS
	self->busy = 0;
	if (r < 0)
		return pymodule_raise(r, NULL);
	if (r == 0)
		Py_RETURN_NONE;
	return pyactivation_handback_new(self, h);
}

struct collect {
	pyactivation *self;
	PyObject *list;   /* NULL once something failed */
};

static void collect_one(broker_activation *a, broker_handback *h, void *userdata)
{
	struct collect *c = userdata;
	if (!c->list) {
		broker_handback_free(h);   /* not acknowledged: brokerd hands it back again */
		return;
	}
	PyObject *o = pyactivation_handback_new(c->self, h);
	if (!o || PyList_Append(c->list, o) < 0)
		Py_CLEAR(c->list);
	Py_XDECREF(o);
}

/* Without blocking: every handback that is ready, as a list.  Runs with
 * the GIL held, since the callback makes Python objects. */
static PyObject *pyactivation_dispatch(pyactivation *self, PyObject *unused)
{
	broker_activation *a = pyactivation_begin(self);
	if (!a)
		return NULL;
	struct collect c = { self, PyList_New(0) };
	int r = c.list ? broker_activation_dispatch(a, collect_one, &c) : 0;
	self->busy = 0;
	if (r < 0) {
		Py_XDECREF(c.list);
		return pymodule_raise(r, NULL);
	}
	return c.list;
}

static PyMethodDef pyactivation_methods[] = {
	{ "close", (PyCFunction)pyactivation_close, METH_NOARGS, "broker_activation_close()" },
	{ "fileno", (PyCFunction)pyactivation_fileno, METH_NOARGS, "broker_activation_get_fd()" },
	{ "receive", (PyCFunction)pyactivation_receive, METH_VARARGS,
	  "broker_activation_receive(timeout_ms=-1) -> Handback, or None at a batch end or timeout" },
	{ "dispatch", (PyCFunction)pyactivation_dispatch, METH_NOARGS,
	  "broker_activation_dispatch() -> [Handback], without blocking" },
	{ "receive_many", (PyCFunction)pyactmany_receive_many, METH_VARARGS,
	  "broker_activation_receive_many(timeout_ms=-1, max=253) -> [Handback], [] at a batch end or timeout" },
	{ "accept_many", (PyCFunction)pyactmany_accept_many, METH_O,
	  "broker_handback_accept_many([Handback]) -> [fd, now yours, or a negative errno] in order" },
	{ NULL },
};

PyTypeObject pyactivation_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "socketbroker._native.Activation",
	.tp_doc = "Activation(fd=None): broker_activation_open(), or _open_fd(fd), which it then owns.",
	.tp_basicsize = sizeof(pyactivation),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)pyactivation_init,
	.tp_dealloc = (destructor)pyactivation_dealloc,
	.tp_methods = pyactivation_methods,
};

static void pyhandback_dealloc(pyhandback *self)
{
	broker_handback_free(self->h);
	Py_XDECREF(self->owner);
	PyObject_Free(self);
}

static broker_handback *pyhandback_get(pyhandback *self)
{
	if (!self->h)
		PyErr_SetString(PyExc_ValueError, "the Handback is closed");
	return self->h;
}

/* The fd, now the caller's; brokerd has let go. */
static PyObject *pyhandback_accept(pyhandback *self, PyObject *unused)
{
	broker_handback *h = pyhandback_get(self);
	if (!h)
		return NULL;
	if (!self->owner->a)
		return pymodule_raise(-EPIPE, NULL);
	if (pymodule_enter(&self->owner->busy) < 0)   /* a receive() in another thread */
		return NULL;
	int fd = broker_handback_accept(self->owner->a, h);
	self->owner->busy = 0;
	return fd < 0 ? pymodule_raise(fd, NULL) : PyLong_FromLong(fd);
}

static PyObject *pyhandback_close(pyhandback *self, PyObject *unused)
{
	if (self->busy) {   /* an accept_many() in another thread has h */
		PyErr_SetString(PyExc_RuntimeError, "this handle is in use by another thread");
		return NULL;
	}
	self->h = broker_handback_free(self->h);
	Py_RETURN_NONE;
}

#define FIELD(name, conv)                                                 \
	static PyObject *pyhandback_##name(pyhandback *self, void *unused) \
	{                                                                 \
		broker_handback *h = pyhandback_get(self);                \
		return h ? conv : NULL;                                   \
	}
FIELD(app_id, pymodule_str(h->app_id))
FIELD(id, pymodule_str(h->id))
FIELD(kind, PyLong_FromLong(h->kind))
FIELD(reason, PyLong_FromLong(h->reason))
FIELD(keepalive_sec, PyLong_FromUnsignedLong(h->keepalive_sec))
FIELD(held_since_usec, PyLong_FromUnsignedLongLong(h->held_since_usec))
FIELD(serial, PyLong_FromUnsignedLongLong(h->serial))
FIELD(context, PyBytes_FromStringAndSize(h->context, (Py_ssize_t)h->context_len))
FIELD(fd, PyLong_FromLong(h->fd))

static PyGetSetDef pyhandback_getset[] = {
#define GET(name) { #name, (getter)pyhandback_##name, NULL, "broker_handback." #name, NULL }
	GET(app_id), GET(id), GET(kind), GET(reason), GET(keepalive_sec), GET(held_since_usec),
	GET(serial), GET(context), GET(fd),
#undef GET
	{ NULL },
};

static PyMethodDef pyhandback_methods[] = {
	{ "accept", (PyCFunction)pyhandback_accept, METH_NOARGS,
	  "broker_handback_accept() -> fd, now yours; brokerd lets go" },
	{ "close", (PyCFunction)pyhandback_close, METH_NOARGS,
	  "broker_handback_free(): closes the fd if never accepted (brokerd keeps its copy)" },
	{ NULL },
};

PyTypeObject pyactivation_handback_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "socketbroker._native.Handback",
	.tp_doc = "One socket brokerd handed back (broker_handback); made by Activation only.",
	.tp_basicsize = sizeof(pyhandback),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
	.tp_dealloc = (destructor)pyhandback_dealloc,
	.tp_methods = pyhandback_methods,
	.tp_getset = pyhandback_getset,
};
