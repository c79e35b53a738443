/**
 * The production build, the way an operator deploys it: `npm run build` into a fresh directory,
 * beside only package.json and package-lock.json, `npm ci --omit=dev` there (from the npm cache:
 * no network), then the built relay, edge and key CLI run with plain `node`: no TypeScript
 * loader and no dev dependency in reach. The edge hands out iceServers and the built relay accepts
 * their credentials from our TURN client.
 */
import { existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageClass } from '../../src/stun/constants.ts';
import { freePort } from '../support/ports.ts';
import { runToExit, type Started, startUntilReady } from '../support/process.ts';
import { buildProdTree, type ProdTree } from '../support/prod-build.ts';
import { deleteKeys, redisUrl, uniquePrefix } from '../support/redis.ts';
import { errorCodeOf } from '../support/stun-builders.ts';
import { TurnTestClient } from '../support/turn-client.ts';

const SECRET = 'built-test-secret';
const DEV_ONLY = ['tsx', 'typescript', 'vitest', 'esbuild', '@biomejs/biome', 'undici', 'node-turn'];

let tree: ProdTree | undefined;
let dir: string;
let url: string;
let prefix: string;
const started: Started[] = [];

describe('the built JavaScript with production dependencies only', () => {
  beforeAll(async () => {
    tree = await buildProdTree();
    dir = tree.dir;
    console.log(`npm ci --omit=dev: from the ${tree.installedFrom}`);
    url = await redisUrl();
    prefix = uniquePrefix('dist');
  }, 420_000);

  afterAll(async () => {
    for (const s of started) {
      if (s.child.exitCode === null) s.child.kill('SIGINT');
      await s.exited;
    }
    if (url) await deleteKeys(url, prefix);
    tree?.remove();
  });

  it('installs no dev dependency and no TypeScript source', () => {
    for (const pkg of DEV_ONLY) expect(existsSync(join(dir, 'node_modules', pkg)), pkg).toBe(false);
    expect(existsSync(join(dir, 'node_modules', 'ioredis'))).toBe(true);
    for (const entry of ['dist/relay/main.js', 'dist/workers/node.js', 'dist/scripts/keys.js'])
      expect(existsSync(join(dir, entry)), entry).toBe(true);
  });

  it('runs the relay and key CLIs: help, and one-line errors with exit code 2', async () => {
    const built = { built: dir };
    const help = await runToExit(['dist/relay/main.js', '--help'], {}, 20_000, built);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--external-ip');
    const bad = await runToExit(['dist/relay/main.js', '--turn-port', 'x'], {}, 20_000, built);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    const keys = await runToExit(['dist/scripts/keys.js'], {}, 20_000, built);
    expect(keys.code).toBe(2);
    expect(keys.stderr).toMatch(/^keys: /);
  });

  it('the built edge hands out iceServers whose credentials the built relay accepts', async () => {
    const built = { built: dir };
    const redisEnv = { REDIS_URL: url, EDGE_REDIS_PREFIX: prefix };
    const keysOut = async (args: string[]) => {
      const r = await runToExit(['dist/scripts/keys.js', ...args], redisEnv, 20_000, built);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout.trim().split('\n')[0]!) as Record<string, unknown>;
    };
    await keysOut(['tenant', 'add', 'dist', '--rate', '50']);
    const apiKey = (await keysOut(['key', 'add', 'dist', '--label', 'build-test'])).key as string;

    const turnPort = await freePort('both', '127.0.0.61');
    const relay = await startUntilReady(
      [
        'dist/relay/main.js',
        '--id',
        'dist-1',
        '--listen',
        '127.0.0.61',
        '--turn-port',
        String(turnPort),
        '--http-port',
        String(await freePort('tcp')),
        '--realm',
        'dist.test',
        '--secret',
        SECRET,
        '--redis',
        url,
        '--redis-prefix',
        prefix,
        '--allow-peer',
        '127.0.0.0/8',
        '--log-level',
        'warn',
      ],
      {},
      'built relay',
      built,
    );
    started.push(relay);
    const edgePort = await freePort('tcp');
    const edge = await startUntilReady(
      ['dist/workers/node.js'],
      { ...redisEnv, EDGE_SECRETS: SECRET, EDGE_PORT: String(edgePort), EDGE_ADMIN_TOKEN: 'dist-admin' },
      'built edge',
      built,
    );
    started.push(edge);

    // The relay registers within a heartbeat; the edge reads the directory at most once a second.
    let answer: { iceServers: { urls: string[]; username: string; credential: string }[] } | undefined;
    for (let i = 0; i < 50 && !answer; i++) {
      const res = await fetch(`http://127.0.0.1:${edgePort}/v1/allocate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
        body: '{}',
      });
      if (res.status === 200) answer = (await res.json()) as typeof answer;
      else await new Promise((r) => setTimeout(r, 200));
    }
    expect(answer, 'the built edge never answered 200').toBeDefined();
    const server = answer!.iceServers[0]!;
    expect(server.urls).toContain(`turn:127.0.0.61:${turnPort}?transport=udp`);

    const turn = { family: 4 as const, address: '127.0.0.61', port: turnPort };
    const good = await TurnTestClient.connect({
      transport: 'udp',
      server: turn,
      cred: { username: server.username, password: server.credential, realm: 'dist.test' },
    });
    expect((await good.allocate()).cls).toBe(MessageClass.SuccessResponse);
    const forged = await TurnTestClient.connect({
      transport: 'udp',
      server: turn,
      cred: { username: server.username, password: 'forged', realm: 'dist.test' },
    });
    expect(errorCodeOf(await forged.allocate())).toBe(401);
    await Promise.all([good.close(), forged.close()]);

    // The built edge serves the dashboard bundled beside it (dist/dashboard).
    const admin = { authorization: 'Bearer dist-admin' };
    const page = await fetch(`http://127.0.0.1:${edgePort}/dashboard`, { headers: admin });
    expect(page.status).toBe(200);
    const js = await fetch(`http://127.0.0.1:${edgePort}/dashboard/app.js`);
    expect(js.status).toBe(200);
    expect((await js.text()).length).toBeGreaterThan(50_000);
  });

  it('runs its UDP on the native addon by default, on dgram once the addon is gone, and refuses --udp-io native then', async () => {
    const built = { built: dir };
    const addon = join(dir, 'dist/relay/native/build/native-udp.node');
    expect(existsSync(addon), 'npm run build copies the addon when it is built').toBe(true);
    const run = async (extra: string[]) => {
      const turnPort = await freePort('both', '127.0.0.62');
      const httpPort = await freePort('tcp');
      const relay = await startUntilReady(
        [
          'dist/relay/main.js',
          '--listen',
          '127.0.0.62',
          '--turn-port',
          String(turnPort),
          '--http-port',
          String(httpPort),
          '--user',
          'u:p',
          '--realm',
          'dist.test',
          '--log-level',
          'info',
          ...extra,
        ],
        {},
        'built relay',
        built,
      );
      started.push(relay);
      // pino writes asynchronously: the line may follow the ready line.
      for (let i = 0; i < 50 && !/UDP I\/O: /.test(relay.output()); i++)
        await new Promise((r) => setTimeout(r, 100));
      const line = /"msg":"(UDP I\/O: [^"]*)"/.exec(relay.output())?.[1];
      const health = (await (await fetch(`http://127.0.0.1:${httpPort}/healthz`)).json()) as {
        udpIo: string;
      };
      const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
      const info = /^relay_info\{[^}]*udp_io="(\w+)"/m.exec(metrics)?.[1];
      const client = await TurnTestClient.connect({
        transport: 'udp',
        server: { family: 4, address: '127.0.0.62', port: turnPort },
        cred: { username: 'u', password: 'p', realm: 'dist.test' },
      });
      const allocated = (await client.allocate()).cls;
      await client.close();
      relay.child.kill('SIGINT');
      await relay.exited;
      return { line, health: health.udpIo, info, allocated };
    };
    expect(await run([])).toEqual({
      line: 'UDP I/O: native (auto: the addon loaded)',
      health: 'native',
      info: 'native',
      allocated: MessageClass.SuccessResponse,
    });
    expect(await run(['--udp-io', 'dgram'])).toEqual({
      line: 'UDP I/O: dgram (--udp-io dgram)',
      health: 'dgram',
      info: 'dgram',
      allocated: MessageClass.SuccessResponse,
    });
    // An operator who never built the addon (or deploys to a machine where it cannot load).
    renameSync(addon, `${addon}.away`);
    try {
      expect(await run([])).toEqual({
        line: 'UDP I/O: dgram (auto: the native addon is not built: run npm run build:native)',
        health: 'dgram',
        info: 'dgram',
        allocated: MessageClass.SuccessResponse,
      });
      const asked = await runToExit(
        ['dist/relay/main.js', '--udp-io', 'native', '--http-port', '0'],
        {},
        20_000,
        built,
      );
      expect(asked.code).toBe(2);
      expect(asked.stderr.trim().split('\n')).toEqual([
        'relay: --udp-io native: the native addon is not built: run npm run build:native; or run with --udp-io auto (native when it loads, else dgram) or dgram',
      ]);
    } finally {
      renameSync(`${addon}.away`, addon);
    }
  }, 60_000);
});
