/**
 * What the command-line tools (console, avatar preview, bench, soak) share: option parsing and the
 * usage error they exit with, reading the `--input` speech file, and a one-line status on stderr.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { type WavAudio, readMonoAt } from './audio/wav.ts';

/** A bad command line: the tool prints the message (and its usage) and exits 2. */
export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

/** `parseArgs` (strict) whose errors are UsageErrors; `--help` is a UsageError with no message. */
export function parseOptions<const O extends Options>(argv: string[], options: O) {
  const parse = () => {
    try {
      return parseArgs({
        args: argv,
        options: { ...options, help: { type: 'boolean', default: false } },
        strict: true,
      });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  };
  const { values } = parse();
  if ((values as { help?: boolean }).help) throw new UsageError('');
  return values;
}

/** `--input` as mono at `rate`, or a UsageError naming the option. */
export function readInputWav(file: string, rate: number): WavAudio {
  try {
    return readMonoAt(file, rate);
  } catch (error) {
    throw new UsageError(`--input: ${(error as Error).message}`);
  }
}

/** One status line on stderr, rewritten in place, only when stderr is a terminal. */
export function statusLine(line: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${line}`);
}
