/**
 * The two-party call example as a user runs it: the SDK built (`npm run build:sdk`), the local
 * stack started (scripts/local-stack.ts, what `npm start` runs after its builds), and two
 * Chromium pages of one browser opening /examples/two-party/ and joining one room. Each page gets
 * its iceServers from the edge through the built SDK, the pages pair over their BroadcastChannel,
 * the call connects on a relay candidate pair, and messages flow both ways.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../support/chromium.ts';
import { freePort } from '../support/ports.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

interface PageState {
  peer?: string;
  relay?: string;
  path?: { local?: string; remote?: string; url?: string };
  received: string[];
}

let stack: ChildProcess | undefined;
let exited: Promise<number | null>;
let out = '';
let origin: string;
let browser: Browser;

describe('the two-party call example', () => {
  beforeAll(async () => {
    await promisify(execFile)('npm', ['run', 'build:sdk'], { cwd: ROOT, timeout: 120_000 });
    const port = await freePort('tcp');
    origin = `http://127.0.0.1:${port}`;
    stack = spawn(process.execPath, ['--import', 'tsx', 'scripts/local-stack.ts'], {
      cwd: ROOT,
      env: { ...process.env, EDGE_PORT: String(port), REDIS_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    stack.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    stack.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    exited = new Promise((r) => stack!.once('exit', (code) => r(code)));
    const start = Date.now();
    while (!out.includes('Ctrl-C stops everything')) {
      if (Date.now() - start > 30_000 || stack.exitCode !== null)
        throw new Error(`stack did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    stack?.kill('SIGINT');
    if (stack) expect(await exited).toBe(0);
  });

  it('prints its URL, and serves the page and the built SDK but nothing beside them', async () => {
    expect(out).toContain(`example  ${origin}/examples/two-party/`);
    const page = await fetch(`${origin}/examples/two-party/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('"@relay-backbone/sdk": "/sdk/index.js"');
    const sdk = await fetch(`${origin}/sdk/index.js`);
    expect(sdk.headers.get('content-type')).toMatch(/^text\/javascript/);
    for (const path of [
      '/sdk/../package.json',
      '/sdk/%2e%2e/package.json',
      '/examples/two-party/..%2fapp.ts',
    ])
      expect((await fetch(`${origin}${path}`)).status, path).toBe(404);
  });

  it('connects two pages through a relay and carries their messages', async () => {
    const context = await browser.newContext();
    const pages: Page[] = [];
    const errors: string[] = [];
    for (let i = 0; i < 2; i++) {
      const page = await context.newPage();
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${origin}/examples/two-party/?room=e2e`);
      await page.click('#join');
      pages.push(page);
    }
    const state = (p: Page) => p.evaluate(() => (globalThis as unknown as { twoParty: PageState }).twoParty);
    try {
      for (const p of pages) {
        await expect.poll(() => p.textContent('#status'), { timeout: 30_000 }).toBe('connected');
        await expect.poll(async () => (await state(p)).path?.local, { timeout: 10_000 }).toBe('relay');
      }
    } catch (err) {
      // What each page saw (edge answer, pairing, renewals) says where the call stopped.
      const logs = await Promise.all(pages.map((p) => p.textContent('#log')));
      throw new Error(`${(err as Error).message}\n${logs.map((l, i) => `page ${i}:\n${l}`).join('\n')}`);
    }
    const [a, b] = await Promise.all(pages.map(state));
    expect(a!.peer).toBe(
      await pages[1]!.evaluate(() => (globalThis as unknown as { twoParty: { me: string } }).twoParty.me),
    );
    // The relay candidate came from the relay the edge chose, through the SDK.
    expect(a!.path!.url).toMatch(/^turn:127\.0\.0\.[234]:\d+/);
    expect(['eu-paris', 'us-newyork', 'ap-tokyo']).toContain(a!.relay);
    expect(['eu-paris', 'us-newyork', 'ap-tokyo']).toContain(b!.relay);

    await pages[0]!.fill('#message', 'hello from the first tab');
    await pages[0]!.click('#send');
    await pages[1]!.fill('#message', 'and back from the second');
    await pages[1]!.press('#message', 'Enter');
    await expect.poll(async () => (await state(pages[1]!)).received).toEqual(['hello from the first tab']);
    await expect.poll(async () => (await state(pages[0]!)).received).toEqual(['and back from the second']);
    expect(await pages[1]!.textContent('#log')).toContain('them: hello from the first tab');

    await pages[0]!.click('#hangup');
    await expect.poll(() => pages[1]!.textContent('#log')).toContain('the other tab hung up');
    expect(errors).toEqual([]);
    await context.close();
  });
});
