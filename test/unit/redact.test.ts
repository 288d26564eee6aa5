import { afterEach, describe, expect, it } from 'vitest';
import { clearSecrets, redactDeep, redactSecrets, registeredSecrets, registerSecrets } from '../../src/util/redact.js';

describe('redactSecrets', () => {
  afterEach(() => clearSecrets());

  it('masks the password of a URL userinfo, keeping the user and the host', () => {
    expect(redactSecrets('http://user:secret@shop:3000/api/auth/login')).toBe('http://user:***@shop:3000/api/auth/login');
    expect(redactSecrets('postgres://app:p%40ss@db:5432/x')).toBe('postgres://app:***@db:5432/x');
    // A raw @ in the password: everything up to the last @ of the authority is the password.
    expect(redactSecrets('postgres://app:p@ss@db/x')).toBe('postgres://app:***@db/x');
    expect(redactSecrets('wss://:tok3n@host/ws')).toBe('wss://:***@host/ws');
  });

  it('masks URLs inside any text, several per text, and leaves URLs without a password alone', () => {
    const text = 'login request to http://shop:3000 failed: Request cannot be constructed from a URL that includes credentials: http://ops:hunter22@shop:3000/api/auth/login (and "ws://a:b@c/d")';
    expect(redactSecrets(text)).toBe(
      'login request to http://shop:3000 failed: Request cannot be constructed from a URL that includes credentials: http://ops:***@shop:3000/api/auth/login (and "ws://a:***@c/d")',
    );
    expect(redactSecrets('ws://user@host:1/x and http://host/p?q=1')).toBe('ws://user@host:1/x and http://host/p?q=1');
  });

  it('masks query parameters and name=value pairs whose name says credential', () => {
    expect(redactSecrets('wss://h/ws?access_token=abc.def&room=ALL&apiKey=K1#frag')).toBe('wss://h/ws?access_token=***&room=ALL&apiKey=***#frag');
    expect(redactSecrets('GET /x?password=p&user=u&client_secret=s&sig=z')).toBe('GET /x?password=***&user=u&client_secret=***&sig=z');
    expect(redactSecrets("host=db password='a b\\'c' user=app")).toBe('host=db password=*** user=app');
    expect(redactSecrets('token=abc')).toBe('token=***');
  });

  it('masks JSON members and Authorization schemes an upstream echoed', () => {
    expect(redactSecrets('bad body {"email":"a@b","password":"pw123","token" : "t\\"x"}')).toBe('bad body {"email":"a@b","password":"***","token" : "***"}');
    expect(redactSecrets('header Authorization: Bearer abc.def-ghi')).toBe('header Authorization: Bearer ***');
    expect(redactSecrets('Basic dXNlcjpwYXNz')).toBe('Basic ***');
  });

  it('masks the exact values of registered secrets anywhere, and their URL-encoded forms', () => {
    registerSecrets(['K3y-0f-tradepost', 'p@ss word!', undefined, '', 'ab']);
    expect(redactSecrets('AUTH_INVALID_API_KEY: key K3y-0f-tradepost is not valid')).toBe('AUTH_INVALID_API_KEY: key *** is not valid');
    expect(redactSecrets('said p@ss word! and p%40ss%20word!')).toBe('said *** and ***');
    // Too short to match on its own (it would mask every "ab" in every line).
    expect(redactSecrets('abc')).toBe('abc');
    // An explicit list overrides the registered one.
    expect(redactSecrets('K3y-0f-tradepost', [])).toBe('K3y-0f-tradepost');
  });

  it('masks a secret containing another one whole', () => {
    registerSecrets(['abcd', 'abcdefgh']);
    expect(redactSecrets('x abcdefgh y')).toBe('x *** y');
    expect(registeredSecrets()[0]).toBe('abcdefgh');
  });

  it('returns the same string when there is nothing to mask', () => {
    const text = 'socket closed: 1006 after 3 s; buffer 12 of 100000 events';
    expect(redactSecrets(text)).toBe(text);
    expect(redactSecrets('')).toBe('');
  });
});

describe('redactDeep', () => {
  afterEach(() => clearSecrets());

  it('redacts strings in nested objects and arrays, copying only what changed', () => {
    registerSecrets(['s3cr3t-value']);
    const untouched = { n: 1, list: ['a'] };
    const input = { url: 'http://u:pw@h/', nested: { why: 'got s3cr3t-value back', ok: 'fine' }, list: ['x', 'token=1'], untouched, when: new Date(0) };
    const out = redactDeep(input) as typeof input;
    expect(out).toEqual({ url: 'http://u:***@h/', nested: { why: 'got *** back', ok: 'fine' }, list: ['x', 'token=***'], untouched, when: new Date(0) });
    expect(out.untouched).toBe(untouched);
    expect(input.url).toBe('http://u:pw@h/'); // the caller's object is never changed
    const clean = { a: 'b', c: [1, 2] };
    expect(redactDeep(clean)).toBe(clean);
  });

  it('redacts an object by what it serialises to (a URL object)', () => {
    expect(redactDeep({ target: new URL('http://u:pw@h/x') })).toEqual({ target: 'http://u:***@h/x' });
  });
});
