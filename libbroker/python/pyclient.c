/* SPDX-License-Identifier: MIT */
/* socketbroker._native.Broker: one control connection (broker *). */
#include "pybroker.h"

broker *pyclient_begin(pyclient *self)
{
	if (!self->b) {
		PyErr_SetString(PyExc_ValueError, "the Broker connection is closed");
		return NULL;
	}
	return pymodule_enter(&self->busy) < 0 ? NULL : self->b;
}

int pyclient_end(pyclient *self, int r)
{
	self->busy = 0;
	if (r < 0) {
		pymodule_raise(r, broker_last_message(self->b));
		return -1;
	}
	return 0;
}

static PyObject *pyclient_none(pyclient *self, int r)
{
	return pyclient_end(self, r) < 0 ? NULL : Py_NewRef(Py_None);
}

static int pyclient_init(pyclient *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "path", "timeout_ms", "app_id", NULL };
	PyObject *arg = Py_None, *path = NULL;
	int timeout_ms = BROKER_DEFAULT_TIMEOUT_MS;
	const char *app_id = NULL;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|Oiz:Broker", kwlist, &arg, &timeout_ms, &app_id))
		return -1;
	if (arg != Py_None && !PyUnicode_FSConverter(arg, &path))
		return -1;
	if (self->b || self->busy) {
		Py_XDECREF(path);
		PyErr_SetString(PyExc_RuntimeError, "Broker is already open");
		return -1;
	}
	const char *p = path ? PyBytes_AS_STRING(path) : NULL;
	broker *b = NULL;
	int r;
	BLOCKING(r, broker_open_app(p, app_id, timeout_ms, &b));
	Py_XDECREF(path);
	if (r < 0) {
		pymodule_raise(r, broker_last_message(NULL));   /* this thread's: BLOCKING stays on it */
		return -1;
	}
	self->b = b;
	return 0;
}

static void pyclient_dealloc(pyclient *self)
{
	broker_close(self->b);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *pyclient_close(pyclient *self, PyObject *unused)
{
	if (pymodule_enter(&self->busy) < 0)
		return NULL;
	self->b = broker_close(self->b);
	self->busy = 0;
	Py_RETURN_NONE;
}

static PyObject *pyclient_fileno(pyclient *self, PyObject *unused)
{
	if (!self->b) {
		PyErr_SetString(PyExc_ValueError, "the Broker connection is closed");
		return NULL;
	}
	return PyLong_FromLong(broker_get_fd(self->b));
}

static PyObject *pyclient_set_timeout(pyclient *self, PyObject *args)
{
	int timeout_ms;
	if (!PyArg_ParseTuple(args, "i:set_timeout", &timeout_ms))
		return NULL;
	broker *b = pyclient_begin(self);
	return b ? pyclient_none(self, broker_set_timeout(b, timeout_ms)) : NULL;
}

static PyObject *pyclient_register(pyclient *self, PyObject *args)
{
	const char *app_id;
	if (!PyArg_ParseTuple(args, "s:register", &app_id))
		return NULL;
	broker *b = pyclient_begin(self);
	if (!b)
		return NULL;
	int r;
	BLOCKING(r, broker_register(b, app_id));
	return pyclient_none(self, r);
}

static PyObject *pyclient_attach(pyclient *self, PyObject *noargs)
{
	(void)noargs;
	broker *b = pyclient_begin(self);
	if (!b)
		return NULL;
	broker_activation *a = NULL;
	int r;
	BLOCKING(r, broker_attach(b, &a));
	return pyclient_end(self, r) < 0 ? NULL : pyactivation_wrap(a);
}

static PyObject *pyclient_transfer(pyclient *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "id", "fd", "context", "keepalive", NULL };
	const char *id;
	int fd;
	Py_buffer ctx = { 0 };
	unsigned int keepalive = 0;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "si|y*I:transfer", kwlist, &id, &fd, &ctx, &keepalive))
		return NULL;
	broker *b = pyclient_begin(self);
	PyObject *result = NULL;
	if (b) {
		int r;
		BLOCKING(r, broker_transfer(b, id, fd, ctx.buf, (size_t)ctx.len, keepalive));
		result = pyclient_none(self, r);
	}
	PyBuffer_Release(&ctx);
	return result;
}

static PyObject *pyclient_list(pyclient *self, PyObject *args)
{
	const char *app_id = NULL;
	if (!PyArg_ParseTuple(args, "|z:list", &app_id))
		return NULL;
	broker *b = pyclient_begin(self);
	if (!b)
		return NULL;
	broker_info **list = NULL;
	int r;
	BLOCKING(r, broker_list(b, app_id, &list));
	if (pyclient_end(self, r) < 0)
		return NULL;
	PyObject *l = pyrecords_info_list(list);
	broker_info_list_free(list);
	return l;
}

static PyObject *pyclient_show(pyclient *self, PyObject *args)
{
	const char *id, *app_id = NULL;
	if (!PyArg_ParseTuple(args, "s|z:show", &id, &app_id))
		return NULL;
	broker *b = pyclient_begin(self);
	if (!b)
		return NULL;
	broker_info *info = NULL;
	int r;
	BLOCKING(r, broker_show(b, app_id, id, &info));
	if (pyclient_end(self, r) < 0)
		return NULL;
	PyObject *d = pyrecords_info(info);
	broker_info_free(info);
	return d;
}

/* Returns (fd, info); the fd is the caller's from now on. */
static PyObject *pyclient_claim(pyclient *self, PyObject *args)
{
	const char *id;
	if (!PyArg_ParseTuple(args, "s:claim", &id))
		return NULL;
	broker *b = pyclient_begin(self);
	if (!b)
		return NULL;
	broker_info *info = NULL;
	int fd;
	BLOCKING(fd, broker_claim(b, id, &info));
	if (pyclient_end(self, fd) < 0)
		return NULL;
	PyObject *d = pyrecords_info(info);
	broker_info_free(info);
	PyObject *t = d ? Py_BuildValue("(iN)", fd, d) : NULL;
	if (!t)
		close(fd);   /* nobody could take it */
	return t;
}

static PyObject *pyclient_status(pyclient *self, PyObject *unused)
{
	broker *b = pyclient_begin(self);
	if (!b)
		return NULL;
	broker_status st;
	int r;
	BLOCKING(r, broker_get_status(b, &st));
	if (pyclient_end(self, r) < 0)
		return NULL;
	return pyrecords_status(&st);
}

static PyObject *pyclient_apps(pyclient *self, PyObject *unused)
{
	broker *b = pyclient_begin(self);
	if (!b)
		return NULL;
	broker_app **list = NULL;
	int r;
	BLOCKING(r, broker_list_apps(b, &list));
	if (pyclient_end(self, r) < 0)
		return NULL;
	PyObject *l = pyrecords_app_list(list);
	broker_app_list_free(list);
	return l;
}

/* trigger and drop: (app_id, id) */
static PyObject *pyclient_admin(pyclient *self, PyObject *args, int (*verb)(broker *, const char *, const char *))
{
	const char *app_id, *id;
	if (!PyArg_ParseTuple(args, "ss", &app_id, &id))
		return NULL;
	broker *b = pyclient_begin(self);
	if (!b)
		return NULL;
	int r;
	BLOCKING(r, verb(b, app_id, id));
	return pyclient_none(self, r);
}

static PyObject *pyclient_trigger(pyclient *self, PyObject *args)
{
	return pyclient_admin(self, args, broker_trigger);
}

static PyObject *pyclient_drop(pyclient *self, PyObject *args)
{
	return pyclient_admin(self, args, broker_drop);
}

static PyObject *pyclient_simple(pyclient *self, int (*verb)(broker *))
{
	broker *b = pyclient_begin(self);
	if (!b)
		return NULL;
	int r;
	BLOCKING(r, verb(b));
	return pyclient_none(self, r);
}

static PyObject *pyclient_reload(pyclient *self, PyObject *unused)
{
	return pyclient_simple(self, broker_reload);
}

static PyObject *pyclient_monitor(pyclient *self, PyObject *unused)
{
	return pyclient_simple(self, broker_monitor);
}

/* An event dict, or None if none came within timeout_ms (< 0: wait). */
static PyObject *pyclient_next_event(pyclient *self, PyObject *args)
{
	int timeout_ms = -1;
	if (!PyArg_ParseTuple(args, "|i:next_event", &timeout_ms))
		return NULL;
	broker *b = pyclient_begin(self);
	if (!b)
		return NULL;
	broker_event *ev = NULL;
	int r;
	BLOCKING(r, broker_next_event(b, timeout_ms, &ev));
	if (pyclient_end(self, r) < 0)
		return NULL;
	if (r == 0)
		Py_RETURN_NONE;
	PyObject *d = pyrecords_event(ev);
	broker_event_free(ev);
	return d;
}

static PyObject *pyclient_last_message(pyclient *self, void *unused)
{
	return pymodule_str(broker_last_message(self->b));
}

static PyObject *pyclient_peer_uid(pyclient *self, void *unused)
{
	if (!self->b)
		Py_RETURN_NONE;
	return PyLong_FromUnsignedLong(broker_peer_uid(self->b));
}

static PyObject *pyclient_is_admin(pyclient *self, void *unused)
{
	return PyBool_FromLong(self->b && broker_is_admin(self->b));
}

static PyObject *pyclient_closed(pyclient *self, void *unused)
{
	return PyBool_FromLong(!self->b);
}

static PyMethodDef pyclient_methods[] = {
	{ "close", (PyCFunction)pyclient_close, METH_NOARGS, "broker_close()" },
	{ "fileno", (PyCFunction)pyclient_fileno, METH_NOARGS, "broker_get_fd()" },
	{ "set_timeout", (PyCFunction)pyclient_set_timeout, METH_VARARGS, "broker_set_timeout(timeout_ms)" },
	{ "register", (PyCFunction)pyclient_register, METH_VARARGS, "broker_register(app_id)" },
	{ "attach", (PyCFunction)pyclient_attach, METH_NOARGS, "broker_attach() -> Activation" },
	{ "transfer", (PyCFunction)(void (*)(void))pyclient_transfer, METH_VARARGS | METH_KEYWORDS,
	  "broker_transfer(id, fd, context=b'', keepalive=0): closes fd on success only" },
	{ "list", (PyCFunction)pyclient_list, METH_VARARGS, "broker_list(app_id=None) -> [dict]" },
	{ "show", (PyCFunction)pyclient_show, METH_VARARGS, "broker_show(id, app_id=None) -> dict" },
	{ "claim", (PyCFunction)pyclient_claim, METH_VARARGS, "broker_claim(id) -> (fd, dict); the fd is yours" },
	{ "transfer_many", (PyCFunction)pybulk_transfer_many, METH_O,
	  "broker_transfer_many([(id, fd, context, keepalive)]) -> [dict]: closes each fd whose error is 0" },
	{ "claim_many", (PyCFunction)pybulk_claim_many, METH_VARARGS,
	  "broker_claim_many(ids or None for all) -> [dict]; the fd of each whose error is 0 is yours" },
	{ "status", (PyCFunction)pyclient_status, METH_NOARGS, "broker_get_status() -> dict" },
	{ "apps", (PyCFunction)pyclient_apps, METH_NOARGS, "broker_list_apps() -> [dict]" },
	{ "trigger", (PyCFunction)pyclient_trigger, METH_VARARGS, "broker_trigger(app_id, id)" },
	{ "drop", (PyCFunction)pyclient_drop, METH_VARARGS, "broker_drop(app_id, id)" },
	{ "reload", (PyCFunction)pyclient_reload, METH_NOARGS, "broker_reload()" },
	{ "monitor", (PyCFunction)pyclient_monitor, METH_NOARGS, "broker_monitor()" },
	{ "next_event", (PyCFunction)pyclient_next_event, METH_VARARGS,
	  "broker_next_event(timeout_ms=-1) -> dict or None" },
	{ NULL },
};

static PyGetSetDef pyclient_getset[] = {
	{ "last_message", (getter)pyclient_last_message, NULL, "broker_last_message()", NULL },
	{ "peer_uid", (getter)pyclient_peer_uid, NULL, "broker_peer_uid(), None once closed", NULL },
	{ "is_admin", (getter)pyclient_is_admin, NULL, "broker_is_admin()", NULL },
	{ "closed", (getter)pyclient_closed, NULL, "whether close() was called", NULL },
	{ NULL },
};

PyTypeObject pyclient_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "socketbroker._native.Broker",
	.tp_doc = "Broker(path=None, timeout_ms=BROKER_DEFAULT_TIMEOUT_MS, app_id=None): broker_open_app().",
	.tp_basicsize = sizeof(pyclient),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)pyclient_init,
	.tp_dealloc = (destructor)pyclient_dealloc,
	.tp_methods = pyclient_methods,
	.tp_getset = pyclient_getset,
};
