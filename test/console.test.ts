/**
 * The offline console as a user runs it: `node --import tsx src/console.ts ...` in a child process,
 * against the fake Gemini Live server in this process (GOOGLE_GEMINI_BASE_URL).
 *
 * Isolation: the console loads `.env.local` and `.env` from its working directory for what the
 * environment does not set. A developer's `.env.local` in the repo would leak a real key or model
 * into these runs, so each child runs in an empty temp directory (with a `node_modules` link, so
 * `--import tsx` resolves exactly as it does from the repo root) and with a clean environment
 * (PATH, HOME and what the test sets): test/support/child_run.ts. One test puts a `.env.local` in
 * its directory to show the isolation is needed.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWav, resampleTo, writeWav } from '../src/audio/wav.ts';
import {
  type FakeGeminiOptions,
  FakeGeminiServer,
  type Json,
  SpeechDetector,
} from '../tools/fake_gemini/server.ts';
import { FIXTURES, speechFixture } from './support/call_harness.ts';
import { REPO, killRunning, runChild, runDir } from './support/child_run.ts';
import { concatSamples, findWithGaps, indexOfRun } from './support/signals.ts';
import { readY4m } from './support/y4m.ts';

const CONSOLE = path.join(REPO, 'src', 'console.ts');
const HELLO = path.join(FIXTURES, 'hello.wav');
const MIC_RATE = 16_000;
const SPEAKER_RATE = 24_000;
/** The framework moves audio in 10-20 ms frames; "a frame or two" at 24 kHz. */
const TWO_FRAMES = 0.04 * SPEAKER_RATE;
/** Wall-clock limit for one console run before the test kills it. */
const RUN_LIMIT_MS = 40_000;

const GREETING_REPLY = { text: 'Hi! How can I help?', audioMs: 700 };
const ANSWER = { text: 'You said: hello.', audioMs: 900 };

/** Greeting (realtime text on 3.1) gets a short reply; a spoken turn gets ANSWER. */
const shortReplies: FakeGeminiOptions['respond'] = (turn) =>
  turn.source === 'audio' ? ANSWER : GREETING_REPLY;

/**
 * The one warning the framework logs at the end of every call: @livekit/agents 1.9.0 commits an
 * empty user turn when a session closes (upstream livekit/agents#5818).
 */
const CLOSE_TURN_WARNING = 'skipping user input, speech scheduling is paused';

/** stdout split into what the console printed and the framework's JSON log lines. */
function splitStdout(stdout: string): { printed: string[]; logs: { msg: string }[] } {
  const lines = stdout.trimEnd().split('\n');
  const isLog = (line: string) => line.startsWith('{"level":');
  return {
    printed: lines.filter((line) => !isLog(line)),
    logs: lines.filter(isLog).map((line) => JSON.parse(line) as { msg: string }),
  };
}

let work: string;

type RunResult = Awaited<ReturnType<typeof runChild>> & { cwd: string };

/**
 * At most this many consoles run at once. Each starts CPU-bound (tsx and the framework load for
 * ~2 s), then mostly waits on real-time audio; the suites below run side by side to keep this
 * file's wall time down, and this keeps them from starving each other on a 2-core machine.
 */
const MAX_RUNNING = 3;
let running = 0;
const waiting: (() => void)[] = [];

async function acquire(): Promise<() => void> {
  if (running < MAX_RUNNING) running += 1;
  else await new Promise<void>((resolve) => waiting.push(resolve)); // handed a slot directly
  return () => {
    const next = waiting.shift();
    if (next) next();
    else running -= 1;
  };
}

/** Run the console with a clean environment (PATH, HOME, `env`) in an empty directory. */
async function runConsole(
  args: string[],
  env: Record<string, string | undefined>,
  options: { cwd?: string } = {},
): Promise<RunResult> {
  const cwd = options.cwd ?? runDir(work);
  const release = await acquire();
  try {
    return { ...(await runChild(CONSOLE, args, env, cwd, RUN_LIMIT_MS)), cwd };
  } finally {
    release();
  }
}

/** The child's exit, with its output when it is not the expected code. */
function expectExit(run: RunResult, code: number): void {
  expect({ code: run.code, signal: run.signal }, run.describe).toEqual({ code, signal: null });
}

type Line = { t_ms: number; type: string } & Record<string, Json>;

function readTranscript(file: string): Line[] {
  const text = readFileSync(file, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);
}

function decodePcm(b64: string): Int16Array {
  const bytes = Buffer.from(b64, 'base64');
  const out = new Int16Array(bytes.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readInt16LE(i * 2);
  return out;
}

/** Every 24 kHz reply chunk the fake sent, in order, as one signal. */
function sentReplyAudio(fake: FakeGeminiServer): Int16Array {
  const parts: Int16Array[] = [];
  for (const { msg } of fake.sent) {
    for (const part of msg.serverContent?.modelTurn?.parts ?? []) {
      const data = part.inlineData;
      if (data?.mimeType === 'audio/pcm;rate=24000') parts.push(decodePcm(data.data));
    }
  }
  return concatSamples(...parts);
}

/** Every microphone chunk the fake received, in order (all 16 kHz), as one signal. */
function receivedMicAudio(fake: FakeGeminiServer): Int16Array {
  const parts: Int16Array[] = [];
  for (const { msg } of fake.received) {
    const audio = msg.realtimeInput?.audio;
    if (!audio) continue;
    // `audio/pcm` is 16 kHz by the API's convention.
    expect(['audio/pcm', 'audio/pcm;rate=16000']).toContain(audio.mimeType);
    parts.push(decodePcm(audio.data));
  }
  return concatSamples(...parts);
}

/** 20 ms frames whose RMS is above -40 dBFS (the fake's speech threshold). */
function voicedFrames(samples: Int16Array, rate = MIC_RATE): number {
  const frame = (rate * 20) / 1000;
  let voiced = 0;
  for (let i = 0; i + frame <= samples.length; i += frame) {
    let sum = 0;
    for (let j = i; j < i + frame; j++) sum += samples[j]! * samples[j]!;
    if (Math.sqrt(sum / frame) / 32768 > 0.01) voiced += 1;
  }
  return voiced;
}

/** The voiced length the fake's detector finds in `samples` (what a turn's speechMs reports). */
function detectedSpeechMs(samples: Int16Array): number {
  const detector = new SpeechDetector();
  const events = [...detector.push(samples, MIC_RATE), ...detector.flush()];
  const end = events.find((e) => e.type === 'end');
  if (end?.type !== 'end') throw new Error('no speech in the fixture');
  return end.speechMs;
}

function turnsOf(fake: FakeGeminiServer) {
  return fake.connections.flatMap((c) => c.turns);
}

function realtimeTexts(fake: FakeGeminiServer): string[] {
  return fake.received
    .map(({ msg }) => msg.realtimeInput?.text)
    .filter((t): t is string => typeof t === 'string');
}

function clientContents(fake: FakeGeminiServer): Json[] {
  return fake.received.filter(({ msg }) => 'clientContent' in msg).map(({ msg }) => msg);
}

const fakes: FakeGeminiServer[] = [];
async function startFake(options: FakeGeminiOptions = {}): Promise<FakeGeminiServer> {
  const fake = await FakeGeminiServer.start({ respond: shortReplies, ...options });
  fakes.push(fake);
  return fake;
}

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'console-test-'));
});

afterAll(async () => {
  killRunning();
  await Promise.all(fakes.splice(0).map((f) => f.close()));
  rmSync(work, { recursive: true, force: true });
});

// A test's time includes waiting for a free slot (MAX_RUNNING), hence the generous timeout.
describe.concurrent('npm run console', { timeout: 90_000 }, () => {
  describe('a normal run with the greeting', () => {
    const CANARY = `canary-key-${process.pid}-${Date.now().toString(36)}`;
    let fake: FakeGeminiServer;
    let run: RunResult;
    let output: string;
    let transcript: string;
    let lines: Line[];

    beforeAll(async () => {
      // Only the canary key opens a session: a run that exits 0 provably carried it.
      fake = await startFake({ apiKey: CANARY });
      const dir = runDir(work);
      output = path.join(dir, 'agent.wav');
      transcript = path.join(dir, 'call.jsonl');
      run = await runConsole(
        ['--input', HELLO, '--output', output, '--transcript', transcript, '--settle', '300'],
        { GOOGLE_API_KEY: CANARY, GOOGLE_GEMINI_BASE_URL: fake.baseUrl },
        { cwd: dir },
      );
      lines = readTranscript(transcript);
    }, 90_000);

    it('exits 0 after one spoken turn', () => {
      expectExit(run, 0);
      expect(turnsOf(fake).map((t) => t.source)).toEqual(['client_content', 'audio']);
      expect(run.stderr).toBe('');
    });

    it('ends with a summary on stdout: what was said, in order, and the files it wrote', () => {
      const { printed, logs } = splitStdout(run.stdout);
      expect(logs.filter((l) => l.msg !== CLOSE_TURN_WARNING)).toEqual([]);
      expect(printed).toEqual([
        expect.stringMatching(/^console: the call is done \(\d+\.\d s\):$/),
        `  agent: ${GREETING_REPLY.text}`,
        '  user: hello',
        `  agent: ${ANSWER.text}`,
        `console: wrote ${output}, ${transcript}`,
      ]);
    });

    it('writes every sample of the replies (greeting + answer) to --output, 24 kHz mono', () => {
      const wav = readWav(output);
      expect({ sampleRate: wav.sampleRate, channels: wav.channels }).toEqual({
        sampleRate: SPEAKER_RATE,
        channels: 1,
      });
      const expected = sentReplyAudio(fake);
      expect(expected.length).toBe(
        ((GREETING_REPLY.audioMs + ANSWER.audioMs) / 1000) * SPEAKER_RATE,
      );
      expect(Math.abs(wav.samples.length - expected.length)).toBeLessThanOrEqual(TWO_FRAMES);
      // The same audio, not just the same length: the first and last 100 ms match the fake's.
      const n = 0.1 * SPEAKER_RATE;
      expect(Array.from(wav.samples.subarray(0, n))).toEqual(Array.from(expected.subarray(0, n)));
      const tail = Math.min(wav.samples.length, expected.length);
      expect(Array.from(wav.samples.subarray(tail - n, tail))).toEqual(
        Array.from(expected.subarray(tail - n, tail)),
      );
    });

    it('writes the call to --transcript in order, ending with usage', () => {
      const index = (pred: (l: Line) => boolean) => lines.findIndex(pred);
      const greeting = index((l) => l.type === 'message' && l.role === 'assistant');
      const started = index((l) => l.type === 'input' && l.state === 'started');
      const finished = index((l) => l.type === 'input' && l.state === 'finished');
      const userFinal = index((l) => l.type === 'user_transcript' && l.final === true);
      const answer = lines.findLastIndex((l) => l.type === 'message' && l.role === 'assistant');

      expect(lines[greeting]).toMatchObject({ text: GREETING_REPLY.text, interrupted: false });
      expect(lines[started]).toMatchObject({ duration_ms: 2374 });
      expect(lines[userFinal]).toMatchObject({ text: 'hello' });
      expect(lines[answer]).toMatchObject({ text: ANSWER.text, interrupted: false });
      expect(greeting).toBeGreaterThanOrEqual(0);
      expect([greeting, started, finished, userFinal, answer]).toEqual(
        [greeting, started, finished, userFinal, answer].toSorted((a, b) => a - b),
      );
      expect(new Set([greeting, started, finished, userFinal, answer]).size).toBe(5);
      const states = lines.filter((l) => l.type === 'agent_state').map((l) => l.state);
      expect(states).toEqual(expect.arrayContaining(['listening', 'speaking']));
      expect(states.at(-1)).toBe('listening');
      const times = lines.map((l) => l.t_ms);
      expect(times).toEqual(times.toSorted((a, b) => a - b));
    });

    it('ends the transcript with usage: minutes, turns and tokens by modality', () => {
      const usage = lines.at(-1)!;
      expect(usage.type).toBe('usage');
      expect(lines.filter((l) => l.type === 'usage')).toHaveLength(1);
      // Tokens as the fake billed them (usageMetadata on each turnComplete), by modality.
      const billed = { inAudio: 0, inText: 0, outAudio: 0, total: 0 };
      for (const { msg } of fake.sent) {
        const meta = msg.usageMetadata;
        if (!meta) continue;
        for (const d of meta.promptTokensDetails ?? []) {
          if (d.modality === 'AUDIO') billed.inAudio += d.tokenCount;
          if (d.modality === 'TEXT') billed.inText += d.tokenCount;
        }
        for (const d of meta.responseTokensDetails ?? []) {
          if (d.modality === 'AUDIO') billed.outAudio += d.tokenCount;
        }
        billed.total += meta.totalTokenCount;
      }
      expect(billed.inAudio).toBeGreaterThan(0);
      expect(billed.outAudio).toBeGreaterThan(0);
      expect(usage).toMatchObject({
        userTurns: 1,
        agentReplies: 2,
        interruptions: 0,
        inputTokens: { audio: billed.inAudio, text: billed.inText, image: 0 },
        outputTokens: { audio: billed.outAudio, text: 0, image: 0 },
        totalTokens: billed.total,
      });
      // Call minutes cover the call: more than the greeting, input and answer, less than the run.
      const minMs = GREETING_REPLY.audioMs + 2374 + ANSWER.audioMs;
      expect(usage.callMinutes * 60_000).toBeGreaterThanOrEqual(minMs - 60);
      expect(usage.callMinutes * 60_000).toBeLessThanOrEqual(run.wallMs + 60);
    });

    it('sends every sample of the input to the model, unchanged, at 16 kHz', () => {
      const input = speechFixture('hello.wav');
      const mic = receivedMicAudio(fake);
      // The whole fixture arrives as one contiguous run of samples (nothing dropped or muted)...
      expect(indexOfRun(mic, input)).toBeGreaterThanOrEqual(0);
      // ...and the model heard all of its speech: at least as many voiced frames as the input has.
      expect(voicedFrames(mic)).toBeGreaterThanOrEqual(voicedFrames(input));
      const [turn] = turnsOf(fake).filter((t) => t.source === 'audio');
      expect(Math.abs(turn!.speechMs! - detectedSpeechMs(input))).toBeLessThanOrEqual(40);
    });

    it('never prints or writes the API key', () => {
      expect(run.stdout).not.toContain(CANARY);
      expect(run.stderr).not.toContain(CANARY);
      expect(readFileSync(transcript, 'utf8')).not.toContain(CANARY);
      expect(readFileSync(output).toString('latin1')).not.toContain(CANARY);
      // The key did travel, in the WebSocket URL: the check above is not vacuous.
      expect(fake.connections.some((c) => c.path.includes(CANARY))).toBe(true);
    });
  });

  describe('input in any WAV format', () => {
    it('takes a 44.1 kHz stereo WAV like the 16 kHz mono one: one user turn, answered', async () => {
      const fake = await startFake();
      const dir = runDir(work);
      const mono = readWav(HELLO);
      const at44 = resampleTo(mono, 44_100).samples;
      // Stereo with different channels: the left louder than the right; the console mixes down.
      const stereo = new Int16Array(at44.length * 2);
      at44.forEach((s, i) => {
        stereo[2 * i] = s;
        stereo[2 * i + 1] = Math.round(s / 2);
      });
      const input = path.join(dir, 'hello_44k_stereo.wav');
      writeWav(input, { sampleRate: 44_100, channels: 2, samples: stereo });
      const transcript = path.join(dir, 'call.jsonl');

      const run = await runConsole(
        ['--input', input, '--transcript', transcript, '--no-greeting', '--settle', '300'],
        { GOOGLE_API_KEY: 'test', GOOGLE_GEMINI_BASE_URL: fake.baseUrl },
        { cwd: dir },
      );

      expectExit(run, 0);
      const turns = turnsOf(fake);
      expect(turns.map((t) => t.source)).toEqual(['audio']);
      // The whole utterance arrived as one turn of the same voiced length as the 16 kHz fixture.
      expect(
        Math.abs(turns[0]!.speechMs! - detectedSpeechMs(speechFixture('hello.wav'))),
      ).toBeLessThanOrEqual(60);
      const mic = receivedMicAudio(fake);
      expect(voicedFrames(mic)).toBeGreaterThanOrEqual(
        voicedFrames(speechFixture('hello.wav')) - 3,
      );
      const lines = readTranscript(transcript);
      expect(lines.find((l) => l.type === 'input')).toMatchObject({ duration_ms: 2374 });
      expect(lines.filter((l) => l.type === 'message' && l.role === 'assistant')).toMatchObject([
        { text: ANSWER.text },
      ]);
    });
  });

  describe('--no-greeting', () => {
    it('sends no greeting request; the output holds only the answer (and a debug log keeps the key)', async () => {
      const canary = `canary-debug-${process.pid}`;
      const fake = await startFake({ apiKey: canary });
      const dir = runDir(work);
      const output = path.join(dir, 'agent.wav');
      const transcript = path.join(dir, 'call.jsonl');
      const run = await runConsole(
        [
          '--input',
          HELLO,
          '--output',
          output,
          '--transcript',
          transcript,
          '--no-greeting',
          '--settle',
          '300',
        ],
        // Also the most verbose log level: the SDK carries the key in the socket URL.
        {
          GOOGLE_API_KEY: canary,
          GOOGLE_GEMINI_BASE_URL: fake.baseUrl,
          LOG_LEVEL: 'debug',
        },
        { cwd: dir },
      );

      expectExit(run, 0);
      // Nothing but audio before the answer: no realtime text, no client content at all.
      expect(realtimeTexts(fake)).toEqual([]);
      expect(clientContents(fake)).toEqual([]);
      expect(turnsOf(fake).map((t) => t.source)).toEqual(['audio']);
      const wav = readWav(output);
      const answer = sentReplyAudio(fake);
      expect(answer.length).toBe((ANSWER.audioMs / 1000) * SPEAKER_RATE);
      expect(Math.abs(wav.samples.length - answer.length)).toBeLessThanOrEqual(TWO_FRAMES);
      const lines = readTranscript(transcript);
      expect(lines.filter((l) => l.type === 'message' && l.role === 'assistant')).toMatchObject([
        { text: ANSWER.text },
      ]);
      expect(lines.at(-1)).toMatchObject({ type: 'usage', userTurns: 1, agentReplies: 1 });
      // The debug log is really on (it logs the server events), and never shows the key.
      expect(run.stdout).toContain('received Gemini Live server event');
      for (const text of [run.stdout, run.stderr, readFileSync(transcript, 'utf8')]) {
        expect(text).not.toContain(canary);
      }
    });
  });

  describe('--video', () => {
    it('plays through the avatar sink: a y4m and one WAV timeline, silence included, in sync', async () => {
      const fake = await startFake();
      const dir = runDir(work);
      const output = path.join(dir, 'agent.wav');
      const video = path.join(dir, 'agent.y4m');
      const run = await runConsole(
        [
          '--input',
          HELLO,
          '--output',
          output,
          '--video',
          video,
          '--no-greeting',
          '--settle',
          '300',
        ],
        { GOOGLE_API_KEY: 'test', GOOGLE_GEMINI_BASE_URL: fake.baseUrl },
        { cwd: dir },
      );

      expectExit(run, 0);
      expect(run.stderr).toBe('');
      const y4m = readY4m(video);
      const wav = readWav(output);
      expect(wav).toMatchObject({ sampleRate: SPEAKER_RATE, channels: 1 });
      // The two files cover the same time, to within one video frame.
      const videoS = y4m.frames.length / y4m.fps;
      expect(Math.abs(wav.samples.length / SPEAKER_RATE - videoS)).toBeLessThanOrEqual(1 / y4m.fps);
      // Longer than the reply: the user's input and the pauses are there as silence...
      const answer = sentReplyAudio(fake);
      expect(answer.length).toBe((ANSWER.audioMs / 1000) * SPEAKER_RATE);
      expect(wav.samples.length).toBeGreaterThan(answer.length + (2374 / 1000) * SPEAKER_RATE);
      // ...and the whole reply is in it once, after the user spoke, as it left the avatar's
      // source: contiguous unless the source really ran dry (the console process stalled on a
      // loaded machine), and then only a little silence between its samples.
      const found = findWithGaps(wav.samples, answer);
      expect(found.start).toBeGreaterThanOrEqual((2374 / 1000) * SPEAKER_RATE);
      expect(found.inserted).toBeLessThan(0.2 * SPEAKER_RATE);
      expect(findWithGaps(wav.samples, answer, found.end).start).toBe(-1);
    });
  });

  describe('a function tool through the console', () => {
    it('runs get_current_time and writes the call with its output to the transcript', async () => {
      const fake = await startFake({
        respond: (turn) =>
          turn.source === 'tool_response'
            ? { text: 'It is noon in Paris.', audioMs: 500 }
            : { toolCall: { name: 'get_current_time', args: { timeZone: 'Europe/Paris' } } },
      });
      const dir = runDir(work);
      const transcript = path.join(dir, 'call.jsonl');
      const run = await runConsole(
        ['--input', HELLO, '--transcript', transcript, '--no-greeting', '--settle', '300'],
        { GOOGLE_API_KEY: 'test', GOOGLE_GEMINI_BASE_URL: fake.baseUrl },
        { cwd: dir },
      );

      expectExit(run, 0);
      const lines = readTranscript(transcript);
      const calls = lines.filter((l) => l.type === 'tool_call');
      expect(calls).toHaveLength(1);
      expect(calls[0]).toMatchObject({
        name: 'get_current_time',
        arguments: { timeZone: 'Europe/Paris' },
        output: { timeZone: 'Europe/Paris', now: expect.stringMatching(/\d{4}/) },
        is_error: false,
      });
      // The output the transcript shows is the one the model received.
      const [response] = turnsOf(fake).filter((t) => t.source === 'tool_response');
      expect(response?.toolResponse).toMatchObject({ name: 'get_current_time' });
      expect(JSON.stringify(response?.toolResponse?.response)).toContain(calls[0]!.output.now);
      const answer = lines.findLastIndex((l) => l.type === 'message' && l.role === 'assistant');
      expect(lines[answer]).toMatchObject({ text: 'It is noon in Paris.' });
      expect(answer).toBeGreaterThan(lines.indexOf(calls[0]!));
    });
  });

  describe('timeout', () => {
    it('exits 3 at the deadline when the model never answers, still writing the files', async () => {
      const fake = await startFake({ respond: () => new Promise(() => {}) });
      const dir = runDir(work);
      const output = path.join(dir, 'agent.wav');
      const transcript = path.join(dir, 'call.jsonl');
      const run = await runConsole(
        ['--input', HELLO, '--output', output, '--transcript', transcript, '--timeout', '3'],
        { GOOGLE_API_KEY: 'test', GOOGLE_GEMINI_BASE_URL: fake.baseUrl },
        { cwd: dir },
      );

      expectExit(run, 3);
      expect(run.stderr).toMatch(/^console: timed out: .*answered.*\n$/);
      expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
      // The model was asked (the greeting reached it) and never answered.
      expect(turnsOf(fake).map((t) => t.source)).toContain('client_content');
      const lines = readTranscript(transcript);
      expect(lines.some((l) => l.type === 'input' && l.state === 'started')).toBe(true);
      const usage = lines.at(-1)!;
      expect(usage).toMatchObject({ type: 'usage', userTurns: 0 });
      // The call ended at the deadline (3 s), not after the rest of the input had played.
      expect(usage.t_ms).toBeGreaterThanOrEqual(2900);
      expect(usage.t_ms).toBeLessThan(3000 + 1000);
      const wav = readWav(output);
      expect(wav).toMatchObject({ sampleRate: SPEAKER_RATE, channels: 1 });
      expect(wav.samples.length).toBe(0);
    });
  });

  describe('refused before anything connects', () => {
    // Each run only parses and exits; run them side by side.
    const refused = async (args: string[], env: Record<string, string | undefined> = {}) => {
      const fake = await startFake();
      const run = await runConsole(args, {
        GOOGLE_API_KEY: 'test',
        GOOGLE_GEMINI_BASE_URL: fake.baseUrl,
        ...env,
      });
      // Not one socket reached the model: settings are checked before the call starts.
      expect(fake.connections).toHaveLength(0);
      expect(run.stdout).toBe('');
      return run;
    };
    const oneLine = (run: RunResult) => {
      const lines = run.stderr.trimEnd().split('\n');
      expect(lines, run.stderr).toHaveLength(1);
      return lines[0]!;
    };
    const USAGE_LINE = /^usage: npm run console -- --input <wav> /;

    describe('bad settings or metadata: exit 1, one line naming the field', () => {
      it('a voice the model does not have, in --metadata JSON', async () => {
        const run = await refused([
          '--input',
          HELLO,
          '--metadata',
          '{"gemini_realtime_config":{"voice":"Bob"}}',
        ]);
        expectExit(run, 1);
        expect(oneLine(run)).toMatch(/gemini_realtime_config\.voice: "Bob" is not valid/);
      });

      it('--metadata @file holding invalid JSON', async () => {
        const file = path.join(work, 'bad-metadata.json');
        writeFileSync(file, '{"gemini_realtime_config": {"voice": ');
        const run = await refused(['--input', HELLO, '--metadata', `@${file}`]);
        expectExit(run, 1);
        expect(oneLine(run)).toMatch(/metadata.*is not JSON/);
      });

      it('GEMINI_VOICE=Bob', async () => {
        const run = await refused(['--input', HELLO], { GEMINI_VOICE: 'Bob' });
        expectExit(run, 1);
        expect(oneLine(run)).toMatch(/^console: GEMINI_VOICE: "Bob" is not valid/);
      });

      it('no GOOGLE_API_KEY', async () => {
        const run = await refused(['--input', HELLO], { GOOGLE_API_KEY: undefined });
        expectExit(run, 1);
        expect(oneLine(run)).toMatch(/^console: GOOGLE_API_KEY missing/);
      });

      it('a .env.local in the working directory is read (why the other runs use an empty one)', async () => {
        const dir = runDir(work);
        // It fills in what the environment does not set (the environment wins: settings.test.ts).
        writeFileSync(path.join(dir, '.env.local'), 'GEMINI_VOICE=Bob\n');
        const fake = await startFake();
        const run = await runConsole(
          ['--input', HELLO],
          { GOOGLE_API_KEY: 'test', GOOGLE_GEMINI_BASE_URL: fake.baseUrl },
          { cwd: dir },
        );
        expectExit(run, 1);
        expect(oneLine(run)).toMatch(/GEMINI_VOICE: "Bob"/);
        expect(fake.connections).toHaveLength(0);
      });
    });

    describe('bad arguments: exit 2 with the usage line', () => {
      it('no --input', async () => {
        const run = await refused(['--output', path.join(work, 'never.wav')]);
        expectExit(run, 2);
        expect(run.stderr).toMatch(/^console: --input is required\n/);
        expect(run.stderr.trimEnd().split('\n').at(-1)).toMatch(USAGE_LINE);
      });

      it('an --input that cannot be read', async () => {
        const missing = path.join(work, 'no-such-input.wav');
        const run = await refused(['--input', missing]);
        expectExit(run, 2);
        expect(run.stderr).toContain(`console: --input: `);
        expect(run.stderr).toContain(missing);
        expect(run.stderr.trimEnd().split('\n').at(-1)).toMatch(USAGE_LINE);
      });

      it('an --input that is not a WAV file', async () => {
        const run = await refused(['--input', CONSOLE]);
        expectExit(run, 2);
        expect(run.stderr).toMatch(/^console: --input: .*not a RIFF\/WAVE file/);
        expect(run.stderr.trimEnd().split('\n').at(-1)).toMatch(USAGE_LINE);
      });

      it('--timeout abc', async () => {
        const run = await refused(['--input', HELLO, '--timeout', 'abc']);
        expectExit(run, 2);
        expect(run.stderr).toMatch(/^console: --timeout: "abc" is not valid/);
        expect(run.stderr.trimEnd().split('\n').at(-1)).toMatch(USAGE_LINE);
      });
    });
  });
});
