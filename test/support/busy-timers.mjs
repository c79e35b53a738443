// Preloaded into a relay under test (NODE_OPTIONS="--import <this file>"): on SIGUSR2 a timer
// starts that holds the event loop for BUSY_TIMER_MS (50 by default) at the start of every turn,
// as a turn's long timers would (a large directory read, a metrics scrape, a GC pause in one).
// What a turn queued before it and did not send waits that long. Test support only.
const busyMs = Number(process.env.BUSY_TIMER_MS ?? 50);

process.on('SIGUSR2', () => {
  // Due again at once: an interval's next run counts from the loop time before its callback.
  setInterval(() => {
    const end = performance.now() + busyMs;
    while (performance.now() < end);
  }, 1);
  process.stderr.write(`${JSON.stringify({ event: 'busy-timers', busyMs })}\n`);
});
