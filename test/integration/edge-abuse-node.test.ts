/**
 * The Node edge's abuse limits as an operator runs it (issue 12): with EDGE_API_KEYS=off each
 * client address is limited, counted in Redis under addr:SOURCE so every edge shares the budget;
 * bad values of its variables stop the edge with one line and exit code 2.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NodeEdge, runToExit, startNodeEdge } from '../support/node-edge.ts';
import { deleteKeys, redisUrl, uniquePrefix } from '../support/redis.ts';

describe('the Node edge with API keys off', () => {
  let url: string;
  let prefix: string;
  let edge: NodeEdge;

  beforeAll(async () => {
    url = await redisUrl();
    prefix = uniquePrefix('edge-abuse');
    edge = await startNodeEdge({
      REDIS_URL: url,
      EDGE_REDIS_PREFIX: prefix,
      EDGE_SECRETS: 's',
      EDGE_API_KEYS: 'off',
      EDGE_ADDRESS_RATE: '0.05', // one more every 20 s: the six requests below never earn one
      EDGE_ADDRESS_BURST: '3',
    });
    // The limiter shares the edge's Redis client, whose commands time out after 1 s and then let
    // the request through (fail open). On a loaded machine the first command can wait for the
    // connection longer than that, and the burst below then counted one request too few (CI saw
    // 503, 429, 429 after three). /readyz reads the directory through the same client and is not
    // rate limited: wait until it answers.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const r = await fetch(`${edge.base}/readyz`);
      await r.arrayBuffer();
      if (r.status === 200) break;
      if (Date.now() > deadline) throw new Error(`edge /readyz still ${r.status} after 15 s`);
      await new Promise((done) => setTimeout(done, 100));
    }
  });

  afterAll(async () => {
    await edge?.stop();
    await deleteKeys(url, prefix);
  });

  it('limits each address through Redis: the burst, then 429 with Retry-After', async () => {
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 6; i++) {
      last = await fetch(`${edge.base}/v1/allocate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      statuses.push(last.status);
      await last.arrayBuffer();
    }
    // 503 is fine for the first three: no relay is registered under this prefix.
    expect(statuses.slice(0, 3).every((s) => s !== 429)).toBe(true);
    expect(statuses.slice(3)).toEqual([429, 429, 429]);
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const redis = new Redis(url);
    try {
      expect(await redis.exists(`${prefix}{rate:addr:127.0.0.1}`)).toBe(1);
    } finally {
      redis.disconnect();
    }
    const metrics = await (await fetch(`${edge.base}/metrics`)).text();
    expect(metrics).toMatch(/edge_refused_total\{reason="address_rate_limit"\} 3/);
  });
});

describe('the Node edge refuses bad abuse limits', () => {
  it.each([
    [{ EDGE_ADDRESS_RATE: '0' }, 'EDGE_ADDRESS_RATE: expected requests per second from 0.001'],
    [{ EDGE_ADDRESS_RATE: 'lots' }, 'EDGE_ADDRESS_RATE'],
    [{ EDGE_ADDRESS_BURST: '0' }, 'EDGE_ADDRESS_BURST: expected an integer from 1'],
  ])('%j', async (env, says) => {
    const r = await runToExit(['workers/node.ts'], {
      REDIS_URL: 'redis://127.0.0.1:6379',
      EDGE_SECRETS: 's',
      EDGE_PORT: '0',
      ...env,
    });
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.stderr).toContain(says);
  });
});
