package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app/options"
	"k8s.io/kubernetes/cmd/kube-controller-manager/names"
)

// controllers are the kube-controller-manager loops devcluster runs: the
// workload, garbage-collection, namespace, service-account and endpoint
// controllers a GitOps engine's health checks rely on. Cloud, volume
// attachment and IPAM controllers need infrastructure that does not exist.
var controllers = []string{
	names.DeploymentController,
	names.ReplicaSetController,
	names.ReplicationControllerController,
	names.StatefulSetController,
	names.DaemonSetController,
	names.JobController,
	names.CronJobController,
	names.TTLAfterFinishedController,
	names.NamespaceController,
	names.GarbageCollectorController,
	names.PodGarbageCollectorController,
	names.ServiceAccountController,
	names.ServiceAccountTokenController,
	names.RootCACertificatePublisherController,
	names.EndpointsController,
	names.EndpointSliceController,
	names.EndpointSliceMirroringController,
	names.ResourceQuotaController,
	names.DisruptionController,
	names.ClusterRoleAggregationController,
	names.NodeLifecycleController,
	names.TaintEvictionController,
}

// controllerManager is a kube-controller-manager whose flags are parsed.
type controllerManager struct {
	options       *options.KubeControllerManagerOptions
	all, disabled []string
	aliases       map[string]string
}

// newControllerManager parses the controller manager's flags. Call it before
// the API server's: it changes a feature gate default, which is only allowed
// until the gates are bound to a flag set.
func newControllerManager(kubeconfig string, p *pki) (*controllerManager, error) {
	s, err := options.NewKubeControllerManagerOptions()
	if err != nil {
		return nil, err
	}
	all, disabled, aliases := app.KnownControllers(), app.ControllersDisabledByDefault(), app.ControllerAliases()
	named := s.Flags(all, disabled, aliases)
	fs := pflag.NewFlagSet("kube-controller-manager", pflag.ContinueOnError)
	for _, f := range named.FlagSets {
		fs.AddFlagSet(f)
	}
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--controllers=" + strings.Join(controllers, ","),
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + p.ServiceAccountKey,
		"--root-ca-file=" + p.CACert,
		"--leader-elect=false",
		// No health port: it would clash between instances and nothing
		// scrapes it; readiness is judged through the API server.
		"--secure-port=0",
		"--profiling=false",
		// Each controller's client is limited to 20 requests/s by default,
		// which makes a thousand Deployments take minutes to roll out:
		// the cluster, not the GitOps agent under test, would be measured.
		"--kube-api-qps=200",
		"--kube-api-burst=400",
	}
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("kube-controller-manager flags: %w", err)
	}
	s.ParsedFlags = &named
	return &controllerManager{options: s, all: all, disabled: disabled, aliases: aliases}, nil
}

// start runs the controller manager in this process once its kubeconfig
// exists. It returns a channel that yields its exit error once it stops.
func (m *controllerManager) start(ctx context.Context) (<-chan error, error) {
	if err := m.options.ComponentGlobalsRegistry.Set(); err != nil {
		return nil, fmt.Errorf("kube-controller-manager feature gates: %w", err)
	}
	c, err := m.options.Config(ctx, m.all, m.disabled, m.aliases)
	if err != nil {
		return nil, fmt.Errorf("kube-controller-manager config: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, c.Complete()) }()
	return done, nil
}
