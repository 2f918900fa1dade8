/**
 * The session API's demo page in headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core): it renders, starts a session through the API with the JSON in its editor,
 * and tries to join the room with the returned URL and client token. The fake LiveKit API
 * records that join attempt and refuses it (joining needs a real LiveKit server), and the page
 * then stops the session it could not join. Skipped, with the reason logged, where Chromium is
 * not installed (`.ci/run` installs it when apt is available).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { SessionRecord } from '../src/sessions/sessions.ts';
import type { FakeJoinAttempt } from '../tools/fake_livekit_api/server.ts';
import { haveChromium, launchChromium } from './support/chromium.ts';
import { API_KEY, type Harness, startHarness } from './support/sessions_harness.ts';

describe.skipIf(!haveChromium('sessions_demo_page.test.ts'))(
  'demo page in headless Chromium',
  () => {
    let browser: Browser;
    let h: Harness;
    let page: Page;
    let pageErrors: string[];

    beforeAll(async () => {
      browser = await launchChromium();
    });

    afterAll(async () => {
      await browser?.close();
    });

    afterEach(async () => {
      await page?.close();
      await h?.close();
    });

    async function openPage(): Promise<void> {
      h = await startHarness();
      page = await browser.newPage();
      pageErrors = [];
      page.on('pageerror', (error) => pageErrors.push(error.message));
      await page.goto(`${h.url}/`);
    }

    it('renders, starts a session, tries to join with the returned URL and token, then stops it', async () => {
      await openPage();
      expect(await page.title()).toBe('Gemini avatar: session demo');
      expect(await page.locator('#session-json').inputValue()).toContain('"avatar_id"');
      expect(await page.locator('#stop').isDisabled()).toBe(true);

      const joined = new Promise<FakeJoinAttempt>((resolve) => h.fake.once('join', resolve));
      const ended = new Promise<SessionRecord>((resolve) =>
        h.server.sessions.once('ended', resolve),
      );
      await page.fill('#api-key', API_KEY);
      await page.click('#start');

      const attempt = await joined;
      expect(h.fake.createdRooms).toHaveLength(1);
      const room = h.fake.createdRooms[0]!;
      // The page joined the room it was given, with the client token the start returned.
      expect(attempt.claims?.video?.room).toBe(room.name);
      expect(attempt.claims?.video?.roomJoin).toBe(true);
      const shownId = await page.locator('#session-id').textContent();
      expect(room.name).toBe(`session-${shownId}`);
      expect(await page.locator('#livekit-url').textContent()).toBe(h.fake.url);

      // The join fails (no media server), the page says so and stops the session.
      await page.locator('#status.error').waitFor();
      expect(await page.locator('#status').textContent()).toMatch(/^Could not join the room: /);
      const record = await ended;
      expect(record).toMatchObject({ id: shownId, endReason: 'USER_CLOSED' });
      expect(h.fake.deletedRooms).toEqual([room.name]);
      expect(await page.locator('#start').isEnabled()).toBe(true);
      expect(pageErrors).toEqual([]);
    });

    it('shows the API refusal for a session JSON the validator rejects, and creates nothing', async () => {
      await openPage();
      await page.fill('#api-key', API_KEY);
      await page.fill('#session-json', '{"gemini_realtime_config": {"voice": "Bob"}}');
      await page.click('#start');
      await page.locator('#status.error').waitFor();
      expect(await page.locator('#status').textContent()).toMatch(
        /^Could not start: dispatch metadata: gemini_realtime_config\.voice: "Bob"/,
      );
      expect(h.fake.calls).toEqual([]);
      expect(pageErrors).toEqual([]);
    });
  },
);
