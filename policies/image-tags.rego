# No container image (init and ephemeral containers too) of a Pod or of a
# workload's Pod template is untagged or tagged `latest`: what runs must not
# change under a name that stays the same. A digest (@sha256:...) pins it.
package driftless.image_tags

import rego.v1

deny contains msg if {
	some field, noun in container_fields
	some c in pod_spec[field]
	not contains(c.image, "@")
	tag := image_tag(c.image)
	tag == "latest"
	msg := sprintf("%s %q uses image %q: the tag latest moves; pin a version or a digest", [noun, c.name, c.image])
}

deny contains msg if {
	some field, noun in container_fields
	some c in pod_spec[field]
	not contains(c.image, "@")
	not image_tag(c.image)
	msg := sprintf("%s %q uses image %q without a tag (that is latest); pin a version or a digest", [noun, c.name, c.image])
}

# The tag: after a colon in the last path part (a colon before it is a
# registry's port).
image_tag(image) := tag if {
	parts := split(image, "/")
	last := parts[count(parts) - 1]
	contains(last, ":")
	tag := split(last, ":")[1]
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
