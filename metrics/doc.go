// Package metrics measures how close generated images are to the training images.
//
// SWD is the sliced Wasserstein distance of Karras et al. 2018 ("Progressive growing of
// GANs", metrics/sliced_wasserstein.py): 7x7x3 patches are sampled from every level of each
// image's Laplacian pyramid (levels >= 16 px), each set of patch descriptors is normalised
// per colour channel, and the distance between the two sets is the mean, over random unit
// directions, of the 1-D Wasserstein-1 distance between the sets' projections. Values are
// reported x1e3 per level and averaged, as in the paper's tables.
//
// Deliberate differences from the original, all chosen so that results are reproducible
// and depend only on the sets (not on image order, batch size or thread count):
//   - patch positions of an image are drawn from a PCG seeded by the image's content hash,
//     the level and Options.Seed (the original uses np.random per minibatch), so reordering
//     either set leaves the result bit-for-bit unchanged, and SWD(x, x) is exactly 0;
//   - directions come from a PCG seeded by Options.Seed and the level;
//   - descriptor components are in (row, column, channel) order rather than (channel, row,
//     column); directions are isotropic Gaussians, so this permutation changes nothing in
//     distribution;
//   - sets of different sizes are allowed (the exact 1-D W1 between the two empirical
//     distributions is used; for equal sizes it is the original mean |sorted a - sorted b|).
//
// A real-vs-real floor (Floor) gives the value to compare a generator's SWD against, and
// NearestReal checks that generated images are not copies of training images.
package metrics
