/**
 * The session API over node:http: LiveAvatar's session endpoints on the user's own LiveKit.
 *
 *   POST /v1/sessions/token       X-API-KEY         session JSON -> {session_id, session_token}
 *   POST /v1/sessions/start       Bearer <token>    -> 201 {session_id, livekit_url, livekit_client_token, max_session_duration}
 *   POST /v1/sessions/stop        Bearer, or X-API-KEY + {session_id}; {reason?}
 *   POST /v1/sessions/keep-alive  Bearer, or X-API-KEY + {session_id}
 *   GET  /health; GET / (the demo page, SESSIONS_DEMO_PAGE)
 *
 * Four routes do not earn a framework: node:http, with the body limit, CORS and the envelope in
 * http_io.ts and envelope.ts. Every refusal is an ApiError: one line, the right status, and
 * nothing created at LiveKit.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { ConfigError } from '../config/errors.ts';
import type { Settings } from '../config/settings.ts';
import { settingsForDispatch } from '../dispatch_settings.ts';
import { ApiError } from './api_error.ts';
import type { SessionsConfig } from './config.ts';
import { type Asset, DEMO_PAGE_HEADERS, loadDemoAssets } from './demo_assets.ts';
import { failure, success } from './envelope.ts';
import { Cors, bearer, header, parseJsonObject, readBody, sendJson } from './http_io.ts';
import { RateLimit } from './rate_limit.ts';
import { END_REASONS, type EndReason, SessionManager, type SessionRecord } from './sessions.ts';
import { SessionTokens } from './session_tokens.ts';

export interface SessionsServerOptions {
  config: SessionsConfig;
  /** The worker's settings: LiveKit credentials, agent name, and the base a session JSON applies to. */
  settings: Settings;
  logger: Logger;
  /** The clock (ms), for tests. */
  now?: () => number;
  /** Passed to the SessionManager (tests shorten them). */
  endGraceMs?: number;
  retentionMs?: number;
}

type Route = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export class SessionsServer {
  readonly sessions: SessionManager;
  readonly #options: SessionsServerOptions;
  readonly #server: Server;
  readonly #rateLimit: RateLimit;
  readonly #cors: Cors;
  readonly #assets: Map<string, Asset>;
  readonly #routes: Record<string, Route>;
  readonly #log: Logger;

  constructor(options: SessionsServerOptions) {
    const { config, settings, logger } = options;
    if (!settings.agentName) {
      throw new ConfigError(
        "AGENT_DISPATCH: automatic dispatch has no agent name to dispatch by; the session API needs AGENT_DISPATCH=explicit (the default) and the worker's LIVEKIT_AGENT_NAME",
      );
    }
    this.#options = options;
    this.#log = logger;
    this.#rateLimit = new RateLimit({
      perMinute: config.callsPerMinutePerKey,
      ...(options.now ? { now: options.now } : {}),
    });
    this.#cors = new Cors(config.corsOrigins);
    this.#assets = config.demoPage ? loadDemoAssets() : new Map();
    this.sessions = new SessionManager({
      livekit: settings.livekit,
      publicLivekitUrl: config.publicLivekitUrl ?? settings.livekit.url,
      agentName: settings.agentName,
      tokens: new SessionTokens({
        ttlMs: config.sessionTokenTtlMs,
        ...(options.now ? { now: options.now } : {}),
      }),
      clientTokenTtlMs: config.clientTokenTtlMs,
      maxDurationMs: config.maxDurationMs,
      idleTimeoutMs: config.idleTimeoutMs,
      joinTimeoutMs: config.joinTimeoutMs,
      maxConcurrentPerKey: config.maxConcurrentPerKey,
      logger,
      ...(options.now ? { now: options.now } : {}),
      ...(options.endGraceMs !== undefined ? { endGraceMs: options.endGraceMs } : {}),
      ...(options.retentionMs !== undefined ? { retentionMs: options.retentionMs } : {}),
    });
    this.#routes = {
      'POST /v1/sessions/token': (req, res) => this.#token(req, res),
      'POST /v1/sessions/start': (req, res) => this.#start(req, res),
      'POST /v1/sessions/stop': (req, res) => this.#stop(req, res),
      'POST /v1/sessions/keep-alive': (req, res) => this.#keepAlive(req, res),
    };
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        this.#log.error({ err: (error as Error).message }, 'request failed');
        sendJson(res, 500, failure(new ApiError(500, 'internal error')));
      });
    });
  }

  static async start(options: SessionsServerOptions): Promise<SessionsServer> {
    const server = new SessionsServer(options);
    await server.listen();
    return server;
  }

  async listen(): Promise<void> {
    const { host, port } = this.#options.config;
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      if (host) this.#server.listen(port, host, () => resolve());
      else this.#server.listen(port, () => resolve());
    });
  }

  /** The base URL clients call, e.g. http://127.0.0.1:8080. */
  get url(): string {
    const { address, port } = this.#server.address() as AddressInfo;
    const host = address === '0.0.0.0' || address === '::' ? '127.0.0.1' : address;
    return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }

  /** Stop taking requests, finish the ones in flight, stop the session timers. */
  async close(): Promise<void> {
    this.sessions.close();
    this.#server.closeIdleConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://local').pathname;
    const started = performance.now();
    res.on('finish', () => {
      this.#log.debug(
        {
          method: req.method,
          path,
          status: res.statusCode,
          ms: Math.round(performance.now() - started),
        },
        'request',
      );
    });
    if (req.method === 'OPTIONS') {
      this.#cors.preflight(req, res);
      return;
    }
    const cors = this.#cors.headers(header(req, 'origin'));
    const route = this.#routes[`${req.method} ${path}`];
    try {
      if (route) {
        await route(req, res);
      } else if (req.method === 'GET' && path === '/health') {
        sendJson(res, 200, success({ status: 'ok' }, 'ok'), cors);
      } else if (req.method === 'GET' && this.#assets.has(path)) {
        const asset = this.#assets.get(path)!;
        res.writeHead(200, { 'content-type': asset.type, ...DEMO_PAGE_HEADERS }).end(asset.body);
      } else if (Object.keys(this.#routes).some((r) => r.endsWith(` ${path}`))) {
        throw new ApiError(405, `${req.method} ${path}: method not allowed (allowed: POST)`);
      } else {
        throw new ApiError(404, `${req.method} ${path}: no such endpoint`);
      }
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      this.#refuse(req, res, path, error, cors);
    }
  }

  #refuse(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    error: ApiError,
    cors: Record<string, string>,
  ): void {
    const headers: Record<string, string> = { ...cors };
    if (error.retryAfterMs !== undefined) {
      headers['retry-after'] = String(Math.max(1, Math.ceil(error.retryAfterMs / 1000)));
    }
    // A body we stopped reading cannot be drained: close the connection after answering.
    if (error.status === 413) headers.connection = 'close';
    const level = error.status >= 500 ? 'error' : 'info';
    this.#log[level](
      { method: req.method, path, status: error.status },
      `refused: ${error.message}`,
    );
    sendJson(res, error.status, failure(error), headers);
  }

  #reply(req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void {
    sendJson(res, status, body, this.#cors.headers(header(req, 'origin')));
  }

  /** The API key's fingerprint, or 401. */
  #apiKey(req: IncomingMessage): string {
    const presented = header(req, 'x-api-key');
    if (!presented) {
      throw new ApiError(
        401,
        'X-API-KEY: missing (allowed: one of the keys in SESSION_API_KEYS_FILE)',
      );
    }
    const keyId = this.#options.config.apiKeys.match(presented);
    if (!keyId) throw new ApiError(401, 'X-API-KEY: not a valid API key');
    return keyId;
  }

  #charge(keyId: string): void {
    const waitMs = this.#rateLimit.take(keyId);
    if (waitMs > 0) {
      const limit = this.#options.config.callsPerMinutePerKey;
      throw new ApiError(
        429,
        `too many requests: this API key made more than ${limit} calls in a minute (allowed: ${limit} a minute; retry after ${Math.ceil(waitMs / 1000)} s)`,
        { retryAfterMs: waitMs },
      );
    }
  }

  async #body(req: IncomingMessage, optional: boolean): Promise<Record<string, unknown>> {
    return parseJsonObject(await readBody(req, this.#options.config.maxBodyBytes), optional);
  }

  async #token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const keyId = this.#apiKey(req);
    this.#charge(keyId);
    const body = await this.#body(req, false);
    // Dispatch metadata is exactly the JSON that was validated (compact, same content).
    const metadata = JSON.stringify(body);
    let settings: Settings;
    try {
      ({ settings } = settingsForDispatch(this.#options.settings, metadata));
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      throw new ApiError(422, error.problems);
    }
    const issued = await this.sessions.issue(
      keyId,
      metadata,
      settings.call.maxSessionDurationSeconds,
    );
    this.#reply(req, res, 200, success(issued, 'Session token created'));
  }

  async #start(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const record = await this.sessions.byToken(bearer(req), true);
    this.#charge(record.keyId);
    await readBody(req, this.#options.config.maxBodyBytes);
    const started = await this.sessions.start(record);
    this.#reply(req, res, 201, success(started, 'Session started'));
  }

  /** The session a stop or keep-alive is about: by Bearer token, or by API key + session_id. */
  async #target(
    req: IncomingMessage,
  ): Promise<{ record: SessionRecord; body: Record<string, unknown> }> {
    if (header(req, 'x-api-key') !== undefined) {
      const keyId = this.#apiKey(req);
      this.#charge(keyId);
      const body = await this.#body(req, true);
      return { record: this.sessions.byKey(keyId, body.session_id), body };
    }
    const record = await this.sessions.byToken(bearer(req), false);
    this.#charge(record.keyId);
    const body = await this.#body(req, true);
    if (body.session_id !== undefined && body.session_id !== record.id) {
      throw new ApiError(
        403,
        `session_id: ${JSON.stringify(String(body.session_id).slice(0, 80))} is not the session of this session token`,
      );
    }
    return { record, body };
  }

  async #stop(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { record, body } = await this.#target(req);
    const reason = body.reason ?? 'USER_CLOSED';
    if (!(END_REASONS as readonly unknown[]).includes(reason)) {
      throw new ApiError(
        422,
        `reason: ${JSON.stringify(reason)} is not valid (allowed: ${END_REASONS.join(', ')})`,
      );
    }
    const ended = await this.sessions.stop(record, reason as EndReason);
    this.#reply(
      req,
      res,
      200,
      success({ session_id: record.id, reason: ended }, 'Session stopped'),
    );
  }

  async #keepAlive(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { record } = await this.#target(req);
    const kept = await this.sessions.keepAlive(record);
    this.#reply(req, res, 200, success(kept, 'Session kept alive'));
  }
}
