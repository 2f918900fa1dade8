/**
 * The API keys callers present as `X-API-KEY`, from the JSON array in SESSION_API_KEYS_FILE.
 *
 * Only SHA-256 digests are kept. A presented key is hashed and compared with every digest using
 * `timingSafeEqual`, without stopping at the first match, so neither the comparison nor the
 * position of a key in the file shows in the response time. A key is known in logs and limits by
 * a short fingerprint of its digest, never by its value.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ConfigError } from '../config/errors.ts';

/** Printable ASCII without spaces (what an HTTP header carries as is), 16 to 512 characters. */
const KEY_PATTERN = /^[\x21-\x7e]{16,512}$/;

function digest(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

export class ApiKeys {
  readonly #digests: readonly Buffer[];

  private constructor(digests: Buffer[]) {
    this.#digests = digests;
  }

  static none(): ApiKeys {
    return new ApiKeys([]);
  }

  /** Parse the file's text; a ConfigError names the entry that is wrong (by position, not value). */
  static parse(text: string): ApiKeys {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ConfigError('is not JSON (allowed: a JSON array of key strings)');
    }
    if (!Array.isArray(parsed) || parsed.length === 0) {
      throw new ConfigError('is not a non-empty JSON array (allowed: ["<key>", ...])');
    }
    const digests: Buffer[] = [];
    const seen = new Set<string>();
    parsed.forEach((key: unknown, index) => {
      if (typeof key !== 'string' || !KEY_PATTERN.test(key)) {
        throw new ConfigError(
          `entry ${index + 1} is not a valid key (allowed: a string of 16 to 512 printable characters without spaces)`,
        );
      }
      const hash = digest(key);
      if (seen.has(hash.toString('hex'))) {
        throw new ConfigError(`entry ${index + 1} repeats an earlier key`);
      }
      seen.add(hash.toString('hex'));
      digests.push(hash);
    });
    return new ApiKeys(digests);
  }

  get size(): number {
    return this.#digests.length;
  }

  /** The key's fingerprint when `presented` is one of the keys, else undefined. */
  match(presented: string | undefined): string | undefined {
    if (presented === undefined) return undefined;
    const candidate = digest(presented);
    let found: Buffer | undefined;
    for (const known of this.#digests) {
      // Every digest is compared, whether or not an earlier one matched.
      if (timingSafeEqual(candidate, known) && !found) found = known;
    }
    return found ? fingerprint(found) : undefined;
  }
}

function fingerprint(hash: Buffer): string {
  return `key-${hash.subarray(0, 4).toString('hex')}`;
}
