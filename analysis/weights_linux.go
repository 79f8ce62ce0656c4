//go:build linux

package analysis

import (
	"syscall"
	"unsafe"
)

// hugePage is the size of a transparent huge page on linux/amd64 and arm64.
const hugePage = 2 << 20

// newWeights returns a zeroed weight matrix of n entries for a loaded model.
// Prediction reads one row of it per feature, thousands of rows spread over
// megabytes, so with 4 KiB pages nearly every read also misses the TLB. A
// large matrix is placed on a 2 MiB boundary inside an ordinary Go
// allocation (the collector keeps it alive as long as any slice of it is)
// and advised as huge pages, which the kernel grants where transparent huge
// pages are enabled ("always" or "madvise"); the advice is only that.
func newWeights(n int) []float32 {
	if n*4 < hugePage {
		return make([]float32, n)
	}
	buf := make([]float32, n+hugePage/4)
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	off := int((hugePage - addr%hugePage) % hugePage / 4)
	w := buf[off : off+n : off+n]
	if span := n * 4 / hugePage * hugePage; span > 0 {
		_ = syscall.Madvise(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(w))), span), 14) // MADV_HUGEPAGE
	}
	return w
}
