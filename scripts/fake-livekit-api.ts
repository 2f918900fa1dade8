/**
 * Run the fake LiveKit server API on its own, to try the session API with no LiveKit server:
 * `npm run fake-livekit-api`, then start `npm run sessions` with the printed settings. It creates
 * rooms and dispatches in memory and refuses joins (it has no media server).
 */
import { parseOptionsOrExit } from '../src/cli_io.ts';
import { FakeLivekitApi } from '../tools/fake_livekit_api/server.ts';

const USAGE =
  'usage: npm run fake-livekit-api (no options; FAKE_LIVEKIT_PORT picks the port, default any free one; stop it with Ctrl-C)';

parseOptionsOrExit(process.argv.slice(2), {}, 'fake-livekit-api', USAGE);

const apiKey = 'devkey';
const apiSecret = 'devsecret-for-the-fake-livekit-api-only';
const fake = await FakeLivekitApi.start({
  apiKey,
  apiSecret,
  port: Number(process.env.FAKE_LIVEKIT_PORT ?? 0),
});
process.stdout.write(
  `fake LiveKit API listening: LIVEKIT_URL=${fake.url} LIVEKIT_API_KEY=${apiKey} LIVEKIT_API_SECRET=${apiSecret}\n`,
);
fake.on('call', (call: { service: string; method: string }) =>
  process.stdout.write(`${call.service}/${call.method}\n`),
);
const stop = () => void fake.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
