import { describe, expect, it } from 'vitest';
import { edgeHelpText, parseEdgeConfig, redactEdgeConfig } from '../../workers/config.ts';
import { OPTIONS } from '../../workers/config-options.ts';

const NODE_OK = { REDIS_URL: 'redis://127.0.0.1:6379', EDGE_SECRETS: 's1,s2' };
const WORKERS_OK = {
  EDGE_SECRETS: 's1',
  SNAPSHOT_URL: 'https://edge.example.net/v1/internal/directory',
  SNAPSHOT_TOKEN: 'snapshot-token',
};

const nodeConfig = (env: Record<string, string>) => {
  const r = parseEdgeConfig('node', { ...NODE_OK, ...env });
  if (!r.ok || !('config' in r)) throw new Error(JSON.stringify(r));
  return r.config;
};

describe('parseEdgeConfig', () => {
  it('fills the documented defaults', () => {
    expect(nodeConfig({})).toMatchObject({
      host: '127.0.0.1',
      port: 8787,
      redisPrefix: 'rb:',
      secrets: ['s1', 's2'],
      credentialTtl: 600,
      trustedProxies: [],
      geoHeaders: 'none',
      crypto: 'node',
      exploreShare: 0.05,
      staleSeconds: 30,
      apiKeys: 'required',
      maxBodyBytes: 16_384,
      corsOrigins: undefined,
    });
  });

  it.each([
    ['EDGE_CREDENTIAL_TTL', 'abc', 'EDGE_CREDENTIAL_TTL: expected an integer from 60 to 86400, got "abc"'],
    ['EDGE_CREDENTIAL_TTL', '59', 'EDGE_CREDENTIAL_TTL: expected an integer from 60 to 86400, got "59"'],
    ['EDGE_DEFAULT_LAT', 'north', 'EDGE_DEFAULT_LAT: expected degrees from -90 to 90, got "north"'],
    ['EDGE_EXPLORE_SHARE', '2', 'EDGE_EXPLORE_SHARE: expected a share from 0 to 1, got "2"'],
    ['EDGE_API_KEYS', 'maybe', 'EDGE_API_KEYS: expected required or off, got "maybe"'],
    ['EDGE_CORS_ORIGINS', 'https://a.example/path', 'EDGE_CORS_ORIGINS: expected an origin'],
    ['EDGE_CORS_ORIGINS', '*,https://a.example', 'EDGE_CORS_ORIGINS: * allows every origin'],
    ['EDGE_PROBE_KEY', 'short', 'EDGE_PROBE_KEY: a probe key needs at least 16 characters'],
    ['EDGE_MAX_BODY_BYTES', '100', 'EDGE_MAX_BODY_BYTES: expected an integer from 1024 to 1048576'],
  ])('Node and Workers refuse %s=%s alike: "%s"', (name, value, says) => {
    const node = parseEdgeConfig('node', { ...NODE_OK, [name]: value });
    const workers = parseEdgeConfig('workers', { ...WORKERS_OK, [name]: value });
    expect(node).toEqual({ ok: false, error: expect.stringContaining(says) });
    expect(workers).toEqual(node);
  });

  it.each([
    ['node', { EDGE_SECRETS: 's' }, 'REDIS_URL: required'],
    ['node', { REDIS_URL: 'redis://127.0.0.1:6379', EDGE_SECRETS: ' , ' }, 'EDGE_SECRETS: required'],
    ['node', { ...NODE_OK, EDGE_PORT: '70000' }, 'EDGE_PORT: expected an integer from 0 to 65535'],
    ['node', { ...NODE_OK, EDGE_TRUSTED_PROXIES: '10.0.0.0/99' }, 'EDGE_TRUSTED_PROXIES:'],
    [
      'node',
      { ...NODE_OK, EDGE_GEO_HEADERS: 'akamai' },
      'EDGE_GEO_HEADERS: expected none, cloudflare, cloudfront or fastly',
    ],
    ['workers', { EDGE_SECRETS: 's', SNAPSHOT_TOKEN: 't' }, 'SNAPSHOT_URL: required'],
    ['workers', { ...WORKERS_OK, SNAPSHOT_URL: 'ftp://x' }, 'SNAPSHOT_URL: expected an http(s) URL'],
    ['workers', { EDGE_SECRETS: 's', SNAPSHOT_URL: WORKERS_OK.SNAPSHOT_URL }, 'SNAPSHOT_TOKEN: required'],
  ] as const)('on %s refuses %j with one line: %s', (runtime, env, says) => {
    const r = parseEdgeConfig(runtime, env);
    expect(r.ok).toBe(false);
    const error = (r as { error: string }).error;
    expect(error).toContain(says);
    expect(error).not.toContain('\n');
  });

  it('reads the Workers binding names where they differ, and Node options not at all on Workers', () => {
    const r = parseEdgeConfig('workers', { ...WORKERS_OK, ADMIN_TOKEN: 'admin', EDGE_PORT: 'nonsense' });
    expect(r).toMatchObject({ ok: true, config: { adminToken: 'admin', snapshotToken: 'snapshot-token' } });
  });

  it('parses CORS origins as a list or *', () => {
    expect(nodeConfig({ EDGE_CORS_ORIGINS: 'https://a.example, https://b.example' }).corsOrigins).toEqual([
      'https://a.example',
      'https://b.example',
    ]);
    expect(nodeConfig({ EDGE_CORS_ORIGINS: '*' }).corsOrigins).toBe('*');
  });

  it('redacts secrets and Redis passwords for logs', () => {
    const shown = redactEdgeConfig(
      nodeConfig({ REDIS_URL: 'redis://:hunter2@127.0.0.1:6379', EDGE_PROBE_KEY: 'p'.repeat(16) }),
    );
    expect(JSON.stringify(shown)).not.toMatch(/hunter2|s1|pppp/);
    expect(shown.secrets).toEqual(['<redacted>', '<redacted>']);
  });

  it('answers --help with usage naming every variable, and refuses stray arguments', () => {
    expect(parseEdgeConfig('node', {}, ['--help'])).toEqual({ ok: true, help: edgeHelpText() });
    for (const spec of Object.values(OPTIONS)) expect(edgeHelpText()).toContain(spec.env);
    expect(parseEdgeConfig('node', NODE_OK, ['--port', '1'])).toMatchObject({ ok: false });
  });
});

describe('the Workers edge with a bad binding', () => {
  it('answers a 500 problem that does not say which value, and logs the one line', async () => {
    const { default: worker } = await import('../../workers/cloudflare.ts');
    const logged: unknown[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => logged.push(args.join(' '));
    try {
      const env = { ...WORKERS_OK, EDGE_CREDENTIAL_TTL: 'NaN' };
      const res = await worker.fetch(
        new Request('http://edge/v1/allocate', { method: 'POST', body: '{}' }),
        env,
      );
      expect(res.status).toBe(500);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      const text = await res.text();
      expect(text).toContain('Edge misconfigured');
      expect(text).not.toContain('EDGE_CREDENTIAL_TTL');
      expect(logged).toEqual(['edge: EDGE_CREDENTIAL_TTL: expected an integer from 60 to 86400, got "NaN"']);
    } finally {
      console.error = original;
    }
  });
});
