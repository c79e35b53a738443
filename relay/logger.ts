/**
 * The relay's structured logger (pino). One root logger per process, child loggers per part
 * (`turn`, `http`, `backbone`), and a rate limiter for warnings that could fire per packet.
 */
import { destination, type Logger, pino, symbols } from 'pino';

export type { Logger } from 'pino';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/**
 * `sync`: each line is written before the call returns. pino's default stream writes
 * asynchronously and its flush() calls back at once (sonic-boom with minLength 0 does not wait for
 * a write in flight), so a worker thread that logs, flushes and then tells the main thread it has
 * stopped can lose its last lines when the main thread exits right after (seen in CI: worker 1's
 * "TURN listeners closed" missing). Worker threads log little, and never per packet (warnings
 * that could are rate limited), so they write synchronously.
 */
export function createLogger(level: LogLevel, name = 'relay', o: { sync?: boolean } = {}): Logger {
  const options = { name, level, base: { pid: process.pid } };
  return o.sync ? pino(options, destination({ dest: 1, sync: true })) : pino(options);
}

type Destination = ReturnType<typeof destination>;
let exiting = false;

/**
 * Exits with `code` once every line logged so far is written (on the main thread, whose stream is
 * asynchronous). pino's flush(cb) calls back at once, and the handler pino runs at exit writes
 * the queued lines synchronously but not the write in flight: with stdout read slowly (a full
 * pipe) that write waits to be retried, and its lines (up to 16 KiB) were lost at exit
 * (test/integration/relay-exit-logs.test.ts: 66 of 4,000 lines). So the stream is ended, which
 * writes everything in order, and the process exits once it has closed, or after `boundMs` when
 * stdout takes nothing for that long (or is gone: pino then ends the stream as a no-op), and
 * pino's exit handler writes what it can.
 */
export function exitAfterLogs(logger: Logger, code: number, boundMs = 5000): void {
  if (exiting) return; // the first exit's code stands
  exiting = true;
  const stream = (logger as unknown as Record<symbol, Destination | undefined>)[symbols.streamSym];
  const exit = () => process.exit(code);
  if (!stream || typeof stream.end !== 'function') {
    exit();
    return;
  }
  stream.once('close', exit);
  setTimeout(exit, boundMs);
  try {
    stream.end();
  } catch {
    exit(); // already ended
  }
}

/**
 * Lets a log line through at most once per `intervalMs` per key and counts what it held back, so
 * a flood of bad packets costs one line a second, not one per packet.
 */
export function rateLimitedLog(
  intervalMs = 1000,
): (key: string, now: number, log: (suppressed: number) => void) => void {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (key, now, log) => {
    const entry = last.get(key);
    if (entry && now - entry.at < intervalMs) {
      entry.suppressed++;
      return;
    }
    log(entry?.suppressed ?? 0);
    last.set(key, { at: now, suppressed: 0 });
  };
}

/** A warning that could fire per packet: `key` says which, `err` goes into the line's fields. */
export type WarnOnce = (key: string, message: string, err?: unknown) => void;

/** Warnings on `log` at most once a second per key (rateLimitedLog), with the count held back. */
export function rateLimitedWarn(log: Logger): WarnOnce {
  const warn = rateLimitedLog();
  return (key, message, err) => warn(key, Date.now(), (suppressed) => log.warn({ err, suppressed }, message));
}
