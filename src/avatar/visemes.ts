/**
 * The mouth vocabulary shared by lip-sync analysis and the renderer: a jaw opening plus one of six
 * mouth shapes. Six shapes is the usual minimum for a 2D face (Preston Blair / Rhubarb use 6-9);
 * finer sets (Oculus 15) need phoneme recognition that a CPU heuristic cannot deliver reliably.
 */

/**
 * Mouth shapes, in a fixed order (the index is stable and may be stored).
 * - `rest`: silence, relaxed closed mouth
 * - `closed`: bilabial closure (p b m), lips pressed
 * - `open`: open vowels (a as in "father")
 * - `spread`: front vowels (e, i), lips spread
 * - `rounded`: back rounded vowels (o, u), lips rounded
 * - `teeth_lip`: fricatives (f v; also s, sh, th, which show the teeth too)
 */
export const VISEMES = ['rest', 'closed', 'open', 'spread', 'rounded', 'teeth_lip'] as const;

export type Viseme = (typeof VISEMES)[number];

export interface MouthState {
  /** Jaw opening, 0 (closed) to 1 (wide open). */
  open: number;
  viseme: Viseme;
}

/** The mouth in silence and before any audio. */
export const CLOSED_MOUTH: MouthState = Object.freeze({ open: 0, viseme: 'rest' });
