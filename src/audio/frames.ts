import type { AudioFrame } from '@livekit/rtc-node';

/** A frame's samples as mono s16 (channels averaged); mono frames are returned as they are. */
export function monoSamples(frame: AudioFrame): Int16Array {
  if (frame.channels === 1) return frame.data;
  const out = new Int16Array(frame.samplesPerChannel);
  for (let i = 0; i < out.length; i++) {
    let sum = 0;
    for (let c = 0; c < frame.channels; c++) sum += frame.data[i * frame.channels + c]!;
    out[i] = Math.round(sum / frame.channels);
  }
  return out;
}
