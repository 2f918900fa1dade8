/**
 * What a dispatch runs with: the worker's Settings with the dispatch metadata applied, its avatar
 * found and its context read (the prompt, and an opening text as the greeting). The worker's jobs
 * and the session API both call this, so a session JSON the API accepts is one a job runs, and
 * both refuse the same JSON with the same one-line ConfigError.
 */
import { checkAvatar } from './avatar/from_settings.ts';
import { withContext } from './config/contexts.ts';
import { applyDispatchMetadata } from './config/dispatch.ts';
import type { Settings } from './config/settings.ts';

export interface DispatchSettings {
  settings: Settings;
  /** The system prompt: the dispatch's `instructions`, else its context file's text. */
  instructions: string;
}

/** Throws a ConfigError naming the field when the metadata cannot run. */
export function settingsForDispatch(
  base: Settings,
  metadata: string | undefined,
): DispatchSettings {
  const settings = applyDispatchMetadata(base, metadata);
  checkAvatar(settings);
  return withContext(settings);
}
