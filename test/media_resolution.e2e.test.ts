/**
 * GEMINI_MEDIA_RESOLUTION end to end, offline: the setting goes through the real plugin and
 * @google/genai (whose LiveConnectConfig whitelist must not drop it, as it drops historyConfig)
 * into the setup frame's `generationConfig.mediaResolution`, and the fake accepts it; unset, the
 * frame carries none. The fake itself refuses a value the API's enum does not have (1007).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  E2E_MODELS,
  type Harness,
  type HarnessOptions,
  TEST_API_KEY,
  sent,
  startHarness,
  unscriptedCloses,
} from './support/call_harness.ts';
import { FakeGeminiServer } from '../tools/fake_gemini/server.ts';

type Setup = { generationConfig?: Record<string, unknown> };

describe.each(E2E_MODELS)('the setup frame on $id', ({ id }) => {
  let h: Harness | undefined;
  const start = async (options: HarnessOptions = {}) => {
    h = await startHarness({ ...options, env: { GEMINI_MODEL: id, ...options.env } });
    return h;
  };
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  /** The first setup frame, once the fake answered it with setupComplete (it took it). */
  const firstSetup = async ({ fake }: Harness): Promise<Setup> => {
    await fake.waitFor((f) => f.sent.some((e) => 'setupComplete' in e.msg), 5000, 'setupComplete');
    expect(unscriptedCloses(fake)).toEqual([]);
    return sent(fake, 'setup')[0] as Setup;
  };

  it('carries generationConfig.mediaResolution MEDIA_RESOLUTION_LOW with GEMINI_MEDIA_RESOLUTION=low', async () => {
    const setup = await firstSetup(await start({ env: { GEMINI_MEDIA_RESOLUTION: 'LOW' } }));
    expect(setup.generationConfig?.mediaResolution).toBe('MEDIA_RESOLUTION_LOW');
  });

  it('carries the dispatch value, gemini_realtime_config.media_resolution', async () => {
    const metadata = JSON.stringify({ gemini_realtime_config: { media_resolution: 'high' } });
    const setup = await firstSetup(await start({ metadata }));
    expect(setup.generationConfig?.mediaResolution).toBe('MEDIA_RESOLUTION_HIGH');
  });

  it('carries no mediaResolution when it is unset (the model default)', async () => {
    const setup = await firstSetup(await start());
    expect(setup.generationConfig).toBeDefined();
    expect(setup.generationConfig).not.toHaveProperty('mediaResolution');
  });
});

describe('the fake server and generationConfig.mediaResolution', () => {
  let fake: FakeGeminiServer | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  /** One raw socket: the close code, or 'setupComplete' when the fake accepted the setup. */
  const trySetup = async (mediaResolution: unknown): Promise<number | 'setupComplete'> => {
    fake ??= await FakeGeminiServer.start({ apiKey: TEST_API_KEY });
    const url = `${fake.baseUrl.replace('http', 'ws')}//ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent?key=${TEST_API_KEY}`;
    const ws = new WebSocket(url);
    return new Promise((resolve, reject) => {
      ws.on('open', () =>
        ws.send(
          JSON.stringify({
            setup: {
              model: `models/${E2E_MODELS[0].id}`,
              generationConfig: { responseModalities: ['AUDIO'], mediaResolution },
            },
          }),
        ),
      );
      ws.on('message', (data) => {
        if ('setupComplete' in JSON.parse(String(data))) {
          ws.close();
          resolve('setupComplete');
        }
      });
      ws.on('close', (code) => resolve(code));
      ws.on('error', reject);
    });
  };

  it.each([
    'MEDIA_RESOLUTION_UNSPECIFIED',
    'MEDIA_RESOLUTION_LOW',
    'MEDIA_RESOLUTION_MEDIUM',
    'MEDIA_RESOLUTION_HIGH',
  ])('accepts %s', async (value) => {
    expect(await trySetup(value)).toBe('setupComplete');
  });

  it.each(['MEDIA_RESOLUTION_ULTRA_HIGH', 'MEDIA_RESOLUTION_LOWEST', '', true])(
    'closes 1007 on %j',
    async (value) => {
      expect(await trySetup(value)).toBe(1007);
      expect(fake!.connections[0]?.closeReason).toMatch(
        /^Invalid value at 'setup\.generation_config\.media_resolution'/,
      );
    },
  );
});
