// Exp2 (waymark/det_math.h): 2^x = 2^k * 2^(j/64) * e^(r ln 2), with k and j integers and
// 0 <= r < 1/64: the integer power is exact scaling, 2^(j/64) comes from a table of correctly
// rounded constants, and e^y for 0 <= y < 0.0109 from its Taylor series to degree 7 (truncation
// error below 4e-18). Every step is a basic IEEE operation in a fixed order; the result is within
// about 2 ulp of 2^x (measured against a high-precision reference).
#include "waymark/det_math.h"

#include <cmath>
#include <limits>

namespace waymark {

namespace {

// 2^(j/64) for j = 0..63, correctly rounded (computed to 60 digits, written as exact hex).
constexpr double kExp2Table[64] = {
    0x1.0000000000000p+0, 0x1.02c9a3e778061p+0, 0x1.059b0d3158574p+0, 0x1.0874518759bc8p+0,
    0x1.0b5586cf9890fp+0, 0x1.0e3ec32d3d1a2p+0, 0x1.11301d0125b51p+0, 0x1.1429aaea92de0p+0,
    0x1.172b83c7d517bp+0, 0x1.1a35beb6fcb75p+0, 0x1.1d4873168b9aap+0, 0x1.2063b88628cd6p+0,
    0x1.2387a6e756238p+0, 0x1.26b4565e27cddp+0, 0x1.29e9df51fdee1p+0, 0x1.2d285a6e4030bp+0,
    0x1.306fe0a31b715p+0, 0x1.33c08b26416ffp+0, 0x1.371a7373aa9cbp+0, 0x1.3a7db34e59ff7p+0,
    0x1.3dea64c123422p+0, 0x1.4160a21f72e2ap+0, 0x1.44e086061892dp+0, 0x1.486a2b5c13cd0p+0,
    0x1.4bfdad5362a27p+0, 0x1.4f9b2769d2ca7p+0, 0x1.5342b569d4f82p+0, 0x1.56f4736b527dap+0,
    0x1.5ab07dd485429p+0, 0x1.5e76f15ad2148p+0, 0x1.6247eb03a5585p+0, 0x1.6623882552225p+0,
    0x1.6a09e667f3bcdp+0, 0x1.6dfb23c651a2fp+0, 0x1.71f75e8ec5f74p+0, 0x1.75feb564267c9p+0,
    0x1.7a11473eb0187p+0, 0x1.7e2f336cf4e62p+0, 0x1.82589994cce13p+0, 0x1.868d99b4492edp+0,
    0x1.8ace5422aa0dbp+0, 0x1.8f1ae99157736p+0, 0x1.93737b0cdc5e5p+0, 0x1.97d829fde4e50p+0,
    0x1.9c49182a3f090p+0, 0x1.a0c667b5de565p+0, 0x1.a5503b23e255dp+0, 0x1.a9e6b5579fdbfp+0,
    0x1.ae89f995ad3adp+0, 0x1.b33a2b84f15fbp+0, 0x1.b7f76f2fb5e47p+0, 0x1.bcc1e904bc1d2p+0,
    0x1.c199bdd85529cp+0, 0x1.c67f12e57d14bp+0, 0x1.cb720dcef9069p+0, 0x1.d072d4a07897cp+0,
    0x1.d5818dcfba487p+0, 0x1.da9e603db3285p+0, 0x1.dfc97337b9b5fp+0, 0x1.e502ee78b3ff6p+0,
    0x1.ea4afa2a490dap+0, 0x1.efa1bee615a27p+0, 0x1.f50765b6e4540p+0, 0x1.fa7c1819e90d8p+0,
};

constexpr double kLn2 = 0x1.62e42fefa39efp-1;

}  // namespace

double Exp2(double x) {
  if (x != x) return x;  // NaN
  if (x >= 1024) return std::numeric_limits<double>::infinity();
  if (x < -1022) return 0.0;
  const double k = std::floor(x);
  const double f = x - k;  // 0 <= f <= 1: for x just below an integer it rounds up to 1
  if (f >= 1) return std::ldexp(1.0, static_cast<int>(k) + 1);
  const double j = std::floor(f * 64);  // exact scaling by a power of two
  const double y = (f - j / 64) * kLn2;
  const double e =
      1.0 +
      y * (1.0 + y * (1.0 / 2 + y * (1.0 / 6 + y * (1.0 / 24 + y * (1.0 / 120 +
                                                                    y * (1.0 / 720 + y / 5040))))));
  return std::ldexp(kExp2Table[static_cast<int>(j)] * e, static_cast<int>(k));
}

}  // namespace waymark
