// Event and visitor ids. UUIDv7 (RFC 9562): 48 bits of milliseconds, then random bits, so ids
// sort by creation time (the collector's index stays append-mostly) and never collide across tabs.
const HEX = Array.from({ length: 256 }, (_, b) => (b < 16 ? '0' : '') + b.toString(16));
function hex(bytes) {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]];
  return out;
}

// Random bytes are drawn 4 KB at a time: one getRandomValues call per 256 ids, not per id.
const POOL = new Uint8Array(4096);
let poolUsed = POOL.length;
function randomBytes(n) {
  if (poolUsed + n > POOL.length) {
    const c = globalThis.crypto;
    if (c && c.getRandomValues) c.getRandomValues(POOL);
    else for (let i = 0; i < POOL.length; i++) POOL[i] = (Math.random() * 256) | 0; // very old browsers only
    poolUsed = 0;
  }
  const bytes = POOL.slice(poolUsed, poolUsed + n);
  poolUsed += n;
  return bytes;
}

/** A UUIDv7 string for the given time (ms since the epoch). */
export function uuidv7(now = Date.now()) {
  const bytes = randomBytes(16);
  let ms = Math.max(0, Math.floor(now));
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  bytes[6] = (bytes[6] & 0x0f) | 0x70; // version 7
  bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC variant
  const h = hex(bytes);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
