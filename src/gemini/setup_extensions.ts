/**
 * Fields for the Gemini Live `setup` frame that @google/genai 2.x cannot send.
 *
 * `historyConfig` lives only on the wire's setup message: the SDK's LiveConnectConfig whitelist
 * drops it (googleapis/js-genai#1448). 3.x models refuse client content unless the setup declared
 * `historyConfig.initialHistoryInClientContent`, and the plugin seeds earlier conversation as
 * client content on every reconnect. So for models whose capability row says so, we add the field
 * to the first frame of the socket. We wrap `Live.prototype.connect` (an SDK class, not
 * node_modules on disk) because the plugin keeps its client in a #private field.
 */
import { type SdkSocketFactory, addConnectHook } from './live_connect_hook.ts';

type SetupExtras = Record<string, unknown>;

const extrasByModel = new Map<string, SetupExtras>();
let hooked = false;

/** Merge `extras` into a serialized `{setup: {...}}` frame; other frames pass unchanged. */
export function withSetupExtras(frame: string, extras: SetupExtras): string {
  let message: unknown;
  try {
    message = JSON.parse(frame);
  } catch {
    return frame;
  }
  const setup = (message as { setup?: Record<string, unknown> }).setup;
  if (!setup) return frame;
  return JSON.stringify({ setup: { ...setup, ...extras } });
}

function wrapFactory(factory: SdkSocketFactory, extras: SetupExtras): SdkSocketFactory {
  return {
    create(url, headers, callbacks) {
      const socket = factory.create(url, headers, callbacks);
      let first = true;
      return {
        connect: () => socket.connect(),
        close: () => socket.close(),
        send: (message) => {
          socket.send(first ? withSetupExtras(message, extras) : message);
          first = false;
        },
      };
    },
  };
}

/** Send `extras` in the setup frame of every Gemini Live socket opened for `model`. */
export function registerSetupExtras(model: string, extras: SetupExtras): void {
  extrasByModel.set(model, extras);
  if (hooked) return;
  hooked = true;
  addConnectHook((params, factory) => {
    const modelExtras = extrasByModel.get(params.model);
    return modelExtras ? { factory: wrapFactory(factory, modelExtras) } : undefined;
  });
}
