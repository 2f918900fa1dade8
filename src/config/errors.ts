/**
 * A setting that cannot work, reported before anything connects. The message is one line that
 * names the field (as the user wrote it: an env var or a dispatch-metadata path), the value, and
 * what is allowed or how to fix it.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly problems: readonly string[];

  constructor(problems: string | readonly string[]) {
    const list = typeof problems === 'string' ? [problems] : problems;
    super(list.join('; '));
    this.problems = list;
  }
}

/** Quote a user-supplied value for an error line, cut short so a huge value stays one line. */
export function showValue(value: unknown): string {
  let text: string;
  try {
    text = typeof value === 'string' ? JSON.stringify(value) : String(JSON.stringify(value));
  } catch {
    // JSON.stringify recurses: 64 KiB of dispatch metadata can nest arrays ~32k deep, past the
    // stack. Such a value is refused like any other, shown by its kind.
    text = Array.isArray(value)
      ? '[...] (nested too deep to show)'
      : '{...} (nested too deep to show)';
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
