# Every container image (init and ephemeral containers too) of a Pod or of a
# workload's Pod template comes from an allowed registry.
package driftless.allowed_registries

import rego.v1

# Edit: the allowed prefixes of an image reference, as Docker spells it in
# full: an image without a registry ("nginx") is "docker.io/library/nginx".
allowed_registries := ["registry.example.com/", "ghcr.io/example-org/"]

deny contains msg if {
	some field, noun in container_fields
	some c in pod_spec[field]
	image := full_name(c.image)
	not allowed(image)
	msg := sprintf("%s %q uses image %q, which is not from an allowed registry (%s)", [noun, c.name, c.image, concat(", ", allowed_registries)])
}

allowed(image) if {
	some prefix in allowed_registries
	startswith(image, prefix)
}

# Docker's normal form: the registry is the first part only when it looks
# like a host (a dot or a port, or localhost).
full_name(image) := image if {
	first := split(image, "/")[0]
	count(split(image, "/")) > 1
	host_like(first)
}

full_name(image) := concat("/", ["docker.io", image]) if {
	parts := split(image, "/")
	count(parts) > 1
	not host_like(parts[0])
}

full_name(image) := concat("/", ["docker.io/library", image]) if {
	count(split(image, "/")) == 1
}

host_like(part) if contains(part, ".")
host_like(part) if contains(part, ":")
host_like(part) if part == "localhost"

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
