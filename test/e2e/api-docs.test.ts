/**
 * The API reference page in a real browser: headless Chromium loads GET /docs from the Node edge
 * app over HTTP and must see every operation, the page's own style applied, and not one console
 * error (a CSP violation is one).
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryLearnedStore } from '../../src/allocation/learned-store.ts';
import { createEdgeApp } from '../../workers/app.ts';
import { launchChromium } from '../support/chromium.ts';

/** What the page function uses of the browser's window (the root tsconfig has no DOM types). */
interface BrowserWindow {
  getComputedStyle(el: unknown): { backgroundColor: string };
}

describe('the API reference page in Chromium', () => {
  let browser: Browser | undefined;
  let server: ReturnType<typeof serve> | undefined;
  let url = '';

  beforeAll(async () => {
    const app = createEdgeApp({
      relays: async () => [],
      learned: new MemoryLearnedStore(),
      secrets: () => ['s'],
      credentialTtlSeconds: 600,
      clientIp: () => undefined,
      defaultPlace: { lat: 0, lon: 0 },
    });
    await new Promise<void>((resolve) => {
      server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) => {
        url = `http://127.0.0.1:${info.port}`;
        resolve();
      });
    });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('renders every operation with its style and without a console error', async () => {
    const page = await browser!.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    const res = await page.goto(`${url}/docs`);
    expect(res?.status()).toBe(200);
    const operations = await page.locator('section.op').count();
    const doc = (await (await fetch(`${url}/v1/openapi.json`)).json()) as { paths: Record<string, object> };
    expect(operations).toBe(Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).length, 0));
    await expect
      .poll(() =>
        page
          .locator('.method.post')
          .first()
          .evaluate((el) => (globalThis as unknown as BrowserWindow).getComputedStyle(el).backgroundColor),
      )
      .toBe('rgb(31, 111, 235)');
    await page.locator('a[href="#schema-AllocateAnswer"]').first().click();
    expect(page.url()).toMatch(/#schema-AllocateAnswer$/);
    expect(errors).toEqual([]);
    await page.close();
  });
});
