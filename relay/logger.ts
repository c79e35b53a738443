/**
 * The relay's structured logger (pino). One root logger per process, child loggers per part
 * (`turn`, `http`, `backbone`), and a rate limiter for warnings that could fire per packet.
 */
import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export function createLogger(level: LogLevel, name = 'relay'): Logger {
  return pino({ name, level, base: { pid: process.pid } });
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
