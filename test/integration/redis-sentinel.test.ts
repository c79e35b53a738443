/**
 * The relay finds its Redis through Sentinel: a master and a Sentinel of this test's own
 * (`redis-server --sentinel`), and a relay given only the Sentinel's address and the master's
 * name registers in the master.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisDirectory } from '../../src/redis/redis-directory.ts';
import { freePort } from '../support/ports.ts';
import { startRelayProcess } from '../support/relay.ts';

const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

async function until(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const start = Date.now();
  while (!(await cond().catch(() => false))) {
    if (Date.now() - start > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('Redis Sentinel', () => {
  it('lets a relay register through Sentinel with only the master name', async () => {
    const masterPort = await freePort('tcp');
    const sentinelPort = await freePort('tcp');
    const dir = mkdtempSync(join(tmpdir(), 'sentinel-'));
    children.push(
      spawn(
        'redis-server',
        ['--port', String(masterPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        {
          stdio: 'ignore',
        },
      ),
    );
    // Sentinel rewrites its config file, so it gets one of its own.
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `port ${sentinelPort}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor relays 127.0.0.1 ${masterPort} 1`,
        'sentinel down-after-milliseconds relays 2000',
        '',
      ].join('\n'),
    );
    children.push(spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' }));
    const probe = new Redis({
      port: sentinelPort,
      host: '127.0.0.1',
      lazyConnect: true,
      retryStrategy: () => 100,
    });
    probe.on('error', () => {});
    await until(
      async () => {
        if (probe.status !== 'ready') await probe.connect().catch(() => undefined);
        const master = (await probe.call('SENTINEL', 'get-master-addr-by-name', 'relays')) as string[] | null;
        return master?.[1] === String(masterPort);
      },
      10_000,
      'sentinel knows the master',
    );
    probe.disconnect();

    const relay = await startRelayProcess([
      '--turn-port',
      String(await freePort('both')),
      '--http-port',
      '0',
      '--user',
      'a:b',
      '--realm',
      'r',
      '--log-level',
      'warn',
      '--id',
      'via-sentinel',
      '--redis',
      `redis-sentinel://127.0.0.1:${sentinelPort}/relays`,
      '--redis-prefix',
      'sentinel-test:',
    ]);
    const direct = (url: string) => new Redis(url).on('error', () => {});
    const url = `redis://127.0.0.1:${masterPort}`;
    const directory = new RedisDirectory({
      client: direct(url),
      subscriber: direct(url),
      prefix: 'sentinel-test:',
    });
    try {
      await until(
        async () => (await directory.get('via-sentinel', Date.now())) !== undefined,
        5000,
        'registered',
      );
      expect((await directory.list(Date.now())).map((r) => r.id)).toEqual(['via-sentinel']);
    } finally {
      relay.kill('SIGINT');
      await relay.exited;
      await directory.close();
    }
  });
});
