/**
 * A steady call for the soak run: two TURN clients over UDP on two relays, each permitting the
 * other's relayed address with a channel, so every packet crosses the backbone. Both directions
 * send 160-byte packets at a constant rate, each tagged with its sequence number; the receiver
 * marks what arrived. Loss is counted one sampling interval late (packets sent before the previous
 * sample that never arrived). When a relay of the call is killed the session is dropped and
 * rebuilt once both relays answer again; intervals touching that window are marked excluded.
 */
import type { TransportAddress } from '../../src/net/address.ts';
import type { LossInterval } from '../../src/soak/verdict.ts';
import { MessageClass } from '../../src/stun/constants.ts';
import { TurnTestClient } from '../../test/support/turn-client.ts';

const CRED = { username: 'a', password: 'b', realm: 'r' };
const CHANNEL = 0x4001;
const PACKET_BYTES = 160;

interface Direction {
  sent: number;
  /** Index of the first packet not yet accounted. */
  counted: number;
  /** Packets sent up to the previous sample: accounted at the next one. */
  mark: number;
  got: Uint8Array;
}

interface Session {
  readonly c1: TurnTestClient;
  readonly c2: TurnTestClient;
  readonly dirs: [Direction, Direction];
}

const direction = (capacity: number): Direction => ({
  sent: 0,
  counted: 0,
  mark: 0,
  got: new Uint8Array(capacity),
});

export class SteadyCall {
  readonly intervals: LossInterval[] = [];
  #session: Session | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Packets of closed sessions not yet accounted (all of them lost or not, counted excluded). */
  #orphanSent = 0;
  #orphanLost = 0;
  /** True from a kill of one of this call's relays until its new session is up. */
  #down = true;
  /** Set when the call was down at any time since the last sample. */
  #downSinceSample = false;
  readonly #capacity: number;

  constructor(
    readonly name: string,
    readonly relays: readonly [string, string],
    readonly server: (id: string) => TransportAddress,
    readonly pps: number,
    durationS: number,
  ) {
    this.#capacity = Math.ceil(pps * (durationS + 120));
  }

  async start(): Promise<void> {
    const c1 = await TurnTestClient.connect({
      transport: 'udp',
      server: this.server(this.relays[0]),
      cred: CRED,
    });
    const c2 = await TurnTestClient.connect({
      transport: 'udp',
      server: this.server(this.relays[1]),
      cred: CRED,
    });
    try {
      for (const c of [c1, c2])
        if ((await c.allocate()).cls !== MessageClass.SuccessResponse)
          throw new Error(`${this.name}: allocate refused`);
      for (const [a, b] of [
        [c1, c2],
        [c2, c1],
      ] as const)
        if ((await a.channelBind(CHANNEL, b.relayed!)).cls !== MessageClass.SuccessResponse)
          throw new Error(`${this.name}: channel bind refused`);
    } catch (err) {
      await Promise.all([c1.close(), c2.close()]);
      throw err;
    }
    const dirs: [Direction, Direction] = [direction(this.#capacity), direction(this.#capacity)];
    const s: Session = { c1, c2, dirs };
    // c1 sends direction 0 to c2; c2 sends direction 1 to c1.
    c2.onChannelData = (_ch, data) => this.#mark(dirs[0], data);
    c1.onChannelData = (_ch, data) => this.#mark(dirs[1], data);
    this.#session = s;
    // Keep the allocations and channels alive for the whole run (lifetime 600 s, channels 10 min).
    let beat = 0;
    const period = 1000 / this.pps;
    this.#timer = setInterval(() => {
      this.#send(s.c1, dirs[0]);
      this.#send(s.c2, dirs[1]);
      if (++beat % Math.round(this.pps * 60) === 0) void this.#keepAlive(s);
    }, period);
    // The call is up once a packet has arrived each way; what was sent before counts as excluded.
    const end = Date.now() + 5000;
    while (!(dirs[0].got.includes(1) && dirs[1].got.includes(1))) {
      if (Date.now() > end) {
        await this.#close();
        throw new Error(`${this.name}: no packet came through within 5 s`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const d of dirs) {
      for (let i = d.counted; i < d.sent; i++) {
        this.#orphanSent++;
        if (!d.got[i]) this.#orphanLost++;
      }
      d.counted = d.sent;
      d.mark = d.sent;
    }
    this.#down = false;
  }

  async #keepAlive(s: Session): Promise<void> {
    for (const [a, b] of [
      [s.c1, s.c2],
      [s.c2, s.c1],
    ] as const) {
      await a.refresh(600).catch(() => undefined);
      await a.channelBind(CHANNEL, b.relayed!).catch(() => undefined);
    }
  }

  #send(c: TurnTestClient, d: Direction): void {
    if (d.sent >= d.got.length) return;
    const p = new Uint8Array(PACKET_BYTES);
    new DataView(p.buffer).setUint32(0, d.sent);
    c.sendChannel(CHANNEL, p);
    d.sent++;
  }

  #mark(d: Direction, data: Uint8Array): void {
    if (data.length !== PACKET_BYTES) return;
    const seq = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0);
    if (seq < d.got.length) d.got[seq] = 1;
  }

  /** One of this call's relays was killed: drop the session; its unaccounted packets go excluded. */
  async drop(): Promise<void> {
    this.#down = true;
    this.#downSinceSample = true;
    await this.#close();
  }

  /** Stops sending and closes the session; its unaccounted packets go to the excluded count. */
  async #close(): Promise<void> {
    clearInterval(this.#timer);
    const s = this.#session;
    this.#session = undefined;
    if (!s) return;
    for (const d of s.dirs) {
      for (let i = d.counted; i < d.sent; i++) {
        this.#orphanSent++;
        if (!d.got[i]) this.#orphanLost++;
      }
    }
    await Promise.all([s.c1.close(), s.c2.close()]);
  }

  /** Rebuilds the session, retrying for up to `timeoutMs`; throws if it cannot. */
  async restart(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.start();
        return;
      } catch (err) {
        if (Date.now() > end) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  get down(): boolean {
    return this.#down;
  }

  /** Called at each sample: accounts packets sent before the previous sample. */
  account(t: number): LossInterval {
    let sent = 0;
    let lost = 0;
    const s = this.#session;
    if (s) {
      for (const d of s.dirs) {
        for (let i = d.counted; i < d.mark; i++) {
          sent++;
          if (!d.got[i]) lost++;
        }
        d.counted = d.mark;
        d.mark = d.sent;
      }
    }
    const excluded = this.#downSinceSample || this.#orphanSent > 0;
    const interval = { t, sent: sent + this.#orphanSent, lost: lost + this.#orphanLost, excluded };
    this.#orphanSent = 0;
    this.#orphanLost = 0;
    // A session rebuilt during this interval: the next interval still holds its first packets.
    this.#downSinceSample = this.#down;
    this.intervals.push(interval);
    return interval;
  }

  async stop(): Promise<void> {
    await this.#close();
  }
}
