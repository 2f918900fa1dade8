/**
 * One Gemini Live connect attempt, from its socket up.
 *
 * The SDK's `connect()` resolves once the server sends `setupComplete`, and never settles when
 * the socket closes first. An attempt therefore keeps its own setup timer, fails itself when the
 * socket closes during setup (or the SDK rejects before any socket, as when Vertex credentials
 * are refused), and closes a socket whose setup it gave up on. After setup it reports the close
 * of its socket, and remembers the function calls asked on it (their results are lost with it).
 * What a failure or a close means for the call is the session's decision.
 */
import type { LiveConnectConfig, LiveServerMessage, Session } from '@google/genai';
import type {
  GeminiLiveClient,
  SocketClose,
  SocketWatch,
  WatchedSocket,
} from './live_transport.ts';

export interface CloseInfo {
  code: number;
  reason: string;
}

/** Why a connect attempt failed; `close` when the server closed the socket during setup. */
export class ConnectFailure extends Error {
  override name = 'ConnectFailure';
  readonly close?: CloseInfo;

  constructor(cause: string, close?: CloseInfo) {
    super(cause);
    if (close) this.close = close;
  }
}

export interface AttemptOptions {
  client: GeminiLiveClient;
  model: string;
  config: LiveConnectConfig;
  /** Setup fields the SDK cannot send (added to the socket's first frame). */
  setupExtras?: Record<string, unknown>;
  setupTimeoutMs: number;
  /** Every server message of this connection, `setupComplete` included. */
  onMessage(message: LiveServerMessage, attempt: ConnectAttempt): void;
  onMalformedFrame(text: string, attempt: ConnectAttempt): void;
  /** The socket closed after setup completed. */
  onClosed(close: SocketClose, attempt: ConnectAttempt): void;
}

export class ConnectAttempt implements SocketWatch {
  /** The resumption handle this attempt sent in its setup, if any. */
  readonly handle?: string;
  /** Function calls asked on this connection whose results the model has not gone on from. */
  readonly calls = new Map<string, string>();
  /** The last network error on the socket, to explain a close without a reason. */
  error?: string;
  /** Resolves once the socket of a set-up connection has closed (and `onClosed` ran). */
  readonly ended: Promise<void>;
  readonly #options: AttemptOptions;
  #endedResolve!: () => void;
  #socket?: WatchedSocket;
  #setupDone = false;
  #settled = false;
  #closeRequested = false;
  #timer?: NodeJS.Timeout;
  #fail?: (failure: ConnectFailure) => void;

  constructor(options: AttemptOptions) {
    this.#options = options;
    this.ended = new Promise((resolve) => (this.#endedResolve = resolve));
    const handle = options.config.sessionResumption?.handle;
    if (handle) this.handle = handle;
  }

  get setupDone(): boolean {
    return this.#setupDone;
  }

  /** Connect and wait for `setupComplete`; rejects with a ConnectFailure. */
  open(): Promise<Session> {
    const { client, model, config, setupExtras, setupTimeoutMs } = this.#options;
    return new Promise<Session>((resolve, reject) => {
      this.#fail = (failure) => {
        if (this.#settled) return;
        this.#settled = true;
        clearTimeout(this.#timer);
        reject(failure);
        this.close();
      };
      this.#timer = setTimeout(
        () => this.#fail?.(new ConnectFailure(`no setupComplete within ${setupTimeoutMs} ms`)),
        setupTimeoutMs,
      );
      client
        .liveWith(this, setupExtras)
        .connect({
          model,
          config,
          callbacks: { onmessage: (message) => this.#options.onMessage(message, this) },
        })
        .then(
          (session) => {
            if (this.#settled) return session.close(); // given up on meanwhile
            this.#settled = true;
            this.#setupDone = true;
            clearTimeout(this.#timer);
            resolve(session);
          },
          (error: unknown) =>
            this.#fail?.(
              new ConnectFailure(error instanceof Error ? error.message : String(error)),
            ),
        );
    });
  }

  /** Close the socket as the client (a restart, a failed setup, the end of the call). */
  close(): void {
    this.#closeRequested = true;
    clearTimeout(this.#timer);
    this.#socket?.close();
  }

  /** The call ended during setup: fail the attempt quietly and close its socket. */
  cancel(): void {
    this.#fail?.(new ConnectFailure('the call ended'));
    this.close();
  }

  // ---- SocketWatch ----

  created(socket: WatchedSocket): void {
    this.#socket = socket;
    if (this.#closeRequested) socket.close();
  }

  malformedFrame(text: string): void {
    this.#options.onMalformedFrame(text, this);
  }

  errored(message: string): void {
    this.error = message;
  }

  closed(close: SocketClose): void {
    if (!this.#setupDone) {
      const cause = close.byClient
        ? 'closed by the client during setup'
        : `closed during setup: ${describeClose(close, this.error)}`;
      this.#fail?.(new ConnectFailure(cause, close.byClient ? undefined : close));
      return;
    }
    try {
      this.#options.onClosed(close, this);
    } finally {
      this.#endedResolve();
    }
  }

  /**
   * Keep `calls` to the calls whose results are still owed: a result counts as used once the
   * model speaks after it was sent (a result sent into a closing socket is lost with it).
   */
  trackCalls(message: LiveServerMessage, pending: ReadonlySet<string>): void {
    for (const call of message.toolCall?.functionCalls ?? []) {
      if (call.id) this.calls.set(call.id, call.name ?? 'function');
    }
    for (const id of message.toolCallCancellation?.ids ?? []) this.calls.delete(id);
    if (!message.serverContent || this.calls.size === 0) return;
    for (const id of this.calls.keys()) if (!pending.has(id)) this.calls.delete(id);
  }
}

export function describeClose(close: CloseInfo, error?: string): string {
  const reason = close.reason || error;
  return reason ? `code ${close.code} "${reason}"` : `code ${close.code}`;
}
