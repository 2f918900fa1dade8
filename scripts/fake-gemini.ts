/**
 * Run the fake Gemini Live server on its own, to try the console (or the worker) with no Google
 * account: `npm run fake-gemini`, then in another shell
 * `GOOGLE_GEMINI_BASE_URL=<printed url> GOOGLE_API_KEY=fake npm run console -- --input test/fixtures/hello.wav`.
 * It answers every user turn with "You said: <transcript>." and a synthetic voice.
 */

import { FakeGeminiServer } from '../tools/fake_gemini/server.ts';

const fake = await FakeGeminiServer.start();
process.stdout.write(`fake Gemini Live listening: GOOGLE_GEMINI_BASE_URL=${fake.baseUrl}\n`);
const stop = () => void fake.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
