/**
 * What the command-line tools (console, avatar preview) share: the usage error they exit 2 with,
 * reading the `--input` speech file, and a one-line status on stderr.
 */
import { type WavAudio, readMonoAt } from './audio/wav.ts';

/** A bad command line: the tool prints the message (and its usage) and exits 2. */
export class UsageError extends Error {}

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
