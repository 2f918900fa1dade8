/**
 * A call with no LiveKit room: the session's microphone is a PacedAudioInput and its speaker a
 * VirtualSpeaker, both real time. Used by the console and by the end-to-end tests, so both drive
 * the agent exactly as a room would (the same session builder, the same realtime model). The
 * console's --video passes the avatar's sink as the speaker instead.
 */
import type { voice } from '@livekit/agents';
import type { CallSession } from '../session.ts';
import { PacedAudioInput } from '../audio/paced_input.ts';
import { VirtualSpeaker } from '../audio/virtual_speaker.ts';
import { CallEventLog } from './call_events.ts';

/** The rate the microphone stream is sent at (Gemini takes 16 kHz; the plugin resamples others). */
export const MIC_RATE = 16_000;
export const SPEAKER_RATE = 24_000;

/** An AudioOutput that plays in real time and can be stopped (VirtualSpeaker, the avatar sink). */
export type Speaker = voice.AudioOutput & { close(): void };

export interface OfflineCallOptions {
  /** Gets each played stretch of agent audio (24 kHz mono), in order (the VirtualSpeaker only). */
  onAgentAudio?: (samples: Int16Array, info: { interrupted: boolean }) => void;
  /** The speaker to use instead of a VirtualSpeaker (e.g. the avatar's sink); closed by close(). */
  speaker?: Speaker;
}

export interface AnswerOptions {
  /** The agent must have been listening, with nothing happening, this long. Default 2500 ms. */
  settleMs?: number;
  /** Give up at this time (Date.now() ms). */
  deadline: number;
  /** Replies to wait for, counted from `since` (an index into the event log). Default 1. */
  replies?: number;
  since?: number;
}

export class OfflineCall {
  readonly call: CallSession;
  readonly mic: PacedAudioInput;
  readonly speaker: Speaker;
  readonly events: CallEventLog;

  private constructor(call: CallSession, options: OfflineCallOptions) {
    this.call = call;
    this.mic = new PacedAudioInput({ sampleRate: MIC_RATE });
    if (options.speaker && options.onAgentAudio) {
      throw new Error(
        'OfflineCall: onAgentAudio is not valid with speaker (allowed: one; record your speaker yourself)',
      );
    }
    this.speaker =
      options.speaker ??
      new VirtualSpeaker({
        sampleRate: SPEAKER_RATE,
        ...(options.onAgentAudio ? { onPlayed: options.onAgentAudio } : {}),
      });
    this.events = new CallEventLog(call.session);
  }

  /** Attach the stand-in microphone and speaker, start the session and the microphone. */
  static async start(call: CallSession, options: OfflineCallOptions = {}): Promise<OfflineCall> {
    const offline = new OfflineCall(call, options);
    call.session.input.audio = offline.mic;
    call.session.output.audio = offline.speaker;
    await call.session.start({ agent: call.agent });
    offline.mic.start();
    return offline;
  }

  /** Say `samples` (mono s16 at MIC_RATE) into the microphone; resolves when all were sent. */
  say(samples: Int16Array): Promise<void> {
    return this.mic.play(samples);
  }

  /**
   * Wait until the agent has answered and is listening again: at least `replies` agent messages
   * since `since`, the agent listening, and no event for `settleMs`. Resolves false on deadline.
   */
  async untilAnswered({ settleMs = 2500, deadline, replies = 1, since = 0 }: AnswerOptions) {
    const { session } = this.call;
    while (Date.now() < deadline) {
      const recent = this.events.events.slice(since);
      const answered =
        recent.filter((e) => e.type === 'message' && e.role === 'assistant').length >= replies;
      const last = this.events.events.at(-1);
      const quietFor = last ? Date.now() - (this.events.startedAt + last.t_ms) : Infinity;
      if (answered && session.agentState === 'listening' && quietFor >= settleMs) return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  }

  async close(): Promise<void> {
    this.speaker.close();
    await this.call.video.close();
    await this.mic.close();
    await this.call.session.close();
  }
}
