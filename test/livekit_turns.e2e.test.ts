/**
 * TURN_DETECTION=livekit end to end, offline: Silero VAD hears the user, an STT (the fake
 * Deepgram, or the fake Gemini's live transcription model) writes interim and final transcripts,
 * LiveKit's v1-mini end-of-turn model (real inference, in this process) rules on every pause, and
 * the Gemini Live model, its automatic activity detection off, gets each user turn as
 * `activityStart`, the turn's audio and `activityEnd` and answers. On every Gemini API row.
 */
import { type TestContext, describe, expect, it } from 'vitest';
import { voice } from '@livekit/agents';
import { sttProvider } from '../src/config/settings.ts';
import { E2E_MODELS, speechFixture, unscriptedCloses } from './support/call_harness.ts';
import {
  type LivekitCall,
  type LivekitCallOptions,
  TRANSCRIBE_MODEL,
  audioBeforeFirstActivity,
  liveConnections,
  liveSignals,
  silence,
  startLivekitCall,
  voicedMs,
} from './support/livekit_call.ts';

const FINISHED = 'Hello there, can you hear me?';
const soon = (ms = 25_000) => Date.now() + ms;

/** Each test is its own call, waiting on real-time audio: they run side by side. */
const start = async (ctx: TestContext, options: LivekitCallOptions) => {
  const h = await startLivekitCall(options);
  ctx.onTestFinished(() => h.close());
  return h;
};

const messages = (call: LivekitCall, role: string) =>
  call.call.events.ofType('message').filter((e) => e.role === role);
const finals = (call: LivekitCall) =>
  call.call.events
    .ofType('user_transcript')
    .filter((e) => e.final)
    .map((e) => e.text);

describe.concurrent.each(E2E_MODELS)('TURN_DETECTION=livekit on $id', ({ id }) => {
  it('answers a spoken question: activityStart, the whole question, activityEnd and nothing more; the user turn once', async (ctx) => {
    const call = await start(ctx, { model: id, stt: 'deepgram', said: [FINISHED] });
    await call.call.say(speechFixture('finished.wav'));
    expect(await call.call.untilAnswered({ deadline: soon(), settleMs: 1000 })).toBe(true);

    // The end of the turn alone asks for the answer: no text turn, no client content after it.
    expect(liveSignals(call.fake)).toEqual(['activityStart', 'activityEnd']);
    // Nothing before the VAD opened the turn is lost: no audio went out before it, and the turn
    // holds the whole question (its lead-in covers the half second the VAD needs).
    expect(audioBeforeFirstActivity(call.fake)).toBe(false);
    const [turn] = liveConnections(call.fake).flatMap((c) => c.turns);
    expect(turn?.source).toBe('audio');
    expect(turn!.speechMs).toBeGreaterThanOrEqual(voicedMs('finished.wav') - 40);

    // The STT's transcript is the user's, once: interim text while they speak, one final.
    const interims = call.call.events.ofType('user_transcript').filter((e) => !e.final);
    expect(interims.length).toBeGreaterThan(0);
    expect(finals(call)).toEqual([FINISHED]);
    expect(messages(call, 'user').map((m) => m.text)).toEqual([FINISHED]);
    expect(messages(call, 'assistant')).toHaveLength(1);
    // Gemini does not transcribe the user as well.
    const setup = liveConnections(call.fake)[0]!.setup;
    expect(setup.inputAudioTranscription).toBeUndefined();
    expect(setup.realtimeInputConfig).toEqual({ automaticActivityDetection: { disabled: true } });
    expect(unscriptedCloses(call.fake)).toEqual([]);
  });

  it('stops its reply when the user talks over it, then answers the new question', async (ctx) => {
    let replies = 0;
    const call = await start(ctx, {
      model: id,
      stt: 'deepgram',
      said: [FINISHED],
      // The first reply is long enough to talk over.
      fake: {
        respond: () => ({ text: `Reply ${++replies}.`, audioMs: replies === 1 ? 8000 : 600 }),
      },
    });
    const { session } = call.call.call;
    const speaking = new Promise<void>((resolve) =>
      session.on(voice.AgentSessionEventTypes.AgentStateChanged, (ev) => {
        if (ev.newState === 'speaking') resolve();
      }),
    );
    await call.call.say(speechFixture('finished.wav'));
    await speaking;
    await call.call.say(speechFixture('finished.wav'));
    expect(await call.call.untilAnswered({ deadline: soon(), replies: 2, settleMs: 1000 })).toBe(
      true,
    );

    expect(call.played[0]?.interrupted).toBe(true);
    const replied = messages(call, 'assistant');
    // The first reply is kept as far as it played (the framework cuts its text there).
    expect(replied.map((m) => m.interrupted)).toEqual([true, false]);
    expect(replied[1]?.text).toBe('Reply 2.');
    // Each question was one turn, opened while the agent spoke (Gemini stops at activityStart).
    expect(liveSignals(call.fake)).toEqual([
      'activityStart',
      'activityEnd',
      'activityStart',
      'activityEnd',
    ]);
    expect(call.fake.sent.some((s) => s.msg.serverContent?.interrupted === true)).toBe(true);
    expect(messages(call, 'user').map((m) => m.text)).toEqual([FINISHED, FINISHED]);
    expect(unscriptedCloses(call.fake)).toEqual([]);
  });
});

describe.concurrent.each(['deepgram', 'gemini'] as const)(
  'the user transcribed by STT=%s',
  (stt) => {
    it('answers a spoken question, with interim and final transcripts from that STT', async (ctx) => {
      const call = await start(ctx, { model: 'gemini-3.8-live', stt, said: [FINISHED] });
      expect(sttProvider(call.settings)).toBe(stt);
      await call.call.say(speechFixture('finished.wav'));
      expect(await call.call.untilAnswered({ deadline: soon(), settleMs: 1000 })).toBe(true);

      if (stt === 'deepgram') {
        const [listen] = call.deepgram!.connections;
        expect(listen?.query.get('encoding')).toBe('linear16');
        expect(listen?.query.get('interim_results')).toBe('true');
        expect(call.deepgram!.results.filter((r) => !r.isFinal).length).toBeGreaterThan(0);
        expect(call.fake.connections.map((c) => c.model)).not.toContain(TRANSCRIBE_MODEL);
      } else {
        // Gemini's live transcription model, on the call's own Gemini key.
        const transcriber = call.fake.connections.find((c) => c.model === TRANSCRIBE_MODEL);
        expect(transcriber?.setup.generationConfig).toEqual({ responseModalities: ['TEXT'] });
        expect(transcriber?.setup.inputAudioTranscription).toEqual({ languageCodes: [] });
        const sentByIt = call.fake.sent.filter((s) => s.conn === transcriber!.index);
        expect(sentByIt.some((s) => s.msg.serverContent?.interimInputTranscription)).toBe(true);
        expect(sentByIt.some((s) => s.msg.serverContent?.inputTranscription)).toBe(true);
        expect(call.deepgram).toBeUndefined();
      }
      expect(finals(call)).toEqual([FINISHED]);
      expect(messages(call, 'user').map((m) => m.text)).toEqual([FINISHED]);
      expect(messages(call, 'assistant')).toHaveLength(1);
      expect(unscriptedCloses(call.fake)).toEqual([]);
    });
  },
);

describe.concurrent("LiveKit's end-of-turn model (v1-mini, real inference on speech)", () => {
  /**
   * With the fixtures' own ~380 ms of trailing silence: the held pause stays well inside the
   * 2.5 s an unlikely end of turn waits, and a released reply starts well inside the other.
   */
  const HELD_PAUSE_MS = 1000;
  const RELEASED_PAUSE_MS = 1500;

  it('holds a sentence the user pauses in, and answers it once it is finished', async (ctx) => {
    const call = await start(ctx, {
      model: 'gemini-3.8-live',
      stt: 'deepgram',
      said: ['What is the weather like in', 'Paris today?'],
    });
    await call.call.say(speechFixture('unfinished.wav'));
    await call.call.say(silence(HELD_PAUSE_MS));
    const beforeRest = call.call.events.events.length;
    await call.call.say(speechFixture('unfinished_rest.wav'));
    expect(await call.call.untilAnswered({ deadline: soon(), settleMs: 1000 })).toBe(true);

    // The model ruled on the pause: too unlikely an end of turn, so the framework waited.
    const rulings = call.call.events.ofType('end_of_turn');
    expect(rulings.length).toBeGreaterThanOrEqual(2);
    const [pause, end] = [rulings[0]!, rulings.at(-1)!];
    expect(pause.probability).toBeLessThan(pause.threshold as number);
    expect(end.probability).toBeGreaterThanOrEqual(end.threshold as number);
    // Real inference ran (without it every ruling is a fixed 1.0 in 0 ms).
    expect(rulings.every((r) => (r.inference_ms as number) > 0)).toBe(true);
    // Nothing was answered during the pause.
    const duringPause = call.call.events.events.slice(0, beforeRest);
    expect(duringPause.filter((e) => e.type === 'message')).toEqual([]);
    expect(duringPause.some((e) => e.type === 'agent_state' && e.state === 'speaking')).toBe(false);
    // One turn: one user message with both halves, one Gemini turn, one reply.
    expect(messages(call, 'user').map((m) => m.text)).toEqual([
      'What is the weather like in Paris today?',
    ]);
    expect(liveSignals(call.fake)).toEqual(['activityStart', 'activityEnd']);
    expect(messages(call, 'assistant')).toHaveLength(1);
  });

  it('answers a finished question at the pause, without waiting out the longest delay', async (ctx) => {
    const call = await start(ctx, { model: 'gemini-3.8-live', stt: 'deepgram', said: [FINISHED] });
    const commits: number[] = [];
    call.call.call.session.on(voice.AgentSessionEventTypes.MetricsCollected, (ev) => {
      if (ev.metrics.type === 'eou_metrics') commits.push(ev.metrics.endOfUtteranceDelayMs);
    });
    await call.call.say(speechFixture('finished.wav'));
    await call.call.say(silence(RELEASED_PAUSE_MS));
    const afterPause = call.call.events.events.length;
    expect(await call.call.untilAnswered({ deadline: soon(), settleMs: 1000 })).toBe(true);

    const [ruling] = call.call.events.ofType('end_of_turn');
    expect(ruling!.probability).toBeGreaterThanOrEqual(ruling!.threshold as number);
    expect((ruling!.inference_ms as number) > 0).toBe(true);
    // The reply began within the pause, and the turn was committed well before the 2.5 s that
    // an unlikely end of turn waits for.
    const inPause = call.call.events.events.slice(0, afterPause);
    expect(inPause.some((e) => e.type === 'agent_state' && e.state === 'speaking')).toBe(true);
    expect(commits).toHaveLength(1);
    expect(commits[0]).toBeLessThan(2500);
  });
});

describe.concurrent('GEMINI_INPUT_TRANSCRIPTION=true with TURN_DETECTION=livekit', () => {
  it("Gemini's own transcript is the user's, once; the STT only informs the turn detector", async (ctx) => {
    const call = await start(ctx, {
      model: 'gemini-3.8-live',
      stt: 'deepgram',
      said: [FINISHED],
      env: { GEMINI_INPUT_TRANSCRIPTION: 'true' },
      fake: { transcribe: () => 'hello there can you hear me' },
    });
    await call.call.say(speechFixture('finished.wav'));
    expect(await call.call.untilAnswered({ deadline: soon(), settleMs: 1000 })).toBe(true);

    expect(liveConnections(call.fake)[0]!.setup.inputAudioTranscription).toEqual({});
    expect(finals(call)).toEqual(['hello there can you hear me']);
    expect(messages(call, 'user').map((m) => m.text)).toEqual(['hello there can you hear me']);
    expect(liveSignals(call.fake)).toEqual(['activityStart', 'activityEnd']);
  });
});

describe.concurrent('a fault in a client-marked turn', () => {
  it('3.1: a close (1011) after the turn, before the answer: asks again with the STT transcript', async (ctx) => {
    const call = await start(ctx, {
      model: 'gemini-3.1-flash-live-preview',
      stt: 'deepgram',
      said: [FINISHED],
      fake: { faults: [{ at: 'user_turn', nth: 0, do: { type: 'close', code: 1011 } }] },
    });
    await call.call.say(speechFixture('finished.wav'));
    expect(await call.call.untilAnswered({ deadline: soon(), settleMs: 1000 })).toBe(true);

    // No handle yet, so a fresh socket: the conversation as declared history (the user's turn in
    // the STT's words, as Gemini did not transcribe it), then the words again as realtime text,
    // which asks 3.1 for the answer.
    expect(liveConnections(call.fake)).toHaveLength(2);
    expect(liveSignals(call.fake)).toEqual([
      'activityStart',
      'activityEnd',
      'clientContent',
      'text',
    ]);
    const [, fresh] = liveConnections(call.fake);
    expect(fresh!.history).toEqual([{ role: 'user', parts: [{ text: FINISHED }] }]);
    expect(fresh!.turns.map((t) => [t.source, t.text])).toEqual([['realtime_text', FINISHED]]);
    expect(messages(call, 'user').map((m) => m.text)).toEqual([FINISHED]);
    expect(messages(call, 'assistant')).toHaveLength(1);
  });
});
