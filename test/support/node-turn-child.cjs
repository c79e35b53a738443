// Runs node-turn 0.0.6 (the reference peer of DESIGN.md) in its own process, configured from argv
// as JSON, so tests and benchmarks can count its sockets and kill it without touching the test
// runner. Its log goes to stderr; stdout carries one line, "node-turn ready", once every listening
// socket is bound (or the process exits with 1 when one fails to bind).
//
// node-turn's own option names, including its misspellings (lib/server.js):
//   listeningIps, listeningPort, relayIps, minPort, maxPort, authMech ('none' | 'short-term' |
//   'long-term'), credentials ({ user: password }), realm, debugLevel (ALL TRACE DEBUG INFO WARN
//   ERROR FATAL OFF), log, maxAllocateLifetime, defaultAllocatetLifetime (sic).
const Turn = require('node-turn');

const opts = JSON.parse(process.argv[2] || '{}');
const config = {
  listeningIps: [opts.listen],
  relayIps: [opts.listen],
  listeningPort: opts.port,
  minPort: opts.minPort,
  maxPort: opts.maxPort,
  authMech: 'long-term',
  credentials: opts.users,
  realm: opts.realm,
  debugLevel: opts.debugLevel || 'OFF',
  log: (...args) => process.stderr.write(`${args.map(String).join(' ')}\n`),
};
if (opts.lifetime !== undefined) {
  config.defaultAllocatetLifetime = opts.lifetime;
  config.maxAllocateLifetime = opts.lifetime;
}
const server = new Turn(config);
server.start();

// node-turn has no ready event; its listening sockets are in server.network.sockets.
let pending = server.network.sockets.length;
for (const socket of server.network.sockets) {
  socket.once('listening', () => {
    pending -= 1;
    if (pending === 0) process.stdout.write('node-turn ready\n');
  });
  socket.once('error', (err) => {
    process.stderr.write(`node-turn could not listen: ${err.message}\n`);
    process.exit(1);
  });
}

const shutdown = () => {
  server.stop();
  process.exit(0);
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
