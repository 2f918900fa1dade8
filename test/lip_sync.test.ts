import { fileURLToPath } from 'node:url';
import { prng } from '../bench/av_offset.ts';
import { describe, expect, it } from 'vitest';
import { readMonoAt, readWav, toMono } from '../src/audio/wav.ts';
import { LipSyncAnalyzer } from '../src/avatar/lip_sync.ts';
import { CLOSED_MOUTH } from '../src/avatar/visemes.ts';
import type { MouthState, Viseme } from '../src/avatar/visemes.ts';

const RATE = 24_000;
const FRAME_MS = 1000 / 30;
/** Video frame grids with different phases against the audio, so no result hangs on one phase. */
const FRAME_PHASES = [0, FRAME_MS / 3, (2 * FRAME_MS) / 3];

// --- Signals -----------------------------------------------------------------------------------
// Float signals at RATE, full scale 1.0; converted to s16 only when pushed.

function samplesFor(ms: number): number {
  return Math.round((ms * RATE) / 1000);
}

function silence(ms: number): Float64Array {
  return new Float64Array(samplesFor(ms));
}

function concat(...parts: Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function toS16(x: Float64Array): Int16Array {
  return Int16Array.from(x, (v) => Math.max(-32768, Math.min(32767, Math.round(v * 32768))));
}

/** Scale to an RMS level in dBFS (full-scale sine = -3 dBFS). */
function atDb(x: Float64Array, db: number): Float64Array {
  let sum = 0;
  for (const v of x) sum += v * v;
  const gain = 10 ** (db / 20) / Math.sqrt(sum / x.length);
  return x.map((v) => v * gain);
}

/** Raised-cosine ramps so burst edges do not click (the onset is still the first sample). */
function ramp(x: Float64Array, ms = 5): Float64Array {
  const n = Math.min(samplesFor(ms), Math.floor(x.length / 2));
  const y = x.slice();
  for (let i = 0; i < n; i++) {
    const g = 0.5 - 0.5 * Math.cos((Math.PI * (i + 1)) / (n + 1));
    y[i]! *= g;
    y[y.length - 1 - i]! *= g;
  }
  return y;
}

/** 200 Hz-style harmonic complex (1/k amplitudes): voiced-like, no formants. */
function harmonicTone(ms: number, f0: number, db: number): Float64Array {
  const x = silence(ms);
  for (let i = 0; i < x.length; i++) {
    for (let k = 1; k * f0 < 5000; k++) x[i]! += Math.sin((2 * Math.PI * k * f0 * i) / RATE) / k;
  }
  return ramp(atDb(x, db));
}

/** Glottal source: a pulse train at f0 through a one-pole low-pass (about -6 dB/octave). */
function glottalSource(ms: number, f0: number): Float64Array {
  const x = silence(ms);
  const period = RATE / f0;
  for (let t = 0; t < x.length; t += period) x[Math.floor(t)] = 1;
  let y = 0;
  for (let i = 0; i < x.length; i++) x[i] = y = 0.9 * y + x[i]!;
  return x;
}

/** Klatt's second-order resonator (unity gain at DC). */
function resonator(x: Float64Array, f: number, bandwidth: number): Float64Array {
  const c = -Math.exp((-2 * Math.PI * bandwidth) / RATE);
  const b = 2 * Math.exp((-Math.PI * bandwidth) / RATE) * Math.cos((2 * Math.PI * f) / RATE);
  const a = 1 - b - c;
  const y = new Float64Array(x.length);
  let y1 = 0;
  let y2 = 0;
  for (let i = 0; i < x.length; i++) {
    y[i] = a * x[i]! + b * y1 + c * y2;
    y2 = y1;
    y1 = y[i]!;
  }
  return y;
}

const BANDWIDTHS = [90, 110, 170];

/** Source-filter vowel: glottal pulses through cascaded formant resonators. */
function formantVowel(formants: readonly number[], ms: number, f0: number, db: number) {
  let y = glottalSource(ms, f0);
  formants.forEach((f, i) => (y = resonator(y, f, BANDWIDTHS[i]!)));
  return ramp(atDb(y, db), 10);
}

/** Band-limited noise: random-phase sines every 10 Hz across [lo, hi]. */
function bandNoise(ms: number, lo: number, hi: number, db: number, seed = 1): Float64Array {
  const next = prng(seed);
  const x = silence(ms);
  for (let f = lo; f <= hi; f += 10) {
    const phase = 2 * Math.PI * next();
    const w = (2 * Math.PI * f) / RATE;
    for (let i = 0; i < x.length; i++) x[i]! += Math.sin(w * i + phase);
  }
  return ramp(atDb(x, db));
}

function fixture(name: string): Int16Array {
  const path = fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
  return readMonoAt(path, RATE).samples;
}

// --- Analysis helpers --------------------------------------------------------------------------

function analyze(samples: Int16Array, chunk = 480): LipSyncAnalyzer {
  const analyzer = new LipSyncAnalyzer({ sampleRate: RATE });
  for (let i = 0; i < samples.length; i += chunk) analyzer.push(samples.subarray(i, i + chunk));
  return analyzer;
}

/** Video frame times from `fromMs` to `toMs` on a grid with the given phase. */
function frameTimes(fromMs: number, toMs: number, phase: number): number[] {
  const times: number[] = [];
  for (let k = Math.ceil((fromMs - phase) / FRAME_MS); phase + k * FRAME_MS <= toMs; k++) {
    times.push(phase + k * FRAME_MS);
  }
  return times;
}

/** First frame in [fromMs, toMs] whose jaw is open more than 0.2 (the visible opening). */
function firstOpening(analyzer: LipSyncAnalyzer, fromMs: number, toMs: number, phase: number) {
  return frameTimes(fromMs, toMs, phase).find((t) => analyzer.stateAt(t).open > 0.2);
}

/** Share of positions (every 10 ms in [fromMs, toMs]) where the viseme is `want`. */
function accuracy(analyzer: LipSyncAnalyzer, fromMs: number, toMs: number, want: Viseme): number {
  let hits = 0;
  let total = 0;
  for (let t = fromMs; t <= toMs; t += 10) {
    total++;
    if (analyzer.stateAt(t).viseme === want) hits++;
  }
  return hits / total;
}

/** Sound segments by energy: 10 ms blocks over `db`, split by at least `minGapMs` below it. */
function segmentsByEnergy(samples: Int16Array, db: number, minGapMs = 100) {
  const block = samplesFor(10);
  const loud: boolean[] = [];
  for (let i = 0; i + block <= samples.length; i += block) {
    let sum = 0;
    for (let j = i; j < i + block; j++) sum += samples[j]! ** 2;
    loud.push(10 * Math.log10(sum / block / 32768 ** 2 + 1e-20) >= db);
  }
  const segments: { startMs: number; endMs: number }[] = [];
  for (let b = 0; b < loud.length; b++) {
    if (!loud[b]) continue;
    const last = segments.at(-1);
    if (last && b * 10 - last.endMs < minGapMs) last.endMs = (b + 1) * 10;
    else segments.push({ startMs: b * 10, endMs: (b + 1) * 10 });
  }
  return segments;
}

// --- Tests -------------------------------------------------------------------------------------

describe('LipSyncAnalyzer', () => {
  it('keeps the mouth exactly closed in silence, below the noise gate and past the end', () => {
    const empty = new LipSyncAnalyzer({ sampleRate: RATE });
    expect(empty.stateAt(0)).toEqual(CLOSED_MOUTH);

    const next = prng(7);
    const hiss = toS16(Float64Array.from(silence(1000), () => (next() - 0.5) * 0.004)); // ~-60 dBFS
    const analyzer = analyze(toS16(silence(1000)));
    analyzer.push(hiss);
    expect(analyzer.endMs).toBe(2000);
    for (let t = -100; t <= 3000; t += 5) {
      const state = analyzer.stateAt(t);
      expect(state, `at ${t} ms`).toEqual(CLOSED_MOUTH);
    }
  });

  it('follows tone-burst envelopes and opens within one video frame of each onset', () => {
    const bursts = [
      { ms: 150, gapMs: 250, db: -20 },
      { ms: 400, gapMs: 200, db: -16 },
      { ms: 250, gapMs: 300, db: -24 },
      { ms: 200, gapMs: 350, db: -18 },
    ];
    const parts = [silence(300)];
    const timeline: { onMs: number; offMs: number; nextOnMs: number }[] = [];
    let at = 300;
    for (const b of bursts) {
      parts.push(harmonicTone(b.ms, 200, b.db), silence(b.gapMs));
      timeline.push({ onMs: at, offMs: at + b.ms, nextOnMs: at + b.ms + b.gapMs });
      at += b.ms + b.gapMs;
    }
    const analyzer = analyze(toS16(concat(...parts)));

    for (const { onMs, offMs, nextOnMs } of timeline) {
      for (let t = onMs + 40; t <= offMs - 40; t += 10) {
        expect(analyzer.stateAt(t).open, `inside burst at ${t} ms`).toBeGreaterThan(0.5);
      }
      for (let t = offMs + 100; t <= nextOnMs - 60; t += 10) {
        expect(analyzer.stateAt(t).open, `in gap at ${t} ms`).toBeLessThan(0.05);
      }
      const gap = frameTimes(offMs, nextOnMs, 0).map((t) => analyzer.stateAt(t));
      expect(gap, `gap after ${offMs} ms`).toContainEqual(CLOSED_MOUTH);
      for (const phase of FRAME_PHASES) {
        const opened = firstOpening(analyzer, onMs - 150, offMs, phase);
        expect(opened, `burst at ${onMs} ms never opened`).toBeDefined();
        expect(Math.abs(opened! - onMs), `opening at ${opened} ms`).toBeLessThanOrEqual(FRAME_MS);
      }
    }
  });

  describe('count.wav ("One, two, three, four, five.")', () => {
    const samples = fixture('count.wav');
    const analyzer = analyze(samples);
    // Words: anything audible (-45 dBFS) split by >= 100 ms of silence. Jaw onsets: the first
    // loud, voiced-level block (-30 dBFS); a word may start with a quiet fricative (th, f).
    const words = segmentsByEnergy(samples, -45);
    const loudOnsets = words.map(
      (w) => segmentsByEnergy(samples, -30).find((s) => s.endMs > w.startMs)!.startMs,
    );

    it('finds the five words and four pauses it is measured against', () => {
      expect(words).toHaveLength(5);
      for (let i = 1; i < words.length; i++) {
        const pause = words[i]!.startMs - words[i - 1]!.endMs;
        expect(pause).toBeGreaterThanOrEqual(150);
        expect(pause).toBeLessThanOrEqual(300);
      }
    });

    it('opens during words and closes in each pause', () => {
      expect(words).toHaveLength(5); // the loops below must not pass over an empty list
      for (const w of words) {
        for (let t = w.startMs + 20; t <= w.endMs - 20; t += 10) {
          expect(analyzer.stateAt(t).open, `in word at ${t} ms`).toBeGreaterThan(0);
        }
      }
      for (let i = 1; i < words.length; i++) {
        const from = words[i - 1]!.endMs;
        const to = words[i]!.startMs;
        let min = 1;
        for (let t = from; t <= to; t += 5) min = Math.min(min, analyzer.stateAt(t).open);
        expect(min, `pause ${from}-${to} ms`).toBeLessThan(0.05);
      }
    });

    it('starts each word on time: shape at the first sound, jaw at the voiced onset', () => {
      expect(words).toHaveLength(5);
      words.forEach((w, i) => {
        // Search from the middle of the pause before the word, where the mouth is at rest.
        const from = i === 0 ? w.startMs - 150 : (words[i - 1]!.endMs + w.startMs) / 2;
        expect(analyzer.stateAt(from).viseme).toBe('rest');
        expect(analyzer.stateAt(from).open).toBeLessThan(0.05);
        for (const phase of FRAME_PHASES) {
          const moving = frameTimes(from, w.endMs, phase).find(
            (t) => analyzer.stateAt(t).viseme !== 'rest',
          );
          expect(Math.abs(moving! - w.startMs), `word ${i + 1} shape`).toBeLessThanOrEqual(
            FRAME_MS,
          );
          const opened = firstOpening(analyzer, from, w.endMs, phase);
          const onset = loudOnsets[i]!;
          expect(Math.abs(opened! - onset), `word ${i + 1} jaw`).toBeLessThanOrEqual(FRAME_MS);
        }
      });
    });
  });

  describe('vowels', () => {
    it.each([
      ['a', 'open', 300],
      ['i', 'spread', 1200],
      ['u', 'rounded', 2100],
    ] as const)(
      'espeak vowel %s (vowels_24k.wav) reads as %s on at least 90 percent of frames',
      (_, want, at) => {
        const analyzer = analyze(fixture('vowels_24k.wav'));
        expect(accuracy(analyzer, at + 40, at + 600 - 40, want)).toBeGreaterThanOrEqual(0.9);
      },
    );

    // Source-filter vowels from textbook formant means (F1, F2, F3 in Hz) for four voices, so no
    // one voice is tuned for: Peterson & Barney (1952) and Hillenbrand et al. (1995), whose a, i,
    // u differ from P&B's (which the analyzer's own vowel prototypes use).
    const VOICES = [
      {
        voice: 'P&B man',
        f0: 120,
        a: [730, 1090, 2440],
        i: [270, 2290, 3010],
        u: [300, 870, 2240],
      },
      {
        voice: 'P&B woman',
        f0: 210,
        a: [850, 1220, 2810],
        i: [310, 2790, 3310],
        u: [370, 950, 2670],
      },
      {
        voice: 'H95 man',
        f0: 100,
        a: [768, 1333, 2522],
        i: [342, 2322, 3000],
        u: [378, 997, 2343],
      },
      {
        voice: 'H95 woman',
        f0: 240,
        a: [936, 1551, 2815],
        i: [437, 2761, 3372],
        u: [459, 1105, 2735],
      },
    ] as const;
    const MID_VOWELS = [
      { voice: 'H95 man', f0: 120, e: [476, 2089, 2691], o: [497, 910, 2459] },
      { voice: 'H95 woman', f0: 210, e: [536, 2530, 3047], o: [555, 1035, 2828] },
    ] as const;
    const cases = [
      ...VOICES.flatMap((v) => [
        [v.voice, v.f0, 'a', 'open', v.a] as const,
        [v.voice, v.f0, 'i', 'spread', v.i] as const,
        [v.voice, v.f0, 'u', 'rounded', v.u] as const,
      ]),
      ...MID_VOWELS.flatMap((v) => [
        [v.voice, v.f0, 'e', 'spread', v.e] as const,
        [v.voice, v.f0, 'o', 'rounded', v.o] as const,
      ]),
    ];

    it.each(cases)(
      'formant-synthesised %s (%i Hz) %s reads as %s on at least 90 percent of frames',
      (_, f0, _v, want, formants) => {
        const signal = concat(silence(200), formantVowel(formants, 600, f0, -18), silence(200));
        expect(accuracy(analyze(toS16(signal)), 240, 760, want)).toBeGreaterThanOrEqual(0.9);
      },
    );
  });

  describe('consonants', () => {
    it('reads band-limited noise (2-8 kHz) as a fricative: teeth on lip, jaw nearly shut', () => {
      const signal = concat(silence(200), bandNoise(400, 2000, 8000, -30), silence(200));
      const analyzer = analyze(toS16(signal));
      expect(accuracy(analyzer, 240, 560, 'teeth_lip')).toBeGreaterThanOrEqual(0.8);
      for (let t = 240; t <= 560; t += 10)
        expect(analyzer.stateAt(t).open).toBeLessThanOrEqual(0.3);
    });

    it('closes the lips on a nasal murmur between vowels ("a m a")', () => {
      const a = VOWEL_A_MAN;
      const source = glottalSource(80, 120);
      const murmur = atDb(resonator(source, 250, 100), -34);
      const signal = concat(silence(200), a(300), murmur, a(300), silence(200));
      const analyzer = analyze(toS16(signal));
      expectClosure(analyzer, 500, 580);
    });

    it('closes the lips on a short silent closure between vowels ("a p a"), not on a pause', () => {
      const a = VOWEL_A_MAN;
      const signal = concat(silence(200), a(300), silence(90), a(300), silence(300), a(300));
      const analyzer = analyze(toS16(signal));
      expectClosure(analyzer, 500, 590);
      // A 300 ms pause is a rest, not a closure.
      expect(analyzer.stateAt(1040)).toEqual(CLOSED_MOUTH);
    });
  });

  describe('timeline', () => {
    it('truncate() drops queued audio: the mouth closes and the timeline continues there', () => {
      const speech = fixture('count.wav').subarray(0, samplesFor(1000));
      const analyzer = analyze(speech);
      const before = analyzer.stateAt(300);
      analyzer.truncate(400);
      expect(analyzer.endMs).toBe(400);
      analyzer.push(toS16(silence(500)));
      expect(analyzer.endMs).toBe(900);
      expect(analyzer.stateAt(300)).toEqual(before);
      const after = analyzer.stateAt(500);
      expect(after.viseme).toBe('rest');
      expect(after.open).toBeLessThan(0.1);
      expect(analyzer.stateAt(600)).toEqual(CLOSED_MOUTH);
    });

    it('truncate() mid-hop gives the same analysis as if the dropped audio never came', () => {
      const speech = fixture('count.wav');
      const cut = 1234.5; // not on a hop or sample boundary
      const tail = speech.subarray(samplesFor(2000), samplesFor(3000));
      const truncated = analyze(speech.subarray(0, samplesFor(1600)));
      truncated.truncate(cut);
      truncated.push(tail);
      const direct = analyze(concat16(speech.subarray(0, samplesFor(cut)), tail));
      expect(truncated.endMs).toBeCloseTo(direct.endMs, 6);
      for (let t = 0; t <= direct.endMs + 200; t += 7) {
        expect(truncated.stateAt(t), `at ${t} ms`).toEqual(direct.stateAt(t));
      }
    });

    it('closes toward rest past the end of the pushed audio', () => {
      const signal = concat(silence(100), formantVowel([730, 1090, 2440], 400, 120, -18));
      const analyzer = analyze(toS16(signal));
      let previous = analyzer.stateAt(analyzer.endMs).open;
      expect(previous).toBeGreaterThan(0.3);
      for (let t = analyzer.endMs + 10; t <= analyzer.endMs + 300; t += 10) {
        const { open } = analyzer.stateAt(t);
        expect(open).toBeLessThanOrEqual(previous);
        previous = open;
      }
      expect(analyzer.stateAt(analyzer.endMs + 300)).toEqual(CLOSED_MOUTH);
    });

    it('forget() bounds storage and keeps recent states exact', () => {
      const speech = fixture('count.wav');
      const bounded = new LipSyncAnalyzer({ sampleRate: RATE });
      const unbounded = new LipSyncAnalyzer({ sampleRate: RATE });
      let maxHops = 0;
      for (let loop = 0; loop < 6; loop++) {
        for (let i = 0; i < speech.length; i += 2400) {
          const chunk = speech.subarray(i, i + 2400);
          bounded.push(chunk);
          unbounded.push(chunk);
          bounded.forget(bounded.endMs - 1000);
          maxHops = Math.max(maxHops, bounded.hopCount);
        }
      }
      expect(unbounded.hopCount).toBeGreaterThan(1900);
      expect(maxHops).toBeLessThanOrEqual(130); // 1 s kept + 200 ms margin + one chunk
      for (let t = bounded.endMs - 900; t <= bounded.endMs + 100; t += 5) {
        expect(bounded.stateAt(t), `at ${t} ms`).toEqual(unbounded.stateAt(t));
      }
      // Forgotten history reads as silence, never as stale audio.
      expect(bounded.stateAt(1000)).toEqual(CLOSED_MOUTH);
    });

    it('is deterministic and independent of how the audio is chunked', () => {
      const speech = fixture('count.wav');
      const states = (chunk: number): MouthState[] => {
        const analyzer = analyze(speech, chunk);
        const out: MouthState[] = [];
        for (let t = 0; t <= analyzer.endMs; t += FRAME_MS) out.push(analyzer.stateAt(t));
        return out;
      };
      const reference = states(480);
      expect(states(1)).toEqual(reference);
      expect(states(997)).toEqual(reference);
      expect(states(480)).toEqual(reference);
    });

    it('works at 16 kHz (hello.wav) and rejects unusable options and positions', () => {
      const audio = toMono(
        readWav(fileURLToPath(new URL('./fixtures/hello.wav', import.meta.url))),
      );
      const analyzer = new LipSyncAnalyzer({ sampleRate: audio.sampleRate });
      analyzer.push(audio.samples);
      const opens = frameTimes(0, analyzer.endMs, 0).map((t) => analyzer.stateAt(t).open);
      expect(Math.max(...opens)).toBeGreaterThan(0.8);
      expect(analyzer.stateAt(analyzer.endMs - 50)).toEqual(CLOSED_MOUTH);
      const before = {
        endMs: analyzer.endMs,
        hops: analyzer.hopCount,
        mouth: analyzer.stateAt(500),
      };
      analyzer.truncate(NaN);
      analyzer.forget(NaN);
      expect({
        endMs: analyzer.endMs,
        hops: analyzer.hopCount,
        mouth: analyzer.stateAt(500),
      }).toEqual(before);

      expect(() => new LipSyncAnalyzer({ sampleRate: 0 })).toThrow(RangeError);
      expect(() => new LipSyncAnalyzer({ sampleRate: RATE, hopMs: 0.01 })).toThrow(RangeError);
      expect(() => new LipSyncAnalyzer({ sampleRate: RATE, lookaheadMs: 1 })).toThrow(RangeError);
    });
  });
});

function VOWEL_A_MAN(ms: number): Float64Array {
  return formantVowel([730, 1090, 2440], ms, 120, -18);
}

function concat16(a: Int16Array, b: Int16Array): Int16Array {
  const out = new Int16Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Lips shut during [fromMs, toMs] (centre part), and open on the vowels either side. */
function expectClosure(analyzer: LipSyncAnalyzer, fromMs: number, toMs: number): void {
  const mid = (fromMs + toMs) / 2;
  for (let t = mid - 15; t <= mid + 15; t += 5) {
    const state = analyzer.stateAt(t);
    expect(['closed', 'rest'], `at ${t} ms`).toContain(state.viseme);
    expect(state.open, `at ${t} ms`).toBeLessThanOrEqual(0.15);
  }
  for (const t of [fromMs - 150, toMs + 150]) {
    const state = analyzer.stateAt(t);
    expect(state.viseme, `at ${t} ms`).toBe('open');
    expect(state.open, `at ${t} ms`).toBeGreaterThan(0.5);
  }
}
