/* SPDX-License-Identifier: MIT */
/* broker.h's structs as dicts, one key per field, named as in broker.h. */
#include "pybroker.h"

/* Steals value; a NULL value (a failed conversion) fails the whole dict. */
static int put(PyObject *d, const char *key, PyObject *value)
{
	if (!value)
		return -1;
	int r = PyDict_SetItemString(d, key, value);
	Py_DECREF(value);
	return r;
}

#define PUT_STR(d, s, f) put(d, #f, pymodule_str((s)->f))
#define PUT_INT(d, s, f) put(d, #f, PyLong_FromLongLong((long long)(s)->f))
#define PUT_UINT(d, s, f) put(d, #f, PyLong_FromUnsignedLongLong((unsigned long long)(s)->f))

static PyObject *finish(PyObject *d, int failed)
{
	if (failed) {
		Py_DECREF(d);
		return NULL;
	}
	return d;
}

PyObject *pyrecords_info(const broker_info *i)
{
	PyObject *d = PyDict_New();
	if (!d)
		return NULL;
	int failed = PUT_STR(d, i, app_id) || PUT_STR(d, i, id) || PUT_INT(d, i, kind) ||
		PUT_INT(d, i, state) || PUT_INT(d, i, last_reason) || PUT_UINT(d, i, keepalive_sec) ||
		PUT_UINT(d, i, owner_uid) || PUT_INT(d, i, family) || PUT_INT(d, i, sotype) ||
		PUT_UINT(d, i, held_since_usec) || PUT_UINT(d, i, last_trigger_usec) ||
		PUT_UINT(d, i, serial) ||
		put(d, "context", PyBytes_FromStringAndSize(i->context, (Py_ssize_t)i->context_len)) ||
		PUT_STR(d, i, local) || PUT_STR(d, i, peer);
	return finish(d, failed);
}

PyObject *pyrecords_result(const broker_result *r)
{
	PyObject *d = PyDict_New();
	if (!d)
		return NULL;
	int failed = PUT_STR(d, r, id) || PUT_INT(d, r, error) || PUT_STR(d, r, message) || PUT_INT(d, r, fd) ||
		put(d, "info", r->info ? pyrecords_info(r->info) : Py_NewRef(Py_None));
	return finish(d, failed);
}

/* A NULL-terminated array of records as a list, each converted by one. */
static PyObject *list_of(void *const *list, PyObject *(*one)(const void *))
{
	PyObject *l = PyList_New(0);
	for (void *const *r = list; l && *r; r++) {
		PyObject *d = one(*r);
		if (!d || PyList_Append(l, d) < 0) {
			Py_XDECREF(d);
			Py_CLEAR(l);
			break;
		}
		Py_DECREF(d);
	}
	return l;
}

static PyObject *info_one(const void *i)
{
	return pyrecords_info(i);
}

PyObject *pyrecords_info_list(broker_info **list)
{
	return list_of((void *const *)list, info_one);
}

PyObject *pyrecords_status(const broker_status *s)
{
	PyObject *d = PyDict_New();
	if (!d)
		return NULL;
	int failed = PUT_UINT(d, s, apps) || PUT_UINT(d, s, held) || PUT_UINT(d, s, watching) ||
		PUT_UINT(d, s, triggered) || PUT_UINT(d, s, handing_back) || PUT_UINT(d, s, clients) ||
		PUT_UINT(d, s, running) || PUT_UINT(d, s, max_held) || PUT_UINT(d, s, max_held_per_app) ||
		PUT_INT(d, s, pid) || PUT_UINT(d, s, uptime_usec) || PUT_UINT(d, s, triggers_total) ||
		PUT_UINT(d, s, activations_total) || PUT_UINT(d, s, handbacks_total) ||
		PUT_UINT(d, s, stored) || PUT_UINT(d, s, store_lost) || PUT_UINT(d, s, attached) ||
		PUT_UINT(d, s, thaws_total) || PUT_UINT(d, s, thaws_held) ||
		PUT_STR(d, s, version) || put(d, "socket_path", PyUnicode_DecodeFSDefault(s->socket_path));
	return finish(d, failed);
}

/* Its instance's processes: a tuple of (pid, comm). */
static PyObject *processes(const broker_app *a)
{
	PyObject *t = PyTuple_New((Py_ssize_t)a->nprocs);
	for (unsigned i = 0; t && i < a->nprocs; i++) {
		PyObject *comm = pymodule_str(a->procs[i].comm);
		PyObject *p = comm ? Py_BuildValue("(iN)", (int)a->procs[i].pid, comm) : NULL;
		if (!p) {
			Py_DECREF(t);
			return NULL;
		}
		PyTuple_SET_ITEM(t, (Py_ssize_t)i, p);
	}
	return t;
}

static PyObject *app(const void *p)
{
	const broker_app *a = p;
	PyObject *d = PyDict_New();
	if (!d)
		return NULL;
	int failed = PUT_STR(d, a, id) || PUT_STR(d, a, user) || PUT_STR(d, a, unit) ||
		PUT_STR(d, a, activation) || PUT_STR(d, a, handoff) || PUT_STR(d, a, target) ||
		PUT_STR(d, a, capabilities) || PUT_UINT(d, a, uid) || PUT_UINT(d, a, held) ||
		PUT_UINT(d, a, max_sockets) || PUT_UINT(d, a, failures) || PUT_INT(d, a, pid) ||
		PUT_INT(d, a, state) || PUT_UINT(d, a, retry_usec) || put(d, "processes", processes(a));
	return finish(d, failed);
}

PyObject *pyrecords_app_list(broker_app **list)
{
	return list_of((void *const *)list, app);
}

PyObject *pyrecords_event(const broker_event *e)
{
	PyObject *d = PyDict_New();
	if (!d)
		return NULL;
	int failed = PUT_INT(d, e, type) || PUT_INT(d, e, reason) || PUT_INT(d, e, kind) ||
		PUT_INT(d, e, error) || PUT_INT(d, e, pid) || PUT_UINT(d, e, time_usec) ||
		PUT_STR(d, e, app_id) || PUT_STR(d, e, id) || PUT_STR(d, e, detail);
	return finish(d, failed);
}
