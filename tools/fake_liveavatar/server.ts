/**
 * A local fake of LiveAvatar's API for offline tests and the console: the sessions REST calls
 * (`/v1/sessions/token`, `/start`, `/stop`, `/keep-alive`, wrapped as `{code, data, message}`)
 * and the LITE mode WebSocket, playing the audio it is sent in real time and answering in either
 * or both event dialects LiveAvatar speaks:
 *
 * - documented: `agent.speak_started` / `agent.speak_ended {event_id, task: {id}}`;
 * - observed on live sessions: `agent.state_updated {previous_state, new_state}` and the
 *   `agent.audio_buffer_appended | committed | cleared` acknowledgements (`source_event_id`).
 *
 * It records every request and every command (with the audio decoded), checks what LiveAvatar
 * checks (the API key, the session token, the LITE schema, base64 PCM16 in packets of at most
 * 1 MB, commands only after `session.state_updated: connected`), and can fail the ways
 * LiveAvatar fails: 401, 422, no credits, a lost socket, an `error` event such as
 * `video_starvation`, a session LiveAvatar ends, a slow or missing interrupt acknowledgement, lost
 * playback events. Its knowledge of the protocol is deliberately its own (from LiveAvatar's docs
 * and observed traffic), not the client's.
 */
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';

export const SAMPLE_RATE = 24_000;
/** LiveAvatar closes the connection on a packet over 1 MB. */
export const MAX_PACKET_BYTES = 1024 * 1024;
export const DEFAULT_API_KEY = 'fake-liveavatar-api-key';
const QUALITIES = ['very_high', 'high', 'medium', 'low'];
const ENCODINGS = ['VP8', 'H264'];
const LITE_FIELDS = new Set([
  'mode',
  'avatar_id',
  'is_sandbox',
  'video_settings',
  'max_session_duration',
  'livekit_config',
  'agora_config',
  'gemini_realtime_config',
  'openai_realtime_config',
  'elevenlabs_agent_config',
]);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type Dialect = 'documented' | 'observed' | 'both';
/** A REST failure to answer with: 401 bad key, 422 validation, 402 no credits (status assumed). */
export type RestFailure = 'unauthorized' | 'invalid' | 'no_credits' | 'server_error';

export interface FakeLiveAvatarOptions {
  /** The API key `X-API-KEY` must carry. Default DEFAULT_API_KEY. */
  apiKey?: string;
  /** Which events the socket answers with. Default 'both'. */
  dialect?: Dialect;
  /** Delay before `session.state_updated: connected`. Default 20 ms. */
  connectDelayMs?: number;
  /** Delay before an interrupt is acknowledged. Default 0. */
  interruptAckDelayMs?: number;
  /** Never acknowledge an interrupt (no cleared / interrupted / ended event). Default false. */
  dropInterruptAcks?: boolean;
  /** Send no playback events (started, ended, state updates). Default false. */
  dropPlaybackEvents?: boolean;
}

/** One REST request as received (the API key and tokens are not kept, only whether they matched). */
export interface RecordedRequest {
  at: number;
  method: string;
  path: string;
  /** The parsed JSON body, or undefined. */
  body: Record<string, unknown> | undefined;
  auth: 'api_key' | 'bearer' | 'bad_key' | 'bad_token' | 'none';
  status: number;
}

/** One socket command as received. */
export interface RecordedCommand {
  /** performance.now() at arrival. */
  at: number;
  session: string;
  type: string;
  eventId?: string;
  /** Size of the text frame in bytes. */
  bytes: number;
  /** agent.speak: the decoded PCM16 samples. */
  audio?: Int16Array;
  /** Sent before `connected`: dropped, as LiveAvatar drops it. */
  dropped?: boolean;
}

/** What a session was created with and what happened to it. */
export interface FakeLiveSession {
  id: string;
  /** The token request body (LiveAvatar's LITE config). */
  config: Record<string, unknown>;
  started: boolean;
  /** `/v1/sessions/stop`'s reason, once stopped. */
  stopReason?: string;
  keepAlives: number;
  /** The socket is connected. */
  connected: boolean;
  commands: RecordedCommand[];
  /** Every event the fake sent on the socket, in order. */
  events: { at: number; event: Record<string, unknown> }[];
  /** Protocol violations the fake saw (bad audio, oversized packets, unknown commands). */
  violations: string[];
  /** Utterances LiveAvatar "played" to the end, by event id, with their sample counts. */
  played: { eventId: string; samples: number; interrupted: boolean }[];
  /** Send a raw event to the client. */
  send(event: Record<string, unknown>): void;
  /** Drop the socket as a network failure would (no close frame). */
  dropSocket(): void;
  /** End the session as LiveAvatar does (credits ran out, max duration): closing, closed, close. */
  end(reason: string): void;
}

interface Utterance {
  eventId: string;
  samples: number;
  ended: boolean;
  /** performance.now() when it started to play, and how much had played when it stopped. */
  startedAt?: number;
}

const body = (data: unknown, message = 'success', code = 100) =>
  JSON.stringify({ code, data, message });

export class FakeLiveAvatarServer {
  /** 'http://127.0.0.1:PORT': LIVEAVATAR_API_URL. */
  readonly baseUrl: string;
  readonly requests: RecordedRequest[] = [];
  readonly sessions: FakeLiveSession[] = [];
  readonly #options: Required<FakeLiveAvatarOptions>;
  readonly #http: Server;
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: 4 * MAX_PACKET_BYTES });
  readonly #failures = new Map<string, RestFailure[]>();
  readonly #tokens = new Map<string, FakeLiveSession>();
  readonly #sockets = new Set<WebSocket>();

  static async start(options: FakeLiveAvatarOptions = {}): Promise<FakeLiveAvatarServer> {
    const http = createServer();
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(0, '127.0.0.1', () => resolve());
    });
    return new FakeLiveAvatarServer(http, options);
  }

  private constructor(http: Server, options: FakeLiveAvatarOptions) {
    this.#http = http;
    this.#options = {
      apiKey: DEFAULT_API_KEY,
      dialect: 'both',
      connectDelayMs: 20,
      interruptAckDelayMs: 0,
      dropInterruptAcks: false,
      dropPlaybackEvents: false,
      ...options,
    };
    this.baseUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    http.on('request', (req, res) => {
      this.#serve(req, res).catch((error: unknown) => {
        res.writeHead(500).end(body(null, String(error), 500));
      });
    });
    http.on('upgrade', (req, socket, head) => {
      const match = /^\/v1\/ws\/([^/?]+)/.exec(req.url ?? '');
      const session = this.sessions.find((s) => s.id === match?.[1] && s.started);
      if (!session || session.stopReason !== undefined) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, session));
    });
  }

  /** Every command of every session, in arrival order. */
  get commands(): RecordedCommand[] {
    return this.sessions.flatMap((s) => s.commands).sort((a, b) => a.at - b.at);
  }

  /** Answer the next call to `endpoint` ('token', 'start', 'stop', 'keep-alive') with a failure. */
  failNext(endpoint: string, failure: RestFailure): void {
    const list = this.#failures.get(endpoint) ?? [];
    list.push(failure);
    this.#failures.set(endpoint, list);
  }

  /** Resolve once `predicate` holds (checked every 10 ms). */
  async waitFor(
    predicate: (fake: FakeLiveAvatarServer) => boolean,
    timeoutMs = 10_000,
    what = 'condition',
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this)) {
      if (Date.now() > deadline) {
        throw new Error(`fake LiveAvatar: waitFor(${what}) timed out after ${timeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async close(): Promise<void> {
    for (const ws of this.#sockets) ws.terminate();
    this.#wss.close();
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  // ---- REST ------------------------------------------------------------------------------------

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let parsed: Record<string, unknown> | undefined;
    try {
      parsed = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as never) : {};
    } catch {
      parsed = undefined;
    }
    const path = (req.url ?? '').split('?')[0]!;
    const endpoint = /^\/v1\/sessions\/(token|start|stop|keep-alive)$/.exec(path)?.[1];
    const key = req.headers['x-api-key'];
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const bySession = bearer ? this.#tokens.get(bearer) : undefined;
    const auth: RecordedRequest['auth'] =
      key !== undefined
        ? key === this.#options.apiKey
          ? 'api_key'
          : 'bad_key'
        : bearer !== undefined
          ? bySession
            ? 'bearer'
            : 'bad_token'
          : 'none';
    const record: RecordedRequest = {
      at: performance.now(),
      method: req.method ?? '',
      path,
      body: parsed,
      auth,
      status: 0,
    };
    this.requests.push(record);
    const answer = (status: number, text: string) => {
      record.status = status;
      res.writeHead(status, { 'content-type': 'application/json' }).end(text);
    };
    if (req.method !== 'POST' || !endpoint) return answer(404, body(null, 'Not Found', 404));
    const failure = this.#failures.get(endpoint)?.shift();
    if (failure) return answer(...failureAnswer(failure));
    // /token takes only the API key; the others the session token (or the key, for stop).
    const keyOk = auth === 'api_key';
    const tokenOk = auth === 'bearer';
    if (endpoint === 'token' ? !keyOk : !(tokenOk || (keyOk && endpoint !== 'start'))) {
      return answer(...failureAnswer('unauthorized'));
    }
    if (!parsed) return answer(422, validation(['body'], 'JSON decode error'));

    if (endpoint === 'token') {
      const problems = liteProblems(parsed);
      if (problems.length) return answer(422, validation(...problems[0]!));
      const session = this.#newSession(parsed);
      const token = `fake-session-token-${randomUUID()}`;
      this.#tokens.set(token, session);
      return answer(200, body({ session_id: session.id, session_token: token }));
    }
    const session = bySession ?? this.sessions.find((s) => s.id === parsed.session_id);
    if (!session) return answer(404, body(null, 'Session not found', 404));
    if (endpoint === 'start') {
      if (session.started) return answer(400, body(null, 'Session already started', 400));
      session.started = true;
      const duration = session.config.max_session_duration;
      return answer(
        201,
        body({
          session_id: session.id,
          livekit_url: (session.config.livekit_config as { livekit_url?: string }).livekit_url,
          livekit_client_token: 'fake-client-token',
          ws_url: `${this.baseUrl.replace(/^http/, 'ws')}/v1/ws/${session.id}`,
          ...(typeof duration === 'number' ? { max_session_duration: duration } : {}),
        }),
      );
    }
    if (endpoint === 'stop') {
      session.stopReason = typeof parsed.reason === 'string' ? parsed.reason : 'USER_CLOSED';
      return answer(200, body({ session_id: session.id }));
    }
    session.keepAlives += 1;
    return answer(200, body({ session_id: session.id }));
  }

  #newSession(config: Record<string, unknown>): FakeLiveSession {
    const session: FakeLiveSession = {
      id: randomUUID(),
      config,
      started: false,
      keepAlives: 0,
      connected: false,
      commands: [],
      events: [],
      violations: [],
      played: [],
      send: () => {},
      dropSocket: () => {},
      end: () => {},
    };
    this.sessions.push(session);
    return session;
  }

  // ---- the LITE WebSocket ----------------------------------------------------------------------

  #accept(ws: WebSocket, session: FakeLiveSession): void {
    this.#sockets.add(ws);
    const { dialect } = this.#options;
    const documented = dialect !== 'observed';
    const observed = dialect !== 'documented';
    let state: 'idle' | 'listening' | 'talking' = 'idle';
    const queue: Utterance[] = [];
    let timer: NodeJS.Timeout | undefined;
    let interruptTimer: NodeJS.Timeout | undefined;

    const send = (event: Record<string, unknown>) => {
      if (ws.readyState !== ws.OPEN) return;
      session.events.push({ at: performance.now(), event });
      ws.send(JSON.stringify(event));
    };
    session.send = send;
    session.dropSocket = () => {
      session.connected = false;
      ws.terminate();
    };
    session.end = (reason: string) => {
      session.stopReason = reason;
      send({ type: 'session.state_updated', state: 'closing' });
      send({ type: 'session.state_updated', state: 'closed' });
      ws.close(1000, reason);
    };
    const playbackEvent = (event: Record<string, unknown>) => {
      if (!this.#options.dropPlaybackEvents) send(event);
    };
    const setState = (next: typeof state) => {
      if (next === state) return;
      if (observed) {
        playbackEvent({ type: 'agent.state_updated', previous_state: state, new_state: next });
      }
      state = next;
    };

    // Real-time playback of the queue's head: started when it has audio, ended when all of it has
    // played and speak_end came; it waits (starved) while audio is still to come.
    const play = () => {
      clearTimeout(timer);
      const head = queue[0];
      if (!head) {
        setState('listening');
        return;
      }
      const now = performance.now();
      if (head.startedAt === undefined) {
        if (head.samples === 0) return;
        head.startedAt = now;
        if (documented) {
          playbackEvent({
            type: 'agent.speak_started',
            event_id: head.eventId,
            task: { id: head.eventId },
          });
        }
        setState('talking');
      }
      const endsAt = head.startedAt + (head.samples / SAMPLE_RATE) * 1000;
      if (now < endsAt || !head.ended) {
        if (now < endsAt) timer = setTimeout(play, endsAt - now);
        return;
      }
      queue.shift();
      session.played.push({ eventId: head.eventId, samples: head.samples, interrupted: false });
      if (documented) {
        playbackEvent({
          type: 'agent.speak_ended',
          event_id: head.eventId,
          task: { id: head.eventId },
        });
      }
      play();
    };
    const utterance = (eventId: string): Utterance => {
      let u = queue.find((q) => q.eventId === eventId);
      if (!u) {
        u = { eventId, samples: 0, ended: false };
        queue.push(u);
      }
      return u;
    };
    const interrupt = (eventId: string | undefined) => {
      const head = queue[0];
      const wasTalking = head?.startedAt !== undefined;
      if (head?.startedAt !== undefined) {
        const playedMs = performance.now() - head.startedAt;
        const samples = Math.min(head.samples, Math.round((playedMs * SAMPLE_RATE) / 1000));
        session.played.push({ eventId: head.eventId, samples, interrupted: true });
      }
      queue.splice(0);
      clearTimeout(timer);
      if (this.#options.dropInterruptAcks) {
        state = 'listening';
        return;
      }
      const ack = () => {
        if (documented && wasTalking) {
          send({ type: 'agent.speak_interrupted', event_id: head!.eventId });
          playbackEvent({
            type: 'agent.speak_ended',
            event_id: head!.eventId,
            task: { id: head!.eventId },
          });
        }
        if (observed) send({ type: 'agent.audio_buffer_cleared', source_event_id: eventId });
        setState('listening');
      };
      clearTimeout(interruptTimer);
      if (this.#options.interruptAckDelayMs > 0) {
        interruptTimer = setTimeout(ack, this.#options.interruptAckDelayMs);
      } else ack();
    };

    ws.on('message', (data: RawData, isBinary) => {
      const text = isBinary ? '' : data.toString();
      const bytes = Buffer.byteLength(text);
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(text) as Record<string, unknown>;
      } catch {
        session.violations.push(`a frame that is not JSON (${bytes} bytes)`);
        return;
      }
      const type = String(msg.type);
      const eventId = typeof msg.event_id === 'string' ? msg.event_id : undefined;
      const command: RecordedCommand = {
        at: performance.now(),
        session: session.id,
        type,
        bytes,
        ...(eventId !== undefined ? { eventId } : {}),
      };
      session.commands.push(command);
      if (bytes > MAX_PACKET_BYTES) {
        session.violations.push(`${type}: ${bytes} bytes is over 1 MB`);
        ws.close(1009, 'message too big');
        return;
      }
      if (!session.connected) {
        command.dropped = true;
        return;
      }
      switch (type) {
        case 'agent.speak': {
          const audio = typeof msg.audio === 'string' ? Buffer.from(msg.audio, 'base64') : null;
          if (!audio || audio.length === 0 || audio.length % 2 !== 0 || !eventId) {
            session.violations.push(`agent.speak without event_id or whole PCM16 samples`);
            return;
          }
          const samples = new Int16Array(audio.buffer, audio.byteOffset, audio.length / 2).slice();
          command.audio = samples;
          if (observed) send({ type: 'agent.audio_buffer_appended', source_event_id: eventId });
          const u = utterance(eventId);
          if (u.ended) session.violations.push(`agent.speak after speak_end for ${eventId}`);
          u.samples += samples.length;
          play();
          return;
        }
        case 'agent.speak_end': {
          if (!eventId) {
            session.violations.push('agent.speak_end without event_id');
            return;
          }
          const u = queue.find((q) => q.eventId === eventId);
          if (u) u.ended = true;
          if (observed) send({ type: 'agent.audio_buffer_committed', source_event_id: eventId });
          play();
          return;
        }
        case 'agent.interrupt':
          interrupt(eventId);
          return;
        case 'session.keep_alive':
          session.keepAlives += 1;
          return;
        case 'agent.start_listening':
          if (state !== 'talking') setState('listening');
          return;
        case 'agent.stop_listening':
          if (state !== 'talking') setState('idle');
          return;
        default:
          session.violations.push(`unknown command ${JSON.stringify(type)}`);
      }
    });
    ws.on('close', () => {
      session.connected = false;
      clearTimeout(timer);
      clearTimeout(interruptTimer);
      this.#sockets.delete(ws);
    });
    send({ type: 'session.state_updated', state: 'connecting' });
    setTimeout(() => {
      if (ws.readyState !== ws.OPEN) return;
      session.connected = true;
      send({ type: 'session.state_updated', state: 'connected' });
    }, this.#options.connectDelayMs);
  }
}

function validation(loc: string[], msg: string): string {
  return JSON.stringify({ detail: [{ type: 'value_error', loc: ['body', ...loc], msg }] });
}

function failureAnswer(failure: RestFailure): [number, string] {
  switch (failure) {
    case 'unauthorized':
      return [401, body(null, 'Invalid API key or session token', 401)];
    case 'invalid':
      return [422, validation(['avatar_id'], 'Avatar not found')];
    case 'no_credits':
      return [402, body(null, 'Insufficient credits to start a session', 402)];
    case 'server_error':
      return [500, body(null, 'Internal server error', 500)];
  }
}

/** What LiveAvatar's LITE token schema refuses, as [location, message] pairs. */
function liteProblems(config: Record<string, unknown>): [string[], string][] {
  const problems: [string[], string][] = [];
  for (const key of Object.keys(config)) {
    if (!LITE_FIELDS.has(key)) problems.push([[key], 'Extra inputs are not permitted']);
  }
  if (config.mode !== 'LITE') problems.push([['mode'], "Input should be 'LITE'"]);
  if (typeof config.avatar_id !== 'string' || !UUID.test(config.avatar_id)) {
    problems.push([['avatar_id'], 'Input should be a valid UUID']);
  }
  if ('is_sandbox' in config && typeof config.is_sandbox !== 'boolean') {
    problems.push([['is_sandbox'], 'Input should be a valid boolean']);
  }
  const video = config.video_settings as Record<string, unknown> | undefined;
  if (video !== undefined) {
    if (typeof video !== 'object' || video === null) {
      problems.push([['video_settings'], 'Input should be an object']);
    } else {
      if ('quality' in video && !QUALITIES.includes(String(video.quality))) {
        problems.push([['video_settings', 'quality'], 'Input should be a known quality']);
      }
      if ('encoding' in video && !ENCODINGS.includes(String(video.encoding))) {
        problems.push([['video_settings', 'encoding'], 'Input should be VP8 or H264']);
      }
    }
  }
  const duration = config.max_session_duration;
  if (duration !== undefined && !(Number.isInteger(duration) && (duration as number) > 0)) {
    problems.push([['max_session_duration'], 'Input should be a positive integer']);
  }
  const livekit = config.livekit_config as Record<string, unknown> | undefined;
  if (livekit !== undefined) {
    for (const field of ['livekit_url', 'livekit_room', 'livekit_client_token']) {
      if (typeof livekit[field] !== 'string' || livekit[field] === '') {
        problems.push([['livekit_config', field], 'Field required']);
      }
    }
  }
  return problems;
}
