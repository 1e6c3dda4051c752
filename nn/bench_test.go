package nn

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// The layers of the reference network (48 px, gf = df = 64) at batch 64, forward then
// backward, as one training step runs them.
const benchN = 64

func BenchmarkConv2d(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for i, tc := range []struct{ ci, co, h int }{{3, 64, 48}, {64, 128, 24}, {128, 256, 12}, {256, 512, 6}} {
		b.Run(fmt.Sprintf("conv%d_%dto%d_%dpx", i, tc.ci, tc.co, tc.h), func(b *testing.B) {
			c := NewConv2d("c", tc.ci, tc.co, 5, 2, 2)
			c.Init(0.02, r)
			c.NoInputGrad = i == 0
			x := randSlice(r, tc.ci*benchN*tc.h*tc.h)
			gy := randSlice(r, tc.co*benchN*tc.h*tc.h/4)
			b.ReportAllocs()
			for b.Loop() {
				c.Forward(x, benchN, tc.h, tc.h)
				c.Backward(gy)
			}
		})
	}
}

func BenchmarkConvTranspose2d(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for i, tc := range []struct{ ci, co, h int }{{512, 256, 3}, {256, 128, 6}, {128, 64, 12}, {64, 3, 24}} {
		b.Run(fmt.Sprintf("deconv%d_%dto%d_%dpx", i+1, tc.ci, tc.co, tc.h), func(b *testing.B) {
			c := NewConvTranspose2d("d", tc.ci, tc.co, 5, 2, 2, 1)
			c.Init(0.02, r)
			x := randSlice(r, tc.ci*benchN*tc.h*tc.h)
			gy := randSlice(r, tc.co*benchN*tc.h*tc.h*4)
			b.ReportAllocs()
			for b.Loop() {
				c.Forward(x, benchN, tc.h, tc.h)
				c.Backward(gy)
			}
		})
	}
}

func BenchmarkLinear(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, tc := range []struct{ in, out int }{{100, 4608}, {4608, 1}} {
		b.Run(fmt.Sprintf("fc_%dto%d", tc.in, tc.out), func(b *testing.B) {
			l := NewLinear("fc", tc.in, tc.out)
			l.Init(0.02, r)
			x, gy := randSlice(r, benchN*tc.in), randSlice(r, benchN*tc.out)
			b.ReportAllocs()
			for b.Loop() {
				l.Forward(x, benchN)
				l.Backward(gy)
			}
		})
	}
}

func BenchmarkBatchNorm2d(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, tc := range []struct {
		name string
		c, h int
		act  Act
	}{
		{"D_bn1_lrelu", 128, 12, ActLeakyReLU}, {"D_bn2_lrelu", 256, 6, ActLeakyReLU}, {"D_bn3_lrelu", 512, 3, ActLeakyReLU},
		{"G_bn0_relu", 512, 3, ActReLU}, {"G_bn1_relu", 256, 6, ActReLU}, {"G_bn2_relu", 128, 12, ActReLU}, {"G_bn3_relu", 64, 24, ActReLU},
	} {
		b.Run(tc.name, func(b *testing.B) {
			bn := NewBatchNorm2d("bn", tc.c, tc.act)
			x, gy := randSlice(r, tc.c*benchN*tc.h*tc.h), randSlice(r, tc.c*benchN*tc.h*tc.h)
			b.ReportAllocs()
			for b.Loop() {
				bn.Forward(x, benchN, tc.h*tc.h, true)
				bn.Backward(gy)
			}
		})
	}
}

func BenchmarkActivations(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	b.Run("D_conv0_lrelu", func(b *testing.B) {
		a := &LeakyReLU{Slope: 0.2}
		x := randSlice(r, 64*benchN*24*24)
		b.ReportAllocs()
		for b.Loop() {
			a.Backward(a.Forward(x))
		}
	})
	b.Run("G_tanh", func(b *testing.B) {
		a := &Tanh{}
		x := randSlice(r, 3*benchN*48*48)
		b.ReportAllocs()
		for b.Loop() {
			a.Backward(a.Forward(x))
		}
	})
}
