# No container (init and ephemeral containers too) of a Pod or of a
# workload's Pod template runs privileged or may gain more privileges than
# its process has (allowPrivilegeEscalation).
package driftless.privileged

import rego.v1

# Edit: true also denies a container that leaves allowPrivilegeEscalation
# unset (Kubernetes then allows escalation; the Pod Security "restricted"
# level requires false).
require_explicit_no_escalation := false

deny contains msg if {
	some field, noun in container_fields
	some c in pod_spec[field]
	c.securityContext.privileged == true
	msg := sprintf("%s %q is privileged (securityContext.privileged: true)", [noun, c.name])
}

deny contains msg if {
	some field, noun in container_fields
	some c in pod_spec[field]
	c.securityContext.allowPrivilegeEscalation == true
	msg := sprintf("%s %q allows privilege escalation (securityContext.allowPrivilegeEscalation: true)", [noun, c.name])
}

deny contains msg if {
	require_explicit_no_escalation
	some field, noun in container_fields
	some c in pod_spec[field]
	not c.securityContext.allowPrivilegeEscalation == false
	msg := sprintf("%s %q does not set securityContext.allowPrivilegeEscalation: false", [noun, c.name])
}

# The Pod spec of a Pod, of a workload's template, of a CronJob's job.
pod_spec := object.get(input.object, templates[sprintf("%s/%s", [input.object.apiVersion, input.object.kind])], {})

templates := {
	"v1/Pod": ["spec"],
	"v1/ReplicationController": ["spec", "template", "spec"],
	"apps/v1/Deployment": ["spec", "template", "spec"],
	"apps/v1/StatefulSet": ["spec", "template", "spec"],
	"apps/v1/DaemonSet": ["spec", "template", "spec"],
	"apps/v1/ReplicaSet": ["spec", "template", "spec"],
	"batch/v1/Job": ["spec", "template", "spec"],
	"batch/v1/CronJob": ["spec", "jobTemplate", "spec", "template", "spec"],
}

container_fields := {"containers": "container", "initContainers": "init container", "ephemeralContainers": "ephemeral container"}
