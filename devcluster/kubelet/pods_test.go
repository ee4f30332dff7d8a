package kubelet

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var (
	t0     = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	nodes  = []string{"devcluster-node-0", "devcluster-node-1"}
	timing = Timing{Start: time.Second, Slow: 30 * time.Second, Complete: 2 * time.Second, Restart: 10 * time.Second}
)

func pod(image string, restart corev1.RestartPolicy) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "uid-1"},
		Spec: corev1.PodSpec{
			RestartPolicy: restart,
			Containers:    []corev1.Container{{Name: "main", Image: image}},
		},
	}
}

// lifecycle plays Decide forward from an unbound pod, applying each status
// step as the API server would, and returns the pod as it is at `at`.
func lifecycle(t *testing.T, p *corev1.Pod, at time.Duration) *corev1.Pod {
	t.Helper()
	p = p.DeepCopy()
	now := t0
	for i := 0; i < 100; i++ {
		step := Decide(p, nodes, now, timing)
		switch {
		case step.Bind != "":
			p.Spec.NodeName = step.Bind
			continue
		case step.Status != nil:
			p.Status = *step.Status
			continue
		}
		if step.RequeueAfter == 0 || now.Add(step.RequeueAfter).After(t0.Add(at)) {
			return p
		}
		now = now.Add(step.RequeueAfter)
	}
	t.Fatalf("pod never settled: %+v", p.Status)
	return nil
}

func ready(p *corev1.Pod) bool { return podReady(p) }

func TestHealthyPodBecomesRunningAndReadyAfterTheStartDelay(t *testing.T) {
	p := pod("nginx:1.27", corev1.RestartPolicyAlways)
	if got := lifecycle(t, p, 500*time.Millisecond); got.Status.Phase != corev1.PodPending || ready(got) {
		t.Fatalf("before the start delay: phase %s ready %v, want Pending and not ready", got.Status.Phase, ready(got))
	}
	got := lifecycle(t, p, time.Hour)
	if got.Status.Phase != corev1.PodRunning || !ready(got) {
		t.Fatalf("phase %s ready %v, want Running and Ready", got.Status.Phase, ready(got))
	}
	if got.Status.PodIP == "" || got.Status.StartTime == nil || !got.Status.ContainerStatuses[0].Ready {
		t.Fatalf("a ready pod needs podIP, startTime and ready containers: %+v", got.Status)
	}
}

func TestSlowImageTakesThirtySecondsToBecomeReady(t *testing.T) {
	p := pod("app:slow", corev1.RestartPolicyAlways)
	if got := lifecycle(t, p, 29*time.Second); ready(got) {
		t.Fatal("slow pod ready before 30s")
	}
	if got := lifecycle(t, p, 31*time.Second); !ready(got) {
		t.Fatal("slow pod not ready after 30s")
	}
}

func TestCrashloopImageBacksOffAndIsNeverReady(t *testing.T) {
	got := lifecycle(t, pod("app:crashloop", corev1.RestartPolicyAlways), time.Minute)
	cs := got.Status.ContainerStatuses[0]
	if ready(got) || cs.State.Waiting == nil || cs.State.Waiting.Reason != "CrashLoopBackOff" {
		t.Fatalf("want CrashLoopBackOff and not ready, got ready=%v state=%+v", ready(got), cs.State)
	}
	if cs.RestartCount < 5 {
		t.Fatalf("restartCount %d after a minute of 10s crashes, want it to keep climbing", cs.RestartCount)
	}
}

func TestRunToCompletionPodsSucceedAndFailImageFails(t *testing.T) {
	ok := lifecycle(t, pod("busybox", corev1.RestartPolicyNever), time.Minute)
	if ok.Status.Phase != corev1.PodSucceeded || ok.Status.ContainerStatuses[0].State.Terminated.ExitCode != 0 {
		t.Fatalf("want Succeeded with exit 0, got %s %+v", ok.Status.Phase, ok.Status.ContainerStatuses[0].State)
	}
	bad := lifecycle(t, pod("busybox:fail", corev1.RestartPolicyOnFailure), time.Minute)
	if bad.Status.Phase != corev1.PodFailed || bad.Status.ContainerStatuses[0].State.Terminated.ExitCode != 1 {
		t.Fatalf("want Failed with exit 1, got %s %+v", bad.Status.Phase, bad.Status.ContainerStatuses[0].State)
	}
}

func TestSteadyPodNeedsNoWrites(t *testing.T) {
	p := lifecycle(t, pod("nginx", corev1.RestartPolicyAlways), time.Hour)
	if step := Decide(p, nodes, t0.Add(2*time.Hour), timing); step.Status != nil || step.Bind != "" || step.Delete {
		t.Fatalf("a Running, Ready pod must cost no writes, got %+v", step)
	}
}

func TestDaemonSetPodIsBoundToTheNodeItsAffinityNames(t *testing.T) {
	p := pod("agent", corev1.RestartPolicyAlways)
	p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"devcluster-node-1"}}},
		}}},
	}}
	if step := Decide(p, nodes, t0, timing); step.Bind != "devcluster-node-1" {
		t.Fatalf("bound to %q, want devcluster-node-1", step.Bind)
	}
}

func TestTerminatingPodIsDeletedOnlyOnOurNodes(t *testing.T) {
	p := lifecycle(t, pod("nginx", corev1.RestartPolicyAlways), time.Hour)
	p.DeletionTimestamp = &metav1.Time{Time: t0}
	if step := Decide(p, nodes, t0, timing); !step.Delete {
		t.Fatalf("a terminating pod on our node must be deleted, got %+v", step)
	}
	p.Spec.NodeName = "someone-elses-node"
	if step := Decide(p, nodes, t0, timing); step.Delete {
		t.Fatal("a pod on a node we do not play must be left alone")
	}
}

func TestImageTag(t *testing.T) {
	for image, want := range map[string]string{
		"nginx":                            "",
		"nginx:1.27":                       "1.27",
		"registry:5000/app":                "",
		"registry:5000/app:crashloop":      "crashloop",
		"app:fail@sha256:0123456789abcdef": "fail",
	} {
		if got := imageTag(image); got != want {
			t.Errorf("imageTag(%q) = %q, want %q", image, got, want)
		}
	}
}
