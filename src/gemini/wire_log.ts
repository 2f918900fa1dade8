/**
 * The Gemini Live wire at debug level: every server message and every client message but the
 * microphone's, with media payloads cut short. Audio-only server messages (a reply streams
 * dozens a second) are logged too when LK_GOOGLE_DEBUG=1, as the plugin did. Credentials never
 * travel in messages (the key is in the socket URL, the Vertex token in its headers).
 */
import type { LiveServerMessage } from '@google/genai';
import { log } from '@livekit/agents';
import type { Outgoing } from './turn_routes.ts';

const VERBOSE = Number(process.env.LK_GOOGLE_DEBUG ?? 0) > 0;
const KEEP_CHARS = 30;

export class WireLog {
  readonly #log = log();
  readonly #model: string;

  constructor(model: string) {
    this.#model = model;
  }

  received(message: LiveServerMessage): void {
    if (!this.#log.isLevelEnabled('debug')) return;
    const parts = message.serverContent?.modelTurn?.parts ?? [];
    const mediaOnly = parts.length > 0 && parts.every((p) => p.inlineData?.data);
    if (mediaOnly && !VERBOSE) return;
    this.#log.debug(
      { model: this.#model, 'lk.pii.response': shortened(message) },
      'received Gemini Live server event',
    );
  }

  sent(message: Outgoing): void {
    if (!this.#log.isLevelEnabled('debug')) return;
    this.#log.debug(
      { model: this.#model, type: message.type, 'lk.pii.event': message },
      'sent Gemini Live client event',
    );
  }
}

/** The message with every media payload cut to its first characters. */
function shortened(message: LiveServerMessage): unknown {
  return JSON.parse(
    JSON.stringify(message, (key, value: unknown) =>
      key === 'data' && typeof value === 'string' && value.length > KEEP_CHARS
        ? `${value.slice(0, KEEP_CHARS)}… (${value.length} chars)`
        : value,
    ),
  );
}
