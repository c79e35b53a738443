// Preloaded into a child process under test (NODE_OPTIONS="--expose-gc --import <this file>"):
// on SIGUSR2 it runs a full garbage collection and prints one line,
// {"event":"gc","heapUsed":N,"external":M}, so a leak test reads the live heap (and the memory
// outside it that Buffers and ArrayBuffers hold) rather than that plus whatever garbage V8 has
// not collected yet. Test support only; never loaded in production.
process.on('SIGUSR2', () => {
  globalThis.gc?.();
  const { heapUsed, external } = process.memoryUsage();
  process.stderr.write(`${JSON.stringify({ event: 'gc', heapUsed, external })}\n`);
});
