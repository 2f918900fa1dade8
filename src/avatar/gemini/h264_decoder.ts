/**
 * The avatar's pictures: H.264 samples (AVCC, as in the MP4) -> I420 frames, with FFmpeg's H.264
 * decoder through node-av. Synchronous, one sample at a time, in decode order: the publisher
 * decodes each frame just before it is due, so only encoded samples wait in memory (a decoded
 * 704x1280 frame is 1.35 MB; a second of them would be 32 MB).
 *
 * After a sample the decoder refuses, or one that was never received, later frames reference a
 * picture that is wrong: they are decoded (they are references too) but not shown until the next
 * keyframe, so a broken fragment never puts a smeared face on screen.
 */
import { type Av, checkAv as check } from './av.ts';
import type { MediaSample, MediaTrack } from './fmp4_demuxer.ts';

type CodecContext = InstanceType<Av['lib']['CodecContext']>;
type Packet = InstanceType<Av['lib']['Packet']>;
type Frame = InstanceType<Av['lib']['Frame']>;

export interface Picture {
  width: number;
  height: number;
  /** Y, then U, then V, rows without padding (I420). */
  i420: Uint8Array;
  pts: number;
}

export class H264Decoder {
  readonly track: MediaTrack;
  readonly #context: CodecContext;
  readonly #packet: Packet;
  readonly #frame: Frame;
  readonly #yuv420: number;
  #needKeyframe = true;
  #closed = false;
  /** Samples decoded but not shown because their references were missing or broken. */
  hidden = 0;

  constructor(av: Av, track: MediaTrack) {
    this.track = track;
    const { lib, constants } = av;
    const codec = lib.Codec.findDecoder(constants.AV_CODEC_ID_H264);
    if (!codec) throw new Error('this FFmpeg build has no H.264 decoder');
    this.#context = new lib.CodecContext();
    this.#context.allocContext3(codec);
    this.#context.extraData = Buffer.from(track.config);
    // One thread: frame threading would add a frame of delay per thread, and a 704x1280 baseline
    // frame decodes in about a millisecond.
    this.#context.threadCount = 1;
    check(this.#context.open2Sync(codec, null), 'opening the H.264 decoder');
    this.#packet = new lib.Packet();
    this.#packet.alloc();
    this.#frame = new lib.Frame();
    this.#frame.alloc();
    this.#yuv420 = constants.AV_PIX_FMT_YUV420P;
  }

  /**
   * Decode one sample. Returns its picture when it decoded cleanly and `into` should show it
   * (`wanted`), writing the pixels into `into` (sized by the caller from the track, reallocated
   * here if the stream's size differs); undefined otherwise.
   */
  decode(sample: MediaSample, wanted: boolean, into?: Uint8Array): Picture | undefined {
    if (this.#closed) return undefined;
    if (sample.keyframe) this.#needKeyframe = false;
    this.#packet.data = Buffer.from(sample.data.buffer, sample.data.byteOffset, sample.data.length);
    this.#packet.pts = BigInt(Math.round(sample.pts * 1e6));
    if (this.#context.sendPacketSync(this.#packet) < 0) {
      this.#needKeyframe = true;
      this.hidden++;
      return undefined;
    }
    let picture: Picture | undefined;
    while (this.#context.receiveFrameSync(this.#frame) >= 0) {
      const clean = this.#frame.decodeErrorFlags === 0 && this.#frame.format === this.#yuv420;
      if (!clean) this.#needKeyframe = true;
      if (clean && wanted && !this.#needKeyframe) picture = this.#copy(this.#frame, into);
      else this.hidden++;
      this.#frame.unref();
    }
    return picture;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#frame.free();
    this.#packet.free();
    this.#context.freeContext();
  }

  #copy(frame: Frame, into: Uint8Array | undefined): Picture {
    const { width, height } = frame;
    const chromaWidth = width >> 1;
    const chromaHeight = height >> 1;
    const size = width * height + 2 * chromaWidth * chromaHeight;
    const out = into && into.length === size ? into : new Uint8Array(size);
    const planes = frame.data!;
    const strides = frame.linesize;
    let at = 0;
    for (const [plane, w, h] of [
      [0, width, height],
      [1, chromaWidth, chromaHeight],
      [2, chromaWidth, chromaHeight],
    ] as const) {
      const data = planes[plane]!;
      const stride = strides[plane]!;
      for (let row = 0; row < h; row++) {
        out.set(data.subarray(row * stride, row * stride + w), at);
        at += w;
      }
    }
    return { width, height, i420: out, pts: Number(frame.pts) / 1e6 };
  }
}
