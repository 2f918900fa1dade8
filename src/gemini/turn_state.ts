/**
 * Two questions the recovery asks of the plugin's turn state, answered in one place: did the
 * model say anything in this generation, and is a turn in progress (so a reconnect now would cut
 * it)?
 */
import type { PluginGeneration, PluginSessionInternals } from './plugin_internals.ts';

/** The model produced audio or text in this generation. */
export function hasOutput(gen: PluginGeneration): boolean {
  return gen._firstTokenTimestamp !== undefined || gen.outputText !== '';
}

/** No turn in progress: no generation streaming or requested, no function call waiting. */
export function isBetweenTurns(internals: PluginSessionInternals | undefined): boolean {
  if (!internals) return true;
  const gen = internals.currentGeneration;
  const pending = internals.pendingGenerationFut;
  return (
    (!gen || gen._done) && (!pending || pending.done) && internals.pendingToolCallIds.size === 0
  );
}
