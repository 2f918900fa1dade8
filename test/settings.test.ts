/**
 * loadSettings(env) with plain env objects (never process.env), and loadEnvFiles on a temp dir.
 * Error assertions use the whole problem line: the variable as written, the value, the fix.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { format, inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { VOICES } from '../src/config/call_options.ts';
import { ConfigError } from '../src/config/errors.ts';
import { DEFAULT_MODEL, KNOWN_MODEL_IDS, modelCapabilities } from '../src/config/models.ts';
import {
  DEFAULT_CONTEXTS_DIR,
  DEFAULT_GREETING,
  type Env,
  LOCAL_LIVEKIT,
  describeSettings,
  loadEnvFiles,
  loadSettings,
  sttProvider,
} from '../src/config/settings.ts';

const KEY = { GOOGLE_API_KEY: 'test-google-key' };
const M25 = 'gemini-2.5-flash-native-audio-preview-12-2025';
const VERTEX_25 = 'gemini-live-2.5-flash-native-audio';
const CLOUD_URL = 'wss://my-project.livekit.cloud';

/** The problem lines loadSettings reports for `env`; fails the test if it accepts it. */
function problemsOf(env: Env): readonly string[] {
  try {
    loadSettings(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error(`loadSettings accepted ${JSON.stringify(env)}`);
}

describe('defaults', () => {
  const settings = loadSettings(KEY);

  it('runs gemini-3.8-live with voice Puck and the default context, sending no switch unset', () => {
    expect(settings.call).toEqual({
      model: 'gemini-3.8-live',
      voice: 'Puck',
      contextId: 'default',
      greeting: DEFAULT_GREETING,
      avatarId: 'default',
    });
    expect(DEFAULT_MODEL).toBe('gemini-3.8-live');
    expect(settings.capabilities).toBe(modelCapabilities(DEFAULT_MODEL, 'gemini'));
    expect(settings.origins).toEqual({});
    expect(settings.contextsDir).toBe(DEFAULT_CONTEXTS_DIR);
  });

  it('uses the Gemini API, explicit dispatch as gemini-avatar and Gemini turn detection', () => {
    expect(settings.google).toMatchObject({ vertexai: false, location: 'us-central1' });
    expect(settings.google.apiKey?.reveal()).toBe('test-google-key');
    expect(settings.model).toEqual({ vertexai: false });
    expect(settings.agentName).toBe('gemini-avatar');
    expect(settings.turnDetection).toBe('gemini');
    expect(settings.deepgramApiKey).toBeUndefined();
  });

  it('connects to the local LiveKit server of livekit.yaml', () => {
    const { livekit } = settings;
    expect(livekit.url).toBe(LOCAL_LIVEKIT.url);
    expect(livekit.apiKey.reveal()).toBe(LOCAL_LIVEKIT.apiKey);
    expect(livekit.apiSecret.reveal()).toBe(LOCAL_LIVEKIT.apiSecret);
    expect(livekit.usingLocalDefaults).toBe(true);

    const yaml = readFileSync(new URL('../livekit.yaml', import.meta.url), 'utf8');
    expect(LOCAL_LIVEKIT.url).toBe(`ws://localhost:${/^port: (\d+)$/m.exec(yaml)?.[1]}`);
    expect(yaml).toMatch(/^keys:\n\s+(\S+): (\S+)$/m);
    const [, key, secret] = /^keys:\n\s+(\S+): (\S+)$/m.exec(yaml)!;
    expect({ key, secret }).toEqual({ key: LOCAL_LIVEKIT.apiKey, secret: LOCAL_LIVEKIT.apiSecret });
  });

  it('treats an empty variable as unset', () => {
    const blank = loadSettings({ ...KEY, GEMINI_VOICE: '', GEMINI_MODEL: '  ', LIVEKIT_URL: '' });
    expect(blank.call.voice).toBe('Puck');
    expect(blank.call.model).toBe(DEFAULT_MODEL);
    expect(blank.livekit.usingLocalDefaults).toBe(true);
  });
});

describe('the Google credentials', () => {
  it('accept GEMINI_API_KEY in place of GOOGLE_API_KEY', () => {
    expect(loadSettings({ GEMINI_API_KEY: 'gemini-key' }).google.apiKey?.reveal()).toBe(
      'gemini-key',
    );
  });

  it('prefer GOOGLE_API_KEY when both are set', () => {
    const settings = loadSettings({ GOOGLE_API_KEY: 'google-key', GEMINI_API_KEY: 'gemini-key' });
    expect(settings.google.apiKey?.reveal()).toBe('google-key');
  });

  it('name GOOGLE_API_KEY, where to get one, and the alternatives when missing', () => {
    expect(problemsOf({})).toEqual([
      'GOOGLE_API_KEY missing: create a key at https://aistudio.google.com/apikey and put GOOGLE_API_KEY=... in .env.local (GEMINI_API_KEY also works), or use Vertex AI with GOOGLE_GENAI_USE_VERTEXAI=true and GOOGLE_CLOUD_PROJECT',
    ]);
  });

  it('need GOOGLE_CLOUD_PROJECT, not a key, on Vertex AI', () => {
    const vertex = { GOOGLE_GENAI_USE_VERTEXAI: 'true', GEMINI_MODEL: VERTEX_25 };
    expect(problemsOf(vertex)).toEqual([
      'GOOGLE_CLOUD_PROJECT missing: Vertex AI (GOOGLE_GENAI_USE_VERTEXAI=true) needs your Google Cloud project id, and credentials from GOOGLE_APPLICATION_CREDENTIALS or `gcloud auth application-default login`',
    ]);
    const settings = loadSettings({ ...vertex, GOOGLE_CLOUD_PROJECT: 'my-project' });
    expect(settings.google).toEqual({
      vertexai: true,
      project: 'my-project',
      location: 'us-central1',
    });
    expect(settings.model.vertexai).toBe(true);
  });
});

describe('the LiveKit server', () => {
  it.each([
    ['LIVEKIT_API_KEY and LIVEKIT_API_SECRET', {}],
    ['LIVEKIT_API_KEY', { LIVEKIT_API_SECRET: 'secret' }],
    ['LIVEKIT_API_SECRET', { LIVEKIT_API_KEY: 'key' }],
  ])('names %s when a cloud LIVEKIT_URL lacks them', (missing, keys) => {
    expect(problemsOf({ ...KEY, LIVEKIT_URL: CLOUD_URL, ...keys })).toEqual([
      `${missing} missing for LIVEKIT_URL=${CLOUD_URL}: run \`lk app env -w -d .env.local\` or copy them from your LiveKit Cloud project settings`,
    ]);
  });

  it.each(['ws://localhost:7880', 'http://127.0.0.1:7880/', 'ws://[::1]:7880', 'ws://localhost'])(
    'takes a local LIVEKIT_URL %s without keys (the livekit.yaml pair)',
    (url) => {
      const { livekit } = loadSettings({ ...KEY, LIVEKIT_URL: url });
      expect(livekit.url).toBe(url);
      expect(livekit.apiKey.reveal()).toBe(LOCAL_LIVEKIT.apiKey);
      expect(livekit.apiSecret.reveal()).toBe(LOCAL_LIVEKIT.apiSecret);
    },
  );

  it('does not mistake a host that starts with "localhost" for the local server', () => {
    expect(problemsOf({ ...KEY, LIVEKIT_URL: 'wss://localhost.example.com' })[0]).toMatch(
      /^LIVEKIT_API_KEY and LIVEKIT_API_SECRET missing/,
    );
  });

  it('uses the cloud keys it is given', () => {
    const { livekit } = loadSettings({
      ...KEY,
      LIVEKIT_URL: CLOUD_URL,
      LIVEKIT_API_KEY: 'APIcloud',
      LIVEKIT_API_SECRET: 'cloud-secret',
    });
    expect(livekit).toMatchObject({ url: CLOUD_URL, usingLocalDefaults: false });
    expect([livekit.apiKey.reveal(), livekit.apiSecret.reveal()]).toEqual([
      'APIcloud',
      'cloud-secret',
    ]);
  });
});

describe('names from a fixed list', () => {
  it('match in any letter case and come out in their canonical spelling', () => {
    const settings = loadSettings({
      GOOGLE_API_KEY: 'k',
      GEMINI_MODEL: 'gemini-3.1-flash-live-preview',
      GEMINI_VOICE: 'kore',
      GEMINI_THINKING_LEVEL: 'HIGH',
      GEMINI_MEDIA_RESOLUTION: 'Low',
    });
    expect(settings.call.voice).toBe('Kore');
    expect(settings.call.thinkingLevel).toBe('high');
    expect(settings.call.mediaResolution).toBe('low');
  });
});

describe('an invalid value', () => {
  const voices = VOICES.join(', ');
  // [variable, value as written, the value as the line shows it, allowed]
  // prettier-ignore
  const rows: [string, string, string, string][] = [
    ['GEMINI_VOICE', 'Bob', '"Bob"', voices],
    ['GEMINI_VOICE', 'Korra', '"Korra"', voices],
    ['GEMINI_TEMPERATURE', '2.5', '2.5', 'a number from 0.0 to 2.0'],
    ['GEMINI_TEMPERATURE', 'hot', '"hot"', 'a number from 0.0 to 2.0'],
    ['GEMINI_THINKING_LEVEL', 'extreme', '"extreme"', 'minimal, low, medium, high'],
    ['GEMINI_THINKING_BUDGET', '1.5', '1.5', 'an integer from -1 (dynamic) through 0 (off) to 32768 tokens'],
    ['GEMINI_THINKING_BUDGET', '40000', '40000', 'an integer from -1 (dynamic) through 0 (off) to 32768 tokens'],
    ['GEMINI_AFFECTIVE_DIALOG', 'maybe', '"maybe"', 'true or false (the environment also takes 1/0, yes/no, on/off)'],
    ['GEMINI_PROACTIVE_AUDIO', 'maybe', '"maybe"', 'true or false (the environment also takes 1/0, yes/no, on/off)'],
    ['GEMINI_LANGUAGE', 'english', '"english"', 'a BCP-47 language code such as en-US'],
    ['GEMINI_LANGUAGE', 'en_US', '"en_US"', 'a BCP-47 language code such as en-US'],
    ['CONTEXT_ID', '../x', '"../x"', 'a context file name in the contexts directory (letters, digits, - and _)'],
    ['CONTEXT_ID', 'support.md', '"support.md"', 'a context file name in the contexts directory (letters, digits, - and _)'],
    ['AVATAR_ID', 'a/b', '"a/b"', 'an avatar id (letters, digits, - and _)'],
    ['GEMINI_MODEL', 'Gemini 3.1', '"Gemini 3.1"', 'a Gemini Live model id, see the model table in docs/models.md'],
    ['TURN_DETECTION', 'LiveKitt', '"LiveKitt"', 'gemini, livekit'],
    ['AGENT_DISPATCH', 'auto', '"auto"', 'explicit, automatic'],
    ['GEMINI_TOOL_BEHAVIOR', 'async', '"async"', 'blocking, non_blocking'],
    ['GEMINI_MEDIA_RESOLUTION', 'ultra_high', '"ultra_high"', 'low, medium, high'],
    ['GEMINI_MEDIA_RESOLUTION', 'MEDIA_RESOLUTION_LOW', '"MEDIA_RESOLUTION_LOW"', 'low, medium, high'],
    ['GEMINI_TOOL_RESPONSE_SCHEDULING', 'later', '"later"', 'interrupt, when_idle, silent'],
    ['LIVEKIT_URL', 'localhost:7880', '"localhost:7880"', 'a ws://, wss://, http:// or https:// URL'],
  ];
  // LIVEKIT_URL: keys given, so the only problem is the URL itself.
  const lkKeys = { LIVEKIT_API_KEY: 'key', LIVEKIT_API_SECRET: 'secret' };

  it.each(rows)(
    '%s=%s is one line naming it, the value and what is allowed',
    (name, value, shown, allowed) => {
      expect(problemsOf({ ...KEY, ...lkKeys, [name]: value })).toEqual([
        `${name}: ${shown} is not valid (allowed: ${allowed})`,
      ]);
    },
  );

  it('is cut short in the line when it is huge', () => {
    const [line] = problemsOf({ ...KEY, AGENT_GREETING: 'x'.repeat(2001) });
    expect(line).toBe(
      `AGENT_GREETING: "${'x'.repeat(76)}... is not valid (allowed: an instruction for the first reply, up to 2000 characters ("" for none))`,
    );
  });

  it('is reported together with every other problem', () => {
    const error = (() => {
      try {
        loadSettings({
          GEMINI_VOICE: 'Bob',
          GEMINI_TEMPERATURE: 'hot',
          TURN_DETECTION: 'livekit',
          STT: 'deepgram',
        });
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('accepted');
    })();
    expect(error.problems.map((p) => p.split(':', 1)[0])).toEqual([
      'GEMINI_VOICE',
      'GEMINI_TEMPERATURE',
      'GOOGLE_API_KEY missing',
      'DEEPGRAM_API_KEY missing',
    ]);
    expect(error.message).toBe(error.problems.join('; '));
  });

  it.each([
    ['GEMINI_THINKING_BUDGET', '512', 'takes no thinking configuration'],
    ['GEMINI_THINKING_LEVEL', 'low', 'takes no thinking configuration'],
    ['GEMINI_PROACTIVE_AUDIO', 'false', 'always has proactive audio on'],
  ])('%s=%s on the 3.8 default is refused by the capability table', (name, value, why) => {
    const [line, ...rest] = problemsOf({ ...KEY, [name]: value });
    expect(rest).toEqual([]);
    expect(line).toMatch(new RegExp(`^${name}: GEMINI_MODEL=${DEFAULT_MODEL} ${why}.*; `));
  });

  it('GEMINI_AFFECTIVE_DIALOG=true on the 3.8 default: removed from its API', () => {
    const [line, ...rest] = problemsOf({ ...KEY, GEMINI_AFFECTIVE_DIALOG: 'true' });
    expect(rest).toEqual([]);
    expect(line).toBe(
      `GEMINI_AFFECTIVE_DIALOG: GEMINI_MODEL=${DEFAULT_MODEL}: affective dialog was removed from this model's API; remove the setting`,
    );
  });

  it('picks the Vertex AI row of the same id with GOOGLE_GENAI_USE_VERTEXAI', () => {
    const settings = loadSettings({
      GOOGLE_GENAI_USE_VERTEXAI: 'true',
      GOOGLE_CLOUD_PROJECT: 'p',
    });
    expect(settings.capabilities).toBe(modelCapabilities(DEFAULT_MODEL, 'vertex'));
    expect(settings.capabilities.videoOutput).toBe(true);
  });
});

describe('the model id', () => {
  const NEWER = 'gemini-9.9-flash-live';

  it('must be in the table; the line names GEMINI_MODEL and the known ids', () => {
    const [line, ...rest] = problemsOf({ ...KEY, GEMINI_MODEL: NEWER });
    expect(rest).toEqual([]);
    expect(line).toMatch(
      new RegExp(`^GEMINI_MODEL: model "${NEWER}" is not in the capability table`),
    );
    for (const id of KNOWN_MODEL_IDS) expect(line).toContain(id);
    expect(line).toContain('GEMINI_MODEL_RULES');
  });

  it('runs a newer id with the rules GEMINI_MODEL_RULES names', () => {
    const settings = loadSettings({ ...KEY, GEMINI_MODEL: NEWER, GEMINI_MODEL_RULES: M25 });
    expect(settings.capabilities).toMatchObject({
      id: NEWER,
      thinking: 'budget',
      note: `runs with the rules of ${M25}`,
    });
    expect(settings.modelRules).toBe(M25);
  });

  it('names GEMINI_MODEL_RULES alone when it names no known row', () => {
    const [line] = problemsOf({ ...KEY, GEMINI_MODEL: NEWER, GEMINI_MODEL_RULES: 'gemini-1' });
    expect(line).toMatch(/^GEMINI_MODEL_RULES: "gemini-1" is not a known model \(allowed: /);
  });
});

describe('deployment switches', () => {
  it('AGENT_DISPATCH=automatic means no agent name (every new room)', () => {
    expect(loadSettings({ ...KEY, AGENT_DISPATCH: 'automatic' }).agentName).toBe('');
    expect(
      loadSettings({ ...KEY, AGENT_DISPATCH: 'automatic', LIVEKIT_AGENT_NAME: 'x' }).agentName,
    ).toBe('');
    expect(loadSettings({ ...KEY, LIVEKIT_AGENT_NAME: 'support-bot' }).agentName).toBe(
      'support-bot',
    );
  });

  it('TURN_DETECTION=livekit: STT unset is Deepgram with its key, Gemini without', () => {
    const deepgram = loadSettings({ ...KEY, TURN_DETECTION: 'livekit', DEEPGRAM_API_KEY: 'dg' });
    expect(deepgram.turnDetection).toBe('livekit');
    expect(deepgram.deepgramApiKey?.reveal()).toBe('dg');
    expect(sttProvider(deepgram)).toBe('deepgram');
    // A Google key is all the mode needs: Gemini's live transcription model writes the transcript.
    const gemini = loadSettings({ ...KEY, TURN_DETECTION: 'livekit' });
    expect(sttProvider(gemini)).toBe('gemini');
    expect(describeSettings(gemini)).toMatchObject({ turnDetection: 'livekit', stt: 'gemini' });
    expect(describeSettings(loadSettings(KEY))).not.toHaveProperty('stt');
  });

  it('STT picks the STT; deepgram needs DEEPGRAM_API_KEY, and an STT needs TURN_DETECTION=livekit', () => {
    const both = { ...KEY, TURN_DETECTION: 'livekit', DEEPGRAM_API_KEY: 'dg' };
    expect(sttProvider(loadSettings({ ...both, STT: 'Gemini' }))).toBe('gemini');
    expect(sttProvider(loadSettings({ ...both, STT: 'deepgram' }))).toBe('deepgram');
    expect(problemsOf({ ...KEY, TURN_DETECTION: 'livekit', STT: 'deepgram' })).toEqual([
      "DEEPGRAM_API_KEY missing: STT=deepgram transcribes the user with Deepgram; set the key, or use STT=gemini (Gemini's live transcription model, on the call's Gemini key)",
    ]);
    expect(problemsOf({ ...KEY, STT: 'gemini' })).toEqual([
      'STT: gemini is not used: the user is transcribed by an STT only with TURN_DETECTION=livekit (allowed: leave it out, or set TURN_DETECTION=livekit)',
    ]);
    expect(problemsOf({ ...both, STT: 'whisper' })).toEqual([
      `STT: "whisper" is not valid (allowed: deepgram (needs DEEPGRAM_API_KEY) or gemini (Gemini's live transcription model, on the call's Gemini key))`,
    ]);
  });

  it('GEMINI_INPUT_TRANSCRIPTION and DEEPGRAM_BASE_URL', () => {
    const settings = loadSettings({
      ...KEY,
      TURN_DETECTION: 'livekit',
      GEMINI_INPUT_TRANSCRIPTION: 'yes',
      DEEPGRAM_BASE_URL: 'ws://127.0.0.1:9',
    });
    expect(settings.call.inputTranscription).toBe(true);
    expect(settings.deepgramBaseUrl).toBe('ws://127.0.0.1:9');
    expect(problemsOf({ ...KEY, DEEPGRAM_BASE_URL: 'api.deepgram.com' })).toEqual([
      'DEEPGRAM_BASE_URL: "api.deepgram.com" is not valid (allowed: a ws://, wss://, http:// or https:// URL)',
    ]);
  });

  it("AGENT_GREETING='' means no greeting; unset means the default greeting", () => {
    expect(loadSettings({ ...KEY, AGENT_GREETING: '' }).call.greeting).toBe('');
    expect(loadSettings({ ...KEY, AGENT_GREETING: 'Say hi.' }).call.greeting).toBe('Say hi.');
    expect(loadSettings(KEY).call.greeting).toBe(DEFAULT_GREETING);
  });

  it('parses env flags and numbers into typed call options', () => {
    const { call } = loadSettings({
      ...KEY,
      GEMINI_MODEL: M25,
      GEMINI_TEMPERATURE: '0.7',
      GEMINI_THINKING_BUDGET: '-1',
      GEMINI_AFFECTIVE_DIALOG: 'yes',
      GEMINI_PROACTIVE_AUDIO: 'ON',
      GEMINI_LANGUAGE: 'de-DE',
    });
    expect(call).toMatchObject({
      temperature: 0.7,
      thinkingBudget: -1,
      affectiveDialog: true,
      proactiveAudio: true,
      language: 'de-DE',
    });
  });
});

describe('secrets', () => {
  const CANARIES = {
    GOOGLE_API_KEY: 'CANARY-google-4f9a1c7e',
    LIVEKIT_API_KEY: 'CANARY-lk-key-2b8d',
    LIVEKIT_API_SECRET: 'CANARY-lk-secret-9e3f6a',
    DEEPGRAM_API_KEY: 'CANARY-deepgram-51c0d2',
  };
  const settings = loadSettings({
    ...CANARIES,
    LIVEKIT_URL: CLOUD_URL,
    TURN_DETECTION: 'livekit',
  });
  const secrets = {
    GOOGLE_API_KEY: settings.google.apiKey!,
    LIVEKIT_API_KEY: settings.livekit.apiKey,
    LIVEKIT_API_SECRET: settings.livekit.apiSecret,
    DEEPGRAM_API_KEY: settings.deepgramApiKey!,
  };
  const all = Object.values(secrets);

  it.each([
    ['JSON.stringify', () => JSON.stringify(settings)],
    ['util.inspect', () => inspect(settings, { depth: Infinity, showHidden: true })],
    ['console-style %o', () => format('%o %s', settings, settings)],
    ['describeSettings', () => JSON.stringify(describeSettings(settings))],
    ['String(secret)', () => all.map(String).join()],
    ['a template string', () => all.map((secret) => `${secret}`).join()],
  ])('never show a key value through %s', (_how, show) => {
    const text = show();
    for (const canary of Object.values(CANARIES)) expect(text).not.toContain(canary);
    expect(text).not.toContain('CANARY');
  });

  it('show [redacted] instead, and reveal() returns the value', () => {
    for (const [name, secret] of Object.entries(secrets)) {
      expect(String(secret)).toBe('[redacted]');
      expect(secret.reveal()).toBe(CANARIES[name as keyof typeof CANARIES]);
    }
  });

  it('describeSettings names the call without any credential', () => {
    expect(describeSettings(settings)).toEqual({
      model: DEFAULT_MODEL,
      voice: 'Puck',
      temperature: undefined,
      thinkingLevel: undefined,
      thinkingBudget: undefined,
      contextId: 'default',
      avatar: 'default 512x512@30',
      turnDetection: 'livekit',
      stt: 'deepgram',
      video: 'auto: speaking 1/1000ms, none while silent, <=1024px q75',
      agentName: 'gemini-avatar',
      backend: 'gemini',
      // Where the key came from, never the key.
      geminiKey: 'GOOGLE_API_KEY',
    });
  });

  it('are not echoed in a problem line', () => {
    const lines = problemsOf({ ...CANARIES, LIVEKIT_URL: 'not a url', GEMINI_VOICE: 'Bob' });
    expect(lines.join('\n')).not.toContain('CANARY');
  });
});

describe('loadEnvFiles', () => {
  const VARS = [
    'CFGTEST_ALL',
    'CFGTEST_FILES',
    'CFGTEST_ENV_ONLY',
    'CFGTEST_SHELL_ONLY',
    'CFGTEST_LOCAL_ONLY',
    'CFGTEST_SHELL_EMPTY',
    'CFGTEST_LOCAL_BLANK',
  ];
  let dir: string | undefined;
  afterEach(() => {
    for (const name of VARS) delete process.env[name];
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('the environment wins over .env.local, which wins over .env', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'settings-env-'));
    writeFileSync(
      path.join(dir, '.env'),
      [
        'CFGTEST_ALL=from-env',
        'CFGTEST_FILES=from-env',
        'CFGTEST_ENV_ONLY=from-env',
        'CFGTEST_SHELL_EMPTY=from-env',
        'CFGTEST_LOCAL_BLANK=from-env',
      ].join('\n') + '\n',
    );
    writeFileSync(
      path.join(dir, '.env.local'),
      [
        'CFGTEST_ALL=from-local',
        'CFGTEST_FILES=from-local',
        'CFGTEST_LOCAL_ONLY=from-local',
        // A blank template line hides nothing: .env's value comes through.
        'CFGTEST_LOCAL_BLANK=',
      ].join('\n') + '\n',
    );
    // What the shell (or `lk agent dev`, or Docker) set before the process started.
    Object.assign(process.env, {
      CFGTEST_ALL: 'from-shell',
      CFGTEST_SHELL_ONLY: 'from-shell',
      CFGTEST_SHELL_EMPTY: '',
    });

    expect(loadEnvFiles(dir)).toEqual(['.env.local', '.env']);
    expect(Object.fromEntries(VARS.map((name) => [name, process.env[name]]))).toEqual({
      CFGTEST_ALL: 'from-shell',
      CFGTEST_FILES: 'from-local',
      CFGTEST_ENV_ONLY: 'from-env',
      CFGTEST_SHELL_ONLY: 'from-shell',
      CFGTEST_LOCAL_ONLY: 'from-local',
      // Set in the environment, even empty, is set: `AGENT_GREETING= npm run console`.
      CFGTEST_SHELL_EMPTY: '',
      CFGTEST_LOCAL_BLANK: 'from-env',
    });
  });

  it('reads nothing and changes nothing in a folder without env files', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'settings-env-'));
    const before = { ...process.env };
    expect(loadEnvFiles(dir)).toEqual([]);
    expect(process.env).toEqual(before);
  });
});
