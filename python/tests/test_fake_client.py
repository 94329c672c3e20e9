"""The Client/Deferred/loop machinery against an in-process fake library.

No cluster and no libhyperclient.so are needed: tests/fakelib.py provides the
C functions as ctypes callbacks.  The live behaviour is in test_client.py.
"""

import gc
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
# The checkout's package, unless one is importable already (PYTHONPATH wins).
sys.path.append(os.path.join(HERE, os.pardir))
sys.path.insert(0, HERE)

import hyperclient  # noqa: E402
from hyperclient import _lib  # noqa: E402
import fakelib  # noqa: E402

H = hyperclient


class FakeTestCase(unittest.TestCase):
    lifo = False

    def setUp(self):
        self.fake = fakelib.FakeHyperClient(lifo=self.lifo)
        self._saved = _lib._library
        _lib._library = _lib.Library(self.fake, '<fake>')
        self.c = H.Client('127.0.0.1', 1)
        self.c.add_space('space kv key k attributes string s, int n, set(string) f, '
                         'map(string,int64) m, float x')

    def tearDown(self):
        _lib._library = self._saved

    def assertNoLiveArrays(self):
        self.assertEqual(self.fake.live, {})
        self.assertEqual(self.fake.freed_unknown, 0)

    def assertRaisesStatus(self, status, fn, *args):
        with self.assertRaises(H.HyperClientException) as cm:
            fn(*args)
        self.assertEqual(cm.exception.status(), status, str(cm.exception))
        return cm.exception


class TestKeyOps(FakeTestCase):

    def test_put_get_defaults_and_order(self):
        self.assertIs(self.c.put('kv', 'a', {'s': 'x\u00e9', 'n': 5}), True)
        self.assertEqual(list(self.c.get('kv', 'a').items()),
                         [('s', 'x\u00e9'), ('n', 5), ('f', set()), ('m', {}), ('x', 0.0)])
        self.assertNoLiveArrays()

    def test_get_missing_is_none(self):
        self.assertIsNone(self.c.get('kv', 'nope'))

    def test_get_key_only_space(self):
        self.c.add_space('space ko key k')
        self.assertIs(self.c.put('ko', 'a', {}), True)
        self.assertEqual(self.c.get('ko', 'a'), {})
        self.assertNoLiveArrays()

    def test_return_values(self):
        self.assertIs(self.c.put_if_not_exist('kv', 'a', {'n': 1}), True)
        self.assertIs(self.c.put_if_not_exist('kv', 'a', {'n': 2}), False)
        self.assertIs(self.c.cond_put('kv', 'a', {'n': 2}, {'s': 'no'}), False)
        self.assertIs(self.c.cond_put('kv', 'a', {'n': 1}, {'s': 'yes'}), True)
        self.assertEqual(self.c.get('kv', 'a')['s'], 'yes')
        self.assertIs(self.c.delete('kv', 'a'), True)
        self.assertIs(self.c.delete('kv', 'a'), False)
        self.assertRaisesStatus(H.HYPERCLIENT_NOTFOUND, self.c.cond_put, 'kv', 'a',
                                {'n': 1}, {'s': 'z'})
        self.assertRaisesStatus(H.HYPERCLIENT_NOTFOUND, self.c.atomic_add, 'kv', 'a',
                                {'n': 1})

    def test_atomic_and_set_ops(self):
        self.c.put('kv', 'a', {'n': 2 ** 63 - 2})
        self.assertIs(self.c.atomic_add('kv', 'a', {'n': 1}), True)
        self.assertRaisesStatus(H.HYPERCLIENT_OVERFLOW, self.c.atomic_add, 'kv', 'a',
                                {'n': 1})
        self.assertEqual(self.c.get('kv', 'a')['n'], 2 ** 63 - 1)
        self.assertIs(self.c.set_add('kv', 'a', {'f': 'b'}), True)
        self.assertIs(self.c.set_add('kv', 'a', {'f': 'a'}), True)
        self.assertEqual(self.c.get('kv', 'a')['f'], {'a', 'b'})
        self.assertIs(self.c.map_add('kv', 'a', {'m': {'k': 1}}), True)
        self.assertIs(self.c.map_remove('kv', 'a', {'m': {'k': 'X'}}), True)
        self.assertIs(self.c.map_remove('kv', 'a', {'m': 'k'}), True)

    def test_missing_c_function(self):
        with self.assertRaisesRegex(NotImplementedError, 'hyperclient_string_append'):
            self.c.string_append('kv', 'a', {'s': 'x'})
        with self.assertRaisesRegex(NotImplementedError, 'hyperclient_cond_del'):
            self.c.async_cond_delete('kv', 'a', {'n': 1})
        self.assertIs(self.c.put('kv', 'a', {}), True)


class TestImmediateFailures(FakeTestCase):

    def test_raised_by_async_call_itself(self):
        e = self.assertRaisesStatus(H.HYPERCLIENT_UNKNOWNSPACE, self.c.async_put,
                                    'nospace', 'a', {'s': 'x'})
        self.assertIsNone(e.attr)
        self.assertEqual(self.c._pending, {})
        self.assertRaisesStatus(H.HYPERCLIENT_NONEPENDING, self.c.loop)

    def test_attribute_named_in_exception(self):
        e = self.assertRaisesStatus(H.HYPERCLIENT_UNKNOWNATTR, self.c.put, 'kv', 'a',
                                    {'s': 'x', 'nope': 1})
        self.assertEqual(e.attr, 'nope')
        self.assertEqual(str(e), 'HyperClient(HYPERCLIENT_UNKNOWNATTR, '
                                 'Unknown attribute "nope")')
        e = self.assertRaisesStatus(H.HYPERCLIENT_WRONGTYPE, self.c.put, 'kv', 'a',
                                    {'s': 'x', 'n': 1, 'x': 1})
        self.assertEqual(e.attr, 'x')
        e = self.assertRaisesStatus(H.HYPERCLIENT_DONTUSEKEY, self.c.put, 'kv', 'a',
                                    {'k': 'x'})
        self.assertEqual(e.attr, 'k')

    def test_offsets_skip_checks(self):
        self.c.put('kv', 'a', {})
        e = self.assertRaisesStatus(H.HYPERCLIENT_UNKNOWNATTR, self.c.cond_put, 'kv', 'a',
                                    {'n': 0, 'bad': 1}, {'s': 'x'})
        self.assertEqual(e.attr, 'bad')
        e = self.assertRaisesStatus(H.HYPERCLIENT_UNKNOWNATTR, self.c.cond_put, 'kv', 'a',
                                    {'n': 0, 's': ''}, {'s': 'x', 'zz': 1})
        self.assertEqual(e.attr, 'zz')

    def test_map_attr_offset(self):
        self.c.put('kv', 'a', {})
        e = self.assertRaisesStatus(H.HYPERCLIENT_WRONGTYPE, self.c.map_add, 'kv', 'a',
                                    {'m': {'k1': 1, 'k2': 'notint'}})
        self.assertEqual(e.attr, 'm')

    def test_python_side_errors_send_nothing(self):
        with self.assertRaises(TypeError):
            self.c.put('kv', 'a', {'f': {1, 'a'}})
        with self.assertRaises(OverflowError):
            self.c.put('kv', 'a', {'n': 2 ** 64})
        self.assertEqual(self.fake.events, type(self.fake.events)())


class TestAsync(FakeTestCase):
    lifo = True       # the fake completes operations newest first

    def test_deferred_repr_and_wait(self):
        d = self.c.async_put('kv', 'a', {'s': 'x'})
        self.assertRegex(repr(d), r'^<hyperclient\.DeferredFromAttrs object at 0x')
        self.assertIs(d.wait(), True)
        self.assertIs(d.wait(), True)          # same result again, no loop
        self.assertIsInstance(self.c.async_get('kv', 'a'), H.DeferredGet)
        self.assertIsInstance(self.c.async_delete('kv', 'a'), H.DeferredDelete)
        self.assertIsInstance(self.c.async_cond_put('kv', 'z', {}, {}), H.DeferredCondFromAttrs)
        self.assertIsInstance(self.c.async_map_add('kv', 'z', {'m': {'a': 1}}), H.DeferredMapOp)
        while self.c._pending:
            self.c.loop()

    def test_wait_completes_other_ops(self):
        d1 = self.c.async_put('kv', 'a', {'n': 1})
        d2 = self.c.async_put('kv', 'b', {'n': 2})
        d3 = self.c.async_get('kv', 'zzz')
        calls = self.fake.loop_calls
        self.assertIs(d1.wait(), True)          # LIFO: d3 and d2 complete first
        self.assertEqual(self.fake.loop_calls - calls, 3)
        self.assertIs(d2.wait(), True)
        self.assertIsNone(d3.wait())
        self.assertEqual(self.fake.loop_calls - calls, 3)
        self.assertEqual(self.c._pending, {})

    def test_loop_returns_each_deferred(self):
        for k in ('a', 'b', 'c'):
            self.c.put('kv', k, {'s': k.upper()})
        outstanding = set(self.c.async_get('kv', k) for k in ('a', 'b', 'c'))
        got = []
        while outstanding:
            d = self.c.loop()
            outstanding.remove(d)
            calls = self.fake.loop_calls
            got.append(d.wait()['s'])
            self.assertEqual(self.fake.loop_calls, calls)
        self.assertEqual(sorted(got), ['A', 'B', 'C'])
        self.assertNoLiveArrays()

    def test_dropped_deferreds_stay_pending(self):
        for i in range(50):
            _ = self.c.async_put('kv', 'k%d' % i, {'n': i})
        del _
        gc.collect()
        done = 0
        while True:
            try:
                d = self.c.loop()
            except H.HyperClientException as e:
                self.assertEqual(e.status(), H.HYPERCLIENT_NONEPENDING)
                break
            self.assertIs(d.wait(), True)
            done += 1
        self.assertEqual(done, 50)
        self.assertEqual(self.c.get('kv', 'k49')['n'], 49)

    def test_error_is_raised_by_wait_every_time(self):
        d = self.c.async_atomic_add('kv', 'missing', {'n': 1})
        for _ in range(2):
            with self.assertRaises(H.HyperClientException) as cm:
                d.wait()
            self.assertEqual(cm.exception.symbol(), 'HYPERCLIENT_NOTFOUND')


class TestSearch(FakeTestCase):

    def setUp(self):
        FakeTestCase.setUp(self)
        for k in ('a', 'b', 'c'):
            self.c.put('kv', k, {'n': ord(k)})

    def test_search_yields_dicts_with_key(self):
        s = self.c.search('kv', {})
        self.assertIsInstance(s, H.Search)
        self.assertIs(iter(s), s)
        res = list(s)
        self.assertEqual(sorted(r['k'] for r in res), ['a', 'b', 'c'])
        self.assertEqual(list(res[0].keys()), ['k', 's', 'n', 'f', 'm', 'x'])
        self.assertNoLiveArrays()
        self.assertEqual(self.c._pending, {})

    def test_results_queued_by_other_waits_keep_their_order(self):
        s = self.c.search('kv', {})
        d = self.c.async_get('kv', 'a')     # completes after every search event
        self.assertEqual(d.wait()['n'], ord('a'))
        self.assertEqual(len(s._queue), 3)
        self.assertEqual([r['k'] for r in s], ['a', 'b', 'c'])

    def test_search_error_event_raises_then_continues(self):
        self.fake.search_error_after = 1
        s = self.c.search('kv', {})
        first = next(s)
        with self.assertRaises(H.HyperClientException) as cm:
            next(s)
        self.assertEqual(cm.exception.status(), H.HYPERCLIENT_RECONFIGURE)
        rest = list(s)
        self.assertEqual(len(rest) + 1, 3)
        self.assertNotIn(first['k'], [r['k'] for r in rest])

    def test_search_bad_attr(self):
        e = self.assertRaisesStatus(H.HYPERCLIENT_UNKNOWNATTR, self.c.search, 'kv',
                                    {'n': 1, 'bad': 2})
        self.assertEqual(e.attr, 'bad')

    def test_count_and_unsafe(self):
        self.assertEqual(self.c.count('kv', {}), 3)
        self.fake.search_error_after = 0
        self.assertEqual(self.c.count('kv', {}), 3)
        self.assertRaisesStatus(H.HYPERCLIENT_RECONFIGURE, self.c.count, 'kv', {}, True)

    def test_sorted_search_bad_compare(self):
        for compare in ('biggest', 'MAX', None, ['max']):
            with self.assertRaises(ValueError):
                self.c.sorted_search('kv', {}, 'n', 2, compare)
        with self.assertRaises(ValueError):
            self.c.sorted_search('kv', {}, 'n', -1, 'max')
        self.assertEqual(self.c._pending, {})
        self.assertEqual(self.fake.events, type(self.fake.events)())

    def test_sorted_search_order_limit_and_bytes(self):
        s = self.c.sorted_search('kv', {}, 'n', 2, 'max')
        self.assertIsInstance(s, H.SortedSearch)
        self.assertEqual([r['k'] for r in s], ['c', 'b'])
        self.assertEqual([r['k'] for r in self.c.sorted_search(b'kv', {}, b'n', 5,
                                                                b'minimize')],
                         ['a', 'b', 'c'])
        self.assertEqual(list(self.c.sorted_search('kv', {}, 'n', 0, 'min')), [])
        self.assertNoLiveArrays()
        self.assertEqual(self.c._pending, {})

    def test_sorted_search_bad_sort_by_is_named(self):
        e = self.assertRaisesStatus(H.HYPERCLIENT_UNKNOWNATTR, self.c.sorted_search, 'kv',
                                    {'n': (1, 2), 's': 'x'}, 'nope', 1, 'max')
        self.assertEqual(e.attr, 'nope')
        e = self.assertRaisesStatus(H.HYPERCLIENT_WRONGTYPE, self.c.sorted_search, 'kv',
                                    {}, b'f', 1, 'max')
        self.assertEqual(e.attr, 'f')
        self.assertEqual(self.c._pending, {})

    def test_search_offsets_count_every_check(self):
        # The 2-tuple is two checks, so the bad attribute is check 3 (-4).
        e = self.assertRaisesStatus(H.HYPERCLIENT_UNKNOWNATTR, self.c.count, 'kv',
                                    {'n': (1, 2), 's': 'x', 'bad': 1})
        self.assertEqual(e.attr, 'bad')
        e = self.assertRaisesStatus(H.HYPERCLIENT_UNKNOWNATTR, self.c.async_group_del, 'kv',
                                    {b'bad': 1})
        self.assertEqual(e.attr, 'bad')
        self.assertRaisesStatus(H.HYPERCLIENT_UNKNOWNSPACE, self.c.search_describe,
                                'nospace', {})
        self.assertEqual(self.c._pending, {})

    def test_group_del(self):
        d = self.c.async_group_del('kv', {'n': 1})
        self.assertIsInstance(d, H.DeferredGroupDel)
        self.assertIs(d.wait(), True)
        self.assertEqual(list(self.c.search('kv', {})), [])

    def test_search_describe_is_copied_and_stripped(self):
        d = self.c.async_search_describe('kv', {})
        self.assertIsInstance(d, H.DeferredSearchDescribe)
        self.assertIs(self.c.loop(), d)
        self.c.put('kv', 'z', {})           # the next loop call overwrites the C text
        self.assertEqual(d.wait(), 'search of 3 object(s)')
        self.assertEqual(self.c.search_describe('kv', {}, True), 'search of 4 object(s)')

    def test_interleaved_searches(self):
        s1 = self.c.search('kv', {})
        s2 = self.c.search('kv', {})
        got1, got2 = [next(s1)['k']], [next(s2)['k']]
        got1 += [r['k'] for r in s1]
        got2 += [r['k'] for r in s2]
        self.assertEqual(got1, ['a', 'b', 'c'])
        self.assertEqual(got2, ['a', 'b', 'c'])
        with self.assertRaises(StopIteration):
            next(s1)
        self.assertEqual(self.c._pending, {})
        self.assertNoLiveArrays()


class TestAdmin(FakeTestCase):

    def test_add_rm_space(self):
        self.assertIsNone(self.c.add_space('space t key k'))
        self.assertRaisesStatus(H.HYPERCLIENT_DUPLICATE, self.c.add_space, 'space t key k')
        self.assertIsNone(self.c.rm_space('t'))
        self.assertRaisesStatus(H.HYPERCLIENT_NOTFOUND, self.c.rm_space, 't')

    def test_bad_port(self):
        with self.assertRaises(ValueError):
            H.Client('127.0.0.1', 70000)


if __name__ == '__main__':
    unittest.main()
