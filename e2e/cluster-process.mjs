// The services a cluster test runs beside its `chorus serve` nodes: a real `redis-server`
// and `nginx` (Debian's packages; scripts/test.sh installs them), each started on a free
// loopback port in a temporary directory and stopped by its PID.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './chorus-process.mjs';

export const REDIS = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find(existsSync);
export const NGINX = ['/usr/sbin/nginx', '/usr/local/sbin/nginx'].find(existsSync);

function listening(port) {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

async function untilListening(port, what) {
  for (let i = 0; i < 200; i++) {
    if (await listening(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not start on port ${port}`);
}

/**
 * A redis-server with nothing saved to disk (on `port`, or a free one):
 * `{ port, url, child, stop() }`; `await stop()` resolves once the process has exited.
 */
export async function startRedis(port = null) {
  port ??= await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'chorus-redis-'));
  const child = spawn(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  await untilListening(port, 'redis-server');
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    child,
    async stop() {
      const exited = child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve()
        : new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * nginx in front of `ports`, round robin (no ip_hash, no sticky sessions), WebSocket
 * upgrades passed through; `{ port, url, stop() }`.
 */
export async function startNginx(ports) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'chorus-nginx-'));
  for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub));
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, `
# One process, stopped by its PID: no workers left behind a killed master.
master_process off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  upstream chorus {
${ports.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=2s;`).join('\n')}
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://chorus;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_buffering off;
      proxy_read_timeout 60s;
      proxy_connect_timeout 2s;
      proxy_next_upstream error timeout;
    }
  }
}
`);
  const child = spawn(NGINX, ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf,
    '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'inherit'] });
  await untilListening(port, 'nginx');
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    stop() {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
