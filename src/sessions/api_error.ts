/**
 * A refused request: the HTTP status and one line that says what was wrong and what is allowed.
 * The server turns it into LiveAvatar's response envelope (see envelope.ts).
 */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  /** For 429: how long to wait before trying again, in ms. */
  readonly retryAfterMs: number | undefined;
  /** For 422: one line per problem (the message joins them). */
  readonly problems: readonly string[];

  constructor(
    status: number,
    message: string | readonly string[],
    options: { retryAfterMs?: number } = {},
  ) {
    const problems = typeof message === 'string' ? [message] : message;
    super(problems.join('; '));
    this.status = status;
    this.problems = problems;
    this.retryAfterMs = options.retryAfterMs;
  }
}
