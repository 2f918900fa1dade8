/**
 * Fragmented MP4 as Gemini Live streams its avatar: bytes in (any slicing: Google's chunks are
 * not box-aligned), timed samples out.
 *
 * We cut the byte stream into top-level boxes ourselves, because that is where a stream can go
 * wrong: a box header that makes no sense (a malformed fragment) is skipped by scanning to the
 * next `moof`/`ftyp`, and a reply cut short leaves a partial box that `dropPartial()` discards.
 * Inside the boxes, GPAC's mp4box.js does the parsing: the init segment (`ftyp` + `moov`: tracks,
 * timescales, avcC, AudioSpecificConfig, edit lists) and each `moof` + `mdat` fragment. Every
 * fragment is parsed by a fresh mp4box file holding the init segment and that fragment alone:
 * fragments carry absolute decode times (`tfdt`), so nothing is carried over and a broken one
 * spoils only itself, and memory stays bounded however long the call.
 */
import {
  DataStream,
  Endianness,
  type ISOFile,
  MP4BoxBuffer,
  type Sample,
  type Track,
  createFile,
} from 'mp4box';

export interface MediaTrack {
  /** The track id in the MP4. */
  id: number;
  kind: 'video' | 'audio';
  /** RFC 6381 codec, e.g. avc1.42c020 or mp4a.40.2. */
  codec: string;
  timescale: number;
  /** Decoder configuration: the AVCDecoderConfigurationRecord (avcC) or AudioSpecificConfig. */
  config: Uint8Array;
  width?: number;
  height?: number;
  sampleRate?: number;
  channels?: number;
  /** Seconds added to each sample's composition time (the track's edit list). */
  shiftSec: number;
}

export interface MediaSample {
  track: MediaTrack;
  /** Presentation time on the stream's timeline, seconds. */
  pts: number;
  duration: number;
  /** For H.264, length-prefixed NAL units (AVCC), as in the MP4. */
  data: Uint8Array;
  keyframe: boolean;
}

export interface DemuxResult {
  samples: MediaSample[];
  /** What went wrong in this push (skipped bytes, fragments that did not parse). */
  problems: string[];
}

/** Top-level boxes a live fMP4 stream may carry; anything else is taken as corruption. */
const TOP_LEVEL = new Set([
  'ftyp',
  'styp',
  'moov',
  'moof',
  'mdat',
  'mfra',
  'sidx',
  'free',
  'skip',
  'emsg',
  'prft',
  'uuid',
]);
/** Boxes a resync may start at: the start of an init segment or of a fragment. */
const RESYNC = ['moof', 'ftyp', 'styp'];
/** No box of a live avatar stream comes near this (a fragment of 704x1280 is ~10-100 KB). */
const MAX_BOX_BYTES = 32 * 1024 * 1024;

export class Fmp4Demuxer {
  #pending: Uint8Array = new Uint8Array(0);
  #ftyp?: Uint8Array;
  #init?: Uint8Array;
  #tracks: MediaTrack[] = [];
  /** A moof waiting for its mdat. */
  #moof?: Uint8Array;
  /** Junk skipped since the last good box. */
  #skipped = 0;

  /** The tracks of the current init segment (empty before one arrived). */
  get tracks(): readonly MediaTrack[] {
    return this.#tracks;
  }

  /** Bytes held for a box not complete yet. */
  get pendingBytes(): number {
    return this.#pending.length;
  }

  push(bytes: Uint8Array): DemuxResult {
    const result: DemuxResult = { samples: [], problems: [] };
    this.#pending = concat(this.#pending, bytes);
    for (;;) {
      const header = readHeader(this.#pending, 0);
      if (header === 'short') break;
      if (header === 'bad') {
        this.#resync(result);
        continue;
      }
      if (this.#pending.length < header.size) break;
      const box = this.#pending.subarray(0, header.size);
      this.#pending = this.#pending.subarray(header.size);
      this.#onBox(header.type, box, result);
    }
    return result;
  }

  /** The reply was cut (or ended): bytes of a box it left incomplete will never be completed. */
  dropPartial(): number {
    const dropped = this.#pending.length + (this.#moof?.length ?? 0);
    this.#pending = new Uint8Array(0);
    this.#moof = undefined;
    return dropped;
  }

  /** Skip to the next plausible box; one problem per run of junk, once it is over. */
  #resync(result: DemuxResult): void {
    const at = findResync(this.#pending);
    // Without a box in sight, keep the last bytes: they may start the next header.
    const skipped = at < 0 ? Math.max(0, this.#pending.length - 7) : at;
    this.#skipped += skipped;
    this.#pending = this.#pending.subarray(skipped);
    this.#moof = undefined;
    if (at >= 0 || this.#skipped > MAX_BOX_BYTES) {
      result.problems.push(`skipped ${this.#skipped} bytes that are not MP4 boxes`);
      this.#skipped = 0;
    }
  }

  #onBox(type: string, box: Uint8Array, result: DemuxResult): void {
    switch (type) {
      case 'ftyp':
        this.#ftyp = box.slice();
        return;
      case 'moov':
        this.#onMoov(box, result);
        return;
      case 'moof':
        if (this.#moof) result.problems.push('a fragment (moof) came without its media data');
        this.#moof = box;
        return;
      case 'mdat': {
        const moof = this.#moof;
        this.#moof = undefined;
        if (!moof) {
          result.problems.push('media data (mdat) without its fragment header');
          return;
        }
        if (!this.#init) {
          result.problems.push('a fragment before the init segment (ftyp + moov)');
          return;
        }
        this.#onFragment(concat(moof, box), result);
        return;
      }
      default:
        return; // styp, sidx, free, ...: nothing to play
    }
  }

  #onMoov(moov: Uint8Array, result: DemuxResult): void {
    const init = concat(this.#ftyp ?? new Uint8Array(0), moov);
    let tracks: MediaTrack[] = [];
    try {
      const file = parse(init, undefined);
      tracks = file.tracks;
    } catch (error) {
      result.problems.push(`the init segment did not parse: ${(error as Error).message}`);
      return;
    }
    if (tracks.length === 0) {
      result.problems.push('the init segment has no H.264 or AAC track');
      return;
    }
    this.#init = init;
    this.#tracks = tracks;
  }

  #onFragment(fragment: Uint8Array, result: DemuxResult): void {
    try {
      const { samples } = parse(this.#init!, fragment, this.#tracks);
      result.samples.push(...samples);
    } catch (error) {
      result.problems.push(`a fragment did not parse: ${(error as Error).message}`);
    }
  }
}

interface Parsed {
  tracks: MediaTrack[];
  samples: MediaSample[];
}

/** Parse an init segment, and a fragment after it, with a fresh mp4box file. */
function parse(init: Uint8Array, fragment: Uint8Array | undefined, known?: MediaTrack[]): Parsed {
  const file: ISOFile = createFile();
  const parsed: Parsed = { tracks: known ?? [], samples: [] };
  let failure: string | undefined;
  file.onError = (module, message) => (failure ??= `${module}: ${message}`);
  file.onReady = (movie) => {
    if (!known) parsed.tracks = tracksOf(file, movie.tracks);
    for (const track of parsed.tracks) file.setExtractionOptions(track.id, track, { nbSamples: 1 });
    file.start();
  };
  file.onSamples = (_id, user, samples: Sample[]) => {
    const track = user as MediaTrack;
    for (const sample of samples) {
      if (!sample.data) continue;
      parsed.samples.push({
        track,
        pts: sample.cts / sample.timescale + track.shiftSec,
        duration: sample.duration / sample.timescale,
        data: sample.data,
        keyframe: sample.is_sync,
      });
    }
  };
  file.appendBuffer(MP4BoxBuffer.fromArrayBuffer(copyOf(init), 0));
  if (fragment) file.appendBuffer(MP4BoxBuffer.fromArrayBuffer(copyOf(fragment), init.length));
  file.flush();
  if (failure) throw new Error(failure);
  parsed.samples.sort((a, b) => a.pts - b.pts);
  return parsed;
}

function tracksOf(file: ISOFile, tracks: Track[]): MediaTrack[] {
  const out: MediaTrack[] = [];
  for (const track of tracks) {
    const entry = file.getTrackById(track.id)?.mdia?.minf?.stbl?.stsd?.entries?.[0] as
      SampleEntryLike | undefined;
    const shiftSec = editShift(track);
    if (track.codec.startsWith('avc1') || track.codec.startsWith('avc3')) {
      const avcC = entry?.avcC;
      if (!avcC) continue;
      out.push({
        id: track.id,
        kind: 'video',
        codec: track.codec,
        timescale: track.timescale,
        config: boxPayload(avcC),
        width: track.video?.width ?? track.track_width,
        height: track.video?.height ?? track.track_height,
        shiftSec,
      });
    } else if (track.codec.startsWith('mp4a.40')) {
      const config = audioSpecificConfig(entry);
      if (!config) continue;
      out.push({
        id: track.id,
        kind: 'audio',
        codec: track.codec,
        timescale: track.timescale,
        config,
        sampleRate: track.audio?.sample_rate ?? track.timescale,
        channels: track.audio?.channel_count ?? 1,
        shiftSec,
      });
    }
  }
  return out;
}

/** The parts of mp4box's sample entries read here (its types are per box class). */
interface SampleEntryLike {
  avcC?: { write(stream: DataStream): void };
  esds?: { esd?: { descs?: { descs?: { data?: Uint8Array }[] }[] } };
}

/** The AudioSpecificConfig in esds (ES_Descriptor > DecoderConfigDescriptor > DecSpecificInfo). */
function audioSpecificConfig(entry: SampleEntryLike | undefined): Uint8Array | undefined {
  const data = entry?.esds?.esd?.descs?.[0]?.descs?.[0]?.data;
  return data ? new Uint8Array(data) : undefined;
}

/** A box's payload (without its 8-byte header), as mp4box writes it back. */
function boxPayload(box: { write(stream: DataStream): void }): Uint8Array {
  const stream = new DataStream(undefined, 0, Endianness.BIG_ENDIAN);
  box.write(stream);
  return new Uint8Array(stream.buffer.slice(8, stream.byteLength));
}

/**
 * The edit list as one shift: empty edits delay the track, a first edit starting at media time
 * M makes M the track's time zero.
 */
function editShift(track: Track): number {
  let shift = 0;
  for (const edit of track.edits ?? []) {
    const { media_time: mediaTime, segment_duration: duration } = edit as {
      media_time: number;
      segment_duration: number;
    };
    if (mediaTime === -1) {
      shift += duration / track.movie_timescale;
      continue;
    }
    return shift - mediaTime / track.timescale;
  }
  return shift;
}

type Header = { type: string; size: number } | 'short' | 'bad';

function readHeader(bytes: Uint8Array, at: number): Header {
  if (bytes.length - at < 8) return 'short';
  const view = new DataView(bytes.buffer, bytes.byteOffset + at);
  let size = view.getUint32(0);
  const type = String.fromCharCode(bytes[at + 4]!, bytes[at + 5]!, bytes[at + 6]!, bytes[at + 7]!);
  if (!TOP_LEVEL.has(type)) return 'bad';
  if (size === 1) {
    if (bytes.length - at < 16) return 'short';
    size = Number(view.getBigUint64(8));
  }
  // 0 ("to the end of the file") has no end in a stream.
  return size < 8 || size > MAX_BOX_BYTES ? 'bad' : { type, size };
}

/** Where a plausible moof / ftyp / styp header starts after offset 0, or -1. */
function findResync(bytes: Uint8Array): number {
  for (let at = 1; at + 8 <= bytes.length; at++) {
    const c = bytes[at + 4];
    if (c !== 0x6d && c !== 0x66 && c !== 0x73) continue; // m, f, s
    const type = String.fromCharCode(c, bytes[at + 5]!, bytes[at + 6]!, bytes[at + 7]!);
    if (!RESYNC.includes(type)) continue;
    const header = readHeader(bytes, at);
    if (header !== 'bad') return at;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function copyOf(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
