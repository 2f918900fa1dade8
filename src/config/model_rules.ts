/**
 * Enforcement of the capability table on a set of options: every combination the model cannot
 * take becomes one problem line naming the field, the model and the fix. Runs before any
 * connection, for the environment and again for each dispatch.
 */
import {
  type CallField,
  type CallOptions,
  type FieldOrigins,
  fieldName,
  fieldSpec,
} from './call_options.ts';
import { MODELS, type ModelCapabilities, type Switchable, THINKING_LEVELS } from './models.ts';

export const TOOL_BEHAVIORS = ['blocking', 'non_blocking'] as const;
export type ToolBehavior = (typeof TOOL_BEHAVIORS)[number];
export const TOOL_RESPONSE_SCHEDULINGS = ['interrupt', 'when_idle', 'silent'] as const;
export type ToolResponseScheduling = (typeof TOOL_RESPONSE_SCHEDULINGS)[number];

/** Deployment-wide options that also depend on the model. */
export interface ModelEnvironment {
  vertexai: boolean;
  toolBehavior?: ToolBehavior;
  toolResponseScheduling?: ToolResponseScheduling;
}

const PICK_25 = 'or pick a 2.5 native-audio model';

/** Why `true` cannot be set for a switch that is not `opt_in`, and the fix. */
function switchRefusal(kind: Switchable, feature: string, model: string): string {
  switch (kind) {
    case 'removed':
      return `${model}: ${feature} was removed from this model's API; remove the setting`;
    case 'always_on':
      return `${model} has ${feature} always on and it cannot be set; remove the setting`;
    default:
      return `${model} does not support ${feature}; set it to false ${PICK_25}`;
  }
}

export function modelProblems(
  call: CallOptions,
  caps: ModelCapabilities,
  origins: FieldOrigins,
  env: ModelEnvironment,
): string[] {
  const name = (field: CallField) => fieldName(field, origins);
  /** The field to suggest instead of `like`, named in the same source (env var or dispatch path). */
  const instead = (field: CallField, like: CallField) =>
    origins[like] !== undefined ? (fieldSpec(field).dispatch ?? name(field)) : name(field);
  const model = `${name('model')}=${caps.id}`;
  const problems: string[] = [];
  const levels = caps.thinkingLevels.length > 0 ? caps.thinkingLevels : THINKING_LEVELS;

  if (env.vertexai && caps.backend === 'gemini') {
    problems.push(
      `${model} is a Gemini API model but GOOGLE_GENAI_USE_VERTEXAI is on; unset it or pick a Vertex AI model`,
    );
  }
  if (!env.vertexai && caps.backend === 'vertex') {
    problems.push(
      `${model} is a Vertex AI model; set GOOGLE_GENAI_USE_VERTEXAI=true with GOOGLE_CLOUD_PROJECT, or pick a Gemini API model`,
    );
  }

  const noThinking = `${model} takes no thinking configuration (it reasons internally); remove it`;
  if (call.thinkingBudget !== undefined && caps.thinking !== 'budget') {
    problems.push(
      caps.thinking === 'level'
        ? `${name('thinkingBudget')}: ${model} controls thinking with a level, not a budget; use ${instead('thinkingLevel', 'thinkingBudget')}=${levels.join('|')} instead`
        : `${name('thinkingBudget')}: ${noThinking}`,
    );
  }
  if (call.thinkingLevel !== undefined && caps.thinking !== 'level') {
    problems.push(
      caps.thinking === 'budget'
        ? `${name('thinkingLevel')}: ${model} controls thinking with a token budget, not a level; use ${instead('thinkingBudget', 'thinkingLevel')} (-1 dynamic, 0 off, up to 32768) instead`
        : `${name('thinkingLevel')}: ${noThinking}`,
    );
  }
  if (
    call.thinkingLevel !== undefined &&
    caps.thinking === 'level' &&
    !caps.thinkingLevels.includes(call.thinkingLevel)
  ) {
    problems.push(
      `${name('thinkingLevel')}: ${call.thinkingLevel} is not a level ${model} takes (allowed: ${caps.thinkingLevels.join(', ')})`,
    );
  }

  if (call.affectiveDialog && caps.affectiveDialog !== 'opt_in') {
    problems.push(
      `${name('affectiveDialog')}: ${switchRefusal(caps.affectiveDialog, 'affective dialog', model)}`,
    );
  }
  if (call.proactiveAudio && caps.proactiveAudio === 'unsupported') {
    problems.push(
      `${name('proactiveAudio')}: ${switchRefusal(caps.proactiveAudio, 'proactive audio', model)}`,
    );
  }
  if (call.proactiveAudio === false && caps.proactiveAudio === 'always_on') {
    problems.push(
      `${name('proactiveAudio')}: ${model} always has proactive audio on (Google: turning it off is an error); remove the setting`,
    );
  }
  if (env.toolBehavior === 'non_blocking' && !caps.asyncTools) {
    problems.push(
      `GEMINI_TOOL_BEHAVIOR: ${model} runs function calls synchronously only; set it to blocking`,
    );
  }
  if (env.toolBehavior === 'blocking' && !caps.blockingTools) {
    problems.push(
      `GEMINI_TOOL_BEHAVIOR: ${model} runs function calls asynchronously only (BLOCKING is an error); set it to non_blocking or remove it`,
    );
  }
  if (env.toolResponseScheduling !== undefined && !caps.toolResponseScheduling) {
    problems.push(
      `GEMINI_TOOL_RESPONSE_SCHEDULING: ${model} does not take tool-response scheduling; remove it`,
    );
  }
  if (call.googleSearch && !caps.googleSearch) {
    problems.push(
      `${name('googleSearch')}: ${model} cannot ground with Google Search beside function tools; set it to false or pick a Gemini API model`,
    );
  }
  return problems;
}

/**
 * The line refusing a Gemini Live Avatar (`avatar_id` naming one) on a model that cannot render
 * it, or undefined when it can. Checked with the avatar, before anything connects.
 */
export function geminiAvatarProblem(
  call: CallOptions,
  caps: ModelCapabilities,
  origins: FieldOrigins,
): string | undefined {
  if (caps.videoOutput) return undefined;
  const model = `${fieldName('model', origins)}=${caps.id}`;
  const renderers = MODELS.filter((m) => m.videoOutput);
  const where = renderers.map(
    (m) => `${m.id} on ${m.backend === 'vertex' ? 'Vertex AI' : 'the Gemini API'}`,
  );
  const sameIdElsewhere = renderers.some((m) => m.id === caps.id);
  const fix = sameIdElsewhere
    ? 'set GOOGLE_GENAI_USE_VERTEXAI=true with GOOGLE_CLOUD_PROJECT, or pick another avatar'
    : `pick ${renderers.map((m) => m.id).join(' or ')} on Vertex AI, or another avatar`;
  const why = sameIdElsewhere
    ? `${model} renders avatars on Vertex AI only`
    : `${model} cannot render one (only ${where.join(', ')} can)`;
  return `${fieldName('avatarId', origins)}: ${JSON.stringify(call.avatarId)} is a Gemini Live Avatar; ${why}; ${fix}`;
}

/**
 * Remove the options that came from the environment (no dispatch origin) and that `caps` cannot
 * take; returns their names. Used when a dispatch picks a model other than the worker's.
 */
export function dropUnfitDefaults(
  call: CallOptions,
  caps: ModelCapabilities,
  origins: FieldOrigins,
): string[] {
  const unfit: [keyof CallOptions & keyof FieldOrigins, boolean][] = [
    ['thinkingBudget', call.thinkingBudget !== undefined && caps.thinking !== 'budget'],
    [
      'thinkingLevel',
      call.thinkingLevel !== undefined && !caps.thinkingLevels.includes(call.thinkingLevel),
    ],
    ['affectiveDialog', !!call.affectiveDialog && caps.affectiveDialog !== 'opt_in'],
    [
      'proactiveAudio',
      (call.proactiveAudio === true && caps.proactiveAudio === 'unsupported') ||
        (call.proactiveAudio === false && caps.proactiveAudio === 'always_on'),
    ],
    ['googleSearch', !!call.googleSearch && !caps.googleSearch],
  ];
  const dropped: string[] = [];
  for (const [field, isUnfit] of unfit) {
    if (!isUnfit || origins[field] !== undefined) continue;
    dropped.push(fieldName(field, origins));
    delete call[field];
  }
  return dropped;
}
