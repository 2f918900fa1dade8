/**
 * What the bench and soak command lines share: option parsing that fails with one line naming the
 * option, the value and what is allowed; the machine description printed with every report; and
 * the way a run ends (usage, failure, exit code).
 */
import os from 'node:os';
import { UsageError, parseOptions } from '../src/cli_io.ts';

export { UsageError, parseOptions };

export function integerOption(name: string, raw: string, min: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    throw new UsageError(`--${name}: "${raw}" is not valid (allowed: an integer >= ${min})`);
  }
  return n;
}

export function positiveOption(name: string, raw: string): number {
  const n = Number(raw);
  if (!(n > 0)) throw new UsageError(`--${name}: "${raw}" is not valid (allowed: a number > 0)`);
  return n;
}

/** A comma-separated list whose every item is one of `allowed`. */
export function listOption<T extends string>(
  name: string,
  raw: string,
  allowed: readonly T[],
): T[] {
  return raw.split(',').map((item) => {
    const value = item.trim() as T;
    if (!allowed.includes(value)) {
      throw new UsageError(`--${name}: "${item}" is not known (allowed: ${allowed.join(', ')})`);
    }
    return value;
  });
}

/** One value of `allowed`. */
export function oneOption<T extends string>(name: string, raw: string, allowed: readonly T[]): T {
  const values = listOption(name, raw, allowed);
  if (values.length !== 1) {
    throw new UsageError(`--${name}: give one of ${allowed.join(', ')} (got "${raw}")`);
  }
  return values[0]!;
}

export function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

export function machineLine(): string {
  const m = machine();
  return `${m.cpu} x${m.cores}, node ${m.node}, ${m.platform}`;
}

export function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s+/g, ' ').trim();
}

/** Prints `<tool> failed: <one line>` and exits 1. */
export function failWith(tool: string): (error: unknown) => never {
  return (error) => {
    process.stderr.write(`${tool} failed: ${oneLine(error)}\n`);
    process.exit(1);
  };
}

/**
 * Runs `main` and exits with its code: --help prints the usage (0), a bad command line one line
 * with the usage (1), any other error `fail`'s line (1).
 */
export function runCli(
  tool: string,
  usage: string,
  main: () => Promise<number>,
  fail: (error: unknown) => never = failWith(tool),
): void {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      if (error instanceof UsageError && !error.message) {
        process.stdout.write(`${usage}\n`);
        process.exit(0);
      }
      if (error instanceof UsageError) {
        process.stderr.write(`${tool}: ${oneLine(error)} (${usage})\n`);
        process.exit(1);
      }
      fail(error);
    },
  );
}
