/**
 * A Gemini Live Avatar as the call's avatar source (the CallAvatar seam): Gemini's face published
 * from the agent participant, with our own face taking its place when it cannot run (the decoder
 * did not load, or the model is not rendering an avatar), after one warning.
 */
import { log, type voice } from '@livekit/agents';
import { GeminiRealtimeModel } from '../../gemini/model.ts';
import type { RoomLike } from '../publisher.ts';
import { GeminiFace, type GeminiFaceOptions } from './face_publisher.ts';
import { GeminiAvatarMedia } from './media_output.ts';

/** What stands in when Gemini's face cannot run: our own face (an AvatarPublisher). */
export interface FallbackFace {
  start(session: voice.AgentSession, room?: RoomLike): Promise<void>;
  close(): Promise<void>;
}

/** The avatar media the session's model decodes, if it renders an avatar. */
export function avatarMediaOf(session: voice.AgentSession): GeminiAvatarMedia | undefined {
  const model = session.llm;
  if (!(model instanceof GeminiRealtimeModel)) return undefined;
  const media = model.sessionOptions.avatar;
  return media instanceof GeminiAvatarMedia ? media : undefined;
}

export class GeminiFaceAvatar {
  readonly #fallback: () => FallbackFace;
  readonly #unavailable?: string;
  readonly #options: Omit<GeminiFaceOptions, 'media'>;
  #face?: GeminiFace;
  #stand?: FallbackFace;

  /** `unavailable`: why Gemini's face cannot run here, known before the call (the decoder). */
  constructor(
    fallback: () => FallbackFace,
    unavailable?: string,
    options: Omit<GeminiFaceOptions, 'media'> = {},
  ) {
    this.#fallback = fallback;
    this.#unavailable = unavailable;
    this.#options = options;
  }

  /** Gemini's face, once started (undefined when our own face stands in). */
  get face(): GeminiFace | undefined {
    return this.#face;
  }

  async start(session: voice.AgentSession, room?: RoomLike): Promise<void> {
    const media = avatarMediaOf(session);
    if (!media || this.#unavailable) {
      log().warn(
        { reason: this.#unavailable ?? 'the model is not rendering an avatar' },
        'Gemini avatar unavailable; our own face stands in',
      );
      this.#stand = this.#fallback();
      await this.#stand.start(session, room);
      return;
    }
    this.#face = new GeminiFace({ ...this.#options, media });
    await this.#face.start(session, room);
  }

  async close(): Promise<void> {
    await this.#face?.close();
    await this.#stand?.close();
  }
}
