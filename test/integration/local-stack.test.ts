/**
 * `npm start` (scripts/local-stack.ts): three relays and the edge come up, print where they
 * listen, hand out working iceServers, carry a call between two relays over the backbone, and
 * stop cleanly on Ctrl-C (SIGINT).
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { MessageClass } from '../../src/stun/constants.ts';
import { freePort } from '../support/ports.ts';
import { TurnTestClient } from '../support/turn-client.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

describe('npm start', () => {
  it('runs the whole stack on loopback and stops on Ctrl-C', { timeout: 60_000 }, async () => {
    const edgePort = await freePort('tcp');
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/local-stack.ts'], {
      cwd: ROOT,
      env: { ...process.env, EDGE_PORT: String(edgePort), REDIS_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const start = Date.now();
      while (!out.includes('Ctrl-C stops everything')) {
        if (Date.now() - start > 30_000 || child.exitCode !== null)
          throw new Error(`stack did not start:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(out).toContain('directory: in memory');
      for (const id of ['eu-paris', 'us-newyork', 'ap-tokyo']) expect(out).toContain(id);

      const allocate = async (lat: number, lon: number) => {
        const res = await fetch(`http://127.0.0.1:${edgePort}/v1/allocate`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ location: { lat, lon } }),
        });
        return (await res.json()) as {
          relay: { id: string };
          iceServers: { urls: string[]; username: string; credential: string }[];
        };
      };
      const client = async (a: Awaited<ReturnType<typeof allocate>>) => {
        const [, host, port] = /^turn:([^:]+):(\d+)\?transport=udp$/.exec(a.iceServers[0]!.urls[1]!)!;
        const c = await TurnTestClient.connect({
          transport: 'udp',
          server: { family: 4, address: host!, port: Number(port) },
          cred: {
            username: a.iceServers[0]!.username,
            password: a.iceServers[0]!.credential,
            realm: 'relay.local',
          },
        });
        expect((await c.allocate()).cls).toBe(MessageClass.SuccessResponse);
        return c;
      };
      const paris = await allocate(48.9, 2.4);
      const tokyo = await allocate(35.7, 139.7);
      expect([paris.relay.id, tokyo.relay.id]).toEqual(['eu-paris', 'ap-tokyo']);
      const c1 = await client(paris);
      const c2 = await client(tokyo);
      await c1.channelBind(0x4000, c2.relayed!);
      await c2.channelBind(0x4000, c1.relayed!);
      // The backbone may need a moment to measure its links; retry until a packet arrives.
      for (let i = 0; i < 50 && c2.received.length === 0; i++) {
        c1.sendChannel(0x4000, new Uint8Array([i]));
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(c2.received.length).toBeGreaterThan(0);
      await Promise.all([c1.close(), c2.close()]);
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    expect(out).toContain('stopped');
  });
});
