/**
 * Fresh, zeroed bytes for the packets the data path builds (ChannelData and Data indications to
 * clients), cut from a shared 64 KiB ArrayBuffer. V8 keeps a typed array of more than 64 bytes
 * outside its heap: `new Uint8Array(138)` costs a backing-store allocation and its later release
 * (about 200 ns on the bench machine), a view of an existing ArrayBuffer a small fraction of that
 * (bench/turn-send-path.ts). Each region is handed out once and never reused, so a view stays valid
 * for as long as its holder keeps it (a send queued in the socket layer included); a slab is freed
 * when the last view of it is. Callers must not transfer or detach `.buffer` (it is shared).
 * Pure: no Node APIs.
 */
const SLAB_BYTES = 64 * 1024;
/** Larger packets get their own buffer: a slab should hold many. */
const MAX_FROM_SLAB = 4 * 1024;

let slab = new ArrayBuffer(SLAB_BYTES);
let used = 0;

/** `length` zero bytes, a view of a shared slab (for lengths up to 4 KiB) or a buffer of its own. */
export function packetBytes(length: number): Uint8Array {
  if (length > MAX_FROM_SLAB) return new Uint8Array(length);
  if (used + length > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    used = 0;
  }
  const out = new Uint8Array(slab, used, length);
  // 8-byte alignment: the next packet starts on a word, as a fresh buffer would.
  used += (length + 7) & ~7;
  return out;
}
