/**
 * `npm ci` is quiet and downloads nothing it should not: package.json's allowScripts decides every
 * dependency install script in the lockfile (npm >= 11.19 warns about each one it does not), denies
 * onnxruntime-node's (it would fetch GPU binaries; the CPU ones ship in the package), and no
 * project .npmrc carries keys npm does not know (npm warns about those on every command). The
 * LICENSE file is the license package.json names.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from './support/child_run.ts';

const readJson = (file: string) => JSON.parse(readFileSync(path.join(REPO, file), 'utf8'));

describe('install policy', () => {
  const pkg = readJson('package.json') as { allowScripts?: Record<string, boolean> };
  const lock = readJson('package-lock.json') as {
    packages: Record<string, { hasInstallScript?: boolean }>;
  };
  /** Packages with install scripts, by name (the lockfile keys end in node_modules/<name>). */
  const withScripts = [
    ...new Set(
      Object.entries(lock.packages)
        .filter(([, entry]) => entry.hasInstallScript)
        .map(([key]) => key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length)),
    ),
  ].sort();

  it('allowScripts decides every install script in the lockfile, and nothing else', () => {
    expect(withScripts).toContain('onnxruntime-node');
    expect(Object.keys(pkg.allowScripts ?? {}).sort()).toEqual(withScripts);
  });

  it("onnxruntime-node's postinstall is denied", () => {
    expect(pkg.allowScripts?.['onnxruntime-node']).toBe(false);
  });

  it('no project .npmrc with a key npm does not know (onnxruntime-node-install)', () => {
    const npmrc = path.join(REPO, '.npmrc');
    const text = existsSync(npmrc) ? readFileSync(npmrc, 'utf8') : '';
    expect(text).not.toMatch(/onnxruntime/);
  });

  it('LICENSE holds the Apache License 2.0 that package.json names', () => {
    expect(readJson('package.json').license).toBe('Apache-2.0');
    const license = readFileSync(path.join(REPO, 'LICENSE'), 'utf8');
    expect(license).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004/);
    expect(license).toContain('END OF TERMS AND CONDITIONS');
  });
});
