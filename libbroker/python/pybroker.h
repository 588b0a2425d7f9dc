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
PyObject *pyrecords_status(const broker_status *st);
PyObject *pyrecords_app_list(broker_app **list);
PyObject *pyrecords_event(const broker_event *ev);

/* pyclient.c: the control connection. */
extern PyTypeObject pyclient_type;

/* pyactivation.c: the app side of a wake-up. */
extern PyTypeObject pyactivation_type;
extern PyTypeObject pyactivation_handback_type;
/* An Activation that owns a (NULL: raises MemoryError, a is closed). */
PyObject *pyactivation_wrap(broker_activation *a);
