/**
 * Debian's Chromium for e2e tests, driven by playwright-core, with the launch switches that keep
 * it on loopback and quiet on a machine without a network (see the shared notes on Chromium WebRTC
 * on loopback). A missing browser is a failure with the command that installs it, never a skip:
 * `npm test` installs it first (scripts/test-setup.sh).
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-extensions',
  '--disable-default-apps',
  '--no-pings',
  '--disable-domain-reliability',
  '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.* , EXCLUDE [::1]',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];

/**
 * Launches Chromium (playwright gives each launch a fresh profile of its own); throws a plain
 * message when it is not installed.
 */
export async function launchChromium(extra: readonly string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `Chromium is not installed at ${CHROMIUM}: run "sudo apt-get install chromium" (or npm test, which installs it as root), or set CHROMIUM_PATH`,
    );
  return chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, ...extra] });
}
