/**
 * Certificate reload with a real relay process: a live TURN-over-TLS allocation keeps relaying
 * across a certificate change (file rewrite, and SIGHUP), new TLS connections on every TLS port
 * see the new certificate (compared by SHA-256 fingerprint), and a broken new pair leaves the
 * old one serving.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageClass } from '../../src/stun/constants.ts';
import { freePorts } from '../support/ports.ts';
import { type RelayChild, runRelayCli, startRelayProcess } from '../support/relay.ts';
import { makeSelfSignedCert } from '../support/tls-cert.ts';
import { TurnTestClient } from '../support/turn-client.ts';

const CRED = { username: 'a', password: 'b', realm: 'r' };
interface Pair {
  cert: Buffer;
  key: Buffer;
}

let dir: string;
let A: Pair;
let B: Pair;
let echo: dgram.Socket;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'relay-tls-reload-'));
  const made: Pair[] = [];
  for (const name of ['a', 'b']) {
    mkdirSync(join(dir, name));
    const files = await makeSelfSignedCert(join(dir, name));
    made.push({ cert: readFileSync(files.cert), key: readFileSync(files.key) });
  }
  [A, B] = made as [Pair, Pair];
  echo = dgram.createSocket('udp4');
  echo.on('message', (m, r) => echo.send(m, r.port, r.address));
  await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
});

afterAll(() => {
  echo.close();
  rmSync(dir, { recursive: true, force: true });
});

const fingerprintOf = (pem: Buffer): string => new X509Certificate(pem).fingerprint256;

/** The fingerprint a new TLS connection to `port` is shown. */
function served(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const fp = s.getPeerX509Certificate()?.fingerprint256 ?? '';
      s.destroy();
      resolve(fp);
    });
    s.setTimeout(3000, () => s.destroy(new Error('TLS handshake timed out')));
    s.once('error', reject);
  });
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function install(live: string, pair: { cert: Buffer | string; key: Buffer | string }): void {
  writeFileSync(join(live, 'cert.pem'), pair.cert);
  writeFileSync(join(live, 'key.pem'), pair.key);
}

async function relayWith(live: string, extra: string[]): Promise<{ relay: RelayChild; tlsPorts: number[] }> {
  const [turn, t1, t2] = await freePorts(3, 'both');
  const relay = await startRelayProcess([
    ...['--turn-port', String(turn), '--http-port', '0', '--user', 'a:b', '--realm', 'r'],
    ...['--allow-peer', '127.0.0.0/8', '--log-level', 'info'],
    ...['--tls-cert', join(live, 'cert.pem'), '--tls-key', join(live, 'key.pem')],
    ...['--tls-port', String(t1), '--tls-port', String(t2)],
    ...extra,
  ]);
  return { relay, tlsPorts: [t1!, t2!] };
}

/** A TLS allocation with a channel to the echo peer; `roundTrip` proves it still relays. */
async function liveAllocation(port: number) {
  const c = await TurnTestClient.connect({
    transport: 'tls',
    server: { family: 4, address: '127.0.0.1', port },
    cred: CRED,
  });
  expect((await c.allocate()).cls).toBe(MessageClass.SuccessResponse);
  const peer = { family: 4 as const, address: '127.0.0.1', port: echo.address().port };
  expect((await c.channelBind(0x4000, peer)).cls).toBe(MessageClass.SuccessResponse);
  let n = 0;
  const roundTrip = async () => {
    const start = c.received.length;
    const payload = new Uint8Array(randomBytes(32));
    c.sendChannel(0x4000, payload);
    n++;
    const got = await c.waitForData(start + 1);
    expect(Buffer.from(got[start]!.data).equals(Buffer.from(payload))).toBe(true);
    expect(c.closed).toBe(false);
  };
  return { c, roundTrip, sent: () => n };
}

describe('TLS certificate reload', () => {
  it('serves a rewritten certificate to new connections on every TLS port, keeps live ones, refuses a broken pair', async () => {
    const live = join(dir, 'watched');
    mkdirSync(live);
    install(live, A);
    const { relay, tlsPorts } = await relayWith(live, []);
    try {
      for (const p of tlsPorts) expect(await served(p)).toBe(fingerprintOf(A.cert));
      const { c, roundTrip } = await liveAllocation(tlsPorts[0]!);
      await roundTrip();

      install(live, B);
      for (const p of tlsPorts)
        await until(async () => (await served(p)) === fingerprintOf(B.cert), 5000, `new certificate on ${p}`);
      await roundTrip();
      expect((await c.refresh(600)).cls).toBe(MessageClass.SuccessResponse);
      expect(relay.output()).toContain('TLS certificate reloaded');

      // A certificate file cut short: refused with one line, B goes on serving.
      writeFileSync(join(live, 'cert.pem'), B.cert.subarray(0, 200));
      await until(
        async () => relay.output().includes('TLS certificate reload refused'),
        5000,
        'refusal logged',
      );
      // The same bad bytes written again: a file event, but nothing new to say.
      writeFileSync(join(live, 'cert.pem'), B.cert.subarray(0, 200));
      await new Promise((r) => setTimeout(r, 1000));
      expect(relay.output().split('TLS certificate reload refused').length).toBe(2);
      // And a pair that does not match (A's certificate with B's key).
      writeFileSync(join(live, 'cert.pem'), A.cert);
      await until(
        async () => relay.output().split('TLS certificate reload refused').length >= 3,
        5000,
        'second refusal logged',
      );
      expect(relay.output()).toContain('is not the key of the certificate');
      for (const p of tlsPorts) expect(await served(p)).toBe(fingerprintOf(B.cert));
      await roundTrip();
      expect(relay.child.exitCode).toBeNull();
      await c.close();

      // One reload and two refusals (each bad pair once, however many file events it made).
      const metrics = await (await fetch(`http://127.0.0.1:${relay.ready.httpPort}/metrics`)).text();
      expect(metrics).toContain('turn_tls_certificate_reloads_total{result="reloaded"} 1\n');
      expect(metrics).toContain('turn_tls_certificate_reloads_total{result="refused"} 2\n');
      const notAfter = Date.parse(new X509Certificate(B.cert).validTo) / 1000;
      expect(metrics).toContain(`turn_tls_certificate_expiry_timestamp_seconds ${notAfter}\n`);
      expect(relay.output().split('TLS certificate reload refused').length).toBe(3);
    } finally {
      relay.kill('SIGINT');
      await relay.exited;
    }
  });

  it('reloads on SIGHUP, and only then with --no-tls-watch, without dropping a live TLS allocation', async () => {
    const live = join(dir, 'signalled');
    mkdirSync(live);
    install(live, A);
    const { relay, tlsPorts } = await relayWith(live, ['--no-tls-watch']);
    try {
      const { c, roundTrip } = await liveAllocation(tlsPorts[1]!);
      await roundTrip();
      install(live, B);
      await new Promise((r) => setTimeout(r, 1000)); // more than the watch debounce: nothing happens
      expect(await served(tlsPorts[0]!)).toBe(fingerprintOf(A.cert));

      relay.kill('SIGHUP');
      for (const p of tlsPorts)
        await until(async () => (await served(p)) === fingerprintOf(B.cert), 5000, `new certificate on ${p}`);
      await roundTrip();

      // A broken pair on SIGHUP: refused, B stays.
      install(live, { cert: 'not a certificate', key: B.key });
      relay.kill('SIGHUP');
      await until(
        async () => relay.output().includes('TLS certificate reload refused'),
        5000,
        'refusal logged',
      );
      expect(await served(tlsPorts[0]!)).toBe(fingerprintOf(B.cert));
      await roundTrip();
      expect(relay.child.exitCode).toBeNull();
      await c.close();
    } finally {
      relay.kill('SIGINT');
      await relay.exited;
    }
  });

  it("refuses to start with a pair whose key is not the certificate's: one line naming --tls-key, exit 2", async () => {
    const live = join(dir, 'mismatched');
    mkdirSync(live);
    install(live, { cert: A.cert, key: B.key });
    const [turn, t1] = await freePorts(2, 'both');
    const { code, stderr } = await runRelayCli([
      ...['--turn-port', String(turn), '--tls-port', String(t1), '--http-port', '0', '--log-level', 'silent'],
      ...['--tls-cert', join(live, 'cert.pem'), '--tls-key', join(live, 'key.pem')],
    ]);
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toEqual([
      `relay: cannot start: --tls-key: ${join(live, 'key.pem')} is not the key of the certificate in ${join(live, 'cert.pem')}`,
    ]);
  });

  it('survives a SIGHUP without TLS (Node would exit on it by default)', async () => {
    const [turn] = await freePorts(1, 'both');
    const relay = await startRelayProcess([
      ...[
        '--turn-port',
        String(turn),
        '--http-port',
        '0',
        '--user',
        'a:b',
        '--realm',
        'r',
        '--log-level',
        'warn',
      ],
    ]);
    try {
      relay.kill('SIGHUP');
      await new Promise((r) => setTimeout(r, 500));
      expect(relay.child.exitCode).toBeNull();
      const c = await TurnTestClient.connect({
        transport: 'udp',
        server: { family: 4, address: '127.0.0.1', port: turn! },
        cred: CRED,
      });
      expect((await c.allocate()).cls).toBe(MessageClass.SuccessResponse);
      await c.close();
    } finally {
      relay.kill('SIGINT');
      await relay.exited;
    }
  });
});
