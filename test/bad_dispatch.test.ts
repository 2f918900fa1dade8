/**
 * Bad dispatches at the worker level: the job entry (`runJob` in src/agent.ts) with a stand-in
 * JobContext. A dispatch the worker cannot run ends that job with exactly one error log line
 * naming the problem and one `ctx.shutdown(reason)`; no call session is built, nothing throws
 * into the framework (which would count the job as crashed), and the next dispatch in the same
 * process runs with the worker's own settings (nothing a refused dispatch did stays behind).
 *
 * The log is the framework's pino logger as the worker sets it up (`initializeLogger`, JSON lines
 * on stdout), captured at the stdout write so every line at every level is seen.
 */
import { initializeLogger, type JobContext } from '@livekit/agents';
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type JobDeps, runJob } from '../src/agent.ts';
import { MAX_METADATA_BYTES } from '../src/config/dispatch.ts';
import { DEFAULT_CONTEXTS_DIR, type Env, type Settings } from '../src/config/settings.ts';
import type { CallSession, CallSessionOptions } from '../src/session.ts';

const M25 = 'gemini-2.5-flash-native-audio-preview-12-2025';
const CANARIES = {
  GOOGLE_API_KEY: `canary-google-${process.pid}`,
  LIVEKIT_API_KEY: `canary-lk-key-${process.pid}`,
  LIVEKIT_API_SECRET: `canary-lk-secret-${process.pid}`,
  DEEPGRAM_API_KEY: `canary-deepgram-${process.pid}`,
};
/** The worker's environment: every secret set to a canary. */
const ENV: Env = { ...CANARIES, LIVEKIT_URL: 'wss://example.livekit.cloud' };

const realtime = (config: Record<string, unknown>) =>
  JSON.stringify({ gemini_realtime_config: config });
const padTo = (json: string, bytes: number) => json + ' '.repeat(bytes - Buffer.byteLength(json));
const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

// ---- the log, as the worker writes it ----------------------------------------------------------

type LogLine = { level: number; msg: string } & Record<string, unknown>;
let stdout = '';

beforeAll(() => {
  initializeLogger({ pretty: false, level: 'debug' });
  // pino's stream is process.stdout, looked up at each write: every line lands here.
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  });
});

afterAll(() => {
  vi.restoreAllMocks();
});

/** The log lines written since the last call, parsed; the raw text too, for the secret check. */
function takeLog(): { lines: LogLine[]; raw: string } {
  const raw = stdout;
  stdout = '';
  const lines = raw
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as LogLine);
  return { lines, raw };
}

afterEach(() => {
  takeLog();
});

// ---- a stand-in job --------------------------------------------------------------------------

let jobCount = 0;

interface StandIn {
  ctx: JobContext;
  shutdowns: string[];
  connects: number;
  shutdownCallbacks: (() => Promise<void>)[];
  sessionStarts: unknown[];
  /** The rooms the call's video input was attached to. */
  videoRooms: unknown[];
  greets: number;
  /** The options each createCallSession call got. */
  sessions: CallSessionOptions[];
  avatarsFor: Settings[];
  deps: JobDeps;
}

function standIn(metadata: string, env: Env = ENV): StandIn {
  jobCount += 1;
  const id = `AJ_test_${jobCount}`;
  // The job's Room: a name, and the events the job listens to (room metadata changes).
  const room = Object.assign(new EventEmitter(), { name: `room-${jobCount}` });
  const s: StandIn = {
    shutdowns: [],
    connects: 0,
    shutdownCallbacks: [],
    sessionStarts: [],
    videoRooms: [],
    greets: 0,
    sessions: [],
    avatarsFor: [],
  } as unknown as StandIn;
  s.ctx = {
    job: { id, metadata, room: { name: room.name, sid: `RM_${jobCount}` } },
    proc: { userData: {} },
    room,
    shutdown: (reason = '') => void s.shutdowns.push(reason),
    addShutdownCallback: (cb: () => Promise<void>) => void s.shutdownCallbacks.push(cb),
    connect: async () => void (s.connects += 1),
  } as unknown as JobContext;
  s.deps = {
    env,
    createCallSession: async (options) => {
      s.sessions.push(options);
      return {
        settings: options.settings,
        agent: {},
        session: { start: async (arg: unknown) => void s.sessionStarts.push(arg) },
        model: { model: options.settings.call.model },
        usage: { logSummary: () => {} },
        video: { attachRoom: (r: unknown) => void s.videoRooms.push(r), close: async () => {} },
        greet: async () => void (s.greets += 1),
      } as unknown as CallSession;
    },
    avatarPublisherFor: (settings) => {
      s.avatarsFor.push(settings);
      return undefined;
    },
  };
  return s;
}

/** Run one refused dispatch; returns its one log line after checking everything around it. */
async function refuse(metadata: string, env: Env = ENV): Promise<LogLine> {
  const job = standIn(metadata, env);
  await expect(runJob(job.ctx, job.deps)).resolves.toBeUndefined();
  expect(job.shutdowns).toEqual(['dispatch refused: invalid metadata']);
  expect(job.sessions).toEqual([]);
  expect(job.avatarsFor).toEqual([]);
  expect(job.connects).toBe(0);
  expect(job.shutdownCallbacks).toEqual([]);
  expect((job.ctx.room as unknown as EventEmitter).eventNames()).toEqual([]);
  const { lines, raw } = takeLog();
  expect(lines, raw).toHaveLength(1);
  const [line] = lines;
  expect(line).toMatchObject({ level: 50, jobId: job.ctx.job.id, room: job.ctx.room.name });
  // The problem, named by its dispatch path (`dispatch metadata: ...`, `avatar_id: ...`).
  expect(line!.msg).toMatch(/^dispatch refused: (dispatch metadata: |avatar_id: |gemini_realtime)/);
  expect(line!.msg).not.toContain('\n');
  for (const [name, canary] of Object.entries(CANARIES)) {
    expect(raw, `${name} in the log`).not.toContain(canary);
  }
  return line!;
}

// ---- refused dispatches ------------------------------------------------------------------------

// prettier-ignore
const REFUSED: { what: string; metadata: string; problem: RegExp }[] = [
  { what: 'text that is not JSON', metadata: 'voice=Kore', problem: /"voice=Kore" is not JSON/ },
  { what: 'cut-off JSON', metadata: '{"gemini_realtime_config":{"voice":', problem: /is not JSON/ },
  { what: 'a JSON array', metadata: '["Kore"]', problem: /\["Kore"\] is not a JSON object/ },
  { what: 'JSON null', metadata: 'null', problem: /null is not a JSON object/ },
  { what: 'one byte over 64 KiB', metadata: padTo('{"avatar_id":"x"}', MAX_METADATA_BYTES + 1),
    problem: /65537 bytes is too large \(allowed: up to 65536 bytes\)/ },
  { what: 'an unknown top-level field', metadata: '{"voice":"Kore"}', problem: /unknown field "voice"/ },
  { what: 'an unknown nested field', metadata: realtime({ base_url: 'http://evil.example' }),
    problem: /unknown field "gemini_realtime_config\.base_url"/ },
  { what: 'gemini_realtime_config that is a string', metadata: '{"gemini_realtime_config":"Kore"}',
    problem: /gemini_realtime_config: "Kore" is not a JSON object/ },
  { what: 'temperature as a string', metadata: realtime({ temperature: '0.7' }),
    problem: /gemini_realtime_config\.temperature: "0\.7" is not valid/ },
  { what: 'a voice as a number', metadata: realtime({ voice: 7 }),
    problem: /gemini_realtime_config\.voice: 7 is not valid/ },
  { what: 'temperature above 2', metadata: realtime({ temperature: 2.5 }),
    problem: /gemini_realtime_config\.temperature: 2\.5 is not valid \(allowed: a number from 0\.0 to 2\.0\)/ },
  { what: 'a thinking budget out of range', metadata: realtime({ model: M25, thinking_budget: 40_000 }),
    problem: /gemini_realtime_config\.thinking_budget: 40000 is not valid/ },
  { what: 'a media resolution the API does not have', metadata: realtime({ media_resolution: 'ultra' }),
    problem: /gemini_realtime_config\.media_resolution: "ultra" is not valid \(allowed: low, medium, high\)/ },
  { what: 'instructions over 16,000 characters', metadata: realtime({ instructions: 'x'.repeat(16_001) }),
    problem: /gemini_realtime_config\.instructions: "x{10,}\.\.\. is not valid/ },
  { what: 'an unknown avatar', metadata: '{"avatar_id":"nobody"}',
    problem: /avatar_id: avatar "nobody": unknown id \(available: / },
  { what: 'an unknown model', metadata: realtime({ model: 'gemini-9.9-flash-live' }),
    problem: /gemini_realtime_config\.model: model "gemini-9\.9-flash-live" is not in the capability table/ },
  { what: 'a 3.8 model with a 2.5-only option', metadata: realtime({ affective_dialog: true }),
    problem: /gemini_realtime_config\.affective_dialog: .*affective dialog was removed from this model's API/ },
  // A context_id names a file: anything that could leave the contexts directory is refused.
  ...['../x', '../../etc/passwd', '/etc/passwd', '..%2Fx', '%2e%2e%2fx', 'a%2Fb', '..\\x', 'x/../y', '.', 'x.md']
    .map((id) => ({
      what: `context_id ${JSON.stringify(id)}`, metadata: realtime({ context_id: id }),
      problem: new RegExp(`gemini_realtime_config\\.context_id: ${escape(JSON.stringify(id))} is not valid \\(allowed: a context file name`),
    })),
  { what: 'a context_id with no file', metadata: realtime({ context_id: 'nosuch' }),
    problem: /gemini_realtime_config\.context_id: "nosuch" has no file .*nosuch\.md \(available: default, support\)/ },
  // LiveAvatar's session JSON: what this worker cannot run is refused before connecting.
  { what: 'LiveAvatar FULL mode', metadata: '{"mode":"FULL"}', problem: /mode: "FULL" is not valid \(allowed: LITE / },
  { what: 'a secret_id on a worker without GEMINI_SECRETS_FILE', metadata: realtime({ secret_id: 'tenant-a' }),
    problem: /gemini_realtime_config\.secret_id: "tenant-a" names no key: the worker has no GEMINI_SECRETS_FILE/ },
  { what: 'a LiveAvatar avatar on a worker without LIVEAVATAR_API_KEY',
    metadata: '{"avatar_id":"0f8e2d4c-6b1a-4c3e-9d7f-5a2b8c1e4d6f"}',
    problem: /avatar_id: "0f8e2d4c-[^"]+" is not a local avatar, and LiveAvatar avatars need LIVEAVATAR_API_KEY/ },
  // JSON.stringify of a value nested this deep overflows the stack while the refusal is written.
  { what: 'metadata that is 30,000 nested arrays', metadata: nested(30_000),
    problem: /\[\.\.\.\] \(nested too deep to show\) is not a JSON object/ },
  { what: 'a field holding 30,000 nested arrays', metadata: `{"avatar_id":${nested(30_000)}}`,
    problem: /avatar_id: \[\.\.\.\] \(nested too deep to show\) is not valid/ },
];

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('a refused dispatch', () => {
  it.each(REFUSED)(
    '$what: one error line naming it, the job shut down, no session',
    async ({ metadata, problem }) => {
      const line = await refuse(metadata);
      expect(line.msg).toMatch(problem);
    },
  );

  it('never echoes the value of a field that is not allowed (an api_key canary)', async () => {
    const line = await refuse(realtime({ api_key: CANARIES.GOOGLE_API_KEY }));
    expect(line.msg).toMatch(/unknown field "gemini_realtime_config\.api_key"/);
  });

  it('names every problem of one dispatch in the same single line', async () => {
    const line = await refuse(
      JSON.stringify({
        avatar_id: 'x y',
        gemini_realtime_config: { voice: 'Bob', temperature: 9 },
      }),
    );
    expect(line.msg).toMatch(/gemini_realtime_config\.voice: "Bob" is not valid.*; /);
    expect(line.msg).toMatch(/gemini_realtime_config\.temperature: 9 is not valid/);
    expect(line.msg).toMatch(/avatar_id: "x y" is not valid/);
  });

  describe('a context that leaves its directory through a link', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'bad-dispatch-contexts-'));
      writeFileSync(path.join(dir, 'default.md'), 'You are a test agent.');
      writeFileSync(path.join(tmpdir(), `outside-${process.pid}.md`), 'Outside the contexts.');
      symlinkSync(path.join(tmpdir(), `outside-${process.pid}.md`), path.join(dir, 'escape.md'));
    });
    afterAll(() => {
      rmSync(dir, { recursive: true, force: true });
      rmSync(path.join(tmpdir(), `outside-${process.pid}.md`), { force: true });
    });

    it('is refused, though its id is a plain name', async () => {
      const line = await refuse(realtime({ context_id: 'escape' }), { ...ENV, CONTEXTS_DIR: dir });
      expect(line.msg).toMatch(/gemini_realtime_config\.context_id: "escape" resolves outside /);
    });
  });
});

// ---- good dispatches around bad ones -----------------------------------------------------------

/** Run one accepted dispatch and return what it built its call with. */
async function accept(metadata: string) {
  const job = standIn(metadata);
  await runJob(job.ctx, job.deps);
  expect(job.shutdowns).toEqual([]);
  expect(job.sessions).toHaveLength(1);
  expect(job.avatarsFor).toHaveLength(1);
  expect(job.sessionStarts).toEqual([{ agent: {}, room: job.ctx.room }]);
  expect(job.connects).toBe(1);
  expect(job.videoRooms).toEqual([job.ctx.room]);
  expect(job.greets).toBe(1);
  expect(job.shutdownCallbacks).toHaveLength(1);
  const { lines, raw } = takeLog();
  expect(lines.filter((l) => l.level >= 40)).toEqual([]);
  for (const canary of Object.values(CANARIES)) expect(raw).not.toContain(canary);
  return job.sessions[0]!;
}

describe('the same worker process after refused dispatches', () => {
  const SUPPORT = readFileSync(path.join(DEFAULT_CONTEXTS_DIR, 'support.md'), 'utf8').trim();
  const DEFAULT = readFileSync(path.join(DEFAULT_CONTEXTS_DIR, 'default.md'), 'utf8').trim();

  it('runs a good dispatch with its own settings, and then the defaults again', async () => {
    // A refusal that got part of the way: a valid voice, model and context, then a bad value.
    await refuse(
      realtime({ voice: 'Kore', model: M25, context_id: 'support', temperature: 'hot' }),
    );
    const good = await accept(
      JSON.stringify({
        avatar_id: 'default',
        gemini_realtime_config: { voice: 'Aoede', model: M25, context_id: 'support' },
      }),
    );
    expect(good.settings.call).toMatchObject({ voice: 'Aoede', model: M25, contextId: 'support' });
    // LiveAvatar's default for a session without one, nothing of the refused dispatch's.
    expect(good.settings.call.temperature).toBe(0.8);
    expect(good.instructions).toBe(SUPPORT);

    await refuse('not json');
    await refuse(nested(30_000));
    // No metadata: the worker's own settings, nothing left from any dispatch before.
    const plain = await accept('');
    expect(plain.settings.call).toMatchObject({
      voice: 'Puck',
      model: 'gemini-3.8-live',
      contextId: 'default',
      avatarId: 'default',
    });
    expect(plain.settings.origins).toEqual({});
    expect(plain.settings.call.temperature).toBeUndefined();
    expect(plain.instructions).toBe(DEFAULT);
    // Keys come from the environment only, and reach the session builder intact.
    expect(plain.settings.google.apiKey?.reveal()).toBe(CANARIES.GOOGLE_API_KEY);
    expect(plain.settings.livekit.apiSecret.reveal()).toBe(CANARIES.LIVEKIT_API_SECRET);
  });

  it('keeps refusing and accepting, interleaved, each on its own terms', async () => {
    for (let i = 0; i < 5; i++) {
      await refuse(realtime({ voice: 'Bob' }));
      const good = await accept(realtime({ voice: i % 2 ? 'Kore' : 'Charon' }));
      expect(good.settings.call.voice).toBe(i % 2 ? 'Kore' : 'Charon');
    }
  });
});
