/**
 * The offline demo's script (`npm run demo`, src/demo.ts): the recorded question the "user" says,
 * what the Gemini stand-in hears in it (it has no speech recognition), and what it answers. The
 * question is tests' weather.wav, copied by scripts/make-fixtures.sh (product code never reads
 * test/).
 */
import { fileURLToPath } from 'node:url';
import type { FakeReply, FakeTurn } from '../fake_gemini/server.ts';

export const QUESTION_WAV = fileURLToPath(new URL('./question.wav', import.meta.url));
export const QUESTION_TEXT = 'What is the weather like in Paris today?';
export const GREETING_TEXT = "Hi! I'm the demo avatar. Ask me anything.";
export const ANSWER_TEXT =
  "I can't look outside: I'm a stand-in for Gemini reading a script. Add an API key for a real answer.";

/** The greeting request gets the greeting; the spoken question gets the answer. */
export function demoReply(turn: FakeTurn): FakeReply {
  return { text: turn.source === 'audio' ? ANSWER_TEXT : GREETING_TEXT };
}
