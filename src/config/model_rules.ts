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
import { type ModelCapabilities, THINKING_LEVELS } from './models.ts';

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
  const levels = THINKING_LEVELS.join('|');

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

  if (call.thinkingBudget !== undefined && caps.thinking !== 'budget') {
    problems.push(
      caps.thinking === 'level'
        ? `${name('thinkingBudget')}: ${model} controls thinking with a level, not a budget; use ${instead('thinkingLevel', 'thinkingBudget')}=${levels} instead`
        : `${name('thinkingBudget')}: ${model} has no thinking control; remove it`,
    );
  }
  if (call.thinkingLevel !== undefined && caps.thinking !== 'level') {
    problems.push(
      caps.thinking === 'budget'
        ? `${name('thinkingLevel')}: ${model} controls thinking with a token budget, not a level; use ${instead('thinkingBudget', 'thinkingLevel')} (-1 dynamic, 0 off, up to 32768) instead`
        : `${name('thinkingLevel')}: ${model} has no thinking control; remove it`,
    );
  }
  if (
    caps.thinkingRequired &&
    call.thinkingLevel === undefined &&
    call.thinkingBudget === undefined
  ) {
    problems.push(
      `${name('thinkingLevel')}: ${model} requires a thinking level; set it to ${levels}`,
    );
  }

  if (call.affectiveDialog && !caps.affectiveDialog) {
    problems.push(
      `${name('affectiveDialog')}: ${model} does not support affective dialog; set it to false or pick a 2.5 native-audio model`,
    );
  }
  if (call.proactiveAudio && !caps.proactiveAudio) {
    problems.push(
      `${name('proactiveAudio')}: ${model} does not support proactive audio; set it to false or pick a 2.5 native-audio model`,
    );
  }
  if (env.toolBehavior === 'non_blocking' && !caps.asyncTools) {
    problems.push(
      `GEMINI_TOOL_BEHAVIOR: ${model} runs function calls synchronously only; set it to blocking`,
    );
  }
  if (env.toolResponseScheduling !== undefined && !caps.toolResponseScheduling) {
    problems.push(
      `GEMINI_TOOL_RESPONSE_SCHEDULING: ${model} does not take tool-response scheduling; remove it`,
    );
  }
  return problems;
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
    ['thinkingLevel', call.thinkingLevel !== undefined && caps.thinking !== 'level'],
    ['affectiveDialog', call.affectiveDialog && !caps.affectiveDialog],
    ['proactiveAudio', call.proactiveAudio && !caps.proactiveAudio],
  ];
  const dropped: string[] = [];
  for (const [field, isUnfit] of unfit) {
    if (!isUnfit || origins[field] !== undefined) continue;
    dropped.push(fieldName(field, origins));
    if (field === 'affectiveDialog' || field === 'proactiveAudio') call[field] = false;
    else delete call[field];
  }
  return dropped;
}
