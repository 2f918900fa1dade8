/**
 * WAV reading and writing for the console and the tests. Everything inside the worker is
 * interleaved signed 16-bit PCM (what rtc-node's AudioFrame carries), so readWav converts any
 * common PCM/float WAV to that, and the writers only write it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { AudioFrame, AudioResampler } from '@livekit/rtc-node';

export interface WavAudio {
  sampleRate: number;
  channels: number;
  /** Interleaved signed 16-bit samples: `samples.length === frames * channels`. */
  samples: Int16Array;
}

/** A WAV file or WavAudio value that cannot be used. The message is one line. */
export class WavError extends Error {
  override name = 'WavError';
}

const MAX_CHANNELS = 32;
const MAX_SAMPLE_RATE = 768_000;
const HEADER_BYTES = 44;
// Streamed WAVs (sox/ffmpeg writing to a pipe) cannot seek back, so they leave these sizes.
const UNKNOWN_SIZES = new Set([0, 0xffffffff]);
const MAX_DATA_BYTES = 0xffffffff - (HEADER_BYTES - 8);

const FORMAT_PCM = 0x0001;
const FORMAT_FLOAT = 0x0003;
const FORMAT_EXTENSIBLE = 0xfffe;
const FORMAT_NAMES: Readonly<Record<number, string>> = {
  0x0002: 'MS ADPCM',
  0x0006: 'A-law',
  0x0007: 'mu-law',
  0x0011: 'IMA ADPCM',
  0x0031: 'GSM 6.10',
  0x0050: 'MPEG',
  0x0055: 'MPEG Layer 3',
  0x0161: 'WMA',
  0x2000: 'AC-3',
};
// Bytes 2..15 of every KSDATAFORMAT_SUBTYPE_* GUID; bytes 0..1 hold the plain format code.
const EXTENSIBLE_GUID_TAIL = Buffer.from('000000001000800000aa00389b71', 'hex');

interface WavFormat {
  formatTag: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
}

// ---------------------------------------------------------------------------------------------
// Reading

/**
 * Read a WAV file (path) or its bytes (Buffer) as interleaved s16. Accepts PCM 8/16/24/32-bit
 * integer and 32/64-bit float, plain or WAVE_FORMAT_EXTENSIBLE; float and wider samples are
 * scaled to s16 with clipping. Unknown chunks (LIST, fact, ...) are skipped. A data size of 0 or
 * 0xFFFFFFFF means "streamed, size unknown" and reads to the end of the file.
 */
export function readWav(pathOrBuffer: string | Buffer): WavAudio {
  const label = typeof pathOrBuffer === 'string' ? pathOrBuffer : '<buffer>';
  const bytes = typeof pathOrBuffer === 'string' ? readFileSync(pathOrBuffer) : pathOrBuffer;
  checkRiffHeader(bytes, label);
  const { format, data } = findChunks(bytes, label);
  const samples = decodeSamples(data, format, label);
  return { sampleRate: format.sampleRate, channels: format.channels, samples };
}

function fail(label: string, problem: string): never {
  throw new WavError(`${label}: ${problem}`);
}

function checkRiffHeader(bytes: Buffer, label: string): void {
  if (bytes.length < 12) {
    fail(label, `${bytes.length} bytes is too short for a RIFF/WAVE header (need at least 12)`);
  }
  const riff = bytes.toString('latin1', 0, 4);
  if (riff === 'RF64') {
    fail(label, 'RF64 (64-bit WAV) is not supported (allowed: RIFF WAVE under 4 GiB)');
  }
  if (riff !== 'RIFF' || bytes.toString('latin1', 8, 12) !== 'WAVE') {
    fail(
      label,
      `starts with ${JSON.stringify(bytes.toString('latin1', 0, 12))}, not a RIFF/WAVE file (expected "RIFF....WAVE")`,
    );
  }
}

/** Walk the chunk list; return the fmt chunk (parsed) and the bytes of the data chunk. */
function findChunks(bytes: Buffer, label: string): { format: WavFormat; data: Buffer } {
  let format: WavFormat | undefined;
  let data: Buffer | undefined;
  let offset = 12;
  while (offset + 8 <= bytes.length && !(format && data)) {
    const id = bytes.toString('latin1', offset, offset + 4);
    const size = bytes.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'data') {
      data = dataChunk(bytes, body, size, label);
      if (UNKNOWN_SIZES.has(size)) break;
    } else if (id === 'fmt ') {
      if (body + size > bytes.length) {
        fail(
          label,
          `fmt chunk declares ${size} bytes but only ${bytes.length - body} remain (file truncated)`,
        );
      }
      format = parseFormat(bytes.subarray(body, body + size), label);
    }
    // Chunks are word-aligned: an odd-sized chunk is followed by one pad byte.
    offset = body + size + (size % 2);
  }
  if (!format) fail(label, 'no fmt chunk before the end of the file');
  if (!data) fail(label, 'no data chunk before the end of the file');
  return { format, data };
}

function dataChunk(bytes: Buffer, body: number, size: number, label: string): Buffer {
  if (UNKNOWN_SIZES.has(size)) return bytes.subarray(body);
  if (body + size > bytes.length) {
    fail(
      label,
      `data chunk declares ${size} bytes but only ${bytes.length - body} remain (file truncated)`,
    );
  }
  return bytes.subarray(body, body + size);
}

function parseFormat(fmt: Buffer, label: string): WavFormat {
  if (fmt.length < 16) fail(label, `fmt chunk is ${fmt.length} bytes (need at least 16)`);
  let formatTag = fmt.readUInt16LE(0);
  const channels = fmt.readUInt16LE(2);
  const sampleRate = fmt.readUInt32LE(4);
  const bitsPerSample = fmt.readUInt16LE(14);
  if (formatTag === FORMAT_EXTENSIBLE) formatTag = extensibleSubFormat(fmt, label);
  const format = { formatTag, channels, sampleRate, bitsPerSample };
  checkFormat(format, label);
  return format;
}

/** WAVE_FORMAT_EXTENSIBLE keeps the real format code in the first 2 bytes of a GUID. */
function extensibleSubFormat(fmt: Buffer, label: string): number {
  if (fmt.length < 40) {
    fail(label, `WAVE_FORMAT_EXTENSIBLE fmt chunk is ${fmt.length} bytes (need 40)`);
  }
  const guid = fmt.subarray(24, 40);
  if (!guid.subarray(2).equals(EXTENSIBLE_GUID_TAIL)) {
    fail(
      label,
      `WAVE_FORMAT_EXTENSIBLE sub-format GUID ${guid.toString('hex')} is not supported (allowed: PCM or IEEE float)`,
    );
  }
  return guid.readUInt16LE(0);
}

function checkFormat(f: WavFormat, label: string): void {
  if (f.formatTag !== FORMAT_PCM && f.formatTag !== FORMAT_FLOAT) {
    fail(
      label,
      `format ${formatName(f.formatTag)} is not supported (allowed: PCM integer or IEEE float)`,
    );
  }
  if (f.channels < 1 || f.channels > MAX_CHANNELS) {
    fail(label, `fmt channels is ${f.channels} (allowed: 1..${MAX_CHANNELS})`);
  }
  if (f.sampleRate < 1 || f.sampleRate > MAX_SAMPLE_RATE) {
    fail(label, `fmt sample rate is ${f.sampleRate} Hz (allowed: 1..${MAX_SAMPLE_RATE})`);
  }
  const allowedBits = f.formatTag === FORMAT_PCM ? [8, 16, 24, 32] : [32, 64];
  if (!allowedBits.includes(f.bitsPerSample)) {
    const kind = f.formatTag === FORMAT_PCM ? 'PCM' : 'float';
    fail(
      label,
      `${kind} bits per sample is ${f.bitsPerSample} (allowed: ${allowedBits.join(', ')})`,
    );
  }
}

function formatName(tag: number): string {
  const hex = `0x${tag.toString(16).padStart(4, '0')}`;
  const name = FORMAT_NAMES[tag];
  return name ? `${name} (${hex})` : hex;
}

/** Convert the data chunk to interleaved s16; a trailing partial frame (cut-off stream) is dropped. */
function decodeSamples(data: Buffer, f: WavFormat, label: string): Int16Array {
  const bytesPerSample = f.bitsPerSample / 8;
  const frameCount = Math.floor(data.length / (bytesPerSample * f.channels));
  const count = frameCount * f.channels;
  if (count === 0 && data.length > 0) {
    fail(label, `data chunk is ${data.length} bytes, shorter than one ${f.channels}-channel frame`);
  }
  const read = sampleReader(data, f);
  const out = new Int16Array(count);
  for (let i = 0; i < count; i++) out[i] = read(i * bytesPerSample);
  return out;
}

function sampleReader(data: Buffer, f: WavFormat): (byteOffset: number) => number {
  if (f.formatTag === FORMAT_FLOAT) {
    return f.bitsPerSample === 32
      ? (o) => floatToS16(data.readFloatLE(o))
      : (o) => floatToS16(data.readDoubleLE(o));
  }
  switch (f.bitsPerSample) {
    case 8:
      return (o) => (data.readUInt8(o) - 128) << 8; // 8-bit WAV is unsigned, centred on 128
    case 16:
      return (o) => data.readInt16LE(o);
    case 24:
      return (o) => data.readIntLE(o, 3) >> 8;
    default:
      return (o) => data.readInt32LE(o) >> 16;
  }
}

function floatToS16(x: number): number {
  if (Number.isNaN(x)) return 0;
  return Math.max(-32768, Math.min(32767, Math.round(x * 32768)));
}

// ---------------------------------------------------------------------------------------------
// Transforms

/** Duration in milliseconds. */
export function durationMs(audio: WavAudio): number {
  checkAudio(audio, 'durationMs');
  return (audio.samples.length / audio.channels / audio.sampleRate) * 1000;
}

/** Average all channels into one. Returns the input itself when it is already mono. */
export function toMono(audio: WavAudio): WavAudio {
  checkAudio(audio, 'toMono');
  const { channels, samples } = audio;
  if (channels === 1) return audio;
  const mono = new Int16Array(samples.length / channels);
  for (let i = 0; i < mono.length; i++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += samples[i * channels + c]!;
    mono[i] = Math.round(sum / channels);
  }
  return { sampleRate: audio.sampleRate, channels: 1, samples: mono };
}

/**
 * Resample with rtc-node's soxr resampler (the same one the agent pipeline uses), flushing at the
 * end so the tail is not lost. Returns the input itself when the rate already matches.
 */
export function resampleTo(audio: WavAudio, rate: number): WavAudio {
  checkAudio(audio, 'resampleTo');
  if (!Number.isInteger(rate) || rate < 1 || rate > MAX_SAMPLE_RATE) {
    throw new WavError(
      `resampleTo: rate ${rate} is not valid (allowed: integer Hz 1..${MAX_SAMPLE_RATE})`,
    );
  }
  if (rate === audio.sampleRate) return audio;
  const { channels, sampleRate } = audio;
  if (audio.samples.length === 0) return { sampleRate: rate, channels, samples: new Int16Array(0) };

  const resampler = new AudioResampler(sampleRate, rate, channels);
  const out: AudioFrame[] = [];
  try {
    const chunk = Math.max(1, Math.round(sampleRate / 10)) * channels; // 100 ms per push
    for (let i = 0; i < audio.samples.length; i += chunk) {
      // slice, not subarray: AudioFrame hands `data.buffer` to the FFI and ignores byteOffset.
      const part = audio.samples.slice(i, i + chunk);
      out.push(
        ...resampler.push(new AudioFrame(part, sampleRate, channels, part.length / channels)),
      );
    }
    out.push(...resampler.flush());
  } finally {
    resampler.close();
  }
  return { sampleRate: rate, channels, samples: concatFrames(out, channels) };
}

function concatFrames(list: AudioFrame[], channels: number): Int16Array {
  const total = list.reduce((n, f) => n + f.samplesPerChannel * channels, 0);
  const samples = new Int16Array(total);
  let at = 0;
  for (const f of list) {
    const n = f.samplesPerChannel * channels;
    samples.set(f.data.subarray(0, n), at);
    at += n;
  }
  return samples;
}

/**
 * Split into AudioFrames of `frameMs` each. The last frame is zero-padded to full length, so every
 * frame has the same size (what VAD, pacing and AudioSource.captureFrame loops expect); the pad is
 * under one frame of silence. Each frame owns its buffer, because AudioFrame hands `data.buffer`
 * to the FFI and ignores byteOffset.
 */
export function frames(audio: WavAudio, frameMs: number): AudioFrame[] {
  checkAudio(audio, 'frames');
  const { sampleRate, channels, samples } = audio;
  const perChannel = (sampleRate * frameMs) / 1000;
  if (!Number.isInteger(perChannel) || perChannel < 1) {
    throw new WavError(
      `frames: frameMs ${frameMs} gives ${perChannel} samples at ${sampleRate} Hz (allowed: a length that is a whole number of samples, e.g. 10 or 20)`,
    );
  }
  const size = perChannel * channels;
  const list: AudioFrame[] = [];
  for (let i = 0; i < samples.length; i += size) {
    const data = new Int16Array(size); // zero-filled, so the last frame is padded
    data.set(samples.subarray(i, i + size));
    list.push(new AudioFrame(data, sampleRate, channels, perChannel));
  }
  return list;
}

function checkAudio(audio: WavAudio, fn: string): void {
  const { sampleRate, channels, samples } = audio;
  if (!Number.isInteger(channels) || channels < 1 || channels > MAX_CHANNELS) {
    throw new WavError(`${fn}: channels is ${channels} (allowed: 1..${MAX_CHANNELS})`);
  }
  if (!Number.isInteger(sampleRate) || sampleRate < 1 || sampleRate > MAX_SAMPLE_RATE) {
    throw new WavError(
      `${fn}: sampleRate is ${sampleRate} (allowed: integer Hz 1..${MAX_SAMPLE_RATE})`,
    );
  }
  if (samples.length % channels !== 0) {
    throw new WavError(
      `${fn}: ${samples.length} samples is not a multiple of ${channels} channels`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Write 16-bit PCM WAV in one go. */
export function writeWav(path: string, audio: WavAudio): void {
  checkAudio(audio, 'writeWav');
  const dataBytes = audio.samples.length * 2;
  if (dataBytes > MAX_DATA_BYTES) {
    throw new WavError(
      `writeWav: ${path}: ${dataBytes} bytes of audio is too large (allowed: up to ${MAX_DATA_BYTES})`,
    );
  }
  const header = wavHeader(audio.sampleRate, audio.channels, dataBytes);
  writeFileSync(path, Buffer.concat([header, s16Bytes(audio.samples)]));
}

function wavHeader(sampleRate: number, channels: number, dataBytes: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(riffSize(dataBytes), 4);
  h.write('WAVE', 8, 'latin1');
  h.write('fmt ', 12, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(FORMAT_PCM, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * channels * 2, 28); // byte rate
  h.writeUInt16LE(channels * 2, 32); // block align
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

function riffSize(dataBytes: number): number {
  return dataBytes === 0xffffffff ? 0xffffffff : HEADER_BYTES - 8 + dataBytes;
}

/** Little-endian bytes of s16 samples (a copy, so later changes by the caller cannot leak in). */
function s16Bytes(samples: Int16Array): Buffer {
  const bytes = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++) bytes.writeInt16LE(samples[i]!, i * 2);
  return bytes;
}

/**
 * Streaming 16-bit PCM WAV writer for output that grows while it plays (the console). The header
 * goes out first with "unknown" sizes (0xFFFFFFFF, as sox/ffmpeg pipes do), so a file cut short
 * by a crash still reads with readWav; close() writes the real sizes. Writes are queued in order
 * on one file handle; close() waits for all of them. A failed write is reported by the next
 * write() or by close().
 */
export class WavWriter {
  readonly path: string;
  readonly sampleRate: number;
  readonly channels: number;
  #dataBytes = 0;
  #queue: Promise<FileHandle | undefined>;
  #error: unknown;
  #closing: Promise<void> | undefined;

  constructor(path: string, sampleRate: number, channels: number) {
    checkAudio({ sampleRate, channels, samples: new Int16Array(0) }, `WavWriter ${path}`);
    this.path = path;
    this.sampleRate = sampleRate;
    this.channels = channels;
    this.#queue = this.#openWithHeader();
  }

  /** Queue interleaved samples; they are copied, so the caller may reuse its buffer. */
  write(samples: Int16Array): void {
    if (this.#closing) throw new WavError(`WavWriter ${this.path}: write() after close()`);
    if (this.#error) throw this.#failure();
    if (samples.length % this.channels !== 0) {
      throw new WavError(
        `WavWriter ${this.path}: ${samples.length} samples is not a multiple of ${this.channels} channels`,
      );
    }
    if (samples.length === 0) return;
    const bytes = s16Bytes(samples);
    if (this.#dataBytes + bytes.length > MAX_DATA_BYTES) {
      throw new WavError(
        `WavWriter ${this.path}: audio would exceed ${MAX_DATA_BYTES} bytes, the WAV size limit`,
      );
    }
    const position = HEADER_BYTES + this.#dataBytes;
    this.#dataBytes += bytes.length;
    this.#enqueue((file) => writeFully(file, bytes, position));
  }

  /** Duration of everything written so far (queued writes included). */
  get durationMs(): number {
    return (this.#dataBytes / 2 / this.channels / this.sampleRate) * 1000;
  }

  /** Wait for queued writes, patch the RIFF and data sizes, close the file. Safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= this.#finish();
    return this.#closing;
  }

  // The queue never rejects: failures are kept in #error, so no rejection goes unhandled.
  async #openWithHeader(): Promise<FileHandle | undefined> {
    let file: FileHandle | undefined;
    try {
      file = await open(this.path, 'w');
      await writeFully(file, wavHeader(this.sampleRate, this.channels, 0xffffffff), 0);
    } catch (err) {
      this.#fail(err);
    }
    return file; // still returned after a failed header write, so close() can close it
  }

  async #finish(): Promise<void> {
    const file = await this.#queue;
    if (!file) throw this.#failure();
    try {
      if (!this.#error) await this.#patchSizes(file);
    } catch (err) {
      this.#fail(err);
    } finally {
      await file.close();
    }
    if (this.#error) throw this.#failure();
  }

  async #patchSizes(file: FileHandle): Promise<void> {
    const size = Buffer.alloc(4);
    size.writeUInt32LE(riffSize(this.#dataBytes));
    await writeFully(file, size, 4);
    const data = Buffer.alloc(4);
    data.writeUInt32LE(this.#dataBytes);
    await writeFully(file, data, 40);
  }

  #enqueue(step: (file: FileHandle) => Promise<void>): void {
    this.#queue = this.#queue.then(async (file) => {
      if (file && !this.#error) {
        try {
          await step(file);
        } catch (err) {
          this.#fail(err);
        }
      }
      return file;
    });
  }

  #fail(err: unknown): void {
    this.#error ??= err;
  }

  #failure(): WavError {
    const cause = this.#error instanceof Error ? this.#error.message : String(this.#error);
    return new WavError(`WavWriter ${this.path}: ${cause}`, { cause: this.#error });
  }
}

/** FileHandle.write may write less than asked; keep going until every byte is down. */
async function writeFully(file: FileHandle, bytes: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await file.write(bytes, done, bytes.length - done, position + done);
    if (bytesWritten === 0) throw new Error(`wrote 0 bytes at offset ${position + done}`);
    done += bytesWritten;
  }
}

/** A WAV file as mono s16 at `rate`: what every reader of speech files here wants. */
export function readMonoAt(pathOrBuffer: string | Buffer, rate: number): WavAudio {
  return resampleTo(toMono(readWav(pathOrBuffer)), rate);
}
