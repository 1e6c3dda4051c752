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
// Buffers. Every layer owns its output, input-gradient and im2col buffers; they are
// allocated the first time a batch size is seen and re-sliced afterwards, so a steady
// training step allocates almost nothing. A layer's output is therefore only valid until
// that layer's next Forward.
package nn
