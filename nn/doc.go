// Package nn holds avatargan's tensors and layers: Linear, Conv2d, ConvTranspose2d,
// BatchNorm2d, activations, BCE-with-logits and Adam, each with an explicit Forward and
// Backward (in the style of llm.c: no autograd, every gradient written out by hand) and
// PyTorch semantics, parameter names and parameter layouts.
//
// Activation layout. Tensors are NCHW at the model boundary, but between layers the
// activations are kept channel-major, "CNHW" ([C][N][H][W]): a whole batch then becomes
// one GEMM per convolution with M = channels, and BatchNorm's per-channel data is
// contiguous. Use NCHWToCNHW and CNHWToNCHW at the boundaries.
//
// Gradients. Backward accumulates into Param.Grad (as PyTorch's .backward does), so a
// caller zeroes grads with ZeroGrads before a step; each layer's NoParamGrad and
// NoInputGrad flags skip work that a particular pass does not need.
//
// Convolution paths. A convolution is an im2col GEMM; with padding and a long enough
// reduction it takes the tap-split layout (tapsplit.go), which skips the taps on the
// padding, and a stride-1 convolution with few outputs (the refinement head's 3x3
// convolution to RGB) takes the tap-sum path (tapsum.go), which multiplies first and
// shifts the products after. The paths agree to rounding.
//
// Build flags. Products in pure-Go loops that must give the same bits everywhere (a
// seed's avatar) are rounded before they are added, float32(x*y) + z: Go fuses x*y+z
// into an FMA on some targets (GOAMD64=v3, arm64), which would change those bits.
//
// Buffers. Every layer owns its output, input-gradient and im2col buffers; they are
// allocated the first time a batch size is seen and re-sliced afterwards, so a steady
// training step allocates almost nothing. A layer's output is therefore only valid until
// that layer's next Forward.
package nn
