import { describe, expect, it } from 'vitest';
import { chooseUdpIo, type UdpIoFacts, type UdpIoNeeds } from '../../relay/udp-io-choice.ts';

const NOT_BUILT = 'the native addon is not built: run npm run build:native';
const LOADS: UdpIoFacts = { addonUnavailable: undefined, nodeReusePort: true, nodeVersion: 'v24.1.0' };
const MISSING: UdpIoFacts = { ...LOADS, addonUnavailable: NOT_BUILT };
const NODE20: UdpIoFacts = { addonUnavailable: undefined, nodeReusePort: false, nodeVersion: 'v20.20.2' };
const NODE20_MISSING: UdpIoFacts = { ...NODE20, addonUnavailable: NOT_BUILT };

const needs = (over: Partial<UdpIoNeeds> = {}): UdpIoNeeds => ({
  udpIo: 'auto',
  workers: 1,
  tcp: true,
  tls: false,
  ...over,
});

const WORKERS_NODE20 =
  '--workers: 2 workers share the TURN ports with SO_REUSEPORT, which needs Node 22.12 or later (this is Node v20.20.2)';

describe('chooseUdpIo', () => {
  it.each([
    ['auto takes native where the addon loads', needs(), LOADS, 'native', 'auto: the addon loaded'],
    [
      'auto takes dgram where the addon is missing, and says why',
      needs(),
      MISSING,
      'dgram',
      `auto: ${NOT_BUILT}`,
    ],
    [
      'auto takes native beside TLS with workers where Node shares ports',
      needs({ workers: 4, tls: true }),
      LOADS,
      'native',
      'auto: the addon loaded',
    ],
    [
      'auto takes native for workers serving UDP alone on a Node without reusePort',
      needs({ workers: 2, tcp: false }),
      NODE20,
      'native',
      'auto: the addon loaded, and on Node v20.20.2 only it lets 2 workers share the UDP port',
    ],
    [
      'auto takes dgram for one worker on Node 20 without the addon',
      needs({ tls: true }),
      NODE20_MISSING,
      'dgram',
      `auto: ${NOT_BUILT}`,
    ],
    ['dgram stays dgram where the addon loads', needs({ udpIo: 'dgram' }), LOADS, 'dgram', '--udp-io dgram'],
    [
      'dgram stays dgram with workers where Node shares ports',
      needs({ udpIo: 'dgram', workers: 2 }),
      LOADS,
      'dgram',
      '--udp-io dgram',
    ],
    [
      'native takes native where the addon loads',
      needs({ udpIo: 'native' }),
      LOADS,
      'native',
      '--udp-io native',
    ],
    [
      'native takes native for workers serving UDP alone on a Node without reusePort',
      needs({ udpIo: 'native', workers: 2, tcp: false }),
      NODE20,
      'native',
      '--udp-io native',
    ],
  ] as const)('%s', (_name, n, facts, io, reason) => {
    expect(chooseUdpIo(n, facts)).toEqual({ ok: true, io, reason });
  });

  it.each([
    [
      'native without the addon',
      needs({ udpIo: 'native' }),
      MISSING,
      `--udp-io native: ${NOT_BUILT}; or run with --udp-io auto (native when it loads, else dgram) or dgram`,
    ],
    [
      'workers with TCP on a Node without reusePort',
      needs({ workers: 2 }),
      NODE20,
      `${WORKERS_NODE20}; run with --workers 1, or serve UDP alone on native I/O (--no-tcp, no TLS, --udp-io auto or native)`,
    ],
    [
      'workers with TLS on a Node without reusePort',
      needs({ workers: 2, tcp: false, tls: true }),
      NODE20,
      `${WORKERS_NODE20}; run with --workers 1, or serve UDP alone on native I/O (--no-tcp, no TLS, --udp-io auto or native)`,
    ],
    [
      'workers on dgram on a Node without reusePort',
      needs({ udpIo: 'dgram', workers: 2, tcp: false }),
      NODE20,
      `${WORKERS_NODE20}; run with --workers 1, or serve UDP alone on native I/O (--no-tcp, no TLS, --udp-io auto or native)`,
    ],
    [
      'workers, UDP alone, no reusePort and no addon',
      needs({ workers: 2, tcp: false }),
      NODE20_MISSING,
      `${WORKERS_NODE20}, or native UDP I/O, but ${NOT_BUILT}; or run with --workers 1`,
    ],
    [
      'workers on native, UDP alone, no reusePort and no addon',
      needs({ udpIo: 'native', workers: 2, tcp: false }),
      NODE20_MISSING,
      `${WORKERS_NODE20}, or native UDP I/O, but ${NOT_BUILT}; or run with --workers 1`,
    ],
  ] as const)('refuses %s with one line that says what to do', (_name, n, facts, error) => {
    expect(chooseUdpIo(n, facts)).toEqual({ ok: false, error });
  });
});
