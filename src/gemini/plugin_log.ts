/**
 * The 1.9.0 plugin logs each failed connect at error level (`Gemini Realtime API error: ...`),
 * from a logger it takes from the framework when its session is built (a #private field). Behind
 * our recovery a failed connect is a fault the call survives: the recovery rejects it as
 * `Gemini Live connect failed: ...`, logs a warning, and logs an error only when it gives up and
 * the call ends. (The plugin's own close and socket-error lines never run: the socket watcher
 * handles those.) Error-level lines for survived faults would page whoever alerts on errors, so
 * while the plugin builds a session the framework's logger is swapped for a view that logs exactly
 * those lines as warnings; every other line, including other errors of the same loop, is
 * untouched.
 */

/** Where @livekit/agents keeps its logger (log_core.js); `log()` reads it on every call. */
const LOGGER_KEY = Symbol.for('@livekit/agents:logger');
/** The plugin's line for a connect the recovery failed (realtime_api.ts, #mainTask's catch). */
const RECOVERED_FAULT = /^Gemini Realtime API error: .*Gemini Live (connect failed|recovery ended)/;

type LogMethod = (...args: unknown[]) => void;
interface Logger {
  error: LogMethod;
  warn: LogMethod;
}

/** Run `build` (which constructs a plugin session) with the fault-lines-as-warnings view. */
export function withFaultLinesAsWarnings<T>(build: () => T): T {
  const globals = globalThis as unknown as Record<symbol, Logger | undefined>;
  const logger = globals[LOGGER_KEY];
  if (!logger) return build();
  globals[LOGGER_KEY] = faultLinesAsWarnings(logger);
  try {
    return build();
  } finally {
    globals[LOGGER_KEY] = logger;
  }
}

function faultLinesAsWarnings(logger: Logger): Logger {
  const error: LogMethod = (...args) => {
    if (typeof args[0] === 'string' && RECOVERED_FAULT.test(args[0])) logger.warn(...args);
    else logger.error(...args);
  };
  return new Proxy(logger, {
    get(target, prop) {
      if (prop === 'error') return error;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
