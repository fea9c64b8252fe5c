// Personal data that must not leave the device by accident: e-mail addresses and phone numbers in
// URLs (a form that submits with GET puts them there) and in property values. Redaction happens
// before an event reaches the engine, so nothing stored or sent holds them.
//
// Every step is linear in the input: pages pass anything to track(), a megabyte string included.
// E-mail addresses are found by a scan from each "@" (or "%40") outward, over at most 64
// characters of local part (RFC 5321's limit) and 253 of domain, instead of a regular expression
// whose unbounded local part backtracked quadratically (100 KB froze the page for 15 s).
// A phone number: optional +, 9 to 15 digits with the usual separators. Long runs of digits with no
// separators inside ids (UUIDs, timestamps) are left alone by requiring a leading + or a separator.
// Its quantifiers are bounded, so each start position costs a few steps at most.
const PHONE = /(?:\+|%2B)\d[\d\s().-]{7,18}\d|\(?\d{2,4}\)?[\s.-]\d{2,4}[\s.-]\d{2,4}(?:[\s.-]\d{2,4})?/g;
const MAX_LOCAL = 64;
const MAX_DOMAIN = 253;

export const REDACTED_EMAIL = '[email]';
export const REDACTED_PHONE = '[phone]';

// [A-Za-z0-9._%+-]
function isLocalChar(c) {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 46 || c === 95 || c === 37 || c === 43 || c === 45;
}
// [A-Za-z0-9.-]
function isDomainChar(c) {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 46 || c === 45;
}
function isLetter(c) {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

// Where an address whose domain starts at `from` ends (exclusive), or -1: the domain is a run of
// domain characters holding a "." followed by at least two letters; the address ends after the
// letters that follow the last such ".".
function domainEnd(text, from) {
  let end = from;
  while (end < text.length && end - from < MAX_DOMAIN && isDomainChar(text.charCodeAt(end))) end++;
  for (let dot = end - 3; dot > from; dot--) {
    if (text.charCodeAt(dot) !== 46 || !isLetter(text.charCodeAt(dot + 1)) || !isLetter(text.charCodeAt(dot + 2))) continue;
    let stop = dot + 3;
    while (stop < end && isLetter(text.charCodeAt(stop))) stop++;
    return stop;
  }
  return -1;
}

function indexAfter(text, needle, from) {
  const i = text.indexOf(needle, from);
  return i < 0 ? Infinity : i;
}

function redactEmails(text) {
  let out = '';
  let copied = 0; // text before this is in `out` already
  let from = 0;
  // The next "@" and "%40" at or after `from`, each searched again only once passed: a search per
  // candidate would scan to the end of the text every time (quadratic on "a@a@a@...").
  let at = -1;
  let pct = -1;
  for (;;) {
    if (at < from) at = indexAfter(text, '@', from);
    if (pct < from) pct = indexAfter(text, '%40', from);
    if (at === Infinity && pct === Infinity) break;
    const sep = at < pct ? at : pct;
    const sepLength = sep === at ? 1 : 3;
    let start = sep;
    while (start > copied && sep - start < MAX_LOCAL && isLocalChar(text.charCodeAt(start - 1))) start--;
    const end = start < sep ? domainEnd(text, sep + sepLength) : -1;
    if (end < 0) {
      from = sep + 1;
      continue;
    }
    out += text.slice(copied, start) + REDACTED_EMAIL;
    copied = from = end;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/** The string with e-mail addresses and phone numbers replaced by placeholders. */
export function redactString(text) {
  if (typeof text !== 'string' || text.length < 7) return text;
  return redactEmails(text).replace(PHONE, (m) => {
    const digits = m.replace(/\D/g, '').length;
    return digits >= 9 && digits <= 15 ? REDACTED_PHONE : m;
  });
}
