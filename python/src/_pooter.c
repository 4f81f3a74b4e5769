/* SPDX-License-Identifier: MIT */
/*
 * _pooter.c - the CPython extension under the `pooter` package: thin types
 * over libpooter's handles, and one io_uring ring per event loop that
 * carries every wait of that loop's handles.
 *
 * What lives here: Broker, Emitter and Consumer handles (blocking calls
 * release the GIL), Ticket (a contribution awaiting its round's outcome),
 * Delivery and its payloads (zero-copy, exported through the buffer protocol
 * with an exports count, as mmap does), and Ring (a struct io_uring: waits
 * are prepared on it, and reap() turns completions into future results).
 * What does not: the asyncio glue, the original API and the payload codec
 * are Python (pooter/_core.py).
 *
 * Handles are per process: every method checks the pid that made the
 * object, and a handle inherited through fork(2) is never passed to the
 * library again, not even to leave (whose io_uring cancellations and lock
 * release would act on the parent's ring and the parent's liveness lock).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <sched.h>
#include <time.h>
#include <liburing.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include <pooter.h>

static PyObject *pooter_error; /* pooter.PooterError, an OSError */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --- errors ------------------------------------------------------------- */

/* Raise PooterError(errno, text) for a negative errno from the library. */
static PyObject *raise_err(int err, const char *what)
{
	const char *detail = pooter_last_error();
	PyObject *args, *exc;

	if (err < 0)
		err = -err;
	if (detail && *detail)
		exc = PyUnicode_FromFormat("%s: %s (%s)", what,
					   pooter_strerror(-err), detail);
	else
		exc = PyUnicode_FromFormat("%s: %s", what,
					   pooter_strerror(-err));
	if (!exc)
		return NULL;
	args = Py_BuildValue("(iN)", err, exc);
	if (!args)
		return NULL;
	exc = PyObject_Call(pooter_error, args, NULL);
	Py_DECREF(args);
	if (exc) {
		PyErr_SetObject(pooter_error, exc);
		Py_DECREF(exc);
	}
	return NULL;
}

/* The same for a handle inherited through fork(2), before any library call. */
static PyObject *raise_forked(const char *what, pid_t owner)
{
	PyObject *args, *exc, *msg;

	msg = PyUnicode_FromFormat(
		"%s was made by process %d and this is process %d: pooter "
		"handles are per process; after fork, open the broker and join "
		"again in the child",
		what, (int)owner, (int)getpid());
	if (!msg)
		return NULL;
	args = Py_BuildValue("(iN)", EBADFD, msg);
	if (!args)
		return NULL;
	exc = PyObject_Call(pooter_error, args, NULL);
	Py_DECREF(args);
	if (exc) {
		PyErr_SetObject(pooter_error, exc);
		Py_DECREF(exc);
	}
	return NULL;
}

#define CHECK_PID(self, what)                                   \
	do {                                                    \
		if ((self)->pid != getpid())                    \
			return raise_forked(what, (self)->pid); \
	} while (0)

/* --- types, declared first: they point at each other -------------------- */

struct ring_obj;

/*
 * What every wait armed on a ring starts with: the ring holds a reference
 * to the object while its wait is armed, and finds it again from the CQE's
 * user_data (the object's address: bit 0 clear, as POOTER_CQE_AUX needs).
 */
struct wait_head {
	PyObject_HEAD struct ring_obj *ring; /* armed on, NULL when not */
	PyObject *future;		     /* resolved when it settles */
	bool orphan;			     /* handle left: drop the CQE */
	struct wait_head *next, *prev;	     /* the ring's armed list */
};

struct broker_obj {
	PyObject_HEAD struct pooter_broker *b;
	pid_t pid;
};

#define EMITTER_TICKETS 8 /* the library's outcome window */

struct ticket_obj;

struct emitter_obj {
	struct wait_head w; /* the space wait */
	struct pooter_emitter *e;
	struct broker_obj *broker;
	pid_t pid;
	PyObject *rings;			   /* every ring it armed on */
	struct ticket_obj *armed[EMITTER_TICKETS]; /* borrowed */
	PyObject *name;
};

struct ticket_obj {
	struct wait_head w;
	struct pooter_ticket t;
	struct emitter_obj *emitter;
};

struct delivery_obj;

struct consumer_obj {
	struct wait_head w; /* the consume wait */
	struct pooter_consumer *c;
	struct broker_obj *broker;
	pid_t pid;
	PyObject *rings;
	struct delivery_obj *live; /* deliveries not yet freed, borrowed */
	PyObject *name;
};

struct delivery_obj {
	PyObject_HEAD struct consumer_obj *consumer;
	const struct pooter_delivery *d; /* NULL once released */
	Py_ssize_t exports;		 /* buffers handed out, live */
	uint64_t round;
	int outcome;
	unsigned int count;
	struct delivery_obj *next, *prev; /* the consumer's live list */
};

struct payload_obj {
	PyObject_HEAD struct delivery_obj *delivery;
	unsigned int index;
};

struct ring_obj {
	PyObject_HEAD struct io_uring ring;
	bool ready; /* queue_init succeeded, not yet exited */
	bool closed;
	pid_t pid;
	unsigned int armed;
	struct wait_head head;		      /* sentinel of the armed list */
	unsigned long long cqes, aux, rearms; /* counters, for the curious */
};

static PyTypeObject broker_type, emitter_type, ticket_type, consumer_type,
	delivery_type, payload_type, ring_type;

/* --- the ring's armed list ---------------------------------------------- */

static void armed_link(struct ring_obj *r, struct wait_head *w)
{
	Py_INCREF(w);
	Py_INCREF(r);
	w->ring = r;
	w->orphan = false;
	w->next = r->head.next;
	w->prev = &r->head;
	r->head.next->prev = w;
	r->head.next = w;
	r->armed++;
}

/* Unlink and drop the ring's reference; the caller holds its own on w. */
static void armed_unlink(struct wait_head *w)
{
	struct ring_obj *r = w->ring;

	if (!r)
		return;
	w->prev->next = w->next;
	w->next->prev = w->prev;
	w->next = w->prev = NULL;
	w->ring = NULL;
	r->armed--;
	Py_DECREF(r);
	Py_DECREF(w);
}

/* Add ring to a handle's list of rings (kept until it leaves). */
static int rings_add(PyObject **rings, struct ring_obj *r)
{
	if (!*rings) {
		*rings = PyList_New(0);
		if (!*rings)
			return -1;
	}
	for (Py_ssize_t i = 0; i < PyList_GET_SIZE(*rings); i++)
		if (PyList_GET_ITEM(*rings, i) == (PyObject *)r)
			return 0;
	return PyList_Append(*rings, (PyObject *)r);
}

/* Settle a wait's future with a result or an exception (steals neither). */
static void future_settle(PyObject *future, PyObject *result, PyObject *exc)
{
	PyObject *done, *ret;

	if (!future)
		return;
	done = PyObject_CallMethod(future, "done", NULL);
	if (!done) {
		PyErr_WriteUnraisable(future);
		return;
	}
	if (PyObject_IsTrue(done)) { /* cancelled by its awaiter */
		Py_DECREF(done);
		return;
	}
	Py_DECREF(done);
	if (exc)
		ret = PyObject_CallMethod(future, "set_exception", "O", exc);
	else
		ret = PyObject_CallMethod(future, "set_result", "O", result);
	if (!ret)
		PyErr_WriteUnraisable(future);
	Py_XDECREF(ret);
}

/* Settle with the exception the library's err makes. */
static void future_fail(PyObject *future, int err, const char *what)
{
	PyObject *type, *value, *tb;

	raise_err(err, what);
	PyErr_Fetch(&type, &value, &tb);
	PyErr_NormalizeException(&type, &value, &tb);
	future_settle(future, NULL, value);
	Py_XDECREF(type);
	Py_XDECREF(value);
	Py_XDECREF(tb);
}

/* The wait is over: unlink it, and settle and forget its future. */
static void wait_finish(struct wait_head *w, PyObject *result, int err,
			const char *what)
{
	PyObject *future = w->future;

	w->future = NULL;
	if (err)
		future_fail(future, err, what);
	else
		future_settle(future, result, NULL);
	Py_XDECREF(future);
	armed_unlink(w);
}

/*
 * A handle leaves: its waits will never be completed (their CQEs are
 * dropped), and whoever awaits them hears that the handle left.
 */
static void wait_orphan(struct wait_head *w, const char *what)
{
	PyObject *future = w->future;

	if (!w->ring)
		return;
	w->orphan = true;
	w->future = NULL;
	future_fail(future, -ECANCELED, what);
	Py_XDECREF(future);
}

/* --- Broker ------------------------------------------------------------- */

static PyObject *broker_new_from(struct pooter_broker *b)
{
	struct broker_obj *self = PyObject_New(struct broker_obj, &broker_type);

	if (!self) {
		pooter_broker_close(b);
		return NULL;
	}
	self->b = b;
	self->pid = getpid();
	return (PyObject *)self;
}

static PyObject *mod_broker_create(PyObject *mod, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {
		"name",	       "max_emitters", "max_consumers",
		"max_payload", "depth",	       "timeout_ms",
		"quorum",      "mode",	       NULL
	};
	POOTER_OPTS(pooter_broker_attr, attr);
	const char *name = NULL;
	struct pooter_broker *b;
	int err;

	if (!PyArg_ParseTupleAndKeywords(
		    args, kw, "z|IIIIIII", kwlist, &name, &attr.max_emitters,
		    &attr.max_consumers, &attr.max_payload, &attr.depth,
		    &attr.timeout_ms, &attr.quorum, &attr.mode))
		return NULL;
	err = pooter_broker_create(name, &attr, &b);
	if (err)
		return raise_err(err, name ? name : "pooter_broker_create");
	return broker_new_from(b);
}

static PyObject *mod_broker_open(PyObject *mod, PyObject *args)
{
	const char *name;
	struct pooter_broker *b;
	int err;

	if (!PyArg_ParseTuple(args, "s", &name))
		return NULL;
	err = pooter_broker_open(name, &b);
	if (err)
		return raise_err(err, name);
	return broker_new_from(b);
}

static void broker_dealloc(struct broker_obj *self)
{
	/* in a forked child the handle is the parent's: leave it alone */
	if (self->b && self->pid == getpid())
		pooter_broker_close(self->b);
	PyObject_Free(self);
}

static PyObject *broker_close(struct broker_obj *self, PyObject *unused)
{
	if (self->b && self->pid == getpid())
		pooter_broker_close(self->b);
	self->b = NULL;
	Py_RETURN_NONE;
}

#define CHECK_BROKER(self)                                              \
	do {                                                            \
		CHECK_PID(self, "this broker handle");                  \
		if (!(self)->b) {                                       \
			PyErr_SetString(PyExc_ValueError,               \
					"the broker handle is closed"); \
			return NULL;                                    \
		}                                                       \
	} while (0)

static PyObject *broker_get_name(struct broker_obj *self, void *closure)
{
	CHECK_BROKER(self);
	return PyUnicode_FromString(pooter_broker_name(self->b));
}

static PyObject *broker_stat(struct broker_obj *self, PyObject *unused)
{
	struct pooter_broker_stat st;
	int err;

	CHECK_BROKER(self);
	err = pooter_broker_stat(self->b, &st);
	if (err)
		return raise_err(err, pooter_broker_name(self->b));
	return Py_BuildValue(
		"{sI sI sI sI sI sI sn sI sI si sK si sK sK sI sI si sI "
		"sK sK sK sK sK sK sK}",
		"max_emitters", st.max_emitters, "max_consumers",
		st.max_consumers, "max_payload", st.max_payload, "depth",
		st.depth, "quorum", st.quorum, "timeout_ms", st.timeout_ms,
		"segment_size", (Py_ssize_t)st.segment_size, "emitters",
		st.emitters, "consumers", st.consumers, "round_state",
		st.round_state, "round", (unsigned long long)st.round,
		"round_outcome", st.round_outcome, "round_opened_ns",
		(unsigned long long)st.round_opened_ns, "round_deadline_ns",
		(unsigned long long)st.round_deadline_ns, "round_participants",
		st.round_participants, "round_emitted", st.round_emitted,
		"round_fixed", st.round_fixed, "records_free", st.records_free,
		"rounds_opened", (unsigned long long)st.rounds_opened,
		"rounds_resolved", (unsigned long long)st.rounds_resolved,
		"rounds_timedout", (unsigned long long)st.rounds_timedout,
		"rounds_cancelled", (unsigned long long)st.rounds_cancelled,
		"rounds_ownerdead", (unsigned long long)st.rounds_ownerdead,
		"emits", (unsigned long long)st.emits, "deliveries",
		(unsigned long long)st.deliveries);
}

static PyObject *broker_set_timeout(struct broker_obj *self, PyObject *args)
{
	unsigned int ms;
	int err;

	CHECK_BROKER(self);
	if (!PyArg_ParseTuple(args, "I", &ms))
		return NULL;
	err = pooter_broker_set_timeout(self->b, ms);
	if (err)
		return raise_err(err, pooter_broker_name(self->b));
	Py_RETURN_NONE;
}

static PyObject *broker_round_cancel(struct broker_obj *self, PyObject *unused)
{
	int err;

	CHECK_BROKER(self);
	err = pooter_round_cancel(self->b);
	if (err == -ENOENT)
		Py_RETURN_FALSE;
	if (err)
		return raise_err(err, pooter_broker_name(self->b));
	Py_RETURN_TRUE;
}

static PyObject *broker_gc(struct broker_obj *self, PyObject *unused)
{
	int n;

	CHECK_BROKER(self);
	n = pooter_broker_gc(self->b);
	if (n < 0)
		return raise_err(n, pooter_broker_name(self->b));
	return PyLong_FromLong(n);
}

static int member_cb(const struct pooter_member_info *m, void *arg)
{
	PyObject *d = Py_BuildValue(
		"{ss ss sI si sO sO sO sO sI sI sK}", "kind",
		m->kind == POOTER_MEMBER_EMITTER ? "emitter" : "consumer",
		"name", m->name, "slot", m->slot, "pid", (int)m->pid, "alive",
		m->alive ? Py_True : Py_False, "participant",
		m->participant ? Py_True : Py_False, "emitted",
		m->emitted ? Py_True : Py_False, "notices",
		m->notices ? Py_True : Py_False, "held", m->held, "pending",
		m->pending, "delivered", (unsigned long long)m->delivered);
	int err;

	if (!d)
		return -ENOMEM;
	err = PyList_Append(arg, d);
	Py_DECREF(d);
	return err ? -ENOMEM : 0;
}

static PyObject *broker_members(struct broker_obj *self, PyObject *unused)
{
	PyObject *list;
	int err;

	CHECK_BROKER(self);
	list = PyList_New(0);
	if (!list)
		return NULL;
	err = pooter_broker_foreach_member(self->b, member_cb, list);
	if (err) {
		Py_DECREF(list);
		if (PyErr_Occurred())
			return NULL;
		return raise_err(err, pooter_broker_name(self->b));
	}
	return list;
}

static PyObject *emitter_new_from(struct broker_obj *broker,
				  struct pooter_emitter *e);
static PyObject *consumer_new_from(struct broker_obj *broker,
				   struct pooter_consumer *c);

static PyObject *broker_emitter_join(struct broker_obj *self, PyObject *args,
				     PyObject *kw)
{
	static char *kwlist[] = { "name", "wait", NULL };
	const char *name = NULL;
	struct pooter_emitter *e;
	int wait = 0, err;

	CHECK_BROKER(self);
	if (!PyArg_ParseTupleAndKeywords(args, kw, "z|p", kwlist, &name, &wait))
		return NULL;
	Py_BEGIN_ALLOW_THREADS;
	err = pooter_emitter_join(self->b, name, wait ? POOTER_JOIN_WAIT : 0,
				  &e);
	Py_END_ALLOW_THREADS;
	if (err)
		return raise_err(err, name ? name : "pooter_emitter_join");
	return emitter_new_from(self, e);
}

static PyObject *broker_consumer_join(struct broker_obj *self, PyObject *args,
				      PyObject *kw)
{
	static char *kwlist[] = { "name", "notices", NULL };
	const char *name = NULL;
	struct pooter_consumer *c;
	int notices = 0, err;

	CHECK_BROKER(self);
	if (!PyArg_ParseTupleAndKeywords(args, kw, "z|p", kwlist, &name,
					 &notices))
		return NULL;
	err = pooter_consumer_join(self->b, name,
				   notices ? POOTER_CONSUMER_NOTICES : 0, &c);
	if (err)
		return raise_err(err, name ? name : "pooter_consumer_join");
	return consumer_new_from(self, c);
}

static PyMethodDef broker_methods[] = {
	{ "close", (PyCFunction)broker_close, METH_NOARGS,
	  "Detach (members joined through it keep it alive)." },
	{ "stat", (PyCFunction)broker_stat, METH_NOARGS,
	  "pooter_broker_stat() as a dict." },
	{ "set_timeout", (PyCFunction)broker_set_timeout, METH_VARARGS,
	  "set_timeout(ms): the timeout of rounds opened from now on." },
	{ "round_cancel", (PyCFunction)broker_round_cancel, METH_NOARGS,
	  "Cancel the open round (ECANCELED); False when none is open." },
	{ "gc", (PyCFunction)broker_gc, METH_NOARGS,
	  "Reap dead members; returns how many." },
	{ "members", (PyCFunction)broker_members, METH_NOARGS,
	  "Every joined member, as dicts." },
	{ "emitter_join", (PyCFunction)(void (*)(void))broker_emitter_join,
	  METH_VARARGS | METH_KEYWORDS,
	  "emitter_join(name=None, wait=False) -> EmitterHandle" },
	{ "consumer_join", (PyCFunction)(void (*)(void))broker_consumer_join,
	  METH_VARARGS | METH_KEYWORDS,
	  "consumer_join(name=None, notices=False) -> ConsumerHandle" },
	{ NULL }
};

static PyGetSetDef broker_getset[] = { { "name", (getter)broker_get_name, NULL,
					 "the broker's name", NULL },
				       { NULL } };

static PyTypeObject broker_type = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "pooter._pooter.BrokerHandle",
	.tp_basicsize = sizeof(struct broker_obj),
	.tp_dealloc = (destructor)broker_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A libpooter broker handle (see pooter_broker_open(3)).",
	.tp_methods = broker_methods,
	.tp_getset = broker_getset,
};

/* --- Emitter ------------------------------------------------------------ */

static PyObject *emitter_new_from(struct broker_obj *broker,
				  struct pooter_emitter *e)
{
	struct emitter_obj *self =
		PyObject_GC_New(struct emitter_obj, &emitter_type);

	if (!self) {
		pooter_emitter_leave(e);
		return NULL;
	}
	memset((char *)self + sizeof(PyObject), 0,
	       sizeof(*self) - sizeof(PyObject));
	self->e = e;
	self->pid = getpid();
	Py_INCREF(broker);
	self->broker = broker;
	self->name = PyUnicode_FromString(pooter_emitter_name(e));
	PyObject_GC_Track(self);
	return (PyObject *)self;
}

/* Leave, first orphaning every wait still armed (their CQEs are dropped). */
static void emitter_do_leave(struct emitter_obj *self)
{
	if (!self->e)
		return;
	if (self->pid == getpid()) {
		for (int i = 0; i < EMITTER_TICKETS; i++) {
			if (self->armed[i]) {
				wait_orphan(&self->armed[i]->w,
					    "the emitter left");
				self->armed[i] = NULL;
			}
		}
		wait_orphan(&self->w, "the emitter left");
		pooter_emitter_leave(self->e);
	}
	self->e = NULL;
}

static int emitter_traverse(struct emitter_obj *self, visitproc visit,
			    void *arg)
{
	Py_VISIT(self->w.future);
	Py_VISIT(self->broker);
	Py_VISIT(self->rings);
	return 0;
}

static int emitter_clear(struct emitter_obj *self)
{
	/* a cycle through a ring: leave first, the rings go after */
	emitter_do_leave(self);
	Py_CLEAR(self->w.future);
	Py_CLEAR(self->rings);
	return 0;
}

static void emitter_dealloc(struct emitter_obj *self)
{
	PyObject_GC_UnTrack(self);
	emitter_do_leave(self);
	Py_CLEAR(self->w.future);
	Py_CLEAR(self->rings);
	Py_CLEAR(self->broker);
	Py_CLEAR(self->name);
	PyObject_GC_Del(self);
}

#define CHECK_EMITTER(self)                                                 \
	do {                                                                \
		CHECK_PID(self, "this emitter");                            \
		if (!(self)->e) {                                           \
			PyErr_SetString(PyExc_ValueError,                   \
					"the emitter has left its broker"); \
			return NULL;                                        \
		}                                                           \
	} while (0)

static PyObject *emitter_leave(struct emitter_obj *self, PyObject *unused)
{
	CHECK_PID(self, "this emitter");
	emitter_do_leave(self);
	Py_CLEAR(self->rings);
	Py_RETURN_NONE;
}

static PyObject *emitter_emit(struct emitter_obj *self, PyObject *arg)
{
	uint64_t round = 0;
	Py_buffer view;
	int err;

	CHECK_EMITTER(self);
	if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE))
		return NULL;
	Py_BEGIN_ALLOW_THREADS;
	err = pooter_emit(self->e, view.buf, (size_t)view.len, &round);
	Py_END_ALLOW_THREADS;
	PyBuffer_Release(&view);
	if (err && err != -ETIMEDOUT && err != -ECANCELED && err != -EOWNERDEAD)
		return raise_err(err, PyUnicode_AsUTF8(self->name));
	return Py_BuildValue("(iK)", err, (unsigned long long)round);
}

static PyObject *emitter_submit(struct emitter_obj *self, PyObject *arg)
{
	struct ticket_obj *t;
	Py_buffer view;
	int err;

	CHECK_EMITTER(self);
	if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE))
		return NULL;
	t = PyObject_GC_New(struct ticket_obj, &ticket_type);
	if (!t) {
		PyBuffer_Release(&view);
		return NULL;
	}
	memset((char *)t + sizeof(PyObject), 0, sizeof(*t) - sizeof(PyObject));
	err = pooter_emit_submit(self->e, view.buf, (size_t)view.len, &t->t);
	PyBuffer_Release(&view);
	Py_INCREF(self);
	t->emitter = self;
	PyObject_GC_Track(t);
	if (err) {
		Py_DECREF(t);
		return raise_err(err, PyUnicode_AsUTF8(self->name));
	}
	return (PyObject *)t;
}

static PyObject *emitter_get_name(struct emitter_obj *self, void *closure)
{
	Py_INCREF(self->name);
	return self->name;
}

static PyMethodDef emitter_methods[] = {
	{ "leave", (PyCFunction)emitter_leave, METH_NOARGS,
	  "Unregister; an emit owed in the open round cancels it." },
	{ "emit", (PyCFunction)emitter_emit, METH_O,
	  "emit(bytes) -> (outcome, round), blocking (GIL released)." },
	{ "submit", (PyCFunction)emitter_submit, METH_O,
	  "submit(bytes) -> Ticket (pooter_emit_submit)." },
	{ NULL }
};

static PyGetSetDef emitter_getset[] = { { "name", (getter)emitter_get_name,
					  NULL, "the member's name", NULL },
					{ NULL } };

static PyTypeObject emitter_type = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "pooter._pooter.EmitterHandle",
	.tp_basicsize = sizeof(struct emitter_obj),
	.tp_dealloc = (destructor)emitter_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_traverse = (traverseproc)emitter_traverse,
	.tp_clear = (inquiry)emitter_clear,
	.tp_doc = "A libpooter emitter (see pooter_emitter_join(3)).",
	.tp_methods = emitter_methods,
	.tp_getset = emitter_getset,
};

/* --- Ticket ------------------------------------------------------------- */

static void ticket_forget(struct ticket_obj *t)
{
	struct emitter_obj *em = t->emitter;

	if (!em)
		return;
	for (int i = 0; i < EMITTER_TICKETS; i++)
		if (em->armed[i] == t)
			em->armed[i] = NULL;
}

static int ticket_traverse(struct ticket_obj *self, visitproc visit, void *arg)
{
	Py_VISIT(self->w.future);
	Py_VISIT(self->emitter);
	return 0;
}

static int ticket_clear(struct ticket_obj *self)
{
	Py_CLEAR(self->w.future);
	return 0;
}

static void ticket_dealloc(struct ticket_obj *self)
{
	PyObject_GC_UnTrack(self);
	ticket_forget(self);
	Py_CLEAR(self->w.future);
	Py_CLEAR(self->emitter);
	PyObject_GC_Del(self);
}

static PyObject *ticket_wait(struct ticket_obj *self, PyObject *unused)
{
	int err;

	CHECK_PID(self->emitter, "this ticket's emitter");
	if (!self->emitter->e) {
		PyErr_SetString(PyExc_ValueError,
				"the emitter has left its broker");
		return NULL;
	}
	if (self->w.ring) {
		PyErr_SetString(PyExc_RuntimeError,
				"the ticket's wait is armed on a ring");
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS;
	err = pooter_ticket_wait(&self->t);
	Py_END_ALLOW_THREADS;
	return PyLong_FromLong(err);
}

static PyObject *ticket_get_round(struct ticket_obj *self, void *c)
{
	return PyLong_FromUnsignedLongLong(self->t.round);
}

static PyObject *ticket_get_outcome(struct ticket_obj *self, void *c)
{
	return PyLong_FromLong(self->t.outcome);
}

static PyObject *ticket_get_deadline(struct ticket_obj *self, void *c)
{
	return PyLong_FromUnsignedLongLong(self->t.deadline_ns);
}

/*
 * spin(budget_ns) -> the outcome, or None if the round is still open after
 * budget_ns: a short active phase before an asynchronous wait is armed, as
 * the blocking calls have, since arming (a futex wait, its timeout, a death
 * watch a participant, and their cancellation after) costs more than a
 * round between processes that are all running.  The round is looked at
 * through pooter_broker_stat() (the async API has no poll of a ticket), and
 * the CPU yielded between looks.
 */
static PyObject *ticket_spin(struct ticket_obj *self, PyObject *arg)
{
	struct emitter_obj *em = self->emitter;
	struct pooter_broker_stat st;
	long long budget = PyLong_AsLongLong(arg);
	bool decided = false;
	uint64_t start;
	int err = 0;

	if (budget == -1 && PyErr_Occurred())
		return NULL;
	CHECK_EMITTER(em);
	if (self->w.ring) {
		PyErr_SetString(PyExc_RuntimeError,
				"the ticket's wait is armed on a ring");
		return NULL;
	}
	if (self->t.outcome != -EINPROGRESS)
		return PyLong_FromLong(self->t.outcome);
	Py_BEGIN_ALLOW_THREADS;
	start = mono_ns();
	for (;;) {
		err = pooter_broker_stat(em->broker->b, &st);
		if (err)
			break;
		if (st.round > self->t.round ||
		    (st.round == self->t.round &&
		     st.round_state != POOTER_ROUND_OPEN)) {
			decided = true;
			break;
		}
		if (mono_ns() - start >= (uint64_t)budget)
			break;
		sched_yield();
	}
	if (decided)
		err = pooter_ticket_wait(&self->t);
	Py_END_ALLOW_THREADS;
	if (err < 0 && !decided)
		return raise_err(err, PyUnicode_AsUTF8(em->name));
	if (!decided)
		Py_RETURN_NONE;
	return PyLong_FromLong(err);
}

static PyMethodDef ticket_methods[] = {
	{ "wait", (PyCFunction)ticket_wait, METH_NOARGS,
	  "Block (GIL released) until settled; returns the outcome." },
	{ "spin", (PyCFunction)ticket_spin, METH_O,
	  "spin(budget_ns) -> outcome, or None while the round is open." },
	{ NULL }
};

static PyGetSetDef ticket_getset[] = {
	{ "round", (getter)ticket_get_round, NULL, "round contributed to",
	  NULL },
	{ "outcome", (getter)ticket_get_outcome, NULL,
	  "0, -ETIMEDOUT, -ECANCELED, -EOWNERDEAD; -EINPROGRESS until settled",
	  NULL },
	{ "deadline_ns", (getter)ticket_get_deadline, NULL,
	  "the round's deadline, CLOCK_MONOTONIC", NULL },
	{ NULL }
};

static PyTypeObject ticket_type = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "pooter._pooter.Ticket",
	.tp_basicsize = sizeof(struct ticket_obj),
	.tp_dealloc = (destructor)ticket_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_traverse = (traverseproc)ticket_traverse,
	.tp_clear = (inquiry)ticket_clear,
	.tp_doc = "A contribution awaiting its round's outcome.",
	.tp_methods = ticket_methods,
	.tp_getset = ticket_getset,
};

/* --- Delivery and its payloads ------------------------------------------ */

static void delivery_unlink(struct delivery_obj *d)
{
	struct consumer_obj *c = d->consumer;

	if (d->prev)
		d->prev->next = d->next;
	else if (c && c->live == d)
		c->live = d->next;
	if (d->next)
		d->next->prev = d->prev;
	d->next = d->prev = NULL;
}

static PyObject *delivery_new_from(struct consumer_obj *c,
				   const struct pooter_delivery *pd)
{
	struct delivery_obj *d =
		PyObject_New(struct delivery_obj, &delivery_type);

	if (!d) {
		pooter_release(c->c, pd);
		return NULL;
	}
	Py_INCREF(c);
	d->consumer = c;
	d->d = pd;
	d->exports = 0;
	d->round = pd->round;
	d->outcome = pd->outcome;
	d->count = pd->count;
	d->prev = NULL;
	d->next = c->live;
	if (c->live)
		c->live->prev = d;
	c->live = d;
	return (PyObject *)d;
}

/* Hand the record back; 0, or -1 with BufferError while buffers are out. */
static int delivery_do_release(struct delivery_obj *d)
{
	struct consumer_obj *c = d->consumer;

	if (!d->d)
		return 0;
	if (d->exports > 0) {
		PyErr_Format(PyExc_BufferError,
			     "cannot release the delivery of round %llu: %zd "
			     "memoryview(s) of its payloads still exist "
			     "(release them first)",
			     (unsigned long long)d->round, d->exports);
		return -1;
	}
	if (c->c && c->pid == getpid())
		pooter_release(c->c, d->d);
	d->d = NULL;
	return 0;
}

static void delivery_dealloc(struct delivery_obj *self)
{
	/* exports hold references: none are left by now */
	delivery_do_release(self);
	delivery_unlink(self);
	Py_CLEAR(self->consumer);
	PyObject_Free(self);
}

static PyObject *delivery_release(struct delivery_obj *self, PyObject *unused)
{
	CHECK_PID(self->consumer, "this delivery's consumer");
	if (delivery_do_release(self))
		return NULL;
	Py_RETURN_NONE;
}

#define CHECK_HELD(self)                                                       \
	do {                                                                   \
		if (!(self)->d) {                                              \
			PyErr_Format(PyExc_BufferError,                        \
				     "the delivery of round %llu is released", \
				     (unsigned long long)(self)->round);       \
			return NULL;                                           \
		}                                                              \
	} while (0)

static PyObject *delivery_emitters(struct delivery_obj *self, PyObject *unused)
{
	PyObject *list;

	CHECK_HELD(self);
	list = PyList_New(self->count);
	if (!list)
		return NULL;
	for (unsigned int i = 0; i < self->count; i++) {
		PyObject *s =
			PyUnicode_FromString(self->d->payloads[i].emitter);

		if (!s) {
			Py_DECREF(list);
			return NULL;
		}
		PyList_SET_ITEM(list, i, s);
	}
	return list;
}

/* Copies of the payloads, as bytes. */
static PyObject *delivery_copies(struct delivery_obj *self, PyObject *unused)
{
	PyObject *list;

	CHECK_HELD(self);
	list = PyList_New(self->count);
	if (!list)
		return NULL;
	for (unsigned int i = 0; i < self->count; i++) {
		const struct pooter_payload *p = &self->d->payloads[i];
		PyObject *b =
			PyBytes_FromStringAndSize(p->data, (Py_ssize_t)p->len);

		if (!b) {
			Py_DECREF(list);
			return NULL;
		}
		PyList_SET_ITEM(list, i, b);
	}
	return list;
}

/* Zero-copy: one memoryview a payload, into the segment. */
static PyObject *delivery_views(struct delivery_obj *self, PyObject *unused)
{
	PyObject *list;

	CHECK_HELD(self);
	list = PyList_New(self->count);
	if (!list)
		return NULL;
	for (unsigned int i = 0; i < self->count; i++) {
		struct payload_obj *p =
			PyObject_New(struct payload_obj, &payload_type);
		PyObject *mv;

		if (!p) {
			Py_DECREF(list);
			return NULL;
		}
		Py_INCREF(self);
		p->delivery = self;
		p->index = i;
		mv = PyMemoryView_FromObject((PyObject *)p);
		Py_DECREF(p);
		if (!mv) {
			Py_DECREF(list);
			return NULL;
		}
		PyList_SET_ITEM(list, i, mv);
	}
	return list;
}

static PyObject *delivery_get_round(struct delivery_obj *self, void *c)
{
	return PyLong_FromUnsignedLongLong(self->round);
}

static PyObject *delivery_get_outcome(struct delivery_obj *self, void *c)
{
	return PyLong_FromLong(self->outcome);
}

static PyObject *delivery_get_count(struct delivery_obj *self, void *c)
{
	return PyLong_FromUnsignedLong(self->count);
}

static PyObject *delivery_get_released(struct delivery_obj *self, void *c)
{
	return PyBool_FromLong(self->d == NULL);
}

static PyObject *delivery_get_exports(struct delivery_obj *self, void *c)
{
	return PyLong_FromSsize_t(self->exports);
}

static PyMethodDef delivery_methods[] = {
	{ "release", (PyCFunction)delivery_release, METH_NOARGS,
	  "Hand the ring record back; BufferError while memoryviews of it "
	  "exist." },
	{ "emitters", (PyCFunction)delivery_emitters, METH_NOARGS,
	  "The emitters' names, in payload order." },
	{ "copies", (PyCFunction)delivery_copies, METH_NOARGS,
	  "The payloads, copied into bytes." },
	{ "views", (PyCFunction)delivery_views, METH_NOARGS,
	  "The payloads as zero-copy read-only memoryviews." },
	{ NULL }
};

static PyGetSetDef delivery_getset[] = {
	{ "round", (getter)delivery_get_round, NULL, "the round's number",
	  NULL },
	{ "outcome", (getter)delivery_get_outcome, NULL,
	  "0, or the reason of a cancellation notice (negative errno)", NULL },
	{ "count", (getter)delivery_get_count, NULL, "payloads", NULL },
	{ "released", (getter)delivery_get_released, NULL,
	  "the record was handed back", NULL },
	{ "exports", (getter)delivery_get_exports, NULL,
	  "memoryviews of its payloads alive", NULL },
	{ NULL }
};

static PyTypeObject delivery_type = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "pooter._pooter.Delivery",
	.tp_basicsize = sizeof(struct delivery_obj),
	.tp_dealloc = (destructor)delivery_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "One round's payloads, a zero-copy view of a ring record.",
	.tp_methods = delivery_methods,
	.tp_getset = delivery_getset,
};

static int payload_getbuffer(struct payload_obj *self, Py_buffer *view,
			     int flags)
{
	struct delivery_obj *d = self->delivery;
	const struct pooter_payload *p;

	if (!d->d) {
		PyErr_Format(PyExc_BufferError,
			     "the delivery of round %llu is released: its "
			     "payloads are gone",
			     (unsigned long long)d->round);
		return -1;
	}
	p = &d->d->payloads[self->index];
	if (PyBuffer_FillInfo(view, (PyObject *)self, (void *)p->data,
			      (Py_ssize_t)p->len, 1, flags))
		return -1;
	d->exports++;
	return 0;
}

static void payload_releasebuffer(struct payload_obj *self, Py_buffer *view)
{
	self->delivery->exports--;
}

static void payload_dealloc(struct payload_obj *self)
{
	Py_CLEAR(self->delivery);
	PyObject_Free(self);
}

static PyBufferProcs payload_as_buffer = {
	.bf_getbuffer = (getbufferproc)payload_getbuffer,
	.bf_releasebuffer = (releasebufferproc)payload_releasebuffer,
};

static PyTypeObject payload_type = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "pooter._pooter.Payload",
	.tp_basicsize = sizeof(struct payload_obj),
	.tp_dealloc = (destructor)payload_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "One payload of a delivery, exported read-only.",
	.tp_as_buffer = &payload_as_buffer,
};

/* --- Consumer ----------------------------------------------------------- */

static PyObject *consumer_new_from(struct broker_obj *broker,
				   struct pooter_consumer *c)
{
	struct consumer_obj *self =
		PyObject_GC_New(struct consumer_obj, &consumer_type);

	if (!self) {
		pooter_consumer_leave(c);
		return NULL;
	}
	memset((char *)self + sizeof(PyObject), 0,
	       sizeof(*self) - sizeof(PyObject));
	self->c = c;
	self->pid = getpid();
	Py_INCREF(broker);
	self->broker = broker;
	self->name = PyUnicode_FromString(pooter_consumer_name(c));
	PyObject_GC_Track(self);
	return (PyObject *)self;
}

/*
 * Leave: refused (BufferError) while a memoryview of a delivery is out,
 * since leaving hands back every record held; the deliveries still alive
 * are marked released without a pooter_release() of their own.
 */
static int consumer_do_leave(struct consumer_obj *self)
{
	struct delivery_obj *d;

	if (!self->c)
		return 0;
	if (self->pid == getpid()) {
		for (d = self->live; d; d = d->next) {
			if (d->d && d->exports > 0) {
				PyErr_Format(PyExc_BufferError,
					     "cannot leave: %zd memoryview(s) "
					     "of round %llu still exist",
					     d->exports,
					     (unsigned long long)d->round);
				return -1;
			}
		}
		for (d = self->live; d; d = d->next)
			d->d = NULL;
		wait_orphan(&self->w, "the consumer left");
		pooter_consumer_leave(self->c);
	}
	self->c = NULL;
	return 0;
}

static int consumer_traverse(struct consumer_obj *self, visitproc visit,
			     void *arg)
{
	Py_VISIT(self->w.future);
	Py_VISIT(self->broker);
	Py_VISIT(self->rings);
	return 0;
}

static int consumer_clear(struct consumer_obj *self)
{
	if (consumer_do_leave(self))
		PyErr_WriteUnraisable((PyObject *)self);
	Py_CLEAR(self->w.future);
	Py_CLEAR(self->rings);
	return 0;
}

static void consumer_dealloc(struct consumer_obj *self)
{
	PyObject_GC_UnTrack(self);
	/* deliveries hold references: none are alive by now */
	if (consumer_do_leave(self))
		PyErr_WriteUnraisable((PyObject *)self);
	Py_CLEAR(self->w.future);
	Py_CLEAR(self->rings);
	Py_CLEAR(self->broker);
	Py_CLEAR(self->name);
	PyObject_GC_Del(self);
}

#define CHECK_CONSUMER(self)                                                 \
	do {                                                                 \
		CHECK_PID(self, "this consumer");                            \
		if (!(self)->c) {                                            \
			PyErr_SetString(PyExc_ValueError,                    \
					"the consumer has left its broker"); \
			return NULL;                                         \
		}                                                            \
	} while (0)

static PyObject *consumer_leave(struct consumer_obj *self, PyObject *unused)
{
	CHECK_PID(self, "this consumer");
	if (consumer_do_leave(self))
		return NULL;
	Py_CLEAR(self->rings);
	Py_RETURN_NONE;
}

/* consume(timeout_ms) -> Delivery, or None when nothing came in time. */
static PyObject *consumer_consume(struct consumer_obj *self, PyObject *args)
{
	const struct pooter_delivery *d;
	int timeout_ms = -1, err;

	CHECK_CONSUMER(self);
	if (!PyArg_ParseTuple(args, "|i", &timeout_ms))
		return NULL;
	if (timeout_ms == 0) {
		err = pooter_consume(self->c, 0, &d);
	} else {
		Py_BEGIN_ALLOW_THREADS;
		err = pooter_consume(self->c, timeout_ms, &d);
		Py_END_ALLOW_THREADS;
	}
	if (err == -ETIMEDOUT)
		Py_RETURN_NONE;
	if (err)
		return raise_err(err, PyUnicode_AsUTF8(self->name));
	return delivery_new_from(self, d);
}

/*
 * spin(budget_ns) -> Delivery, or None after budget_ns: the active phase
 * before a consume wait is armed (pooter_consume() with no wait, which
 * takes no lock, between yields of the CPU).
 */
static PyObject *consumer_spin(struct consumer_obj *self, PyObject *arg)
{
	const struct pooter_delivery *d = NULL;
	long long budget = PyLong_AsLongLong(arg);
	uint64_t start;
	int err;

	if (budget == -1 && PyErr_Occurred())
		return NULL;
	CHECK_CONSUMER(self);
	if (self->w.ring) {
		PyErr_SetString(PyExc_RuntimeError,
				"a consume wait is armed on this consumer");
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS;
	start = mono_ns();
	while ((err = pooter_consume(self->c, 0, &d)) == -ETIMEDOUT &&
	       mono_ns() - start < (uint64_t)budget)
		sched_yield();
	Py_END_ALLOW_THREADS;
	if (err == -ETIMEDOUT)
		Py_RETURN_NONE;
	if (err)
		return raise_err(err, PyUnicode_AsUTF8(self->name));
	return delivery_new_from(self, d);
}

static PyObject *consumer_get_name(struct consumer_obj *self, void *closure)
{
	Py_INCREF(self->name);
	return self->name;
}

static PyObject *consumer_get_held(struct consumer_obj *self, void *closure)
{
	long n = 0;

	for (struct delivery_obj *d = self->live; d; d = d->next)
		n += d->d != NULL;
	return PyLong_FromLong(n);
}

static PyMethodDef consumer_methods[] = {
	{ "leave", (PyCFunction)consumer_leave, METH_NOARGS,
	  "Unregister, handing back every record held." },
	{ "spin", (PyCFunction)consumer_spin, METH_O,
	  "spin(budget_ns) -> Delivery, or None after budget_ns." },
	{ "consume", (PyCFunction)consumer_consume, METH_VARARGS,
	  "consume(timeout_ms=-1) -> Delivery or None, blocking (GIL "
	  "released)." },
	{ NULL }
};

static PyGetSetDef consumer_getset[] = {
	{ "name", (getter)consumer_get_name, NULL, "the member's name", NULL },
	{ "held", (getter)consumer_get_held, NULL,
	  "deliveries held, not yet released", NULL },
	{ NULL }
};

static PyTypeObject consumer_type = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name =
		"pooter._pooter.ConsumerHandle",
	.tp_basicsize = sizeof(struct consumer_obj),
	.tp_dealloc = (destructor)consumer_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_traverse = (traverseproc)consumer_traverse,
	.tp_clear = (inquiry)consumer_clear,
	.tp_doc = "A libpooter consumer (see pooter_consumer_join(3)).",
	.tp_methods = consumer_methods,
	.tp_getset = consumer_getset,
};

/* --- Ring --------------------------------------------------------------- */

static PyObject *ring_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "entries", NULL };
	unsigned int entries = 256;
	struct ring_obj *self;
	int err;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|I", kwlist, &entries))
		return NULL;
	err = pooter_uring_supported();
	if (err)
		return raise_err(err, "io_uring");
	self = (struct ring_obj *)type->tp_alloc(type, 0);
	if (!self)
		return NULL;
	self->head.next = self->head.prev = &self->head;
	self->pid = getpid();
	err = io_uring_queue_init(entries, &self->ring, 0);
	if (err < 0) {
		Py_DECREF(self);
		return raise_err(err, "io_uring_queue_init");
	}
	self->ready = true;
	return (PyObject *)self;
}

/*
 * Only when nothing refers to the ring any more: handles keep the rings
 * they armed on until they leave, since leaving submits cancellations on
 * them; so the ring outlives every handle that may still touch it.
 */
static void ring_dealloc(struct ring_obj *self)
{
	if (self->ready)
		io_uring_queue_exit(&self->ring);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

#define CHECK_RING(self)                                                      \
	do {                                                                  \
		CHECK_PID(self, "this io_uring ring");                        \
		if ((self)->closed) {                                         \
			PyErr_SetString(PyExc_ValueError,                     \
					"the ring is closed (its event loop " \
					"closed)");                           \
			return NULL;                                          \
		}                                                             \
	} while (0)

static int ring_submit_now(struct ring_obj *r)
{
	int err;

	do
		err = io_uring_submit(&r->ring);
	while (err == -EINTR);
	return err < 0 ? err : 0;
}

/* A prep call that found the queue full: submit, then once more. */
#define PREP_RETRY(r, call)                                                    \
	({                                                                     \
		int __n = (call);                                              \
		if (__n == -EBUSY && io_uring_sq_space_left(&(r)->ring) < 2) { \
			ring_submit_now(r);                                    \
			__n = (call);                                          \
		}                                                              \
		__n;                                                           \
	})

static PyObject *ring_arm_result(struct ring_obj *r, struct wait_head *w,
				 PyObject *future, int n, const char *what)
{
	int err;

	if (n < 0)
		return raise_err(n, what);
	Py_INCREF(future);
	Py_XSETREF(w->future, future);
	armed_link(r, w);
	err = ring_submit_now(r);
	if (err) /* the SQEs stay queued: the next submit carries them */
		return raise_err(err, "io_uring_submit");
	Py_RETURN_NONE;
}

static PyObject *ring_prep_round(struct ring_obj *self, PyObject *args)
{
	struct ticket_obj *t;
	struct emitter_obj *em;
	PyObject *future;
	int n, slot = -1;

	CHECK_RING(self);
	if (!PyArg_ParseTuple(args, "O!O", &ticket_type, &t, &future))
		return NULL;
	em = t->emitter;
	CHECK_EMITTER(em);
	if (t->w.ring) {
		PyErr_SetString(PyExc_RuntimeError, "ticket already armed");
		return NULL;
	}
	for (int i = 0; i < EMITTER_TICKETS && slot < 0; i++)
		if (!em->armed[i])
			slot = i;
	if (slot < 0)
		return raise_err(-EBUSY, "8 round waits armed on this emitter");
	if (rings_add(&em->rings, self))
		return NULL;
	n = PREP_RETRY(self, pooter_prep_round_wait(&self->ring, &t->t,
						    (uint64_t)(uintptr_t)t));
	if (n >= 0)
		em->armed[slot] = t;
	return ring_arm_result(self, &t->w, future, n,
			       "pooter_prep_round_wait");
}

static PyObject *ring_prep_consume(struct ring_obj *self, PyObject *args)
{
	struct consumer_obj *c;
	PyObject *future;
	int timeout_ms, n;

	CHECK_RING(self);
	if (!PyArg_ParseTuple(args, "O!iO", &consumer_type, &c, &timeout_ms,
			      &future))
		return NULL;
	CHECK_CONSUMER(c);
	if (c->w.ring) {
		PyErr_SetString(PyExc_RuntimeError,
				"a consume wait is armed on this consumer");
		return NULL;
	}
	if (rings_add(&c->rings, self))
		return NULL;
	n = PREP_RETRY(self,
		       pooter_prep_consume_wait(&self->ring, c->c, timeout_ms,
						(uint64_t)(uintptr_t)c));
	return ring_arm_result(self, &c->w, future, n,
			       "pooter_prep_consume_wait");
}

static PyObject *ring_prep_space(struct ring_obj *self, PyObject *args)
{
	struct emitter_obj *em;
	PyObject *future;
	int timeout_ms, n;

	CHECK_RING(self);
	if (!PyArg_ParseTuple(args, "O!iO", &emitter_type, &em, &timeout_ms,
			      &future))
		return NULL;
	CHECK_EMITTER(em);
	if (em->w.ring) {
		PyErr_SetString(PyExc_RuntimeError,
				"a space wait is armed on this emitter");
		return NULL;
	}
	if (rings_add(&em->rings, self))
		return NULL;
	n = PREP_RETRY(self,
		       pooter_prep_space_wait(&self->ring, em->e, timeout_ms,
					      (uint64_t)(uintptr_t)em));
	return ring_arm_result(self, &em->w, future, n,
			       "pooter_prep_space_wait");
}

static void complete_ticket(struct ring_obj *r, struct ticket_obj *t,
			    const struct io_uring_cqe *cqe)
{
	int n = pooter_round_complete(&r->ring, &t->t, cqe);
	PyObject *res;

	if (n == -EBUSY) { /* could not re-arm: submit, arm again */
		ring_submit_now(r);
		n = pooter_prep_round_wait(&r->ring, &t->t,
					   (uint64_t)(uintptr_t)t);
		if (n >= 0)
			return;
	}
	if (n == 0)
		return; /* re-armed */
	ticket_forget(t);
	if (n < 0) {
		wait_finish(&t->w, NULL, n, "pooter_round_complete");
		return;
	}
	res = PyLong_FromLong(t->t.outcome);
	wait_finish(&t->w, res, 0, NULL);
	Py_XDECREF(res);
}

static void complete_consume(struct ring_obj *r, struct consumer_obj *c,
			     const struct io_uring_cqe *cqe)
{
	const struct pooter_delivery *d;
	int n = pooter_consume_complete(&r->ring, c->c, cqe, &d);
	PyObject *res;

	if (n == -EBUSY) {
		ring_submit_now(r);
		n = pooter_prep_consume_wait(&r->ring, c->c, -1,
					     (uint64_t)(uintptr_t)c);
		if (n >= 0)
			return;
	}
	if (n == 0)
		return;
	if (n == -ETIMEDOUT) {
		wait_finish(&c->w, Py_None, 0, NULL);
		return;
	}
	if (n < 0) {
		wait_finish(&c->w, NULL, n, "pooter_consume_complete");
		return;
	}
	res = delivery_new_from(c, d);
	if (!res) {
		PyErr_WriteUnraisable((PyObject *)c);
		res = Py_None;
		Py_INCREF(res);
	}
	wait_finish(&c->w, res, 0, NULL);
	Py_DECREF(res);
}

static void complete_space(struct ring_obj *r, struct emitter_obj *em,
			   const struct io_uring_cqe *cqe)
{
	int n = pooter_space_complete(&r->ring, em->e, cqe);

	if (n == -EBUSY) {
		ring_submit_now(r);
		n = pooter_prep_space_wait(&r->ring, em->e, -1,
					   (uint64_t)(uintptr_t)em);
		if (n >= 0)
			return;
	}
	if (n == 0)
		return;
	if (n == -ETIMEDOUT)
		wait_finish(&em->w, Py_False, 0, NULL);
	else if (n < 0)
		wait_finish(&em->w, NULL, n, "pooter_space_complete");
	else
		wait_finish(&em->w, Py_True, 0, NULL);
}

/*
 * Reap every CQE there is: drop the auxiliary ones and those of orphaned
 * waits, hand the others to pooter_*_complete(), settle the futures of the
 * waits that settled, and submit what the completions queued (re-arms and
 * the cancellation of death watches).  Returns how many waits settled.
 */
static PyObject *ring_reap(struct ring_obj *self, PyObject *unused)
{
	struct io_uring_cqe *cqe;
	unsigned int before;
	long settled = 0;
	bool queued = false;

	CHECK_RING(self);
	while (io_uring_peek_cqe(&self->ring, &cqe) == 0) {
		struct io_uring_cqe copy = *cqe;
		struct wait_head *w;

		io_uring_cqe_seen(&self->ring, cqe);
		self->cqes++;
		if (pooter_cqe_is_aux(&copy) || !copy.user_data) {
			self->aux++;
			continue;
		}
		w = (struct wait_head *)(uintptr_t)copy.user_data;
		if (w->ring != self) /* not armed here: stale */
			continue;
		if (w->orphan) {
			armed_unlink(w);
			continue;
		}
		Py_INCREF(w);
		before = self->armed;
		if (Py_TYPE(w) == &ticket_type)
			complete_ticket(self, (struct ticket_obj *)w, &copy);
		else if (Py_TYPE(w) == &consumer_type)
			complete_consume(self, (struct consumer_obj *)w, &copy);
		else
			complete_space(self, (struct emitter_obj *)w, &copy);
		settled += self->armed < before;
		self->rearms += self->armed == before;
		queued = true;
		Py_DECREF(w);
	}
	if (queued && io_uring_sq_ready(&self->ring))
		ring_submit_now(self);
	return PyLong_FromLong(settled);
}

static PyObject *ring_submit(struct ring_obj *self, PyObject *unused)
{
	int err;

	CHECK_RING(self);
	err = ring_submit_now(self);
	if (err)
		return raise_err(err, "io_uring_submit");
	Py_RETURN_NONE;
}

/*
 * spin(budget_ns) -> CQEs ready: an active phase on the completion queue
 * (no lock, no syscall but sched_yield, which also runs the task work that
 * posts a woken futex wait's CQE), ending at the first CQE or the budget.
 */
static PyObject *ring_spin(struct ring_obj *self, PyObject *arg)
{
	long long budget = PyLong_AsLongLong(arg);
	unsigned int ready;
	uint64_t start;

	if (budget == -1 && PyErr_Occurred())
		return NULL;
	CHECK_RING(self);
	Py_BEGIN_ALLOW_THREADS;
	start = mono_ns();
	while (!(ready = io_uring_cq_ready(&self->ring)) &&
	       mono_ns() - start < (uint64_t)budget)
		sched_yield();
	Py_END_ALLOW_THREADS;
	return PyLong_FromUnsignedLong(ready);
}

/* CQEs waiting, without a syscall: what a polling phase looks at. */
static PyObject *ring_ready(struct ring_obj *self, PyObject *unused)
{
	CHECK_RING(self);
	return PyLong_FromUnsignedLong(io_uring_cq_ready(&self->ring));
}

/*
 * The loop closes: the waits still armed are orphaned (whoever awaits
 * them hears ECANCELED) and the ring takes no more; it is freed when the
 * last handle that armed on it has left.
 */
static PyObject *ring_close(struct ring_obj *self, PyObject *unused)
{
	struct wait_head *w;

	if (self->closed || self->pid != getpid()) {
		self->closed = true;
		Py_RETURN_NONE;
	}
	self->closed = true;
	while ((w = self->head.next) != &self->head) {
		Py_INCREF(w);
		wait_orphan(w, "the event loop closed");
		if (Py_TYPE(w) == &ticket_type)
			ticket_forget((struct ticket_obj *)w);
		armed_unlink(w);
		Py_DECREF(w);
	}
	Py_RETURN_NONE;
}

static PyObject *ring_get_fd(struct ring_obj *self, void *closure)
{
	return PyLong_FromLong(self->ring.ring_fd);
}

static PyObject *ring_get_armed(struct ring_obj *self, void *closure)
{
	return PyLong_FromUnsignedLong(self->armed);
}

static PyObject *ring_get_closed(struct ring_obj *self, void *closure)
{
	return PyBool_FromLong(self->closed);
}

static PyObject *ring_get_counters(struct ring_obj *self, void *closure)
{
	return Py_BuildValue("{sK sK sK}", "cqes", self->cqes, "aux", self->aux,
			     "rearms", self->rearms);
}

static PyMethodDef ring_methods[] = {
	{ "prep_round", (PyCFunction)ring_prep_round, METH_VARARGS,
	  "prep_round(ticket, future): arm the outcome wait, and submit." },
	{ "prep_consume", (PyCFunction)ring_prep_consume, METH_VARARGS,
	  "prep_consume(consumer, timeout_ms, future): arm, and submit." },
	{ "prep_space", (PyCFunction)ring_prep_space, METH_VARARGS,
	  "prep_space(emitter, timeout_ms, future): arm, and submit." },
	{ "reap", (PyCFunction)ring_reap, METH_NOARGS,
	  "Complete every CQE there is; returns the waits settled." },
	{ "submit", (PyCFunction)ring_submit, METH_NOARGS, "io_uring_submit" },
	{ "spin", (PyCFunction)ring_spin, METH_O,
	  "spin(budget_ns) -> CQEs ready, after at most budget_ns." },
	{ "ready", (PyCFunction)ring_ready, METH_NOARGS,
	  "CQEs waiting to be reaped." },
	{ "close", (PyCFunction)ring_close, METH_NOARGS,
	  "Orphan every armed wait; take no more." },
	{ NULL }
};

static PyGetSetDef ring_getset[] = {
	{ "fd", (getter)ring_get_fd, NULL, "the ring's fd, for add_reader",
	  NULL },
	{ "armed", (getter)ring_get_armed, NULL, "waits armed", NULL },
	{ "closed", (getter)ring_get_closed, NULL, "closed", NULL },
	{ "counters", (getter)ring_get_counters, NULL,
	  "CQEs reaped, of which auxiliary, and waits re-armed", NULL },
	{ NULL }
};

static PyTypeObject ring_type = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "pooter._pooter.Ring",
	.tp_basicsize = sizeof(struct ring_obj),
	.tp_dealloc = (destructor)ring_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Ring(entries=256): an io_uring carrying pooter waits.",
	.tp_methods = ring_methods,
	.tp_getset = ring_getset,
	.tp_new = ring_new,
};

/* --- module ------------------------------------------------------------- */

static int foreach_cb(const char *name, void *arg)
{
	PyObject *s = PyUnicode_FromString(name);
	int err;

	if (!s)
		return -ENOMEM;
	err = PyList_Append(arg, s);
	Py_DECREF(s);
	return err ? -ENOMEM : 0;
}

static PyObject *mod_broker_list(PyObject *mod, PyObject *unused)
{
	PyObject *list = PyList_New(0);
	int err;

	if (!list)
		return NULL;
	err = pooter_broker_foreach(foreach_cb, list);
	if (err) {
		Py_DECREF(list);
		if (PyErr_Occurred())
			return NULL;
		return raise_err(err, "pooter_broker_foreach");
	}
	return list;
}

static PyObject *mod_broker_unlink(PyObject *mod, PyObject *args)
{
	const char *name;
	int err;

	if (!PyArg_ParseTuple(args, "s", &name))
		return NULL;
	err = pooter_broker_unlink(name);
	if (err == -ENOENT)
		Py_RETURN_FALSE;
	if (err)
		return raise_err(err, name);
	Py_RETURN_TRUE;
}

static PyObject *mod_uring_supported(PyObject *mod, PyObject *unused)
{
	int err = pooter_uring_supported();

	return Py_BuildValue("(Os)", err ? Py_False : Py_True,
			     err ? pooter_last_error() : "");
}

static PyObject *mod_strerror(PyObject *mod, PyObject *args)
{
	int err;

	if (!PyArg_ParseTuple(args, "i", &err))
		return NULL;
	return PyUnicode_FromString(pooter_strerror(err));
}

static PyMethodDef mod_methods[] = {
	{ "broker_create", (PyCFunction)(void (*)(void))mod_broker_create,
	  METH_VARARGS | METH_KEYWORDS,
	  "broker_create(name, max_emitters=0, max_consumers=0, max_payload=0, "
	  "depth=0, timeout_ms=0, quorum=0, mode=0) -> BrokerHandle" },
	{ "broker_open", mod_broker_open, METH_VARARGS,
	  "broker_open(name) -> BrokerHandle" },
	{ "broker_list", mod_broker_list, METH_NOARGS,
	  "The names of every broker on this machine." },
	{ "broker_unlink", mod_broker_unlink, METH_VARARGS,
	  "broker_unlink(name) -> True, or False when there was none." },
	{ "uring_supported", mod_uring_supported, METH_NOARGS,
	  "(True, '') or (False, reason)." },
	{ "strerror", mod_strerror, METH_VARARGS, "pooter_strerror(code)" },
	{ NULL }
};

static struct PyModuleDef pooter_module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "pooter._pooter",
	.m_doc = "libpooter for Python: handles and io_uring rings.",
	.m_size = -1,
	.m_methods = mod_methods,
};

PyMODINIT_FUNC PyInit__pooter(void)
{
	PyTypeObject *types[] = { &broker_type,	  &emitter_type,  &ticket_type,
				  &consumer_type, &delivery_type, &payload_type,
				  &ring_type };
	PyObject *m;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (PyType_Ready(types[i]) < 0)
			return NULL;
	m = PyModule_Create(&pooter_module);
	if (!m)
		return NULL;
	pooter_error = PyErr_NewExceptionWithDoc(
		"pooter.PooterError",
		"A libpooter call failed: errno is the (positive) error code.",
		PyExc_OSError, NULL);
	if (!pooter_error ||
	    PyModule_AddObjectRef(m, "PooterError", pooter_error) < 0)
		goto fail;
	if (PyModule_AddObjectRef(m, "BrokerHandle", (PyObject *)&broker_type) <
		    0 ||
	    PyModule_AddObjectRef(m, "EmitterHandle",
				  (PyObject *)&emitter_type) < 0 ||
	    PyModule_AddObjectRef(m, "ConsumerHandle",
				  (PyObject *)&consumer_type) < 0 ||
	    PyModule_AddObjectRef(m, "Ticket", (PyObject *)&ticket_type) < 0 ||
	    PyModule_AddObjectRef(m, "Delivery", (PyObject *)&delivery_type) <
		    0 ||
	    PyModule_AddObjectRef(m, "Ring", (PyObject *)&ring_type) < 0)
		goto fail;
	return m;
fail:
	Py_DECREF(m);
	return NULL;
}
