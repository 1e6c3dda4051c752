// Package onnx writes avatargan's generator as an ONNX model, so it runs in
// onnxruntime (browsers via onnxruntime-web, phones, servers) and other ONNX runtimes.
//
// The graph is the generator in inference mode: input "z" float32 [batch, ZDim] (batch
// a dynamic dimension), output "image" float32 [batch, 3, Size, Size] in [-1, 1]
// (pixels are (x+1)*127.5, rounded and clamped, as avatargan renders them). BatchNorm
// is BatchNormalization in inference mode with the generator's running statistics.
// Only standard operators of opset 13 (Gemm, Reshape, BatchNormalization, Relu,
// ConvTranspose, Tanh, and Conv and Add for a refinement head) are used, with float32 weights as initializers.
//
// The protobuf is encoded with protowire (field numbers from onnx.proto): a small,
// fixed schema that does not justify generated code or a cgo binding.
package onnx

import (
	"fmt"
	"io"

	"avatargan/dcgan"
	"avatargan/nn"
)

// Opset is the ONNX operator set version of the exported graph.
const Opset = 13

// IRVersion is the ONNX IR version that goes with Opset 13.
const IRVersion = 7

// Input and Output name the graph's input and output tensors.
const (
	Input  = "z"
	Output = "image"
)

// Generator returns the ONNX model of g in inference mode. meta is stored in the
// model's metadata_props (e.g. the latent distribution, so a caller knows how to draw z).
func Generator(g *dcgan.Generator, producerVersion string, meta [][2]string) (*Model, error) {
	ts := map[string]nn.NamedTensor{}
	for _, t := range g.Tensors() {
		if t.Count == nil {
			ts[t.Name] = t
		}
	}
	gr := Graph{Name: "avatargan_generator"}
	init := func(name string) (string, error) {
		t, ok := ts[name]
		if !ok {
			return "", fmt.Errorf("onnx: generator has no tensor %q", name)
		}
		gr.Initializers = append(gr.Initializers, FloatTensor(name, t.Shape, t.Data))
		return name, nil
	}
	var err error
	add := func(op, name string, inputs []string, attrs ...Attribute) string {
		out := name + "_out"
		gr.Nodes = append(gr.Nodes, Node{OpType: op, Name: name, Inputs: inputs, Outputs: []string{out}, Attributes: attrs})
		return out
	}
	weights := func(names ...string) []string {
		out := make([]string, len(names))
		for i, n := range names {
			if err == nil {
				out[i], err = init(n)
			}
		}
		return out
	}
	bn := func(x, name string) string {
		in := append([]string{x}, weights(name+".weight", name+".bias", name+".running_mean", name+".running_var")...)
		y := add("BatchNormalization", name, in, Attribute{Name: "epsilon", Type: attributeFloat, F: 1e-5})
		return add("Relu", name+"_relu", []string{y})
	}
	s, c0 := g.Size/16, 8*g.GF
	h := add("Gemm", "fc", append([]string{Input}, weights("fc.weight", "fc.bias")...),
		Attribute{Name: "transB", Type: attributeInt, I: 1})
	gr.Initializers = append(gr.Initializers, Int64Tensor("fc_view_shape", []int{4}, []int64{-1, int64(c0), int64(s), int64(s)}))
	h = add("Reshape", "fc_view", []string{h, "fc_view_shape"})
	h = bn(h, "bn0")
	deconv := func(x, name string) string {
		return add("ConvTranspose", name, append([]string{x}, weights(name+".weight", name+".bias")...),
			Attribute{Name: "kernel_shape", Type: attributeInts, Ints: []int64{5, 5}},
			Attribute{Name: "strides", Type: attributeInts, Ints: []int64{2, 2}},
			Attribute{Name: "pads", Type: attributeInts, Ints: []int64{2, 2, 2, 2}},
			Attribute{Name: "output_padding", Type: attributeInts, Ints: []int64{1, 1}})
	}
	for i := 1; i <= 3; i++ {
		h = bn(deconv(h, fmt.Sprintf("deconv%d", i)), fmt.Sprintf("bn%d", i))
	}
	out := deconv(h, "deconv4")
	if g.Refine > 0 {
		// The refinement head reads bn3's output too; its RGB is added before tanh.
		r := bn(deconv(h, "refine_deconv"), "refine_bn")
		r = add("Conv", "refine_conv", append([]string{r}, weights("refine_conv.weight", "refine_conv.bias")...),
			Attribute{Name: "kernel_shape", Type: attributeInts, Ints: []int64{3, 3}},
			Attribute{Name: "strides", Type: attributeInts, Ints: []int64{1, 1}},
			Attribute{Name: "pads", Type: attributeInts, Ints: []int64{1, 1, 1, 1}})
		out = add("Add", "refine_add", []string{out, r})
	}
	h = out
	if err != nil {
		return nil, err
	}
	gr.Nodes = append(gr.Nodes, Node{OpType: "Tanh", Name: "tanh", Inputs: []string{h}, Outputs: []string{Output}})
	gr.Inputs = []ValueInfo{{Name: Input, ElemType: DataFloat, Dims: []Dim{{Param: "batch"}, {Value: int64(g.ZDim)}}}}
	gr.Outputs = []ValueInfo{{Name: Output, ElemType: DataFloat, Dims: []Dim{{Param: "batch"}, {Value: 3}, {Value: int64(g.Size)}, {Value: int64(g.Size)}}}}
	gr.DocString = fmt.Sprintf("avatargan generator: z [batch, %d] -> image [batch, 3, %d, %d] in [-1, 1]", g.ZDim, g.Size, g.Size)
	return &Model{IRVersion: IRVersion, OpsetVersion: Opset, ProducerName: "avatargan", ProducerVersion: producerVersion,
		Graph: gr, Metadata: meta}, nil
}

// Write encodes the model to w.
func (m *Model) Write(w io.Writer) error {
	_, err := w.Write(m.Marshal())
	return err
}
