"""hyperclient against a live HyperDex cluster.

The coordinator's address comes from HYPERDEX_COORD_HOST and
HYPERDEX_COORD_PORT; without them every test here is skipped.  The cluster
needs at least one daemon.  Spaces get unique names and are removed at the
end.

An operation whose C function the library does not export is skipped with
a message naming the function, unless HYPERCLIENT_TEST_REQUIRE_ALL=1, in
which case it fails.
"""

import os
import re
import struct
import sys
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
# The checkout's package, unless one is importable already (PYTHONPATH wins).
sys.path.append(os.path.join(HERE, os.pardir))

import hyperclient as H  # noqa: E402

HOST = os.environ.get('HYPERDEX_COORD_HOST')
PORT = os.environ.get('HYPERDEX_COORD_PORT')
REQUIRE_ALL = os.environ.get('HYPERCLIENT_TEST_REQUIRE_ALL') == '1'
SPACE_OPTS = 'create 4 partitions tolerate 1 failure'

ALLTYPES = ('key k attributes string s, int n, float f, '
            'list(string) ls, list(int) li, list(float) lf, '
            'set(string) ss, set(int) si, set(float) sf, '
            'map(string, string) mss, map(string, int) msi, map(string, float) msf, '
            'map(int, string) mis, map(int, int) mii, map(int, float) mif, '
            'map(float, string) mfs, map(float, int) mfi, map(float, float) mff')
ALLTYPES_DEFAULTS = [('s', ''), ('n', 0), ('f', 0.0), ('ls', []), ('li', []), ('lf', []),
                     ('ss', set()), ('si', set()), ('sf', set()),
                     ('mss', {}), ('msi', {}), ('msf', {}), ('mis', {}), ('mii', {}),
                     ('mif', {}), ('mfs', {}), ('mfi', {}), ('mff', {})]


def unique(prefix):
    return 'py%s_%s' % (prefix, uuid.uuid4().hex[:10])


class LiveTestCase(unittest.TestCase):
    """Creates the spaces named in ``spaces`` ({attr: description tail})."""
    spaces = {}

    @classmethod
    def setUpClass(cls):
        if not HOST or not PORT:
            raise unittest.SkipTest('no cluster: set HYPERDEX_COORD_HOST and '
                                    'HYPERDEX_COORD_PORT to a running coordinator')
        cls.c = H.Client(HOST, int(PORT))
        cls.created = []
        for attr, tail in cls.spaces.items():
            name = unique(attr)
            cls.c.add_space('space %s %s %s' % (name, tail, SPACE_OPTS))
            cls.created.append(name)
            setattr(cls, attr, name)

    @classmethod
    def tearDownClass(cls):
        for name in getattr(cls, 'created', []):
            try:
                cls.c.rm_space(name)
            except H.HyperClientException:
                pass
        if hasattr(cls, 'c'):
            cls.c.close()

    def key(self, suffix=''):
        """A key unique to the running test."""
        return '%s%s' % (self.id().rsplit('.', 1)[-1], suffix)

    def call(self, method, *args):
        """client.<method>(*args), skipping when the library lacks it."""
        try:
            return getattr(self.c, method)(*args)
        except NotImplementedError as e:
            if REQUIRE_ALL:
                self.fail('libhyperclient lacks a function: %s' % e)
            self.skipTest('libhyperclient lacks a function: %s' % e)

    def assertStatus(self, status, method, *args):
        with self.assertRaises(H.HyperClientException) as cm:
            self.call(method, *args)
        self.assertEqual(cm.exception.symbol(), status, str(cm.exception))
        return cm.exception


class TestAdmin(LiveTestCase):
    spaces = {'sp': ALLTYPES}

    def test_add_rm_space_return_none(self):
        name = unique('adm')
        self.assertIsNone(self.c.add_space('space %s key x %s' % (name, SPACE_OPTS)))
        self.assertIsNone(self.c.rm_space(name))

    def test_duplicate_space(self):
        self.assertStatus('HYPERCLIENT_DUPLICATE', 'add_space',
                          'space %s key k %s' % (self.sp, SPACE_OPTS))

    def test_bad_space(self):
        self.assertStatus('HYPERCLIENT_BADSPACE', 'add_space', 'space x key')
        self.assertStatus('HYPERCLIENT_BADSPACE', 'add_space',
                          'space %s key k attributes a, a' % unique('bad'))

    def test_rm_unknown_space(self):
        self.assertStatus('HYPERCLIENT_NOTFOUND', 'rm_space', unique('none'))

    def test_attribute_type(self):
        self.assertEqual(self.call('attribute_type', self.sp, 'msf'),
                         H.HYPERDATATYPE_MAP_STRING_FLOAT)
        self.assertEqual(self.call('attribute_type', self.sp, 'k'), H.HYPERDATATYPE_STRING)
        e = self.assertStatus('HYPERCLIENT_UNKNOWNATTR', 'attribute_type', self.sp, 'nope')
        self.assertEqual(e.attr, 'nope')
        self.assertStatus('HYPERCLIENT_UNKNOWNSPACE', 'attribute_type', unique('no'), 'x')


class TestValues(LiveTestCase):
    spaces = {'sp': ALLTYPES, 'intkey': 'key int k attributes string v',
              'floatkey': 'key float k attributes int v', 'keyonly': 'key k'}

    def test_get_missing(self):
        self.assertIsNone(self.c.get(self.sp, self.key()))

    def test_defaults_in_schema_order(self):
        self.assertIs(self.c.put(self.sp, self.key(), {}), True)
        got = self.c.get(self.sp, self.key())
        self.assertEqual(list(got.items()), ALLTYPES_DEFAULTS)
        self.assertEqual([type(v) for v in got.values()],
                         [type(v) for _, v in ALLTYPES_DEFAULTS])

    def test_every_type_round_trips(self):
        value = {'s': 'J\u00f3hn', 'n': -(2 ** 63), 'f': -1.5,
                 'ls': ['b', 'a', 'b'], 'li': [3, -1, 2 ** 63 - 1], 'lf': [0.5, -0.25],
                 'ss': {'b', 'a', 'ab', ''}, 'si': {5, -5, 0}, 'sf': {1.5, -2.0},
                 'mss': {'b': 'x', 'a': 'y'}, 'msi': {'z': -1, 'a': 1},
                 'msf': {'q': 0.5}, 'mis': {-3: 'a', 7: 'b'}, 'mii': {2: 4, -2: -4},
                 'mif': {1: 1.25}, 'mfs': {-0.5: 's', 2.5: 't'}, 'mfi': {1.0: 1},
                 'mff': {3.5: 7.0, -1.0: 0.0}}
        self.assertIs(self.c.put(self.sp, self.key(), value), True)
        got = self.c.get(self.sp, self.key())
        self.assertEqual(got, value)
        self.assertEqual(list(got), [a for a, _ in ALLTYPES_DEFAULTS])

    def test_strings_out(self):
        self.c.put(self.sp, self.key(), {'s': b'\xde\xad\xbe\xef',
                                         'ls': [b'\xff', 'ok'],
                                         'mss': {b'\x80': '\u00e9'}})
        got = self.c.get(self.sp, self.key())
        self.assertEqual(got['s'], b'\xde\xad\xbe\xef')
        self.assertIsInstance(got['s'], bytes)
        self.assertEqual(got['ls'], [b'\xff', 'ok'])
        self.assertEqual(got['mss'], {b'\x80': '\u00e9'})
        self.c.put(self.sp, self.key(), {'s': 'J\u00f3hn'.encode('utf-8')})
        self.assertEqual(self.c.get(self.sp, self.key())['s'], 'J\u00f3hn')

    def test_bool_is_stored_as_int(self):
        self.c.put(self.sp, self.key(), {'n': True})
        self.assertEqual(self.c.get(self.sp, self.key())['n'], 1)

    def test_put_is_a_partial_update(self):
        self.c.put(self.sp, self.key(), {'s': 'a', 'n': 1})
        self.c.put(self.sp, self.key(), {'n': 2})
        got = self.c.get(self.sp, self.key())
        self.assertEqual((got['s'], got['n']), ('a', 2))
        self.assertIs(self.c.put(self.sp, self.key(), {}), True)
        self.assertEqual(self.c.get(self.sp, self.key())['n'], 2)

    def test_empty_containers_replace(self):
        self.c.put(self.sp, self.key(), {'ls': ['a'], 'ss': {'a'}, 'msi': {'a': 1}})
        self.c.put(self.sp, self.key(), {'ls': [], 'ss': set(), 'msi': {}})
        got = self.c.get(self.sp, self.key())
        self.assertEqual((got['ls'], got['ss'], got['msi']), ([], set(), {}))

    def test_delete(self):
        self.assertIs(self.c.delete(self.sp, self.key()), False)
        self.c.put(self.sp, self.key(), {'s': 'x'})
        self.assertIs(self.c.delete(self.sp, self.key()), True)
        self.assertIsNone(self.c.get(self.sp, self.key()))
        self.assertIs(self.c.delete(self.sp, self.key()), False)

    def test_put_if_not_exist(self):
        self.assertIs(self.c.put_if_not_exist(self.sp, self.key(), {'s': 'first'}), True)
        self.assertIs(self.c.put_if_not_exist(self.sp, self.key(), {'s': 'second'}), False)
        self.assertEqual(self.c.get(self.sp, self.key())['s'], 'first')

    def test_int_and_float_keys(self):
        for k in (0, -1, 2 ** 63 - 1, -(2 ** 63)):
            self.assertIs(self.c.put(self.intkey, k, {'v': 'v%d' % k}), True)
        for k in (0, -1, 2 ** 63 - 1, -(2 ** 63)):
            self.assertEqual(self.c.get(self.intkey, k), {'v': 'v%d' % k})
        self.assertIs(self.c.put(self.floatkey, 2.5, {'v': 3}), True)
        self.assertEqual(self.c.get(self.floatkey, 2.5), {'v': 3})

    def test_wrong_key_type(self):
        self.assertStatus('HYPERCLIENT_WRONGTYPE', 'put', self.intkey, 'abc', {'v': 'x'})

    def test_key_only_space(self):
        self.assertIs(self.c.put(self.keyonly, self.key(), {}), True)
        self.assertEqual(self.c.get(self.keyonly, self.key()), {})
        self.assertIs(self.c.delete(self.keyonly, self.key()), True)
        self.assertIsNone(self.c.get(self.keyonly, self.key()))


class TestErrors(LiveTestCase):
    spaces = {'sp': ALLTYPES}

    def test_unknown_space(self):
        name = unique('missing')
        for method, args in (('get', (name, 'k')), ('put', (name, 'k', {'s': 'x'})),
                             ('async_put', (name, 'k', {'s': 'x'})),
                             ('delete', (name, 'k')),
                             ('atomic_add', (name, 'k', {'n': 1}))):
            e = self.assertStatus('HYPERCLIENT_UNKNOWNSPACE', method, *args)
            self.assertEqual(str(e), 'HyperClient(HYPERCLIENT_UNKNOWNSPACE, Unknown Space)')
        self.assertEqual(self.c._pending, {})

    def test_unknown_attr_is_named(self):
        e = self.assertStatus('HYPERCLIENT_UNKNOWNATTR', 'put', self.sp, self.key(),
                              {'s': 'x', 'n': 1, 'colour': 'red'})
        self.assertEqual(e.attr, 'colour')
        self.assertEqual(str(e), 'HyperClient(HYPERCLIENT_UNKNOWNATTR, '
                                 'Unknown attribute "colour")')

    def test_wrong_type_is_named(self):
        e = self.assertStatus('HYPERCLIENT_WRONGTYPE', 'put', self.sp, self.key(),
                              {'s': 'x', 'f': 1})
        self.assertEqual(e.attr, 'f')
        self.assertEqual(str(e), 'HyperClient(HYPERCLIENT_WRONGTYPE, '
                                 'Attribute "f" has the wrong type)')
        e = self.assertStatus('HYPERCLIENT_WRONGTYPE', 'put', self.sp, self.key(),
                              {'ls': [1, 2]})
        self.assertEqual(e.attr, 'ls')

    def test_wrong_type_for_op(self):
        self.c.put(self.sp, self.key(), {})
        e = self.assertStatus('HYPERCLIENT_WRONGTYPE', 'atomic_add', self.sp, self.key(),
                              {'s': 1})
        self.assertEqual(e.attr, 's')
        self.assertStatus('HYPERCLIENT_WRONGTYPE', 'atomic_mod', self.sp, self.key(),
                          {'f': 1.0})
        self.assertStatus('HYPERCLIENT_WRONGTYPE', 'list_rpush', self.sp, self.key(),
                          {'ls': ['a']})
        self.assertStatus('HYPERCLIENT_WRONGTYPE', 'set_union', self.sp, self.key(),
                          {'ss': 'a'})

    def test_dont_use_key(self):
        e = self.assertStatus('HYPERCLIENT_DONTUSEKEY', 'put', self.sp, self.key(),
                              {'s': 'x', 'k': 'other'})
        self.assertEqual(e.attr, 'k')

    def test_overflow_leaves_object_unchanged(self):
        self.c.put(self.sp, self.key(), {'n': 2 ** 63 - 1, 's': 'a'})
        self.assertStatus('HYPERCLIENT_OVERFLOW', 'atomic_add', self.sp, self.key(),
                          {'n': 1})
        self.assertStatus('HYPERCLIENT_OVERFLOW', 'atomic_div', self.sp, self.key(),
                          {'n': 0})
        self.assertStatus('HYPERCLIENT_OVERFLOW', 'atomic_mod', self.sp, self.key(),
                          {'n': 0})
        self.assertEqual(self.c.get(self.sp, self.key())['n'], 2 ** 63 - 1)

    def test_ops_on_missing_key_raise_notfound(self):
        for method, attrs in (('atomic_add', {'n': 1}), ('string_append', {'s': 'x'}),
                              ('list_rpush', {'ls': 'x'}), ('set_add', {'ss': 'x'}),
                              ('map_add', {'msi': {'a': 1}})):
            with self.subTest(method=method):
                self.assertStatus('HYPERCLIENT_NOTFOUND', method, self.sp, self.key(), attrs)
        self.assertIsNone(self.c.get(self.sp, self.key()))

    def test_python_side_errors(self):
        with self.assertRaisesRegex(TypeError, 'heterogeneous'):
            self.c.put(self.sp, self.key(), {'ls': ['a', 1]})
        with self.assertRaises(OverflowError):
            self.c.put(self.sp, self.key(), {'n': 2 ** 63})
        with self.assertRaises(TypeError):
            self.c.put(self.sp, self.key(), {'s': None})
        self.assertEqual(self.c._pending, {})
        self.assertIsNone(self.c.get(self.sp, self.key()))


# (method, attrs, attribute, value before, value after) for every op family.
INITIAL = {'n': 10, 's': 'ab', 'f': 2.0, 'ls': ['x'], 'li': [1], 'ss': {'x'},
           'si': {1, 2}, 'msi': {'a': 12}, 'mss': {'a': 'b'}, 'mff': {1.0: 3.0}}
OPS = [
    ('atomic_add', {'n': 5}, 'n', 15),
    ('atomic_sub', {'n': 13}, 'n', -3),
    ('atomic_mul', {'n': -3}, 'n', -30),
    ('atomic_div', {'n': -3}, 'n', -4),         # floor division
    ('atomic_mod', {'n': -3}, 'n', -2),         # sign of the divisor
    ('atomic_and', {'n': 6}, 'n', 2),
    ('atomic_or', {'n': 5}, 'n', 15),
    ('atomic_xor', {'n': 3}, 'n', 9),
    ('atomic_add', {'f': 0.5}, 'f', 2.5),
    ('atomic_div', {'f': 0.0}, 'f', float('inf')),
    ('string_prepend', {'s': '<'}, 's', '<ab'),
    ('string_append', {'s': '>'}, 's', 'ab>'),
    ('list_lpush', {'ls': 'w'}, 'ls', ['w', 'x']),
    ('list_rpush', {'li': 2}, 'li', [1, 2]),
    ('set_add', {'ss': 'a'}, 'ss', {'a', 'x'}),
    ('set_remove', {'si': 1}, 'si', {2}),
    ('set_union', {'ss': {'q', 'r'}}, 'ss', {'q', 'r', 'x'}),
    ('set_intersect', {'si': {2, 3}}, 'si', {2}),
    ('map_add', {'msi': {'b': 2}}, 'msi', {'a': 12, 'b': 2}),
    ('map_remove', {'msi': {'a': 'X'}}, 'msi', {}),
    ('map_atomic_add', {'msi': {'a': 4, 'new': 1}}, 'msi', {'a': 16, 'new': 1}),
    ('map_atomic_sub', {'msi': {'a': -32}}, 'msi', {'a': 44}),
    ('map_atomic_mul', {'msi': {'a': 2}}, 'msi', {'a': 24}),
    ('map_atomic_div', {'msi': {'a': 5}}, 'msi', {'a': 2}),
    ('map_atomic_mod', {'msi': {'a': 5}}, 'msi', {'a': 2}),
    ('map_atomic_and', {'msi': {'a': 10}}, 'msi', {'a': 8}),
    ('map_atomic_or', {'msi': {'a': 3}}, 'msi', {'a': 15}),
    ('map_atomic_xor', {'msi': {'a': 5}}, 'msi', {'a': 9}),
    ('map_atomic_mul', {'mff': {1.0: 0.5}}, 'mff', {1.0: 1.5}),
    ('map_string_prepend', {'mss': {'a': '<', 'KEY': '5'}}, 'mss', {'a': '<b', 'KEY': '5'}),
    ('map_string_append', {'mss': {'a': '>'}}, 'mss', {'a': 'b>'}),
]
DEFERRED_CLASS = {'atomic': 'DeferredFromAttrs', 'string': 'DeferredFromAttrs',
                  'list': 'DeferredFromAttrs', 'set': 'DeferredFromAttrs',
                  'map': 'DeferredMapOp'}


class TestOperations(LiveTestCase):
    spaces = {'sp': ALLTYPES}

    def fresh(self, suffix):
        key = self.key(suffix)
        self.assertIs(self.c.put(self.sp, key, INITIAL), True)
        return key

    def test_plain_ops(self):
        for i, (method, attrs, attr, after) in enumerate(OPS):
            with self.subTest(method=method, attrs=attrs):
                key = self.fresh(str(i))
                self.assertIs(self.call(method, self.sp, key, attrs), True)
                got = self.c.get(self.sp, key)
                self.assertEqual(got[attr], after)
                for other, v in INITIAL.items():       # nothing else changed
                    if other != attr:
                        self.assertEqual(got[other], v, other)

    def test_cond_ops(self):
        ops = [('put', {'s': 'new'}, 's', 'new')] + OPS
        for i, (method, attrs, attr, after) in enumerate(ops):
            with self.subTest(method='cond_' + method, attrs=attrs):
                key = self.fresh(str(i))
                self.assertIs(self.call('cond_' + method, self.sp, key,
                                        {'n': 11}, attrs), False)
                self.assertEqual(self.c.get(self.sp, key)[attr], INITIAL.get(attr))
                self.assertIs(self.call('cond_' + method, self.sp, key,
                                        {'n': 10, 's': 'ab'}, attrs), True)
                self.assertEqual(self.c.get(self.sp, key)[attr], after)
                self.assertStatus('HYPERCLIENT_NOTFOUND', 'cond_' + method, self.sp,
                                  self.key('missing%d' % i), {'n': 10}, attrs)

    def test_async_forms_return_deferreds(self):
        for i, (method, attrs, attr, after) in enumerate(OPS):
            with self.subTest(method=method):
                key = self.fresh(str(i))
                d = self.call('async_' + method, self.sp, key, attrs)
                cls = DEFERRED_CLASS[method.split('_')[0]]
                self.assertEqual(type(d).__name__, cls)
                self.assertIs(d.wait(), True)
                self.assertEqual(self.c.get(self.sp, key)[attr], after)
                d = self.call('async_cond_' + method, self.sp, key, {'n': -1}, attrs)
                self.assertEqual(type(d).__name__, cls.replace('Deferred', 'DeferredCond'))
                self.assertIs(d.wait(), False)

    def test_map_remove_plain_forms(self):
        key = self.fresh('')
        self.c.put(self.sp, key, {'msi': {'a': 1, 'b': 2, 'c': 3}, 'mii': {1: 1, 2: 2}})
        self.assertIs(self.call('map_remove', self.sp, key, {'msi': 'a'}), True)
        self.assertIs(self.call('map_remove', self.sp, key, {'msi': 'absent'}), True)
        self.assertIs(self.call('map_remove', self.sp, key, {'mii': 2}), True)
        got = self.c.get(self.sp, key)
        self.assertEqual((got['msi'], got['mii']), ({'b': 2, 'c': 3}, {1: 1}))

    def test_multi_attribute_call_is_atomic(self):
        key = self.fresh('')
        self.assertStatus('HYPERCLIENT_OVERFLOW', 'atomic_add', self.sp, key,
                          {'n': 2 ** 63 - 1})
        self.assertStatus('HYPERCLIENT_OVERFLOW', 'map_atomic_div', self.sp, key,
                          {'msi': {'a': 2, 'b': 0}})
        self.assertEqual(self.c.get(self.sp, key)['msi'], {'a': 12})

    def test_cond_put_predicates(self):
        key = self.fresh('')
        cases = [({'n': (5, 10)}, True), ({'n': (11, 20)}, False),
                 ({'n': H.Range(10, 10)}, True), ({'n': H.LessEqual(9)}, False),
                 ({'n': H.GreaterEqual(10)}, True), ({'s': H.Regex('^a')}, True),
                 ({'s': H.Regex('^b')}, False), ({'ls': H.LengthEquals(1)}, True),
                 ({'ss': H.LengthLessEqual(0)}, False),
                 ({'si': H.LengthGreaterEqual(2)}, True), ({'si': H.Contains(2)}, True),
                 ({'msi': H.Contains('zz')}, False), ({'ss': {'x'}}, True),
                 ({'ss': set()}, False), ({'k': key}, True),
                 ({'n': [(0, 100), H.LessEqual(10), 10]}, True),
                 ({'n': [(0, 100), H.LessEqual(9)]}, False)]
        for cond, expect in cases:
            with self.subTest(cond=cond):
                self.assertIs(self.c.cond_put(self.sp, key, cond, {'f': 1.0}), expect)

    def test_cond_check_errors_name_the_attribute(self):
        key = self.fresh('')
        e = self.assertStatus('HYPERCLIENT_UNKNOWNATTR', 'cond_put', self.sp, key,
                              {'n': 10, 'nope': 1}, {'s': 'x'})
        self.assertEqual(e.attr, 'nope')
        e = self.assertStatus('HYPERCLIENT_WRONGTYPE', 'cond_put', self.sp, key,
                              {'n': 'ten'}, {'s': 'x'})
        self.assertEqual(e.attr, 'n')
        e = self.assertStatus('HYPERCLIENT_UNKNOWNATTR', 'cond_put', self.sp, key,
                              {'n': 10}, {'s': 'x', 'nope2': 1})
        self.assertEqual(e.attr, 'nope2')
        e = self.assertStatus('HYPERCLIENT_WRONGTYPE', 'cond_map_add', self.sp, key,
                              {'n': 10}, {'msi': {'a': 'str'}})
        self.assertEqual(e.attr, 'msi')

    def test_cond_delete(self):
        key = self.fresh('')
        self.assertIs(self.call('cond_delete', self.sp, key, {'n': 11}), False)
        self.assertIsNotNone(self.c.get(self.sp, key))
        self.assertIs(self.call('cond_delete', self.sp, key, {'n': 10}), True)
        self.assertIsNone(self.c.get(self.sp, key))
        self.assertIs(self.call('cond_delete', self.sp, key, {'n': 10}), False)
        d = self.call('async_cond_delete', self.sp, key, {})
        self.assertEqual(type(d).__name__, 'DeferredCondDelete')
        self.assertIs(d.wait(), False)


class TestAsync(LiveTestCase):
    spaces = {'sp': 'key k attributes string first, string last, set(string) friends'}

    def test_deferred_put_get(self):
        d = self.c.async_put(self.sp, 'jj', {'first': 'John', 'last': 'Jackson'})
        self.assertRegex(repr(d), r'^<hyperclient\.DeferredFromAttrs object at 0x[0-9a-f]+>$')
        self.assertIs(d.wait(), True)
        self.assertIs(d.wait(), True)
        d = self.c.async_get(self.sp, 'jj')
        self.assertIsInstance(d, H.DeferredGet)
        self.assertEqual(d.wait(), {'first': 'John', 'last': 'Jackson', 'friends': set()})
        d = self.c.async_delete(self.sp, 'nobody')
        self.assertIsInstance(d, H.DeferredDelete)
        self.assertIs(d.wait(), False)

    def test_loop_returns_the_completed_op(self):
        keys = ['k%d' % i for i in range(20)]
        for k in keys:
            self.c.put(self.sp, k, {'first': k.upper()})
        outstanding = set(self.c.async_get(self.sp, k) for k in keys)
        got = []
        while outstanding:
            d = self.c.loop()
            outstanding.remove(d)
            got.append(d.wait()['first'])
        self.assertEqual(sorted(got), sorted(k.upper() for k in keys))

    def test_wait_in_any_order(self):
        ds = [self.c.async_set_add(self.sp, 'w', {'friends': 'f%d' % i}) for i in range(5)]
        self.c.put(self.sp, 'w', {})      # ops issued before this may fail NOTFOUND
        for d in ds:
            try:
                d.wait()
            except H.HyperClientException as e:
                self.assertEqual(e.symbol(), 'HYPERCLIENT_NOTFOUND')
        ds = [self.c.async_set_add(self.sp, 'w', {'friends': 'g%d' % i}) for i in range(5)]
        for d in reversed(ds):
            self.assertIs(d.wait(), True)
        self.assertTrue({'g%d' % i for i in range(5)} <= self.c.get(self.sp, 'w')['friends'])

    def test_window_with_dropped_deferreds(self):
        outstanding = 0
        for i in range(300):
            while outstanding >= 32:
                self.assertIs(self.c.loop().wait(), True)
                outstanding -= 1
            _ = self.c.async_put(self.sp, 'win%d' % i, {'first': str(i)})
            outstanding += 1
        while outstanding:
            self.assertIs(self.c.loop().wait(), True)
            outstanding -= 1
        self.assertEqual(self.c._pending, {})
        self.assertTrue(all(self.c.get(self.sp, 'win%d' % i)['first'] == str(i)
                            for i in range(300)))

    def test_loop_with_nothing_pending(self):
        e = self.assertStatus('HYPERCLIENT_NONEPENDING', 'loop')
        self.assertEqual(e.status(), H.HYPERCLIENT_NONEPENDING)

    def test_immediate_failure_is_raised_by_async_call(self):
        with self.assertRaises(H.HyperClientException) as cm:
            self.c.async_put(self.sp, 'x', {'nope': 'x'})
        self.assertEqual(cm.exception.attr, 'nope')
        self.assertEqual(self.c._pending, {})


# The objects TestSearch searches: every attribute of SEARCH_SPACE is set.
PEOPLE = {
    'ada': {'name': 'Ada', 'age': 36, 'score': 9.5, 'ls': ['x', 'y', 'z'], 'li': [1, 2, 3],
            'lf': [0.5], 'tags': {'math', 'code'}, 'si': {1, 2}, 'sf': {1.5},
            'msi': {'a': 1, 'b': 2}, 'mis': {1: 'one'}, 'mff': {1.5: 2.5}},
    'bob': {'name': 'Bob', 'age': 17, 'score': 4.0, 'ls': ['y'], 'li': [],
            'lf': [2.5, -1.0], 'tags': {'code'}, 'si': {2}, 'sf': set(),
            'msi': {'b': 5}, 'mis': {}, 'mff': {}},
    'cy': {'name': 'Cy', 'age': 52, 'score': 7.25, 'ls': [], 'li': [3], 'lf': [],
           'tags': set(), 'si': set(), 'sf': {-1.0, 2.0}, 'msi': {},
           'mis': {2: 'two', 3: 'three'}, 'mff': {0.0: 1.0}},
    'dee': {'name': 'Dee', 'age': 17, 'score': 8.0, 'ls': ['x'], 'li': [1], 'lf': [0.5],
            'tags': {'art'}, 'si': {3}, 'sf': {1.5}, 'msi': {'a': 7}, 'mis': {1: 'uno'},
            'mff': {}},
    'eve': {'name': 'Eve', 'age': -5, 'score': -2.5, 'ls': ['z', 'z'], 'li': [-1, 3],
            'lf': [0.0], 'tags': {'art', 'math', 'sport'}, 'si': {-7, 2}, 'sf': {0.25},
            'msi': {'c': -1, 'a': 0}, 'mis': {-1: ''}, 'mff': {-1.5: -1.5, 2.0: 0.0}},
}
SEARCH_ATTRS = ['k', 'name', 'age', 'score', 'ls', 'li', 'lf', 'tags', 'si', 'sf',
                'msi', 'mis', 'mff']
SEARCH_SPACE = ('key k attributes string name, int age, float score, '
                'list(string) ls, list(int) li, list(float) lf, '
                'set(string) tags, set(int) si, set(float) sf, '
                'map(string, int) msi, map(int, string) mis, map(float, float) mff '
                'subspace name subspace age, score')
ALL = sorted(PEOPLE)
INF = float('inf')

# (predicate, the keys it matches): every predicate on every type it applies to.
SEARCH_CASES = [
    # nothing, or the key
    ({}, ALL),
    ({'k': 'cy'}, ['cy']),
    ({'k': 'nobody'}, []),
    ({'k': ('b', 'd')}, ['bob', 'cy']),
    ({'k': H.Range('ada', 'bob')}, ['ada', 'bob']),
    ({'k': H.LessEqual('bob')}, ['ada', 'bob']),
    ({'k': H.GreaterEqual('d')}, ['dee', 'eve']),
    ({'k': H.Regex('^d')}, ['dee']),
    ({'k': H.Regex('e')}, ['dee', 'eve']),
    ({'k': H.LengthEquals(2)}, ['cy']),
    ({'k': 'ada', 'age': 17}, []),
    # string
    ({'name': 'Bob'}, ['bob']),
    ({'name': 'bob'}, []),
    ({'name': 'Zoe'}, []),
    ({'name': H.LessEqual('Bob')}, ['ada', 'bob']),
    ({'name': H.GreaterEqual('Cz')}, ['dee', 'eve']),
    ({'name': ('B', 'D')}, ['bob', 'cy']),
    ({'name': H.Range('Ada', 'Cy')}, ['ada', 'bob', 'cy']),
    ({'name': H.Regex('^D')}, ['dee']),
    ({'name': H.Regex('e$')}, ['dee', 'eve']),
    ({'name': H.Regex('^.o')}, ['bob']),
    ({'name': H.Regex('d')}, ['ada']),                 # unanchored
    ({'name': H.Regex('^A.a$')}, ['ada']),
    ({'name': H.Regex('^E.*e$')}, ['eve']),
    ({'name': H.Regex('^C*y')}, ['cy']),                # C* then y, at the start
    ({'name': H.Regex('^x*A')}, ['ada']),               # zero repetitions
    ({'name': H.Regex('^[AB]')}, []),                  # no classes: '[' is a literal
    ({'name': H.Regex('')}, ALL),
    ({'name': H.LengthEquals(2)}, ['cy']),
    ({'name': H.LengthLessEqual(2)}, ['cy']),
    ({'name': H.LengthGreaterEqual(3)}, ['ada', 'bob', 'dee', 'eve']),
    # int
    ({'age': 17}, ['bob', 'dee']),
    ({'age': 18}, []),
    ({'age': (18, 60)}, ['ada', 'cy']),
    ({'age': H.LessEqual(17)}, ['bob', 'dee', 'eve']),
    ({'age': H.GreaterEqual(36)}, ['ada', 'cy']),
    ({'age': H.Range(-5, -5)}, ['eve']),
    ({'age': H.LessEqual(-6)}, []),
    ({'age': (-2 ** 63, 2 ** 63 - 1)}, ALL),
    ({'age': [H.GreaterEqual(0), H.LessEqual(40), 17]}, ['bob', 'dee']),
    # float
    ({'score': 8.0}, ['dee']),
    ({'score': H.LessEqual(7.25)}, ['bob', 'cy', 'eve']),
    ({'score': H.GreaterEqual(8.0)}, ['ada', 'dee']),
    ({'score': (4.0, 8.0)}, ['bob', 'cy', 'dee']),
    ({'score': (-3.0, 0.0)}, ['eve']),
    ({'score': H.Range(-INF, INF)}, ALL),
    # list(string), list(int), list(float): a tuple whose length is not 2 is a list value
    ({'ls': ('x', 'y', 'z')}, ['ada']),
    ({'ls': ('y',)}, ['bob']),
    ({'ls': ()}, ['cy']),
    ({'ls': H.Contains('z')}, ['ada', 'eve']),
    ({'ls': H.LengthEquals(2)}, ['eve']),
    ({'ls': H.LengthLessEqual(1)}, ['bob', 'cy', 'dee']),
    ({'ls': H.LengthGreaterEqual(2)}, ['ada', 'eve']),
    ({'li': (1, 2, 3)}, ['ada']),
    ({'li': (3,)}, ['cy']),
    ({'li': H.Contains(3)}, ['ada', 'cy', 'eve']),
    ({'li': H.Contains(-1)}, ['eve']),
    ({'li': H.LengthEquals(0)}, ['bob']),
    ({'lf': (0.5,)}, ['ada', 'dee']),
    ({'lf': H.Contains(-1.0)}, ['bob']),
    ({'lf': H.Contains(0.0)}, ['eve']),
    ({'lf': H.LengthGreaterEqual(2)}, ['bob']),
    # set(string), set(int), set(float)
    ({'tags': {'code'}}, ['bob']),
    ({'tags': {'code', 'math'}}, ['ada']),
    ({'tags': set()}, ['cy']),
    ({'tags': frozenset(['art'])}, ['dee']),
    ({'tags': H.Contains('math')}, ['ada', 'eve']),
    ({'tags': H.Contains('nope')}, []),
    ({'tags': H.LengthEquals(1)}, ['bob', 'dee']),
    ({'tags': H.LengthLessEqual(1)}, ['bob', 'cy', 'dee']),
    ({'tags': H.LengthGreaterEqual(2)}, ['ada', 'eve']),
    ({'si': {1, 2}}, ['ada']),
    ({'si': H.Contains(2)}, ['ada', 'bob', 'eve']),
    ({'si': H.Contains(-7)}, ['eve']),
    ({'si': H.LengthEquals(0)}, ['cy']),
    ({'sf': {-1.0, 2.0}}, ['cy']),
    ({'sf': H.Contains(1.5)}, ['ada', 'dee']),
    ({'sf': H.LengthLessEqual(0)}, ['bob']),
    # maps: CONTAINS looks at the keys
    ({'msi': {'a': 1, 'b': 2}}, ['ada']),
    ({'msi': {'a': 7}}, ['dee']),
    ({'msi': {}}, ['cy']),
    ({'msi': H.Contains('a')}, ['ada', 'dee', 'eve']),
    ({'msi': H.Contains('b')}, ['ada', 'bob']),
    ({'msi': H.LengthEquals(2)}, ['ada', 'eve']),
    ({'mis': {1: 'one'}}, ['ada']),
    ({'mis': {-1: ''}}, ['eve']),
    ({'mis': H.Contains(1)}, ['ada', 'dee']),
    ({'mis': H.Contains(-1)}, ['eve']),
    ({'mis': H.LengthGreaterEqual(2)}, ['cy']),
    ({'mff': {1.5: 2.5}}, ['ada']),
    ({'mff': H.Contains(2.0)}, ['eve']),
    ({'mff': H.Contains(2.5)}, []),                     # a value, not a key
    ({'mff': H.LengthEquals(0)}, ['bob', 'dee']),
    ({'mff': H.LengthLessEqual(1)}, ['ada', 'bob', 'cy', 'dee']),
    # conjunctions
    ({'age': 17, 'score': (5.0, 10.0)}, ['dee']),
    ({'age': 17, 'score': 8.0}, ['dee']),             # one region of subspace (age, score)
    ({'tags': [H.Contains('art'), H.Contains('math')]}, ['eve']),
    ({'tags': H.Contains('code'), 'age': H.LessEqual(20)}, ['bob']),
    ({'name': H.GreaterEqual('B'), 'age': (0, 40), 'tags': H.LengthGreaterEqual(1)},
     ['bob', 'dee']),
    ({'msi': H.Contains('a'), 'si': H.Contains(2)}, ['ada', 'eve']),
]

# (predicate, the attribute the error names): refused at call time with WRONGTYPE.
WRONGTYPE_CASES = [
    ({'age': 'x'}, 'age'),
    ({'score': 8}, 'score'),                   # no int-to-float coercion
    ({'k': 5}, 'k'),
    ({'name': H.Contains('A')}, 'name'),
    ({'age': H.Regex('1')}, 'age'),
    ({'score': H.Regex('1')}, 'score'),
    ({'tags': H.Regex('a')}, 'tags'),
    ({'age': H.LengthEquals(1)}, 'age'),
    ({'score': H.LengthGreaterEqual(1)}, 'score'),
    ({'tags': H.LessEqual('a')}, 'tags'),
    ({'mff': H.GreaterEqual(1.0)}, 'mff'),
    ({'tags': H.Contains(1)}, 'tags'),
    ({'msi': H.Contains(1)}, 'msi'),
    ({'mis': H.Contains('1')}, 'mis'),
    ({'li': ('a',)}, 'li'),
    ({'msi': {'a': 'x'}}, 'msi'),
    ({'ls': ('a', 'b')}, 'ls'),                # a 2-tuple is always a range
    ({'lf': (2.5, -1.0)}, 'lf'),
    ({'age': (1, 2), 'tags': H.LessEqual('a')}, 'tags'),     # check 2 of 3
    ({'age': 17, 'name': H.Regex('x'), 'score': 1}, 'score'),
]

# Checks whose ranges on one attribute cannot overlap: refused with INTERNAL.
EMPTY_RANGE_CASES = [
    {'age': (40, 30)},
    {'age': [H.GreaterEqual(10), H.LessEqual(5)]},
    {'age': [17, 36]},
    {'score': (1.0, 0.5)},
    {'name': ('Z', 'A')},
    {'k': ('b', 'a')},
]


def keys_of(results, key='k'):
    return sorted(r[key] for r in results)


def described_regions(text):
    """The number of regions a search_describe text says the search reads."""
    m = re.search(r'(\d+) region', text)
    if m is None:
        raise AssertionError('search_describe does not give a region count: %r' % text)
    return int(m.group(1))


class TestSearch(LiveTestCase):
    spaces = {'sp': SEARCH_SPACE,
              'big': 'key int id attributes int v, float f, string s subspace v',
              'uni': 'key k attributes string s, list(string) ls',
              'blank': 'key k attributes string s, int n, float f, list(int) li, '
                       'set(string) ss, map(string, int) m',
              'moves': 'key k attributes string name, int n subspace name subspace n'}
    BIG = 300

    @classmethod
    def setUpClass(cls):
        LiveTestCase.setUpClass.__func__(cls)
        for k, v in PEOPLE.items():
            cls.c.put(cls.sp, k, v)
        ds = [cls.c.async_put(cls.big, i, cls.big_object(i)) for i in range(cls.BIG)]
        for d in ds:
            d.wait()

    def setUp(self):
        # A group_del that a faulty server did not refuse would delete these:
        # put them back so that such a failure stays in its own test.
        for k, v in PEOPLE.items():
            self.c.put(self.sp, k, v)

    @staticmethod
    def big_object(i):
        v = (i * 7919) % 1000 - 500          # distinct for i < 1000, half negative
        return {'v': v, 'f': v / 4.0, 's': str(v)}

    def search(self, pred, space=None):
        """The keys of a search, sorted; also checks count agrees."""
        space = self.sp if space is None else space
        res = list(self.call('search', space, pred))
        keys = keys_of(res)
        self.assertEqual(len(keys), len(set(keys)), 'an object came back twice')
        self.assertEqual(self.call('count', space, pred), len(keys))
        return keys

    # -- search -------------------------------------------------------------

    def test_search_all_includes_key_in_schema_order(self):
        res = sorted(self.call('search', self.sp, {}), key=lambda r: r['k'])
        self.assertEqual([r['k'] for r in res], ALL)
        for r in res:
            self.assertEqual(list(r), SEARCH_ATTRS)
            self.assertEqual(r, dict(k=r['k'], **PEOPLE[r['k']]))
        self.assertEqual(self.c._pending, {})

    def test_every_predicate(self):
        for pred, keys in SEARCH_CASES:
            with self.subTest(pred=pred):
                self.assertEqual(self.search(pred), keys)

    def test_search_is_a_lazy_iterator(self):
        s = self.call('search', self.sp, {'k': 'ada'})
        self.assertIsInstance(s, H.Search)
        self.assertIs(iter(s), s)
        self.assertEqual(next(s), dict(k='ada', **PEOPLE['ada']))
        for _ in range(2):
            with self.assertRaises(StopIteration):
                next(s)
        self.assertEqual(self.c._pending, {})

    def test_interleaved_searches_and_key_ops(self):
        s1 = self.call('search', self.sp, {})
        s2 = self.call('search', self.sp, {'age': 17})
        got1, got2 = [], []
        for r in s1:
            got1.append(r['k'])
            self.assertEqual(self.c.get(self.sp, r['k'])['name'], PEOPLE[r['k']]['name'])
            other = next(s2, None)         # the two searches take turns
            if other is not None:
                got2.append(other['k'])
        got2.extend(r['k'] for r in s2)
        self.assertEqual(sorted(got1), ALL)
        self.assertEqual(sorted(got2), ['bob', 'dee'])
        self.assertEqual(self.c._pending, {})

    def test_abandoned_search(self):
        s = self.call('search', self.big, {})
        first = next(s)
        del s                  # the client still routes its results, then drops it
        self.assertEqual(self.c.get(self.big, first['id'])['v'], first['v'])
        while self.c._pending:
            self.c.loop()
        self.assertEqual(self.call('count', self.big, {}), self.BIG)

    def test_many_objects(self):
        res = list(self.call('search', self.big, {}))
        self.assertEqual(sorted(r['id'] for r in res), list(range(self.BIG)))
        for r in res:
            self.assertEqual(r, dict(id=r['id'], **self.big_object(r['id'])))
        # Key operations while a large search streams in.
        s = self.call('search', self.big, {})
        n = 0
        for r in s:
            n += 1
            if n % 25 == 0:
                self.assertEqual(self.c.get(self.big, r['id'])['v'], r['v'])
        self.assertEqual(n, self.BIG)
        self.assertEqual(self.call('count', self.big, {}), self.BIG)

    def test_int_ranges_and_int_keys(self):
        objs = {i: self.big_object(i) for i in range(self.BIG)}
        cases = [({'v': (-100, 100)}, [i for i, o in objs.items() if -100 <= o['v'] <= 100]),
                 ({'v': H.LessEqual(-450)}, [i for i, o in objs.items() if o['v'] <= -450]),
                 ({'f': H.GreaterEqual(100.0)}, [i for i, o in objs.items() if o['f'] >= 100]),
                 ({'v': objs[7]['v']}, [7]),
                 ({'s': objs[8]['s']}, [8]),
                 ({'s': H.Regex('^-1.5$')}, [i for i, o in objs.items()
                                              if re.match(r'^-1.5$', o['s'])]),
                 ({'id': (10, 19)}, list(range(10, 20))),
                 ({'id': 7}, [7]),
                 ({'id': H.LessEqual(-1)}, []),
                 ({'id': H.GreaterEqual(self.BIG - 3)}, list(range(self.BIG - 3, self.BIG))),
                 ({'id': (5, 50), 'v': H.GreaterEqual(0)},
                  [i for i in range(5, 51) if objs[i]['v'] >= 0])]
        for pred, ids in cases:
            with self.subTest(pred=pred):
                res = list(self.call('search', self.big, pred))
                self.assertEqual(sorted(r['id'] for r in res), sorted(ids))
                self.assertEqual(self.call('count', self.big, pred), len(ids))

    def test_unset_attributes_read_as_defaults(self):
        self.c.put(self.blank, 'empty', {})
        self.c.put(self.blank, 'full', {'s': 'x', 'n': 1, 'f': 1.0, 'li': [1],
                                        'ss': {'a'}, 'm': {'a': 1}})
        cases = [({'s': ''}, ['empty']), ({'n': 0}, ['empty']), ({'f': 0.0}, ['empty']),
                 ({'n': H.LessEqual(0)}, ['empty']), ({'n': (0, 1)}, ['empty', 'full']),
                 ({'f': H.GreaterEqual(0.5)}, ['full']), ({'li': ()}, ['empty']),
                 ({'ss': set()}, ['empty']), ({'m': {}}, ['empty']),
                 ({'s': H.LengthEquals(0)}, ['empty']), ({'li': H.LengthEquals(0)}, ['empty']),
                 ({'ss': H.Contains('a')}, ['full']), ({'s': H.Regex('')}, ['empty', 'full']),
                 ({}, ['empty', 'full'])]
        for pred, keys in cases:
            with self.subTest(pred=pred):
                self.assertEqual(self.search(pred, self.blank), keys)
        res = list(self.call('search', self.blank, {'k': 'empty'}))
        self.assertEqual(res, [{'k': 'empty', 's': '', 'n': 0, 'f': 0.0, 'li': [],
                                'ss': set(), 'm': {}}])

    def test_str_and_bytes(self):
        sp = self.sp.encode('utf-8')
        res = list(self.call('search', sp, {b'name': b'Bob'}))
        self.assertEqual(res, [dict(k='bob', **PEOPLE['bob'])])
        self.assertIsInstance(res[0]['name'], str)
        self.assertIsInstance(list(res[0])[0], str)
        for pred, keys in (({'name': H.Regex(b'^B')}, ['bob']),
                           ({'name': H.Range(b'Bob', 'Cy')}, ['bob', 'cy']),
                           ({'name': (b'A', b'C')}, ['ada', 'bob']),
                           ({b'tags': H.Contains(b'code')}, ['ada', 'bob']),
                           ({'tags': {b'code'}}, ['bob']),
                           ({'k': b'eve'}, ['eve']),
                           ({'msi': {b'a': 7}}, ['dee'])):
            with self.subTest(pred=pred):
                self.assertEqual(self.search(pred, sp), keys)
        s = self.call('sorted_search', sp, {b'age': 17}, b'score', 5, b'max')
        self.assertEqual([r['k'] for r in s], ['dee', 'bob'])
        self.assertEqual(self.call('count', sp, {'name': b'Ada'}), 1)
        self.assertIsInstance(self.call('search_describe', sp, {b'k': b'ada'}), str)

    def test_utf8_and_other_bytes(self):
        self.c.put(self.uni, 'u1', {'s': 'J\u00f3hn', 'ls': ['\u00e9']})
        self.c.put(self.uni, 'u2', {'s': b'\xff\xfe', 'ls': [b'\xff']})
        self.c.put(self.uni, 'u3', {'s': 'J\u00f3hn'.encode('utf-8')})
        self.c.put(self.uni, b'\x80k', {'s': 'plain text'})
        self.assertEqual(self.search({'s': 'J\u00f3hn'}, self.uni), ['u1', 'u3'])
        self.assertEqual(self.search({'s': H.Regex('^J\u00f3')}, self.uni), ['u1', 'u3'])
        # Lengths count bytes: 'Jóhn' is 5 bytes of UTF-8.
        self.assertEqual(self.search({'s': H.LengthEquals(5)}, self.uni), ['u1', 'u3'])
        self.assertEqual(self.search({'ls': H.Contains('\u00e9')}, self.uni), ['u1'])
        res = list(self.call('search', self.uni, {'s': b'\xff\xfe'}))
        self.assertEqual(res, [{'k': 'u2', 's': b'\xff\xfe', 'ls': [b'\xff']}])
        res = list(self.call('search', self.uni, {'s': 'plain text'}))
        self.assertEqual(res, [{'k': b'\x80k', 's': 'plain text', 'ls': []}])
        self.assertEqual(self.c.count(self.uni, {'ls': H.Contains(b'\xff')}), 1)

    def test_updates_move_between_regions(self):
        # Every acknowledged write is seen by a later search, through whichever
        # subspace the search uses, and the old values are no longer found.
        def n(i):      # spread over the whole int64 range, so over every region
            return (i * 0x9E3779B97F4A7C15) % (1 << 64) - (1 << 63)
        for i in range(1, 31):
            self.c.put(self.moves, 'm', {'name': 'n%d' % i, 'n': n(i)})
            with self.subTest(i=i):
                self.assertEqual(self.search({'name': 'n%d' % i}, self.moves), ['m'])
                self.assertEqual(self.search({'n': n(i)}, self.moves), ['m'])
                self.assertEqual(self.search({'n': (n(i) - 1, n(i)), 'name': 'n%d' % i},
                                             self.moves), ['m'])
                if i > 1:
                    self.assertEqual(self.search({'name': 'n%d' % (i - 1)}, self.moves), [])
                    self.assertEqual(self.search({'n': n(i - 1)}, self.moves), [])
        self.assertIs(self.c.delete(self.moves, 'm'), True)
        self.assertEqual(self.search({'name': 'n30'}, self.moves), [])
        self.assertEqual(self.search({}, self.moves), [])

    # -- sorted_search ------------------------------------------------------

    def sorted_keys(self, *args, space=None):
        s = self.call('sorted_search', self.sp if space is None else space, *args)
        self.assertIsInstance(s, H.SortedSearch)
        return [r['k'] for r in s]

    def test_sorted_search_order_and_limits(self):
        self.assertEqual(self.sorted_keys({}, 'score', 3, 'max'), ['ada', 'dee', 'cy'])
        self.assertEqual(self.sorted_keys({}, 'score', 2, 'min'), ['eve', 'bob'])
        self.assertEqual(self.sorted_keys({}, 'score', 5, 'maximize'),
                         ['ada', 'dee', 'cy', 'bob', 'eve'])
        self.assertEqual(self.sorted_keys({}, 'score', 2 ** 64 - 1, 'minimize'),
                         ['eve', 'bob', 'cy', 'dee', 'ada'])
        self.assertEqual(self.sorted_keys({}, 'score', 1, 'max'), ['ada'])
        self.assertEqual(self.sorted_keys({}, 'name', 10, 'min'), ALL)     # bytewise
        self.assertEqual(self.sorted_keys({}, 'k', 2, 'max'), ['eve', 'dee'])
        self.assertEqual(self.sorted_keys({'tags': H.LengthGreaterEqual(1)}, 'score', 10,
                                          'max'), ['ada', 'dee', 'bob', 'eve'])
        self.assertEqual(self.sorted_keys({'name': 'Nobody'}, 'score', 10, 'max'), [])
        res = list(self.call('sorted_search', self.sp, {'k': 'cy'}, 'age', 1, 'min'))
        self.assertEqual(res, [dict(k='cy', **PEOPLE['cy'])])
        self.assertEqual(list(res[0]), SEARCH_ATTRS)
        self.assertEqual(self.c._pending, {})

    def test_sorted_search_limit_zero(self):
        for pred in ({}, {'k': 'ada'}, {'age': 17}):
            s = self.call('sorted_search', self.sp, pred, 'age', 0, 'max')
            self.assertEqual(list(s), [])
        self.assertEqual(self.c._pending, {})

    def test_sorted_search_ties(self):
        ages = [r['age'] for r in self.call('sorted_search', self.sp, {'age': (0, 40)},
                                            'age', 10, 'min')]
        self.assertEqual(ages, [17, 17, 36])
        ks = self.sorted_keys({}, 'age', 5, 'max')
        self.assertEqual(ks[:2], ['cy', 'ada'])
        self.assertEqual(sorted(ks[2:4]), ['bob', 'dee'])
        self.assertEqual(ks[4], 'eve')
        # The limit cuts between two equal values: either may come back.
        ks = self.sorted_keys({}, 'age', 2, 'min')
        self.assertEqual(ks[0], 'eve')
        self.assertIn(ks[1], ('bob', 'dee'))
        ks = self.sorted_keys({'age': 17}, 'age', 1, 'max')
        self.assertEqual(len(ks), 1)
        self.assertIn(ks[0], ('bob', 'dee'))

    def test_sorted_search_across_regions(self):
        objs = [dict(id=i, **self.big_object(i)) for i in range(self.BIG)]
        for attr, limit, compare in (('v', 10, 'max'), ('v', 7, 'min'), ('f', 12, 'min'),
                                     ('f', 3, 'max'), ('s', 9, 'max'), ('s', 4, 'min'),
                                     ('id', 4, 'max'), ('id', 5, 'min'),
                                     ('v', self.BIG + 5, 'max')):
            with self.subTest(attr=attr, limit=limit, compare=compare):
                want = sorted(objs, key=lambda o: o[attr], reverse=compare == 'max')[:limit]
                got = list(self.call('sorted_search', self.big, {}, attr, limit, compare))
                self.assertEqual(got, want)
        pred = {'v': (-200, 200)}
        want = sorted((o for o in objs if -200 <= o['v'] <= 200), key=lambda o: -o['f'])[:6]
        self.assertEqual(list(self.call('sorted_search', self.big, pred, 'f', 6, 'max')), want)

    def test_sorted_search_bad_arguments(self):
        for compare in ('largest', 'MAX', '', None):
            with self.assertRaises(ValueError):
                self.c.sorted_search(self.sp, {}, 'age', 1, compare)
        with self.assertRaises(ValueError):
            self.c.sorted_search(self.sp, {}, 'age', -1, 'max')
        e = self.assertStatus('HYPERCLIENT_UNKNOWNATTR', 'sorted_search', self.sp, {},
                              'nope', 1, 'max')
        self.assertEqual(e.attr, 'nope')
        for attr in ('tags', 'ls', 'msi'):
            e = self.assertStatus('HYPERCLIENT_WRONGTYPE', 'sorted_search', self.sp, {},
                                  attr, 1, 'max')
            self.assertEqual(e.attr, attr)
        # sort_by is reported after the checks (-1 - checks_sz).
        e = self.assertStatus('HYPERCLIENT_WRONGTYPE', 'sorted_search', self.sp,
                              {'age': (0, 100), 'name': 'Ada'}, b'li', 1, 'min')
        self.assertEqual(e.attr, 'li')
        e = self.assertStatus('HYPERCLIENT_UNKNOWNATTR', 'sorted_search', self.sp,
                              {'age': 1, 'nope': 2}, 'age', 1, 'min')
        self.assertEqual(e.attr, 'nope')
        self.assertEqual(self.c._pending, {})

    # -- count, search_describe ---------------------------------------------

    def test_count(self):
        self.assertEqual(self.call('count', self.sp, {}), len(PEOPLE))
        self.assertEqual(self.call('count', self.sp, {'age': 17}), 2)
        self.assertEqual(self.call('count', self.sp, {'age': 17}, True), 2)
        self.assertEqual(self.call('count', self.sp, {'name': H.Regex('^Q')}), 0)
        d = self.call('async_count', self.sp, {'k': 'ada'})
        self.assertIsInstance(d, H.DeferredCount)
        self.assertEqual(d.wait(), 1)
        self.assertEqual(d.wait(), 1)
        ds = [self.call('async_count', self.sp, {'tags': H.LengthEquals(n)}) for n in range(4)]
        self.assertEqual([d.wait() for d in ds], [1, 2, 1, 1])
        self.assertEqual(self.c._pending, {})

    def test_search_describe(self):
        text = self.call('search_describe', self.sp, {'age': 17})
        self.assertIsInstance(text, str)
        self.assertEqual(text, text.strip())
        self.assertIn('subspace', text)
        self.assertIn('region', text)
        d = self.call('async_search_describe', self.sp, {})
        self.assertIsInstance(d, H.DeferredSearchDescribe)
        everything = d.wait()
        self.assertIn('region', everything)
        # Equality on the key, or on every attribute of a subspace, reads one
        # region; no predicate reads every region of some subspace.
        self.assertGreater(described_regions(everything), 1)
        for pred in ({'k': 'ada'}, {'name': 'Ada'}, {'age': 36, 'score': 9.5}):
            with self.subTest(pred=pred):
                self.assertEqual(described_regions(self.call('search_describe', self.sp,
                                                             pred, True)), 1)
        self.assertEqual(self.c._pending, {})

    # -- group_del ----------------------------------------------------------

    def test_group_del(self):
        name = unique('gd')
        self.c.add_space('space %s key k attributes int v, string tag subspace tag %s'
                         % (name, SPACE_OPTS))
        try:
            for i in range(20):
                self.c.put(name, 'g%02d' % i, {'v': i, 'tag': ('even', 'odd')[i % 2]})
            self.assertIs(self.call('group_del', name, {'v': (0, 9)}), True)
            self.assertEqual(self.search({}, name), ['g%02d' % i for i in range(10, 20)])
            self.assertIsNone(self.c.get(name, 'g03'))
            self.assertEqual(self.c.get(name, 'g13'), {'v': 13, 'tag': 'odd'})
            # Through the tag subspace, with bytes.
            d = self.call('async_group_del', name.encode('utf-8'), {b'tag': b'even'})
            self.assertIsInstance(d, H.DeferredGroupDel)
            self.assertIs(d.wait(), True)
            self.assertEqual(self.search({}, name), ['g%02d' % i for i in range(11, 20, 2)])
            self.assertEqual(self.search({'tag': 'odd'}, name),
                             ['g%02d' % i for i in range(11, 20, 2)])
            # Nothing matches: nothing changes.
            self.assertIs(self.call('group_del', name, {'v': 1000}), True)
            self.assertEqual(self.call('count', name, {}), 5)
            # A deleted key can be created again.
            self.assertIs(self.c.put_if_not_exist(name, 'g00', {'v': 0}), True)
            self.assertEqual(self.search({'v': H.LessEqual(10)}, name), ['g00'])
            self.assertIs(self.call('group_del', name, {}), True)
            self.assertEqual(self.search({}, name), [])
            self.assertEqual(self.c._pending, {})
        finally:
            self.c.rm_space(name)

    def test_group_del_many(self):
        name = unique('gdm')
        self.c.add_space('space %s key int k attributes int v %s' % (name, SPACE_OPTS))
        try:
            ds = [self.c.async_put(name, i, {'v': i % 10}) for i in range(500)]
            self.assertTrue(all(d.wait() is True for d in ds))
            self.assertIs(self.call('group_del', name, {'v': H.LessEqual(4)}), True)
            left = sorted(r['k'] for r in self.call('search', name, {}))
            self.assertEqual(left, [i for i in range(500) if i % 10 >= 5])
            self.assertEqual(self.call('count', name, {'v': (0, 4)}), 0)
        finally:
            self.c.rm_space(name)

    # -- errors at call time ------------------------------------------------

    SEARCH_OPS = (('search', ()), ('sorted_search', ('age', 3, 'max')), ('count', ()),
                  ('group_del', ()), ('search_describe', ()), ('async_count', ()),
                  ('async_group_del', ()), ('async_search_describe', ()))

    def test_unknown_attribute_is_named(self):
        for method, extra in self.SEARCH_OPS:
            for pred, attr in (({'age': 1, 'nope': 2}, 'nope'),
                               ({b'colour': 'red'}, 'colour'),
                               ({'age': (1, 5), 'name': 'x', 'zz': H.Regex('a')}, 'zz')):
                with self.subTest(method=method, pred=pred):
                    e = self.assertStatus('HYPERCLIENT_UNKNOWNATTR', method, self.sp, pred,
                                          *extra)
                    self.assertEqual(e.attr, attr)
                    self.assertEqual(str(e), 'HyperClient(HYPERCLIENT_UNKNOWNATTR, '
                                             'Unknown attribute "%s")' % attr)
        self.assertEqual(self.c._pending, {})
        self.assertEqual(self.search({}), ALL)      # group_del deleted nothing

    def test_wrong_type_is_named(self):
        for method, extra in self.SEARCH_OPS:
            for pred, attr in WRONGTYPE_CASES:
                with self.subTest(method=method, pred=pred):
                    e = self.assertStatus('HYPERCLIENT_WRONGTYPE', method, self.sp, pred,
                                          *extra)
                    self.assertEqual(e.attr, attr)
        self.assertEqual(self.c._pending, {})
        self.assertEqual(self.search({}), ALL)

    def test_unknown_space(self):
        for method, extra in self.SEARCH_OPS:
            with self.subTest(method=method):
                e = self.assertStatus('HYPERCLIENT_UNKNOWNSPACE', method, unique('no'), {},
                                      *extra)
                self.assertIsNone(e.attr)
        self.assertEqual(self.c._pending, {})

    def test_empty_ranges_are_refused(self):
        for method, extra in self.SEARCH_OPS:
            for pred in EMPTY_RANGE_CASES:
                with self.subTest(method=method, pred=pred):
                    self.assertStatus('HYPERCLIENT_INTERNAL', method, self.sp, pred, *extra)
        self.assertEqual(self.c._pending, {})
        self.assertEqual(self.search({}), ALL)

    def test_python_side_errors(self):
        with self.assertRaises(AttributeError):
            H.Range(1, 'a')
        with self.assertRaises(AttributeError):
            H.Regex(5)
        with self.assertRaises(AttributeError):
            H.LengthEquals('1')
        for method, extra in self.SEARCH_OPS:
            with self.subTest(method=method):
                with self.assertRaises(TypeError):
                    self.call(method, self.sp, {'age': None}, *extra)
                with self.assertRaises(OverflowError):
                    self.call(method, self.sp, {'age': 2 ** 63}, *extra)
                with self.assertRaises(TypeError):
                    self.call(method, self.sp, [('age', 1)], *extra)
                with self.assertRaisesRegex(TypeError, 'heterogeneous'):
                    self.call(method, self.sp, {'li': (1, 'a', 2)}, *extra)
        self.assertEqual(self.c._pending, {})
        self.assertEqual(self.search({}), ALL)


if __name__ == '__main__':
    unittest.main()
