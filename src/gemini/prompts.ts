/**
 * Texts the session sends to the model on the user's behalf, in one place so they are easy to
 * find and the same for every model.
 */

/** The text sent when a reply is asked for with nothing new to answer. */
export const CONTINUE_PROMPT = 'Please continue.';

/** The result of a function call whose connection was lost, given to the model as text. */
export function toolResultPrompt(name: string, output: unknown, question?: string): string {
  const result = typeof output === 'string' ? output : JSON.stringify(output ?? null);
  const asked = question ? `The user asked: "${question}". ` : '';
  return `${asked}The ${name} tool returned: ${result}. Answer the user.`;
}

/**
 * New instructions sent mid-session as a user turn (3.8 on the Gemini API documents client
 * content with the roles user and model only; a "system" role closes the socket).
 */
export function instructionsUpdatePrompt(instructions: string): string {
  return `From now on, follow these instructions instead of the earlier ones:\n${instructions}`;
}
