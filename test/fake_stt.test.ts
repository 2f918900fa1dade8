/**
 * The fake speech recognisers, through the real plugins: the fake Deepgram streaming server via
 * @livekit/agents-plugin-deepgram, and the fake Gemini's live transcription model via
 * @livekit/agents-plugin-google's GeminiSTT (@google/genai underneath).
 */
import { initializeLogger, stt } from '@livekit/agents';
import * as deepgram from '@livekit/agents-plugin-deepgram';
import * as google from '@livekit/agents-plugin-google';
import { AudioFrame } from '@livekit/rtc-node';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FakeDeepgramServer } from '../tools/fake_deepgram/server.ts';
import { FakeGeminiServer } from '../tools/fake_gemini/server.ts';
import { speechFixture } from './support/call_harness.ts';

const SAID = 'Hello there, can you hear me?';

beforeAll(() => initializeLogger({ pretty: false, level: 'silent' }));

let closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.reverse()) await close();
  closers = [];
});

/** Stream `samples` (16 kHz) in 20 ms frames, then silence, and collect what the STT says. */
async function transcribe(engine: stt.STT, samples: Int16Array): Promise<stt.SpeechEvent[]> {
  const stream = engine.stream();
  const events: stt.SpeechEvent[] = [];
  const reading = (async () => {
    for await (const event of stream) {
      events.push(event);
      if (event.type === stt.SpeechEventType.FINAL_TRANSCRIPT) return;
    }
  })();
  const all = new Int16Array(samples.length + 16_000); // 1 s of silence ends the segment
  all.set(samples);
  for (let at = 0; at < all.length; at += 320) {
    stream.pushFrame(new AudioFrame(all.slice(at, at + 320), 16_000, 1, 320));
    await new Promise((resolve) => setImmediate(resolve));
  }
  await reading;
  stream.close();
  return events;
}

const texts = (events: stt.SpeechEvent[], type: stt.SpeechEventType) =>
  events.filter((e) => e.type === type).map((e) => e.alternatives?.[0]?.text);

describe('the fake Deepgram, through the Deepgram plugin', () => {
  it('interim results while the user speaks, then one final with the segment', async () => {
    const fake = await FakeDeepgramServer.start({ apiKey: 'dg-key', transcribe: () => SAID });
    closers.push(() => fake.close());
    const engine = new deepgram.STT({ apiKey: 'dg-key', baseUrl: fake.baseUrl });
    const events = await transcribe(engine, speechFixture('finished.wav'));

    expect(texts(events, stt.SpeechEventType.INTERIM_TRANSCRIPT).length).toBeGreaterThan(0);
    expect(texts(events, stt.SpeechEventType.FINAL_TRANSCRIPT)).toEqual([SAID]);
    expect(events[0]?.type).toBe(stt.SpeechEventType.START_OF_SPEECH);
    const [conn] = fake.connections;
    expect(conn?.query.get('sample_rate')).toBe('16000');
    expect(conn?.query.get('vad_events')).toBe('true');
  });

  it('refuses a wrong key before the upgrade (401), and a request that is not linear16 (400)', async () => {
    const fake = await FakeDeepgramServer.start({ apiKey: 'dg-key' });
    closers.push(() => fake.close());
    const status = (query: string, key: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`${fake.baseUrl}/v1/listen?${query}`, {
          headers: { Authorization: `Token ${key}` },
        });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => resolve(101));
        ws.on('error', () => undefined);
      });
    expect(await status('encoding=linear16', 'wrong')).toBe(401);
    expect(await status('encoding=opus', 'dg-key')).toBe(400);
    expect(await status('encoding=linear16', 'dg-key')).toBe(101);
  });
});

describe("the fake Gemini's live transcription model, through GeminiSTT", () => {
  it('interimInputTranscription while the user speaks, then inputTranscription as the final', async () => {
    const fake = await FakeGeminiServer.start({ apiKey: 'g-key', transcribe: () => SAID });
    closers.push(() => fake.close());
    const engine = new google.beta.GeminiSTT({
      apiKey: 'g-key',
      language: 'en-US',
      httpOptions: { baseUrl: fake.baseUrl },
    });
    const events = await transcribe(engine, speechFixture('finished.wav'));

    expect(texts(events, stt.SpeechEventType.INTERIM_TRANSCRIPT).length).toBeGreaterThan(0);
    expect(texts(events, stt.SpeechEventType.FINAL_TRANSCRIPT)).toEqual([SAID]);
    const [conn] = fake.connections;
    expect(conn?.model).toBe('gemini-3.5-transcribe-live');
    expect(conn?.setup.inputAudioTranscription).toEqual({ languageCodes: ['en-US'] });
    expect(conn?.turns.map((t) => t.text)).toEqual([SAID]);
  });

  it('refuses a setup asking it for audio (1007), as it answers in text only', async () => {
    const fake = await FakeGeminiServer.start();
    closers.push(() => fake.close());
    const ws = new WebSocket(
      `${fake.baseUrl.replace('http', 'ws')}/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent?key=k`,
    );
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(
      JSON.stringify({
        setup: {
          model: 'models/gemini-3.5-transcribe-live',
          generationConfig: { responseModalities: ['AUDIO'] },
          inputAudioTranscription: {},
        },
      }),
    );
    const code = await new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)));
    expect(code).toBe(1007);
    expect(fake.connections[0]?.closeReason).toMatch(
      /response modalities \(AUDIO\) is not supported/,
    );
  });
});
