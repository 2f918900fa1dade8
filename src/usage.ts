/**
 * Per-call usage: call minutes, user turns, interruptions and Gemini tokens by modality, gathered
 * from the framework's events and logged as one structured line when the session closes.
 */
import { type metrics, log, voice } from '@livekit/agents';

export interface TokenCounts {
  audio: number;
  text: number;
  image: number;
  /** Output only: avatar video when Gemini renders the face. */
  video?: number;
}

export interface UsageSummary {
  callMinutes: number;
  userTurns: number;
  agentReplies: number;
  interruptions: number;
  inputTokens: TokenCounts & { cached: number };
  outputTokens: TokenCounts;
  totalTokens: number;
}

const zero = (): TokenCounts => ({ audio: 0, text: 0, image: 0 });

export class CallUsage {
  readonly #startedAt: number;
  #endedAt?: number;
  #userTurns = 0;
  #agentReplies = 0;
  #interruptions = 0;
  #input = { ...zero(), cached: 0 };
  #output = zero();
  #total = 0;

  constructor(session: voice.AgentSession, now = Date.now()) {
    this.#startedAt = now;
    const E = voice.AgentSessionEventTypes;
    session.on(E.MetricsCollected, (ev) => this.#addMetrics(ev.metrics));
    session.on(E.UserInputTranscribed, (ev) => {
      if (ev.isFinal && ev.transcript.trim()) this.#userTurns += 1;
    });
    session.on(E.SpeechCreated, (ev) => {
      this.#agentReplies += 1;
      ev.speechHandle.addDoneCallback((handle) => {
        if (handle.interrupted) this.#interruptions += 1;
      });
    });
    session.on(E.Close, () => this.end());
  }

  #addMetrics(m: metrics.AgentMetrics): void {
    if (m.type !== 'realtime_model_metrics') return;
    const input = m.inputTokenDetails;
    const output = m.outputTokenDetails;
    this.#input.audio += input.audioTokens;
    this.#input.text += input.textTokens;
    this.#input.image += input.imageTokens;
    this.#input.cached += input.cachedTokens;
    this.#output.audio += output.audioTokens;
    this.#output.text += output.textTokens;
    this.#output.image += output.imageTokens;
    // Our Gemini session adds avatar video (not a field of the framework's type).
    const video = (output as { videoTokens?: number }).videoTokens ?? 0;
    if (video > 0) this.#output.video = (this.#output.video ?? 0) + video;
    this.#total += m.totalTokens;
  }

  /** Mark the end of the call (idempotent); the summary's minutes stop here. */
  end(now = Date.now()): void {
    this.#endedAt ??= now;
  }

  summary(now = Date.now()): UsageSummary {
    const end = this.#endedAt ?? now;
    return {
      callMinutes: Math.round(((end - this.#startedAt) / 60_000) * 1000) / 1000,
      userTurns: this.#userTurns,
      agentReplies: this.#agentReplies,
      interruptions: this.#interruptions,
      inputTokens: { ...this.#input },
      outputTokens: { ...this.#output },
      totalTokens: this.#total,
    };
  }

  /** The one structured log line for the end of a call. */
  logSummary(fields: Record<string, unknown> = {}): UsageSummary {
    const usage = this.summary();
    log().info({ ...fields, usage }, 'call usage');
    return usage;
  }
}
