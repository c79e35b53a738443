/**
 * A tiny STUN server on loopback that answers every Binding request with an address the test
 * chooses, so a relay on 127.0.0.1 can be made to believe it sits behind a NAT (RFC 8489 §6.3.3
 * answers, built with the project's codec). It can stay silent for the first requests, or for
 * all, answer each after a delay (a far server), and it records where each request came from.
 */
import dgram from 'node:dgram';
import type { TransportAddress } from '../../src/net/address.ts';
import { encodeXorAddress } from '../../src/stun/attributes.ts';
import { Attr, MessageClass, Method } from '../../src/stun/constants.ts';
import { decodeMessage, encodeMessage } from '../../src/stun/message.ts';

export interface StunResponder {
  readonly port: number;
  /** Source addresses of the Binding requests received, in order. */
  readonly requests: { address: string; port: number }[];
  close(): Promise<void>;
}

/**
 * Answers with `mapped` as the external address (its port is the request's source port), or
 * never when `mapped` is undefined; the first `dropFirst` requests go unanswered. Listens on
 * `host` (127.0.0.1, or ::1 for IPv6). With `delayMs`, each answer leaves that long after its request.
 */
export async function startStunResponder(
  mapped: string | undefined,
  opts: { dropFirst?: number; host?: string; delayMs?: number } = {},
): Promise<StunResponder> {
  const host = opts.host ?? '127.0.0.1';
  const socket = dgram.createSocket(host.includes(':') ? { type: 'udp6', ipv6Only: true } : { type: 'udp4' });
  const requests: { address: string; port: number }[] = [];
  socket.on('message', (msg, rinfo) => {
    const r = decodeMessage(new Uint8Array(msg));
    if (!r.ok || r.message.method !== Method.Binding || r.message.cls !== MessageClass.Request) return;
    requests.push({ address: rinfo.address, port: rinfo.port });
    if (mapped === undefined || requests.length <= (opts.dropFirst ?? 0)) return;
    const external: TransportAddress = {
      family: mapped.includes(':') ? 6 : 4,
      address: mapped,
      port: rinfo.port,
    };
    const tid = r.message.transactionId;
    const reply = encodeMessage(Method.Binding, MessageClass.SuccessResponse, tid, [
      [Attr.XorMappedAddress, encodeXorAddress(external, tid)],
    ]);
    if (opts.delayMs) setTimeout(() => socket.send(reply, rinfo.port, rinfo.address), opts.delayMs);
    else socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind(0, host, r));
  return {
    port: socket.address().port,
    requests,
    close: () => new Promise((r) => socket.close(() => r())),
  };
}
