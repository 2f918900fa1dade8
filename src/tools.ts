/**
 * The agent's built-in function tools. Small and dependency-free on purpose: they show the tool
 * round trip working on every model (3.x runs them synchronously) without calling other services.
 */
import { llm } from '@livekit/agents';
import { z } from 'zod';

export const getCurrentTime = llm.tool({
  description:
    'Get the current date and time in a time zone. Use it when the user asks what time or day it is.',
  parameters: z.object({
    timeZone: z
      .string()
      .describe('IANA time zone such as Europe/Paris or America/New_York; UTC when unknown'),
  }),
  execute: async ({ timeZone }) => {
    try {
      const text = new Intl.DateTimeFormat('en-US', {
        dateStyle: 'full',
        timeStyle: 'short',
        timeZone,
      }).format(new Date());
      return { timeZone, now: text };
    } catch {
      return { error: `unknown time zone ${timeZone}; ask the user for a city or use UTC` };
    }
  },
});

export function builtinTools(): llm.ToolContextLike {
  return { get_current_time: getCurrentTime };
}
