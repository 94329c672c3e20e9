"""HyperClientException and the decoding of failed-call offsets."""

from . import _constants as C

# Human messages for each return code.  '%s' marks where the attribute name
# goes when it is known; the second entry is used when it is not.
_MESSAGES = {
    C.HYPERCLIENT_SUCCESS: 'Success',
    C.HYPERCLIENT_NOTFOUND: 'Not Found',
    C.HYPERCLIENT_SEARCHDONE: 'Search Done',
    C.HYPERCLIENT_CMPFAIL: 'Conditional Operation Did Not Match Object',
    C.HYPERCLIENT_READONLY: 'Cluster is in a Read-Only State',
    C.HYPERCLIENT_UNKNOWNSPACE: 'Unknown Space',
    C.HYPERCLIENT_COORDFAIL: 'Coordinator Failure',
    C.HYPERCLIENT_SERVERERROR: 'Server Error',
    C.HYPERCLIENT_POLLFAILED: 'Polling Failed',
    C.HYPERCLIENT_OVERFLOW: 'Integer-overflow or divide-by-zero',
    C.HYPERCLIENT_RECONFIGURE: 'Reconfiguration',
    C.HYPERCLIENT_TIMEOUT: 'Timeout',
    C.HYPERCLIENT_UNKNOWNATTR: ('Unknown attribute "%s"', 'Unknown attribute'),
    C.HYPERCLIENT_DUPEATTR: ('Duplicate attribute "%s"', 'Duplicate attribute'),
    C.HYPERCLIENT_NONEPENDING: 'None pending',
    C.HYPERCLIENT_DONTUSEKEY: ('Attribute "%s" is the key and cannot be used here',
                               'The key attribute cannot be used here'),
    C.HYPERCLIENT_WRONGTYPE: ('Attribute "%s" has the wrong type',
                              'Value has the wrong type'),
    C.HYPERCLIENT_NOMEM: 'Memory allocation failed',
    C.HYPERCLIENT_BADCONFIG: 'The coordinator provided a malformed configuration',
    C.HYPERCLIENT_BADSPACE: 'The space description is invalid',
    C.HYPERCLIENT_DUPLICATE: 'The space already exists',
    C.HYPERCLIENT_INTERRUPTED: 'Interrupted by a signal',
    C.HYPERCLIENT_CLUSTER_JUMP: 'The coordinator now reports a different cluster',
    C.HYPERCLIENT_COORD_LOGGED: 'The coordinator logged an error',
    C.HYPERCLIENT_OFFLINE: 'No live server holds the key',
    C.HYPERCLIENT_INTERNAL: 'Internal Error (file a bug)',
    C.HYPERCLIENT_EXCEPTION: 'Internal Exception (file a bug)',
    C.HYPERCLIENT_GARBAGE: 'Internal Corruption (file a bug)',
}

_UNKNOWN_MESSAGE = 'Unknown Error (file a bug)'
_UNKNOWN_SYMBOL = 'BUG'


def returncode_symbol(status):
    """'HYPERCLIENT_NOTFOUND' for 8449, 'BUG' for an unknown code."""
    return C.RETURNCODE_SYMBOLS.get(status, _UNKNOWN_SYMBOL)


def returncode_message(status, attr=None):
    msg = _MESSAGES.get(status, _UNKNOWN_MESSAGE)
    if isinstance(msg, tuple):
        if attr is None:
            return msg[1]
        return msg[0] % (attr,)
    return msg


class HyperClientException(Exception):
    """A HyperDex return code other than the expected one.

    ``status()`` gives the numeric code, ``symbol()`` its name (for example
    'HYPERCLIENT_NOTFOUND'), and ``attr`` the name of the offending
    attribute when the library identified one.
    """

    def __init__(self, status, attr=None):
        Exception.__init__(self, status, attr)
        self._status = int(status)
        if isinstance(attr, (bytes, bytearray)):
            try:
                attr = bytes(attr).decode('utf-8')
            except UnicodeDecodeError:
                attr = bytes(attr)
        self.attr = attr

    def status(self):
        return self._status

    def symbol(self):
        return returncode_symbol(self._status)

    def message(self):
        return returncode_message(self._status, self.attr)

    def __str__(self):
        return 'HyperClient(%s, %s)' % (self.symbol(), self.message())

    __repr__ = __str__

    def __eq__(self, other):
        return type(self) is type(other) and self._status == other._status

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash((type(self).__name__, self._status))


HyperClientException.__module__ = 'hyperclient'

# Statuses whose negative request id points at one input.
_OFFSET_STATUSES = frozenset([C.HYPERCLIENT_UNKNOWNATTR, C.HYPERCLIENT_WRONGTYPE,
                              C.HYPERCLIENT_DONTUSEKEY, C.HYPERCLIENT_DUPEATTR])


def key_op_failure_attr(reqid, status, checks=(), attrs=(), mapattrs=()):
    """Name of the input a key operation's negative result points at.

    Key operations return -2 - i for check i, -2 - len(checks) - j for
    attribute j and -2 - len(checks) - len(attrs) - k for map attribute k.
    ``checks``/``attrs``/``mapattrs`` are sequences of attribute names in the
    order they were passed.  Returns None when no input is identified.
    """
    if reqid >= -1 or status not in _OFFSET_STATUSES:
        return None
    idx = -2 - reqid
    for group in (checks, attrs, mapattrs):
        if idx < len(group):
            return group[idx]
        idx -= len(group)
    return None


def search_failure_attr(reqid, status, checks=(), sort_by=None):
    """Like key_op_failure_attr for search-type operations.

    They return -1 - i for check i and -1 - len(checks) for sorted_search's
    ``sort_by``.
    """
    if reqid >= 0 or status not in _OFFSET_STATUSES:
        return None
    idx = -1 - reqid
    if idx < len(checks):
        return checks[idx]
    if idx == len(checks) and sort_by is not None:
        return sort_by
    return None
