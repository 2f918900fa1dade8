/**
 * The offline demo: one command, no keys, no LiveKit server, no Google account.
 *
 *   npm run demo [-- --out <dir>]
 *
 * It starts a stand-in for Gemini Live on this machine (the fake server in tools/fake_gemini,
 * scripted for this demo) and runs the console's call against it, so everything else is the
 * worker's own code: the session builder, the Gemini plugin and SDK over a real WebSocket, the
 * greeting, the avatar's sink, lip sync and renderer. The user's question is a bundled recording
 * (tools/demo/question.wav; the script is tools/demo/script.ts). It writes the video of the avatar (an .mp4 when ffmpeg is on PATH,
 * else a .y4m and a .wav and the ffmpeg line that joins them) and the transcript.
 *
 * The voice is a stand-in: the fake speaks a synthetic, speech-shaped buzz (the mouth moves to
 * it), not words. With a Gemini key the console runs the same call with Gemini's real voice.
 *
 * Exit codes: 0 done, 2 bad arguments, 4 failed (the console's own codes otherwise).
 */
import './load_env.ts';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { initializeLogger } from '@livekit/agents';
import { muxToMp4Args, onPath, runFfmpeg } from './avatar/ffmpeg.ts';
import { formatBytes, isMainModule, parseOptionsOrExit } from './cli_io.ts';
import { type CallEvent, conversationLines } from './console/call_events.ts';
import { ConfigError } from './config/errors.ts';
import { EXIT, runConsole } from './console.ts';
import { FakeGeminiServer } from '../tools/fake_gemini/server.ts';
import { QUESTION_TEXT, QUESTION_WAV, demoReply } from '../tools/demo/script.ts';

const USAGE = 'usage: npm run demo [-- --out <dir>]   (default folder: demo-output)';

/**
 * What the demo's call must not take from .env.local or the shell: where Gemini is and how to reach
 * it, and anything that needs the network (Deepgram turn detection). The rest (avatar, voice,
 * persona, greeting) is the user's.
 */
function demoEnvironment(baseUrl: string): Record<string, string | undefined> {
  return {
    GOOGLE_GEMINI_BASE_URL: baseUrl,
    GOOGLE_API_KEY: 'demo-key-for-the-stand-in',
    GEMINI_API_KEY: undefined,
    GOOGLE_GENAI_USE_VERTEXAI: 'false',
    GEMINI_MODEL: undefined,
    GEMINI_MODEL_RULES: undefined,
    TURN_DETECTION: 'gemini',
    // The demo has a greeting, whatever the user's setting (theirs is kept if it has words).
    AGENT_GREETING: process.env.AGENT_GREETING?.trim() ? process.env.AGENT_GREETING : undefined,
  };
}

function applyEnvironment(env: Record<string, string | undefined>): void {
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
}

/** A path as the user would type it from here: relative inside this folder, else absolute. */
function shown(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}

function fileLine(label: string, file: string, extra = ''): string {
  return `  ${label.padEnd(11)} ${shown(file)} (${formatBytes(statSync(file).size)}${extra})`;
}

/** A transcript a person reads: one line per thing said, with the time it was said. */
function readableTranscript(events: readonly CallEvent[]): string {
  const said = events.filter((e) => conversationLines([e]).length > 0);
  return (
    said.map((e) => `[${(e.t_ms / 1000).toFixed(1)} s] ${conversationLines([e])[0]}`).join('\n') +
    '\n'
  );
}

export async function runDemo(argv: string[]): Promise<number> {
  const values = parseOptionsOrExit(argv, { out: { type: 'string' } }, 'demo', USAGE);
  const out = path.resolve(values.out ?? 'demo-output');
  mkdirSync(out, { recursive: true });
  const files = {
    y4m: path.join(out, 'call.y4m'),
    wav: path.join(out, 'call.wav'),
    mp4: path.join(out, 'call.mp4'),
    jsonl: path.join(out, 'transcript.jsonl'),
    txt: path.join(out, 'transcript.txt'),
  };
  process.stdout.write(
    "demo: an offline call through the worker's own code, with a stand-in for Gemini on this machine " +
      '(no keys, no server). The voice is a stand-in too: a speech-shaped buzz, not words.\n',
  );
  const started = Date.now();
  const fake = await FakeGeminiServer.start({
    transcribe: () => QUESTION_TEXT,
    respond: demoReply,
  });
  let code: number;
  try {
    applyEnvironment(demoEnvironment(fake.baseUrl));
    code = await runConsole(
      [
        ...['--input', QUESTION_WAV, '--video', files.y4m, '--output', files.wav],
        ...['--transcript', files.jsonl, '--settle', '1000'],
      ],
      { summary: false },
    );
  } finally {
    await fake.close();
  }
  if (code !== EXIT.ok) return code;

  const events = readFileSync(files.jsonl, 'utf8')
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as CallEvent);
  writeFileSync(files.txt, readableTranscript(events));
  const mp4 = onPath('ffmpeg');
  if (mp4) {
    process.stdout.write('demo: encoding the video with ffmpeg...\n');
    await runFfmpeg(muxToMp4Args(files.y4m, files.wav, files.mp4), 'ignore').done;
    rmSync(files.y4m);
    rmSync(files.wav);
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const lines = [
    `demo: done in ${seconds} s: a greeting, the question from ${shown(QUESTION_WAV)}, an answer, and the avatar saying them:`,
    ...conversationLines(events).map((line) => `  ${line}`),
    ...(mp4
      ? [fileLine('video:', files.mp4)]
      : [
          fileLine('video:', files.y4m, ', uncompressed; mpv or VLC play it'),
          fileLine('audio:', files.wav, ', recorded with the video: they start together'),
        ]),
    fileLine('transcript:', files.txt),
    fileLine('events:', files.jsonl, ', one JSON line per event'),
    'demo: the voice you hear is a stand-in, not Gemini: put GOOGLE_API_KEY in .env.local and ' +
      '`npm run console -- --input tools/demo/question.wav --video call.y4m --output call.wav` runs ' +
      'the same call with Gemini.',
  ];
  if (!mp4) {
    lines.push(
      `demo: no ffmpeg on PATH; with it, one .mp4 is: ffmpeg -i ${shown(files.y4m)} -i ${shown(files.wav)} ` +
        `-c:v libx264 -pix_fmt yuv420p -c:a aac ${shown(files.mp4)}`,
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
  return EXIT.ok;
}

async function main(): Promise<void> {
  initializeLogger({ pretty: false, level: process.env.LOG_LEVEL ?? 'warn' });
  let code: number;
  try {
    code = await runDemo(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`demo: ${(error as Error).message}\n`);
    // A setting of yours the call cannot take (.env.local or the environment): fix and rerun.
    code = error instanceof ConfigError ? EXIT.config : EXIT.failed;
  }
  // The framework keeps sockets and inference runners alive; the call is over.
  process.exit(code);
}

if (isMainModule(import.meta.url)) void main();
