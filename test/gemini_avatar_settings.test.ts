/**
 * Picking a Gemini Live Avatar with `avatar_id`, and every way it is refused before anything
 * connects: one line naming the field, the model or file, and the fix.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Modality } from '@google/genai';
import { llm, voice } from '@livekit/agents';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callAvatarFor, checkAvatar } from '../src/avatar/from_settings.ts';
import { GeminiFaceAvatar } from '../src/avatar/gemini/call_avatar.ts';
import { ConfigError } from '../src/config/errors.ts';
import { type Env, loadSettings } from '../src/config/settings.ts';
import { settingsForDispatch } from '../src/dispatch_settings.ts';
import { createRealtimeModel, realtimeOptions } from '../src/gemini/model_options.ts';
import { liveConnectConfig } from '../src/gemini/setup_config.ts';
import { quietLogger } from './support/call_harness.ts';

const VERTEX: Env = {
  GOOGLE_GENAI_USE_VERTEXAI: 'true',
  GOOGLE_CLOUD_PROJECT: 'p',
  GEMINI_MODEL: 'gemini-3.8-live',
};
const GEMINI_API: Env = { GOOGLE_API_KEY: 'k' };

let avatars: string;

/** A folder of avatars/ with a Gemini manifest (and a portrait of `size`, when given). */
async function geminiFolder(
  name: string,
  manifest: Record<string, unknown>,
  portrait?: { width: number; height: number; format?: 'png' | 'jpeg' },
): Promise<void> {
  const dir = path.join(avatars, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ kind: 'gemini', ...manifest }));
  if (!portrait) return;
  const { width, height, format = 'png' } = portrait;
  const image = sharp({ create: { width, height, channels: 3, background: '#8899aa' } });
  await image[format]().toFile(path.join(dir, `portrait.${format === 'png' ? 'png' : 'jpg'}`));
}

function settings(env: Env) {
  return loadSettings({ ...env, AVATARS_DIR: avatars });
}

/** The one line a settings check refused with. */
function refusal(check: () => void): string {
  try {
    check();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const { problems } = error as ConfigError;
    expect(problems).toHaveLength(1);
    return problems[0]!;
  }
  throw new Error('not refused');
}

beforeAll(async () => {
  quietLogger();
  avatars = mkdtempSync(path.join(tmpdir(), 'gemini-avatars-'));
  await geminiFolder('host', { name: 'Our host', avatar_name: 'Kira', video_bitrate_bps: 900_000 });
  await geminiFolder(
    'portrait-ok',
    { name: 'Ada', portrait: 'portrait.png' },
    { width: 720, height: 1280 },
  );
  await geminiFolder(
    'portrait-jpeg',
    { name: 'Ada', portrait: 'portrait.jpg' },
    { width: 1080, height: 1920, format: 'jpeg' },
  );
  await geminiFolder(
    'square',
    { name: 'Sq', portrait: 'portrait.png' },
    { width: 800, height: 800 },
  );
  await geminiFolder(
    'small',
    { name: 'Sm', portrait: 'portrait.png' },
    { width: 360, height: 640 },
  );
  await geminiFolder('neither', { name: 'Nobody' });
});

afterAll(() => rmSync(avatars, { recursive: true, force: true }));

describe('a Gemini Live Avatar by avatar_id', () => {
  it('gemini-<name> picks a prebuilt avatar: the Vertex 3.8 setup asks for VIDEO with it', () => {
    const s = settings({ ...VERTEX, AVATAR_ID: 'gemini-kira' });
    expect(() => checkAvatar(s)).not.toThrow();
    const model = createRealtimeModel(s, { instructions: 'x' });
    expect(model.sessionOptions.avatar?.config).toEqual({ avatarName: 'Kira' });
    const config = liveConnectConfig(model.sessionOptions, llm.ToolContext.empty(), undefined);
    expect(config.responseModalities).toEqual([Modality.VIDEO]);
    expect(config.avatarConfig).toEqual({ avatarName: 'Kira' });
  });

  it('a folder names a prebuilt avatar, or sends a portrait (PNG or JPEG, 9:16)', () => {
    const host = realtimeOptions(settings({ ...VERTEX, AVATAR_ID: 'host' }), { instructions: 'x' });
    expect(host.avatar?.config).toEqual({ avatarName: 'Kira', videoBitrateBps: 900_000 });
    for (const [id, mime] of [
      ['portrait-ok', 'image/png'],
      ['portrait-jpeg', 'image/jpeg'],
    ] as const) {
      const s = settings({ ...VERTEX, AVATAR_ID: id });
      expect(() => checkAvatar(s)).not.toThrow();
      const custom = realtimeOptions(s, { instructions: 'x' }).avatar?.config.customizedAvatar;
      expect(custom?.imageMimeType).toBe(mime);
      expect(Buffer.from(custom!.imageData!, 'base64').length).toBeGreaterThan(1000);
    }
  });

  it('no avatar, no VIDEO: the setup asks for AUDIO (Google refuses VIDEO without one)', () => {
    for (const env of [
      { ...VERTEX },
      { ...VERTEX, AVATAR_ID: 'gemini-kira', AVATAR_ENABLED: 'false' },
    ]) {
      const model = createRealtimeModel(settings(env), { instructions: 'x' });
      expect(model.sessionOptions.avatar).toBeUndefined();
      const config = liveConnectConfig(model.sessionOptions, llm.ToolContext.empty(), undefined);
      expect(config.responseModalities).toEqual([Modality.AUDIO]);
      expect(config.avatarConfig).toBeUndefined();
    }
  });
});

describe('refused before connecting, with one line', () => {
  it('on the Gemini API row (Google renders avatars on Vertex AI only)', () => {
    const line = refusal(() => checkAvatar(settings({ ...GEMINI_API, AVATAR_ID: 'gemini-kira' })));
    expect(line).toBe(
      'AVATAR_ID: "gemini-kira" is a Gemini Live Avatar; GEMINI_MODEL=gemini-3.8-live renders avatars on Vertex AI only; set GOOGLE_GENAI_USE_VERTEXAI=true with GOOGLE_CLOUD_PROJECT, or pick another avatar',
    );
  });

  it('with extended thinking, and a dispatch naming another model', () => {
    const thinking = refusal(() =>
      checkAvatar(
        settings({
          ...GEMINI_API,
          GEMINI_MODEL: 'gemini-3.8-live-extended-thinking',
          AVATAR_ID: 'gemini-kira',
        }),
      ),
    );
    expect(thinking).toMatch(
      /^AVATAR_ID: "gemini-kira" is a Gemini Live Avatar; GEMINI_MODEL=gemini-3\.8-live-extended-thinking cannot render one \(only gemini-3\.8-live on Vertex AI can\); pick gemini-3\.8-live on Vertex AI, or another avatar$/,
    );
    const metadata = JSON.stringify({
      avatar_id: 'gemini-kira',
      gemini_realtime_config: { model: 'gemini-3.1-flash-live-preview' },
    });
    const dispatch = refusal(() => settingsForDispatch(settings(GEMINI_API), metadata));
    expect(dispatch).toMatch(
      /^avatar_id: "gemini-kira" is a Gemini Live Avatar; gemini_realtime_config\.model=gemini-3\.1-flash-live-preview cannot render one/,
    );
  });

  it('a portrait of the wrong shape or size, a name Google does not list, a manifest with no avatar', () => {
    const check = (id: string) =>
      refusal(() => checkAvatar(settings({ ...VERTEX, AVATAR_ID: id })));
    expect(check('square')).toMatch(
      /^AVATAR_ID: .*square\/manifest\.json: portrait "portrait\.png": 800x800 is not a 9:16 portrait \(allowed: width\/height from 704\/1280 to 9\/16, e\.g\. 720x1280 or 1080x1920\)$/,
    );
    expect(check('small')).toMatch(
      /small\/manifest\.json: portrait "portrait\.png": 360x640 is too small \(allowed: at least 704x1280\)$/,
    );
    expect(check('gemini-bob')).toMatch(
      /^AVATAR_ID: avatar "gemini-bob": not a prebuilt Gemini avatar \(allowed: gemini-ben, gemini-carmen, .*gemini-vera; for another name use an avatar folder with "avatar_name"\)$/,
    );
    expect(check('neither')).toMatch(
      /neither\/manifest\.json: \(top level\): give exactly one of avatar_name \(a prebuilt avatar\) or portrait \(an image file\)$/,
    );
  });
});

describe("our own face stands in when Gemini's cannot run", () => {
  it('the call gets a Gemini face source, which starts our face when the decoder is missing', async () => {
    const s = settings({ ...VERTEX, AVATAR_ID: 'gemini-kira' });
    expect(callAvatarFor(s, { roomName: 'r', agentIdentity: 'a' })).toBeInstanceOf(
      GeminiFaceAvatar,
    );
    const started: string[] = [];
    const ours = {
      start: async () => void started.push('our face'),
      close: async () => void started.push('closed'),
    };
    const avatar = new GeminiFaceAvatar(() => ours, 'the H.264 + AAC decoder did not load');
    await avatar.start(new voice.AgentSession({}));
    await avatar.close();
    expect(started).toEqual(['our face', 'closed']);
    expect(avatar.face).toBeUndefined();
  });
});
