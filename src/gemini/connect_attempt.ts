/**
 * One Gemini Live connect attempt as the recovery watches it, from the socket up.
 *
 * The SDK's `connect()` never settles when the socket closes before `setupComplete`, and it
 * parses frames in an unawaited promise (a frame that is not JSON becomes an unhandled
 * rejection). Each attempt therefore keeps its own setup timer, rejects the connect itself when
 * setup fails, drops unreadable frames, and remembers the function calls asked on its connection
 * (their results are lost with it). What a failure or a close means for the call is the host's
 * decision (session_recovery.ts).
 */
import { APIConnectionError } from '@livekit/agents';
import type { ConnectParams, LiveSession } from './live_connect_hook.ts';
import type { AttemptWatcher, CloseInfo } from './live_socket_watch.ts';

/** The parts of a server frame the recovery reads. */
export interface ServerFrame {
  setupComplete?: unknown;
  serverContent?: unknown;
  toolCall?: { functionCalls?: { id?: string; name?: string }[] };
  toolCallCancellation?: { ids?: string[] };
}

/** What an attempt reports to, and asks of, the session's recovery. */
export interface AttemptHost {
  readonly setupTimeoutMs: number;
  /** No connection may be made any more: the recovery gave up, or the call ended. */
  ended(): boolean;
  /** Function calls the plugin still waits to answer (undefined before it is attached). */
  pendingToolCallIds(): ReadonlySet<string> | undefined;
  malformedFrame(text: string): void;
  setupCompleted(attempt: ConnectAttempt): void;
  /** The attempt failed before setup completed (see `fail` to reject the connect). */
  connectFailed(attempt: ConnectAttempt, cause: string, close?: CloseInfo): void;
  /** The socket of an attempt closed after setup; `byClient`: we closed it. */
  socketClosed(attempt: ConnectAttempt, close: CloseInfo, byClient: boolean): void;
}

export class ConnectAttempt implements AttemptWatcher {
  /** The resumption handle this attempt sent in its setup, if any. */
  readonly handle?: string;
  setupDone = false;
  /** Function calls asked on this connection whose results the model has not gone on from. */
  readonly calls = new Map<string, string>();
  failed = false;
  /** The last network error on the socket, to explain a close without a reason. */
  error?: string;
  readonly #host: AttemptHost;
  #timer?: NodeJS.Timeout;
  #reject?: (error: Error) => void;
  #abort?: () => void;

  constructor(host: AttemptHost, params: ConnectParams) {
    this.#host = host;
    const handle = params.config?.sessionResumption?.handle;
    if (handle) this.handle = handle;
  }

  frame(text: string): boolean {
    let message: ServerFrame | null;
    try {
      message = JSON.parse(text) as typeof message;
    } catch {
      // The SDK would throw this inside an unawaited promise: an unhandled rejection.
      this.#host.malformedFrame(text);
      return false;
    }
    if (message?.setupComplete !== undefined && !this.setupDone) {
      this.setupDone = true;
      clearTimeout(this.#timer);
      this.#host.setupCompleted(this);
    }
    if (message) this.#trackCalls(message);
    return true;
  }

  errored(message: string): void {
    this.error = message;
  }

  closed(close: CloseInfo, byClient: boolean): void {
    if (!this.setupDone) {
      // The plugin is still inside connect(): there is nothing for its onclose to clean up.
      const cause = byClient
        ? 'closed by the client during setup'
        : `closed during setup: ${describeClose(close, this.error)}`;
      return this.#host.connectFailed(this, cause, close);
    }
    this.#host.socketClosed(this, close, byClient);
  }

  settle(connecting: Promise<LiveSession>, abort: () => void): Promise<LiveSession> {
    this.#abort = abort;
    return new Promise((resolve, reject) => {
      this.#reject = reject;
      if (this.#host.ended()) {
        this.failed = true;
        abort();
        return reject(new APIConnectionError({ message: 'Gemini Live recovery ended' }));
      }
      const { setupTimeoutMs } = this.#host;
      this.#timer = setTimeout(() => {
        this.#host.connectFailed(this, `no setupComplete within ${setupTimeoutMs} ms`);
        abort();
      }, setupTimeoutMs);
      connecting.then(
        (session) => {
          clearTimeout(this.#timer);
          if (!this.failed) resolve(session);
        },
        (error: unknown) => {
          // Before any socket (e.g. Vertex credentials refused): a failed attempt like any other,
          // so it counts against the budget instead of the plugin retrying it forever.
          this.#host.connectFailed(this, error instanceof Error ? error.message : String(error));
          reject(error);
        },
      );
    });
  }

  /** Mark the attempt failed and reject the connect. False if it had already failed. */
  fail(cause: string): boolean {
    if (this.failed) return false;
    this.failed = true;
    clearTimeout(this.#timer);
    this.#reject?.(new APIConnectionError({ message: `Gemini Live connect failed: ${cause}` }));
    return true;
  }

  /** The call ended during setup: close the socket without rejecting the connect. */
  cancel(): void {
    // Not rejected: the plugin would log the end of the call as a connect error.
    clearTimeout(this.#timer);
    this.failed = true;
    this.#abort?.();
  }

  /**
   * A result counts as used once the model speaks after it was sent: a result sent into a socket
   * that was already closing is lost with it, and must go to the next connection.
   */
  #trackCalls(message: ServerFrame): void {
    for (const call of message.toolCall?.functionCalls ?? []) {
      if (call.id) this.calls.set(call.id, call.name ?? 'function');
    }
    for (const id of message.toolCallCancellation?.ids ?? []) this.calls.delete(id);
    if (!message.serverContent || this.calls.size === 0) return;
    const pending = this.#host.pendingToolCallIds();
    for (const id of this.calls.keys()) if (!pending?.has(id)) this.calls.delete(id);
  }
}

export function describeClose(close: CloseInfo, error?: string): string {
  const reason = close.reason || error;
  return reason ? `code ${close.code} "${reason}"` : `code ${close.code}`;
}
