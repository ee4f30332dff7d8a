# Every container (init and ephemeral containers too) of a Pod or of a
# workload's Pod template sets resources.limits for each resource below.
package driftless.resource_limits

import rego.v1

# Edit: the limits every container must set.
required_limits := ["cpu", "memory"]

deny contains msg if {
	some field, noun in container_fields
	some c in pod_spec[field]
	some r in required_limits
	not c.resources.limits[r]
	msg := sprintf("%s %q has no resources.limits.%s", [noun, c.name, r])
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
