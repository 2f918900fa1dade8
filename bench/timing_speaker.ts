/**
 * The VirtualSpeaker (real-time playout, the framework's playout contract) with a stopwatch: each
 * captureFrame is stamped with performance.now() on entry, before any work of the speaker's own,
 * together with the cumulative sample count after that frame.
 */
import type { AudioFrame } from '@livekit/rtc-node';
import { VirtualSpeaker, type VirtualSpeakerOptions } from '../src/audio/virtual_speaker.ts';

export interface CapturedFrame {
  /** performance.now() when captureFrame was entered. */
  at: number;
  samples: number;
  /** Samples captured so far, this frame included. */
  cumulative: number;
}

export class TimingSpeaker extends VirtualSpeaker {
  readonly frames: CapturedFrame[] = [];
  #cumulative = 0;

  constructor(options: VirtualSpeakerOptions = {}) {
    super(options);
  }

  override async captureFrame(frame: AudioFrame): Promise<void> {
    const at = performance.now();
    this.#cumulative += frame.samplesPerChannel;
    this.frames.push({ at, samples: frame.samplesPerChannel, cumulative: this.#cumulative });
    await super.captureFrame(frame);
  }
}
