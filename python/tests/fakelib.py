"""An in-process stand-in for libhyperclient, for testing the Python layer.

Each exported function is a ctypes callback built from the same prototype the
package uses, so the real argument conversion, out-pointers and struct
layouts are exercised.  It implements a small subset of the C ABI with a
simple in-memory store: enough to test Deferred bookkeeping, loop(), failure
offsets and the freeing of output arrays.  It is not a model of the server.
"""

import collections
import re
import ctypes
import struct

from hyperclient import _lib, _constants as C

SUCCESS = C.HYPERCLIENT_SUCCESS

EXPORTED = ['create', 'destroy', 'add_space', 'rm_space', 'loop', 'destroy_attrs',
            'get', 'put', 'put_if_not_exist', 'del', 'cond_put', 'atomic_add',
            'set_add', 'map_add', 'map_remove', 'search', 'sorted_search', 'count',
            'group_del', 'search_describe']

_TYPES = {'string': C.HYPERDATATYPE_STRING, 'int': C.HYPERDATATYPE_INT64,
          'int64': C.HYPERDATATYPE_INT64, 'float': C.HYPERDATATYPE_FLOAT,
          'set(string)': C.HYPERDATATYPE_SET_STRING,
          'list(int64)': C.HYPERDATATYPE_LIST_INT64,
          'map(string,int64)': C.HYPERDATATYPE_MAP_STRING_INT64}


def _callback_proto(name):
    """CFUNCTYPE of hyperclient_<name>, with char* received as void*."""
    restype, argtypes = _lib.SIGNATURES['hyperclient_' + name]
    args = [ctypes.c_void_p if a is ctypes.c_char_p else a for a in argtypes]
    return ctypes.CFUNCTYPE(restype, *args)


class Space(object):
    def __init__(self, key, key_type, attrs):
        self.key = key
        self.key_type = key_type
        self.attrs = attrs                  # [(name, type)] in schema order
        self.types = dict(attrs)
        self.objects = collections.OrderedDict()   # key bytes -> {name: bytes}


class FakeHyperClient(object):

    def __init__(self, lifo=False):
        self.lifo = lifo
        self.spaces = {}
        self.events = collections.deque()   # (reqid, status*, status, on_deliver)
        self.next_id = 1
        self.live = {}        # address -> ctypes objects of an attrs array
        self.freed_unknown = 0
        self.loop_calls = 0
        self.search_error_after = None   # inject RECONFIGURE after N search results
        self.on_next_loop = None         # called at the start of the next loop call
        self._cfuncs = {}
        for name in EXPORTED:
            impl = getattr(self, '_' + name.replace('del', 'delete')
                           if name == 'del' else '_' + name)
            self._cfuncs['hyperclient_' + name] = _callback_proto(name)(impl)

    def __getattr__(self, name):
        try:
            return self.__dict__['_cfuncs'][name]
        except KeyError:
            raise AttributeError(name)

    # -- helpers ------------------------------------------------------------

    @staticmethod
    def _str(p):
        return ctypes.string_at(p) if p else b''

    def _new_id(self):
        rid = self.next_id
        self.next_id += 3       # ids may skip
        return rid

    def _queue(self, status_ptr, status, on_deliver=None, rid=None):
        rid = rid or self._new_id()
        self.events.append((rid, status_ptr, status, on_deliver))
        return rid

    def _alloc_attrs(self, pairs):
        """A C array of (name, data, type) triples; returns its address."""
        arr = (_lib.Attribute * max(len(pairs), 1))()
        keep = [arr]
        for i, (name, data, dtype) in enumerate(pairs):
            nb = ctypes.create_string_buffer(name)
            vb = ctypes.create_string_buffer(data, max(len(data), 1))
            keep += [nb, vb]
            arr[i].attr = ctypes.cast(nb, ctypes.c_char_p)
            arr[i].value = ctypes.cast(vb, ctypes.c_void_p)
            arr[i].value_sz = len(data)
            arr[i].datatype = dtype
        addr = ctypes.addressof(arr)
        self.live[addr] = keep
        return addr

    def _fail(self, status_ptr, status, ret=-1):
        status_ptr[0] = status
        return ret

    def _lookup(self, space_p, key_p, key_sz, status_ptr):
        sp = self.spaces.get(self._str(space_p))
        if sp is None:
            return None, None, self._fail(status_ptr, C.HYPERCLIENT_UNKNOWNSPACE)
        key = ctypes.string_at(key_p, key_sz)
        if sp.key_type != C.HYPERDATATYPE_STRING and len(key) not in (0, 8):
            return None, None, self._fail(status_ptr, C.HYPERCLIENT_WRONGTYPE)
        return sp, key, None

    def _check_attr(self, sp, name, dtype, allowed):
        if name == sp.key:
            return C.HYPERCLIENT_DONTUSEKEY
        if name not in sp.types:
            return C.HYPERCLIENT_UNKNOWNATTR
        declared = sp.types[name]
        if dtype in (C.HYPERDATATYPE_LIST_GENERIC, C.HYPERDATATYPE_SET_GENERIC,
                     C.HYPERDATATYPE_MAP_GENERIC) and dtype == declared & 9664:
            dtype = declared
        if dtype not in allowed(declared):
            return C.HYPERCLIENT_WRONGTYPE
        return None

    # -- administration -------------------------------------------------------

    def _create(self, host, port):
        return 0x1000

    def _destroy(self, h):
        pass

    def _add_space(self, h, desc):
        text = self._str(desc).decode()
        head, _, body = text.partition('attributes')
        words = head.split()
        name, key = words[1], words[3]
        attrs = []
        for decl in re.split(r',(?![^()]*\))', body) if body.strip() else []:
            parts = decl.split()
            attrs.append((parts[-1].encode(), _TYPES[parts[0]] if len(parts) > 1
                          else C.HYPERDATATYPE_STRING))
        if name.encode() in self.spaces:
            return C.HYPERCLIENT_DUPLICATE
        self.spaces[name.encode()] = Space(key.encode(), C.HYPERDATATYPE_STRING, attrs)
        return SUCCESS

    def _rm_space(self, h, name):
        if self.spaces.pop(self._str(name), None) is None:
            return C.HYPERCLIENT_NOTFOUND
        return SUCCESS

    # -- loop -------------------------------------------------------------------

    def _loop(self, h, timeout, status_ptr):
        self.loop_calls += 1
        if self.on_next_loop is not None:
            hook, self.on_next_loop = self.on_next_loop, None
            hook()
        if not self.events:
            return self._fail(status_ptr, C.HYPERCLIENT_NONEPENDING)
        rid, op_status, st, on_deliver = (self.events.pop() if self.lifo
                                          else self.events.popleft())
        op_status[0] = st
        if on_deliver is not None:
            on_deliver()
        status_ptr[0] = SUCCESS
        return rid

    def _destroy_attrs(self, attrs, sz):
        addr = ctypes.cast(attrs, ctypes.c_void_p).value
        if addr is None:
            return
        if self.live.pop(addr, None) is None:
            self.freed_unknown += 1

    # -- key ops ----------------------------------------------------------------

    def _get(self, h, space, key, key_sz, status, attrs_out, sz_out):
        sp, key, err = self._lookup(space, key, key_sz, status)
        if sp is None:
            return err
        obj = sp.objects.get(key)
        if obj is None:
            return self._queue(status, C.HYPERCLIENT_NOTFOUND)
        pairs = [(n, obj.get(n, b''), t) for n, t in sp.attrs]

        def deliver():
            attrs_out[0] = self._alloc_attrs(pairs)
            sz_out[0] = len(pairs)
        return self._queue(status, SUCCESS, deliver)

    def _validate_attrs(self, sp, attrs, n, status, allowed, base=0):
        items = []
        for j in range(n):
            a = attrs[j]
            name = a.attr
            data = ctypes.string_at(a.value, a.value_sz) if a.value_sz else b''
            err = self._check_attr(sp, name, a.datatype, allowed)
            if err is not None:
                return None, self._fail(status, err, -2 - base - j)
            items.append((name, data))
        return items, None

    def _write(self, status, space, key, key_sz, attrs, n, mode):
        sp, key, err = self._lookup(space, key, key_sz, status)
        if sp is None:
            return err
        items, err = self._validate_attrs(sp, attrs, n, status,
                                          lambda declared: (declared,))
        if items is None:
            return err
        if mode == 'pine' and key in sp.objects:
            return self._queue(status, C.HYPERCLIENT_CMPFAIL)
        obj = sp.objects.setdefault(key, {})
        obj.update(items)
        return self._queue(status, SUCCESS)

    def _put(self, h, space, key, key_sz, attrs, n, status):
        return self._write(status, space, key, key_sz, attrs, n, 'put')

    def _put_if_not_exist(self, h, space, key, key_sz, attrs, n, status):
        return self._write(status, space, key, key_sz, attrs, n, 'pine')

    def _delete(self, h, space, key, key_sz, status):
        sp, key, err = self._lookup(space, key, key_sz, status)
        if sp is None:
            return err
        if sp.objects.pop(key, None) is None:
            return self._queue(status, C.HYPERCLIENT_NOTFOUND)
        return self._queue(status, SUCCESS)

    def _cond_put(self, h, space, key, key_sz, checks, nchecks, attrs, n, status):
        sp, key, err = self._lookup(space, key, key_sz, status)
        if sp is None:
            return err
        wanted = []
        for i in range(nchecks):
            c = checks[i]
            if c.attr != sp.key and c.attr not in sp.types:
                return self._fail(status, C.HYPERCLIENT_UNKNOWNATTR, -2 - i)
            data = ctypes.string_at(c.value, c.value_sz) if c.value_sz else b''
            wanted.append((c.attr, data))
        items, err = self._validate_attrs(sp, attrs, n, status,
                                          lambda declared: (declared,), base=nchecks)
        if items is None:
            return err
        obj = sp.objects.get(key)
        if obj is None:
            return self._queue(status, C.HYPERCLIENT_NOTFOUND)
        if any(obj.get(a, b'') != v for a, v in wanted):   # EQUALS only
            return self._queue(status, C.HYPERCLIENT_CMPFAIL)
        obj.update(items)
        return self._queue(status, SUCCESS)

    def _atomic_add(self, h, space, key, key_sz, attrs, n, status):
        sp, key, err = self._lookup(space, key, key_sz, status)
        if sp is None:
            return err
        items, err = self._validate_attrs(
            sp, attrs, n, status,
            lambda d: (d,) if d in (C.HYPERDATATYPE_INT64, C.HYPERDATATYPE_FLOAT) else ())
        if items is None:
            return err
        obj = sp.objects.get(key)
        if obj is None:
            return self._queue(status, C.HYPERCLIENT_NOTFOUND)
        new = {}
        for name, data in items:
            old = struct.unpack('<q', obj.get(name, b'').ljust(8, b'\0'))[0]
            total = old + struct.unpack('<q', data)[0]
            if not -2 ** 63 <= total < 2 ** 63:
                return self._queue(status, C.HYPERCLIENT_OVERFLOW)
            new[name] = struct.pack('<q', total)
        obj.update(new)
        return self._queue(status, SUCCESS)

    def _set_add(self, h, space, key, key_sz, attrs, n, status):
        sp, key, err = self._lookup(space, key, key_sz, status)
        if sp is None:
            return err
        items, err = self._validate_attrs(
            sp, attrs, n, status,
            lambda d: (d & 9223,) if d & 9664 == C.HYPERDATATYPE_SET_GENERIC else ())
        if items is None:
            return err
        obj = sp.objects.get(key)
        if obj is None:
            return self._queue(status, C.HYPERCLIENT_NOTFOUND)
        for name, data in items:           # set(string) only
            elems = set()
            raw = obj.get(name, b'')
            pos = 0
            while pos < len(raw):
                ln = struct.unpack_from('<I', raw, pos)[0]
                elems.add(raw[pos + 4:pos + 4 + ln])
                pos += 4 + ln
            elems.add(data)
            obj[name] = b''.join(struct.pack('<I', len(e)) + e for e in sorted(elems))
        return self._queue(status, SUCCESS)

    def _map_add(self, h, space, key, key_sz, mapattrs, n, status):
        sp, key, err = self._lookup(space, key, key_sz, status)
        if sp is None:
            return err
        for k in range(n):
            m = mapattrs[k]
            err = self._check_attr(sp, m.attr, m.map_key_datatype,
                                   lambda d: ((((d & 56) >> 3) | (d & 9216)),)
                                   if d & 9664 == C.HYPERDATATYPE_MAP_GENERIC else ())
            if err is None and m.value_datatype != sp.types[m.attr] & 9223:
                err = C.HYPERCLIENT_WRONGTYPE
            if err is not None:
                return self._fail(status, err, -2 - k)
        if key not in sp.objects:
            return self._queue(status, C.HYPERCLIENT_NOTFOUND)
        return self._queue(status, SUCCESS)

    def _map_remove(self, h, space, key, key_sz, attrs, n, status):
        sp, key, err = self._lookup(space, key, key_sz, status)
        if sp is None:
            return err
        items, err = self._validate_attrs(
            sp, attrs, n, status,
            lambda d: ((((d & 56) >> 3) | (d & 9216)),)
            if d & 9664 == C.HYPERDATATYPE_MAP_GENERIC else ())
        if items is None:
            return err
        return self._queue(status, SUCCESS if key in sp.objects else C.HYPERCLIENT_NOTFOUND)

    # -- search-type ops ----------------------------------------------------------

    def _search_space(self, space, checks, nchecks, status):
        """(space, None) or (None, negative result) after the call-time checks."""
        sp = self.spaces.get(self._str(space))
        if sp is None:
            return None, self._fail(status, C.HYPERCLIENT_UNKNOWNSPACE)
        for i in range(nchecks):
            if checks[i].attr != sp.key and checks[i].attr not in sp.types:
                return None, self._fail(status, C.HYPERCLIENT_UNKNOWNATTR, -1 - i)
        return sp, None

    def _search(self, h, space, checks, nchecks, status, attrs_out, sz_out):
        sp, err = self._search_space(space, checks, nchecks, status)
        if sp is None:
            return err
        return self._stream(sp, list(sp.objects.items()), status, attrs_out, sz_out)

    def _stream(self, sp, objects, status, attrs_out, sz_out):
        attrs_out[0] = None
        sz_out[0] = 0
        rid = self._new_id()
        for idx, (key, obj) in enumerate(objects):
            if self.search_error_after == idx:
                self._queue(status, C.HYPERCLIENT_RECONFIGURE, rid=rid)
            pairs = [(sp.key, key, sp.key_type)] + [(n, obj.get(n, b''), t)
                                                     for n, t in sp.attrs]

            def deliver(pairs=pairs):
                attrs_out[0] = self._alloc_attrs(pairs)
                sz_out[0] = len(pairs)
            self._queue(status, SUCCESS, deliver, rid=rid)
        self._queue(status, C.HYPERCLIENT_SEARCHDONE, rid=rid)
        return rid

    def _sorted_search(self, h, space, checks, nchecks, sort_by, limit, maximize, status,
                       attrs_out, sz_out):
        sp, err = self._search_space(space, checks, nchecks, status)
        if sp is None:
            return err
        name = self._str(sort_by)
        if name != sp.key and name not in sp.types:
            return self._fail(status, C.HYPERCLIENT_UNKNOWNATTR, -1 - nchecks)
        if name != sp.key and sp.types[name] != C.HYPERDATATYPE_INT64:   # int64 only
            return self._fail(status, C.HYPERCLIENT_WRONGTYPE, -1 - nchecks)

        def sort_key(item):
            key, obj = item
            if name == sp.key:
                return key
            return struct.unpack('<q', obj.get(name, b'').ljust(8, b'\0'))[0]
        objects = sorted(sp.objects.items(), key=sort_key, reverse=bool(maximize))
        return self._stream(sp, objects[:limit], status, attrs_out, sz_out)

    def _group_del(self, h, space, checks, nchecks, status):
        sp, err = self._search_space(space, checks, nchecks, status)
        if sp is None:
            return err
        sp.objects.clear()            # the fake ignores the checks
        return self._queue(status, SUCCESS)

    def _search_describe(self, h, space, checks, nchecks, status, description):
        sp, err = self._search_space(space, checks, nchecks, status)
        if sp is None:
            return err
        description[0] = None
        text = ctypes.create_string_buffer(
            b'  search of %d object(s)\n' % len(sp.objects))

        def deliver():
            description[0] = ctypes.addressof(text)
            # Like the library, the text is only valid until the next loop call:
            # the fake overwrites it then.
            self.on_next_loop = lambda: ctypes.memset(text, ord('#'), len(text) - 1)
        return self._queue(status, SUCCESS, deliver)

    def _count(self, h, space, checks, nchecks, status, result):
        sp, err = self._search_space(space, checks, nchecks, status)
        if sp is None:
            return err
        result[0] = 0
        n = len(sp.objects)

        def deliver():
            result[0] = n
        st = SUCCESS if self.search_error_after is None else C.HYPERCLIENT_RECONFIGURE
        return self._queue(status, st, deliver)
