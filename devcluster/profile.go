package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

// profileOnSignals writes a CPU profile of the whole control plane (etcd,
// kube-apiserver, kube-controller-manager and the kubelet share this
// process) to path, from a SIGUSR1 to the next SIGUSR2: a benchmark marks
// the window it measures, and startup and idle time stay out of it.
func profileOnSignals(ctx context.Context, path string) {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(signals)
	var out *os.File
	stop := func() {
		if out != nil {
			pprof.StopCPUProfile()
			out.Close()
			out = nil
		}
	}
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-signals:
			switch {
			case s == syscall.SIGUSR1 && out == nil:
				f, err := os.Create(path)
				if err != nil {
					fmt.Fprintf(os.Stderr, "devcluster: --cpu-profile: %v\n", err)
					continue
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					fmt.Fprintf(os.Stderr, "devcluster: --cpu-profile: %v\n", err)
					f.Close()
					continue
				}
				out = f
			case s == syscall.SIGUSR2:
				stop()
			}
		}
	}
}
