/**
 * Interop with a TURN client nobody here wrote: coturn's turnutils_uclient against our relay over
 * UDP, TCP and TLS, with ChannelData and with Send indications, with static and with TURN REST
 * credentials; turnutils_peer echoes everything, and every message must come back. Both UDP I/O
 * modes: dgram and the native addon (--udp-io native; npm run build:native first).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TurnRelay } from '../../relay/turn-relay.ts';
import { freePort } from '../support/ports.ts';
import { startInProcessRelay } from '../support/relay.ts';
import { requireOnHost } from '../support/requirements.ts';
import { makeSelfSignedCert } from '../support/tls-cert.ts';
import { type Peer, runUclient, startTurnutilsPeer } from '../support/turnutils.ts';

const transports = ['udp', 'tcp', 'tls'] as const;
const modes = ['channel', 'send-indication'] as const;
const auths = ['static', 'rest'] as const;
const cases = transports.flatMap((t) => modes.flatMap((m) => auths.map((a) => [t, m, a] as const)));

describe.each(['dgram', 'native'] as const)('turnutils_uclient against our relay on %s UDP I/O', (udpIo) => {
  let relay: TurnRelay;
  let peer: Peer;
  let ports: { turn: number; tls: number };

  beforeAll(async () => {
    const cert = await makeSelfSignedCert(mkdtempSync(join(tmpdir(), 'interop-')));
    ports = { turn: await freePort('both'), tls: await freePort('tcp') };
    relay = await startInProcessRelay([
      '--listen',
      '127.0.0.1',
      '--turn-port',
      String(ports.turn),
      '--tls-port',
      String(ports.tls),
      '--tls-cert',
      cert.cert,
      '--tls-key',
      cert.key,
      '--user',
      'ninja:youhavetoberealistic',
      '--secret',
      'north-secret',
      '--realm',
      'interop.test',
      '--allow-peer',
      '127.0.0.0/8',
      '--udp-io',
      udpIo,
    ]);
    requireOnHost(relay.udpIo === udpIo, `the relay fell back to ${relay.udpIo}`, 'run npm run build:native');
    peer = await startTurnutilsPeer('127.0.0.1', await freePort('udp'));
  });

  afterAll(async () => {
    await peer?.stop();
    await relay?.stop();
  });

  // The credential kind is the engine's business, the same whatever moves the datagrams: the
  // native run takes static credentials only, every transport and mode. The runs go five at a
  // time (vitest's maxConcurrency): a uclient run is mostly waiting (3-6 s for 0.15 s of
  // messages), and a relay serves many clients at once anyway. Each run's own counts decide; the
  // relay's counters (shared) only have to cover them. (harness-coturn.test.ts stays one at a
  // time: coturn packs messages into TLS records that uclient then loses.)
  it.concurrent.each(udpIo === 'native' ? cases.filter(([, , auth]) => auth === 'static') : cases)(
    'echoes every message over %s in %s mode with %s credentials',
    async (transport, mode, auth) => {
      const before = relay.traffic();
      const result = await runUclient({
        server: '127.0.0.1',
        port: transport === 'tls' ? ports.tls : ports.turn,
        transport,
        mode,
        ...(auth === 'static'
          ? { user: 'ninja', password: 'youhavetoberealistic' }
          : { secret: 'north-secret' }),
        peer: { host: peer.host, port: peer.port },
        messages: 30,
        clients: 2,
        intervalMs: 5,
      });
      expect(result.timedOut).toBe(false);
      expect(result.messagesSent).toBe(60);
      expect(result.messagesReceived).toBe(60);
      expect(result.lostPackets).toBe(0);
      // The relay counted them too, both ways.
      const after = relay.traffic();
      expect(after.packetsToPeer - before.packetsToPeer).toBeGreaterThanOrEqual(60);
      expect(after.packetsToClient - before.packetsToClient).toBeGreaterThanOrEqual(60);
    },
  );

  it('fails to allocate with a wrong password, and the relay counts the failure', async () => {
    const result = await runUclient({
      server: '127.0.0.1',
      port: ports.turn,
      transport: 'udp',
      mode: 'channel',
      user: 'ninja',
      password: 'wrong',
      peer: { host: peer.host, port: peer.port },
      messages: 5,
      clients: 1,
      timeoutMs: 10_000,
    }).catch((err: Error) => err);
    expect(result).toBeInstanceOf(Error);
    const text = await relay.metrics.registry.metrics();
    expect(text).toMatch(/turn_auth_failures_total\{reason="bad-integrity"\} [1-9]/);
  });
});
