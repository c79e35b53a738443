/**
 * Configuration mistakes on the Node edge and usage mistakes on the key CLI: each is one line on
 * stderr naming what to fix, and exit code 2, before anything starts.
 */
import { describe, expect, it } from 'vitest';
import { runToExit } from '../support/node-edge.ts';

const EDGE_OK = { REDIS_URL: 'redis://127.0.0.1:6379', EDGE_SECRETS: 's', EDGE_PORT: '0' };

describe('the Node edge refuses a bad configuration', () => {
  it.each([
    [{ REDIS_URL: '' }, 'REDIS_URL'],
    [{ REDIS_URL: 'http://example' }, 'REDIS_URL'],
    [{ EDGE_SECRETS: '' }, 'EDGE_SECRETS'],
    [{ EDGE_PORT: '70000' }, 'EDGE_PORT'],
    [{ EDGE_API_KEYS: 'maybe' }, 'EDGE_API_KEYS: expected required or off'],
    [{ EDGE_STALE_SECONDS: '-1' }, 'EDGE_STALE_SECONDS'],
    [{ EDGE_EXPLORE_SHARE: '2' }, 'EDGE_EXPLORE_SHARE: expected a share from 0 to 1'],
    [{ EDGE_TRUSTED_PROXIES: '10.0.0.0/99' }, 'EDGE_TRUSTED_PROXIES'],
  ])('%j', async (env, says) => {
    const merged: Record<string, string> = { ...EDGE_OK, ...env };
    for (const [k, v] of Object.entries(merged)) if (v === '') delete merged[k];
    const r = await runToExit(['workers/node.ts'], { ...merged, REDIS_URL: merged.REDIS_URL ?? '' });
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.stderr).toContain(says);
  });
});

describe('the Node edge prints its usage', () => {
  it('on --help, naming every variable, exit 0', async () => {
    const r = await runToExit(['workers/node.ts', '--help'], {});
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: npm run edge');
    for (const name of [
      'REDIS_URL',
      'EDGE_SECRETS',
      'EDGE_GEO_HEADERS',
      'EDGE_TRUSTED_PROXIES',
      'EDGE_PROBE_KEY',
    ])
      expect(r.stdout).toContain(name);
  });
});

describe('the key CLI refuses bad usage', () => {
  it.each([
    [[], 'no command'],
    [['tenant', 'remove', 'x'], 'unknown command "tenant remove"'],
    [['key', 'add'], 'key add: missing its argument'],
    [['tenant', 'add', 'Not_Valid'], 'tenant id "Not_Valid"'],
    [['tenant', 'add', 'acme', '--rate', 'fast'], 'rate: expected requests per second'],
    [['tenant', 'add', 'acme', '--burst', '0'], 'burst'],
    [['tenant', 'add', 'acme', '--min-ttl', '5'], '--min-ttl: expected a whole number of seconds from 10'],
    [['tenant', 'add', 'acme', '--min-ttl', '900', '--max-ttl', '600'], '--min-ttl 900 is above max-ttl 600'],
    [['tenant', 'list', '--colour'], "Unknown option '--colour'"],
    [['tenant', 'list', '--redis', 'ftp://x'], '--redis'],
  ])('%j', async (args, says) => {
    const r = await runToExit(['scripts/keys.ts', ...args], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.stderr).toContain(says);
  });

  it('says when Redis cannot be reached, in one line, exit 1', async () => {
    const r = await runToExit(['scripts/keys.ts', 'tenant', 'list'], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^keys: cannot reach Redis at redis:\/\/127\.0\.0\.1:1: .*\n$/);
  });
});
