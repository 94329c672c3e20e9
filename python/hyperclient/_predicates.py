"""Predicate classes and the translation of predicate dicts into checks.

A predicate (search, count, group_del, or the condition of a cond_* op) is a
dict ``{attr: spec}`` where ``spec`` is:

* a value (str/bytes, int, float, set, dict, or a tuple whose length is not
  2): the attribute must EQUAL it;
* a 2-tuple ``(lo, hi)`` of the same kind: ``lo <= attr <= hi``;
* a Predicate instance (Range, LessEqual, GreaterEqual, Regex,
  LengthEquals, LengthLessEqual, LengthGreaterEqual, Contains);
* a list of any of the above, all of which must hold.
"""

from . import _constants as C
from . import _codec


def _kind(v):
    return _codec.value_class(v)


class Predicate(object):
    """Base class: ``_raw(attr)`` gives ``[(attr, predicate, value), ...]``."""

    def __init__(self, raw):
        # raw: list of (predicate, python value)
        self._checks = list(raw)

    def _raw(self, attr):
        return [(attr, pred, value) for pred, value in self._checks]

    def __repr__(self):
        args = ', '.join(repr(v) for _, v in self._checks)
        return '%s(%s)' % (type(self).__name__, args)

    def __eq__(self, other):
        return type(self) is type(other) and self._checks == other._checks

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = object.__hash__


class Range(Predicate):
    """lower <= attr <= upper (both of one kind: string, int or float)."""

    def __init__(self, lower, upper):
        kl, ku = _kind(lower), _kind(upper)
        if kl is None or kl != ku:
            raise AttributeError('Range bounds must be of the same type: '
                                 'str/bytes, int or float')
        Predicate.__init__(self, [(C.HYPERPREDICATE_GREATER_EQUAL, lower),
                                  (C.HYPERPREDICATE_LESS_EQUAL, upper)])

    def __repr__(self):
        return 'Range(%r, %r)' % (self._checks[0][1], self._checks[1][1])


class _OneValue(Predicate):
    _pred = None
    _what = ''

    def __init__(self, value):
        self._validate(value)
        Predicate.__init__(self, [(self._pred, value)])

    def _validate(self, value):
        if _kind(value) is None:
            raise AttributeError('%s takes a str/bytes, int or float, not %s'
                                 % (type(self).__name__, type(value).__name__))


class LessEqual(_OneValue):
    """attr <= value."""
    _pred = C.HYPERPREDICATE_LESS_EQUAL


class GreaterEqual(_OneValue):
    """attr >= value."""
    _pred = C.HYPERPREDICATE_GREATER_EQUAL


class Contains(_OneValue):
    """The list/set contains the element, or the map contains the key."""
    _pred = C.HYPERPREDICATE_CONTAINS


class Regex(_OneValue):
    """The string attribute matches the (HyperDex dialect) regex."""
    _pred = C.HYPERPREDICATE_REGEX

    def _validate(self, value):
        if not isinstance(value, (str, bytes, bytearray)):
            raise AttributeError('Regex takes a str or bytes pattern, not %s'
                                 % type(value).__name__)


class _Length(_OneValue):
    def _validate(self, value):
        if not isinstance(value, int) or isinstance(value, bool):
            raise AttributeError('%s takes an int, not %s'
                                 % (type(self).__name__, type(value).__name__))


class LengthEquals(_Length):
    """len(attr) == n."""
    _pred = C.HYPERPREDICATE_LENGTH_EQUALS


class LengthLessEqual(_Length):
    """len(attr) <= n."""
    _pred = C.HYPERPREDICATE_LENGTH_LESS_EQUAL


class LengthGreaterEqual(_Length):
    """len(attr) >= n."""
    _pred = C.HYPERPREDICATE_LENGTH_GREATER_EQUAL


for _cls in (Predicate, Range, LessEqual, GreaterEqual, Contains, Regex,
             LengthEquals, LengthLessEqual, LengthGreaterEqual):
    _cls.__module__ = 'hyperclient'


def _is_range_tuple(item):
    if not (isinstance(item, tuple) and len(item) == 2):
        return False
    k = _kind(item[0])
    return k is not None and k == _kind(item[1])


def raw_checks(predicate):
    """Predicate dict → ``[(attr, predicate, python value), ...]``."""
    if predicate is None:
        return []
    if not isinstance(predicate, dict):
        raise TypeError('a predicate must be a dict {attribute: spec}, not %s'
                        % type(predicate).__name__)
    out = []
    for attr, spec in predicate.items():
        items = spec if isinstance(spec, list) else [spec]
        for item in items:
            if isinstance(item, Predicate):
                out.extend(item._raw(attr))
            elif _is_range_tuple(item):
                out.extend(Range(item[0], item[1])._raw(attr))
            else:
                out.append((attr, C.HYPERPREDICATE_EQUALS, item))
    return out


def build_checks(predicate):
    """Predicate dict → ``[(name_bytes, predicate, value_bytes, datatype), ...]``."""
    out = []
    for attr, pred, value in raw_checks(predicate):
        data, dtype = _codec.encode_value(value)
        out.append((_codec.name_bytes(attr), pred, data, dtype))
    return out
