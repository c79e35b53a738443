import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The four-minute browser call past its credentials: a data channel at one message a second
 * waiting for Chromium's permission refresh, mostly idle. It starts first in the e2e group, on
 * one of its two workers, and the other e2e files run one at a time on the other (together
 * about two minutes), instead of four minutes after them.
 */
const LONG_CALL = 'test/e2e/browser-credential-expiry.test.ts';

/** Vitest's order, the long call first. */
class LongCallFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const long = sorted.filter((f) => f.moduleId.endsWith(LONG_CALL));
    return [...long, ...sorted.filter((f) => !long.includes(f))];
  }
}

// Three projects: unit (pure code, no sockets), integration (real sockets on loopback, real Redis,
// real third-party clients), e2e (Chromium, workerd). `vitest run` runs all of them, one project
// after the other (sequence.groupOrder): Chromium and workerd never share the two cores with the
// timing-sensitive integration tests, and integration files run one at a time; so do e2e files,
// beside one long idle browser call (LONG_CALL).
export default defineConfig({
  test: {
    sequence: { sequencer: LongCallFirst },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          sequence: { groupOrder: 1 },
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Relays bind fixed loopback ports in some suites; keep files from fighting over them.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          sequence: { groupOrder: 2 },
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Two workers: the long call on one (LONG_CALL, started first), the rest one by one.
          maxWorkers: 2,
        },
      },
    ],
  },
});
