/**
 * A relay with a public name and several TCP and TLS ports, as a real process registered in a
 * real Redis: every URL in its record carries the name and every port it listens on, every one
 * of those ports serves TURN (our client on each, coturn's turnutils_uclient on the extra TCP and
 * TLS ports), a client checking the turns: certificate against the name
 * succeeds, and the Node edge hands the URLs out unchanged (the stun: URL included).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayRecord } from '../../src/directory/types.ts';
import { RedisDirectory } from '../../src/redis/redis-directory.ts';
import { MessageClass } from '../../src/stun/constants.ts';
import { type NodeEdge, startNodeEdge } from '../support/node-edge.ts';
import { freePorts } from '../support/ports.ts';
import { deleteKeys, redisUrl, uniquePrefix } from '../support/redis.ts';
import { type RelayChild, startRelayProcess } from '../support/relay.ts';
import { makeSelfSignedCert } from '../support/tls-cert.ts';
import { TurnTestClient } from '../support/turn-client.ts';
import { runUclient, startTurnutilsPeer } from '../support/turnutils.ts';

// RFC 6761 §6.2: .test names never resolve; nothing here looks them up.
const NAME = 'turn-1.relay.test';
const SECRET = 'public-host-secret';
let dir: string;
let cert: { cert: string; key: string };
let url: string;
let prefix: string;
let directory: RedisDirectory;
let relay: RelayChild;
let edge: NodeEdge;
let ports: { turn: number; tcp2: number; tls1: number; tls2: number };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'relay-public-host-'));
  cert = await makeSelfSignedCert(dir, { dnsNames: [NAME] });
  url = await redisUrl();
  prefix = uniquePrefix('public-host');
  directory = new RedisDirectory({ client: new Redis(url), subscriber: new Redis(url), prefix });
  const [turn, tcp2, tls1, tls2] = (await freePorts(4, 'both')) as [number, number, number, number];
  ports = { turn, tcp2, tls1, tls2 };
  relay = await startRelayProcess([
    ...['--listen', '127.0.0.1', '--turn-port', String(turn), '--tcp-port', String(tcp2)],
    ...[
      '--tls-cert',
      cert.cert,
      '--tls-key',
      cert.key,
      '--tls-port',
      String(tls1),
      '--tls-port',
      String(tls2),
    ],
    ...['--public-host', NAME, '--http-port', '0', '--secret', SECRET, '--user', 'a:b'],
    ...['--realm', 'r'],
    ...['--redis', url, '--redis-prefix', prefix, '--id', 'named-1', '--lat', '48.86', '--lon', '2.35'],
    ...['--allow-peer', '127.0.0.0/8', '--log-level', 'warn'],
  ]);
  edge = await startNodeEdge({
    REDIS_URL: url,
    EDGE_REDIS_PREFIX: prefix,
    EDGE_SECRETS: SECRET,
    EDGE_API_KEYS: 'off',
  });
});

afterAll(async () => {
  await edge?.stop();
  relay?.kill('SIGINT');
  await relay?.exited;
  await directory?.close();
  await deleteKeys(url, prefix);
  rmSync(dir, { recursive: true, force: true });
});

/** scheme, transport and port of a published URL; the host must be the public name. */
function parts(u: string): { transport: 'udp' | 'tcp' | 'tls'; port: number } {
  const m = /^(turns?):([^:]+):(\d+)\?transport=(udp|tcp)$/.exec(u);
  if (!m) throw new Error(`not a TURN URL: ${u}`);
  expect(m[2]).toBe(NAME);
  return { transport: m[1] === 'turns' ? 'tls' : (m[4] as 'udp' | 'tcp'), port: Number(m[3]) };
}

describe('a relay with --public-host and several TCP and TLS ports', () => {
  let record: RelayRecord;

  it('publishes the name with every transport and port in its directory record', async () => {
    record = (await directory.get('named-1', Date.now()))!;
    const { turn, tcp2, tls1, tls2 } = ports;
    expect(record.turnUrls).toEqual([
      `turn:${NAME}:${turn}?transport=udp`,
      `turn:${NAME}:${turn}?transport=tcp`,
      `turn:${NAME}:${tcp2}?transport=tcp`,
      `turns:${NAME}:${tls1}?transport=tcp`,
      `turns:${NAME}:${tls2}?transport=tcp`,
    ]);
    expect(record.pingUrl).toBe(`http://${NAME}:${relay.ready.httpPort}/ping`);
    expect(record.relayedAddress).toBe('127.0.0.1'); // addresses stay addresses
    expect(relay.ready.tcp.map((a) => a.port)).toEqual([turn, tcp2]);
    expect(relay.ready.tls.map((a) => a.port)).toEqual([tls1, tls2]);
  });

  it('serves TURN on every published port (the name stands for 127.0.0.1 here)', async () => {
    for (const u of record.turnUrls) {
      const { transport, port } = parts(u);
      const c = await TurnTestClient.connect({
        transport,
        server: { family: 4, address: '127.0.0.1', port },
        cred: { username: 'a', password: 'b', realm: 'r' },
      });
      const res = await c.allocate();
      expect(res.cls, u).toBe(MessageClass.SuccessResponse);
      expect(c.relayed?.address).toBe('127.0.0.1');
      await c.close();
    }
  });

  it('relays for turnutils_uclient on the second TCP port and the second TLS port', async () => {
    const peer = await startTurnutilsPeer('127.0.0.1', (await freePorts(1, 'udp'))[0]!);
    try {
      for (const [transport, port] of [
        ['tcp', ports.tcp2],
        ['tls', ports.tls2],
      ] as const) {
        const result = await runUclient({
          server: '127.0.0.1',
          port,
          transport,
          mode: 'channel',
          user: 'a',
          password: 'b',
          peer: { host: peer.host, port: peer.port },
          messages: 20,
          clients: 1,
          intervalMs: 5,
        });
        expect(result.timedOut, transport).toBe(false);
        expect(result.messagesReceived, transport).toBe(result.messagesSent);
        expect(result.messagesSent, transport).toBeGreaterThanOrEqual(20);
      }
    } finally {
      await peer.stop();
    }
  });

  it('shows a certificate that verifies against the public name on each TLS port', async () => {
    for (const port of [ports.tls1, ports.tls2]) {
      const verified = await new Promise<boolean>((resolve, reject) => {
        const s = tls.connect(
          {
            host: '127.0.0.1',
            port,
            servername: NAME,
            ca: readFileSync(cert.cert),
            rejectUnauthorized: true,
          },
          () => {
            resolve(s.authorized);
            s.destroy();
          },
        );
        s.once('error', reject);
      });
      expect(verified).toBe(true);
    }
  });

  it('is handed out by the edge with its URLs unchanged, the derived stun: URL included', async () => {
    const res = await fetch(`${edge.base}/v1/allocate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ location: { lat: 48.8, lon: 2.3 } }),
    });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as {
      iceServers: { urls: string[]; username: string; credential: string }[];
      relay: { id: string };
      probeTargets: { id: string; stun?: string; ping?: string }[];
    };
    expect(answer.relay.id).toBe('named-1');
    const urls = answer.iceServers.flatMap((s) => s.urls);
    expect(urls).toContain(`stun:${NAME}:${ports.turn}`);
    for (const u of record.turnUrls) expect(urls).toContain(u);
    for (const u of urls) expect(u).toMatch(new RegExp(`^(stun|turns?):${NAME.replaceAll('.', '\\.')}:\\d+`));
    expect(answer.probeTargets.find((t) => t.id === 'named-1')).toEqual({
      id: 'named-1',
      stun: `stun:${NAME}:${ports.turn}`,
      ping: record.pingUrl,
    });
    // The edge's credential works over the second TLS port.
    const server = answer.iceServers[0]!;
    const c = await TurnTestClient.connect({
      transport: 'tls',
      server: { family: 4, address: '127.0.0.1', port: ports.tls2 },
      cred: { username: server.username, password: server.credential, realm: 'r' },
    });
    expect((await c.allocate()).cls).toBe(MessageClass.SuccessResponse);
    await c.close();
  });
});
