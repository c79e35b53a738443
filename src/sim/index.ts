/**
 * src/sim owns the world simulation's model: the seeded world (cities, relays, prefixes), the
 * latency model of the Internet and the backbone, and the phases that run the project's own
 * ranking (src/allocation), measurement (src/measure) and routing (src/routing) code on it, with
 * the figures and the report they yield. docs/SIMULATION.md describes the model and the results.
 *
 * Pure and runtime-free like the rest of src/: no node:* imports, no clocks, no sockets, no Redis,
 * no Math.random; simulated time and seeded randomness are parameters. It must not import relay/
 * or workers/. Loading the city data set, threads, progress bars and files belong to
 * scripts/sim.ts.
 */
export { runAllocations, STRATEGIES, type Strategy } from './allocations.ts';
export { parseSimArgs, USAGE } from './args.ts';
export { runBackbone, runFailover, trueSnapshot } from './backbone.ts';
export { CALL_OPTIONS, type CallOption, runCalls } from './calls.ts';
export { DEFAULT_SIM_CONFIG, type SimConfig, simConfig } from './config.ts';
export { Internet } from './internet.ts';
export { buildReport, summaryText } from './report.ts';
export { prepare, runSimulation, type SimFigures } from './run.ts';
export { buildWorld, type City, type World } from './world.ts';
