/**
 * What 3.8 changes, end to end against the fake (our Gemini session, the real SDK and
 * AgentSession): the user is heard while a function runs (NON_BLOCKING by default; a BLOCKING
 * call is cancelled by new input instead of holding the microphone back), and on extended
 * thinking a reply runs from its filler to IDLE as one answer the agent plays without a break.
 * 3.1 is the contrast: a BLOCKING call holds the microphone back.
 */
import { llm } from '@livekit/agents';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MIC_RATE } from '../src/console/offline_call.ts';
import { type FakeTurn, tonePcm16 } from '../tools/fake_gemini/server.ts';
import { type Harness, startHarness, unscriptedCloses } from './support/call_harness.ts';

const WORDS = tonePcm16(300, MIC_RATE);
const SECOND = 24_000;
const soon = (ms = 15_000) => Date.now() + ms;

/** A function that runs until the test lets it finish. */
function slowLookup() {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  const tool = llm.tool({
    description: 'Look up an order. Takes a while.',
    parameters: z.object({ order: z.string() }),
    execute: async ({ order }) => {
      started();
      await done;
      return { order, status: 'shipped' };
    },
  });
  return { tools: { lookup_order: tool }, running, finish };
}

/** The user asks "order" (a call), then says something else while it runs. */
function orderScript() {
  let spoken = 0;
  const script = ['where is my order', 'and my refund?'];
  return {
    transcribe: () => script[spoken++] ?? `words ${spoken}`,
    respond: (turn: FakeTurn) => {
      if (turn.source === 'tool_response') return { text: 'It has shipped.', audioMs: 400 };
      if (/order/.test(turn.text))
        return { toolCall: { name: 'lookup_order', args: { order: '7' } } };
      return { text: `reply to ${turn.text}`, audioMs: 400 };
    },
  };
}

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const spokenTurns = (harness: Harness) =>
  harness.fake.connections.flatMap((c) => c.turns).map((t) => [t.source, t.text]);

describe('the user is heard while a function runs', () => {
  it('3.8 (NON_BLOCKING by default): the words reach the model and are answered meanwhile', async () => {
    const lookup = slowLookup();
    h = await startHarness({
      env: { GEMINI_MODEL: 'gemini-3.8-live', AGENT_GREETING: '' },
      tools: lookup.tools,
      fake: orderScript(),
    });
    await h.call.say(WORDS);
    await lookup.running;
    const since = h.call.events.events.length;
    await h.call.say(WORDS);
    expect(await h.call.untilAnswered({ deadline: soon(), since, settleMs: 300 })).toBe(true);
    lookup.finish();
    await h.fake.waitFor((f) => f.connections[0]!.turns.length === 3, 10_000, 'the result');
    expect(await h.call.untilAnswered({ deadline: soon(), replies: 0, settleMs: 500 })).toBe(true);

    expect(spokenTurns(h)).toEqual([
      ['audio', 'where is my order'],
      ['audio', 'and my refund?'],
      ['tool_response', 'where is my order'],
    ]);
    const replies = h.call.events.ofType('message').filter((e) => e.role === 'assistant');
    expect(replies.map((r) => r.text)).toContain('reply to and my refund?');
    expect(replies.at(-1)?.text).toBe('It has shipped.');
    expect(unscriptedCloses(h.fake)).toEqual([]);
  });

  it('3.8 with BLOCKING declared: new input cancels the call, and its late result is not sent', async () => {
    const lookup = slowLookup();
    h = await startHarness({
      env: {
        GEMINI_MODEL: 'gemini-3.8-live',
        GEMINI_TOOL_BEHAVIOR: 'blocking',
        AGENT_GREETING: '',
      },
      tools: lookup.tools,
      fake: orderScript(),
    });
    await h.call.say(WORDS);
    await lookup.running;
    const since = h.call.events.events.length;
    await h.call.say(WORDS);
    expect(await h.call.untilAnswered({ deadline: soon(), since, settleMs: 300 })).toBe(true);
    lookup.finish();
    await h.call.untilAnswered({ deadline: soon(), replies: 0, settleMs: 500 });

    expect(h.fake.sent.filter((e) => 'toolCallCancellation' in e.msg)).toHaveLength(1);
    expect(spokenTurns(h)).toEqual([
      ['audio', 'where is my order'],
      ['audio', 'and my refund?'],
    ]);
    expect(h.fake.received.filter((e) => 'toolResponse' in e.msg)).toEqual([]);
    expect(unscriptedCloses(h.fake)).toEqual([]);
  });

  it('3.1 (BLOCKING only): the microphone is held back until the result', async () => {
    const lookup = slowLookup();
    h = await startHarness({
      env: { GEMINI_MODEL: 'gemini-3.1-flash-live-preview', AGENT_GREETING: '' },
      tools: lookup.tools,
      fake: orderScript(),
    });
    await h.call.say(WORDS);
    await lookup.running;
    const before = h.fake.received.length;
    await h.call.say(WORDS);
    const during = h.fake.received.slice(before).filter((e) => 'realtimeInput' in e.msg);
    lookup.finish();
    await h.fake.waitFor((f) => f.connections[0]!.turns.length === 2, 10_000, 'the result');

    expect(during).toEqual([]);
    expect(spokenTurns(h)).toEqual([
      ['audio', 'where is my order'],
      ['tool_response', 'where is my order'],
    ]);
  });
});

describe('3.8 extended thinking: a reply runs from its filler to IDLE', () => {
  it('plays the filler and the answer as one reply, in the transcript, without a break', async () => {
    h = await startHarness({
      env: { GEMINI_MODEL: 'gemini-3.8-live-extended-thinking', AGENT_GREETING: '' },
      fake: {
        transcribe: () => 'how far is the moon',
        respond: () => ({
          filler: 'Hmm, let me think about that. ',
          text: 'About 384,000 kilometres.',
          audioMs: 800,
        }),
      },
    });
    await h.call.say(WORDS);
    expect(await h.call.untilAnswered({ deadline: soon(), settleMs: 800 })).toBe(true);

    // The filler's turnComplete (IN_PROGRESS) did not end the reply: one message, one playout.
    const replies = h.call.events.ofType('message').filter((e) => e.role === 'assistant');
    expect(replies.map((r) => [r.text, r.interrupted])).toEqual([
      ['Hmm, let me think about that. About 384,000 kilometres.', false],
    ]);
    expect(h.played).toHaveLength(1);
    expect(h.played[0]!.interrupted).toBe(false);
    expect(h.played[0]!.samples).toBeGreaterThan(0.8 * SECOND);
    const statuses = h.fake.sent
      .map((e) => e.msg.serverContent)
      .filter((c) => c?.turnComplete)
      .map((c) => c.interactionStatus);
    expect(statuses).toEqual(['IN_PROGRESS', 'IDLE']);
    expect(h.call.call.session.agentState).toBe('listening');
  });
});
