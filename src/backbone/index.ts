/**
 * backbone/: relay-to-relay. The frame codec relays exchange on the backbone port (data frames,
 * link probes, probe replies; docs/BACKBONE.md), its authentication with mesh keys (key ring,
 * rotation; the MAC comes from the shell), the 48-bit relay ids frames carry, the per-sender
 * replay window, and the backbone core (core.ts): peers from the directory, probing and link
 * estimates, routes with hysteresis (control-plane.ts), forwarding and delivery, as events in and
 * actions out (core-actions.ts), with its tuning in defaults.ts. Pure: no sockets, clocks, timers
 * or node:* APIs; relay/backbone.ts is the shell that sends, receives, keeps the timer and talks
 * to the directory.
 *
 * Must not import relay/ or workers/ (nor anything outside src/); may import src/crypto, src/net,
 * src/stun constants, src/measure, src/routing and src/directory types.
 */

export * from './core.ts';
export type * from './core-actions.ts';
export * from './defaults.ts';
export * from './frame.ts';
export * from './frame-mac.ts';
export * from './key-ring.ts';
export * from './relay-hash.ts';
export * from './replay-window.ts';
