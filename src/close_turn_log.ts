/**
 * @livekit/agents 1.9.0 commits a user turn whenever an AgentSession closes, whether or not the
 * user said anything (agent_session.ts, closeImplInner: `activity.commitUserTurn({ audioDetached:
 * true })`). With Gemini's own turn detection that turn is empty, and the activity, already paused
 * for the close, logs `skipping user input, speech scheduling is paused` as a warning: at the end
 * of every call and of every prewarmed job process, where nothing went wrong. (Upstream Python
 * gates that commit on a pending turn: livekit/agents#5818.)
 *
 * The activity takes its logger from the framework's `log()` once, when `session.start()` builds
 * it. So the call's session starts with the framework's logger seen through a view that logs
 * exactly that line, for an empty turn, at debug; every other line, and that line for a turn with
 * words in it (the user's last words dropped by the close), goes through unchanged.
 */

/** Where @livekit/agents keeps its logger (log_core.js); `log()` reads it on every call. */
const LOGGER_KEY = Symbol.for('@livekit/agents:logger');
const CLOSE_TURN_LINE = 'skipping user input, speech scheduling is paused';

type LogMethod = (...args: unknown[]) => void;
interface Logger {
  warn: LogMethod;
  debug: LogMethod;
}
const globals = globalThis as unknown as Record<symbol, Logger | undefined>;

/** True for the close-time line about an empty user turn. */
export function isEmptyCloseTurnLine(args: unknown[]): boolean {
  const [fields, message] = args;
  if (message !== CLOSE_TURN_LINE || typeof fields !== 'object' || fields === null) return false;
  const input = (fields as Record<string, unknown>)['lk.pii.user_input'];
  return typeof input !== 'string' || input.trim() === '';
}

function emptyCloseTurnAsDebug(logger: Logger): Logger {
  const warn: LogMethod = (...args) => {
    if (isEmptyCloseTurnLine(args)) logger.debug(...args);
    else logger.warn(...args);
  };
  return new Proxy(logger, {
    get(target, prop) {
      if (prop === 'warn') return warn;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Starts running with the view installed, and the logger it replaced. */
let running = 0;
let replaced: Logger | undefined;
let installed: Logger | undefined;

/** Run `start` (an AgentSession's start) with the framework's logger seen through the view. */
export async function withEmptyCloseTurnAsDebug<T>(start: () => Promise<T>): Promise<T> {
  const logger = globals[LOGGER_KEY];
  if (!logger) return start();
  // Overlapping starts (tests, several sessions in one process) share one view.
  if (running++ === 0) {
    replaced = logger;
    installed = emptyCloseTurnAsDebug(logger);
    globals[LOGGER_KEY] = installed;
  }
  try {
    return await start();
  } finally {
    if (--running === 0) {
      // Put back what was there, unless someone else has installed a logger meanwhile.
      if (globals[LOGGER_KEY] === installed) globals[LOGGER_KEY] = replaced;
      replaced = installed = undefined;
    }
  }
}
