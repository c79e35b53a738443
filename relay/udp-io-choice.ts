/**
 * Which UDP I/O a relay runs on (--udp-io auto|dgram|native), and why: one pure decision from the
 * configuration and what the shell found on this machine (does the native addon load, does this
 * Node bind with SO_REUSEPORT). relay/main.ts asks it once at start, logs the reason and exits 2
 * on an error; every thread then runs the chosen I/O.
 * Owns: the rules. Must not import sockets, the addon or the relay (relay/udp-io.ts gathers facts).
 *
 * What native needs, and what auto therefore checks:
 * - the addon built and loadable here (Linux; `npm run build:native`);
 * - nothing else: it serves the TURN listeners, relayed sockets and the backbone's port in every
 *   configuration, with one thread or several (it sets SO_REUSEPORT itself, on any Node).
 * What --workers N > 1 needs regardless of the I/O: SO_REUSEPORT on every shared TURN port.
 * TCP and TLS always use Node's `net` (reusePort: Node 22.12 and later); UDP uses Node's dgram
 * (the same) or the addon (any Node). So on an older Node, workers serve only UDP, and only on
 * native I/O: auto picks native there when it can, and says so when it cannot.
 */
import type { UdpIoMode } from './config-options.ts';

/** The I/O a relay actually runs on. */
export type UdpIoKind = Exclude<UdpIoMode, 'auto'>;

/** What the shell found on this machine. */
export interface UdpIoFacts {
  /** Undefined when the addon loaded; otherwise why not, for the operator (what to do included). */
  readonly addonUnavailable: string | undefined;
  /** Node's dgram and net bind with `reusePort` (Node 22.12 and later). */
  readonly nodeReusePort: boolean;
  /** process.version, for messages. */
  readonly nodeVersion: string;
}

/** What the choice depends on in the configuration. */
export interface UdpIoNeeds {
  readonly udpIo: UdpIoMode;
  readonly workers: number;
  /** TURN over TCP, or TLS, served: both need Node's reusePort with workers. */
  readonly tcp: boolean;
  readonly tls: boolean;
}

export type UdpIoChoice =
  | { readonly ok: true; readonly io: UdpIoKind; readonly reason: string }
  | { readonly ok: false; readonly error: string };

export function chooseUdpIo(needs: UdpIoNeeds, facts: UdpIoFacts): UdpIoChoice {
  const { udpIo: mode, workers } = needs;
  const missing = facts.addonUnavailable;
  const node = `Node ${facts.nodeVersion}`;
  if (workers > 1 && !facts.nodeReusePort) {
    // Only native UDP, served alone, can share the TURN port on this Node.
    const prefix = `--workers: ${workers} workers share the TURN ports with SO_REUSEPORT, which needs Node 22.12 or later (this is ${node})`;
    const alone = 'serve UDP alone on native I/O (--no-tcp, no TLS, --udp-io auto or native)';
    if (needs.tcp || needs.tls || mode === 'dgram')
      return { ok: false, error: `${prefix}; run with --workers 1, or ${alone}` };
    if (missing !== undefined)
      return {
        ok: false,
        error: `${prefix}, or native UDP I/O, but ${missing}; or run with --workers 1`,
      };
    return {
      ok: true,
      io: 'native',
      reason:
        mode === 'auto'
          ? `auto: the addon loaded, and on ${node} only it lets ${workers} workers share the UDP port`
          : '--udp-io native',
    };
  }
  if (mode === 'dgram') return { ok: true, io: 'dgram', reason: '--udp-io dgram' };
  if (mode === 'native') {
    if (missing !== undefined)
      return {
        ok: false,
        error: `--udp-io native: ${missing}; or run with --udp-io auto (native when it loads, else dgram) or dgram`,
      };
    return { ok: true, io: 'native', reason: '--udp-io native' };
  }
  if (missing !== undefined) return { ok: true, io: 'dgram', reason: `auto: ${missing}` };
  return { ok: true, io: 'native', reason: 'auto: the addon loaded' };
}
