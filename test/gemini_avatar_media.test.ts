/**
 * The Gemini avatar's media path without a call: the fMP4 demuxer on the fake's clip however it
 * is sliced or broken, and Gemini's face on a virtual clock (exact time): pictures leave with their
 * audio, do not drift, rest between replies and after a cut.
 */
import { initializeLogger } from '@livekit/agents';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadAv } from '../src/avatar/gemini/av.ts';
import { Fmp4Demuxer, type MediaSample } from '../src/avatar/gemini/fmp4_demuxer.ts';
import { GeminiAvatarMedia } from '../src/avatar/gemini/media_output.ts';
import { VirtualClock } from '../src/avatar/clock.ts';
import { runAvatarStream } from '../bench/gemini_avatar.ts';
import { avatarClip } from '../tools/fake_gemini/avatar_stream.ts';

const clip = avatarClip();
/** The clip as the fake streams one reply of it: init segment, then every fragment. */
const stream = Buffer.concat([clip.init, ...clip.fragments.map((f) => f.bytes)]);

function demux(parts: Uint8Array[]): { samples: MediaSample[]; problems: string[] } {
  const demuxer = new Fmp4Demuxer();
  const samples: MediaSample[] = [];
  const problems: string[] = [];
  for (const part of parts) {
    const out = demuxer.push(part);
    samples.push(...out.samples);
    problems.push(...out.problems);
  }
  return { samples, problems };
}

function slices(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += size) out.push(bytes.subarray(at, at + size));
  return out;
}

beforeAll(() => initializeLogger({ pretty: false, level: 'error' }));

describe('the fMP4 demuxer', () => {
  it('gives every sample of the clip, in order, however the bytes are sliced', () => {
    for (const size of [1, 7, 1000, 16_384, stream.length]) {
      const { samples, problems } = demux(slices(stream, size));
      expect(problems).toEqual([]);
      const video = samples.filter((s) => s.track.kind === 'video');
      const audio = samples.filter((s) => s.track.kind === 'audio');
      expect(video).toHaveLength(clip.info.frames);
      expect(audio).toHaveLength(126); // 125 AAC frames of speech and the encoder's priming
      expect(video[0]!.keyframe).toBe(true);
      expect(video.every((s, i) => i === 0 || s.pts > video[i - 1]!.pts)).toBe(true);
      expect(video[0]!.track).toMatchObject({ codec: 'avc1.42c020', width: 704, height: 1280 });
      expect(audio[0]!.track).toMatchObject({ codec: 'mp4a.40.2', sampleRate: 24_000 });
    }
  });

  it('skips bytes that are not MP4 and finds the next fragment', () => {
    const [third, fourth] = [clip.fragments[3]!.bytes, clip.fragments[4]!.bytes];
    const before = Buffer.concat([clip.init, ...clip.fragments.slice(0, 3).map((f) => f.bytes)]);
    const junk = Buffer.alloc(3000, 0x41);
    const { samples, problems } = demux([before, junk, third, fourth]);
    expect(problems).toEqual(['skipped 3000 bytes that are not MP4 boxes']);
    const expected = demux([before, third, fourth]).samples;
    expect(samples.map((s) => s.pts)).toEqual(expected.map((s) => s.pts));
  });

  it('a reply cut inside a box: the partial box is dropped and the next reply plays', () => {
    const demuxer = new Fmp4Demuxer();
    demuxer.push(Buffer.concat([clip.init, clip.fragments[0]!.bytes]));
    const cut = clip.fragments[1]!.bytes.subarray(0, 500);
    expect(demuxer.push(cut).samples).toEqual([]);
    expect(demuxer.dropPartial()).toBe(500);
    const next = demuxer.push(clip.fragment(0, 10).bytes);
    expect(next.problems).toEqual([]);
    expect(next.samples.length).toBeGreaterThan(0);
    expect(next.samples[0]!.pts).toBeCloseTo(10, 3);
  });

  it('a broken stream keeps its speech coming: faults are counted, one warning', () => {
    const av = loadAv();
    if (av instanceof Error) throw av;
    const media = new GeminiAvatarMedia({ config: { avatarName: 'Ben' }, av, sampleRate: 24_000 });
    const s = media.openStream();
    const frames = [
      ...s.push(Buffer.concat([clip.init, clip.fragments[0]!.bytes]), false),
      ...s.push(Buffer.alloc(777, 0x7f), false),
      ...s.push(clip.fragments[1]!.bytes, false),
    ];
    expect(media.stats.faults).toBe(1);
    const samples = frames.reduce((n, f) => n + f.samplesPerChannel, 0);
    // Two fragments' speech (about half a second), none lost to the junk between them.
    expect(samples / 24_000).toBeGreaterThan(0.4);
    s.close();
  });
});

describe("Gemini's face on a virtual clock", () => {
  it('publishes each picture when its audio plays, with no drift over two minutes', async () => {
    const replies = Array.from({ length: 16 }, (_, i) => ({
      ms: 5000 + (i % 3) * 1500,
      pauseMs: 800 + (i % 4) * 400,
    }));
    const run = await runAvatarStream({ replies }, { clock: new VirtualClock() });
    await run.face.close();
    const offsets = run.face.stats.offsetsMs;
    expect(offsets.length).toBeGreaterThan(100 * 24);
    // Within 2 ms of its audio (a frame is 41.7 ms), the first minute as the last.
    expect(Math.max(...offsets.map(Math.abs))).toBeLessThan(2);
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    const minute = 60 * 24;
    expect(Math.abs(mean(offsets.slice(0, minute)) - mean(offsets.slice(-minute)))).toBeLessThan(
      0.5,
    );
    expect(run.face.stats.repeats).toBeGreaterThan(0); // the face stayed up between replies
  }, 60_000);
});
