/**
 * modelProblems: every combination the capability table forbids, one row each, asserting the
 * field name as the user wrote it and the fix the line offers; then combinations that must pass.
 */
import { describe, expect, it } from 'vitest';
import type { CallOptions, FieldOrigins } from '../src/config/call_options.ts';
import { type ModelEnvironment, modelProblems } from '../src/config/model_rules.ts';
import { type ModelCapabilities, modelCapabilities } from '../src/config/models.ts';

const M31 = 'gemini-3.1-flash-live-preview';
const M25 = 'gemini-2.5-flash-native-audio-preview-12-2025';
const VERTEX_25 = 'gemini-live-2.5-flash-native-audio';
const M38 = 'gemini-3.8-live';
const M38_THINKING = 'gemini-3.8-live-extended-thinking';
/** A row for a model the table does not have: a 2.5 that lost its thinking control. */
const NO_THINKING: ModelCapabilities = {
  ...modelCapabilities(M25),
  id: 'gemini-test-no-thinking',
  thinking: 'none',
};
const VERTEX_38: ModelCapabilities = modelCapabilities(M38, 'vertex');

const GEMINI_API: ModelEnvironment = { vertexai: false };
const VERTEX: ModelEnvironment = { vertexai: true };
const LEVEL_FIX = 'use GEMINI_THINKING_LEVEL=minimal|low|medium|high instead';
/** The fix names the field in the source the bad value came from. */
const DISPATCH_LEVEL_FIX =
  'use gemini_realtime_config.thinking_level=minimal|low|medium|high instead';
const BUDGET_FIX = 'use GEMINI_THINKING_BUDGET (-1 dynamic, 0 off, up to 32768) instead';
const FEATURE_FIX = 'set it to false or pick a 2.5 native-audio model';

interface Case {
  /** A model id, or a capabilities row for a model that is not in the table. */
  model: string | ModelCapabilities;
  call?: Partial<CallOptions>;
  env?: ModelEnvironment;
  origins?: FieldOrigins;
}

function problemsFor({ model, call = {}, env = GEMINI_API, origins = {} }: Case): string[] {
  const backend = env.vertexai ? 'vertex' : 'gemini';
  const caps = typeof model === 'string' ? modelCapabilities(model, backend) : model;
  const options: CallOptions = {
    model: caps.id,
    voice: 'Puck',
    contextId: 'default',
    greeting: '',
    avatarId: 'default',
    ...call,
  };
  return modelProblems(options, caps, origins, env);
}

interface Refused extends Case {
  what: string;
  /** The whole line the user sees: the field as they wrote it, the model, the fix. */
  line: string;
}

const LEVEL_NOT_BUDGET = 'controls thinking with a level, not a budget';
const BUDGET_NOT_LEVEL = 'controls thinking with a token budget, not a level';
const SYNC_TOOLS = 'runs function calls synchronously only; set it to blocking';
const ASYNC_TOOLS =
  'runs function calls asynchronously only (BLOCKING is an error); set it to non_blocking or remove it';
const NO_THINKING_CONFIG = 'takes no thinking configuration (it reasons internally); remove it';
const NO_SCHEDULING = 'does not take tool-response scheduling; remove it';
const NO_AFFECTIVE = `does not support affective dialog; ${FEATURE_FIX}`;
const NO_PROACTIVE = `does not support proactive audio; ${FEATURE_FIX}`;
const NON_BLOCKING: ModelEnvironment = { vertexai: false, toolBehavior: 'non_blocking' };

// prettier-ignore
const REFUSED: Refused[] = [
  // Thinking control: 3.x takes a level, 2.5 a budget.
  { what: 'thinkingBudget on 3.1', model: M31, call: { thinkingBudget: 1024 },
    line: `GEMINI_THINKING_BUDGET: GEMINI_MODEL=${M31} ${LEVEL_NOT_BUDGET}; ${LEVEL_FIX}` },
  { what: 'thinkingBudget on 3.8', model: M38, call: { thinkingBudget: 0 },
    line: `GEMINI_THINKING_BUDGET: GEMINI_MODEL=${M38} ${NO_THINKING_CONFIG}` },
  { what: 'thinkingLevel on 3.8', model: M38, call: { thinkingLevel: 'low' },
    line: `GEMINI_THINKING_LEVEL: GEMINI_MODEL=${M38} ${NO_THINKING_CONFIG}` },
  { what: 'thinkingLevel on 3.8 on Vertex AI', model: M38, env: VERTEX, call: { thinkingLevel: 'high' },
    line: `GEMINI_THINKING_LEVEL: GEMINI_MODEL=${M38} ${NO_THINKING_CONFIG}` },
  { what: 'thinkingBudget on 3.8 extended thinking', model: M38_THINKING, call: { thinkingBudget: 512 },
    line: `GEMINI_THINKING_BUDGET: GEMINI_MODEL=${M38_THINKING} ${LEVEL_NOT_BUDGET}; use GEMINI_THINKING_LEVEL=low|medium|high instead` },
  { what: 'thinkingLevel minimal on 3.8 extended thinking', model: M38_THINKING, call: { thinkingLevel: 'minimal' },
    line: `GEMINI_THINKING_LEVEL: minimal is not a level GEMINI_MODEL=${M38_THINKING} takes (allowed: low, medium, high)` },
  { what: 'thinkingLevel on 2.5', model: M25, call: { thinkingLevel: 'low' },
    line: `GEMINI_THINKING_LEVEL: GEMINI_MODEL=${M25} ${BUDGET_NOT_LEVEL}; ${BUDGET_FIX}` },
  { what: 'thinkingLevel on Vertex 2.5', model: VERTEX_25, env: VERTEX, call: { thinkingLevel: 'high' },
    line: `GEMINI_THINKING_LEVEL: GEMINI_MODEL=${VERTEX_25} ${BUDGET_NOT_LEVEL}; ${BUDGET_FIX}` },
  { what: 'thinkingBudget on a model without thinking control', model: NO_THINKING, call: { thinkingBudget: 1 },
    line: `GEMINI_THINKING_BUDGET: GEMINI_MODEL=${NO_THINKING.id} ${NO_THINKING_CONFIG}` },
  // Affective dialog and proactive audio: switches on 2.5, gone or always on since.
  { what: 'affective dialog on 3.1', model: M31, call: { affectiveDialog: true },
    line: `GEMINI_AFFECTIVE_DIALOG: GEMINI_MODEL=${M31} ${NO_AFFECTIVE}` },
  { what: 'affective dialog on 3.8 (removed from the API)', model: M38, call: { affectiveDialog: true },
    line: `GEMINI_AFFECTIVE_DIALOG: GEMINI_MODEL=${M38}: affective dialog was removed from this model's API; remove the setting` },
  { what: 'affective dialog on 3.8 on Vertex AI (always on)', model: VERTEX_38, env: VERTEX, call: { affectiveDialog: true },
    line: `GEMINI_AFFECTIVE_DIALOG: GEMINI_MODEL=${M38} has affective dialog always on and it cannot be set; remove the setting` },
  { what: 'proactive audio on 3.1', model: M31, call: { proactiveAudio: true },
    line: `GEMINI_PROACTIVE_AUDIO: GEMINI_MODEL=${M31} ${NO_PROACTIVE}` },
  { what: 'proactive audio off on 3.8', model: M38, call: { proactiveAudio: false },
    line: `GEMINI_PROACTIVE_AUDIO: GEMINI_MODEL=${M38} always has proactive audio on (Google: turning it off is an error); remove the setting` },
  { what: 'proactive audio off on 3.8 extended thinking', model: M38_THINKING, call: { proactiveAudio: false },
    line: `GEMINI_PROACTIVE_AUDIO: GEMINI_MODEL=${M38_THINKING} always has proactive audio on (Google: turning it off is an error); remove the setting` },
  // Tools.
  { what: 'non_blocking tools on 3.1', model: M31, env: NON_BLOCKING,
    line: `GEMINI_TOOL_BEHAVIOR: GEMINI_MODEL=${M31} ${SYNC_TOOLS}` },
  { what: 'blocking tools on 3.8 extended thinking', model: M38_THINKING, env: { vertexai: false, toolBehavior: 'blocking' },
    line: `GEMINI_TOOL_BEHAVIOR: GEMINI_MODEL=${M38_THINKING} ${ASYNC_TOOLS}` },
  { what: 'non_blocking tools on Vertex 2.5', model: VERTEX_25, env: { ...NON_BLOCKING, vertexai: true },
    line: `GEMINI_TOOL_BEHAVIOR: GEMINI_MODEL=${VERTEX_25} ${SYNC_TOOLS}` },
  { what: 'tool-response scheduling on 3.1', model: M31, env: { vertexai: false, toolResponseScheduling: 'when_idle' },
    line: `GEMINI_TOOL_RESPONSE_SCHEDULING: GEMINI_MODEL=${M31} ${NO_SCHEDULING}` },
  { what: 'tool-response scheduling on 3.8 extended thinking', model: M38_THINKING, env: { vertexai: false, toolResponseScheduling: 'silent' },
    line: `GEMINI_TOOL_RESPONSE_SCHEDULING: GEMINI_MODEL=${M38_THINKING} ${NO_SCHEDULING}` },
  // Google Search: Vertex AI takes it only with other search tools, never beside functions.
  { what: 'Google Search on Vertex 2.5', model: VERTEX_25, env: VERTEX, call: { googleSearch: true },
    line: `GEMINI_GOOGLE_SEARCH: GEMINI_MODEL=${VERTEX_25} cannot ground with Google Search beside function tools; set it to false or pick a Gemini API model` },
  { what: 'tool-response scheduling on Vertex 2.5', model: VERTEX_25, env: { vertexai: true, toolResponseScheduling: 'interrupt' },
    line: `GEMINI_TOOL_RESPONSE_SCHEDULING: GEMINI_MODEL=${VERTEX_25} ${NO_SCHEDULING}` },
  // Backend: the line starts with the model setting itself.
  { what: 'a Vertex AI model without Vertex AI', model: VERTEX_25,
    line: `GEMINI_MODEL=${VERTEX_25} is a Vertex AI model; set GOOGLE_GENAI_USE_VERTEXAI=true with GOOGLE_CLOUD_PROJECT, or pick a Gemini API model` },
  { what: 'a Gemini API 2.5 model with Vertex AI', model: M25, env: VERTEX,
    line: `GEMINI_MODEL=${M25} is a Gemini API model but GOOGLE_GENAI_USE_VERTEXAI is on; unset it or pick a Vertex AI model` },
  { what: 'a Gemini API 3.1 model with Vertex AI', model: M31, env: VERTEX,
    line: `GEMINI_MODEL=${M31} is a Gemini API model but GOOGLE_GENAI_USE_VERTEXAI is on; unset it or pick a Vertex AI model` },
  { what: '3.8 extended thinking with Vertex AI (Gemini API only)', model: M38_THINKING, env: VERTEX,
    line: `GEMINI_MODEL=${M38_THINKING} is a Gemini API model but GOOGLE_GENAI_USE_VERTEXAI is on; unset it or pick a Vertex AI model` },
];

describe('modelProblems refuses', () => {
  it.each(REFUSED)('$what', (c) => {
    expect(problemsFor(c)).toEqual([c.line]);
  });

  it('names each field where it came from (a dispatch path) and the rest by env var', () => {
    const problems = problemsFor({
      model: M31,
      call: { thinkingBudget: 512, affectiveDialog: true },
      origins: {
        model: 'gemini_realtime_config.model',
        thinkingBudget: 'gemini_realtime_config.thinking_budget',
      },
    });
    expect(problems).toEqual([
      `gemini_realtime_config.thinking_budget: gemini_realtime_config.model=${M31} ${LEVEL_NOT_BUDGET}; ${DISPATCH_LEVEL_FIX}`,
      `GEMINI_AFFECTIVE_DIALOG: gemini_realtime_config.model=${M31} ${NO_AFFECTIVE}`,
    ]);
  });

  it('reports every problem of one combination, not only the first', () => {
    const problems = problemsFor({
      model: M31,
      call: { thinkingBudget: 0, affectiveDialog: true, proactiveAudio: true },
      env: { vertexai: true, toolBehavior: 'non_blocking', toolResponseScheduling: 'silent' },
    });
    expect(problems.map((p) => p.split(/[:= ]/, 1)[0])).toEqual([
      'GEMINI_MODEL',
      'GEMINI_THINKING_BUDGET',
      'GEMINI_AFFECTIVE_DIALOG',
      'GEMINI_PROACTIVE_AUDIO',
      'GEMINI_TOOL_BEHAVIOR',
      'GEMINI_TOOL_RESPONSE_SCHEDULING',
    ]);
  });
});

interface Allowed extends Case {
  what: string;
}

// prettier-ignore
const ALLOWED: Allowed[] = [
  { what: 'the defaults on 3.8', model: M38 },
  { what: 'the defaults on 3.8 on Vertex AI', model: M38, env: VERTEX },
  { what: 'no thinking level on 3.8 extended thinking (its default is sent)', model: M38_THINKING },
  { what: 'proactive audio on, on 3.8 (it is on; nothing is sent)', model: M38, call: { proactiveAudio: true } },
  { what: 'affective dialog off, on 3.8', model: M38, call: { affectiveDialog: false } },
  { what: 'non_blocking tools and scheduling on 3.8', model: M38, env: { vertexai: false, toolBehavior: 'non_blocking', toolResponseScheduling: 'when_idle' } },
  { what: 'blocking tools on 3.8 (auto-cancelled by new input on Vertex AI)', model: M38, env: { vertexai: true, toolBehavior: 'blocking' } },
  { what: 'non_blocking tools on 3.8 extended thinking', model: M38_THINKING, env: { vertexai: false, toolBehavior: 'non_blocking' } },
  { what: 'Google Search on 3.8', model: M38, call: { googleSearch: true } },
  { what: 'Google Search on 3.8 on Vertex AI', model: M38, env: VERTEX, call: { googleSearch: true } },
  { what: 'Google Search on 3.1', model: M31, call: { googleSearch: true } },
  { what: 'the defaults on 3.1', model: M31 },
  { what: 'thinkingLevel on 3.1', model: M31, call: { thinkingLevel: 'minimal' } },
  { what: 'thinkingLevel on 3.8 extended thinking', model: M38_THINKING, call: { thinkingLevel: 'high' } },
  { what: 'thinkingBudget on 2.5', model: M25, call: { thinkingBudget: 1024 } },
  { what: 'thinkingBudget -1 (dynamic) on 2.5', model: M25, call: { thinkingBudget: -1 } },
  { what: 'thinkingBudget 0 (off) on Vertex 2.5', model: VERTEX_25, env: VERTEX, call: { thinkingBudget: 0 } },
  { what: 'affective dialog and proactive audio on 2.5', model: M25, call: { affectiveDialog: true, proactiveAudio: true } },
  { what: 'affective dialog and proactive audio on Vertex 2.5', model: VERTEX_25, env: VERTEX, call: { affectiveDialog: true, proactiveAudio: true } },
  { what: 'non_blocking tools and scheduling on 2.5 (Gemini API)', model: M25, env: { vertexai: false, toolBehavior: 'non_blocking', toolResponseScheduling: 'when_idle' } },
  { what: 'blocking tools on 3.1', model: M31, env: { vertexai: false, toolBehavior: 'blocking' } },
  { what: 'blocking tools on Vertex 2.5', model: VERTEX_25, env: { vertexai: true, toolBehavior: 'blocking' } },
];

describe('modelProblems accepts', () => {
  it.each(ALLOWED)('$what', (c) => {
    expect(problemsFor(c)).toEqual([]);
  });
});
