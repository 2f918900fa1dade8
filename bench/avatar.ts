/**
 * The avatar's benchmarks for `npm run bench`: lip-sync cost per hop, composite cost, the whole
 * per-frame cost at 512x512 and 1280x720, and the A/V offset through a real AudioSource (20 s by
 * default, 10 minutes with --long). Returns numbers and printable lines; prints nothing.
 */
import { benchAvOffset } from './av_offset.ts';
import { benchAvatarFrame } from './avatar_frame.ts';
import { benchLipSync } from './lip_sync.ts';
import { benchRender } from './render.ts';
import { ms } from './stats.ts';

export const AVATAR_TARGETS = { frameMs512: 1, avOffsetP99Ms: 33 } as const;

const SIZES = [
  { width: 512, height: 512 },
  { width: 1280, height: 720 },
] as const;

export async function runAvatarBench({ long }: { long: boolean }) {
  const lipSync = await benchLipSync();
  const render = [];
  const frame = [];
  for (const size of SIZES) {
    render.push({ size, ...(await benchRender(size)) });
    frame.push(await benchAvatarFrame(size));
  }
  const offsetSeconds = long ? 600 : 20;
  const offset = { seconds: offsetSeconds, ...(await benchAvOffset({ seconds: offsetSeconds })) };
  return { lipSync, render, frame, offset };
}

export type AvatarReport = Awaited<ReturnType<typeof runAvatarBench>>;

export function avatarLines(r: AvatarReport): string[] {
  const ok = (pass: boolean) => (pass ? 'ok' : 'MISSED');
  const lines = [
    `lip sync   ${ms(r.lipSync.msPerHop)} per 10 ms hop (${Math.round(r.lipSync.realTimeFactor)}x real time)`,
  ];
  r.render.forEach((x, i) => {
    const f = r.frame[i]!;
    const dims = `${x.size.width}x${x.size.height}`.padEnd(9);
    const target =
      x.size.width === 512
        ? `  (target <=${AVATAR_TARGETS.frameMs512}ms: ${ok(f.msPerFrame <= AVATAR_TARGETS.frameMs512)})`
        : '';
    lines.push(
      `frame      ${dims} composite ${ms(x.msPerFrame)} (p99 ${ms(x.p99Ms)}); analysis+composite+capture ${ms(f.msPerFrame)} (p99 ${ms(f.p99Ms)}), ${Math.round(f.realTimeFactor)}x real time, ${f.corePercent.toFixed(1)}% of a core at 30 fps${target}`,
    );
  });
  const o = r.offset;
  const syncOk = o.clockP99Ms <= AVATAR_TARGETS.avOffsetP99Ms;
  lines.push(
    `A/V sync   ${o.seconds}s through a real AudioSource: audio shown vs audio leaving, per frame: p50=${ms(o.clockP50Ms)} p99=${ms(o.clockP99Ms)} drift=${o.driftMsPerMin.toFixed(2)}ms/min; frames=${o.frames} skipped=${o.skipped} dry 10ms chunks=${o.dryChunks}  (target p99<=${AVATAR_TARGETS.avOffsetP99Ms}ms: ${ok(syncOk)})`,
    `mouth      first open frame after each sound onset (sync + lip-sync response): n=${o.onsets} p50=${ms(o.p50Ms)} p99=${ms(o.p99Ms)} max=${ms(o.maxMs)} signed p50=${ms(o.signedP50Ms)} unmatched=${o.unmatched}`,
  );
  return lines;
}
