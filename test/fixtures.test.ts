/**
 * The committed speech fixtures (made by scripts/make-fixtures.sh) are what test/fixtures/README.md
 * says they are. Pure file checks: no espeak-ng or sox at test time.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { durationMs, readWav } from '../src/audio/wav.ts';
import type { WavAudio } from '../src/audio/wav.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures');

const WINDOW_MS = 10;
// A 10 ms window quieter than this (about -50 dBFS) is silence; espeak-ng pauses are near zero.
const SILENCE_RMS = 100;
// Whole-file RMS of espeak-ng speech at -a 100 is ~2500; noise or an empty file is far below.
const SPEECH_RMS = 1000;

interface Fixture {
  file: string;
  sampleRate: number;
  durationMs: number;
  /** Pauses between words (silence with speech on both sides): at least `count` of `minMs`. */
  pauses: { count: number; minMs: number };
}

// Keep in step with test/fixtures/README.md.
const FIXTURES_TABLE: Fixture[] = [
  { file: 'hello.wav', sampleRate: 16000, durationMs: 2374, pauses: { count: 1, minMs: 150 } }, // the comma
  { file: 'weather.wav', sampleRate: 16000, durationMs: 2736, pauses: { count: 0, minMs: 150 } },
  { file: 'count.wav', sampleRate: 24000, durationMs: 3367, pauses: { count: 4, minMs: 80 } },
  { file: 'vowels_24k.wav', sampleRate: 24000, durationMs: 3000, pauses: { count: 2, minMs: 280 } },
  // festival's HTS voice, for the end-of-turn model: no pause at the comma.
  { file: 'finished.wav', sampleRate: 16000, durationMs: 1850, pauses: { count: 0, minMs: 150 } },
  { file: 'unfinished.wav', sampleRate: 16000, durationMs: 1825, pauses: { count: 0, minMs: 150 } },
  {
    file: 'unfinished_rest.wav',
    sampleRate: 16000,
    durationMs: 1390,
    pauses: { count: 0, minMs: 150 },
  },
];

/** Silent (true) or not, per 10 ms window. */
function silentWindows(audio: WavAudio): boolean[] {
  const size = (audio.sampleRate * WINDOW_MS) / 1000;
  const out: boolean[] = [];
  for (let start = 0; start + size <= audio.samples.length; start += size) {
    out.push(rms(audio.samples.subarray(start, start + size)) < SILENCE_RMS);
  }
  return out;
}

interface Run {
  silent: boolean;
  ms: number;
}

function runs(windows: boolean[]): Run[] {
  const list: Run[] = [];
  for (const silent of windows) {
    const last = list.at(-1);
    if (last && last.silent === silent) last.ms += WINDOW_MS;
    else list.push({ silent, ms: WINDOW_MS });
  }
  return list;
}

/** Lengths of silent runs with speech before and after them. */
function pauses(audio: WavAudio): number[] {
  const list = runs(silentWindows(audio));
  return list
    .slice(1, -1)
    .filter((r) => r.silent)
    .map((r) => r.ms);
}

function rms(samples: Int16Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return Math.sqrt(sum / Math.max(1, samples.length));
}

describe.each(FIXTURES_TABLE)('fixture $file', (fixture) => {
  const audio = readWav(join(FIXTURES, fixture.file));

  it('has the documented format and duration', () => {
    expect(audio.sampleRate).toBe(fixture.sampleRate);
    expect(audio.channels).toBe(1);
    expect(Math.abs(durationMs(audio) - fixture.durationMs)).toBeLessThanOrEqual(50);
  });

  it('contains speech and the expected pauses', () => {
    expect(rms(audio.samples)).toBeGreaterThan(SPEECH_RMS);
    const long = pauses(audio).filter((ms) => ms >= fixture.pauses.minMs);
    expect(long.length).toBeGreaterThanOrEqual(fixture.pauses.count);
  });

  it('ends in silence (a natural end of turn for VAD)', () => {
    expect(runs(silentWindows(audio)).at(-1)).toMatchObject({ silent: true });
    expect(runs(silentWindows(audio)).at(-1)!.ms).toBeGreaterThanOrEqual(200);
  });
});

describe('vowels_24k.wav', () => {
  it('is 300 ms silence, then a, i, u of ~600 ms each, each followed by 300 ms silence', () => {
    const audio = readWav(join(FIXTURES, 'vowels_24k.wav'));
    const list = runs(silentWindows(audio));
    expect(list.map((r) => r.silent)).toEqual([true, false, true, false, true, false, true]);
    for (const [i, run] of list.entries()) {
      const expected = run.silent ? 300 : 600;
      // Fades at a vowel's ends count as silence for up to a few windows.
      expect(Math.abs(run.ms - expected), `run ${i} is ${run.ms} ms`).toBeLessThanOrEqual(40);
    }
  });
});
