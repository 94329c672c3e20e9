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


@unittest.skip('search, sorted_search, count, group_del and search_describe are not implemented '
               'yet (the search issue); these tests are ready for them')
class TestSearch(LiveTestCase):
    spaces = {'sp': 'key k attributes string name, int age, float score, set(string) tags'}

    @classmethod
    def setUpClass(cls):
        LiveTestCase.setUpClass.__func__(cls)
        cls.people = {
            'ada': {'name': 'Ada', 'age': 36, 'score': 9.5, 'tags': {'math', 'code'}},
            'bob': {'name': 'Bob', 'age': 17, 'score': 4.0, 'tags': {'code'}},
            'cy': {'name': 'Cy', 'age': 52, 'score': 7.25, 'tags': set()},
            'dee': {'name': 'Dee', 'age': 17, 'score': 8.0, 'tags': {'art'}},
        }
        for k, v in cls.people.items():
            cls.c.put(cls.sp, k, v)

    def search(self, pred):
        res = list(self.call('search', self.sp, pred))
        return sorted(res, key=lambda r: r['k'])

    def test_search_all_includes_key(self):
        res = self.search({})
        self.assertEqual([r['k'] for r in res], ['ada', 'bob', 'cy', 'dee'])
        self.assertEqual(list(res[0]), ['k', 'name', 'age', 'score', 'tags'])
        self.assertEqual(res[0], dict(k='ada', **self.people['ada']))

    def test_search_predicates(self):
        cases = [({'age': 17}, ['bob', 'dee']), ({'age': (18, 60)}, ['ada', 'cy']),
                 ({'age': H.LessEqual(36)}, ['ada', 'bob', 'dee']),
                 ({'score': H.GreaterEqual(8.0)}, ['ada', 'dee']),
                 ({'name': ('B', 'D')}, ['bob', 'cy']),
                 ({'name': H.Regex('^[AB]')}, []), ({'name': H.Regex('e$')}, ['dee']),
                 ({'tags': H.Contains('code')}, ['ada', 'bob']),
                 ({'tags': H.LengthGreaterEqual(1)}, ['ada', 'bob', 'dee']),
                 ({'tags': H.LengthEquals(0)}, ['cy']), ({'k': 'cy'}, ['cy']),
                 ({'age': 17, 'score': (5.0, 10.0)}, ['dee'])]
        for pred, keys in cases:
            with self.subTest(pred=pred):
                self.assertEqual([r['k'] for r in self.search(pred)], keys)

    def test_search_is_a_search_iterator(self):
        s = self.call('search', self.sp, {'k': 'ada'})
        self.assertIsInstance(s, H.Search)
        self.assertEqual(next(s)['k'], 'ada')
        with self.assertRaises(StopIteration):
            next(s)

    def test_search_errors(self):
        e = self.assertStatus('HYPERCLIENT_UNKNOWNATTR', 'search', self.sp,
                              {'age': 1, 'nope': 2})
        self.assertEqual(e.attr, 'nope')
        self.assertStatus('HYPERCLIENT_UNKNOWNSPACE', 'search', unique('no'), {})
        e = self.assertStatus('HYPERCLIENT_WRONGTYPE', 'search', self.sp,
                              {'name': H.LengthEquals(1), 'age': 'x'})
        self.assertEqual(e.attr, 'age')

    def test_sorted_search(self):
        s = self.call('sorted_search', self.sp, {}, 'score', 3, 'max')
        self.assertIsInstance(s, H.SortedSearch)
        self.assertEqual([r['k'] for r in s], ['ada', 'dee', 'cy'])
        s = self.call('sorted_search', self.sp, {'age': (0, 40)}, 'age', 10, 'minimize')
        self.assertEqual([r['age'] for r in s], [17, 17, 36])
        self.assertEqual(list(self.call('sorted_search', self.sp, {}, 'k', 0, 'min')), [])
        with self.assertRaises(ValueError):
            self.c.sorted_search(self.sp, {}, 'age', 1, 'largest')
        e = self.assertStatus('HYPERCLIENT_UNKNOWNATTR', 'sorted_search', self.sp, {},
                              'nope', 1, 'max')
        self.assertEqual(e.attr, 'nope')
        e = self.assertStatus('HYPERCLIENT_WRONGTYPE', 'sorted_search', self.sp, {},
                              'tags', 1, 'max')
        self.assertEqual(e.attr, 'tags')

    def test_count(self):
        self.assertEqual(self.call('count', self.sp, {}), 4)
        self.assertEqual(self.call('count', self.sp, {'age': 17}), 2)
        self.assertEqual(self.call('count', self.sp, {'age': 17}, True), 2)
        d = self.call('async_count', self.sp, {'k': 'ada'})
        self.assertIsInstance(d, H.DeferredCount)
        self.assertEqual(d.wait(), 1)

    def test_search_describe(self):
        text = self.call('search_describe', self.sp, {'age': 17})
        if text is not None:
            self.assertIsInstance(text, str)
            self.assertEqual(text, text.strip())

    def test_group_del(self):
        name = unique('gd')
        self.c.add_space('space %s key k attributes int v %s' % (name, SPACE_OPTS))
        try:
            for i in range(10):
                self.c.put(name, 'g%d' % i, {'v': i})
            d = self.call('async_group_del', name, {'v': (0, 4)})
            self.assertIsInstance(d, H.DeferredGroupDel)
            self.assertIs(d.wait(), True)
            self.assertEqual(sorted(r['k'] for r in self.c.search(name, {})),
                             ['g%d' % i for i in range(5, 10)])
        finally:
            self.c.rm_space(name)


if __name__ == '__main__':
    unittest.main()
