import { describe, expect, it } from 'vitest';
import { parseRedisTarget, redactRedisUrl } from '../../src/redis/redis-target.ts';

describe('Redis targets', () => {
  it.each([
    ['redis://127.0.0.1:6379/0', { kind: 'single', url: 'redis://127.0.0.1:6379/0' }],
    ['rediss://:pw@redis.example:6380', { kind: 'single', url: 'rediss://:pw@redis.example:6380' }],
    [
      'redis-sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26379/relays',
      {
        kind: 'sentinel',
        sentinels: [
          { host: '10.0.0.1', port: 26379 },
          { host: '10.0.0.2', port: 26379 },
        ],
        master: 'relays',
        password: 's3cret',
      },
    ],
    [
      'redis-cluster://[::1]:7000,[::1]:7001',
      {
        kind: 'cluster',
        nodes: [
          { host: '::1', port: 7000 },
          { host: '::1', port: 7001 },
        ],
        password: undefined,
      },
    ],
  ])('reads %s', (raw, value) => {
    expect(parseRedisTarget(raw)).toEqual({ ok: true, value });
  });

  it.each([
    ['http://x', 'expected a redis://, rediss://, redis-sentinel:// or redis-cluster:// URL'],
    ['redis-sentinel://10.0.0.1:26379', 'redis-sentinel:// needs the master name as its path: .../mymaster'],
    ['redis-cluster://a,b', 'expected host:port[,host:port...] after redis-cluster://'],
    ['redis-cluster://a:99999', 'expected host:port[,host:port...] after redis-cluster://'],
  ])('refuses %s', (raw, error) => {
    expect(parseRedisTarget(raw)).toEqual({ ok: false, error });
  });

  it('hides passwords when logged', () => {
    expect(redactRedisUrl('redis://user:hunter2@h:1/0')).toBe('redis://user:<redacted>@h:1/0');
    expect(redactRedisUrl('redis-sentinel://:hunter2@h:1/m')).toBe('redis-sentinel://:<redacted>@h:1/m');
    expect(redactRedisUrl('redis://h:1')).toBe('redis://h:1');
  });
});
