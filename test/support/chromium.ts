/**
 * Debian's Chromium for browser tests, driven by playwright-core, with the switches that keep it
 * quiet on a machine without a network and on loopback (see the shared notes on Chromium WebRTC
 * on loopback): no outside look-ups, no mDNS host names, a fresh profile.
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export const chromiumPresent = (): boolean => existsSync(CHROMIUM);

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
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
    ],
  });
}
