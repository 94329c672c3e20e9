"""Pure conversions between Python values and HyperDex value encodings.

Nothing in this module touches ctypes or the C library, so every function
here can be unit-tested on its own.  Encoders return ``(bytes, datatype)``
pairs; decoders take the bytes and the datatype reported by the library.

Encodings (see the datatypes spec):

* string: raw bytes; int64: 8 bytes little-endian two's complement;
  float: 8 bytes little-endian IEEE-754 double.
* list: the concatenated element encodings, where a string element is a
  u32 little-endian length followed by its bytes.
* set: like a list, elements strictly increasing (strings bytewise,
  numbers numerically); map: key encoding then value encoding per entry,
  keys strictly increasing.
"""

import struct

from . import _constants as C

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
_U32_MAX = (1 << 32) - 1

_S_INT = struct.Struct('<q')
_S_FLOAT = struct.Struct('<d')
_S_U32 = struct.Struct('<I')

# Element classes of Python values.  The primitive datatype doubles as the
# class tag.
STRING = C.HYPERDATATYPE_STRING
INT64 = C.HYPERDATATYPE_INT64
FLOAT = C.HYPERDATATYPE_FLOAT

_PRIM_NAMES = {STRING: 'string', INT64: 'int64', FLOAT: 'float'}


# ---------------------------------------------------------------------------
# helpers

def value_class(v):
    """STRING, INT64 or FLOAT for a primitive Python value, else None.

    ``int`` is tested before ``float``; ``bool`` is an ``int`` subclass and
    therefore counts as INT64.
    """
    if isinstance(v, (bytes, bytearray, str)):
        return STRING
    if isinstance(v, int):
        return INT64
    if isinstance(v, float):
        return FLOAT
    return None


def to_bytes(s):
    """bytes for a str (UTF-8) or bytes-like value."""
    if isinstance(s, str):
        return s.encode('utf-8')
    if isinstance(s, (bytes, bytearray)):
        return bytes(s)
    raise TypeError('expected str or bytes, got %s' % type(s).__name__)


def name_bytes(name):
    """Encode a space or attribute name as NUL-free bytes for the C API."""
    if not isinstance(name, (str, bytes, bytearray)):
        raise TypeError('a space or attribute name must be str or bytes, not %s'
                        % type(name).__name__)
    b = to_bytes(name)
    if b'\0' in b:
        raise ValueError('a space or attribute name cannot contain NUL bytes')
    return b


def decode_text(b):
    """str when ``b`` is valid UTF-8, else the bytes themselves."""
    try:
        return b.decode('utf-8')
    except UnicodeDecodeError:
        return bytes(b)


def _check_int(v):
    if v < INT64_MIN or v > INT64_MAX:
        raise OverflowError('integer %d does not fit in a signed 64-bit int64' % v)
    return v


def _cannot_encode(v):
    return TypeError('Cannot encode %s for HyperDex' % type(v).__name__)


def encode_primitive(v):
    """Encode one string/int/float value: ``(bytes, datatype)``."""
    cls = value_class(v)
    if cls == STRING:
        return to_bytes(v), STRING
    if cls == INT64:
        return _S_INT.pack(_check_int(int(v))), INT64
    if cls == FLOAT:
        return _S_FLOAT.pack(v), FLOAT
    raise _cannot_encode(v)


def _elem_bytes(v, cls):
    """Encoding of one container element of class ``cls``."""
    if cls == STRING:
        b = to_bytes(v)
        if len(b) > _U32_MAX:
            raise ValueError('a string inside a container is limited to 2**32-1 bytes')
        return _S_U32.pack(len(b)) + b
    if cls == INT64:
        return _S_INT.pack(_check_int(int(v)))
    return _S_FLOAT.pack(v)


def _sort_key(v, cls):
    """Order used by HyperDex: strings bytewise, numbers numerically."""
    if cls == STRING:
        return to_bytes(v)
    return v


def _uniform_class(values, what):
    """The single element class of ``values`` or a TypeError."""
    cls = None
    for v in values:
        c = value_class(v)
        if c is None:
            raise _cannot_encode(v)
        if cls is None:
            cls = c
        elif c != cls:
            raise TypeError('Cannot store heterogeneous %s' % what)
    return cls


# ---------------------------------------------------------------------------
# encoders

def encode_list(seq):
    """Encode a list/tuple: ``(bytes, LIST_*)``; empty → LIST_GENERIC."""
    if len(seq) == 0:
        return b'', C.HYPERDATATYPE_LIST_GENERIC
    cls = _uniform_class(seq, 'lists')
    data = b''.join(_elem_bytes(v, cls) for v in seq)
    return data, C.HYPERDATATYPE_LIST_GENERIC | (cls & 7)


def encode_set(items):
    """Encode a set/frozenset sorted in HyperDex order; empty → SET_GENERIC."""
    if len(items) == 0:
        return b'', C.HYPERDATATYPE_SET_GENERIC
    cls = _uniform_class(items, 'sets')
    # Sort by the HyperDex order and drop duplicates that only appear after
    # encoding (e.g. 'a' and b'a').
    keyed = sorted(((_sort_key(v, cls), v) for v in items), key=lambda kv: kv[0])
    out = []
    prev = None
    for i, (k, v) in enumerate(keyed):
        if i > 0 and k == prev:
            continue
        prev = k
        out.append(_elem_bytes(v, cls))
    return b''.join(out), C.HYPERDATATYPE_SET_GENERIC | (cls & 7)


def encode_map(d):
    """Encode a dict sorted by key in HyperDex order; empty → MAP_GENERIC."""
    if len(d) == 0:
        return b'', C.HYPERDATATYPE_MAP_GENERIC
    kcls = _uniform_class(d.keys(), 'maps')
    vcls = _uniform_class(d.values(), 'maps')
    keyed = sorted(((_sort_key(k, kcls), k, v) for k, v in d.items()),
                   key=lambda e: e[0])
    out = []
    for i, (sk, k, v) in enumerate(keyed):
        if i > 0 and sk == keyed[i - 1][0]:
            raise ValueError('map keys %r and %r have the same encoding'
                             % (keyed[i - 1][1], k))
        out.append(_elem_bytes(k, kcls))
        out.append(_elem_bytes(v, vcls))
    dtype = C.HYPERDATATYPE_MAP_GENERIC | ((kcls & 7) << 3) | (vcls & 7)
    return b''.join(out), dtype


def encode_value(v):
    """Encode any supported Python value: ``(bytes, datatype)``.

    Raises TypeError for unsupported or heterogeneous values and
    OverflowError for ints outside int64.
    """
    if isinstance(v, (list, tuple)):
        return encode_list(v)
    if isinstance(v, (set, frozenset)):
        return encode_set(v)
    if isinstance(v, dict):
        return encode_map(v)
    return encode_primitive(v)


def encode_key(key):
    """Encode a key (string, int or float only)."""
    if value_class(key) is None:
        raise TypeError('Cannot use %s as a HyperDex key' % type(key).__name__)
    return encode_primitive(key)


def _require_dict(attrs, what='attributes'):
    if not isinstance(attrs, dict):
        raise TypeError('%s must be given as a dict, not %s'
                        % (what, type(attrs).__name__))


def encode_attrs(attrs):
    """``{name: value}`` → list of ``(name_bytes, value_bytes, datatype)``.

    The list keeps the dict's order: the C library's negative return offsets
    index into it.
    """
    _require_dict(attrs)
    out = []
    for name, value in attrs.items():
        data, dtype = encode_value(value)
        out.append((name_bytes(name), data, dtype))
    return out


def encode_map_attrs(attrs):
    """``{attr: {mapkey: value, ...}, ...}`` → list of
    ``(name_bytes, key_bytes, key_datatype, value_bytes, value_datatype)``.

    A non-dict inner value becomes one entry whose map key is that value and
    whose value is empty with datatype GENERIC.
    """
    _require_dict(attrs)
    out = []
    for name, inner in attrs.items():
        nb = name_bytes(name)
        if isinstance(inner, dict):
            for k, v in inner.items():
                kb, kt = encode_value(k)
                vb, vt = encode_value(v)
                out.append((nb, kb, kt, vb, vt))
        else:
            kb, kt = encode_value(inner)
            out.append((nb, kb, kt, b'', C.HYPERDATATYPE_GENERIC))
    return out


def encode_map_remove(attrs):
    """Arguments of map_remove → plain attributes whose value is a map key.

    Accepts ``{attr: {mapkey: ignored, ...}}``, ``{attr: mapkey}`` and
    ``{attr: [mapkey, ...]}`` (list, tuple or set of keys).
    """
    _require_dict(attrs)
    out = []
    for name, inner in attrs.items():
        nb = name_bytes(name)
        if isinstance(inner, dict):
            keys = list(inner.keys())
        elif isinstance(inner, (list, tuple, set, frozenset)):
            keys = list(inner)
        else:
            keys = [inner]
        for k in keys:
            kb, kt = encode_primitive(k)
            out.append((nb, kb, kt))
    return out


# ---------------------------------------------------------------------------
# decoders

def _garbage():
    return ValueError('Server returned garbage value (file a bug)')


def _decode_number(data, cls, what):
    if len(data) > 8:
        raise ValueError('%s contains excess data (file a bug)' % what)
    data = bytes(data).ljust(8, b'\0')
    if cls == INT64:
        return _S_INT.unpack(data)[0]
    return _S_FLOAT.unpack(data)[0]


def decode_primitive(data, cls):
    if cls == STRING:
        return decode_text(bytes(data))
    if cls in (INT64, FLOAT):
        return _decode_number(data, cls, _PRIM_NAMES[cls])
    raise _garbage()


def _split_elems(data, cls, what):
    """Yield the Python elements of a list-like encoding of class ``cls``."""
    data = bytes(data)
    if cls == STRING:
        pos = 0
        end = len(data)
        out = []
        while pos < end:
            if pos + 4 > end:
                raise ValueError('%s is improperly structured (file a bug)' % what)
            (n,) = _S_U32.unpack_from(data, pos)
            pos += 4
            if pos + n > end:
                raise ValueError('%s is improperly structured (file a bug)' % what)
            out.append(decode_text(data[pos:pos + n]))
            pos += n
        return out
    if len(data) % 8 != 0:
        raise ValueError('%s contains excess data (file a bug)' % what)
    fmt = _S_INT if cls == INT64 else _S_FLOAT
    return [t[0] for t in fmt.iter_unpack(data)]


def _read_one(data, pos, cls, what):
    """Decode one map key or value at ``pos``; returns (value, new_pos)."""
    end = len(data)
    if cls == STRING:
        if pos + 4 > end:
            raise ValueError('%s is improperly structured (file a bug)' % what)
        (n,) = _S_U32.unpack_from(data, pos)
        pos += 4
        if pos + n > end:
            raise ValueError('%s is improperly structured (file a bug)' % what)
        return decode_text(data[pos:pos + n]), pos + n
    if pos + 8 > end:
        raise ValueError('%s is improperly structured (file a bug)' % what)
    fmt = _S_INT if cls == INT64 else _S_FLOAT
    return fmt.unpack_from(data, pos)[0], pos + 8


def datatype_name(dtype):
    """A human name such as 'map(string, int64)'."""
    cont = dtype & 9664
    if cont == C.HYPERDATATYPE_GENERIC:
        return _PRIM_NAMES.get(dtype, 'datatype %d' % dtype)
    elem = _PRIM_NAMES.get(dtype & 9223, '?')
    if cont == C.HYPERDATATYPE_LIST_GENERIC:
        return 'list(%s)' % elem
    if cont == C.HYPERDATATYPE_SET_GENERIC:
        return 'set(%s)' % elem
    key = _PRIM_NAMES.get(((dtype & 56) >> 3) | (dtype & 9216), '?')
    return 'map(%s, %s)' % (key, elem)


_CONTAINER_TYPES = set()
for _c in (C.HYPERDATATYPE_LIST_GENERIC, C.HYPERDATATYPE_SET_GENERIC):
    for _e in (STRING, INT64, FLOAT):
        _CONTAINER_TYPES.add(_c | (_e & 7))
for _k in (STRING, INT64, FLOAT):
    for _v in (STRING, INT64, FLOAT):
        _CONTAINER_TYPES.add(C.HYPERDATATYPE_MAP_GENERIC | ((_k & 7) << 3) | (_v & 7))


def decode_value(data, dtype):
    """Decode bytes of the given datatype into a Python value.

    Strings come back as str when valid UTF-8, else as bytes.  Empty
    int64/float values read as 0 / 0.0.  Unknown datatypes (GENERIC,
    KEYONLY maps, garbage) raise ValueError.
    """
    if dtype in (STRING, INT64, FLOAT):
        return decode_primitive(data, dtype)
    if dtype not in _CONTAINER_TYPES:
        raise _garbage()
    what = datatype_name(dtype)
    cont = dtype & 9664
    elem = dtype & 9223
    if cont == C.HYPERDATATYPE_LIST_GENERIC:
        return _split_elems(data, elem, what)
    if cont == C.HYPERDATATYPE_SET_GENERIC:
        return set(_split_elems(data, elem, what))
    key = ((dtype & 56) >> 3) | (dtype & 9216)
    data = bytes(data)
    out = {}
    pos = 0
    while pos < len(data):
        k, pos = _read_one(data, pos, key, what)
        v, pos = _read_one(data, pos, elem, what)
        out[k] = v
    return out


def decode_attrs(triples):
    """``[(name_bytes, value_bytes, datatype), ...]`` → dict in that order."""
    out = {}
    for name, data, dtype in triples:
        out[decode_text(name)] = decode_value(data, dtype)
    return out
