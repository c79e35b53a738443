/**
 * The fuzz generators (test/support/fuzz*.ts) behind `npm run fuzz`: a seed gives the same
 * messages every time, another seed other ones; the backbone generator's valid frames decode under
 * the mesh key and its replays are byte-for-byte earlier frames.
 */
import { describe, expect, it } from 'vitest';
import { nodeCryptoMac } from '../../relay/frame-mac.ts';
import { decodeFrame } from '../../src/backbone/frame.ts';
import { createKeyRing, parseRunId } from '../../src/backbone/key-ring.ts';
import { Fuzzer } from '../support/fuzz.ts';
import { BackboneFuzzer } from '../support/fuzz-backbone.ts';
import { EdgeFuzzer } from '../support/fuzz-edge.ts';
import { testRun } from '../support/relay-record.ts';
import { lifetime, request, transportUdp } from '../support/stun-builders.ts';

const CRED = { username: 'u', password: 'p', realm: 'r', nonce: 'n' };
const CORPUS = [request(0x003, [transportUdp(), lifetime(600)], CRED, { tid: new Uint8Array(12) }).bytes];
const TARGETS = {
  meshKey: 'unit-mesh-key-0123456789',
  self: 'F',
  receiver: 'A',
  other: 'B',
  destination: { family: 4 as const, ip: new Uint8Array([127, 0, 0, 1]), port: 50000 },
  source: { family: 4 as const, ip: new Uint8Array([127, 0, 0, 2]), port: 9 },
};

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const stun = (seed: number) => {
  const f = new Fuzzer(seed, CRED, CORPUS);
  return Array.from({ length: 300 }, () => hex(f.next()));
};
const backbone = (seed: number) => {
  const f = new BackboneFuzzer(seed, TARGETS);
  return Array.from({ length: 300 }, () => hex(f.next()));
};
const edge = (seed: number) => {
  const f = new EdgeFuzzer(seed, { admin: 'a', snapshot: 's' }, 16_384);
  return Array.from({ length: 300 }, () => {
    const r = f.next();
    return JSON.stringify({ ...r, body: hex(r.body ?? new Uint8Array()) });
  });
};

describe('fuzz generators', () => {
  it.each([
    ['STUN/ChannelData', stun],
    ['backbone', backbone],
    ['edge', edge],
  ] as const)('%s: the same seed gives the same messages, another seed others', (_name, make) => {
    expect(make(42)).toEqual(make(42));
    const other = make(43);
    const same = make(42).filter((m, i) => m === other[i]).length;
    expect(same).toBeLessThan(30);
  });

  it('makes backbone frames that authenticate, and replays of them', () => {
    const keys = createKeyRing([TARGETS.meshKey], nodeCryptoMac).forRun(parseRunId(testRun(TARGETS.self))!);
    const f = new BackboneFuzzer(7, TARGETS);
    const frames = Array.from({ length: 2000 }, () => f.next());
    const valid = frames.filter((b) => decodeFrame(b, keys).ok);
    expect(valid.length).toBeGreaterThan(400);
    const seen = new Set<string>();
    let replays = 0;
    for (const b of valid) {
      if (seen.has(hex(b))) replays++;
      seen.add(hex(b));
    }
    expect(replays).toBeGreaterThan(50);
  });
});
