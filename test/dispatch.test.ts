/**
 * applyDispatchMetadata: per-dispatch JSON over the worker's Settings. Only the allow-list may be
 * overridden, every refusal is one line naming the dispatch path, and the merged options are
 * checked against the capability table again. The base Settings object is never changed.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/errors.ts';
import { MAX_METADATA_BYTES, applyDispatchMetadata } from '../src/config/dispatch.ts';
import { KNOWN_MODEL_IDS, modelCapabilities } from '../src/config/models.ts';
import { type Env, type Settings, loadSettings, sttProvider } from '../src/config/settings.ts';

const M31 = 'gemini-3.1-flash-live-preview';
const M38 = 'gemini-3.8-live';
const M25 = 'gemini-2.5-flash-native-audio-preview-12-2025';
const VERTEX_25 = 'gemini-live-2.5-flash-native-audio';
const ENV: Env = { GOOGLE_API_KEY: 'test-google-key' };
/** The fix names the field in the source the bad value came from. */
const DISPATCH_LEVEL_FIX =
  'use gemini_realtime_config.thinking_level=minimal|low|medium|high instead';

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/** Settings from `env`, frozen: a dispatch that writes into its base throws instead. */
function baseSettings(env: Env = {}): Settings {
  return deepFreeze(loadSettings({ ...ENV, ...env }));
}

const BASE = baseSettings();
/** `gemini_realtime_config` metadata as the dispatching client would send it. */
const realtime = (config: Record<string, unknown>) =>
  JSON.stringify({ gemini_realtime_config: config });

/** The problem lines for one refused dispatch; fails the test if the dispatch is accepted. */
function refusal(metadata: string, base: Settings = BASE): readonly string[] {
  try {
    applyDispatchMetadata(base, metadata);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error(`dispatch accepted ${metadata.slice(0, 200)}`);
}

describe('no metadata', () => {
  it.each([undefined, '', '   \n'])('%j leaves the base settings as they are', (metadata) => {
    expect(applyDispatchMetadata(BASE, metadata)).toBe(BASE);
  });

  it("{} and an empty gemini_realtime_config change no option but LiveAvatar's temperature", () => {
    for (const metadata of ['{}', realtime({})]) {
      const settings = applyDispatchMetadata(BASE, metadata);
      expect(settings.call).toEqual({ ...BASE.call, temperature: 0.8 });
      expect(settings.capabilities).toBe(BASE.capabilities);
    }
  });
});

describe('an accepted dispatch', () => {
  const metadata = JSON.stringify({
    avatar_id: 'x',
    gemini_realtime_config: { voice: 'Kore', model: M25, temperature: 0.7, context_id: 'support' },
  });

  it('in the LiveAvatar shape overrides the call options and re-resolves the capabilities', () => {
    const settings = applyDispatchMetadata(BASE, metadata);
    expect(settings.call).toEqual({
      ...BASE.call,
      avatarId: 'x',
      voice: 'Kore',
      model: M25,
      temperature: 0.7,
      contextId: 'support',
    });
    expect(settings.capabilities).toBe(modelCapabilities(M25));
    expect(settings.origins).toEqual({
      avatarId: 'avatar_id',
      voice: 'gemini_realtime_config.voice',
      model: 'gemini_realtime_config.model',
      temperature: 'gemini_realtime_config.temperature',
      contextId: 'gemini_realtime_config.context_id',
    });
  });

  it('keeps credentials, endpoints and paths from the environment', () => {
    const settings = applyDispatchMetadata(BASE, metadata);
    expect(settings.livekit).toBe(BASE.livekit);
    expect(settings.google).toBe(BASE.google);
    expect(settings.contextsDir).toBe(BASE.contextsDir);
    expect(settings.agentName).toBe(BASE.agentName);
  });

  it('lets a dispatch pick a 2.5-only feature together with a 2.5 model', () => {
    const settings = applyDispatchMetadata(
      BASE,
      realtime({ model: M25, affective_dialog: true, proactive_audio: true, thinking_budget: 0 }),
    );
    expect(settings.call).toMatchObject({
      affectiveDialog: true,
      proactiveAudio: true,
      thinkingBudget: 0,
    });
  });

  it("takes a media resolution in any letter case, over the environment's", () => {
    const base = baseSettings({ GEMINI_MEDIA_RESOLUTION: 'high' });
    expect(base.call.mediaResolution).toBe('high');
    for (const model of [M31, M25]) {
      const settings = applyDispatchMetadata(base, realtime({ model, media_resolution: 'LOW' }));
      expect(settings.call.mediaResolution).toBe('low');
      expect(settings.origins.mediaResolution).toBe('gemini_realtime_config.media_resolution');
      expect(settings.droppedDefaults).toEqual([]);
    }
  });

  it("keeps the environment's media resolution when the dispatch picks another model", () => {
    const base = baseSettings({ GEMINI_MEDIA_RESOLUTION: 'medium' });
    const settings = applyDispatchMetadata(base, realtime({ model: M25 }));
    expect(settings.call.mediaResolution).toBe('medium');
    expect(settings.droppedDefaults).toEqual([]);
  });

  it('takes metadata of exactly 64 KiB', () => {
    const metadata = padTo('{"avatar_id":"x"}', MAX_METADATA_BYTES);
    expect(applyDispatchMetadata(BASE, metadata).call.avatarId).toBe('x');
  });

  it('takes instructions and an empty greeting', () => {
    const settings = applyDispatchMetadata(
      BASE,
      realtime({ instructions: 'You sell bicycles.', greeting: '' }),
    );
    expect(settings.call).toMatchObject({ instructions: 'You sell bicycles.', greeting: '' });
  });
});

/** `json` padded with trailing whitespace (still valid JSON) to exactly `bytes` bytes. */
const padTo = (json: string, bytes: number) => json + ' '.repeat(bytes - Buffer.byteLength(json));
const CONTEXT_ALLOWED =
  'allowed: a context file name in the contexts directory (letters, digits, - and _)';

// Each refused dispatch: the one line the worker logs, or the parts it must contain.
// prettier-ignore
const REFUSED: { what: string; metadata: string; line: string | RegExp }[] = [
  // Not a JSON object.
  { what: 'text that is not JSON', metadata: 'voice=Kore',
    line: 'dispatch metadata: "voice=Kore" is not JSON (allowed: a JSON object such as {"gemini_realtime_config":{"voice":"Kore"}})' },
  { what: 'cut-off JSON', metadata: '{"gemini_realtime_config":',
    line: /^dispatch metadata: "\{\\"gemini_realtime_config\\":" is not JSON \(allowed: a JSON object/ },
  { what: 'a JSON array', metadata: '[{"voice":"Kore"}]',
    line: 'dispatch metadata: [{"voice":"Kore"}] is not a JSON object' },
  { what: 'a JSON string', metadata: '"Kore"', line: 'dispatch metadata: "Kore" is not a JSON object' },
  { what: 'JSON null', metadata: 'null', line: 'dispatch metadata: null is not a JSON object' },
  { what: 'gemini_realtime_config that is not an object', metadata: '{"gemini_realtime_config":["Kore"]}',
    line: 'dispatch metadata: gemini_realtime_config: ["Kore"] is not a JSON object' },
  // Size, counted in bytes.
  { what: 'one byte over 64 KiB', metadata: padTo('{"avatar_id":"x"}', MAX_METADATA_BYTES + 1),
    line: 'dispatch metadata: 65537 bytes is too large (allowed: up to 65536 bytes)' },
  { what: 'over 64 KiB in UTF-8 though under 64 Ki characters', metadata: realtime({ instructions: 'é'.repeat(33_000) }),
    line: /^dispatch metadata: 66\d\d\d bytes is too large/ },
  // Fields off the allow-list: never keys, endpoints or paths.
  { what: 'an unknown top-level field', metadata: '{"voice":"Kore"}',
    line: /^dispatch metadata: unknown field "voice" \(allowed: gemini_realtime_config\.model, gemini_realtime_config\.voice, .*avatar_id, mode, .*video_settings\.encoding\)$/ },
  { what: 'a misspelt top-level field', metadata: '{"avatarId":"x"}', line: /^dispatch metadata: unknown field "avatarId" \(allowed: / },
  { what: 'an API key', metadata: realtime({ api_key: 'AIza-secret' }),
    line: /^dispatch metadata: unknown field "gemini_realtime_config\.api_key" \(allowed: / },
  { what: 'an endpoint', metadata: realtime({ base_url: 'http://evil.example' }),
    line: /^dispatch metadata: unknown field "gemini_realtime_config\.base_url" \(allowed: / },
  { what: 'a contexts path', metadata: realtime({ contexts_dir: '/etc' }),
    line: /^dispatch metadata: unknown field "gemini_realtime_config\.contexts_dir" \(allowed: / },
  { what: 'a LiveKit URL', metadata: '{"livekit_url":"wss://x"}', line: /^dispatch metadata: unknown field "livekit_url" / },
  // Wrong types and ranges.
  { what: 'temperature as a string', metadata: realtime({ temperature: '0.7' }),
    line: 'dispatch metadata: gemini_realtime_config.temperature: "0.7" is not valid (allowed: a number from 0.0 to 2.0)' },
  { what: 'temperature above 2', metadata: realtime({ temperature: 2.5 }),
    line: 'dispatch metadata: gemini_realtime_config.temperature: 2.5 is not valid (allowed: a number from 0.0 to 2.0)' },
  { what: 'temperature below 0', metadata: realtime({ temperature: -0.1 }),
    line: 'dispatch metadata: gemini_realtime_config.temperature: -0.1 is not valid (allowed: a number from 0.0 to 2.0)' },
  { what: 'a boolean as a string', metadata: realtime({ affective_dialog: 'true' }),
    line: 'dispatch metadata: gemini_realtime_config.affective_dialog: "true" is not valid (allowed: true or false (the environment also takes 1/0, yes/no, on/off))' },
  { what: 'a voice as a number', metadata: realtime({ voice: 7 }),
    line: /^dispatch metadata: gemini_realtime_config\.voice: 7 is not valid \(allowed: Achernar, .*Puck, .*Zubenelgenubi\)$/ },
  { what: 'a fractional thinking budget', metadata: realtime({ thinking_budget: 1.5 }),
    line: 'dispatch metadata: gemini_realtime_config.thinking_budget: 1.5 is not valid (allowed: an integer from -1 (dynamic) through 0 (off) to 32768 tokens)' },
  { what: 'a media resolution the API does not have', metadata: realtime({ media_resolution: 'ultra_high' }),
    line: 'dispatch metadata: gemini_realtime_config.media_resolution: "ultra_high" is not valid (allowed: low, medium, high)' },
  { what: 'a media resolution as the SDK enum', metadata: realtime({ media_resolution: 'MEDIA_RESOLUTION_LOW' }),
    line: 'dispatch metadata: gemini_realtime_config.media_resolution: "MEDIA_RESOLUTION_LOW" is not valid (allowed: low, medium, high)' },
  { what: 'a media resolution as a number', metadata: realtime({ media_resolution: 1 }),
    line: 'dispatch metadata: gemini_realtime_config.media_resolution: 1 is not valid (allowed: low, medium, high)' },
  { what: 'an avatar id as an object', metadata: '{"avatar_id":{"id":"x"}}',
    line: 'dispatch metadata: avatar_id: {"id":"x"} is not valid (allowed: an avatar id (letters, digits, - and _))' },
  { what: 'empty instructions', metadata: realtime({ instructions: '' }),
    line: 'dispatch metadata: gemini_realtime_config.instructions: "" is not valid (allowed: text of 1 to 16000 characters)' },
  { what: 'a null value (fields cannot be cleared)', metadata: realtime({ context_id: null }),
    line: `dispatch metadata: gemini_realtime_config.context_id: null is not valid (${CONTEXT_ALLOWED})` },
  // Models.
  { what: 'an unknown model', metadata: realtime({ model: 'gemini-9.9-flash-live' }),
    line: `dispatch metadata: gemini_realtime_config.model: model "gemini-9.9-flash-live" is not in the capability table (known: ${KNOWN_MODEL_IDS.join(', ')}); to run a newer id, also set GEMINI_MODEL_RULES to the known model whose rules it follows` },
  { what: 'a model id with spaces', metadata: realtime({ model: 'Gemini 3.1' }),
    line: 'dispatch metadata: gemini_realtime_config.model: "Gemini 3.1" is not valid (allowed: a Gemini Live model id, see the model table in docs/models.md)' },
  { what: 'a Vertex AI model on a Gemini API deployment', metadata: realtime({ model: VERTEX_25 }),
    line: `dispatch metadata: gemini_realtime_config.model=${VERTEX_25} is a Vertex AI model; set GOOGLE_GENAI_USE_VERTEXAI=true with GOOGLE_CLOUD_PROJECT, or pick a Gemini API model` },
  // Context ids that could name a path.
  ...['../x', '/etc/passwd', '..%2Fx', 'a/b', 'x.md', 'a\\b', ''].map((id) => ({
    what: `context_id ${JSON.stringify(id)}`, metadata: realtime({ context_id: id }),
    line: `dispatch metadata: gemini_realtime_config.context_id: ${JSON.stringify(id)} is not valid (${CONTEXT_ALLOWED})`,
  })),
];

describe('a refused dispatch', () => {
  it.each(REFUSED)('$what: one line naming the dispatch path', ({ metadata, line }) => {
    const problems = refusal(metadata);
    expect(problems).toHaveLength(1);
    if (typeof line === 'string') expect(problems[0]).toBe(line);
    else expect(problems[0]).toMatch(line);
  });

  it('never echoes the value of a field that is not allowed', () => {
    const [line] = refusal(realtime({ api_key: 'AIza-CANARY-value' }));
    expect(line).not.toContain('CANARY');
  });

  it('reports every problem at once', () => {
    const problems = refusal(
      JSON.stringify({
        api_key: 'x',
        gemini_realtime_config: {
          voice: 'Bob',
          temperature: 9,
          model: M31,
          affective_dialog: true,
        },
      }),
    );
    expect(problems.map((p) => p.split(/: |=| \(/, 2)[1])).toEqual([
      'unknown field "api_key"',
      'gemini_realtime_config.voice',
      'gemini_realtime_config.temperature',
      'gemini_realtime_config.affective_dialog',
    ]);
  });
});

describe('the capability table, again for the merged options', () => {
  it('refuses affective_dialog on the 3.8 default (removed from its API)', () => {
    expect(refusal(realtime({ affective_dialog: true }))).toEqual([
      `dispatch metadata: gemini_realtime_config.affective_dialog: GEMINI_MODEL=${M38}: affective dialog was removed from this model's API; remove the setting`,
    ]);
  });

  it('refuses a thinking level or proactive_audio false on the 3.8 default, one line each', () => {
    expect(refusal(realtime({ thinking_level: 'low', proactive_audio: false }))).toEqual([
      `dispatch metadata: gemini_realtime_config.thinking_level: GEMINI_MODEL=${M38} takes no thinking configuration (it reasons internally); remove it`,
      `dispatch metadata: gemini_realtime_config.proactive_audio: GEMINI_MODEL=${M38} always has proactive audio on (Google: turning it off is an error); remove the setting`,
    ]);
  });

  it('refuses minimal on 3.8 extended thinking and takes no level at all (its default goes)', () => {
    const thinking = 'gemini-3.8-live-extended-thinking';
    expect(refusal(realtime({ model: thinking, thinking_level: 'minimal' }))).toEqual([
      `dispatch metadata: gemini_realtime_config.thinking_level: minimal is not a level gemini_realtime_config.model=${thinking} takes (allowed: low, medium, high)`,
    ]);
    const settings = applyDispatchMetadata(baseSettings(), realtime({ model: thinking }));
    expect(settings.capabilities.defaultThinkingLevel).toBe('low');
  });

  it('takes google_search where the row documents it', () => {
    const settings = applyDispatchMetadata(baseSettings(), realtime({ google_search: true }));
    expect(settings.call.googleSearch).toBe(true);
  });

  it('names gemini_realtime_config.thinking_budget when the dispatch sent the budget', () => {
    const base = baseSettings({ GEMINI_MODEL: M25 });
    expect(refusal(realtime({ model: M31, thinking_budget: 1024 }), base)).toEqual([
      `dispatch metadata: gemini_realtime_config.thinking_budget: gemini_realtime_config.model=${M31} controls thinking with a level, not a budget; ${DISPATCH_LEVEL_FIX}`,
    ]);
  });

  it('drops worker defaults the dispatched model cannot take, and says which', () => {
    const base = baseSettings({
      GEMINI_MODEL: M25,
      GEMINI_THINKING_BUDGET: '1024',
      GEMINI_AFFECTIVE_DIALOG: 'true',
    });
    const settings = applyDispatchMetadata(base, realtime({ model: M31 }));
    expect(settings.capabilities.id).toBe(M31);
    expect(settings.call.thinkingBudget).toBeUndefined();
    expect(settings.call.affectiveDialog).toBeUndefined();
    expect(settings.droppedDefaults).toEqual(['GEMINI_THINKING_BUDGET', 'GEMINI_AFFECTIVE_DIALOG']);
    expect(base.call.thinkingBudget).toBe(1024);
  });

  it('a LiveAvatar-shaped dispatch naming 3.1 or 2.5 runs on a 3.8 worker as before', () => {
    const base = baseSettings();
    expect(base.capabilities.id).toBe(M38);
    for (const model of [M31, M25]) {
      const metadata = JSON.stringify({
        avatar_id: 'default',
        gemini_realtime_config: { voice: 'Puck', model, temperature: 0.8 },
      });
      const settings = applyDispatchMetadata(base, metadata);
      expect(settings.capabilities).toBe(modelCapabilities(model, 'gemini'));
      expect(settings.droppedDefaults).toEqual([]);
    }
  });

  it('names GEMINI_TOOL_BEHAVIOR when the new model cannot take the deployment tools', () => {
    const base = baseSettings({ GEMINI_MODEL: M25, GEMINI_TOOL_BEHAVIOR: 'non_blocking' });
    expect(refusal(realtime({ model: M31 }), base)).toEqual([
      `dispatch metadata: GEMINI_TOOL_BEHAVIOR: gemini_realtime_config.model=${M31} runs function calls synchronously only; set it to blocking`,
    ]);
  });

  it('accepts a thinking level with a switch to 3.1', () => {
    const base = baseSettings({ GEMINI_MODEL: M25 });
    const settings = applyDispatchMetadata(base, realtime({ model: M31, thinking_level: 'low' }));
    expect(settings.capabilities).toBe(modelCapabilities(M31, 'gemini'));
    expect(settings.call.thinkingLevel).toBe('low');
  });

  it('runs a newer id with the rules of GEMINI_MODEL_RULES', () => {
    const base = baseSettings({ GEMINI_MODEL: 'gemini-9.9-flash-live', GEMINI_MODEL_RULES: M31 });
    const settings = applyDispatchMetadata(base, realtime({ voice: 'Kore' }));
    expect(settings.capabilities).toMatchObject({
      id: 'gemini-9.9-flash-live',
      note: `runs with the rules of ${M31}`,
    });
  });
});

describe('the base settings', () => {
  it('are never changed by an accepted or a refused dispatch', () => {
    const base = loadSettings({ ...ENV, GEMINI_MODEL: M25, GEMINI_THINKING_BUDGET: '256' });
    const before = structuredClone(base);
    const secrets = [base.google.apiKey?.reveal(), base.livekit.apiSecret.reveal()];
    const dispatches = [
      JSON.stringify({ avatar_id: 'x', gemini_realtime_config: { voice: 'Kore', model: M25 } }),
      realtime({ temperature: 1, affective_dialog: true, context_id: 'support' }),
      realtime({ model: M31 }),
      realtime({ voice: 'Bob', api_key: 'x' }),
    ];
    for (const metadata of dispatches) {
      try {
        applyDispatchMetadata(base, metadata);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
      }
    }
    expect(base).toStrictEqual({
      ...before,
      livekit: {
        ...before.livekit,
        apiKey: base.livekit.apiKey,
        apiSecret: base.livekit.apiSecret,
      },
      google: { ...before.google, apiKey: base.google.apiKey },
    });
    expect([base.google.apiKey?.reveal(), base.livekit.apiSecret.reveal()]).toEqual(secrets);
  });
});

describe('the STT of a call (TURN_DETECTION=livekit workers)', () => {
  const livekit = baseSettings({ TURN_DETECTION: 'livekit', DEEPGRAM_API_KEY: 'dg' });
  const googleOnly = baseSettings({ TURN_DETECTION: 'livekit' });

  it('a dispatch picks the STT for its call', () => {
    expect(sttProvider(livekit)).toBe('deepgram');
    const call = applyDispatchMetadata(livekit, realtime({ stt: 'gemini' }));
    expect(sttProvider(call)).toBe('gemini');
    expect(call.origins.stt).toBe('gemini_realtime_config.stt');
  });

  it.each([
    {
      what: 'deepgram on a worker without its key',
      base: googleOnly,
      stt: 'deepgram',
      line: "dispatch metadata: DEEPGRAM_API_KEY missing: gemini_realtime_config.stt=deepgram transcribes the user with Deepgram; set the key, or use gemini_realtime_config.stt=gemini (Gemini's live transcription model, on the call's Gemini key)",
    },
    {
      what: 'any STT on a worker with Gemini turn detection',
      base: BASE,
      stt: 'gemini',
      line: 'dispatch metadata: gemini_realtime_config.stt: gemini is not used: the user is transcribed by an STT only with TURN_DETECTION=livekit (allowed: leave it out, or set TURN_DETECTION=livekit)',
    },
  ])('refuses $what, in one line', ({ base, stt, line }) => {
    expect(refusal(realtime({ stt }), base)).toEqual([line]);
  });
});
