/* SPDX-License-Identifier: MIT */
/* socketbroker._native: constants from broker.h, names, errors, and the types. */
#include "pybroker.h"

static PyObject *broker_error;   /* socketbroker._errors.BrokerError */

PyObject *pymodule_raise(int err, const char *detail)
{
	PyObject *exc = PyObject_CallFunction(broker_error, "iss", err < 0 ? -err : err,
					      broker_strerror(err), detail ? detail : "");
	if (exc) {
		PyErr_SetObject(broker_error, exc);
		Py_DECREF(exc);
	}
	return NULL;
}

int pymodule_enter(int *busy)
{
	if (*busy) {
		PyErr_SetString(PyExc_RuntimeError, "this handle is in use by another thread");
		return -1;
	}
	*busy = 1;
	return 0;
}

PyObject *pymodule_str(const char *s)
{
	return PyUnicode_DecodeUTF8(s ? s : "", s ? (Py_ssize_t)strlen(s) : 0, "surrogateescape");
}

#define NAME_FUNCTION(fn)                                              \
	static PyObject *py_##fn(PyObject *self, PyObject *arg)         \
	{                                                               \
		int v = PyLong_AsInt(arg);                              \
		return v == -1 && PyErr_Occurred() ? NULL : pymodule_str(broker_##fn(v)); \
	}
NAME_FUNCTION(kind_name)
NAME_FUNCTION(reason_name)
NAME_FUNCTION(state_name)
NAME_FUNCTION(app_state_name)
NAME_FUNCTION(event_name)

static PyObject *py_reason_from_name(PyObject *self, PyObject *arg)
{
	const char *name = PyUnicode_AsUTF8(arg);
	if (!name)
		return NULL;
	int r = broker_reason_from_name(name);
	return r < 0 ? pymodule_raise(r, NULL) : PyLong_FromLong(r);
}

static PyObject *py_strerror(PyObject *self, PyObject *arg)
{
	int v = PyLong_AsInt(arg);
	return v == -1 && PyErr_Occurred() ? NULL : pymodule_str(broker_strerror(v));
}

static PyObject *py_default_socket(PyObject *self, PyObject *unused)
{
	const char *path = broker_default_socket();
	if (!path)
		Py_RETURN_NONE;
	return PyUnicode_DecodeFSDefault(path);
}

static PyObject *py_env_reason(PyObject *self, PyObject *unused)
{
	return PyLong_FromLong(broker_activation_env_reason());
}

static PyObject *py_fd_guard(PyObject *self, PyObject *args)
{
	int fd;
	const char *why;
	if (!PyArg_ParseTuple(args, "iz:fd_guard", &fd, &why))
		return NULL;
	int r = broker_fd_guard(fd, why);
	if (r < 0)
		return pymodule_raise(r, NULL);
	Py_RETURN_NONE;
}

static PyMethodDef functions[] = {
	{ "kind_name", py_kind_name, METH_O, "broker_kind_name(): 'stream', 'datagram', ..." },
	{ "reason_name", py_reason_name, METH_O, "broker_reason_name(): 'socket-activity', ..." },
	{ "state_name", py_state_name, METH_O, "broker_state_name(): 'watching', ..." },
	{ "app_state_name", py_app_state_name, METH_O, "broker_app_state_name(): 'idle', ..." },
	{ "event_name", py_event_name, METH_O, "broker_event_name(): 'transfer', ..." },
	{ "reason_from_name", py_reason_from_name, METH_O, "broker_reason_from_name(); BrokerError if unknown" },
	{ "strerror", py_strerror, METH_O, "broker_strerror(): a sentence for an errno (either sign)" },
	{ "default_socket", py_default_socket, METH_NOARGS, "broker_default_socket(), or None" },
	{ "env_reason", py_env_reason, METH_NOARGS, "broker_activation_env_reason()" },
	{ "fd_guard", py_fd_guard, METH_VARARGS, "broker_fd_guard(fd, why or None)" },
	{ NULL },
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "socketbroker._native",
	.m_doc = "libbroker for CPython; use the socketbroker package, which wraps this.",
	.m_size = -1,
	.m_methods = functions,
};

static int add_constants(PyObject *m)
{
#define C(name) { #name, BROKER_##name }
	static const struct { const char *name; long value; } constants[] = {
		C(ID_MAX), C(CONTEXT_MAX), C(DEFAULT_TIMEOUT_MS), C(NO_STORE),
		C(KIND_NONE), C(KIND_STREAM), C(KIND_DATAGRAM), C(KIND_LISTENER),
		C(REASON_NONE), C(REASON_SOCKET_ACTIVITY), C(REASON_CONNECTION_ACCEPTED),
		C(REASON_SOCKET_CLOSED), C(REASON_KEEPALIVE_EXPIRED), C(REASON_ADMIN_TRIGGER),
		C(STATE_WATCHING), C(STATE_TRIGGERED), C(STATE_HANDING_BACK), C(STATE_LENT),
		C(APP_IDLE), C(APP_STARTING), C(APP_RUNNING), C(APP_BACKOFF), C(APP_THROTTLED), C(APP_ATTACHED),
		C(EVENT_TRANSFER), C(EVENT_TRIGGER), C(EVENT_ACTIVATE), C(EVENT_HANDBACK),
		C(EVENT_ACK), C(EVENT_CLAIM), C(EVENT_DROP), C(EVENT_FAILURE), C(EVENT_EXIT),
		C(EVENT_RELOAD), C(EVENT_THROTTLED), C(EVENT_ATTACH), C(EVENT_THAW),
	};
#undef C
	for (size_t i = 0; i < sizeof(constants) / sizeof(constants[0]); i++)
		if (PyModule_AddIntConstant(m, constants[i].name, constants[i].value) < 0)
			return -1;
	return 0;
}

static int add_type(PyObject *m, const char *name, PyTypeObject *type)
{
	if (PyType_Ready(type) < 0)
		return -1;
	Py_INCREF(type);
	if (PyModule_AddObject(m, name, (PyObject *)type) < 0) {
		Py_DECREF(type);
		return -1;
	}
	return 0;
}

PyMODINIT_FUNC PyInit__native(void);
PyMODINIT_FUNC PyInit__native(void)
{
	/* The exception is Python code (it has a __str__ and docs); the rest of
	 * the package does not import this module's users, so no cycle. */
	PyObject *errors = PyImport_ImportModule("socketbroker._errors");
	if (!errors)
		return NULL;
	broker_error = PyObject_GetAttrString(errors, "BrokerError");
	Py_DECREF(errors);
	if (!broker_error)
		return NULL;

	PyObject *m = PyModule_Create(&module);
	if (!m)
		return NULL;
	if (add_constants(m) < 0 ||
	    add_type(m, "Broker", &pyclient_type) < 0 ||
	    add_type(m, "Activation", &pyactivation_type) < 0 ||
	    add_type(m, "Handback", &pyactivation_handback_type) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
