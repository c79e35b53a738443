/**
 * `--discover-external-ip`: at start, before any listener opens, ask STUN servers for the address
 * this relay's traffic leaves with, and use it like `--external-ip` (XOR-RELAYED-ADDRESS, the
 * directory record, the published URLs). The requests leave from the relay's own listen address
 * of each family, so the answer is the mapping its relayed sockets get behind a NAT that maps
 * every port of one host to one address. This shell owns the socket, the timers and the name
 * look-ups; what to send, what an answer means and the agreement rule are src/stun/discovery.ts.
 */
import { randomBytes } from 'node:crypto';
import type dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import type { IpFamily } from '../src/net/address.ts';
import {
  agreeOnAddress,
  type BindingAnswer,
  bindingRequest,
  readBindingAnswer,
  retransmitOffsets,
  type ServerAnswer,
} from '../src/stun/discovery.ts';
import type { RelayConfig, StunServer } from './config.ts';
import type { Logger } from './logger.ts';
import { stunCrypto } from './platform-crypto.ts';
import { bindUdp } from './socket-util.ts';

/** RFC 8489 §6.2.1: the initial retransmission timeout, doubled after each send. */
const RTO_MS = 500;

export type DiscoveryResult =
  | { readonly ok: true; readonly externalIps: RelayConfig['externalIps'] }
  | { readonly ok: false; readonly error: string };

export interface DiscoveryDeps {
  readonly logger: Logger;
  /** Name resolution, replaceable in tests; the system resolver by default. */
  readonly resolve?: ((host: string, family: IpFamily) => Promise<string>) | undefined;
}

const systemResolve = async (host: string, family: IpFamily): Promise<string> =>
  (await lookup(host, { family })).address;

/**
 * The external address of every family that has servers, merged over config.externalIps.
 * Bounded by config.discoverTimeout; never throws.
 */
export async function discoverExternalIps(
  config: RelayConfig,
  deps: DiscoveryDeps,
): Promise<DiscoveryResult> {
  const log = deps.logger.child({ part: 'discover-external-ip' });
  const families = [...new Set(config.discoverExternalIp.map((s) => s.family))];
  const externalIps = { ...config.externalIps };
  const started = Date.now();
  const results = await Promise.all(
    families.map(async (family) => {
      const servers = config.discoverExternalIp.filter((s) => s.family === family);
      const from = config.listen.find((a) => (a.includes(':') ? 6 : 4) === family)!;
      const answers = await askAll(from, family, servers, config.discoverTimeout * 1000, deps);
      return { family, agreement: agreeOnAddress(family, answers) };
    }),
  );
  for (const { family, agreement } of results) {
    if (!agreement.ok) return { ok: false, error: agreement.error };
    if (agreement.silent.length > 0)
      log.warn({ family, silent: agreement.silent }, 'some STUN servers did not answer; the others agree');
    externalIps[family] = agreement.address;
    log.info({ family, address: agreement.address, ms: Date.now() - started }, 'external address discovered');
  }
  return { ok: true, externalIps };
}

const label = (s: StunServer): string => `${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}`;

/** Asks every server from one socket bound on `from`; resolves when all answered or at the deadline. */
async function askAll(
  from: string,
  family: IpFamily,
  servers: readonly StunServer[],
  timeoutMs: number,
  deps: DiscoveryDeps,
): Promise<ServerAnswer[]> {
  const deadline = Date.now() + timeoutMs;
  let socket: dgram.Socket;
  try {
    socket = await bindUdp(from, 0);
  } catch (err) {
    const reason = `cannot bind ${from} to ask: ${(err as Error).message}`;
    return servers.map((s) => ({ server: label(s), answer: { kind: 'error', reason } }));
  }
  socket.on('error', () => {}); // an unreachable server is a silent one
  try {
    return await Promise.all(servers.map((s) => askOne(socket, family, s, deadline, deps)));
  } finally {
    socket.close();
  }
}

/** One server: the request sent at RFC 8489 §6.2.1 intervals until it answers or the deadline. */
async function askOne(
  socket: dgram.Socket,
  family: IpFamily,
  server: StunServer,
  deadline: number,
  deps: DiscoveryDeps,
): Promise<ServerAnswer> {
  const name = label(server);
  let address = server.host;
  if (server.family === undefined) {
    try {
      address = await withDeadline((deps.resolve ?? systemResolve)(server.host, family), deadline);
    } catch (err) {
      return { server: name, answer: { kind: 'error', reason: `no address (${(err as Error).message})` } };
    }
  }
  const tid = new Uint8Array(randomBytes(12));
  const request = bindingRequest(tid, stunCrypto);
  const timers: NodeJS.Timeout[] = [];
  return new Promise<ServerAnswer>((resolve) => {
    const onMessage = (msg: Buffer) => {
      const answer = readBindingAnswer(new Uint8Array(msg), tid);
      if (answer.kind !== 'other') finish(answer);
    };
    const finish = (answer: BindingAnswer | undefined) => {
      for (const t of timers) clearTimeout(t);
      socket.off('message', onMessage);
      resolve({ server: name, answer });
    };
    socket.on('message', onMessage);
    const left = deadline - Date.now();
    for (const at of retransmitOffsets(RTO_MS, left)) {
      timers.push(setTimeout(() => socket.send(request, server.port, address, () => {}), at));
    }
    timers.push(setTimeout(() => finish(undefined), Math.max(0, left)));
  });
}

function withDeadline<T>(p: Promise<T>, deadline: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('look-up timed out')), Math.max(0, deadline - Date.now()));
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
