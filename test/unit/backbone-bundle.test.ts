import { describe, expect, it } from 'vitest';
import { nodeCryptoMac } from '../../relay/frame-mac.ts';
import { BundleWriter, bundles, DEFAULT_BUNDLE_BYTES } from '../../src/backbone/bundle.ts';
import {
  BUNDLE_ENTRY_HEADER,
  BUNDLE_OVERHEAD,
  type DataFrameInit,
  decodeBundled,
  decodeFrame,
  encodeDataFrame,
  FRAME_TAG_LENGTH,
  FrameOffset,
  FrameType,
  untaggedLength,
  wireAddress,
  writeDataFrame,
} from '../../src/backbone/frame.ts';
import type { FrameMac } from '../../src/backbone/frame-mac.ts';
import { createKeyRing, type RunKeys } from '../../src/backbone/key-ring.ts';
import { relayHash } from '../../src/backbone/relay-hash.ts';
import { MESH_KEY, MemoryNet } from '../support/backbone-net.ts';
import { countingMac } from '../support/counting-mac.ts';

const RUN = new Uint8Array(16).fill(7);
const ring = createKeyRing(['mesh-key-2026-01-aaaaaaaa'], nodeCryptoMac).forRun(RUN);
/** Every entry's sender seals under this run here (the core looks each sender's keys up). */
const sameRun = () => ring;
const A = relayHash('relay-fra-1');
const B = relayHash('relay-sin-2');
const C = relayHash('relay-nyc-3');
const src = wireAddress({ family: 4, address: '203.0.113.10', port: 50_000 });
const dst = wireAddress({ family: 4, address: '198.51.100.7', port: 61_234 });
const init = (seq: number, n: number, fill = seq): DataFrameInit => ({
  seq,
  sender: A,
  target: C,
  hopLimit: 4,
  source: src,
  destination: dst,
  payload: new Uint8Array(n).fill(fill),
});

/** Queues each init in `w` as the core does. */
function fill(w: BundleWriter, inits: readonly DataFrameInit[], keys: RunKeys = ring): void {
  for (const i of inits) writeDataFrame(w.reserve(untaggedLength(i)), i, keys);
}

/** The entries of a decoded bundle's body, as the core walks them. */
function entries(body: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let o = 0; o < body.length; ) {
    const n = (body[o]! << 8) | body[o + 1]!;
    out.push(body.subarray(o + BUNDLE_ENTRY_HEADER, o + BUNDLE_ENTRY_HEADER + n));
    o += BUNDLE_ENTRY_HEADER + n;
  }
  return out;
}

/** `frame` with its tag computed again over what it now holds (a key holder's own making). */
function resealed(frame: Uint8Array): Uint8Array {
  const out = frame.slice();
  ring.current.mac.seal(out, frame.length - FRAME_TAG_LENGTH);
  return out;
}

describe('bundles: the codec', () => {
  it('seals several data frames as one bundle under one tag, each entry the data frame without its tag', () => {
    const w = new BundleWriter(DEFAULT_BUNDLE_BYTES);
    const inits = [init(1, 100), init(2, 100), init(3, 20)];
    fill(w, inits);
    expect(w.count).toBe(3);
    const bytes = w.seal({ seq: 9, sender: A, target: B }, ring, sameRun)!;
    const length =
      BUNDLE_OVERHEAD + 3 * BUNDLE_ENTRY_HEADER + inits.reduce((n, i) => n + untaggedLength(i), 0);
    expect(bytes.length).toBe(length);
    const r = decodeFrame(bytes, ring);
    if (!r.ok || r.frame.type !== FrameType.Bundle) throw new Error(JSON.stringify(r));
    expect(r.frame).toMatchObject({ seq: 9, sender: A, target: B, hopLimit: 1, initialHopLimit: 1 });
    const got = entries(r.frame.body);
    expect(got).toHaveLength(3);
    got.forEach((e, i) => {
      // Byte for byte the data frame a relay without bundles sends, less its tag.
      const alone = encodeDataFrame(inits[i]!, ring);
      expect([...e]).toEqual([...alone.subarray(0, alone.length - FRAME_TAG_LENGTH)]);
      const d = decodeBundled(e);
      if (!d.ok || d.frame.type !== FrameType.Data) throw new Error(JSON.stringify(d));
      expect(d.frame).toMatchObject({ seq: i + 1, sender: A, target: C, hopLimit: 4, dstPort: 61_234 });
      expect([...d.frame.payload]).toEqual([...inits[i]!.payload]);
    });
  });

  it('sends a bundle of one as the plain data frame, byte for byte', () => {
    const w = new BundleWriter(DEFAULT_BUNDLE_BYTES);
    fill(w, [init(5, 100)]);
    const bytes = w.seal({ seq: 6, sender: A, target: B }, ring, sameRun)!;
    expect([...bytes]).toEqual([...encodeDataFrame(init(5, 100), ring)]);
    expect(w.count).toBe(0);
    expect(w.seal({ seq: 7, sender: A, target: B }, ring, sameRun)).toBeUndefined();
    // The writer starts again clean after a bundle of one.
    fill(w, [init(8, 10), init(9, 10)]);
    const r = decodeFrame(w.seal({ seq: 10, sender: A, target: B }, ring, sameRun)!, ring);
    expect(r.ok && r.frame.type === FrameType.Bundle && entries(r.frame.body).length).toBe(2);
  });

  it('stays under its limit: fits() says when to seal, and video-size frames go alone', () => {
    const w = new BundleWriter(DEFAULT_BUNDLE_BYTES);
    const small = untaggedLength(init(1, 100));
    let n = 0;
    while (w.fits(small)) {
      fill(w, [init(++n, 100)]);
    }
    expect(n).toBe(Math.floor((DEFAULT_BUNDLE_BYTES - BUNDLE_OVERHEAD) / (small + BUNDLE_ENTRY_HEADER)));
    expect(() => w.reserve(small)).toThrow(RangeError);
    expect(w.seal({ seq: 99, sender: A, target: B }, ring, sameRun)!.length).toBeLessThanOrEqual(
      DEFAULT_BUNDLE_BYTES,
    );
    // Only frames two of which fit in one bundle: up to 540 bytes of payload with IPv4 addresses.
    expect(bundles(untaggedLength(init(1, 540)), DEFAULT_BUNDLE_BYTES)).toBe(true);
    expect(bundles(untaggedLength(init(1, 541)), DEFAULT_BUNDLE_BYTES)).toBe(false);
    expect(bundles(untaggedLength(init(1, 1000)), DEFAULT_BUNDLE_BYTES)).toBe(false);
    expect(bundles(small, 0)).toBe(false);
  });

  it('refuses a bundle whose entries were changed, or that claims more than one hop', () => {
    const w = new BundleWriter(DEFAULT_BUNDLE_BYTES);
    fill(w, [init(1, 50), init(2, 50)]);
    const bytes = w.seal({ seq: 3, sender: A, target: B }, ring, sameRun)!;
    const flipped = bytes.slice();
    flipped[60] = flipped[60]! ^ 1;
    expect(decodeFrame(flipped, ring)).toMatchObject({ ok: false, error: 'ERR_BAD_TAG' });
    // An entry's hop limit is covered by the bundle's tag (only the bundle's own is not).
    const hop = bytes.slice();
    hop[BUNDLE_OVERHEAD - FRAME_TAG_LENGTH + BUNDLE_ENTRY_HEADER + FrameOffset.HopLimit] = 3;
    expect(decodeFrame(hop, ring)).toMatchObject({ ok: false, error: 'ERR_BAD_TAG' });
    const twoHops = bytes.slice();
    twoHops[FrameOffset.InitialHopLimit] = 2;
    expect(decodeFrame(resealed(twoHops), ring)).toEqual({
      ok: false,
      error: 'ERR_HOP_LIMIT_RAISED',
      offset: FrameOffset.InitialHopLimit,
    });
  });

  const entry = () => {
    const e = encodeDataFrame(init(1, 8), ring);
    return e.slice(0, e.length - FRAME_TAG_LENGTH);
  };
  const set = (at: number, v: number) => {
    const e = entry();
    e[at] = v;
    return e;
  };
  it.each([
    ['a header less one byte', 'ERR_TOO_SHORT', 0, entry().subarray(0, 23)],
    ['not a backbone frame', 'ERR_NOT_BACKBONE', 0, set(0, 0x00)],
    ['version 1', 'ERR_BAD_VERSION', 0, set(0, 0xb1)],
    ['version 2', 'ERR_BAD_VERSION', 0, set(0, 0xb2)],
    ['a probe', 'ERR_UNKNOWN_TYPE', 1, set(1, FrameType.Probe)],
    ['a bundle in a bundle', 'ERR_UNKNOWN_TYPE', 1, set(1, FrameType.Bundle)],
    ['hop limit 0', 'ERR_HOP_LIMIT_EXHAUSTED', 3, set(3, 0)],
    ['hop limit above its initial', 'ERR_HOP_LIMIT_RAISED', 3, set(3, 5)],
    ['a data body cut short', 'ERR_TRUNCATED', 24, entry().subarray(0, 27)],
    ['an address family 3', 'ERR_ADDRESS_FAMILY', 24, set(24, 3)],
    ['addresses cut short', 'ERR_TRUNCATED', 34, entry().subarray(0, 36)],
  ])('refuses an entry that is %s with %s at offset %i', (_name, error, offset, input) => {
    expect(decodeBundled(input)).toEqual({ ok: false, error, offset });
  });
});

describe('bundles: the core', () => {
  const payload = (n: number, fill = 7) => new Uint8Array(n).fill(fill);
  /** A, B, C with every record saying backboneBundles (or those listed), the direct link best. */
  function triangle(bundled: boolean | readonly string[] = true, mac: FrameMac = nodeCryptoMac) {
    const net = new MemoryNet(['A', 'B', 'C'], { bundles: bundled, mac });
    net.link('A', 'B', { rttMs: 20 });
    net.link('A', 'C', { rttMs: 30 });
    net.link('C', 'B', { rttMs: 30 });
    net.run(3000);
    return net;
  }
  const counting = countingMac;
  const dataSends = (net: MemoryNet, from: string) =>
    net.sent.filter((s) => s.relay === from && s.kind !== 'probe' && s.kind !== 'reply');

  it('sends the frames one turn queued for a next hop as one datagram: one seal, one verify, every frame delivered in order', () => {
    const { n, mac } = counting();
    const net = triangle(true, mac);
    net.sent.length = 0;
    const before = n.macs;
    for (let i = 0; i < 8; i++) expect(net.send('A', 'B', payload(100, i)).type).toBe('queued');
    net.run(15);
    const sends = dataSends(net, 'A');
    expect(sends.map((s) => s.kind)).toEqual(['bundle']);
    expect(net.delivered.map((d) => d.data[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    // Probes may run in the same 15 ms: count only the data path's MAC calls.
    const probes = net.sent.filter((s) => s.kind === 'probe' || s.kind === 'reply').length;
    expect(n.macs - before - 2 * probes).toBe(2);
    expect(
      net
        .core('A')
        .counts()
        .find((c) => c.id === 'B')?.sent,
    ).toBe(8);
    expect(
      net
        .core('B')
        .counts()
        .find((c) => c.id === 'A')?.received,
    ).toBe(8);
  });

  it('passes bundled frames on in bundles of its own two hops out, with one verify and one seal in the middle', () => {
    const { n, mac } = counting();
    const net = triangle(true, mac);
    net.link('A', 'B', { rttMs: 20, down: true });
    net.run(3000);
    expect(net.core('A').routes.get('B')?.hops).toEqual(['A', 'C', 'B']);
    net.sent.length = 0;
    for (let i = 0; i < 6; i++) net.send('A', 'B', payload(100, i));
    net.run(50);
    expect(dataSends(net, 'A').map((s) => `${s.kind}>${s.peer}`)).toEqual(['bundle>C']);
    expect(dataSends(net, 'C').map((s) => `${s.kind}>${s.peer}`)).toEqual(['bundle>B']);
    expect(net.delivered.map((d) => d.data[0])).toEqual([0, 1, 2, 3, 4, 5]);
    expect(net.queued.filter((q) => q.relay === 'C').map((q) => q.kind)).toEqual(Array(6).fill('forward'));
    expect(n.macs).toBeGreaterThan(0);
  });

  it('sends every frame alone to a relay whose record does not say backboneBundles (a mixed mesh)', () => {
    const net = triangle(['A', 'C']);
    net.sent.length = 0;
    for (let i = 0; i < 4; i++) expect(net.send('A', 'B', payload(100, i)).type).toBe('send');
    net.run(15);
    expect(dataSends(net, 'A').map((s) => s.kind)).toEqual(['data', 'data', 'data', 'data']);
    expect(net.delivered).toHaveLength(4);
  });

  it('sends a frame alone when it is the only one in its turn, as a relay without bundles would', () => {
    const net = triangle();
    net.sent.length = 0;
    net.send('A', 'B', payload(100));
    net.run(15);
    const [only] = dataSends(net, 'A');
    expect(
      decodeFrame(only!.bytes, createKeyRing([MESH_KEY], nodeCryptoMac).forRun(net.core('A').options.run)),
    ).toMatchObject({
      ok: true,
      frame: { type: FrameType.Data },
    });
    expect(net.delivered).toHaveLength(1);
  });

  it('keeps bundles under the limit and sends video-size frames alone', () => {
    const net = triangle();
    net.sent.length = 0;
    for (let i = 0; i < 30; i++) net.send('A', 'B', payload(100, i));
    for (let i = 0; i < 2; i++) expect(net.send('A', 'B', payload(1000, 100 + i)).type).not.toBe('queued');
    net.run(15);
    const sends = dataSends(net, 'A');
    for (const s of sends.filter((x) => x.kind === 'bundle'))
      expect(s.bytes.length).toBeLessThanOrEqual(DEFAULT_BUNDLE_BYTES);
    expect(sends.filter((s) => s.kind === 'data')).toHaveLength(2);
    // In order: the full bundles sealed earlier in the turn leave before the large frames too.
    expect(net.delivered.map((d) => d.data[0])).toEqual([
      ...Array.from({ length: 30 }, (_, i) => i),
      100,
      101,
    ]);
  });

  it('never lets a frame sent alone overtake smaller ones of the same hop queued earlier in the turn', () => {
    const net = triangle();
    net.sent.length = 0;
    // Small, large, small, large, small: what a video flow's last-of-frame packets look like.
    const sizes = [100, 1000, 100, 100, 1000, 100];
    for (const [i, n] of sizes.entries()) net.send('A', 'B', payload(n, i));
    net.run(15);
    expect(net.delivered.map((d) => d.data[0])).toEqual([0, 1, 2, 3, 4, 5]);
    // The lone small ones leave as plain frames through the bundler (a bundle of one).
    expect(dataSends(net, 'A').map((s) => s.kind)).toEqual(['bundle', 'data', 'bundle', 'data', 'bundle']);
  });

  it('keeps the order two hops out, where tagged frames in transit meet bundled ones for the same hop', () => {
    const net = triangle();
    net.link('A', 'B', { rttMs: 20, down: true });
    net.run(3000);
    expect(net.core('A').routes.get('B')?.hops).toEqual(['A', 'C', 'B']);
    net.sent.length = 0;
    const sizes = [100, 100, 1000, 100, 1000];
    for (const [i, n] of sizes.entries()) net.send('A', 'B', payload(n, i));
    net.run(50);
    expect(net.delivered.map((d) => d.data[0])).toEqual([0, 1, 2, 3, 4]);
  });

  it('delivers a bundle once however often it is sent again, and only from its sender’s address, checked before MAC work', () => {
    const { n, mac } = counting();
    const net = triangle(true, mac);
    net.sent.length = 0;
    net.setUp('B', false);
    for (let i = 0; i < 3; i++) net.send('A', 'B', payload(100, i));
    net.run(1);
    const bundle = dataSends(net, 'A')[0]!.bytes;
    net.setUp('B', true);
    for (let i = 0; i < 3; i++) net.inject('B', bundle, net.ip('A'));
    net.run(1);
    expect(net.delivered).toHaveLength(3);
    expect(net.drops.filter((d) => d.reason === 'ERR_REPLAYED')).toHaveLength(2);
    const before = n.macs;
    net.inject('B', bundle, net.ip('C'));
    net.run(1);
    expect(net.drops.at(-1)?.reason).toBe('ERR_WRONG_ADDRESS');
    expect(n.macs).toBe(before);
  });

  it('seals what was queued before a key rotation with the key current at the end of the turn', () => {
    const net = triangle();
    const ring = (keys: string[]) => createKeyRing(keys, nodeCryptoMac);
    const next = 'the-next-mesh-key-of-16-bytes+';
    net.core('B').setKeys(ring([MESH_KEY, next]));
    for (let i = 0; i < 3; i++) net.send('A', 'B', payload(100, i));
    net.core('A').setKeys(ring([next, MESH_KEY]));
    net.sent.length = 0;
    net.run(15);
    const bundle = dataSends(net, 'A')[0]!.bytes;
    expect(bundle[FrameOffset.KeyId]).toBe(ring([next]).currentId);
    expect(net.delivered).toHaveLength(3);
  });

  it('sends every frame alone with bundleBytes 0', () => {
    const net = new MemoryNet(['A', 'B'], { bundles: true, tuning: { bundleBytes: 0 } });
    net.link('A', 'B', { rttMs: 20 });
    net.run(3000);
    net.sent.length = 0;
    for (let i = 0; i < 3; i++) net.send('A', 'B', payload(100, i));
    net.run(15);
    expect(dataSends(net, 'A').map((s) => s.kind)).toEqual(['data', 'data', 'data']);
  });
});
