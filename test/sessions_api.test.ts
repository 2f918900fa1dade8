/**
 * The session API (src/sessions): LiveAvatar's token / start / stop / keep-alive calls on the
 * user's LiveKit, driven over HTTP against the fake LiveKit server API through the real
 * livekit-server-sdk. Every refusal is checked for its status, its one line, and that nothing
 * was created at LiveKit.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TokenVerifier } from 'livekit-server-sdk';
import { loadSettings } from '../src/config/settings.ts';
import { ConfigError } from '../src/config/errors.ts';
import { settingsForDispatch } from '../src/dispatch_settings.ts';
import { loadSessionsConfig } from '../src/sessions/config.ts';
import { readSessionDeadline, writeSessionDeadline } from '../src/sessions/room_metadata.ts';
import type { SessionRecord } from '../src/sessions/sessions.ts';
import { liveAvatarRequest } from './support/liveavatar_request.ts';
import {
  API_KEY,
  type Answer,
  type Harness,
  LIVEKIT_KEY,
  LIVEKIT_SECRET,
  OTHER_API_KEY,
  SESSION_JSON,
  post,
  startHarness,
  startSession,
} from './support/sessions_harness.ts';

let h: Harness;

afterEach(async () => {
  await h?.close();
});

/** The one line the worker logs for a dispatch with this metadata. */
function dispatchRefusal(json: unknown): string[] {
  try {
    settingsForDispatch(loadSettings(h.env), JSON.stringify(json));
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  throw new Error('the dispatch validation accepted it');
}

/** Assert a refusal: status, the one-line message, LiveAvatar's envelope, and nothing created. */
function expectRefused(answer: Answer, status: number, message: RegExp) {
  expect(answer.status).toBe(status);
  expect(answer.body).toMatchObject({ code: status, data: null });
  expect(answer.body.message).toMatch(message);
  expect(answer.body.message).not.toContain('\n');
  expect(h.fake.createdRooms).toEqual([]);
  expect(h.fake.dispatches).toEqual([]);
}

describe('POST /v1/sessions/token and /v1/sessions/start', () => {
  it('returns LiveAvatar-shaped answers, creates one room and one dispatch with the validated JSON', async () => {
    h = await startHarness();
    const issued = await post(`${h.url}/v1/sessions/token`, { 'x-api-key': API_KEY }, SESSION_JSON);
    expect(issued.status).toBe(200);
    expect(issued.body).toMatchObject({
      code: 1000,
      data: { session_id: expect.any(String), session_token: expect.any(String) },
      message: expect.any(String),
    });
    expect(h.fake.calls).toEqual([]); // a token creates nothing yet

    const token = issued.body.data.session_token;
    const started = await post(`${h.url}/v1/sessions/start`, { authorization: `Bearer ${token}` });
    expect(started.status).toBe(201);
    expect(started.body).toEqual({
      code: 1000,
      data: {
        session_id: issued.body.data.session_id,
        livekit_url: h.fake.url,
        livekit_client_token: expect.any(String),
        max_session_duration: 1200,
      },
      message: expect.any(String),
    });

    expect(h.fake.createdRooms).toHaveLength(1);
    const room = h.fake.createdRooms[0]!;
    expect(room.name).toBe(`session-${issued.body.data.session_id}`);
    expect(room.emptyTimeout).toBe(120);
    expect(h.fake.dispatches).toHaveLength(1);
    const dispatch = h.fake.dispatches[0]!;
    expect(dispatch.room).toBe(room.name);
    expect(dispatch.agentName).toBe('gemini-avatar');
    // The dispatch metadata is the session JSON, byte for byte as validated.
    expect(dispatch.metadata).toBe(JSON.stringify(SESSION_JSON));
    expect(JSON.parse(dispatch.metadata)).toEqual(SESSION_JSON);
    // The deadline the agent reads, in the room's metadata.
    const meta = JSON.parse(room.metadata);
    expect(Object.keys(meta.session).sort()).toEqual(['ends_at', 'id', 'max_session_duration']);
    const deadline = readSessionDeadline(room.metadata)!;
    expect(deadline.sessionId).toBe(issued.body.data.session_id);
    expect(deadline.maxSessionDurationS).toBe(1200);
    expect(deadline.endsAt - Date.now()).toBeGreaterThan(1190_000);
  });

  it('mints a client token for that room only, with a participant grants and the TTL', async () => {
    h = await startHarness({ env: { SESSIONS_CLIENT_TOKEN_TTL_S: '300' } });
    const { started } = await startSession(h);
    const jwt = started.body.data.livekit_client_token;
    const claims = await new TokenVerifier(LIVEKIT_KEY, LIVEKIT_SECRET).verify(jwt);
    const room = h.fake.createdRooms[0]!.name;
    expect(claims.video).toEqual({
      roomJoin: true,
      room,
      canSubscribe: true,
      canPublish: true,
      canPublishData: true,
      canUpdateOwnMetadata: false,
      canPublishSources: ['microphone', 'camera', 'screen_share', 'screen_share_audio'],
    });
    expect(claims.sub).toMatch(/^user-[0-9a-f]{12}$/);
    const payload = JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
    expect(payload.exp - payload.nbf).toBe(300);
    expect(Math.abs(payload.exp * 1000 - (Date.now() + 300_000))).toBeLessThan(5_000);
    // Nothing an administrator or the agent would have.
    for (const grant of ['roomAdmin', 'roomCreate', 'roomList', 'roomRecord', 'ingressAdmin']) {
      expect(claims.video).not.toHaveProperty(grant);
    }
    expect(claims.kind).toBeUndefined();
  });
});

describe("LiveAvatar's LITE + Gemini connector request, exactly as LiveAvatar documents it", () => {
  const SECRET_ID = '6f1c2a4e-8b7d-4c3f-9a21-0d5e7b9c1f42';
  const CONTEXT_ID = '3b9d6c1e-2f4a-4e8b-b7c5-9a0d1e2f3a4b';
  const REQUEST = liveAvatarRequest({
    avatarId: 'a7c3e2f1-5b4d-4c6e-8f9a-0b1c2d3e4f5a',
    secretId: SECRET_ID,
    contextId: CONTEXT_ID,
  });
  let dir: string;
  /** What the worker and the service share: the named keys, the contexts, a LiveAvatar key. */
  let env: Record<string, string>;

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'sessions-liveavatar-'));
    const secrets = path.join(dir, 'gemini-secrets.json');
    writeFileSync(secrets, JSON.stringify({ [SECRET_ID]: 'named-gemini-key-never-shown' }));
    mkdirSync(path.join(dir, 'contexts'));
    writeFileSync(
      path.join(dir, 'contexts', `${CONTEXT_ID}.md`),
      '---\nname: Support\nopening_text: Hi, how can I help?\n---\n\nYou are a support agent.\n',
    );
    env = {
      GEMINI_SECRETS_FILE: secrets,
      CONTEXTS_DIR: path.join(dir, 'contexts'),
      LIVEAVATAR_API_KEY: 'liveavatar-key-unused-until-a-call',
    };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('starts a session and dispatches the agent with the request as is', async () => {
    h = await startHarness({ env });
    const { started } = await startSession(h, REQUEST);
    expect(started.status).toBe(201);
    expect(started.body.data.max_session_duration).toBe(1200);
    expect(h.fake.dispatches).toHaveLength(1);
    expect(h.fake.dispatches[0]!.metadata).toBe(JSON.stringify(REQUEST));
    // Nothing secret goes back to the caller.
    expect(JSON.stringify(started.body)).not.toContain('named-gemini-key-never-shown');
  });

  it.each([
    [
      'mode FULL',
      { ...REQUEST, mode: 'FULL' },
      /^dispatch metadata: mode: "FULL" is not valid \(allowed: LITE /,
    ],
    [
      'an unknown secret_id',
      {
        ...REQUEST,
        gemini_realtime_config: { ...REQUEST.gemini_realtime_config, secret_id: 'no-such-id' },
      },
      /^dispatch metadata: gemini_realtime_config\.secret_id: "no-such-id" is not an id in /,
    ],
  ])('refuses %s with 422 and the line a dispatch gets', async (_name, json, line) => {
    h = await startHarness({ env });
    const answer = await post(`${h.url}/v1/sessions/token`, { 'x-api-key': API_KEY }, json);
    const lines = dispatchRefusal(json);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(line);
    expectRefused(answer, 422, /./);
    expect(answer.body.message).toBe(lines[0]);
  });

  it.each([
    ['its max_session_duration', '1200', 600, 600],
    ['at most SESSIONS_MAX_DURATION_S', '900', 3600, 900],
  ])('gives the session %s', async (_name, serviceMax, asked, expected) => {
    h = await startHarness({ env: { ...env, SESSIONS_MAX_DURATION_S: serviceMax } });
    const json = { ...REQUEST, max_session_duration: asked };
    const { started } = await startSession(h, json);
    expect(started.body.data.max_session_duration).toBe(expected);
    const deadline = readSessionDeadline(h.fake.createdRooms[0]!.metadata)!;
    expect(deadline.maxSessionDurationS).toBe(expected);
    expect(deadline.endsAt - Date.now()).toBeGreaterThan((expected - 10) * 1000);
    expect(deadline.endsAt - Date.now()).toBeLessThanOrEqual(expected * 1000);
    // The agent gets the request as sent; the room's metadata carries the session's end.
    expect(h.fake.dispatches[0]!.metadata).toBe(JSON.stringify(json));
  });
});

describe('refusals: the right status, one line, nothing created at LiveKit', () => {
  it('refuses a missing or wrong X-API-KEY with 401', async () => {
    h = await startHarness();
    const url = `${h.url}/v1/sessions/token`;
    expectRefused(await post(url, {}, SESSION_JSON), 401, /^X-API-KEY: missing/);
    expectRefused(
      await post(url, { 'x-api-key': `${API_KEY}x` }, SESSION_JSON),
      401,
      /^X-API-KEY: not a valid API key$/,
    );
  });

  it('refuses a body that is not a JSON object with 422', async () => {
    h = await startHarness();
    const url = `${h.url}/v1/sessions/token`;
    const key = { 'x-api-key': API_KEY };
    expectRefused(await post(url, key, '{"avatar_id": '), 422, /^body: not JSON/);
    expectRefused(await post(url, key, '[1, 2]'), 422, /^body: not a JSON object/);
    expectRefused(await post(url, key, ''), 422, /^body: not JSON/);
  });

  it.each([
    ['a bad value', { gemini_realtime_config: { voice: 'Bob' } }],
    ['an unknown field', { avatar_id: 'default', livekit_config: { livekit_url: 'x' } }],
    ['an out-of-range number', { gemini_realtime_config: { temperature: 3 } }],
    ['an unknown model', { gemini_realtime_config: { model: 'gemini-0.1-live' } }],
    ['an unknown avatar', { avatar_id: 'no-such-avatar' }],
    ['a context with no file', { gemini_realtime_config: { context_id: 'no-such-context' } }],
  ])('refuses %s with 422 and the line a dispatch gets', async (_name, json) => {
    h = await startHarness();
    const answer = await post(`${h.url}/v1/sessions/token`, { 'x-api-key': API_KEY }, json);
    const lines = dispatchRefusal(json);
    expectRefused(answer, 422, /./);
    expect(answer.body.message).toBe(lines.join('; '));
    expect(answer.body.detail.map((d: { msg: string }) => d.msg)).toEqual(lines);
    expect(answer.body.detail[0].type).toBe('value_error');
    expect(answer.body.detail[0].loc[0]).toBe('body');
  });

  it('names the field in the 422 detail location', async () => {
    h = await startHarness();
    const json = { gemini_realtime_config: { voice: 'Bob' } };
    const answer = await post(`${h.url}/v1/sessions/token`, { 'x-api-key': API_KEY }, json);
    expect(answer.body.detail[0].loc).toEqual(['body', 'gemini_realtime_config', 'voice']);
  });

  it('refuses an oversized body with 413, declared or streamed', async () => {
    h = await startHarness({ env: { SESSIONS_MAX_BODY_BYTES: '2048' } });
    const big = JSON.stringify({
      gemini_realtime_config: { instructions: 'x'.repeat(4000) },
    });
    const url = `${h.url}/v1/sessions/token`;
    expectRefused(
      await post(url, { 'x-api-key': API_KEY }, big),
      413,
      /^body: \d+ bytes is too large \(allowed: up to 2048 bytes\)$/,
    );
    // Without a length: a stream that grows past the limit.
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 8; i++) controller.enqueue(new TextEncoder().encode(' '.repeat(1000)));
        controller.close();
      },
    });
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'x-api-key': API_KEY },
      body: chunks,
      duplex: 'half',
    } as RequestInit);
    expect(response.status).toBe(413);
    expect((await response.json()).message).toMatch(/too large \(allowed: up to 2048 bytes\)/);
    expect(h.fake.calls).toEqual([]);
  });

  it('refuses a start without a token, with a forged one, or with one from another instance, with 401', async () => {
    h = await startHarness();
    const url = `${h.url}/v1/sessions/start`;
    expectRefused(await post(url, {}), 401, /^Authorization: missing/);
    expectRefused(
      await post(url, { authorization: 'Bearer not.a.token' }),
      401,
      /^Authorization: not a valid session token/,
    );
    // Same shape, signed with another key (another instance of the service).
    const other = await startHarness();
    const issued = await post(
      `${other.url}/v1/sessions/token`,
      { 'x-api-key': API_KEY },
      SESSION_JSON,
    );
    await other.close();
    expectRefused(
      await post(url, { authorization: `Bearer ${issued.body.data.session_token}` }),
      401,
      /^Authorization: not a valid session token/,
    );
    // An API key is not a session token.
    expectRefused(
      await post(url, { authorization: `Bearer ${API_KEY}` }),
      401,
      /^Authorization: not a valid session token/,
    );
  });

  it('refuses an expired session token with 401', async () => {
    let now = Date.now();
    h = await startHarness({ env: { SESSIONS_TOKEN_TTL_S: '60' }, now: () => now });
    const issued = await post(`${h.url}/v1/sessions/token`, { 'x-api-key': API_KEY }, SESSION_JSON);
    now += 61_000;
    expectRefused(
      await post(`${h.url}/v1/sessions/start`, {
        authorization: `Bearer ${issued.body.data.session_token}`,
      }),
      401,
      /^Authorization: the session token expired at .* \(a session token starts its session within 60 s; create a new one\)$/,
    );
  });

  it('refuses a second start with the same token with 409 and creates nothing more', async () => {
    h = await startHarness();
    const { token } = await startSession(h);
    const again = await post(`${h.url}/v1/sessions/start`, { authorization: `Bearer ${token}` });
    expect(again.status).toBe(409);
    expect(again.body.message).toMatch(
      /^Authorization: this session token already started session /,
    );
    expect(h.fake.createdRooms).toHaveLength(1);
    expect(h.fake.dispatches).toHaveLength(1);
  });

  it('lets only one of two concurrent starts with the same token through', async () => {
    h = await startHarness();
    const issued = await post(`${h.url}/v1/sessions/token`, { 'x-api-key': API_KEY }, SESSION_JSON);
    const auth = { authorization: `Bearer ${issued.body.data.session_token}` };
    const answers = await Promise.all([
      post(`${h.url}/v1/sessions/start`, auth),
      post(`${h.url}/v1/sessions/start`, auth),
    ]);
    expect(answers.map((a) => a.status).sort()).toEqual([201, 409]);
    const refused = answers.find((a) => a.status === 409)!;
    expect(refused.body.message).toMatch(/^Authorization: this session token already started/);
    expect(h.fake.createdRooms).toHaveLength(1);
  });

  it('limits calls per API key with 429 and Retry-After', async () => {
    h = await startHarness({ env: { SESSIONS_RATE_LIMIT_PER_MIN: '3' } });
    const url = `${h.url}/v1/sessions/token`;
    for (let i = 0; i < 3; i++) {
      expect((await post(url, { 'x-api-key': API_KEY }, SESSION_JSON)).status).toBe(200);
    }
    const limited = await post(url, { 'x-api-key': API_KEY }, SESSION_JSON);
    expectRefused(
      limited,
      429,
      /^too many requests: this API key made more than 3 calls in a minute/,
    );
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Another key has its own budget.
    expect((await post(url, { 'x-api-key': OTHER_API_KEY }, SESSION_JSON)).status).toBe(200);
  });

  it('limits running sessions per API key with 429, and frees a slot when a session ends', async () => {
    h = await startHarness({ env: { SESSIONS_MAX_CONCURRENT: '1' } });
    const first = await startSession(h);
    expect(first.started.status).toBe(201);
    const second = await startSession(h);
    expect(second.started.status).toBe(429);
    expect(second.started.body.message).toMatch(
      /^too many sessions: this API key has 1 running \(allowed: 1 at once/,
    );
    expect(h.fake.createdRooms).toHaveLength(1);
    // Another key is not limited by this one's sessions.
    expect((await startSession(h, SESSION_JSON, OTHER_API_KEY)).started.status).toBe(201);
    // The refused token was not used up: it starts once the first session is stopped.
    await post(`${h.url}/v1/sessions/stop`, { authorization: `Bearer ${first.token}` });
    const retried = await post(`${h.url}/v1/sessions/start`, {
      authorization: `Bearer ${second.token}`,
    });
    expect(retried.status).toBe(201);
  });

  it('frees the slot of a session whose room LiveKit closed (everybody left)', async () => {
    h = await startHarness({ env: { SESSIONS_MAX_CONCURRENT: '1' } });
    const first = await startSession(h);
    h.fake.dropRoom(h.fake.createdRooms[0]!.name);
    const second = await startSession(h);
    expect(second.started.status).toBe(201);
    const firstId = first.started.body.data.session_id;
    expect(h.server.sessions.get(firstId)).toMatchObject({
      state: 'ended',
      endReason: 'USER_DISCONNECTED',
    });
  });

  it('answers 502 when LiveKit fails, deletes the room it made, and the token can try again', async () => {
    h = await startHarness();
    const issued = await post(`${h.url}/v1/sessions/token`, { 'x-api-key': API_KEY }, SESSION_JSON);
    const auth = { authorization: `Bearer ${issued.body.data.session_token}` };
    h.fake.failNext('CreateDispatch', {
      status: 503,
      code: 'unavailable',
      msg: 'no agent workers',
    });
    const failed = await post(`${h.url}/v1/sessions/start`, auth);
    expect(failed.status).toBe(502);
    expect(failed.body.message).toBe(
      'LiveKit: could not dispatch agent gemini-avatar (503 no agent workers)',
    );
    expect(h.fake.createdRooms).toHaveLength(1);
    expect(h.fake.deletedRooms).toEqual([h.fake.createdRooms[0]!.name]);
    expect(h.fake.rooms.size).toBe(0);

    h.fake.failNext('CreateRoom', { status: 500, code: 'internal', msg: 'boom' });
    const failedRoom = await post(`${h.url}/v1/sessions/start`, auth);
    expect(failedRoom.status).toBe(502);
    expect(failedRoom.body.message).toBe('LiveKit: could not create the room (500 boom)');

    const retried = await post(`${h.url}/v1/sessions/start`, auth);
    expect(retried.status).toBe(201);
    expect(h.fake.rooms.size).toBe(1);
    expect(h.fake.dispatches).toHaveLength(1);
  });

  it('answers 404 for an unknown path and 405 for a wrong method', async () => {
    h = await startHarness();
    expectRefused(await post(`${h.url}/v1/sessions/nope`, {}), 404, /no such endpoint/);
    const get = await fetch(`${h.url}/v1/sessions/token`);
    expect(get.status).toBe(405);
    expect((await get.json()).message).toMatch(/method not allowed \(allowed: POST\)/);
  });
});

describe('stop and keep-alive', () => {
  it('stops with the session token: deletes the room; a repeated stop answers the same', async () => {
    h = await startHarness();
    const { token, started } = await startSession(h);
    const auth = { authorization: `Bearer ${token}` };
    const stopped = await post(`${h.url}/v1/sessions/stop`, auth);
    expect(stopped.status).toBe(200);
    expect(stopped.body).toMatchObject({
      code: 1000,
      data: { session_id: started.body.data.session_id, reason: 'USER_CLOSED' },
    });
    expect(h.fake.deletedRooms).toEqual([h.fake.createdRooms[0]!.name]);
    const again = await post(`${h.url}/v1/sessions/stop`, auth, { reason: 'SERVER_ERROR' });
    expect(again.body.data.reason).toBe('USER_CLOSED');
    expect(h.fake.deletedRooms).toHaveLength(1);
    // A stopped session cannot be kept alive.
    const kept = await post(`${h.url}/v1/sessions/keep-alive`, auth);
    expect(kept.status).toBe(409);
    expect(kept.body.message).toMatch(/already ended \(USER_CLOSED\)/);
  });

  it('stops with an API key and session_id, only for sessions of that key', async () => {
    h = await startHarness();
    const { started } = await startSession(h);
    const id = started.body.data.session_id;
    const url = `${h.url}/v1/sessions/stop`;
    const other = await post(url, { 'x-api-key': OTHER_API_KEY }, { session_id: id });
    expect(other.status).toBe(404);
    expect(other.body.message).toMatch(/^session_id: ".*" is not a session of this API key$/);
    const missing = await post(url, { 'x-api-key': API_KEY }, {});
    expect(missing.status).toBe(422);
    expect(missing.body.message).toMatch(/^session_id: missing/);
    const bad = await post(url, { 'x-api-key': API_KEY }, { session_id: id, reason: 'BORED' });
    expect(bad.status).toBe(422);
    expect(bad.body.message).toMatch(/^reason: "BORED" is not valid \(allowed: UNKNOWN, /);
    expect(h.fake.deletedRooms).toEqual([]);
    const ok = await post(
      url,
      { 'x-api-key': API_KEY },
      { session_id: id, reason: 'AGENT_HANG_UP' },
    );
    expect(ok.body.data.reason).toBe('AGENT_HANG_UP');
    expect(h.fake.deletedRooms).toHaveLength(1);
  });

  it('refuses a session token used for another session_id', async () => {
    h = await startHarness();
    const a = await startSession(h);
    const b = await startSession(h);
    const answer = await post(
      `${h.url}/v1/sessions/stop`,
      { authorization: `Bearer ${a.token}` },
      { session_id: b.started.body.data.session_id },
    );
    expect(answer.status).toBe(403);
    expect(h.fake.deletedRooms).toEqual([]);
  });

  it('keeps a session alive after its token expired; without an idle timeout the end stays put', async () => {
    let now = Date.now();
    h = await startHarness({ env: { SESSIONS_TOKEN_TTL_S: '60' }, now: () => now });
    const { token, started } = await startSession(h);
    const endsAt = new Date(readSessionDeadline(h.fake.createdRooms[0]!.metadata)!.endsAt);
    now += 120_000;
    const kept = await post(`${h.url}/v1/sessions/keep-alive`, {
      authorization: `Bearer ${token}`,
    });
    expect(kept.status).toBe(200);
    expect(kept.body.data).toEqual({
      session_id: started.body.data.session_id,
      ends_at: endsAt.toISOString(),
    });
  });

  it('with an idle timeout, a keep-alive moves the end and tells the room (the agent reads it)', async () => {
    let now = Date.now();
    h = await startHarness({
      env: { SESSIONS_IDLE_TIMEOUT_S: '60', SESSIONS_MAX_DURATION_S: '600' },
      now: () => now,
    });
    const startedAt = now;
    const { token } = await startSession(h);
    const room = h.fake.createdRooms[0]!;
    expect(readSessionDeadline(room.metadata)!.endsAt).toBe(startedAt + 60_000);
    now += 30_000;
    const updated = new Promise((resolve) => h.fake.once('roomMetadata', resolve));
    const kept = await post(`${h.url}/v1/sessions/keep-alive`, {
      authorization: `Bearer ${token}`,
    });
    await updated;
    expect(Date.parse(kept.body.data.ends_at)).toBe(now + 60_000);
    expect(readSessionDeadline(room.metadata)!.endsAt).toBe(now + 60_000);
    // Never past start + max_session_duration.
    now = startedAt + 590_000;
    const last = await post(`${h.url}/v1/sessions/keep-alive`, {
      authorization: `Bearer ${token}`,
    });
    expect(Date.parse(last.body.data.ends_at)).toBe(startedAt + 600_000);
  });

  it('ends the session at max_session_duration: the room is deleted, the reason recorded', async () => {
    h = await startHarness({ config: { maxDurationMs: 300 }, endGraceMs: 0 });
    const ended = new Promise<SessionRecord>((resolve) => h.server.sessions.once('ended', resolve));
    const { started } = await startSession(h);
    const record = await ended;
    expect(record).toMatchObject({
      id: started.body.data.session_id,
      state: 'ended',
      endReason: 'MAX_DURATION_REACHED',
    });
    expect(h.fake.deletedRooms).toEqual([h.fake.createdRooms[0]!.name]);
    expect(h.logs.some((l) => l.includes('"reason":"MAX_DURATION_REACHED"'))).toBe(true);
  });
  it('ends an idle session (no keep-alive within SESSIONS_IDLE_TIMEOUT_S) with IDLE_TIMEOUT', async () => {
    h = await startHarness({ config: { idleTimeoutMs: 200 }, endGraceMs: 0 });
    const ended = new Promise<SessionRecord>((resolve) => h.server.sessions.once('ended', resolve));
    await startSession(h);
    expect(await ended).toMatchObject({ state: 'ended', endReason: 'IDLE_TIMEOUT' });
    expect(h.fake.rooms.size).toBe(0);
  });
});

describe('CORS', () => {
  const preflight = (url: string, origin: string) =>
    fetch(url, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });

  it('is off by default: no CORS headers, a preflight gets none', async () => {
    h = await startHarness();
    const answer = await post(
      `${h.url}/v1/sessions/token`,
      { 'x-api-key': API_KEY, origin: 'https://app.example.com' },
      SESSION_JSON,
    );
    expect(answer.headers.get('access-control-allow-origin')).toBeNull();
    const pre = await preflight(`${h.url}/v1/sessions/start`, 'https://app.example.com');
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
  });

  it("allows the configured origins, with credentials (LiveAvatar's SDK sends them)", async () => {
    h = await startHarness({ env: { SESSIONS_CORS_ORIGINS: 'https://app.example.com' } });
    const pre = await preflight(`${h.url}/v1/sessions/start`, 'https://app.example.com');
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(pre.headers.get('access-control-allow-credentials')).toBe('true');
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
    const refusedAnswer = await post(`${h.url}/v1/sessions/start`, {
      origin: 'https://app.example.com',
    });
    // Refusals carry the CORS headers too, so the browser shows the message.
    expect(refusedAnswer.headers.get('access-control-allow-origin')).toBe(
      'https://app.example.com',
    );
    const other = await preflight(`${h.url}/v1/sessions/start`, 'https://evil.example.com');
    expect(other.status).toBe(403);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('the room metadata contract with the agent', () => {
  it('reads back what the service writes, and nothing from other rooms', () => {
    const deadline = {
      sessionId: 's1',
      endsAt: Date.UTC(2026, 0, 1, 12),
      maxSessionDurationS: 600,
    };
    expect(readSessionDeadline(writeSessionDeadline(deadline))).toEqual(deadline);
    for (const other of [
      undefined,
      '',
      'not json',
      '{}',
      '{"session":1}',
      '{"session":{"id":"x"}}',
    ]) {
      expect(readSessionDeadline(other), String(other)).toBeUndefined();
    }
  });
});

describe('settings', () => {
  it('refuses to start without a keys file, or with a bad one, naming the setting', () => {
    expect(() => loadSessionsConfig({})).toThrow(/^SESSION_API_KEYS_FILE missing/);
    expect(() => loadSessionsConfig({ SESSION_API_KEYS_FILE: '/nonexistent/keys.json' })).toThrow(
      /SESSION_API_KEYS_FILE: cannot read \/nonexistent\/keys.json \(ENOENT\)/,
    );
  });

  it('refuses automatic dispatch: sessions dispatch the agent by name', async () => {
    await expect(startHarness({ env: { AGENT_DISPATCH: 'automatic' } })).rejects.toThrow(
      /^AGENT_DISPATCH: automatic dispatch has no agent name to dispatch by/,
    );
  });

  it('names a bad SESSIONS_* value with what is allowed', () => {
    expect(() => loadSessionsConfig({ SESSIONS_PORT: 'eighty' })).toThrow(
      /SESSIONS_PORT: "eighty" is not valid \(allowed: a whole number from 0 to 65535\)/,
    );
    expect(() => loadSessionsConfig({ SESSIONS_CORS_ORIGINS: 'https://a.example/path' })).toThrow(
      /SESSIONS_CORS_ORIGINS: "https:\/\/a.example\/path" is not an origin/,
    );
  });
});
