/**
 * The backbone core's per-packet cost, in one process, without sockets: what `route` (seal a
 * data frame at the first relay), `frame` at the target (check, verify, deliver) and `frame` at a
 * transit relay (check, verify, pass on) cost in CPU time per packet, once per frame MAC
 * (relay/frame-mac.ts: node:crypto's one-shot hash, and the native addon's OpenSSL from C when it
 * is built), beside what the tag alone costs with each (every relay verifies or seals each frame
 * once) and what version 1's HMAC-SHA1 (createHmac) cost on the same bytes. CPU time
 * (process.cpuUsage) rather than wall time, so a shared machine disturbs it less; the median of
 * several rounds. The same with bundles (docs/BACKBONE.md, "Bundles"): eight frames per bundle
 * (as many as fit, for larger payloads; none for payloads too large to bundle), the cost given per
 * frame (a bundle's seal, verify and pass-on divided by its frames).
 *
 *   node --import tsx bench/backbone-core.ts [--packets 200000] [--rounds 5] [--size 100] [--out bench/results/backbone-core.json]
 */
import { hash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { nativeFrameMac, nodeCryptoMac } from '../relay/frame-mac.ts';
import { hmacSha1 } from '../relay/platform-crypto.ts';
import { bundles as canBundle } from '../src/backbone/bundle.ts';
import type { BackboneCore } from '../src/backbone/core.ts';
import type { BackboneAction } from '../src/backbone/core-actions.ts';
import { BACKBONE_DEFAULTS } from '../src/backbone/defaults.ts';
import {
  BUNDLE_ENTRY_HEADER,
  BUNDLE_OVERHEAD,
  dataOverhead,
  FRAME_TAG_LENGTH,
  joinParts,
} from '../src/backbone/frame.ts';
import type { FrameMac } from '../src/backbone/frame-mac.ts';
import { RUN_KEY_BYTES } from '../src/backbone/key-ring.ts';
import type { TransportAddress } from '../src/net/address.ts';
import { MESH_KEY, MemoryNet } from '../test/support/backbone-net.ts';

/**
 * Three cores on the in-memory network, settled: A reaches B directly, or through C. `reuse`:
 * the cores' reuseFrameBuffer, as the relay sets it on native UDP I/O.
 */
function mesh(mac: FrameMac, viaC: boolean, bundles = false, reuse = false): MemoryNet {
  const net = new MemoryNet(['A', 'B', 'C'], { bundles, mac, reuseFrameBuffer: reuse });
  net.link('A', 'B', { rttMs: viaC ? 100 : 10 });
  net.link('A', 'C', { rttMs: 10 });
  net.link('C', 'B', { rttMs: 10 });
  net.run(3000);
  return net;
}

const sent = (a: BackboneAction): Uint8Array => {
  if (a.type !== 'send') throw new Error(`expected a send, got ${a.type}`);
  return joinParts(a.parts);
};

/** Frames per bundle in the bundled cases, at most (fewer when eight do not fit). */
const PER_BUNDLE = 8;
let perBundle = PER_BUNDLE;

/** `core` queues perBundle packets and flushes: the one bundle it sends. */
function bundleOf(core: BackboneCore, source: TransportAddress, payload: Uint8Array): Uint8Array {
  for (let i = 0; i < perBundle; i++) core.route(source, '10.1.0.2', 50001, payload);
  const out = core.flush();
  if (out.length !== 1) throw new Error(`bench mesh: ${out.length} datagrams for one bundle`);
  return sent(out[0]!);
}

/** CPU microseconds per call of `f` over `n` calls. */
function cpuPerCall(n: number, f: (i: number) => void): number {
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) f(i);
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

type Case = [name: string, call: (i: number) => void, framesPerCall: number];

/** The route and frame cases with frame MAC `mac`: fresh meshes and frames of their own. */
function coreCases(mac: FrameMac, n: number, size: number, payload: Uint8Array): Case[] {
  const source: TransportAddress = { family: 4, address: '10.1.0.1', port: 50000 };
  const direct = mesh(mac, false);
  const detour = mesh(mac, true);
  const [a, b] = [direct.core('A'), direct.core('B')];
  const [a2, c2] = [detour.core('A'), detour.core('C')];
  const reusing = mesh(mac, false, false, true).core('A');
  if (a.routes.get('B')?.hops.join('-') !== 'A-B' || a2.routes.get('B')?.hops.join('-') !== 'A-C-B') {
    throw new Error('bench mesh: routes not as set up');
  }
  // Frames to receive, made beforehand (each seq once: the replay window would drop repeats).
  const toB = Array.from({ length: n }, () => sent(a.route(source, '10.1.0.2', 50001, payload)));
  const viaC = Array.from({ length: n }, () => sent(a2.route(source, '10.1.0.2', 50001, payload)));
  const check = b.frame(sent(a.route(source, '10.1.0.2', 50001, payload)), '10.0.0.1', 7000, direct.now);
  if (check.type !== 'deliver') throw new Error(`bench mesh: B did not deliver (${check.type})`);
  // The same with bundles of perBundle (below).
  const directB = mesh(mac, false, true);
  const detourB = mesh(mac, true, true);
  const [ab, bb] = [directB.core('A'), directB.core('B')];
  const [ab2, cb2] = [detourB.core('A'), detourB.core('C')];
  // Frames too large to share a bundle are never bundled: no bundled cases for them.
  const entry = dataOverhead(4, 4) - FRAME_TAG_LENGTH + size;
  const limit = BACKBONE_DEFAULTS.bundleBytes;
  const bundled = canBundle(entry, limit);
  perBundle = Math.min(PER_BUNDLE, Math.floor((limit - BUNDLE_OVERHEAD) / (BUNDLE_ENTRY_HEADER + entry)));
  const count = bundled ? Math.ceil(n / perBundle) : 0;
  const bundlesToB = Array.from({ length: count }, () => bundleOf(ab, source, payload));
  const bundlesViaC = Array.from({ length: count }, () => bundleOf(ab2, source, payload));
  const b8 = `bundles of ${perBundle}, per frame`;
  const cases: Case[] = [
    ['route: seal a data frame (A)', () => a.route(source, '10.1.0.2', 50001, payload), 1],
    [
      'route: seal into the reused frame buffer (A, native I/O)',
      () => reusing.route(source, '10.1.0.2', 50001, payload),
      1,
    ],
    ['frame: verify and deliver (B)', (i) => b.frame(toB[i]!, '10.0.0.1', 7000, direct.now), 1],
    ['frame: verify and pass on (C)', (i) => c2.frame(viaC[i]!, '10.0.0.1', 7000, detour.now), 1],
  ];
  if (bundled) {
    cases.push(
      [`route and flush: ${b8} (A)`, () => bundleOf(ab, source, payload), perBundle],
      [
        `frame: verify and deliver, ${b8} (B)`,
        (i) => bb.frame(bundlesToB[i]!, '10.0.0.1', 7000, directB.now),
        perBundle,
      ],
      [
        `frame and flush: verify and pass on, ${b8} (C)`,
        (i) => {
          cb2.frame(bundlesViaC[i]!, '10.0.0.1', 7000, detourB.now);
          cb2.flush();
        },
        perBundle,
      ],
    );
  }
  // The tag alone, on a frame of this size: seal, then verify.
  const frame = toB[0]!.slice();
  const end = frame.length - FRAME_TAG_LENGTH;
  const k = mac.keyed(new Uint8Array(RUN_KEY_BYTES).fill(3));
  cases.push(['tag alone: seal', () => k.seal(frame, end), 1]);
  k.seal(frame, end);
  cases.push([
    'tag alone: verify',
    () => {
      if (!k.verify(frame, end)) throw new Error('bench: the tag does not verify');
    },
    1,
  ]);
  return cases;
}

function run(cases: readonly Case[], n: number, rounds: number) {
  return cases.map(([name, f, per]) => {
    const perRound: number[] = [];
    for (let r = 0; r < rounds; r++) {
      // Receivers need fresh frames every round: new cores, new frames would change what is
      // measured, so each round takes its own slice of the prepared frames.
      const slice = Math.floor(n / per / rounds);
      perRound.push(cpuPerCall(slice, (i) => f(r * slice + i)) / per);
    }
    return { case: name, cpuUsPerPacket: median(perRound), rounds: perRound };
  });
}

function main(): void {
  const { values } = parseArgs({
    options: {
      packets: { type: 'string', default: '200000' },
      rounds: { type: 'string', default: '5' },
      size: { type: 'string', default: '100' },
      out: { type: 'string', default: 'bench/results/backbone-core.json' },
    },
  });
  const n = Number(values.packets);
  const rounds = Number(values.rounds);
  const size = Number(values.size);
  if (!(n >= 1000 && n <= 5_000_000) || !(rounds >= 1 && rounds <= 20) || !(size >= 1 && size <= 60_000)) {
    process.stderr.write('bench: --packets 1000..5000000, --rounds 1..20, --size 1..60000\n');
    process.exit(2);
  }
  const payload = new Uint8Array(size).fill(7);
  const native = nativeFrameMac();
  const macs: FrameMac[] = [nodeCryptoMac, ...('mac' in native ? [native.mac] : [])];
  if ('error' in native) process.stderr.write(`bench: openssl-native not measured: ${native.error}\n`);
  const byMac = macs.map((mac) => ({
    mac: mac.name,
    results: run(coreCases(mac, n, size, payload), n, rounds),
  }));
  // Floors and history, on the bytes of one data frame of this size.
  const probe = sent(
    mesh(nodeCryptoMac, false)
      .core('A')
      .route({ family: 4, address: '10.1.0.1', port: 50000 }, '10.1.0.2', 50001, payload),
  );
  const key = new TextEncoder().encode(MESH_KEY);
  const macInput = [probe.subarray(0, probe.length - FRAME_TAG_LENGTH)];
  const tagInput = new Uint8Array(64 + macInput[0]!.length);
  tagInput.set(macInput[0]!, 64);
  const floors = run(
    [
      [
        'version 2 tag: SHA-256 of 64-byte key || frame, one-shot crypto.hash, no copy',
        () => hash('sha256', tagInput, 'buffer'),
        1,
      ],
      ['version 1 tag: HMAC-SHA1 of the frame, createHmac', () => hmacSha1(key, macInput), 1],
    ],
    n,
    rounds,
  );
  const names = byMac[0]!.results.map((r) => r.case);
  const rows = [
    `| step (payload ${size} bytes), CPU us per packet, median of ${rounds} | ${byMac.map((m) => m.mac).join(' | ')} |`,
    `|---|${byMac.map(() => '---:').join('|')}|`,
    ...names.map(
      (name, i) => `| ${name} | ${byMac.map((m) => m.results[i]!.cpuUsPerPacket.toFixed(2)).join(' | ')} |`,
    ),
    ...floors.map((r) => `| ${r.case} | ${r.cpuUsPerPacket.toFixed(2)} |${byMac.length > 1 ? ' |' : ''}`),
  ];
  process.stdout.write(`${rows.join('\n')}\n`);
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(
    values.out,
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, packets: n, size, macs: byMac, floors }, null, 2)}\n`,
  );
}

main();
