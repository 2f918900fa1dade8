/**
 * The one place we reach into @google/genai's Live connect. The plugin keeps its client in a
 * #private field and runs its connect loop inside the session, so the only seam is
 * `Live.prototype.connect` (an SDK class, not node_modules on disk). Hooks wrap the socket factory
 * of a connect (and, if they need to, the promise it returns); each one is a no-op for connects
 * it does not care about. Used for setup-frame extras (setup_extensions.ts) and per-session
 * socket watching (live_socket_watch.ts).
 */
import { Live } from '@google/genai';

export type ConnectParams = Parameters<Live['connect']>[0];
export type LiveSession = Awaited<ReturnType<Live['connect']>>;

export interface SdkSocket {
  connect(): void;
  send(message: string): void;
  close(): void;
}
export interface SdkCallbacks {
  onopen?: (() => void) | null;
  onmessage: (event: { data: unknown }) => void;
  onerror?: ((event: unknown) => void) | null;
  onclose?: ((event: unknown) => void) | null;
}
export interface SdkSocketFactory {
  create(url: string, headers: Record<string, string>, callbacks: SdkCallbacks): SdkSocket;
}

export interface HookedConnect {
  factory: SdkSocketFactory;
  /** Wrap the SDK's connect promise (e.g. to reject it when the socket closes during setup). */
  settle?: (connecting: Promise<LiveSession>) => Promise<LiveSession>;
}

/** Returns undefined to leave this connect alone. */
export type ConnectHook = (
  params: ConnectParams,
  factory: SdkSocketFactory,
) => HookedConnect | undefined;

const hooks: ConnectHook[] = [];
let installed = false;

export function addConnectHook(hook: ConnectHook): void {
  install();
  hooks.push(hook);
}

function install(): void {
  if (installed) return;
  installed = true;
  const original = Live.prototype.connect;
  Live.prototype.connect = function connect(this: Live, params: ConnectParams) {
    const sdkFactory = (this as unknown as { webSocketFactory: SdkSocketFactory }).webSocketFactory;
    let factory = sdkFactory;
    const settles: NonNullable<HookedConnect['settle']>[] = [];
    for (const hook of hooks) {
      const hooked = hook(params, factory);
      if (!hooked) continue;
      factory = hooked.factory;
      if (hooked.settle) settles.push(hooked.settle);
    }
    if (factory === sdkFactory) return original.call(this, params);
    const patched = Object.create(this, { webSocketFactory: { value: factory } }) as Live;
    return settles.reduce(
      (connecting, settle) => settle(connecting),
      original.call(patched, params),
    );
  };
}
