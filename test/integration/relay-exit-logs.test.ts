/**
 * The relay's main thread writes its logs asynchronously (pino's default stream): a line is queued
 * and leaves later, on the event loop. At exit every line logged must still reach stdout, the last
 * one ("stopped") included, even when whoever reads stdout is slow (journald or a container's log
 * driver busy): the real relay, its stdout a pipe the test stops reading, many debug lines queued
 * behind it, then SIGTERM, and the test reads again only a while later.
 */
import dgram from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { Method } from '../../src/stun/constants.ts';
import { relayMetric } from '../support/backbone-relays.ts';
import { freePort } from '../support/ports.ts';
import { startRelayProcess } from '../support/relay.ts';
import { decoded, errorCodeOf, request, transportUdp } from '../support/stun-builders.ts';

/** Unauthenticated Allocates: each gets a 401 and writes one debug line ("request refused"). */
const REQUESTS = 4000;
/** The relay's own count of them: one per line it logged, whether or not the answer reached us. */
const REFUSED = 'turn_request_errors_total{method="Allocate",code="401"}';
/** How long stdout stays unread after SIGTERM. */
const STALLED_MS = 1500;

describe('the relay main thread at exit', () => {
  it('writes every line it logged, "stopped" last, when stdout is read slowly', async () => {
    const port = await freePort('both');
    const httpPort = await freePort('tcp');
    const http = `http://127.0.0.1:${httpPort}`;
    const relay = await startRelayProcess([
      '--turn-port',
      String(port),
      '--http-port',
      String(httpPort),
      '--no-tcp',
      '--user',
      'a:b',
      '--realm',
      'r',
      '--drain-timeout',
      '0',
      '--unauth-rate',
      '1000000',
      '--unauth-burst',
      '1000000',
      '--log-level',
      'debug',
    ]);
    const out = relay.child.stdout!;
    // A slow reader: the pipe fills and the relay's lines queue in its process.
    out.pause();
    const client = dgram.createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    let answered = 0;
    client.on('message', (m) => {
      if (errorCodeOf(decoded(m)) === 401) answered++;
    });
    let refused = 0;
    try {
      // In rounds, so the relay answers them all (a burst larger than its socket buffer drops some).
      for (let sent = 0; sent < REQUESTS; ) {
        for (let i = 0; i < 100; i++, sent++)
          client.send(request(Method.Allocate, [transportUdp()]).bytes, port, '127.0.0.1');
        await new Promise((r) => setTimeout(r, 5));
      }
      // Until the relay has answered them all, or its count stands still for half a second (on a
      // busy machine a socket buffer, ours or the relay's, drops some: the count is what it logged).
      const end = Date.now() + 10_000;
      for (let still = 0; refused < REQUESTS && still < 5 && Date.now() < end; ) {
        await new Promise((r) => setTimeout(r, 100));
        const now = await relayMetric({ http }, REFUSED);
        still = now === refused ? still + 1 : 0;
        refused = now;
      }
    } finally {
      client.close();
    }
    relay.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, STALLED_MS));
    out.resume();
    expect(await relay.exited).toBe(0);
    const lines = relay
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg?: string; event?: string });
    const logged = lines.filter((l) => l.msg === 'request refused').length;
    console.log(
      `${refused} requests refused (${answered} answers received), ${logged} lines of them on stdout, last: ${lines.at(-1)?.msg}`,
    );
    expect(refused).toBeGreaterThan(REQUESTS / 2);
    expect(answered).toBeLessThanOrEqual(refused);
    // Every refusal the relay counted was logged and reached stdout, and "stopped" came last.
    expect(logged).toBe(refused);
    expect(lines.at(-1)?.msg).toBe('stopped');
  }, 60_000);
});
