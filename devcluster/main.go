// Command devcluster runs a real Kubernetes control plane in one process on
// 127.0.0.1: embedded etcd, kube-apiserver, kube-controller-manager and a
// fake kubelet. It is driftless' test bed and demo cluster.
//
//	devcluster --dir DIR [--port N] [--nodes N] [--cpu-profile FILE]
//
// Once the cluster is ready it writes DIR/kubeconfig (admin) and prints one
// line saying so; it stops cleanly on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	_ "time/tzdata" // CronJob time zones in a binary that may run without zoneinfo

	"k8s.io/klog/v2"

	"github.com/driftless/driftless/devcluster/kubelet"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "devcluster: %v\n", err)
		os.Exit(1)
	}
}

type config struct {
	dir             string
	port            int
	nodes           int
	stopOnStdinEOF  bool
	keepData        bool
	startupDeadline time.Duration
	cpuProfile      string
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("devcluster", flag.ContinueOnError)
	fs.StringVar(&c.dir, "dir", "", "directory for the kubeconfig, certificates and logs (required)")
	fs.IntVar(&c.port, "port", 0, "API server port on 127.0.0.1; 0 picks a free one")
	fs.IntVar(&c.nodes, "nodes", 1, "number of fake nodes")
	fs.BoolVar(&c.stopOnStdinEOF, "stop-on-stdin-close", false, "shut down when standard input closes (for test harnesses)")
	fs.BoolVar(&c.keepData, "keep-data", false, "keep etcd's data and the certificates in --dir and reuse them on the next start: a restart is then an outage of the same cluster, not a new one")
	fs.DurationVar(&c.startupDeadline, "startup-timeout", 3*time.Minute, "give up if the cluster is not ready by then")
	fs.StringVar(&c.cpuProfile, "cpu-profile", "", "write a CPU profile of the whole control plane to this file, from a SIGUSR1 to the next SIGUSR2 (for benchmarks)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case c.dir == "":
		return c, errors.New("--dir is required (where to write kubeconfig, certificates and logs)")
	case c.port < 0 || c.port > 65535:
		return c, fmt.Errorf("--port %d is not a TCP port", c.port)
	case c.nodes < 1:
		return c, fmt.Errorf("--nodes %d: need at least one node", c.nodes)
	}
	return c, nil
}

func run() error {
	c, err := parseFlags(os.Args[1:])
	if err != nil {
		return err
	}
	dir, err := usableDir(c.dir)
	if err != nil {
		return err
	}
	listener, err := listen(c.port)
	if err != nil {
		return err
	}
	kubeconfigPath := filepath.Join(dir, "kubeconfig")
	// A kubeconfig left by an earlier run names a dead server: readers must
	// wait for this run's.
	if err := os.Remove(kubeconfigPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	logPath := filepath.Join(dir, "devcluster.log")
	if err := redirectLogs(logPath); err != nil {
		return err
	}

	// A test harness that exits closes our stdout and stderr with our stdin.
	// Go kills a process that writes to such a pipe with SIGPIPE unless it
	// asks for the signal, and that death would skip the cleanup below and
	// leave etcd's data behind in the temp dir.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if c.stopOnStdinEOF {
		ctx = stopOnEOF(ctx, os.Stdin)
	}
	if c.cpuProfile != "" {
		go profileOnSignals(ctx, c.cpuProfile)
	}
	cl, err := start(ctx, c, dir, listener)
	if cl != nil {
		defer cl.shutdown()
	}
	if err != nil {
		return fmt.Errorf("%w (log: %s)", err, logPath)
	}
	server := fmt.Sprintf("https://%s", listener.Addr())
	if err := writeKubeconfig(kubeconfigPath, server, "admin", cl.pki, cl.pki.AdminCert, cl.pki.AdminKey); err != nil {
		return err
	}
	defer os.Remove(kubeconfigPath)
	fmt.Printf("devcluster ready in %.1fs: %s on %s, %d node(s); export KUBECONFIG=%s\n",
		time.Since(cl.started).Seconds(), kubelet.Version, server, c.nodes, kubeconfigPath)

	select {
	case <-ctx.Done():
	case err := <-cl.apiserverDone:
		return fmt.Errorf("kube-apiserver stopped: %v (log: %s)", err, logPath)
	case err := <-cl.controllersDone:
		return fmt.Errorf("kube-controller-manager stopped: %v (log: %s)", err, logPath)
	}
	fmt.Println("devcluster stopping")
	return nil
}

// usableDir creates dir if needed and proves it writable, so that a bad
// --dir fails before anything starts.
func usableDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("--dir %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", fmt.Errorf("--dir %s is not usable: %w", dir, err)
	}
	probe, err := os.CreateTemp(abs, ".probe-")
	if err != nil {
		return "", fmt.Errorf("--dir %s is not writable: %w", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return abs, nil
}

// listen takes the API server's port now, so that a taken port fails fast
// and no other process can grab it while the cluster starts.
func listen(port int) (net.Listener, error) {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, fmt.Errorf("cannot listen on 127.0.0.1:%d (is another cluster using it? pick another --port, or 0 for any free one): %w", port, err)
	}
	return l, nil
}

// redirectLogs sends the components' logs to a file: the terminal only gets
// devcluster's own lines.
func redirectLogs(path string) error {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	for k, v := range map[string]string{
		"logtostderr": "false", "alsologtostderr": "false", "one_output": "true",
		"stderrthreshold": "FATAL", "log_file": path, "skip_log_headers": "true",
	} {
		if err := fs.Set(k, v); err != nil {
			return err
		}
	}
	return nil
}

// stopOnEOF returns a context that ends when r reaches end of file: a test
// harness that dies closes the pipe, and the cluster does not outlive it.
func stopOnEOF(parent context.Context, r io.Reader) context.Context {
	ctx, cancel := context.WithCancel(parent)
	go func() {
		_, _ = io.Copy(io.Discard, r)
		cancel()
	}()
	return ctx
}
