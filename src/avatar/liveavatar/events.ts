/**
 * LiveAvatar's LITE WebSocket events, validated with zod and folded into what the audio output
 * needs to know. LiveAvatar speaks two dialects, and a session may send both:
 *
 * - documented (docs.liveavatar.com, LITE events): `agent.speak_started` / `agent.speak_ended`
 *   `{event_id, task: {id}}`;
 * - observed on live sessions since September 2026 (livekit/agents#7232): `agent.state_updated`
 *   `{previous_state, new_state: idle | listening | talking}`, the acknowledgements
 *   `agent.audio_buffer_appended | committed | cleared {source_event_id}`,
 *   `agent.speak_interrupted`, `error {error: {type, message}}` and `warning`.
 *
 * Plus `session.state_updated {state: connecting | connected | closing | closed}` in both.
 */
import { z } from 'zod';

const id = z.string().min(1);

const SERVER_EVENT = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('session.state_updated'),
    state: z.string(),
  }),
  z.object({ type: z.literal('agent.speak_started'), event_id: id.optional() }),
  z.object({ type: z.literal('agent.speak_ended'), event_id: id.optional() }),
  z.object({ type: z.literal('agent.speak_interrupted'), event_id: id.optional() }),
  z.object({
    type: z.literal('agent.state_updated'),
    new_state: z.string(),
    previous_state: z.string().optional(),
  }),
  z.object({ type: z.literal('agent.audio_buffer_appended') }),
  z.object({ type: z.literal('agent.audio_buffer_committed') }),
  z.object({ type: z.literal('agent.audio_buffer_cleared'), source_event_id: id.optional() }),
  z.object({
    type: z.literal('error'),
    error: z.object({ type: z.string().optional(), message: z.string().optional() }).optional(),
  }),
  z.object({
    type: z.literal('warning'),
    warning: z.object({ type: z.string().optional(), message: z.string().optional() }).optional(),
    message: z.string().optional(),
  }),
]);

/** What an event means for the client, whichever dialect it came in. */
export type LiteEvent =
  | { kind: 'connected' }
  | { kind: 'session_ended'; state: string }
  /** The avatar began to speak (`eventId` when the dialect names the utterance). */
  | { kind: 'speaking'; eventId?: string }
  /** The avatar stopped speaking: finished, or cut by an interrupt. */
  | { kind: 'stopped'; eventId?: string }
  /** An interrupt was carried out (the buffer is clear). */
  | { kind: 'cleared' }
  | { kind: 'ack' }
  | { kind: 'error'; type: string; message: string }
  | { kind: 'warning'; message: string }
  | { kind: 'other'; type: string };

/** Read one text frame; undefined for a frame that is not a JSON object with a `type`. */
export function readLiteEvent(text: string): LiteEvent | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const type = (json as { type?: unknown } | null)?.type;
  if (typeof type !== 'string') return undefined;
  const parsed = SERVER_EVENT.safeParse(json);
  if (!parsed.success) return { kind: 'other', type };
  const event = parsed.data;
  switch (event.type) {
    case 'session.state_updated':
      if (event.state === 'connected') return { kind: 'connected' };
      if (event.state === 'closing' || event.state === 'closed') {
        return { kind: 'session_ended', state: event.state };
      }
      return { kind: 'other', type: `${event.type}:${event.state}` };
    case 'agent.speak_started':
      return { kind: 'speaking', ...eventIdOf(event.event_id) };
    case 'agent.speak_ended':
      return { kind: 'stopped', ...eventIdOf(event.event_id) };
    case 'agent.speak_interrupted':
      return { kind: 'cleared' };
    case 'agent.state_updated':
      return event.new_state === 'talking' ? { kind: 'speaking' } : { kind: 'stopped' };
    case 'agent.audio_buffer_cleared':
      return { kind: 'cleared' };
    case 'agent.audio_buffer_appended':
    case 'agent.audio_buffer_committed':
      return { kind: 'ack' };
    case 'error':
      return {
        kind: 'error',
        type: event.error?.type ?? 'unknown',
        message: (event.error?.message ?? '').slice(0, 200),
      };
    case 'warning':
      return {
        kind: 'warning',
        message: (event.warning?.message ?? event.message ?? event.warning?.type ?? '').slice(
          0,
          200,
        ),
      };
  }
}

function eventIdOf(eventId: string | undefined): { eventId?: string } {
  return eventId === undefined ? {} : { eventId };
}

/** Commands the client sends. */
export type LiteCommand =
  | { type: 'agent.speak'; event_id: string; audio: string }
  | { type: 'agent.speak_end'; event_id: string }
  | { type: 'agent.interrupt'; event_id: string }
  | { type: 'agent.start_listening'; event_id: string }
  | { type: 'session.keep_alive'; event_id: string };
