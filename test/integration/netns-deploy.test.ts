/**
 * A deployment rehearsal on a real topology of network namespaces (test/support/netns.ts), with
 * the production tree (`npm run build` and `npm ci --omit=dev`, test/support/prod-build.ts): the
 * relays, the edge and the key CLI run as built JavaScript with plain `node`.
 *
 *   core 10.200.0.2       Redis and the edge
 *   par  10.200.0.11      relay (Paris), public address on its own interface
 *   nyc  10.200.0.12      relay (New York), public address
 *   tyo  10.200.3.2       relay (Tokyo) behind a cloud-style 1:1 NAT whose public side is
 *                         10.200.0.13, which it discovers (--discover-external-ip, STUN to par)
 * par and tyo publish names (--public-host par.lab.test, tyo.lab.test); nyc its address.
 *   nat1 10.200.0.21      home NAT (masquerade, random ports) for client c1 10.200.1.2 (TURN over UDP)
 *   nat2 10.200.0.22      home NAT for client c2 10.200.2.2 (TURN over TCP)
 *
 * all on one bridge (the "Internet", 10.200.0.0/24) in a namespace of its own. The clients ask
 * the edge for iceServers with an API key made by the key CLI (c1 near Paris, c2 near Tokyo),
 * cannot reach each other directly (their NATs drop unsolicited traffic and map each flow to a
 * new port), and complete a call over two relays and the backbone between them; when the network
 * then drops the backbone datagrams between those two relays, the call goes on through the third.
 * Last, one of the call's relays is drained as for an upgrade (README, Upgrades and draining).
 * Every namespace is made by this file and removed after it, even when it fails. Relays allow
 * peers in 10.200.0.0/16 because the lab's public addresses are private ones; on the Internet the
 * default deny list stays.
 *
 * Further relay options go in RELAYS below, one line each: `'--public-host', 'tyo.lab.test'`
 * (the clients resolve the lab's names through the /etc/hosts the lab gives them, and the
 * assertions expect the name in the URLs), or `'--discover-external-ip', '10.200.0.11:3478'` in
 * place of tyo's --external-ip (tyo starts after par, whose TURN port answers STUN Binding).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TransportAddress } from '../../src/net/address.ts';
import { NetnsLab, requireLabTools } from '../support/netns.ts';
import { runToExit, type Started } from '../support/process.ts';
import { buildProdTree, type ProdTree } from '../support/prod-build.ts';

const SECRET = 'lab-turn-secret';
const MESH_KEY = 'lab-mesh-key-0123456789';
const REDIS = 'redis://10.200.0.2:6379';
const EDGE = 'http://10.200.0.2:8787';
const MESSAGES = 50;
/**
 * UDP on a loaded machine (the tests share two cores) may lose a datagram now and then: each way
 * must deliver at least this many of MESSAGES. A broken path delivers none.
 */
const DELIVERED = MESSAGES - 2;

type RelayId = 'par' | 'nyc' | 'tyo';
interface RelaySpec {
  readonly listen: string;
  /** Its name in the clients' /etc/hosts, for URLs that carry names. */
  readonly name: string;
  /** Where its TURN port is reached from the Internet. */
  readonly publicIp: string;
  readonly where: readonly string[];
  readonly extra: readonly string[];
}
const RELAYS: Record<RelayId, RelaySpec> = {
  par: {
    listen: '10.200.0.11',
    name: 'par.lab.test',
    publicIp: '10.200.0.11',
    where: ['48.86', '2.35', 'eu'],
    extra: ['--public-host', 'par.lab.test'],
  },
  nyc: {
    listen: '10.200.0.12',
    name: 'nyc.lab.test',
    publicIp: '10.200.0.12',
    where: ['40.71', '-74.0', 'us'],
    extra: [],
  },
  tyo: {
    listen: '10.200.3.2',
    name: 'tyo.lab.test',
    publicIp: '10.200.0.13',
    where: ['35.68', '139.69', 'ap'],
    // Behind its NAT, tyo learns 10.200.0.13 by asking par's TURN port (STUN Binding), and
    // publishes its name rather than that address.
    extra: ['--discover-external-ip', '10.200.0.11:3478', '--public-host', 'tyo.lab.test'],
  },
};
const IDS = Object.keys(RELAYS) as RelayId[];
/** The host in a relay's published URLs: its name with --public-host, else its public address. */
const urlHost = (id: RelayId) =>
  RELAYS[id].extra.includes('--public-host') ? RELAYS[id].name : RELAYS[id].publicIp;

interface ClientReady {
  probes: { id: string; ping: string; ok: boolean }[];
  transport: string;
  relay: string;
  urls: string[];
  relayed: TransportAddress;
  mapped: TransportAddress;
  srflx: TransportAddress;
}

/** A client program in its namespace, driven one JSON line at a time. */
class Client {
  readonly #lines: Record<string, unknown>[] = [];
  #seen = 0;
  constructor(
    readonly proc: Started,
    readonly ready: ClientReady,
  ) {
    let buf = '';
    proc.child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      for (const p of parts) if (p.trim()) this.#lines.push(JSON.parse(p) as Record<string, unknown>);
    });
  }

  async ask(cmd: Record<string, unknown>, event: string): Promise<Record<string, unknown>> {
    this.proc.child.stdin!.write(`${JSON.stringify(cmd)}\n`);
    const end = Date.now() + 20_000;
    for (;;) {
      const i = this.#lines.findIndex((l, k) => k >= this.#seen && l.event === event);
      if (i >= 0) {
        this.#seen = i + 1;
        return this.#lines[i]!;
      }
      if (Date.now() > end) throw new Error(`no "${event}" from the client:\n${this.proc.output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

let lab: NetnsLab | undefined;
let tree: ProdTree | undefined;
const relayProcs = {} as Record<RelayId, Started>;
let apiKey: string;
const ns = {} as Record<'core' | RelayId | 'natTyo' | 'nat1' | 'nat2' | 'c1' | 'c2', string>;
let c1: Client;
let c2: Client;

const relayUrl = (id: RelayId, path: string) => `http://${RELAYS[id].listen}:9464${path}`;
const metric = (id: RelayId, sample: string): number => {
  const text = lab!.fetchIn(ns[id], relayUrl(id, '/metrics'));
  const m = new RegExp(`^${sample.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
};
const route = (from: RelayId, to: RelayId): string | undefined => {
  const body = JSON.parse(lab!.fetchIn(ns[from], relayUrl(from, '/healthz'))) as {
    backbone?: { routes: Record<string, string[]> };
  };
  return body.backbone?.routes[to]?.join('-');
};

/** Both clients send MESSAGES to each other on their channel; each gets (nearly) all of the other's. */
async function exchange(tag: string): Promise<void> {
  const [s1, s2] = await Promise.all([
    c1.ask({ cmd: 'send', count: MESSAGES, tag }, 'sent'),
    c2.ask({ cmd: 'send', count: MESSAGES, tag }, 'sent'),
  ]);
  const missing = (from: string, got: string[]) =>
    Array.from({ length: MESSAGES }, (_, i) => `${from} ${tag} ${i}`).filter((m) => !got.includes(m));
  const missed = [missing('c2', s1.received as string[]), missing('c1', s2.received as string[])];
  if (missed.some((m) => m.length > 0)) console.log(`exchange ${tag}: lost ${missed.flat().join(', ')}`);
  for (const m of missed) expect(m.length, m.join(', ')).toBeLessThanOrEqual(MESSAGES - DELIVERED);
  // Nothing else arrives: every message is the other side's, each once.
  for (const [got, from] of [
    [s1.received as string[], 'c2'],
    [s2.received as string[], 'c1'],
  ] as const) {
    expect(new Set(got).size).toBe(got.length);
    for (const g of got) expect(g).toMatch(new RegExp(`^${from} ${tag} \\d+$`));
  }
}

async function poll(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function buildTopology(l: NetnsLab): void {
  ns.core = l.host('core');
  l.public(ns.core, '10.200.0.2/24');
  for (const id of ['par', 'nyc'] as const) {
    ns[id] = l.host(id);
    l.public(ns[id], `${RELAYS[id].listen}/24`);
  }
  ns.natTyo = l.host('nat-tyo');
  ns.tyo = l.host('tyo');
  l.public(ns.natTyo, '10.200.0.13/24');
  l.behind(ns.natTyo, ns.tyo, '10.200.3.1', RELAYS.tyo.listen);
  l.oneToOne(ns.natTyo, '10.200.0.13', RELAYS.tyo.listen);
  for (const [i, nat, client] of [
    [1, 'nat1', 'c1'],
    [2, 'nat2', 'c2'],
  ] as const) {
    ns[nat] = l.host(nat);
    ns[client] = l.host(client);
    l.public(ns[nat], `10.200.0.2${i}/24`);
    l.behind(ns[nat], ns[client], `10.200.${i}.1`, `10.200.${i}.2`);
    l.masquerade(ns[nat]);
    l.hosts(ns[client], Object.fromEntries(IDS.map((id) => [RELAYS[id].name, RELAYS[id].publicIp])));
  }
}

function relayArgs(id: RelayId): string[] {
  const r = RELAYS[id];
  const [lat, lon, region] = r.where;
  return [
    'dist/relay/main.js',
    ...['--id', id, '--region', region!, '--lat', lat!, '--lon', lon!],
    ...['--listen', r.listen, '--turn-port', '3478', '--min-port', '50000', '--max-port', '50999'],
    // Every address: /ping is published on the relay's public address for clients' RTT probes.
    ...['--http-host', '0.0.0.0', '--http-port', '9464'],
    ...['--realm', 'lab', '--secret', SECRET, '--allow-peer', '10.200.0.0/16'],
    ...['--redis', REDIS, '--heartbeat-ttl', '4', '--backbone-port', '7400', '--mesh-key', MESH_KEY],
    ...['--log-level', 'warn'],
    ...r.extra,
  ];
}

async function startClient(
  which: 'c1' | 'c2',
  lat: number,
  lon: number,
  transport: 'udp' | 'tcp',
): Promise<Client> {
  const proc = await lab!.start(
    ns[which],
    ['test/support/netns-call-client.ts'],
    {
      EDGE_URL: EDGE,
      API_KEY: apiKey,
      LAT: String(lat),
      LON: String(lon),
      NAME: which,
      REALM: 'lab',
      TRANSPORT: transport,
    },
    `client ${which}`,
    { stdin: true },
  );
  return new Client(proc, proc.ready as ClientReady);
}

describe('deployment rehearsal in network namespaces: three relays, an edge, two clients behind NAT', () => {
  beforeAll(async () => {
    requireLabTools();
    tree = await buildProdTree();
    const built = { built: tree.dir };
    lab = new NetnsLab();
    buildTopology(lab);
    lab.daemon(ns.core, 'redis-server', [
      ...['--bind', '10.200.0.2', '--port', '6379', '--protected-mode', 'no'],
      ...['--save', '', '--appendonly', 'no'],
    ]);
    await poll(
      () => {
        try {
          return lab!.exec(ns.core, 'redis-cli', ['-h', '10.200.0.2', 'ping']).includes('PONG');
        } catch {
          return false;
        }
      },
      10_000,
      'redis-server in the core namespace',
    );
    // A tenant and an API key for the clients, made with the built key CLI on the Redis host.
    const keys = async (args: string[]) => {
      const r = await runToExit(['dist/scripts/keys.js', ...args], { REDIS_URL: REDIS }, 30_000, {
        ...built,
        netns: ns.core,
      });
      if (r.code !== 0) throw new Error(`keys ${args.join(' ')}: ${r.stderr}`);
      return JSON.parse(r.stdout.trim().split('\n')[0]!) as { key?: string };
    };
    await keys(['tenant', 'add', 'lab', '--rate', '20']);
    apiKey = (await keys(['key', 'add', 'lab', '--label', 'rehearsal'])).key!;
    await Promise.all([
      lab.start(
        ns.core,
        ['dist/workers/node.js'],
        { EDGE_HOST: '10.200.0.2', EDGE_PORT: '8787', REDIS_URL: REDIS, EDGE_SECRETS: SECRET },
        'edge',
        built,
      ),
      ...(['par', 'nyc'] as const).map(async (id) => {
        relayProcs[id] = await lab!.start(ns[id], relayArgs(id), {}, `relay ${id}`, built);
      }),
    ]);
    // After par: a relay that discovers its external address asks par's TURN port.
    relayProcs.tyo = await lab.start(ns.tyo, relayArgs('tyo'), {}, 'relay tyo', built);
    // Every relay has found the others in Redis and measured a direct path to each (a few
    // seconds). It took 35-45 s in a quarter of the runs while a new relay counted the probes
    // its peers dropped before they knew it as losses (src/measure/link-estimator.ts).
    await poll(
      () => IDS.every((a) => IDS.every((b) => a === b || route(a, b) === `${a}-${b}`)),
      45_000,
      'direct backbone routes between all relays',
    ).catch((err: Error) => {
      const seen = IDS.flatMap((a) =>
        IDS.filter((b) => b !== a).map((b) => `${a}->${b}: ${route(a, b) ?? 'none'}`),
      );
      throw new Error(`${err.message} (last seen ${seen.join(', ')})`);
    });
    [c1, c2] = await Promise.all([
      startClient('c1', 48.8, 2.3, 'udp'),
      startClient('c2', 35.7, 139.7, 'tcp'),
    ]);
  }, 420_000);

  afterAll(async () => {
    await lab?.destroy();
    tree?.remove();
  }, 60_000);

  it('gives each client the relay nearest to it, reached through its NAT over UDP or TCP', () => {
    expect([c1.ready.transport, c2.ready.transport]).toEqual(['udp', 'tcp']);
    expect(c1.ready.relay).toBe('par');
    expect(c2.ready.relay).toBe('tyo');
    // The relays see the NATs' public addresses, not the clients' private ones.
    expect(c1.ready.mapped.address).toBe('10.200.0.21');
    expect(c2.ready.mapped.address).toBe('10.200.0.22');
    // The relay behind the 1:1 NAT hands out its public address, for TURN and for relayed ports.
    expect(c2.ready.urls).toContain(`turn:${urlHost('tyo')}:3478?transport=udp`);
    expect(c1.ready.urls).toContain(`turn:${urlHost('par')}:3478?transport=udp`);
  });

  it("lets clients behind NAT time every relay they are asked to probe, at the relay's public address", () => {
    for (const c of [c1, c2]) {
      expect(c.ready.probes.length).toBeGreaterThanOrEqual(2);
      for (const p of c.ready.probes) {
        expect(p.ping).toBe(`http://${urlHost(p.id as RelayId)}:9464/ping`);
        expect(p.ok, p.ping).toBe(true);
      }
    }
    expect(c2.ready.relayed.address).toBe('10.200.0.13');
    expect(c1.ready.relayed.address).toBe('10.200.0.11');
  });

  it('leaves the clients no direct path to each other', async () => {
    // Out through their NATs they reach public hosts; the other client's private address, never.
    expect(lab!.reaches(ns.c1, '10.200.0.2')).toBe(true);
    expect(lab!.reaches(ns.c1, '10.200.2.2')).toBe(false);
    expect(lab!.reaches(ns.c2, '10.200.1.2')).toBe(false);
    // Both try their server-reflexive candidates at once, as ICE would: the NATs drop it all.
    const [p1, p2] = await Promise.all([
      c1.ask({ cmd: 'punch', to: c2.ready.srflx }, 'punched'),
      c2.ask({ cmd: 'punch', to: c1.ready.srflx }, 'punched'),
    ]);
    expect([p1.received, p2.received]).toEqual([0, 0]);
  });

  it('completes a call over two relays and the backbone, both ways', async () => {
    const [b1, b2] = await Promise.all([
      c1.ask({ cmd: 'bind', peer: c2.ready.relayed }, 'bound'),
      c2.ask({ cmd: 'bind', peer: c1.ready.relayed }, 'bound'),
    ]);
    expect([b1.ok, b2.ok]).toEqual([true, true]);
    const sample = (action: string) => `backbone_data_frames_total{action="${action}"}`;
    const before = {
      parSent: metric('par', sample('sent')),
      parDelivered: metric('par', sample('delivered')),
      tyoSent: metric('tyo', sample('sent')),
      tyoDelivered: metric('tyo', sample('delivered')),
    };
    await exchange('direct');
    // Every message crossed the backbone: out of Paris into Tokyo, and back.
    expect(metric('par', sample('sent')) - before.parSent).toBeGreaterThanOrEqual(DELIVERED);
    expect(metric('tyo', sample('delivered')) - before.tyoDelivered).toBeGreaterThanOrEqual(DELIVERED);
    expect(metric('tyo', sample('sent')) - before.tyoSent).toBeGreaterThanOrEqual(DELIVERED);
    expect(metric('par', sample('delivered')) - before.parDelivered).toBeGreaterThanOrEqual(DELIVERED);
  });

  it('detours through the third relay when the network drops the backbone between the two', async () => {
    // A real failure between the hosts: their backbone datagrams to each other are dropped.
    const cut = (from: RelayId, to: RelayId) =>
      lab!.nft(
        ns[from],
        `table ip cut {
  chain out {
    type filter hook output priority filter;
    ip daddr ${RELAYS[to].publicIp} udp dport 7400 drop
  }
}`,
      );
    cut('par', 'tyo');
    cut('tyo', 'par');
    try {
      await poll(() => route('par', 'tyo') === 'par-nyc-tyo', 15_000, 'par routes to tyo through nyc');
      await poll(() => route('tyo', 'par') === 'tyo-nyc-par', 15_000, 'tyo routes to par through nyc');
      const forwarded = () => metric('nyc', 'backbone_data_frames_total{action="forwarded"}');
      const before = forwarded();
      await exchange('detour');
      expect(forwarded() - before).toBeGreaterThanOrEqual(2 * DELIVERED);
    } finally {
      for (const id of ['par', 'tyo'] as const) lab!.exec(ns[id], 'nft', ['delete', 'table', 'ip', 'cut']);
    }
  });

  it('drains a relay for an upgrade: its call goes on, new clients go elsewhere, it exits when the call ends', async () => {
    const par = relayProcs.par;
    par.child.kill('SIGTERM');
    // The directory hears of the draining at once; the edge reads it at most once a second.
    const end = Date.now() + 10_000;
    while ((await c1.ask({ cmd: 'ask' }, 'answer')).relay === 'par') {
      if (Date.now() > end) throw new Error('the edge still hands out the draining relay');
      await new Promise((r) => setTimeout(r, 250));
    }
    await exchange('draining');
    expect(par.child.exitCode).toBeNull();
    expect((await c1.ask({ cmd: 'release' }, 'released')).ok).toBe(true);
    const code = await Promise.race([
      par.exited,
      new Promise((r) => setTimeout(() => r('still running'), 10_000)),
    ]);
    expect(code).toBe(0);
  });
});
