//go:build !linux

package analysis

// newWeights returns a zeroed weight matrix of n entries for a loaded model.
func newWeights(n int) []float32 { return make([]float32, n) }
