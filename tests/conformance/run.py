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


# ---------------------------------------------------------------------------
# running

class Runner(object):

    def __init__(self, host, port):
        self.c = H.Client(host, port)
        self.steps = self.failures = self.skipped = self.errors = 0
        self.suffix = '_py%s' % uuid.uuid4().hex[:10]
        self.path = None
        self.line = 0

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
        allowed = {'op', 'key', 'space', 'checks', 'attrs', 'mapattrs', 'expect', 'note', 'only'}
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
