/**
 * LiveAvatar's sessions REST API, the calls a LITE session needs: create a session token (with
 * the API key), start the session and stop it (with the session token). Responses are wrapped as
 * `{code, data, message}`; validation errors come as FastAPI's `{detail: [{loc, msg}]}`.
 *
 * Errors name the call, the HTTP status and LiveAvatar's message, never a key or token.
 */
import { z } from 'zod';
import type { Secret } from '../../config/secret.ts';
import { DEFAULT_LIVEAVATAR_API_URL } from '../../config/settings.ts';

/** How a call failed: the kinds a caller may tell apart (all of them fall back to our face). */
export type LiveAvatarFailure =
  'unauthorized' | 'no_credits' | 'invalid' | 'server' | 'network' | 'protocol';

export class LiveAvatarError extends Error {
  override name = 'LiveAvatarError';
  readonly failure: LiveAvatarFailure;
  readonly status?: number;

  constructor(message: string, failure: LiveAvatarFailure, status?: number) {
    super(message);
    this.failure = failure;
    if (status !== undefined) this.status = status;
  }
}

/** The LITE session config LiveAvatar takes (`/v1/sessions/token`). */
export interface LiteSessionConfig {
  mode: 'LITE';
  avatar_id: string;
  is_sandbox?: boolean;
  video_settings?: { quality?: string; encoding?: string };
  max_session_duration?: number;
  livekit_config: { livekit_url: string; livekit_room: string; livekit_client_token: string };
}

export interface StartedSession {
  sessionId: string;
  /** The LITE WebSocket to stream audio on. */
  wsUrl: string;
  maxSessionDurationSeconds?: number;
}

export interface LiveAvatarApiOptions {
  apiKey: Secret;
  /** Default https://api.liveavatar.com (LIVEAVATAR_API_URL: a proxy or a local stand-in). */
  baseUrl?: string;
  /** Per request. Default 10000 ms. */
  timeoutMs?: number;
}

const WRAPPED = z.object({ data: z.unknown().optional(), message: z.string().optional() });
const TOKEN = z.object({ session_id: z.string().min(1), session_token: z.string().min(1) });
const START = z.object({
  session_id: z.string().min(1),
  ws_url: z.string().regex(/^wss?:\/\//),
  max_session_duration: z.number().optional(),
});
const VALIDATION = z.object({
  detail: z.array(z.object({ loc: z.array(z.unknown()).optional(), msg: z.string() })).min(1),
});

export class LiveAvatarApi {
  readonly #apiKey: Secret;
  readonly #baseUrl: string;
  readonly #timeoutMs: number;

  constructor({
    apiKey,
    baseUrl = DEFAULT_LIVEAVATAR_API_URL,
    timeoutMs = 10_000,
  }: LiveAvatarApiOptions) {
    this.#apiKey = apiKey;
    this.#baseUrl = baseUrl.replace(/\/+$/, '');
    this.#timeoutMs = timeoutMs;
  }

  /** POST /v1/sessions/token: a session (id and token) for `config`. */
  async createSession(config: LiteSessionConfig): Promise<{ sessionId: string; token: string }> {
    const data = await this.#post('token', config, { 'x-api-key': this.#apiKey.reveal() });
    const parsed = parseData(TOKEN, data, 'token');
    return { sessionId: parsed.session_id, token: parsed.session_token };
  }

  /** POST /v1/sessions/start: LiveAvatar sends the avatar into the room; returns the LITE socket. */
  async startSession(token: string): Promise<StartedSession> {
    const data = await this.#post('start', {}, bearer(token));
    const parsed = parseData(START, data, 'start');
    return {
      sessionId: parsed.session_id,
      wsUrl: parsed.ws_url,
      ...(parsed.max_session_duration !== undefined
        ? { maxSessionDurationSeconds: parsed.max_session_duration }
        : {}),
    };
  }

  /** POST /v1/sessions/stop with one of LiveAvatar's reasons (USER_CLOSED, MAX_DURATION_REACHED...). */
  async stopSession(token: string, sessionId: string, reason: string): Promise<void> {
    await this.#post('stop', { session_id: sessionId, reason }, bearer(token));
  }

  async #post(call: string, json: unknown, headers: Record<string, string>): Promise<unknown> {
    const url = `${this.#baseUrl}/v1/sessions/${call}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
        body: JSON.stringify(json),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
      throw new LiveAvatarError(
        `LiveAvatar ${call}: ${this.#baseUrl} unreachable (${cause})`,
        'network',
      );
    }
    const text = await response.text().catch(() => '');
    let payload: unknown;
    try {
      payload = text ? JSON.parse(text) : undefined;
    } catch {
      payload = undefined;
    }
    if (!response.ok) {
      const status = response.status;
      throw new LiveAvatarError(
        `LiveAvatar ${call}: HTTP ${status}: ${describeError(payload)}`,
        failureOf(status, payload),
        status,
      );
    }
    const wrapped = WRAPPED.safeParse(payload);
    return wrapped.success ? wrapped.data.data : undefined;
  }
}

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

function parseData<T>(schema: z.ZodType<T>, data: unknown, call: string): T {
  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    throw new LiveAvatarError(
      `LiveAvatar ${call}: an answer without the expected data`,
      'protocol',
    );
  }
  return parsed.data;
}

/** LiveAvatar's message, or the first validation problem as `field: message`. */
function describeError(payload: unknown): string {
  const validation = VALIDATION.safeParse(payload);
  if (validation.success) {
    const [first] = validation.data.detail;
    const field = (first!.loc ?? []).filter((p) => p !== 'body').join('.');
    return field ? `${field}: ${first!.msg}` : first!.msg;
  }
  const wrapped = WRAPPED.safeParse(payload);
  const message = wrapped.success ? wrapped.data.message : undefined;
  return (message ?? 'no message').slice(0, 200);
}

function failureOf(status: number, payload: unknown): LiveAvatarFailure {
  if (status === 401 || status === 403) return 'unauthorized';
  if (status === 402 || /credit/i.test(describeError(payload))) return 'no_credits';
  if (status === 400 || status === 404 || status === 422) return 'invalid';
  return 'server';
}
