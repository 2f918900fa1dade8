/**
 * Avatar preview: a WAV in, the avatar saying it out, with no LiveKit server and no model.
 *
 *   npm run avatar:preview -- --input <wav> --output <file.y4m|.mp4|.webm> [--trace <jsonl>]
 *                             [--avatar <id|dir>] [--size WxH] [--fps N] [--realtime]
 *
 * The WAV (any rate or channels, made 24 kHz mono) goes into the publisher's sink exactly as the
 * framework's audio would: 20 ms AudioFrames through `captureFrame`, each awaited, then `flush()`
 * and `waitForPlayout()`, with ~0.5 s of idle video before and after. AvRecorder records what a
 * room would have received.
 *
 * By default the publisher runs on a virtual clock: the same sink, lip sync, renderer and frame
 * clock, with the audio source playing as fast as the clock moves, so the video renders as fast as
 * the machine allows and every frame is exactly on its grid. `--realtime` paces it on the real
 * clock with rtc-node's AudioSource, as in a call (the file then shows the live path's timing).
 *
 * `.y4m` needs no external tool; its audio goes next to it (`<name>.wav`), since y4m holds none.
 * It is uncompressed (about 12 MB per second at 512x512, 30 fps), which the preview says first.
 * `.mp4` (H.264/AAC) and `.webm` (VP9/Opus) need ffmpeg on PATH: y4m is piped into it while the
 * preview runs, then muxed with the recorded audio (a temp WAV). `--trace` writes one JSON line
 * per video frame: `{ "frame", "t_ms", "audio_ms", "open", "viseme" }`.
 *
 * Exit codes: 0 done, 2 bad arguments, 4 failed.
 */
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import type { WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initializeLogger } from '@livekit/agents';
import { frames, type WavAudio, WavWriter } from '../audio/wav.ts';
import { DEFAULT_AVATARS_DIR } from '../config/settings.ts';
import { AvRecorder, type RecordedFrame } from './av_recorder.ts';
import type { AvatarAudioSink } from './audio_sink.ts';
import { AvatarError, resolveAvatar } from './avatar_source.ts';
import { BT601, ENCODE, onPath, runFfmpeg } from './ffmpeg.ts';
import { VirtualClock } from './clock.ts';
import { AVATAR_SAMPLE_RATE, AvatarPublisher } from './publisher.ts';
import { Y4mWriter, i420Bytes } from './y4m_writer.ts';
import {
  UsageError,
  formatBytes,
  isMainModule,
  parseOptions,
  readInputWav,
  statusLine,
} from '../cli_io.ts';

const USAGE =
  'usage: npm run avatar:preview -- --input <wav> --output <file.y4m|.mp4|.webm> ' +
  '[--trace <jsonl>] [--avatar <id|dir>] [--size WxH] [--fps N] [--realtime]';

export const EXIT = { ok: 0, usage: 2, failed: 4 } as const;

/** Idle video before and after the speech. */
const IDLE_MS = 500;
/** What the framework hands an AudioOutput: 20 ms frames. */
const FRAME_MS = 20;
const OUTPUT_KINDS = ['.y4m', '.mp4', '.webm'] as const;
type OutputKind = (typeof OUTPUT_KINDS)[number];

interface PreviewArgs {
  input: WavAudio;
  output: string;
  kind: OutputKind;
  trace?: string;
  avatar: string;
  width: number;
  height: number;
  fps: number;
  /** Pace on the real clock (as in a call) instead of rendering as fast as possible. */
  realtime: boolean;
}

function parsePreviewArgs(argv: string[]): PreviewArgs | undefined {
  let values;
  try {
    values = parseOptions(argv, {
      input: { type: 'string' },
      output: { type: 'string' },
      trace: { type: 'string' },
      avatar: { type: 'string', default: 'default' },
      size: { type: 'string', default: '512x512' },
      fps: { type: 'string', default: '30' },
      realtime: { type: 'boolean', default: false },
    });
  } catch (error) {
    if (error instanceof UsageError && !error.message) return undefined; // --help
    throw new UsageError(`${(error as Error).message} (${USAGE})`);
  }
  if (!values.input) throw new UsageError(`--input is required (${USAGE})`);
  if (!values.output) throw new UsageError(`--output is required (${USAGE})`);
  const { width, height } = parseSize(values.size);
  const fps = parseFps(values.fps);
  const kind = outputKind(values.output);
  checkAvatar(values.avatar);
  checkFolder('--output', values.output);
  if (values.trace) checkFolder('--trace', values.trace);
  if (kind !== '.y4m' && !onPath('ffmpeg')) {
    throw new UsageError(
      `--output: "${values.output}" needs ffmpeg, which is not on PATH (install ffmpeg, or write a .y4m, which needs no tool)`,
    );
  }
  return {
    input: readInputWav(values.input, AVATAR_SAMPLE_RATE),
    output: values.output,
    kind,
    ...(values.trace ? { trace: values.trace } : {}),
    avatar: values.avatar,
    width,
    height,
    fps,
    realtime: values.realtime,
  };
}

function parseSize(text: string): { width: number; height: number } {
  const match = /^(\d{1,4})x(\d{1,4})$/.exec(text);
  const [width, height] = match ? [Number(match[1]), Number(match[2])] : [0, 0];
  if (![width, height].every((n) => n >= 16 && n <= 3840 && n % 2 === 0)) {
    throw new UsageError(
      `--size: "${text}" is not valid (allowed: WIDTHxHEIGHT, even numbers from 16 to 3840, e.g. 512x512)`,
    );
  }
  return { width, height };
}

function parseFps(text: string): number {
  const fps = Number(text);
  if (!(/^\d+$/.test(text) && fps >= 1 && fps <= 60)) {
    throw new UsageError(`--fps: "${text}" is not valid (allowed: a whole number from 1 to 60)`);
  }
  return fps;
}

function outputKind(file: string): OutputKind {
  const ext = path.extname(file).toLowerCase();
  const kind = OUTPUT_KINDS.find((k) => k === ext);
  if (!kind) {
    throw new UsageError(
      `--output: "${file}" is not valid (allowed: a file ending in .y4m, .mp4 or .webm)`,
    );
  }
  return kind;
}

function checkAvatar(avatar: string): void {
  try {
    resolveAvatar(avatar, DEFAULT_AVATARS_DIR);
  } catch (error) {
    if (error instanceof AvatarError) throw new UsageError(`--avatar: ${error.message}`);
    throw error;
  }
}

/** Refuse before any work if the file's folder is missing. */
function checkFolder(option: string, file: string): void {
  const dir = path.dirname(path.resolve(file));
  const isDir = (() => {
    try {
      return statSync(dir).isDirectory();
    } catch {
      return false;
    }
  })();
  if (!isDir) throw new UsageError(`${option}: "${file}": folder ${dir} does not exist`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// --- the preview ---

interface Outputs {
  video: Y4mWriter;
  audio: WavWriter;
  /** Muxes after recording (mp4/webm); nothing for y4m. */
  finish(): Promise<void>;
  files: string[];
}

/** y4m: the file and a WAV beside it. mp4/webm: y4m into ffmpeg, a temp WAV, then a mux. */
function openOutputs(args: PreviewArgs): Outputs {
  const size = { width: args.width, height: args.height, fps: args.fps };
  if (args.kind === '.y4m') {
    const wav = args.output.replace(/\.y4m$/i, '.wav');
    return {
      video: new Y4mWriter(args.output, size),
      audio: new WavWriter(wav, AVATAR_SAMPLE_RATE, 1),
      finish: async () => {},
      files: [args.output, wav],
    };
  }
  const encode = ENCODE[args.kind];
  const temp = mkdtempSync(path.join(tmpdir(), 'avatar-preview-'));
  const videoOnly = path.join(temp, `video${args.kind === '.mp4' ? '.mkv' : '.webm'}`);
  const wav = path.join(temp, 'audio.wav');
  const encoder = runFfmpeg(
    // libyuv's RGBA -> I420 is BT.601, limited range: say so, or players may guess BT.709.
    ['-f', 'yuv4mpegpipe', '-i', 'pipe:0', '-an', ...encode.video, ...BT601, videoOnly],
    'pipe',
  );
  // A failed encoder is reported by the writer (EPIPE) and by `done`; keep both from going unhandled.
  encoder.done.catch(() => {});
  return {
    video: new Y4mWriter(encoder.child.stdin!, size),
    audio: new WavWriter(wav, AVATAR_SAMPLE_RATE, 1),
    finish: async () => {
      try {
        await encoder.done;
        const mux = ['-i', videoOnly, '-i', wav, '-map', '0:v:0', '-map', '1:a:0', '-c:v', 'copy'];
        await runFfmpeg([...mux, ...encode.audio, args.output], 'ignore').done;
      } finally {
        rmSync(temp, { recursive: true, force: true });
      }
    },
    files: [args.output],
  };
}

function traceLine(frame: RecordedFrame): string {
  return (
    JSON.stringify({
      frame: frame.frame,
      t_ms: Math.round(frame.tMs * 10) / 10,
      audio_ms: Math.round(frame.audioMs * 10) / 10,
      open: Math.round(frame.mouth.open * 1000) / 1000,
      viseme: frame.mouth.viseme,
    }) + '\n'
  );
}

function closeStream(stream: WriteStream): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.on('error', reject);
    stream.end(() => resolve());
  });
}

/** Idle, the speech into the sink as the framework sends it, its playout, idle; on `sleep`'s clock. */
async function speak(
  sink: AvatarAudioSink,
  input: WavAudio,
  sleep: (ms: number) => Promise<void>,
): Promise<void> {
  await sleep(IDLE_MS);
  for (const frame of frames(input, FRAME_MS)) await sink.captureFrame(frame);
  sink.flush();
  await sink.waitForPlayout();
  await sleep(IDLE_MS);
}

/** Bytes of a .y4m of `ms` at this size and rate: header, then a 6-byte tag and I420 per frame. */
function y4mBytes(ms: number, width: number, height: number, fps: number): number {
  return 64 + Math.ceil((ms * fps) / 1000) * (6 + i420Bytes(width, height));
}

/** The line that warns a .y4m is uncompressed, with what this one will weigh. */
function y4mNote(args: PreviewArgs, totalMs: number): string {
  const perSecond = formatBytes(y4mBytes(1000, args.width, args.height, args.fps));
  const total = formatBytes(y4mBytes(totalMs, args.width, args.height, args.fps));
  return (
    `preview: note: .y4m is uncompressed video, ${perSecond} per second at ${args.width}x${args.height}, ` +
    `${args.fps} fps: this one will be about ${total}. For a small file write .mp4 or .webm (needs ffmpeg).`
  );
}

export async function runPreview(argv: string[]): Promise<number> {
  const args = parsePreviewArgs(argv);
  if (!args) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  const speechMs = (args.input.samples.length / AVATAR_SAMPLE_RATE) * 1000;
  const totalMs = speechMs + 2 * IDLE_MS;
  if (args.kind === '.y4m') process.stderr.write(`${y4mNote(args, totalMs)}\n`);
  const outputs = openOutputs(args);
  const trace = args.trace ? createWriteStream(args.trace) : undefined;
  const recorder = new AvRecorder({
    fps: args.fps,
    video: outputs.video,
    audio: outputs.audio,
    sampleRate: AVATAR_SAMPLE_RATE,
    ...(trace ? { onRecordedFrame: (frame) => trace.write(traceLine(frame)) } : {}),
  });
  const clock = args.realtime ? undefined : new VirtualClock();
  const publisher = new AvatarPublisher({
    avatar: args.avatar,
    avatarsDir: DEFAULT_AVATARS_DIR,
    width: args.width,
    height: args.height,
    fps: args.fps,
    audioTap: recorder.tap,
    onFrame: (frame) => recorder.onFrame(frame),
    ...(clock ? { clock } : {}),
  });
  const started = performance.now();
  const progress = () => {
    const done = (recorder.frames / args.fps).toFixed(1);
    const size =
      args.kind === '.y4m'
        ? `, ${formatBytes(y4mBytes((recorder.frames * 1000) / args.fps, args.width, args.height, args.fps))}`
        : '';
    statusLine(
      `preview: [${done} s / ${(totalMs / 1000).toFixed(1)} s of video] ${recorder.frames} frames${size}`,
    );
  };
  let recordError: unknown;
  try {
    const sink = await publisher.prepare();
    const ticker = setInterval(progress, 200);
    try {
      if (clock) await renderOnVirtualClock(clock, sink, args, outputs.video, totalMs);
      else await speak(sink, args.input, sleep);
    } finally {
      clearInterval(ticker);
      statusLine('');
    }
  } finally {
    await publisher.close();
    await recorder.close().catch((error: unknown) => (recordError = error));
    if (trace) await closeStream(trace);
  }
  // ffmpeg's own message says more than the EPIPE the writer saw when it failed.
  await outputs.finish();
  if (recordError !== undefined) throw recordError;
  const tookS = (performance.now() - started) / 1000;
  const videoS = recorder.frames / args.fps;
  const audioS = (recorder.audioSamples / AVATAR_SAMPLE_RATE).toFixed(2);
  const files = outputs.files.map((file) => `${file} (${formatBytes(statSync(file).size)})`);
  const pace = clock
    ? `rendered in ${tookS.toFixed(2)} s on a virtual clock (${(videoS / tookS).toFixed(1)}x real time)`
    : `played in ${tookS.toFixed(2)} s in real time`;
  process.stdout.write(
    `preview: wrote ${files.join(' and ')}: ${recorder.frames} frames ` +
      `(${videoS.toFixed(2)} s, ${args.width}x${args.height} at ${args.fps} fps, ${recorder.repeatedFrames} repeated, ${recorder.droppedFrames} dropped), ` +
      `audio ${audioS} s; ${pace}\n`,
  );
  return EXIT.ok;
}

/**
 * Play the speech on the virtual clock: run its timers (frames, the audio source's queue, the
 * sink's playout checks) one after another, as fast as the machine renders and the video file (or
 * ffmpeg) takes the frames.
 */
async function renderOnVirtualClock(
  clock: VirtualClock,
  sink: AvatarAudioSink,
  args: PreviewArgs,
  video: Y4mWriter,
  totalMs: number,
): Promise<void> {
  let finished = false;
  let failure: { error: unknown } | undefined;
  speak(sink, args.input, (ms) => clock.sleep(ms)).then(
    () => (finished = true),
    (error: unknown) => (failure = { error }),
  );
  // The speech plays out within its length plus the source's queue; far past that, it never will.
  const limitMs = totalMs + 10_000;
  await clock.runUntil(async () => {
    if (failure) throw failure.error;
    if (clock.now() > limitMs) {
      throw new Error(`the audio had not played out after ${limitMs / 1000} s of video`);
    }
    // Back-pressure: the next frame waits until the file (or ffmpeg) took the last one.
    await video.drained();
    return finished;
  });
}

async function main(): Promise<void> {
  initializeLogger({ pretty: false, level: process.env.LOG_LEVEL ?? 'warn' });
  let code: number;
  try {
    code = await runPreview(process.argv.slice(2));
  } catch (error) {
    const usage = error instanceof UsageError;
    process.stderr.write(`preview: ${(error as Error).message}\n`);
    code = usage ? EXIT.usage : EXIT.failed;
  }
  // rtc-node keeps native handles open; every file is closed by now.
  process.exit(code);
}

if (isMainModule(import.meta.url)) void main();
