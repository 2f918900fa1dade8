/**
 * The small parts under the fault recovery: the microphone buffer, goAway durations, the fake's
 * fault script and its resumption handles (seen from a raw WebSocket client).
 */
import { AudioFrame } from '@livekit/rtc-node';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { MicBuffer } from '../src/gemini/mic_buffer.ts';
import { parseDurationMs } from '../src/gemini/go_away.ts';
import { FakeGeminiServer, type Json } from '../tools/fake_gemini/server.ts';
import { FaultPlan, durationJson } from '../tools/fake_gemini/faults.ts';

const frame = (ms: number) => new AudioFrame(new Int16Array(ms * 16), 16_000, 1, ms * 16);

describe('MicBuffer', () => {
  it('keeps the newest audio up to its bound and hands it over oldest first', () => {
    const mic = new MicBuffer(100);
    const frames = [frame(40), frame(40), frame(40), frame(40)];
    for (const f of frames) mic.push(f);
    expect(mic.heldMs).toBe(80);
    expect(mic.droppedMs).toBe(80);
    expect(mic.drain()).toEqual(frames.slice(2));
    expect([mic.heldMs, mic.droppedMs, mic.drain().length]).toEqual([0, 0, 0]);
  });
});

describe('goAway durations', () => {
  it('reads protobuf Duration JSON and writes it back', () => {
    expect(parseDurationMs('2.500s')).toBe(2500);
    expect(parseDurationMs('30s')).toBe(30_000);
    expect(parseDurationMs(undefined)).toBe(0);
    expect(parseDurationMs('soon')).toBe(0);
    expect(durationJson(1500)).toBe('1.500s');
    expect(durationJson(10_000)).toBe('10s');
  });
});

describe('FaultPlan', () => {
  it('fires on the nth occurrence, `times` in a row, on the chosen connection only', () => {
    const close = { type: 'close', code: 1011 } as const;
    const plan = new FaultPlan([
      { at: 'setup', nth: 1, times: 2, do: close },
      { at: 'turn_complete', connection: 1, do: [{ type: 'expire_handles' }, close] },
      { at: 'reply', afterChunks: 3, do: { type: 'malformed_frame' } },
    ]);
    expect([0, 1, 2, 3].map((conn) => plan.take('setup', conn).length)).toEqual([0, 1, 1, 0]);
    expect(plan.take('turn_complete', 0)).toEqual([]);
    expect(plan.take('turn_complete', 1)).toHaveLength(2);
    expect(plan.take('reply', 0, 2)).toEqual([]);
    expect(plan.take('reply', 0, 3)).toEqual([{ type: 'malformed_frame' }]);
    expect(plan.fired.map((f) => [f.spec.at, f.connection])).toEqual([
      ['setup', 1],
      ['setup', 2],
      ['turn_complete', 1],
      ['reply', 0],
    ]);
  });
});

describe('the fake Gemini server, faulted', () => {
  let fake: FakeGeminiServer | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  const url = () =>
    `${fake!.baseUrl.replace('http', 'ws')}//ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent?key=k`;

  /** A raw client: sends `setup` (with `handle`), collects frames, resolves on close. */
  function open(handle?: string) {
    const ws = new WebSocket(url());
    const frames: string[] = [];
    const setup: Json = { model: 'models/gemini-2.5-flash-native-audio-preview-12-2025' };
    setup.sessionResumption = handle ? { handle } : {};
    ws.on('open', () => ws.send(JSON.stringify({ setup })));
    ws.on('message', (data) => frames.push(String(data)));
    ws.on('error', () => undefined);
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    const until = (text: string) =>
      fake!.waitFor(() => frames.some((f) => f.includes(text)), 2000, text);
    return { ws, frames, closed, until };
  }

  it('resumes a handle it issued and refuses one it does not know (1007)', async () => {
    fake = await FakeGeminiServer.start({ paceFactor: Infinity });
    const first = open();
    await first.until('setupComplete');
    first.ws.send(JSON.stringify({ realtimeInput: { text: 'hi' } }));
    await first.until('handle-0-1');
    first.ws.close();

    const resumed = open('handle-0-1');
    await resumed.until('setupComplete');
    expect(fake.connections[1]!.resumedFrom).toBe('handle-0-1');
    resumed.ws.close();
    expect(await open('handle-9-9').closed).toBe(1007);
  });

  it('refuses connections, sends malformed frames and goAway, as scripted', async () => {
    fake = await FakeGeminiServer.start({
      paceFactor: Infinity,
      faults: [
        { at: 'connect', do: { type: 'refuse', attempts: 1 } },
        {
          at: 'setup',
          do: [
            { type: 'malformed_frame', text: 'nope{' },
            { type: 'delay_setup', ms: 50 },
          ],
        },
        { at: 'turn_complete', do: { type: 'go_away', timeLeftMs: 100 } },
      ],
    });
    const refused = open();
    expect(await refused.closed).toBe(1006);
    expect(fake.refusals).toHaveLength(1);

    const c = open();
    await c.until('setupComplete');
    expect(c.frames[0]).toBe('nope{');
    c.ws.send(JSON.stringify({ realtimeInput: { text: 'hi' } }));
    await c.until('goAway');
    expect(c.frames.find((f) => f.includes('goAway'))).toBe('{"goAway":{"timeLeft":"0.100s"}}');
    // Nobody left before the deadline: the server closes.
    expect(await c.closed).toBe(1011);
    expect(fake.faults.map((f) => f.spec.at)).toEqual(['connect', 'setup', 'turn_complete']);
  });
});
