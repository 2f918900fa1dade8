/**
 * What the recovery did during one call, kept for diagnostics, the soak benchmark and the tests
 * (which assert on it instead of on log lines).
 */
export interface Reconnect {
  /** What took the connection down: `close 1011`, `go_away`, ... */
  cause: string;
  /** From the socket going down to the new one being set up. */
  downMs: number;
  /** The new connection resumed the session with a handle. */
  resumed: boolean;
  /** Failed connection attempts on the way. */
  failedAttempts: number;
}

export interface RecoveryStats {
  reconnects: Reconnect[];
  /** Turns asked again (no audio, or cut by a fault before any answer). */
  reAsks: number;
  /** Function results given to the model as text after their connection was lost. */
  toolResultsAsText: number;
  malformedFrames: number;
  /** Microphone audio held across reconnects, and dropped because the buffer was full. */
  bufferedAudioMs: number;
  droppedAudioMs: number;
  /** Set when the recovery gave up and ended the call. */
  gaveUp?: string;
}

export function emptyRecoveryStats(): RecoveryStats {
  return {
    reconnects: [],
    reAsks: 0,
    toolResultsAsText: 0,
    malformedFrames: 0,
    bufferedAudioMs: 0,
    droppedAudioMs: 0,
  };
}
