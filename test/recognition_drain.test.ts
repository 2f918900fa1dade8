/**
 * livekit/agents-js#1462: with Gemini's own turn detection (no VAD, no STT) the framework tees the
 * microphone into VAD and STT branches that nobody reads, so a call kept every microphone frame
 * until it ended (found by `npm run soak -- --long`). The call's agent drains those branches:
 * frames a stand-in microphone sent are garbage once sent (a FinalizationRegistry counts them).
 */
import { ReadableStream } from 'node:stream/web';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { AudioFrame } from '@livekit/rtc-node';
import { voice } from '@livekit/agents';
import { afterEach, expect, it } from 'vitest';
import { MIC_RATE } from '../src/console/offline_call.ts';
import { createCallSession } from '../src/session.ts';
import { TEST_API_KEY, quietLogger, testSettings } from './support/call_harness.ts';
import { FakeGeminiServer } from '../tools/fake_gemini/server.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A microphone that sends frames on demand and counts those that were garbage collected. */
class CountingMic extends voice.AudioInput {
  sent = 0;
  freed = 0;
  readonly #registry = new FinalizationRegistry<number>(() => {
    this.freed++;
  });
  #controller?: { enqueue(frame: AudioFrame): void };

  constructor() {
    super();
    this.multiStream.addInputStream(
      new ReadableStream<AudioFrame>({ start: (c) => void (this.#controller = c) }),
    );
  }

  /** `n` frames of 10 ms silence. */
  send(n: number): void {
    const samples = MIC_RATE / 100;
    for (let i = 0; i < n; i++) {
      const frame = new AudioFrame(new Int16Array(samples), MIC_RATE, 1, samples);
      this.#registry.register(frame, this.sent++);
      this.#controller!.enqueue(frame);
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

it.each(['gemini-3.1-flash-live-preview', 'gemini-2.5-flash-native-audio-preview-12-2025'])(
  '%s with Gemini turn detection keeps no microphone frame once it was sent',
  async (model) => {
    quietLogger();
    const fake = await FakeGeminiServer.start({ apiKey: TEST_API_KEY });
    cleanups.push(() => fake.close());
    const settings = testSettings(fake, { GEMINI_MODEL: model, AGENT_GREETING: '' });
    const call = await createCallSession({ settings, echoFree: true, outputCanPause: false });
    const mic = new CountingMic();
    call.session.input.audio = mic;
    await call.session.start({ agent: call.agent });
    cleanups.push(() => call.session.close());
    await fake.waitFor((f) => f.sent.some((e) => 'setupComplete' in e.msg), 5000, 'setup');

    const audioSent = () => fake.received.filter((e) => 'realtimeInput' in e.msg).length;
    const before = audioSent();
    for (let second = 0; second < 3; second++) {
      mic.send(100);
      await sleep(200);
    }
    await fake.waitFor(() => audioSent() > before, 5000, 'microphone audio at the fake');
    await sleep(500);
    for (let i = 0; i < 4 && mic.freed < mic.sent * 0.9; i++) {
      gc();
      await sleep(50);
    }
    // Without the drain none is freed: each one waits in the unread VAD and STT branches.
    expect(mic.freed).toBeGreaterThanOrEqual(mic.sent * 0.9);
  },
);
