package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/driftless/driftless/devcluster/kubelet"
)

// cluster is a running control plane; shutdown stops it in reverse order.
type cluster struct {
	started         time.Time
	pki             *pki
	etcd            *embed.Etcd
	etcdDir         string
	removeEtcdDir   bool
	cancel          context.CancelFunc
	apiserverDone   <-chan error
	controllersDone <-chan error
	kubeletDone     chan struct{}
}

// start brings the control plane up and waits until it is usable: /readyz
// answers ok, the nodes are registered and the default namespace has its
// default service account. On error the returned cluster, if any, still
// needs shutdown.
func start(parent context.Context, c config, dir string, listener net.Listener) (*cluster, error) {
	cl := &cluster{started: time.Now()}
	ctx, cancel := context.WithCancel(parent)
	cl.cancel = cancel
	deadline, cancelDeadline := context.WithTimeout(ctx, c.startupDeadline)
	defer cancelDeadline()

	var err error
	if cl.pki, err = newPKI(filepath.Join(dir, "pki"), c.keepData); err != nil {
		listener.Close()
		return cl, fmt.Errorf("create certificates: %w", err)
	}
	if c.keepData {
		cl.etcdDir = filepath.Join(dir, "etcd")
		err = os.MkdirAll(cl.etcdDir, 0o700)
	} else {
		cl.etcdDir, err = os.MkdirTemp("", "devcluster-etcd-")
		cl.removeEtcdDir = true
	}
	if err != nil {
		listener.Close()
		return cl, err
	}
	etcdURL := ""
	if cl.etcd, etcdURL, err = startEtcd(cl.etcdDir, dir); err != nil {
		listener.Close()
		return cl, err
	}
	kcmKubeconfig := filepath.Join(dir, "pki", "controller-manager.kubeconfig")
	kcm, err := newControllerManager(kcmKubeconfig, cl.pki)
	if err != nil {
		return cl, err
	}
	if cl.apiserverDone, err = startAPIServer(ctx, listener, etcdURL, cl.pki, filepath.Join(dir, "pki")); err != nil {
		return cl, err
	}
	admin := &rest.Config{
		Host:            "https://" + listener.Addr().String(),
		TLSClientConfig: rest.TLSClientConfig{CAFile: cl.pki.CACert, CertFile: cl.pki.AdminCert, KeyFile: cl.pki.AdminKey},
		QPS:             100,
		Burst:           200,
	}
	client, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return cl, err
	}
	if err := waitFor(deadline, cl.apiserverDone, "kube-apiserver /readyz", func(ctx context.Context) (bool, error) {
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok", nil
	}); err != nil {
		return cl, err
	}

	if err := writeKubeconfig(kcmKubeconfig, admin.Host, "kube-controller-manager", cl.pki, cl.pki.KCMCert, cl.pki.KCMKey); err != nil {
		return cl, err
	}
	if cl.controllersDone, err = kcm.start(ctx); err != nil {
		return cl, err
	}

	k := kubelet.New(client, c.nodes, kubelet.DefaultTiming)
	if err := k.Register(deadline); err != nil {
		return cl, err
	}
	cl.kubeletDone = make(chan struct{})
	go func() {
		defer close(cl.kubeletDone)
		k.Run(ctx)
	}()

	if err := waitFor(deadline, cl.controllersDone, "the default service account", func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		return cl, err
	}
	if _, err := client.CoreV1().Namespaces().Get(deadline, metav1.NamespaceDefault, metav1.GetOptions{}); err != nil {
		return cl, fmt.Errorf("namespace %s: %w", corev1.NamespaceDefault, err)
	}
	return cl, nil
}

// waitFor polls cond until it holds, the deadline passes, or the component
// whose exit channel is died reports an error.
func waitFor(ctx context.Context, died <-chan error, what string, cond wait.ConditionWithContextFunc) error {
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		select {
		case err := <-died:
			return false, fmt.Errorf("stopped while waiting for %s: %v", what, err)
		default:
		}
		return cond(ctx)
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("gave up waiting for %s: %w", what, ctx.Err())
	}
	return err
}

// shutdown stops the kubelet and controllers, then the API server, then
// etcd, and deletes etcd's data.
func (cl *cluster) shutdown() {
	cl.cancel()
	if cl.kubeletDone != nil {
		<-cl.kubeletDone
	}
	drain := func(ch <-chan error) {
		if ch == nil {
			return
		}
		select {
		case <-ch:
		case <-time.After(20 * time.Second):
			klog.Warning("component did not stop within 20s")
		}
	}
	drain(cl.controllersDone)
	drain(cl.apiserverDone)
	if cl.etcd != nil {
		cl.etcd.Close()
	}
	if cl.removeEtcdDir {
		os.RemoveAll(cl.etcdDir)
	}
	klog.Flush()
}
