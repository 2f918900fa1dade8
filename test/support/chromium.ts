/**
 * Debian's headless Chromium for browser tests, driven by playwright-core (which downloads no
 * browser of its own). Tests skip, with the reason logged, where it is not installed; `.ci/run`
 * installs it when apt is there.
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Whether Chromium is here; logs why `file`'s tests are skipped when it is not. */
export function haveChromium(file: string): boolean {
  if (existsSync(CHROMIUM)) return true;
  console.warn(`${file} skipped: ${CHROMIUM} is missing (apt-get install chromium)`);
  return false;
}

/**
 * As on the machines' notes: no background traffic to Google's hosts on a closed network, and
 * a fake microphone and camera that need no permission prompt.
 */
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
}
