/**
 * `npm run sessions`: the session API (LiveAvatar's token / start / stop / keep-alive calls) on
 * the LiveKit server the worker uses, with the worker's environment (.env, .env.local).
 *
 * It refuses to start with one line per missing or invalid setting, logs JSON lines to stdout
 * (LOG_LEVEL), and on SIGTERM or SIGINT finishes the requests in flight and exits 0. Sessions are
 * held in memory: a restart forgets them (their rooms still end: the agent enforces the limit
 * and LiveKit closes an empty room).
 */
import '../load_env.ts';
import { pino } from 'pino';
import { parseOptionsOrExit } from '../cli_io.ts';
import { ConfigError } from '../config/errors.ts';
import { type Settings, loadSettings } from '../config/settings.ts';
import { type SessionsConfig, loadSessionsConfig } from './config.ts';
import { SessionsServer } from './server.ts';

const USAGE =
  'usage: npm run sessions (no options; settings from .env.local or the environment: SESSION_API_KEYS_FILE, SESSIONS_PORT, LIVEKIT_URL, ...; stop it with Ctrl-C)';

parseOptionsOrExit(process.argv.slice(2), {}, 'sessions', USAGE);

function fail(error: unknown): never {
  if (!(error instanceof ConfigError)) throw error;
  const lines = error.problems.map((p) => `  - ${p}`).join('\n');
  process.stderr.write(
    `Cannot start the session API; fix these settings (.env.local or the environment):\n${lines}\n`,
  );
  process.exit(1);
}

const logger = pino({
  level: process.env.LOG_LEVEL?.trim() || 'info',
  base: { service: 'sessions' },
});

/** Both loaders' problems at once, so one run lists everything to fix. */
function loadAll(): { settings: Settings; config: SessionsConfig } {
  const problems: string[] = [];
  const attempt = <T>(load: () => T): T | undefined => {
    try {
      return load();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems);
      return undefined;
    }
  };
  const settings = attempt(() => loadSettings());
  const config = attempt(() => loadSessionsConfig());
  if (!settings || !config) throw new ConfigError(problems);
  return { settings, config };
}

let server: SessionsServer;
try {
  const { settings, config } = loadAll();
  server = new SessionsServer({ config, settings, logger });
  await server.listen();
  if (settings.livekit.usingLocalDefaults) {
    logger.warn(
      { livekit_url: settings.livekit.url },
      'LIVEKIT_URL not set: using the local livekit-server (livekit.yaml)',
    );
  }
  logger.info(
    {
      url: server.url,
      livekit_url: settings.livekit.url,
      agent_name: settings.agentName,
      api_keys: config.apiKeys.size,
      demo_page: config.demoPage,
      cors: config.corsOrigins.length > 0 ? config.corsOrigins : 'off',
    },
    'session API listening',
  );
} catch (error) {
  fail(error);
}

let closing = false;
const shutdown = (signal: string) => {
  if (closing) return;
  closing = true;
  logger.info({ signal }, 'session API stopping');
  server
    .close()
    .then(() => process.exit(0))
    .catch((error: unknown) => {
      logger.error({ err: (error as Error).message }, 'session API did not stop cleanly');
      process.exit(1);
    });
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
