// Errors cross the wasm boundary as data ({ok: false, error: {code, message}}); the JS layer
// turns them into WaymarkError so callers can branch on `code`.
export class WaymarkError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'WaymarkError';
    this.code = code;
  }
}

/** Unwraps a `{ok, value}` / `{ok, error}` JSON string from the wasm module. */
export function unwrap(text) {
  let result;
  try {
    result = JSON.parse(text);
  } catch {
    throw new WaymarkError('internal', 'the engine returned malformed output');
  }
  if (!result || result.ok !== true) {
    const error = (result && result.error) || {};
    throw new WaymarkError(error.code || 'internal', error.message || 'unknown engine error');
  }
  return result.value;
}
