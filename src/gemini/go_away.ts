/**
 * When to reconnect after Gemini's `goAway` notice.
 *
 * The 1.9.0 plugin restarts the socket as soon as `goAway` arrives and cuts the reply in progress
 * (agents-js#2507). The notice gives time: the recovery waits for the next resumable point
 * between turns, and this timer makes sure it reconnects before the deadline if none comes.
 */
export class GoAwayTimer {
  readonly #restart: () => void;
  #timer?: NodeJS.Timeout;

  /** `restart`: called once the deadline is near and no earlier restart happened. */
  constructor(restart: () => void) {
    this.#restart = restart;
  }

  /** A goAway is waiting for its reconnect. */
  get pending(): boolean {
    return this.#timer !== undefined;
  }

  /**
   * Gemini will close the connection in `timeLeft` (protobuf Duration JSON): restart a third of
   * the notice before the deadline (at least 250 ms, at most 5 s). Returns the notice in ms.
   */
  start(timeLeft: string | undefined): number {
    const leftMs = parseDurationMs(timeLeft);
    const marginMs = Math.min(5000, Math.max(250, leftMs / 3));
    this.cancel();
    this.#timer = setTimeout(() => this.#restart(), Math.max(0, leftMs - marginMs));
    return leftMs;
  }

  cancel(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** Protobuf Duration JSON ("2.5s") to milliseconds; 0 when missing or unreadable. */
export function parseDurationMs(duration: string | undefined): number {
  const seconds = Number.parseFloat(String(duration ?? '').replace(/s$/, ''));
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0;
}
