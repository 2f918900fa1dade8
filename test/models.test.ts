/**
 * The model-capability table, row by row. Adding a model means adding a row here: the first test
 * fails until the table below lists exactly the ids in MODELS, and each row asserts every column.
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MODEL,
  KNOWN_MODEL_IDS,
  MODELS,
  type ModelCapabilities,
  UnknownModelError,
  modelCapabilities,
} from '../src/config/models.ts';

const M31 = 'gemini-3.1-flash-live-preview';
const M25 = 'gemini-2.5-flash-native-audio-preview-12-2025';
const VERTEX_25 = 'gemini-live-2.5-flash-native-audio';
const M38 = 'gemini-3.8-live';
const M38_THINKING = 'gemini-3.8-live-extended-thinking';
const NEWER = 'gemini-9.9-flash-live';

/** Every column of every row. `note` is prose, so it is matched on what it must tell the user. */
const EXPECTED: ModelCapabilities[] = [
  {
    id: M31,
    backend: 'gemini',
    verified: true,
    thinking: 'level',
    thinkingRequired: false,
    affectiveDialog: false,
    proactiveAudio: false,
    defaultToolBehavior: 'blocking',
    functionResponseIds: true,
    asyncTools: false,
    toolResponseScheduling: false,
    midSessionClientContent: false,
    textTurnRoute: 'realtime_text',
    historySeeding: 'history_config',
    textOutputWithTts: false,
    videoInput: true,
    replyEnds: 'turn_complete',
    videoCountsTowardTurn: true,
    note: expect.stringMatching(/initial history.*realtime text/),
  },
  {
    id: M25,
    backend: 'gemini',
    verified: true,
    thinking: 'budget',
    thinkingRequired: false,
    affectiveDialog: true,
    proactiveAudio: true,
    defaultToolBehavior: 'blocking',
    functionResponseIds: true,
    asyncTools: true,
    toolResponseScheduling: true,
    midSessionClientContent: true,
    textTurnRoute: 'client_content',
    historySeeding: 'client_content',
    textOutputWithTts: false,
    videoInput: true,
    replyEnds: 'turn_complete',
    videoCountsTowardTurn: false,
  },
  {
    id: VERTEX_25,
    backend: 'vertex',
    verified: true,
    thinking: 'budget',
    thinkingRequired: false,
    affectiveDialog: true,
    proactiveAudio: true,
    defaultToolBehavior: 'blocking',
    functionResponseIds: false,
    asyncTools: false,
    toolResponseScheduling: false,
    midSessionClientContent: true,
    textTurnRoute: 'client_content',
    historySeeding: 'client_content',
    textOutputWithTts: false,
    videoInput: true,
    replyEnds: 'turn_complete',
    videoCountsTowardTurn: false,
    note: expect.stringContaining('Vertex AI'),
  },
  {
    id: M38,
    backend: 'gemini',
    verified: false,
    thinking: 'level',
    thinkingRequired: false,
    affectiveDialog: false,
    proactiveAudio: false,
    defaultToolBehavior: 'blocking',
    functionResponseIds: true,
    asyncTools: false,
    toolResponseScheduling: false,
    midSessionClientContent: false,
    textTurnRoute: 'realtime_text',
    historySeeding: 'history_config',
    textOutputWithTts: false,
    videoInput: true,
    replyEnds: 'turn_complete',
    videoCountsTowardTurn: true,
    note: expect.stringMatching(/^unverified/),
  },
  {
    id: M38_THINKING,
    backend: 'gemini',
    verified: false,
    thinking: 'level',
    thinkingRequired: true,
    affectiveDialog: false,
    proactiveAudio: false,
    defaultToolBehavior: 'blocking',
    functionResponseIds: true,
    asyncTools: false,
    toolResponseScheduling: false,
    midSessionClientContent: false,
    textTurnRoute: 'realtime_text',
    historySeeding: 'history_config',
    textOutputWithTts: false,
    videoInput: true,
    replyEnds: 'turn_complete',
    videoCountsTowardTurn: true,
    note: expect.stringMatching(/^unverified.*thinking level/),
  },
];

describe('the capability table', () => {
  it('has exactly one test row per model, in table order', () => {
    expect(EXPECTED.map((row) => row.id)).toEqual(MODELS.map((row) => row.id));
    expect(KNOWN_MODEL_IDS).toEqual(MODELS.map((row) => row.id));
    expect(new Set(KNOWN_MODEL_IDS).size).toBe(KNOWN_MODEL_IDS.length);
  });

  // toStrictEqual: a new column fails every row until the rows say what it is for each model.
  it.each(EXPECTED)('$id', (expected) => {
    expect(modelCapabilities(expected.id)).toStrictEqual(expected);
  });

  it('defaults to gemini-3.1-flash-live-preview, the first row', () => {
    expect(DEFAULT_MODEL).toBe(M31);
    expect(MODELS[0]!.id).toBe(DEFAULT_MODEL);
  });

  it('marks every row with inferred columns as unverified in its note', () => {
    for (const row of MODELS.filter((m) => !m.verified)) {
      expect(row.note, row.id).toMatch(/unverified/);
    }
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
    const error = thrown(() => modelCapabilities(NEWER));
    expect(error.message).toContain(`"${NEWER}" is not in the capability table`);
    for (const id of KNOWN_MODEL_IDS) expect(error.message).toContain(id);
    expect(error.message).toContain('set GEMINI_MODEL_RULES to the known model');
  });

  it.each(MODELS.map((row) => row.id))(
    'runs with the columns of %s when GEMINI_MODEL_RULES names it, marked unverified',
    (rulesOf) => {
      const row = modelCapabilities(rulesOf);
      expect(modelCapabilities(NEWER, rulesOf)).toStrictEqual({
        ...row,
        id: NEWER,
        verified: false,
        note: `runs with the rules of ${rulesOf}`,
      });
    },
  );

  it('is refused when GEMINI_MODEL_RULES names a row that does not exist', () => {
    const error = thrown(() => modelCapabilities(NEWER, 'gemini-2.0-flash-exp'));
    expect(error.message).toMatch(
      /^GEMINI_MODEL_RULES: "gemini-2\.0-flash-exp" is not a known model/,
    );
    for (const id of KNOWN_MODEL_IDS) expect(error.message).toContain(id);
  });

  it('does not let GEMINI_MODEL_RULES change a known row', () => {
    expect(modelCapabilities(M31, M25)).toBe(modelCapabilities(M31));
  });
});
