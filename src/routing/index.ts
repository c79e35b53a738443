/**
 * src/routing owns the backbone's path decisions: the cost of an overlay link from its measurements
 * and the load of the relay it enters (link-cost.ts), the least-cost path within a hop limit and a
 * disjoint alternate (paths.ts), and the hysteresis that keeps routes from flapping (path-choice.ts).
 *
 * Pure and runtime-free: a snapshot in, a choice and its reason out. No sockets, clocks, timers,
 * randomness or Redis; no node:* imports. It must not import relay/ or workers/: the relay measures
 * links, builds the snapshot and executes the routes; the simulation reuses the same code.
 */
export { type CostParams, DEFAULT_COST, type LinkStats, linkCost } from './link-cost.ts';
export {
  type Choice,
  type ChoiceOptions,
  type ChoiceReason,
  choosePath,
  DEFAULT_HYSTERESIS,
  DEFAULT_LOSS_DEADBAND,
  pathNoiseMs,
  type RouteChange,
  routeAll,
} from './path-choice.ts';
export {
  bestPathsFrom,
  computePaths,
  type OverlaySnapshot,
  type Path,
  type PathOptions,
  pathCost,
  sharedLinks,
} from './paths.ts';
export { RouteTable, type RouteTableOptions } from './route-table.ts';
