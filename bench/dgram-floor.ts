/**
 * Node's own cost per UDP datagram, the floor under any relay written on `dgram`: two sockets on
 * loopback in one process bounce datagrams back and forth (a window in flight), every arrival
 * answered with one send, as a relay answers every packet with one send. Three ways to send:
 *
 * - `default`: send(buf, port, ip) on an unconnected socket (dns.lookup answers the IP a tick later);
 * - `literal`: the same with a `lookup` that answers IP literals at once (what relay/ uses);
 * - `connected`: send(buf) on a socket connected to its peer (no address per send);
 * - `native`: the relay's --udp-io native ports (relay/udp-io.ts: recvmmsg batches, one JS call
 *   each, sends flushed with sendmmsg once per loop turn); needs npm run build:native.
 *
 *   node --import tsx bench/dgram-floor.ts [--packets 400000] [--rounds 3] [--out bench/results/dgram-floor.json]
 *
 * Prints CPU microseconds per datagram (one receive and one send each), medians over the rounds
 * (modes alternate within each round), and writes them as JSON. Run it with another Node binary
 * to compare versions.
 */
import dgram from 'node:dgram';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { literalLookup } from '../relay/socket-util.ts';
import { nativeUdpIo, type UdpPort } from '../relay/udp-io.ts';

type Mode = 'default' | 'literal' | 'connected' | 'native';
const MODES: readonly Mode[] = ['default', 'literal', 'connected', 'native'];
const WINDOW = 32;

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

async function socketPair(mode: Mode): Promise<[dgram.Socket, dgram.Socket]> {
  const make = () =>
    dgram.createSocket({
      type: 'udp4',
      recvBufferSize: 4 << 20,
      sendBufferSize: 4 << 20,
      ...(mode === 'literal' ? { lookup: literalLookup } : {}),
    });
  const a = make();
  const b = make();
  await new Promise<void>((r) => a.bind(0, '127.0.0.1', r));
  await new Promise<void>((r) => b.bind(0, '127.0.0.1', r));
  if (mode === 'connected') {
    await new Promise<void>((r) => a.connect(b.address().port, '127.0.0.1', r));
    await new Promise<void>((r) => b.connect(a.address().port, '127.0.0.1', r));
  }
  return [a, b];
}

/** As measure, on two native ports: the same window bounced, one send per arrival. */
async function measureNative(packets: number): Promise<{ cpuUs: number; userUs: number }> {
  const io = nativeUdpIo() ?? fail('native: the addon is not built (npm run build:native)');
  const a: UdpPort = await io.bind('127.0.0.1', 4, 0, { bigBuffers: true });
  const b: UdpPort = await io.bind('127.0.0.1', 4, 0, { bigBuffers: true });
  const payload = Buffer.alloc(100);
  let n = 0;
  const cpu0 = process.cpuUsage();
  await new Promise<void>((done) => {
    const timer = setTimeout(done, 60_000);
    b.onMessage(() => {
      n++;
      b.send(payload, a.port, '127.0.0.1');
    });
    a.onMessage(() => {
      n++;
      if (n < packets) a.send(payload, b.port, '127.0.0.1');
      else {
        clearTimeout(timer);
        done();
      }
    });
    for (let i = 0; i < WINDOW; i++) a.send(payload, b.port, '127.0.0.1');
  });
  const cpu = process.cpuUsage(cpu0);
  await Promise.all([a.close(), b.close()]);
  return { cpuUs: (cpu.user + cpu.system) / n, userUs: cpu.user / n };
}

/** CPU microseconds (user + system) per datagram received and answered. */
async function measure(mode: Mode, packets: number): Promise<{ cpuUs: number; userUs: number }> {
  if (mode === 'native') return measureNative(packets);
  const [a, b] = await socketPair(mode);
  const payload = Buffer.alloc(100);
  const to = (from: dgram.Socket, peer: dgram.Socket) =>
    mode === 'connected'
      ? () => from.send(payload)
      : () => from.send(payload, peer.address().port, '127.0.0.1');
  const sendA = to(a, b);
  const sendB = to(b, a);
  let n = 0;
  const cpu0 = process.cpuUsage();
  await new Promise<void>((done) => {
    const timer = setTimeout(done, 60_000);
    b.on('message', () => {
      n++;
      sendB();
    });
    a.on('message', () => {
      n++;
      if (n < packets) sendA();
      else {
        clearTimeout(timer);
        done();
      }
    });
    for (let i = 0; i < WINDOW; i++) sendA();
  });
  const cpu = process.cpuUsage(cpu0);
  await Promise.all([a, b].map((s) => new Promise<void>((r) => s.close(() => r()))));
  return { cpuUs: (cpu.user + cpu.system) / n, userUs: cpu.user / n };
}

const median = (v: number[]) => {
  const s = [...v].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      packets: { type: 'string', default: '400000' },
      rounds: { type: 'string', default: '3' },
      out: { type: 'string', default: 'bench/results/dgram-floor.json' },
    },
  });
  const packets = Number(values.packets);
  const rounds = Number(values.rounds);
  if (!(Number.isInteger(packets) && packets >= 1000 && packets <= 10_000_000))
    fail('--packets: expected 1000 to 10000000');
  if (!(Number.isInteger(rounds) && rounds >= 1 && rounds <= 20)) fail('--rounds: expected 1 to 20');
  const runs = new Map<Mode, { cpuUs: number; userUs: number }[]>(MODES.map((m) => [m, []]));
  for (let r = 0; r < rounds; r++) {
    for (const mode of MODES) {
      const result = await measure(mode, packets);
      runs.get(mode)!.push(result);
      process.stderr.write(`round ${r + 1} ${mode}: ${result.cpuUs.toFixed(2)} us CPU per datagram\n`);
    }
  }
  const rows = MODES.map((mode) => ({
    mode,
    cpuUsPerDatagram: median(runs.get(mode)!.map((x) => x.cpuUs)),
    userUsPerDatagram: median(runs.get(mode)!.map((x) => x.userUs)),
  }));
  const table = [
    `Node ${process.version}, ${packets} datagrams per run, medians of ${rounds}`,
    '| send | CPU us per datagram | of which user | vs default |',
    '|---|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.mode} | ${r.cpuUsPerDatagram.toFixed(2)} | ${r.userUsPerDatagram.toFixed(2)} | ` +
        `${(r.cpuUsPerDatagram / rows[0]!.cpuUsPerDatagram).toFixed(2)}x |`,
    ),
  ].join('\n');
  process.stdout.write(`${table}\n`);
  mkdirSync(dirname(values.out), { recursive: true });
  const meta = { date: new Date().toISOString(), node: process.version, packets, rounds };
  writeFileSync(values.out, `${JSON.stringify({ meta, rows, runs: Object.fromEntries(runs) }, null, 2)}\n`);
  process.stderr.write(`wrote ${values.out}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
