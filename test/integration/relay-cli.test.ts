import { describe, expect, it } from 'vitest';
import { MessageClass } from '../../src/stun/constants.ts';
import { freePort } from '../support/ports.ts';
import { runRelayCli, startRelayProcess } from '../support/relay.ts';
import { errorCodeOf } from '../support/stun-builders.ts';
import { TurnTestClient } from '../support/turn-client.ts';

describe('relay command line', () => {
  it('lists every option with --help', async () => {
    const { code, stdout } = await runRelayCli(['--help']);
    expect(code).toBe(0);
    for (const flag of [
      '--listen',
      '--turn-port',
      '--tls-port',
      '--tls-cert',
      '--tls-key',
      '--http-port',
      '--secret',
      '--user',
      '--realm',
      '--allow-peer',
      '--min-port',
      '--max-port',
      '--external-ip',
      '--discover-external-ip',
      '--discover-timeout',
      '--public-host',
      '--tcp-port',
      '--no-tls-watch',
    ]) {
      expect(stdout).toContain(flag);
    }
  });

  it.each([
    [['--turn-port', 'abc'], '--turn-port'],
    [['--tls-cert', '/nonexistent/cert.pem', '--tls-key', '/nonexistent/key.pem'], '--tls-cert'],
    [['--allow-peer', '300.0.0.0/8'], '--allow-peer'],
    [['--bogus'], '--bogus'],
    [['--min-port', '60000', '--max-port', '50000'], '--min-port'],
    [['--public-host', '192.0.2.1'], '--public-host'],
  ])('exits 2 with one line naming the option for %j', async (args, flag) => {
    const { code, stderr, stdout } = await runRelayCli(args);
    expect(code).toBe(2);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(flag);
    expect(stdout).toBe('');
  });

  it('takes its options from the environment too', async () => {
    const { code, stderr } = await runRelayCli([], { RELAY_TURN_PORT: '99999' });
    expect(code).toBe(2);
    expect(stderr).toContain('RELAY_TURN_PORT');
  });

  it('drains on SIGTERM: new allocations get 508, the running one keeps working, then it exits 0', async () => {
    const port = await freePort('both');
    const http = await freePort('tcp');
    const relay = await startRelayProcess([
      '--turn-port',
      String(port),
      '--http-port',
      String(http),
      '--user',
      'a:b',
      '--realm',
      'r',
      '--drain-timeout',
      '2',
      '--log-level',
      'warn',
    ]);
    const server = { family: 4 as const, address: '127.0.0.1', port };
    const cred = { username: 'a', password: 'b', realm: 'r' };
    const c = await TurnTestClient.connect({ transport: 'udp', server, cred });
    expect((await c.allocate()).cls).toBe(MessageClass.SuccessResponse);
    const ready = await fetch(`http://127.0.0.1:${http}/readyz`);
    expect(ready.status).toBe(200);

    relay.kill('SIGTERM');
    // Not ready while it drains (2 s here), well before it exits: polled, not one sample.
    const start = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - start < 2000) {
      await new Promise((r) => setTimeout(r, 20));
      status = await fetch(`http://127.0.0.1:${http}/readyz`).then(
        (r) => r.status,
        () => 0, // gone: the assertion below says so
      );
    }
    expect(status).toBe(503);
    expect(relay.child.exitCode).toBeNull();
    const late = await TurnTestClient.connect({ transport: 'udp', server, cred });
    expect(errorCodeOf(await late.allocate())).toBe(508);
    expect((await c.refresh(600)).cls).toBe(MessageClass.SuccessResponse);
    expect(await relay.exited).toBe(0);
    await Promise.all([c.close(), late.close()]);
  });
});
