/**
 * One side of a call in the network-namespace rehearsal, run inside a client's namespace
 * (`ip netns exec NS node --import tsx test/support/netns-call-client.ts`). It asks the edge
 * (EDGE_URL, with API_KEY) for iceServers with a location hint (LAT, LON), allocates on the first relay's
 * URL for TRANSPORT (udp or tcp, as a client behind a UDP-blocking firewall would) with the
 * credentials it got, and learns its server-reflexive address with a STUN Binding
 * from a second socket, as an ICE agent would; before that it times each probe target's /ping
 * URL through its NAT, as the SDK does. Then it follows commands, one JSON line each on
 * stdin, and answers with one JSON line on stdout:
 *   {"cmd":"punch","to":ADDR}   send 5 datagrams straight to ADDR from the second socket; after
 *                               1.5 s report how many datagrams that socket got from anyone else
 *   {"cmd":"bind","peer":ADDR}  ChannelBind 0x4000 to ADDR (the other side's relayed address)
 *   {"cmd":"send","count":N,"tag":T}  send N messages "NAME T i" on the channel, wait up to
 *                               15 s for N more from the other side; report those that arrived
 *   {"cmd":"ask"}               ask the edge again; report which relay it chose
 *   {"cmd":"release"}           end the allocation (Refresh with LIFETIME 0, RFC 8656 §7.3)
 *   {"cmd":"exit"}
 * ADDR is {"address","port"}. NAME (a label in the messages) and REALM come from the environment.
 */
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { createInterface } from 'node:readline';
import type { TransportAddress } from '../../src/net/address.ts';
import { Attr, MessageClass, Method } from '../../src/stun/constants.ts';
import { decodeMessage } from '../../src/stun/message.ts';
import { request, xorAddressAttr } from './stun-builders.ts';
import { TurnTestClient } from './turn-client.ts';

const env = process.env;
const name = env.NAME ?? 'client';
const out = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);

interface Answer {
  relay: { id: string };
  iceServers: { urls: string[]; username: string; credential: string }[];
  probeTargets: { id: string; ping?: string }[];
}

/** Times each probe target's /ping, as the SDK does before it asks the edge again. */
async function probe(targets: Answer['probeTargets']) {
  return Promise.all(
    targets.map(async (t) => {
      const start = performance.now();
      try {
        const res = await fetch(t.ping!, { signal: AbortSignal.timeout(3000) });
        return { id: t.id, ping: t.ping, ok: res.ok, rttMs: performance.now() - start };
      } catch {
        return { id: t.id, ping: t.ping, ok: false };
      }
    }),
  );
}

async function askEdge(): Promise<Answer> {
  const res = await fetch(`${env.EDGE_URL}/v1/allocate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${env.API_KEY}` },
    body: JSON.stringify({ location: { lat: Number(env.LAT), lon: Number(env.LON) } }),
    signal: AbortSignal.timeout(10_000),
  });
  if (res.status !== 200) throw new Error(`edge answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as Answer;
}

async function main(): Promise<void> {
  const answer = await askEdge();
  const ice = answer.iceServers[0]!;
  const transport = env.TRANSPORT === 'tcp' ? 'tcp' : 'udp';
  const url = ice.urls.find((u) => u.startsWith('turn:') && u.endsWith(`?transport=${transport}`));
  const m = url && /^turn:([^:?]+):(\d+)\?/.exec(url);
  if (!m) throw new Error(`no ${transport} TURN URL in ${JSON.stringify(ice.urls)}`);
  // A name (--public-host) resolves through the namespace's /etc/hosts; a literal stays as it is.
  const server: TransportAddress = {
    family: 4,
    address: (await lookup(m[1]!, 4)).address,
    port: Number(m[2]),
  };

  const turn = await TurnTestClient.connect({
    transport,
    server,
    localAddress: transport === 'udp' ? '0.0.0.0' : undefined,
    cred: { username: ice.username, password: ice.credential, realm: env.REALM ?? 'lab' },
  });
  const alloc = await turn.allocate();
  if (alloc.cls !== MessageClass.SuccessResponse) throw new Error('Allocate failed');

  // The second socket: a host candidate, and its server-reflexive address through the NAT.
  const host = dgram.createSocket('udp4');
  await new Promise<void>((r) => host.bind(0, '0.0.0.0', r));
  let strays = 0;
  let srflx: TransportAddress | undefined;
  host.on('message', (msg, rinfo) => {
    if (rinfo.address === server.address && rinfo.port === server.port) {
      const d = decodeMessage(new Uint8Array(msg));
      if (d.ok) srflx = xorAddressAttr(d.message, Attr.XorMappedAddress);
    } else strays++;
  });
  const binding = request(Method.Binding, []).bytes;
  for (let i = 0; i < 20 && !srflx; i++) {
    host.send(binding, server.port, server.address);
    await new Promise((r) => setTimeout(r, 100));
  }

  const probes = await probe(answer.probeTargets);
  out({
    event: 'ready',
    probes,
    transport,
    relay: answer.relay.id,
    urls: ice.urls,
    server,
    relayed: turn.relayed,
    mapped: turn.mapped,
    srflx,
  });

  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    const c = JSON.parse(line) as {
      cmd: string;
      to?: TransportAddress;
      peer?: TransportAddress;
      count?: number;
      tag?: string;
    };
    if (c.cmd === 'punch') {
      const before = strays;
      for (let i = 0; i < 5; i++) {
        host.send(Buffer.from(`${name} direct ${i}`), c.to!.port, c.to!.address);
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 1500));
      out({ event: 'punched', received: strays - before });
    } else if (c.cmd === 'bind') {
      const r = await turn.channelBind(0x4000, c.peer!);
      out({ event: 'bound', ok: r.cls === MessageClass.SuccessResponse });
    } else if (c.cmd === 'send') {
      const n = c.count!;
      const start = turn.received.length;
      for (let i = 0; i < n; i++) {
        turn.sendChannel(0x4000, Buffer.from(`${name} ${c.tag} ${i}`));
        await new Promise((r) => setTimeout(r, 5));
      }
      await turn.waitForData(start + n, 15_000).catch(() => undefined);
      out({ event: 'sent', received: turn.received.slice(start).map((r) => Buffer.from(r.data).toString()) });
    } else if (c.cmd === 'ask') {
      out({ event: 'answer', relay: (await askEdge()).relay.id });
    } else if (c.cmd === 'release') {
      const r = await turn.refresh(0);
      out({ event: 'released', ok: r.cls === MessageClass.SuccessResponse });
    } else if (c.cmd === 'exit') {
      break;
    }
  }
  lines.close();
  host.close();
  await turn.close();
}

main().catch((err: Error) => {
  process.stderr.write(`${name}: ${err.message}\n`);
  process.exit(1);
});
