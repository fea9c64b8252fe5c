// Personal data that must not leave the device by accident: e-mail addresses and phone numbers in
// URLs (a form that submits with GET puts them there) and in property values. Redaction happens
// before an event reaches the engine, so nothing stored or sent holds them.
const EMAIL = /[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
// A phone number: optional +, 9 to 15 digits with the usual separators. Long runs of digits with no
// separators inside ids (UUIDs, timestamps) are left alone by requiring a leading + or a separator.
const PHONE = /(?:\+|%2B)\d[\d\s().-]{7,18}\d|\(?\d{2,4}\)?[\s.-]\d{2,4}[\s.-]\d{2,4}(?:[\s.-]\d{2,4})?/g;

export const REDACTED_EMAIL = '[email]';
export const REDACTED_PHONE = '[phone]';

/** The string with e-mail addresses and phone numbers replaced by placeholders. */
export function redactString(text) {
  if (typeof text !== 'string' || text.length < 7) return text;
  return text.replace(EMAIL, REDACTED_EMAIL).replace(PHONE, (m) => {
    const digits = m.replace(/\D/g, '').length;
    return digits >= 9 && digits <= 15 ? REDACTED_PHONE : m;
  });
}

/** A deep copy of a JSON-like value with every string (and object key) redacted. */
export function redactValue(value, depth = 0) {
  if (typeof value === 'string') return redactString(value);
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (Array.isArray(value)) return value.map((v) => redactValue(v, depth + 1));
  const out = {};
  for (const key of Object.keys(value)) out[redactString(key)] = redactValue(value[key], depth + 1);
  return out;
}
