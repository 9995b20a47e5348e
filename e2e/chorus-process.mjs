// Helpers for tests that run their own `chorus serve` (a configuration the shared server
// of scripts/test.sh does not have, or a restart): the binary, a free port, starting it
// and waiting until it answers, and a timeout for any wait.
//
// The binary is target/debug/chorus, which scripts/test.sh builds first; CHORUS_BIN names
// another. Tests skip themselves when it is missing (`haveChorus()`).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
export const BIN = process.env.CHORUS_BIN || join(HERE, '..', 'target', 'debug', 'chorus');

/** True when there is a chorus binary to run. */
export function haveChorus() {
  return existsSync(BIN);
}

/** A port nobody listens on now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** `promise`, or a rejection naming `what` after `ms`. */
export function withTimeout(promise, what, ms = 5000) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Starts `chorus serve --host 127.0.0.1 --port PORT ...args` with `env` added to this
 * process's (and CHORUS_LOG=warn), and resolves with the child once GET /healthz answers.
 */
export async function startChorus(port, args, env = {}) {
  const child = spawn(BIN, ['serve', '--host', '127.0.0.1', '--port', String(port), ...args], {
    env: { ...process.env, CHORUS_LOG: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return child;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`${BIN} did not start on port ${port}`);
}

/** Kills `child` with `signal` and resolves once it has exited. */
export async function stopChorus(child, signal = 'SIGTERM') {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await withTimeout(exited, 'chorus exit', 10000);
}
