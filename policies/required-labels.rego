# Every object carries the labels below (kinds in exempt_kinds excepted).
package driftless.required_labels

import rego.v1

# Edit: the labels every object must have, and the kinds left alone.
required_labels := ["app.kubernetes.io/name", "app.kubernetes.io/part-of"]

exempt_kinds := {"Namespace", "CustomResourceDefinition"}

deny contains msg if {
	not exempt_kinds[input.object.kind]
	some label in required_labels
	not input.object.metadata.labels[label]
	msg := sprintf("missing the required label %q", [label])
}
