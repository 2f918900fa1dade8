/**
 * A whole offline call through the harness, run as its own process by test/secrets.test.ts:
 * `node --import tsx test/support/secrets_call.ts <report.json> [gemini|vertex]` with every
 * secret in the environment set to a canary, LOG_LEVEL=debug and LK_GOOGLE_DEBUG=1 (which the
 * plugin reads when it is imported, so it has to be set before this process starts). Every log
 * line goes to this process's stdout; what the call produced besides logs (its events, and every
 * error the session reported, inspected in full) goes to the report file, for the test to search.
 *
 * The call: greeting, a spoken turn, a function tool, the server dropping the socket mid-call
 * (1011) and the session reconnecting, then a second session whose credential the server refuses
 * (1008). On the Gemini API the credential is GOOGLE_API_KEY; on Vertex AI
 * (GOOGLE_GENAI_USE_VERTEXAI and GOOGLE_APPLICATION_CREDENTIALS set by the test) it is the access
 * token the SDK gets with Application Default Credentials, which the test tells this process in
 * FAKE_VERTEX_ACCESS_TOKEN so that the fake accepts it (and refuses it in the second session);
 * a third Vertex session gets no token at all (the STS refuses the subject token).
 */
import { voice } from '@livekit/agents';
import { writeFileSync } from 'node:fs';
import { inspect } from 'node:util';
import type { CallEvent } from '../../src/console/call_events.ts';
import { type Harness, speechFixture, startHarness } from './call_harness.ts';
import type { Backend, FakeConnection, FakeGeminiOptions } from '../../tools/fake_gemini/server.ts';

export interface SecretsCallReport {
  backend: Backend;
  events: CallEvent[];
  /** Every session error and close error, as util.inspect shows it (stack, causes, fields). */
  errors: string[];
  /**
   * Every connection of the call carried the credential (Gemini API: `key=` in the socket URL;
   * Vertex AI: `Authorization: Bearer <token>`), so the search is not vacuous.
   */
  credentialSent: boolean;
  answered: boolean;
  toolCalls: number;
  /** After the 1011, the session set up a new connection. */
  reconnected: boolean;
  refusedClose: string | undefined;
  /** Vertex AI: connections of the session whose subject token the STS refused (none opens). */
  noTokenConnections?: number;
}

const [out, backend = 'gemini'] = process.argv.slice(2);
if (!out || (backend !== 'gemini' && backend !== 'vertex')) {
  throw new Error('usage: secrets_call.ts <report.json> [gemini|vertex]');
}
const required = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};
const key = required('GOOGLE_API_KEY');
const token = backend === 'vertex' ? required('FAKE_VERTEX_ACCESS_TOKEN') : '';

/** The worker's secrets, all from this process's environment (the canaries). */
const env = {
  GOOGLE_API_KEY: key,
  LIVEKIT_URL: 'wss://example.livekit.cloud',
  LIVEKIT_API_KEY: process.env.LIVEKIT_API_KEY,
  LIVEKIT_API_SECRET: process.env.LIVEKIT_API_SECRET,
  DEEPGRAM_API_KEY: process.env.DEEPGRAM_API_KEY,
  AVATAR_ENABLED: 'false',
  ...(backend === 'vertex'
    ? {
        GOOGLE_GENAI_USE_VERTEXAI: process.env.GOOGLE_GENAI_USE_VERTEXAI,
        GOOGLE_CLOUD_PROJECT: process.env.GOOGLE_CLOUD_PROJECT,
        GOOGLE_CLOUD_LOCATION: process.env.GOOGLE_CLOUD_LOCATION,
        GEMINI_MODEL: process.env.GEMINI_MODEL,
      }
    : {}),
};
/** The fake accepts this backend's credential, or refuses it (`not-` prefixed). */
const credential = (prefix = ''): FakeGeminiOptions =>
  backend === 'vertex' ? { accessToken: `${prefix}${token}` } : { apiKey: `${prefix}${key}` };
const carries = (c: FakeConnection): boolean =>
  backend === 'vertex' ? c.authorization === `Bearer ${token}` : c.path.includes(`key=${key}`);

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
    ...credential(),
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
call.fake.connections.at(-1)?.close(1011, 'Internal error encountered.');
const dropped = call.fake.connections.length;
const reconnected = await call.fake
  .waitFor((f) => f.connections[dropped]?.setup !== undefined, 10_000, 'reconnect')
  .then(() => true)
  .catch((error: unknown) => {
    errors.push(show(error));
    return false;
  });
await new Promise((resolve) => setTimeout(resolve, 500));
const credentialSent = call.fake.connections.every(carries);
events.push(...call.call.events.events);
const toolCalls = call.call.events.ofType('tool_call').length;
await call.close().catch((error: unknown) => errors.push(show(error)));

// 2. A session whose credential the server refuses.
const refused = await startHarness({ env, fake: credential('not-') });
collectErrors(refused);
await refused.fake
  .waitFor((f) => f.connections.some((c) => c.closedBy === 'server'), 10_000, '1008')
  .catch((error: unknown) => errors.push(show(error)));
await new Promise((resolve) => setTimeout(resolve, 1000));
events.push(...refused.call.events.events);
const closed = refused.fake.connections.find((c) => c.closedBy === 'server');
await refused.close().catch((error: unknown) => errors.push(show(error)));

// 3. Vertex AI: a session whose subject token the STS refuses, so the SDK has no access token
// and no socket opens (the credentials file the test names in FAKE_VERTEX_REFUSED_CREDENTIALS
// points at an STS that refuses it). The plugin keeps retrying; a second of it is enough.
let noTokenConnections: number | undefined;
if (backend === 'vertex') {
  process.env.GOOGLE_APPLICATION_CREDENTIALS = required('FAKE_VERTEX_REFUSED_CREDENTIALS');
  const noToken = await startHarness({ env, fake: credential() });
  collectErrors(noToken);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  events.push(...noToken.call.events.events);
  noTokenConnections = noToken.fake.connections.length;
  await noToken.close().catch((error: unknown) => errors.push(show(error)));
}

const report: SecretsCallReport = {
  backend,
  events,
  errors,
  credentialSent: credentialSent && refused.fake.connections.every(carries),
  answered,
  toolCalls,
  reconnected,
  refusedClose: closed && `${closed.closeCode} ${closed.closeReason}`,
  noTokenConnections,
};
writeFileSync(out, JSON.stringify(report));
process.exit(0);
