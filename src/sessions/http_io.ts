/**
 * Small node:http helpers for the session API: reading a size-limited body, answering JSON, and
 * CORS (off unless SESSIONS_CORS_ORIGINS names the allowed origins).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from './api_error.ts';

/** Headers every API answer carries: nothing is cached (tokens), nothing is sniffed. */
const API_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
};

/**
 * Read the whole body, refusing with 413 as soon as it is larger than `limit` bytes. The rest of
 * a refused body is left unread (the request is paused); the caller answers with
 * `connection: close`, so the socket goes once the answer is sent.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const tooLarge = (size: number) =>
    new ApiError(413, `body: ${size} bytes is too large (allowed: up to ${limit} bytes)`);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.pause();
    return Promise.reject(tooLarge(declared));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      done();
      req.pause();
      reject(tooLarge(size));
    };
    const onEnd = () => {
      done();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onError = (error: Error) => {
      done();
      reject(error);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/** A JSON object body; an empty body is `{}` when `optional`. */
export function parseJsonObject(text: string, optional: boolean): Record<string, unknown> {
  if (text.trim() === '' && optional) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ApiError(422, 'body: not JSON (allowed: a JSON object)');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ApiError(422, 'body: not a JSON object (allowed: a JSON object)');
  }
  return parsed as Record<string, unknown>;
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) return;
  res.writeHead(status, { ...API_HEADERS, ...headers }).end(JSON.stringify(body));
}

/** The single value of a header (the first, if repeated). */
export function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** `Authorization: Bearer <token>` -> token. */
export function bearer(req: IncomingMessage): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(header(req, 'authorization') ?? '')?.[1];
}

export class Cors {
  readonly #origins: ReadonlySet<string>;
  readonly #any: boolean;

  constructor(origins: readonly string[]) {
    this.#origins = new Set(origins);
    this.#any = this.#origins.has('*');
  }

  get enabled(): boolean {
    return this.#origins.size > 0;
  }

  #allows(origin: string | undefined): origin is string {
    return origin !== undefined && (this.#any || this.#origins.has(origin));
  }

  /**
   * Headers for a request from `origin`. LiveAvatar's web SDK fetches with
   * `credentials: "include"`, so the origin is echoed (never `*`) and credentials allowed.
   */
  headers(origin: string | undefined): Record<string, string> {
    if (!this.enabled) return {};
    const vary = { vary: 'Origin' };
    if (!this.#allows(origin)) return vary;
    return {
      ...vary,
      'access-control-allow-origin': origin,
      'access-control-allow-credentials': 'true',
    };
  }

  /** Answer a preflight (OPTIONS) request. */
  preflight(req: IncomingMessage, res: ServerResponse): void {
    const origin = header(req, 'origin');
    if (!this.#allows(origin)) {
      res.writeHead(this.enabled ? 403 : 204, { allow: 'GET, POST, OPTIONS' }).end();
      return;
    }
    res
      .writeHead(204, {
        ...this.headers(origin),
        'access-control-allow-methods': 'POST, OPTIONS',
        'access-control-allow-headers': 'Authorization, Content-Type, X-API-KEY, Accept',
        'access-control-max-age': '600',
      })
      .end();
  }
}
