/**
 * Audio forwarding latency: from the fake sending a reply audio chunk to that audio reaching the
 * session's AudioOutput (captureFrame), through the plugin's decoding and the AgentSession's
 * realtime generation and forwarding tasks.
 *
 * The plugin may re-chunk audio, so chunks and frames are matched by sample position within each
 * reply: a chunk whose audio ends at cumulative sample E, sent at S, arrived when the output's
 * cumulative count first reached E.
 */
import { FakeGeminiServer, type Json } from '../tools/fake_gemini/server.ts';
import {
  BENCH_API_KEY,
  type BenchCall,
  type ModelId,
  startBenchCall,
  withTimeout,
} from './bench_call.ts';
import { watchGc } from './gc_watch.ts';
import type { CapturedFrame } from './timing_speaker.ts';

export interface ForwardingOptions {
  model: ModelId;
  replies: number;
  /** Audio length of each reply. */
  replyMs: number;
  /** The fake's pacing (x real time) and chunk length. */
  paceFactor: number;
  chunkMs: number;
  /** Extra load for the call while it is measured (e.g. video input); returns how to stop it. */
  during?: (bench: BenchCall) => () => Promise<void>;
}

/** Latencies above this are listed one by one, with the GC time that overlapped them. */
export const SPIKE_MS = 2;

export interface Spike {
  /** 1-based reply, 0-based chunk within it. */
  reply: number;
  chunk: number;
  ms: number;
  /** Garbage-collection pause time inside the chunk's flight. */
  gcMs: number;
}

export interface ForwardingResult {
  model: ModelId;
  replies: number;
  /** One latency per fake audio chunk, ms, in order. */
  latenciesMs: number[];
  /** The first chunk of each reply (it also waits for the framework to set up the generation). */
  firstChunkMs: number[];
  /** Per reply: generateReply() called -> first frame at the output (includes the fake's turn). */
  firstFrameMs: number[];
  /** Chunks slower than SPIKE_MS, in order. */
  spikes: Spike[];
}

interface SentChunk {
  at: number;
  samples: number;
}

/** Reply audio chunks among the fake's sent messages (24 kHz s16 mono, base64). */
function audioChunks(entries: readonly { at: number; msg: Json }[]) {
  const chunks: SentChunk[] = [];
  for (const entry of entries) {
    const parts: Json[] = entry.msg?.serverContent?.modelTurn?.parts ?? [];
    for (const part of parts) {
      const data = part?.inlineData?.data;
      if (typeof data === 'string') chunks.push({ at: entry.at, samples: base64Bytes(data) / 2 });
    }
  }
  return chunks;
}

function base64Bytes(b64: string): number {
  const padding = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  return (b64.length * 3) / 4 - padding;
}

/**
 * When each chunk arrived: the first frame (of this reply's frames) at which the output's
 * count reached the chunk's end. Throws when the output did not get exactly the audio sent.
 */
export function matchBySamples(
  chunks: readonly SentChunk[],
  frames: readonly CapturedFrame[],
): number[] {
  const base = frames[0] ? frames[0].cumulative - frames[0].samples : 0;
  const got = frames.at(-1) ? frames.at(-1)!.cumulative - base : 0;
  const sent = chunks.reduce((n, c) => n + c.samples, 0);
  if (got !== sent) {
    throw new Error(`the fake sent ${sent} samples of reply audio, the output got ${got}`);
  }
  const arrivals: number[] = [];
  let end = 0;
  let j = 0;
  for (const chunk of chunks) {
    end += chunk.samples;
    while (frames[j]!.cumulative - base < end) j++;
    arrivals.push(frames[j]!.at);
  }
  return arrivals;
}

export async function benchForwarding(options: ForwardingOptions): Promise<ForwardingResult> {
  const { model, replies, replyMs, paceFactor, chunkMs } = options;
  const fake = await FakeGeminiServer.start({
    apiKey: BENCH_API_KEY,
    paceFactor,
    chunkMs,
    respond: () => ({ text: 'A benchmark reply.', audioMs: replyMs }),
  });
  const latenciesMs: number[] = [];
  const firstChunkMs: number[] = [];
  const firstFrameMs: number[] = [];
  const slow: { reply: number; chunk: number; sent: number; arrived: number }[] = [];
  const gc = watchGc();
  try {
    const bench = await startBenchCall(fake, { model, greeting: '' });
    const stopLoad = options.during?.(bench);
    try {
      // Time for a whole reply: the fake's pacing, real-time playout, generous slack.
      const replyTimeout = 10_000 + replyMs * 2;
      for (let i = 0; i < replies; i++) {
        const sentFrom = fake.sent.length;
        const framesFrom = bench.speaker.frames.length;
        const asked = performance.now();
        const handle = bench.call.session.generateReply({
          instructions: `Benchmark reply ${i + 1}.`,
        });
        await withTimeout(
          handle.waitForPlayout(),
          replyTimeout,
          `${model} reply ${i + 1}`,
          bench.describe,
        );
        bench.check(`${model} reply ${i + 1}`);
        if (handle.interrupted)
          throw new Error(`${model} reply ${i + 1} was interrupted; ${bench.describe()}`);
        const frames = bench.speaker.frames.slice(framesFrom);
        const chunks = audioChunks(fake.sent.slice(sentFrom));
        if (chunks.length === 0)
          throw new Error(`${model} reply ${i + 1}: the fake sent no audio; ${bench.describe()}`);
        let arrivals: number[];
        try {
          arrivals = matchBySamples(chunks, frames);
        } catch (error) {
          throw new Error(`${model} reply ${i + 1}: ${(error as Error).message}`);
        }
        arrivals.forEach((arrived, chunk) => {
          const sent = chunks[chunk]!.at;
          const latency = arrived - sent;
          latenciesMs.push(latency);
          if (chunk === 0) firstChunkMs.push(latency);
          if (latency > SPIKE_MS) slow.push({ reply: i + 1, chunk, sent, arrived });
        });
        firstFrameMs.push(frames[0]!.at - asked);
      }
    } finally {
      await stopLoad?.();
      await bench.close();
    }
  } finally {
    await fake.close();
    gc.stop();
  }
  // Read after the run: GC entries reach the observer asynchronously.
  const spikes = slow.map(({ reply, chunk, sent, arrived }) => ({
    reply,
    chunk,
    ms: arrived - sent,
    gcMs: gc.pausedWithin(sent, arrived),
  }));
  return { model, replies, latenciesMs, firstChunkMs, firstFrameMs, spikes };
}
