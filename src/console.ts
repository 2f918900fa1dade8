/**
 * The offline console: try the agent with no LiveKit server.
 *
 *   npm run console -- --input <wav> [--output <wav>] [--transcript <jsonl>]
 *                      [--metadata <json>|@<file>] [--no-greeting] [--timeout <s>]
 *                      [--video <file.y4m> [--avatar <id|dir>]] [--camera <file.y4m>]
 *
 * Reads the same environment as the worker (GOOGLE_GEMINI_BASE_URL included) and builds the call
 * with the same session builder. The greeting plays first; then the input WAV is the user's
 * microphone in real time, every sample of it reaching the model, then silence as a live
 * microphone would send, until the agent has answered and is listening again.
 *
 * With --video, the speaker is the avatar publisher's sink (no room): the same sink, AudioSource
 * pacing and lip sync as in a room. The avatar's frames go to the .y4m file, and --output then holds
 * the audio as a room would have heard it: one continuous timeline, silence included, starting
 * with the first video frame, so the two files play in sync (mux them with ffmpeg). With a Gemini
 * Live Avatar (and no --avatar) the pictures are Gemini's, decoded from its stream (704x1280).
 *
 * With a LiveAvatar avatar (`--metadata` with a LiveAvatar `avatar_id`, LIVEAVATAR_API_KEY and
 * LIVEAVATAR_API_URL set), the agent's audio goes to LiveAvatar's LITE WebSocket exactly as in a
 * room call; `livekit_config` names the room the call would use (LIVEKIT_URL and a token signed
 * with its key), so the whole audio path can be tried with no LiveKit server. --output then holds
 * the audio sent to LiveAvatar (and, after a LiveAvatar failure, what the fallback played).
 *
 * A dispatch's max_session_duration ends the call on time: exit 0 with a line saying so.
 *
 * With --camera, a .y4m file is the user's camera: its frames play in real time at the file's
 * frame rate, looping at the end for as long as the call lasts, and reach Gemini exactly as a
 * room camera's would (the same sampling by the user's speech, encoding and sending).
 *
 * Exit codes: 0 done, 1 bad settings or metadata, 2 bad arguments, 3 timed out, 4 call failed;
 * 143 / 130 stopped by SIGTERM / SIGINT (the call is closed and the files written first).
 */
import './load_env.ts';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import path from 'node:path';
import { initializeLogger, voice } from '@livekit/agents';
import { AvRecorder } from './avatar/av_recorder.ts';
import { AvatarError, resolveAvatar } from './avatar/avatar_source.ts';
import {
  checkAvatar,
  isGeminiAvatarId,
  isLiveAvatarId,
  liveAvatarFor,
} from './avatar/from_settings.ts';
import { avatarMediaOf } from './avatar/gemini/call_avatar.ts';
import { GEMINI_FACE_FPS, GeminiFace, asPublishedFrame } from './avatar/gemini/face_publisher.ts';
import type { GeminiAvatarMedia } from './avatar/gemini/media_output.ts';
import type { LiveAvatarAvatar } from './avatar/liveavatar/avatar.ts';
import { AvatarPublisher } from './avatar/publisher.ts';
import { VirtualSpeaker } from './audio/virtual_speaker.ts';
import { CallDeadline, MAX_DURATION_REACHED } from './call_deadline.ts';
import { Y4mWriter } from './avatar/y4m_writer.ts';
import { fieldName } from './config/call_options.ts';
import { withContext } from './config/contexts.ts';
import { applyDispatchMetadata } from './config/dispatch.ts';
import { ConfigError } from './config/errors.ts';
import { type Settings, loadSettings } from './config/settings.ts';
import { WavWriter } from './audio/wav.ts';
import { type CallEvent, conversationLines, errorMessage } from './console/call_events.ts';
import { MIC_RATE, OfflineCall, SPEAKER_RATE, type Speaker } from './console/offline_call.ts';
import { createCallSession } from './session.ts';
import { PacedFrameSource } from './video/paced_frames.ts';
import { Y4mReader } from './video/y4m_reader.ts';
import { UsageError, isMainModule, parseOptions, readInputWav, statusLine } from './cli_io.ts';

const USAGE =
  'usage: npm run console -- --input <wav> [--output <wav>] [--transcript <jsonl>] ' +
  '[--metadata <json>|@<file>] [--no-greeting] [--timeout <s>] [--video <file.y4m> [--avatar <id|dir>]] ' +
  '[--camera <file.y4m>]';

export const EXIT = { ok: 0, config: 1, usage: 2, timeout: 3, failed: 4 } as const;

interface ConsoleArgs {
  input: string;
  output?: string;
  transcript?: string;
  metadata?: string;
  greeting: boolean;
  timeoutS?: number;
  settleMs: number;
  video?: string;
  avatar?: string;
  camera?: string;
}

function parseConsoleArgs(argv: string[]): ConsoleArgs {
  const values = parseOptions(argv, {
    input: { type: 'string' },
    output: { type: 'string' },
    transcript: { type: 'string' },
    metadata: { type: 'string' },
    'no-greeting': { type: 'boolean', default: false },
    timeout: { type: 'string' },
    settle: { type: 'string' },
    video: { type: 'string' },
    avatar: { type: 'string' },
    camera: { type: 'string' },
  });
  if (!values.input) throw new UsageError('--input is required');
  const timeoutS = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeoutS !== undefined && !(timeoutS > 0)) {
    throw new UsageError(`--timeout: "${values.timeout}" is not valid (allowed: seconds > 0)`);
  }
  const settleMs = values.settle === undefined ? 2500 : Number(values.settle);
  if (!(settleMs >= 0))
    throw new UsageError(`--settle: "${values.settle}" is not valid (allowed: ms >= 0)`);
  if (values.video !== undefined) checkVideoPath(values.video);
  if (values.avatar !== undefined && values.video === undefined) {
    throw new UsageError(
      `--avatar: "${values.avatar}" is not valid without --video (allowed: with --video)`,
    );
  }
  return {
    input: values.input,
    ...(values.output ? { output: values.output } : {}),
    ...(values.transcript ? { transcript: values.transcript } : {}),
    ...(values.metadata ? { metadata: values.metadata } : {}),
    greeting: !values['no-greeting'],
    ...(timeoutS ? { timeoutS } : {}),
    settleMs,
    ...(values.video ? { video: values.video } : {}),
    ...(values.avatar ? { avatar: values.avatar } : {}),
    ...(values.camera ? { camera: values.camera } : {}),
  };
}

/** `--camera`: a readable 4:2:0 .y4m file, opened to loop. */
function openCamera(file: string): Y4mReader {
  if (path.extname(file).toLowerCase() !== '.y4m') {
    throw new UsageError(`--camera: "${file}" is not valid (allowed: a .y4m file, 4:2:0)`);
  }
  try {
    return new Y4mReader(file, { loop: true });
  } catch (error) {
    throw new UsageError(`--camera: "${file}": ${(error as Error).message}`);
  }
}

function checkVideoPath(file: string): void {
  if (path.extname(file).toLowerCase() !== '.y4m') {
    throw new UsageError(`--video: "${file}" is not valid (allowed: a file ending in .y4m)`);
  }
  const dir = path.dirname(path.resolve(file));
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    // missing: said below
  }
  if (!isDir) throw new UsageError(`--video: "${file}": folder ${dir} does not exist`);
}

/** The avatar to draw: --avatar, else the settings' avatar id; checked before the call starts. */
function chooseAvatar(args: ConsoleArgs, settings: Settings): string {
  const avatar = args.avatar ?? settings.call.avatarId;
  try {
    resolveAvatar(avatar, settings.avatar.dir);
  } catch (error) {
    if (!(error instanceof AvatarError)) throw error;
    if (args.avatar !== undefined) throw new UsageError(`--avatar: ${error.message}`);
    throw new ConfigError(`${fieldName('avatarId', settings.origins)}: ${error.message}`);
  }
  return avatar;
}

interface VideoRecording {
  speaker: Speaker;
  close(): Promise<void>;
}

/**
 * The avatar publisher with no room, recorded: its sink is the call's speaker, its frames and the
 * audio leaving its AudioSource go to the .y4m and the --output WAV as one timeline.
 */
async function startVideo(
  file: string,
  output: string | undefined,
  avatar: string,
  settings: Settings,
): Promise<VideoRecording> {
  const { width, height, fps, dir } = settings.avatar;
  const video = new Y4mWriter(file, { width, height, fps });
  const audio = output ? new WavWriter(output, SPEAKER_RATE, 1) : undefined;
  const recorder = new AvRecorder({
    fps,
    video,
    sampleRate: SPEAKER_RATE,
    ...(audio ? { audio } : {}),
  });
  const publisher = new AvatarPublisher({
    avatar,
    avatarsDir: dir,
    width,
    height,
    fps,
    audioTap: recorder.tap,
    onFrame: (frame) => recorder.onFrame(frame),
  });
  const close = async () => {
    await publisher.close();
    await recorder.close();
  };
  try {
    return { speaker: await publisher.prepare(), close };
  } catch (error) {
    await close().catch(() => {});
    throw error;
  }
}

/** Gemini's own face, recorded: its pictures as Gemini streams them, 704x1280. */
async function startGeminiVideo(
  file: string,
  output: string | undefined,
  media: GeminiAvatarMedia,
): Promise<VideoRecording> {
  const video = new Y4mWriter(file, { width: 704, height: 1280, fps: GEMINI_FACE_FPS });
  const audio = output ? new WavWriter(output, SPEAKER_RATE, 1) : undefined;
  const recorder = new AvRecorder({
    fps: GEMINI_FACE_FPS,
    video,
    sampleRate: SPEAKER_RATE,
    ...(audio ? { audio } : {}),
  });
  const face = new GeminiFace({
    media,
    audioTap: recorder.tap,
    onFrame: (frame) => recorder.onFrame(asPublishedFrame(frame)),
  });
  const close = async () => {
    await face.close();
    await recorder.close();
  };
  return { speaker: await face.prepare(), close };
}

/**
 * A LiveAvatar avatar with no room: `livekit_config` names the room the call would use, the
 * audio sent goes to --output too, and a LiveAvatar failure falls back to a real-time speaker.
 */
function consoleLiveAvatar(settings: Settings, writer: WavWriter | undefined): LiveAvatarAvatar {
  const place = { roomName: `console-${Date.now().toString(36)}`, agentIdentity: 'console-agent' };
  const fallback = async () =>
    new VirtualSpeaker({ sampleRate: SPEAKER_RATE, onPlayed: (samples) => writer?.write(samples) });
  return liveAvatarFor(settings, place, fallback, {
    output: { onSent: (samples) => writer?.write(samples) },
  });
}

/** `--metadata` is JSON text, or `@path` to a file holding it. */
function readMetadata(arg: string | undefined): string | undefined {
  if (!arg?.startsWith('@')) return arg;
  try {
    return readFileSync(arg.slice(1), 'utf8');
  } catch (error) {
    throw new UsageError(`--metadata: cannot read ${arg.slice(1)}: ${(error as Error).message}`);
  }
}

function describe(event: CallEvent): string | undefined {
  switch (event.type) {
    case 'agent_state':
      return `agent ${event.state}`;
    case 'user_transcript':
      return event.final ? `user: ${event.text}` : undefined;
    case 'message':
      return event.role === 'assistant' ? `agent: ${event.text}` : undefined;
    case 'tool_call':
      return `tool ${event.name}`;
    default:
      return undefined;
  }
}

export interface RunConsoleOptions {
  /** Print the closing summary (what was said, the files written) on success. Default true. */
  summary?: boolean;
}

export async function runConsole(
  argv: string[],
  { summary = true }: RunConsoleOptions = {},
): Promise<number> {
  const started = Date.now();
  const args = parseConsoleArgs(argv);
  // SIGTERM or Ctrl-C ends the call the way its end would: Gemini socket closed, files written.
  let stopped: NodeJS.Signals | undefined;
  const signalled = untilSignal().then((signal) => void (stopped = signal));
  const speech = readInputWav(args.input, MIC_RATE);
  const { settings, instructions } = withContext(
    applyDispatchMetadata(loadSettings(), readMetadata(args.metadata)),
  );
  const liveAvatar = settings.avatar.enabled && isLiveAvatarId(settings);
  if (liveAvatar) {
    checkAvatar(settings);
    if (args.video) {
      throw new UsageError(
        `--video: records our own face; avatar_id "${settings.call.avatarId}" is a LiveAvatar avatar, which LiveAvatar renders (allowed: --video with --avatar <id or dir>)`,
      );
    }
  }
  // Gemini renders the face: the model's setup asks for it (checked here, before connecting).
  const geminiAvatar = settings.avatar.enabled && isGeminiAvatarId(settings);
  if (geminiAvatar) checkAvatar(settings);
  const geminiVideo = geminiAvatar && args.video !== undefined && args.avatar === undefined;
  const avatar = args.video && !geminiVideo ? chooseAvatar(args, settings) : undefined;
  const camera = args.camera ? openCamera(args.camera) : undefined;

  // With --video the recorder writes --output (the whole timeline); else the speaker's audio.
  const writer =
    args.output && !args.video ? new WavWriter(args.output, SPEAKER_RATE, 1) : undefined;
  const call = await createCallSession({
    settings,
    instructions,
    echoFree: true,
    outputCanPause: false,
  });
  const media = geminiVideo ? avatarMediaOf(call.session) : undefined;
  if (geminiVideo && !media) {
    process.stderr.write(
      'console: the Gemini avatar is unavailable here; recording our own face\n',
    );
  }
  const video = !args.video
    ? undefined
    : media
      ? await startGeminiVideo(args.video, args.output, media)
      : await startVideo(args.video, args.output, avatar ?? 'default', settings);
  const lite = liveAvatar ? consoleLiveAvatar(settings, writer) : undefined;
  const offline = await OfflineCall.start(
    call,
    video
      ? { speaker: video.speaker }
      : lite
        ? { speaker: lite.output }
        : { onAgentAudio: (samples) => writer?.write(samples) },
  ).catch(async (error: unknown) => {
    // Finish the files the avatar already started, so what was recorded stays readable.
    await video?.close().catch(() => {});
    await lite?.close().catch(() => {});
    throw error;
  });
  lite?.open();
  if (camera && !call.video.plan.enabled) {
    process.stderr.write(`console: --camera: video input is off: ${call.video.plan.reason}\n`);
  } else if (camera) {
    // A broken frame later in the file ends the camera, not the call.
    const nextFrame = () => {
      try {
        return camera.next();
      } catch (error) {
        process.stderr.write(
          `console: --camera: "${args.camera}": ${(error as Error).message}; no more video\n`,
        );
        return undefined;
      }
    };
    if (!call.video.useSource(new PacedFrameSource(camera.fps, nextFrame))) {
      process.stderr.write(
        `console: --camera: VIDEO_INPUT=${call.video.plan.source} takes no camera (allowed: auto, camera)\n`,
      );
    }
  }
  const inputMs = (speech.samples.length / MIC_RATE) * 1000;
  const deadline = Date.now() + (args.timeoutS ?? inputMs / 1000 + 60) * 1000;
  let status = 'starting';
  offline.events.onEvent((event) => {
    status = describe(event) ?? status;
    statusLine(`[${(event.t_ms / 1000).toFixed(1)}s] ${status}`.slice(0, 120));
  });
  let failure: string | undefined;
  let ended = false;
  const sessionClosed = new Promise<void>((resolve) => {
    call.session.on(voice.AgentSessionEventTypes.Close, (ev) => {
      if (ev.error) failure = `the call ended: ${errorMessage(ev.error)}`;
      ended = true;
      resolve();
    });
  });
  // The dispatch's max_session_duration, counted from here.
  let limitReached = false;
  let limit: CallDeadline | undefined;
  const limited = new Promise<void>((resolve) => {
    const seconds = settings.call.maxSessionDurationSeconds;
    if (seconds === undefined) return;
    limit = new CallDeadline({
      durationMs: seconds * 1000,
      onExpired: () => {
        limitReached = true;
        resolve();
      },
    });
  });
  // Nothing is left to wait for after the deadline, once the session has closed (a refused key,
  // a failed connection), at the call's time limit or on a signal: a greeting or answer will not come.
  const over = Promise.race([untilDeadline(deadline), sessionClosed, limited, signalled]);

  let answered = false;
  try {
    if (args.greeting && !stopped) await Promise.race([call.greet(), over]);
    const since = offline.events.events.length;
    offline.events.add('input', { state: 'started', duration_ms: Math.round(inputMs) });
    // The timeout bounds the whole call: input still playing at the deadline is cut there.
    const inputSent = await Promise.race([
      offline.say(speech.samples).then(() => true),
      over.then(() => false),
    ]);
    offline.events.add('input', {
      state: inputSent
        ? 'finished'
        : stopped
          ? 'stopped'
          : ended
            ? 'call_ended'
            : limitReached
              ? 'max_session_duration'
              : 'timed_out',
    });
    answered = await Promise.race([
      offline.untilAnswered({ deadline, since, settleMs: args.settleMs }),
      over.then(() => false),
    ]);
  } finally {
    limit?.stop();
    if (limitReached) offline.events.add('call_ended', { reason: MAX_DURATION_REACHED });
    await offline.close();
    await lite?.close(limitReached ? MAX_DURATION_REACHED : undefined);
    // After the close, whose events (a reply cut short by a signal) come before it: usage is last.
    if (camera) {
      camera.close();
      offline.events.add('video', { camera_frames: camera.framesRead, ...call.video.stats });
    }
    offline.events.add('usage', { ...call.usage.summary() });
    await writer?.close();
    await video?.close();
    if (args.transcript) {
      writeFileSync(
        args.transcript,
        offline.events.events.map((e) => JSON.stringify(e)).join('\n') + '\n',
      );
    }
    statusLine('');
  }
  if (stopped) {
    process.stderr.write(`console: stopped by ${stopped}\n`);
    return 128 + constants.signals[stopped];
  }
  if (failure) {
    process.stderr.write(`console: ${failure}\n`);
    return EXIT.failed;
  }
  if (limitReached) {
    process.stderr.write(
      `console: the call reached its max_session_duration (${settings.call.maxSessionDurationSeconds} s)\n`,
    );
    return EXIT.ok;
  }
  if (!answered) {
    process.stderr.write(
      `console: timed out: the agent had not answered and gone back to listening\n`,
    );
    return EXIT.timeout;
  }
  if (!summary) return EXIT.ok;
  const files = [args.output, args.transcript, args.video].filter((f) => f !== undefined);
  const said = conversationLines(offline.events.events).map((line) => `  ${line}`);
  process.stdout.write(
    [
      `console: the call is done (${((Date.now() - started) / 1000).toFixed(1)} s):`,
      ...said,
      ...(files.length > 0 ? [`console: wrote ${files.join(', ')}`] : []),
    ].join('\n') + '\n',
  );
  return EXIT.ok;
}

/** The first SIGTERM or SIGINT; a second one then ends the process the default way. */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const signals = ['SIGTERM', 'SIGINT'] as const;
    const onSignal = (signal: NodeJS.Signals) => {
      for (const s of signals) process.off(s, onSignal);
      resolve(signal);
    };
    for (const s of signals) process.on(s, onSignal);
  });
}

function untilDeadline(deadline: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - Date.now())).unref());
}

async function main(): Promise<void> {
  initializeLogger({
    pretty: process.stdout.isTTY === true,
    level: process.env.LOG_LEVEL ?? 'warn',
  });
  let code: number;
  try {
    code = await runConsole(process.argv.slice(2));
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`console: ${error.message}\n`);
      code = EXIT.config;
    } else if (error instanceof UsageError && !error.message) {
      process.stdout.write(`${USAGE}\n`); // --help
      code = EXIT.ok;
    } else if (error instanceof UsageError) {
      process.stderr.write(`console: ${error.message}\n${USAGE}\n`);
      code = EXIT.usage;
    } else {
      process.stderr.write(`console: ${(error as Error).message}\n`);
      code = EXIT.failed;
    }
  }
  // The framework keeps sockets and inference runners alive; the call is over.
  process.exit(code);
}

if (isMainModule(import.meta.url)) void main();
