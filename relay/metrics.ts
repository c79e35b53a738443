/**
 * Prometheus metrics of one relay (prom-client), in a registry of its own so several relays can
 * run in one process (tests). No per-user labels. Per-packet counters are plain numbers kept by
 * the engine and the sockets; they are read when Prometheus scrapes, not incremented through
 * prom-client on the data path.
 */
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

import type { TrafficCounters } from '../src/turn/allocation.ts';
import type { NativeUdpStats } from './udp-io.ts';

export interface RelayMetrics {
  readonly registry: Registry;
  readonly allocationsCreated: Counter<string>;
  readonly allocationsFailed: Counter<'reason'>;
  readonly allocationsEnded: Counter<'reason'>;
  readonly requestErrors: Counter<'method' | 'code'>;
  readonly requestsSucceeded: Counter<'method' | 'credential'>;
  readonly authFailures: Counter<'reason'>;
}

export interface MetricSources {
  allocationsActive(): number;
  drops(): Readonly<Record<string, number>>;
  relaySocketsOpen(): number;
  draining(): boolean;
  /** Totals since start, over ended and live allocations. */
  traffic(): TrafficCounters;
  /** What was refused before it cost anything (connections, oversized or unanswered requests), by reason. */
  refusals?(): Readonly<Record<string, number>>;
  /** TCP and TLS connections currently open. */
  streamConnections?(): number;
  /** Ports held for EVEN-PORT reservations. */
  reservations?(): number;
  /** Client messages handed to the engine since start, by transport (after framing on streams). */
  parsed(): Readonly<Record<string, number>>;
  /** The native UDP addon's counts on this thread (--udp-io native), absent with dgram. */
  nativeUdp?(): NativeUdpStats;
}

/** Sets a counter to an absolute value read from elsewhere, at scrape time. */
export function setCounter(c: Counter<string>, value: number, labels?: Record<string, string>): void {
  if (labels) {
    c.remove(labels);
    c.inc(labels, value);
  } else {
    c.reset();
    c.inc(value);
  }
}

export function createRelayMetrics(sources: MetricSources, withDefaults = false): RelayMetrics {
  const registry = new Registry();
  if (withDefaults) collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'turn_allocations_active',
    help: 'Allocations currently active on this relay.',
    registers: [registry],
    collect() {
      this.set(sources.allocationsActive());
    },
  });
  new Gauge({
    name: 'turn_relay_sockets_open',
    help: 'Relayed UDP sockets currently open.',
    registers: [registry],
    collect() {
      this.set(sources.relaySocketsOpen());
    },
  });
  new Gauge({
    name: 'turn_draining',
    help: '1 while the relay refuses new allocations and waits for existing ones to end.',
    registers: [registry],
    aggregator: 'max',
    collect() {
      this.set(sources.draining() ? 1 : 0);
    },
  });
  new Counter({
    name: 'turn_relayed_packets_total',
    help: 'Application packets relayed, by direction.',
    labelNames: ['direction'],
    registers: [registry],
    collect() {
      const t = sources.traffic();
      setCounter(this, t.packetsToPeer, { direction: 'client_to_peer' });
      setCounter(this, t.packetsToClient, { direction: 'peer_to_client' });
    },
  });
  new Counter({
    name: 'turn_relayed_bytes_total',
    help: 'Application payload bytes relayed, by direction.',
    labelNames: ['direction'],
    registers: [registry],
    collect() {
      const t = sources.traffic();
      setCounter(this, t.bytesToPeer, { direction: 'client_to_peer' });
      setCounter(this, t.bytesToClient, { direction: 'peer_to_client' });
    },
  });
  new Counter({
    name: 'turn_dropped_packets_total',
    help: 'Packets dropped on the data path, by reason.',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      for (const [reason, n] of Object.entries(sources.drops())) setCounter(this, n, { reason });
    },
  });
  if (sources.refusals) {
    const read = sources.refusals;
    new Counter({
      name: 'turn_refused_total',
      help: 'Connections closed and requests dropped or refused by the abuse limits, by reason.',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        for (const [reason, n] of Object.entries(read())) setCounter(this, n, { reason });
      },
    });
  }
  if (sources.streamConnections) {
    const read = sources.streamConnections;
    new Gauge({
      name: 'turn_stream_connections',
      help: 'TCP and TLS client connections currently open.',
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  }
  if (sources.reservations) {
    const read = sources.reservations;
    new Gauge({
      name: 'turn_reservations_held',
      help: 'Relayed ports held for EVEN-PORT reservations (RFC 8656 §7.2); they count against the quotas.',
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  }
  new Counter({
    name: 'turn_messages_parsed_total',
    help: 'Client messages (STUN and ChannelData) handed to the TURN engine, by transport: UDP datagrams, TCP and TLS frames.',
    labelNames: ['transport'],
    registers: [registry],
    collect() {
      for (const [transport, n] of Object.entries(sources.parsed())) setCounter(this, n, { transport });
    },
  });
  if (sources.nativeUdp) createNativeUdpMetrics(registry, sources.nativeUdp);
  return {
    registry,
    allocationsCreated: new Counter({
      name: 'turn_allocations_created_total',
      help: 'Allocations created.',
      registers: [registry],
    }),
    allocationsFailed: new Counter({
      name: 'turn_allocations_failed_total',
      help: 'Allocate requests refused, by reason.',
      labelNames: ['reason'],
      registers: [registry],
    }),
    allocationsEnded: new Counter({
      name: 'turn_allocations_ended_total',
      help: 'Allocations ended, by reason.',
      labelNames: ['reason'],
      registers: [registry],
    }),
    requestErrors: new Counter({
      name: 'turn_request_errors_total',
      help: 'Error responses sent, by method and STUN error code.',
      labelNames: ['method', 'code'],
      registers: [registry],
    }),
    requestsSucceeded: new Counter({
      name: 'turn_requests_succeeded_total',
      help: 'Authenticated requests answered with success, by method and whether their credential had expired (requests on an allocation outlive it).',
      labelNames: ['method', 'credential'],
      registers: [registry],
    }),
    authFailures: new Counter({
      name: 'turn_auth_failures_total',
      help: 'Requests that failed authentication, by reason.',
      labelNames: ['reason'],
      registers: [registry],
    }),
  };
}

export interface TlsMetrics {
  readonly reloads: Counter<'result'>;
}

/** The TLS certificate's metrics, registered once the relay serves TLS. */
export function createTlsMetrics(registry: Registry, notAfterSeconds: () => number): TlsMetrics {
  new Gauge({
    name: 'turn_tls_certificate_expiry_timestamp_seconds',
    help: 'When the TLS certificate in use expires (its notAfter), UNIX seconds: alert well before it.',
    registers: [registry],
    aggregator: 'min',
    collect() {
      this.set(notAfterSeconds());
    },
  });
  return {
    reloads: new Counter({
      name: 'turn_tls_certificate_reloads_total',
      help: 'Changed certificate files read on SIGHUP or a file change, by result (reloaded, refused).',
      labelNames: ['result'],
      registers: [registry],
      // Every worker reads the same files: one reload of the relay, not one per worker.
      aggregator: 'max',
    }),
  };
}

/**
 * The native UDP addon's own counts (--udp-io native). They are the thread's (one addon state per
 * Node environment), read at scrape time; every drop is here, none is thrown.
 */
function createNativeUdpMetrics(registry: Registry, read: () => NativeUdpStats): void {
  new Counter({
    name: 'turn_native_udp_datagrams_total',
    help: 'UDP datagrams through the native addon, by direction (received: handed to JS; sent: accepted by the kernel).',
    labelNames: ['direction'],
    registers: [registry],
    collect() {
      const s = read();
      setCounter(this, s.received, { direction: 'received' });
      setCounter(this, s.sent, { direction: 'sent' });
    },
  });
  new Counter({
    name: 'turn_native_udp_syscalls_total',
    help: 'recvmmsg batches handed to JS and sendmmsg/sendto calls made by the native addon.',
    labelNames: ['call'],
    registers: [registry],
    collect() {
      const s = read();
      setCounter(this, s.batches, { call: 'recv_batch' });
      setCounter(this, s.sendCalls, { call: 'send' });
    },
  });
  new Counter({
    name: 'turn_native_udp_drops_total',
    help: 'Datagrams the native addon dropped, by reason: oversized (larger than its receive slot, which holds the largest UDP payload: a guard), send_buffer_full, send_error, bad_input (a send with a closed socket or a bad address), recv_error.',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      const s = read();
      setCounter(this, s.dropOversized, { reason: 'oversized' });
      setCounter(this, s.dropSendFull, { reason: 'send_buffer_full' });
      setCounter(this, s.dropSendError, { reason: 'send_error' });
      setCounter(this, s.dropBadInput, { reason: 'bad_input' });
      setCounter(this, s.recvErrors, { reason: 'recv_error' });
    },
  });
}
