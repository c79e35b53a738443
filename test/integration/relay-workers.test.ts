/**
 * --workers N: one relay process whose TURN ports are served by N threads with SO_REUSEPORT. Run
 * on a Node that has dgram `reusePort` (test/support/newer-node.ts installs the registry's Node 24
 * when the tests run on Node 20), as an operator runs it (`node --import tsx relay/main.ts`):
 * turnutils_uclient's clients land on both workers and every message comes back, over UDP and TCP;
 * /healthz and /metrics count both workers; SIGTERM drains and stops both; UDP on dgram and on the
 * native addon alike. On a Node without reusePort, --workers 2 with TCP refuses to start with one
 * line and exit code 2, and UDP alone runs on the native addon (explicitly, and under auto).
 */
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reusePortAvailable } from '../../relay/socket-util.ts';
import { newerNode } from '../support/newer-node.ts';
import { freePort } from '../support/ports.ts';
import { runToExit, type Started, startUntilReady } from '../support/process.ts';
import { makeSelfSignedCert } from '../support/tls-cert.ts';
import { type Peer, runUclient, startTurnutilsPeer } from '../support/turnutils.ts';

const NODE_HAS_REUSEPORT = await reusePortAvailable();

interface Health {
  allocations: number;
  udpIo: string;
  workers: { allocations: number; relayedPackets: number }[];
}

async function health(httpPort: number): Promise<Health> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
  return (await res.json()) as Health;
}

/**
 * turnutils_uclient against `relay/main.ts --workers 2` at 127.0.0.1:`port` as ninja: `clients`
 * sessions of `messages` each, every session from its own source port (so the kernel's
 * SO_REUSEPORT hash spreads them; 16 all on one worker has odds 2 in 65,536).
 */
const uclientOnWorkers = (
  port: number,
  peer: Peer,
  o: {
    transport: 'udp' | 'tcp' | 'tls';
    mode: 'channel' | 'send-indication';
    messages: number;
    clients: number;
  },
) =>
  runUclient({
    server: '127.0.0.1',
    port,
    user: 'ninja',
    password: 'youhavetoberealistic',
    peer: { host: peer.host, port: peer.port },
    noRtcp: true,
    intervalMs: 5,
    ...o,
  });

/** /healthz once both workers have counted `packets` relayed: each relayed some, and the sums agree. */
async function expectBothWorkersRelayed(httpPort: number, packets: number): Promise<void> {
  const h = await healthOnceCounted(httpPort, packets);
  expect(h.workers).toHaveLength(2);
  for (const w of h.workers) expect(w.relayedPackets).toBeGreaterThan(0);
  expect(h.workers.reduce((n, w) => n + w.relayedPackets, 0)).toBeGreaterThanOrEqual(packets);
  expect(h.allocations).toBe(h.workers.reduce((n, w) => n + w.allocations, 0));
}

/** `relay/main.ts --workers 2` with a static user, on `node` (this one by default), once ready. */
async function startTwoWorkers(what: string, extra: string[], node?: string) {
  const turnPort = await freePort('both');
  const httpPort = await freePort('tcp');
  const relay = await startUntilReady(
    [
      'relay/main.ts',
      '--workers',
      '2',
      '--turn-port',
      String(turnPort),
      '--http-port',
      String(httpPort),
      '--user',
      'ninja:youhavetoberealistic',
      '--realm',
      'workers.test',
      '--allow-peer',
      '127.0.0.0/8',
      '--drain-timeout',
      '1',
      '--log-level',
      'info',
      ...extra,
    ],
    {},
    what,
    { ...(node ? { node } : {}), readyMs: 60_000 },
  );
  return { relay, turnPort, httpPort };
}

async function stopAll(peer: Peer | undefined, relay: Started | undefined): Promise<void> {
  await peer?.stop();
  if (relay && relay.child.exitCode === null) {
    relay.child.kill('SIGKILL');
    await relay.exited;
  }
}

/** /healthz once both workers' relayed packets add up to `atLeast` (the main thread reads them every second), or after 6 s. */
async function healthOnceCounted(httpPort: number, atLeast: number): Promise<Health> {
  const total = (x: Health) => x.workers.reduce((n, w) => n + w.relayedPackets, 0);
  let h = await health(httpPort);
  for (let i = 0; i < 30 && total(h) < atLeast; i++) {
    await new Promise((r) => setTimeout(r, 200));
    h = await health(httpPort);
  }
  return h;
}

// UDP on Node's dgram (reusePort) and on the native addon, TCP on Node's net beside either.
describe.each(['dgram', 'native'] as const)('a relay with --workers 2 on %s UDP I/O', (io) => {
  let relay: Started;
  let peer: Peer;
  let turnPort: number;
  let httpPort: number;

  beforeAll(async () => {
    ({ relay, turnPort, httpPort } = await startTwoWorkers(
      `relay with two workers on ${io}`,
      ['--min-port', '41000', '--max-port', '41999', '--udp-io', io],
      await newerNode(),
    ));
    peer = await startTurnutilsPeer('127.0.0.1', await freePort('udp'));
  }, 240_000);

  afterAll(() => stopAll(peer, relay));

  it('relays for UDP clients that the kernel spreads over both workers', async () => {
    expect((await health(httpPort)).udpIo).toBe(io);
    const result = await uclientOnWorkers(turnPort, peer, {
      transport: 'udp',
      mode: 'channel',
      messages: 20,
      clients: 16,
    });
    expect(result.timedOut).toBe(false);
    expect(result.messagesSent).toBe(16 * 20);
    expect(result.messagesReceived).toBe(16 * 20);
    await expectBothWorkersRelayed(httpPort, 2 * 16 * 20);
  }, 60_000);

  it('relays for TCP clients too', async () => {
    const result = await uclientOnWorkers(turnPort, peer, {
      transport: 'tcp',
      mode: 'channel',
      messages: 20,
      clients: 8,
    });
    expect(result.timedOut).toBe(false);
    expect(result.messagesReceived).toBe(8 * 20);
  }, 60_000);

  it('sums both workers in /metrics', async () => {
    // Traffic has stopped: once the other worker's counts have been read again (every second),
    // /healthz and /metrics must agree on every packet of both workers.
    await new Promise((r) => setTimeout(r, 1500));
    const h = await health(httpPort);
    const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const relayed = [...text.matchAll(/^turn_relayed_packets_total\{direction="\w+"\} (\d+)$/gm)];
    expect(relayed).toHaveLength(2);
    const inMetrics = relayed.reduce((n, m) => n + Number(m[1]), 0);
    expect(inMetrics).toBe(h.workers.reduce((n, w) => n + w.relayedPackets, 0));
    expect(inMetrics).toBeGreaterThanOrEqual(2 * (16 + 8) * 20);
    expect(Number(/^turn_allocations_active (\d+)$/m.exec(text)?.[1])).toBe(h.allocations);
    expect(text).toMatch(/^turn_draining 0$/m);
  });

  it('drains and stops both workers on SIGTERM', async () => {
    relay.child.kill('SIGTERM');
    expect(await relay.exited).toBe(0);
    const out = relay.output();
    expect(out).toMatch(/"worker":1,"part":"turn".*"msg":"draining"/);
    expect(out).toMatch(/"worker":1,"part":"turn","msg":"TURN listeners closed"/);
    expect(out).toMatch(/"msg":"stopped"/);
  }, 30_000);
});

describe('a relay with --workers 2 serving TLS', () => {
  let relay: Started;
  let peer: Peer;
  let tlsPort: number;
  let cert: { cert: string; key: string };

  beforeAll(async () => {
    const node = await newerNode();
    cert = await makeSelfSignedCert(mkdtempSync(join(tmpdir(), 'workers-tls-')));
    tlsPort = await freePort('tcp');
    relay = await startUntilReady(
      [
        'relay/main.ts',
        '--workers',
        '2',
        '--turn-port',
        String(await freePort('both')),
        '--tls-port',
        String(tlsPort),
        '--tls-cert',
        cert.cert,
        '--tls-key',
        cert.key,
        // Only SIGHUP reloads here: each worker would see a file change by itself.
        '--no-tls-watch',
        '--http-port',
        '0',
        '--user',
        'ninja:youhavetoberealistic',
        '--allow-peer',
        '127.0.0.0/8',
        '--min-port',
        '42000',
        '--max-port',
        '42999',
        '--drain-timeout',
        '1',
      ],
      {},
      'relay with two workers and TLS',
      { node, readyMs: 60_000 },
    );
    peer = await startTurnutilsPeer('127.0.0.1', await freePort('udp'));
  }, 240_000);

  afterAll(() => stopAll(peer, relay));

  it('relays for TLS clients on the shared TLS port', async () => {
    const result = await uclientOnWorkers(tlsPort, peer, {
      transport: 'tls',
      mode: 'channel',
      messages: 10,
      clients: 8,
    });
    expect(result.timedOut).toBe(false);
    expect(result.messagesReceived).toBe(8 * 10);
  }, 60_000);

  it('reloads the certificate in every worker on SIGHUP', async () => {
    const next = await makeSelfSignedCert(mkdtempSync(join(tmpdir(), 'workers-tls-next-')));
    copyFileSync(next.cert, cert.cert);
    copyFileSync(next.key, cert.key);
    relay.child.kill('SIGHUP');
    const reloaded = () =>
      relay.output().match(/"trigger":"SIGHUP".*"msg":"TLS certificate reloaded"/g) ?? [];
    for (let i = 0; i < 50 && reloaded().length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    expect(reloaded()).toHaveLength(2);
    expect(relay.output()).toMatch(/"worker":1,[^\n]*"trigger":"SIGHUP"[^\n]*"TLS certificate reloaded"/);
    relay.child.kill('SIGTERM');
    expect(await relay.exited).toBe(0);
  }, 30_000);
});

describe('a relay with --workers 2 on native UDP I/O, on any Node', () => {
  let relay: Started;
  let peer: Peer;
  let turnPort: number;
  let httpPort: number;

  beforeAll(async () => {
    // This Node (20 in CI has no dgram reusePort): the addon sets SO_REUSEPORT on its sockets.
    ({ relay, turnPort, httpPort } = await startTwoWorkers('relay with two native workers', [
      '--udp-io',
      'native',
      '--no-tcp',
      '--min-port',
      '42000',
      '--max-port',
      '42999',
    ]));
    peer = await startTurnutilsPeer('127.0.0.1', await freePort('udp'));
  }, 120_000);

  afterAll(() => stopAll(peer, relay));

  it('relays for UDP clients that the kernel spreads over both native workers', async () => {
    expect(relay.output()).not.toMatch(/addon is not built/);
    for (const mode of ['channel', 'send-indication'] as const) {
      const result = await uclientOnWorkers(turnPort, peer, {
        transport: 'udp',
        mode,
        messages: 20,
        clients: 16,
      });
      expect(result.timedOut).toBe(false);
      expect(result.messagesReceived).toBe(16 * 20);
    }
    await expectBothWorkersRelayed(httpPort, 2 * 2 * 16 * 20);
    const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    expect(text).toMatch(/^turn_native_udp_datagrams_total\{direction="received"\} [1-9]/m);
  }, 60_000);

  it('drains and stops both workers on SIGTERM', async () => {
    relay.child.kill('SIGTERM');
    expect(await relay.exited).toBe(0);
    expect(relay.output()).toMatch(/"worker":1,"part":"turn","msg":"TURN listeners closed"/);
  }, 30_000);
});

describe('a relay with --workers 2 on a Node without reusePort', () => {
  // The tests run on the project's Node 20; on a newer one there is no such Node to try.
  it.skipIf(NODE_HAS_REUSEPORT)('refuses to start with one line and exit code 2', async () => {
    const turnPort = await freePort('both');
    const r = await runToExit(
      ['relay/main.ts', '--workers', '2', '--turn-port', String(turnPort), '--http-port', '0'],
      {},
    );
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      `relay: --workers: 2 workers share the TURN ports with SO_REUSEPORT, which needs Node 22.12 or later (this is Node ${process.version}); run with --workers 1, or serve UDP alone on native I/O (--no-tcp, no TLS, --udp-io auto or native)`,
    ]);
  });

  it.skipIf(NODE_HAS_REUSEPORT)(
    'serves UDP alone on the native addon under the default --udp-io auto, and says why',
    async () => {
      const { relay, httpPort } = await startTwoWorkers('relay with two auto workers', [
        '--no-tcp',
        '--min-port',
        '43000',
        '--max-port',
        '43999',
      ]);
      try {
        for (let i = 0; i < 50 && !/UDP I\/O: /.test(relay.output()); i++)
          await new Promise((r) => setTimeout(r, 100));
        expect(relay.output()).toContain(
          `"msg":"UDP I/O: native (auto: the addon loaded, and on Node ${process.version} only it lets 2 workers share the UDP port)"`,
        );
        const h = await health(httpPort);
        expect(h.udpIo).toBe('native');
        expect(h.workers).toHaveLength(2);
      } finally {
        await stopAll(undefined, relay);
      }
    },
    60_000,
  );
});
