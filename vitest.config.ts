import { defineConfig } from 'vitest/config';

// Three projects: unit (pure code, no sockets), integration (real sockets on loopback, real Redis,
// real third-party clients), e2e (Chromium, workerd). `vitest run` runs all of them, one project
// after the other (sequence.groupOrder): Chromium and workerd never share the two cores with the
// timing-sensitive integration tests, and integration files run one at a time.
export default defineConfig({
  test: {
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
          fileParallelism: false,
        },
      },
    ],
  },
});
