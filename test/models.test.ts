/**
 * The model-capability table, row by row. Adding a model means adding a row here: the first test
 * fails until the table below lists exactly the rows in MODELS, and each row asserts every column.
 * Every value is what Google's pages say (see each row's `sources`); the comments name the page.
 */
import { describe, expect, it } from 'vitest';
import {
  type Backend,
  DEFAULT_MODEL,
  DOCS,
  KNOWN_MODEL_IDS,
  MODELS,
  type ModelCapabilities,
  SOURCED_COLUMNS,
  UnknownModelError,
  modelCapabilities,
} from '../src/config/models.ts';

const M38 = 'gemini-3.8-live';
const M38_THINKING = 'gemini-3.8-live-extended-thinking';
const M31 = 'gemini-3.1-flash-live-preview';
const M25 = 'gemini-2.5-flash-native-audio-preview-12-2025';
const VERTEX_25 = 'gemini-live-2.5-flash-native-audio';
const NEWER = 'gemini-9.9-flash-live';

type Expected = Omit<ModelCapabilities, 'sources' | 'note'> & { note?: unknown };

/** Every column of every row but its sources. `note` is prose, matched on what it must say. */
const EXPECTED: Expected[] = [
  {
    // ai.google.dev .../models/gemini-3.8-live, its "Migrating from Gemini 3.1" list.
    id: M38,
    backend: 'gemini',
    status: 'ga',
    thinking: 'none',
    thinkingLevels: [],
    affectiveDialog: 'removed',
    proactiveAudio: 'always_on',
    blockingTools: true,
    asyncTools: true,
    defaultToolBehavior: 'non_blocking',
    blockingCallInput: 'cancels_call',
    toolResponseScheduling: true,
    functionResponseIds: true,
    midSessionClientContent: true,
    textTurnRoute: 'user_content',
    historySeeding: 'history_config',
    replyEnds: 'turn_complete',
    googleSearch: true,
    videoInput: true,
    videoCountsTowardTurn: true,
    videoOutput: false,
    textOutputWithTts: false,
    note: expect.stringContaining('recommended'),
  },
  {
    // Vertex AI's 3.8 guide and migration page: client content only to seed history, avatars.
    id: M38,
    backend: 'vertex',
    status: 'ga',
    thinking: 'none',
    thinkingLevels: [],
    affectiveDialog: 'always_on',
    proactiveAudio: 'always_on',
    blockingTools: true,
    asyncTools: true,
    defaultToolBehavior: 'non_blocking',
    blockingCallInput: 'cancels_call',
    toolResponseScheduling: true,
    functionResponseIds: true,
    midSessionClientContent: false,
    textTurnRoute: 'realtime_text',
    historySeeding: 'history_config',
    replyEnds: 'turn_complete',
    googleSearch: true,
    videoInput: true,
    videoCountsTowardTurn: true,
    videoOutput: true,
    textOutputWithTts: false,
    note: expect.stringMatching(/Vertex AI.*Avatar/),
  },
  {
    // live-api/thinking: levels low/medium/high, async tools only, a reply ends at IDLE.
    id: M38_THINKING,
    backend: 'gemini',
    status: 'ga',
    thinking: 'level',
    thinkingLevels: ['low', 'medium', 'high'],
    defaultThinkingLevel: 'low',
    affectiveDialog: 'removed',
    proactiveAudio: 'always_on',
    blockingTools: false,
    asyncTools: true,
    defaultToolBehavior: 'non_blocking',
    blockingCallInput: 'cancels_call',
    toolResponseScheduling: false,
    functionResponseIds: true,
    midSessionClientContent: true,
    textTurnRoute: 'user_content',
    historySeeding: 'history_config',
    replyEnds: 'idle',
    googleSearch: true,
    videoInput: true,
    videoCountsTowardTurn: true,
    videoOutput: false,
    textOutputWithTts: false,
    note: expect.stringMatching(/fillers.*IDLE.*defaults to low/),
  },
  {
    id: M31,
    backend: 'gemini',
    status: 'legacy_preview',
    thinking: 'level',
    thinkingLevels: ['minimal', 'low', 'medium', 'high'],
    affectiveDialog: 'unsupported',
    proactiveAudio: 'unsupported',
    blockingTools: true,
    asyncTools: false,
    defaultToolBehavior: 'blocking',
    blockingCallInput: 'held',
    toolResponseScheduling: false,
    functionResponseIds: true,
    midSessionClientContent: false,
    textTurnRoute: 'realtime_text',
    historySeeding: 'history_config',
    replyEnds: 'turn_complete',
    googleSearch: true,
    videoInput: true,
    videoCountsTowardTurn: true,
    videoOutput: false,
    textOutputWithTts: false,
    note: expect.stringMatching(/legacy preview.*initial history.*realtime text/),
  },
  {
    id: M25,
    backend: 'gemini',
    status: 'preview',
    thinking: 'budget',
    thinkingLevels: [],
    affectiveDialog: 'opt_in',
    proactiveAudio: 'opt_in',
    blockingTools: true,
    asyncTools: true,
    defaultToolBehavior: 'blocking',
    blockingCallInput: 'held',
    toolResponseScheduling: true,
    functionResponseIds: true,
    midSessionClientContent: true,
    textTurnRoute: 'client_content',
    historySeeding: 'client_content',
    replyEnds: 'turn_complete',
    googleSearch: true,
    videoInput: true,
    videoCountsTowardTurn: false,
    videoOutput: false,
    textOutputWithTts: false,
  },
  {
    id: VERTEX_25,
    backend: 'vertex',
    status: 'ga',
    thinking: 'budget',
    thinkingLevels: [],
    affectiveDialog: 'opt_in',
    proactiveAudio: 'opt_in',
    blockingTools: true,
    asyncTools: false,
    defaultToolBehavior: 'blocking',
    blockingCallInput: 'held',
    toolResponseScheduling: false,
    functionResponseIds: false,
    midSessionClientContent: true,
    textTurnRoute: 'client_content',
    historySeeding: 'client_content',
    replyEnds: 'turn_complete',
    googleSearch: false,
    videoInput: true,
    videoCountsTowardTurn: false,
    videoOutput: false,
    textOutputWithTts: false,
    note: expect.stringContaining('Vertex AI'),
  },
];

const key = (row: { id: string; backend: Backend }) => `${row.id} (${row.backend})`;

describe('the capability table', () => {
  it('has exactly one test row per (model, backend), in table order', () => {
    expect(EXPECTED.map(key)).toEqual(MODELS.map(key));
    expect(new Set(MODELS.map(key)).size).toBe(MODELS.length);
    expect(KNOWN_MODEL_IDS).toEqual([M38, M38_THINKING, M31, M25, VERTEX_25]);
  });

  // toStrictEqual: a new column fails every row until the rows say what it is for each model.
  it.each(EXPECTED)('$id on $backend', (expected) => {
    const { sources, ...row } = modelCapabilities(expected.id, expected.backend);
    expect(row).toStrictEqual(expected);
    expect(Object.keys(sources).sort()).toEqual([...SOURCED_COLUMNS].sort());
  });

  it('cites one of the listed Google pages, or says why it inferred, for every column of every row', () => {
    const pages = new Set<string>(Object.values(DOCS));
    for (const row of MODELS) {
      for (const column of SOURCED_COLUMNS) {
        const source = row.sources[column];
        if ('url' in source) expect(pages, `${key(row)} ${column}`).toContain(source.url);
        else expect(source.inferred.length, `${key(row)} ${column}`).toBeGreaterThan(10);
      }
    }
  });

  it("defaults to gemini-3.8-live, Google's recommended GA model, on either backend", () => {
    expect(DEFAULT_MODEL).toBe(M38);
    expect(MODELS[0]!.id).toBe(DEFAULT_MODEL);
    expect(modelCapabilities(DEFAULT_MODEL, 'gemini').backend).toBe('gemini');
    expect(modelCapabilities(DEFAULT_MODEL, 'vertex').backend).toBe('vertex');
  });

  it('gives the row of the other backend when an id has none on this one (the rules refuse it)', () => {
    expect(modelCapabilities(M31, 'vertex').backend).toBe('gemini');
    expect(modelCapabilities(VERTEX_25, 'gemini').backend).toBe('vertex');
  });
});

describe('an id the table does not know', () => {
  function thrown(run: () => unknown): UnknownModelError {
    try {
      run();
    } catch (error) {
      expect(error).toBeInstanceOf(UnknownModelError);
      return error as UnknownModelError;
    }
    throw new Error('expected an UnknownModelError');
  }

  it('is refused with every known id and the GEMINI_MODEL_RULES way out', () => {
    const error = thrown(() => modelCapabilities(NEWER, 'gemini'));
    expect(error.message).toContain(`"${NEWER}" is not in the capability table`);
    for (const id of KNOWN_MODEL_IDS) expect(error.message).toContain(id);
    expect(error.message).toContain('set GEMINI_MODEL_RULES to the known model');
  });

  it.each(MODELS.map((row) => [row.id, row.backend] as const))(
    'runs with the columns of %s on %s when GEMINI_MODEL_RULES names it',
    (rulesOf, backend) => {
      const row = modelCapabilities(rulesOf, backend);
      expect(modelCapabilities(NEWER, backend, rulesOf)).toStrictEqual({
        ...row,
        id: NEWER,
        note: `runs with the rules of ${rulesOf}`,
      });
    },
  );

  it('is refused when GEMINI_MODEL_RULES names a row that does not exist', () => {
    const error = thrown(() => modelCapabilities(NEWER, 'gemini', 'gemini-2.0-flash-exp'));
    expect(error.message).toMatch(
      /^GEMINI_MODEL_RULES: "gemini-2\.0-flash-exp" is not a known model/,
    );
    for (const id of KNOWN_MODEL_IDS) expect(error.message).toContain(id);
  });

  it('does not let GEMINI_MODEL_RULES change a known row', () => {
    expect(modelCapabilities(M31, 'gemini', M25)).toBe(modelCapabilities(M31, 'gemini'));
  });
});
