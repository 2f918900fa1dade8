/**
 * The session API (src/sessions): LiveAvatar's token / start / stop / keep-alive calls on the
 * user's LiveKit, driven over HTTP against the fake LiveKit server API through the real
 * livekit-server-sdk. Every refusal is checked for its status, its one line, and that nothing
 * was created at LiveKit.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TokenVerifier, TrackSource } from 'livekit-server-sdk';
import { loadSettings } from '../src/config/settings.ts';
import { ConfigError } from '../src/config/errors.ts';
import { settingsForDispatch } from '../src/dispatch_settings.ts';
import { loadSessionsConfig } from '../src/sessions/config.ts';
import {
  API_KEY,
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
function expectRefused(answer: { status: number; body: any }, status: number, message: RegExp) {
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
    // The deadline the agent can read, in the room's metadata.
    const meta = JSON.parse(room.metadata);
    expect(meta.session.id).toBe(issued.body.data.session_id);
    expect(meta.session.max_session_duration).toBe(1200);
    expect(Date.parse(meta.session.ends_at) - Date.now()).toBeGreaterThan(1190_000);
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
    void TrackSource;
  });
});
