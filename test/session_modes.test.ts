/**
 * Settings -> plugin options (realtimeOptions), the call session in each turn-detection mode, and
 * per-call usage (CallUsage). All offline and in-process: nothing here connects anywhere (no
 * session is started; the base URL points at a closed local port).
 */
import { FunctionResponseScheduling, MediaResolution, ThinkingLevel } from '@google/genai';
import { type metrics, inference, voice } from '@livekit/agents';
import * as deepgram from '@livekit/agents-plugin-deepgram';
import * as google from '@livekit/agents-plugin-google';
import * as silero from '@livekit/agents-plugin-silero';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Env, loadSettings } from '../src/config/settings.ts';
import { createRealtimeModel, realtimeOptions } from '../src/gemini/model_options.ts';
import { createCallSession } from '../src/session.ts';
import { CallUsage } from '../src/usage.ts';
import { quietLogger } from './support/call_harness.ts';

const KEY = 'test-google-key';
const M31 = 'gemini-3.1-flash-live-preview';
const M25 = 'gemini-2.5-flash-native-audio-preview-12-2025';
const VERTEX_25 = 'gemini-live-2.5-flash-native-audio';
/** Nothing listens here; a test that connected by mistake would fail rather than reach Google. */
const NOWHERE = 'http://127.0.0.1:9';
const INSTRUCTIONS = 'You are a test.';

beforeAll(() => quietLogger());

function optionsFor(env: Env) {
  return realtimeOptions(loadSettings({ GOOGLE_API_KEY: KEY, ...env }), {
    instructions: INSTRUCTIONS,
  });
}

describe('realtimeOptions: settings -> plugin options', () => {
  it('defaults: instructions, voice Puck and the key, nothing else', () => {
    expect(optionsFor({})).toEqual({ instructions: INSTRUCTIONS, voice: 'Puck', apiKey: KEY });
  });

  it.each([
    ['voice', { GEMINI_VOICE: 'Kore' }, { voice: 'Kore' }],
    ['temperature', { GEMINI_TEMPERATURE: '0.4' }, { temperature: 0.4 }],
    ['temperature 0 (falsy, still sent)', { GEMINI_TEMPERATURE: '0' }, { temperature: 0 }],
    ['language', { GEMINI_LANGUAGE: 'fr-FR' }, { language: 'fr-FR' }],
    ['base URL', { GOOGLE_GEMINI_BASE_URL: NOWHERE }, { httpOptions: { baseUrl: NOWHERE } }],
  ])('%s', (_name, env, expected) => {
    expect(optionsFor(env)).toEqual({
      instructions: INSTRUCTIONS,
      voice: 'Puck',
      apiKey: KEY,
      ...expected,
    });
  });

  it.each([
    ['minimal', ThinkingLevel.MINIMAL],
    ['low', ThinkingLevel.LOW],
    ['medium', ThinkingLevel.MEDIUM],
    ['high', ThinkingLevel.HIGH],
  ])('thinking level %s -> the SDK enum %s (3.x)', (level, sdk) => {
    const options = optionsFor({ GEMINI_MODEL: M31, GEMINI_THINKING_LEVEL: level });
    expect(options.thinkingConfig).toEqual({ thinkingLevel: sdk });
  });

  it.each([
    [M31, 'low', MediaResolution.MEDIA_RESOLUTION_LOW],
    [M31, 'Medium', MediaResolution.MEDIA_RESOLUTION_MEDIUM],
    [M25, 'HIGH', MediaResolution.MEDIA_RESOLUTION_HIGH],
    [M25, 'low', MediaResolution.MEDIA_RESOLUTION_LOW],
  ])('%s: media resolution %s -> the SDK enum %s', (model, level, sdk) => {
    const options = optionsFor({ GEMINI_MODEL: model, GEMINI_MEDIA_RESOLUTION: level });
    expect(options.mediaResolution).toBe(sdk);
  });

  it('media resolution unset: not sent (the model default)', () => {
    expect(optionsFor({ GEMINI_MODEL: M25 })).not.toHaveProperty('mediaResolution');
    expect(optionsFor({ GEMINI_MEDIA_RESOLUTION: '' })).not.toHaveProperty('mediaResolution');
  });

  it.each([-1, 0, 512])('thinking budget %i (2.5), 0 included', (budget) => {
    const options = optionsFor({ GEMINI_MODEL: M25, GEMINI_THINKING_BUDGET: String(budget) });
    expect(options.thinkingConfig).toEqual({ thinkingBudget: budget });
  });

  it('affective dialog and proactive audio (2.5): sent when on, absent when off', () => {
    const on = optionsFor({
      GEMINI_MODEL: M25,
      GEMINI_AFFECTIVE_DIALOG: 'true',
      GEMINI_PROACTIVE_AUDIO: 'yes',
    });
    expect(on).toMatchObject({ enableAffectiveDialog: true, proactivity: true });
    const off = optionsFor({
      GEMINI_MODEL: M25,
      GEMINI_AFFECTIVE_DIALOG: 'false',
      GEMINI_PROACTIVE_AUDIO: 'false',
    });
    expect(off).not.toHaveProperty('enableAffectiveDialog');
    expect(off).not.toHaveProperty('proactivity');
  });

  it.each([
    ['non_blocking', google.realtime.Behavior.NON_BLOCKING],
    ['blocking', google.realtime.Behavior.BLOCKING],
  ])('tool behaviour %s -> %s', (behavior, sdk) => {
    const options = optionsFor({ GEMINI_MODEL: M25, GEMINI_TOOL_BEHAVIOR: behavior });
    expect(options.toolBehavior).toBe(sdk);
  });

  it.each([
    ['interrupt', FunctionResponseScheduling.INTERRUPT],
    ['when_idle', FunctionResponseScheduling.WHEN_IDLE],
    ['silent', FunctionResponseScheduling.SILENT],
  ])('tool response scheduling %s -> %s', (scheduling, sdk) => {
    const options = optionsFor({ GEMINI_MODEL: M25, GEMINI_TOOL_RESPONSE_SCHEDULING: scheduling });
    expect(options.toolResponseScheduling).toBe(sdk);
  });

  it('TURN_DETECTION=livekit turns Gemini automatic activity detection off', () => {
    const options = optionsFor({ TURN_DETECTION: 'livekit', DEEPGRAM_API_KEY: 'dg' });
    expect(options.realtimeInputConfig).toEqual({ automaticActivityDetection: { disabled: true } });
    expect(optionsFor({ TURN_DETECTION: 'gemini' })).not.toHaveProperty('realtimeInputConfig');
  });

  it.each([
    ['gemini', {}, {}],
    ['gemini', { GEMINI_INPUT_TRANSCRIPTION: 'false' }, { inputAudioTranscription: null }],
    ['livekit', {}, { inputAudioTranscription: null, userTranscriptsFromStt: true }],
    ['livekit', { GEMINI_INPUT_TRANSCRIPTION: 'true' }, {}],
  ])('TURN_DETECTION=%s %o: who writes the user transcript', (mode, env, expected) => {
    const options = optionsFor({ TURN_DETECTION: mode, ...env });
    expect({
      inputAudioTranscription: options.inputAudioTranscription,
      userTranscriptsFromStt: options.userTranscriptsFromStt,
    }).toEqual({
      inputAudioTranscription: undefined,
      userTranscriptsFromStt: undefined,
      ...expected,
    });
  });

  it('Vertex AI: project and location, the Vertex base URL and API version, no API key', () => {
    const options = realtimeOptions(
      loadSettings({
        GOOGLE_GENAI_USE_VERTEXAI: 'true',
        GOOGLE_CLOUD_PROJECT: 'my-project',
        GOOGLE_CLOUD_LOCATION: 'europe-west4',
        GEMINI_MODEL: VERTEX_25,
        GOOGLE_VERTEX_BASE_URL: NOWHERE,
        GOOGLE_GEMINI_BASE_URL: 'http://127.0.0.1:8',
      }),
      { instructions: INSTRUCTIONS },
    );
    expect(options).toEqual({
      instructions: INSTRUCTIONS,
      voice: 'Puck',
      project: 'my-project',
      location: 'europe-west4',
      // The plugin would pick v1alpha (Gemini API only) for affective dialog or proactivity.
      apiVersion: 'v1beta1',
      httpOptions: { baseUrl: NOWHERE },
    });
  });

  it('Vertex AI location defaults to us-central1', () => {
    const settings = loadSettings({
      GOOGLE_GENAI_USE_VERTEXAI: 'true',
      GOOGLE_CLOUD_PROJECT: 'p',
      GEMINI_MODEL: VERTEX_25,
    });
    expect(realtimeOptions(settings, { instructions: '' })).toMatchObject({
      project: 'p',
      location: 'us-central1',
    });
  });

  it('connect options pass through', () => {
    const connOptions = { maxRetry: 1, retryIntervalMs: 10, timeoutMs: 100 };
    const settings = loadSettings({ GOOGLE_API_KEY: KEY });
    expect(realtimeOptions(settings, { instructions: '', connOptions }).connOptions).toBe(
      connOptions,
    );
  });

  it('the model takes them as given (2.5, every option at once)', () => {
    const settings = loadSettings({
      GOOGLE_API_KEY: KEY,
      GEMINI_MODEL: M25,
      GEMINI_VOICE: 'Aoede',
      GEMINI_TEMPERATURE: '0.7',
      GEMINI_LANGUAGE: 'de-DE',
      GEMINI_THINKING_BUDGET: '256',
      GEMINI_AFFECTIVE_DIALOG: 'true',
      GEMINI_PROACTIVE_AUDIO: 'true',
      GEMINI_TOOL_BEHAVIOR: 'non_blocking',
      GEMINI_TOOL_RESPONSE_SCHEDULING: 'when_idle',
      TURN_DETECTION: 'livekit',
      DEEPGRAM_API_KEY: 'dg',
      GOOGLE_GEMINI_BASE_URL: NOWHERE,
    });
    const model = createRealtimeModel(settings, { instructions: INSTRUCTIONS });
    expect(model.model).toBe(M25);
    expect(model.sessionOptions).toMatchObject({
      row: { id: M25 },
      vertexai: false,
      voice: 'Aoede',
      temperature: 0.7,
      language: 'de-DE',
      instructions: INSTRUCTIONS,
      thinkingConfig: { thinkingBudget: 256 },
      enableAffectiveDialog: true,
      proactivity: true,
      toolBehavior: google.realtime.Behavior.NON_BLOCKING,
      toolResponseScheduling: FunctionResponseScheduling.WHEN_IDLE,
    });
    // With Gemini's activity detection off, the framework knows turn detection is not the model's.
    expect(model.capabilities.turnDetection).toBe(false);
  });
});

describe('createCallSession: the turn-detection modes (constructed, not started)', () => {
  const env = { GOOGLE_API_KEY: KEY, GOOGLE_GEMINI_BASE_URL: NOWHERE };

  it('gemini (default): the model detects turns; no STT, no local turn detector', async () => {
    const call = await createCallSession({ settings: loadSettings(env), instructions: 'x' });
    expect(call.session.turnDetection).toBe('realtime_llm');
    expect(call.session.stt).toBeUndefined();
    expect(call.session.llm).toBe(call.model);
    expect(call.model.capabilities.turnDetection).toBe(true);
  });

  it('livekit: Silero VAD, Deepgram STT and the local v1-mini turn detector, offline', async () => {
    const settings = loadSettings({ ...env, TURN_DETECTION: 'livekit', DEEPGRAM_API_KEY: 'dg' });
    const call = await createCallSession({ settings, instructions: 'x' });
    const { session } = call;
    expect(session.vad).toBeInstanceOf(silero.VAD);
    expect(session.stt).toBeInstanceOf(deepgram.STT);
    expect(session.turnDetection).toBeInstanceOf(inference.TurnDetector);
    expect((session.turnDetection as inference.TurnDetector).model).toBe('turn-detector-v1-mini');
    expect(session.llm).toBe(call.model);
    expect(call.model.capabilities.turnDetection).toBe(false);
    // The session publishes the STT's transcript as the user's (Gemini's own is off).
    expect(call.model.capabilities.userTranscription).toBe(true);
    expect(call.model.sessionOptions.inputAudioTranscription).toBeUndefined();
  });

  it("livekit with only a Google key: Gemini's live transcription model is the STT", async () => {
    const settings = loadSettings({ ...env, TURN_DETECTION: 'livekit' });
    const call = await createCallSession({ settings, instructions: 'x' });
    expect(call.session.stt).toBeInstanceOf(google.beta.GeminiSTT);
    expect((call.session.stt as google.beta.GeminiSTT).model).toBe('gemini-3.5-transcribe-live');
  });

  it('livekit: uses the VAD the worker loaded once (prewarm) instead of loading another', async () => {
    const vad = await silero.VAD.load();
    const settings = loadSettings({ ...env, TURN_DETECTION: 'livekit', DEEPGRAM_API_KEY: 'dg' });
    const call = await createCallSession({ settings, instructions: 'x', vad });
    expect(call.session.vad).toBe(vad);
  });
});

describe('CallUsage', () => {
  const realtimeMetrics = (
    input: Partial<metrics.RealtimeModelMetrics['inputTokenDetails']>,
    output: Partial<metrics.RealtimeModelMetrics['outputTokenDetails']>,
    totalTokens: number,
  ): metrics.RealtimeModelMetrics => {
    const inputTokenDetails = { audioTokens: 0, textTokens: 0, imageTokens: 0, cachedTokens: 0 };
    const outputTokenDetails = { audioTokens: 0, textTokens: 0, imageTokens: 0 };
    return {
      type: 'realtime_model_metrics',
      label: 'test',
      requestId: 'r',
      timestamp: 0,
      durationMs: 0,
      ttftMs: 0,
      cancelled: false,
      inputTokens: 0,
      outputTokens: 0,
      totalTokens,
      tokensPerSecond: 0,
      inputTokenDetails: { ...inputTokenDetails, ...input },
      outputTokenDetails: { ...outputTokenDetails, ...output },
    };
  };

  const session = () => new voice.AgentSession({});
  const metricsEvent = (m: metrics.AgentMetrics) =>
    voice.createMetricsCollectedEvent({ metrics: m });
  const speech = (s: voice.AgentSession, handle = voice.SpeechHandle.create()) => {
    s.emit(
      voice.AgentSessionEventTypes.SpeechCreated,
      voice.createSpeechCreatedEvent({
        userInitiated: false,
        source: 'generate_reply',
        speechHandle: handle,
      }),
    );
    return handle;
  };
  const transcribed = (s: voice.AgentSession, transcript: string, isFinal: boolean) =>
    s.emit(
      voice.AgentSessionEventTypes.UserInputTranscribed,
      voice.createUserInputTranscribedEvent({ transcript, isFinal }),
    );

  it('starts at zero', () => {
    const usage = new CallUsage(session(), 1_000);
    expect(usage.summary(1_000)).toEqual({
      callMinutes: 0,
      userTurns: 0,
      agentReplies: 0,
      interruptions: 0,
      inputTokens: { audio: 0, text: 0, image: 0, cached: 0 },
      outputTokens: { audio: 0, text: 0, image: 0 },
      totalTokens: 0,
    });
  });

  it('adds realtime model tokens by modality and ignores other metrics', () => {
    const s = session();
    const usage = new CallUsage(s, 0);
    const E = voice.AgentSessionEventTypes.MetricsCollected;
    s.emit(
      E,
      metricsEvent(realtimeMetrics({ audioTokens: 50, textTokens: 18 }, { audioTokens: 140 }, 208)),
    );
    s.emit(
      E,
      metricsEvent(
        realtimeMetrics(
          { audioTokens: 25, imageTokens: 258, cachedTokens: 10 },
          { audioTokens: 28, textTokens: 7 },
          318,
        ),
      ),
    );
    const llmMetrics: metrics.LLMMetrics = {
      type: 'llm_metrics',
      label: 'other',
      requestId: 'x',
      timestamp: 0,
      durationMs: 0,
      ttftMs: 0,
      cancelled: false,
      completionTokens: 1000,
      promptTokens: 1000,
      promptCachedTokens: 0,
      totalTokens: 2000,
      tokensPerSecond: 0,
    };
    s.emit(E, metricsEvent(llmMetrics));
    expect(usage.summary(0)).toMatchObject({
      inputTokens: { audio: 75, text: 18, image: 258, cached: 10 },
      outputTokens: { audio: 168, text: 7, image: 0 },
      totalTokens: 526,
    });
  });

  it('counts a user turn per final, non-empty transcript', () => {
    const s = session();
    const usage = new CallUsage(s, 0);
    transcribed(s, 'hel', false);
    transcribed(s, 'hello', true);
    transcribed(s, '   ', true);
    transcribed(s, 'what time is it', false);
    transcribed(s, 'what time is it', true);
    expect(usage.summary(0).userTurns).toBe(2);
  });

  it('counts agent replies, and interruptions when an interrupted reply is done', async () => {
    const s = session();
    const usage = new CallUsage(s, 0);
    const played = speech(s);
    const cut = speech(s);
    speech(s); // still in progress: a reply, not (yet) an interruption
    expect(usage.summary(0)).toMatchObject({ agentReplies: 3, interruptions: 0 });

    played._markDone();
    cut.interrupt();
    cut._markDone();
    await new Promise((r) => setTimeout(r, 0));
    expect(usage.summary(0)).toMatchObject({ agentReplies: 3, interruptions: 1 });
  });

  it('call minutes run from construction to the session close, rounded to 3 decimals', () => {
    const s = session();
    const startedAt = Date.now() - 90_000;
    const usage = new CallUsage(s, startedAt);
    expect(usage.summary(startedAt + 45_000).callMinutes).toBe(0.75);
    expect(usage.summary(startedAt + 1_000).callMinutes).toBe(0.017);

    s.emit(
      voice.AgentSessionEventTypes.Close,
      voice.createCloseEvent(voice.CloseReason.USER_INITIATED),
    );
    // Minutes stop at the close (~90 s after the start), however late the summary is taken.
    expect(usage.summary(Date.now() + 600_000).callMinutes).toBeCloseTo(1.5, 2);
  });

  it('end() is idempotent: the first end wins', () => {
    const usage = new CallUsage(session(), 0);
    usage.end(30_000);
    usage.end(120_000);
    expect(usage.summary(999_999).callMinutes).toBe(0.5);
  });

  it('logSummary returns the summary it logs', () => {
    const usage = new CallUsage(session(), Date.now());
    const logged = usage.logSummary({ jobId: 'j' });
    expect(logged).toMatchObject({ userTurns: 0, agentReplies: 0, totalTokens: 0 });
  });
});
