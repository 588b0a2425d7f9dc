/* SPDX-License-Identifier: MIT */
/*
 * socketbroker._native: libbroker for CPython.  Every value, field and
 * sentence comes from libbroker and include/socket-broker/broker.h; nothing of the wire
 * protocol is here.  The package around it (socketbroker/__init__.py) turns
 * the ints into enums and the dicts into dataclasses.
 *
 * Every blocking libbroker call runs without the GIL.  A handle is not
 * thread-safe in C, so each object refuses a second caller while a call
 * on it is running (RuntimeError) instead of corrupting the handle.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <socket-broker/broker.h>

#ifndef PyLong_AsInt   /* public only from Python 3.13 */
#define PyLong_AsInt _PyLong_AsInt
#endif

/* pymodule.c */

/* Raise socketbroker.BrokerError for err (a negative errno) with
 * broker_strerror()'s sentence and brokerd's own words (detail, may be
 * NULL).  Returns NULL, for `return pymodule_raise(...)`. */
PyObject *pymodule_raise(int err, const char *detail);
/* Raise RuntimeError if busy is set, else set it.  -1 / 0. */
int pymodule_enter(int *busy);
/* A C string as str; bytes that are not UTF-8 become surrogates. */
PyObject *pymodule_str(const char *s);

/* pyrecords.c: broker.h's structs as dicts, field for field. */
PyObject *pyrecords_info(const broker_info *info);
PyObject *pyrecords_info_list(broker_info **list);
/* One result of a bulk call; its fd stays the caller's to close. */
PyObject *pyrecords_result(const broker_result *r);
PyObject *pyrecords_status(const broker_status *st);
PyObject *pyrecords_app_list(broker_app **list);
PyObject *pyrecords_event(const broker_event *ev);

/* A blocking libbroker call, without the GIL. */
#define BLOCKING(r, call) do { Py_BEGIN_ALLOW_THREADS (r) = (call); Py_END_ALLOW_THREADS } while (0)

/* pyclient.c: the control connection. */
typedef struct {
	PyObject_HEAD
	broker *b;
	int busy;
} pyclient;

extern PyTypeObject pyclient_type;
/* The handle for one call, or NULL with an exception set. */
broker *pyclient_begin(pyclient *self);
/* After a call: 0, or -1 with the error and brokerd's words raised. */
int pyclient_end(pyclient *self, int r);

/* pybulk.c: Broker's bulk verbs (broker_transfer_many(), broker_claim_many()). */
PyObject *pybulk_transfer_many(pyclient *self, PyObject *items);
PyObject *pybulk_claim_many(pyclient *self, PyObject *args);

/* pyactivation.c: the app side of a wake-up. */
typedef struct {
	PyObject_HEAD
	broker_activation *a;
	int busy;
} pyactivation;

typedef struct {
	PyObject_HEAD
	broker_handback *h;
	pyactivation *owner;
	int busy;   /* in an accept_many() that runs without the GIL */
} pyhandback;

extern PyTypeObject pyactivation_type;
extern PyTypeObject pyactivation_handback_type;
/* An Activation that owns a (NULL: raises MemoryError, a is closed). */
PyObject *pyactivation_wrap(broker_activation *a);
/* The handle for one call, or NULL with an exception set (closed, or busy). */
broker_activation *pyactivation_begin(pyactivation *self);
/* A Handback of owner's; takes h (frees it if the wrapper cannot be made). */
PyObject *pyactivation_handback_new(pyactivation *owner, broker_handback *h);

/* pyactmany.c: Activation's calls for many handbacks at once
 * (broker_activation_receive_many(), broker_handback_accept_many()). */
PyObject *pyactmany_receive_many(pyactivation *self, PyObject *args);
PyObject *pyactmany_accept_many(pyactivation *self, PyObject *handbacks);
