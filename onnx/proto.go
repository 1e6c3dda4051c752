package onnx

import (
	"encoding/binary"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// The subset of onnx.proto (ONNX 1.x) that a feed-forward float32 graph needs, encoded
// with protowire; the field numbers are onnx.proto's.

// Model is a ModelProto.
type Model struct {
	IRVersion       int64
	OpsetVersion    int64 // of the default domain ""
	ProducerName    string
	ProducerVersion string
	DocString       string
	Graph           Graph
	Metadata        [][2]string // metadata_props
}

// Graph is a GraphProto.
type Graph struct {
	Name         string
	Nodes        []Node
	Initializers []Tensor
	Inputs       []ValueInfo
	Outputs      []ValueInfo
	DocString    string
}

// Node is a NodeProto of the default domain.
type Node struct {
	OpType, Name string
	Inputs       []string
	Outputs      []string
	Attributes   []Attribute
	DocString    string
}

// Attribute is an AttributeProto holding a float, an int or a list of ints.
type Attribute struct {
	Name  string
	Type  int32 // attributeFloat, attributeInt or attributeInts
	F     float32
	I     int64
	Ints  []int64
	Bytes []byte
}

// Attribute types (AttributeProto.AttributeType).
const (
	attributeFloat  = 1
	attributeInt    = 2
	attributeString = 3
	attributeInts   = 7
)

// Tensor data types (TensorProto.DataType).
const (
	DataFloat = 1
	DataInt64 = 7
)

// Tensor is a TensorProto with its data in raw_data (little endian).
type Tensor struct {
	Name     string
	DataType int32
	Dims     []int64
	Raw      []byte
}

// ValueInfo is a ValueInfoProto of a tensor type; a Dim with Param set is symbolic.
type ValueInfo struct {
	Name     string
	ElemType int32
	Dims     []Dim
}

// Dim is a TensorShapeProto.Dimension: a fixed size or a named, dynamic one.
type Dim struct {
	Value int64
	Param string
}

// FloatTensor returns a float32 initializer.
func FloatTensor(name string, dims []int, data []float32) Tensor {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return Tensor{Name: name, DataType: DataFloat, Dims: int64s(dims), Raw: raw}
}

// Int64Tensor returns an int64 initializer (shapes for Reshape).
func Int64Tensor(name string, dims []int, data []int64) Tensor {
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	return Tensor{Name: name, DataType: DataInt64, Dims: int64s(dims), Raw: raw}
}

func int64s(xs []int) []int64 {
	out := make([]int64, len(xs))
	for i, x := range xs {
		out[i] = int64(x)
	}
	return out
}

// Marshal encodes the model in the protobuf wire format.
func (m *Model) Marshal() []byte {
	var b []byte
	b = appendInt(b, 1, m.IRVersion)
	b = appendString(b, 2, m.ProducerName)
	b = appendString(b, 3, m.ProducerVersion)
	b = appendString(b, 6, m.DocString)
	b = appendMessage(b, 7, m.Graph.marshal())
	var op []byte
	op = protowire.AppendTag(op, 1, protowire.BytesType) // domain "" (the default ONNX domain)
	op = protowire.AppendString(op, "")
	op = appendInt(op, 2, m.OpsetVersion)
	b = appendMessage(b, 8, op)
	for _, kv := range m.Metadata {
		var e []byte
		e = appendString(e, 1, kv[0])
		e = appendString(e, 2, kv[1])
		b = appendMessage(b, 14, e)
	}
	return b
}

func (g *Graph) marshal() []byte {
	var b []byte
	for i := range g.Nodes {
		b = appendMessage(b, 1, g.Nodes[i].marshal())
	}
	b = appendString(b, 2, g.Name)
	for i := range g.Initializers {
		b = appendMessage(b, 5, g.Initializers[i].marshal())
	}
	b = appendString(b, 10, g.DocString)
	for i := range g.Inputs {
		b = appendMessage(b, 11, g.Inputs[i].marshal())
	}
	for i := range g.Outputs {
		b = appendMessage(b, 12, g.Outputs[i].marshal())
	}
	return b
}

func (n *Node) marshal() []byte {
	var b []byte
	for _, s := range n.Inputs {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	for _, s := range n.Outputs {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	b = appendString(b, 3, n.Name)
	b = appendString(b, 4, n.OpType)
	for i := range n.Attributes {
		b = appendMessage(b, 5, n.Attributes[i].marshal())
	}
	b = appendString(b, 6, n.DocString)
	return b
}

func (a *Attribute) marshal() []byte {
	var b []byte
	b = appendString(b, 1, a.Name)
	switch a.Type {
	case attributeFloat:
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.F))
	case attributeInt:
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(a.I))
	case attributeString:
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendBytes(b, a.Bytes)
	case attributeInts:
		// repeated int64 ints = 8, packed (proto3 semantics; parsers accept both).
		var p []byte
		for _, v := range a.Ints {
			p = protowire.AppendVarint(p, uint64(v))
		}
		b = protowire.AppendTag(b, 8, protowire.BytesType)
		b = protowire.AppendBytes(b, p)
	}
	b = protowire.AppendTag(b, 20, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(a.Type))
	return b
}

func (t *Tensor) marshal() []byte {
	var b []byte
	if len(t.Dims) > 0 {
		var p []byte
		for _, d := range t.Dims {
			p = protowire.AppendVarint(p, uint64(d))
		}
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, p)
	}
	b = appendInt(b, 2, int64(t.DataType))
	b = appendString(b, 8, t.Name)
	b = protowire.AppendTag(b, 9, protowire.BytesType)
	b = protowire.AppendBytes(b, t.Raw)
	return b
}

func (v *ValueInfo) marshal() []byte {
	var shape []byte
	for _, d := range v.Dims {
		var dim []byte
		if d.Param != "" {
			dim = appendString(dim, 2, d.Param)
		} else {
			dim = protowire.AppendTag(dim, 1, protowire.VarintType)
			dim = protowire.AppendVarint(dim, uint64(d.Value))
		}
		shape = appendMessage(shape, 1, dim)
	}
	var tt []byte
	tt = appendInt(tt, 1, int64(v.ElemType))
	tt = protowire.AppendTag(tt, 2, protowire.BytesType) // an empty shape still means "rank 0"
	tt = protowire.AppendBytes(tt, shape)
	var typ []byte
	typ = appendMessage(typ, 1, tt)
	var b []byte
	b = appendString(b, 1, v.Name)
	b = appendMessage(b, 2, typ)
	return b
}

// appendInt appends a varint field, omitting zero (proto3's default).
func appendInt(b []byte, num protowire.Number, v int64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

// appendString appends a string field, omitting the empty string.
func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendMessage(b []byte, num protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}
