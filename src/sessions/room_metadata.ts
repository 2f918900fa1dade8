/**
 * The contract between the session API and the agent about when a session ends, carried in the
 * room's metadata (which the agent sees as `room.metadata` when it joins and through
 * `RoomEvent.RoomMetadataChanged` after):
 *
 *   {"session": {"id": "<session_id>", "ends_at": "<ISO 8601>", "max_session_duration": <s>}}
 *
 * The service writes it when it creates the room and rewrites it when a keep-alive moves the end.
 * The agent ends the call itself at `ends_at` (CallTimeLimit in src/call_deadline.ts, never past
 * `max_session_duration` from its start); the service deletes the room a few seconds later
 * whatever happened. Both sides use this module, so they cannot drift.
 */

export interface SessionDeadline {
  /** The session's id (as POST /v1/sessions/token returned it). */
  sessionId: string;
  /** When the session ends, in ms since the epoch. */
  endsAt: number;
  /** The session's max_session_duration, in seconds. */
  maxSessionDurationS: number;
}

export function writeSessionDeadline(deadline: SessionDeadline): string {
  return JSON.stringify({
    session: {
      id: deadline.sessionId,
      ends_at: new Date(deadline.endsAt).toISOString(),
      max_session_duration: deadline.maxSessionDurationS,
    },
  });
}

/** The deadline in a room's metadata, or undefined for a room the session API did not make. */
export function readSessionDeadline(metadata: string | undefined): SessionDeadline | undefined {
  if (!metadata) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(metadata);
  } catch {
    return undefined;
  }
  const session = (parsed as { session?: Record<string, unknown> } | null)?.session;
  if (typeof session !== 'object' || session === null) return undefined;
  const { id, ends_at: endsAtText, max_session_duration: max } = session;
  const endsAt = typeof endsAtText === 'string' ? Date.parse(endsAtText) : NaN;
  if (typeof id !== 'string' || !Number.isFinite(endsAt) || typeof max !== 'number') {
    return undefined;
  }
  return { sessionId: id, endsAt, maxSessionDurationS: max };
}
