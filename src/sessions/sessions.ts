/**
 * Sessions from token to end: the in-memory store, the LiveKit calls (room, dispatch, client
 * token) and the timers that end a session on time.
 *
 * A session is `issued` by POST /v1/sessions/token, `starting` while its room and dispatch are
 * being made, `started` once the user has a client token, and `ended` with a LiveAvatar end
 * reason. A start that fails at LiveKit deletes what it made and puts the session back to
 * `issued`, so its token can try again; a start that succeeded uses the token up.
 *
 * How long a session runs: it ends at `endsAt`, the earlier of its start + max_session_duration
 * (its JSON's, at most SESSIONS_MAX_DURATION_S; that setting when the JSON sets none) and, when
 * SESSIONS_IDLE_TIMEOUT_S is set, its last keep-alive + that timeout. The room's metadata always
 * holds the current end (room_metadata.ts, the contract with the agent), so the agent ends the
 * call itself at that time; this service deletes the room `endGraceMs` later whatever happened,
 * so a session never outlives its limit by more than that.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { AgentDispatchClient, RoomServiceClient } from 'livekit-server-sdk';
import type { Secret } from '../config/secret.ts';
import { ApiError } from './api_error.ts';
import { mintClientToken } from './client_token.ts';
import { writeSessionDeadline } from './room_metadata.ts';
import { SessionTokenError, type SessionTokens } from './session_tokens.ts';

/** LiveAvatar's session end reasons (StopSessionSchema.reason). */
export const END_REASONS = [
  'UNKNOWN',
  'USER_DISCONNECTED',
  'SERVER_ERROR',
  'IDLE_TIMEOUT',
  'NO_CREDITS',
  'USER_CLOSED',
  'AVATAR_DELETED',
  'MAX_DURATION_REACHED',
  'ZOMBIE_SESSION_REAP',
  'AGENT_HANG_UP',
] as const;
export type EndReason = (typeof END_REASONS)[number];

export type SessionState = 'issued' | 'starting' | 'started' | 'ended';

export interface SessionRecord {
  readonly id: string;
  /** Fingerprint of the API key that created it. */
  readonly keyId: string;
  /** The validated session JSON, exactly as it goes out as dispatch metadata. */
  readonly metadata: string;
  readonly tokenId: string;
  readonly tokenExpiresAt: number;
  readonly maxDurationMs: number;
  state: SessionState;
  room?: string;
  dispatchId?: string;
  startedAt?: number;
  endsAt?: number;
  keepAlives: number;
  endedAt?: number;
  endReason?: EndReason;
}

export interface StartedSession {
  session_id: string;
  livekit_url: string;
  livekit_client_token: string;
  max_session_duration: number;
}

export interface KeptAlive {
  session_id: string;
  /** When the session ends now (ISO 8601). */
  ends_at: string;
}

export interface SessionManagerOptions {
  /** The LiveKit server the worker uses (from the worker's settings). */
  livekit: { url: string; apiKey: Secret; apiSecret: Secret };
  /** The LiveKit URL users are given. */
  publicLivekitUrl: string;
  /** The worker's agent name, to dispatch it by. */
  agentName: string;
  tokens: SessionTokens;
  /** Lifetime of the LiveKit token handed to the user, in ms. */
  clientTokenTtlMs: number;
  /**
   * The longest a session may run, in ms: its length when its JSON sets no `max_session_duration`,
   * and the cap on one that does.
   */
  maxDurationMs: number;
  /** End a session this long after its start or last keep-alive; 0: never. */
  idleTimeoutMs: number;
  /** A room nobody joins closes after this long (LiveKit's empty timeout), in ms. */
  joinTimeoutMs: number;
  /** Sessions one API key may have starting or running at once. */
  maxConcurrentPerKey: number;
  /** How long after `endsAt` this service deletes the room (the agent ends the call first). */
  endGraceMs?: number;
  /** How long an ended session is remembered (a repeated stop answers with its reason). */
  retentionMs?: number;
  logger: Logger;
  now?: () => number;
}

/** LiveKit deletes a room this long after its last participant left. */
const DEPARTURE_TIMEOUT_S = 10;
const DEFAULT_END_GRACE_MS = 5_000;
const DEFAULT_RETENTION_MS = 60 * 60_000;

function livekitFailure(what: string, error: unknown): ApiError {
  const detail =
    error instanceof Error
      ? `${(error as { status?: number }).status ?? ''} ${error.message}`.trim()
      : String(error);
  return new ApiError(502, `LiveKit: could not ${what} (${detail})`);
}

function alreadyStarted(record: SessionRecord): ApiError {
  return new ApiError(
    409,
    `Authorization: this session token already started session ${record.id} (a session token starts one session; create a new one)`,
  );
}

function isNotFound(error: unknown): boolean {
  return (error as { status?: number } | undefined)?.status === 404;
}

/** Emits 'ended' (SessionRecord) when a session ends, whatever ended it. */
export class SessionManager extends EventEmitter {
  readonly #options: SessionManagerOptions;
  readonly #rooms: RoomServiceClient;
  readonly #dispatches: AgentDispatchClient;
  readonly #sessions = new Map<string, SessionRecord>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #now: () => number;
  readonly #log: Logger;

  constructor(options: SessionManagerOptions) {
    super();
    this.#options = options;
    const { url, apiKey, apiSecret } = options.livekit;
    this.#rooms = new RoomServiceClient(url, apiKey.reveal(), apiSecret.reveal());
    this.#dispatches = new AgentDispatchClient(url, apiKey.reveal(), apiSecret.reveal());
    this.#now = options.now ?? Date.now;
    this.#log = options.logger;
  }

  /**
   * A session for validated session JSON; returns its id and the token that starts it.
   * `maxSessionDurationS` is the JSON's `max_session_duration`, capped at the service's maximum.
   */
  async issue(
    keyId: string,
    metadata: string,
    maxSessionDurationS?: number,
  ): Promise<{ session_id: string; session_token: string }> {
    this.#forgetOld();
    const { maxDurationMs } = this.#options;
    const id = randomUUID();
    const { token, claims } = await this.#options.tokens.issue(id);
    this.#sessions.set(id, {
      id,
      keyId,
      metadata,
      tokenId: claims.tokenId,
      tokenExpiresAt: claims.expiresAt,
      maxDurationMs:
        maxSessionDurationS === undefined
          ? maxDurationMs
          : Math.min(maxSessionDurationS * 1000, maxDurationMs),
      state: 'issued',
      keepAlives: 0,
    });
    this.#log.info({ session_id: id, key: keyId }, 'session token issued');
    return { session_id: id, session_token: token };
  }

  /**
   * The session a Bearer token names. For a start (`forStart`), the token must be unexpired and
   * unused; otherwise it may have expired, as long as it names a session that started.
   */
  async byToken(bearer: string | undefined, forStart: boolean): Promise<SessionRecord> {
    if (!bearer) {
      throw new ApiError(
        401,
        'Authorization: missing (allowed: Bearer <session_token> from POST /v1/sessions/token)',
      );
    }
    let claimsSessionId: string;
    let claimsTokenId: string;
    try {
      const claims = await this.#options.tokens.verify(bearer);
      claimsSessionId = claims.sessionId;
      claimsTokenId = claims.tokenId;
    } catch (error) {
      if (!(error instanceof SessionTokenError)) throw error;
      const claims = error.claims;
      const record = claims && this.#sessions.get(claims.sessionId);
      if (!claims || forStart || !record || record.state === 'issued') {
        throw new ApiError(
          401,
          claims
            ? `Authorization: the session token expired at ${new Date(claims.expiresAt).toISOString()} (a session token starts its session within ${Math.round(this.#options.tokens.ttlMs / 1000)} s; create a new one)`
            : 'Authorization: not a valid session token (allowed: Bearer <session_token> from POST /v1/sessions/token of this service)',
        );
      }
      claimsSessionId = claims.sessionId;
      claimsTokenId = claims.tokenId;
    }
    const record = this.#sessions.get(claimsSessionId);
    if (!record || record.tokenId !== claimsTokenId) {
      // Signed by this process but forgotten (ended long ago): nothing to act on.
      throw new ApiError(
        401,
        `Authorization: session ${claimsSessionId} is not known here any more`,
      );
    }
    if (forStart && record.state !== 'issued') throw alreadyStarted(record);
    return record;
  }

  /** The session `sessionId` of API key `keyId`. */
  byKey(keyId: string, sessionId: unknown): SessionRecord {
    if (typeof sessionId !== 'string' || sessionId === '') {
      throw new ApiError(
        422,
        'session_id: missing (allowed: the session_id from POST /v1/sessions/token, or call with Authorization: Bearer <session_token>)',
      );
    }
    const record = this.#sessions.get(sessionId);
    if (!record || record.keyId !== keyId) {
      throw new ApiError(
        404,
        `session_id: ${JSON.stringify(sessionId.slice(0, 80))} is not a session of this API key`,
      );
    }
    return record;
  }

  /** Create the room, dispatch the agent into it and mint the user's token. */
  async start(record: SessionRecord): Promise<StartedSession> {
    // Checked again: another start with the same token may have got here during an await.
    if (record.state !== 'issued') throw alreadyStarted(record);
    // Taken before the first await: a second start with the same token now sees 'starting'.
    record.state = 'starting';
    try {
      await this.#checkConcurrency(record);
      return await this.#createRoom(record);
    } catch (error) {
      record.state = 'issued';
      throw error;
    }
  }

  /** End a session: delete its room. Ending an ended session answers with its first reason. */
  async stop(record: SessionRecord, reason: EndReason): Promise<EndReason> {
    if (record.state === 'ended') return record.endReason!;
    if (record.state !== 'started') {
      throw new ApiError(409, `session ${record.id} has not started (start it before stopping it)`);
    }
    await this.#end(record, reason);
    return record.endReason!;
  }

  /** The user is still there: with an idle timeout, move the session's end to now + timeout. */
  async keepAlive(record: SessionRecord): Promise<KeptAlive> {
    if (record.state !== 'started') {
      throw new ApiError(
        409,
        record.state === 'ended'
          ? `session ${record.id} already ended (${record.endReason})`
          : `session ${record.id} has not started (start it before keeping it alive)`,
      );
    }
    record.keepAlives += 1;
    const endsAt = this.#endsAt(record);
    if (endsAt !== record.endsAt) {
      record.endsAt = endsAt;
      this.#schedule(record);
      try {
        await this.#rooms.updateRoomMetadata(record.room!, this.#roomMetadata(record));
      } catch (error) {
        // The room still ends on time (the timer moved); the agent just sees the old end.
        this.#log.warn(
          { session_id: record.id, err: (error as Error).message },
          'keep-alive: room metadata not updated',
        );
      }
    }
    this.#log.debug(
      { session_id: record.id, keep_alives: record.keepAlives, ends_at: endsAt },
      'session kept alive',
    );
    return { session_id: record.id, ends_at: new Date(record.endsAt!).toISOString() };
  }

  /** Stop the timers (the rooms go on; LiveKit and the agent end them). */
  close(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }

  /** A session by id, for tests and logs. */
  get(id: string): SessionRecord | undefined {
    return this.#sessions.get(id);
  }

  async #checkConcurrency(record: SessionRecord): Promise<void> {
    const { maxConcurrentPerKey } = this.#options;
    if (this.#running(record).length < maxConcurrentPerKey) return;
    // Rooms end on their own when everybody leaves; forget those before refusing.
    const started = this.#running(record).filter((s) => s.state === 'started');
    try {
      const alive = new Set(
        (await this.#rooms.listRooms(started.map((s) => s.room!))).map((r) => r.name),
      );
      for (const session of started) {
        if (!alive.has(session.room!)) this.#markEnded(session, 'USER_DISCONNECTED');
      }
    } catch (error) {
      this.#log.warn({ err: (error as Error).message }, 'could not list rooms to free slots');
    }
    if (this.#running(record).length >= maxConcurrentPerKey) {
      throw new ApiError(
        429,
        `too many sessions: this API key has ${maxConcurrentPerKey} running (allowed: ${maxConcurrentPerKey} at once; stop one or wait for one to end)`,
      );
    }
  }

  /** The other sessions of the record's key that are starting or running. */
  #running(record: SessionRecord): SessionRecord[] {
    return [...this.#sessions.values()].filter(
      (s) =>
        s !== record &&
        s.keyId === record.keyId &&
        (s.state === 'started' || s.state === 'starting'),
    );
  }

  async #createRoom(record: SessionRecord): Promise<StartedSession> {
    const room = `session-${record.id}`;
    const now = this.#now();
    record.room = room;
    record.startedAt = now;
    record.endsAt = this.#endsAt(record);
    try {
      await this.#rooms.createRoom({
        name: room,
        emptyTimeout: Math.ceil(this.#options.joinTimeoutMs / 1000),
        departureTimeout: DEPARTURE_TIMEOUT_S,
        metadata: this.#roomMetadata(record),
      });
    } catch (error) {
      delete record.room;
      throw livekitFailure('create the room', error);
    }
    let clientToken: string;
    try {
      const dispatch = await this.#dispatches.createDispatch(room, this.#options.agentName, {
        metadata: record.metadata,
      });
      record.dispatchId = dispatch.id;
      clientToken = await mintClientToken({
        ...this.#options.livekit,
        room,
        ttlMs: this.#options.clientTokenTtlMs,
      });
    } catch (error) {
      await this.#deleteRoom(room, record.id);
      delete record.room;
      throw livekitFailure(`dispatch agent ${this.#options.agentName}`, error);
    }
    record.state = 'started';
    this.#schedule(record);
    this.#log.info(
      {
        session_id: record.id,
        key: record.keyId,
        room,
        dispatch_id: record.dispatchId,
        ends_at: new Date(record.endsAt).toISOString(),
      },
      'session started',
    );
    return {
      session_id: record.id,
      livekit_url: this.#options.publicLivekitUrl,
      livekit_client_token: clientToken,
      max_session_duration: Math.round(record.maxDurationMs / 1000),
    };
  }

  #endsAt(record: SessionRecord): number {
    const hardEnd = record.startedAt! + record.maxDurationMs;
    const { idleTimeoutMs } = this.#options;
    return idleTimeoutMs > 0 ? Math.min(hardEnd, this.#now() + idleTimeoutMs) : hardEnd;
  }

  #roomMetadata(record: SessionRecord): string {
    return writeSessionDeadline({
      sessionId: record.id,
      endsAt: record.endsAt!,
      maxSessionDurationS: Math.round(record.maxDurationMs / 1000),
    });
  }

  #schedule(record: SessionRecord): void {
    clearTimeout(this.#timers.get(record.id));
    const grace = this.#options.endGraceMs ?? DEFAULT_END_GRACE_MS;
    const delay = Math.max(0, record.endsAt! + grace - this.#now());
    const timer = setTimeout(() => {
      this.#timers.delete(record.id);
      const hardEnd = record.startedAt! + record.maxDurationMs;
      const reason: EndReason = record.endsAt! >= hardEnd ? 'MAX_DURATION_REACHED' : 'IDLE_TIMEOUT';
      this.#end(record, reason).catch((error: unknown) => {
        this.#log.error(
          { session_id: record.id, err: (error as Error).message },
          'could not end the session on time',
        );
      });
    }, delay);
    timer.unref();
    this.#timers.set(record.id, timer);
  }

  async #end(record: SessionRecord, reason: EndReason): Promise<void> {
    try {
      await this.#rooms.deleteRoom(record.room!);
    } catch (error) {
      if (!isNotFound(error)) throw livekitFailure('delete the room', error);
    }
    this.#markEnded(record, reason);
  }

  #markEnded(record: SessionRecord, reason: EndReason): void {
    if (record.state === 'ended') return;
    clearTimeout(this.#timers.get(record.id));
    this.#timers.delete(record.id);
    record.state = 'ended';
    record.endReason = reason;
    record.endedAt = this.#now();
    this.#log.info(
      {
        session_id: record.id,
        key: record.keyId,
        room: record.room,
        reason,
        duration_ms: record.endedAt - record.startedAt!,
        keep_alives: record.keepAlives,
      },
      'session ended',
    );
    this.emit('ended', record);
  }

  async #deleteRoom(room: string, sessionId: string): Promise<void> {
    try {
      await this.#rooms.deleteRoom(room);
    } catch (error) {
      if (isNotFound(error)) return;
      this.#log.error(
        { session_id: sessionId, room, err: (error as Error).message },
        'could not delete the room of a failed start',
      );
    }
  }

  /** Drop unstarted sessions whose token expired and ended ones past retention. */
  #forgetOld(): void {
    const now = this.#now();
    const retention = this.#options.retentionMs ?? DEFAULT_RETENTION_MS;
    for (const [id, record] of this.#sessions) {
      const expired = record.state === 'issued' && record.tokenExpiresAt <= now;
      const old = record.state === 'ended' && record.endedAt! + retention <= now;
      if (expired || old) this.#sessions.delete(id);
    }
  }
}
