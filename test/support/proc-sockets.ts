/**
 * Counts the UDP sockets a process holds, from /proc (Linux): the socket inodes among its file
 * descriptors that appear in /proc/net/udp or /proc/net/udp6. Used to show that relayed sockets
 * are (or are not) closed when allocations end.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

function udpInodes(): Set<string> {
  const inodes = new Set<string>();
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9) inodes.add(cols[9]!);
    }
  }
  return inodes;
}

export function countUdpSockets(pid: number): number {
  const inodes = udpInodes();
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m && inodes.has(m[1]!)) n++;
    } catch {
      // The descriptor closed while we looked.
    }
  }
  return n;
}
