/**
 * Record what the framework's logger is asked to log, for tests about log levels: the real logger
 * is wrapped (every line still goes where it went) and each call at the chosen levels is kept.
 */
import { quietLogger } from './call_harness.ts';

/** Where @livekit/agents keeps its logger (log_core.js); `log()` reads it on every call. */
export const LOGGER_KEY = Symbol.for('@livekit/agents:logger');

export type Level = 'error' | 'warn' | 'info' | 'debug';
export interface LoggedLine {
  level: Level;
  /** The message (the first string argument). */
  text: string;
  /** The first argument (the fields object, when there is one). */
  fields: unknown;
}

type Logger = Record<Level, (...args: unknown[]) => void>;
const globals = globalThis as unknown as Record<symbol, Logger>;

/** Record every call at `levels`, whatever the log level; `restore()` puts the logger back. */
export function recordLogs(levels: readonly Level[] = ['error', 'warn']): {
  lines: LoggedLine[];
  restore(): void;
} {
  quietLogger();
  const real = globals[LOGGER_KEY]!;
  const lines: LoggedLine[] = [];
  globals[LOGGER_KEY] = new Proxy(real, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      if (!levels.includes(prop as Level)) return value.bind(target);
      return (...args: unknown[]) => {
        const text = args.find((a): a is string => typeof a === 'string') ?? '';
        lines.push({ level: prop as Level, text, fields: args[0] });
        value.apply(target, args);
      };
    },
  });
  return { lines, restore: () => (globals[LOGGER_KEY] = real) };
}
