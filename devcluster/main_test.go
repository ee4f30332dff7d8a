package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTakenPortIsAClearError(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	port := held.Addr().(*net.TCPAddr).Port
	_, err = listen(port)
	if err == nil || !strings.Contains(err.Error(), "cannot listen on 127.0.0.1:") || !strings.Contains(err.Error(), "--port") {
		t.Fatalf("want an error naming the port and the --port flag, got %v", err)
	}
}

func TestUnusableDirIsAClearError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := usableDir(filepath.Join(file, "sub"))
	if err == nil || !strings.Contains(err.Error(), "--dir") {
		t.Fatalf("want an error naming --dir, got %v", err)
	}
	dir, err := usableDir(filepath.Join(t.TempDir(), "new", "nested"))
	if err != nil || !filepath.IsAbs(dir) {
		t.Fatalf("a creatable dir must be accepted and made absolute: %q %v", dir, err)
	}
}

func TestFlagsAreValidated(t *testing.T) {
	for _, args := range [][]string{{}, {"--dir", "x", "--port", "70000"}, {"--dir", "x", "--nodes", "0"}} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("parseFlags(%q) accepted bad flags", args)
		}
	}
	c, err := parseFlags([]string{"--dir", "x", "--nodes", "3"})
	if err != nil || c.nodes != 3 || c.port != 0 {
		t.Fatalf("got %+v, %v", c, err)
	}
}

func TestEtcdPanicBecomesAnErrorWithItsLoggedCause(t *testing.T) {
	log := filepath.Join(t.TempDir(), "etcd.log")
	lines := `{"level":"info","msg":"starting"}
{"level":"panic","msg":"failed to create WAL","error":"fallocate: no space left on device"}
`
	if err := os.WriteFile(log, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	start := func() (err error) {
		defer errorFromPanic(&err, log)
		panic("failed to create WAL")
	}
	err := start()
	if err == nil || !strings.Contains(err.Error(), "failed to create WAL") || !strings.Contains(err.Error(), "no space left on device") || !strings.Contains(err.Error(), log) {
		t.Fatalf("want the panic, the logged cause and the log's path, got %v", err)
	}
	if err := func() (err error) { defer errorFromPanic(&err, log); return nil }(); err != nil {
		t.Fatalf("no panic must leave no error, got %v", err)
	}
}
