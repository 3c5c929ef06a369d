/** A 3×5 pixel font: digits, capitals and a little punctuation, each row a string of 3 cells. */
const GLYPHS: Record<string, string> = {
  "0": "111101101101111",
  "1": "010110010010111",
  "2": "111001111100111",
  "3": "111001111001111",
  "4": "101101111001001",
  "5": "111100111001111",
  "6": "111100111101111",
  "7": "111001010010010",
  "8": "111101111101111",
  "9": "111101111001111",
  A: "010101111101101",
  B: "110101110101110",
  C: "011100100100011",
  D: "110101101101110",
  E: "111100110100111",
  F: "111100110100100",
  G: "011100101101011",
  H: "101101111101101",
  I: "111010010010111",
  J: "001001001101010",
  K: "101101110101101",
  L: "100100100100111",
  M: "101111111101101",
  N: "110101101101101",
  O: "010101101101010",
  P: "110101110100100",
  Q: "010101101110011",
  R: "110101110101101",
  S: "011100010001110",
  T: "111010010010010",
  U: "101101101101111",
  V: "101101101101010",
  W: "101101111111101",
  X: "101101010101101",
  Y: "101101010010010",
  Z: "111001010100111",
  " ": "000000000000000",
  ".": "000000000000010",
  ",": "000000000010100",
  ":": "000010000010000",
  "-": "000000111000000",
  "+": "000010111010000",
  "/": "001001010100100",
  "%": "101001010100101",
  "(": "010100100100010",
  ")": "010001001001010",
  "=": "000111000111000",
  "<": "001010100010001",
  ">": "100010001010100",
};

export type Rgb = readonly [number, number, number];

export interface Canvas {
  width: number;
  height: number;
  data: Uint8Array | Buffer;
}

export function setPixel(c: Canvas, x: number, y: number, color: Rgb, alpha = 1): void {
  const xi = Math.round(x);
  const yi = Math.round(y);
  if (xi < 0 || yi < 0 || xi >= c.width || yi >= c.height) return;
  const i = (yi * c.width + xi) * 4;
  for (let k = 0; k < 3; k++) c.data[i + k] = Math.round((c.data[i + k] as number) * (1 - alpha) + (color[k] as number) * alpha);
  c.data[i + 3] = 255;
}

export function fillRect(c: Canvas, x: number, y: number, w: number, h: number, color: Rgb, alpha = 1): void {
  for (let yy = Math.round(y); yy < Math.round(y + h); yy++)
    for (let xx = Math.round(x); xx < Math.round(x + w); xx++) setPixel(c, xx, yy, color, alpha);
}

/** Width in pixels of `text` at `scale`. */
export function textWidth(text: string, scale: number): number {
  return text.length * 4 * scale - scale;
}

/** Draws `text` (upper-cased; unknown characters as blanks) with its top-left corner at (x, y). */
export function drawText(c: Canvas, text: string, x: number, y: number, color: Rgb, scale = 2): void {
  let cx = x;
  for (const ch of text.toUpperCase()) {
    const glyph = GLYPHS[ch] ?? GLYPHS[" "] ?? "";
    for (let row = 0; row < 5; row++) {
      for (let col = 0; col < 3; col++) {
        if (glyph[row * 3 + col] === "1") fillRect(c, cx + col * scale, y + row * scale, scale, scale, color);
      }
    }
    cx += 4 * scale;
  }
}
