/**
 * Reads a .y4m (YUV4MPEG2, 4:2:0) file frame by frame, without loading it whole: the console's
 * --camera source. At the end it starts over (`loop`) or reports the end.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { VideoBufferType, VideoFrame } from '@livekit/rtc-node';

export class Y4mError extends Error {}

export class Y4mReader {
  readonly file: string;
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly frameBytes: number;
  readonly #fd: number;
  readonly #dataStart: number;
  readonly #loop: boolean;
  #pos: number;
  #frames = 0;
  #closed = false;

  constructor(file: string, { loop = true } = {}) {
    this.file = file;
    this.#loop = loop;
    this.#fd = openSync(file, 'r');
    try {
      const head = this.#read(0, 512).toString('latin1');
      const end = head.indexOf('\n');
      if (!head.startsWith('YUV4MPEG2 ') || end < 0) throw new Y4mError('not a y4m file');
      const fields = head.slice(0, end).split(' ');
      const field = (tag: string) => fields.find((f) => f.startsWith(tag))?.slice(1);
      this.width = Number(field('W'));
      this.height = Number(field('H'));
      const [num, den] = (field('F') ?? '').split(':').map(Number);
      this.fps = num! / den!;
      const colour = field('C') ?? '420jpeg';
      if (!colour.startsWith('420')) {
        throw new Y4mError(`colour space C${colour} is not supported (allowed: 4:2:0)`);
      }
      if (!(this.width > 0 && this.height > 0 && this.fps > 0 && this.fps <= 120)) {
        throw new Y4mError(`header "${fields.join(' ')}" has no valid size and frame rate`);
      }
      const chroma = Math.ceil(this.width / 2) * Math.ceil(this.height / 2);
      this.frameBytes = this.width * this.height + 2 * chroma;
      this.#dataStart = end + 1;
      this.#pos = this.#dataStart;
      if (!this.#nextFrame(false)) throw new Y4mError('no frames');
      this.#pos = this.#dataStart;
      this.#frames = 0;
    } catch (error) {
      closeSync(this.#fd);
      throw error;
    }
  }

  /** Frames read so far (counting repeats when looping). */
  get framesRead(): number {
    return this.#frames;
  }

  /** The next frame as I420, or undefined at the end (never, when looping) or after close. */
  next(): VideoFrame | undefined {
    if (this.#closed) return undefined;
    const frame = this.#nextFrame(true);
    if (frame || !this.#loop || this.#frames === 0) return frame;
    this.#pos = this.#dataStart;
    return this.#nextFrame(true);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeSync(this.#fd);
  }

  #nextFrame(count: boolean): VideoFrame | undefined {
    const head = this.#read(this.#pos, 256);
    if (head.length === 0) return undefined;
    const end = head.indexOf(0x0a);
    if (!head.toString('latin1', 0, 5).startsWith('FRAME') || end < 0) {
      throw new Y4mError(`frame ${this.#frames} does not start with FRAME`);
    }
    const data = this.#read(this.#pos + end + 1, this.frameBytes);
    if (data.length < this.frameBytes) return undefined; // a cut-short last frame: the end
    this.#pos += end + 1 + this.frameBytes;
    if (count) this.#frames++;
    return new VideoFrame(new Uint8Array(data), this.width, this.height, VideoBufferType.I420);
  }

  #read(at: number, length: number): Buffer {
    const buffer = Buffer.alloc(length);
    const n = readSync(this.#fd, buffer, 0, length, at);
    return buffer.subarray(0, n);
  }
}
