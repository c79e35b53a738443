/**
 * The SDK in Node: the same getRtcConfiguration, probing each relay with a STUN Binding request
 * over UDP (RFC 8489 §6) instead of an HTTP GET, which is what a media path sees. Best of two
 * transactions per relay, so a first-packet ARP or route lookup does not count. Node only
 * (node:dgram); browsers use sdk/index.ts.
 */

import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import { crc32 } from 'node:zlib';
import { MessageClass, Method } from '../src/stun/constants.ts';
import { decodeMessage, encodeMessage } from '../src/stun/message.ts';
import {
  getRtcConfiguration as getWith,
  type Prober,
  type RtcConfigurationResult,
  type SdkOptions,
} from './index.ts';

/** `stun:host:port` (IPv6 in brackets) to host and port; undefined when it is not one. */
export function parseStunUrl(url: string): { host: string; port: number } | undefined {
  const m = /^stuns?:(\[[^\]]+\]|[^:?]+)(?::(\d+))?(?:\?.*)?$/.exec(url);
  if (!m) return undefined;
  const host = m[1]!.replace(/^\[|\]$/g, '');
  const port = m[2] ? Number(m[2]) : 3478;
  return port > 0 && port < 65536 ? { host, port } : undefined;
}

/** Times one Binding transaction; rejects on abort. */
function bindingRtt(host: string, port: number, signal: AbortSignal): Promise<number> {
  const family = isIP(host) === 6 ? 'udp6' : 'udp4';
  const socket = createSocket(family);
  const id = crypto.getRandomValues(new Uint8Array(12));
  const request = encodeMessage(Method.Binding, MessageClass.Request, id, [], {
    fingerprint: true,
    crypto: { crc32 },
  });
  return new Promise<number>((resolve, reject) => {
    let sentAt = 0;
    let retry: ReturnType<typeof setTimeout> | undefined;
    const done = (err: Error | undefined, rtt = 0) => {
      clearTimeout(retry);
      signal.removeEventListener('abort', onAbort);
      socket.close();
      if (err) reject(err);
      else resolve(rtt);
    };
    const onAbort = () => done(new Error(`no STUN answer from ${host}:${port} in time`));
    signal.addEventListener('abort', onAbort);
    socket.on('error', (err) => done(err));
    socket.on('message', (msg) => {
      const d = decodeMessage(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength));
      if (!d.ok || d.message.cls !== MessageClass.SuccessResponse) return;
      if (!d.message.transactionId.every((b, i) => b === id[i])) return;
      done(undefined, performance.now() - sentAt);
    });
    // Retransmit after 500 ms (RFC 8489 §6.2.1 starts at 500 ms); the first send times the answer.
    const send = () => {
      sentAt = performance.now();
      socket.send(request, port, host);
      retry = setTimeout(send, 500);
    };
    if (signal.aborted) onAbort();
    else send();
  });
}

export const stunBindingProber = (): Prober => async (target, signal) => {
  const at = target.stun ? parseStunUrl(target.stun) : undefined;
  if (!at) throw new Error(`no STUN URL for ${target.id}`);
  const first = await bindingRtt(at.host, at.port, signal);
  const second = await bindingRtt(at.host, at.port, signal).catch(() => first);
  return { rttMs: Math.min(first, second), method: 'stun' };
};

/** getRtcConfiguration with STUN Binding probes unless another prober is given. */
export function getRtcConfiguration(o: SdkOptions): Promise<RtcConfigurationResult> {
  return getWith({ ...o, prober: o.prober ?? stunBindingProber() });
}

export {
  httpPingProber,
  type Prober,
  pingProber,
  type RtcConfigurationResult,
  type SdkOptions,
} from './index.ts';
