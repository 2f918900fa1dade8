/**
 * A look at each Gemini Live socket the plugin opens, for the session that opened it.
 *
 * The plugin keeps its @google/genai client in a #private field and runs its connect loop inside
 * the session, so there is no seam to hand it a socket. We hook the SDK's connect
 * (live_connect_hook.ts) and find the session through AsyncLocalStorage: the guarded model
 * constructs each plugin session inside `watchConnects(watcher, ...)`, so the plugin's connect
 * loop, started by that constructor, carries the watcher into every connect it makes.
 *
 * Why at the socket: the SDK's `connect()` never settles when the socket closes before
 * `setupComplete` (refused, dropped, or rejected during setup), it parses frames in an unawaited
 * promise (a frame that is not JSON becomes an unhandled rejection), and only the socket knows
 * whether the client asked for a close.
 *
 * The watcher owns errors and closes of watched sockets: the plugin's `onerror` and `onclose`
 * are not called (its onclose makes every code but 1000 an unrecoverable error, which ends the
 * call; its onerror only restarts, which the watcher does on the close that follows).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  type ConnectParams,
  type LiveSession,
  type SdkSocketFactory,
  addConnectHook,
} from './live_connect_hook.ts';

export interface CloseInfo {
  code: number;
  reason: string;
}

/** One connect attempt, as the watcher sees it. */
export interface AttemptWatcher {
  /** A server frame as text. Return false to drop it before the SDK parses it. */
  frame(text: string): boolean;
  /** A network error; a close follows. */
  errored(message: string): void;
  /** The socket closed. `byClient`: the client called close() on this socket. */
  closed(close: CloseInfo, byClient: boolean): void;
  /**
   * Wrap the SDK's connect promise: the watcher may reject it (closed before setup, setup
   * timeout); `abort` closes the socket as the client.
   */
  settle(connecting: Promise<LiveSession>, abort: () => void): Promise<LiveSession>;
}

export interface ConnectWatcher {
  /** A connect is starting; `params.config` may still be changed (e.g. drop a refused handle). */
  attempt(params: ConnectParams): AttemptWatcher;
}

const watchers = new AsyncLocalStorage<ConnectWatcher>();
let installed = false;

/** Run `construct` so that every Gemini Live connect it starts, now or later, is watched. */
export function watchConnects<T>(watcher: ConnectWatcher, construct: () => T): T {
  install();
  return watchers.run(watcher, construct);
}

function frameText(data: unknown): string | undefined {
  if (typeof data === 'string') return data;
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return undefined; // a Blob (browsers): left to the SDK
}

function closeInfo(event: unknown): CloseInfo {
  const { code, reason } = (event ?? {}) as { code?: unknown; reason?: unknown };
  return { code: typeof code === 'number' ? code : 1006, reason: String(reason ?? '') };
}

function errorMessage(event: unknown): string {
  const { message, error } = (event ?? {}) as { message?: unknown; error?: unknown };
  return String(message ?? (error as Error | undefined)?.message ?? event);
}

function watchFactory(
  factory: SdkSocketFactory,
  attempt: AttemptWatcher,
  onSocket: (close: () => void) => void,
): SdkSocketFactory {
  return {
    create(url, headers, callbacks) {
      let byClient = false;
      const socket = factory.create(url, headers, {
        onopen: () => callbacks.onopen?.(),
        onmessage: (event) => {
          const text = frameText(event.data);
          if (text === undefined || attempt.frame(text)) callbacks.onmessage(event);
        },
        onerror: (event) => attempt.errored(errorMessage(event)),
        onclose: (event) => attempt.closed(closeInfo(event), byClient),
      });
      const close = () => {
        byClient = true;
        socket.close();
      };
      onSocket(close);
      return { connect: () => socket.connect(), send: (m) => socket.send(m), close };
    },
  };
}

function install(): void {
  if (installed) return;
  installed = true;
  addConnectHook((params, sdkFactory) => {
    const watcher = watchers.getStore();
    if (!watcher) return undefined;
    const attempt = watcher.attempt(params);
    let closeSocket: (() => void) | undefined;
    const factory = watchFactory(sdkFactory, attempt, (close) => {
      closeSocket = close;
    });
    return { factory, settle: (connecting) => attempt.settle(connecting, () => closeSocket?.()) };
  });
}
