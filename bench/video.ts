/**
 * Video input benchmarks for `npm run bench -- --suite video`:
 * - encode: one 1280x720 camera frame (I420, as WebRTC delivers it) -> JPEG <= 1024 px, the whole
 *   cost per frame (libyuv conversion on the event loop + sharp's resize and encode in its thread
 *   pool), and the event-loop part alone;
 * - read: taking a 30 fps 1280x720 camera track out of rtc-node (a local track fed by a
 *   VideoSource, standing in for WebRTC's decoder): the CPU of a VideoStream read throughout,
 *   versus the worker's track reader, which opens one only when a frame is due (one a second);
 * - forwarding: the Gemini audio forwarding latency (bench/forwarding.ts) with no video, then with
 *   a 30 fps 1280x720 camera attached and the user taken as speaking throughout: sampled at the
 *   default one frame a second, and at ten a second (to show the headroom).
 */
import {
  LocalVideoTrack,
  VideoBufferType,
  VideoFrame,
  VideoSource,
  VideoStream,
} from '@livekit/rtc-node';
import { type ForwardingResult, SPIKE_MS, benchForwarding } from './forwarding.ts';
import type { ModelId } from './bench_call.ts';
import { type Summary, ms, summarize } from './stats.ts';
import { FramePipeline } from '../src/video/frame_pipeline.ts';
import { JPEG_MIME, encodeJpeg, rgbPixels } from '../src/video/jpeg.ts';
import { TrackFrames } from '../src/video/track_frames.ts';
import { PacedFrameSource } from '../src/video/paced_frames.ts';
import { VideoInput } from '../src/video/video_input.ts';
import type { UserSpeech } from '../src/video/user_speech.ts';

export const VIDEO_TARGETS = { encodeMs: 10 } as const;

const WIDTH = 1280;
const HEIGHT = 720;
/** Sampling intervals of the video-on runs: the default, and ten times its rate. */
const INTERVALS_MS = [1000, 100] as const;

/** A camera-like 1280x720 frame: smooth light, a few objects, sensor noise (seeded). */
export function cameraFrame(seed = 1): VideoFrame {
  const rgba = new Uint8Array(WIDTH * HEIGHT * 4);
  let state = seed >>> 0 || 1;
  const noise = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return ((state >>> 0) % 17) - 8;
  };
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      const object = ((x >> 6) + (y >> 6)) % 5 === 0 ? 60 : 0;
      const edge = (x % 160 < 3 || y % 120 < 3) && x > 300 && x < 900 ? -80 : 0;
      const base = 80 + ((x * 90) / WIDTH + (y * 60) / HEIGHT) + object + edge;
      const i = (y * WIDTH + x) * 4;
      rgba[i] = base + 30 + noise();
      rgba[i + 1] = base + noise();
      rgba[i + 2] = base - 20 + noise();
      rgba[i + 3] = 255;
    }
  }
  return new VideoFrame(rgba, WIDTH, HEIGHT, VideoBufferType.RGBA).convert(VideoBufferType.I420);
}

export interface EncodeReport {
  width: number;
  height: number;
  out: { width: number; height: number };
  total: Summary;
  /** The synchronous part, on the event loop (I420 -> RGB). */
  eventLoop: Summary;
  kilobytes: Summary;
}

export async function benchEncode(frames = 200): Promise<EncodeReport> {
  const sources = [cameraFrame(1), cameraFrame(2), cameraFrame(3)];
  const options = { maxSize: 1024, quality: 75 };
  for (let i = 0; i < 10; i++) await encodeJpeg(sources[i % 3]!, options); // warm up
  const total: number[] = [];
  const eventLoop: number[] = [];
  const kilobytes: number[] = [];
  let out = { width: 0, height: 0 };
  for (let i = 0; i < frames; i++) {
    // A fresh copy each time, as rtc-node copies each frame out of the FFI.
    const source = sources[i % 3]!;
    const frame = new VideoFrame(new Uint8Array(source.data), WIDTH, HEIGHT, source.type);
    const t0 = performance.now();
    rgbPixels(frame);
    eventLoop.push(performance.now() - t0);
    const t1 = performance.now();
    const jpeg = await encodeJpeg(frame, options);
    total.push(performance.now() - t1);
    kilobytes.push(jpeg.data.length / 1024);
    out = { width: jpeg.width, height: jpeg.height };
  }
  return {
    width: WIDTH,
    height: HEIGHT,
    out,
    total: summarize(total),
    eventLoop: summarize(eventLoop),
    kilobytes: summarize(kilobytes),
  };
}

export interface CameraReadReport {
  /** CPU ms per second of the whole process: the camera alone (not counted below). */
  captureMsPerS: number;
  /** What reading it adds, CPU ms per second, and frames read per second. */
  continuous: { msPerS: number; fps: number };
  sampled: { msPerS: number; fps: number };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Process CPU ms per second over `seconds`, after a second to settle. */
async function cpuMsPerS(seconds: number): Promise<number> {
  await sleep(1000);
  const before = process.cpuUsage();
  const from = performance.now();
  await sleep(seconds * 1000);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / ((performance.now() - from) / 1000);
}

/** A 30 fps camera track read out of rtc-node throughout, then only when a frame is due. */
export async function benchCameraRead(seconds = 10): Promise<CameraReadReport> {
  const source = new VideoSource(WIDTH, HEIGHT);
  const track = LocalVideoTrack.createVideoTrack('camera', source);
  const frames = [cameraFrame(1), cameraFrame(2), cameraFrame(3)];
  const startedAt = performance.now();
  let captured = 0;
  let timer: NodeJS.Timeout | undefined;
  const capture = () => {
    source.captureFrame(frames[captured++ % frames.length]!);
    const due = startedAt + (captured * 1000) / 30;
    timer = setTimeout(capture, Math.max(0, due - performance.now()));
  };
  capture();
  try {
    const captureMsPerS = await cpuMsPerS(seconds);
    let read = 0;
    const reader = new VideoStream(track).getReader();
    const reading = (async () => {
      while (!(await reader.read()).done) read++;
    })();
    const continuousMs = await cpuMsPerS(seconds);
    const continuousFps = read / (seconds + 1);
    await reader.cancel();
    await reading;
    const pipeline = new FramePipeline({
      plan: { speakingIntervalMs: 1000, idleIntervalMs: 3000, maxSize: 1024, jpegQuality: 75 },
      // The JPEG costs the same either way (one per frame taken): leave it out.
      encode: async (frame) => ({
        data: Buffer.alloc(0),
        width: frame.width,
        height: frame.height,
        mimeType: JPEG_MIME,
      }),
      sink: () => 'sent',
    });
    pipeline.speaking = true;
    pipeline.startTrack();
    const sampled = new TrackFrames({ track, pipeline });
    sampled.start();
    const sampledMs = await cpuMsPerS(seconds);
    sampled.stop();
    return {
      captureMsPerS,
      continuous: { msPerS: continuousMs - captureMsPerS, fps: continuousFps },
      sampled: { msPerS: sampledMs - captureMsPerS, fps: pipeline.stats.frames / (seconds + 1) },
    };
  } finally {
    clearTimeout(timer);
    await source.close();
  }
}

interface ForwardingRun {
  latency: Summary;
  /** Chunks slower than SPIKE_MS, and how many overlapped a GC pause. */
  spikes: number;
  spikesDuringGc: number;
}

export interface VideoForwardingReport {
  model: ModelId;
  off: ForwardingRun;
  on: (ForwardingRun & { intervalMs: number; framesSent: number; framesDropped: number })[];
}

function forwardingRun(result: ForwardingResult): ForwardingRun {
  return {
    latency: summarize(result.latenciesMs),
    spikes: result.spikes.length,
    spikesDuringGc: result.spikes.filter((s) => s.gcMs > 0).length,
  };
}

const SPEAKING: UserSpeech = { speaking: true, onChange: () => () => {}, close: () => {} };

export async function benchVideoForwarding(options: {
  model: ModelId;
  replies: number;
  replyMs: number;
  paceFactor: number;
  chunkMs: number;
}): Promise<VideoForwardingReport> {
  const off = forwardingRun(await benchForwarding(options));
  const template = cameraFrame(7);
  const on: VideoForwardingReport['on'] = [];
  for (const intervalMs of INTERVALS_MS) {
    let video: VideoInput | undefined;
    const result = await benchForwarding({
      ...options,
      during: (bench) => {
        const { settings } = bench.call;
        video = new VideoInput({
          settings: {
            ...settings,
            call: { ...settings.call, videoSpeakingIntervalMs: intervalMs },
          },
          model: bench.call.model,
          session: bench.call.session,
          speech: SPEAKING,
        });
        // 30 fps, each frame a fresh 1.4 MB copy as rtc-node's VideoStream hands them out.
        const camera = new PacedFrameSource(
          30,
          () => new VideoFrame(new Uint8Array(template.data), WIDTH, HEIGHT, template.type),
        );
        video.useSource(camera);
        return () => video!.close();
      },
    });
    const stats = video?.stats;
    const unsent = Object.values(stats?.unsent ?? {}).reduce((a, b) => a + b, 0);
    on.push({
      ...forwardingRun(result),
      intervalMs,
      framesSent: stats?.sent ?? 0,
      framesDropped: (stats?.droppedBusy ?? 0) + unsent,
    });
  }
  return { model: options.model, off, on };
}

export async function runVideoBench(options: {
  models: ModelId[];
  replies: number;
  replyMs: number;
  paceFactor: number;
  chunkMs: number;
}) {
  const encode = await benchEncode();
  const read = await benchCameraRead();
  const forwarding: VideoForwardingReport[] = [];
  if (options.replies > 0) {
    for (const model of options.models) {
      forwarding.push(await benchVideoForwarding({ ...options, model }));
    }
  }
  return { encode, read, forwarding };
}

export type VideoReport = Awaited<ReturnType<typeof runVideoBench>>;

export function videoLines(r: VideoReport): string[] {
  const ok = (pass: boolean) => (pass ? 'ok' : 'MISSED');
  const e = r.encode;
  const t = VIDEO_TARGETS.encodeMs;
  const lines = [
    `video enc  ${e.width}x${e.height} I420 -> ${e.out.width}x${e.out.height} JPEG q75: n=${e.total.n} p50=${ms(e.total.p50)} p99=${ms(e.total.p99)} max=${ms(e.total.max)} (${e.kilobytes.p50.toFixed(0)} KB)  on the event loop p50=${ms(e.eventLoop.p50)} p99=${ms(e.eventLoop.p99)}  (target <=${t}ms: p50 ${ok(e.total.p50 <= t)}, p99 ${ok(e.total.p99 <= t)})`,
  ];
  const { read } = r;
  const added = (msPerS: number) => `${msPerS >= 0 ? '+' : ''}${msPerS.toFixed(0)}ms/s`;
  lines.push(
    `video read ${WIDTH}x${HEIGHT} 30 fps camera out of rtc-node (${process.version}): read throughout ${added(read.continuous.msPerS)} CPU (${read.continuous.fps.toFixed(0)} frames/s), by the track reader at 1 frame/s ${added(read.sampled.msPerS)} (${read.sampled.fps.toFixed(1)} frames/s)  (the camera's own capture, ${read.captureMsPerS.toFixed(0)}ms/s, not counted)`,
  );
  const run = (f: ForwardingRun) =>
    `p50=${ms(f.latency.p50)} p99=${ms(f.latency.p99)} max=${ms(f.latency.max)} >${SPIKE_MS}ms: ${f.spikes} (${f.spikesDuringGc} in GC)`;
  for (const f of r.forwarding) {
    lines.push(
      `video fwd  ${f.model}  audio forwarding n=${f.off.latency.n}, video off: ${run(f.off)}`,
    );
    for (const on of f.on) {
      const d = (a: number, b: number) => `${b - a >= 0 ? '+' : ''}${ms(b - a)}`;
      lines.push(
        `           ${''.padEnd(f.model.length)}  video on, 30 fps camera, 1 frame/${on.intervalMs}ms (${on.framesSent} sent, ${on.framesDropped} dropped): ${run(on)}  (change p50 ${d(f.off.latency.p50, on.latency.p50)}, p99 ${d(f.off.latency.p99, on.latency.p99)})`,
      );
    }
  }
  return lines;
}
