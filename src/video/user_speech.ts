/**
 * When the user speaks, for video sampling (a frame per second while they speak, fewer or none
 * otherwise).
 *
 * On the Gemini realtime path the framework's user state does not say it: with Gemini's own turn
 * detection no VAD runs in the worker, and `user_state_changed` flips to `speaking` when a Gemini
 * reply starts and back when it ends (the plugin's `input_speech_started/stopped`), i.e. around
 * the agent's turn. So with TURN_DETECTION=gemini we listen to the microphone audio on its way to
 * the model with a small energy detector; with TURN_DETECTION=livekit, Silero VAD drives the
 * framework's user state and we follow that.
 */
import { voice } from '@livekit/agents';
import type { AudioFrame } from '@livekit/rtc-node';

export interface UserSpeech {
  readonly speaking: boolean;
  /** Called on every change; returns a function that stops it. */
  onChange(listener: (speaking: boolean) => void): () => void;
  close(): void;
}

export interface EnergyDetectorOptions {
  /** A frame is voiced above this RMS level. Default -40 dBFS. */
  thresholdDbfs?: number;
  /** Voiced audio needed to start speaking (ms of audio). Default 100. */
  minSpeechMs?: number;
  /** Silence that ends speaking (ms of audio). Default 600. */
  hangoverMs?: number;
}

/**
 * Speaking from microphone frames by loudness. Time is audio time (frame durations), so it is
 * deterministic for a given input and does not drift with the event loop.
 */
export class EnergySpeechDetector implements UserSpeech {
  readonly #threshold: number;
  readonly #minSpeechMs: number;
  readonly #hangoverMs: number;
  readonly #listeners = new Set<(speaking: boolean) => void>();
  #speaking = false;
  #voicedMs = 0;
  #silentMs = 0;
  #detach?: () => void;

  constructor(options: EnergyDetectorOptions = {}) {
    this.#threshold = 10 ** ((options.thresholdDbfs ?? -40) / 20);
    this.#minSpeechMs = options.minSpeechMs ?? 100;
    this.#hangoverMs = options.hangoverMs ?? 600;
  }

  /** Feed from `attach` (e.g. `model.onInputAudio`) until close. */
  attach(subscribe: (listener: (frame: AudioFrame) => void) => () => void): this {
    this.#detach = subscribe((frame) => this.push(frame));
    return this;
  }

  get speaking(): boolean {
    return this.#speaking;
  }

  push(frame: Pick<AudioFrame, 'data' | 'sampleRate' | 'samplesPerChannel'>): void {
    const ms = (frame.samplesPerChannel * 1000) / frame.sampleRate;
    if (rms(frame.data) > this.#threshold) {
      this.#voicedMs += ms;
      this.#silentMs = 0;
      if (!this.#speaking && this.#voicedMs >= this.#minSpeechMs) this.#set(true);
    } else {
      this.#silentMs += ms;
      if (this.#silentMs >= this.#hangoverMs) {
        this.#voicedMs = 0;
        if (this.#speaking) this.#set(false);
      }
    }
  }

  onChange(listener: (speaking: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.#detach?.();
    this.#listeners.clear();
  }

  #set(speaking: boolean): void {
    this.#speaking = speaking;
    for (const listener of this.#listeners) listener(speaking);
  }
}

/** Speaking as the framework's user state says (TURN_DETECTION=livekit: Silero VAD). */
export class SessionUserState implements UserSpeech {
  readonly #session: voice.AgentSession;
  readonly #listeners = new Set<(speaking: boolean) => void>();
  #speaking = false;

  constructor(session: voice.AgentSession) {
    this.#session = session;
    this.#speaking = session.userState === 'speaking';
    session.on(voice.AgentSessionEventTypes.UserStateChanged, this.#onState);
  }

  get speaking(): boolean {
    return this.#speaking;
  }

  onChange(listener: (speaking: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.#session.off(voice.AgentSessionEventTypes.UserStateChanged, this.#onState);
    this.#listeners.clear();
  }

  #onState = (ev: voice.UserStateChangedEvent): void => {
    const speaking = ev.newState === 'speaking';
    if (speaking === this.#speaking) return;
    this.#speaking = speaking;
    for (const listener of this.#listeners) listener(speaking);
  };
}

function rms(samples: Int16Array): number {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i]! * samples[i]!;
  return Math.sqrt(sum / Math.max(1, samples.length)) / 32768;
}
