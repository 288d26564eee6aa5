import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { TEST_ENV } from './app.js';
import { waitFor } from './wait-for.js';

export interface DaemonProcess {
  readonly child: ChildProcess;
  readonly output: () => string;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  readonly httpPort: () => Promise<number>;
}

/**
 * Run the real daemon in a child process, as `npm start` would (inside a test: it is killed when the
 * test ends): the compiled entry point, which the
 * suite's set-up builds from the current sources (test/global-setup.ts). Half a second of CPU less
 * per start than compiling on the fly with tsx.
 */
export function spawnDaemon(env: Record<string, string>): DaemonProcess {
  let out = '';
  const child = spawn(process.execPath, ['dist/src/main.js'], {
    env: { PATH: process.env.PATH ?? '', ...TEST_ENV, LOG_LEVEL: 'info', DATA_DIR: mkdtempSync(join(tmpdir(), 'tributary-daemon-')), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  // However the test ends (a timeout skips its own finally), the process does not outlive it.
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return {
    child,
    output: () => out,
    exited,
    httpPort: () =>
      waitFor(() => {
        const m = /"msg":"http server listening"/.test(out) ? /"port":(\d+),"msg":"http server listening"/.exec(out) : null;
        return m ? Number(m[1]) : 0;
      }, 'the daemon http server'),
  };
}
