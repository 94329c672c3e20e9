"""Pure tests of the hyperclient package: no cluster and no C library needed.

Run from the repository root:  python3 -m unittest discover -s python/tests
"""

import os
import re
import struct
import sys
import tempfile
import unittest

# The checkout's package, unless one is importable already (PYTHONPATH wins).
sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

import hyperclient  # noqa: E402
from hyperclient import _codec, _predicates, _errors, _lib  # noqa: E402

C = hyperclient


def le64(n):
    return struct.pack('<q', n)


def led(x):
    return struct.pack('<d', x)


def lstr(b):
    return struct.pack('<I', len(b)) + b


class TestPrimitives(unittest.TestCase):

    def test_str_is_utf8(self):
        self.assertEqual(_codec.encode_value('J\u00f3hn'),
                         ('J\u00f3hn'.encode('utf-8'), C.HYPERDATATYPE_STRING))

    def test_bytes_as_is(self):
        self.assertEqual(_codec.encode_value(b'\x00\xff'), (b'\x00\xff', C.HYPERDATATYPE_STRING))

    def test_int_little_endian(self):
        self.assertEqual(_codec.encode_value(1), (b'\x01' + b'\x00' * 7, C.HYPERDATATYPE_INT64))
        self.assertEqual(_codec.encode_value(-2), (b'\xfe' + b'\xff' * 7, C.HYPERDATATYPE_INT64))

    def test_int_bounds(self):
        self.assertEqual(_codec.encode_value(2 ** 63 - 1)[0], le64(2 ** 63 - 1))
        self.assertEqual(_codec.encode_value(-2 ** 63)[0], le64(-2 ** 63))
        with self.assertRaises(OverflowError):
            _codec.encode_value(2 ** 63)
        with self.assertRaises(OverflowError):
            _codec.encode_value(-2 ** 63 - 1)
        with self.assertRaises(OverflowError):
            _codec.encode_value([1, 2 ** 64])

    def test_bool_is_int64(self):
        self.assertEqual(_codec.encode_value(True), (le64(1), C.HYPERDATATYPE_INT64))
        self.assertEqual(_codec.encode_value(False), (le64(0), C.HYPERDATATYPE_INT64))

    def test_float(self):
        self.assertEqual(_codec.encode_value(0.25), (led(0.25), C.HYPERDATATYPE_FLOAT))

    def test_unsupported(self):
        for v in (None, object(), 1j):
            with self.assertRaisesRegex(TypeError, 'Cannot encode'):
                _codec.encode_value(v)

    def test_decode_strings(self):
        self.assertEqual(_codec.decode_value(b'John', C.HYPERDATATYPE_STRING), 'John')
        self.assertEqual(_codec.decode_value('J\u00f3hn'.encode('utf-8'),
                                             C.HYPERDATATYPE_STRING), 'J\u00f3hn')
        v = _codec.decode_value(b'\xde\xad\xbe\xef', C.HYPERDATATYPE_STRING)
        self.assertEqual(v, b'\xde\xad\xbe\xef')
        self.assertIsInstance(v, bytes)
        self.assertEqual(_codec.decode_value(b'', C.HYPERDATATYPE_STRING), '')

    def test_decode_empty_numbers(self):
        v = _codec.decode_value(b'', C.HYPERDATATYPE_INT64)
        self.assertEqual((v, type(v)), (0, int))
        v = _codec.decode_value(b'', C.HYPERDATATYPE_FLOAT)
        self.assertEqual((v, type(v)), (0.0, float))

    def test_decode_numbers(self):
        self.assertEqual(_codec.decode_value(le64(-7), C.HYPERDATATYPE_INT64), -7)
        self.assertEqual(_codec.decode_value(led(-1.5), C.HYPERDATATYPE_FLOAT), -1.5)
        with self.assertRaisesRegex(ValueError, 'excess'):
            _codec.decode_value(b'\x00' * 9, C.HYPERDATATYPE_INT64)

    def test_key(self):
        self.assertEqual(_codec.encode_key('k'), (b'k', C.HYPERDATATYPE_STRING))
        self.assertEqual(_codec.encode_key(5), (le64(5), C.HYPERDATATYPE_INT64))
        with self.assertRaises(TypeError):
            _codec.encode_key([1])
        with self.assertRaises(TypeError):
            _codec.encode_key(None)


class TestLists(unittest.TestCase):

    def test_encodings(self):
        self.assertEqual(_codec.encode_value([1, -1]),
                         (le64(1) + le64(-1), C.HYPERDATATYPE_LIST_INT64))
        self.assertEqual(_codec.encode_value(('a', b'bc')),
                         (lstr(b'a') + lstr(b'bc'), C.HYPERDATATYPE_LIST_STRING))
        self.assertEqual(_codec.encode_value([0.5, 2.0]),
                         (led(0.5) + led(2.0), C.HYPERDATATYPE_LIST_FLOAT))

    def test_order_is_kept(self):
        data, t = _codec.encode_value(['b', 'a', 'b'])
        self.assertEqual(_codec.decode_value(data, t), ['b', 'a', 'b'])

    def test_empty(self):
        self.assertEqual(_codec.encode_value([]), (b'', C.HYPERDATATYPE_LIST_GENERIC))
        self.assertEqual(_codec.encode_value(()), (b'', C.HYPERDATATYPE_LIST_GENERIC))
        for t in (C.HYPERDATATYPE_LIST_STRING, C.HYPERDATATYPE_LIST_INT64,
                  C.HYPERDATATYPE_LIST_FLOAT):
            self.assertEqual(_codec.decode_value(b'', t), [])

    def test_heterogeneous(self):
        for v in ([1, 2.0], ['a', 1], [1.0, 'x']):
            with self.assertRaisesRegex(TypeError, 'heterogeneous lists'):
                _codec.encode_value(v)

    def test_nested_rejected(self):
        with self.assertRaisesRegex(TypeError, 'Cannot encode'):
            _codec.encode_value([[1]])

    def test_round_trips(self):
        for v in ([1, 2, 3], ['x', '', 'y\u00e9'], [1.5, -0.0], [b'\xff\xfe']):
            self.assertEqual(_codec.decode_value(*_codec.encode_value(v)), v)

    def test_malformed(self):
        with self.assertRaisesRegex(ValueError, 'improperly structured'):
            _codec.decode_value(b'\x05\x00\x00\x00ab', C.HYPERDATATYPE_LIST_STRING)
        with self.assertRaisesRegex(ValueError, 'improperly structured'):
            _codec.decode_value(b'\x01\x00', C.HYPERDATATYPE_LIST_STRING)
        with self.assertRaisesRegex(ValueError, 'excess data'):
            _codec.decode_value(le64(1) + b'\x00', C.HYPERDATATYPE_LIST_INT64)


class TestSets(unittest.TestCase):

    def test_strings_sorted_bytewise(self):
        data, t = _codec.encode_value({'b', 'ab', 'a', '', b'\xff', 'z'})
        self.assertEqual(t, C.HYPERDATATYPE_SET_STRING)
        self.assertEqual(data, b''.join(lstr(x) for x in
                                        (b'', b'a', b'ab', b'b', b'z', b'\xff')))

    def test_ints_sorted_numerically(self):
        # Bytewise order of the LE encodings would differ (-5 starts 0xfb).
        data, t = _codec.encode_value({3, -5, 256, 0})
        self.assertEqual(t, C.HYPERDATATYPE_SET_INT64)
        self.assertEqual(data, b''.join(le64(x) for x in (-5, 0, 3, 256)))

    def test_floats_sorted_numerically(self):
        data, t = _codec.encode_value(frozenset([2.5, -1.0, 0.0]))
        self.assertEqual(t, C.HYPERDATATYPE_SET_FLOAT)
        self.assertEqual(data, b''.join(led(x) for x in (-1.0, 0.0, 2.5)))

    def test_str_and_bytes_duplicates_collapse(self):
        data, _ = _codec.encode_value({'a', b'a'})
        self.assertEqual(data, lstr(b'a'))

    def test_empty(self):
        self.assertEqual(_codec.encode_value(set()), (b'', C.HYPERDATATYPE_SET_GENERIC))
        self.assertEqual(_codec.decode_value(b'', C.HYPERDATATYPE_SET_STRING), set())

    def test_heterogeneous(self):
        with self.assertRaisesRegex(TypeError, 'heterogeneous sets'):
            _codec.encode_value({1, 'a'})

    def test_round_trips(self):
        for v in ({'x', 'y'}, {1, -(2 ** 63)}, {0.5}, {b'\x80'}):
            out = _codec.decode_value(*_codec.encode_value(v))
            self.assertIsInstance(out, set)
            self.assertEqual(out, v)


class TestMaps(unittest.TestCase):

    def test_sorted_by_key(self):
        data, t = _codec.encode_value({'b': 1, 'a': 2})
        self.assertEqual(t, C.HYPERDATATYPE_MAP_STRING_INT64)
        self.assertEqual(data, lstr(b'a') + le64(2) + lstr(b'b') + le64(1))
        data, t = _codec.encode_value({10: 'x', -1: 'y'})
        self.assertEqual(t, C.HYPERDATATYPE_MAP_INT64_STRING)
        self.assertEqual(data, le64(-1) + lstr(b'y') + le64(10) + lstr(b'x'))

    def test_all_nine_types(self):
        samples = {C.HYPERDATATYPE_STRING: 's', C.HYPERDATATYPE_INT64: 7,
                   C.HYPERDATATYPE_FLOAT: 1.25}
        names = {C.HYPERDATATYPE_STRING: 'STRING', C.HYPERDATATYPE_INT64: 'INT64',
                 C.HYPERDATATYPE_FLOAT: 'FLOAT'}
        for kt, k in samples.items():
            for vt, v in samples.items():
                data, t = _codec.encode_value({k: v})
                self.assertEqual(t, getattr(C, 'HYPERDATATYPE_MAP_%s_%s'
                                            % (names[kt], names[vt])))
                self.assertEqual(_codec.decode_value(data, t), {k: v})

    def test_empty(self):
        self.assertEqual(_codec.encode_value({}), (b'', C.HYPERDATATYPE_MAP_GENERIC))
        self.assertEqual(_codec.decode_value(b'', C.HYPERDATATYPE_MAP_STRING_FLOAT), {})

    def test_heterogeneous(self):
        with self.assertRaisesRegex(TypeError, 'heterogeneous maps'):
            _codec.encode_value({'a': 1, 2: 1})
        with self.assertRaisesRegex(TypeError, 'heterogeneous maps'):
            _codec.encode_value({'a': 1, 'b': 'x'})
        with self.assertRaises(TypeError):
            _codec.encode_value({'a': [1]})

    def test_conflicting_keys(self):
        with self.assertRaises(ValueError):
            _codec.encode_value({'a': 1, b'a': 2})

    def test_malformed(self):
        with self.assertRaisesRegex(ValueError, 'improperly structured'):
            _codec.decode_value(lstr(b'a') + b'\x01', C.HYPERDATATYPE_MAP_STRING_INT64)

    def test_unknown_datatypes(self):
        for t in (C.HYPERDATATYPE_MAP_STRING_KEYONLY, C.HYPERDATATYPE_GENERIC,
                  C.HYPERDATATYPE_LIST_GENERIC, C.HYPERDATATYPE_GARBAGE, 1234):
            with self.assertRaisesRegex(ValueError, 'garbage'):
                _codec.decode_value(b'', t)


class TestAttributeArguments(unittest.TestCase):

    def test_attrs_keep_order(self):
        out = _codec.encode_attrs({'z': 1, 'a': 'x', b'm': []})
        self.assertEqual(out, [(b'z', le64(1), C.HYPERDATATYPE_INT64),
                               (b'a', b'x', C.HYPERDATATYPE_STRING),
                               (b'm', b'', C.HYPERDATATYPE_LIST_GENERIC)])

    def test_attrs_errors(self):
        with self.assertRaises(TypeError):
            _codec.encode_attrs([('a', 1)])
        with self.assertRaises(TypeError):
            _codec.encode_attrs({1: 'x'})
        with self.assertRaises(ValueError):
            _codec.encode_attrs({'a\0b': 'x'})

    def test_map_attrs(self):
        out = _codec.encode_map_attrs({'m': {'k1': 1, 'k0': 2.5}, 'n': 'key'})
        self.assertEqual(out, [
            (b'm', b'k1', C.HYPERDATATYPE_STRING, le64(1), C.HYPERDATATYPE_INT64),
            (b'm', b'k0', C.HYPERDATATYPE_STRING, led(2.5), C.HYPERDATATYPE_FLOAT),
            (b'n', b'key', C.HYPERDATATYPE_STRING, b'', C.HYPERDATATYPE_GENERIC)])

    def test_map_remove_forms(self):
        expect = [(b'm', b'k', C.HYPERDATATYPE_STRING)]
        self.assertEqual(_codec.encode_map_remove({'m': {'k': 'X'}}), expect)
        self.assertEqual(_codec.encode_map_remove({'m': 'k'}), expect)
        self.assertEqual(_codec.encode_map_remove({'m': [3]}),
                         [(b'm', le64(3), C.HYPERDATATYPE_INT64)])

    def test_decode_attrs(self):
        out = _codec.decode_attrs([(b'first', b'John', C.HYPERDATATYPE_STRING),
                                   (b'age', b'', C.HYPERDATATYPE_INT64),
                                   (b'friends', b'', C.HYPERDATATYPE_SET_STRING)])
        self.assertEqual(list(out.items()),
                         [('first', 'John'), ('age', 0), ('friends', set())])


class TestPredicates(unittest.TestCase):
    EQ = C.HYPERPREDICATE_EQUALS
    LE = C.HYPERPREDICATE_LESS_EQUAL
    GE = C.HYPERPREDICATE_GREATER_EQUAL

    def checks(self, pred):
        return _predicates.build_checks(pred)

    def test_equality(self):
        self.assertEqual(self.checks({'a': 'x', 'b': 3}),
                         [(b'a', self.EQ, b'x', C.HYPERDATATYPE_STRING),
                          (b'b', self.EQ, le64(3), C.HYPERDATATYPE_INT64)])

    def test_container_equality(self):
        self.assertEqual(self.checks({'s': {'b', 'a'}}),
                         [(b's', self.EQ, lstr(b'a') + lstr(b'b'), C.HYPERDATATYPE_SET_STRING)])
        self.assertEqual(self.checks({'s': set()}),
                         [(b's', self.EQ, b'', C.HYPERDATATYPE_SET_GENERIC)])
        # A tuple whose length is not 2 is a list value.
        self.assertEqual(self.checks({'l': (1, 2, 3)}),
                         [(b'l', self.EQ, le64(1) + le64(2) + le64(3),
                           C.HYPERDATATYPE_LIST_INT64)])

    def test_two_tuple_is_range(self):
        expect = [(b'n', self.GE, le64(1), C.HYPERDATATYPE_INT64),
                  (b'n', self.LE, le64(5), C.HYPERDATATYPE_INT64)]
        self.assertEqual(self.checks({'n': (1, 5)}), expect)
        self.assertEqual(self.checks({'n': hyperclient.Range(1, 5)}), expect)
        self.assertEqual(self.checks({'s': ('Jack', b'Joseph')})[1],
                         (b's', self.LE, b'Joseph', C.HYPERDATATYPE_STRING))

    def test_mixed_two_tuple_is_not_a_range(self):
        with self.assertRaisesRegex(TypeError, 'heterogeneous'):
            self.checks({'n': (1, 2.0)})

    def test_single_bound_classes(self):
        self.assertEqual(self.checks({'f': hyperclient.LessEqual(2.5)}),
                         [(b'f', self.LE, led(2.5), C.HYPERDATATYPE_FLOAT)])
        self.assertEqual(self.checks({'f': hyperclient.GreaterEqual('m')}),
                         [(b'f', self.GE, b'm', C.HYPERDATATYPE_STRING)])

    def test_regex_length_contains(self):
        self.assertEqual(self.checks({'s': hyperclient.Regex('^J.*n$')}),
                         [(b's', C.HYPERPREDICATE_REGEX, b'^J.*n$', C.HYPERDATATYPE_STRING)])
        self.assertEqual(self.checks({'s': hyperclient.Regex(b'x')})[0][2], b'x')
        for cls, pred in ((hyperclient.LengthEquals, C.HYPERPREDICATE_LENGTH_EQUALS),
                          (hyperclient.LengthLessEqual, C.HYPERPREDICATE_LENGTH_LESS_EQUAL),
                          (hyperclient.LengthGreaterEqual,
                           C.HYPERPREDICATE_LENGTH_GREATER_EQUAL)):
            self.assertEqual(self.checks({'l': cls(4)}),
                             [(b'l', pred, le64(4), C.HYPERDATATYPE_INT64)])
        self.assertEqual(self.checks({'l': hyperclient.Contains(7)}),
                         [(b'l', C.HYPERPREDICATE_CONTAINS, le64(7), C.HYPERDATATYPE_INT64)])

    def test_str_and_bytes_everywhere(self):
        self.assertEqual(self.checks({b'name': b'Jo', 'last': 'Sm\u00edth'}),
                         [(b'name', self.EQ, b'Jo', C.HYPERDATATYPE_STRING),
                          (b'last', self.EQ, 'Sm\u00edth'.encode('utf-8'),
                           C.HYPERDATATYPE_STRING)])
        self.assertEqual(self.checks({'s': hyperclient.Regex(bytearray(b'^J'))})[0][2], b'^J')
        self.assertEqual(self.checks({'s': hyperclient.Range(b'a', 'b')}),
                         [(b's', self.GE, b'a', C.HYPERDATATYPE_STRING),
                          (b's', self.LE, b'b', C.HYPERDATATYPE_STRING)])
        self.assertEqual(self.checks({'s': hyperclient.Contains(b'x')}),
                         [(b's', C.HYPERPREDICATE_CONTAINS, b'x', C.HYPERDATATYPE_STRING)])

    def test_float_and_string_ranges(self):
        self.assertEqual(self.checks({'f': (0.5, 2.0)}),
                         [(b'f', self.GE, led(0.5), C.HYPERDATATYPE_FLOAT),
                          (b'f', self.LE, led(2.0), C.HYPERDATATYPE_FLOAT)])
        self.assertEqual([c[1] for c in self.checks({'s': ('Jack', 'Joseph')})],
                         [self.GE, self.LE])
        # A 1- or 3-tuple is a list value, a frozenset a set value.
        self.assertEqual(self.checks({'l': ('a',)}),
                         [(b'l', self.EQ, lstr(b'a'), C.HYPERDATATYPE_LIST_STRING)])
        self.assertEqual(self.checks({'s': frozenset([2, 1])}),
                         [(b's', self.EQ, le64(1) + le64(2), C.HYPERDATATYPE_SET_INT64)])
        self.assertEqual(self.checks({'m': {'b': 1.0}}),
                         [(b'm', self.EQ, lstr(b'b') + led(1.0),
                           C.HYPERDATATYPE_MAP_STRING_FLOAT)])

    def test_list_is_conjunction(self):
        out = self.checks({'n': [(1, 9), hyperclient.LessEqual(5), 3]})
        self.assertEqual([c[1] for c in out], [self.GE, self.LE, self.LE, self.EQ])

    def test_empty_and_none(self):
        self.assertEqual(self.checks({}), [])
        self.assertEqual(self.checks(None), [])

    def test_bad_arguments(self):
        with self.assertRaises(AttributeError):
            hyperclient.Range(1, 'a')
        with self.assertRaises(AttributeError):
            hyperclient.Range([1], [2])
        with self.assertRaises(AttributeError):
            hyperclient.LessEqual(None)
        with self.assertRaises(AttributeError):
            hyperclient.Regex(5)
        with self.assertRaises(AttributeError):
            hyperclient.LengthLessEqual('3')
        with self.assertRaises(TypeError):
            self.checks([('a', 1)])

    def test_predicate_base(self):
        self.assertTrue(issubclass(hyperclient.Range, hyperclient.Predicate))
        self.assertEqual(hyperclient.LessEqual(3)._raw('a'), [('a', self.LE, 3)])
        self.assertEqual(repr(hyperclient.Range(1, 2)), 'Range(1, 2)')


class TestException(unittest.TestCase):

    def test_format(self):
        e = hyperclient.HyperClientException(C.HYPERCLIENT_NOTFOUND)
        self.assertEqual(e.status(), 8449)
        self.assertEqual(e.symbol(), 'HYPERCLIENT_NOTFOUND')
        self.assertEqual(str(e), 'HyperClient(HYPERCLIENT_NOTFOUND, Not Found)')
        self.assertEqual(repr(e), str(e))
        self.assertIsInstance(e, Exception)

    def test_messages(self):
        E = hyperclient.HyperClientException
        self.assertEqual(str(E(C.HYPERCLIENT_UNKNOWNSPACE)),
                         'HyperClient(HYPERCLIENT_UNKNOWNSPACE, Unknown Space)')
        self.assertEqual(str(E(C.HYPERCLIENT_OVERFLOW)),
                         'HyperClient(HYPERCLIENT_OVERFLOW, Integer-overflow or divide-by-zero)')
        self.assertEqual(str(E(C.HYPERCLIENT_UNKNOWNATTR, 'color')),
                         'HyperClient(HYPERCLIENT_UNKNOWNATTR, Unknown attribute "color")')
        self.assertEqual(str(E(C.HYPERCLIENT_WRONGTYPE, b'age')),
                         'HyperClient(HYPERCLIENT_WRONGTYPE, Attribute "age" has the wrong type)')
        self.assertEqual(E(C.HYPERCLIENT_WRONGTYPE, b'age').attr, 'age')
        self.assertIn('"k"', str(E(C.HYPERCLIENT_DONTUSEKEY, 'k')))

    def test_every_code_has_symbol_and_message(self):
        for name, value in C._constants.RETURNCODES.items():
            e = hyperclient.HyperClientException(value)
            self.assertEqual(e.symbol(), name)
            self.assertNotIn('Unknown Error', str(e))

    def test_offline(self):
        e = hyperclient.HyperClientException(C.HYPERCLIENT_OFFLINE)
        self.assertEqual(e.symbol(), 'HYPERCLIENT_OFFLINE')

    def test_unknown_code(self):
        e = hyperclient.HyperClientException(8518)
        self.assertEqual(str(e), 'HyperClient(BUG, Unknown Error (file a bug))')

    def test_equality(self):
        E = hyperclient.HyperClientException
        self.assertEqual(E(8449), E(8449, 'x'))
        self.assertNotEqual(E(8449), E(8451))
        self.assertEqual(len({E(8449), E(8449)}), 1)

    def test_raisable(self):
        with self.assertRaises(hyperclient.HyperClientException) as cm:
            raise hyperclient.HyperClientException(C.HYPERCLIENT_CMPFAIL)
        self.assertEqual(cm.exception.status(), C.HYPERCLIENT_CMPFAIL)


class TestFailureOffsets(unittest.TestCase):
    U = C.HYPERCLIENT_UNKNOWNATTR

    def test_key_ops(self):
        f = _errors.key_op_failure_attr
        checks, attrs, maps = ['c0', 'c1'], ['a0', 'a1', 'a2'], ['m0']
        self.assertEqual(f(-2, self.U, checks, attrs, maps), 'c0')
        self.assertEqual(f(-3, self.U, checks, attrs, maps), 'c1')
        self.assertEqual(f(-4, self.U, checks, attrs, maps), 'a0')
        self.assertEqual(f(-6, self.U, checks, attrs, maps), 'a2')
        self.assertEqual(f(-7, C.HYPERCLIENT_WRONGTYPE, checks, attrs, maps), 'm0')
        self.assertEqual(f(-2, C.HYPERCLIENT_DONTUSEKEY, [], ['k']), 'k')
        self.assertIsNone(f(-8, self.U, checks, attrs, maps))
        self.assertIsNone(f(-1, C.HYPERCLIENT_WRONGTYPE, checks, attrs))  # bad key
        self.assertIsNone(f(-2, C.HYPERCLIENT_UNKNOWNSPACE, checks, attrs))

    def test_search_ops(self):
        f = _errors.search_failure_attr
        self.assertEqual(f(-1, self.U, ['c0', 'c1']), 'c0')
        self.assertEqual(f(-2, self.U, ['c0', 'c1']), 'c1')
        self.assertEqual(f(-3, C.HYPERCLIENT_WRONGTYPE, ['c0', 'c1'], 'sort'), 'sort')
        self.assertIsNone(f(-1, C.HYPERCLIENT_UNKNOWNSPACE, ['c0']))
        self.assertIsNone(f(-1, self.U, []))


class TestModuleSurface(unittest.TestCase):

    def test_constants(self):
        self.assertEqual(C.HYPERCLIENT_SUCCESS, 8448)
        self.assertEqual(C.HYPERCLIENT_OFFLINE, 8533)
        self.assertEqual(C.HYPERCLIENT_GARBAGE, 8575)
        self.assertEqual(C.HYPERDATATYPE_MAP_FLOAT_FLOAT, 9435)
        self.assertEqual(C.HYPERPREDICATE_CONTAINS, 9737)
        for name in C._constants.ALL:
            self.assertIn(name, hyperclient.__all__)

    def test_class_names_and_repr(self):
        for name in ('Deferred', 'DeferredGet', 'DeferredFromAttrs', 'DeferredCondFromAttrs',
                     'DeferredDelete', 'DeferredCondDelete', 'DeferredMapOp',
                     'DeferredCondMapOp', 'DeferredGroupDel', 'DeferredCount',
                     'DeferredSearchDescribe', 'SearchBase', 'Search', 'SortedSearch',
                     'Predicate', 'Range', 'LessEqual', 'GreaterEqual', 'Regex',
                     'LengthLessEqual', 'HyperClientException', 'Client'):
            self.assertEqual(getattr(hyperclient, name).__module__, 'hyperclient', name)
        d = hyperclient.DeferredFromAttrs(None)
        self.assertRegex(repr(d), r'^<hyperclient\.DeferredFromAttrs object at 0x[0-9a-f]+>$')

    def test_client_methods(self):
        ops = (['get', 'put', 'put_if_not_exist', 'cond_put', 'delete', 'cond_delete',
                'map_add', 'map_remove']
               + ['%s_%s' % (p, o) for p in ('atomic', 'map_atomic')
                  for o in ('add', 'sub', 'mul', 'div', 'mod', 'and', 'or', 'xor')]
               + ['string_prepend', 'string_append', 'list_lpush', 'list_rpush',
                  'set_add', 'set_remove', 'set_intersect', 'set_union',
                  'map_string_prepend', 'map_string_append'])
        conds = ['cond_' + o for o in ops
                 if o not in ('get', 'put', 'put_if_not_exist', 'delete', 'cond_put',
                              'cond_delete')]
        for name in ops + conds + ['count', 'group_del', 'search_describe']:
            self.assertTrue(callable(getattr(hyperclient.Client, name)), name)
            self.assertTrue(callable(getattr(hyperclient.Client, 'async_' + name)), name)
        for name in ('add_space', 'rm_space', 'search', 'sorted_search', 'loop'):
            self.assertTrue(callable(getattr(hyperclient.Client, name)), name)

    def test_docstring_documents_decisions(self):
        doc = hyperclient.__doc__
        self.assertIn('bool', doc)
        self.assertIn('valid UTF-8', doc)


class TestLibraryLookup(unittest.TestCase):

    def test_env_wins_alone(self):
        paths = _lib.candidate_paths({'HYPERCLIENT_LIB': '/x/lib.so'}, '/p/python/hyperclient',
                                     lambda n: '/usr/lib/libhyperclient.so')
        self.assertEqual(paths, ['/x/lib.so'])

    def test_default_order(self):
        paths = _lib.candidate_paths({}, '/p/python/hyperclient',
                                     lambda n: 'libhyperclient.so.1')
        self.assertEqual(paths, ['/p/python/hyperclient/libhyperclient.so',
                                 '/p/target/release/libhyperclient.so',
                                 'libhyperclient.so.1', 'libhyperclient.so'])
        paths = _lib.candidate_paths({}, '/p/python/hyperclient', lambda n: None)
        self.assertEqual(paths[-1], 'libhyperclient.so')
        self.assertEqual(len(paths), 3)

    def test_explicit_missing_path_fails(self):
        with tempfile.TemporaryDirectory() as d:
            missing = os.path.join(d, 'nope.so')
            with self.assertRaisesRegex(OSError, re.escape(missing)):
                _lib._load_first([missing, 'libc.so.6'], explicit=True)

    def test_skips_missing_paths(self):
        with tempfile.TemporaryDirectory() as d:
            cdll, path = _lib._load_first([os.path.join(d, 'nope.so'), 'libc.so.6'],
                                          explicit=False)
            self.assertEqual(path, 'libc.so.6')

    def test_missing_symbol_is_not_implemented(self):
        cdll, path = _lib._load_first(['libc.so.6'], explicit=False)
        lib = _lib.Library(cdll, path)
        with self.assertRaisesRegex(NotImplementedError, 'hyperclient_cond_del'):
            lib.fn('hyperclient_cond_del')
        self.assertFalse(lib.has('hyperclient_cond_del'))


if __name__ == '__main__':
    unittest.main()
