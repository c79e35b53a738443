/**
 * The Send indication's fast path (engine.sendFromAllocation, src/turn/send-indication.ts) against
 * the general path (engine.handleStun: decodeMessage, findAttribute, findUnknownAttributes,
 * decodeXorAddress) on the same engine: for every input, the same peer and payload or nothing,
 * and the same drop counted. Inputs are random Send indications built from valid and invalid
 * attributes, then mutated (bytes flipped, cut, lengths and types rewritten).
 */
import { describe, expect, it } from 'vitest';
import { stunCrypto } from '../../relay/platform-crypto.ts';
import type { TransportAddress } from '../../src/net/address.ts';
import { parseCidr } from '../../src/net/cidr.ts';
import { createPeerPolicy } from '../../src/net/peer-policy.ts';
import { encodeXorAddress } from '../../src/stun/attributes.ts';
import { Attr, FINGERPRINT_XOR, Method } from '../../src/stun/constants.ts';
import type { TurnAction } from '../../src/turn/engine-actions.ts';
import { indication, peerAttr, request, transportUdp } from '../support/stun-builders.ts';
import { allocate, ask, peer, REALM, setup, T0 } from '../support/turn-engine-harness.ts';

function cidr(s: string) {
  const r = parseCidr(s);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

/** mulberry32: a small seeded generator, so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function active() {
  const s = setup();
  const ctx = s.client();
  const cred = { username: 'alice', password: 'pw', realm: REALM };
  const { allocation } = allocate(s.engine, ctx, cred);
  const tid = new Uint8Array(12).fill(3);
  s.engine.handleStun(ctx, request(Method.CreatePermission, [peerAttr(peer, tid)], cred, { tid }).bytes, T0);
  return { ...s, ctx, alloc: allocation! };
}

const other: TransportAddress = { family: 4, address: '127.0.0.10', port: 6000 };
const v6: TransportAddress = { family: 6, address: '2001:db8::9', port: 5000 };

type Attribute = [type: number, value: Uint8Array];

/** A STUN message from raw attributes (each padded), with a FINGERPRINT when asked. */
function message(type: number, tid: Uint8Array, attrs: Attribute[], fingerprint: 'none' | 'good' | 'bad') {
  let size = 20;
  for (const [, v] of attrs) size += 4 + ((v.length + 3) & ~3);
  if (fingerprint !== 'none') size += 8;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint16(0, type);
  view.setUint16(2, size - 20);
  view.setUint32(4, 0x2112a442);
  out.set(tid, 8);
  let pos = 20;
  for (const [t, v] of attrs) {
    view.setUint16(pos, t);
    view.setUint16(pos + 2, v.length);
    out.set(v, pos + 4);
    pos += 4 + ((v.length + 3) & ~3);
  }
  if (fingerprint !== 'none') {
    view.setUint16(pos, Attr.Fingerprint);
    view.setUint16(pos + 2, 4);
    const crc = (stunCrypto.crc32(out.subarray(0, pos)) ^ FINGERPRINT_XOR) >>> 0;
    view.setUint32(pos + 4, fingerprint === 'good' ? crc : crc ^ 1);
  }
  return out;
}

function randomIndication(r: () => number, permitted: TransportAddress = peer): Uint8Array {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
  const tid = bytes(12);
  const candidates: (() => Attribute)[] = [
    () => [Attr.XorPeerAddress, encodeXorAddress(permitted, tid)],
    () => [Attr.XorPeerAddress, encodeXorAddress(other, tid)],
    () => [Attr.XorPeerAddress, encodeXorAddress(permitted.family === 4 ? v6 : peer, tid)],
    () => [Attr.XorPeerAddress, encodeXorAddress({ ...permitted, port: 1 }, tid)],
    () => [Attr.XorPeerAddress, bytes(pick([0, 1, 3, 4, 7, 8, 9, 20]))],
    () => {
      const v = encodeXorAddress(permitted, tid);
      v[1] = pick([0, 1, 2, 3]); // a family that may not match the length
      return [Attr.XorPeerAddress, v];
    },
    () => [Attr.Data, bytes(Math.floor(r() * 200))],
    () => [Attr.Data, new Uint8Array(0)],
    () => [Attr.DontFragment, new Uint8Array(0)],
    () => [0x0033, bytes(4)], // unknown, comprehension-required
    () => [0x8033, bytes(5)], // unknown, comprehension-optional
    () => [Attr.Software, bytes(7)],
    () => [Attr.Username, bytes(5)],
    () => [Attr.Lifetime, bytes(4)],
    () => [Attr.MessageIntegrity, bytes(pick([20, 20, 20, 16]))],
    () => [Attr.Fingerprint, bytes(pick([4, 4, 2]))], // FINGERPRINT in the middle
  ];
  // Mostly a permitted peer and data, in either order, plus a few others anywhere.
  const attrs: Attribute[] = [];
  if (r() < 0.8) attrs.push(candidates[0]!());
  if (r() < 0.8) attrs.push(candidates[6]!());
  if (r() < 0.5) attrs.reverse();
  const extra = Math.floor(r() * 4);
  for (let i = 0; i < extra; i++) attrs.splice(Math.floor(r() * (attrs.length + 1)), 0, pick(candidates)());
  const type = r() < 0.9 ? 0x0016 : pick([0x0017, 0x0001, 0x0116, 0x0006, 0x0012]);
  const out = message(type, tid, attrs, pick(['none', 'none', 'good', 'bad'] as const));
  return mutate(out, r);
}

/** Sometimes damage the message: flip bytes, cut it, rewrite its length or an attribute's. */
function mutate(msg: Uint8Array, r: () => number): Uint8Array {
  const roll = r();
  if (roll < 0.55) return msg;
  const out = new Uint8Array(msg);
  if (roll < 0.7) {
    for (let i = 0, n = 1 + Math.floor(r() * 3); i < n; i++) {
      const at = Math.floor(r() * out.length);
      out[at] = out[at]! ^ (1 << (r() * 8));
    }
    return out;
  }
  if (roll < 0.8) return out.subarray(0, Math.floor(r() * out.length));
  if (roll < 0.9) {
    const len = ((out[2]! << 8) | out[3]!) + (r() < 0.5 ? 4 : -4) * (1 + Math.floor(r() * 2));
    out[2] = (len >> 8) & 0xff;
    out[3] = len & 0xff;
    return out;
  }
  // Offset 23 is the first attribute's low length byte; the later picks land on whatever follows.
  if (out.length > 24) {
    const at = 23 + 4 * Math.floor(r() * Math.min(4, (out.length - 24) / 4));
    out[at] = out[at]! ^ (1 + Math.floor(r() * 7));
  }
  return out;
}

type Engine = ReturnType<typeof active>['engine'];

/** What a path did with one input: where the payload went, and which drop counters moved. */
function outcome(engine: Engine, run: () => { peer: TransportAddress; data: Uint8Array } | undefined) {
  const before = { ...engine.drops };
  const target = run();
  const after = engine.drops;
  const moved = Object.fromEntries(
    Object.entries(after)
      .filter(([k, v]) => v !== before[k as keyof typeof before])
      .map(([k, v]) => [k, v - before[k as keyof typeof before]]),
  );
  return { target: target && { peer: target.peer, data: [...target.data] }, moved };
}

const toPeer = (actions: TurnAction[]) => {
  const a = actions.find((x): x is Extract<TurnAction, { type: 'to-peer' }> => x.type === 'to-peer');
  return a && { peer: a.peer, data: a.data };
};

describe('the Send indication fast path', () => {
  it('agrees with the general decoder on 20,000 random and malformed indications', () => {
    const { engine, ctx, alloc } = active();
    const r = rng(0x5e4d);
    let relayed = 0;
    for (let i = 0; i < 20_000; i++) {
      const bytes = randomIndication(r);
      const general = outcome(engine, () => toPeer(engine.handleStun(ctx, bytes, T0 + 1)));
      const fast = outcome(engine, () => engine.sendFromAllocation(alloc, bytes, T0 + 1));
      if (JSON.stringify(fast) !== JSON.stringify(general))
        expect({ input: Buffer.from(bytes).toString('hex'), fast }).toEqual({
          input: Buffer.from(bytes).toString('hex'),
          fast: general,
        });
      if (fast.target) relayed++;
    }
    // The generator reaches both outcomes often: the comparison is not all drops.
    expect(relayed).toBeGreaterThan(3000);
    expect(engine.drops.malformed).toBeGreaterThan(6000);
    expect(engine.drops.noPermission).toBeGreaterThan(500);
  });

  it('agrees with the general decoder for an IPv6 allocation on 5,000 random indications', () => {
    const { engine, client } = setup(
      {
        relayFamilies: [4, 6],
        peerPolicy: createPeerPolicy({ allow: [cidr('127.0.0.0/8'), cidr('2001:db8::/32')] }),
      },
      {},
    );
    const ctx = client();
    const cred = { username: 'alice', password: 'pw', realm: REALM };
    const family: Attribute = [Attr.RequestedAddressFamily, new Uint8Array([2, 0, 0, 0])];
    const bind = ask(engine, ctx, Method.Allocate, [transportUdp(), family], cred).find(
      (a) => a.type === 'bind-relay',
    );
    if (bind?.type !== 'bind-relay') throw new Error('no IPv6 allocation');
    const relayed: TransportAddress = { family: 6, address: '::1', port: 50_000 };
    engine.relayBound(bind.allocation, { relayed, advertised: relayed, shell: {} }, T0);
    const alloc = bind.allocation;
    const tid = new Uint8Array(12).fill(3);
    engine.handleStun(ctx, request(Method.CreatePermission, [peerAttr(v6, tid)], cred, { tid }).bytes, T0);
    const r = rng(0x6e6);
    let relayed6 = 0;
    for (let i = 0; i < 5_000; i++) {
      const bytes = randomIndication(r, v6);
      const general = outcome(engine, () => toPeer(engine.handleStun(ctx, bytes, T0 + 1)));
      const fast = outcome(engine, () => engine.sendFromAllocation(alloc, bytes, T0 + 1));
      if (JSON.stringify(fast) !== JSON.stringify(general))
        expect({ input: Buffer.from(bytes).toString('hex'), fast }).toEqual({
          input: Buffer.from(bytes).toString('hex'),
          fast: general,
        });
      if (fast.target) relayed6++;
    }
    expect(relayed6).toBeGreaterThan(700);
  });

  it.each([
    [
      'DONT-FRAGMENT (RFC 8656 §7.2: cannot be honoured)',
      [[Attr.DontFragment, new Uint8Array(0)]],
      'malformed',
    ],
    ['an unknown comprehension-required attribute', [[0x0033, new Uint8Array(4)]], 'malformed'],
    ['an unknown comprehension-optional attribute', [[0x8033, new Uint8Array(4)]], undefined],
  ] as const)('with %s: %s', (_name, extra, drop) => {
    const { engine, alloc } = active();
    const tid = new Uint8Array(12).fill(4);
    const bytes = indication(
      Method.Send,
      [peerAttr(peer, tid), [Attr.Data, new Uint8Array([7])], ...extra.map(([t, v]) => [t, v] as Attribute)],
      tid,
    );
    const got = engine.sendFromAllocation(alloc, bytes, T0 + 1);
    if (drop === undefined) expect(got).toEqual({ peer, data: new Uint8Array([7]) });
    else {
      expect(got).toBeUndefined();
      expect(engine.drops[drop]).toBe(1);
    }
  });

  it('checks FINGERPRINT, reads the first XOR-PEER-ADDRESS, and ignores one after MESSAGE-INTEGRITY', () => {
    const { engine, alloc } = active();
    const tid = new Uint8Array(12).fill(5);
    const data: Attribute = [Attr.Data, new Uint8Array([1, 2])];
    const peerA: Attribute = [Attr.XorPeerAddress, encodeXorAddress(peer, tid)];
    const peerB: Attribute = [Attr.XorPeerAddress, encodeXorAddress(other, tid)];
    const send = (attrs: Attribute[], fp: 'none' | 'good' | 'bad' = 'none') =>
      engine.sendFromAllocation(alloc, message(0x0016, tid, attrs, fp), T0 + 1);
    expect(send([peerA, data], 'good')).toEqual({ peer, data: new Uint8Array([1, 2]) });
    expect(send([peerA, data], 'bad')).toBeUndefined();
    expect(engine.drops.malformed).toBe(1);
    expect(send([peerA, peerB, data])?.peer).toEqual(peer);
    expect(send([peerB, peerA, data])).toBeUndefined();
    expect(engine.drops.noPermission).toBe(1);
    expect(send([data, [Attr.MessageIntegrity, new Uint8Array(20)], peerA])).toBeUndefined();
    expect(engine.drops.malformed).toBe(2);
    // Permissions expire (RFC 8656 §9): 300 s later the same indication is dropped.
    expect(
      engine.sendFromAllocation(alloc, message(0x0016, tid, [peerA, data], 'none'), T0 + 300_001),
    ).toBeUndefined();
    expect(engine.drops.noPermission).toBe(2);
  });
});
