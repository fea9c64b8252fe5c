// Deterministic math: the same bits from the native and the wasm build. Platform math libraries
// (glibc natively, musl in Emscripten's wasm) round pow() and exp2() differently in the last place,
// and a decayed score that differs in its last digit changes snapshots and their checksums. These
// functions use only IEEE-754 additions, multiplications, divisions and exact scaling, which every
// conforming platform rounds the same way (the core is compiled with -ffp-contract=off, so no
// fused multiply-add changes a rounding either).
#pragma once

namespace waymark {

/// 2^x, within about 2 ulp of the true value; 0 below -1022 (no subnormals), +inf from 1024, NaN
/// for NaN.
/// Decay by a half-life is Exp2(-elapsed / half_life).
double Exp2(double x);

}  // namespace waymark
