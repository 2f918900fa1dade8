/**
 * The session API's own settings (SESSIONS_*, SESSION_API_KEYS_FILE), read from the same
 * environment as the worker. LiveKit's URL, key and secret and the dispatch validation come from
 * the worker's Settings (src/config), not from here.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, showValue } from '../config/errors.ts';
import { MAX_METADATA_BYTES } from '../config/dispatch.ts';
import type { Env } from '../config/settings.ts';
import { ApiKeys } from './api_keys.ts';

export interface SessionsConfig {
  /** SESSIONS_HOST: interface to listen on (default: all, IPv4 and IPv6). */
  host?: string;
  /** SESSIONS_PORT: port to listen on (0: any free port). */
  port: number;
  /** SESSION_API_KEYS_FILE: the keys a caller may present as X-API-KEY. */
  apiKeys: ApiKeys;
  /** SESSIONS_TOKEN_TTL_S: how long a session token can start its session. */
  sessionTokenTtlMs: number;
  /** SESSIONS_CLIENT_TOKEN_TTL_S: lifetime of the LiveKit token handed to the user. */
  clientTokenTtlMs: number;
  /** SESSIONS_MAX_DURATION_S: a session's length when its JSON sets none, and the most it may set. */
  maxDurationMs: number;
  /** SESSIONS_IDLE_TIMEOUT_S: end a session this long after its start or last keep-alive; 0: never. */
  idleTimeoutMs: number;
  /** SESSIONS_JOIN_TIMEOUT_S: a room nobody joins closes after this long (LiveKit's empty timeout). */
  joinTimeoutMs: number;
  /** SESSIONS_MAX_CONCURRENT: sessions one API key may have running at once. */
  maxConcurrentPerKey: number;
  /** SESSIONS_RATE_LIMIT_PER_MIN: calls one API key (and its sessions' tokens) may make a minute. */
  callsPerMinutePerKey: number;
  /** SESSIONS_MAX_BODY_BYTES: largest request body read. */
  maxBodyBytes: number;
  /** SESSIONS_CORS_ORIGINS: browser origins allowed to call the API; empty: CORS off. */
  corsOrigins: readonly string[];
  /** SESSIONS_LIVEKIT_PUBLIC_URL: the LiveKit URL given to users (default: LIVEKIT_URL). */
  publicLivekitUrl?: string;
  /** SESSIONS_DEMO_PAGE: serve the demo page at `/`. */
  demoPage: boolean;
}

export const DEFAULT_SESSIONS_PORT = 8080;

const SECONDS = 1000;

interface NumberSpec {
  name: string;
  fallback: number;
  min: number;
  max: number;
}

function whole(env: Env, spec: NumberSpec, problems: string[]): number {
  const raw = env[spec.name]?.trim();
  if (!raw) return spec.fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < spec.min || value > spec.max) {
    problems.push(
      `${spec.name}: ${showValue(raw)} is not valid (allowed: a whole number from ${spec.min} to ${spec.max})`,
    );
    return spec.fallback;
  }
  return value;
}

function flag(env: Env, name: string, fallback: boolean, problems: string[]): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (!raw) return fallback;
  if (['true', '1', 'yes', 'on'].includes(raw)) return true;
  if (['false', '0', 'no', 'off'].includes(raw)) return false;
  problems.push(`${name}: ${showValue(env[name])} is not valid (allowed: true or false)`);
  return fallback;
}

function corsOrigins(env: Env, problems: string[]): string[] {
  const raw = env.SESSIONS_CORS_ORIGINS?.trim();
  if (!raw) return [];
  const origins = raw
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  for (const origin of origins) {
    if (origin === '*') continue;
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (!parsed || parsed.origin !== origin) {
      problems.push(
        `SESSIONS_CORS_ORIGINS: ${showValue(origin)} is not an origin (allowed: comma-separated origins such as https://app.example.com, or *)`,
      );
    }
  }
  return origins;
}

function apiKeysFromFile(env: Env, problems: string[]): ApiKeys {
  const file = env.SESSION_API_KEYS_FILE?.trim();
  if (!file) {
    problems.push(
      'SESSION_API_KEYS_FILE missing: point it at a JSON file holding an array of API keys, e.g. ["<a random key of 32+ characters>"] (mount it as a secret; never commit it)',
    );
    return ApiKeys.none();
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    problems.push(
      `SESSION_API_KEYS_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
    return ApiKeys.none();
  }
  try {
    return ApiKeys.parse(text);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(`SESSION_API_KEYS_FILE: ${file}: ${error.message}`);
    return ApiKeys.none();
  }
}

/** Read the session API's settings; throws one ConfigError listing every problem. */
export function loadSessionsConfig(env: Env = process.env): SessionsConfig {
  const problems: string[] = [];
  const seconds = (name: string, fallback: number, min: number, max: number) =>
    whole(env, { name, fallback, min, max }, problems) * SECONDS;
  const publicUrl = env.SESSIONS_LIVEKIT_PUBLIC_URL?.trim();
  if (publicUrl && !/^(wss?|https?):\/\/./.test(publicUrl)) {
    problems.push(
      `SESSIONS_LIVEKIT_PUBLIC_URL: ${showValue(publicUrl)} is not valid (allowed: a ws://, wss://, http:// or https:// URL)`,
    );
  }
  const config: SessionsConfig = {
    ...(env.SESSIONS_HOST?.trim() ? { host: env.SESSIONS_HOST.trim() } : {}),
    port: whole(
      env,
      { name: 'SESSIONS_PORT', fallback: DEFAULT_SESSIONS_PORT, min: 0, max: 65535 },
      problems,
    ),
    apiKeys: apiKeysFromFile(env, problems),
    sessionTokenTtlMs: seconds('SESSIONS_TOKEN_TTL_S', 300, 10, 3600),
    clientTokenTtlMs: seconds('SESSIONS_CLIENT_TOKEN_TTL_S', 600, 30, 86_400),
    maxDurationMs: seconds('SESSIONS_MAX_DURATION_S', 1200, 10, 86_400),
    idleTimeoutMs: seconds('SESSIONS_IDLE_TIMEOUT_S', 0, 0, 86_400),
    joinTimeoutMs: seconds('SESSIONS_JOIN_TIMEOUT_S', 120, 10, 3600),
    maxConcurrentPerKey: whole(
      env,
      { name: 'SESSIONS_MAX_CONCURRENT', fallback: 10, min: 1, max: 100_000 },
      problems,
    ),
    callsPerMinutePerKey: whole(
      env,
      { name: 'SESSIONS_RATE_LIMIT_PER_MIN', fallback: 60, min: 1, max: 1_000_000 },
      problems,
    ),
    maxBodyBytes: whole(
      env,
      {
        name: 'SESSIONS_MAX_BODY_BYTES',
        fallback: MAX_METADATA_BYTES,
        min: 1024,
        max: MAX_METADATA_BYTES,
      },
      problems,
    ),
    corsOrigins: corsOrigins(env, problems),
    ...(publicUrl ? { publicLivekitUrl: publicUrl } : {}),
    demoPage: flag(env, 'SESSIONS_DEMO_PAGE', true, problems),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
