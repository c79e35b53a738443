/**
 * A real Redis for integration tests: REDIS_URL when set, else 127.0.0.1:6379 when it answers,
 * else a `redis-server` started on a free port for this process (and stopped at exit). Each test
 * file takes a key prefix unique to the run and deletes its keys afterwards.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';
import { freePort } from './ports.ts';

let started: { url: string; child: ChildProcess } | undefined;

/** Whether a Redis at host:port answers PING within half a second. */
export function redisAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(500, () => done(false));
    s.once('error', () => done(false));
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

export async function redisUrl(): Promise<string> {
  if (process.env.REDIS_URL) return process.env.REDIS_URL;
  if (await redisAnswers('127.0.0.1', 6379)) return 'redis://127.0.0.1:6379';
  if (started) return started.url;
  const port = await freePort('tcp');
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  process.once('exit', () => child.kill());
  for (let i = 0; i < 50 && !(await redisAnswers('127.0.0.1', port)); i++)
    await new Promise((r) => setTimeout(r, 100));
  started = { url: `redis://127.0.0.1:${port}`, child };
  return started.url;
}

/** A prefix no other run shares: `test:<pid>:<random>:`. */
export function uniquePrefix(name: string): string {
  return `test:${name}:${process.pid}:${randomBytes(4).toString('hex')}:`;
}

/** Deletes every key under `prefix` (SCAN, never KEYS). */
export async function deleteKeys(url: string, prefix: string): Promise<void> {
  const r = new Redis(url, { lazyConnect: true });
  await r.connect();
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await r.del(...keys);
  } while (cursor !== '0');
  await r.quit();
}

export interface LocalCluster {
  readonly nodes: { host: string; port: number }[];
  stop(): void;
}

/**
 * A three-master Redis Cluster of this process's own on loopback (`redis-server
 * --cluster-enabled yes` and `redis-cli --cluster create`), to test that every key shares a slot.
 */
export async function startRedisCluster(): Promise<LocalCluster> {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { execFileSync } = await import('node:child_process');
  const dir = mkdtempSync(join(tmpdir(), 'redis-cluster-'));
  const ports = [await freePort('tcp'), await freePort('tcp'), await freePort('tcp')];
  const children = ports.map((port) =>
    spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--dir',
        dir,
      ],
      { stdio: 'ignore' },
    ),
  );
  const stop = () => {
    for (const c of children) c.kill('SIGKILL');
  };
  process.once('exit', stop);
  for (const port of ports) {
    for (let i = 0; i < 50 && !(await redisAnswers('127.0.0.1', port)); i++)
      await new Promise((r) => setTimeout(r, 100));
  }
  execFileSync(
    'redis-cli',
    [
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ],
    {
      stdio: 'ignore',
    },
  );
  // Wait until every node agrees the cluster is up.
  for (const port of ports) {
    for (let i = 0; i < 100; i++) {
      const info = execFileSync('redis-cli', ['-p', String(port), 'cluster', 'info']).toString();
      if (info.includes('cluster_state:ok')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { nodes: ports.map((port) => ({ host: '127.0.0.1', port })), stop };
}
