/**
 * LiveAvatar's LITE session JSON, to the letter, as dispatch metadata: `mode`, `secret_id` (a key
 * the worker holds in GEMINI_SECRETS_FILE, never a key in metadata), LiveAvatar's defaults
 * (temperature 0.8), and its other session fields (`is_sandbox`, `video_settings`,
 * `max_session_duration`). Each refusal is one line naming the field, before anything connects.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIVEAVATAR_TEMPERATURE, applyDispatchMetadata } from '../src/config/dispatch.ts';
import { ConfigError } from '../src/config/errors.ts';
import { describeSettings, type Env, loadSettings } from '../src/config/settings.ts';
import { liveAvatarRequest } from './support/liveavatar_request.ts';

const SECRET_ID = '6f1c2a4e-8b7d-4c3f-9a21-0d5e7b9c1f42';
const OTHER_ID = 'tenant-b';
const tag = `${process.pid}${Date.now().toString(36)}`;
const NAMED_KEY = `AIzaNamedCanary${tag}`.padEnd(39, 'x').slice(0, 39);
const OTHER_KEY = `other-named-key-${tag}`;
const OWN_KEY = `worker-own-key-${tag}`;

/** LiveAvatar's example request for its Gemini Live connector, as a user would paste it. */
const LIVEAVATAR_REQUEST = liveAvatarRequest({
  avatarId: 'default',
  secretId: SECRET_ID,
  contextId: 'support',
});

let dir: string;
let secretsFile: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'session-json-'));
  secretsFile = path.join(dir, 'gemini-secrets.json');
  writeFileSync(secretsFile, JSON.stringify({ [SECRET_ID]: NAMED_KEY, [OTHER_ID]: OTHER_KEY }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function settingsFor(metadata: unknown, env: Env = {}) {
  const base = loadSettings({
    GOOGLE_API_KEY: OWN_KEY,
    GEMINI_SECRETS_FILE: secretsFile,
    ...env,
  });
  return applyDispatchMetadata(base, JSON.stringify(metadata));
}

function refusal(run: () => unknown): readonly string[] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe("LiveAvatar's session request", () => {
  it('runs as is: the key secret_id names, its context, Puck / 3.1 / 0.8', () => {
    const settings = settingsFor(LIVEAVATAR_REQUEST);
    expect(settings.google.apiKey?.reveal()).toBe(NAMED_KEY);
    expect(settings.google.keySource).toBe(`secret_id ${SECRET_ID}`);
    expect(settings.call).toMatchObject({
      mode: 'LITE',
      secretId: SECRET_ID,
      contextId: 'support',
      voice: 'Puck',
      model: 'gemini-3.1-flash-live-preview',
      temperature: 0.8,
    });
    // The key never shows in what is logged about the call.
    expect(inspect(describeSettings(settings), { depth: 5 })).not.toContain(NAMED_KEY);
    expect(JSON.stringify(settings)).not.toContain(NAMED_KEY);
  });

  it('each secret_id picks its own key; without one the worker uses its own', () => {
    const other = settingsFor({ gemini_realtime_config: { secret_id: OTHER_ID } });
    expect(other.google.apiKey?.reveal()).toBe(OTHER_KEY);
    const own = settingsFor({ mode: 'LITE' });
    expect(own.google.apiKey?.reveal()).toBe(OWN_KEY);
    expect(own.google.keySource).toBe('GOOGLE_API_KEY');
  });

  it("defaults like LiveAvatar: temperature 0.8 (the worker's GEMINI_TEMPERATURE first)", () => {
    expect(settingsFor({}).call.temperature).toBe(LIVEAVATAR_TEMPERATURE);
    expect(settingsFor({ mode: 'LITE' }).call).toMatchObject({ voice: 'Puck', temperature: 0.8 });
    expect(settingsFor({}, { GEMINI_TEMPERATURE: '0.3' }).call.temperature).toBe(0.3);
    expect(
      settingsFor({ gemini_realtime_config: { temperature: 1.2 } }, { GEMINI_TEMPERATURE: '0.3' })
        .call.temperature,
    ).toBe(1.2);
  });

  it('takes is_sandbox, video_settings and max_session_duration', () => {
    const settings = settingsFor({
      ...LIVEAVATAR_REQUEST,
      is_sandbox: true,
      video_settings: { quality: 'very_high', encoding: 'h264' },
      max_session_duration: 600,
    });
    expect(settings.call).toMatchObject({
      isSandbox: true,
      videoQuality: 'very_high',
      videoEncoding: 'H264',
      maxSessionDurationSeconds: 600,
    });
  });

  it('a worker with named keys only runs a dispatch that names one', () => {
    const env = { GOOGLE_API_KEY: '', GEMINI_SECRETS_FILE: secretsFile };
    const base = loadSettings(env);
    expect(base.google.apiKey).toBeUndefined();
    const settings = applyDispatchMetadata(base, JSON.stringify(LIVEAVATAR_REQUEST));
    expect(settings.google.apiKey?.reveal()).toBe(NAMED_KEY);
    for (const metadata of [undefined, '{"mode":"LITE"}']) {
      expect(refusal(() => applyDispatchMetadata(base, metadata))).toEqual([
        'dispatch metadata: gemini_realtime_config.secret_id missing: this worker has no key of its own (GOOGLE_API_KEY), only the named keys of its GEMINI_SECRETS_FILE (allowed: the id of one of them)',
      ]);
    }
  });
});

describe('refused before connecting, in one line', () => {
  const REFUSED: { what: string; metadata: unknown; env?: Env; line: string | RegExp }[] = [
    {
      what: 'mode FULL',
      metadata: { ...LIVEAVATAR_REQUEST, mode: 'FULL' },
      line: `dispatch metadata: mode: "FULL" is not valid (allowed: LITE (this worker is the agent of a LITE session; FULL runs LiveAvatar's own speech pipeline, not this agent))`,
    },
    {
      what: "mode CUSTOM (LITE's old name)",
      metadata: { mode: 'CUSTOM' },
      line: /^dispatch metadata: mode: "CUSTOM" is not valid \(allowed: LITE /,
    },
    {
      what: 'an unknown secret_id, without listing the ids there are',
      metadata: { gemini_realtime_config: { secret_id: 'nope' } },
      line: `dispatch metadata: gemini_realtime_config.secret_id: "nope" is not an id in the worker's GEMINI_SECRETS_FILE (allowed: the id of one of its 2 keys)`,
    },
    {
      what: 'a secret_id on a worker without a secrets file',
      metadata: LIVEAVATAR_REQUEST,
      env: { GEMINI_SECRETS_FILE: '' },
      line: /^dispatch metadata: gemini_realtime_config\.secret_id: "6f1c2a4e-[^"]+" names no key: the worker has no GEMINI_SECRETS_FILE /,
    },
    {
      what: 'a secret_id on Vertex AI',
      metadata: { gemini_realtime_config: { secret_id: SECRET_ID } },
      env: {
        GOOGLE_GENAI_USE_VERTEXAI: 'true',
        GOOGLE_CLOUD_PROJECT: 'p',
        GEMINI_MODEL: 'gemini-live-2.5-flash-native-audio',
      },
      line: /^dispatch metadata: gemini_realtime_config\.secret_id: names a Gemini API key, but this worker uses Vertex AI /,
    },
    {
      what: 'an API key sent as the secret_id, without echoing it',
      metadata: { gemini_realtime_config: { secret_id: NAMED_KEY } },
      line: 'dispatch metadata: gemini_realtime_config.secret_id: the value is a Gemini API key, not the id of one (keys stay with the worker: put it in its GEMINI_SECRETS_FILE and send its id)',
    },
    {
      what: 'a key in the metadata, without echoing it',
      metadata: { gemini_realtime_config: { secret_value: NAMED_KEY } },
      line: 'dispatch metadata: gemini_realtime_config.secret_value is not taken here: keys stay with the worker: put the key in its GEMINI_SECRETS_FILE and send its secret_id',
    },
    {
      what: 'livekit_config',
      metadata: { livekit_config: { livekit_room: 'r' } },
      line: /^dispatch metadata: livekit_config is not taken here: the call runs in the room it was dispatched to/,
    },
    {
      what: 'another connector',
      metadata: { openai_realtime_config: {} },
      line: 'dispatch metadata: openai_realtime_config is not taken here: this agent speaks with Gemini Live: use gemini_realtime_config',
    },
    {
      what: 'a video quality LiveAvatar does not have',
      metadata: { video_settings: { quality: 'ultra' } },
      line: 'dispatch metadata: video_settings.quality: "ultra" is not valid (allowed: very_high, high, medium, low)',
    },
    {
      what: 'an unknown video setting',
      metadata: { video_settings: { fps: 60 } },
      line: /^dispatch metadata: unknown field "video_settings\.fps" \(allowed: /,
    },
    {
      what: 'video_settings that is not an object',
      metadata: { video_settings: 'high' },
      line: 'dispatch metadata: video_settings: "high" is not a JSON object',
    },
    {
      what: 'a max_session_duration of no time',
      metadata: { max_session_duration: 0 },
      line: 'dispatch metadata: max_session_duration: 0 is not valid (allowed: whole seconds from 1 to 86400)',
    },
    {
      what: 'is_sandbox as text',
      metadata: { is_sandbox: 'yes' },
      line: /^dispatch metadata: is_sandbox: "yes" is not valid \(allowed: true or false/,
    },
  ];

  it.each(REFUSED)('$what', ({ metadata, env, line }) => {
    const problems = refusal(() => settingsFor(metadata, env));
    expect(problems).toHaveLength(1);
    if (typeof line === 'string') expect(problems[0]).toBe(line);
    else expect(problems[0]).toMatch(line);
    expect(problems.join('\n')).not.toContain(NAMED_KEY);
  });
});

describe('GEMINI_SECRETS_FILE', () => {
  const write = (name: string, text: string) => {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    return file;
  };
  const worker = (file: string) =>
    refusal(() => loadSettings({ GOOGLE_API_KEY: OWN_KEY, GEMINI_SECRETS_FILE: file }));

  it('refuses a file that is missing, not JSON, or not an object of named keys', () => {
    expect(worker(path.join(dir, 'missing.json'))).toEqual([
      `GEMINI_SECRETS_FILE: ${path.join(dir, 'missing.json')} cannot be read (ENOENT); allowed: a JSON object {"<secret_id>": "<Gemini API key>"}`,
    ]);
    expect(worker(write('list.json', '["a"]'))[0]).toMatch(/ is not a JSON object /);
    expect(worker(write('empty.json', '{}'))[0]).toMatch(/ holds no key /);
    expect(worker(write('blank.json', '{"a": " "}'))[0]).toMatch(
      /: entry 1 \(a\): its key is not a non-empty string$/,
    );
  });

  it('never quotes the file: not in a JSON error, not a key written where its id belongs', () => {
    const broken = worker(write('broken.json', `{"a": "${NAMED_KEY}",}`));
    expect(broken).toEqual([
      `GEMINI_SECRETS_FILE: ${path.join(dir, 'broken.json')} is not JSON (allowed: a JSON object {"<secret_id>": "<Gemini API key>"})`,
    ]);
    const swapped = worker(write('swapped.json', `{"ok": "k", "${NAMED_KEY}.x": "id"}`));
    expect(swapped).toEqual([
      `GEMINI_SECRETS_FILE: ${path.join(dir, 'swapped.json')}: entry 2: its id is not a plain name (allowed: letters, digits, - and _)`,
    ]);
    expect([...broken, ...swapped].join('\n')).not.toContain(NAMED_KEY.slice(4, 20));
  });

  it('is read again for each call: a rotated key is used without a restart', () => {
    const file = write('rotating.json', JSON.stringify({ [SECRET_ID]: 'first' }));
    const env = { GOOGLE_API_KEY: OWN_KEY, GEMINI_SECRETS_FILE: file };
    const metadata = JSON.stringify(LIVEAVATAR_REQUEST);
    expect(applyDispatchMetadata(loadSettings(env), metadata).google.apiKey?.reveal()).toBe(
      'first',
    );
    writeFileSync(file, JSON.stringify({ [SECRET_ID]: 'second' }));
    expect(applyDispatchMetadata(loadSettings(env), metadata).google.apiKey?.reveal()).toBe(
      'second',
    );
  });
});
