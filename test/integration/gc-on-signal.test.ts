/**
 * The fuzz run's live-heap probe (test/support/gc-on-signal.mjs) in a child process, no sockets:
 * requests made the way @hono/node-server makes them for the edge (a fetch `Request` with a
 * signal of its own, which Node's fetch keeps in a FinalizationRegistry until its cleanup task has
 * run) leave nothing behind once the probe has let finalizers run; a real leak still shows.
 * Measured at once after one full GC, 20,000 such requests read as some 20 MB of growth: the
 * edge's "leak" under the fuzz (docs/FUZZING.md).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';

const PRELOAD = new URL('../support/gc-on-signal.mjs', import.meta.url).pathname;

/** Reads a count on stdin, makes that many requests (kept when the line says so), says 'made'. */
const CHILD = `
const kept = [];
process.stdin.setEncoding('utf8').on('data', (line) => {
  const [n, keep] = line.trim().split(' ');
  for (let i = 0; i < Number(n); i++) {
    const ac = new AbortController();
    const req = new Request('http://127.0.0.1/v1/allocate', { method: 'POST', body: '{}', signal: ac.signal });
    if (keep) kept.push(req);
  }
  process.stdout.write('made\\n');
});`;

const MB = 1e6;

class Probe {
  readonly child: ChildProcess;
  #out = '';
  #err = '';

  constructor() {
    this.child = spawn(
      process.execPath,
      ['--expose-gc', '--import', PRELOAD, '--input-type=module', '-e', CHILD],
      {
        env: { ...process.env, NODE_OPTIONS: '' },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    this.child.stdout!.on('data', (d) => {
      this.#out += d;
    });
    this.child.stderr!.on('data', (d) => {
      this.#err += d;
    });
  }

  async #until(test: () => boolean, what: string): Promise<void> {
    const end = Date.now() + 10_000;
    while (!test()) {
      if (Date.now() > end) throw new Error(`child did not ${what}; stderr: ${this.#err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** The live heap the probe reports on SIGUSR2. */
  async live(): Promise<{ heapUsed: number; rounds: number }> {
    const lines = () => this.#err.match(/\{"event":"gc"[^}]*\}/g) ?? [];
    const before = lines().length;
    this.child.kill('SIGUSR2');
    await this.#until(() => lines().length > before, 'report its heap');
    return JSON.parse(lines().at(-1)!) as { heapUsed: number; rounds: number };
  }

  async make(n: number, keep = false): Promise<void> {
    const before = this.#out.split('made').length;
    this.child.stdin!.write(`${n}${keep ? ' keep' : ''}\n`);
    await this.#until(() => this.#out.split('made').length > before, 'make its requests');
  }
}

describe('the live-heap probe of the fuzz run', () => {
  let probe: Probe | undefined;
  afterEach(() => {
    probe?.child.kill();
    probe = undefined;
  });

  it('counts no growth for requests whose signals only finalizers release, and still sees a real leak', async () => {
    probe = new Probe();
    await probe.make(2000); // warm: code compiled, the registry's tables sized
    const base = await probe.live();
    await probe.make(20_000);
    const after = await probe.live();
    expect((after.heapUsed - base.heapUsed) / MB).toBeLessThan(4);
    expect(after.rounds).toBeGreaterThanOrEqual(2);
    // 20,000 requests kept alive: a leak of some 1.5 KB each, well over the fuzz bound of 8 MB.
    await probe.make(20_000, true);
    const leaked = await probe.live();
    expect((leaked.heapUsed - after.heapUsed) / MB).toBeGreaterThan(15);
  }, 60_000);
});
