/**
 * A whole offline call through the harness, run as its own process by test/secrets.test.ts:
 * `node --import tsx test/support/secrets_call.ts <report.json>` with every secret in the
 * environment set to a canary, LOG_LEVEL=debug and LK_GOOGLE_DEBUG=1 (which the plugin reads when
 * it is imported, so it has to be set before this process starts). Every log line goes to this
 * process's stdout; what the call produced besides logs (its events, and every error the session
 * reported, inspected in full) goes to the report file, for the test to search.
 *
 * The call: greeting, a spoken turn, a function tool, the server dropping the socket mid-call
 * (1011), then a second session whose key the server refuses (1008).
 */
import { voice } from '@livekit/agents';
import { writeFileSync } from 'node:fs';
import { inspect } from 'node:util';
import type { CallEvent } from '../../src/console/call_events.ts';
import { type Harness, speechFixture, startHarness } from './call_harness.ts';

export interface SecretsCallReport {
  events: CallEvent[];
  /** Every session error and close error, as util.inspect shows it (stack, causes, fields). */
  errors: string[];
  /** The key reached the fake in the socket URL (so the search is not vacuous). */
  keyInUrl: boolean;
  answered: boolean;
  toolCalls: number;
  refusedKeyClose: string | undefined;
}

const out = process.argv[2];
if (!out) throw new Error('usage: secrets_call.ts <report.json>');
const key = process.env.GOOGLE_API_KEY;
if (!key) throw new Error('GOOGLE_API_KEY (the canary) is required');

/** The worker's secrets, all from this process's environment (the canaries). */
const env = {
  GOOGLE_API_KEY: key,
  LIVEKIT_URL: 'wss://example.livekit.cloud',
  LIVEKIT_API_KEY: process.env.LIVEKIT_API_KEY,
  LIVEKIT_API_SECRET: process.env.LIVEKIT_API_SECRET,
  DEEPGRAM_API_KEY: process.env.DEEPGRAM_API_KEY,
  AVATAR_ENABLED: 'false',
};

const errors: string[] = [];
const show = (value: unknown) =>
  inspect(value, { depth: 12, showHidden: true, breakLength: Infinity, getters: true });

function collectErrors(h: Harness): void {
  const E = voice.AgentSessionEventTypes;
  h.call.call.session.on(E.Error, (ev) => {
    errors.push(show(ev.error), String((ev.error as { error?: unknown }).error));
  });
  h.call.call.session.on(E.Close, (ev) => {
    if (ev.error) errors.push(show(ev.error));
  });
}

const deadline = (ms: number) => Date.now() + ms;
const events: CallEvent[] = [];

// 1. A normal call, with a tool, then the server dropping the socket.
let spokenTurns = 0;
const call = await startHarness({
  env,
  fake: {
    apiKey: key,
    respond: (turn) => {
      if (turn.source === 'tool_response') return { text: 'It is noon in Paris.' };
      if (turn.source === 'audio' && ++spokenTurns === 1) {
        return { toolCall: { name: 'get_current_time', args: { timeZone: 'Europe/Paris' } } };
      }
      return { text: `You said: ${turn.text}.`, audioMs: 500 };
    },
  },
});
collectErrors(call);
await call.call.call.greet();
const since = call.call.events.events.length;
await call.call.say(speechFixture('hello.wav'));
const answered = await call.call.untilAnswered({
  since,
  deadline: deadline(20_000),
  settleMs: 500,
});
const keyInUrl = call.fake.connections.some((c) => c.path.includes(`key=${key}`));
call.fake.connections.at(-1)?.close(1011, 'Internal error encountered.');
await new Promise((resolve) => setTimeout(resolve, 1500));
events.push(...call.call.events.events);
const toolCalls = call.call.events.ofType('tool_call').length;
await call.close().catch((error: unknown) => errors.push(show(error)));

// 2. A session whose key the server refuses.
const refused = await startHarness({ env, fake: { apiKey: `not-${key}` } });
collectErrors(refused);
await refused.fake
  .waitFor((f) => f.connections.some((c) => c.closedBy === 'server'), 10_000, '1008')
  .catch((error: unknown) => errors.push(show(error)));
await new Promise((resolve) => setTimeout(resolve, 1000));
events.push(...refused.call.events.events);
const closed = refused.fake.connections.find((c) => c.closedBy === 'server');
await refused.close().catch((error: unknown) => errors.push(show(error)));

const report: SecretsCallReport = {
  events,
  errors,
  keyInUrl,
  answered,
  toolCalls,
  refusedKeyClose: closed && `${closed.closeCode} ${closed.closeReason}`,
};
writeFileSync(out, JSON.stringify(report));
process.exit(0);
