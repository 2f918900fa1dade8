/**
 * Gemini renders the face (Live Avatar, VIDEO response modality): what a session needs to ask for
 * it and to play what comes back. The session knows only this seam; the demuxing and decoding
 * behind it live in src/avatar/gemini/.
 *
 * With an avatar the model's turns carry fragmented MP4 (H.264 + AAC) in `inlineData` parts.
 * The speech muxed in it is the reply's audio: the stream decodes it, and the session hands it to
 * the framework as the generation's audio, so playout, transcripts and interruptions work as
 * with PCM. PCM parts that may come beside it are not played (the same speech twice).
 */
import type { AvatarConfig } from '@google/genai';
import type { AudioFrame } from '@livekit/rtc-node';

/** One connection's fMP4 stream (every connection starts a new one, with its own init segment). */
export interface AvatarMediaStream {
  /**
   * The bytes of one `inlineData` part, in arrival order. Returns the speech they complete,
   * in order; `discard` (the reply was interrupted or is over): parse, but play nothing.
   */
  push(bytes: Uint8Array, discard: boolean): AudioFrame[];
  /** The reply ended or was cut: bytes it left incomplete will never be completed. */
  replyEnded(): void;
  close(): void;
}

export interface AvatarOutput {
  /** Sent in the setup (`setup.avatarConfig`), with `responseModalities: [VIDEO]`. */
  readonly config: AvatarConfig;
  openStream(): AvatarMediaStream;
}

/** `inlineData` the avatar stream carries: everything that is not PCM speech. */
export function isAvatarMedia(mimeType: string | undefined): boolean {
  return mimeType !== undefined && !mimeType.startsWith('audio/pcm');
}
