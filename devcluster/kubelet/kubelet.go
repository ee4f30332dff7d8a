package kubelet

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// Version is the kubelet version the fake nodes report.
const Version = "v1.34.3"

// leaseDuration and renewEvery follow the real kubelet's defaults: the node
// lifecycle controller marks a node NotReady once its lease is this stale.
const (
	leaseDuration = 40 * time.Second
	renewEvery    = 10 * time.Second
	workers       = 4
)

// Kubelet plays the kubelet of every fake node.
type Kubelet struct {
	client kubernetes.Interface
	nodes  []string
	timing Timing
}

// New returns a kubelet for count nodes named devcluster-node-0 and so on.
func New(client kubernetes.Interface, count int, timing Timing) *Kubelet {
	nodes := make([]string, count)
	for i := range nodes {
		nodes[i] = fmt.Sprintf("devcluster-node-%d", i)
	}
	return &Kubelet{client: client, nodes: nodes, timing: timing}
}

// Nodes returns the names of the fake nodes.
func (k *Kubelet) Nodes() []string { return k.nodes }

// Register creates the nodes, Ready, with their leases. Call it before Run.
func (k *Kubelet) Register(ctx context.Context) error {
	for _, name := range k.nodes {
		if _, err := k.client.CoreV1().Nodes().Create(ctx, node(name, time.Now()), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("register node %s: %w", name, err)
		}
		if err := k.heartbeat(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// Run binds pods and plays their lifecycle, and keeps the nodes' leases
// and status fresh, until ctx ends.
func (k *Kubelet) Run(ctx context.Context) {
	go k.renewLeases(ctx)

	factory := informers.NewSharedInformerFactory(k.client, 0)
	pods := factory.Core().V1().Pods()
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[types.NamespacedName]())
	enqueue := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if pod, ok := obj.(*corev1.Pod); ok {
			queue.Add(types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name})
		}
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		klog.ErrorS(err, "fake kubelet: watch pods")
		return
	}
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())

	for range workers {
		go func() {
			for {
				key, shutdown := queue.Get()
				if shutdown {
					return
				}
				k.sync(ctx, pods.Lister().Pods(key.Namespace), key, queue)
				queue.Done(key)
			}
		}()
	}
	<-ctx.Done()
	queue.ShutDown()
	factory.Shutdown()
}

type podGetter interface {
	Get(name string) (*corev1.Pod, error)
}

func (k *Kubelet) sync(ctx context.Context, lister podGetter, key types.NamespacedName, queue workqueue.TypedRateLimitingInterface[types.NamespacedName]) {
	pod, err := lister.Get(key.Name)
	if apierrors.IsNotFound(err) {
		queue.Forget(key)
		return
	}
	if err != nil {
		queue.AddRateLimited(key)
		return
	}
	step := Decide(pod, k.nodes, time.Now(), k.timing)
	if err := k.apply(ctx, pod, step); err != nil {
		if !apierrors.IsNotFound(err) {
			klog.V(2).InfoS("fake kubelet: retrying pod", "pod", key, "err", err)
			queue.AddRateLimited(key)
		}
		return
	}
	queue.Forget(key)
	if step.RequeueAfter > 0 {
		queue.AddAfter(key, step.RequeueAfter)
	}
}

func (k *Kubelet) apply(ctx context.Context, pod *corev1.Pod, step Step) error {
	pods := k.client.CoreV1().Pods(pod.Namespace)
	switch {
	case step.Bind != "":
		return pods.Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: step.Bind},
		}, metav1.CreateOptions{})
	case step.Delete:
		return pods.Delete(ctx, pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: ptr(int64(0)),
			Preconditions:      &metav1.Preconditions{UID: &pod.UID},
		})
	case step.Status != nil:
		updated := pod.DeepCopy()
		updated.Status = *step.Status
		_, err := pods.UpdateStatus(ctx, updated, metav1.UpdateOptions{})
		return err
	}
	return nil
}

func (k *Kubelet) renewLeases(ctx context.Context) {
	ticker := time.NewTicker(renewEvery)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			for _, name := range k.nodes {
				if err := k.heartbeat(ctx, name); err != nil && ctx.Err() == nil {
					klog.ErrorS(err, "fake kubelet: heartbeat", "node", name)
				}
			}
		}
	}
}

// heartbeat renews the node's lease, creating it if needed, and refreshes
// the Ready condition's heartbeat time.
func (k *Kubelet) heartbeat(ctx context.Context, name string) error {
	now := metav1.NewMicroTime(time.Now())
	leases := k.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	lease, err := leases.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr(name),
				LeaseDurationSeconds: ptr(int32(leaseDuration.Seconds())),
				RenewTime:            &now,
			},
		}, metav1.CreateOptions{})
	case err == nil:
		lease.Spec.RenewTime = &now
		_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("renew lease of node %s: %w", name, err)
	}
	n, err := k.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get node %s: %w", name, err)
	}
	n.Status = node(name, now.Time).Status
	if _, err := k.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update status of node %s: %w", name, err)
	}
	return nil
}

// node is a Ready node with room for any workload a test throws at it.
func node(name string, heartbeat time.Time) *corev1.Node {
	t := metav1.NewTime(heartbeat)
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("32"),
		corev1.ResourceMemory:           resource.MustParse("256Gi"),
		corev1.ResourcePods:             resource.MustParse("1000"),
		corev1.ResourceEphemeralStorage: resource.MustParse("1Ti"),
	}
	cond := func(typ corev1.NodeConditionType, s corev1.ConditionStatus, reason string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: typ, Status: s, Reason: reason, LastHeartbeatTime: t, LastTransitionTime: t}
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			corev1.LabelHostname:   name,
			corev1.LabelOSStable:   "linux",
			corev1.LabelArchStable: "amd64",
			"type":                 "devcluster",
		}},
		Status: corev1.NodeStatus{
			Capacity:    capacity,
			Allocatable: capacity,
			Phase:       corev1.NodeRunning,
			Conditions: []corev1.NodeCondition{
				cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady"),
				cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory"),
				cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure"),
				cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID"),
			},
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: nodeIP},
				{Type: corev1.NodeHostName, Address: name},
			},
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion:          Version,
				OperatingSystem:         "linux",
				Architecture:            "amd64",
				ContainerRuntimeVersion: "fake://devcluster",
			},
		},
	}
}
