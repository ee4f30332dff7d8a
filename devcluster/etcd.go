package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// startEtcd runs etcd in this process, data in dataDir, listening on free
// loopback ports. The caller closes the returned server. A port found free
// can be taken before etcd binds it (another process's outgoing
// connection draws from the same range): then it tries other ports.
func startEtcd(dataDir, logDir string) (*embed.Etcd, string, error) {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		var e *embed.Etcd
		var url string
		e, url, err = startEtcdOnce(dataDir, logDir)
		if err == nil {
			return e, url, nil
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, "", err
}

func startEtcdOnce(dataDir, logDir string) (_ *embed.Etcd, _ string, err error) {
	logFile := filepath.Join(logDir, "etcd.log")
	defer errorFromPanic(&err, logFile)
	clientURL, err := freeLoopbackURL()
	if err != nil {
		return nil, "", err
	}
	peerURL, err := freeLoopbackURL()
	if err != nil {
		return nil, "", err
	}
	cfg := embed.NewConfig()
	cfg.Name = "devcluster"
	cfg.Dir = dataDir
	cfg.ListenClientUrls = []url.URL{*clientURL}
	cfg.AdvertiseClientUrls = []url.URL{*clientURL}
	cfg.ListenPeerUrls = []url.URL{*peerURL}
	cfg.AdvertisePeerUrls = []url.URL{*peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "warn"
	cfg.LogOutputs = []string{logFile}
	// A dev cluster's data is thrown away on exit: durability buys nothing.
	cfg.UnsafeNoFsync = true
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("start etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, "", fmt.Errorf("etcd did not become ready within 60s (log: %s)", cfg.LogOutputs[0])
	}
	return e, clientURL.String(), nil
}

func freeLoopbackURL() (*url.URL, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("find a free port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return nil, err
	}
	return url.Parse("http://" + addr)
}

// errorFromPanic, deferred, turns a panic of etcd into an error in *err
// with the last lines of its log: etcd panics when it cannot create its
// files (a full disk, for one), and the cause is only in its log, not in
// the panic's stack trace.
func errorFromPanic(err *error, logFile string) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("etcd: %v: %s (log: %s)", r, lastLines(logFile, 3), logFile)
	}
}

// lastLines is the last n lines of file, joined, or a note that it has none.
func lastLines(file string, n int) string {
	data, err := os.ReadFile(file)
	if err != nil {
		return "no log: " + err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}
