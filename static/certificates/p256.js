// P-256 ECDSA (verify only is used) from the vendored noble-curves building blocks,
// without nist.js, which would pull in FROST, OPRF and other curves we do not need.
// Curve constants as in noble-curves' nist.js (SEC 2 / FIPS 186-4).
import { sha256 } from "../vendor/noble-hashes/sha2.js";
import { ecdsa, weierstrass } from "../vendor/noble-curves/abstract/weierstrass.js";

const CURVE = {
  p: BigInt("0xffffffff00000001000000000000000000000000ffffffffffffffffffffffff"),
  n: BigInt("0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"),
  h: BigInt(1),
  a: BigInt("0xffffffff00000001000000000000000000000000fffffffffffffffffffffffc"),
  b: BigInt("0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b"),
  Gx: BigInt("0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"),
  Gy: BigInt("0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"),
};

export const p256 = ecdsa(weierstrass(CURVE), sha256);
