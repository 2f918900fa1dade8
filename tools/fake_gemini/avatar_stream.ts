/**
 * The fake's Live Avatar stream: fragmented MP4 cut from a committed clip
 * (avatar_clip/clip.mp4, made by scripts/make-gemini-avatar-clip.ts), the way Gemini 3.8 Live on
 * Vertex AI streams its avatar. Its MP4 knowledge is its own (top-level boxes, moof/traf/tfdt),
 * not the worker's demuxer's.
 *
 * Per connection the stream starts with the init segment (ftyp + moov), then each reply is the
 * clip's fragments from the first (a keyframe), cycling when a reply is longer than the clip,
 * with their decode times (`tfdt`) moved onto the connection's timeline: a reply starts where
 * the wall clock says (the stream has gaps between turns: fragments come only while the avatar
 * speaks). The bytes go out in fixed-size slices that ignore box boundaries, as reported of
 * Google's server.
 */
import { readFileSync } from 'node:fs';

const CLIP_DIR = new URL('./avatar_clip/', import.meta.url);

export interface ClipInfo {
  width: number;
  height: number;
  fps: number;
  frames: number;
  sampleRate: number;
  syllables: { startFrame: number; endFrame: number }[];
  barcode: { bits: number; y: number; height: number };
}

interface Box {
  type: string;
  start: number;
  size: number;
  /** Header length (8, or 16 for a 64-bit size). */
  header: number;
}

interface Fragment {
  bytes: Buffer;
  /** Seconds on the clip's timeline: its video decode time, and how long it lasts. */
  startSec: number;
  durationSec: number;
}

function boxes(data: Buffer, from = 0, to = data.length): Box[] {
  const out: Box[] = [];
  for (let at = from; at + 8 <= to;) {
    let size = data.readUInt32BE(at);
    let header = 8;
    if (size === 1) {
      size = Number(data.readBigUInt64BE(at + 8));
      header = 16;
    }
    if (size < header || at + size > to) throw new Error(`avatar clip: bad box at ${at}`);
    out.push({ type: data.toString('latin1', at + 4, at + 8), start: at, size, header });
    at += size;
  }
  return out;
}

function child(data: Buffer, parent: Box, type: string, fullBox = 0): Box[] {
  return boxes(data, parent.start + parent.header + fullBox, parent.start + parent.size).filter(
    (box) => box.type === type,
  );
}

/** track id -> media timescale, from moov/trak/{tkhd, mdia/mdhd}. */
function timescales(data: Buffer, moov: Box): Map<number, number> {
  const out = new Map<number, number>();
  for (const trak of child(data, moov, 'trak')) {
    const tkhd = child(data, trak, 'tkhd')[0]!;
    const version = data[tkhd.start + 8]!;
    const trackId = data.readUInt32BE(tkhd.start + 8 + 4 + (version === 1 ? 16 : 8));
    const mdhd = child(data, child(data, trak, 'mdia')[0]!, 'mdhd')[0]!;
    const mdhdVersion = data[mdhd.start + 8]!;
    out.set(trackId, data.readUInt32BE(mdhd.start + 8 + 4 + (mdhdVersion === 1 ? 16 : 8)));
  }
  return out;
}

/** Each traf of a moof: its track id and where its tfdt's time field is. */
function trafTimes(data: Buffer, moof: Box): { trackId: number; at: number; version: number }[] {
  return child(data, moof, 'traf').map((traf) => {
    const tfhd = child(data, traf, 'tfhd')[0]!;
    const tfdt = child(data, traf, 'tfdt')[0]!;
    return {
      trackId: data.readUInt32BE(tfhd.start + 12),
      at: tfdt.start + 12,
      version: data[tfdt.start + 8]!,
    };
  });
}

function readTime(data: Buffer, at: number, version: number): number {
  return version === 1 ? Number(data.readBigUInt64BE(at)) : data.readUInt32BE(at);
}

function writeTime(data: Buffer, at: number, version: number, value: number): void {
  if (version === 1) data.writeBigUInt64BE(BigInt(value), at);
  else data.writeUInt32BE(value >>> 0, at);
}

export class AvatarClip {
  readonly info: ClipInfo;
  readonly init: Buffer;
  readonly fragments: readonly Fragment[];
  /** Seconds one pass of the clip takes on the stream (both tracks end within it). */
  readonly spanSec: number;
  readonly #timescales: Map<number, number>;

  constructor(mp4 = readFileSync(new URL('clip.mp4', CLIP_DIR)), info?: ClipInfo) {
    this.info =
      info ?? (JSON.parse(readFileSync(new URL('clip.json', CLIP_DIR), 'utf8')) as ClipInfo);
    const top = boxes(mp4);
    const moov = top.find((b) => b.type === 'moov')!;
    this.#timescales = timescales(mp4, moov);
    this.init = mp4.subarray(0, moov.start + moov.size);
    const videoTrack = 1;
    const fragments: Fragment[] = [];
    for (let i = 0; i < top.length; i++) {
      const moof = top[i]!;
      const mdat = top[i + 1];
      if (moof.type !== 'moof' || mdat?.type !== 'mdat') continue;
      const times = trafTimes(mp4, moof);
      const video = times.find((t) => t.trackId === videoTrack) ?? times[0]!;
      const startSec =
        readTime(mp4, video.at, video.version) / this.#timescales.get(video.trackId)!;
      fragments.push({
        bytes: mp4.subarray(moof.start, mdat.start + mdat.size),
        startSec,
        durationSec: 0,
      });
    }
    const clipSec = this.info.frames / this.info.fps;
    for (let i = 0; i < fragments.length; i++) {
      fragments[i]!.durationSec = (fragments[i + 1]?.startSec ?? clipSec) - fragments[i]!.startSec;
    }
    this.fragments = fragments;
    // One AAC frame longer than the pictures (the encoder's priming), rounded up to a frame.
    const audioSec = clipSec + 1024 / this.info.sampleRate;
    this.spanSec = Math.ceil(audioSec * this.info.fps) / this.info.fps;
  }

  /**
   * Fragment `index` of a reply (cycling through the clip), moved to start at `replyStartSec`
   * on the stream: a copy with rewritten decode times.
   */
  fragment(index: number, replyStartSec: number): { bytes: Buffer; durationSec: number } {
    const n = this.fragments.length;
    const source = this.fragments[index % n]!;
    const offsetSec = replyStartSec + Math.floor(index / n) * this.spanSec;
    const bytes = Buffer.from(source.bytes);
    const moof = boxes(bytes)[0]!;
    for (const time of trafTimes(bytes, moof)) {
      const scale = this.#timescales.get(time.trackId) ?? 1;
      const value = readTime(bytes, time.at, time.version) + Math.round(offsetSec * scale);
      writeTime(bytes, time.at, time.version, value);
    }
    return { bytes, durationSec: source.durationSec };
  }

  /** The clip frame a decoded or recorded I420 picture shows, from its barcode. */
  frameIndex(i420: Uint8Array, width: number): number {
    const { bits, y, height } = this.info.barcode;
    const block = width / bits;
    const row = (y + height / 2) * width;
    let value = 0;
    for (let bit = 0; bit < bits; bit++) {
      value = value * 2 + (i420[row + Math.round(bit * block + block / 2)]! > 128 ? 1 : 0);
    }
    return value;
  }

  /** Whether clip frame `index` shows a resting face (no syllable on it: the mouth is closed). */
  isRest(index: number): boolean {
    return !this.info.syllables.some((s) => index >= s.startFrame && index < s.endFrame);
  }

  /** How many fragments make a reply of at least `ms` (at least one). */
  fragmentsFor(ms: number): number {
    let sec = 0;
    let count = 0;
    while (count === 0 || sec * 1000 < ms) {
      sec += this.fragments[count % this.fragments.length]!.durationSec;
      count++;
    }
    return count;
  }
}

/** Fixed-size slices of a byte stream, regardless of box boundaries. */
export class Slicer {
  readonly size: number;
  #held: Buffer = Buffer.alloc(0);

  constructor(size: number) {
    this.size = size;
  }

  /** Whole slices now available. */
  push(bytes: Buffer): Buffer[] {
    this.#held = Buffer.concat([this.#held, bytes]);
    const out: Buffer[] = [];
    while (this.#held.length >= this.size) {
      out.push(this.#held.subarray(0, this.size));
      this.#held = this.#held.subarray(this.size);
    }
    return out;
  }

  /** What is left (the end of a reply). */
  flush(): Buffer[] {
    const rest = this.#held;
    this.#held = Buffer.alloc(0);
    return rest.length > 0 ? [rest] : [];
  }

  /** Drop what is held (the reply was cut). */
  clear(): void {
    this.#held = Buffer.alloc(0);
  }
}

let shared: AvatarClip | undefined;

/** The committed clip, read once per process. */
export function avatarClip(): AvatarClip {
  shared ??= new AvatarClip();
  return shared;
}
