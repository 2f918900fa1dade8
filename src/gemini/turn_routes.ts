/**
 * How each model row takes what the client says outside the microphone: a reply request, a
 * text turn, new instructions, earlier conversation. The capability row names the route; this
 * is the one place that turns a route into wire messages.
 *
 * - `client_content` (2.5): client content anywhere; a reply is asked for with the instructions
 *   as a model turn and a "." user turn (the plugin's placeholder).
 * - `realtime_text` (3.1, 3.8 on Vertex): client content only as declared initial history; text
 *   turns go as `realtimeInput.text`, new instructions wait for the next connection.
 * - `user_content` (3.8 on the Gemini API): client content with explicit roles all session;
 *   `turnComplete: true` asks for the answer (and interrupts a reply in progress).
 */
import type { Content, FunctionResponse } from '@google/genai';
import type { ModelCapabilities } from '../config/models.ts';
import { CONTINUE_PROMPT, instructionsUpdatePrompt } from './prompts.ts';

/** One client message a session sends (or holds until it is connected). */
export type Outgoing =
  | { type: 'content'; turns: Content[]; turnComplete: boolean }
  | { type: 'text'; text: string }
  | { type: 'activity_start' }
  | { type: 'activity_end' }
  | { type: 'tool_response'; responses: FunctionResponse[] };

const userTurn = (text: string): Content => ({ role: 'user', parts: [{ text }] });

/** `generateReply`: answer now, following `instructions`, after `userText` (new user messages). */
export function replyRequest(
  row: ModelCapabilities,
  instructions: string | undefined,
  userText: readonly string[],
): Outgoing {
  switch (row.textTurnRoute) {
    case 'realtime_text': {
      const text = [...userText, instructions].filter((t): t is string => !!t?.trim());
      return { type: 'text', text: text.join('\n') || CONTINUE_PROMPT };
    }
    case 'user_content':
      return {
        type: 'content',
        turns: instructions ? [userTurn(instructions)] : [],
        turnComplete: true,
      };
    case 'client_content': {
      const turns: Content[] = instructions
        ? [{ role: 'model', parts: [{ text: instructions }] }]
        : [];
      return { type: 'content', turns: [...turns, userTurn('.')], turnComplete: true };
    }
  }
}

/** A user text turn that asks for an answer (a cut question, a function result as text). */
export function askTurn(row: ModelCapabilities, text: string): Outgoing {
  return row.textTurnRoute === 'realtime_text'
    ? { type: 'text', text }
    : { type: 'content', turns: [userTurn(text)], turnComplete: true };
}

/** Ask for the reply the model did not give, when it already has the user's words. */
export function replyNow(row: ModelCapabilities): Outgoing {
  return replyRequest(row, undefined, []);
}

/** New instructions mid-session, or undefined when the row takes them only at the next setup. */
export function instructionsUpdate(row: ModelCapabilities, text: string): Outgoing | undefined {
  switch (row.textTurnRoute) {
    case 'realtime_text':
      return undefined;
    case 'user_content':
      return {
        type: 'content',
        turns: [userTurn(instructionsUpdatePrompt(text))],
        turnComplete: false,
      };
    case 'client_content':
      // Both APIs refuse role "system"; 2.5 takes "model" (the plugin's choice).
      return {
        type: 'content',
        turns: [{ role: 'model', parts: [{ text }] }],
        turnComplete: false,
      };
  }
}

/**
 * Earlier conversation for a connection that does not have it. Declared initial history (setup
 * `historyConfig`, `declared`) ends with `turnComplete: true`, which closes the history without
 * asking for a reply; otherwise it is added without asking for one.
 */
export function historySeed(turns: Content[], declared: boolean): Outgoing {
  return { type: 'content', turns, turnComplete: declared };
}
