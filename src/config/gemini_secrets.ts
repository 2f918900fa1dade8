/**
 * Named Gemini keys, as LiveAvatar's secrets are: a dispatch names a key by its id
 * (`gemini_realtime_config.secret_id`) and never carries the key itself. The worker reads them
 * from `GEMINI_SECRETS_FILE`, a JSON object `{ "<secret_id>": "<Gemini API key>" }` mounted as a
 * file secret (LiveKit Cloud, Kubernetes). The file is read again for every job, so a rotated
 * mount takes effect on the next call without a restart.
 *
 * No error line quotes the file: a JSON parser's message can carry a piece of it, and an entry
 * whose id is not a plain name may be a key written where its id belongs. Entries are named by
 * their position instead.
 */
import { readFileSync } from 'node:fs';
import { PLAIN_ID } from './call_options.ts';
import { ConfigError, showValue } from './errors.ts';
import { Secret } from './secret.ts';

export const SECRETS_FILE_VAR = 'GEMINI_SECRETS_FILE';
const SHAPE = 'a JSON object {"<secret_id>": "<Gemini API key>"}';
/** A Gemini API key's own shape: one sent as a secret_id is refused without being echoed. */
const GEMINI_KEY_SHAPE = /^AIza[0-9A-Za-z_-]{35}$/;

/** The keys of a secrets file by id; the file path, for error lines. */
export interface GeminiSecrets {
  file: string;
  keys: ReadonlyMap<string, Secret>;
}

/** Read and check `file`; throws one ConfigError listing every problem, none quoting the file. */
export function loadGeminiSecrets(file: string): GeminiSecrets {
  const where = `${SECRETS_FILE_VAR}: ${file}`;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError(`${where} cannot be read (${code}); allowed: ${SHAPE}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError(`${where} is not JSON (allowed: ${SHAPE})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`${where} is not a JSON object (allowed: ${SHAPE})`);
  }
  const problems: string[] = [];
  const keys = new Map<string, Secret>();
  Object.entries(parsed).forEach(([id, value], index) => {
    const entry = `${where}: entry ${index + 1}`;
    if (!PLAIN_ID.test(id)) {
      problems.push(`${entry}: its id is not a plain name (allowed: letters, digits, - and _)`);
    } else if (typeof value !== 'string' || value.trim() === '') {
      problems.push(`${entry} (${id}): its key is not a non-empty string`);
    } else {
      keys.set(id, new Secret(value.trim()));
    }
  });
  if (problems.length > 0) throw new ConfigError(problems);
  if (keys.size === 0) throw new ConfigError(`${where} holds no key (allowed: ${SHAPE})`);
  return { file, keys };
}

/**
 * The key `secretId` names, or a problem line naming `field` (the dispatch path). `secrets` is
 * undefined when the worker has no secrets file.
 */
export function keyForSecretId(
  secretId: string,
  secrets: GeminiSecrets | undefined,
  field: string,
): Secret | string {
  if (GEMINI_KEY_SHAPE.test(secretId)) {
    return `${field}: the value is a Gemini API key, not the id of one (keys stay with the worker: put it in its ${SECRETS_FILE_VAR} and send its id)`;
  }
  if (!secrets) {
    return `${field}: ${showValue(secretId)} names no key: the worker has no ${SECRETS_FILE_VAR} (a JSON file of named Gemini keys, ${SHAPE})`;
  }
  const key = secrets.keys.get(secretId);
  if (key) return key;
  // The ids of other keys are not listed: a session service answers with this line.
  return `${field}: ${showValue(secretId)} is not an id in the worker's ${SECRETS_FILE_VAR} (allowed: the id of one of its ${secrets.keys.size} keys)`;
}
