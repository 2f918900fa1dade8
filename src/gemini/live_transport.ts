/**
 * The Gemini Live transport we own: @google/genai's public `Live` API over sockets we create.
 *
 * `GoogleGenAI` builds its `live` with a socket factory of its own and no way to pass another,
 * but `Live`'s public constructor takes any factory and `GoogleGenAI` hands its API client to
 * subclasses (a protected member). A session therefore connects through a `Live` built per
 * connect attempt over a `WatchedSocket`, which is what lets it:
 * - close a socket whose setup never completes (the SDK's `connect()` has no abort, and never
 *   settles when the socket closes before `setupComplete`);
 * - drop a frame that is not JSON before the SDK parses it inside an unawaited promise (an
 *   unhandled rejection, which would end the worker process);
 * - add setup fields the SDK's config converter drops (`historyConfig`, googleapis/js-genai#1448);
 * - tell a close it asked for from one the server or the network caused.
 */
import { GoogleGenAI, type GoogleGenAIOptions, Live } from '@google/genai';
import { GoogleAuth } from 'google-auth-library';
import WebSocket, { type RawData } from 'ws';

type LiveAuth = ConstructorParameters<typeof Live>[1];
type SocketFactory = ConstructorParameters<typeof Live>[2];
type SdkSocketCallbacks = Parameters<SocketFactory['create']>[2];

/** Google's scope for Vertex AI (the SDK asks for the same). */
const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

export interface SocketClose {
  code: number;
  reason: string;
  /** We closed it (a restart, a failed setup, the end of the call). */
  byClient: boolean;
}

/** What one socket tells the connect attempt that opened it. */
export interface SocketWatch {
  /** The SDK asked for the socket (so the attempt can close it before setup completes). */
  created(socket: WatchedSocket): void;
  /** A server frame that is not JSON: dropped before the SDK sees it. */
  malformedFrame(text: string): void;
  /** A network error; a close follows. */
  errored(message: string): void;
  closed(close: SocketClose): void;
}

/**
 * One Gemini Live WebSocket, in the shape @google/genai's `Live` drives (`connect`, `send`,
 * `close`), built on `ws` as the SDK's own Node socket is.
 */
export class WatchedSocket {
  readonly #url: string;
  readonly #headers: Record<string, string>;
  readonly #sdk: SdkSocketCallbacks;
  readonly #watch: SocketWatch;
  readonly #setupExtras?: Record<string, unknown>;
  #ws?: WebSocket;
  #setupSent = false;
  #byClient = false;

  constructor(
    url: string,
    headers: Record<string, string>,
    sdk: SdkSocketCallbacks,
    watch: SocketWatch,
    setupExtras?: Record<string, unknown>,
  ) {
    this.#url = url;
    this.#headers = headers;
    this.#sdk = sdk;
    this.#watch = watch;
    if (setupExtras) this.#setupExtras = setupExtras;
  }

  connect(): void {
    const ws = new WebSocket(this.#url, { headers: this.#headers });
    this.#ws = ws;
    ws.on('open', () => this.#sdk.onopen());
    ws.on('message', (data: RawData) => {
      const text = frameText(data);
      if (!isJsonObject(text)) return this.#watch.malformedFrame(text);
      this.#sdk.onmessage({ data: text });
    });
    ws.on('error', (error: Error) => this.#watch.errored(error.message));
    ws.on('close', (code: number, reason: Buffer) =>
      this.#watch.closed({ code, reason: reason.toString('utf8'), byClient: this.#byClient }),
    );
  }

  send(message: string): void {
    if (!this.#ws || this.#ws.readyState !== WebSocket.OPEN) {
      throw new Error('Gemini Live socket is not open');
    }
    const first = !this.#setupSent;
    this.#setupSent = true;
    this.#ws.send(
      first && this.#setupExtras ? withSetupExtras(message, this.#setupExtras) : message,
    );
  }

  /** Close as the client: code 1000, so the server sees a normal end. */
  close(): void {
    this.#byClient = true;
    const ws = this.#ws;
    if (!ws || ws.readyState === WebSocket.CLOSED || ws.readyState === WebSocket.CLOSING) return;
    if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
    else ws.close(1000);
  }
}

/**
 * The @google/genai client, able to open Live connections over sockets the caller watches.
 * One per realtime model: its sessions share the API client and, on Vertex, the token cache.
 */
export class GeminiLiveClient extends GoogleGenAI {
  readonly #auth: LiveAuth;

  constructor(options: GoogleGenAIOptions) {
    super(options);
    this.#auth = options.vertexai ? vertexAuth() : noHeaderAuth;
  }

  /** A `Live` whose next connect opens a WatchedSocket reporting to `watch`. */
  liveWith(watch: SocketWatch, setupExtras?: Record<string, unknown>): Live {
    const factory: SocketFactory = {
      create: (url, headers, callbacks) => {
        const socket = new WatchedSocket(url, headers, callbacks, watch, setupExtras);
        watch.created(socket);
        return socket;
      },
    };
    return new Live(this.apiClient, this.#auth, factory);
  }
}

/** Gemini API: the key travels in the URL, `Live` asks for no headers. */
const noHeaderAuth: LiveAuth = { addAuthHeaders: async () => undefined };

/** Vertex AI: Application Default Credentials, as the SDK's own Node client signs requests. */
function vertexAuth(): LiveAuth {
  const google = new GoogleAuth({ scopes: [CLOUD_PLATFORM_SCOPE] });
  return {
    async addAuthHeaders(headers, url) {
      const signed = await google.getRequestHeaders(url);
      signed.forEach((value, key) => {
        if (!headers.has(key)) headers.append(key, value);
      });
    },
  };
}

function frameText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8');
}

function isJsonObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object';
  } catch {
    return false;
  }
}

/** Merge `extras` into a serialized `{setup: {...}}` frame; other frames pass unchanged. */
export function withSetupExtras(frame: string, extras: Record<string, unknown>): string {
  const message = JSON.parse(frame) as { setup?: Record<string, unknown> };
  if (!message.setup) return frame;
  return JSON.stringify({ setup: { ...message.setup, ...extras } });
}
