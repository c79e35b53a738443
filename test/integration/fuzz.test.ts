/**
 * CI's short run of the fuzz script (scripts/fuzz.ts, `npm run fuzz`): the same function, the same
 * live processes and checks, fewer messages. Two relays with a backbone and the Node edge take
 * random and mutated STUN/ChannelData over UDP, TCP and TLS streams cut at random points, backbone
 * frames from a registered relay address, and JSON bodies on every edge route; afterwards each
 * still serves, a steady call across the backbone lost nothing, every TCP/TLS frame was taken in,
 * and heap, descriptors and sockets are back at their baseline. FUZZ_SEED=n reproduces a run,
 * FUZZ_COUNT=n changes its size. The full run (1,000,000 per protocol) is in docs/FUZZING.md.
 */
import { describe, expect, it } from 'vitest';
import { summary } from '../../scripts/fuzz.ts';
import { runFuzz } from '../support/fuzz-run.ts';
import { runToExit } from '../support/process.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20261124);
const COUNT = Number(process.env.FUZZ_COUNT ?? 3000);

describe(`the fuzz script, short (seed ${SEED})`, () => {
  it(`sends ${COUNT} messages per protocol to live processes, which keep serving and settle`, {
    timeout: 120_000,
  }, async () => {
    const report = await runFuzz({
      seed: SEED,
      messages: COUNT,
      protocols: ['udp', 'stream', 'tls', 'backbone', 'edge'],
      rate: 50_000,
      maxSeconds: 60,
      // Short: the relay's 40 s answer cache is still partly full, inside the heap bound at this size.
      settleSeconds: 2,
    });
    console.log(summary(report));
    expect(report.failures).toEqual([]);
    for (const p of report.protocols) expect(p.messages).toBe(COUNT);
    // The generators reached past the first checks: frames the backbone authenticated and
    // parsed, requests the edge answered 200 and 422.
    expect(report.backboneRejected.ERR_REPLAYED).toBeGreaterThan(0);
    expect(report.backboneRejected.ERR_WRONG_ADDRESS).toBeGreaterThan(0);
    expect(report.backboneRejected.ERR_ADDRESS_FAMILY).toBeGreaterThan(0);
    const edge = report.protocols.find((p) => p.protocol === 'edge')!.detail.statuses as Record<
      string,
      number
    >;
    expect(edge['200']).toBeGreaterThan(0);
    expect(edge['422']).toBeGreaterThan(0);
    expect(report.call.every((c) => c.sent > 0 && c.lost === 0)).toBe(true);
  });
});

describe('the fuzz command line', () => {
  it.each([
    [['--messages', '10'], 'fuzz: --seed: required'],
    [['--seed', '1'], 'fuzz: --messages: required'],
    [['--seed', 'x', '--messages', '10'], 'fuzz: --seed: expected an integer'],
    [['--seed', '1', '--messages', '10', '--protocol', 'sctp'], 'fuzz: --protocol: expected one of'],
    [['--seed', '1', '--messages', '0'], 'fuzz: --messages: expected an integer from 1'],
    [['--bogus'], 'fuzz: unknown option "--bogus"'],
  ])('%j exits 2 with one line', async (args, says) => {
    const r = await runToExit(['scripts/fuzz.ts', ...args], {});
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n').filter(Boolean)).toEqual([expect.stringContaining(says)]);
  });

  it('prints its usage with --help and exits 0', async () => {
    const r = await runToExit(['scripts/fuzz.ts', '--help'], {});
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('usage: npm run fuzz -- --seed N --messages M');
  });
});
