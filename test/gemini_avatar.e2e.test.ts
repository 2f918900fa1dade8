/**
 * Gemini renders the face (Live Avatar) end to end, offline: the call on the Vertex AI
 * `gemini-3.8-live` row, our Gemini session and the real @google/genai talking Vertex to the fake
 * server, which streams fragmented MP4 cut from its committed clip; Gemini's face (the avatar
 * publisher's second source) plays the speech decoded from the same fragments and publishes the
 * pictures. Vertex signs in offline as in test/vertex.e2e.test.ts.
 *
 * The clip (tools/fake_gemini/avatar_clip/) makes sync measurable: each frame carries its index
 * as a barcode, and each syllable starts on a frame boundary with the mouth opening on that frame.
 * A syllable's onset in the audio the sink pushed and the publish of the picture that starts it
 * are one event; their distance on the audio timeline is the A/V offset.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { voice } from '@livekit/agents';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { avatarMediaOf } from '../src/avatar/gemini/call_avatar.ts';
import { GeminiFace } from '../src/avatar/gemini/face_publisher.ts';
import { MIC_RATE } from '../src/console/offline_call.ts';
import type { CallSession } from '../src/session.ts';
import { type AvatarClip, avatarClip } from '../tools/fake_gemini/avatar_stream.ts';
import {
  FakeGeminiServer,
  type FakeGeminiOptions,
  tonePcm16,
} from '../tools/fake_gemini/server.ts';
import { type Harness, startHarness, unscriptedCloses } from './support/call_harness.ts';
import { LoopWatch } from './support/loop_watch.ts';
import { writeWorkloadCredentials } from './support/vertex_adc.ts';

const PROJECT = 'vertex-avatar-project';
const ACCESS_TOKEN = 'ya29.fake-vertex-avatar-token';
const VERTEX_ENV = {
  GOOGLE_GENAI_USE_VERTEXAI: 'true',
  GOOGLE_CLOUD_PROJECT: PROJECT,
  GOOGLE_CLOUD_LOCATION: 'us-central1',
  GEMINI_MODEL: 'gemini-3.8-live',
  AVATAR_ID: 'gemini-kira',
};
const RATE = 24_000;
const FRAME_MS = 1000 / 24;
const WORDS = tonePcm16(300, MIC_RATE);
const soon = (ms = 20_000) => Date.now() + ms;
/** Replies shorter than the clip (5.3 s), so each shows the clip once from its first frame. */
const shortReplies: FakeGeminiOptions['respond'] = (turn) =>
  turn.source === 'audio'
    ? { text: 'You said: hello.', audioMs: 2_000 }
    : { text: 'Hi! How can I help?', audioMs: 3_000 };
const clip: AvatarClip = avatarClip();

let sts: FakeGeminiServer;
let dir: string;

beforeAll(async () => {
  sts = await FakeGeminiServer.start({ accessToken: ACCESS_TOKEN });
  dir = mkdtempSync(path.join(tmpdir(), 'gemini-avatar-adc-'));
  const subject = path.join(dir, 'subject-token');
  writeFileSync(subject, 'an OIDC token from the workload');
  vi.stubEnv(
    'GOOGLE_APPLICATION_CREDENTIALS',
    writeWorkloadCredentials(dir, 'credentials.json', sts.tokenUrl, subject),
  );
  vi.stubEnv('GOOGLE_CLOUD_PROJECT', PROJECT);
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await sts?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const restFrames = new Set(
  Array.from({ length: clip.info.frames }, (_, i) => i).filter((i) => clip.isRest(i)),
);

interface Shown {
  code: number;
  /** Audio timeline position playing when it was published, samples. */
  played: number;
  /** performance.now() at publish. */
  at: number;
  stream: number;
  repeat: boolean;
  rest: boolean;
}

/** Gemini's face as the call's speaker, with what it published and the audio it pushed. */
class Watched {
  readonly shown: Shown[] = [];
  /** The sink's audio timeline (what the AudioSource played or will play), truncations applied. */
  audio = new Int16Array(RATE * 120);
  end = 0;
  face?: GeminiFace;
  readonly clears: { at: number; played: number }[] = [];
  readonly finished: voice.PlaybackFinishedEvent[] = [];

  async speaker(call: CallSession) {
    const media = avatarMediaOf(call.session);
    if (!media) throw new Error('the model is not rendering an avatar');
    this.face = new GeminiFace({
      media,
      keepOffsets: 100_000,
      audioTap: {
        push: (samples) => {
          this.audio.set(samples, this.end);
          this.end += samples.length;
        },
        truncate: (ms) => {
          this.end = Math.min(this.end, Math.round((ms * RATE) / 1000));
          this.clears.push({ at: performance.now(), played: this.end });
        },
      },
      onFrame: (f) =>
        this.shown.push({
          code: clip.frameIndex(f.i420, f.width),
          played: Math.round((f.audioMs * RATE) / 1000),
          at: performance.now(),
          stream: f.stream,
          repeat: f.repeat,
          rest: f.rest,
        }),
    });
    const sink = await this.face.prepare();
    sink.on(voice.AudioOutput.EVENT_PLAYBACK_FINISHED, (ev: voice.PlaybackFinishedEvent) =>
      this.finished.push(ev),
    );
    return sink;
  }

  /** Where, on the audio timeline, each syllable of each reply starts: sound after 30 ms of silence. */
  onsets(): number[] {
    const out: number[] = [];
    const window = RATE / 1000; // 1 ms
    let quietMs = 0;
    for (let pos = 0; pos + window <= this.end; pos += window) {
      let peak = 0;
      for (let i = pos; i < pos + window; i++) peak = Math.max(peak, Math.abs(this.audio[i]!));
      if (peak >= 200 && quietMs >= 30) out.push(pos);
      quietMs = peak < 200 ? quietMs + 1 : 0;
    }
    return out;
  }
}

describe('Gemini renders the face (gemini-3.8-live on Vertex AI, avatar gemini-kira)', () => {
  let h: Harness | undefined;
  let watched: Watched;
  /** Times are asserted without this process's event-loop stalls (a loaded machine). */
  let loop: LoopWatch | undefined;
  const start = async (fake: FakeGeminiOptions = {}, env: Record<string, string> = {}) => {
    loop = new LoopWatch().start();
    watched = new Watched();
    h = await startHarness({
      env: { ...VERTEX_ENV, ...env },
      fake: { accessToken: ACCESS_TOKEN, ...fake },
      speakerFor: (call) => watched.speaker(call),
    });
    return h;
  };
  afterEach(async () => {
    loop?.stop();
    await h?.close();
    await watched?.face?.close();
    h = undefined;
  });
  /** The longest time without any published picture, after the first one (stalls left out). */
  const maxGapMs = (shown: Shown[]) => loop!.maxGapMs(shown.map((s) => s.at));

  it('greets and answers a spoken turn with Gemini video: the clip in order, its own audio, in sync', async () => {
    const { call, fake } = await start({ respond: shortReplies });
    await call.call.greet();
    const since = call.events.events.length;
    await call.say(WORDS);
    expect(await call.untilAnswered({ deadline: soon(), since, settleMs: 800 })).toBe(true);

    const [conn] = fake.connections;
    expect(fake.connections).toHaveLength(1);
    expect(conn!.setup.generationConfig.responseModalities).toEqual(['VIDEO']);
    expect(conn!.setup.avatarConfig).toEqual({ avatarName: 'Kira' });
    expect(conn!.avatar.fragments).toBeGreaterThan(10);

    // Two replies, each the clip from its first frame on, every frame shown once, in order.
    const pictures = watched.shown.filter((s) => !s.repeat);
    const runs: Shown[][] = [];
    for (const p of pictures) {
      if (runs.length === 0 || p.code < runs.at(-1)!.at(-1)!.code) runs.push([]);
      runs.at(-1)!.push(p);
    }
    expect(runs).toHaveLength(2);
    for (const run of runs) {
      const codes = run.map((p) => p.code);
      expect(codes[0]).toBe(0);
      // In order, each at most once; a late picture may give way to the next: a few, and one for
      // each frame's time this process's loop was held back (a loaded machine).
      expect(codes.every((code, i) => i === 0 || code > codes[i - 1]!)).toBe(true);
      const late = loop!.stalledMs(run[0]!.at, run.at(-1)!.at) / FRAME_MS;
      expect(codes.length).toBeGreaterThan(0.9 * (codes.at(-1)! + 1) - late);
    }
    // The audio is the clip's, once (no PCM doubled in): about the pictures' length.
    const shownMs = pictures.length * FRAME_MS;
    expect((watched.end / RATE) * 1000).toBeGreaterThan(shownMs - 200);

    // Sync: each syllable's picture is published when its audio onset plays.
    const offsets = syllableOffsets(watched);
    expect(offsets.length).toBeGreaterThanOrEqual(10);
    for (const ms of offsets) expect(Math.abs(ms)).toBeLessThan(FRAME_MS);
    expect(median(offsets.map(Math.abs))).toBeLessThan(15);

    // Between and after the turns the face stays: a resting picture, repeated at the frame rate.
    const last = watched.shown.at(-1)!;
    expect(last.rest).toBe(true);
    expect(restFrames.has(last.code)).toBe(true);
    expect(maxGapMs(watched.shown)).toBeLessThan(3 * FRAME_MS + 100);

    const usage = h!.call.call.usage.summary();
    expect(usage.outputTokens.video).toBeGreaterThan(0);
    expect(unscriptedCloses(fake)).toEqual([]);
  });

  it('an interruption cuts the reply within a frame: the face rests, the framework learns what played', async () => {
    const { call, fake } = await start({
      paceFactor: 1.5,
      respond: (turn) =>
        turn.source === 'audio'
          ? { text: 'Sorry, go on.', audioMs: 1_000 }
          : { text: 'A long story, told slowly.', audioMs: 9_000 },
    });
    // A long greeting (about 5 s); the user speaks over it.
    const greeting = call.call.session.generateReply({ instructions: 'Say something long.' });
    await until(() => watched.shown.filter((s) => !s.repeat).length > 30);
    await call.say(WORDS);
    await until(() => watched.clears.length > 0);
    await greeting.waitForPlayout().catch(() => undefined);
    const clear = watched.clears[0]!;
    // No picture of the cut reply after the cut; the resting face within a frame.
    const after = watched.shown.filter((s) => s.at >= clear.at);
    const firstAfter = after[0]!;
    expect(firstAfter.at - clear.at - loop!.stalledMs(clear.at, firstAfter.at)).toBeLessThan(
      FRAME_MS,
    );
    expect(restFrames.has(firstAfter.code)).toBe(true);
    const beforeNext = after.filter((s) => s.played <= clear.played + RATE / 10);
    expect(beforeNext.every((s) => restFrames.has(s.code))).toBe(true);
    // The framework was told the position that played, interrupted.
    const cut = watched.finished.find((f) => f.interrupted);
    expect(cut).toBeDefined();
    expect(cut!.playbackPosition).toBeGreaterThan(1);
    expect(cut!.playbackPosition).toBeLessThan((clear.played + RATE / 50) / RATE);
    expect(fake.connections[0]!.turns.length).toBeGreaterThanOrEqual(1);
  });

  it('recovers a 1011 mid-reply: the face stays on screen, the next reply streams anew', async () => {
    const { call, fake } = await start({
      respond: shortReplies,
      faults: [{ at: 'reply', afterChunks: 6, do: { type: 'close', code: 1011 } }],
    });
    await call.call.greet().catch(() => undefined);
    await until(() => fake.connections.length === 2 && !!fake.connections[1]!.setup);
    const since = call.events.events.length;
    await call.say(WORDS);
    expect(await call.untilAnswered({ deadline: soon(), since, settleMs: 800 })).toBe(true);
    expect(fake.connections[1]!.setup.avatarConfig).toEqual({ avatarName: 'Kira' });
    const streams = new Set(watched.shown.filter((s) => !s.repeat).map((s) => s.stream));
    expect([...streams]).toEqual([1, 2]);
    // No dark gap: pictures kept coming through the reconnect.
    expect(maxGapMs(watched.shown)).toBeLessThan(3 * FRAME_MS + 100);
  });

  it('plays the speech once when PCM parts come beside the MP4', async () => {
    const { call, fake } = await start({ avatarPcm: true, respond: shortReplies });
    await call.call.greet();
    const sent = fake.connections[0]!.avatar.fragments;
    expect(sent).toBeGreaterThan(0);
    const pictures = watched.shown.filter((s) => !s.repeat).length;
    // About one picture's worth of audio per picture, not two.
    expect(watched.end / RATE).toBeLessThan((pictures * FRAME_MS) / 1000 + 0.5);
  });
});

/** For each syllable start shown, ms from its audio onset to its picture's publish. */
function syllableOffsets(w: Watched): number[] {
  const starts = new Set(clip.info.syllables.map((s) => s.startFrame));
  const onsets = w.onsets();
  const out: number[] = [];
  for (const s of w.shown) {
    if (s.repeat || !starts.has(s.code)) continue;
    const onset = nearest(onsets, s.played);
    if (onset !== undefined && Math.abs(onset - s.played) < RATE / 4) {
      out.push(((s.played - onset) * 1000) / RATE);
    }
  }
  return out;
}

function nearest(values: number[], target: number): number | undefined {
  let best: number | undefined;
  for (const v of values)
    if (best === undefined || Math.abs(v - target) < Math.abs(best - target)) best = v;
  return best;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1] ?? 0;
}

async function until(done: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
