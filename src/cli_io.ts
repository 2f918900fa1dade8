/**
 * What the command-line tools (console, demo, avatar preview, bench, soak, scripts) share: whether
 * a module is the entry, option parsing and the usage error they exit with, reading the `--input`
 * speech file, a one-line status on stderr, and file sizes for people.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { type WavAudio, readMonoAt } from './audio/wav.ts';

/**
 * True when the module at `moduleUrl` (its `import.meta.url`) is the script node was started with,
 * false when another module imports it (the demo runs the console's call in-process).
 */
export function isMainModule(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return pathToFileURL(realpathSync(script)).href === moduleUrl;
  } catch {
    return false;
  }
}

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

/**
 * `parseOptions` for a small script's entry: `--help` prints `usage` on stdout and exits 0; a bad
 * option prints `<name>: <problem>` and `usage` on stderr and exits 2.
 */
export function parseOptionsOrExit<const O extends Options>(
  argv: string[],
  options: O,
  name: string,
  usage: string,
) {
  try {
    return parseOptions(argv, options);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    if (error.message) process.stderr.write(`${name}: ${error.message}\n${usage}\n`);
    else process.stdout.write(`${usage}\n`);
    return process.exit(error.message ? 2 : 0);
  }
}

/** A file size for people: `720 KB`, `51.9 MB`, `1.20 GB` (decimal units, as file managers show). */
export function formatBytes(bytes: number): string {
  if (bytes < 1_000_000) return `${Math.max(1, Math.round(bytes / 1000))} KB`;
  if (bytes < 1_000_000_000) return `${(bytes / 1_000_000).toFixed(1)} MB`;
  return `${(bytes / 1_000_000_000).toFixed(2)} GB`;
}
