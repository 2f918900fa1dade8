/**
 * Gemini's face (Live Avatar) benchmarks, `npm run bench -- --suite gemini-avatar [--long]`:
 * the fake server's clip (704x1280, 24 fps, H.264 Constrained Baseline + AAC) streamed as Gemini
 * streams it (fMP4 in 16 KiB slices that ignore box boundaries) through the worker's demuxer and
 * decoders into Gemini's face: its sink on an AudioSource and its pictures on a VideoSource, as in
 * a room (no room: nothing is sent).
 *
 * - cost: real time, 30 s of speech: decode + publish ms per picture, the process's CPU as a share
 *   of one core, memory;
 * - first picture: from the first bytes of the stream to the first picture published;
 * - sync and drift: on a virtual clock (the same code, time moved by the test), 10 minutes of
 *   speech in replies with pauses (--long; 2 minutes otherwise): the audio's presentation time
 *   minus the picture's at each publish, per minute.
 */
import { performance } from 'node:perf_hooks';
import { loadAv } from '../src/avatar/gemini/av.ts';
import { GeminiFace } from '../src/avatar/gemini/face_publisher.ts';
import { GeminiAvatarMedia } from '../src/avatar/gemini/media_output.ts';
import { VirtualClock } from '../src/avatar/clock.ts';
import { Slicer, avatarClip } from '../tools/fake_gemini/avatar_stream.ts';
import { DEFAULT_VIDEO_CHUNK_BYTES } from '../tools/fake_gemini/server.ts';
import { type Summary, ms, summarize } from './stats.ts';

export interface StreamPlan {
  /** Speech per reply, ms, and silence after it. */
  replies: { ms: number; pauseMs: number }[];
  sliceBytes?: number;
}

export interface StreamRun {
  media: GeminiAvatarMedia;
  face: GeminiFace;
  clock?: VirtualClock;
  /** Wall time the run took, ms. */
  wallMs: number;
}

/**
 * Gemini's face fed the clip's stream as the model's session would feed it: the speech decoded
 * from the fragments into the sink (waiting for room in the AudioSource, as the framework does),
 * the pictures to the face. On `clock` (virtual) time moves only as the run needs it.
 */
export async function runAvatarStream(
  plan: StreamPlan,
  options: { clock?: VirtualClock; keepOffsets?: number; onCut?: (face: GeminiFace) => void } = {},
): Promise<StreamRun> {
  const av = loadAv();
  if (av instanceof Error) throw av;
  const media = new GeminiAvatarMedia({ config: { avatarName: 'Ben' }, av, sampleRate: 24_000 });
  const { clock } = options;
  const face = new GeminiFace({
    media,
    ...(clock ? { clock } : {}),
    keepOffsets: options.keepOffsets ?? 1_000_000,
  });
  const sink = await face.prepare();
  const clip = avatarClip();
  const stream = media.openStream();
  const slicer = new Slicer(plan.sliceBytes ?? DEFAULT_VIDEO_CHUNK_BYTES);
  const sleep = (msToWait: number) =>
    clock ? clock.sleep(msToWait) : new Promise((r) => setTimeout(r, msToWait));
  const now = () => (clock ? clock.now() : performance.now());
  const started = performance.now();
  const t0 = now();
  let endSec = 0;
  let sentInit = false;
  let finished = false;
  const produce = async () => {
    for (const reply of plan.replies) {
      const frame = 1 / clip.info.fps;
      const startSec = Math.max(endSec, Math.ceil((now() - t0) / 1000 / frame) * frame);
      const count = clip.fragmentsFor(reply.ms);
      for (let i = 0; i < count; i++) {
        const { bytes, durationSec } = clip.fragment(i, startSec);
        const slices = slicer.push(sentInit ? bytes : Buffer.concat([clip.init, bytes]));
        sentInit = true;
        if (i === count - 1) slices.push(...slicer.flush());
        for (const slice of slices) {
          for (const audio of stream.push(slice, false)) await sink.captureFrame(audio);
        }
        endSec = startSec + (i + 1) * durationSec;
      }
      sink.flush();
      stream.replyEnded();
      await sleep(reply.pauseMs);
    }
    finished = true;
  };
  if (clock) {
    const done = produce();
    await clock.runUntil(() => finished && !face.sink.speaking);
    await done;
  } else {
    await produce();
    while (face.sink.speaking) await sleep(20);
  }
  return { media, face, ...(clock ? { clock } : {}), wallMs: performance.now() - started };
}

export interface GeminiAvatarReport {
  cost: {
    speechSeconds: number;
    pictures: number;
    decodeMsPerPicture: number;
    publishMsPerPicture: number;
    /** CPU of the whole process (demux, AAC, H.264, publish, audio source) over wall time. */
    cpuPercentOfCore: number;
    rssMb: { before: number; after: number };
    heapMb: { before: number; after: number };
  };
  firstPictureMs: number;
  /** Audio presentation time minus picture presentation time at publish, ms. */
  offsets: Summary;
  /** The same, per minute of the long virtual run: mean and max |offset|. */
  drift: { minute: number; meanMs: number; maxAbsMs: number }[];
  syncMinutes: number;
}

function mb(bytes: number): number {
  return Math.round(bytes / 1048576);
}

/** Replies of 4-9 s of speech with 1-3 s pauses (deterministic), `minutes` long. */
function conversation(minutes: number): StreamPlan {
  const replies: StreamPlan['replies'] = [];
  let total = 0;
  for (let i = 0; total < minutes * 60_000; i++) {
    const speech = 4000 + ((i * 1733) % 5000);
    const pause = 1000 + ((i * 977) % 2000);
    replies.push({ ms: speech, pauseMs: pause });
    total += speech + pause;
  }
  return { replies };
}

export async function runGeminiAvatarBench(long: boolean): Promise<GeminiAvatarReport> {
  // Cost, in real time (the machine may be shared: CPU time, not wall time, is the figure).
  global.gc?.();
  const before = process.memoryUsage();
  const cpu = process.cpuUsage();
  const real = await runAvatarStream(conversation(0.5));
  const used = process.cpuUsage(cpu);
  const after = process.memoryUsage();
  const { face, media } = real;
  await face.close();
  const pictures = face.stats.shown;
  const speechSeconds = (pictures / 24) | 0;
  const cost = {
    speechSeconds,
    pictures,
    decodeMsPerPicture: face.stats.decodeMs / Math.max(1, pictures),
    publishMsPerPicture: face.stats.publishMs / Math.max(1, pictures),
    cpuPercentOfCore: ((used.user + used.system) / 1000 / real.wallMs) * 100,
    rssMb: { before: mb(before.rss), after: mb(after.rss) },
    heapMb: { before: mb(before.heapUsed), after: mb(after.heapUsed) },
  };
  const firstPictureMs = (face.stats.firstPictureAt ?? NaN) - (media.stats.firstBytesAt ?? NaN);

  // Sync and drift on a virtual clock: exact time, so only the code's error shows.
  const minutes = long ? 10 : 2;
  const sync = await runAvatarStream(conversation(minutes), { clock: new VirtualClock() });
  await sync.face.close();
  const offsets = sync.face.stats.offsetsMs;
  const perMinute = new Map<number, number[]>();
  // Pictures are shown at 24 a second: offsets in order, 1440 per minute of speech.
  offsets.forEach((offset, i) => {
    const minute = Math.floor(i / 1440);
    perMinute.set(minute, [...(perMinute.get(minute) ?? []), offset]);
  });
  const drift = [...perMinute].map(([minute, values]) => ({
    minute,
    meanMs: values.reduce((a, b) => a + b, 0) / values.length,
    maxAbsMs: Math.max(...values.map(Math.abs)),
  }));
  return { cost, firstPictureMs, offsets: summarize(offsets), drift, syncMinutes: minutes };
}

export function geminiAvatarLines(r: GeminiAvatarReport): string[] {
  const c = r.cost;
  const perFrame = c.decodeMsPerPicture + c.publishMsPerPicture;
  return [
    `gemini-avatar cost 704x1280@24fps  ${c.pictures} pictures  decode=${ms(c.decodeMsPerPicture)} publish=${ms(c.publishMsPerPicture)} per picture (${((perFrame * 24) / 10).toFixed(1)}% of a core)  process CPU=${c.cpuPercentOfCore.toFixed(1)}% of a core  rss ${c.rssMb.before}->${c.rssMb.after} MB heap ${c.heapMb.before}->${c.heapMb.after} MB`,
    `gemini-avatar first bytes -> first picture ${ms(r.firstPictureMs)}`,
    `gemini-avatar A/V offset (audio pts - picture pts at publish, virtual clock, ${r.syncMinutes} min) p50=${ms(r.offsets.p50)} p99=${ms(r.offsets.p99)} max=${ms(r.offsets.max)}  per minute mean: ${r.drift.map((d) => d.meanMs.toFixed(2)).join(' ')} ms`,
  ];
}
