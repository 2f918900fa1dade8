/**
 * Streaming lip-sync analysis: agent audio in, mouth state at any point of the audio timeline out.
 *
 * Audio reaches us before it plays (it waits in the sink's queue), so the mouth at position P may
 * use audio after P: smoothing is centred (zero lag) and an opening never trails its sound.
 *
 * push() analyses each 10 ms hop once, as soon as its samples are in:
 * - level: RMS of the hop in dBFS, noise-gated (silence is exactly 0) and mapped through a soft
 *   knee so normal speech (about -35 to -12 dBFS) spans most of 0..1;
 * - spectrum: FFT of a 25 ms Hann window ending at the hop's end (its centre trails the hop's by
 *   under 8 ms): band shares (80-500 Hz low, 2.5-8 kHz frication), spectral flatness of the
 *   frication band, and F1/F2 from the first peaks of a 12-pole LPC envelope of 0-5.5 kHz;
 * - a viseme: rest (gated); teeth_lip (frication-dominated and noise-like, or quiet with a noisy
 *   high band: v, th); closed (quiet and nearly all below 500 Hz: nasal murmur, voiced closure);
 *   else the vowel shape of the nearest textbook vowel in log F1 x log F2.
 * It also keeps the jaw envelope: instant opening, 20 ms half-life release.
 *
 * stateAt() only combines stored hops: a triangular window of +-lookaheadMs over the envelope,
 * a short-gap rule (silence of at most 130 ms between sounds is a lip closure: p, b, t...),
 * per-viseme caps on the jaw, and a weighted vote for the shape. Deterministic: the same audio
 * gives the same states, however it was chunked and whatever order stateAt() is called in.
 */
import { VISEMES } from './visemes.ts';
import type { MouthState, Viseme } from './visemes.ts';

export interface LipSyncOptions {
  /** Sample rate of the pushed audio (mono s16), Hz. */
  sampleRate: number;
  /** Analysis hop, ms (default 10). */
  hopMs?: number;
  /** Half-width of the centred smoothing window, ms (default 30): how far stateAt looks ahead. */
  lookaheadMs?: number;
  /** Diagnostics: called once per analysed hop. The object is reused: copy what you keep. */
  onHop?: (features: Readonly<HopFeatures>) => void;
}

/** What one hop's analysis found (see the module comment for the definitions). */
export interface HopFeatures {
  /** Absolute hop index on the timeline (hop h covers [h, h + 1) * hopMs). */
  hop: number;
  /** RMS level of the hop, dBFS (-Infinity for digital silence). */
  db: number;
  /** Jaw target from the level, 0..1; exactly 0 below the noise gate. */
  level: number;
  /** Formant estimates in Hz from the LPC envelope; 0 when gated or not found. */
  f1: number;
  f2: number;
  /** Energy share of 80-500 Hz in 80-8000 Hz. */
  lowFrac: number;
  /** Energy share of 2.5-8 kHz in 80-8000 Hz. */
  fricFrac: number;
  /** Spectral flatness (geometric / arithmetic mean of power) over 2.5-8 kHz: ~0.5 for noise. */
  flatness: number;
  /** The hop's own viseme, before smoothing. */
  viseme: Viseme;
}

// --- Tuning (dBFS, Hz, ms). Chosen on espeak voices and formant-synthesised vowels. ------------

/** Hops quieter than this are silence: jaw exactly 0, viseme rest. */
const GATE_DB = -50;
/** Soft knee: a logistic in dB, rescaled so the gate maps to 0 and CEIL_DB to 1. */
const KNEE_MID_DB = -27;
const KNEE_WIDTH_DB = 4.5;
const CEIL_DB = -12;
/** Analysis window; its FFT is the next power of two (zero-padded). */
const WINDOW_MS = 25;
/** LPC input is pre-emphasised (as a spectral weight) so the voice's tilt does not hide F2. */
const PRE_EMPHASIS = 0.97;
/** 12 poles over 0-5.5 kHz (an 11 kHz-rate model): room for 5 formants and the source tilt. */
const LPC_ORDER = 12;
const LPC_MAX_HZ = 5500;
/** Gaussian lag window on the autocorrelation: smooths harmonics so high voices keep true F1. */
const LAG_WINDOW_HZ = 60;
/** The envelope is scanned for peaks at 128 points (43 Hz apart, refined by a parabola). */
const ENVELOPE_POINTS = 128;
/** Peaks below this are the voice source, not a formant. */
const FORMANT_MIN_HZ = 180;
/** F1 split between open and not, for a frame where only one formant was found. */
const OPEN_F1_HZ = 600;
/** "Quiet": this far under the recent speech peak, which decays at PEAK_DECAY_DB_PER_MS. */
const QUIET_DIP_DB = 8;
const PEAK_DECAY_DB_PER_MS = 0.005;
/** Frication: most energy above 2.5 kHz, and noise-like there. */
const FRIC_FRAC_MIN = 0.5;
const FRIC_FLATNESS_MIN = 0.15;
/** Voiced frication: quiet, a trace (-25 dB) of energy above 2.5 kHz, and noise-like there. */
const VOICED_FRIC_FRAC_MIN = 0.003;
const VOICED_FRIC_FLATNESS_MIN = 0.15;
/** Nasal murmur or voiced closure: quiet, and nearly all energy below 500 Hz. */
const NASAL_LOW_FRAC_MIN = 0.8;
/** Jaw release: falls with this half-life after a sound stops (opening is instant). */
const RELEASE_HALF_LIFE_MS = 20;
/** A gated stretch at most this long, with sound on both sides, is a lip closure. */
const MAX_CLOSURE_MS = 130;
/** Below this the released jaw counts as shut. */
const SHUT = 0.02;
/** While the released jaw is above this, a silent hop keeps the previous shape (no snap to rest). */
const HOLD = 0.1;
/** Jaw caps per viseme: closed lips and lip-teeth contact leave little room to open. */
const OPEN_CAP: Readonly<Record<Viseme, number>> = {
  rest: 1,
  closed: 0.1,
  open: 1,
  spread: 1,
  rounded: 1,
  teeth_lip: 0.3,
};
/** Vote weight floor per viseme: brief closures and fricatives are quiet but very visible. */
const SALIENCE: Readonly<Record<Viseme, number>> = {
  rest: 0.01,
  closed: 1,
  open: 0,
  spread: 0,
  rounded: 0,
  teeth_lip: 0.6,
};
/** Keep this much analysis before a forget() point, for smoothing and the closure rule. */
const KEEP_MS = 200;
/** Raw audio kept for truncate() (rebuilds the analysis window); covers the sink's queue. */
const RING_MS = 2000;
const MIN_CAPACITY = 256;

const REST = VISEMES.indexOf('rest');
const CLOSED = VISEMES.indexOf('closed');
const OPEN = VISEMES.indexOf('open');
const SPREAD = VISEMES.indexOf('spread');
const ROUNDED = VISEMES.indexOf('rounded');
const TEETH_LIP = VISEMES.indexOf('teeth_lip');
/**
 * Vowel prototypes (mean F1, F2 in Hz for men and women): Peterson & Barney (1952), e and o from
 * Hillenbrand et al. (1995), schwa as a uniform tube, plus the fronted "oo" of current American
 * and British English (F2 1.5-1.7 kHz, lips still rounded). Central vowels have no shape of their
 * own in this set: they count as `open`, with the jaw following their (usually low) level.
 */
const VOWELS: readonly { viseme: number; men: [number, number]; women: [number, number] }[] = [
  { viseme: OPEN, men: [730, 1090], women: [850, 1220] }, // ɑ father
  { viseme: OPEN, men: [660, 1720], women: [860, 2050] }, // æ cat
  { viseme: OPEN, men: [640, 1190], women: [760, 1400] }, // ʌ cut
  { viseme: OPEN, men: [500, 1500], women: [550, 1650] }, // ə schwa
  { viseme: OPEN, men: [490, 1350], women: [500, 1640] }, // ɜ bird
  { viseme: SPREAD, men: [270, 2290], women: [310, 2790] }, // i beet
  { viseme: SPREAD, men: [390, 1990], women: [430, 2480] }, // ɪ bit
  { viseme: SPREAD, men: [476, 2089], women: [536, 2530] }, // e bait
  { viseme: SPREAD, men: [530, 1840], women: [610, 2330] }, // ɛ bet
  { viseme: ROUNDED, men: [300, 870], women: [370, 950] }, // u boot
  { viseme: ROUNDED, men: [440, 1020], women: [470, 1160] }, // ʊ book
  { viseme: ROUNDED, men: [497, 910], women: [555, 1035] }, // o boat
  { viseme: ROUNDED, men: [570, 840], women: [590, 920] }, // ɔ bought
  { viseme: ROUNDED, men: [350, 1500], women: [400, 1700] }, // fronted u
];
const PROTOTYPES = VOWELS.flatMap(({ viseme, men, women }) => [
  { viseme, logF1: Math.log(men[0]), logF2: Math.log(men[1]) },
  { viseme, logF1: Math.log(women[0]), logF2: Math.log(women[1]) },
]);
const CAPS = VISEMES.map((v) => OPEN_CAP[v]);
const SALIENCES = VISEMES.map((v) => SALIENCE[v]);

/**
 * One per audio timeline (one avatar): push() audio as it enters the sink's queue, stateAt() the
 * playout position for every video frame, truncate() on interruption, forget() now and then.
 */
export class LipSyncAnalyzer {
  readonly #rate: number;
  readonly #hopMs: number;
  readonly #hopSamples: number;
  readonly #lookaheadMs: number;
  readonly #release: number;
  readonly #maxClosureHops: number;
  readonly #spectrum: HopSpectrum;
  readonly #features: HopFeatures;
  readonly #onHop: ((features: Readonly<HopFeatures>) => void) | undefined;
  // Raw samples by absolute index (& mask), for the analysis window and truncate().
  readonly #ring: Int16Array;
  readonly #mask: number;
  #total = 0;
  #hopSumSq = 0;
  #peakDb = -Infinity;
  // Per-hop analysis, absolute hops #first .. #first + #count - 1.
  #first = 0;
  #count = 0;
  #level = new Float32Array(MIN_CAPACITY);
  #env = new Float32Array(MIN_CAPACITY);
  #db = new Float32Array(MIN_CAPACITY);
  #label = new Uint8Array(MIN_CAPACITY);
  readonly #votes = new Float64Array(VISEMES.length);

  constructor(options: LipSyncOptions) {
    const { sampleRate, hopMs = 10, lookaheadMs = 30, onHop } = options;
    if (!(Number.isInteger(sampleRate) && sampleRate >= 8000 && sampleRate <= 192_000)) {
      throw new RangeError(
        `sampleRate: ${sampleRate} is not valid (allowed: integer 8000..192000)`,
      );
    }
    const hopSamples = Math.round((sampleRate * hopMs) / 1000);
    if (!(hopMs > 0 && hopMs <= 50 && Math.abs(hopSamples - (sampleRate * hopMs) / 1000) < 1e-9)) {
      throw new RangeError(
        `hopMs: ${hopMs} is not valid (allowed: 0 < hopMs <= 50, a whole number of samples)`,
      );
    }
    if (!(lookaheadMs >= hopMs && lookaheadMs <= 200)) {
      throw new RangeError(`lookaheadMs: ${lookaheadMs} is not valid (allowed: hopMs..200)`);
    }
    this.#rate = sampleRate;
    this.#hopMs = hopMs;
    this.#hopSamples = hopSamples;
    this.#lookaheadMs = lookaheadMs;
    this.#release = 0.5 ** (hopMs / RELEASE_HALF_LIFE_MS);
    this.#maxClosureHops = Math.round(MAX_CLOSURE_MS / hopMs);
    this.#spectrum = new HopSpectrum(sampleRate);
    this.#ring = new Int16Array(nextPow2((sampleRate * RING_MS) / 1000));
    this.#mask = this.#ring.length - 1;
    this.#onHop = onHop;
    this.#features = {
      hop: 0,
      db: -Infinity,
      level: 0,
      f1: 0,
      f2: 0,
      lowFrac: 0,
      fricFrac: 0,
      flatness: 0,
      viseme: 'rest',
    };
  }

  /** Milliseconds pushed so far. */
  get endMs(): number {
    return (this.#total * 1000) / this.#rate;
  }

  /** Hops currently held (bounded by forget()). */
  get hopCount(): number {
    return this.#count;
  }

  /** Append audio (mono s16 at sampleRate) to the timeline, in order. Cheap: O(samples). */
  push(samples: Int16Array): void {
    const ring = this.#ring;
    const mask = this.#mask;
    const hop = this.#hopSamples;
    let total = this.#total;
    let sumSq = this.#hopSumSq;
    for (let i = 0; i < samples.length; i++) {
      const x = samples[i]!;
      ring[total & mask] = x;
      sumSq += x * x;
      total++;
      if (total % hop === 0) {
        this.#total = total;
        this.#analyzeHop(total / hop - 1, sumSq);
        sumSq = 0;
      }
    }
    this.#total = total;
    this.#hopSumSq = sumSq;
  }

  /** Mouth at `positionMs` on the timeline (0 = first sample ever pushed). */
  stateAt(positionMs: number): MouthState {
    if (!Number.isFinite(positionMs)) return { open: 0, viseme: 'rest' };
    const hopMs = this.#hopMs;
    const half = this.#lookaheadMs;
    const lo = Math.ceil((positionMs - half) / hopMs - 0.5);
    const hi = Math.floor((positionMs + half) / hopMs - 0.5);
    const votes = this.#votes.fill(0);
    let sum = 0;
    let weights = 0;
    for (let h = lo; h <= hi; h++) {
      const w = 1 - Math.abs((h + 0.5) * hopMs - positionMs) / half;
      if (w <= 0) continue;
      const label = this.#effectiveLabel(h);
      const jaw = Math.min(this.#envAt(h), CAPS[label]!);
      sum += w * jaw;
      weights += w;
      votes[label]! += w * Math.max(jaw, SALIENCES[label]!);
    }
    const winner = argmax(votes);
    const open = weights > 0 ? Math.min(sum / weights, CAPS[winner]!) : 0;
    return { open: open < 1e-6 ? 0 : open, viseme: VISEMES[winner]! };
  }

  /**
   * Forget audio after `positionMs` (an interruption dropped it); the next push continues there.
   * At or past the end: nothing to drop. Audio before the cut stays as analysed.
   */
  truncate(positionMs: number): void {
    if (Number.isNaN(positionMs)) return;
    const at = Math.max(0, Math.min(this.#total, Math.round((positionMs * this.#rate) / 1000)));
    if (at === this.#total) return;
    const dropped = this.#total - at;
    // The ring still holds the audio before `at` unless the dropped part overwrote it.
    if (dropped + this.#spectrum.windowSamples + 1 > this.#ring.length) this.#ring.fill(0);
    const hop = this.#hopSamples;
    const keepHops = Math.floor(at / hop);
    if (keepHops <= this.#first) {
      this.#first = keepHops;
      this.#count = 0;
    } else {
      this.#count = Math.min(this.#count, keepHops - this.#first);
    }
    this.#total = at;
    this.#hopSumSq = 0;
    for (let s = keepHops * hop; s < at; s++) this.#hopSumSq += this.#ring[s & this.#mask]! ** 2;
    this.#peakDb = this.#recentPeak();
  }

  /** Drop analysis older than `beforeMs` (less a margin kept for smoothing), to bound memory. */
  forget(beforeMs: number): void {
    if (Number.isNaN(beforeMs)) return;
    const target = Math.floor((beforeMs - KEEP_MS) / this.#hopMs);
    const drop = Math.min(this.#count, target - this.#first);
    if (drop <= 0) return;
    this.#count -= drop;
    this.#first += drop;
    for (const array of [this.#level, this.#env, this.#db, this.#label]) {
      array.copyWithin(0, drop, drop + this.#count);
    }
    if (this.#level.length > MIN_CAPACITY && this.#count * 4 < this.#level.length) {
      this.#resize(Math.max(MIN_CAPACITY, this.#level.length / 2));
    }
  }

  #analyzeHop(hop: number, sumSq: number): void {
    const f = this.#features;
    f.hop = hop;
    f.db = 10 * Math.log10(sumSq / this.#hopSamples / 32768 ** 2);
    f.level = softKnee(f.db);
    let label = REST;
    if (f.level > 0) {
      this.#spectrum.analyze(this.#ring, this.#total, f);
      label = decideViseme(f, this.#peakDb);
      this.#peakDb = Math.max(f.db, this.#peakDb - PEAK_DECAY_DB_PER_MS * this.#hopMs);
    } else {
      f.f1 = f.f2 = f.lowFrac = f.fricFrac = f.flatness = 0;
      this.#peakDb -= PEAK_DECAY_DB_PER_MS * this.#hopMs;
    }
    const prevEnv = this.#envAt(hop - 1);
    // Closures shut the jaw at once; otherwise it opens instantly and falls back smoothly.
    let env = label === CLOSED ? f.level : Math.max(f.level, prevEnv * this.#release);
    if (env < SHUT) env = 0;
    // While the jaw is still falling in silence, keep the last shape rather than snap to rest.
    if (label === REST && env >= HOLD) label = this.#labelAt(hop - 1);
    f.viseme = VISEMES[label]!;
    this.#store(hop, f.level, env, f.db, label);
    this.#onHop?.(f);
  }

  #store(hop: number, level: number, env: number, db: number, label: number): void {
    if (this.#count === 0) this.#first = hop;
    const i = hop - this.#first;
    if (i >= this.#level.length) this.#resize(this.#level.length * 2);
    this.#level[i] = level;
    this.#env[i] = env;
    this.#db[i] = db;
    this.#label[i] = label;
    this.#count = i + 1;
  }

  #resize(capacity: number): void {
    const grow = <T extends Float32Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(capacity);
      b.set(a.subarray(0, this.#count));
      return b;
    };
    this.#level = grow(this.#level, (n) => new Float32Array(n));
    this.#env = grow(this.#env, (n) => new Float32Array(n));
    this.#db = grow(this.#db, (n) => new Float32Array(n));
    this.#label = grow(this.#label, (n) => new Uint8Array(n));
  }

  /** Jaw envelope of a hop; past the analysed end it keeps falling, so the mouth closes. */
  #envAt(hop: number): number {
    const i = hop - this.#first;
    if (i < 0 || this.#count === 0) return 0;
    if (i < this.#count) return this.#env[i]!;
    const env = this.#env[this.#count - 1]! * this.#release ** (i - this.#count + 1);
    return env < SHUT ? 0 : env;
  }

  #labelAt(hop: number): number {
    const i = hop - this.#first;
    return i >= 0 && i < this.#count ? this.#label[i]! : REST;
  }

  #gated(i: number): boolean {
    return this.#level[i] === 0;
  }

  /** The hop's viseme, with short silences between sounds read as lip closures. */
  #effectiveLabel(hop: number): number {
    const i = hop - this.#first;
    if (i < 0 || i >= this.#count) return REST;
    if (!this.#gated(i)) return this.#label[i]!;
    const max = this.#maxClosureHops;
    let left = i - 1;
    while (left >= 0 && i - left <= max && this.#gated(left)) left--;
    if (left < 0 || i - left > max) return this.#label[i]!;
    let right = i + 1;
    while (right < this.#count && right - left - 1 <= max && this.#gated(right)) right++;
    const bounded = right < this.#count && right - left - 1 <= max;
    return bounded ? CLOSED : this.#label[i]!;
  }

  /** The speech peak tracker as it stood at the (new) end, from the stored levels. */
  #recentPeak(): number {
    let peak = -Infinity;
    const decay = PEAK_DECAY_DB_PER_MS * this.#hopMs;
    for (let i = 0; i < this.#count; i++) {
      const db = this.#level[i]! > 0 ? this.#db[i]! : -Infinity;
      peak = Math.max(db, peak - decay);
    }
    return peak;
  }
}

/** The viseme of one analysed (non-silent) hop. */
function decideViseme(f: HopFeatures, recentPeakDb: number): number {
  // Consonants are weaker than the vowels around them.
  const quiet = f.db <= recentPeakDb - QUIET_DIP_DB;
  if (f.fricFrac >= FRIC_FRAC_MIN && f.flatness >= FRIC_FLATNESS_MIN) return TEETH_LIP;
  // Voiced fricatives (v, th) keep a strong voice bar, but their high band is still noise. Below
  // a trace of energy there, flatness would only measure the noise floor.
  const voicedFrication =
    f.fricFrac >= VOICED_FRIC_FRAC_MIN && f.flatness >= VOICED_FRIC_FLATNESS_MIN;
  if (quiet && voicedFrication) return TEETH_LIP;
  if (quiet && f.lowFrac >= NASAL_LOW_FRAC_MIN) return CLOSED;
  return vowelViseme(f.f1, f.f2);
}

/** Vowel shape: the nearest prototype in log F1 x log F2, or by F1 alone if F2 was not found. */
function vowelViseme(f1: number, f2: number): number {
  if (f2 === 0) return f1 >= OPEN_F1_HZ ? OPEN : ROUNDED;
  const x = Math.log(f1);
  const y = Math.log(f2);
  let best = OPEN;
  let bestDistance = Infinity;
  for (const p of PROTOTYPES) {
    const distance = (x - p.logF1) ** 2 + (y - p.logF2) ** 2;
    if (distance < bestDistance) {
      bestDistance = distance;
      best = p.viseme;
    }
  }
  return best;
}

/** dBFS to jaw opening: 0 below the gate, a logistic knee above it, 1 at CEIL_DB. */
function softKnee(db: number): number {
  if (!(db >= GATE_DB)) return 0;
  const logistic = (d: number): number => 1 / (1 + Math.exp(-(d - KNEE_MID_DB) / KNEE_WIDTH_DB));
  const lo = logistic(GATE_DB);
  const x = (logistic(db) - lo) / (logistic(CEIL_DB) - lo);
  return Math.min(1, Math.max(Number.MIN_VALUE, x));
}

function argmax(values: Float64Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p <<= 1;
  return p;
}

/**
 * The spectral half of a hop's analysis, with every buffer and table allocated once: Hann window
 * -> FFT -> band energies and flatness; pre-emphasised power -> autocorrelation -> LPC
 * (Levinson-Durbin) -> envelope -> F1/F2.
 */
class HopSpectrum {
  readonly windowSamples: number;
  readonly #fft: RealFft;
  readonly #hann: Float64Array;
  readonly #frame: Float64Array;
  readonly #power: Float64Array;
  // Band edges as FFT bins [from, to): 80-8000 Hz total, low 80-500, frication 2.5-8 kHz (also
  // where flatness is measured); clipped to Nyquist.
  readonly #bins: Readonly<Record<`${'total' | 'low' | 'fric' | 'flat'}${'From' | 'To'}`, number>>;
  // LPC on 0..#lpcBins (0-5.5 kHz): per-bin weight (pre-emphasis, end halving) and cosines.
  readonly #lpcBins: number;
  readonly #lpcWeight: Float64Array;
  readonly #lpcCos: Float64Array;
  readonly #autocorr = new Float64Array(LPC_ORDER + 1);
  readonly #lpc = new Float64Array(LPC_ORDER + 1);
  readonly #lpcTmp = new Float64Array(LPC_ORDER + 1);
  readonly #envCos: Float64Array;
  readonly #envSin: Float64Array;
  readonly #envelope = new Float64Array(ENVELOPE_POINTS);
  readonly #envHz: number;

  constructor(sampleRate: number) {
    this.windowSamples = Math.round((sampleRate * WINDOW_MS) / 1000);
    const n = nextPow2(this.windowSamples);
    this.#fft = new RealFft(n);
    this.#hann = new Float64Array(this.windowSamples);
    for (let i = 0; i < this.windowSamples; i++) {
      this.#hann[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * (i + 0.5)) / this.windowSamples);
    }
    this.#frame = new Float64Array(n); // zero-padded past the window
    this.#power = new Float64Array(n / 2 + 1);
    const binHz = sampleRate / n;
    const bin = (hz: number): number => Math.min(n / 2, Math.round(hz / binHz));
    this.#bins = {
      totalFrom: bin(80),
      totalTo: bin(8000),
      lowFrom: bin(80),
      lowTo: bin(500),
      fricFrom: bin(2500),
      fricTo: bin(8000),
      flatFrom: bin(2500),
      flatTo: bin(8000),
    };

    const k = bin(Math.min(LPC_MAX_HZ, sampleRate / 2));
    this.#lpcBins = k;
    this.#envHz = (k * binHz) / ENVELOPE_POINTS;
    this.#lpcWeight = new Float64Array(k + 1);
    this.#lpcCos = new Float64Array((k + 1) * (LPC_ORDER + 1));
    for (let b = 0; b <= k; b++) {
      const w = (2 * Math.PI * b) / n;
      const emphasis = 1 + PRE_EMPHASIS ** 2 - 2 * PRE_EMPHASIS * Math.cos(w);
      this.#lpcWeight[b] = emphasis * (b === 0 || b === k ? 1 : 2);
      for (let m = 0; m <= LPC_ORDER; m++) {
        const lag = Math.exp(-0.5 * ((2 * Math.PI * LAG_WINDOW_HZ * m) / (2 * k * binHz)) ** 2);
        this.#lpcCos[b * (LPC_ORDER + 1) + m] = lag * Math.cos((Math.PI * b * m) / k);
      }
    }
    this.#envCos = new Float64Array(ENVELOPE_POINTS * (LPC_ORDER + 1));
    this.#envSin = new Float64Array(ENVELOPE_POINTS * (LPC_ORDER + 1));
    for (let g = 0; g < ENVELOPE_POINTS; g++) {
      for (let m = 0; m <= LPC_ORDER; m++) {
        const phase = (Math.PI * g * m) / ENVELOPE_POINTS;
        this.#envCos[g * (LPC_ORDER + 1) + m] = Math.cos(phase);
        this.#envSin[g * (LPC_ORDER + 1) + m] = Math.sin(phase);
      }
    }
  }

  /** Analyse the window that ends at absolute sample `end` of the ring; fill `f`. */
  analyze(ring: Int16Array, end: number, f: HopFeatures): void {
    this.#powerSpectrum(ring, end);
    const bins = this.#bins;
    const total = this.#bandSum(bins.totalFrom, bins.totalTo) || Number.MIN_VALUE;
    f.lowFrac = this.#bandSum(bins.lowFrom, bins.lowTo) / total;
    f.fricFrac = this.#bandSum(bins.fricFrom, bins.fricTo) / total;
    f.flatness = this.#flatness(bins.flatFrom, bins.flatTo);
    this.#fitLpc();
    this.#formants(f);
  }

  #powerSpectrum(ring: Int16Array, end: number): void {
    const frame = this.#frame;
    const hann = this.#hann;
    const mask = ring.length - 1;
    const size = this.windowSamples;
    const start = end - size;
    for (let i = 0; i < size; i++) frame[i] = (ring[(start + i) & mask]! / 32768) * hann[i]!;
    this.#fft.power(frame, this.#power);
  }

  #bandSum(from: number, to: number): number {
    const power = this.#power;
    let sum = 0;
    for (let b = from; b < to; b++) sum += power[b]!;
    return sum;
  }

  #flatness(from: number, to: number): number {
    const power = this.#power;
    let logSum = 0;
    let sum = 0;
    for (let b = from; b < to; b++) {
      const p = power[b]! + 1e-20;
      logSum += Math.log(p);
      sum += p;
    }
    const n = to - from;
    return n > 0 ? Math.exp(logSum / n) / (sum / n) : 0;
  }

  /**
   * LPC of the pre-emphasised 0-5.5 kHz band: its autocorrelation is the cosine transform of the
   * band's power (Wiener-Khinchin), as if the frame were resampled to 11 kHz, the usual rate for
   * formant tracking. Then Levinson-Durbin.
   */
  #fitLpc(): void {
    const r = this.#autocorr.fill(0);
    const power = this.#power;
    const weight = this.#lpcWeight;
    const cos = this.#lpcCos;
    const order = LPC_ORDER + 1;
    for (let b = 0; b <= this.#lpcBins; b++) {
      const p = power[b]! * weight[b]!;
      const row = b * order;
      for (let m = 0; m < order; m++) r[m]! += p * cos[row + m]!;
    }
    r[0]! *= 1 + 1e-4; // white-noise floor keeps the recursion stable
    levinson(r, this.#lpc, this.#lpcTmp);
  }

  /** F1, F2: the first two peaks (above FORMANT_MIN_HZ) of the LPC envelope 1/|A|^2. */
  #formants(f: HopFeatures): void {
    const env = this.#envelope;
    const a = this.#lpc;
    const cos = this.#envCos;
    const sin = this.#envSin;
    const order = LPC_ORDER + 1;
    for (let g = 0; g < ENVELOPE_POINTS; g++) {
      let re = 0;
      let im = 0;
      const row = g * order;
      for (let m = 0; m < order; m++) {
        re += a[m]! * cos[row + m]!;
        im -= a[m]! * sin[row + m]!;
      }
      env[g] = 1 / (re * re + im * im + 1e-30);
    }
    f.f1 = 0;
    f.f2 = 0;
    for (let g = 1; g < ENVELOPE_POINTS - 1; g++) {
      if (!(env[g]! > env[g - 1]! && env[g]! >= env[g + 1]!)) continue;
      const hz = (g + peakOffset(env[g - 1]!, env[g]!, env[g + 1]!)) * this.#envHz;
      if (hz < FORMANT_MIN_HZ) continue;
      if (f.f1 === 0) f.f1 = hz;
      else {
        f.f2 = hz;
        return;
      }
    }
  }
}

/** Sub-bin offset of a peak from a parabola through three points (-0.5..0.5). */
function peakOffset(left: number, mid: number, right: number): number {
  const denom = left - 2 * mid + right;
  return denom === 0 ? 0 : (0.5 * (left - right)) / denom;
}

/** Levinson-Durbin: autocorrelation `r` -> predictor `a` (a[0] = 1). */
function levinson(r: Float64Array, a: Float64Array, tmp: Float64Array): void {
  const p = a.length - 1;
  a.fill(0);
  a[0] = 1;
  let err = r[0]!;
  for (let i = 1; i <= p && err > 0; i++) {
    let acc = r[i]!;
    for (let j = 1; j < i; j++) acc += a[j]! * r[i - j]!;
    const k = -acc / err;
    tmp.set(a);
    for (let j = 1; j < i; j++) a[j] = tmp[j]! + k * tmp[i - j]!;
    a[i] = k;
    err *= 1 - k * k;
  }
}

/**
 * Power spectrum of a real frame by a radix-2 FFT: the N real samples are packed as N/2 complex
 * ones (even + i * odd), transformed, then split back into the N-point spectrum (half the work of
 * a complex N-point FFT). Tables and scratch buffers are built once.
 */
class RealFft {
  readonly size: number;
  readonly #half: number;
  readonly #reverse: Uint32Array;
  // cos/sin of 2 pi k / size for k = 0..size/2: half-size FFT twiddles are every other entry.
  readonly #cos: Float64Array;
  readonly #sin: Float64Array;
  readonly #re: Float64Array;
  readonly #im: Float64Array;

  constructor(size: number) {
    this.size = size;
    const half = size / 2;
    this.#half = half;
    const bits = Math.log2(half);
    this.#reverse = new Uint32Array(half);
    for (let i = 0; i < half; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
      this.#reverse[i] = r;
    }
    this.#cos = new Float64Array(half + 1);
    this.#sin = new Float64Array(half + 1);
    for (let k = 0; k <= half; k++) {
      this.#cos[k] = Math.cos((2 * Math.PI * k) / size);
      this.#sin[k] = Math.sin((2 * Math.PI * k) / size);
    }
    this.#re = new Float64Array(half);
    this.#im = new Float64Array(half);
  }

  /** |X[k]|^2 for k = 0..size/2 of the real frame `x` (length size) into `power`. */
  power(x: Float64Array, power: Float64Array): void {
    const half = this.#half;
    const re = this.#re;
    const im = this.#im;
    const reverse = this.#reverse;
    for (let n = 0; n < half; n++) {
      const j = reverse[n]!;
      re[j] = x[2 * n]!;
      im[j] = x[2 * n + 1]!;
    }
    this.#butterflies();
    const cos = this.#cos;
    const sin = this.#sin;
    for (let k = 0; k <= half; k++) {
      const a = k % half;
      const b = (half - k) % half;
      // Even part E = (Z[k] + conj Z[-k]) / 2, odd part O = (Z[k] - conj Z[-k]) / 2i.
      const er = (re[a]! + re[b]!) / 2;
      const ei = (im[a]! - im[b]!) / 2;
      const or = (im[a]! + im[b]!) / 2;
      const oi = -(re[a]! - re[b]!) / 2;
      // X[k] = E + e^(-2 pi i k / size) O
      const xr = er + cos[k]! * or + sin[k]! * oi;
      const xi = ei + cos[k]! * oi - sin[k]! * or;
      power[k] = xr * xr + xi * xi;
    }
  }

  /** In-place decimation-in-time butterflies over the bit-reversed half-size buffer. */
  #butterflies(): void {
    const n = this.#half;
    const re = this.#re;
    const im = this.#im;
    const cos = this.#cos;
    const sin = this.#sin;
    for (let len = 2; len <= n; len <<= 1) {
      const span = len >> 1;
      const step = (2 * n) / len; // twiddle index step in the size-point tables
      for (let k = 0; k < span; k++) {
        const wr = cos[k * step]!;
        const wi = -sin[k * step]!;
        for (let a = k; a < n; a += len) {
          const b = a + span;
          const xr = re[b]! * wr - im[b]! * wi;
          const xi = re[b]! * wi + im[b]! * wr;
          re[b] = re[a]! - xr;
          im[b] = im[a]! - xi;
          re[a] = re[a]! + xr;
          im[a] = im[a]! + xi;
        }
      }
    }
  }
}
