/**
 * Sends one encoded frame to Gemini as `realtimeInput.video`, straight on the live socket the
 * plugin holds (its `pushVideo` is a no-op in 1.9.0, and its send queue has no video path).
 *
 * Sending on the live socket rather than queueing is deliberate: a frame is only worth sending
 * now. While the socket is down, being replaced, seeded with history (the plugin holds its lock
 * meanwhile) or waiting for a BLOCKING tool result (the plugin holds audio back then too), the
 * frame is dropped, never kept for later.
 */
import type { GuardedRealtimeModel } from '../gemini/guarded_realtime.ts';
import { type LiveSessionSend, internalsOf } from '../gemini/plugin_internals.ts';
import type { EncodedFrame } from './jpeg.ts';

export type SendOutcome = 'sent' | 'no_session' | 'not_connected' | 'busy' | 'tool_call' | 'failed';

export type FrameSink = (frame: EncodedFrame) => SendOutcome;

export function geminiFrameSink(model: Pick<GuardedRealtimeModel, 'latestSession'>): FrameSink {
  return (frame) => {
    const session = model.latestSession;
    if (!session) return 'no_session';
    const internals = internalsOf(session);
    const live = internals.activeSession as LiveSessionSend | undefined;
    if (!live || internals.sessionShouldClose.isSet) return 'not_connected';
    if (internals.sessionLock.isLocked()) return 'busy';
    if (internals.shouldBlockRealtimeInputForPendingTools()) return 'tool_call';
    try {
      live.sendRealtimeInput({
        video: { data: frame.data.toString('base64'), mimeType: frame.mimeType },
      });
      return 'sent';
    } catch {
      // The SDK throws when its socket is gone; the plugin reconnects on its own.
      return 'failed';
    }
  };
}
