package store_test

import (
	"testing"

	"pvault/vault/store"
	"pvault/vault/store/storetest"
)

func TestMem(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := store.NewMem()
		t.Cleanup(func() { s.Close() })
		return s
	})
}
