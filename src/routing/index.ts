/**
 * src/routing: link cost and overlay path computation for the backbone. Pure: snapshots in,
 * choices and reasons out; no sockets, clocks or Redis. Must not import relay/ or workers/.
 */
export { type CostParams, DEFAULT_COST, type LinkStats, linkCost } from './link-cost.ts';
export {
  type ChoiceOptions,
  type ChoiceReason,
  choosePath,
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
} from './paths.ts';
