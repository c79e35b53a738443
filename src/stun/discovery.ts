/**
 * Learning a relay's own external address from STUN servers (`--discover-external-ip`): the
 * Binding request, reading its answer, when to retransmit, and how several answers make one
 * address. The relay's shell (relay/external-ip.ts) owns the socket, the clock and the name
 * look-ups. Pure: no node:* imports, no sockets, no clocks.
 *
 * Policy: every server is asked; the relay waits until all have answered or the time is up.
 * The IP addresses in the answers that came must all be the same (ports may differ: a NAT that
 * maps per destination still has one address); servers that stayed silent are named but do not
 * block. No answer at all, or answers that disagree, is an error.
 */
import type { IpFamily, TransportAddress } from '../net/address.ts';
import { parseIp } from '../net/ip.ts';
import { decodeAddress, decodeErrorCode, decodeXorAddress } from './attributes.ts';
import { Attr, MessageClass, Method } from './constants.ts';
import { decodeMessage, encodeMessage, findAttribute } from './message.ts';
import type { StunCrypto } from './stun-crypto.ts';

/** RFC 8489 §6.1: a Binding request, no attributes but FINGERPRINT (§14.7, harmless to every server). */
export function bindingRequest(transactionId: Uint8Array, crypto: Pick<StunCrypto, 'crc32'>): Uint8Array {
  return encodeMessage(Method.Binding, MessageClass.Request, transactionId, [], {
    fingerprint: true,
    crypto,
  });
}

export type BindingAnswer =
  | { readonly kind: 'mapped'; readonly address: TransportAddress }
  | { readonly kind: 'error'; readonly reason: string }
  /** Not an answer to our request (another transaction, not STUN): ignore it. */
  | { readonly kind: 'other' };

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Reads one datagram as the answer to the Binding request with `transactionId`: the mapped
 * address from XOR-MAPPED-ADDRESS (RFC 8489 §14.2), or MAPPED-ADDRESS (§14.1) from a server that
 * predates it; or why the answer is unusable. Never throws.
 */
export function readBindingAnswer(datagram: Uint8Array, transactionId: Uint8Array): BindingAnswer {
  const decoded = decodeMessage(datagram);
  if (!decoded.ok) return { kind: 'other' };
  const msg = decoded.message;
  if (msg.method !== Method.Binding || !sameBytes(msg.transactionId, transactionId)) return { kind: 'other' };
  if (msg.cls === MessageClass.ErrorResponse) {
    const attr = findAttribute(msg, Attr.ErrorCode);
    const code = attr && decodeErrorCode(attr.value);
    return {
      kind: 'error',
      reason: code?.ok ? `error ${code.value.code} ${code.value.reason}` : 'error response',
    };
  }
  if (msg.cls !== MessageClass.SuccessResponse) return { kind: 'other' };
  const xor = findAttribute(msg, Attr.XorMappedAddress);
  if (xor) {
    const r = decodeXorAddress(xor.value, msg.transactionId);
    return r.ok
      ? { kind: 'mapped', address: r.value }
      : { kind: 'error', reason: `bad XOR-MAPPED-ADDRESS (${r.error})` };
  }
  const plain = findAttribute(msg, Attr.MappedAddress);
  if (plain) {
    const r = decodeAddress(plain.value);
    return r.ok
      ? { kind: 'mapped', address: r.value }
      : { kind: 'error', reason: `bad MAPPED-ADDRESS (${r.error})` };
  }
  return { kind: 'error', reason: 'no XOR-MAPPED-ADDRESS in the response' };
}

/**
 * RFC 8489 §6.2.1: over UDP a request is retransmitted after RTO, then at doubling intervals,
 * at most Rc = 7 times. The offsets (ms after the first send) of every send that fits before
 * `deadlineMs`, the first at 0.
 */
export function retransmitOffsets(rtoMs: number, deadlineMs: number, maxSends = 7): number[] {
  const out: number[] = [];
  let at = 0;
  let interval = rtoMs;
  while (out.length < maxSends && at < deadlineMs) {
    out.push(at);
    at += interval;
    interval *= 2;
  }
  return out;
}

/** What one server said, or undefined when it stayed silent until the deadline. */
export interface ServerAnswer {
  /** How the operator wrote the server, for messages. */
  readonly server: string;
  readonly answer: BindingAnswer | undefined;
}

export type Agreement =
  | { readonly ok: true; readonly address: string; readonly silent: readonly string[] }
  | { readonly ok: false; readonly error: string };

/** One external address for `family` from the servers' answers, by the policy in the header. */
export function agreeOnAddress(family: IpFamily, answers: readonly ServerAnswer[]): Agreement {
  const mapped: { server: string; address: string }[] = [];
  const failed: string[] = [];
  const silent: string[] = [];
  for (const { server, answer } of answers) {
    if (!answer || answer.kind === 'other') silent.push(server);
    else if (answer.kind === 'error') failed.push(`${server} answered ${answer.reason}`);
    else if (answer.address.family !== family)
      failed.push(`${server} answered an IPv${answer.address.family} address for IPv${family}`);
    else if (parseIp(answer.address.address)!.every((b) => b === 0))
      failed.push(`${server} answered ${answer.address.address}, which no peer can reach`);
    else mapped.push({ server, address: answer.address.address });
  }
  if (mapped.length === 0) {
    const why = [...failed, ...(silent.length > 0 ? [`no answer from ${silent.join(', ')}`] : [])];
    return { ok: false, error: `no IPv${family} address learned: ${why.join('; ')}` };
  }
  const distinct = [...new Set(mapped.map((m) => m.address))];
  if (distinct.length > 1) {
    const said = mapped.map((m) => `${m.server} says ${m.address}`).join(', ');
    return { ok: false, error: `STUN servers disagree on the IPv${family} address: ${said}` };
  }
  if (failed.length > 0) return { ok: false, error: failed.join('; ') };
  return { ok: true, address: distinct[0]!, silent };
}
