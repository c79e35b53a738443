/**
 * CRC-32 (ISO-HDLC: reflected polynomial 0xEDB88320, initial value and final XOR 0xFFFFFFFF), the
 * CRC that STUN FINGERPRINT uses before its own XOR with 0x5354554E (RFC 8489 §14.7, which points
 * to ITU V.42 / ISO 3309). Table-driven, one byte per step; the table is built once, on first use.
 */
let table: Uint32Array | undefined;

function crcTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

/** Unsigned CRC-32 of `data[start..end)`. */
export function crc32(data: Uint8Array, start = 0, end = data.length): number {
  table ??= crcTable();
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = table[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
