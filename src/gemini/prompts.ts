/**
 * Texts the guard sends to the model on the user's behalf, in one place so they are easy to find
 * and the same for every model.
 */

/** The text sent when a reply is asked for with nothing new to answer. */
export const CONTINUE_PROMPT = 'Please continue.';

/** The result of a function call whose connection was lost, given to the model as text. */
export function toolResultPrompt(name: string, output: unknown, question?: string): string {
  const result = typeof output === 'string' ? output : JSON.stringify(output ?? null);
  const asked = question ? `The user asked: "${question}". ` : '';
  return `${asked}The ${name} tool returned: ${result}. Answer the user.`;
}
