/**
 * What the page reads from GET /v1/admin/topology and its event stream. The shapes come from
 * src/topology (type-only imports: nothing of the edge is bundled into the page).
 */
import type { TopologyChange } from '../src/topology/changes.ts';
import type { DecisionSeries } from '../src/topology/recent.ts';
import type { Topology } from '../src/topology/topology.ts';

export type {
  LinkHealth,
  TopologyLink,
  TopologyPath,
  TopologyRelay,
  TopologyRoute,
} from '../src/topology/topology.ts';
export type { TopologyChange };

export interface TopologyBody extends Topology {
  readonly changes: readonly TopologyChange[];
  readonly decisions: DecisionSeries;
}
