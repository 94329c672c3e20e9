"""Python 3 client for HyperDex, a thin ctypes wrapper over libhyperclient.

    >>> import hyperclient
    >>> c = hyperclient.Client('127.0.0.1', 1982)          # doctest: +SKIP
    >>> c.put('phonebook', 'jsmith', {'first': 'John'})    # doctest: +SKIP
    True

Every key operation exists in a synchronous form (``c.put(...)``) and an
asynchronous one (``c.async_put(...)``) returning a Deferred whose
``wait()`` gives the same result.  ``c.loop()`` waits for the next event of
any outstanding operation and returns the object it belongs to.

Value conversions
-----------------
Requests: bytes and str are strings (str is sent as UTF-8); int is int64
(outside -2**63 .. 2**63-1 raises OverflowError); float is float; a list or
tuple is a list, a set or frozenset a set and a dict a map, each with one
element (and for maps one key and one value) type, else TypeError.  Sets
and maps are sent sorted the way HyperDex orders them (strings bytewise,
numbers numerically).  There is no int-to-float coercion: give ``4.`` for a
float attribute.

**bool** is an int: True and False are sent as the int64 values 1 and 0 and
come back as 1 and 0 (the behaviour of the original Python 2 module).

**Strings out**: a string value, list/set element, map key or key comes
back as ``str`` when its bytes are valid UTF-8, and as ``bytes`` otherwise.
So ``'Jóhn'`` (or its UTF-8 bytes) reads back as ``'Jóhn'``, while
``b'\\xde\\xad\\xbe\\xef'`` reads back as bytes.  Keys, attribute names and
space names may be given as str (UTF-8) or bytes.

Results
-------
get → dict of the non-key attributes in schema order (never-set attributes
read as '', 0, 0.0, [], set(), {}), or None if the key does not exist.
put and the atomic/string/list/set/map ops → True; put_if_not_exist and
cond_* → True, or False when the condition failed (CMPFAIL); delete → True,
or False for a missing key; cond_delete → False for either.  Every other
outcome raises HyperClientException.

search → a lazy iterator (Search) of dicts holding the key first, under the
key attribute's name, then every attribute in schema order; the order of the
objects is undefined.  sorted_search(space, predicate, sort_by, limit,
compare) → a SortedSearch of at most ``limit`` such dicts, ordered by
``sort_by`` (compare 'max'/'maximize': largest first; 'min'/'minimize':
smallest first).  The request is sent when the iterator is created; results
arrive as it is iterated, and an error reported by one server (RECONFIGURE,
SERVERERROR, OFFLINE, ...) is raised as HyperClientException when its turn
comes (iterating further gives the other servers' results).  count → int;
group_del → True; search_describe → the text report of the servers a search
would read.  A bad predicate is refused by the call itself: UNKNOWNATTR or
WRONGTYPE naming the check's attribute in ``.attr`` (or ``sort_by``),
UNKNOWNSPACE, or INTERNAL when the ranges on one attribute cannot overlap
(for example ``(40, 30)``).

Conditions and search predicates are dicts ``{attr: spec}``: a value means
equality, a 2-tuple ``(lo, hi)`` an inclusive range, or one of Range,
LessEqual, GreaterEqual, Regex, LengthEquals, LengthLessEqual,
LengthGreaterEqual, Contains; a list of specs means all of them.

A Client is not thread-safe in Python (its bookkeeping of pending operations is
not locked); use one per thread. The C library underneath is thread-safe.
"""

import collections
import ctypes

from . import _constants
from ._constants import *  # noqa: F401,F403  (HYPERCLIENT_*, HYPERDATATYPE_*, HYPERPREDICATE_*)
from ._constants import (HYPERCLIENT_SUCCESS, HYPERCLIENT_NOTFOUND, HYPERCLIENT_CMPFAIL,
                         HYPERCLIENT_SEARCHDONE, HYPERCLIENT_GARBAGE,
                         HYPERCLIENT_COORDFAIL, HYPERCLIENT_INTERNAL,
                         HYPERDATATYPE_GARBAGE)
from ._errors import HyperClientException, key_op_failure_attr, search_failure_attr
from ._predicates import (Predicate, Range, LessEqual, GreaterEqual, Regex,
                          LengthEquals, LengthLessEqual, LengthGreaterEqual, Contains)
from . import _codec
from . import _predicates
from . import _lib

__all__ = (['Client', 'HyperClientException', 'Deferred', 'DeferredGet',
            'DeferredFromAttrs', 'DeferredCondFromAttrs', 'DeferredDelete',
            'DeferredCondDelete', 'DeferredMapOp', 'DeferredCondMapOp',
            'DeferredGroupDel', 'DeferredCount', 'DeferredSearchDescribe',
            'SearchBase', 'Search', 'SortedSearch', 'Predicate', 'Range',
            'LessEqual', 'GreaterEqual', 'Regex', 'LengthEquals',
            'LengthLessEqual', 'LengthGreaterEqual', 'Contains']
           + list(_constants.__all__))


# ---------------------------------------------------------------------------
# Deferred objects

class Deferred(object):
    """One asynchronous operation.  ``wait()`` returns its result."""

    def __init__(self, client):
        self._client = client
        self._reqid = None
        self._status = ctypes.c_int(HYPERCLIENT_GARBAGE)
        self._keep = []          # every ctypes buffer handed to the C call
        self._finished = False
        self._value = None
        self._error = None

    # called by Client.loop when the library returns this op's id
    def _on_event(self):
        self._finished = True
        self._client._pending.pop(self._reqid, None)
        try:
            self._value = self._finish(self._status.value)
        except Exception as e:  # delivered by wait()
            self._error = e
        self._keep = None

    def _finish(self, status):
        raise NotImplementedError

    def wait(self):
        """Block until the operation completes; return or raise its result."""
        while not self._finished:
            self._client.loop()
        if self._error is not None:
            raise self._error
        return self._value


class DeferredGet(Deferred):
    """async_get: a dict of the non-key attributes, or None."""

    def __init__(self, client):
        Deferred.__init__(self, client)
        self._attrs = ctypes.c_void_p()
        self._attrs_sz = ctypes.c_size_t(0)

    def _finish(self, status):
        if status == HYPERCLIENT_SUCCESS:
            return self._client._take_attrs(self._attrs, self._attrs_sz)
        if status == HYPERCLIENT_NOTFOUND:
            return None
        raise HyperClientException(status)


class DeferredFromAttrs(Deferred):
    """put, put_if_not_exist, atomic_*, string_*, list_*, set_*."""

    def _finish(self, status):
        if status == HYPERCLIENT_SUCCESS:
            return True
        if status == HYPERCLIENT_CMPFAIL:
            return False
        raise HyperClientException(status)


class DeferredCondFromAttrs(DeferredFromAttrs):
    """cond_put and the other cond_<op> forms with plain attributes (same results)."""


class DeferredMapOp(DeferredFromAttrs):
    """map_add, map_remove, map_atomic_*, map_string_* (same results)."""


class DeferredCondMapOp(DeferredMapOp):
    """cond_map_* forms."""


class DeferredDelete(Deferred):
    """delete: True, or False when the key did not exist."""

    def _finish(self, status):
        if status == HYPERCLIENT_SUCCESS:
            return True
        if status == HYPERCLIENT_NOTFOUND:
            return False
        raise HyperClientException(status)


class DeferredCondDelete(Deferred):
    """cond_delete: True, or False on CMPFAIL or a missing key."""

    def _finish(self, status):
        if status == HYPERCLIENT_SUCCESS:
            return True
        if status in (HYPERCLIENT_CMPFAIL, HYPERCLIENT_NOTFOUND):
            return False
        raise HyperClientException(status)


class DeferredGroupDel(Deferred):
    """group_del: True."""

    def _finish(self, status):
        if status == HYPERCLIENT_SUCCESS:
            return True
        raise HyperClientException(status)


class DeferredCount(Deferred):
    """count: the number of matching objects.

    With ``unsafe=False`` (the default) the count is returned even when a
    server failed (it is then a lower bound); with ``unsafe=True`` such a
    failure raises.
    """

    def __init__(self, client, unsafe=False):
        Deferred.__init__(self, client)
        self._unsafe = unsafe
        self._result = ctypes.c_uint64(0)

    def _finish(self, status):
        if status == HYPERCLIENT_SUCCESS or not self._unsafe:
            return self._result.value
        raise HyperClientException(status)


class DeferredSearchDescribe(Deferred):
    """search_describe: the text report (stripped), or None."""

    def __init__(self, client):
        Deferred.__init__(self, client)
        self._description = ctypes.c_char_p()

    def _finish(self, status):
        if status != HYPERCLIENT_SUCCESS:
            raise HyperClientException(status)
        # The string belongs to the client and is valid until the next loop
        # call: copy it now.
        text = self._description.value
        if text is None:
            return None
        return _codec.decode_text(text).strip()


# ---------------------------------------------------------------------------
# search iterators

class SearchBase(object):
    """Iterator over the results of a search or sorted_search.

    Each item is a dict of every attribute, the key included.  An error
    event from one server (RECONFIGURE, SERVERERROR, ...) is raised as a
    HyperClientException when its turn comes; iteration may continue
    afterwards with the results of the other servers.
    """

    def __init__(self, client):
        self._client = client
        self._reqid = None
        self._status = ctypes.c_int(HYPERCLIENT_GARBAGE)
        self._attrs = ctypes.c_void_p()
        self._attrs_sz = ctypes.c_size_t(0)
        self._keep = []
        self._queue = collections.deque()
        self._finished = False

    def _on_event(self):
        status = self._status.value
        if status == HYPERCLIENT_SUCCESS:
            try:
                item = self._client._take_attrs(self._attrs, self._attrs_sz)
            except Exception as e:
                item = e
            self._attrs.value = None
            self._attrs_sz.value = 0
            self._queue.append(item)
        elif status == HYPERCLIENT_SEARCHDONE:
            self._finished = True
            self._client._pending.pop(self._reqid, None)
            self._keep = None
        else:
            self._queue.append(HyperClientException(status))

    def __iter__(self):
        return self

    def __next__(self):
        while not self._queue and not self._finished:
            self._client.loop()
        if self._queue:
            item = self._queue.popleft()
            if isinstance(item, BaseException):
                raise item
            return item
        raise StopIteration

    next = __next__


class Search(SearchBase):
    """Results of Client.search (no defined order)."""


class SortedSearch(SearchBase):
    """Results of Client.sorted_search, in sorted order."""


for _cls in (Deferred, DeferredGet, DeferredFromAttrs, DeferredCondFromAttrs,
             DeferredMapOp, DeferredCondMapOp, DeferredDelete, DeferredCondDelete,
             DeferredGroupDel, DeferredCount, DeferredSearchDescribe,
             SearchBase, Search, SortedSearch):
    _cls.__module__ = 'hyperclient'

_COMPARE = {'max': 1, 'maximize': 1, 'min': 0, 'minimize': 0}


# ---------------------------------------------------------------------------
# Client

class Client(object):
    """A connection to a HyperDex cluster through its coordinator."""

    def __init__(self, address, port):
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise ValueError('port must be an int in 1..65535')
        self._lib = _lib.library()
        self._handle = None
        self._pending = {}
        h = self._lib.fn('hyperclient_create')(_codec.to_bytes(address), port)
        if not h:
            raise HyperClientException(HYPERCLIENT_COORDFAIL)
        self._handle = h

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: nothing sensible to do
            pass

    def close(self):
        """Free the C client.  Outstanding operations are abandoned."""
        h, self._handle = getattr(self, '_handle', None), None
        if h:
            self._lib.fn('hyperclient_destroy')(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _h(self):
        if not self._handle:
            raise ValueError('the client is closed')
        return self._handle

    # -- administration -----------------------------------------------------

    def add_space(self, description):
        """Create a space from its description text.  Returns None."""
        rc = self._lib.fn('hyperclient_add_space')(self._h(), _codec.to_bytes(description))
        if rc != HYPERCLIENT_SUCCESS:
            raise HyperClientException(rc)

    def rm_space(self, name):
        """Remove a space and its data.  Returns None."""
        rc = self._lib.fn('hyperclient_rm_space')(self._h(), _codec.name_bytes(name))
        if rc != HYPERCLIENT_SUCCESS:
            raise HyperClientException(rc)

    def attribute_type(self, space, attr):
        """The declared datatype (a HYPERDATATYPE_* int) of an attribute."""
        status = ctypes.c_int(HYPERCLIENT_GARBAGE)
        t = self._lib.fn('hyperclient_attribute_type')(
            self._h(), _codec.name_bytes(space), _codec.name_bytes(attr),
            ctypes.byref(status))
        if t == HYPERDATATYPE_GARBAGE:
            raise HyperClientException(status.value, attr)
        return t

    def poll_fd(self):
        """A file descriptor that becomes readable when loop() has work."""
        return self._lib.fn('hyperclient_poll_fd')(self._h())

    # -- the event loop -----------------------------------------------------

    def loop(self, timeout=-1):
        """Wait for the next event (timeout in ms, -1 = forever).

        Returns the Deferred or search iterator the event belongs to, after
        recording the event in it.  Raises HyperClientException for loop
        failures (NONEPENDING when nothing is outstanding, TIMEOUT, ...).
        """
        status = ctypes.c_int(HYPERCLIENT_GARBAGE)
        reqid = self._lib.fn('hyperclient_loop')(self._h(), timeout, ctypes.byref(status))
        if reqid < 0:
            raise HyperClientException(status.value)
        op = self._pending.get(reqid)
        if op is None:
            # The library reported an id we never issued (or already
            # completed): a library bug.
            raise HyperClientException(HYPERCLIENT_INTERNAL)
        op._on_event()
        return op

    # -- helpers ------------------------------------------------------------

    def _take_attrs(self, ptr, sz):
        """Decode and free an attribute array returned by the library."""
        address = ptr.value
        if not address:
            return {}
        n = sz.value
        try:
            triples = _lib.read_attrs(address, n)
        finally:
            self._lib.fn('hyperclient_destroy_attrs')(ctypes.cast(address, _lib.P_ATTR), n)
        return _codec.decode_attrs(triples)

    def _issue(self, op, fn, args, failure_attr):
        reqid = fn(*args)
        if reqid <= 0:
            raise HyperClientException(op._status.value, failure_attr(reqid, op._status.value))
        op._reqid = reqid
        self._pending[reqid] = op
        return op

    def _key_args(self, op, space, key):
        sb = _codec.name_bytes(space)
        kb, _ = _codec.encode_key(key)
        op._keep.extend((sb, kb))
        return [self._h(), sb, kb, len(kb)]

    def _checks(self, op, condition):
        checks = _predicates.build_checks(condition)
        arr, n = _lib.check_array(checks, op._keep)
        return arr, n, [c[0] for c in checks]

    def _key_op(self, cname, cls, space, key, condition=None, attrs=None,
                mapattrs=None, remove=False, has_cond=False):
        """Start a key operation; ``remove`` selects map_remove's encoding."""
        fn = self._lib.fn(cname)
        op = cls(self)
        args = self._key_args(op, space, key)
        check_names = attr_names = map_names = ()
        if has_cond:
            carr, cn, check_names = self._checks(op, condition)
            args += [carr, cn]
        if attrs is not None:
            items = (_codec.encode_map_remove(attrs) if remove
                     else _codec.encode_attrs(attrs))
            arr, n = _lib.attr_array(items, op._keep)
            attr_names = [i[0] for i in items]
            args += [arr, n]
        if mapattrs is not None:
            items = _codec.encode_map_attrs(mapattrs)
            arr, n = _lib.map_attr_array(items, op._keep)
            map_names = [i[0] for i in items]
            args += [arr, n]
        args.append(ctypes.byref(op._status))

        def failure_attr(reqid, status):
            return key_op_failure_attr(reqid, status, check_names, attr_names, map_names)
        return self._issue(op, fn, args, failure_attr)

    # -- key operations (more are generated below) ---------------------------

    def async_get(self, space, key):
        fn = self._lib.fn('hyperclient_get')
        op = DeferredGet(self)
        args = self._key_args(op, space, key)
        args += [ctypes.byref(op._status), ctypes.byref(op._attrs),
                 ctypes.byref(op._attrs_sz)]
        return self._issue(op, fn, args, lambda r, s: None)

    def get(self, space, key):
        """dict of the non-key attributes, or None when the key is absent."""
        return self.async_get(space, key).wait()

    def async_delete(self, space, key):
        return self._key_op('hyperclient_del', DeferredDelete, space, key)

    def delete(self, space, key):
        """True, or False when the key did not exist."""
        return self.async_delete(space, key).wait()

    def async_cond_delete(self, space, key, condition):
        return self._key_op('hyperclient_cond_del', DeferredCondDelete, space, key,
                            condition=condition, has_cond=True)

    def cond_delete(self, space, key, condition):
        """True, or False when the condition failed or the key is absent."""
        return self.async_cond_delete(space, key, condition).wait()

    def async_map_remove(self, space, key, attrs):
        return self._key_op('hyperclient_map_remove', DeferredMapOp, space, key,
                            attrs=attrs, remove=True)

    def map_remove(self, space, key, attrs):
        """Remove map keys: ``{attr: {mapkey: ignored}}`` or ``{attr: mapkey}``."""
        return self.async_map_remove(space, key, attrs).wait()

    def async_cond_map_remove(self, space, key, condition, attrs):
        return self._key_op('hyperclient_cond_map_remove', DeferredCondMapOp, space,
                            key, condition=condition, attrs=attrs, remove=True,
                            has_cond=True)

    def cond_map_remove(self, space, key, condition, attrs):
        return self.async_cond_map_remove(space, key, condition, attrs).wait()

    # -- search-type operations ----------------------------------------------

    def _search_start(self, op, cname, space, predicate, extra_before_status=(),
                      outputs=(), sort_by=None):
        fn = self._lib.fn(cname)
        sb = _codec.name_bytes(space)
        op._keep.append(sb)
        carr, cn, check_names = self._checks(op, predicate)
        args = [self._h(), sb, carr, cn] + list(extra_before_status)
        args.append(ctypes.byref(op._status))
        args += list(outputs)

        def failure_attr(reqid, status):
            return search_failure_attr(reqid, status, check_names, sort_by)
        return self._issue(op, fn, args, failure_attr)

    def search(self, space, predicate):
        """Iterator over every object matching ``predicate`` (key included)."""
        op = Search(self)
        return self._search_start(op, 'hyperclient_search', space, predicate,
                                  outputs=(ctypes.byref(op._attrs),
                                           ctypes.byref(op._attrs_sz)))

    def sorted_search(self, space, predicate, sort_by, limit, compare):
        """At most ``limit`` matches sorted by ``sort_by``.

        ``compare`` is 'max'/'maximize' (largest first) or 'min'/'minimize'.
        """
        if isinstance(compare, (bytes, bytearray)):
            compare = bytes(compare).decode('utf-8', 'replace')
        if not isinstance(compare, str) or compare not in _COMPARE:
            raise ValueError("compare must be one of 'max', 'maximize', 'min', "
                             "'minimize', not %r" % (compare,))
        if not isinstance(limit, int) or limit < 0 or limit >= 1 << 64:
            raise ValueError('limit must be an int in 0..2**64-1')
        op = SortedSearch(self)
        sort_b = _codec.name_bytes(sort_by)
        op._keep.append(sort_b)
        return self._search_start(op, 'hyperclient_sorted_search', space, predicate,
                                  extra_before_status=(sort_b, limit, _COMPARE[compare]),
                                  outputs=(ctypes.byref(op._attrs),
                                           ctypes.byref(op._attrs_sz)),
                                  sort_by=sort_by)

    def async_count(self, space, predicate, unsafe=False):
        op = DeferredCount(self, unsafe)
        return self._search_start(op, 'hyperclient_count', space, predicate,
                                  outputs=(ctypes.byref(op._result),))

    def count(self, space, predicate, unsafe=False):
        """Number of matching objects (see DeferredCount for ``unsafe``)."""
        return self.async_count(space, predicate, unsafe).wait()

    def async_group_del(self, space, predicate):
        op = DeferredGroupDel(self)
        return self._search_start(op, 'hyperclient_group_del', space, predicate)

    def group_del(self, space, predicate):
        """Delete every matching object.  Returns True."""
        return self.async_group_del(space, predicate).wait()

    def async_search_describe(self, space, predicate, unsafe=False):
        op = DeferredSearchDescribe(self)
        return self._search_start(op, 'hyperclient_search_describe', space, predicate,
                                  outputs=(ctypes.byref(op._description),))

    def search_describe(self, space, predicate, unsafe=False):
        """A text report of the servers a search would touch (or None)."""
        return self.async_search_describe(space, predicate, unsafe).wait()


# ---------------------------------------------------------------------------
# generated key operations

_NUM_OPS = ('add', 'sub', 'mul', 'div', 'mod', 'and', 'or', 'xor')
ATTR_OPS = (['put', 'put_if_not_exist']
            + ['atomic_' + o for o in _NUM_OPS]
            + ['string_prepend', 'string_append', 'list_lpush', 'list_rpush',
               'set_add', 'set_remove', 'set_intersect', 'set_union'])
MAP_OPS = (['map_add'] + ['map_atomic_' + o for o in _NUM_OPS]
           + ['map_string_prepend', 'map_string_append'])


def _install(name, cname, cls, kind):
    """Add async_<name> and <name> to Client.

    kind: 'attrs' (space, key, attrs), 'cond_attrs' (space, key, condition,
    attrs), 'map' and 'cond_map' likewise with nested map arguments.
    """
    if kind == 'attrs':
        def async_op(self, space, key, attrs):
            return self._key_op(cname, cls, space, key, attrs=attrs)

        def sync_op(self, space, key, attrs):
            return async_op(self, space, key, attrs).wait()
    elif kind == 'cond_attrs':
        def async_op(self, space, key, condition, attrs):
            return self._key_op(cname, cls, space, key, condition=condition,
                                attrs=attrs, has_cond=True)

        def sync_op(self, space, key, condition, attrs):
            return async_op(self, space, key, condition, attrs).wait()
    elif kind == 'map':
        def async_op(self, space, key, attrs):
            return self._key_op(cname, cls, space, key, mapattrs=attrs)

        def sync_op(self, space, key, attrs):
            return async_op(self, space, key, attrs).wait()
    else:
        def async_op(self, space, key, condition, attrs):
            return self._key_op(cname, cls, space, key, condition=condition,
                                mapattrs=attrs, has_cond=True)

        def sync_op(self, space, key, condition, attrs):
            return async_op(self, space, key, condition, attrs).wait()
    for fn, fname in ((async_op, 'async_' + name), (sync_op, name)):
        fn.__name__ = fname
        fn.__qualname__ = 'Client.' + fname
        fn.__doc__ = ('%s (C: %s); %s.' % (name, cname,
                      'returns a %s' % cls.__name__ if fn is async_op
                      else 'returns the result of %s.wait()' % cls.__name__))
        setattr(Client, fname, fn)


for _name in ATTR_OPS:
    _install(_name, 'hyperclient_' + _name, DeferredFromAttrs, 'attrs')
    if _name != 'put_if_not_exist':
        _install('cond_' + _name, 'hyperclient_cond_' + _name,
                 DeferredCondFromAttrs, 'cond_attrs')
for _name in MAP_OPS:
    _install(_name, 'hyperclient_' + _name, DeferredMapOp, 'map')
    _install('cond_' + _name, 'hyperclient_cond_' + _name, DeferredCondMapOp, 'cond_map')
del _name, _cls
