/**
 * Avatar frame composition cost: the built-in face rendered at a given size with a mouth that
 * changes every frame and a clock that runs through blinks and head motion. Prints nothing.
 */
import { AvatarRenderer, type RenderSize } from '../src/avatar/renderer.ts';
import { type MouthState, VISEMES } from '../src/avatar/visemes.ts';
import { percentile } from './stats.ts';

const WARMUP_FRAMES = 200;
const FRAME_MS = 40;

export interface RenderBench {
  msPerFrame: number;
  p99Ms: number;
}

/** Mouth states made up front, so the timed loop measures the renderer alone. */
function mouthStates(count: number): MouthState[] {
  return Array.from({ length: count }, (_, i) => ({
    viseme: VISEMES[i % VISEMES.length]!,
    open: (i % 11) / 10,
  }));
}

export async function benchRender(size: RenderSize, frames = 2000): Promise<RenderBench> {
  const renderer = await AvatarRenderer.load({ kind: 'builtin', id: 'default' }, size);
  const out = new Uint8Array(size.width * size.height * 4);
  const mouths = mouthStates(97);
  for (let i = 0; i < WARMUP_FRAMES; i++) {
    renderer.render({ mouth: mouths[i % mouths.length]!, timeMs: i * FRAME_MS }, out);
  }
  const samples: number[] = new Array<number>(frames);
  const input = { mouth: mouths[0]!, timeMs: 0 };
  const started = performance.now();
  for (let i = 0; i < frames; i++) {
    input.mouth = mouths[i % mouths.length]!;
    input.timeMs = i * FRAME_MS;
    const before = performance.now();
    renderer.render(input, out);
    samples[i] = performance.now() - before;
  }
  const elapsed = performance.now() - started;
  return {
    msPerFrame: elapsed / frames,
    p99Ms: percentile(
      [...samples].sort((a, b) => a - b),
      99,
    ),
  };
}
