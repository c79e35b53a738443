/**
 * Prometheus metrics of the backbone: per link (labelled by peer relay id, a bounded set) the
 * RTT, jitter and loss this relay measures; frames rejected by reason; data frames sent,
 * forwarded, delivered and handed to another thread (--workers N); datagrams the bundler sent and
 * the frames in them; frames dropped by fault injection; path changes by reason; and end-to-end
 * losses found (src/backbone/end-to-end.ts) by destination relay.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { LinkRecord } from '../src/directory/types.ts';
import { setCounter } from './metrics.ts';

export interface RelayMetricsBackbone {
  link(l: LinkRecord): void;
  rejected(reason: string): void;
  dataSent(peer: string, bytes: number): void;
  forwarded(peer: string): void;
  /** A frame for this relay passed to the thread that owns its port (--workers N). */
  handedOver(): void;
  /** A datagram sealed at the end of a loop turn (bundle.ts) holding `frames` data frames (1: alone). */
  bundleSent(frames: number): void;
  dataDelivered(delivered: boolean, bytes: number): void;
  faultDropped(peer: string): void;
  pathChanged(to: string, reason: string): void;
  /** Data toward relay `to` found lost past the path's first link; its transit relays avoided. */
  endToEndLoss(to: string): void;
  /** Read back by tests: data frames sent to each next hop. */
  readonly sentTo: Map<string, number>;
  readonly forwardedTo: Map<string, number>;
}

export function createBackboneMetrics(registry: Registry): RelayMetricsBackbone {
  const gauge = (name: string, help: string) =>
    new Gauge({ name, help, labelNames: ['peer'], registers: [registry] });
  const rtt = gauge('backbone_link_rtt_seconds', 'Smoothed round-trip time of the link to a peer relay.');
  const jitter = gauge(
    'backbone_link_jitter_seconds',
    'Interarrival jitter of probe replies from a peer relay.',
  );
  const loss = gauge('backbone_link_loss_ratio', 'Share of probes to a peer relay lost over the window.');
  const rejected = new Counter({
    name: 'backbone_frames_rejected_total',
    help: 'Backbone frames dropped: bad tag, unknown key or sender, hop limit, no route.',
    labelNames: ['reason'],
    registers: [registry],
  });
  // Per-packet counts are plain numbers, read into the counters when scraped: prom-client's inc
  // with labels hashes them on every call, which showed in the data path's profile.
  const frames = { sent: 0, forwarded: 0, delivered: 0, refused: 0, handover: 0 };
  const bytes = { sent: 0, delivered: 0 };
  new Counter({
    name: 'backbone_data_frames_total',
    help: 'Data frames by what this relay did with them.',
    labelNames: ['action'],
    registers: [registry],
    collect() {
      for (const [action, n] of Object.entries(frames)) setCounter(this, n, { action });
    },
  });
  new Counter({
    name: 'backbone_data_bytes_total',
    help: 'Payload bytes carried over the backbone, by action.',
    labelNames: ['action'],
    registers: [registry],
    collect() {
      for (const [action, n] of Object.entries(bytes)) setCounter(this, n, { action });
    },
  });
  const faults = new Counter({
    name: 'backbone_fault_drops_total',
    help: 'Frames dropped by fault injection, by peer.',
    labelNames: ['peer'],
    registers: [registry],
  });
  // Datagrams from the bundler and the data frames in them: frames / datagrams is the mean bundle.
  const bundled = { datagrams: 0, frames: 0 };
  new Counter({
    name: 'backbone_bundle_datagrams_total',
    help: 'Datagrams the bundler sent at the end of an event-loop turn (one data frame alone, or a bundle).',
    registers: [registry],
    collect() {
      setCounter(this, bundled.datagrams);
    },
  });
  new Counter({
    name: 'backbone_bundled_frames_total',
    help: 'Data frames in the datagrams the bundler sent: over backbone_bundle_datagrams_total, frames per datagram.',
    registers: [registry],
    collect() {
      setCounter(this, bundled.frames);
    },
  });
  const paths = new Counter({
    name: 'backbone_path_changes_total',
    help: 'Changes of the chosen path to a destination relay, by reason.',
    labelNames: ['reason'],
    registers: [registry],
  });
  const endToEnd = new Counter({
    name: 'backbone_end_to_end_losses_total',
    help: 'Losses found end to end toward a destination relay (the path’s transit relays are then avoided for it), by destination.',
    labelNames: ['peer'],
    registers: [registry],
  });
  const sentTo = new Map<string, number>();
  const forwardedTo = new Map<string, number>();
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  return {
    sentTo,
    forwardedTo,
    link(l) {
      rtt.set({ peer: l.to }, l.rttMs / 1000);
      jitter.set({ peer: l.to }, l.jitterMs / 1000);
      loss.set({ peer: l.to }, l.lossRate);
    },
    rejected: (reason) => rejected.inc({ reason }),
    dataSent(peer, n) {
      bump(sentTo, peer);
      frames.sent++;
      bytes.sent += n;
    },
    forwarded(peer) {
      bump(forwardedTo, peer);
      frames.forwarded++;
    },
    handedOver() {
      frames.handover++;
    },
    bundleSent(n) {
      bundled.datagrams++;
      bundled.frames += n;
    },
    dataDelivered(delivered, n) {
      if (delivered) {
        frames.delivered++;
        bytes.delivered += n;
      } else frames.refused++;
    },
    faultDropped: (peer) => faults.inc({ peer }),
    pathChanged: (_to, reason) => paths.inc({ reason }),
    endToEndLoss: (to) => endToEnd.inc({ peer: to }),
  };
}
