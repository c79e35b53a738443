// Runs node-turn 0.0.6 (the reference peer) in its own process, configured from argv as JSON,
// so tests and benchmarks can count its sockets and kill it without touching the test runner.
const Turn = require('node-turn');

const opts = JSON.parse(process.argv[2] || '{}');
const server = new Turn({
  listeningIps: [opts.listen],
  relayIps: [opts.listen],
  listeningPort: opts.port,
  minPort: opts.minPort,
  maxPort: opts.maxPort,
  authMech: 'long-term',
  credentials: opts.users,
  realm: opts.realm,
  defaultAllocatetLifetime: opts.lifetime,
  maxAllocateLifetime: opts.lifetime,
  debugLevel: opts.debugLevel || 'OFF',
  log: (...args) => process.stderr.write(`${args.join(' ')}\n`),
});
server.start();
// node-turn binds asynchronously and offers no ready event; announce after a tick.
setTimeout(() => process.stdout.write('node-turn ready\n'), 200);
process.on('SIGTERM', () => {
  server.stop();
  process.exit(0);
});
