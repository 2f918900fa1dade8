/**
 * The README is the front door and docs/ holds the reference: the model table must be the one the
 * worker enforces, the configuration reference must list every setting, the commands they give
 * must exist, and every link between them must lead somewhere.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import GithubSlugger from 'github-slugger';
import { type Token, marked } from 'marked';
import { describe, expect, it } from 'vitest';
import { CALL_FIELDS } from '../src/config/call_options.ts';
import { modelTableMarkdown } from '../src/config/model_table.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

const readme = read('README.md');
const configuration = read('docs/configuration.md');
const docs = readdirSync(path.join(root, 'docs'))
  .filter((name) => name.endsWith('.md'))
  .map((name) => `docs/${name}`);
/** Every Markdown page a user reads: the README, docs/, and the avatar folder format. */
const pages = ['README.md', ...docs, 'avatars/README.md'];
const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };

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

/** The body of one `## heading` section, up to the next `## `; fails when there is none. */
function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  expect(start, `a "## ${heading}" section`).toBeGreaterThanOrEqual(0);
  const body = markdown.slice(start + heading.length + 5);
  const end = body.indexOf('\n## ');
  return end === -1 ? body : body.slice(0, end);
}

/** The backticked names in a table's first column (`A`, `B` (or `C`) -> A, B, C). */
function firstColumnNames(markdown: string): string[] {
  return cells(markdown).flatMap(([first]) =>
    [...(first ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1]!),
  );
}

function walk(markdown: string): Token[] {
  const tokens: Token[] = [];
  marked.walkTokens(marked.lexer(markdown), (token) => void tokens.push(token));
  return tokens;
}

/** A heading's text as GitHub slugs it: inline code and emphasis reduced to their text. */
function plainText(tokens: Token[] | undefined): string {
  return (tokens ?? [])
    .map((token) => {
      if ('tokens' in token && token.tokens) return plainText(token.tokens);
      return token.type === 'text' || token.type === 'codespan' || token.type === 'escape'
        ? token.text
        : '';
    })
    .join('');
}

/** The anchors a page has: GitHub's heading slugs and explicit `<a id>` / `name` targets. */
function anchors(markdown: string): Set<string> {
  const slugger = new GithubSlugger();
  const found = new Set<string>();
  for (const token of walk(markdown)) {
    if (token.type === 'heading') found.add(slugger.slug(plainText(token.tokens)));
    if (token.type === 'html') {
      for (const m of token.raw.matchAll(/\b(?:id|name)="([^"]+)"/g)) found.add(m[1]!);
    }
  }
  return found;
}

/** Links and images that point into the repository (no scheme): `path#anchor`, `#anchor`. */
function relativeLinks(markdown: string): string[] {
  return walk(markdown)
    .flatMap((token) => (token.type === 'link' || token.type === 'image' ? [token.href] : []))
    .filter((href) => !/^[a-z][a-z0-9+.-]*:/i.test(href));
}

describe('README and docs', () => {
  it('show the model table generated from src/config/models.ts, with its sources', () => {
    const models = read('docs/models.md');
    const match = /<!-- model-table:start -->([\s\S]*?)<!-- model-table:end -->/.exec(models);
    expect(match, 'docs/models.md has the model-table markers').not.toBeNull();
    expect(cells(match![1]!)).toEqual(cells(modelTableMarkdown()));
    const prose = (markdown: string) =>
      markdown
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line !== '' && !line.startsWith('|'));
    expect(prose(match![1]!)).toEqual(prose(modelTableMarkdown()));
    expect(prose(modelTableMarkdown()).length).toBeGreaterThan(6);
  });

  it('list every call option variable in the configuration reference and in .env.example', () => {
    const table = firstColumnNames(section(configuration, 'Environment variables'));
    const example = read('.env.example');
    const names = Object.values(CALL_FIELDS).flatMap((f) => ('env' in f ? [f.env] : []));
    expect(names.length).toBeGreaterThan(10);
    for (const name of names) {
      expect(table, `${name} in docs/configuration.md's variable table`).toContain(name);
      expect(example, name).toMatch(new RegExp(`^# ${name}=`, 'm'));
    }
  });

  it('list every variable of .env.example in the configuration reference', () => {
    const example = read('.env.example');
    const names = [...example.matchAll(/^(?:# )?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]!);
    const documented = cells(configuration)
      .flat()
      .flatMap((cell) => [...cell.matchAll(/`([A-Z][A-Z0-9_]+)[`=]/g)].map((m) => m[1]!));
    expect(names.length).toBeGreaterThan(40);
    for (const name of names)
      expect(documented, `${name} in docs/configuration.md`).toContain(name);
  });

  it('list every dispatch field in the dispatch metadata table', () => {
    const listed = firstColumnNames(section(configuration, 'Dispatch metadata'));
    const paths = Object.values(CALL_FIELDS).flatMap((f) => ('dispatch' in f ? [f.dispatch] : []));
    expect(paths.length).toBeGreaterThan(5);
    for (const field of paths) expect(listed, field).toContain(field);
  });

  it("name in the README's settings table only variables of the configuration reference", () => {
    const shown = firstColumnNames(section(readme, 'The most used settings'));
    const documented = firstColumnNames(section(configuration, 'Environment variables'));
    expect(shown.length).toBeGreaterThan(5);
    for (const name of shown) expect(documented, name).toContain(name);
  });

  it('give npm scripts that exist', () => {
    for (const page of pages) {
      const used = [...read(page).matchAll(/npm run ([a-z:-]+)/g)].map((m) => m[1]!);
      for (const script of new Set(used))
        expect(pkg.scripts, `${page}: ${script}`).toHaveProperty(script);
    }
    expect([...readme.matchAll(/npm run ([a-z:-]+)/g)].length).toBeGreaterThan(5);
  });

  it('give the test command that CI runs', () => {
    expect(readme).toContain('npm ci && npm test');
    expect(read('.ci/run')).toMatch(/^npm test$/m);
  });

  it('link only to files and headings that exist', () => {
    const broken: string[] = [];
    const anchorsOf = new Map<string, Set<string>>();
    let checked = 0;
    for (const page of pages) {
      for (const href of relativeLinks(read(page))) {
        checked += 1;
        const [target = '', anchor] = href.split('#');
        const file =
          target === '' ? page : path.join(path.dirname(page), decodeURIComponent(target));
        if (!existsSync(path.join(root, file))) {
          broken.push(`${page}: ${href} (no ${file})`);
        } else if (anchor && file.endsWith('.md')) {
          if (!anchorsOf.has(file)) anchorsOf.set(file, anchors(read(file)));
          if (!anchorsOf.get(file)!.has(anchor)) {
            broken.push(`${page}: ${href} (no heading #${anchor} in ${file})`);
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(30);
    expect(broken).toEqual([]);
  });

  it('keep the README a front door: under 12 KB, details in docs/', () => {
    expect(Buffer.byteLength(readme)).toBeLessThan(12 * 1024);
    expect(readme).toMatch(/!\[[^\]]*\]\(docs\/avatar\.gif\)/);
  });
});
