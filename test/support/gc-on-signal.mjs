// Preloaded into a child process under test (NODE_OPTIONS="--expose-gc --import <this file>"):
// on SIGUSR2 it runs a full garbage collection and prints one line,
// {"event":"gc","heapUsed":N}, so a leak test reads the live heap rather than the heap plus
// whatever garbage V8 has not collected yet. Test support only; never loaded in production.
process.on('SIGUSR2', () => {
  globalThis.gc?.();
  process.stderr.write(`${JSON.stringify({ event: 'gc', heapUsed: process.memoryUsage().heapUsed })}\n`);
});
