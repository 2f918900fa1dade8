/**
 * A LiveAvatar avatar, end to end and offline: the agent's session (real plugin, SDK and
 * AgentSession against the fake Gemini Live server) with LiveAvatar's audio output, against the
 * fake LiveAvatar (REST + LITE WebSocket, tools/fake_liveavatar), in each of its event dialects.
 *
 * What a user cares about: the avatar gets the agent's audio complete, in order, as PCM16 24 kHz
 * mono in packets of at most 1 MB, one event id per utterance; LiveAvatar is asked for a LITE
 * session in our room with a token that publishes on our agent's behalf, and never for a Gemini
 * session of its own; barge-in sends `agent.interrupt` at once and the next reply waits for the
 * acknowledgement (or a timeout); lost playback events never hang a turn; and every LiveAvatar
 * failure leaves the call going on our built-in face, with one warning line.
 */
import { initializeLogger } from '@livekit/agents';
import { AsyncLocalStorage } from 'node:async_hooks';
import { type LocalTrackPublication, TrackSource } from '@livekit/rtc-node';
import { TokenVerifier } from 'livekit-server-sdk';
import { afterAll, aroundEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { VirtualSpeaker } from '../src/audio/virtual_speaker.ts';
import { callAvatarFor, liveAvatarFor } from '../src/avatar/from_settings.ts';
import type { LiveAvatarAudioOutput } from '../src/avatar/liveavatar/audio_output.ts';
import type { RoomLike } from '../src/avatar/publisher.ts';
import type { LiveAvatarAvatar } from '../src/avatar/liveavatar/avatar.ts';
import { withContext } from '../src/config/contexts.ts';
import type { Env, Settings } from '../src/config/settings.ts';
import { OfflineCall } from '../src/console/offline_call.ts';
import { createCallSession } from '../src/session.ts';
import { FakeGeminiServer, type FakeGeminiOptions } from '../tools/fake_gemini/server.ts';
import {
  DEFAULT_API_KEY,
  type FakeLiveAvatarOptions,
  FakeLiveAvatarServer,
  MAX_PACKET_BYTES,
  type RecordedCommand,
} from '../tools/fake_liveavatar/server.ts';
import { TEST_API_KEY, speechFixture, testSettings } from './support/call_harness.ts';
import { LoopWatch } from './support/loop_watch.ts';
import { concatSamples } from './support/signals.ts';

const AVATAR = '7d2f4c1e-5b3a-4e8f-9c6d-1a2b3c4d5e6f';
const LIVEKIT = { key: 'lk-test-key', secret: 'lk-test-secret-long-enough-for-hs256' };
const ROOM = 'room-e2e';
const AGENT = 'agent-e2e';
const soon = (ms = 20_000) => Date.now() + ms;

// ---- the log, as the worker writes it (JSON lines on stdout), kept apart per test -------------

/**
 * The tests run side by side, each with its own calls: each runs in a scope of its own (an
 * AsyncLocalStorage, which follows its timers, sockets and promises), where the log lines its calls
 * write are kept and its calls are closed when it ends.
 */
interface Scope {
  log: string;
  closers: (() => Promise<void>)[];
}
const scopes = new AsyncLocalStorage<Scope>();
/** Lines written outside every test's scope: no warning may land there unseen. */
const outside: Scope = { log: '', closers: [] };

/** This process's event-loop stalls (a loaded machine): left out of the latencies below. */
const loop = new LoopWatch();

beforeAll(() => {
  loop.start();
  initializeLogger({ pretty: false, level: 'warn' });
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    (scopes.getStore() ?? outside).log +=
      typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  });
});
afterAll(() => {
  loop.stop();
  vi.restoreAllMocks();
  expect(warningsIn(outside)).toEqual([]);
});
aroundEach(async (runTest) => {
  const scope: Scope = { log: '', closers: [] };
  await scopes.run(scope, async () => {
    try {
      await runTest();
    } finally {
      for (const close of scope.closers.splice(0).reverse()) await close();
    }
  });
});

/** Warning lines this test's calls logged since the last call: their message and `reason`. */
function takeWarnings(): { msg: string; reason?: string }[] {
  return warningsIn(scopes.getStore()!);
}

function warningsIn(scope: Scope): { msg: string; reason?: string }[] {
  const lines = scope.log.split('\n').filter((l) => l.startsWith('{'));
  scope.log = '';
  return lines
    .map((l) => JSON.parse(l) as { level: number; msg: string; reason?: string })
    .filter((l) => l.level === 40)
    .map(({ msg, reason }) => (reason === undefined ? { msg } : { msg, reason }));
}

// ---- one call -----------------------------------------------------------------------------------

interface Call {
  gemini: FakeGeminiServer;
  la: FakeLiveAvatarServer;
  settings: Settings;
  offline: OfflineCall;
  avatar: LiveAvatarAvatar;
  /** What the fallback speaker played. */
  fallback: { samples: number; interrupted: boolean }[];
  close(): Promise<void>;
}

async function startCall(
  options: {
    la?: FakeLiveAvatarOptions;
    gemini?: FakeGeminiOptions;
    metadata?: Record<string, unknown>;
    env?: Env;
    /** session.keep_alive after this long without sending. */
    keepAliveMs?: number;
    /** Tuning of the LiveAvatar audio output. */
    output?: { interruptAckTimeoutMs?: number };
    /** Fail the next REST call to an endpoint. */
    failNext?: [string, Parameters<FakeLiveAvatarServer['failNext']>[1]];
  } = {},
): Promise<Call> {
  const gemini = await FakeGeminiServer.start({ apiKey: TEST_API_KEY, ...options.gemini });
  const la = await FakeLiveAvatarServer.start(options.la);
  if (options.failNext) la.failNext(...options.failNext);
  const env: Env = {
    AGENT_GREETING: '',
    LIVEAVATAR_API_KEY: DEFAULT_API_KEY,
    LIVEAVATAR_API_URL: la.baseUrl,
    LIVEKIT_URL: 'wss://example.livekit.cloud',
    LIVEKIT_API_KEY: LIVEKIT.key,
    LIVEKIT_API_SECRET: LIVEKIT.secret,
    ...options.env,
  };
  const metadata = JSON.stringify({ mode: 'LITE', avatar_id: AVATAR, ...options.metadata });
  const { settings } = withContext(testSettings(gemini, env, metadata));
  const session = await createCallSession({
    settings,
    echoFree: true,
    outputCanPause: false,
    connOptions: { maxRetry: 0, retryIntervalMs: 100, timeoutMs: 5000 },
  });
  const fallback: Call['fallback'] = [];
  const avatar = liveAvatarFor(
    settings,
    { roomName: ROOM, agentIdentity: AGENT },
    async () =>
      new VirtualSpeaker({ onPlayed: (s, info) => fallback.push({ samples: s.length, ...info }) }),
    {
      output: { interruptAckTimeoutMs: 400, playbackGraceMs: 600, ...options.output },
      keepAliveMs: options.keepAliveMs ?? 60_000,
    },
  );
  const offline = await OfflineCall.start(session, { speaker: avatar.output });
  avatar.open();
  let closed: Promise<void> | undefined;
  const close = async () => {
    await offline.close();
    await avatar.close();
    await gemini.close();
    await la.close();
  };
  const call: Call = {
    gemini,
    la,
    settings,
    offline,
    avatar,
    fallback,
    close: () => (closed ??= close()),
  };
  scopes.getStore()!.closers.push(call.close);
  return call;
}

/** Every sample of reply audio the fake Gemini sent, in order. */
function geminiAudio(gemini: FakeGeminiServer): Int16Array {
  const parts = gemini.sent
    .flatMap(
      (e) => (e.msg.serverContent?.modelTurn?.parts ?? []) as { inlineData?: { data: string } }[],
    )
    .map((p) => p.inlineData?.data)
    .filter((d): d is string => typeof d === 'string')
    .map((d) => Buffer.from(d, 'base64'));
  const bytes = Buffer.concat(parts);
  return new Int16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
}

const speaks = (la: FakeLiveAvatarServer): RecordedCommand[] =>
  la.commands.filter((c) => c.type === 'agent.speak');

/** Say hello and wait until the agent answered and listens again. */
async function turn(call: Call, replies = 1): Promise<void> {
  const since = call.offline.events.events.length;
  await call.offline.say(speechFixture('hello.wav'));
  expect(
    await call.offline.untilAnswered({ deadline: soon(), settleMs: 800, since, replies }),
  ).toBe(true);
}

// ---- tests ----------------------------------------------------------------------------------------

describe.concurrent.each(['documented', 'observed', 'both'] as const)(
  'dialect %s: a whole call',
  (dialect) => {
    it('streams every sample, in order, in 24 kHz chunks of at most 1 MB, one id per utterance', async () => {
      const call = await startCall({
        la: { dialect },
        metadata: {
          is_sandbox: true,
          video_settings: { quality: 'very_high', encoding: 'H264' },
          max_session_duration: 600,
        },
        env: { AGENT_GREETING: 'Say hello.' },
      });
      const { la, gemini, offline } = call;
      await offline.call.greet();
      await offline.call.session.generateReply({ instructions: 'Say more.' }).waitForPlayout();

      // The LITE session LiveAvatar was asked for: our room, the dispatch's settings, no Gemini.
      const [session] = la.sessions;
      expect(la.sessions).toHaveLength(1);
      const { livekit_config: livekit, ...config } = session!.config as {
        livekit_config: { livekit_client_token: string };
      };
      expect(config).toEqual({
        mode: 'LITE',
        avatar_id: AVATAR,
        is_sandbox: true,
        video_settings: { quality: 'very_high', encoding: 'H264' },
        max_session_duration: 600,
      });
      expect(JSON.stringify(la.requests)).not.toContain('gemini_realtime_config');
      expect(livekit).toMatchObject({
        livekit_url: 'wss://example.livekit.cloud',
        livekit_room: ROOM,
      });
      const claims = await new TokenVerifier(LIVEKIT.key, LIVEKIT.secret).verify(
        livekit.livekit_client_token,
      );
      expect(claims).toMatchObject({
        kind: 'agent',
        attributes: { 'lk.publish_on_behalf': AGENT },
        video: { roomJoin: true, room: ROOM, canPublish: true, canSubscribe: true },
      });
      expect(la.requests.find((r) => r.path === '/v1/sessions/token')!.auth).toBe('api_key');
      expect(la.requests.find((r) => r.path === '/v1/sessions/start')!.auth).toBe('bearer');

      // The audio: all of it, in order, nothing sent before LiveAvatar said connected.
      const sent = speaks(la);
      expect(sent.every((c) => !c.dropped)).toBe(true);
      expect(session!.violations).toEqual([]);
      const received = concatSamples(...sent.map((c) => c.audio!));
      const expected = geminiAudio(gemini);
      expect(received.length).toBe(expected.length);
      expect(Buffer.from(received.buffer).equals(Buffer.from(expected.buffer))).toBe(true);
      expect(Math.max(...sent.map((c) => c.bytes))).toBeLessThanOrEqual(MAX_PACKET_BYTES);
      // About a second per chunk (24 kHz PCM16): never more than 1 s of audio in one packet.
      expect(Math.max(...sent.map((c) => c.audio!.length))).toBeLessThanOrEqual(24_000);

      // Two utterances (greeting, reply): one event id each, every speak of it before its speak_end.
      const ids = [...new Set(sent.map((c) => c.eventId))];
      expect(ids).toHaveLength(2);
      const ends = la.commands.filter((c) => c.type === 'agent.speak_end').map((c) => c.eventId);
      expect(ends).toEqual(ids);
      for (const id of ids) {
        const lastSpeak = sent.filter((c) => c.eventId === id).at(-1)!;
        const end = la.commands.find((c) => c.type === 'agent.speak_end' && c.eventId === id)!;
        expect(end.at).toBeGreaterThanOrEqual(lastSpeak.at);
      }
      expect(session!.played.map((p) => p.interrupted)).toEqual([false, false]);

      // The framework learnt both played to the end, from LiveAvatar's events.
      const replies = offline.events.ofType('message').filter((e) => e.role === 'assistant');
      expect(replies.map((r) => r.interrupted)).toEqual([false, false]);
      expect(call.fallback).toEqual([]);
      expect(takeWarnings()).toEqual([]);

      // Closing the call stops LiveAvatar's session.
      await call.close();
      expect(session!.stopReason).toBe('USER_DISCONNECTED');
    });
  },
);

describe.concurrent('barge-in', () => {
  /** A reply long enough to interrupt, streamed in real time. */
  const longFirst = () => {
    let n = 0;
    return {
      paceFactor: 1,
      respond: () => (n++ === 0 ? { text: 'A long story.', audioMs: 8000 } : { text: 'Sure.' }),
    };
  };

  /**
   * The least time from the fake noting agent.interrupt to the next reply's audio when the reply
   * is held `holdMs` from the send: the socket's few ms, and any stall of this process (the fake
   * runs in it) between the send and the fake noting it, come off.
   */
  const holdFloorMs = (holdMs: number, notedAt: number) =>
    holdMs - 10 - loop.stalledMs(notedAt - 500, notedAt);

  async function bargeIn(call: Call): Promise<{ cutAt: number; interrupt: RecordedCommand }> {
    const hello = speechFixture('hello.wav');
    await call.offline.say(hello);
    await call.la.waitFor((f) => f.sessions[0]?.played.length === 0 && speaks(f).length >= 2);
    // The user barges in once 600 ms of the reply went out (real-time pacing: ~600 ms played).
    await call.gemini.waitFor(
      (g) => geminiAudio(g).length >= 0.6 * 24_000,
      10_000,
      '600 ms of reply audio',
    );
    await call.offline.say(hello);
    expect(await call.offline.untilAnswered({ deadline: soon(), settleMs: 800, replies: 2 })).toBe(
      true,
    );
    const cutAt = call.gemini.sent.find((e) => e.msg.serverContent?.interrupted)!.at;
    const interrupt = call.la.commands.find((c) => c.type === 'agent.interrupt')!;
    expect(interrupt, 'agent.interrupt sent').toBeDefined();
    return { cutAt, interrupt };
  }

  it.each(['documented', 'observed'] as const)(
    '%s: agent.interrupt goes at once, nothing of the cut reply after it; the next reply waits for the ack',
    async (dialect) => {
      const call = await startCall({
        // The next reply comes about 3 s after the cut (the user's words, then Gemini's answer):
        // an acknowledgement later than that is what the hold is for.
        la: { dialect, interruptAckDelayMs: 4000 },
        output: { interruptAckTimeoutMs: 6000 },
        gemini: longFirst(),
      });
      const { cutAt, interrupt } = await bargeIn(call);
      // Within a frame of Gemini's `interrupted` (the framework's own path from there to clearBuffer).
      expect(interrupt.at - cutAt - loop.stalledMs(cutAt, interrupt.at)).toBeLessThan(60);
      const speaksNow = speaks(call.la);
      const cutId = speaksNow[0]!.eventId;
      expect(speaksNow.filter((c) => c.eventId === cutId).every((c) => c.at < interrupt.at)).toBe(
        true,
      );
      // The next reply's first audio went after LiveAvatar acknowledged the clear.
      const ack = call.la.sessions[0]!.events.find(
        (e) =>
          e.event.type === 'agent.audio_buffer_cleared' ||
          e.event.type === 'agent.speak_interrupted',
      )!;
      const next = speaksNow.find((c) => c.eventId !== cutId)!;
      expect(next.at).toBeGreaterThanOrEqual(ack.at);
      expect(next.at - interrupt.at).toBeGreaterThanOrEqual(holdFloorMs(4000, interrupt.at));
      // The cut utterance was never ended as if complete: no speak_end for it.
      const ends = call.la.commands.filter((c) => c.type === 'agent.speak_end');
      expect(ends.map((c) => c.eventId)).not.toContain(cutId);
      // The cut reply was reported interrupted, at what LiveAvatar had played; the next one whole.
      const replies = call.offline.events.ofType('message').filter((e) => e.role === 'assistant');
      expect(replies.map((r) => r.interrupted)).toEqual([true, false]);
      const played = call.la.sessions[0]!.played;
      expect(played[0]).toMatchObject({ eventId: cutId, interrupted: true });
      expect(played.at(-1)).toMatchObject({ interrupted: false });
      expect(call.fallback).toEqual([]);
      expect(takeWarnings()).toEqual([]);
    },
  );

  it('an acknowledgement that never comes holds the next reply only until the timeout', async () => {
    const call = await startCall({
      la: { dropInterruptAcks: true },
      gemini: longFirst(),
      output: { interruptAckTimeoutMs: 4000 },
    });
    const { interrupt } = await bargeIn(call);
    const speaksNow = speaks(call.la);
    const next = speaksNow.find((c) => c.eventId !== speaksNow[0]!.eventId)!;
    expect(next.at - interrupt.at).toBeGreaterThanOrEqual(holdFloorMs(4000, interrupt.at));
    const replies = call.offline.events.ofType('message').filter((e) => e.role === 'assistant');
    expect(replies.at(-1)).toMatchObject({ text: 'Sure.', interrupted: false });
  });
});

describe.concurrent('keep-alive', () => {
  it('sends session.keep_alive when nothing else was sent for a while', async () => {
    const call = await startCall({ keepAliveMs: 150 });
    await call.la.waitFor((f) => (f.sessions[0]?.keepAlives ?? 0) >= 3, 5000, 'keep-alives');
    const commands = call.la.sessions[0]!.commands;
    expect(commands.every((c) => c.type === 'session.keep_alive' && !c.dropped)).toBe(true);
    // Re-armed after each send: at least 150 ms apart when sent. The fake notes them on this
    // process's loop, so one noted late by a stall shortens the gap after it by that stall.
    const gaps = commands
      .slice(1)
      .map(
        (c, i) => c.at - commands[i]!.at + loop.stalledMs(commands[i]!.at - 150, commands[i]!.at),
      );
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(140);
  });
});

describe.concurrent('lost events never hang a turn', () => {
  it('with no playback events at all, each turn still ends and the agent listens again', async () => {
    const call = await startCall({
      la: { dropPlaybackEvents: true },
      env: { AGENT_GREETING: 'Say hello.' },
    });
    await call.offline.call.greet();
    await turn(call);
    const replies = call.offline.events.ofType('message').filter((e) => e.role === 'assistant');
    expect(replies.map((r) => r.interrupted)).toEqual([false, false]);
    expect(call.offline.call.session.agentState).toBe('listening');
    expect(call.fallback).toEqual([]);
  });
});

describe.concurrent(
  'each LiveAvatar failure: the call goes on with our face, one warning line',
  () => {
    const failures: {
      what: string;
      failNext?: [string, 'unauthorized' | 'invalid' | 'no_credits'];
      /** Break the running session during the first reply. */
      during?: (call: Call) => void;
      reason: RegExp;
    }[] = [
      { what: '401 (a wrong API key)', failNext: ['token', 'unauthorized'], reason: /HTTP 401/ },
      {
        what: '422 (an avatar LiveAvatar refuses)',
        failNext: ['token', 'invalid'],
        reason: /HTTP 422: avatar_id/,
      },
      {
        what: 'no credits',
        failNext: ['start', 'no_credits'],
        reason: /HTTP 402: Insufficient credits/,
      },
      {
        what: 'the socket lost mid-reply',
        during: (call) => call.la.sessions[0]!.dropSocket(),
        reason: /LiveAvatar socket closed \(1006/,
      },
      {
        what: 'video_starvation',
        during: (call) =>
          call.la.sessions[0]!.send({
            type: 'error',
            error: { type: 'video_starvation', message: 'not enough audio' },
          }),
        reason: /LiveAvatar error video_starvation/,
      },
      {
        what: 'LiveAvatar ending the session (credits ran out)',
        during: (call) => call.la.sessions[0]!.end('NO_CREDITS'),
        reason: /LiveAvatar ended the session \(closing\)/,
      },
    ];

    it.each(failures)('$what', async ({ failNext, during, reason }) => {
      const call = await startCall({
        ...(failNext ? { failNext } : {}),
        env: { AGENT_GREETING: 'Say hello.' },
        gemini: {
          paceFactor: 1,
          respond: () => ({ text: 'A reply of a good length.', audioMs: 2000 }),
        },
      });
      const greeting = call.offline.call.greet();
      if (during) {
        await call.la.waitFor((f) => speaks(f).length >= 2, 15_000, 'greeting audio at LiveAvatar');
        during(call);
      }
      await greeting;
      // And a spoken turn after it: the call goes on.
      await turn(call);

      const replies = call.offline.events.ofType('message').filter((e) => e.role === 'assistant');
      expect(replies.map((r) => r.interrupted)).toEqual([false, false]);
      expect(call.fallback.length).toBeGreaterThanOrEqual(1);
      expect(call.offline.events.ofType('error')).toEqual([]);
      const warnings = takeWarnings();
      expect(warnings.map((w) => w.msg)).toEqual([
        'LiveAvatar failed; the call goes on with the built-in avatar',
      ]);
      expect(warnings[0]!.reason).toMatch(reason);
      // A session that was created is stopped.
      for (const session of call.la.sessions) {
        await call.la.waitFor(() => session.stopReason !== undefined, 5000, 'stop');
      }
    });
  },
);

describe.concurrent('in a room', () => {
  /** The part of a connected room the avatar uses: what our agent participant publishes. */
  function standInRoom(): RoomLike & { sources: TrackSource[] } {
    const sources: TrackSource[] = [];
    return {
      isConnected: true,
      sources,
      localParticipant: {
        publishTrack: async (_track, options) => {
          sources.push(options.source!);
          return {} as LocalTrackPublication;
        },
      },
      on: () => undefined,
      off: () => undefined,
    };
  }

  async function roomCall(failNext?: [string, 'unauthorized']) {
    const gemini = await FakeGeminiServer.start({ apiKey: TEST_API_KEY });
    const la = await FakeLiveAvatarServer.start();
    if (failNext) la.failNext(...failNext);
    const env: Env = {
      AGENT_GREETING: 'Say hello.',
      LIVEAVATAR_API_KEY: DEFAULT_API_KEY,
      LIVEAVATAR_API_URL: la.baseUrl,
      AVATAR_SIZE: '64x64',
    };
    const { settings } = withContext(
      testSettings(gemini, env, JSON.stringify({ avatar_id: AVATAR })),
    );
    const session = await createCallSession({ settings, echoFree: true, outputCanPause: false });
    const avatar = callAvatarFor(settings, { roomName: ROOM, agentIdentity: AGENT })!;
    const room = standInRoom();
    await avatar.start(session.session, room);
    const output = session.session.output.audio as LiveAvatarAudioOutput;
    const offline = await OfflineCall.start(session, { speaker: output });
    const close = async () => {
      await offline.close();
      await avatar.close();
      await gemini.close();
      await la.close();
    };
    return { gemini, la, room, offline, output, close };
  }

  it('LiveAvatar publishes the avatar; our agent publishes nothing of its own', async () => {
    const call = await roomCall();
    try {
      await call.offline.call.greet();
      expect(call.output.mode).toBe('live');
      expect(call.room.sources).toEqual([]);
      expect(call.la.sessions[0]!.config).toMatchObject({
        livekit_config: { livekit_room: ROOM },
      });
      expect(speaks(call.la).length).toBeGreaterThan(0);
    } finally {
      await call.close();
    }
  });

  it('when LiveAvatar refuses, our face is published from the agent and plays the greeting', async () => {
    const call = await roomCall(['token', 'unauthorized']);
    try {
      await call.offline.call.greet();
      expect(call.output.mode).toBe('fallback');
      expect(call.room.sources).toEqual([TrackSource.SOURCE_MICROPHONE, TrackSource.SOURCE_CAMERA]);
      const replies = call.offline.events.ofType('message').filter((e) => e.role === 'assistant');
      expect(replies.map((r) => r.interrupted)).toEqual([false]);
      expect(takeWarnings().map((w) => w.msg)).toEqual([
        'LiveAvatar failed; the call goes on with the built-in avatar',
      ]);
    } finally {
      await call.close();
    }
  });
});
