/**
 * The TURN engine's per-packet data path without sockets: what one Send indication from a client
 * (engine.sendFromAllocation), one Data indication to a client (engine.fromPeer, no channel) and,
 * for reference, one ChannelData each way cost in the engine alone. A 100-byte payload, one
 * allocation with a permission (and a channel for the ChannelData rows), as bench/turn-relay.ts
 * sends it.
 *
 *   node --import tsx bench/turn-send-path.ts [--iterations 1000000] [--op all|send-in|data-out|channel-in|channel-out]
 *   node --import tsx bench/turn-send-path.ts --callgrind [--op ...]
 *
 * Plain: nanoseconds per packet, timed (noisy on a shared machine). --callgrind: instructions per
 * packet, counted by valgrind's callgrind, which do not depend on what else the machine runs: it
 * runs this file twice under callgrind per op (V8 with --single-threaded: no background compiler
 * or GC threads), with 20,000 and 120,000 packets after the same warm-up, and divides the
 * difference in instructions by 100,000 (start-up, tsx and the JIT's warm-up cancel out).
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { encodeChannelData } from '../src/stun/channel-data.ts';
import { Attr, Method } from '../src/stun/constants.ts';
import { channel, indication, peerAttr, request } from '../test/support/stun-builders.ts';
import { allocate, peer, REALM, setup, T0 } from '../test/support/turn-engine-harness.ts';

const OPS = ['send-in', 'data-out', 'channel-in', 'channel-out'] as const;
type Op = (typeof OPS)[number];
const WARMUP = 100_000;

/** One packet's work for `op`, on an engine with one active allocation. */
function prepare(op: Op): () => number {
  const { engine, client } = setup();
  const ctx = client();
  const cred = { username: 'alice', password: 'pw', realm: REALM };
  const { allocation: alloc } = allocate(engine, ctx, cred);
  if (!alloc) throw new Error('bench: allocation failed');
  const tid = new Uint8Array(12).fill(3);
  engine.handleStun(ctx, request(Method.CreatePermission, [peerAttr(peer, tid)], cred, { tid }).bytes, T0);
  engine.handleStun(ctx, request(Method.ChannelBind, [channel(0x4000), peerAttr(peer, tid)], cred).bytes, T0);
  const payload = new Uint8Array(100).fill(0x5a);
  const now = T0 + 1;
  switch (op) {
    case 'send-in': {
      const stid = new Uint8Array(12).fill(9);
      const bytes = indication(Method.Send, [peerAttr(peer, stid), [Attr.Data, payload]], stid);
      return () => engine.sendFromAllocation(alloc, bytes, now)?.data.length ?? -1;
    }
    case 'data-out':
      // Port 5001 has no channel: a Data indication.
      return () => engine.fromPeer(alloc, peer.address, 5001, payload, now)?.length ?? -1;
    case 'channel-in': {
      const bytes = encodeChannelData(0x4000, payload, false);
      return () => engine.channelFromAllocation(alloc, bytes, now)?.channel ?? -1;
    }
    case 'channel-out':
      return () => engine.fromPeer(alloc, peer.address, peer.port, payload, now)?.length ?? -1;
  }
}

function run(op: Op, iterations: number): number {
  const step = prepare(op);
  let sum = 0;
  for (let i = 0; i < WARMUP; i++) sum += step();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) sum += step();
  const ns = Number(process.hrtime.bigint() - t0) / iterations;
  if (sum <= 0) throw new Error(`bench: ${op} dropped its packets`);
  return ns;
}

function callgrind(op: Op, iterations: number): number {
  const out = spawnSync(
    'valgrind',
    [
      '--tool=callgrind',
      '--callgrind-out-file=/dev/null',
      process.execPath,
      '--single-threaded',
      '--import',
      'tsx',
      new URL(import.meta.url).pathname,
      '--op',
      op,
      '--iterations',
      String(iterations),
    ],
    { encoding: 'utf8' },
  );
  const m = /Collected : (\d+)/.exec(out.stderr);
  if (out.status !== 0 || !m) throw new Error(`bench: callgrind failed for ${op}:\n${out.stderr}`);
  return Number(m[1]);
}

const { values } = parseArgs({
  options: {
    iterations: { type: 'string', default: '1000000' },
    op: { type: 'string', default: 'all' },
    callgrind: { type: 'boolean', default: false },
  },
});
const ops: readonly Op[] = values.op === 'all' ? OPS : [values.op as Op];
for (const op of ops) if (!OPS.includes(op)) throw new Error(`--op: one of all, ${OPS.join(', ')}`);
const iterations = Number(values.iterations);
if (!(Number.isInteger(iterations) && iterations >= 1 && iterations <= 100_000_000))
  throw new Error('--iterations: 1 to 100,000,000');

if (values.callgrind) {
  process.stdout.write('| op | instructions per packet |\n|---|---:|\n');
  for (const op of ops) {
    const per = (callgrind(op, 120_000) - callgrind(op, 20_000)) / 100_000;
    process.stdout.write(`| ${op} | ${per.toFixed(0)} |\n`);
  }
} else {
  process.stdout.write('| op | ns per packet |\n|---|---:|\n');
  for (const op of ops) process.stdout.write(`| ${op} | ${run(op, iterations).toFixed(1)} |\n`);
}
