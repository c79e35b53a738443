/**
 * Validates the third-party test harness against the reference server: coturn's turnutils_uclient
 * against coturn's turnserver, with turnutils_peer echoing. If these checks fail, the harness is
 * wrong (not our relay). Over UDP, TCP and TLS, with ChannelData and with Send indications, with a
 * static user and with a TURN REST secret. coturn cannot mix the two credential kinds in one
 * instance, so there are two instances. Every uclient run takes a few seconds (each session starts
 * 1-6 s late on purpose), so the runs go concurrently.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CoturnServer, startCoturn } from '../support/coturn-server.ts';
import { freePort, freePorts } from '../support/ports.ts';
import { makeSelfSignedCert } from '../support/tls-cert.ts';
import {
  type Peer,
  runUclient,
  startTurnutilsPeer,
  UclientError,
  uclientArgs,
  uclientSessions,
} from '../support/turnutils.ts';

const HOST = '127.0.0.1';
const USER = { name: 'ninja', password: 'youhavetoberealistic' };
const SECRET = 'north-secret';
const MESSAGES = 20;
const CLIENTS = 2;

const transports = ['udp', 'tcp', 'tls'] as const;
const modes = ['channel', 'send-indication'] as const;
const auths = ['static user', 'REST secret'] as const;
const cases = transports.flatMap((t) => modes.flatMap((m) => auths.map((a) => [t, m, a] as const)));

describe('turnutils_uclient against coturn turnserver (harness validation)', () => {
  let dir: string;
  let peer: Peer;
  const servers = {} as Record<(typeof auths)[number], CoturnServer>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'harness-coturn-'));
    const cert = await makeSelfSignedCert(dir);
    const [staticPorts, restPorts, peerPort] = await Promise.all([
      freePorts(2, 'both'),
      freePorts(2, 'both'),
      freePort('udp'),
    ]);
    const common = { listen: HOST, realm: 'harness.test', cert: cert.cert, key: cert.key, relayThreads: 1 };
    const [s, r, p] = await Promise.all([
      startCoturn({
        ...common,
        port: staticPorts[0]!,
        tlsPort: staticPorts[1]!,
        users: [USER],
        allowLoopback: true,
      }),
      startCoturn({
        ...common,
        port: restPorts[0]!,
        tlsPort: restPorts[1]!,
        secret: SECRET,
        allowLoopback: true,
      }),
      startTurnutilsPeer({ host: HOST, port: peerPort }),
    ]);
    servers['static user'] = s;
    servers['REST secret'] = r;
    peer = p;
  });

  afterAll(async () => {
    await Promise.all([peer?.stop(), servers['static user']?.stop(), servers['REST secret']?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('maps options to the flags that uclient documents', () => {
    expect(
      uclientArgs({
        server: HOST,
        port: 3478,
        transport: 'tls',
        mode: 'send-indication',
        secret: 's',
        user: 'u',
        peer: { host: HOST, port: 3480 },
        messages: 7,
        messageSize: 200,
        clients: 3,
        noRtcp: true,
        intervalMs: 5,
      }),
    ).toEqual(
      '-t -S -s -c -u u -W s -e 127.0.0.1 -r 3480 -n 7 -l 200 -m 3 -z 5 -p 3478 127.0.0.1'.split(' '),
    );
    expect(uclientSessions({ clients: 1 })).toBe(2);
    expect(uclientSessions({ clients: 3, noRtcp: true })).toBe(3);
  });

  // One at a time: twelve uclients at once made coturn seal several messages into one TLS record
  // under load, and uclient reads one message per SSL_read, so it lost some (2 of 40 in one CI
  // rehearsal). Our relay writes a record per message (relay/stream-listeners.ts, recordWriter).
  it.each(cases)('echoes every message over %s in %s mode with a %s', async (transport, mode, auth) => {
    const server = servers[auth];
    const result = await runUclient({
      server: HOST,
      port: transport === 'tls' ? server.tlsPort! : server.port,
      transport,
      mode,
      ...(auth === 'static user' ? { user: USER.name, password: USER.password } : { secret: SECRET }),
      peer: { host: peer.host, port: peer.port },
      messages: MESSAGES,
      clients: CLIENTS,
      intervalMs: 5,
      timeoutMs: 20_000,
    });
    expect(result.timedOut).toBe(false);
    expect(result.exitCode).toBe(0);
    expect(result.messagesSent).toBe(MESSAGES * uclientSessions({ clients: CLIENTS }));
    expect(result.messagesReceived).toBe(result.messagesSent);
    expect(result.lostPackets).toBe(0);
    expect(result.lossPercent).toBe(0);
    expect(Number.isFinite(result.avgRttMs)).toBe(true);
    expect(Number.isFinite(result.jitterMs)).toBe(true);
  });

  it.concurrent('rejects with the uclient output when coturn refuses the password', async () => {
    const err = await runUclient({
      server: HOST,
      port: servers['static user'].port,
      transport: 'udp',
      mode: 'channel',
      user: USER.name,
      password: 'wrong',
      peer: { host: peer.host, port: peer.port },
      messages: 2,
      clients: 1,
      timeoutMs: 15_000,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UclientError);
    const e = err as UclientError;
    expect(e.code).toBe('ERR_UCLIENT_NO_SUMMARY');
    expect(e.details.exitCode).toBe(255);
    expect(e.details.stdout).toContain('Cannot complete Allocation');
  });
});
