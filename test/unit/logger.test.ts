import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

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
