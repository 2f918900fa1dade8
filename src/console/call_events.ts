/**
 * The events of one call as plain JSON records: user/agent transcripts, state changes, tool calls,
 * errors and usage. The console writes them as JSON lines; tests read them to assert behaviour.
 */
import { llm, voice } from '@livekit/agents';

export type CallEvent = { t_ms: number; type: string } & Record<string, unknown>;

export class CallEventLog {
  readonly events: CallEvent[] = [];
  readonly startedAt: number;
  readonly #listeners: ((event: CallEvent) => void)[] = [];

  constructor(session: voice.AgentSession, startedAt = Date.now()) {
    this.startedAt = startedAt;
    const E = voice.AgentSessionEventTypes;
    session.on(E.AgentStateChanged, (ev) => this.add('agent_state', { state: ev.newState }));
    session.on(E.UserStateChanged, (ev) => this.add('user_state', { state: ev.newState }));
    session.on(E.UserInputTranscribed, (ev) =>
      this.add('user_transcript', { text: ev.transcript, final: ev.isFinal }),
    );
    // TURN_DETECTION=livekit: each ruling of the end-of-turn model (below the threshold: held).
    session.on(E.EotPrediction, (ev) =>
      this.add('end_of_turn', {
        probability: ev.probability,
        threshold: ev.threshold,
        inference_ms: ev.inferenceDurationMs,
      }),
    );
    session.on(E.ConversationItemAdded, (ev) => {
      if (!(ev.item instanceof llm.ChatMessage)) return;
      this.add('message', {
        role: ev.item.role,
        text: ev.item.textContent ?? '',
        interrupted: ev.item.interrupted,
      });
    });
    session.on(E.FunctionToolsExecuted, (ev) => {
      ev.functionCalls.forEach((call, i) => {
        const output = ev.functionCallOutputs[i];
        this.add('tool_call', {
          name: call.name,
          arguments: parseJson(call.args),
          output: output ? parseJson(output.output) : null,
          is_error: output?.isError ?? false,
        });
      });
    });
    session.on(E.Error, (ev) => {
      const { error } = ev;
      this.add('error', {
        source: error.type,
        message: errorMessage(error),
        recoverable: 'recoverable' in error ? error.recoverable : false,
      });
    });
  }

  add(type: string, fields: Record<string, unknown> = {}): CallEvent {
    const event: CallEvent = { t_ms: Date.now() - this.startedAt, type, ...fields };
    this.events.push(event);
    for (const listener of this.#listeners) listener(event);
    return event;
  }

  onEvent(listener: (event: CallEvent) => void): void {
    this.#listeners.push(listener);
  }

  ofType(type: string): CallEvent[] {
    return this.events.filter((e) => e.type === type);
  }
}

/** What was said, in order: `agent: ...` and `user: ...`, one line each (tool calls by name). */
export function conversationLines(events: readonly CallEvent[]): string[] {
  return events.flatMap((e) => {
    if (e.type === 'message' && (e.role === 'assistant' || e.role === 'user')) {
      const who = e.role === 'assistant' ? 'agent' : 'user';
      return [`${who}: ${String(e.text)}${e.interrupted ? ' (interrupted)' : ''}`];
    }
    return e.type === 'tool_call' ? [`tool: ${String(e.name)}`] : [];
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The message of a framework error event's payload (`{ type, error: Error, ... }`). */
export function errorMessage(error: object): string {
  const cause = 'error' in error && error.error instanceof Error ? error.error : undefined;
  return cause?.message ?? String(error);
}
