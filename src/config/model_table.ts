/**
 * The capability table as users read it (docs/models.md, `npm run models`): generated from MODELS
 * so the documentation cannot drift from what the worker enforces (test/readme.test.ts checks
 * it). A cell that could only be inferred is marked †, and the sources list under the table says
 * why; every other cell links the page it was read from.
 */
import {
  DOCS,
  MODELS,
  type ModelCapabilities,
  type SourcedColumn,
  type Switchable,
} from './models.ts';

const yes = (flag: boolean) => (flag ? 'yes' : 'no');

const SWITCH: Record<Switchable, string> = {
  opt_in: 'opt-in',
  unsupported: 'no',
  removed: 'removed',
  always_on: 'always on',
};

const STATUS: Record<ModelCapabilities['status'], string> = {
  ga: 'GA',
  preview: 'preview',
  legacy_preview: 'legacy preview',
};

function thinking(m: ModelCapabilities): string {
  if (m.thinking === 'budget') return 'budget';
  if (m.thinking === 'none') return 'none (internal)';
  const levels = m.thinkingLevels.join('/');
  return m.defaultThinkingLevel
    ? `level ${levels} (default ${m.defaultThinkingLevel})`
    : `level ${levels}`;
}

function tools(m: ModelCapabilities): string {
  if (!m.asyncTools) return 'blocking only';
  if (!m.blockingTools) return 'non-blocking only';
  return m.defaultToolBehavior === 'non_blocking'
    ? 'non-blocking (default), blocking'
    : 'blocking (default), non-blocking';
}

type Column = [header: string, cell: (m: ModelCapabilities) => string, source?: SourcedColumn];

const COLUMNS: Column[] = [
  ['Model', (m) => `\`${m.id}\``],
  ['Backend', (m) => (m.backend === 'vertex' ? 'Vertex AI' : 'Gemini API')],
  ['Status', (m) => STATUS[m.status], 'status'],
  ['Thinking', thinking, 'thinking'],
  ['Affective dialog', (m) => SWITCH[m.affectiveDialog], 'affectiveDialog'],
  ['Proactive audio', (m) => SWITCH[m.proactiveAudio], 'proactiveAudio'],
  ['Function calls', tools, 'tools'],
  ['Response scheduling', (m) => yes(m.toolResponseScheduling), 'toolResponseScheduling'],
  [
    'Mid-session instructions/context',
    (m) => yes(m.midSessionClientContent),
    'midSessionClientContent',
  ],
  ['Text turns go as', (m) => m.textTurnRoute.replace('_', ' ')],
  ['History on a fresh socket', (m) => m.historySeeding.replace('_', ' '), 'historySeeding'],
  [
    'Reply ends at',
    (m) => (m.replyEnds === 'idle' ? 'interactionStatus IDLE' : 'turnComplete'),
    'replyEnds',
  ],
  ['Google Search', (m) => yes(m.googleSearch), 'googleSearch'],
  [
    'Video in',
    (m) => (m.videoInput ? (m.videoCountsTowardTurn ? 'yes, every frame counts' : 'yes') : 'no'),
    'videoInput',
  ],
  ['Avatar video out', (m) => yes(m.videoOutput), 'videoOutput'],
];

const INFERRED_MARK = ' †';

function cell(m: ModelCapabilities, [, text, source]: Column): string {
  const inferred = source !== undefined && 'inferred' in m.sources[source];
  return `${text(m)}${inferred ? INFERRED_MARK : ''}`;
}

/** How each documentation page is named in the sources list. */
const PAGE_TITLES: Record<keyof typeof DOCS, string> = {
  g38: 'Gemini 3.8 Live',
  g38Thinking: 'Gemini 3.8 Live Extended Thinking',
  liveThinking: 'Live API: thinking',
  g31: 'Gemini 3.1 Flash Live',
  liveGuide: 'Live API capabilities guide',
  liveTools: 'Live API: tools',
  v38Guide: 'Vertex AI: Gemini 3.8 Live guide',
  v38Model: 'Vertex AI: Gemini 3.8 Live',
  v38Migrate: 'Vertex AI: migrate from 2.5 to 3.8 Live',
  vAvatars: 'Vertex AI: Live Avatars',
  vAsyncTools: 'Vertex AI: asynchronous function calling',
  vCapabilities: 'Vertex AI: Live API capabilities',
  v25Model: 'Vertex AI: Gemini 2.5 Flash Live',
};

function pageName(url: string): string {
  const key = (Object.keys(DOCS) as (keyof typeof DOCS)[]).find((k) => DOCS[k] === url);
  return key ? PAGE_TITLES[key] : url;
}

/** Per row: each page and the columns read there, then each inferred column and why. */
function sourcesList(): string[] {
  const names: Partial<Record<SourcedColumn, string>> = {};
  for (const [header, , source] of COLUMNS) if (source) names[source] = header.toLowerCase();
  names.functionResponseIds = 'function response ids';
  names.textOutputWithTts = 'audio-only answers';
  const lines: string[] = [];
  for (const m of MODELS) {
    const pages = new Map<string, string[]>();
    const guesses: string[] = [];
    for (const [column, source] of Object.entries(m.sources) as [
      SourcedColumn,
      ModelCapabilities['sources'][SourcedColumn],
    ][]) {
      const name = names[column] ?? column;
      if ('url' in source) pages.set(source.url, [...(pages.get(source.url) ?? []), name]);
      else guesses.push(`${name}: ${source.inferred}`);
    }
    const read = [...pages].map(
      ([url, columns]) => `[${pageName(url)}](${url}) (${columns.join(', ')})`,
    );
    const backend = m.backend === 'vertex' ? 'Vertex AI' : 'Gemini API';
    lines.push(`- \`${m.id}\`, ${backend}: ${read.join('; ')}.`);
    if (guesses.length > 0) lines.push(`  † ${guesses.join('; ')}.`);
  }
  return lines;
}

export function modelTableMarkdown(): string {
  const header = `| ${COLUMNS.map(([name]) => name).join(' | ')} |`;
  const rule = `| ${COLUMNS.map(() => '---').join(' | ')} |`;
  const rows = MODELS.map((m) => `| ${COLUMNS.map((column) => cell(m, column)).join(' | ')} |`);
  return [
    header,
    rule,
    ...rows,
    '',
    "Sources (Google's pages, read 2026-12-01; † inferred):",
    '',
    ...sourcesList(),
  ].join('\n');
}
