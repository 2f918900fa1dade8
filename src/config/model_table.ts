/**
 * The capability table as users read it (README, `npm run models`): generated from MODELS so the
 * documentation cannot drift from what the worker enforces (test/readme.test.ts checks it).
 */
import { MODELS, type ModelCapabilities } from './models.ts';

const yes = (flag: boolean) => (flag ? 'yes' : 'no');

const COLUMNS: [string, (m: ModelCapabilities) => string][] = [
  ['Model', (m) => `\`${m.id}\``],
  ['Backend', (m) => (m.backend === 'vertex' ? 'Vertex AI' : 'Gemini API')],
  [
    'Thinking',
    (m) =>
      m.thinking === 'level'
        ? `level${m.thinkingRequired ? ' (required)' : ''}`
        : m.thinking === 'budget'
          ? 'budget'
          : 'none',
  ],
  ['Affective dialog', (m) => yes(m.affectiveDialog)],
  ['Proactive audio', (m) => yes(m.proactiveAudio)],
  ['Async tools', (m) => yes(m.asyncTools)],
  ['Tool-response scheduling', (m) => yes(m.toolResponseScheduling)],
  ['Mid-session instructions/context', (m) => yes(m.midSessionClientContent)],
  ['Text turns (greeting, generateReply) go as', (m) => m.textTurnRoute.replace('_', ' ')],
  [
    'Video input',
    (m) => (m.videoInput ? (m.videoCountsTowardTurn ? 'yes, every frame counts' : 'yes') : 'no'),
  ],
  ['Verified', (m) => (m.verified ? 'yes' : 'no: assumed')],
];

export function modelTableMarkdown(): string {
  const header = `| ${COLUMNS.map(([name]) => name).join(' | ')} |`;
  const rule = `| ${COLUMNS.map(() => '---').join(' | ')} |`;
  const rows = MODELS.map((m) => `| ${COLUMNS.map(([, cell]) => cell(m)).join(' | ')} |`);
  return [header, rule, ...rows].join('\n');
}
