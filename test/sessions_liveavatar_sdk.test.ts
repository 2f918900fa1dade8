/**
 * A frontend written for LiveAvatar, pointed at the session API: LiveAvatar's own web SDK
 * (@heygen/liveavatar-web-sdk, its ESM build) runs in headless Chromium on a page of another
 * origin, as a product's frontend would, with only its `apiUrl` changed. Its `start()` calls our
 * POST /v1/sessions/start across origins (with credentials, as it always sends them), accepts
 * the answer (the SDK checks `code === 1000`), and connects livekit-client to the returned URL
 * with the returned token; the fake LiveKit API records that join and refuses it (no media
 * server). The SDK then cleans up with POST /v1/sessions/stop, which ends the session.
 *
 * The SDK needs the `events` package as a bare import; the page maps it to an ES module made
 * from the package's CommonJS file, as a bundler would.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LiveAvatarSession as Sdk } from '@heygen/liveavatar-web-sdk';
import type { Browser } from 'playwright-core';
import type { SessionRecord } from '../src/sessions/sessions.ts';
import { haveChromium, launchChromium } from './support/chromium.ts';
import {
  API_KEY,
  type Harness,
  SESSION_JSON,
  post,
  startHarness,
} from './support/sessions_harness.ts';

const require = createRequire(import.meta.url);
// The package exports only its lib/ entry; its browser build is in dist/ beside it.
const SDK = readFileSync(
  path.join(path.dirname(require.resolve('@heygen/liveavatar-web-sdk')), '../dist/index.esm.js'),
);
const EVENTS_MODULE = `const module = { exports: {} };
(function (module, exports) {
${readFileSync(require.resolve('events/events.js'), 'utf8')}
})(module, module.exports);
export const EventEmitter = module.exports;
export default module.exports;
`;
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>LiveAvatar frontend</title>
<script type="importmap">{"imports": {"events": "/events.mjs"}}</script>
<script type="module">
  import { LiveAvatarSession } from '/liveavatar-web-sdk.mjs';
  window.LiveAvatarSession = LiveAvatarSession;
  document.title = 'ready';
</script></head><body></body></html>`;

/** A frontend's own origin: another port on this machine. */
async function serveFrontend(): Promise<{ server: Server; url: string }> {
  const files: Record<string, [string, string | Buffer]> = {
    '/': ['text/html', PAGE],
    '/liveavatar-web-sdk.mjs': ['text/javascript', SDK],
    '/events.mjs': ['text/javascript', EVENTS_MODULE],
  };
  const server = createServer((req, res) => {
    const file = files[req.url ?? ''];
    if (!file) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': file[0] }).end(file[1]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://localhost:${(server.address() as AddressInfo).port}` };
}

describe.skipIf(!haveChromium('sessions_liveavatar_sdk.test.ts'))(
  "LiveAvatar's web SDK against the session API",
  () => {
    let browser: Browser;
    let frontend: { server: Server; url: string };
    let h: Harness;

    beforeAll(async () => {
      frontend = await serveFrontend();
      browser = await launchChromium();
      h = await startHarness({ env: { SESSIONS_CORS_ORIGINS: frontend.url } });
    });

    afterAll(async () => {
      await browser?.close();
      await h?.close();
      await new Promise((resolve) => frontend?.server.close(resolve));
    });

    it('starts the session, joins with the returned URL and token, and stops it', async () => {
      // The product's backend: the token call, with the API key.
      const issued = await post(
        `${h.url}/v1/sessions/token`,
        { 'x-api-key': API_KEY },
        SESSION_JSON,
      );
      const sessionId = issued.body.data.session_id as string;
      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (error) => pageErrors.push(error.message));
      await page.goto(`${frontend.url}/`);
      await page.waitForFunction(() => document.title === 'ready');

      const ended = new Promise<SessionRecord>((resolve) =>
        h.server.sessions.once('ended', resolve),
      );
      // The frontend: LiveAvatar's SDK, with only apiUrl changed.
      const outcome = await page.evaluate(
        async ({ token, apiUrl }) => {
          const { LiveAvatarSession } = window as unknown as { LiveAvatarSession: typeof Sdk };
          const session = new LiveAvatarSession(token, { apiUrl });
          try {
            await session.start();
            return { started: true, error: '', maxSessionDuration: session.maxSessionDuration };
          } catch (error) {
            return {
              started: false,
              error: String((error as Error).message),
              maxSessionDuration: session.maxSessionDuration,
            };
          }
        },
        { token: issued.body.data.session_token as string, apiUrl: h.url },
      );

      // It got past the API (a refused or unreadable answer is "API request failed") to the join.
      expect(outcome.error).not.toMatch(/API request failed/);
      expect(outcome.started).toBe(false);
      expect(outcome.maxSessionDuration).toBe(1200);
      const room = h.fake.createdRooms[0]!;
      expect(room.name).toBe(`session-${sessionId}`);
      expect(h.fake.joins.length).toBeGreaterThan(0);
      expect(h.fake.joins[0]!.claims?.video?.room).toBe(room.name);
      expect(await ended).toMatchObject({ id: sessionId, endReason: 'USER_CLOSED' });
      expect(h.fake.deletedRooms).toEqual([room.name]);
      expect(pageErrors).toEqual([]);
      await page.close();
    });
  },
);
