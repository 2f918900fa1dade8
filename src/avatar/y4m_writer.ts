/**
 * A streaming YUV4MPEG2 (.y4m) writer: raw I420 frames behind a one-line header, the format
 * ffmpeg, mpv and VLC read with no codec, and what ffmpeg takes on stdin (`-f yuv4mpegpipe`).
 *
 * RGBA is converted with rtc-node's `VideoFrame.convert` (libyuv, the conversion WebRTC itself
 * uses): BT.601 limited range, chroma averaged over 2x2 blocks, so the header says `C420jpeg`
 * (centred chroma) and `XCOLORRANGE=LIMITED`.
 *
 * Writes follow the stream's back-pressure: frames wait in the writer's own queue while the stream
 * is above its high-water mark, so the stream's buffer stays bounded; `writeFrame` returns false
 * then and a caller that can wait awaits `drained()`. A real-time caller (the frame clock) cannot
 * wait, so its frames queue here until the consumer catches up (`backlog` says how many).
 */
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { VideoBufferType, VideoFrame } from '@livekit/rtc-node';

export interface Y4mWriterOptions {
  width: number;
  height: number;
  /** Frames per second (the header's `F<fps>:1`): a whole number. */
  fps: number;
  /** `C420jpeg` (default: how libyuv sites chroma) or plain `C420`. */
  colorspace?: 'C420jpeg' | 'C420';
}

const FRAME_HEADER = Buffer.from('FRAME\n', 'latin1');

/** Bytes of one I420 frame: full-size Y, then U and V at half size (rounded up). */
export function i420Bytes(width: number, height: number): number {
  return width * height + 2 * Math.ceil(width / 2) * Math.ceil(height / 2);
}

export class Y4mWriter {
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly frameBytes: number;
  /** Where frames go: the file path or 'stream'. */
  readonly target: string;
  readonly #stream: Writable;
  /** Frames not yet handed to the stream (it was above its high-water mark). */
  readonly #queue: Uint8Array[] = [];
  #frames = 0;
  #waitingForDrain = false;
  #error: Error | undefined;
  #closing: Promise<void> | undefined;
  /** An owned copy of RGBA given as a view (allocated once, only if needed). */
  #rgbaCopy: Uint8Array | undefined;

  /** `target`: a file path (created or truncated) or a writable stream (e.g. ffmpeg's stdin). */
  constructor(target: string | Writable, options: Y4mWriterOptions) {
    const { width, height, fps, colorspace = 'C420jpeg' } = options;
    for (const [name, value] of [
      ['width', width],
      ['height', height],
    ] as const) {
      if (!(Number.isInteger(value) && value >= 1 && value <= 16_384)) {
        throw new RangeError(
          `Y4mWriter: ${name} ${value} is not valid (allowed: integer 1..16384)`,
        );
      }
    }
    if (!(Number.isInteger(fps) && fps >= 1 && fps <= 1000)) {
      throw new RangeError(`Y4mWriter: fps ${fps} is not valid (allowed: integer 1..1000)`);
    }
    this.width = width;
    this.height = height;
    this.fps = fps;
    this.frameBytes = i420Bytes(width, height);
    this.target = typeof target === 'string' ? target : 'stream';
    this.#stream = typeof target === 'string' ? createWriteStream(target) : target;
    // Without a listener a stream error would crash the process; keep it for the next call.
    this.#stream.on('error', (error) => {
      this.#error ??= error;
    });
    const header = `YUV4MPEG2 W${width} H${height} F${fps}:1 Ip A1:1 ${colorspace} XCOLORRANGE=LIMITED\n`;
    this.#stream.write(Buffer.from(header, 'latin1'));
  }

  /** Frames written or queued so far. */
  get frames(): number {
    return this.#frames;
  }

  /** Frames waiting for the stream to drain. */
  get backlog(): number {
    return this.#queue.length;
  }

  /**
   * The I420 bytes of an RGBA image of this writer's size: a new buffer (made by convert), which
   * stays valid, so it can be written again to repeat the frame.
   */
  toI420(rgba: Uint8Array): Uint8Array {
    const bytes = this.width * this.height * 4;
    if (rgba.length !== bytes) {
      throw new RangeError(
        `Y4mWriter: RGBA frame of ${rgba.length} bytes is not valid (allowed: ${bytes} for ${this.width}x${this.height})`,
      );
    }
    // VideoFrame hands `data.buffer` to the FFI and ignores byteOffset: give it an owned buffer.
    let owned = rgba;
    if (rgba.byteOffset !== 0 || rgba.buffer.byteLength !== bytes) {
      this.#rgbaCopy ??= new Uint8Array(bytes);
      this.#rgbaCopy.set(rgba);
      owned = this.#rgbaCopy;
    }
    const frame = new VideoFrame(owned, this.width, this.height, VideoBufferType.RGBA);
    return frame.convert(VideoBufferType.I420).data;
  }

  /** Convert and write one RGBA frame; false when the caller should await drained(). */
  writeRgba(rgba: Uint8Array): boolean {
    return this.writeFrame(this.toI420(rgba));
  }

  /**
   * Write one I420 frame (kept by reference until written: do not change it afterwards). Returns
   * false while frames wait for the stream, like Writable.write.
   */
  writeFrame(i420: Uint8Array): boolean {
    this.#throwIfFailed();
    if (this.#closing) throw new Error(`Y4mWriter ${this.target}: writeFrame() after close()`);
    if (i420.length !== this.frameBytes) {
      throw new RangeError(
        `Y4mWriter: I420 frame of ${i420.length} bytes is not valid (allowed: ${this.frameBytes} for ${this.width}x${this.height})`,
      );
    }
    this.#frames += 1;
    this.#queue.push(i420);
    this.#pump();
    return this.#queue.length === 0 && !this.#stream.writableNeedDrain;
  }

  /** Resolves once every queued frame is in the stream and the stream is below its mark. */
  async drained(): Promise<void> {
    while (this.#queue.length > 0 || this.#stream.writableNeedDrain) {
      if (this.#stream.destroyed) this.#error ??= new Error('the stream closed early');
      this.#throwIfFailed();
      await nextDrain(this.#stream);
      this.#pump();
    }
    this.#throwIfFailed();
  }

  /** Write what is queued and end the stream (the file is complete when this resolves). */
  close(): Promise<void> {
    this.#closing ??= this.#finish();
    return this.#closing;
  }

  async #finish(): Promise<void> {
    await this.drained();
    await new Promise<void>((resolve, reject) => {
      this.#stream.end((error?: Error | null) => (error ? reject(error) : resolve()));
    }).catch((error: Error) => {
      this.#error ??= error;
    });
    this.#throwIfFailed();
  }

  #pump(): void {
    const stream = this.#stream;
    while (
      this.#queue.length > 0 &&
      !stream.writableNeedDrain &&
      !stream.destroyed &&
      !this.#error
    ) {
      stream.write(FRAME_HEADER);
      stream.write(this.#queue.shift()!);
    }
    if (this.#queue.length === 0 || this.#waitingForDrain || stream.destroyed || this.#error)
      return;
    this.#waitingForDrain = true;
    stream.once('drain', () => {
      this.#waitingForDrain = false;
      this.#pump();
    });
  }

  #throwIfFailed(): void {
    if (!this.#error) return;
    throw new Error(`Y4mWriter ${this.target}: ${this.#error.message}`, { cause: this.#error });
  }
}

/** The stream's next 'drain' (or its end: a closed stream will never drain). */
function nextDrain(stream: Writable): Promise<void> {
  if (stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('error', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}
