/**
 * Session start overhead: from just before createCallSession (a job starting) to the first
 * greeting audio frame at the output, minus the fake's own time (greeting request received ->
 * first reply audio chunk sent). Each start is a fresh session on a shared fake, greeting through
 * CallSession.greet() as the worker does.
 */
import { FakeGeminiServer, type Json } from '../test/support/fake_gemini.ts';
import { BENCH_API_KEY, type ModelId, startBenchCall, withTimeout } from './bench_call.ts';

export const BENCH_GREETING = 'Greet the benchmark in one word.';

export interface StartupOptions {
  model: ModelId;
  starts: number;
}

/** One start, every time in ms from `begin` (just before createCallSession). */
export interface StartSample {
  /** createCallSession returned. */
  created: number;
  /** session.start() returned. */
  started: number;
  /** The fake got the session's first setup message (on whichever socket opened first). */
  firstSetupReceived: number;
  /** On the socket that carried the greeting: the fake got setup / sent setupComplete. */
  setupReceived: number;
  setupComplete: number;
  /** The fake got the greeting request / sent the first reply audio. */
  requestReceived: number;
  firstAudioSent: number;
  /** The first greeting frame reached the output. */
  firstFrame: number;
  /** firstFrame minus the fake's time (firstAudioSent - requestReceived). */
  overhead: number;
  /** Gemini Live sockets the session opened before its first greeting frame. */
  connections: number;
}

export interface StartupResult {
  model: ModelId;
  samples: StartSample[];
}

/** The client's greeting request: realtimeInput.text (3.x) or clientContent with turnComplete (2.5). */
function isGreetingRequest(msg: Json): boolean {
  return typeof msg?.realtimeInput?.text === 'string' || msg?.clientContent?.turnComplete === true;
}

function isReplyAudio(msg: Json): boolean {
  const parts: Json[] = msg?.serverContent?.modelTurn?.parts ?? [];
  return parts.some((p) => typeof p?.inlineData?.data === 'string');
}

export async function benchStartup(
  fake: FakeGeminiServer,
  { model, starts }: StartupOptions,
): Promise<StartupResult> {
  const samples: StartSample[] = [];
  for (let i = 0; i < starts; i++) {
    const bench = await startBenchCall(fake, { model, greeting: BENCH_GREETING });
    const { firstConn } = bench;
    try {
      await withTimeout(bench.call.greet(), 15_000, `${model} greeting ${i + 1}`, bench.describe);
      bench.check(`${model} start ${i + 1}`);
      const { begin, created, started } = bench.marks;
      const mine = (e: { conn: number }) => e.conn >= firstConn;
      const at = (what: string, entry: { at: number } | undefined): number => {
        if (!entry) throw new Error(`${model} start ${i + 1}: no ${what} in the fake's log`);
        return entry.at - begin;
      };
      const request = fake.received.find((e) => mine(e) && isGreetingRequest(e.msg));
      const requestReceived = at('greeting request', request);
      const conn = fake.connections[request!.conn]!;
      const on = (e: { conn: number }) => e.conn === conn.index;
      const firstSetupReceived = at(
        'setup',
        fake.received.find((e) => mine(e) && 'setup' in e.msg),
      );
      const setupReceived = at(
        'setup',
        fake.received.find((e) => on(e) && 'setup' in e.msg),
      );
      const setupComplete = at(
        'setupComplete',
        fake.sent.find((e) => on(e) && 'setupComplete' in e.msg),
      );
      const firstAudioSent = at(
        'reply audio',
        fake.sent.find((e) => on(e) && e.at >= request!.at && isReplyAudio(e.msg)),
      );
      const frame = bench.speaker.frames[0];
      if (!frame) throw new Error(`${model} start ${i + 1}: no greeting audio reached the output`);
      const firstFrame = frame.at - begin;
      const connections = new Set(
        fake.received.filter((e) => mine(e) && e.at <= frame.at).map((e) => e.conn),
      ).size;
      samples.push({
        created: created - begin,
        started: started - begin,
        firstSetupReceived,
        setupReceived,
        setupComplete,
        requestReceived,
        firstAudioSent,
        firstFrame,
        overhead: firstFrame - (firstAudioSent - requestReceived),
        connections,
      });
    } finally {
      await bench.close();
    }
  }
  return { model, samples };
}

/** A fake for the start benchmark: greetings of `greetingMs` audio (short: greet() waits for playout). */
export function startupFake(greetingMs: number): Promise<FakeGeminiServer> {
  return FakeGeminiServer.start({
    apiKey: BENCH_API_KEY,
    respond: () => ({ text: 'Hello.', audioMs: greetingMs }),
  });
}
