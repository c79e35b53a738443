import { describe, expect, expectTypeOf, it } from 'vitest';
import type { ProbeMethod as SdkProbeMethod } from '../../sdk/index.ts';
import { probeMethods } from '../../sdk/probe-choice.ts';
import { PROBE_METHODS, type ProbeMethod } from '../../src/allocation/probe-method.ts';

const STUN = 'stun:192.0.2.1:3478';
const https = { pageProtocol: 'https:', ice: true };
const http = { pageProtocol: 'http:', ice: true };

describe('which way the SDK probes a relay', () => {
  it('names its methods exactly as the edge does', () => {
    // The package declares its own union (its types reach nothing outside sdk/); tsc checks it here.
    expectTypeOf<SdkProbeMethod>().toEqualTypeOf<ProbeMethod>();
    expect([...PROBE_METHODS].sort()).toEqual(['http', 'https', 'ice-stun', 'stun']);
  });

  it.each([
    // An HTTPS ping works from any page; ICE stays as the fallback.
    [{ id: 'a', stun: STUN, ping: 'https://relay.example.net:8443/ping' }, https, ['https', 'ice-stun']],
    [{ id: 'a', stun: STUN, ping: 'https://relay.example.net:8443/ping' }, http, ['https', 'ice-stun']],
    // An http:// ping is mixed content on an HTTPS page: ICE alone there.
    [{ id: 'a', stun: STUN, ping: 'http://192.0.2.1:9464/ping' }, https, ['ice-stun']],
    [{ id: 'a', stun: STUN, ping: 'http://192.0.2.1:9464/ping' }, http, ['http', 'ice-stun']],
    [{ id: 'a', stun: STUN }, https, ['ice-stun']],
    // Without WebRTC (a worker, Node): the ping, where allowed.
    [
      { id: 'a', stun: STUN, ping: 'http://192.0.2.1:9464/ping' },
      { pageProtocol: undefined, ice: false },
      ['http'],
    ],
    [{ id: 'a', stun: STUN, ping: 'http://192.0.2.1:9464/ping' }, { pageProtocol: 'https:', ice: false }, []],
    [{ id: 'a', ping: 'ftp://192.0.2.1/ping' }, http, []],
  ])('%j from %j: %j', (target, page, methods) => {
    expect(probeMethods(target, page)).toEqual(methods);
  });
});
