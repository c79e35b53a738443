/**
 * What a test needs from the machine (IPv6 on loopback, Chromium). A missing requirement fails the
 * test, never skips it silently: in CI (`CI` set) with a plain statement of what is missing, and
 * elsewhere with what to install or enable to run it.
 */
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';

/** Throws when `present` is false: `missing` says what, `remedy` how to get it on a workstation. */
export function requireOnHost(present: boolean, missing: string, remedy: string): void {
  if (present) return;
  if (process.env.CI) throw new Error(`${missing} (required in CI)`);
  throw new Error(`${missing}; this test needs it: ${remedy}`);
}

/** Whether a UDP socket can bind ::1. */
export async function hasIpv6Loopback(): Promise<boolean> {
  const s = dgram.createSocket('udp6');
  return new Promise((resolve) => {
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind({ address: '::1', port: 0 }, () => s.close(() => resolve(true)));
  });
}

export async function requireIpv6Loopback(): Promise<void> {
  requireOnHost(
    await hasIpv6Loopback(),
    'IPv6 loopback ::1 is not available',
    'enable IPv6 on lo (sysctl -w net.ipv6.conf.lo.disable_ipv6=0; in Docker, --sysctl net.ipv6.conf.all.disable_ipv6=0)',
  );
}

export function requireExecutable(path: string, what: string, install: string): void {
  requireOnHost(existsSync(path), `${what} not found at ${path}`, install);
}
