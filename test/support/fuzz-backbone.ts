/**
 * Seeded generators of hostile backbone frames (docs/BACKBONE.md) as sent by a relay the fuzzer
 * registers itself, so that its frames get past the receiver's address check and reach the MAC,
 * the replay window and the body parser: valid data frames and probes under the mesh key, replays
 * of them, frames that name another sender, byte-level mutations (which break the tag), structural
 * mutations sealed again with the valid key (bad families, lengths, types, hop limits, times), and
 * random bytes. Same seed, same frames (the seqs included).
 */
import { nodeCryptoMac } from '../../relay/frame-mac.ts';
import {
  encodeDataFrame,
  encodeProbe,
  encodeProbeReply,
  FRAME_HEADER_LENGTH,
  FRAME_MAGIC,
  FRAME_TAG_LENGTH,
  FRAME_VERSION,
  FrameOffset,
  type WireAddress,
} from '../../src/backbone/frame.ts';
import { createKeyRing, parseRunId, type RunKeys } from '../../src/backbone/key-ring.ts';
import { relayHash } from '../../src/backbone/relay-hash.ts';
import { rng } from './fuzz.ts';
import { testRun } from './relay-record.ts';

export interface BackboneFuzzTargets {
  /** The mesh key the relays share. */
  readonly meshKey: string;
  /** The fuzzer's own relay id, registered in the directory at the address it sends from. */
  readonly self: string;
  /** The relay the frames are sent to, and another one it can forward to. */
  readonly receiver: string;
  readonly other: string;
  /** An allocation on the receiver, and the peer address it has a permission for. */
  readonly destination: WireAddress;
  readonly source: WireAddress;
}

const REPLAY_KEEP = 64;

export class BackboneFuzzer {
  readonly #r: () => number;
  readonly #keys: RunKeys;
  readonly #wrongKeys: RunKeys;
  readonly #me: number;
  readonly #receiver: number;
  readonly #other: number;
  readonly #sent: Uint8Array[] = [];
  #seq = 1;

  constructor(
    seed: number,
    private readonly t: BackboneFuzzTargets,
  ) {
    this.#r = rng(seed);
    // Its record (relayRecord) carries testRun(self): the receiver verifies under that run.
    const run = parseRunId(testRun(t.self))!;
    this.#keys = createKeyRing([t.meshKey], nodeCryptoMac).forRun(run);
    this.#wrongKeys = createKeyRing([`${t.meshKey}-but-not-this-one`], nodeCryptoMac).forRun(run);
    this.#me = relayHash(t.self);
    this.#receiver = relayHash(t.receiver);
    this.#other = relayHash(t.other);
  }

  #int(n: number): number {
    return Math.floor(this.#r() * n);
  }

  #bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.#int(256);
    return b;
  }

  /** A probe the receiver must answer, and its seq (the reply echoes it): the barrier that keeps the fuzzer's pace to the relay's. */
  probe(now: number): { probe: Uint8Array; seq: number } {
    const seq = this.#nextSeq();
    const probe = encodeProbe({ seq, sender: this.#me, target: this.#receiver, sentAt: now }, this.#keys);
    return { probe, seq };
  }

  /** One hostile frame. */
  next(): Uint8Array {
    const kind = this.#int(10);
    if (kind <= 1) return this.#remember(this.#valid(this.#keys, this.#me));
    if (kind === 2) return this.#sent.length > 0 ? this.#sent[this.#int(this.#sent.length)]! : this.#random();
    if (kind === 3) return this.#wrongSender();
    if (kind === 4) return this.#valid(this.#wrongKeys, this.#me);
    if (kind <= 6) return this.#mutateBytes(this.#valid(this.#keys, this.#me));
    if (kind <= 8) return this.#structured();
    return this.#random();
  }

  #nextSeq(): number {
    this.#seq += 1 + (this.#r() < 0.05 ? this.#int(1000) : 0);
    return this.#seq;
  }

  #remember(frame: Uint8Array): Uint8Array {
    if (this.#sent.length >= REPLAY_KEEP) this.#sent[this.#int(REPLAY_KEEP)] = frame;
    else this.#sent.push(frame);
    return frame;
  }

  /** A frame under `keys`: a data frame for the allocation (delivered), for the other relay
   * (forwarded) or for nobody, a probe, or a probe reply to no probe. */
  #valid(keys: RunKeys, sender: number): Uint8Array {
    const seq = this.#nextSeq();
    const kind = this.#int(6);
    if (kind === 0)
      return encodeProbe({ seq, sender, target: this.#receiver, sentAt: this.#r() * 2e12 }, keys);
    if (kind === 1)
      return encodeProbeReply(
        { seq, sender, target: this.#receiver, probeSeq: this.#int(2 ** 48), probeSentAt: this.#r() * 2e12 },
        keys,
      );
    const target = kind === 2 ? this.#other : kind === 3 ? this.#int(2 ** 48) : this.#receiver;
    const destination = kind === 5 ? { ...this.t.destination, port: this.#int(65536) } : this.t.destination;
    return encodeDataFrame(
      {
        seq,
        sender,
        target,
        source: this.#r() < 0.8 ? this.t.source : { family: 4, ip: this.#bytes(4), port: this.#int(65536) },
        destination,
        payload: this.#bytes(this.#int(1200)),
        hopLimit: 1 + this.#int(6),
      },
      keys,
    );
  }

  /**
   * Another relay's name on the fuzzer's frames: not yet forwarded (the receiver must see it does
   * not come from that relay's address), or marked forwarded under a made-up relay (an unknown
   * sender). Never a real relay's name on a forwarded frame under the valid key: a key holder
   * may forward for others, so that would be a trusted relay misbehaving, not an outsider.
   */
  #wrongSender(): Uint8Array {
    if (this.#r() < 0.5) {
      const claimed = this.#r() < 0.5 ? this.#receiver : this.#other;
      return this.#valid(this.#keys, claimed);
    }
    const f = this.#valid(this.#keys, this.#int(2 ** 48));
    if (f[FrameOffset.InitialHopLimit]! < 2) return f;
    f[FrameOffset.HopLimit] = f[FrameOffset.HopLimit]! - 1; // the tag stays valid (computed with 0)
    return f;
  }

  #mutateBytes(src: Uint8Array): Uint8Array {
    let b = new Uint8Array(src);
    const n = 1 + this.#int(4);
    for (let i = 0; i < n; i++) {
      const op = this.#int(5);
      const at = this.#int(b.length);
      if (op === 0) b[at]! ^= 1 << this.#int(8);
      else if (op === 1) b[at] = this.#int(256);
      else if (op === 2) b = b.slice(0, at);
      else if (op === 3) b = new Uint8Array([...b, ...this.#bytes(this.#int(40))]);
      else b[this.#int(FRAME_HEADER_LENGTH)] = this.#int(256);
    }
    return b;
  }

  /** A valid frame changed where the parser has to look (past the tag), then sealed again. */
  #structured(): Uint8Array {
    let b = this.#valid(this.#keys, this.#me);
    const op = this.#int(9);
    const body = FRAME_HEADER_LENGTH;
    const end = () => b.length - FRAME_TAG_LENGTH;
    if (op === 0) b[FrameOffset.Type] = this.#int(256);
    else if (op === 1)
      b[body] = this.#int(256); // source family (or a probe's time)
    else if (op === 2) b[body + 1] = this.#int(256);
    else if (op === 3) b = cut(b, body + this.#int(Math.max(1, end() - body)));
    else if (op === 4) b = grow(b, this.#bytes(1 + this.#int(64)));
    else if (op === 5)
      b.fill(0xff, body, Math.min(end(), body + 8)); // NaN times, huge ports
    else if (op === 6) b[FrameOffset.InitialHopLimit] = this.#int(256);
    else if (op === 7)
      b[FrameOffset.Version] = this.#r() < 0.5 ? FRAME_MAGIC | this.#int(16) : this.#int(256);
    else b[FrameOffset.Flags] = this.#int(256);
    const hop = this.#r() < 0.2 ? this.#int(256) : b[FrameOffset.HopLimit]!;
    seal(b, this.#keys);
    b[FrameOffset.HopLimit] = hop;
    if (this.#r() < 0.1) b[FrameOffset.KeyId] = this.#int(256);
    return b;
  }

  #random(): Uint8Array {
    const b = this.#bytes(this.#int(1500));
    if (b.length > 0 && this.#r() < 0.6) b[0] = FRAME_MAGIC | FRAME_VERSION;
    return b;
  }
}

/** The frame's bytes up to `at`, with a tag slot after them. */
function cut(b: Uint8Array, at: number): Uint8Array {
  const out = new Uint8Array(at + FRAME_TAG_LENGTH);
  out.set(b.subarray(0, at));
  return out;
}

/** `extra` inserted before the tag. */
function grow(b: Uint8Array, extra: Uint8Array): Uint8Array {
  const end = b.length - FRAME_TAG_LENGTH;
  const out = new Uint8Array(b.length + extra.length);
  out.set(b.subarray(0, end));
  out.set(extra, end);
  return out;
}

/** The tag under the run keys over everything before it, hop limit read as 0, as frame.ts computes it. */
function seal(b: Uint8Array, keys: RunKeys): void {
  if (b.length < FRAME_HEADER_LENGTH + FRAME_TAG_LENGTH) return;
  const end = b.length - FRAME_TAG_LENGTH;
  b[FrameOffset.HopLimit] = 0;
  b[FrameOffset.KeyId] = keys.current.id;
  keys.current.mac.seal(b, end);
}
