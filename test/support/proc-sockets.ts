/**
 * Counts what a process holds, from /proc (Linux): its file descriptors, and the socket inodes
 * among them that appear in /proc/net/{udp,udp6} or /proc/net/{tcp,tcp6}. Used to show that
 * relayed sockets are (or are not) closed when allocations end, and that nothing leaks under fuzzing.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

function inodes(tables: readonly string[]): Set<string> {
  const found = new Set<string>();
  for (const file of tables) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9) found.add(cols[9]!);
    }
  }
  return found;
}

function countSockets(pid: number, tables: readonly string[]): number {
  const known = inodes(tables);
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m && known.has(m[1]!)) n++;
    } catch {
      // The descriptor closed while we looked.
    }
  }
  return n;
}

export function countUdpSockets(pid: number): number {
  return countSockets(pid, ['/proc/net/udp', '/proc/net/udp6']);
}

/** TCP sockets of any state, listening ones included. */
export function countTcpSockets(pid: number): number {
  return countSockets(pid, ['/proc/net/tcp', '/proc/net/tcp6']);
}

export function countFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Resident set size in bytes. */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}
