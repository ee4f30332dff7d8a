// Package kubelet is devcluster's fake kubelet: it registers Ready nodes,
// binds pods to them and plays each pod's lifecycle without running
// containers, so that the real controllers see real status transitions.
//
// The container image tag picks a failure to inject:
//
//	crashloop  the container keeps crashing: CrashLoopBackOff, never Ready
//	fail       the container exits 1: a run-to-completion pod Fails
//	slow       the pod takes Timing.Slow to become Ready
package kubelet

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Timing sets how long each simulated lifecycle step takes.
type Timing struct {
	// Start is the delay from binding to Running (and Ready).
	Start time.Duration
	// Slow replaces Start for pods with a `slow` image.
	Slow time.Duration
	// Complete is how long a run-to-completion pod runs before it exits.
	Complete time.Duration
	// Restart is the interval between two crashes of a crash-looping container.
	Restart time.Duration
}

// DefaultTiming is fast enough for tests, slow enough to observe Progressing.
var DefaultTiming = Timing{Start: time.Second, Slow: 30 * time.Second, Complete: time.Second, Restart: 10 * time.Second}

// behaviour is what a pod's images ask the fake kubelet to simulate.
type behaviour int

const (
	healthy behaviour = iota
	slow
	fail
	crashloop
)

// podBehaviour is the worst behaviour any container image asks for.
func podBehaviour(pod *corev1.Pod) behaviour {
	worst := healthy
	for _, c := range pod.Spec.Containers {
		var b behaviour
		switch imageTag(c.Image) {
		case "crashloop":
			b = crashloop
		case "fail":
			b = fail
		case "slow":
			b = slow
		}
		if b > worst {
			worst = b
		}
	}
	return worst
}

// imageTag returns the tag of an image reference, "" if it has none.
func imageTag(image string) string {
	image, _, _ = strings.Cut(image, "@")
	slash := strings.LastIndex(image, "/")
	colon := strings.LastIndex(image, ":")
	if colon > slash {
		return image[colon+1:]
	}
	return ""
}

// Step is what the kubelet must do next for one pod. At most one of Bind,
// Status and Delete is set; RequeueAfter asks to look at the pod again.
type Step struct {
	Bind         string
	Status       *corev1.PodStatus
	Delete       bool
	RequeueAfter time.Duration
}

// Decide computes the next lifecycle step for pod on a cluster whose fake
// nodes are nodes. It is pure: everything it depends on is an argument.
func Decide(pod *corev1.Pod, nodes []string, now time.Time, t Timing) Step {
	if pod.Spec.NodeName == "" {
		if pod.DeletionTimestamp != nil || len(pod.Spec.SchedulingGates) > 0 || len(nodes) == 0 {
			return Step{}
		}
		return Step{Bind: chooseNode(pod, nodes)}
	}
	if !slices.Contains(nodes, pod.Spec.NodeName) {
		return Step{}
	}
	// A real kubelet kills the containers, then confirms the deletion with
	// grace period 0; without that, pods would stay Terminating forever.
	if pod.DeletionTimestamp != nil {
		return Step{Delete: true}
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return Step{}
	}
	if pod.Status.StartTime == nil {
		status := baseStatus(pod, now)
		status.Phase = corev1.PodPending
		status.Conditions = conditions(now, false, false)
		status.ContainerStatuses = containerStatuses(pod, func(c corev1.Container) corev1.ContainerStatus {
			return corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: imageID(c.Image),
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
		})
		return Step{Status: status, RequeueAfter: startDelay(pod, t)}
	}

	started := pod.Status.StartTime.Time
	runningAt := started.Add(startDelay(pod, t))
	if now.Before(runningAt) {
		return Step{RequeueAfter: runningAt.Sub(now)}
	}
	b := podBehaviour(pod)
	toCompletion := pod.Spec.RestartPolicy != corev1.RestartPolicyAlways
	exitsAt := runningAt.Add(t.Complete)

	switch {
	case toCompletion && (b == fail || (b == crashloop && pod.Spec.RestartPolicy == corev1.RestartPolicyNever)):
		if now.Before(exitsAt) {
			return running(pod, runningAt, false, exitsAt.Sub(now))
		}
		return terminated(pod, runningAt, exitsAt, corev1.PodFailed, 1, "Error")
	case b == crashloop || b == fail:
		return crashLooping(pod, runningAt, now, t.Restart)
	case toCompletion:
		if now.Before(exitsAt) {
			return running(pod, runningAt, true, exitsAt.Sub(now))
		}
		return terminated(pod, runningAt, exitsAt, corev1.PodSucceeded, 0, "Completed")
	default:
		return running(pod, runningAt, true, 0)
	}
}

func startDelay(pod *corev1.Pod, t Timing) time.Duration {
	if podBehaviour(pod) == slow {
		return t.Slow
	}
	return t.Start
}

// running reports the pod Running since runningAt; Step.Status is nil when the
// pod already shows exactly that, so that a steady pod costs no writes.
func running(pod *corev1.Pod, runningAt time.Time, ready bool, requeue time.Duration) Step {
	if pod.Status.Phase == corev1.PodRunning && podReady(pod) == ready && restarts(pod) == 0 {
		return Step{RequeueAfter: requeue}
	}
	status := baseStatus(pod, runningAt)
	status.Phase = corev1.PodRunning
	status.Conditions = conditions(runningAt, true, ready)
	status.ContainerStatuses = containerStatuses(pod, func(c corev1.Container) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: imageID(c.Image),
			Ready: ready, Started: ptr(true), ContainerID: containerID(pod, c),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(runningAt)}}}
	})
	return Step{Status: status, RequeueAfter: requeue}
}

func terminated(pod *corev1.Pod, runningAt, exitedAt time.Time, phase corev1.PodPhase, code int32, reason string) Step {
	status := baseStatus(pod, exitedAt)
	status.Phase = phase
	status.Conditions = conditions(exitedAt, true, false)
	status.ContainerStatuses = containerStatuses(pod, func(c corev1.Container) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: imageID(c.Image),
			Started: ptr(false), ContainerID: containerID(pod, c),
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: code, Reason: reason, ContainerID: containerID(pod, c),
				StartedAt: metav1.NewTime(runningAt), FinishedAt: metav1.NewTime(exitedAt)}}}
	})
	return Step{Status: status}
}

// crashLooping counts one restart per interval since the pod first ran, the
// way a real back-off loop keeps bumping restartCount.
func crashLooping(pod *corev1.Pod, runningAt, now time.Time, interval time.Duration) Step {
	n := int32(now.Sub(runningAt)/interval) + 1
	next := runningAt.Add(time.Duration(n) * interval).Sub(now)
	if pod.Status.Phase == corev1.PodRunning && restarts(pod) == n {
		return Step{RequeueAfter: next}
	}
	lastCrash := runningAt.Add(time.Duration(n-1) * interval)
	status := baseStatus(pod, lastCrash)
	status.Phase = corev1.PodRunning
	status.Conditions = conditions(runningAt, true, false)
	status.ContainerStatuses = containerStatuses(pod, func(c corev1.Container) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: imageID(c.Image),
			Started: ptr(false), RestartCount: n, ContainerID: containerID(pod, c),
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
				Message: fmt.Sprintf("back-off restarting failed container %s in pod %s", c.Name, pod.Name)}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 1, Reason: "Error", StartedAt: metav1.NewTime(lastCrash), FinishedAt: metav1.NewTime(lastCrash)}}}
	})
	return Step{Status: status, RequeueAfter: next}
}

// baseStatus carries what stays fixed over a pod's life: addresses, start
// time, QoS class and completed init containers.
func baseStatus(pod *corev1.Pod, startTime time.Time) *corev1.PodStatus {
	status := pod.Status.DeepCopy()
	if status.StartTime == nil {
		status.StartTime = ptr(metav1.NewTime(startTime))
	}
	status.HostIP = nodeIP
	status.HostIPs = []corev1.HostIP{{IP: nodeIP}}
	ip := podIP(pod)
	status.PodIP = ip
	status.PodIPs = []corev1.PodIP{{IP: ip}}
	if status.QOSClass == "" {
		status.QOSClass = corev1.PodQOSBestEffort
	}
	status.InitContainerStatuses = nil
	for _, c := range pod.Spec.InitContainers {
		status.InitContainerStatuses = append(status.InitContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: imageID(c.Image), ContainerID: containerID(pod, c),
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}})
	}
	return status
}

func conditions(at time.Time, initialized, ready bool) []corev1.PodCondition {
	t := metav1.NewTime(at)
	cond := func(typ corev1.PodConditionType, ok bool) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
		}
		return corev1.PodCondition{Type: typ, Status: s, LastTransitionTime: t}
	}
	return []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, initialized),
		cond(corev1.PodInitialized, initialized),
		cond(corev1.ContainersReady, ready),
		cond(corev1.PodReady, ready),
		cond(corev1.PodScheduled, true),
	}
}

func containerStatuses(pod *corev1.Pod, f func(corev1.Container) corev1.ContainerStatus) []corev1.ContainerStatus {
	out := make([]corev1.ContainerStatus, 0, len(pod.Spec.Containers))
	for _, c := range pod.Spec.Containers {
		out = append(out, f(c))
	}
	return out
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func restarts(pod *corev1.Pod) int32 {
	var n int32
	for _, c := range pod.Status.ContainerStatuses {
		n = max(n, c.RestartCount)
	}
	return n
}

// chooseNode honours the node a DaemonSet pins its pods to through
// required node affinity; other pods spread by a hash of their identity.
func chooseNode(pod *corev1.Pod, nodes []string) string {
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			for _, f := range term.MatchFields {
				if f.Key == "metadata.name" && f.Operator == corev1.NodeSelectorOpIn {
					for _, v := range f.Values {
						if slices.Contains(nodes, v) {
							return v
						}
					}
				}
			}
		}
	}
	if host := pod.Spec.NodeSelector[corev1.LabelHostname]; slices.Contains(nodes, host) {
		return host
	}
	return nodes[hash(pod.Namespace+"/"+pod.Name)%uint32(len(nodes))]
}

// nodeIP is every fake node's address. Nothing ever dials it: it only fills
// the status fields that real nodes and pods carry.
const nodeIP = "10.1.0.1"

// podIP derives a stable address in 10.244.0.0/16 from the pod's UID.
func podIP(pod *corev1.Pod) string {
	if pod.Spec.HostNetwork {
		return nodeIP
	}
	h := hash(string(pod.UID))
	return fmt.Sprintf("10.244.%d.%d", (h>>8)%256, h%254+1)
}

func containerID(pod *corev1.Pod, c corev1.Container) string {
	return fmt.Sprintf("fake://%08x", hash(string(pod.UID)+"/"+c.Name))
}

func imageID(image string) string { return fmt.Sprintf("fake://sha256:%08x", hash(image)) }

func hash(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

func ptr[T any](v T) *T { return &v }
