//go:build linux

package analysis

import (
	"runtime"
	"syscall"
	"unsafe"
)

// hugePage is the size of a transparent huge page on linux/amd64 and arm64.
const hugePage = 2 << 20

// newWeights returns a zeroed weight matrix of n entries for a loaded model.
// Prediction reads one row of it per feature, thousands of rows spread over
// megabytes, so nearly every read misses the TLB with 4 KiB pages. Large
// matrices are mapped apart from the Go heap on 2 MiB boundaries and
// advised as huge pages, which the kernel grants where transparent huge
// pages are enabled ("always" or "madvise"). The mapping is released when
// owner is collected; the slice must not outlive it. Anywhere this fails,
// the matrix is an ordinary slice.
func newWeights(owner *Model, n int) []float32 {
	size := n * 4
	if size < hugePage {
		return make([]float32, n)
	}
	span := (size + hugePage - 1) / hugePage * hugePage
	mem, err := syscall.Mmap(-1, 0, span+hugePage, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return make([]float32, n)
	}
	off := (hugePage - int(uintptr(unsafe.Pointer(unsafe.SliceData(mem)))%hugePage)) % hugePage
	region := mem[off : off+span]
	_ = syscall.Madvise(region, 14) // MADV_HUGEPAGE; advice only
	runtime.AddCleanup(owner, func(mem []byte) { _ = syscall.Munmap(mem) }, mem)
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(region))), n)
}
