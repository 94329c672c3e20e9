"""Locating and binding libhyperclient.so with ctypes.

The library is loaded lazily, the first time a Client is created, so the
pure parts of the package import without it.  Search order (the first one
that exists is used):

1. the path in the environment variable HYPERCLIENT_LIB (no fallback when it
   is set: a wrong path is an error);
2. ``libhyperclient.so`` next to this package (installed layout);
3. ``../../target/release/libhyperclient.so`` relative to this package (a
   source checkout after ``cargo build --release``);
4. ``ctypes.util.find_library('hyperclient')``, then plain
   ``libhyperclient.so`` (the dynamic loader's own search path).

Every C function is looked up lazily and only once; a function the library
does not export raises NotImplementedError when a method needs it.
"""

import ctypes
import ctypes.util
import os
import threading

LIB_ENV = 'HYPERCLIENT_LIB'
LIB_NAME = 'libhyperclient.so'
PKG_DIR = os.path.dirname(os.path.abspath(__file__))


def candidate_paths(environ=None, pkg_dir=PKG_DIR, find_library=None):
    """The library locations to try, in order (see the module docstring)."""
    if environ is None:
        environ = os.environ
    explicit = environ.get(LIB_ENV)
    if explicit:
        return [explicit]
    out = [os.path.join(pkg_dir, LIB_NAME),
           os.path.normpath(os.path.join(pkg_dir, os.pardir, os.pardir,
                                         'target', 'release', LIB_NAME))]
    if find_library is None:
        find_library = ctypes.util.find_library
    found = find_library('hyperclient')
    if found:
        out.append(found)
    out.append(LIB_NAME)
    return out


def _load_first(paths, explicit):
    tried = []
    for p in paths:
        if os.sep in p and not os.path.exists(p):
            tried.append('%s (missing)' % p)
            if explicit:
                break
            continue
        try:
            return ctypes.CDLL(p), p
        except OSError as e:
            tried.append('%s (%s)' % (p, e))
            if explicit:
                break
    raise OSError('cannot load libhyperclient; tried: %s.  Build it with '
                  '"cargo build --release" or set %s to its path'
                  % ('; '.join(tried), LIB_ENV))


# ---------------------------------------------------------------------------
# structs (field order is ABI; enums are C ints)

c_enum = ctypes.c_int


class Attribute(ctypes.Structure):
    _fields_ = [('attr', ctypes.c_char_p),
                ('value', ctypes.c_void_p),
                ('value_sz', ctypes.c_size_t),
                ('datatype', c_enum)]


class AttributeCheck(ctypes.Structure):
    _fields_ = [('attr', ctypes.c_char_p),
                ('value', ctypes.c_void_p),
                ('value_sz', ctypes.c_size_t),
                ('datatype', c_enum),
                ('predicate', c_enum)]


class MapAttribute(ctypes.Structure):
    _fields_ = [('attr', ctypes.c_char_p),
                ('map_key', ctypes.c_void_p),
                ('map_key_sz', ctypes.c_size_t),
                ('map_key_datatype', c_enum),
                ('value', ctypes.c_void_p),
                ('value_sz', ctypes.c_size_t),
                ('value_datatype', c_enum)]


P_ATTR = ctypes.POINTER(Attribute)
P_CHECK = ctypes.POINTER(AttributeCheck)
P_MAPATTR = ctypes.POINTER(MapAttribute)
P_STATUS = ctypes.POINTER(c_enum)
# Output slot for `struct hyperclient_attribute**`: a void* that the caller
# resets in place (search writes a new array into the same slot per event).
PP_ATTR_OUT = ctypes.POINTER(ctypes.c_void_p)

_H = ctypes.c_void_p          # struct hyperclient*
_S = ctypes.c_char_p          # const char*
_SZ = ctypes.c_size_t
_I64 = ctypes.c_int64
_KEY = [_H, _S, _S, _SZ]      # client, space, key, key_sz

_ATTR_FAMILIES = (['put', 'put_if_not_exist']
                  + ['atomic_' + x for x in ('add', 'sub', 'mul', 'div', 'mod',
                                             'and', 'or', 'xor')]
                  + ['string_prepend', 'string_append', 'list_lpush', 'list_rpush',
                     'set_add', 'set_remove', 'set_intersect', 'set_union'])
_MAP_FAMILIES = (['map_add']
                 + ['map_atomic_' + x for x in ('add', 'sub', 'mul', 'div', 'mod',
                                                'and', 'or', 'xor')]
                 + ['map_string_prepend', 'map_string_append'])

SIGNATURES = {
    'hyperclient_create': (_H, [_S, ctypes.c_uint16]),
    'hyperclient_destroy': (None, [_H]),
    'hyperclient_add_space': (c_enum, [_H, _S]),
    'hyperclient_rm_space': (c_enum, [_H, _S]),
    'hyperclient_loop': (_I64, [_H, ctypes.c_int, P_STATUS]),
    'hyperclient_destroy_attrs': (None, [P_ATTR, _SZ]),
    'hyperclient_attribute_type': (c_enum, [_H, _S, _S, P_STATUS]),
    'hyperclient_poll_fd': (ctypes.c_int, [_H]),
    'hyperclient_returncode_to_string': (_S, [c_enum]),
    'hyperclient_get': (_I64, _KEY + [P_STATUS, PP_ATTR_OUT, ctypes.POINTER(_SZ)]),
    'hyperclient_del': (_I64, _KEY + [P_STATUS]),
    'hyperclient_cond_del': (_I64, _KEY + [P_CHECK, _SZ, P_STATUS]),
    'hyperclient_map_remove': (_I64, _KEY + [P_ATTR, _SZ, P_STATUS]),
    'hyperclient_cond_map_remove': (_I64, _KEY + [P_CHECK, _SZ, P_ATTR, _SZ, P_STATUS]),
    'hyperclient_search': (_I64, [_H, _S, P_CHECK, _SZ, P_STATUS,
                                  PP_ATTR_OUT, ctypes.POINTER(_SZ)]),
    'hyperclient_sorted_search': (_I64, [_H, _S, P_CHECK, _SZ, _S, ctypes.c_uint64,
                                         ctypes.c_int, P_STATUS,
                                         PP_ATTR_OUT, ctypes.POINTER(_SZ)]),
    'hyperclient_count': (_I64, [_H, _S, P_CHECK, _SZ, P_STATUS,
                                 ctypes.POINTER(ctypes.c_uint64)]),
    'hyperclient_group_del': (_I64, [_H, _S, P_CHECK, _SZ, P_STATUS]),
    'hyperclient_search_describe': (_I64, [_H, _S, P_CHECK, _SZ, P_STATUS,
                                           ctypes.POINTER(ctypes.c_char_p)]),
}
for _f in _ATTR_FAMILIES:
    SIGNATURES['hyperclient_' + _f] = (_I64, _KEY + [P_ATTR, _SZ, P_STATUS])
    if _f != 'put_if_not_exist':
        SIGNATURES['hyperclient_cond_' + _f] = (_I64, _KEY + [P_CHECK, _SZ, P_ATTR,
                                                              _SZ, P_STATUS])
for _f in _MAP_FAMILIES:
    SIGNATURES['hyperclient_' + _f] = (_I64, _KEY + [P_MAPATTR, _SZ, P_STATUS])
    SIGNATURES['hyperclient_cond_' + _f] = (_I64, _KEY + [P_CHECK, _SZ, P_MAPATTR,
                                                          _SZ, P_STATUS])


class Library(object):
    """A loaded libhyperclient with lazily bound, typed functions."""

    def __init__(self, cdll, path):
        self.cdll = cdll
        self.path = path
        self._fns = {}

    def has(self, name):
        try:
            self.fn(name)
            return True
        except NotImplementedError:
            return False

    def fn(self, name):
        """The typed C function ``name``, or NotImplementedError."""
        f = self._fns.get(name)
        if f is not None:
            return f
        try:
            f = getattr(self.cdll, name)
        except AttributeError:
            raise NotImplementedError('%s does not export %s' % (self.path, name))
        restype, argtypes = SIGNATURES[name]
        f.restype = restype
        f.argtypes = argtypes
        self._fns[name] = f
        return f


_lock = threading.Lock()
_library = None


def library():
    """The process-wide Library, loaded on first use."""
    global _library
    with _lock:
        if _library is None:
            explicit = bool(os.environ.get(LIB_ENV))
            cdll, path = _load_first(candidate_paths(), explicit)
            _library = Library(cdll, path)
        return _library


# ---------------------------------------------------------------------------
# building input arrays

def _addr(b, keep):
    """Address of an immutable bytes object's buffer; keeps it referenced."""
    keep.append(b)
    return ctypes.cast(ctypes.c_char_p(b), ctypes.c_void_p).value


def attr_array(items, keep):
    """[(name, value, datatype)] → (Attribute array, count)."""
    arr = (Attribute * max(len(items), 1))()
    for i, (name, data, dtype) in enumerate(items):
        keep.append(name)
        arr[i].attr = name
        arr[i].value = _addr(data, keep)
        arr[i].value_sz = len(data)
        arr[i].datatype = dtype
    keep.append(arr)
    return arr, len(items)


def check_array(items, keep):
    """[(name, predicate, value, datatype)] → (AttributeCheck array, count)."""
    arr = (AttributeCheck * max(len(items), 1))()
    for i, (name, pred, data, dtype) in enumerate(items):
        keep.append(name)
        arr[i].attr = name
        arr[i].value = _addr(data, keep)
        arr[i].value_sz = len(data)
        arr[i].datatype = dtype
        arr[i].predicate = pred
    keep.append(arr)
    return arr, len(items)


def map_attr_array(items, keep):
    """[(name, key, key_type, value, value_type)] → (MapAttribute array, count)."""
    arr = (MapAttribute * max(len(items), 1))()
    for i, (name, kdata, ktype, vdata, vtype) in enumerate(items):
        keep.append(name)
        arr[i].attr = name
        arr[i].map_key = _addr(kdata, keep)
        arr[i].map_key_sz = len(kdata)
        arr[i].map_key_datatype = ktype
        arr[i].value = _addr(vdata, keep)
        arr[i].value_sz = len(vdata)
        arr[i].value_datatype = vtype
    keep.append(arr)
    return arr, len(items)


def read_attrs(address, count):
    """Copy a C attribute array into [(name_bytes, value_bytes, datatype)]."""
    ptr = ctypes.cast(address, P_ATTR)
    out = []
    for i in range(count):
        a = ptr[i]
        if a.value_sz:
            data = ctypes.string_at(a.value, a.value_sz)
        else:
            data = b''
        out.append((a.attr or b'', data, a.datatype))
    return out
