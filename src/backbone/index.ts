/**
 * backbone/: the inter-relay frame codec. Owns the wire format relays exchange on the backbone port
 * (data frames, link probes, probe replies; docs/BACKBONE.md), its authentication with mesh keys
 * (key ring, rotation) and the 48-bit relay ids frames carry. Pure: no sockets, clocks, timers or
 * node:* APIs; the relay shell sends, receives, counts drops and keeps any replay state.
 *
 * Must not import relay/ or workers/ (nor anything outside src/); may import src/crypto, src/net
 * and src/stun constants.
 */

export * from './frame.ts';
export * from './key-ring.ts';
export * from './relay-hash.ts';
