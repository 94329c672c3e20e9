#!/usr/bin/env python3
"""Runs the conformance vectors (tests/conformance/*.jsonl) through the
Python module ``hyperclient`` and compares every answer with the vector.

    PYTHONPATH=<dir holding hyperclient> python3 run.py HOST PORT FILE.jsonl...

The format is described in tests/conformance/README.md.  Outcomes are mapped
to the Python results of spec/python.md: get → dict / None (NOTFOUND);
delete → True / False (NOTFOUND); cond_delete → True / False (NOTFOUND or
CMPFAIL); put_if_not_exist and cond_* → True / False (CMPFAIL); everything
else → True; any other outcome raises HyperClientException, whose symbol()
must be HYPERCLIENT_<status>.  A vector with an "offset" must fail in the
async_* call itself (nothing sent), and the exception's ``attr`` must name
the input the offset points at (None for -1).

Search-type steps: search and sorted_search go through the Search /
SortedSearch iterators (the runner calls loop() itself, with a deadline, and
takes one item per event); count, group_del and search_describe through
async_count (unsafe=True), async_group_del and async_search_describe.  Their
offsets are -1 - i for check i and -1 - len(checks) for sort_by.

Every mismatch is printed as "FILE:LINE: ..."; exit status 0 when every step
matched, 1 when some did not, 2 for usage errors or broken vectors.  Steps
marked "only": "c" are skipped, and so is nothing else: a vector the Python
API cannot express must be marked, or it is reported as broken.
"""

import json
import math
import re
import struct
import sys
import uuid

import hyperclient as H

LOOP_TIMEOUT_MS = 15000

STATUSES = {name[len('HYPERCLIENT_'):]: getattr(H, name)
            for name in dir(H) if name.startswith('HYPERCLIENT_')}

NUM_OPS = ('add', 'sub', 'mul', 'div', 'mod', 'and', 'or', 'xor')
ATTR_OPS = (['put', 'put_if_not_exist', 'map_remove']
            + ['atomic_' + o for o in NUM_OPS]
            + ['string_prepend', 'string_append', 'list_lpush', 'list_rpush',
               'set_add', 'set_remove', 'set_intersect', 'set_union'])
MAP_OPS = (['map_add'] + ['map_atomic_' + o for o in NUM_OPS]
           + ['map_string_prepend', 'map_string_append'])

# op name → (kind, python method)
OPS = {'get': ('get', 'get'), 'del': ('del', 'delete'),
       'cond_del': ('cond_del', 'cond_delete')}
for _op in ATTR_OPS:
    OPS[_op] = ('attrs', _op)
    if _op != 'put_if_not_exist':
        OPS['cond_' + _op] = ('cond_attrs', 'cond_' + _op)
for _op in MAP_OPS:
    OPS[_op] = ('map', _op)
    OPS['cond_' + _op] = ('cond_map', 'cond_' + _op)
# search-type operations: no key, "checks" required
SEARCH_OPS = {'search': 'search', 'sorted_search': 'sorted', 'count': 'count',
              'group_del': 'group_del', 'search_describe': 'describe'}
for _op, _kind in SEARCH_OPS.items():
    OPS[_op] = (_kind, _op)
SEARCH_KINDS = frozenset(SEARCH_OPS.values())
# statuses whose negative result names one input (the others name none)
OFFSET_STATUSES = ('UNKNOWNATTR', 'WRONGTYPE', 'DONTUSEKEY', 'DUPEATTR')

PRIMS = ('string', 'int', 'float')
DEFAULTS = {'string': '', 'int': 0, 'float': 0.0}


class Broken(Exception):
    """The vector does not follow the schema."""


class NotExpressible(Exception):
    """The vector cannot be written with the Python API (mark it "only": "c")."""


class Obj(dict):
    """A JSON object: a dict that also keeps every (name, value) pair in order,
    duplicates included."""

    def __init__(self, pairs):
        dict.__init__(self, pairs)
        self.pairs = list(pairs)


# ---------------------------------------------------------------------------
# typed values

def _tag(v):
    if not isinstance(v, dict) or len(v.pairs) != 1:
        raise Broken('a value must be an object with one type tag: %r' % (v,))
    return v.pairs[0]


def _prim(x, t):
    if t == 'string':
        if not isinstance(x, str):
            raise Broken('expected a JSON string, got %r' % (x,))
        return x
    if t == 'int':
        if not isinstance(x, int) or isinstance(x, bool):
            raise Broken('expected an integer, got %r' % (x,))
        return x
    if isinstance(x, str):
        if x in ('inf', '-inf', 'nan'):
            return float(x)
        raise Broken('bad float %r' % (x,))
    if not isinstance(x, (int, float)) or isinstance(x, bool):
        raise Broken('expected a number, got %r' % (x,))
    return float(x)


def _container(tag, x):
    """(python value) for list_T / set_T / map_K_V tags, or None."""
    for kind in ('list', 'set'):
        if tag.startswith(kind + '_') and tag[len(kind) + 1:] in PRIMS:
            t = tag[len(kind) + 1:]
            if not isinstance(x, list):
                raise Broken('%s takes an array' % tag)
            items = [_prim(e, t) for e in x]
            return items if kind == 'list' else set(items)
    if tag.startswith('map_'):
        parts = tag[4:].split('_')
        if len(parts) == 2 and parts[0] in PRIMS and parts[1] in PRIMS:
            if not isinstance(x, list):
                raise Broken('%s takes an array of pairs' % tag)
            out = {}
            for pair in x:
                if not isinstance(pair, list) or len(pair) != 2:
                    raise Broken('map entries are [key, value] pairs')
                k = _prim(pair[0], parts[0])
                if k in out:
                    raise Broken('duplicate map key %r' % (k,))
                out[k] = _prim(pair[1], parts[1])
            return out
    return None


def request_value(v):
    """The Python value a program would pass for a typed vector value."""
    tag, x = _tag(v)
    if tag in PRIMS:
        return _prim(x, tag)
    if tag == 'bytes_hex':
        return bytes.fromhex(x)
    if tag in ('list', 'set', 'map'):
        if x != []:
            raise Broken('"%s" (generic) only takes []' % tag)
        return {'list': [], 'set': set(), 'map': {}}[tag]
    if tag in ('empty', 'raw'):
        raise NotExpressible('a "%s" value cannot be sent from Python' % tag)
    out = _container(tag, x)
    if out is None:
        raise Broken('unknown value tag %r' % tag)
    return out


def _text(b):
    """The module's rule for strings out: str if valid UTF-8, else bytes."""
    try:
        return b.decode('utf-8')
    except UnicodeDecodeError:
        return b


def expected_value(v):
    """The Python value get must return for a typed vector value."""
    tag, x = _tag(v)
    if tag == 'bytes_hex':
        return _text(bytes.fromhex(x))
    if tag == 'empty':
        if x in DEFAULTS:
            return DEFAULTS[x]
        if x.startswith('list'):
            return []
        if x.startswith('set'):
            return set()
        if x.startswith('map'):
            return {}
        raise Broken('bad "empty" type %r' % (x,))
    if tag == 'raw':
        raise Broken('"raw" values are not allowed in expected get values')
    return request_value(v)


def same(a, b):
    """Strict equality: same types, floats bit for bit (any NaN equals any NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a) and math.isnan(b):
            return True
        return struct.pack('<d', a) == struct.pack('<d', b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, set):
        return len(a) == len(b) and all(any(same(x, y) for y in b) for x in a)
    if isinstance(a, dict):
        if len(a) != len(b):
            return False
        for k, v in a.items():
            match = [k2 for k2 in b if same(k, k2)]
            if len(match) != 1 or not same(v, b[match[0]]):
                return False
        return True
    return a == b


# ---------------------------------------------------------------------------
# checks → a predicate dict

def _predicate_spec(pred, v):
    pv = request_value(v)
    if pred == 'EQUALS':
        if isinstance(pv, list):
            if len(pv) == 2:
                raise NotExpressible('a 2-element list in a predicate is a range')
            return tuple(pv)
        return pv
    classes = {'LESS_EQUAL': H.LessEqual, 'GREATER_EQUAL': H.GreaterEqual,
               'REGEX': H.Regex, 'LENGTH_EQUALS': H.LengthEquals,
               'LENGTH_LESS_EQUAL': H.LengthLessEqual,
               'LENGTH_GREATER_EQUAL': H.LengthGreaterEqual, 'CONTAINS': H.Contains}
    if pred not in classes:
        raise NotExpressible('no Python predicate for %s' % pred)
    try:
        return classes[pred](pv)
    except AttributeError as e:
        raise NotExpressible('%s(%r): %s' % (pred, pv, e))


def build_condition(checks):
    if not isinstance(checks, list):
        raise Broken('"checks" must be an array')
    cond = {}
    for ch in checks:
        if not isinstance(ch, dict) or sorted(ch.keys()) != ['attr', 'pred', 'value']:
            raise Broken('a check needs exactly attr, pred, value')
        pred = ch['pred']
        if pred.startswith('HYPERPREDICATE_'):
            pred = pred[len('HYPERPREDICATE_'):]
        cond.setdefault(ch['attr'], []).append(_predicate_spec(pred, ch['value']))
    return {a: (s[0] if len(s) == 1 else s) for a, s in cond.items()}


def python_check_order(checks):
    """The attribute of each check in the order the Python module sends them:
    build_condition groups the checks of one attribute together."""
    order = []
    for ch in checks:
        if ch['attr'] not in order:
            order.append(ch['attr'])
    return [a for a in order for ch in checks if ch['attr'] == a]


# ---------------------------------------------------------------------------
# the space's schema (for the shape of search results)

_PRIM_WORDS = ('string', 'int', 'int64', 'float')


def parse_schema(desc):
    """[key name, attribute names in schema order...] from a space
    description, or None if it does not parse."""
    toks = re.findall(r'[(),]|[^\s(),]+', desc)
    pos = [0]

    def tok():
        return toks[pos[0]] if pos[0] < len(toks) else None

    def take(want=None):
        t = tok()
        if t is None or (want is not None and t != want):
            raise ValueError(desc)
        pos[0] += 1
        return t

    def attr():
        t = take()
        if t in _PRIM_WORDS:
            t = take()
        elif t in ('list', 'set', 'map'):
            kind = t
            take('(')
            if take() not in _PRIM_WORDS:
                raise ValueError(desc)
            if kind == 'map':
                take(',')
                if take() not in _PRIM_WORDS:
                    raise ValueError(desc)
            take(')')
            t = take()
        if not re.match(r'^[A-Za-z_][A-Za-z0-9_]*$', t):
            raise ValueError(desc)
        return t

    try:
        take('space')
        take()
        take('key')
        names = [attr()]
        if tok() in ('attributes', 'attribute'):
            take()
            names.append(attr())
            while tok() == ',':
                take()
                names.append(attr())
        return names
    except ValueError:
        return None


# ---------------------------------------------------------------------------
# running

class Runner(object):

    def __init__(self, host, port):
        self.c = H.Client(host, port)
        self.steps = self.failures = self.skipped = self.errors = 0
        self.suffix = '_py%s' % uuid.uuid4().hex[:10]
        self.path = None
        self.line = 0
        self.schema = None

    def fail(self, op, msg):
        print('%s:%d: %s: %s' % (self.path, self.line, op, msg))
        self.failures += 1

    def broken(self, msg):
        print('%s:%d: BROKEN VECTOR: %s' % (self.path, self.line, msg))
        self.errors += 1

    def run_file(self, path):
        self.path = path
        self.line = 0
        space = None
        steps0, failures0 = self.steps, self.failures
        try:
            with open(path, encoding='utf-8') as f:
                lines = f.readlines()
        except OSError as e:
            print('%s: cannot open: %s' % (path, e))
            self.errors += 1
            return
        try:
            for self.line, text in enumerate(lines, 1):
                if not text.strip() or text.lstrip().startswith('#'):
                    continue
                try:
                    j = json.loads(text, object_pairs_hook=Obj)
                except ValueError as e:
                    self.broken('JSON: %s' % e)
                    if space is None:
                        break
                    continue
                if not isinstance(j, dict):
                    self.broken('not a JSON object')
                    continue
                if space is None:
                    desc = j.get('space')
                    words = desc.split() if isinstance(desc, str) else []
                    if len(j) != 1 or len(words) < 2 or words[0] != 'space':
                        self.broken('the first line must be {"space": "space NAME ..."}')
                        break
                    name = words[1] + self.suffix
                    self.schema = parse_schema(desc)
                    try:
                        self.c.add_space(re.sub(r'^(\s*space\s+)(\S+)',
                                                lambda m: m.group(1) + name, desc))
                    except H.HyperClientException as e:
                        self.fail('add_space', e.symbol())
                        break
                    space = name
                    continue
                try:
                    self.run_step(j, space)
                except Broken as e:
                    self.broken(str(e))
                except NotExpressible as e:
                    self.broken('not expressible in Python (mark it "only": "c"): %s' % e)
        finally:
            if space is not None:
                try:
                    self.c.rm_space(space)
                except H.HyperClientException as e:
                    print('%s: rm_space %s: %s' % (path, space, e.symbol()))
                    self.failures += 1
        print('%s: %d steps, %d failed' % (path, self.steps - steps0,
                                            self.failures - failures0))

    def run_step(self, j, space):
        allowed = {'op', 'key', 'space', 'checks', 'attrs', 'mapattrs', 'sort_by', 'limit',
                   'maximize', 'expect', 'note', 'only'}
        unknown = set(j) - allowed
        if unknown:
            raise Broken('unknown field(s) %s' % ', '.join(sorted(unknown)))
        only = j.get('only')
        if only not in (None, 'c', 'python'):
            raise Broken('"only" is "c" or "python"')
        if only == 'c':
            self.skipped += 1
            return
        op = j.get('op')
        if op not in OPS:
            raise Broken('unknown op %r' % (op,))
        kind, method = OPS[op]
        space = j.get('space', space)
        if kind in SEARCH_KINDS:
            return self.run_search_step(j, op, kind, space)
        for field in ('sort_by', 'limit', 'maximize'):
            if field in j:
                raise Broken('only sorted_search takes "%s"' % field)
        if 'key' not in j:
            raise Broken('no "key"')
        key = request_value(j['key'])
        needs = {'checks': kind.startswith('cond'),
                 'attrs': kind in ('attrs', 'cond_attrs'),
                 'mapattrs': kind in ('map', 'cond_map')}
        for field, needed in needs.items():
            if (field in j) != needed:
                raise Broken('%s %s "%s"' % (op, 'takes' if needed else 'does not take', field))
        names = []      # input names in vector order: checks, attrs, map attributes
        args = [space, key]
        if needs['checks']:
            args.append(build_condition(j['checks']))
            names += [ch['attr'] for ch in j['checks']]
        if needs['attrs']:
            attrs = j['attrs']
            if not isinstance(attrs, dict):
                raise Broken('"attrs" must be an object')
            names += [n for n, _ in attrs.pairs]
            if op.endswith('map_remove'):
                grouped = {}
                for n, v in attrs.pairs:
                    grouped.setdefault(n, []).append(request_value(v))
                args.append({n: (ks[0] if len(ks) == 1 else ks) for n, ks in grouped.items()})
            else:
                if len(set(n for n, _ in attrs.pairs)) != len(attrs.pairs):
                    raise NotExpressible('the same attribute twice')
                args.append({n: request_value(v) for n, v in attrs.pairs})
        if needs['mapattrs']:
            grouped = {}
            for m in j['mapattrs']:
                if not isinstance(m, list) or len(m) != 3 or not isinstance(m[0], str):
                    raise Broken('mapattrs entries are [attr, key, value]')
                names.append(m[0])
                k = request_value(m[1])
                if not isinstance(k, (str, bytes, int, float)):
                    raise NotExpressible('a container as a map key')
                inner = grouped.setdefault(m[0], {})
                if k in inner:
                    raise NotExpressible('the same map key twice in one call')
                inner[k] = request_value(m[2])
            args.append(grouped)
        status, offset, value = self.parse_expect(j, op)
        self.steps += 1
        self.execute(op, kind, method, args, names, status, offset, value)

    def parse_expect(self, j, op):
        e = j.get('expect')
        offset = value = None
        if isinstance(e, str):
            status = e
        elif isinstance(e, dict):
            if set(e) - {'status', 'offset', 'value'}:
                raise Broken('"expect" takes only status, offset, value')
            status = e.get('status', 'SUCCESS')
            offset = e.get('offset')
            if offset is not None and (not isinstance(offset, int) or offset >= 0):
                raise Broken('"offset" must be a negative integer')
            if 'value' in e:
                if op != 'get' or status not in ('SUCCESS', 'HYPERCLIENT_SUCCESS'):
                    raise Broken('"value" is for a successful get')
                value = e['value']
                if not isinstance(value, dict):
                    raise Broken('"value" must be an object')
        else:
            raise Broken('no "expect"')
        if status.startswith('HYPERCLIENT_'):
            status = status[len('HYPERCLIENT_'):]
        if status not in STATUSES:
            raise Broken('unknown status %r' % (status,))
        if value is not None:
            value = [(n, expected_value(v)) for n, v in value.pairs]
        return status, offset, value

    def execute(self, op, kind, method, args, names, status, offset, value):
        symbol = 'HYPERCLIENT_' + status
        try:
            d = getattr(self.c, 'async_' + method)(*args)
        except H.HyperClientException as e:
            if offset is None:
                self.fail(op, 'expected a request and %s, got an immediate %s (attr %r)'
                          % (status, e.symbol(), e.attr))
                return
            want_attr = None if offset == -1 else (
                names[-2 - offset] if -2 - offset < len(names) else '<out of range>')
            if e.symbol() != symbol or e.attr != want_attr:
                self.fail(op, 'expected an immediate %s naming %r (offset %d), got %s naming %r'
                          % (symbol, want_attr, offset, e.symbol(), e.attr))
            return
        except Exception as e:  # TypeError, OverflowError, ...
            self.fail(op, 'raised %s: %s' % (type(e).__name__, e))
            return
        # Drive the loop ourselves, with a deadline, until this op finished.
        while True:
            try:
                done = self.c.loop(LOOP_TIMEOUT_MS)
            except H.HyperClientException as e:
                self.fail(op, 'loop failed: %s' % e.symbol())
                raise SystemExit(self.summary(stuck=True))
            if done is d:
                break
        try:
            result = d.wait()
        except H.HyperClientException as e:
            result = e
        except Exception as e:
            self.fail(op, 'wait() raised %s: %s' % (type(e).__name__, e))
            return
        if offset is not None:
            self.fail(op, 'expected an immediate %s (offset %d), but the request was sent (%r)'
                      % (symbol, offset, result))
            return
        self.compare(op, kind, status, value, result)

    def compare(self, op, kind, status, value, result):
        if kind == 'get':
            want = {'SUCCESS': dict, 'NOTFOUND': None}.get(status, 'raise')
        elif kind == 'del':
            want = {'SUCCESS': True, 'NOTFOUND': False}.get(status, 'raise')
        elif kind == 'cond_del':
            want = {'SUCCESS': True, 'NOTFOUND': False, 'CMPFAIL': False}.get(status, 'raise')
        elif kind.startswith('cond') or op == 'put_if_not_exist':
            want = {'SUCCESS': True, 'CMPFAIL': False}.get(status, 'raise')
        else:
            want = {'SUCCESS': True}.get(status, 'raise')
        if want == 'raise':
            if not isinstance(result, H.HyperClientException):
                self.fail(op, 'expected HyperClientException %s, got %r'
                          % ('HYPERCLIENT_' + status, result))
            elif result.symbol() != 'HYPERCLIENT_' + status:
                self.fail(op, 'expected HyperClientException %s, got %s'
                          % ('HYPERCLIENT_' + status, result.symbol()))
            return
        if want is dict:
            if not isinstance(result, dict):
                self.fail(op, 'expected a dict (%s), got %r' % (status, result))
            elif value is not None:
                got = list(result.items())
                if [n for n, _ in got] != [n for n, _ in value]:
                    self.fail(op, 'expected attributes %s, got %s'
                              % ([n for n, _ in value], [n for n, _ in got]))
                for (n, w), (_, g) in zip(value, got):
                    if not same(w, g):
                        self.fail(op, 'attribute %r: expected %r, got %r' % (n, w, g))
            return
        if result is not want:
            self.fail(op, 'expected %r (%s), got %r' % (want, status, result))

    # -- search-type operations ---------------------------------------------

    def run_search_step(self, j, op, kind, space):
        if 'key' in j or 'attrs' in j or 'mapattrs' in j:
            raise Broken('%s takes no "key", "attrs" or "mapattrs"' % op)
        if 'checks' not in j:
            raise Broken('%s takes "checks"' % op)
        checks = j['checks']
        predicate = build_condition(checks)
        names = python_check_order(checks)
        sort = None
        if kind == 'sorted':
            sort_by, limit, maximize = j.get('sort_by'), j.get('limit'), j.get('maximize')
            if (not isinstance(sort_by, str) or not isinstance(limit, int)
                    or isinstance(limit, bool) or not 0 <= limit < 1 << 64
                    or not isinstance(maximize, bool)):
                raise Broken('sorted_search needs "sort_by" (a name), "limit" (an integer '
                             'in [0, 2^64-1]) and "maximize" (true or false)')
            sort = (sort_by, limit, 'max' if maximize else 'min')
        else:
            for field in ('sort_by', 'limit', 'maximize'):
                if field in j:
                    raise Broken('only sorted_search takes "%s"' % field)
        exp = self.parse_search_expect(j, op, kind)
        if exp['offset'] is not None and names != [ch['attr'] for ch in checks]:
            raise NotExpressible('Python groups the checks of one attribute, so the offset '
                                 'would point at another check')
        if kind in ('search', 'sorted') and self.schema is None:
            raise Broken('cannot read the key and attributes from the space description')
        self.steps += 1
        args = [space, predicate]
        if kind == 'search':
            call = lambda: self.c.search(*args)
        elif kind == 'sorted':
            call = lambda: self.c.sorted_search(*(args + list(sort)))
        elif kind == 'count':
            call = lambda: self.c.async_count(space, predicate, True)
        elif kind == 'group_del':
            call = lambda: self.c.async_group_del(*args)
        else:
            call = lambda: self.c.async_search_describe(*args)
        symbol = 'HYPERCLIENT_' + exp['status']
        try:
            d = call()
        except H.HyperClientException as e:
            if exp['offset'] is None:
                self.fail(op, 'expected a request, got an immediate %s (attr %r)'
                          % (e.symbol(), e.attr))
                return
            want_attr = None
            if exp['status'] in OFFSET_STATUSES:
                idx = -1 - exp['offset']
                want_attr = (names[idx] if idx < len(names) else
                             sort[0] if sort is not None and idx == len(names) else
                             '<out of range>')
            if e.symbol() != symbol or e.attr != want_attr:
                self.fail(op, 'expected an immediate %s naming %r (offset %d), got %s naming %r'
                          % (symbol, want_attr, exp['offset'], e.symbol(), e.attr))
            return
        except Exception as e:  # TypeError, ValueError, ...
            self.fail(op, 'raised %s: %s' % (type(e).__name__, e))
            return
        if kind in ('search', 'sorted'):
            results = self.collect(op, d)
            if exp['offset'] is not None:
                self.fail(op, 'expected an immediate %s (offset %d), but the request was sent'
                          % (symbol, exp['offset']))
            elif results is not None:
                self.compare_search(op, kind, exp, sort, results)
            return
        self.wait_for(op, d)
        try:
            result = d.wait()
        except H.HyperClientException as e:
            result = e
        except Exception as e:
            self.fail(op, 'wait() raised %s: %s' % (type(e).__name__, e))
            return
        if exp['offset'] is not None:
            self.fail(op, 'expected an immediate %s (offset %d), but the request was sent (%r)'
                      % (symbol, exp['offset'], result))
            return
        if exp['status'] != 'SUCCESS':
            if not isinstance(result, H.HyperClientException) or result.symbol() != symbol:
                self.fail(op, 'expected HyperClientException %s, got %r' % (symbol, result))
        elif isinstance(result, H.HyperClientException):
            self.fail(op, 'expected SUCCESS, got %s' % result.symbol())
        elif kind == 'count':
            if type(result) is not int or result != exp['count']:
                self.fail(op, 'expected count %d, got %r' % (exp['count'], result))
        elif kind == 'group_del':
            if result is not True:
                self.fail(op, 'expected True, got %r' % (result,))
        elif not isinstance(result, str) or not result:
            self.fail(op, 'expected a non-empty description, got %r' % (result,))

    def wait_for(self, op, d):
        """Drives the loop with a deadline until the Deferred d finished."""
        while True:
            try:
                done = self.c.loop(LOOP_TIMEOUT_MS)
            except H.HyperClientException as e:
                self.fail(op, 'loop failed: %s' % e.symbol())
                raise SystemExit(self.summary(stuck=True))
            if done is d:
                return

    def collect(self, op, it):
        """Every result of a search iterator, in order; each loop event is taken
        out of the iterator at once, so next() never blocks (error events are
        reported and skipped)."""
        results = []
        while True:
            try:
                done = self.c.loop(LOOP_TIMEOUT_MS)
            except H.HyperClientException as e:
                self.fail(op, 'loop failed: %s' % e.symbol())
                raise SystemExit(self.summary(stuck=True))
            if done is not it:
                self.fail(op, 'loop returned another operation: %r' % (done,))
                raise SystemExit(self.summary(stuck=True))
            try:
                results.append(next(it))
            except StopIteration:
                return results
            except H.HyperClientException as e:
                self.fail(op, 'error event: %s (a server failed)' % e.symbol())
            except Exception as e:
                self.fail(op, 'result raised %s: %s' % (type(e).__name__, e))

    def parse_search_expect(self, j, op, kind):
        e = j.get('expect')
        out = {'status': 'SUCCESS', 'offset': None, 'mode': None, 'want': None,
               'key_set': None, 'count': None}
        if isinstance(e, str):
            if kind not in ('group_del', 'describe'):
                raise Broken('%s needs an "expect" object with its results' % op)
            out['status'] = e
        elif isinstance(e, dict):
            fields = {'status', 'offset', 'keys', 'objects', 'sort_values', 'key_set', 'count'}
            if set(e) - fields:
                raise Broken('"expect" of %s: unknown field(s) %s'
                             % (op, ', '.join(sorted(set(e) - fields))))
            out['status'] = e.get('status', 'SUCCESS')
            results = set(e) & (fields - {'status', 'offset'})
            if 'offset' in e:
                off = e['offset']
                if (not isinstance(off, int) or isinstance(off, bool) or off >= 0
                        or 'status' not in e or results):
                    raise Broken('"offset" (a negative integer) goes with a "status" only')
                out['offset'] = off
            elif results and out['status'] not in ('SUCCESS', 'HYPERCLIENT_SUCCESS'):
                raise Broken('results go with SUCCESS')
            elif (out['status'] not in ('SUCCESS', 'HYPERCLIENT_SUCCESS')
                  and kind not in ('group_del', 'describe')):
                raise Broken('%s: a status other than SUCCESS needs an "offset"' % op)
            elif kind == 'search':
                if len(results) != 1 or not results & {'keys', 'objects'}:
                    raise Broken('search expects exactly one of "keys", "objects"')
            elif kind == 'sorted':
                main = results & {'keys', 'objects', 'sort_values'}
                if len(main) != 1 or 'count' in results or (
                        'key_set' in results and 'sort_values' not in results):
                    raise Broken('sorted_search expects one of "keys", "objects", '
                                 '"sort_values" (the last optionally with "key_set")')
            elif kind == 'count':
                c = e.get('count')
                if results != {'count'} or not isinstance(c, int) or isinstance(c, bool) \
                        or c < 0:
                    raise Broken('count expects {"count": N}')
                out['count'] = c
            elif results:
                raise Broken('%s expects a status only' % op)
            if out['offset'] is None and kind in ('search', 'sorted'):
                for mode in ('keys', 'objects', 'sort_values'):
                    if mode in e:
                        out['mode'] = mode
                        out['want'] = self.want_list(e[mode], mode, mode != 'sort_values')
                if 'key_set' in e:
                    out['key_set'] = self.want_list(e['key_set'], 'keys', True)
        else:
            raise Broken('no "expect"')
        st = out['status']
        if st.startswith('HYPERCLIENT_'):
            st = st[len('HYPERCLIENT_'):]
        if st not in STATUSES:
            raise Broken('unknown status %r' % (st,))
        out['status'] = st
        return out

    def want_list(self, items, mode, unique):
        """[(python key or sort value, [(name, value)...] or None)]"""
        if not isinstance(items, list):
            raise Broken('"%s" must be an array' % mode)
        out = []
        for item in items:
            if mode == 'objects':
                if not isinstance(item, dict) or set(item) != {'key', 'value'} \
                        or not isinstance(item['value'], dict):
                    raise Broken('objects are {"key": V, "value": {...}}')
                out.append((expected_value(item['key']),
                            [(n, expected_value(v)) for n, v in item['value'].pairs]))
            else:
                out.append((expected_value(item), None))
        if unique:
            for i, (k, _) in enumerate(out):
                if any(same(k, k2) for k2, _ in out[:i]):
                    raise Broken('the same key twice in "%s"' % mode)
        return out

    def compare_search(self, op, kind, exp, sort, results):
        names = self.schema
        key_name = names[0]
        for i, r in enumerate(results):
            if not isinstance(r, dict) or list(r.keys()) != names:
                self.fail(op, 'result %d: expected the attributes %s, got %r'
                          % (i, names, list(r.keys()) if isinstance(r, dict) else r))
        results = [r for r in results if isinstance(r, dict) and key_name in r]
        want = exp['want']
        if exp['mode'] == 'sort_values':
            got = [r.get(sort[0]) for r in results]
            if len(got) != len(want) or not all(same(w, g) for (w, _), g in zip(want, got)):
                self.fail(op, 'expected %s values %r, got %r'
                          % (sort[0], [w for w, _ in want], got))
            if exp['key_set'] is not None:
                self.match_unordered(op, exp['key_set'], results, key_name)
            return
        if kind == 'sorted':
            got = [r[key_name] for r in results]
            if len(got) != len(want) or not all(same(w, g) for (w, _), g in zip(want, got)):
                self.fail(op, 'expected keys %r in this order, got %r'
                          % ([w for w, _ in want], got))
                return
            pairs = list(zip(want, results))
        else:
            pairs = self.match_unordered(op, want, results, key_name)
        if exp['mode'] == 'objects':
            for (k, value), r in pairs:
                got = [(n, v) for n, v in r.items() if n != key_name]
                if [n for n, _ in got] != [n for n, _ in value]:
                    self.fail(op, 'object %r: expected attributes %s, got %s'
                              % (k, [n for n, _ in value], [n for n, _ in got]))
                for (n, w), (_, g) in zip(value, got):
                    if not same(w, g):
                        self.fail(op, 'object %r: attribute %r: expected %r, got %r'
                                  % (k, n, w, g))

    def match_unordered(self, op, want, results, key_name):
        """Pairs each result with the expected entry of its key; reports the
        unexpected, repeated and missing keys."""
        seen = [False] * len(want)
        pairs = []
        for r in results:
            k = r[key_name]
            idx = [i for i, (w, _) in enumerate(want) if same(w, k)]
            if not idx:
                self.fail(op, 'unexpected result: key %r' % (k,))
            elif seen[idx[0]]:
                self.fail(op, 'key %r returned twice' % (k,))
            else:
                seen[idx[0]] = True
                pairs.append((want[idx[0]], r))
        for (w, _), s in zip(want, seen):
            if not s:
                self.fail(op, 'missing result: key %r' % (w,))
        return pairs

    def summary(self, stuck=False):
        print('conformance (Python): %d steps, %d failed, %d skipped, %d broken vector(s)%s'
              % (self.steps, self.failures, self.skipped, self.errors,
                 '; the client is stuck' if stuck else ''))
        if self.errors or stuck:
            return 2
        return 1 if self.failures else 0


def main(argv):
    if len(argv) < 4:
        sys.stderr.write('usage: %s HOST PORT FILE.jsonl...\n' % argv[0])
        return 2
    r = Runner(argv[1], int(argv[2]))
    for path in argv[3:]:
        r.run_file(path)
    rc = r.summary()
    r.c.close()
    return rc


if __name__ == '__main__':
    sys.exit(main(sys.argv))
