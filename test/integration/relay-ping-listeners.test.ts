/**
 * The relay's listeners, as real processes on loopback: the public ping ports (HTTP and HTTPS with
 * the relay's certificate) serve /ping and nothing else; the private port keeps /metrics, /healthz
 * and /readyz; PUT /faults there needs the --fault-api-token bearer token and is refused without
 * one; the directory record publishes the HTTPS ping URL; a SIGHUP certificate reload reaches the
 * HTTPS ping port too.
 */
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisDirectory } from '../../src/redis/redis-directory.ts';
import {
  startTestRelay,
  stopTestRelays,
  TEST_FAULT_TOKEN,
  type TestRelay,
  until,
} from '../support/backbone-relays.ts';
import { freePort } from '../support/ports.ts';
import { deleteKeys, redisUrl, uniquePrefix } from '../support/redis.ts';
import { makeSelfSignedCert } from '../support/tls-cert.ts';

const HOST = '127.0.0.71';
let dir: string;
let certA: { cert: string; key: string };
let certB: { cert: string; key: string };
let live: { cert: string; key: string };
let relay: TestRelay;
/** A relay without --fault-api-token (and without Redis): PUT /faults is off. */
let plain: TestRelay;
let redis: { url: string; prefix: string };
let directory: RedisDirectory;
let pingHttp: string;
let pingHttps: string;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request over HTTPS that trusts certificate A or B (both self-signed for 127.0.0.71). */
function httpsRequest(url: string, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      { method, ca: [readFileSync(certA.cert), readFileSync(certB.cert)], timeout: 5000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${url}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** The certificate fingerprint a new TLS connection to `port` is shown. */
function served(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: HOST, port, rejectUnauthorized: false }, () => {
      const fp = s.getPeerX509Certificate()?.fingerprint256 ?? '';
      s.destroy();
      resolve(fp);
    });
    s.setTimeout(3000, () => s.destroy(new Error('TLS handshake timed out')));
    s.once('error', reject);
  });
}

const fingerprintOf = (file: string) => new X509Certificate(readFileSync(file)).fingerprint256;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'relay-ping-'));
  for (const name of ['a', 'b', 'live']) mkdirSync(join(dir, name));
  certA = await makeSelfSignedCert(join(dir, 'a'), { ips: [HOST] });
  certB = await makeSelfSignedCert(join(dir, 'b'), { ips: [HOST] });
  live = { cert: join(dir, 'live', 'cert.pem'), key: join(dir, 'live', 'key.pem') };
  copyFileSync(certA.cert, live.cert);
  copyFileSync(certA.key, live.key);
  redis = { url: await redisUrl(), prefix: uniquePrefix('ping') };
  relay = await startTestRelay({
    id: 'pinged',
    host: HOST,
    redis, // with a backbone and --fault-api-token TEST_FAULT_TOKEN
    extra: [
      '--tls-port',
      String(await freePort('tcp', HOST)),
      '--tls-cert',
      live.cert,
      '--tls-key',
      live.key,
      '--no-tls-watch',
      '--ping-port',
      '0',
      '--ping-tls-port',
      '0',
    ],
  });
  const { pingPort, pingTlsPort } = relay.child.ready;
  pingHttp = `http://${HOST}:${pingPort}`;
  pingHttps = `https://${HOST}:${pingTlsPort}`;
  plain = await startTestRelay({ id: 'plain', host: '127.0.0.72' });
  const client = () => new Redis(redis.url).on('error', () => {});
  directory = new RedisDirectory({ client: client(), subscriber: client(), prefix: redis.prefix });
});

afterAll(async () => {
  await directory?.close();
  await stopTestRelays([relay, plain].filter(Boolean));
  if (redis) await deleteKeys(redis.url, redis.prefix);
  rmSync(dir, { recursive: true, force: true });
});

describe('the public ping listeners', () => {
  it('answer GET /ping over HTTP and HTTPS, CORS open and never cached', async () => {
    const plainText = await fetch(`${pingHttp}/ping`);
    expect(plainText.status).toBe(200);
    expect(await plainText.text()).toBe('pong');
    expect(plainText.headers.get('access-control-allow-origin')).toBe('*');
    expect(plainText.headers.get('cache-control')).toBe('no-store');
    const secure = await httpsRequest(`${pingHttps}/ping`);
    expect(secure).toMatchObject({ status: 200, body: 'pong' });
    expect(secure.headers['access-control-allow-origin']).toBe('*');
    expect(secure.headers['timing-allow-origin']).toBe('*');
  });

  it('serve nothing but /ping: /metrics, /healthz, /readyz and /faults are 404 there', async () => {
    for (const path of ['/metrics', '/healthz', '/readyz', '/faults', '/']) {
      const res = await fetch(`${pingHttp}${path}`);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      const secure = await httpsRequest(`${pingHttps}${path}`);
      expect(secure.status, path).toBe(404);
      expect(secure.body).not.toContain('turn_');
    }
    const put = await fetch(`${pingHttp}/faults`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TEST_FAULT_TOKEN}` },
      body: '',
    });
    expect(put.status).toBe(404);
    expect((await fetch(`${pingHttp}/ping`, { method: 'POST' })).status).toBe(405);
  });

  it('publish the HTTPS ping URL in the directory record', async () => {
    await until(async () => (await directory.get('pinged', Date.now())) !== undefined, 10_000, 'registered');
    const record = await directory.get('pinged', Date.now());
    expect(record?.pingUrl).toBe(`${pingHttps}/ping`);
  });

  it('serve a reloaded certificate on the HTTPS ping port after SIGHUP', async () => {
    const port = Number(new URL(pingHttps).port);
    expect(await served(port)).toBe(fingerprintOf(certA.cert));
    copyFileSync(certB.cert, live.cert);
    copyFileSync(certB.key, live.key);
    relay.child.kill('SIGHUP');
    await until(async () => (await served(port)) === fingerprintOf(certB.cert), 5000, 'new certificate');
    expect((await httpsRequest(`${pingHttps}/ping`)).status).toBe(200);
  });
});

describe('the private HTTP port', () => {
  it('keeps /metrics, /healthz, /readyz and /ping', async () => {
    const metrics = await fetch(`${relay.http}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('turn_allocations_created_total');
    for (const path of ['/healthz', '/readyz', '/ping'])
      expect((await fetch(`${relay.http}${path}`)).status, path).toBe(200);
  });

  it('refuses PUT /faults without a token (401) and with a wrong one (403), as problem JSON', async () => {
    const none = await fetch(`${relay.http}/faults`, { method: 'PUT', body: 'x:blackhole' });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="relay"');
    expect(none.headers.get('content-type')).toBe('application/problem+json');
    expect(await none.json()).toMatchObject({ status: 401, title: 'Unauthorized' });
    for (const authorization of [
      `Bearer ${TEST_FAULT_TOKEN}x`,
      'Bearer wrong',
      `Basic ${TEST_FAULT_TOKEN}`,
    ]) {
      const wrong = await fetch(`${relay.http}/faults`, {
        method: 'PUT',
        headers: { authorization },
        body: 'x:blackhole',
      });
      expect(wrong.status, authorization).toBe(403);
      expect(await wrong.json()).toMatchObject({ status: 403, title: 'Forbidden' });
    }
  });

  it('accepts PUT /faults with the token, and still checks the spec', async () => {
    const auth = { authorization: `Bearer ${TEST_FAULT_TOKEN}` };
    const ok = await fetch(`${relay.http}/faults`, { method: 'PUT', headers: auth, body: 'x:delay=5' });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ ok: true });
    const bad = await fetch(`${relay.http}/faults`, { method: 'PUT', headers: auth, body: 'x:teleport' });
    expect(bad.status).toBe(400);
    const cleared = await fetch(`${relay.http}/faults`, { method: 'PUT', headers: auth, body: '' });
    expect(cleared.status).toBe(200);
  });

  it('refuses PUT /faults on a relay without --fault-api-token, whatever the token', async () => {
    const res = await fetch(`${plain.http}/faults`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TEST_FAULT_TOKEN}` },
      body: '',
    });
    expect(res.status).toBe(405);
  });
});
