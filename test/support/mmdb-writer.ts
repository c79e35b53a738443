/**
 * A small MaxMind DB writer for tests: builds a real .mmdb file with known content, so the GeoIP
 * source is tested against the same bytes a provider's database has, without shipping one.
 * Follows the MaxMind DB File Format Specification v2.0: a binary search tree of 24-, 28- or
 * 32-bit records, 16 zero bytes, the data section, then "\xAB\xCD\xEFMaxMind.com" and the
 * metadata map. Data types written: map, array, UTF-8 string, double, boolean, uint16, uint32,
 * uint64. Equal records are stored once. Not a general tool: networks must not overlap in ways
 * a later, shorter prefix would hide (they are inserted shortest prefix first).
 */
import { type Cidr, parseCidr } from '../../src/net/cidr.ts';

/** An unsigned integer of a declared width; plain JS numbers are written as doubles. */
export class MmdbUint {
  constructor(
    readonly bits: 16 | 32 | 64,
    readonly value: bigint,
  ) {
    if (value < 0n || value >= 1n << BigInt(bits)) throw new RangeError(`${value} is not a uint${bits}`);
  }
}
export const uint16 = (n: number) => new MmdbUint(16, BigInt(n));
export const uint32 = (n: number) => new MmdbUint(32, BigInt(n));
export const uint64 = (n: number | bigint) => new MmdbUint(64, BigInt(n));

export type MmdbValue = string | number | boolean | MmdbUint | readonly MmdbValue[] | MmdbMap;
export interface MmdbMap {
  readonly [key: string]: MmdbValue;
}

export interface MmdbNetwork {
  /** `203.0.113.0/24` or `2001:db8::/32`; in an IPv6 database an IPv4 network lands in ::/96. */
  readonly network: string;
  readonly data: MmdbMap;
}

export interface MmdbWriterOptions {
  readonly ipVersion: 4 | 6;
  readonly databaseType: string;
  /** Chosen from the tree size when absent (24 bits while every record fits). */
  readonly recordSize?: 24 | 28 | 32;
  readonly languages?: readonly string[];
  readonly description?: Readonly<Record<string, string>>;
  /** Unix seconds; 0 by default so the same input gives the same bytes. */
  readonly buildEpoch?: number;
  /**
   * IPv6 only: make ::ffff:0:0/96 (IPv4-mapped) lead to the IPv4 subtree at ::/96, as MaxMind's
   * own databases do (spec, "IPv4 addresses in an IPv6 tree"). On by default.
   */
  readonly aliasIpv4Mapped?: boolean;
}

// Control byte types (spec, "Output Data Section"); 8 and above are "extended".
const Type = {
  String: 2,
  Double: 3,
  Uint16: 5,
  Uint32: 6,
  Map: 7,
  Uint64: 9,
  Array: 11,
  Boolean: 14,
} as const;

const METADATA_MARKER = new Uint8Array([0xab, 0xcd, 0xef, ...new TextEncoder().encode('MaxMind.com')]);

/** Control byte(s) for a field of `type` whose size (bytes, pairs or items) is `size`. */
function control(type: number, size: number): number[] {
  const out: number[] = [];
  let sizeBits: number;
  const extra: number[] = [];
  if (size < 29) sizeBits = size;
  else if (size < 285) {
    sizeBits = 29;
    extra.push(size - 29);
  } else if (size < 65_821) {
    sizeBits = 30;
    const n = size - 285;
    extra.push(n >> 8, n & 0xff);
  } else if (size <= 16_843_036) {
    sizeBits = 31;
    const n = size - 65_821;
    extra.push(n >> 16, (n >> 8) & 0xff, n & 0xff);
  } else throw new RangeError(`field too large: ${size}`);
  if (type <= 7) out.push((type << 5) | sizeBits);
  else out.push(sizeBits, type - 7); // extended type: 000SSSSS, then type - 7
  return [...out, ...extra];
}

/** Big-endian bytes of `v` with no leading zero bytes (a zero is zero bytes long). */
function minimalBytes(v: bigint): number[] {
  const out: number[] = [];
  for (let x = v; x > 0n; x >>= 8n) out.unshift(Number(x & 0xffn));
  return out;
}

export function encodeValue(v: MmdbValue): number[] {
  if (typeof v === 'string') {
    const bytes = [...new TextEncoder().encode(v)];
    return [...control(Type.String, bytes.length), ...bytes];
  }
  if (typeof v === 'number') {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v); // big-endian by default
    return [...control(Type.Double, 8), ...b];
  }
  if (typeof v === 'boolean') return control(Type.Boolean, v ? 1 : 0);
  if (v instanceof MmdbUint) {
    const type = v.bits === 16 ? Type.Uint16 : v.bits === 32 ? Type.Uint32 : Type.Uint64;
    const bytes = minimalBytes(v.value);
    return [...control(type, bytes.length), ...bytes];
  }
  if (Array.isArray(v)) {
    return [...control(Type.Array, v.length), ...v.flatMap((x: MmdbValue) => encodeValue(x))];
  }
  const entries = Object.entries(v as MmdbMap);
  return [
    ...control(Type.Map, entries.length),
    ...entries.flatMap(([k, x]) => [...encodeValue(k), ...encodeValue(x)]),
  ];
}

// The search tree while it is built: a record is empty, a node, or data at an offset.
type Rec = { kind: 'empty' } | { kind: 'node'; node: TreeNode } | { kind: 'data'; offset: number };
interface TreeNode {
  records: [Rec, Rec];
  id: number;
}

const newNode = (): TreeNode => ({ records: [{ kind: 'empty' }, { kind: 'empty' }], id: -1 });
const bitAt = (bytes: Uint8Array, i: number): 0 | 1 => ((bytes[i >> 3]! >> (7 - (i & 7))) & 1) as 0 | 1;

/**
 * Walks `depth` bits of `bytes` from `root`, creating nodes; a data record met on the way is
 * split so both halves keep it (a longer prefix inside a shorter one). Returns the last node.
 */
function descend(root: TreeNode, bytes: Uint8Array, depth: number): TreeNode {
  let node = root;
  for (let i = 0; i < depth; i++) {
    const b = bitAt(bytes, i);
    const rec = node.records[b];
    if (rec.kind === 'node') {
      node = rec.node;
      continue;
    }
    const child = newNode();
    if (rec.kind === 'data') child.records = [rec, rec];
    node.records[b] = { kind: 'node', node: child };
    node = child;
  }
  return node;
}

/** The network's bits as the tree sees them: IPv4 in an IPv6 tree sits at ::a.b.c.d. */
function treeBits(c: Cidr, ipVersion: 4 | 6): { bytes: Uint8Array; prefix: number } {
  if (ipVersion === 4) {
    if (c.family !== 4) throw new RangeError(`${c.text}: an IPv4 database holds IPv4 networks only`);
    return { bytes: c.bytes, prefix: c.prefix };
  }
  if (c.family === 6) return { bytes: c.bytes, prefix: c.prefix };
  const bytes = new Uint8Array(16);
  bytes.set(c.bytes, 12);
  return { bytes, prefix: 96 + c.prefix };
}

function writeRecord(out: Uint8Array, at: number, size: 24 | 28 | 32, left: number, right: number) {
  const view = new DataView(out.buffer, out.byteOffset);
  if (size === 32) {
    view.setUint32(at, left);
    view.setUint32(at + 4, right);
    return;
  }
  const put24 = (o: number, v: number) => {
    out[o] = (v >> 16) & 0xff;
    out[o + 1] = (v >> 8) & 0xff;
    out[o + 2] = v & 0xff;
  };
  put24(at, left & 0xffffff);
  if (size === 24) {
    put24(at + 3, right & 0xffffff);
    return;
  }
  // 28 bits: the top four bits of each record share the middle byte, left's in the high nibble.
  out[at + 3] = (((left >>> 24) & 0x0f) << 4) | ((right >>> 24) & 0x0f);
  put24(at + 4, right & 0xffffff);
}

/** The bytes of a .mmdb file holding `networks`. */
export function writeMmdb(networks: readonly MmdbNetwork[], options: MmdbWriterOptions): Uint8Array {
  const { ipVersion } = options;
  const parsed = networks.map((n) => {
    const r = parseCidr(n.network);
    if (!r.ok) throw new TypeError(`${n.network}: ${r.error}`);
    return { ...treeBits(r.value, ipVersion), data: n.data };
  });
  parsed.sort((a, b) => a.prefix - b.prefix);

  // Data section: each distinct record once.
  const data: number[] = [];
  const offsets = new Map<string, number>();
  const offsetOf = (m: MmdbMap): number => {
    const bytes = encodeValue(m);
    const key = bytes.join(',');
    let at = offsets.get(key);
    if (at === undefined) {
      at = data.length;
      offsets.set(key, at);
      data.push(...bytes);
    }
    return at;
  };

  const root = newNode();
  for (const p of parsed) {
    if (p.prefix === 0) throw new RangeError('a /0 network is not supported by this writer');
    const parent = descend(root, p.bytes, p.prefix - 1);
    const rec: Rec = { kind: 'data', offset: offsetOf(p.data) };
    const last = bitAt(p.bytes, p.prefix - 1);
    const old = parent.records[last];
    if (old.kind === 'node') {
      // A shorter prefix after a longer one would hide it; the sort above prevents that.
      throw new RangeError('networks must be inserted shortest prefix first');
    }
    parent.records[last] = rec;
  }
  if (ipVersion === 6 && options.aliasIpv4Mapped !== false) {
    // ::ffff:0:0/96 -> the node at the end of ::/96 (the IPv4 root).
    const v4root = descend(root, new Uint8Array(16), 96);
    const mapped = new Uint8Array(16);
    mapped[10] = 0xff;
    mapped[11] = 0xff;
    const parent = descend(root, mapped, 95);
    parent.records[1] = { kind: 'node', node: v4root }; // bit 95 of ::ffff:0:0 is 1
  }

  // Number the nodes breadth first from the root (node 0); an alias is reached twice.
  const order: TreeNode[] = [];
  const queue: TreeNode[] = [root];
  while (queue.length > 0) {
    const n = queue.shift()!;
    if (n.id >= 0) continue;
    n.id = order.length;
    order.push(n);
    for (const r of n.records) if (r.kind === 'node' && r.node.id < 0) queue.push(r.node);
  }
  const nodeCount = order.length;
  const recordValue = (r: Rec): number =>
    r.kind === 'empty' ? nodeCount : r.kind === 'node' ? r.node.id : nodeCount + 16 + r.offset;
  const largest = nodeCount + 16 + data.length;
  const recordSize = options.recordSize ?? (largest < 2 ** 24 ? 24 : largest < 2 ** 28 ? 28 : 32);
  if (largest >= 2 ** recordSize)
    throw new RangeError(`records of ${recordSize} bits cannot hold ${largest}`);

  const nodeBytes = recordSize / 4; // two records per node
  const tree = new Uint8Array(nodeCount * nodeBytes);
  for (const n of order) {
    writeRecord(tree, n.id * nodeBytes, recordSize, recordValue(n.records[0]), recordValue(n.records[1]));
  }

  const metadata = encodeValue({
    node_count: uint32(nodeCount),
    record_size: uint16(recordSize),
    ip_version: uint16(ipVersion),
    database_type: options.databaseType,
    languages: options.languages ?? ['en'],
    binary_format_major_version: uint16(2),
    binary_format_minor_version: uint16(0),
    build_epoch: uint64(options.buildEpoch ?? 0),
    description: options.description ?? { en: 'test database' },
  });

  const out = new Uint8Array(tree.length + 16 + data.length + METADATA_MARKER.length + metadata.length);
  let at = 0;
  out.set(tree, at);
  at += tree.length + 16; // the separator: 16 zero bytes
  out.set(data, at);
  at += data.length;
  out.set(METADATA_MARKER, at);
  out.set(metadata, at + METADATA_MARKER.length);
  return out;
}
