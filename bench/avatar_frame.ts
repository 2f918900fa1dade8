/**
 * The avatar's whole per-frame cost, as the publisher pays it: lip-sync analysis of one frame's
 * worth of 24 kHz speech, the mouth lookup, the composite, and the capture into a real rtc-node
 * VideoSource (which converts RGBA to I420 in native code). Prints nothing.
 */
import { VideoBufferType, VideoFrame, VideoSource } from '@livekit/rtc-node';
import { readMonoAt } from '../src/audio/wav.ts';
import { LipSyncAnalyzer } from '../src/avatar/lip_sync.ts';
import { AvatarRenderer, type RenderSize } from '../src/avatar/renderer.ts';
import { percentile } from './stats.ts';

const RATE = 24_000;
const FPS = 30;
const WARMUP_FRAMES = 100;

export interface AvatarFrameBench {
  size: RenderSize;
  frames: number;
  msPerFrame: number;
  p99Ms: number;
  /** Real-time factor: frame period / cost (how many streams one core could run). */
  realTimeFactor: number;
  /** Share of one core at 30 fps, in percent. */
  corePercent: number;
}

function speech(): Int16Array {
  const url = new URL('../test/fixtures/count.wav', import.meta.url);
  return readMonoAt(url.pathname, RATE).samples;
}

export async function benchAvatarFrame(size: RenderSize, frames = 1500): Promise<AvatarFrameBench> {
  const renderer = await AvatarRenderer.load({ kind: 'builtin', id: 'default' }, size);
  const source = new VideoSource(size.width, size.height);
  const analyzer = new LipSyncAnalyzer({ sampleRate: RATE });
  const audio = speech();
  const perFrame = RATE / FPS;
  const rgba = new Uint8Array(size.width * size.height * 4);
  const costs: number[] = [];
  let offset = 0;
  const frame = (i: number) => {
    // One frame of audio arrives; the frame shows the mouth a little behind the newest audio,
    // as the publisher does (audio is queued ahead of playout).
    if (offset + perFrame > audio.length) offset = 0;
    analyzer.push(audio.subarray(offset, offset + perFrame));
    offset += perFrame;
    const shownMs = Math.max(0, analyzer.endMs - 100);
    const mouth = analyzer.stateAt(shownMs);
    renderer.render({ mouth, timeMs: (i * 1000) / FPS }, rgba);
    source.captureFrame(new VideoFrame(rgba, size.width, size.height, VideoBufferType.RGBA));
    analyzer.forget(shownMs - 1_000);
  };
  try {
    for (let i = 0; i < WARMUP_FRAMES; i++) frame(i);
    for (let i = 0; i < frames; i++) {
      const before = performance.now();
      frame(WARMUP_FRAMES + i);
      costs.push(performance.now() - before);
    }
  } finally {
    await source.close();
  }
  const msPerFrame = costs.reduce((a, b) => a + b, 0) / costs.length;
  return {
    size,
    frames,
    msPerFrame,
    p99Ms: percentile(
      costs.sort((a, b) => a - b),
      99,
    ),
    realTimeFactor: 1000 / FPS / msPerFrame,
    corePercent: (msPerFrame * FPS) / 10,
  };
}
