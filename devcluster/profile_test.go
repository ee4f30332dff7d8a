package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A profile holds the window between SIGUSR1 and SIGUSR2, and is a
// complete (gzip-compressed) pprof file once SIGUSR2 has come.
func TestCPUProfileCoversTheSignalledWindow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { profileOnSignals(ctx, path); close(done) }()
	defer func() { cancel(); <-done }()

	waitFor := func(what string, ok func() bool) {
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	// The handler is installed by the goroutine: resend until the file shows up.
	waitFor("the profile to start", func() bool {
		_ = syscall.Kill(os.Getpid(), syscall.SIGUSR1)
		time.Sleep(20 * time.Millisecond)
		_, err := os.Stat(path)
		return err == nil
	})
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	waitFor("a complete profile", func() bool {
		b, err := os.ReadFile(path)
		return err == nil && len(b) > 2 && bytes.HasPrefix(b, []byte{0x1f, 0x8b})
	})
}
