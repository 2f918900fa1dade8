/**
 * The Vertex AI rows (`gemini-live-2.5-flash-native-audio`, `gemini-3.8-live`) end to end,
 * offline: the call's session through our Gemini session and the real @google/genai, talking
 * Vertex to the fake server.
 *
 * How Vertex authenticates offline: the plugin builds its Vertex client from project and location
 * only (it never passes an API key or credentials on Vertex, so express mode is out of reach), so
 * the SDK asks google-auth-library for Application Default Credentials. Those come from the file
 * in GOOGLE_APPLICATION_CREDENTIALS, here a workload identity federation (`external_account`)
 * file whose subject token is a local file and whose `token_url` is the fake's STS endpoint: the
 * library exchanges the subject token there for an access token, and the fake accepts a Vertex
 * connection only with that token as `Authorization: Bearer`. GOOGLE_CLOUD_PROJECT must be in the
 * process environment too (as it is when the worker loads .env files), or the library looks the
 * project up at cloudresourcemanager.googleapis.com.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { voice } from '@livekit/agents';
import { type TestContext, afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { MIC_RATE } from '../src/console/offline_call.ts';
import { DEFAULT_GREETING } from '../src/config/settings.ts';
import { DEFAULT_RECOVERY_POLICY } from '../src/gemini/recovery_policy.ts';
import {
  type Harness,
  type HarnessOptions,
  sent,
  startHarnessFor,
  unscriptedCloses,
} from './support/call_harness.ts';
import {
  FakeGeminiServer,
  type FakeTurn,
  type Json,
  tonePcm16,
} from '../tools/fake_gemini/server.ts';
import { writeWorkloadCredentials } from './support/vertex_adc.ts';

const MODEL = 'gemini-live-2.5-flash-native-audio';
const PROJECT = 'vertex-test-project';
const LOCATION = 'europe-west4';
const ACCESS_TOKEN = 'ya29.fake-vertex-access-token';
const RESOURCE = `projects/${PROJECT}/locations/${LOCATION}/publishers/google/models/${MODEL}`;
const VERTEX_ENV = {
  GOOGLE_GENAI_USE_VERTEXAI: 'true',
  GOOGLE_CLOUD_PROJECT: PROJECT,
  GOOGLE_CLOUD_LOCATION: LOCATION,
  GEMINI_MODEL: MODEL,
};
const SECOND = 24_000;
const WORDS = tonePcm16(300, MIC_RATE);
const soon = (ms = 15_000) => Date.now() + ms;

let sts: FakeGeminiServer;
let dir: string;
let credentials: string;

/** A workload identity federation file whose token service is `tokenUrl`; returns its path. */
function writeCredentials(tokenUrl: string, name: string): string {
  const subjectToken = path.join(dir, 'subject-token');
  writeFileSync(subjectToken, 'an OIDC token from the workload');
  return writeWorkloadCredentials(dir, name, tokenUrl, subjectToken);
}

beforeAll(async () => {
  // One token service for the file; each test's fake accepts the token it issues.
  sts = await FakeGeminiServer.start({ accessToken: ACCESS_TOKEN });
  dir = mkdtempSync(path.join(tmpdir(), 'vertex-adc-'));
  credentials = writeCredentials(sts.tokenUrl, 'credentials.json');
  vi.stubEnv('GOOGLE_APPLICATION_CREDENTIALS', credentials);
  vi.stubEnv('GOOGLE_CLOUD_PROJECT', PROJECT);
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await sts?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.concurrent(`a call on the Vertex AI row (${MODEL})`, () => {
  const start = (ctx: TestContext, options: HarnessOptions = {}) =>
    startHarnessFor(ctx, {
      ...options,
      env: { ...VERTEX_ENV, ...options.env },
      fake: { accessToken: ACCESS_TOKEN, ...options.fake },
    });

  const assistantTexts = (call: Harness['call']) =>
    call.events
      .ofType('message')
      .filter((e) => e.role === 'assistant')
      .map((e) => e.text);

  it('greets, then answers a spoken turn, on the Vertex endpoint with an ADC token', async (ctx) => {
    const { call, fake, played } = await start(ctx);
    await call.call.greet();
    const since = call.events.events.length;
    await call.say(WORDS);
    expect(await call.untilAnswered({ deadline: soon(), since, settleMs: 800 })).toBe(true);

    const [conn] = fake.connections;
    expect(fake.connections).toHaveLength(1);
    expect(conn).toMatchObject({ backend: 'vertex', apiVersion: 'v1beta1' });
    expect(conn!.path).toMatch(/google\.cloud\.aiplatform\.v1beta1\.LlmBidiService/);
    expect(conn!.path).not.toMatch(/[?&](key|access_token)=/);
    expect(conn!.setup.model).toBe(RESOURCE);
    // The 2.5 text route: the greeting went as client content (the plugin's model-role
    // instructions, then its '.' turn asking for the reply).
    const history = conn!.history.flatMap((t: Json) => t.parts.map((p: Json) => p.text));
    expect(history).toEqual([DEFAULT_GREETING, '.']);
    const turns = conn!.turns.map((t: FakeTurn) => [t.source, t.text]);
    expect(turns).toEqual([
      ['client_content', '.'],
      ['audio', 'hello'],
    ]);
    expect(assistantTexts(call)).toEqual(['You said: ..', 'You said: hello.']);
    expect(played).toHaveLength(2);
    expect(played.every((p) => p.samples > 0.4 * SECOND && !p.interrupted)).toBe(true);
    expect(call.call.session.agentState).toBe('listening');
    expect(unscriptedCloses(fake)).toEqual([]);
  });

  it('runs a function tool: the response goes back without an id, matched by name', async (ctx) => {
    const { call, fake } = await start(ctx, {
      env: { AGENT_GREETING: '' },
      fake: {
        respond: (turn) =>
          turn.source === 'tool_response'
            ? { text: 'It is noon in Paris.' }
            : { toolCall: { name: 'get_current_time', args: { timeZone: 'Europe/Paris' } } },
      },
    });
    await call.say(WORDS);
    expect(await call.untilAnswered({ deadline: soon(), settleMs: 800 })).toBe(true);

    expect(call.events.ofType('tool_call')).toMatchObject([
      { name: 'get_current_time', arguments: { timeZone: 'Europe/Paris' }, is_error: false },
    ]);
    const responses = (sent(fake, 'toolResponse') as { functionResponses: Json[] }[]).flatMap(
      (r) => r.functionResponses,
    );
    expect(responses).toHaveLength(1);
    expect(responses[0]).toMatchObject({ name: 'get_current_time' });
    // Vertex takes no id, no scheduling and no NON_BLOCKING acks on function responses.
    expect(Object.keys(responses[0]).sort()).toEqual(['name', 'response']);
    expect(fake.connections[0]!.turns.at(-1)).toMatchObject({
      source: 'tool_response',
      toolResponse: { name: 'get_current_time' },
    });
    expect(assistantTexts(call).at(-1)).toBe('It is noon in Paris.');
    expect(unscriptedCloses(fake)).toEqual([]);
  });

  it('survives an internal error (1011) mid-reply: resumes with its handle, answers the next turn', async (ctx) => {
    let spoken = 0;
    const { call, fake, played } = await start(ctx, {
      env: { AGENT_GREETING: '' },
      fake: {
        transcribe: () => `words ${++spoken}`,
        respond: (turn) => ({ text: `reply to ${turn.text}`, audioMs: 400 }),
        faults: [{ at: 'reply', nth: 1, afterChunks: 3, do: { type: 'close', code: 1011 } }],
      },
    });
    let closed = false;
    call.call.session.on(voice.AgentSessionEventTypes.Close, () => {
      closed = true;
    });
    const turn = async () => {
      const since = call.events.events.length;
      await call.say(WORDS);
      return call.untilAnswered({ deadline: soon(), since, settleMs: 300 });
    };
    expect(await turn()).toBe(true);
    await call.say(WORDS); // its reply is cut by the fault
    await fake.waitFor((f) => f.connections[1]?.setup !== undefined, 5000, 'reconnect');
    await call.untilAnswered({ deadline: soon(), replies: 0, settleMs: 300 });
    expect(await turn()).toBe(true);

    expect(closed).toBe(false);
    expect(call.events.ofType('error').filter((e) => e.recoverable === false)).toEqual([]);
    expect(fake.connections).toHaveLength(2);
    expect(fake.connections[0]!.closeCode).toBe(1011);
    const [first, second] = fake.connections;
    expect(second).toMatchObject({ backend: 'vertex', resumedFrom: 'handle-0-1' });
    expect(second!.setup.sessionResumption).toEqual({ handle: 'handle-0-1' });
    expect(second!.setup.model).toBe(first!.setup.model);
    // Resumed after the first turn: only the cut turn is given back, as client content.
    const seeded = second!.history.flatMap((t: Json) => t.parts.map((p: Json) => p.text));
    expect(seeded).toContain('words 2');
    expect(seeded).not.toContain('words 1');
    expect(assistantTexts(call).at(-1)).toBe('reply to words 3');
    expect(played[1]!.samples).toBeLessThan(0.4 * SECOND);
    expect(call.call.model.recoveries.at(-1)!.stats.reconnects).toMatchObject([
      { cause: 'close 1011', resumed: true },
    ]);
    expect(call.call.session.agentState).toBe('listening');
  });

  it('a close (1011) during a tool call: the id-less result reaches the new connection as text', async (ctx) => {
    const { call, fake } = await start(ctx, {
      env: { AGENT_GREETING: '' },
      fake: {
        respond: (turn) =>
          /tool returned/.test(turn.text)
            ? { text: 'It is noon.', audioMs: 400 }
            : { toolCall: { name: 'get_current_time', args: { timeZone: 'UTC' } } },
        faults: [{ at: 'tool_call', do: { type: 'close', code: 1011 } }],
      },
    });
    await call.say(WORDS);
    expect(await call.untilAnswered({ deadline: soon(), settleMs: 300 })).toBe(true);

    expect(call.events.ofType('tool_call').map((e) => e.name)).toEqual(['get_current_time']);
    expect(fake.connections).toHaveLength(2);
    // No turn had completed, so no handle yet: a fresh session, seeded with the conversation.
    expect(fake.connections[1]!.resumedFrom).toBeUndefined();
    // The response has no id on Vertex: the recovery knows its call through the plugin's map.
    expect(fake.received.filter((r) => r.conn === 1 && 'toolResponse' in r.msg)).toEqual([]);
    expect(fake.connections[1]!.turns[0]).toMatchObject({ source: 'client_content' });
    expect(fake.connections[1]!.turns[0]!.text).toMatch(/get_current_time tool returned/);
    expect(assistantTexts(call).at(-1)).toBe('It is noon.');
    expect(call.call.model.recoveries.at(-1)!.stats.toolResultsAsText).toBe(1);
  });

  it('sends in its setup what the Vertex row allows, and nothing it forbids', async (ctx) => {
    const { fake } = await start(ctx, {
      env: {
        AGENT_GREETING: '',
        GEMINI_THINKING_BUDGET: '512',
        GEMINI_AFFECTIVE_DIALOG: 'true',
        GEMINI_PROACTIVE_AUDIO: 'true',
        GEMINI_VOICE: 'Kore',
        GEMINI_TEMPERATURE: '0.4',
      },
    });
    await fake.waitFor((f) => f.sent.some((e) => 'setupComplete' in e.msg), 5000, 'setup');
    const [conn] = fake.connections;
    const { setup } = conn!;

    // Affective dialog and proactivity stay on Vertex's v1beta1 (the plugin would pick v1alpha,
    // which exists only on the Gemini API).
    expect(conn!.apiVersion).toBe('v1beta1');
    expect(setup.model).toBe(RESOURCE);
    expect(setup.generationConfig.thinkingConfig).toEqual({ thinkingBudget: 512 });
    expect(setup.generationConfig.enableAffectiveDialog).toBe(true);
    expect(setup.proactivity).toEqual({ proactiveAudio: true });
    expect(setup.generationConfig.temperature).toBe(0.4);
    expect(setup.generationConfig.speechConfig.voiceConfig.prebuiltVoiceConfig.voiceName).toBe(
      'Kore',
    );
    // Forbidden by the row: thinking levels (3.x), the 3.x history declaration, asynchronous
    // (NON_BLOCKING) functions.
    expect(setup.generationConfig.thinkingConfig.thinkingLevel).toBeUndefined();
    expect(setup.historyConfig).toBeUndefined();
    const declarations = (setup.tools ?? []).flatMap((t: Json) => t.functionDeclarations ?? []);
    expect(declarations.map((d: Json) => d.name)).toContain('get_current_time');
    expect(declarations.filter((d: Json) => d.behavior !== undefined)).toEqual([]);
    expect(conn!.closedBy).not.toBe('server');
  });

  // Alone: it points the process's ADC file at a token service that refuses.
  it.sequential(
    'credentials the token service refuses: bounded retries, then one error ends the call',
    async (ctx) => {
      // An STS without an access token to give refuses every exchange (400 invalid_grant), as for
      // an expired workload token: no socket ever opens, so only the connect promise says so.
      const refusing = await FakeGeminiServer.start({});
      vi.stubEnv(
        'GOOGLE_APPLICATION_CREDENTIALS',
        writeCredentials(refusing.tokenUrl, 'refused.json'),
      );
      try {
        const { call, fake } = await start(ctx, { env: { AGENT_GREETING: '' } });
        let closed = false;
        call.call.session.on(voice.AgentSessionEventTypes.Close, () => {
          closed = true;
        });
        await fake.waitFor(() => closed, 20_000, 'the call to end');

        const errors = call.events.ofType('error').filter((e) => e.recoverable === false);
        expect(errors).toHaveLength(1);
        expect(errors[0]!.message).toMatch(/could not connect to Gemini Live after \d+ attempts/);
        expect(errors[0]!.message).toMatch(/invalid_grant/);
        expect(fake.connections).toHaveLength(0);
        const exchanges = refusing.subjectTokens.length;
        expect(exchanges).toBeGreaterThan(1);
        expect(exchanges).toBeLessThanOrEqual(DEFAULT_RECOVERY_POLICY.connectAttempts);
      } finally {
        vi.stubEnv('GOOGLE_APPLICATION_CREDENTIALS', credentials);
        await refusing.close();
      }
    },
  );

  it('the fake refuses a Vertex connection without the token', async () => {
    const fake = await FakeGeminiServer.start({ accessToken: ACCESS_TOKEN });
    try {
      const url = `${fake.baseUrl.replace('http', 'ws')}/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent`;
      const ws = new WebSocket(url, { headers: { Authorization: 'Bearer not-the-token' } });
      const code = await new Promise<number>((resolve, reject) => {
        ws.on('open', () => ws.send(JSON.stringify({ setup: { model: RESOURCE } })));
        ws.on('close', (c) => resolve(c));
        ws.on('error', reject);
      });
      expect(code).toBe(1008);
    } finally {
      await fake.close();
    }
  });
});

const M38 = 'gemini-3.8-live';
const RESOURCE_38 = `projects/${PROJECT}/locations/${LOCATION}/publishers/google/models/${M38}`;

describe.concurrent(`a call on the Vertex AI row of ${M38}`, () => {
  const start = (ctx: TestContext, options: HarnessOptions = {}) =>
    startHarnessFor(ctx, {
      ...options,
      env: { ...VERTEX_ENV, GEMINI_MODEL: M38, ...options.env },
      fake: { accessToken: ACCESS_TOKEN, ...options.fake },
    });
  const assistantTexts = (call: Harness['call']) =>
    call.events
      .ofType('message')
      .filter((e) => e.role === 'assistant')
      .map((e) => e.text);

  it('greets with realtime text (no client content mid-session on Vertex), then answers', async (ctx) => {
    const { call, fake } = await start(ctx);
    await call.call.greet();
    const since = call.events.events.length;
    await call.say(WORDS);
    expect(await call.untilAnswered({ deadline: soon(), since, settleMs: 800 })).toBe(true);

    const [conn] = fake.connections;
    expect(fake.connections).toHaveLength(1);
    expect(conn!.setup.model).toBe(RESOURCE_38);
    expect(sent(fake, 'clientContent')).toEqual([]);
    expect(conn!.turns.map((t: FakeTurn) => [t.source, t.text])).toEqual([
      ['realtime_text', DEFAULT_GREETING],
      ['audio', 'hello'],
    ]);
    expect(assistantTexts(call)).toEqual([`You said: ${DEFAULT_GREETING}.`, 'You said: hello.']);
    expect(unscriptedCloses(fake)).toEqual([]);
  });

  it('a function round trip: the response carries its call id, as Vertex 3.8 requires', async (ctx) => {
    const { call, fake } = await start(ctx, {
      env: { AGENT_GREETING: '' },
      fake: {
        respond: (turn) =>
          turn.source === 'tool_response'
            ? { text: 'It is noon in Paris.' }
            : { toolCall: { name: 'get_current_time', args: { timeZone: 'Europe/Paris' } } },
      },
    });
    await call.say(WORDS);
    expect(await call.untilAnswered({ deadline: soon(), settleMs: 800 })).toBe(true);

    const responses = (sent(fake, 'toolResponse') as { functionResponses: Json[] }[]).flatMap(
      (r) => r.functionResponses,
    );
    expect(responses).toHaveLength(1);
    expect(responses[0]).toMatchObject({ id: 'call-1', name: 'get_current_time' });
    expect(Object.keys(responses[0]).sort()).toEqual(['id', 'name', 'response']);
    expect(assistantTexts(call).at(-1)).toBe('It is noon in Paris.');
    expect(unscriptedCloses(fake)).toEqual([]);
  });

  it('survives a 1011 mid-reply: resumes with its handle, restores no content, answers', async (ctx) => {
    let spoken = 0;
    const { call, fake } = await start(ctx, {
      env: { AGENT_GREETING: '' },
      fake: {
        transcribe: () => `words ${++spoken}`,
        respond: (turn) => ({ text: `reply to ${turn.text}`, audioMs: 400 }),
        faults: [{ at: 'reply', nth: 1, afterChunks: 3, do: { type: 'close', code: 1011 } }],
      },
    });
    const turn = async () => {
      const since = call.events.events.length;
      await call.say(WORDS);
      return call.untilAnswered({ deadline: soon(), since, settleMs: 300 });
    };
    expect(await turn()).toBe(true);
    await call.say(WORDS);
    await fake.waitFor((f) => f.connections[1]?.setup !== undefined, 5000, 'reconnect');
    await call.untilAnswered({ deadline: soon(), replies: 0, settleMs: 300 });
    expect(await turn()).toBe(true);

    const [, second] = fake.connections;
    expect(second).toMatchObject({ backend: 'vertex', resumedFrom: 'handle-0-1' });
    expect(second!.history).toEqual([]);
    expect(assistantTexts(call).at(-1)).toBe('reply to words 3');
    expect(call.events.ofType('error').filter((e) => e.recoverable === false)).toEqual([]);
    expect(unscriptedCloses(fake)).toEqual([]);
  });

  it('its setup: no thinking, affective or proactivity field, functions at their default, search beside them', async (ctx) => {
    const { fake } = await start(ctx, {
      env: { AGENT_GREETING: '', GEMINI_PROACTIVE_AUDIO: 'true', GEMINI_GOOGLE_SEARCH: 'true' },
    });
    await fake.waitFor((f) => f.sent.some((e) => 'setupComplete' in e.msg), 5000, 'setup');
    const { setup } = fake.connections[0]!;
    expect(setup.generationConfig.thinkingConfig).toBeUndefined();
    expect(setup.generationConfig.enableAffectiveDialog).toBeUndefined();
    expect(setup.proactivity).toBeUndefined();
    const declarations = (setup.tools ?? []).flatMap((t: Json) => t.functionDeclarations ?? []);
    expect(declarations.length).toBeGreaterThan(0);
    expect(declarations.filter((d: Json) => d.behavior !== undefined)).toEqual([]);
    expect(setup.tools).toContainEqual({ googleSearch: {} });
    expect(fake.connections[0]!.closedBy).not.toBe('server');
  });
});
