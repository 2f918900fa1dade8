import {
  ActivityHandling,
  Behavior,
  EndSensitivity,
  GoogleGenAI,
  MediaResolution,
  StartSensitivity,
  TurnCoverage,
} from '@google/genai';
import type { LiveConnectConfig, LiveServerMessage, Session } from '@google/genai';
import { initializeLogger, llm } from '@livekit/agents';
import * as google from '@livekit/agents-plugin-google';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { z } from 'zod';
import {
  FakeGeminiServer,
  INVALID_ARGUMENT,
  OUTPUT_SAMPLE_RATE,
  messageKind,
  replyPcm16,
  silencePcm16,
  tonePcm16,
} from '../tools/fake_gemini/server.ts';
import type { FakeGeminiOptions, FakeTurn, Json } from '../tools/fake_gemini/server.ts';
import { GeminiLiveClient, type SocketWatch } from '../src/gemini/live_transport.ts';
import { unscriptedCloses } from '../tools/fake_gemini/closes.ts';
import { modelCapabilities } from '../src/config/models.ts';
import { liveConnectConfig } from '../src/gemini/setup_config.ts';

/** The transport's watch, for tests that only want its setup extras. */
const quietWatch: SocketWatch = {
  created: () => undefined,
  malformedFrame: () => undefined,
  errored: () => undefined,
  closed: () => undefined,
};

const M25 = 'gemini-2.5-flash-native-audio-preview-12-2025';
const M31 = 'gemini-3.1-flash-live-preview';
const TRANSCRIBED: LiveConnectConfig = {
  inputAudioTranscription: {},
  outputAudioTranscription: {},
};

let fake: FakeGeminiServer;
afterEach(async () => {
  await fake?.close();
});

async function startFake(options: FakeGeminiOptions = {}): Promise<FakeGeminiServer> {
  fake = await FakeGeminiServer.start({ paceFactor: Infinity, ...options });
  return fake;
}

interface ClientOptions {
  apiVersion?: string;
  apiKey?: string;
  /** Extra raw setup fields the SDK cannot send (it drops historyConfig). */
  setupExtra?: Record<string, unknown>;
}
/** A real @google/genai live client pointed at the fake; collects messages and the close event. */
function openClient(model: string, config: LiveConnectConfig = {}, opts: ClientOptions = {}) {
  const ai = new GoogleGenAI({
    apiKey: opts.apiKey ?? 'test-key',
    httpOptions: { baseUrl: fake.baseUrl, ...(opts.apiVersion && { apiVersion: opts.apiVersion }) },
  });
  const messages: LiveServerMessage[] = [];
  let closeEvent: { code: number; reason: string } | undefined;
  const onClose = (e: { code: number; reason: string }): void => void (closeEvent = e);
  // Setup fields the SDK drops go through our own transport (src/gemini/live_transport.ts),
  // whose sockets report their close to a watch rather than to the SDK's callbacks.
  const live = opts.setupExtra
    ? new GeminiLiveClient({
        apiKey: opts.apiKey ?? 'test-key',
        httpOptions: { baseUrl: fake.baseUrl },
      }).liveWith({ ...quietWatch, closed: onClose }, opts.setupExtra)
    : ai.live;
  const closed = fake
    .waitFor(() => closeEvent !== undefined, 3000, 'client sees the socket close')
    .then(() => closeEvent as { code: number; reason: string });
  closed.catch(() => undefined); // tests that never await it must not see an unhandled rejection
  // Note: the SDK's connect() never settles if the server closes before setupComplete.
  const session = live.connect({
    model,
    config,
    callbacks: { onmessage: (m) => messages.push(m), onclose: (e) => onClose(e) },
  });
  const until = (pred: (m: LiveServerMessage) => boolean, what: string) =>
    fake.waitFor(() => messages.some(pred), 3000, what);
  return { session, messages, closed, until };
}

async function expectClose(model: string, config: LiveConnectConfig, opts: ClientOptions = {}) {
  const client = openClient(model, config, opts);
  const { code, reason } = await client.closed;
  return { code, reason, setupCompleted: fake.sent.some((e) => 'setupComplete' in e.msg) };
}

/** 16 kHz s16le chunks of 50 ms, as the plugin sends them. */
function* chunks50ms(pcm: Int16Array): Generator<string> {
  for (let i = 0; i < pcm.length; i += 800) {
    const part = pcm.subarray(i, i + 800);
    yield Buffer.from(part.buffer, part.byteOffset, part.byteLength).toString('base64');
  }
}

function sendPcm(session: Session, pcm: Int16Array, mimeType = 'audio/pcm'): void {
  for (const data of chunks50ms(pcm)) session.sendRealtimeInput({ audio: { data, mimeType } });
}

const audioParts = (ms: LiveServerMessage[]) => ms.filter((m) => m.serverContent?.modelTurn);
const audioBytes = (ms: LiveServerMessage[]) =>
  audioParts(ms).reduce((n, m) => n + Buffer.from(m.data ?? '', 'base64').length, 0);
const transcript = (ms: LiveServerMessage[]) =>
  ms.map((m) => m.serverContent?.outputTranscription?.text ?? '').join('');

describe('FakeGeminiServer via @google/genai', () => {
  it('completes setup and answers a realtime text turn with audio, transcript and usage', async () => {
    await startFake({ respond: (t) => ({ text: `Echo ${t.text}`, audioMs: 200 }) });
    const c = openClient(M31, { ...TRANSCRIBED, sessionResumption: {} });
    const session = await c.session;
    expect(fake.connections[0]?.path).toBe(
      '//ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent?key=test-key',
    );
    expect(fake.connections[0]?.model).toBe(M31);
    session.sendRealtimeInput({ text: 'ping pong' });
    await c.until((m) => !!m.sessionResumptionUpdate, 'resumption update');
    expect(fake.connections[0]?.turns.map((t) => [t.source, t.text])).toEqual([
      ['realtime_text', 'ping pong'],
    ]);
    expect(transcript(c.messages)).toBe('Echo ping pong');
    expect(audioBytes(c.messages)).toBe(200 * 24 * 2);
    const first = Buffer.from(audioParts(c.messages)[0]?.data ?? '', 'base64');
    expect(first.equals(Buffer.from(replyPcm16(0, 40 * 24).buffer))).toBe(true);
    const kinds = fake.sent.map((e) => messageKind(e.msg));
    expect(kinds[0]).toBe('setupComplete');
    expect(kinds.slice(-3)).toEqual([
      'serverContent.generationComplete',
      'serverContent.turnComplete',
      'sessionResumptionUpdate.newHandle',
    ]);
    const done = c.messages.find((m) => m.serverContent?.turnComplete);
    expect(done?.usageMetadata).toEqual({
      promptTokenCount: 3,
      responseTokenCount: 5,
      totalTokenCount: 8,
      promptTokensDetails: [{ modality: 'TEXT', tokenCount: 3 }],
      responseTokensDetails: [{ modality: 'AUDIO', tokenCount: 5 }],
    });
    expect(c.messages.at(-1)?.sessionResumptionUpdate).toEqual({
      newHandle: 'handle-0-1',
      resumable: true,
    });
    session.close();
  });

  const nonBlockingTool = {
    tools: [{ functionDeclarations: [{ name: 'lookup', behavior: Behavior.NON_BLOCKING }] }],
  };
  it.each([
    ['thinkingBudget', { thinkingConfig: { thinkingBudget: 0 } }, undefined],
    ['affective dialog', { enableAffectiveDialog: true }, 'v1alpha'],
    ['proactivity', { proactivity: { proactiveAudio: true } }, 'v1alpha'],
    ['a NON_BLOCKING tool', nonBlockingTool, undefined],
  ] as const)('3.1 closes with 1007 on %s, 2.5 accepts it', async (_name, config, apiVersion) => {
    await startFake();
    const rejected = await expectClose(M31, config as LiveConnectConfig, { apiVersion });
    expect(rejected).toMatchObject({ code: 1007, setupCompleted: false });
    const ok = openClient(M25, config as LiveConnectConfig, { apiVersion });
    await ok.session;
    expect(fake.connections[1]?.closedBy).toBeUndefined();
  });

  it('2.5 on v1beta treats affective dialog and proactivity as unknown fields (1007)', async () => {
    await startFake();
    const a = await expectClose(M25, { enableAffectiveDialog: true });
    expect(a.code).toBe(1007);
    expect(a.reason).toContain('Unknown name "enableAffectiveDialog"');
    const p = await expectClose(M25, { proactivity: { proactiveAudio: true } });
    expect(p.reason).toContain('Unknown name "proactivity"');
  });

  it('validates thinking config per model', async () => {
    await startFake();
    expect(
      (await expectClose(M25, { thinkingConfig: { thinkingLevel: 'LOW' } as never })).code,
    ).toBe(1007);
    expect(
      (await expectClose(M31, { thinkingConfig: { thinkingLevel: 'ULTRA' } as never })).code,
    ).toBe(1007);
    await openClient(M31, { thinkingConfig: { thinkingLevel: 'MINIMAL' } as never }).session;
    await openClient(M25, { thinkingConfig: { thinkingBudget: 1024, includeThoughts: true } })
      .session;
    expect(fake.connections.map((c) => c.closedBy)).toEqual([
      'server',
      'server',
      undefined,
      undefined,
    ]);
  });

  it('3.1 rejects clientContent mid-session without historyConfig; 2.5 answers it', async () => {
    await startFake();
    const c31 = openClient(M31);
    (await c31.session).sendClientContent({
      turns: [{ role: 'user', parts: [{ text: 'hi' }] }],
      turnComplete: false,
    });
    expect(await c31.closed).toEqual(
      expect.objectContaining({ code: 1007, reason: INVALID_ARGUMENT }),
    );
    const c25 = openClient(M25);
    (await c25.session).sendClientContent({
      turns: [
        { role: 'model', parts: [{ text: 'Say hi' }] },
        { role: 'user', parts: [{ text: '.' }] },
      ],
    });
    await c25.until((m) => !!m.serverContent?.turnComplete, 'turnComplete');
    expect(fake.connections[1]?.turns.map((t) => [t.source, t.text])).toEqual([
      ['client_content', '.'],
    ]);
  });

  it('3.1 takes declared initial history until turnComplete, without a reply, then realtime input', async () => {
    await startFake({ respond: () => ({ text: 'ok', audioMs: 80 }) });
    const setupExtra = { historyConfig: { initialHistoryInClientContent: true } };
    const c = openClient(M31, {}, { setupExtra });
    const session = await c.session;
    expect(fake.connections[0]?.setup.historyConfig).toEqual({
      initialHistoryInClientContent: true,
    });
    session.sendClientContent({
      turns: [{ role: 'user', parts: [{ text: 'earlier' }] }],
      turnComplete: false,
    });
    session.sendClientContent({
      turns: [{ role: 'model', parts: [{ text: 'an earlier answer' }] }],
      turnComplete: true,
    });
    session.sendRealtimeInput({ text: 'now' });
    await c.until((m) => !!m.serverContent?.turnComplete, 'first reply');
    // The history asked for no reply: the only turn the model answered is the realtime one.
    expect(fake.connections[0]?.turns.map((t) => [t.source, t.text])).toEqual([
      ['realtime_text', 'now'],
    ]);
    session.sendClientContent({
      turns: [{ role: 'user', parts: [{ text: 'late' }] }],
      turnComplete: false,
    });
    expect(await c.closed).toMatchObject({ code: 1007, reason: INVALID_ARGUMENT });
    expect(fake.connections[0]?.history).toHaveLength(2); // only accepted history is kept
  });

  it('declared initial history: realtime input before its turnComplete is refused (1007)', async () => {
    await startFake();
    const setupExtra = { historyConfig: { initialHistoryInClientContent: true } };
    const c = openClient(M31, {}, { setupExtra });
    const session = await c.session;
    session.sendClientContent({
      turns: [{ role: 'user', parts: [{ text: 'earlier' }] }],
      turnComplete: false,
    });
    session.sendRealtimeInput({ text: 'too soon' });
    expect((await c.closed).code).toBe(1007);
    expect(fake.connections[0]?.turns).toEqual([]);
  });

  it('closes with 1011 when respond() throws', async () => {
    await startFake({
      respond: () => {
        throw new Error('boom');
      },
    });
    const c = openClient(M25);
    (await c.session).sendRealtimeInput({ text: 'hi' });
    expect((await c.closed).code).toBe(1011);
    expect(String(fake.errors[0])).toContain('boom');
  });

  it('closes with 1008 for an unknown model and for a wrong API key', async () => {
    await startFake({ apiKey: 'right' });
    const bad = await expectClose('gemini-9-imaginary', {}, { apiKey: 'right' });
    expect(bad.code).toBe(1008);
    expect(bad.reason).toBe(
      'models/gemini-9-imaginary is not found for API version v1beta, or is not supported for bidiGenerateContent.',
    );
    const key = await expectClose(M25, {}, { apiKey: 'wrong' });
    expect(key).toMatchObject({ code: 1008, reason: expect.stringContaining('API key not valid') });
  });

  it('answers a client close without status code with 1000', async () => {
    await startFake();
    const c = openClient(M25);
    (await c.session).close();
    expect((await c.closed).code).toBe(1000);
    await fake.waitFor((f) => f.connections[0]?.closedBy === 'client', 2000, 'client close');
    expect(fake.connections[0]?.closeCode).toBe(1005);
  });

  it('rejects malformed JSON and unknown message fields with 1007', async () => {
    await startFake();
    const c1 = openClient(M25);
    (await c1.session).conn.send('{not json');
    expect((await c1.closed).code).toBe(1007);
    const c2 = openClient(M25);
    (await c2.session).conn.send(JSON.stringify({ bogus: {} }));
    expect(await c2.closed).toMatchObject({
      code: 1007,
      reason: expect.stringContaining('"bogus"'),
    });
  });

  it('detects a spoken turn by energy, transcribes it and replies', async () => {
    await startFake({ transcribe: ({ turnIndex, speechMs }) => `turn ${turnIndex} ${speechMs}ms` });
    const c = openClient(M25, TRANSCRIBED);
    const session = await c.session;
    sendPcm(session, new Int16Array([...tonePcm16(400), ...silencePcm16(400)]));
    await fake.waitFor((f) => f.received.length >= 17, 2000, 'audio received');
    expect(fake.connections[0]?.turns).toHaveLength(0); // 400 ms of silence is not an end of turn yet
    sendPcm(session, silencePcm16(200), 'audio/pcm;rate=16000');
    await c.until((m) => !!m.serverContent?.turnComplete, 'reply');
    const heard = c.messages.find((m) => m.serverContent?.inputTranscription);
    expect(heard?.serverContent?.inputTranscription?.text).toBe('turn 0 400ms');
    expect(transcript(c.messages)).toBe('You said: turn 0 400ms.');
    expect(audioBytes(c.messages)).toBeGreaterThan(0);
    const usage = c.messages.find((m) => m.usageMetadata)?.usageMetadata;
    expect(usage?.promptTokensDetails).toEqual([{ modality: 'AUDIO', tokenCount: 10 }]);
  });

  it('uses activityStart/activityEnd when automatic activity detection is disabled', async () => {
    await startFake();
    const c = openClient(M25, {
      ...TRANSCRIBED,
      realtimeInputConfig: { automaticActivityDetection: { disabled: true } },
    });
    const session = await c.session;
    sendPcm(session, new Int16Array([...tonePcm16(300), ...silencePcm16(800)])); // ignored: no activity
    session.sendRealtimeInput({ activityStart: {} });
    sendPcm(session, silencePcm16(250)); // the client decides; energy does not matter
    session.sendRealtimeInput({ activityEnd: {} });
    await c.until((m) => !!m.serverContent?.turnComplete, 'reply');
    expect(fake.connections[0]?.turns.map((t) => [t.source, t.speechMs])).toEqual([['audio', 250]]);
  });

  it('round-trips a tool call', async () => {
    const turns: FakeTurn[] = [];
    await startFake({
      respond: (t) => {
        turns.push(t);
        return t.source === 'tool_response'
          ? {
              text: `It is ${(t.toolResponse?.response as { output: string }).output}.`,
              audioMs: 80,
            }
          : { toolCall: { name: 'get_weather', args: { city: 'Oslo' } } };
      },
    });
    const c = openClient(M25, {
      ...TRANSCRIBED,
      tools: [{ functionDeclarations: [{ name: 'get_weather' }] }],
    });
    const session = await c.session;
    session.sendRealtimeInput({ text: 'weather?' });
    await c.until((m) => !!m.toolCall, 'toolCall');
    const call = c.messages.find((m) => m.toolCall)?.toolCall?.functionCalls?.[0];
    expect(call).toEqual({ id: 'call-1', name: 'get_weather', args: { city: 'Oslo' } });
    expect(c.messages.some((m) => m.serverContent?.turnComplete)).toBe(false);
    session.sendToolResponse({
      functionResponses: [{ id: 'call-1', name: 'get_weather', response: { output: 'sunny' } }],
    });
    await c.until((m) => !!m.serverContent?.turnComplete, 'reply after tool');
    expect(turns[1]).toMatchObject({
      source: 'tool_response',
      text: 'weather?',
      toolResponse: { id: 'call-1', name: 'get_weather', response: { output: 'sunny' } },
    });
    expect(transcript(c.messages)).toBe('It is sunny.');
  });

  it('3.1 rejects scheduling in a function response', async () => {
    await startFake({ respond: () => ({ toolCall: { name: 'f', args: {} } }) });
    const c = openClient(M31, { tools: [{ functionDeclarations: [{ name: 'f' }] }] });
    const session = await c.session;
    session.sendRealtimeInput({ text: 'go' });
    await c.until((m) => !!m.toolCall, 'toolCall');
    session.sendToolResponse({
      functionResponses: [{ id: 'call-1', name: 'f', response: {}, scheduling: 'SILENT' as never }],
    });
    expect((await c.closed).code).toBe(1007);
  });

  it('stops the reply and sends interrupted when the user barges in', async () => {
    await startFake({
      paceFactor: 4,
      respond: (t) => ({ text: `reply ${t.text}`, audioMs: t.text === 'long' ? 4000 : 100 }),
    });
    const c = openClient(M25, TRANSCRIBED);
    const session = await c.session;
    session.sendRealtimeInput({ text: 'long' });
    await c.until((m) => audioParts([m]).length > 0, 'first audio');
    sendPcm(session, tonePcm16(200)); // speech start (>= 100 ms voiced) interrupts
    await c.until((m) => !!m.serverContent?.interrupted, 'interrupted');
    const cut = c.messages.findIndex((m) => m.serverContent?.interrupted);
    expect(audioBytes(c.messages.slice(0, cut))).toBeLessThan(4000 * 48);
    expect(c.messages[cut + 1]?.serverContent?.turnComplete).toBe(true);
    sendPcm(session, silencePcm16(600));
    await fake.waitFor((f) => f.connections[0]?.turns.length === 2, 2000, 'second turn');
    await fake.waitFor(
      () => c.messages.filter((m) => m.serverContent?.turnComplete).length === 2,
      2000,
      'reply 2',
    );
    // Nothing of the first reply leaks after the interruption.
    expect(transcript(c.messages.slice(cut))).toBe('reply hello');
    expect(audioBytes(c.messages.slice(cut))).toBe(100 * 48);
  });

  it('rejects unknown paths with 404 and a non-setup first frame with 1007', async () => {
    await startFake();
    const notFound = new WebSocket(`${fake.baseUrl.replace('http', 'ws')}/ws/nope`);
    const err = await new Promise<Error>((resolve) => notFound.on('error', resolve));
    expect(err.message).toContain('404');
    const path = '/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent';
    const ws = new WebSocket(`${fake.baseUrl.replace('http', 'ws')}/${path}`);
    await new Promise((resolve) => ws.on('open', resolve));
    ws.send(Buffer.from(JSON.stringify({ realtimeInput: { text: 'hi' } }))); // binary frame
    const code = await new Promise<number>((resolve) => ws.on('close', resolve));
    expect(code).toBe(1007);
    expect(fake.connections[0]).toMatchObject({
      backend: 'vertex',
      apiVersion: 'v1beta1',
      closedBy: 'server',
    });
  });
});

const M38 = 'gemini-3.8-live';
const M38_THINKING = 'gemini-3.8-live-extended-thinking';
const VERTEX_25 = 'gemini-live-2.5-flash-native-audio';
const VERTEX_PATH = '/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent';
const GEMINI_PATH = '/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent';

/** A raw Vertex AI Live socket: sends `setup`, then `messages` once setup completed. */
function rawVertex(model: string, setup: Record<string, unknown>, messages: object[] = []) {
  return rawLive(
    VERTEX_PATH,
    `projects/p/locations/l/publishers/google/models/${model}`,
    setup,
    messages,
  );
}

/** A raw Gemini API (v1beta) Live socket, as `rawVertex`. */
function rawGemini(model: string, setup: Record<string, unknown>, messages: object[] = []) {
  return rawLive(GEMINI_PATH, `models/${model}`, setup, messages);
}

async function rawLive(
  path: string,
  model: string,
  setup: Record<string, unknown>,
  messages: object[],
) {
  const ws = new WebSocket(`${fake.baseUrl.replace('http', 'ws')}${path}`);
  const received: Record<string, unknown>[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  ws.on('message', (data) => received.push(JSON.parse(data.toString())));
  await new Promise((resolve) => ws.on('open', resolve));
  ws.send(JSON.stringify({ setup: { model, ...setup } }));
  await fake.waitFor(
    () =>
      received.some((m) => 'setupComplete' in m) || fake.connections.at(-1)?.closedBy !== undefined,
    3000,
    'setup',
  );
  for (const message of messages) ws.send(JSON.stringify(message));
  return { ws, received, closed };
}

describe("FakeGeminiServer: the 3.8 rules (strict, from Google's 3.8 pages)", () => {
  it('3.8 refuses any thinking config, affective dialog and proactivity (1007)', async () => {
    await startFake();
    for (const config of [
      { thinkingConfig: { thinkingLevel: 'LOW' } },
      { thinkingConfig: { thinkingBudget: 0 } },
      { enableAffectiveDialog: false },
      { proactivity: { proactiveAudio: true } },
    ] as LiveConnectConfig[]) {
      expect((await expectClose(M38, config, { apiVersion: 'v1alpha' })).code).toBe(1007);
    }
    await openClient(M38, TRANSCRIBED).session;
    expect(fake.connections.at(-1)?.closedBy).toBeUndefined();
  });

  it('extended thinking needs a level of low, medium or high (1007 without one, or minimal)', async () => {
    await startFake();
    const none = await expectClose(M38_THINKING, {});
    expect(none).toMatchObject({
      code: 1007,
      reason: 'Thinking level must be specified for this model.',
    });
    expect(
      (await expectClose(M38_THINKING, { thinkingConfig: { thinkingLevel: 'MINIMAL' } as never }))
        .code,
    ).toBe(1007);
    await openClient(M38_THINKING, { thinkingConfig: { thinkingLevel: 'HIGH' } as never }).session;
    expect(fake.connections.at(-1)?.closedBy).toBeUndefined();
  });

  it('extended thinking refuses a declaration that is not NON_BLOCKING', async () => {
    await startFake();
    const level = { thinkingConfig: { thinkingLevel: 'LOW' } } as LiveConnectConfig;
    const sync = await expectClose(M38_THINKING, {
      ...level,
      tools: [{ functionDeclarations: [{ name: 'f' }] }],
    });
    expect(sync).toMatchObject({ code: 1007, reason: expect.stringContaining('NON_BLOCKING') });
    await openClient(M38_THINKING, {
      ...level,
      tools: [{ functionDeclarations: [{ name: 'f', behavior: Behavior.NON_BLOCKING }] }],
    }).session;
    expect(fake.connections.at(-1)?.closedBy).toBeUndefined();
  });

  it('3.8 takes client content with roles all session; turnComplete alone asks for the answer', async () => {
    await startFake({ respond: (t) => ({ text: `re ${t.text}`, audioMs: 40 }) });
    const c = openClient(M38, TRANSCRIBED);
    const session = await c.session;
    session.sendClientContent({
      turns: [{ role: 'user', parts: [{ text: 'first' }] }],
      turnComplete: true,
    });
    await c.until((m) => !!m.serverContent?.turnComplete, 'reply 1');
    session.sendClientContent({
      turns: [{ role: 'user', parts: [{ text: 'later' }] }],
      turnComplete: false,
    });
    session.sendClientContent({ turnComplete: true });
    await fake.waitFor(
      () => c.messages.filter((m) => m.serverContent?.turnComplete).length === 2,
      3000,
      'reply 2',
    );
    expect(fake.connections[0]?.turns.map((t) => t.text)).toEqual(['first', 'later']);
    // Every turnComplete carries the interaction's status.
    const statuses = c.messages
      .filter((m) => m.serverContent?.turnComplete)
      .map((m) => m.serverContent?.interactionStatus);
    expect(statuses).toEqual(['IDLE', 'IDLE']);
    session.sendClientContent({ turns: [{ parts: [{ text: 'no role' }] }], turnComplete: false });
    expect((await c.closed).code).toBe(1007);
  });

  it('extended thinking speaks a filler (IN_PROGRESS) before a call, and ends at IDLE', async () => {
    await startFake({
      respond: (t) =>
        t.source === 'tool_response'
          ? { text: 'Done.', audioMs: 40 }
          : { toolCall: { name: 'f', args: {} } },
    });
    const c = openClient(M38_THINKING, {
      ...TRANSCRIBED,
      thinkingConfig: { thinkingLevel: 'LOW' } as never,
      tools: [{ functionDeclarations: [{ name: 'f', behavior: Behavior.NON_BLOCKING }] }],
    });
    const session = await c.session;
    session.sendRealtimeInput({ text: 'go' });
    await c.until((m) => !!m.toolCall, 'toolCall');
    const filler = c.messages.find((m) => m.serverContent?.turnComplete);
    expect(filler?.serverContent?.interactionStatus).toBe('IN_PROGRESS');
    const toolCall = c.messages.find((m) => m.toolCall) as LiveServerMessage & {
      interactionStatus?: string;
    };
    expect(toolCall.interactionStatus).toBe('IN_PROGRESS');
    session.sendToolResponse({ functionResponses: [{ id: 'call-1', name: 'f', response: {} }] });
    await c.until((m) => m.serverContent?.interactionStatus === 'IDLE', 'IDLE');
    expect(transcript(c.messages)).toBe('Let me check that. Done.');
  });

  it('extended thinking refuses response scheduling (1007)', async () => {
    await startFake({ respond: () => ({ toolCall: { name: 'f', args: {} } }) });
    const c = openClient(M38_THINKING, {
      thinkingConfig: { thinkingLevel: 'LOW' } as never,
      tools: [{ functionDeclarations: [{ name: 'f', behavior: Behavior.NON_BLOCKING }] }],
    });
    const session = await c.session;
    session.sendRealtimeInput({ text: 'go' });
    await c.until((m) => !!m.toolCall, 'toolCall');
    session.sendToolResponse({
      functionResponses: [{ id: 'call-1', name: 'f', response: {}, scheduling: 'SILENT' as never }],
    });
    expect((await c.closed).code).toBe(1007);
  });

  it('3.8 cancels a BLOCKING call when new input arrives; a NON_BLOCKING one keeps running', async () => {
    await startFake({
      respond: (t) =>
        t.text === 'call' ? { toolCall: { name: 'f', args: {} } } : { text: 'ok', audioMs: 40 },
    });
    const blocking = openClient(M38, {
      tools: [{ functionDeclarations: [{ name: 'f', behavior: Behavior.BLOCKING }] }],
    });
    const s1 = await blocking.session;
    s1.sendRealtimeInput({ text: 'call' });
    await blocking.until((m) => !!m.toolCall, 'toolCall');
    s1.sendRealtimeInput({ text: 'something else' });
    await blocking.until((m) => !!m.toolCallCancellation, 'cancellation');
    expect(blocking.messages.find((m) => m.toolCallCancellation)?.toolCallCancellation).toEqual({
      ids: ['call-1'],
    });

    const async = openClient(M38, { tools: [{ functionDeclarations: [{ name: 'f' }] }] });
    const s2 = await async.session;
    s2.sendRealtimeInput({ text: 'call' });
    await async.until((m) => !!m.toolCall, 'toolCall');
    s2.sendRealtimeInput({ text: 'meanwhile' });
    await async.until((m) => !!m.serverContent?.turnComplete, 'answer while the call runs');
    s2.sendToolResponse({
      functionResponses: [{ id: 'call-1', name: 'f', response: { output: 1 } }],
    });
    await fake.waitFor(
      (f) => f.connections[1]!.turns.some((t) => t.source === 'tool_response'),
      3000,
      'result taken',
    );
    expect(async.messages.some((m) => m.toolCallCancellation)).toBe(false);
  });

  it('Vertex 3.8: client content only as declared initial history; responses need their id', async () => {
    await startFake({ respond: () => ({ toolCall: { name: 'f', args: {} } }) });
    const content = await rawVertex(M38, {}, [
      { clientContent: { turns: [{ role: 'user', parts: [{ text: 'hi' }] }], turnComplete: true } },
    ]);
    expect((await content.closed).code).toBe(1007);
    const tools = { tools: [{ functionDeclarations: [{ name: 'f' }] }] };
    const idless = await rawVertex(M38, tools, [{ realtimeInput: { text: 'go' } }]);
    await fake.waitFor(() => idless.received.some((m) => 'toolCall' in m), 3000, 'toolCall');
    idless.ws.send(
      JSON.stringify({ toolResponse: { functionResponses: [{ name: 'f', response: {} }] } }),
    );
    expect(await idless.closed).toMatchObject({
      code: 1007,
      reason: expect.stringContaining('id'),
    });
  });

  it('Vertex 2.5: no id in a function response, no Google Search beside functions', async () => {
    await startFake({ respond: () => ({ toolCall: { name: 'f', args: {} } }) });
    const tools = { tools: [{ functionDeclarations: [{ name: 'f' }] }] };
    const withId = await rawVertex(VERTEX_25, tools, [{ realtimeInput: { text: 'go' } }]);
    await fake.waitFor(() => withId.received.some((m) => 'toolCall' in m), 3000, 'toolCall');
    withId.ws.send(
      JSON.stringify({
        toolResponse: { functionResponses: [{ id: 'call-1', name: 'f', response: {} }] },
      }),
    );
    expect((await withId.closed).code).toBe(1007);
    const search = await rawVertex(VERTEX_25, { tools: [{ googleSearch: {} }, ...tools.tools] });
    expect(await search.closed).toMatchObject({
      code: 1007,
      reason: expect.stringContaining('Google Search'),
    });
  });
});

/** Google's proto package on the Gemini API v1beta, as its errors name types. */
const V1BETA = 'type.googleapis.com/google.ai.generativelanguage.v1beta';
const fn = (declaration: Record<string, unknown>) => ({
  tools: [{ functionDeclarations: [{ name: 'weather', ...declaration }] }],
});
const vad = (detection: Record<string, unknown>) => ({
  realtimeInputConfig: { automaticActivityDetection: detection },
});
const turn = (part: unknown) => ({ clientContent: { turns: [{ role: 'user', parts: [part] }] } });
const response = (fields: Record<string, unknown>) => ({
  toolResponse: { functionResponses: [{ id: 'call-1', name: 'f', response: {}, ...fields }] },
});

describe("FakeGeminiServer: Google's wire schema, nested fields, value types and enums", () => {
  /** The close the fake recorded (the wire's close reason is cut at 123 bytes). */
  async function refusal(c: { closed: Promise<{ code: number }> }) {
    const { code } = await c.closed;
    return { code, reason: fake.connections.at(-1)?.closeReason };
  }

  it.each([
    [
      'an unknown field deep in generationConfig',
      {
        generationConfig: {
          speechConfig: { voiceConfig: { prebuiltVoiceConfig: { voiceName: 'Kore', voiceId: 7 } } },
        },
      },
      `Invalid JSON payload received. Unknown name "voiceId" at 'setup.generation_config.speech_config.voice_config.prebuilt_voice_config': Cannot find field.`,
    ],
    [
      'a temperature that is not a number',
      { generationConfig: { temperature: 'warm' } },
      `Invalid value at 'setup.generation_config.temperature' (TYPE_FLOAT), "warm"`,
    ],
    [
      'a fractional token limit',
      { generationConfig: { maxOutputTokens: 10.5 } },
      `Invalid value at 'setup.generation_config.max_output_tokens' (TYPE_INT32), 10.5`,
    ],
    [
      'a response modality that does not exist',
      { generationConfig: { responseModalities: ['SPEECH'] } },
      `Invalid value at 'setup.generation_config.response_modalities[0]' (${V1BETA}.GenerationConfig.Modality), "SPEECH"`,
    ],
    [
      'a language code that is not a string',
      { generationConfig: { speechConfig: { languageCode: 7 } } },
      `Invalid value at 'setup.generation_config.speech_config.language_code' (TYPE_STRING), 7`,
    ],
    [
      'a thinking budget in words',
      { generationConfig: { thinkingConfig: { thinkingBudget: 'lots' } } },
      `Invalid value at 'setup.generation_config.thinking_config.thinking_budget' (TYPE_INT32), "lots"`,
    ],
    [
      'a field the Live API does not take',
      { generationConfig: { responseMimeType: 'application/json' } },
      'setup.generation_config.response_mime_type: not supported by the Live API (BidiGenerateContentSetup).',
    ],
    [
      'a list where one message belongs',
      { generationConfig: [] },
      `Invalid JSON payload received. Unknown name "generationConfig" at 'setup': Proto field is not repeating, cannot start list.`,
    ],
    [
      'an unknown field in the system instruction',
      { systemInstruction: { parts: [{ txt: 'Be brief.' }] } },
      `Invalid JSON payload received. Unknown name "txt" at 'setup.system_instruction.parts[0]': Cannot find field.`,
    ],
    [
      'a lower-case parameter type (Gemini Schema types are upper case)',
      fn({ parameters: { type: 'OBJECT', properties: { city: { type: 'string' } } } }),
      `Invalid value at 'setup.tools[0].function_declarations[0].parameters.properties[0].value.type' (${V1BETA}.Type), "string"`,
    ],
    [
      'a JSON Schema keyword Gemini Schema lacks',
      fn({
        parameters: {
          type: 'OBJECT',
          properties: { days: { type: 'INTEGER' }, city: { type: 'STRING', const: 'Paris' } },
        },
      }),
      `Invalid JSON payload received. Unknown name "const" at 'setup.tools[0].function_declarations[0].parameters.properties[1].value': Cannot find field.`,
    ],
    [
      'a function behavior that does not exist',
      fn({ behavior: 'ASYNC' }),
      `Invalid value at 'setup.tools[0].function_declarations[0].behavior' (${V1BETA}.FunctionDeclaration.Behavior), "ASYNC"`,
    ],
    [
      'a function name Google does not allow',
      fn({ name: '7 days' }),
      'setup.tools[0].function_declarations[0].name: Invalid function name. Must start with a letter or an underscore. Must be a-z, A-Z, 0-9, or contain underscores, dots, colons and dashes, with a maximum length of 128.',
    ],
    [
      'a function without a name',
      { tools: [{ functionDeclarations: [{ description: 'Weather' }] }] },
      'setup.tools[0].function_declarations[0].name: required, but not set.',
    ],
    [
      'an unknown field in Google Search',
      { tools: [{ googleSearch: { safeSearch: true } }] },
      `Invalid JSON payload received. Unknown name "safeSearch" at 'setup.tools[0].google_search': Cannot find field.`,
    ],
    [
      'an unknown activity detection field',
      vad({ disabled: false, threshold: 0.5 }),
      `Invalid JSON payload received. Unknown name "threshold" at 'setup.realtime_input_config.automatic_activity_detection': Cannot find field.`,
    ],
    [
      'a silence duration in seconds',
      vad({ silenceDurationMs: 0.5 }),
      `Invalid value at 'setup.realtime_input_config.automatic_activity_detection.silence_duration_ms' (TYPE_INT32), 0.5`,
    ],
    [
      'a start sensitivity that does not exist',
      vad({ startOfSpeechSensitivity: 'START_SENSITIVITY_MEDIUM' }),
      `Invalid value at 'setup.realtime_input_config.automatic_activity_detection.start_of_speech_sensitivity' (${V1BETA}.RealtimeInputConfig.AutomaticActivityDetection.StartSensitivity), "START_SENSITIVITY_MEDIUM"`,
    ],
    [
      'an activity handling that does not exist',
      { realtimeInputConfig: { activityHandling: 'BARGE_IN' } },
      `Invalid value at 'setup.realtime_input_config.activity_handling' (${V1BETA}.RealtimeInputConfig.ActivityHandling), "BARGE_IN"`,
    ],
    [
      'a turn coverage that does not exist',
      { realtimeInputConfig: { turnCoverage: 'TURN_INCLUDES_EVERYTHING' } },
      `Invalid value at 'setup.realtime_input_config.turn_coverage' (${V1BETA}.RealtimeInputConfig.TurnCoverage), "TURN_INCLUDES_EVERYTHING"`,
    ],
    [
      'a resumption handle that is not a string',
      { sessionResumption: { handle: 42 } },
      `Invalid value at 'setup.session_resumption.handle' (TYPE_STRING), 42`,
    ],
    [
      'compression target tokens in words',
      { contextWindowCompression: { slidingWindow: { targetTokens: 'half' } } },
      `Invalid value at 'setup.context_window_compression.sliding_window.target_tokens' (TYPE_INT64), "half"`,
    ],
    [
      'a transcription mode that does not exist',
      { inputAudioTranscription: { mode: 'EXACT' } },
      `Invalid value at 'setup.input_audio_transcription.mode' (${V1BETA}.AudioTranscriptionConfig.Mode), "EXACT"`,
    ],
    [
      'an unknown transcription field',
      { outputAudioTranscription: { language: 'en' } },
      `Invalid JSON payload received. Unknown name "language" at 'setup.output_audio_transcription': Cannot find field.`,
    ],
    [
      'declared history as a string',
      { historyConfig: { initialHistoryInClientContent: 'yes' } },
      `Invalid value at 'setup.history_config.initial_history_in_client_content' (TYPE_BOOL), "yes"`,
    ],
    [
      'a portrait that is not base64',
      {
        avatarConfig: { customizedAvatar: { imageMimeType: 'image/png', imageData: 'no base64!' } },
      },
      `Invalid value at 'setup.avatar_config.customized_avatar.image_data' (TYPE_BYTES), "no base64!"`,
    ],
    [
      'a field only Vertex AI has',
      { explicitVadSignal: true },
      `Invalid JSON payload received. Unknown name "explicitVadSignal" at 'setup': Cannot find field.`,
    ],
  ])('setup: refuses %s (1007, in Google’s words)', async (_what, fields, reason) => {
    await startFake();
    const c = await rawGemini(M25, fields);
    expect(c.received).toEqual([]);
    expect(await refusal(c)).toEqual({ code: 1007, reason });
  });

  it.each([
    [
      'an unknown field in an audio blob',
      { realtimeInput: { audio: { mimeType: 'audio/pcm;rate=16000', data: '', rate: 16000 } } },
      `Invalid JSON payload received. Unknown name "rate" at 'realtime_input.audio': Cannot find field.`,
    ],
    [
      'audio that is not base64',
      { realtimeInput: { audio: { mimeType: 'audio/pcm', data: 'AA AA' } } },
      `Invalid value at 'realtime_input.audio.data' (TYPE_BYTES), "AA AA"`,
    ],
    [
      'a video frame without its MIME type',
      { realtimeInput: { video: { data: 'AAAA' } } },
      'realtime_input.video.mime_type: required, but not set.',
    ],
    [
      'activityStart as a boolean',
      { realtimeInput: { activityStart: true } },
      `Invalid value at 'realtime_input.activity_start' (${V1BETA}.BidiGenerateContentRealtimeInput.ActivityStart), true`,
    ],
    [
      'audioStreamEnd as a string',
      { realtimeInput: { audioStreamEnd: 'true' } },
      `Invalid value at 'realtime_input.audio_stream_end' (TYPE_BOOL), "true"`,
    ],
    [
      'text that is not a string',
      { realtimeInput: { text: 42 } },
      `Invalid value at 'realtime_input.text' (TYPE_STRING), 42`,
    ],
    [
      'an unknown field in a turn’s part',
      turn({ text: 'hi', lang: 'en' }),
      `Invalid JSON payload received. Unknown name "lang" at 'client_content.turns[0].parts[0]': Cannot find field.`,
    ],
    [
      'turnComplete as a string',
      { clientContent: { turnComplete: 'yes' } },
      `Invalid value at 'client_content.turn_complete' (TYPE_BOOL), "yes"`,
    ],
    [
      'parts given as a string',
      { clientContent: { turns: [{ role: 'user', parts: 'hi' }] } },
      `Invalid value at 'client_content.turns[0].parts' (${V1BETA}.Part), "hi"`,
    ],
    [
      'a part with two kinds of data',
      turn({ text: 'hi', inlineData: { mimeType: 'image/jpeg', data: 'AAAA' } }),
      "client_content.turns[0].parts[0]: Oneof field 'data' is already set. Cannot set 'inlineData'",
    ],
    [
      'a part with no data',
      turn({ thought: true }),
      "client_content.turns[0].parts[0]: required oneof field 'data' must have one initialized field",
    ],
    [
      'an unknown field in a function response',
      response({ result: 'sunny' }),
      `Invalid JSON payload received. Unknown name "result" at 'tool_response.function_responses[0]': Cannot find field.`,
    ],
    [
      'a response that is not a JSON object',
      response({ response: 'sunny' }),
      `Invalid value at 'tool_response.function_responses[0].response' (type.googleapis.com/google.protobuf.Struct), "sunny"`,
    ],
    [
      'a scheduling that does not exist',
      response({ scheduling: 'LATER' }),
      `Invalid value at 'tool_response.function_responses[0].scheduling' (${V1BETA}.FunctionResponse.Scheduling), "LATER"`,
    ],
    [
      'willContinue as a string',
      response({ willContinue: 'no' }),
      `Invalid value at 'tool_response.function_responses[0].will_continue' (TYPE_BOOL), "no"`,
    ],
    [
      'a function response without a name',
      { toolResponse: { functionResponses: [{ id: 'call-1', response: {} }] } },
      'tool_response.function_responses[0].name: required, but not set.',
    ],
  ])('after setup: refuses %s (1007, in Google’s words)', async (_what, message, reason) => {
    await startFake();
    const c = await rawGemini(M25, {}, [message]);
    expect(c.received.map((m) => Object.keys(m)[0])).toEqual(['setupComplete']);
    expect(await refusal(c)).toEqual({ code: 1007, reason });
  });

  it('takes every setup field our setup builder writes, through the SDK', async () => {
    await startFake();
    const weather = llm.tool({
      description: 'The weather for a city.',
      parameters: z.object({
        city: z.string().describe('City name'),
        days: z.number().int().min(1).max(7),
        units: z.enum(['celsius', 'fahrenheit']).optional(),
        stops: z.array(z.object({ city: z.string() })),
      }),
      execute: async () => 'sunny',
    });
    const config = liveConnectConfig(
      {
        row: modelCapabilities(M25),
        instructions: 'Be brief.',
        voice: 'Kore',
        language: 'en-US',
        temperature: 0.7,
        maxOutputTokens: 256,
        topP: 0.9,
        topK: 40,
        thinkingConfig: { thinkingBudget: 512, includeThoughts: true },
        enableAffectiveDialog: true,
        proactivity: true,
        mediaResolution: MediaResolution.MEDIA_RESOLUTION_LOW,
        realtimeInputConfig: {
          automaticActivityDetection: {
            disabled: false,
            startOfSpeechSensitivity: StartSensitivity.START_SENSITIVITY_LOW,
            endOfSpeechSensitivity: EndSensitivity.END_SENSITIVITY_HIGH,
            prefixPaddingMs: 20,
            silenceDurationMs: 500,
          },
          activityHandling: ActivityHandling.START_OF_ACTIVITY_INTERRUPTS,
          turnCoverage: TurnCoverage.TURN_INCLUDES_ONLY_ACTIVITY,
        },
        contextWindowCompression: {
          triggerTokens: '25600',
          slidingWindow: { targetTokens: '12800' },
        },
        inputAudioTranscription: {},
        outputAudioTranscription: {},
        toolBehavior: Behavior.NON_BLOCKING,
        geminiTools: { googleSearch: {} },
      },
      new llm.ToolContext({ weather }),
      'handle-from-before',
    );
    // Resuming a handle the fake never issued is refused (1007) after the schema accepted it.
    const stale = await expectClose(M25, config, { apiVersion: 'v1alpha' });
    expect(stale.reason).toContain('handle');
    delete config.sessionResumption!.handle;
    await openClient(M25, config, { apiVersion: 'v1alpha' }).session;
    expect(fake.connections[1]?.closedBy).toBeUndefined();
    expect(fake.connections[1]?.setup).toMatchObject({
      generationConfig: { speechConfig: { languageCode: 'en-US' }, topK: 40 },
      tools: [
        { functionDeclarations: [{ name: 'weather', behavior: 'NON_BLOCKING' }] },
        { googleSearch: {} },
      ],
    });
  });

  it('takes protobuf JSON’s other spellings: proto field names, null for unset, quoted numbers', async () => {
    await startFake();
    const c = await rawGemini(M25, {
      generation_config: {
        response_modalities: ['AUDIO'],
        temperature: '0.5',
        max_output_tokens: '128',
        speech_config: null,
      },
      session_resumption: {},
      realtime_input_config: { automatic_activity_detection: { silence_duration_ms: 500 } },
      tools: [
        fn({
          parameters: {
            type: 'OBJECT',
            properties: {
              city: { type: 'STRING', description: 'City', nullable: true },
              days: { type: 'INTEGER', minimum: 1, maximum: 7, format: 'int32' },
              stops: { type: 'ARRAY', items: { type: 'STRING' }, maxItems: '5' },
              units: { type: 'STRING', format: 'enum', enum: ['celsius', 'fahrenheit'] },
              when: { anyOf: [{ type: 'STRING' }, { type: 'NULL' }] },
            },
            required: ['city'],
            propertyOrdering: ['city', 'days'],
          },
        }).tools[0],
      ],
    });
    expect(c.received.map((m) => Object.keys(m)[0])).toEqual(['setupComplete']);
    // The rules read the setup by its JSON names: resumption was asked for, so handles follow.
    expect(fake.connections[0]?.setup).toMatchObject({
      generationConfig: { responseModalities: ['AUDIO'], temperature: '0.5' },
      sessionResumption: {},
      realtimeInputConfig: { automaticActivityDetection: { silenceDurationMs: 500 } },
    });
    expect(fake.connections[0]?.setup.generationConfig).not.toHaveProperty('speechConfig');
    c.ws.send(JSON.stringify({ realtime_input: { text: 'hi' } }));
    await fake.waitFor(() => c.received.some((m) => 'sessionResumptionUpdate' in m));
    expect(fake.connections[0]?.turns.map((t) => t.text)).toEqual(['hi']);
  });

  it('takes the realtime input, client content and tool responses our clients send', async () => {
    await startFake();
    const audio = Buffer.from(silencePcm16(40).buffer).toString('base64');
    const c = await rawGemini(M25, { tools: fn({}).tools }, [
      { realtimeInput: { audio: { mimeType: 'audio/pcm;rate=16000', data: audio } } },
      { realtimeInput: { video: { mimeType: 'image/jpeg', data: 'AAAA' } } },
      { realtimeInput: { activityStart: {} } },
      { realtimeInput: { activityEnd: {} } },
      { realtimeInput: { audioStreamEnd: true } },
      { realtimeInput: { text: 'hello' } },
      response({ scheduling: 'SILENT', response: { output: 'sunny' } }),
      {
        clientContent: {
          turns: [
            { role: 'user', parts: [{ text: 'before' }] },
            { role: 'model', parts: [{ text: 'noted' }] },
          ],
          turnComplete: true,
        },
      },
    ]);
    await fake.waitFor((f) => f.connections[0]!.turns.length === 2, 3000, 'two turns');
    expect(fake.connections[0]?.turns.map((t) => t.source)).toEqual([
      'realtime_text',
      'client_content',
    ]);
    expect(fake.connections[0]?.videoFrames).toHaveLength(1);
    expect(fake.connections[0]?.closedBy).toBeUndefined();
    c.ws.close();
  });
});

describe('unscriptedCloses', () => {
  it('reports a rule-break close even on a connection where a fault fired', async () => {
    await startFake({ faults: [{ at: 'setup', do: { type: 'go_away', timeLeftMs: 10_000 } }] });
    const c = openClient(M31);
    const session = await c.session;
    session.sendClientContent({ turns: [{ role: 'user', parts: [{ text: 'hi' }] }] });
    expect((await c.closed).code).toBe(1007);
    expect(fake.faults).toHaveLength(1);
    expect(unscriptedCloses(fake)).toEqual([`#0 1007 ${INVALID_ARGUMENT}`]);
  });

  it('excuses a close that a fault scripted, with its code, on its connection', async () => {
    await startFake({ faults: [{ at: 'setup', do: { type: 'close', code: 1011 } }] });
    const c = openClient(M31);
    expect((await c.closed).code).toBe(1011);
    expect(unscriptedCloses(fake)).toEqual([]);
  });
});

describe('FakeGeminiServer via @livekit/agents-plugin-google', () => {
  beforeAll(() => initializeLogger({ pretty: false, level: 'silent' }));

  it('generateReply on 2.5 yields a generation with 24 kHz audio frames', async () => {
    await startFake({ respond: () => ({ text: 'Hi there!', audioMs: 300 }) });
    const model = new google.realtime.RealtimeModel({
      model: M25,
      apiKey: 'test-key',
      httpOptions: { baseUrl: fake.baseUrl },
    });
    const session = model.session();
    const errors: unknown[] = [];
    session.on('error', (e) => errors.push(e));
    const gen = await session.generateReply('Say hi');
    let samples = 0;
    let text = '';
    for await (const msg of gen.messageStream) {
      for await (const frame of msg.audioStream) {
        expect(frame.sampleRate).toBe(OUTPUT_SAMPLE_RATE);
        samples += frame.samplesPerChannel;
      }
      for await (const piece of msg.textStream) text += piece;
    }
    expect(samples).toBe(300 * 24);
    expect(text).toBe('Hi there!');
    const content = fake.received.find((e) => e.msg.clientContent)?.msg.clientContent;
    expect(content).toEqual({
      turns: [
        { role: 'model', parts: [{ text: 'Say hi' }] },
        { role: 'user', parts: [{ text: '.' }] },
      ],
      turnComplete: true,
    });
    expect(fake.connections[0]?.setup.sessionResumption).toEqual({});
    await session.close();
    await fake.waitFor((f) => f.connections[0]?.closedBy === 'client', 2000, 'plugin close');
    expect(errors).toEqual([]); // the 1005 -> 1000 answer keeps the plugin quiet
    await model.close();
  });

  it('the 1.9.0 plugin generateReply on 3.1 is closed with 1007 (the app must avoid it)', async () => {
    await startFake();
    const model = new google.realtime.RealtimeModel({
      model: M31,
      apiKey: 'test-key',
      httpOptions: { baseUrl: fake.baseUrl },
    });
    const session = model.session();
    const errors: { error: { statusCode?: number } }[] = [];
    session.on('error', (e) => errors.push(e));
    session.generateReply('Say hi').catch(() => undefined);
    await fake.waitFor(() => errors.length > 0, 3000, 'plugin error event');
    expect(errors[0]?.error.statusCode).toBe(1007);
    expect(fake.connections[0]).toMatchObject({
      closedBy: 'server',
      closeCode: 1007,
      closeReason: INVALID_ARGUMENT,
    });
    await session.close();
    await model.close();
  });
});

describe('FakeGeminiServer: Live Avatar (VIDEO) on gemini-3.8-live, Vertex AI only', () => {
  const VIDEO = { generationConfig: { responseModalities: ['VIDEO'] } };

  it('streams fMP4 from the clip for a VIDEO setup with an avatar, in slices that ignore boxes', async () => {
    await startFake({ videoChunkBytes: 5000 });
    const { ws, received, closed } = await rawVertex(
      M38,
      { ...VIDEO, avatarConfig: { avatarName: 'Ben' } },
      [{ realtimeInput: { text: 'Hello' } }],
    );
    await fake.waitFor(
      () => received.some((m) => (m.serverContent as Json)?.turnComplete),
      5000,
      'the reply',
    );
    const parts = received.flatMap(
      (m) => ((m.serverContent as Json)?.modelTurn?.parts ?? []) as Json[],
    );
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.every((p) => p.inlineData.mimeType === 'video/mp4')).toBe(true);
    const first = Buffer.from(parts[0].inlineData.data, 'base64');
    expect(first.toString('latin1', 4, 8)).toBe('ftyp');
    expect(first.length).toBe(5000);
    const usage = received.find((m) => m.usageMetadata)?.usageMetadata as Json;
    expect(usage.candidatesTokensDetails.map((d: Json) => d.modality)).toEqual(['AUDIO', 'VIDEO']);
    ws.close();
    await closed;
  });

  it('refuses VIDEO without an avatar, an unknown name, a wrong portrait, and other rows (1007)', async () => {
    await startFake();
    const portrait = (width: number, height: number) => {
      const png = Buffer.alloc(24);
      Buffer.from('89504e470d0a1a0a', 'hex').copy(png);
      png.writeUInt32BE(width, 16);
      png.writeUInt32BE(height, 20);
      return { imageMimeType: 'image/png', imageData: png.toString('base64') };
    };
    for (const [setup, reason] of [
      [VIDEO, 'Response modality VIDEO requires an avatar config.'],
      [{ ...VIDEO, avatarConfig: { avatarName: 'Bob' } }, 'Unsupported avatar name: Bob'],
      [
        { ...VIDEO, avatarConfig: { customizedAvatar: portrait(800, 800) } },
        'Avatar image must be a 9:16 portrait of at least 704x1280 (got 800x800).',
      ],
      [{ avatarConfig: { avatarName: 'Ben' } }, 'Avatar config requires response modality VIDEO.'],
    ] as const) {
      const { closed } = await rawVertex(M38, setup);
      expect(await closed).toEqual({ code: 1007, reason });
    }
    const custom = await rawVertex(M38, {
      ...VIDEO,
      avatarConfig: { customizedAvatar: portrait(720, 1280) },
    });
    expect(custom.received.some((m) => 'setupComplete' in m)).toBe(true);
    custom.ws.close();
    const vertex25 = await rawVertex(VERTEX_25, { ...VIDEO, avatarConfig: { avatarName: 'Ben' } });
    expect((await vertex25.closed).reason).toBe(
      `Response modality VIDEO is not supported for models/${VERTEX_25}.`,
    );
    // The Gemini API's 3.8 renders no avatar.
    const gemini = await expectClose(M38, {
      responseModalities: ['VIDEO'] as never,
      avatarConfig: { avatarName: 'Ben' },
    });
    expect(gemini).toMatchObject({
      code: 1007,
      reason: `Response modality VIDEO is not supported for models/${M38}.`,
    });
  });
});
