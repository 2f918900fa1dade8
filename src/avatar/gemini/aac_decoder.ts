/**
 * The avatar's speech: AAC-LC samples from the MP4 -> 16-bit mono PCM at the agent's output rate,
 * with FFmpeg's AAC decoder and libswresample (through node-av). Synchronous: one AAC frame (1024
 * samples, 43 ms at 24 kHz) decodes in a few microseconds, and a result in the same tick keeps the
 * audio in order with the rest of the Gemini message it came in.
 */
import { type Av, checkAv as check } from './av.ts';
import type { MediaSample, MediaTrack } from './fmp4_demuxer.ts';

type CodecContext = InstanceType<Av['lib']['CodecContext']>;
type Packet = InstanceType<Av['lib']['Packet']>;
type Frame = InstanceType<Av['lib']['Frame']>;
type Resampler = InstanceType<Av['lib']['SoftwareResampleContext']>;

export interface DecodedAudio {
  samples: Int16Array;
  /** Presentation time of the first sample, seconds on the stream's timeline. */
  pts: number;
}

export class AacDecoder {
  readonly outputRate: number;
  readonly track: MediaTrack;
  readonly #av: Av;
  readonly #context: CodecContext;
  readonly #packet: Packet;
  readonly #frame: Frame;
  #resampler?: Resampler;
  #resamplerKey = '';
  #closed = false;

  constructor(av: Av, track: MediaTrack, outputRate: number) {
    this.#av = av;
    this.track = track;
    this.outputRate = outputRate;
    const { lib, constants } = av;
    const codec = lib.Codec.findDecoder(constants.AV_CODEC_ID_AAC);
    if (!codec) throw new Error('this FFmpeg build has no AAC decoder');
    this.#context = new lib.CodecContext();
    this.#context.allocContext3(codec);
    this.#context.extraData = Buffer.from(track.config);
    check(this.#context.open2Sync(codec, null), 'opening the AAC decoder');
    this.#packet = new lib.Packet();
    this.#packet.alloc();
    this.#frame = new lib.Frame();
    this.#frame.alloc();
  }

  /** Decode one AAC sample; throws on data the decoder refuses. */
  decode(sample: MediaSample): DecodedAudio[] {
    if (this.#closed) return [];
    this.#packet.data = Buffer.from(sample.data.buffer, sample.data.byteOffset, sample.data.length);
    check(this.#context.sendPacketSync(this.#packet), 'decoding AAC');
    const out: DecodedAudio[] = [];
    let pts = sample.pts;
    while (this.#context.receiveFrameSync(this.#frame) >= 0) {
      const samples = this.#convert(this.#frame);
      this.#frame.unref();
      if (samples.length === 0) continue;
      out.push({ samples, pts });
      pts += samples.length / this.outputRate;
    }
    return out;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#resampler?.free();
    this.#frame.free();
    this.#packet.free();
    this.#context.freeContext();
  }

  /** Any rate, layout and sample format -> mono s16 at the output rate. */
  #convert(frame: Frame): Int16Array {
    const { lib, constants } = this.#av;
    const inLayout = frame.channelLayout;
    const key = `${frame.format}/${frame.sampleRate}/${inLayout.nbChannels}/${inLayout.mask}`;
    if (key !== this.#resamplerKey) {
      this.#resampler?.free();
      const resampler = new lib.SoftwareResampleContext();
      const mono = { nbChannels: 1, order: constants.AV_CHANNEL_ORDER_NATIVE, mask: 4n };
      check(
        resampler.allocSetOpts2(
          mono,
          constants.AV_SAMPLE_FMT_S16,
          this.outputRate,
          inLayout,
          frame.format as typeof constants.AV_SAMPLE_FMT_FLTP,
          frame.sampleRate,
        ),
        'configuring the audio resampler',
      );
      check(resampler.init(), 'starting the audio resampler');
      this.#resampler = resampler;
      this.#resamplerKey = key;
    }
    const capacity = Math.ceil((frame.nbSamples * this.outputRate) / frame.sampleRate) + 64;
    const output = Buffer.alloc(capacity * 2);
    const planes = frame.data ?? [];
    const count = this.#resampler!.convertSync([output], capacity, planes, frame.nbSamples);
    check(count, 'resampling AAC audio');
    return new Int16Array(output.buffer, output.byteOffset, count);
  }
}
