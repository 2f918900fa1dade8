/**
 * Sends one encoded frame to Gemini as `realtimeInput.video`, on the session the agent talks
 * through (the model's latest). A frame is only worth sending now: while the socket is down or
 * a BLOCKING function call holds input back, the session drops it rather than keeping it.
 */
import type { GeminiRealtimeModel } from '../gemini/model.ts';
import type { FrameSendOutcome } from '../gemini/session.ts';
import type { EncodedFrame } from './jpeg.ts';

/** What happened to a frame: the session's outcome, or no session yet. */
export type SendOutcome = FrameSendOutcome | 'no_session';

export type FrameSink = (frame: EncodedFrame) => SendOutcome;

export function geminiFrameSink(model: Pick<GeminiRealtimeModel, 'latestSession'>): FrameSink {
  return (frame) => model.latestSession?.sendVideoFrame(frame) ?? 'no_session';
}
