/**
 * LiveAvatar's session request, pasted as it is, runs a call: the console (`npm run console`, a
 * child process, the worker's own settings path) with LiveAvatar's example JSON for its Gemini
 * Live connector against the fake Gemini Live server and the fake LiveAvatar.
 *
 * - the key `secret_id` names in GEMINI_SECRETS_FILE is the one Gemini gets (the fake takes no
 *   other), the context's prompt is the system instruction and its opening text is what the
 *   agent is asked to say first, Puck / 3.1 / 0.8 reach the setup, and the LiveAvatar avatar gets
 *   the audio over its LITE socket;
 * - an unknown secret_id and mode FULL are refused before connecting, in one line;
 * - max_session_duration ends the call on time and stops LiveAvatar's session with that reason;
 * - no key (the worker's own, the named one, LiveAvatar's) shows in any output.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openingInstruction } from '../src/config/contexts.ts';
import { FakeGeminiServer } from '../tools/fake_gemini/server.ts';
import { FakeLiveAvatarServer } from '../tools/fake_liveavatar/server.ts';
import { FIXTURES, realtimeTexts } from './support/call_harness.ts';
import { REPO, killRunning, runChild, runDir } from './support/child_run.ts';
import { liveAvatarRequest } from './support/liveavatar_request.ts';

const CONSOLE = path.join(REPO, 'src', 'console.ts');
const tag = `${process.pid}${Date.now().toString(36)}`;
const SECRET_ID = '9b1d7e2a-4c6f-4a8b-b3d5-2e7f9a1c3b5d';
const CONTEXT_ID = '3c8e1f5a-7b2d-4e9c-a6f1-8d4b2c7e9a13';
const AVATAR_ID = 'e4a7c2b9-1d3f-4b6e-8a5c-7f2d9e1b4c68';
const KEYS = {
  named: `AIzaNamedKeyCanary-${tag}`,
  own: `AIzaWorkerOwnKeyCanary-${tag}`,
  liveavatar: `LiveAvatarKeyCanary-${tag}`,
};
const PROMPT = 'You are Ava, a patient support agent for a bicycle shop.';
const OPENING = 'Hi, I am Ava from the bike shop. What can I do for you?';

const REQUEST = liveAvatarRequest({
  avatarId: AVATAR_ID,
  secretId: SECRET_ID,
  contextId: CONTEXT_ID,
});

let work: string;
let gemini: FakeGeminiServer;
let liveavatar: FakeLiveAvatarServer;
let env: Record<string, string>;

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'liveavatar-console-'));
  const contexts = path.join(work, 'contexts');
  mkdirSync(contexts);
  writeFileSync(
    path.join(contexts, `${CONTEXT_ID}.md`),
    `---\nname: Bike shop support\nopening_text: ${OPENING}\n---\n${PROMPT}\n`,
  );
  const secrets = path.join(work, 'gemini-secrets.json');
  writeFileSync(secrets, JSON.stringify({ [SECRET_ID]: KEYS.named, other: 'another-key' }));
  gemini = await FakeGeminiServer.start({ apiKey: KEYS.named });
  liveavatar = await FakeLiveAvatarServer.start({ apiKey: KEYS.liveavatar });
  env = {
    GOOGLE_API_KEY: KEYS.own,
    GEMINI_SECRETS_FILE: secrets,
    CONTEXTS_DIR: contexts,
    GOOGLE_GEMINI_BASE_URL: gemini.baseUrl,
    LIVEAVATAR_API_KEY: KEYS.liveavatar,
    LIVEAVATAR_API_URL: liveavatar.baseUrl,
    LOG_LEVEL: 'debug',
  };
});

afterAll(async () => {
  killRunning();
  await gemini.close();
  await liveavatar.close();
  rmSync(work, { recursive: true, force: true });
});

function expectNoKey(text: string, where: string): void {
  for (const [name, key] of Object.entries(KEYS)) {
    expect(text.includes(key), `the ${name} key in ${where}`).toBe(false);
  }
}

async function consoleRun(metadata: unknown, extra: string[] = [], input = 'hello.wav') {
  const cwd = runDir(work);
  const transcript = path.join(cwd, 'call.jsonl');
  const output = path.join(cwd, 'reply.wav');
  const run = await runChild(
    CONSOLE,
    [
      '--input',
      path.join(FIXTURES, input),
      '--metadata',
      JSON.stringify(metadata),
      '--transcript',
      transcript,
      '--output',
      output,
      '--settle',
      '800',
      ...extra,
    ],
    env,
    cwd,
    90_000,
  );
  expectNoKey(run.stdout, 'stdout');
  expectNoKey(run.stderr, 'stderr');
  const events = (() => {
    try {
      return readFileSync(transcript, 'utf8');
    } catch {
      return '';
    }
  })();
  expectNoKey(events, 'the transcript');
  return { run, events, output };
}

describe("LiveAvatar's session request in the console", { timeout: 120_000 }, () => {
  it('runs as is: named key, context prompt and opening text, Puck / 3.1 / 0.8, LiveAvatar audio', async () => {
    const { run, events, output } = await consoleRun(REQUEST);
    expect(run.code, run.describe).toBe(0);

    // Gemini: only the named key reached it, with the validated setup.
    expect(gemini.connections.length).toBeGreaterThan(0);
    for (const conn of gemini.connections) {
      expect(conn.path).toContain(`key=${KEYS.named}`);
      expect(conn.closedBy).not.toBe('server');
    }
    const { setup } = gemini.connections[0]!;
    expect(setup.model).toBe('models/gemini-3.1-flash-live-preview');
    expect(setup.generationConfig.temperature).toBe(0.8);
    expect(setup.generationConfig.speechConfig.voiceConfig.prebuiltVoiceConfig.voiceName).toBe(
      'Puck',
    );
    expect(setup.systemInstruction.parts[0].text).toBe(PROMPT);
    // The opening text is the first thing the agent is asked to say (3.1: as realtime text).
    expect(realtimeTexts(gemini)[0]).toBe(openingInstruction(OPENING));

    // LiveAvatar: a LITE session for the avatar, the replies' audio on its socket.
    const session = liveavatar.sessions.at(-1)!;
    expect(session.config).toMatchObject({ mode: 'LITE', avatar_id: AVATAR_ID });
    expect(session.config).not.toHaveProperty('gemini_realtime_config');
    const speaks = session.commands.filter((c) => c.type === 'agent.speak' && !c.dropped);
    expect(new Set(speaks.map((c) => c.eventId)).size).toBe(2);
    expect(session.violations).toEqual([]);
    expect(session.stopReason).toBe('USER_DISCONNECTED');
    // --output holds the audio sent to LiveAvatar.
    const sentSamples = speaks.reduce((n, c) => n + c.audio!.length, 0);
    expect(readFileSync(output).length).toBe(44 + 2 * sentSamples);
    expect(events).toMatch(/"type":"message","role":"assistant"/);
  });

  it.each([
    {
      what: 'mode FULL',
      metadata: { ...REQUEST, mode: 'FULL' },
      line: /^console: dispatch metadata: mode: "FULL" is not valid \(allowed: LITE /,
    },
    {
      what: 'an unknown secret_id',
      metadata: {
        ...REQUEST,
        gemini_realtime_config: { ...REQUEST.gemini_realtime_config, secret_id: 'nope' },
      },
      line: /^console: dispatch metadata: gemini_realtime_config\.secret_id: "nope" is not an id in the worker's GEMINI_SECRETS_FILE/,
    },
  ])('refuses $what before connecting, in one line (exit 1)', async ({ metadata, line }) => {
    const connections = gemini.connections.length;
    const sessions = liveavatar.sessions.length;
    const { run } = await consoleRun(metadata);
    expect(run.code, run.describe).toBe(1);
    expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(line);
    expect(gemini.connections.length).toBe(connections);
    expect(liveavatar.sessions.length).toBe(sessions);
  });

  it('ends the call at max_session_duration, and stops LiveAvatar with that reason', async () => {
    const { run, events } = await consoleRun({ ...REQUEST, max_session_duration: 2 }, [
      '--no-greeting',
    ]);
    expect(run.code, run.describe).toBe(0);
    expect(run.stderr).toMatch(/^console: the call reached its max_session_duration \(2 s\)$/m);
    // On time: the input (2.4 s) was still playing when the limit came.
    expect(events).toMatch(/"type":"call_ended","reason":"MAX_DURATION_REACHED"/);
    expect(events).toMatch(/"type":"input","state":"max_session_duration"/);
    const session = liveavatar.sessions.at(-1)!;
    expect(session.config).toMatchObject({ max_session_duration: 2 });
    expect(session.stopReason).toBe('MAX_DURATION_REACHED');
  });
});
