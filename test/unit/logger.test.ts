import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, redactUrl } from '../../src/logger.js';
import { clearSecrets, registerSecrets } from '../../src/util/redact.js';

const LOGGER = fileURLToPath(new URL('../../dist/src/logger.js', import.meta.url));

describe('createLogger', () => {
  it('a process whose stdout reader is gone still exits (it hung at exit, retrying the broken pipe forever)', async () => {
    // The compiled logger (the suite's set-up builds dist/), in a process of its own: two lines
    // logged back to back, then exit, the way a shutdown ends.
    const script = `const { createLogger } = await import(${JSON.stringify(LOGGER)});
process.stdin.once('data', () => { const l = createLogger('info'); l.info('one'); l.info('two'); process.exit(0); });`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.destroy(); // the reader goes away: writes to stdout now fail with EPIPE
    const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
    child.stdin.write('go\n');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    try {
      expect(await exited, stderr).toBe(0);
    } finally {
      clearTimeout(timer);
    }
  });
});

describe('createLogger redacts credentials', () => {
  afterEach(() => clearSecrets());

  const SECRET = 'Tr1but4ry-secret-value';
  function capture() {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    return { lines, logger: createLogger('debug', sink) };
  }

  it('in the message, the error (message, stack, cause, own fields), string fields and bindings', () => {
    registerSecrets([SECRET]);
    const { lines, logger } = capture();
    const url = `http://ops:${SECRET}@shop:3000/api/auth/login`;
    const cause = new Error(`upstream said: bad key ${SECRET}`);
    const err = Object.assign(new Error(`Request cannot be constructed from a URL that includes credentials: ${url}`, { cause }), { detail: `key=${SECRET}` });
    logger.child({ target: url }).warn({ err, why: `echo ${SECRET}`, nested: { list: [url] }, target2: new URL(url) }, `could not log in to ${url}`);
    logger.error(err); // msg taken from the error by pino
    logger.info('formatted %s', SECRET);
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      expect(line).not.toContain(SECRET);
      JSON.parse(line); // still one JSON object per line
    }
    const first = JSON.parse(lines[0] as string) as Record<string, unknown> & { err: { message: string; stack: string; type: string; detail: string } };
    expect(first.msg).toBe('could not log in to http://ops:***@shop:3000/api/auth/login');
    expect(first.target).toBe('http://ops:***@shop:3000/api/auth/login');
    expect(first.why).toBe('echo ***');
    expect(first.err.type).toBe('Error');
    expect(first.err.message).toContain('http://ops:***@shop:3000');
    expect(first.err.message).toContain('upstream said: bad key ***'); // the cause, appended by pino
    expect(first.err.stack).toContain('http://ops:***@shop:3000');
    expect(first.err.detail).toBe('key=***');
    expect(err.message).toContain(SECRET); // the caller's error is not changed
  });

  it('the structural redaction of named fields still applies', () => {
    const { lines, logger } = capture();
    logger.info({ headers: { cookie: 'a=b' }, password: 'x' }, 'request');
    expect(JSON.parse(lines[0] as string)).toMatchObject({ headers: { cookie: '[redacted]' }, password: '[redacted]' });
  });

  it('redactUrl hides a connection string password', () => {
    expect(redactUrl('postgres://app:pw@db:5432/x')).toBe('postgres://app:***@db:5432/x');
    expect(redactUrl('postgres://db:5432/x')).toBe('postgres://db:5432/x');
  });
});
