/**
 * The relayed side of the TURN shell: it executes the engine's actions (answers to clients,
 * packets to peers, relayed sockets and EVEN-PORT reservations to bind or close) and keeps, by
 * relayed address, the allocations whose sockets it bound, for the backbone's deliveries. Ports
 * come from the RelaySocketPool (relay-socket-pool.ts); the engine decides, this binds, closes and
 * reports back. A relayed socket's message handler is the data path from peers: one engine call
 * and one send, nothing built per datagram beyond the engine's output. Never imports the
 * listeners (turn-relay.ts, stream-listeners.ts); they call run().
 */
import { randomBytes } from 'node:crypto';
import { addressKey, type IpFamily, type TransportAddress } from '../src/net/address.ts';
import type { TurnEngine } from '../src/turn/engine.ts';
import type { RelayConfig } from './config.ts';
import type { Logger, WarnOnce } from './logger.ts';
import type {
  ClientLink,
  PeerEgress,
  RelayAction,
  RelayAllocation,
  RelayedSocket,
} from './relay-allocation.ts';
import { bindPair, RelaySocketPool } from './relay-socket-pool.ts';
import type { UdpIo, UdpPort } from './udp-io.ts';

/** Where relayed sockets of one family bind, and the address clients are told (XOR-RELAYED-ADDRESS). */
export interface RelayAddress {
  readonly bind: string;
  readonly advertise: string;
}

export type RelayAddresses = Partial<Record<IpFamily, RelayAddress>>;

const FAMILIES: readonly IpFamily[] = [4, 6];

/** Per family, the first listen address of that family, advertised as its external IP if one is set. */
export function relayAddresses(config: Pick<RelayConfig, 'listen' | 'externalIps'>): RelayAddresses {
  const addresses: RelayAddresses = {};
  for (const host of config.listen) {
    const family: IpFamily = host.includes(':') ? 6 : 4;
    if (addresses[family]) continue;
    addresses[family] = { bind: host, advertise: config.externalIps[family] ?? host };
  }
  return addresses;
}

/** The families `addresses` can bind relayed sockets in. */
export function relayFamilies(addresses: RelayAddresses): IpFamily[] {
  return FAMILIES.filter((f) => addresses[f] !== undefined);
}

export interface RelayedSocketsDeps {
  readonly engine: TurnEngine<ClientLink, RelayedSocket>;
  readonly egress: PeerEgress;
  readonly io: UdpIo;
  readonly ports: { readonly min: number; readonly max: number };
  readonly addresses: RelayAddresses;
  readonly log: Logger;
  readonly warnOnce: WarnOnce;
}

export class RelayedSockets {
  readonly #engine: TurnEngine<ClientLink, RelayedSocket>;
  readonly #egress: PeerEgress;
  readonly #pool: RelaySocketPool;
  readonly #addresses: RelayAddresses;
  readonly #log: Logger;
  readonly #warnOnce: WarnOnce;
  readonly #byAddress = new Map<string, RelayAllocation>();
  /** Sockets held under EVEN-PORT reservation tokens (hex), until claimed or released. */
  readonly #reservations = new Map<string, UdpPort>();
  #closed = false;
  /**
   * Active allocations by relayed address (addressKey of the advertised one): a plain map, read
   * on the backbone's data path.
   */
  readonly byAddress: ReadonlyMap<string, RelayAllocation> = this.#byAddress;

  constructor(deps: RelayedSocketsDeps) {
    this.#engine = deps.engine;
    this.#egress = deps.egress;
    this.#pool = new RelaySocketPool(deps.ports, deps.io);
    this.#addresses = deps.addresses;
    this.#log = deps.log;
    this.#warnOnce = deps.warnOnce;
  }

  /** Relayed UDP sockets currently open (each allocation has one, each reservation one more). */
  get open(): number {
    return this.#pool.open;
  }

  run(actions: readonly RelayAction[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'reply':
          a.client.handle.send(a.bytes);
          break;
        case 'to-peer':
          this.#egress.send(a.allocation, a.peer.address, a.peer.port, a.data);
          break;
        case 'bind-relay':
          void this.#bind(a);
          break;
        case 'release-relay':
          this.#release(a.allocation, a.shell);
          break;
        case 'release-reservation':
          this.#releaseReservation(a.token);
          break;
      }
    }
  }

  /** Binds no more sockets and closes those held for reservations (the relay is stopping). */
  close(): void {
    this.#closed = true;
    for (const socket of this.#reservations.values()) void socket.close();
    this.#reservations.clear();
  }

  /** Binds (or takes from a reservation) the relayed socket of a pending allocation. */
  async #bind(a: Extract<RelayAction, { type: 'bind-relay' }>): Promise<void> {
    const alloc = a.allocation;
    const where = this.#addresses[alloc.family];
    let socket: UdpPort | undefined;
    let token: Uint8Array | undefined;
    if (where && !this.#closed) {
      if (a.reservationToken) {
        socket = this.#takeReservation(a.reservationToken);
      } else if (a.reserveNext) {
        const pair = await bindPair(this.#pool, where.bind, alloc.family);
        if (pair) {
          socket = pair[0];
          token = new Uint8Array(randomBytes(8));
          this.#reservations.set(Buffer.from(token).toString('hex'), pair[1]);
        }
      } else {
        socket = await this.#pool.bind(where.bind, alloc.family, a.evenPort);
      }
    }
    if (!socket || !where) {
      this.#log.warn(
        { family: alloc.family, reservation: a.reservationToken !== undefined },
        'no relayed port available',
      );
      this.run(this.#engine.relayBindFailed(alloc, Date.now()));
      return;
    }
    const port = socket.port;
    const relayed: TransportAddress = { family: alloc.family, address: where.bind, port };
    const advertised: TransportAddress = { family: alloc.family, address: where.advertise, port };
    const key = addressKey(advertised);
    const engine = this.#engine;
    socket.onError((err) => this.#warnOnce('relayed-socket', 'relayed socket error', err));
    socket.onMessage((msg, peerIp, peerPort) => {
      const out = engine.fromPeer(alloc, peerIp, peerPort, msg, Date.now());
      if (out) alloc.client.handle.send(out);
    });
    const shell: RelayedSocket = { socket, key };
    const actions = engine.relayBound(
      alloc,
      { relayed, advertised, shell, reservationToken: token },
      Date.now(),
    );
    if (alloc.state === 'active') this.#byAddress.set(key, alloc);
    this.run(actions);
  }

  /** RFC 8656 §7.2: the socket held under a token, for the Allocate that claims it. */
  #takeReservation(token: Uint8Array): UdpPort | undefined {
    const key = Buffer.from(token).toString('hex');
    const socket = this.#reservations.get(key);
    this.#reservations.delete(key);
    return socket;
  }

  /** The engine's book says the reservation expired (30 s, RFC 8656 §7.2): close its socket. */
  #releaseReservation(token: Uint8Array): void {
    void this.#takeReservation(token)?.close();
  }

  #release(alloc: RelayAllocation, shell: RelayedSocket): void {
    if (this.#byAddress.get(shell.key) === alloc) this.#byAddress.delete(shell.key);
    void shell.socket.close();
  }
}
