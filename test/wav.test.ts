import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  WavError,
  WavWriter,
  durationMs,
  frames,
  readWav,
  resampleTo,
  toMono,
  writeWav,
} from '../src/audio/wav.ts';
import type { WavAudio } from '../src/audio/wav.ts';

const dir = mkdtempSync(join(tmpdir(), 'wav-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// --- Hand-built WAV bytes -------------------------------------------------------------------

const PCM = 1;
const FLOAT = 3;
const EXTENSIBLE = 0xfffe;

function chunk(id: string, body: Buffer, declaredSize = body.length): Buffer {
  const head = Buffer.alloc(8);
  head.write(id, 0, 'latin1');
  head.writeUInt32LE(declaredSize, 4);
  const pad = body.length % 2 ? Buffer.alloc(1) : Buffer.alloc(0);
  return Buffer.concat([head, body, pad]);
}

function riff(...chunks: Buffer[]): Buffer {
  const body = Buffer.concat(chunks);
  const head = Buffer.alloc(12);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(4 + body.length, 4);
  head.write('WAVE', 8, 'latin1');
  return Buffer.concat([head, body]);
}

function fmt(tag: number, channels: number, rate: number, bits: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(tag, 0);
  b.writeUInt16LE(channels, 2);
  b.writeUInt32LE(rate, 4);
  b.writeUInt32LE((rate * channels * bits) / 8, 8);
  b.writeUInt16LE((channels * bits) / 8, 12);
  b.writeUInt16LE(bits, 14);
  return b;
}

function extensibleFmt(subTag: number, channels: number, rate: number, bits: number): Buffer {
  const ext = Buffer.alloc(24);
  ext.writeUInt16LE(22, 0); // cbSize
  ext.writeUInt16LE(bits, 2); // valid bits
  ext.writeUInt32LE(channels === 2 ? 0x3 : 0x4, 4); // channel mask
  ext.writeUInt16LE(subTag, 8);
  Buffer.from('000000001000800000aa00389b71', 'hex').copy(ext, 10);
  return Buffer.concat([fmt(EXTENSIBLE, channels, rate, bits), ext]);
}

function s16(...values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => b.writeInt16LE(v, i * 2));
  return b;
}

function simpleWav(data: Buffer, tag = PCM, channels = 1, rate = 16000, bits = 16): Buffer {
  return riff(chunk('fmt ', fmt(tag, channels, rate, bits)), chunk('data', data));
}

function sine(rate: number, seconds: number, hz: number, amplitude: number): Float64Array {
  const out = new Float64Array(Math.round(rate * seconds));
  for (let i = 0; i < out.length; i++) out[i] = amplitude * Math.sin((2 * Math.PI * hz * i) / rate);
  return out;
}

function rms(samples: Int16Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return Math.sqrt(sum / Math.max(1, samples.length));
}

function errorOf(run: () => unknown): Error {
  try {
    run();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

// --- Reading --------------------------------------------------------------------------------

describe('readWav', () => {
  it('round-trips writeWav for mono and stereo', () => {
    for (const channels of [1, 2]) {
      const audio: WavAudio = {
        sampleRate: 24000,
        channels,
        samples: Int16Array.from({ length: 480 * channels }, (_, i) => ((i * 997) % 65536) - 32768),
      };
      const path = join(dir, `round_${channels}.wav`);
      writeWav(path, audio);
      expect(statSync(path).size).toBe(44 + audio.samples.length * 2);
      expect(readWav(path)).toEqual(audio);
      expect(readWav(readFileSync(path))).toEqual(audio);
    }
  });

  it('converts 8-bit unsigned, 24-bit and 32-bit integer PCM to s16', () => {
    const u8 = Buffer.from([0, 128, 255, 64]);
    expect([...readWav(simpleWav(u8, PCM, 1, 8000, 8)).samples]).toEqual([
      -32768, 0, 32512, -16384,
    ]);

    const s24 = Buffer.alloc(9);
    [0x7fffff, -0x800000, 0x123456].forEach((v, i) => s24.writeIntLE(v, i * 3, 3));
    expect([...readWav(simpleWav(s24, PCM, 1, 8000, 24)).samples]).toEqual([32767, -32768, 0x1234]);

    const s32 = Buffer.alloc(8);
    s32.writeInt32LE(0x7fffffff, 0);
    s32.writeInt32LE(-0x80000000, 4);
    expect([...readWav(simpleWav(s32, PCM, 1, 8000, 32)).samples]).toEqual([32767, -32768]);
  });

  it('converts 32/64-bit float with clipping', () => {
    const values = [0, 0.5, -0.5, 1, -1, 1.5, -2, Number.NaN];
    const expected = [0, 16384, -16384, 32767, -32768, 32767, -32768, 0];
    const f32 = Buffer.alloc(values.length * 4);
    values.forEach((v, i) => f32.writeFloatLE(v, i * 4));
    expect([...readWav(simpleWav(f32, FLOAT, 1, 8000, 32)).samples]).toEqual(expected);
    const f64 = Buffer.alloc(values.length * 8);
    values.forEach((v, i) => f64.writeDoubleLE(v, i * 8));
    expect([...readWav(simpleWav(f64, FLOAT, 1, 8000, 64)).samples]).toEqual(expected);
  });

  it('reads WAVE_FORMAT_EXTENSIBLE PCM and float', () => {
    const pcm = riff(
      chunk('fmt ', extensibleFmt(PCM, 2, 48000, 16)),
      chunk('data', s16(1, -1, 300, -300)),
    );
    expect(readWav(pcm)).toEqual({
      sampleRate: 48000,
      channels: 2,
      samples: Int16Array.of(1, -1, 300, -300),
    });

    const f32 = Buffer.alloc(8);
    f32.writeFloatLE(0.25, 0);
    f32.writeFloatLE(-0.25, 4);
    const float = riff(chunk('fmt ', extensibleFmt(FLOAT, 1, 44100, 32)), chunk('data', f32));
    expect([...readWav(float).samples]).toEqual([8192, -8192]);
  });

  it('skips unknown chunks, including odd-sized ones with a pad byte', () => {
    const wav = riff(
      chunk('LIST', Buffer.from('INFOISFT\x05\x00\x00\x00sox!\x00', 'latin1')), // 17 bytes: padded
      chunk('fmt ', fmt(PCM, 1, 16000, 16)),
      chunk('fact', Buffer.alloc(3)), // odd again, between fmt and data
      chunk('data', s16(7, 8, 9)),
      chunk('id3 ', Buffer.from('tail')),
    );
    expect([...readWav(wav).samples]).toEqual([7, 8, 9]);
  });

  it('reads streamed WAVs (data size 0 or 0xFFFFFFFF) to the end of the file', () => {
    for (const size of [0, 0xffffffff]) {
      const wav = Buffer.concat([
        riff(chunk('fmt ', fmt(PCM, 2, 16000, 16))),
        chunk('data', Buffer.alloc(0), size),
        s16(1, 2, 3, 4, 5), // 2.5 frames: the cut-off half frame is dropped
      ]);
      wav.writeUInt32LE(size, 4); // RIFF size unknown too
      expect([...readWav(wav).samples]).toEqual([1, 2, 3, 4]);
    }
  });

  it('reads an empty data chunk as no samples', () => {
    expect(readWav(simpleWav(Buffer.alloc(0))).samples.length).toBe(0);
  });

  const errors: Array<[string, Buffer, string]> = [
    [
      'too short',
      Buffer.from('RIFF'),
      '<buffer>: 4 bytes is too short for a RIFF/WAVE header (need at least 12)',
    ],
    [
      'not RIFF',
      Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00mp3', 'latin1'),
      '<buffer>: starts with "ID3\\u0004\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000", not a RIFF/WAVE file (expected "RIFF....WAVE")',
    ],
    [
      'RIFF but not WAVE',
      Buffer.from('RIFF\x04\x00\x00\x00AVI ', 'latin1'),
      '<buffer>: starts with "RIFF\\u0004\\u0000\\u0000\\u0000AVI ", not a RIFF/WAVE file (expected "RIFF....WAVE")',
    ],
    [
      'RF64',
      Buffer.from('RF64\xff\xff\xff\xffWAVE', 'latin1'),
      '<buffer>: RF64 (64-bit WAV) is not supported (allowed: RIFF WAVE under 4 GiB)',
    ],
    [
      'A-law',
      simpleWav(Buffer.alloc(4), 6, 1, 8000, 8),
      '<buffer>: format A-law (0x0006) is not supported (allowed: PCM integer or IEEE float)',
    ],
    [
      'MP3',
      simpleWav(Buffer.alloc(4), 0x55, 1, 8000, 16),
      '<buffer>: format MPEG Layer 3 (0x0055) is not supported (allowed: PCM integer or IEEE float)',
    ],
    [
      'unknown format',
      simpleWav(Buffer.alloc(4), 0x1234, 1, 8000, 16),
      '<buffer>: format 0x1234 is not supported (allowed: PCM integer or IEEE float)',
    ],
    [
      'extensible with an unknown GUID',
      riff(
        chunk(
          'fmt ',
          Buffer.concat([fmt(EXTENSIBLE, 1, 8000, 16), Buffer.alloc(8), Buffer.alloc(16, 0xab)]),
        ),
        chunk('data', Buffer.alloc(4)),
      ),
      '<buffer>: WAVE_FORMAT_EXTENSIBLE sub-format GUID abababababababababababababababab is not supported (allowed: PCM or IEEE float)',
    ],
    [
      'extensible fmt too short',
      riff(chunk('fmt ', fmt(EXTENSIBLE, 1, 8000, 16)), chunk('data', Buffer.alloc(4))),
      '<buffer>: WAVE_FORMAT_EXTENSIBLE fmt chunk is 16 bytes (need 40)',
    ],
    [
      'PCM 12-bit',
      simpleWav(Buffer.alloc(4), PCM, 1, 8000, 12),
      '<buffer>: PCM bits per sample is 12 (allowed: 8, 16, 24, 32)',
    ],
    [
      'float 16-bit',
      simpleWav(Buffer.alloc(4), FLOAT, 1, 8000, 16),
      '<buffer>: float bits per sample is 16 (allowed: 32, 64)',
    ],
    [
      '0 channels',
      simpleWav(Buffer.alloc(4), PCM, 0, 8000, 16),
      '<buffer>: fmt channels is 0 (allowed: 1..32)',
    ],
    [
      '0 Hz',
      simpleWav(Buffer.alloc(4), PCM, 1, 0, 16),
      '<buffer>: fmt sample rate is 0 Hz (allowed: 1..768000)',
    ],
    [
      'fmt too short',
      riff(chunk('fmt ', Buffer.alloc(14)), chunk('data', Buffer.alloc(4))),
      '<buffer>: fmt chunk is 14 bytes (need at least 16)',
    ],
    [
      'truncated fmt',
      riff(chunk('fmt ', fmt(PCM, 1, 8000, 16))).subarray(0, 30),
      '<buffer>: fmt chunk declares 16 bytes but only 10 remain (file truncated)',
    ],
    [
      'truncated data',
      simpleWav(s16(1, 2, 3, 4)).subarray(0, 48),
      '<buffer>: data chunk declares 8 bytes but only 4 remain (file truncated)',
    ],
    ['no fmt', riff(chunk('data', s16(1))), '<buffer>: no fmt chunk before the end of the file'],
    [
      'no data',
      riff(chunk('fmt ', fmt(PCM, 1, 8000, 16))),
      '<buffer>: no data chunk before the end of the file',
    ],
    [
      'data shorter than a frame',
      simpleWav(Buffer.alloc(2), PCM, 2, 8000, 16),
      '<buffer>: data chunk is 2 bytes, shorter than one 2-channel frame',
    ],
  ];

  it.each(errors)('rejects %s with one clear line', (_name, bytes, message) => {
    const err = errorOf(() => readWav(bytes));
    expect(err).toBeInstanceOf(WavError);
    expect(err.message).toBe(message);
    expect(err.message).not.toContain('\n');
  });

  it('names the file in errors', () => {
    const path = join(dir, 'rifx.wav');
    writeFileSync(path, Buffer.from('RIFX\x24\x00\x00\x00WAVE', 'latin1'));
    expect(() => readWav(path)).toThrow(
      `${path}: starts with "RIFX$\\u0000\\u0000\\u0000WAVE", not a RIFF/WAVE file`,
    );
  });
});

// --- Transforms -----------------------------------------------------------------------------

describe('toMono / resampleTo / frames', () => {
  it('averages channels and leaves mono alone', () => {
    const stereo: WavAudio = {
      sampleRate: 8000,
      channels: 2,
      samples: Int16Array.of(100, 300, -32768, 32767, 1, 2),
    };
    expect(toMono(stereo)).toEqual({
      sampleRate: 8000,
      channels: 1,
      samples: Int16Array.of(200, 0, 2),
    });
    const mono: WavAudio = { sampleRate: 8000, channels: 1, samples: Int16Array.of(1, 2) };
    expect(toMono(mono)).toBe(mono);
  });

  it('turns a float32 stereo 44.1 kHz file into mono 16 kHz of the same duration', () => {
    const seconds = 1.25;
    const left = sine(44100, seconds, 440, 0.5);
    const data = Buffer.alloc(left.length * 2 * 4);
    left.forEach((v, i) => {
      data.writeFloatLE(v, i * 8);
      data.writeFloatLE(v * 0.5, i * 8 + 4); // right channel quieter: the mono mix is 0.375
    });
    const path = join(dir, 'float_stereo.wav');
    writeFileSync(path, simpleWav(data, FLOAT, 2, 44100, 32));

    const input = readWav(path);
    expect(input).toMatchObject({ sampleRate: 44100, channels: 2 });
    const out = resampleTo(toMono(input), 16000);
    expect(out).toMatchObject({ sampleRate: 16000, channels: 1 });
    expect(Math.abs(out.samples.length - seconds * 16000)).toBeLessThanOrEqual(1);
    expect(Math.abs(durationMs(out) - seconds * 1000)).toBeLessThanOrEqual(1000 / 16000);
    // A 440 Hz sine at 0.375 full scale keeps its level: RMS = 0.375 * 32768 / sqrt(2).
    const middle = out.samples.subarray(1600, out.samples.length - 1600);
    expect(rms(middle)).toBeGreaterThan((0.97 * (0.375 * 32768)) / Math.SQRT2);
    expect(rms(middle)).toBeLessThan((1.03 * (0.375 * 32768)) / Math.SQRT2);
  });

  it('resamples stereo up and keeps channels', () => {
    const n = 16000;
    const samples = new Int16Array(n * 2);
    for (let i = 0; i < n; i++)
      samples[i * 2] = samples[i * 2 + 1] = Math.round(8000 * Math.sin(i / 10));
    const out = resampleTo({ sampleRate: 16000, channels: 2, samples }, 48000);
    expect(out.channels).toBe(2);
    expect(Math.abs(out.samples.length / 2 - 48000)).toBeLessThanOrEqual(1);
  });

  it('is the identity when the rate matches, handles empty audio, rejects bad rates', () => {
    const audio: WavAudio = { sampleRate: 16000, channels: 1, samples: Int16Array.of(1, 2, 3) };
    expect(resampleTo(audio, 16000)).toBe(audio);
    expect(resampleTo({ ...audio, samples: new Int16Array(0) }, 24000)).toEqual({
      sampleRate: 24000,
      channels: 1,
      samples: new Int16Array(0),
    });
    expect(() => resampleTo(audio, 0)).toThrow(
      'resampleTo: rate 0 is not valid (allowed: integer Hz 1..768000)',
    );
    expect(() => resampleTo(audio, 22050.5)).toThrow('resampleTo: rate 22050.5 is not valid');
  });

  it('splits into equal frames, zero-padding the last, each with its own buffer', () => {
    const samples = Int16Array.from({ length: 2 * 350 }, (_, i) => i + 1); // 350 stereo frames
    const list = frames({ sampleRate: 16000, channels: 2, samples }, 10);
    expect(list).toHaveLength(3);
    for (const f of list) {
      expect(f).toMatchObject({ sampleRate: 16000, channels: 2, samplesPerChannel: 160 });
      expect(f.data.length).toBe(320);
      expect(f.data.byteOffset).toBe(0);
      expect(f.data.buffer.byteLength).toBe(640);
    }
    expect(list[1]!.data[0]).toBe(321);
    const last = list[2]!.data;
    expect(last[59]).toBe(700);
    expect(last.subarray(60).every((s) => s === 0)).toBe(true);
    expect(frames({ sampleRate: 16000, channels: 1, samples: new Int16Array(0) }, 20)).toEqual([]);
  });

  it('rejects frame lengths that are not whole samples and malformed audio', () => {
    const audio: WavAudio = { sampleRate: 44100, channels: 1, samples: new Int16Array(10) };
    expect(() => frames(audio, 7)).toThrow(
      'frames: frameMs 7 gives 308.7 samples at 44100 Hz (allowed: a length that is a whole number of samples, e.g. 10 or 20)',
    );
    expect(() => frames(audio, 0)).toThrow('frames: frameMs 0 gives 0 samples');
    expect(() => toMono({ sampleRate: 8000, channels: 2, samples: new Int16Array(3) })).toThrow(
      'toMono: 3 samples is not a multiple of 2 channels',
    );
    expect(() =>
      writeWav(join(dir, 'x.wav'), { sampleRate: 8000, channels: 0, samples: new Int16Array(0) }),
    ).toThrow('writeWav: channels is 0 (allowed: 1..32)');
    expect(() => durationMs({ sampleRate: 0, channels: 1, samples: new Int16Array(0) })).toThrow(
      'durationMs: sampleRate is 0 (allowed: integer Hz 1..768000)',
    );
  });
});

// --- Streaming writer -----------------------------------------------------------------------

describe('WavWriter', () => {
  it('writes a header first, appends, and patches sizes on close', async () => {
    const path = join(dir, 'stream.wav');
    const writer = new WavWriter(path, 24000, 2);
    const chunkA = Int16Array.from({ length: 480 }, (_, i) => i - 240);
    const chunkB = Int16Array.from({ length: 960 }, (_, i) => 1000 - i);
    writer.write(chunkA);
    chunkA.fill(9999); // the writer copied it: reuse by the caller must not leak in
    writer.write(new Int16Array(0));
    writer.write(chunkB);
    expect(writer.durationMs).toBe(30);
    await writer.close();
    await writer.close(); // idempotent

    const bytes = readFileSync(path);
    const dataBytes = (480 + 960) * 2;
    expect(bytes.length).toBe(44 + dataBytes);
    expect(bytes.readUInt32LE(4)).toBe(36 + dataBytes);
    expect(bytes.readUInt32LE(40)).toBe(dataBytes);
    const expected = new Int16Array(1440);
    expected.set(Int16Array.from({ length: 480 }, (_, i) => i - 240));
    expected.set(chunkB, 480);
    expect(readWav(path)).toEqual({ sampleRate: 24000, channels: 2, samples: expected });
    expect(() => writer.write(chunkB)).toThrow(`WavWriter ${path}: write() after close()`);
  });

  it('leaves a readable streamed WAV while open, and an empty valid WAV when nothing was written', async () => {
    const path = join(dir, 'growing.wav');
    const writer = new WavWriter(path, 16000, 1);
    writer.write(Int16Array.of(5, 6, 7));
    await vi.waitFor(() => expect(statSync(path).size).toBe(50)); // writes land asynchronously
    const partial = readFileSync(path);
    expect(partial.readUInt32LE(40)).toBe(0xffffffff);
    expect([...readWav(partial).samples]).toEqual([5, 6, 7]);
    await writer.close();
    expect(readFileSync(path).readUInt32LE(40)).toBe(6);

    const empty = join(dir, 'empty.wav');
    await new WavWriter(empty, 16000, 1).close();
    expect(statSync(empty).size).toBe(44);
    expect(readWav(empty)).toEqual({ sampleRate: 16000, channels: 1, samples: new Int16Array(0) });
  });

  it('rejects bad samples and reports an unwritable path on close', async () => {
    const writer = new WavWriter(join(dir, 'odd.wav'), 16000, 2);
    expect(() => writer.write(new Int16Array(3))).toThrow(
      '3 samples is not a multiple of 2 channels',
    );
    await writer.close();

    expect(() => new WavWriter(join(dir, 'bad.wav'), 16000, 0)).toThrow(
      'channels is 0 (allowed: 1..32)',
    );

    const missing = join(dir, 'no_such_dir', 'out.wav');
    const broken = new WavWriter(missing, 16000, 1);
    await expect(broken.close()).rejects.toThrow(new RegExp(`^WavWriter ${missing}: ENOENT`));
    expect(() => broken.write(Int16Array.of(1))).toThrow('write() after close()');
  });
});
