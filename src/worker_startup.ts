/**
 * What `npm run dev` checks and says before the framework's worker starts, so a first run explains
 * itself in one line instead of a stack:
 * - with no LIVEKIT_URL, or a localhost one without a key pair, it uses the local livekit-server's
 *   dev keys (livekit.yaml) and says so;
 * - when nothing answers at the server's address, it says what to do (start livekit-server, use
 *   LiveKit Cloud, or try the offline demo) instead of the framework's ten retries with stacks.
 */
import { type Env, type Settings, isLocalUrl } from './config/settings.ts';

/** How long the reachability probe waits for any HTTP answer. */
export const PROBE_TIMEOUT_MS = 5_000;

/**
 * Put the LiveKit URL and key pair the settings resolved into `env` where it has none (the
 * framework reads them from there), and return the line that says so, or undefined when `env`
 * already had them all.
 */
export function useLocalLiveKit(settings: Settings, env: Env = process.env): string | undefined {
  const { livekit } = settings;
  if (livekit.usingLocalDefaults) {
    env.LIVEKIT_URL = livekit.url;
    env.LIVEKIT_API_KEY = livekit.apiKey.reveal();
    env.LIVEKIT_API_SECRET = livekit.apiSecret.reveal();
    return `LIVEKIT_URL not set: using the local livekit-server at ${livekit.url} (livekit.yaml)`;
  }
  const missing = (['LIVEKIT_API_KEY', 'LIVEKIT_API_SECRET'] as const).filter(
    (name) => !env[name]?.trim(),
  );
  // Settings refuse a remote URL without its keys; on localhost they default to livekit.yaml's.
  if (missing.length === 0 || !isLocalUrl(livekit.url)) return undefined;
  env.LIVEKIT_API_KEY = livekit.apiKey.reveal();
  env.LIVEKIT_API_SECRET = livekit.apiSecret.reveal();
  return `${missing.join(' and ')} not set: using the local livekit-server's dev keys for ${livekit.url} (livekit.yaml)`;
}

/** Why a fetch failed, in words: Node's fetch hides the socket error in `cause`. */
function failureReason(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') {
    return `no answer within ${PROBE_TIMEOUT_MS / 1000} s`;
  }
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  switch (cause?.code) {
    case 'ECONNREFUSED':
      return 'connection refused: nothing is listening there';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'ECONNRESET':
      return 'connection reset';
    default:
      return cause?.message ?? (error as Error).message;
  }
}

/**
 * Probe the server's HTTP endpoint (LiveKit answers on the same address as its WebSocket). Returns
 * undefined when anything answers, else one line with what is wrong and what to do.
 */
export async function unreachableLiveKit(
  url: string,
  timeoutMs = PROBE_TIMEOUT_MS,
): Promise<string | undefined> {
  const probe = new URL(url);
  probe.protocol = probe.protocol.replace(/^ws/, 'http');
  try {
    const response = await fetch(probe, { signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    return undefined;
  } catch (error) {
    const why = failureReason(error);
    if (isLocalUrl(url)) {
      return (
        `Cannot reach a LiveKit server at ${url} (${why}). Start one: install livekit-server ` +
        '(`brew install livekit`, or `curl -sSL https://get.livekit.io | bash`) and run ' +
        '`livekit-server --config livekit.yaml`; or use LiveKit Cloud: `lk cloud auth`, then ' +
        '`lk app env -w -d .env.local`. To try the agent with no server at all: `npm run demo`.'
      );
    }
    return (
      `Cannot reach the LiveKit server at ${url} (${why}): check LIVEKIT_URL and your network ` +
      '(for LiveKit Cloud, `lk app env -w -d .env.local` writes the URL and keys). ' +
      'To try the agent with no server at all: `npm run demo`.'
    );
  }
}
