/**
 * The README is the front door: its model table must be the one the worker enforces, and the
 * commands it gives must exist.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CALL_FIELDS } from '../src/config/call_options.ts';
import { modelTableMarkdown } from '../src/config/model_table.ts';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  scripts: Record<string, string>;
};

/** Table rows as trimmed cells, so Prettier's column padding does not matter. */
function cells(markdown: string): string[][] {
  return markdown
    .split('\n')
    .filter((line) => line.trim().startsWith('|'))
    .map((line) =>
      line
        .trim()
        .slice(1, -1)
        .split('|')
        .map((cell) => cell.trim().replace(/^-+$/, '---')),
    );
}

describe('README', () => {
  it('shows the model table generated from src/config/models.ts, with its sources', () => {
    const match = /<!-- model-table:start -->([\s\S]*?)<!-- model-table:end -->/.exec(readme);
    expect(match, 'README has the model-table markers').not.toBeNull();
    expect(cells(match![1]!)).toEqual(cells(modelTableMarkdown()));
    const prose = (markdown: string) =>
      markdown
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line !== '' && !line.startsWith('|'));
    expect(prose(match![1]!)).toEqual(prose(modelTableMarkdown()));
    expect(prose(modelTableMarkdown()).length).toBeGreaterThan(6);
  });

  it('lists every call option variable in the Configuration table and in .env.example', () => {
    const section = /\n## Configuration\n([\s\S]*?)\n## /.exec(readme)?.[1] ?? '';
    const table = cells(section).map(([variable]) => variable ?? '');
    const example = readFileSync(new URL('../.env.example', import.meta.url), 'utf8');
    const names = Object.values(CALL_FIELDS).flatMap((f) => ('env' in f ? [f.env] : []));
    for (const name of names) {
      const listed = table.some((cell) => cell.includes(`\`${name}\``));
      expect(listed, `${name} in the README's Configuration table`).toBe(true);
      expect(example, name).toMatch(new RegExp(`^# ${name}=`, 'm'));
    }
  });

  it('lists every dispatch field in the dispatch metadata table', () => {
    const listed = cells(readme).map(([field]) => field ?? '');
    const paths = Object.values(CALL_FIELDS).flatMap((f) => ('dispatch' in f ? [f.dispatch] : []));
    expect(paths.length).toBeGreaterThan(5);
    for (const path of paths) expect(listed, path).toContain(`\`${path}\``);
  });

  it('gives npm scripts that exist', () => {
    const used = [...readme.matchAll(/npm run ([a-z:-]+)/g)].map((m) => m[1]!);
    expect(used.length).toBeGreaterThan(5);
    for (const script of new Set(used)) expect(pkg.scripts, script).toHaveProperty(script);
  });

  it('gives the test command that CI runs', () => {
    expect(readme).toContain('npm ci && npm test');
    expect(readFileSync(new URL('../.ci/run', import.meta.url), 'utf8')).toMatch(/^npm test$/m);
  });
});
