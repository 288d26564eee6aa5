import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson, sha256Hex } from '../../src/util/canonical-json.js';

describe('canonicalJson', () => {
  it('sorts object keys and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: 'x', c: null })).toBe('{"a":"x","b":1,"c":null}');
    expect(canonicalJson(JSON.parse('{ "z" : [ 1 , 2 ] , "a" : true }'))).toBe('{"a":true,"z":[1,2]}');
  });

  it('sorts nested objects, including objects inside arrays', () => {
    const v = { outer: { y: 2, x: { q: 1, p: [{ b: 2, a: 1 }] } }, arr: [{ d: 4, c: 3 }] };
    expect(canonicalJson(v)).toBe('{"arr":[{"c":3,"d":4}],"outer":{"x":{"p":[{"a":1,"b":2}],"q":1},"y":2}}');
  });

  it('keeps array order: a reordered array is different data', () => {
    expect(canonicalJson([2, 1])).not.toBe(canonicalJson([1, 2]));
    expect(sha256Hex(canonicalJson({ seats: ['1', '2'] }))).not.toBe(sha256Hex(canonicalJson({ seats: ['2', '1'] })));
  });

  it('gives the same hash whatever order the keys arrived in', () => {
    const a = JSON.parse('{"conversation_id":"c1","item_details":{"row":"12","section":"Floor 2"},"asset_type":"TICKET"}');
    const b = JSON.parse('{"asset_type":"TICKET","item_details":{"section":"Floor 2","row":"12"},"conversation_id":"c1"}');
    expect(sha256Hex(canonicalJson(a))).toBe(sha256Hex(canonicalJson(b)));
  });

  it('writes scalars as JSON does (escapes, unicode, numbers)', () => {
    expect(canonicalJson('a"b\n\u0001é')).toBe(JSON.stringify('a"b\n\u0001é'));
    expect(canonicalJson(1e21)).toBe('1e+21');
    expect(canonicalJson(0.1)).toBe('0.1');
    expect(canonicalJson({ 'ké"y': 1 })).toBe('{"ké\\"y":1}');
    expect(canonicalJson([undefined, Number.NaN])).toBe('[null,null]');
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(canonicalJson([])).toBe('[]');
    expect(canonicalJson({})).toBe('{}');
  });

  it('is JSON that parses back to equal data', () => {
    const v = { b: [1, { d: 'x', c: [true, null] }], a: { z: -0.5 } };
    expect(JSON.parse(canonicalJson(v))).toEqual(v);
  });
});

describe('sha256Hex', () => {
  it('hashes the UTF-8 bytes, as lower-case hex', () => {
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex('é')).toBe(createHash('sha256').update(Buffer.from('é', 'utf8')).digest('hex'));
    expect(sha256Hex('abc')).toMatch(/^[0-9a-f]{64}$/);
  });
});
