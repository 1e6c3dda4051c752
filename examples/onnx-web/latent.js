// The latent vector of an avatar seed, exactly as avatargan draws it (dcgan.Latent: Go's
// math/rand/v2 PCG seeded with (seed, 0x9e3779b97f4a7c15), DXSM output, Float64 from the
// top 53 bits), so seed S here is the avatar of `avatargan generate --seed S --face-check 0`.
// Uniform latents only (the default; U(-1, 1)).
const M64 = (1n << 64n) - 1n;
const M128 = (1n << 128n) - 1n;
const MUL = (2549297995355413924n << 64n) | 4865540595714422341n;
const INC = (6364136223846793005n << 64n) | 1442695040888963407n;

function latent(seed, zdim) {
  let state = ((BigInt(seed) & M64) << 64n) | 0x9e3779b97f4a7c15n;
  const z = new Float32Array(zdim);
  for (let i = 0; i < zdim; i++) {
    state = (state * MUL + INC) & M128;
    let hi = state >> 64n;
    const lo = state & M64;
    hi ^= hi >> 32n;
    hi = (hi * 0xda942042e4dd58b5n) & M64;
    hi ^= hi >> 48n;
    hi = (hi * (lo | 1n)) & M64;
    const f = Number(hi & ((1n << 53n) - 1n)) / 2 ** 53;
    z[i] = 2 * f - 1;
  }
  return z;
}

if (typeof module !== 'undefined') module.exports = { latent };
