/**
 * The fake Gemini Live server in a process of its own, for the long soak call: its traffic log
 * (every microphone chunk of a 10-minute call) then does not count in the agent's memory.
 * `node --import tsx bench/soak/fake_server.ts <replyMs>`: answers spoken turn N with
 * "reply to words N" and `replyMs` of audio; prints its URL; exits on SIGTERM.
 */
import { FakeGeminiServer } from '../../tools/fake_gemini/server.ts';

const replyMs = Number(process.argv[2] ?? 2000);
let spoken = 0;
const fake = await FakeGeminiServer.start({
  apiKey: process.env.FAKE_API_KEY,
  respond: (turn) => ({ text: `reply to ${turn.text}`, audioMs: replyMs }),
  transcribe: () => `words ${++spoken}`,
});
process.stdout.write(`fake Gemini Live listening: ${fake.baseUrl}\n`);
const stop = () => void fake.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
