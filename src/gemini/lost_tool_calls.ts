/**
 * Function calls whose connection was lost before their results reached the model.
 *
 * A new connection (even a resumed one) does not know a call asked on the old one: a
 * `toolResponse` for it is ignored or rejected. So results for such calls, whether they were
 * already in the conversation when the connection came back or arrive later, are given to the
 * model as a text turn that asks it to answer the user.
 */
import type { FunctionResponse } from '@google/genai';
import { type llm, log } from '@livekit/agents';
import type { ModelCapabilities } from '../config/models.ts';
import { toolResultPrompt } from './prompts.ts';
import type { RecoveryStats } from './recovery_stats.ts';
import type { TurnReAsk } from './turn_reask.ts';

export class LostToolCalls {
  readonly #row: ModelCapabilities;
  readonly #reAsk: TurnReAsk;
  readonly #stats: RecoveryStats;
  readonly #logger = log();
  /** Call id -> function name. */
  readonly #calls = new Map<string, string>();

  constructor(row: ModelCapabilities, reAsk: TurnReAsk, stats: RecoveryStats) {
    this.#row = row;
    this.#reAsk = reAsk;
    this.#stats = stats;
  }

  get size(): number {
    return this.#calls.size;
  }

  /** The connection went down: its unanswered calls (id -> name) are lost with it. */
  connectionLost(...lost: ReadonlyMap<string, string>[]): void {
    for (const calls of lost) for (const [id, name] of calls) this.#calls.set(id, name);
  }

  /** A new connection is up: results already in the conversation go to it as text. */
  resend(chatCtx: llm.ChatContext): void {
    for (const item of chatCtx.items) {
      if (item.type !== 'function_call_output' || !this.#calls.has(item.callId)) continue;
      this.#calls.delete(item.callId);
      this.#asText(item.name, item.output, chatCtx);
    }
  }

  /**
   * Function responses about to be sent: results for lost calls go as text instead. Returns
   * what is left to send as it is. `callId`: the call a response answers (Vertex sends no id).
   */
  divert(
    responses: readonly FunctionResponse[],
    callId: (response: FunctionResponse) => string | undefined,
    chatCtx: llm.ChatContext,
  ): FunctionResponse[] {
    const keep: FunctionResponse[] = [];
    for (const response of responses) {
      const id = callId(response);
      const name = id === undefined ? undefined : this.#calls.get(id);
      if (id === undefined || name === undefined) {
        keep.push(response);
        continue;
      }
      this.#calls.delete(id);
      const output = (response.response as { output?: unknown } | undefined)?.output;
      this.#asText(response.name ?? name, output ?? response.response, chatCtx);
    }
    return keep;
  }

  /** The new connection does not know a call asked on the lost one: give the result as text. */
  #asText(name: string, output: unknown, chatCtx: llm.ChatContext): void {
    this.#stats.toolResultsAsText++;
    // Without mid-session client content the model may not have the question: repeat it.
    const question = this.#row.midSessionClientContent ? undefined : lastUserText(chatCtx);
    this.#logger.info(
      { model: this.#row.id, tool: name },
      'function result sent as text after a reconnect',
    );
    this.#reAsk.ask(toolResultPrompt(name, output, question));
  }
}

function lastUserText(chatCtx: llm.ChatContext): string | undefined {
  const items = chatCtx.items;
  for (let i = items.length - 1; i >= 0; i--) {
    const item = items[i]!;
    if (item.type === 'message' && item.role === 'user') return item.textContent;
  }
  return undefined;
}
