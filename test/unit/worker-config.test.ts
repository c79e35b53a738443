import { describe, expect, it } from 'vitest';
import { parseRelayConfig, type RelayConfig } from '../../relay/config.ts';
import { backboneThreads, portSlice, workerConfig } from '../../relay/worker-config.ts';
import { checkRelayRecord } from '../../src/directory/validate.ts';
import { relayRecord } from '../support/relay-record.ts';

function config(argv: string[]): RelayConfig {
  const r = parseRelayConfig(argv, {}, { fileExists: () => false });
  if (!r.ok || !('config' in r)) throw new Error('expected a config');
  return r.config;
}

describe('relayed port slices of workers', () => {
  it('split the range into contiguous slices that cover it once, the first ones longer', () => {
    const slices = [0, 1, 2].map((i) => portSlice(49152, 65535, 3, i));
    expect(slices).toEqual([
      { minPort: 49152, maxPort: 54613 },
      { minPort: 54614, maxPort: 60074 },
      { minPort: 60075, maxPort: 65535 },
    ]);
    const ports = new Set<number>();
    for (const s of slices) for (let p = s.minPort; p <= s.maxPort; p++) ports.add(p);
    expect(ports.size).toBe(65535 - 49152 + 1);
  });

  it('give the whole range to a single worker', () => {
    expect(portSlice(40000, 40009, 1, 0)).toEqual({ minPort: 40000, maxPort: 40009 });
  });

  it('refuse a range too small for a pair of ports per worker, and a worker that does not exist', () => {
    expect(() => portSlice(40000, 40004, 3, 0)).toThrow('5 relayed ports cannot be split into 3 slices of 2');
    expect(() => portSlice(40000, 40009, 2, 2)).toThrow('worker 2 of 2: no such worker');
  });
});

describe('worker configuration', () => {
  it('divides the relay-wide caps, rounding up, and keeps the per-user and per-source ones', () => {
    const c = config(['--workers', '3', '--max-allocations', '100', '--max-connections', '10']);
    const w = workerConfig(c, 2);
    expect(w).toMatchObject({
      minPort: 60075,
      maxPort: 65535,
      maxAllocations: 34,
      maxConnections: 4,
      userQuota: c.userQuota,
      tenantQuota: c.tenantQuota,
      maxConnectionsPerIp: c.maxConnectionsPerIp,
      turnPort: c.turnPort,
    });
  });

  it('is the configuration itself with one worker', () => {
    const c = config([]);
    expect(workerConfig(c, 0)).toBe(c);
  });
});

describe('backbone threads a relay publishes', () => {
  const backbone = ['--backbone-port', '7000', '--redis', 'redis://127.0.0.1', '--mesh-key', 'k'.repeat(16)];

  it('put worker i at backbone port P+i with its relayed port slice, in a record that reads back', () => {
    const c = config(['--workers', '3', '--min-port', '40000', '--max-port', '40008', ...backbone]);
    const threads = backboneThreads(c, 4, '192.0.2.7');
    expect(threads).toEqual([
      { backbone: '192.0.2.7:7000', portRange: [40000, 40002] },
      { backbone: '192.0.2.7:7001', portRange: [40003, 40005] },
      { backbone: '192.0.2.7:7002', portRange: [40006, 40008] },
    ]);
    const record = relayRecord('r', '192.0.2.7', 0, 0, {
      portRange: [40000, 40008],
      backboneThreads: threads,
    });
    expect(checkRelayRecord(record).ok).toBe(true);
  });

  it('list one thread without workers, and none without a backbone', () => {
    const c = config(['--min-port', '40000', '--max-port', '40008', ...backbone]);
    expect(backboneThreads(c, 6, '2001:db8::7')).toEqual([
      { backbone: '[2001:db8::7]:7000', portRange: [40000, 40008] },
    ]);
    expect(backboneThreads(config([]), 4, '192.0.2.7')).toEqual([]);
  });
});
