package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestKeptPKIIsReusedAndAFreshOneIsNot(t *testing.T) {
	dir := t.TempDir()
	first, err := newPKI(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	ca := func(p *pki) []byte {
		b, err := os.ReadFile(p.CACert)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	original := ca(first)

	kept, err := newPKI(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ca(kept), original) {
		t.Error("--keep-data must reuse the CA its clients trust")
	}

	if err := os.Remove(filepath.Join(dir, "sa.key")); err != nil {
		t.Fatal(err)
	}
	partial, err := newPKI(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	regenerated := ca(partial)
	if bytes.Equal(regenerated, original) {
		t.Error("an incomplete PKI must be generated afresh")
	}

	fresh, err := newPKI(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(ca(fresh), regenerated) {
		t.Error("without --keep-data every start has a new CA")
	}
}
