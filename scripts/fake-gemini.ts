/**
 * Run the fake Gemini Live server on its own, to try the console (or the worker) with no Google
 * account: `npm run fake-gemini`, then in another shell
 * `GOOGLE_GEMINI_BASE_URL=<printed url> GOOGLE_API_KEY=fake npm run console -- --input test/fixtures/hello.wav`.
 * It answers every user turn with "You said: <transcript>." and a synthetic voice.
 * (`npm run demo` does all of this in one command.)
 */

import { parseOptionsOrExit } from '../src/cli_io.ts';
import { FakeGeminiServer } from '../tools/fake_gemini/server.ts';

const USAGE = 'usage: npm run fake-gemini (no options; stop it with Ctrl-C)';

parseOptionsOrExit(process.argv.slice(2), {}, 'fake-gemini', USAGE);

const fake = await FakeGeminiServer.start();
process.stdout.write(`fake Gemini Live listening: GOOGLE_GEMINI_BASE_URL=${fake.baseUrl}\n`);
const stop = () => void fake.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
