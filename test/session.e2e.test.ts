/**
 * End to end, offline: the agent's session (src/session.ts), our Gemini session over the real
 * @google/genai, against the fake Gemini Live server, which closes the socket with 1007 on
 * anything Google's schema or the model's rules forbid. Run for every Gemini API row (3.8, 3.8
 * extended thinking, 3.1, 2.5).
 */
import { type TestContext, describe, expect, it } from 'vitest';
import { DEFAULT_GREETING } from '../src/config/settings.ts';
import { CONTINUE_PROMPT } from '../src/gemini/model.ts';
import { instructionsUpdatePrompt } from '../src/gemini/prompts.ts';
import {
  DEFAULT_CHUNK_MS,
  type FakeGeminiServer,
  THINKING_FILLER,
} from '../tools/fake_gemini/server.ts';
import {
  E2E_MODELS,
  type HarnessOptions,
  realtimeTexts,
  sent,
  speechFixture,
  startHarnessFor,
  unscriptedCloses,
} from './support/call_harness.ts';

const SECOND = 24_000;
const soon = (ms = 20_000) => Date.now() + ms;

// Each test is its own call against its own fake, waiting on real-time audio: they run side by side.
describe.concurrent.each(E2E_MODELS)('a call on $id', ({ id, family, textRoute }) => {
  const start = (ctx: TestContext, options: HarnessOptions = {}) =>
    startHarnessFor(ctx, { ...options, env: { GEMINI_MODEL: id, ...options.env } });

  /** No socket was closed by the server (a rule break closes with 1007). */
  const expectNoServerClose = (fake: FakeGeminiServer, allowed: number[] = []) =>
    expect(unscriptedCloses(fake, allowed)).toEqual([]);

  type Turn = { role?: string; parts?: { text?: string }[] };
  type ClientContent = { turns?: Turn[]; turnComplete?: boolean };
  const clientContents = (fake: FakeGeminiServer) => sent(fake, 'clientContent') as ClientContent[];
  const clientContentTexts = (fake: FakeGeminiServer) =>
    clientContents(fake)
      .flatMap((c) => c.turns ?? [])
      .flatMap((t) => t.parts ?? [])
      .map((p) => p.text);

  it('greets first, sending the greeting the way the model accepts', async (ctx) => {
    const { call, fake, played } = await start(ctx);
    await call.call.greet();

    const replies = call.events.ofType('message').filter((e) => e.role === 'assistant');
    expect(replies).toHaveLength(1);
    // The tools were set before the first connect: one setup, no reconnect before the greeting.
    expect(fake.connections).toHaveLength(1);
    expect(played).toHaveLength(1);
    expect(played[0]!.samples).toBeGreaterThan(0.3 * SECOND);
    expect(played[0]!.interrupted).toBe(false);
    if (textRoute === 'realtime_text') {
      expect(realtimeTexts(fake)).toContain(DEFAULT_GREETING);
      expect(sent(fake, 'clientContent')).toEqual([]);
    } else if (textRoute === 'user_content') {
      // 3.8: a user turn with explicit role that asks for the answer.
      expect(clientContents(fake)).toEqual([
        { turns: [{ role: 'user', parts: [{ text: DEFAULT_GREETING }] }], turnComplete: true },
      ]);
      expect(realtimeTexts(fake)).toEqual([]);
    } else {
      expect(clientContentTexts(fake)).toContain(DEFAULT_GREETING);
    }
    expectNoServerClose(fake);
  });

  it('answers a spoken turn from the speech fixture with reply audio', async (ctx) => {
    const { call, fake, played } = await start(ctx, { env: { AGENT_GREETING: '' } });
    await call.say(speechFixture('hello.wav'));
    expect(await call.untilAnswered({ deadline: soon(), settleMs: 1000 })).toBe(true);

    const turns = fake.connections.flatMap((c) => c.turns);
    expect(turns.map((t) => t.source)).toEqual(['audio']);
    const userText = call.events.ofType('user_transcript').filter((e) => e.final);
    expect(userText.map((e) => e.text)).toContain('hello');
    const reply = call.events.ofType('message').find((e) => e.role === 'assistant');
    expect(reply?.text).toBe('You said: hello.');
    expect(played.reduce((n, p) => n + p.samples, 0)).toBeGreaterThan(0.4 * SECOND);
    expectNoServerClose(fake);
  });

  it('runs a function tool and speaks its result', async (ctx) => {
    const { call, fake } = await start(ctx, {
      env: { AGENT_GREETING: '' },
      fake: {
        respond: (turn) =>
          turn.source === 'tool_response'
            ? {
                text: `The time zone is ${(turn.toolResponse?.response as { output?: string }).output ? 'known' : 'unknown'}.`,
              }
            : { toolCall: { name: 'get_current_time', args: { timeZone: 'Europe/Paris' } } },
      },
    });
    await call.say(speechFixture('weather.wav'));
    expect(await call.untilAnswered({ deadline: soon(), settleMs: 1000 })).toBe(true);

    const [toolCall] = call.events.ofType('tool_call');
    expect(toolCall).toMatchObject({
      name: 'get_current_time',
      arguments: { timeZone: 'Europe/Paris' },
      is_error: false,
    });
    expect((toolCall!.output as { timeZone: string; now: string }).now).toMatch(/\d/);
    const responses = sent(fake, 'toolResponse') as { functionResponses: { name: string }[] }[];
    expect(responses.flatMap((r) => r.functionResponses.map((f) => f.name))).toEqual([
      'get_current_time',
    ]);
    const replies = call.events.ofType('message').filter((e) => e.role === 'assistant');
    expect(replies.at(-1)?.text).toBe('The time zone is known.');
    if (family === '3.8-thinking') {
      // The filler it spoke while the function ran is part of what the agent said.
      expect(replies.map((r) => r.text)).toEqual([THINKING_FILLER, 'The time zone is known.']);
      expect(replies.every((r) => !r.interrupted)).toBe(true);
    }
    expectNoServerClose(fake);
  });

  it('stops speaking when the user interrupts, then answers the new turn', async (ctx) => {
    let turn = 0;
    const { call, fake, played } = await start(ctx, {
      env: { AGENT_GREETING: '' },
      // Real-time pacing, so the reply is still streaming when the user barges in.
      fake: {
        paceFactor: 1,
        respond: () =>
          turn++ === 0 ? { text: 'A long story.', audioMs: 8000 } : { text: 'Sure.' },
      },
    });
    const hello = speechFixture('hello.wav');
    await call.say(hello);
    await waitFor(() => call.call.session.agentState === 'speaking');
    // The user barges in once 800 ms of the reply went out (real-time pacing: ~800 ms played).
    await fake.waitFor(() => replyChunks(fake) >= 800 / DEFAULT_CHUNK_MS, 10_000, 'reply audio');
    await call.say(hello);
    expect(await call.untilAnswered({ deadline: soon(), settleMs: 1000, replies: 2 })).toBe(true);

    expect(played[0]!.interrupted).toBe(true);
    expect(played[0]!.samples).toBeLessThan(5 * SECOND);
    const replies = call.events.ofType('message').filter((e) => e.role === 'assistant');
    expect(replies[0]!.interrupted).toBe(true);
    expect(replies.at(-1)).toMatchObject({ text: 'Sure.', interrupted: false });
    expect(call.call.session.agentState).toBe('listening');
    expectNoServerClose(fake);
  });

  it('takes its instructions from the chosen context, and from dispatch instructions', async (ctx) => {
    const { fake } = await start(ctx, { env: { CONTEXT_ID: 'support', AGENT_GREETING: '' } });
    await fake.waitFor((f) => f.connections.length > 0 && !!f.connections.at(-1)!.setup);
    const setup = fake.connections.at(-1)!.setup;
    expect(setup.systemInstruction.parts[0].text).toMatch(/customer-support agent/);

    const metadata = JSON.stringify({ gemini_realtime_config: { instructions: 'You are Ada.' } });
    const again = await start(ctx, { metadata, env: { AGENT_GREETING: '' } });
    await again.fake.waitFor((f) => f.connections.length > 0 && !!f.connections.at(-1)!.setup);
    expect(again.fake.connections.at(-1)!.setup.systemInstruction.parts[0].text).toBe(
      'You are Ada.',
    );
  });

  it('replies to generateReply() with no instructions and to session.run()', async (ctx) => {
    const { call, fake } = await start(ctx, { env: { AGENT_GREETING: '' } });
    const { session } = call.call;
    await session.generateReply().waitForPlayout();
    const result = session.run({ userInput: 'What can you do?' });
    await result.wait();

    const replies = call.events.ofType('message').filter((e) => e.role === 'assistant');
    expect(replies).toHaveLength(2);
    if (textRoute === 'realtime_text') {
      expect(realtimeTexts(fake)).toEqual([CONTINUE_PROMPT, 'What can you do?']);
      expect(sent(fake, 'clientContent')).toEqual([]);
    } else if (textRoute === 'user_content') {
      // The user's words as context, then "answer now": no placeholder text on 3.8.
      expect(clientContents(fake)).toEqual([
        { turnComplete: true },
        { turns: [{ role: 'user', parts: [{ text: 'What can you do?' }] }], turnComplete: false },
        { turnComplete: true },
      ]);
      const turns = fake.connections.flatMap((c) => c.turns).map((t) => t.text);
      expect(turns).toEqual(['', 'What can you do?']);
    } else {
      expect(clientContentTexts(fake)).toContain('What can you do?');
    }
    expectNoServerClose(fake);
  });

  it('keeps the call alive through a mid-session instructions update', async (ctx) => {
    const { call, fake } = await start(ctx, { env: { AGENT_GREETING: '' } });
    await call.call.session.generateReply({ instructions: 'Say hi.' }).waitForPlayout();
    await call.call.agent.updateInstructions('From now on, be brief.');
    await call.call.session.generateReply({ instructions: 'Say bye.' }).waitForPlayout();

    const replies = call.events.ofType('message').filter((e) => e.role === 'assistant');
    expect(replies).toHaveLength(2);
    const update = 'From now on, be brief.';
    if (textRoute === 'realtime_text') {
      // Not sendable mid-session: it waits for the next connection's setup, with a warning.
      expect(sent(fake, 'clientContent')).toEqual([]);
      expect(realtimeTexts(fake).join('\n')).not.toContain(update);
    } else if (textRoute === 'user_content') {
      expect(clientContents(fake)).toContainEqual({
        turns: [{ role: 'user', parts: [{ text: instructionsUpdatePrompt(update) }] }],
        turnComplete: false,
      });
    } else {
      expect(clientContents(fake)).toContainEqual({
        turns: [{ role: 'model', parts: [{ text: update }] }],
        turnComplete: false,
      });
    }
    expectNoServerClose(fake);
  });

  it('applies a mid-session instructions update: at once, or in the next setup', async (ctx) => {
    const { call, fake } = await start(ctx, { env: { AGENT_GREETING: '' } });
    await call.call.session.generateReply({ instructions: 'Say hi.' }).waitForPlayout();
    await call.call.agent.updateInstructions('You are Ada now.');
    // A reconnect: the new connection's setup carries the instructions the session holds.
    fake.connections[0]!.close(1011, 'Internal error encountered.');
    await fake.waitFor((f) => f.connections[1]?.setup !== undefined, 10_000, 'reconnect');
    expect(fake.connections[1]!.setup.systemInstruction.parts[0].text).toBe('You are Ada now.');
    expectNoServerClose(fake, [0]);
  });
});

describe.concurrent('the setup frame carries the validated settings', () => {
  const setupOf = async (ctx: TestContext, env: Record<string, string>) => {
    const h = await startHarnessFor(ctx, { env: { AGENT_GREETING: '', ...env } });
    await h.fake.waitFor((f) => f.connections.length > 0 && !!f.connections.at(-1)!.setup);
    return h.fake.connections.at(-1)!;
  };

  it('3.1: thinking level, voice and temperature; no history declared with none to seed', async (ctx) => {
    const conn = await setupOf(ctx, {
      GEMINI_MODEL: 'gemini-3.1-flash-live-preview',
      GEMINI_THINKING_LEVEL: 'low',
      GEMINI_VOICE: 'Kore',
      GEMINI_TEMPERATURE: '0.4',
    });
    expect(conn.setup.model).toBe('models/gemini-3.1-flash-live-preview');
    expect(conn.setup.generationConfig.thinkingConfig).toEqual({ thinkingLevel: 'LOW' });
    expect(conn.setup.generationConfig.temperature).toBe(0.4);
    expect(conn.setup.generationConfig.speechConfig.voiceConfig.prebuiltVoiceConfig.voiceName).toBe(
      'Kore',
    );
    // Declared initial history makes the server wait for it before any realtime input: only a
    // connection that is seeded declares it (gemini_faults.test.ts, the expired handle).
    expect(conn.setup.historyConfig).toBeUndefined();
    expect(conn.closedBy).not.toBe('server');
  });

  it('3.8: no thinking, affective or proactivity field; tools without a behavior; search beside them', async (ctx) => {
    const conn = await setupOf(ctx, {
      GEMINI_MODEL: 'gemini-3.8-live',
      GEMINI_PROACTIVE_AUDIO: 'true',
      GEMINI_GOOGLE_SEARCH: 'true',
    });
    expect(conn.setup.model).toBe('models/gemini-3.8-live');
    expect(conn.setup.generationConfig.thinkingConfig).toBeUndefined();
    expect(conn.setup.generationConfig.enableAffectiveDialog).toBeUndefined();
    expect(conn.setup.proactivity).toBeUndefined(); // always on: the setup must not carry it
    const declarations = conn.setup.tools.flatMap(
      (t: { functionDeclarations?: object[] }) => t.functionDeclarations ?? [],
    );
    expect(declarations.length).toBeGreaterThan(0);
    // No behavior: 3.8 runs them NON_BLOCKING by default.
    expect(declarations.every((d: { behavior?: string }) => d.behavior === undefined)).toBe(true);
    expect(conn.setup.tools).toContainEqual({ googleSearch: {} });
    expect(conn.closedBy).not.toBe('server');
  });

  it('3.8 extended thinking: its default level LOW, every function declared NON_BLOCKING', async (ctx) => {
    const conn = await setupOf(ctx, { GEMINI_MODEL: 'gemini-3.8-live-extended-thinking' });
    expect(conn.setup.generationConfig.thinkingConfig).toEqual({ thinkingLevel: 'LOW' });
    const declarations = conn.setup.tools.flatMap(
      (t: { functionDeclarations?: object[] }) => t.functionDeclarations ?? [],
    );
    expect(declarations.length).toBeGreaterThan(0);
    expect(declarations.every((d: { behavior?: string }) => d.behavior === 'NON_BLOCKING')).toBe(
      true,
    );
    expect(conn.closedBy).not.toBe('server');
  });

  it('2.5: thinking budget and affective dialog on the v1alpha API', async (ctx) => {
    const conn = await setupOf(ctx, {
      GEMINI_MODEL: 'gemini-2.5-flash-native-audio-preview-12-2025',
      GEMINI_THINKING_BUDGET: '512',
      GEMINI_AFFECTIVE_DIALOG: 'true',
    });
    expect(conn.apiVersion).toBe('v1alpha');
    expect(conn.setup.generationConfig.thinkingConfig).toEqual({ thinkingBudget: 512 });
    expect(
      conn.setup.generationConfig.enableAffectiveDialog ?? conn.setup.enableAffectiveDialog,
    ).toBe(true);
    expect(conn.setup.historyConfig).toBeUndefined();
    expect(conn.closedBy).not.toBe('server');
  });
});

/** Reply audio messages the fake sent (one chunk of DEFAULT_CHUNK_MS each). */
const replyChunks = (fake: FakeGeminiServer) =>
  fake.sent.filter((s) => s.msg.serverContent?.modelTurn?.parts?.length).length;

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
