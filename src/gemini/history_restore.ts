/**
 * What a reconnected session is told of the conversation.
 *
 * A fresh connection is seeded with the whole conversation. A session resumed with a handle
 * already has it up to the moment the server issued that handle, so seeding it all again would
 * repeat turns; and rows that take no client content mid-session (3.1, 3.8 on Vertex) close the
 * socket on any. This remembers which items the server had at the current handle and gives a
 * resumed connection only the messages that came after, on rows that take them.
 */
import { llm, log } from '@livekit/agents';
import type { ModelCapabilities } from '../config/models.ts';

export class HistoryRestore {
  readonly #row: ModelCapabilities;
  readonly #logger = log();
  /** Ids of the conversation items the server had when it issued the current handle. */
  #itemsAtHandle = new Set<string>();

  constructor(row: ModelCapabilities) {
    this.#row = row;
  }

  /** The server issued `handle` (or it was dropped) with the conversation at `chatCtx`. */
  handleChanged(handle: string | undefined, chatCtx: llm.ChatContext): void {
    this.#itemsAtHandle = new Set(handle ? chatCtx.items.map((item) => item.id) : []);
  }

  /** What a resumed session still needs: what came after its handle, if the model takes it. */
  resumeSeed(chatCtx: llm.ChatContext): llm.ChatContext {
    const missing = chatCtx.items.filter(
      (item) => item.type === 'message' && !this.#itemsAtHandle.has(item.id),
    );
    if (this.#row.midSessionClientContent) return new llm.ChatContext(missing);
    if (missing.length > 0) {
      this.#logger.info(
        { model: this.#row.id, items: missing.length },
        'this model takes no client content mid-session: the turns after the resumption point are not restored',
      );
    }
    return llm.ChatContext.empty();
  }
}
