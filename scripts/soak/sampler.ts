/**
 * One sample of every process in the soak run, from /proc (resident memory, file descriptors,
 * UDP and TCP sockets: what `ss -p` would list for the pid), the relays' and the edge's heap gauge,
 * the driver's own heap, and Redis's key count and memory.
 */
import { countFds, countTcpSockets, countUdpSockets, rssBytes } from '../../test/support/proc-sockets.ts';
import { redisCommand } from './stack.ts';

export type Metric = 'rss' | 'heap' | 'fds' | 'udp' | 'tcp' | 'keys';
export const METRICS: readonly Metric[] = ['rss', 'heap', 'fds', 'udp', 'tcp', 'keys'];

export interface ProcessSample {
  readonly name: string;
  readonly pid: number;
  readonly values: Partial<Record<Metric, number>>;
}

/** The live heap a relay or the Node edge reports on /metrics (prom-client's default name). */
async function scrapedHeap(http: string): Promise<number | undefined> {
  try {
    const text = await (await fetch(`${http}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
    const m = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(text);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function procValues(pid: number): Partial<Record<Metric, number>> | undefined {
  try {
    // No VmRSS: a zombie, exited but not yet reaped (an edge or relay being restarted).
    const rss = rssBytes(pid);
    if (rss === 0) return undefined;
    return { rss, fds: countFds(pid), udp: countUdpSockets(pid), tcp: countTcpSockets(pid) };
  } catch {
    return undefined; // it exited while we looked
  }
}

export async function sampleProcesses(
  pids: Record<string, number | undefined>,
  relayHttp: (name: string) => string | undefined,
  redisPort: number,
): Promise<ProcessSample[]> {
  const out: ProcessSample[] = [];
  const all = { ...pids, driver: process.pid };
  for (const [name, pid] of Object.entries(all)) {
    if (pid === undefined) continue;
    const values = procValues(pid);
    if (!values) continue;
    const http = relayHttp(name);
    if (http) {
      const heap = await scrapedHeap(http);
      if (heap !== undefined) values.heap = heap;
    }
    if (name === 'driver') values.heap = process.memoryUsage().heapUsed;
    if (name === 'redis') {
      const keys = await redisCommand(redisPort, 'DBSIZE').catch(() => undefined);
      const m = keys && /^:(\d+)/.exec(keys);
      if (m) values.keys = Number(m[1]);
    }
    out.push({ name, pid, values });
  }
  return out;
}
